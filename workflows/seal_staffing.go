package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
)

// A seal holds only when its gates are staffed. While it holds, the hold
// step reads holding when every checkpoint has its staff and understaffed
// when some stand short; each shortfall is escalated once to the district
// command with the numbers, and before every compliance round the short
// checkpoints draw again on the district's pool through the same
// assignment as when they opened.

// openGates counts the checkpoints short of their staff.
func (s *seal) openGates() int {
	n := 0
	for _, c := range s.progress.Checkpoints {
		if c.Shortfall > 0 || c.Staff < c.Required {
			n++
		}
	}
	return n
}

// understaffedText says how many gates stand open, for details, reports
// and the escalation: "Beiyuan New Compound 2: 9 of 12 gates unstaffed".
func (s *seal) understaffedText() string {
	return fmt.Sprintf("%d of %d gates unstaffed", s.progress.OpenGates, len(s.progress.Checkpoints))
}

// holdState marks the hold step holding or understaffed, tells the parent
// response when that changes, and escalates a new shortfall.
func (s *seal) holdState(ctx workflow.Context) {
	was := s.r.ref("hold").State
	s.progress.OpenGates = s.openGates()
	next := fmt.Sprintf("next check %s", s.progress.NextCheckAt.Format("15:04"))
	if s.progress.OpenGates == 0 {
		s.progress.Escalated, s.progress.Requested = false, false
		if q := s.progress.Request; q != nil && q.Decision == "" {
			// Staffed before anyone answered: the request is withdrawn.
			s.progress.Request = nil
			s.r.mark(ctx, "request-outside-staff", StateDone, "withdrawn: every gate staffed")
		}
		s.r.mark(ctx, "hold", StateHolding, "sealed, every gate staffed; "+next)
		if was == StateUnderstaffed {
			reportToParent(ctx, StepReport{Path: s.in.StepPath, State: StateDone, Ready: true, Detail: "every gate staffed again", Outputs: s.outputs()})
		}
		return
	}
	if !s.progress.Escalated {
		s.escalate(ctx)
	}
	short := s.understaffedText()
	s.r.mark(ctx, "hold", StateUnderstaffed, short+"; "+next)
	if was != StateUnderstaffed {
		reportToParent(ctx, StepReport{Path: s.in.StepPath, State: StateUnderstaffed, Detail: short, Outputs: s.outputs()})
	}
}

// escalate tells the district command, once per shortfall, how many gates
// stand open and how many posts that leaves unfilled.
func (s *seal) escalate(ctx workflow.Context) {
	s.progress.Shortfalls++
	s.progress.Escalated = true
	posts := 0
	for _, c := range s.progress.Checkpoints {
		posts += max(c.Shortfall, c.Required-c.Staff)
	}
	name := s.plan.Name
	if name == "" {
		name = s.plan.Code
	}
	body := fmt.Sprintf("%s: %s (%d staff per checkpoint, %d posts open; incident %s). The district's pool is drawn on again before every compliance round; send staff or volunteers to the gates, or ask the command center for staff from outside the district.",
		name, s.understaffedText(), s.in.StaffPerCheckpoint, posts, s.in.Incident)
	kind := fmt.Sprintf("seal-understaffed-%d", s.progress.Shortfalls)
	// The seal goes on holding whether or not the notice goes out: a
	// notice that stalls is logged, and the state still reads understaffed.
	n := activities.NoticeInput{Ref: s.ref("muster"), Step: "escalate-understaffed", AreaID: s.plan.AreaID,
		Kind: kind, Audience: "district command", Body: body}
	if workflow.GetVersion(ctx, escalationMessagesChange, workflow.DefaultVersion, 1) >= 1 {
		n.Message, n.Args = MsgSealUnderstaffed, map[string]string{"compound": name, "open": fmt.Sprint(s.progress.OpenGates),
			"gates": fmt.Sprint(len(s.progress.Checkpoints)), "per": fmt.Sprint(s.in.StaffPerCheckpoint), "posts": fmt.Sprint(posts),
			"incident": s.in.Incident}
	}
	if err := s.r.run(ctx, "escalate-understaffed", "Escalate gates left unstaffed to the district command",
		a.PublishNotice, n, nil, func() string { return name + ": " + s.understaffedText() }); err != nil {
		workflow.GetLogger(ctx).Error("Escalate understaffed seal", "compound", s.plan.Code, "error", err)
	}
}

// restaff draws staff for every short checkpoint at once, through the same
// assignment that opened it.
func (s *seal) restaff(ctx workflow.Context) error {
	var short []int
	for i, c := range s.progress.Checkpoints {
		if c.Shortfall > 0 || c.Staff < c.Required {
			short = append(short, i)
		}
	}
	errs := make([]error, len(short))
	wg := workflow.NewWaitGroup(ctx)
	for k, i := range short {
		var g activities.GatePlan
		for _, pg := range s.plan.Gates {
			if pg.Code == s.progress.Checkpoints[i].Gate {
				g = pg
			}
		}
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			var res activities.CheckpointResult
			errs[k] = s.r.run(ctx, "checkpoint/"+g.Code, fmt.Sprintf("Checkpoint at %s (%s)", g.Name, s.progress.Checkpoints[i].Mode),
				a.OpenCheckpoint, activities.CheckpointInput{Ref: s.ref("muster"), AreaID: s.plan.AreaID, Gate: g, RequiredStaff: s.in.StaffPerCheckpoint,
					Shift: s.progress.Shift, Rest: s.rest(), Outside: s.outside},
				&res, func() string { return s.checkpointDetail(res) })
			if errs[k] == nil {
				s.progress.Checkpoints[i].Staff, s.progress.Checkpoints[i].Shortfall = len(res.Staff), res.Shortfall
			}
		})
	}
	wg.Wait(ctx)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	s.holdState(ctx)
	return nil
}

// StaffingNeed is what a runbook's seals ask of an area's checkpoint
// staff, against what its registry holds.
type StaffingNeed struct {
	Gates         int
	PerCheckpoint int
	Shifts        int
	Registry      int
}

// Needed is how many people the checkpoints take over a day.
func (n StaffingNeed) Needed() int { return n.Gates * n.PerCheckpoint * n.Shifts }

// Short reports whether the registry cannot cover every shift.
func (n StaffingNeed) Short() bool { return n.Needed() > n.Registry }

// String reads "1,086 gates × 2 per shift × 3 shifts = 6,516 staff; the
// registry has 336".
func (n StaffingNeed) String() string {
	return fmt.Sprintf("%s %s × %d per shift × %d %s = %s staff; the registry has %s",
		thousands(n.Gates), pluralWord(n.Gates, "gate"), n.PerCheckpoint, n.Shifts, pluralWord(n.Shifts, "shift"), thousands(n.Needed()), thousands(n.Registry))
}

// SealStaffing reads what the seal steps of a runbook need per gate: the
// most staff per checkpoint any seal step asks for, and the shifts a day
// its shift length makes. ok is false when the runbook seals nothing.
func SealStaffing(def *runbook.Definition) (perCheckpoint, shifts int, ok bool) {
	var walk func(steps []runbook.Step)
	walk = func(steps []runbook.Step) {
		for _, st := range steps {
			if st.Kind == KindSeal {
				ok = true
				per := paramInt(st.Params, "staff_per_checkpoint")
				if per == 0 {
					per = DefaultStaffPerCheckpoint
				}
				n := shiftsPerDay(paramDuration(st.Params, "shift"))
				if per*n > perCheckpoint*shifts {
					perCheckpoint, shifts = per, n
				}
			}
			walk(st.Sequence)
			walk(st.Parallel)
			if st.ForEach != nil {
				walk(st.ForEach.Steps)
			}
			if st.Repeat != nil {
				walk(st.Repeat.Steps)
			}
		}
	}
	walk(def.Steps)
	return perCheckpoint, shifts, ok
}

// DefaultShift is how long checkpoint staff stand when a runbook does not
// say.
const DefaultShift = 8 * time.Hour

// shiftsPerDay is how many shifts of length d cover a day.
func shiftsPerDay(d time.Duration) int {
	if d <= 0 {
		d = DefaultShift
	}
	return int((24*time.Hour + d - 1) / d)
}

func pluralWord(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// shifts reports whether the seal relieves its checkpoint staff shift by
// shift.
func (s *seal) shifts() bool { return s.staffing && s.in.ShiftHours > 0 }

// shiftLength is a shift in workflow time.
func (s *seal) shiftLength() time.Duration {
	return scaled(time.Duration(s.in.ShiftHours*float64(time.Hour)), s.in.TimeScale)
}

// rest is how long, in real time, staff relieved from a shift rest before
// they stand again: the rest of the day, so nobody works two shifts in a
// row. The database measures it, so it is scaled like every duration.
func (s *seal) rest() time.Duration {
	if !s.shifts() {
		return 0
	}
	shift := time.Duration(s.in.ShiftHours * float64(time.Hour))
	return scaled(max(shift, 24*time.Hour-shift), s.in.TimeScale)
}

// relieve ends the shift on duty: its staff go off, and every checkpoint
// is staffed afresh for the next shift from those who are rested.
func (s *seal) relieve(ctx workflow.Context) error {
	next := s.progress.Shift + 1
	var res activities.RelieveResult
	if err := s.r.run(ctx, "shift", fmt.Sprintf("Shift %d takes over", next),
		a.RelieveShift, activities.RelieveInput{Ref: s.ref("muster"), AreaID: s.plan.AreaID, Shift: next},
		&res, func() string { return fmt.Sprintf("shift %d: %d staff relieved", next-1, res.Relieved) }); err != nil {
		return err
	}
	s.progress.Shift = next
	s.progress.ShiftEndsAt = s.progress.ShiftEndsAt.Add(s.shiftLength())
	for i := range s.progress.Checkpoints {
		c := &s.progress.Checkpoints[i]
		c.Staff, c.Shortfall = 0, c.Required
	}
	// Until the next shift stands, every gate is open.
	s.progress.OpenGates = s.openGates()
	return s.restaff(ctx)
}

// outputs are the figures a seal reports to its response while it holds.
func (s *seal) outputs() map[string]float64 {
	staff := 0
	for _, c := range s.progress.Checkpoints {
		staff += c.Staff
	}
	return map[string]float64{"checkpoints": float64(len(s.progress.Checkpoints)), "staff": float64(staff),
		"roads_closed": float64(s.progress.RoadsClosed), "open_gates": float64(s.progress.OpenGates)}
}

// OutsideRequest asks the command center for staff from outside the
// district, for the gates the district's pool and the compound's
// volunteers left open. A person answers it through the response (`muster
// step decide INCIDENT seal/COMPOUND approve|reject`); without an answer
// by Deadline it lapses and the seal stays understaffed.
type OutsideRequest struct {
	Gates    int
	Posts    int
	AskedAt  time.Time
	Deadline time.Time
	// Decision is approve or reject once answered; By and Reason say who
	// and why.
	Decision string `json:",omitempty"`
	By       string `json:",omitempty"`
	Reason   string `json:",omitempty"`
}

// OutsideStaffWithin is how long a request for outside staff waits for an
// answer.
const OutsideStaffWithin = 2 * time.Hour

// answerWithin is how long the seal's requests for outside staff wait.
func (s *seal) answerWithin() time.Duration {
	if s.in.AnswerWithinHours > 0 {
		return time.Duration(s.in.AnswerWithinHours * float64(time.Hour))
	}
	return OutsideStaffWithin
}

// ask sends the request for outside staff, once per shortfall.
func (s *seal) ask(ctx workflow.Context) {
	posts := 0
	for _, c := range s.progress.Checkpoints {
		posts += max(c.Shortfall, c.Required-c.Staff)
	}
	now := workflow.Now(ctx)
	s.progress.Requested = true
	s.progress.Request = &OutsideRequest{Gates: s.progress.OpenGates, Posts: posts, AskedAt: now,
		Deadline: now.Add(scaled(s.answerWithin(), s.in.TimeScale))}
	detail := fmt.Sprintf("%d staff from outside the district for %d open gates? Answer by %s, or the seal stays understaffed",
		posts, s.progress.OpenGates, s.progress.Request.Deadline.Format("15:04"))
	st := s.r.ref("request-outside-staff")
	st.Title, st.StartedAt, st.FinishedAt = "Ask the command center for staff from outside the district", now, time.Time{}
	s.r.mark(ctx, "request-outside-staff", StateAwaitingDecision, detail)
	reportToParent(ctx, StepReport{Path: s.in.StepPath, State: StateAwaitingDecision, Detail: detail, Outputs: s.outputs()})
}

// decide takes an answer relayed by the response: the first one counts.
func (s *seal) decide(d Decision) {
	q := s.progress.Request
	if q == nil || q.Decision != "" || (d.Decision != "approve" && d.Decision != "reject") {
		return
	}
	q.Decision, q.By, q.Reason = d.Decision, d.By, d.Reason
}

// answer carries out the command center's answer, or the lapse of the
// request: approved, the open gates draw on staff from outside the
// district too.
func (s *seal) answer(ctx workflow.Context) error {
	q := s.progress.Request
	s.progress.Request = nil
	if q.Decision != "approve" {
		why := "no answer by the deadline"
		if q.Decision == "reject" {
			why = "rejected by " + q.By
		}
		s.r.mark(ctx, "request-outside-staff", StateDone, why+"; the gates stay open")
		s.holdState(ctx)
		reportToParent(ctx, StepReport{Path: s.in.StepPath, State: StateUnderstaffed, Detail: s.understaffedText() + "; outside staff " + why, Outputs: s.outputs()})
		return nil
	}
	s.outside = true
	defer func() { s.outside = false }()
	s.r.mark(ctx, "request-outside-staff", StateDone, fmt.Sprintf("approved by %s: %d staff from outside the district", q.By, q.Posts))
	return s.restaff(ctx)
}
