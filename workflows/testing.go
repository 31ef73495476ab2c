package workflows

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/store"
)

// Update names of a testing round.
const (
	UpdateAddPoint = "add-point"
)

// AddPointInput opens another sampling point in a running round.
type AddPointInput struct {
	Site   string
	Reason string
	By     string
}

// CohortSlot is when a cohort is called to the sampling points.
type CohortSlot struct {
	Cohort   string
	Expected int
	From, To time.Time
}

// PointStatus is one sampling point's progress.
type PointStatus struct {
	Code     string
	Sampled  int
	Expected int
	// PerHour is the point's rate so far, in residents per scenario hour.
	PerHour float64
}

// TestingProgress is the answer to a testing round's progress query.
type TestingProgress struct {
	Incident  string
	Area      string
	Round     int
	RoundID   int64
	State     string
	Expected  int
	Sampled   int
	Positives int
	Points    []PointStatus
	Cohorts   []store.CohortProgress
	Slots     []CohortSlot
	Visits    store.VisitProgress
	OpensAt   time.Time
	Deadline  time.Time
	// Projected is when the round finishes at the rate so far; Behind says
	// it is after the deadline.
	Projected time.Time `json:",omitzero"`
	Behind    bool
	Escalated bool
	Missing   int
	TimeScale float64
}

// eventsPerCheck is about how many history events one coverage check adds
// (timer, activity, search attributes, workflow tasks).
const eventsPerCheck = 12

// RoundState is what a testing round carries across continue-as-new: its
// plan and progress, its steps and when it last sent a revisit.
type RoundState struct {
	Plan        store.RoundPlan
	Progress    TestingProgress
	Steps       []StepProgress
	LastRevisit time.Time
	// AddPoints are sampling points an operator asked for that the run
	// had not opened yet.
	AddPoints []AddPointInput `json:",omitempty"`
}

type round struct {
	sw       *stepWorkflow
	in       StepInput
	p        TestingProgress
	plan     store.RoundPlan
	addPoint []AddPointInput
}

// MassTestingStep runs one testing round over an area: the round opens with
// its sampling points and the residents expected, cohorts are called in
// priority order into time slots, residents who cannot come are visited at
// home (and visited again when a visit misses), samples arrive in batches
// through the ingestion path, coverage and a projected finish are checked
// against the deadline (a notice recommends another point when the round
// is behind), and the round closes with the list of who is still missing.
// Only counts travel through the workflow.
func MassTestingStep(ctx workflow.Context, in StepInput) (StepResult, error) {
	t := &round{sw: newStepWorkflow(ctx, in), in: in}
	// The step runner marks the step running whenever one of its
	// activities starts; a round that is behind stays overdue.
	changed := t.sw.r.changed
	t.sw.r.changed = func(ctx workflow.Context, name, state string) {
		changed(ctx, name, state)
		if state == StateRunning && t.p.Behind && t.p.State == StateRunning {
			_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(StateOverdue))
		}
	}
	t.sw.details = t.render
	res, err := t.run(ctx)
	return t.sw.finish(ctx, res, err)
}

func (t *round) run(ctx workflow.Context) (StepResult, error) {
	in := t.in
	if in.Area == nil {
		return StepResult{}, temporal.NewNonRetryableApplicationError("a testing round needs an area", activities.ErrBadInput, nil)
	}
	number := in.Round
	if r := paramInt(in.Params, "round"); r > 0 {
		number = r
	}
	if number < 1 {
		number = 1
	}
	deadline := paramDuration(in.Params, "deadline")
	every := paramDuration(in.Params, "check_every")
	revisit := paramDuration(in.Params, "revisit_after")
	opens := workflow.Now(ctx)
	t.p = TestingProgress{
		Incident: in.Incident, Area: in.Area.Name, Round: number, State: StateRunning,
		OpensAt: opens, Deadline: opens.Add(scaled(deadline, in.TimeScale)), TimeScale: max(in.TimeScale, 1),
	}
	resume := in.Resume
	if resume != nil {
		t.p, t.plan, t.sw.list, t.addPoint = resume.Progress, resume.Plan, resume.Steps, resume.AddPoints
		in.Resume, t.in.Resume = nil, nil
	}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (TestingProgress, error) { return t.p, nil }); err != nil {
		return StepResult{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAddPoint, t.onAddPoint, workflow.UpdateHandlerOptions{
		Validator: func(ctx workflow.Context, a AddPointInput) error {
			if err := limitText("site", a.Site, "reason", a.Reason, "by", a.By); err != nil {
				return err
			}
			if strings.TrimSpace(a.Site) == "" {
				return fmt.Errorf("name the sampling point to open (a site code)")
			}
			if t.p.State != StateRunning {
				return fmt.Errorf("round %d of %s is %s", t.p.Round, t.p.Area, t.p.State)
			}
			return nil
		},
		Description: "Open another sampling point in this round",
	}); err != nil {
		return StepResult{}, err
	}

	var lastRevisit time.Time
	if resume != nil {
		lastRevisit = resume.LastRevisit
	} else {
		if err := t.open(ctx, number); err != nil {
			return StepResult{}, err
		}
		lastRevisit = workflow.Now(ctx)
	}
	checks := 0
	for {
		wait := scaled(every, in.TimeScale)
		if left := t.p.Deadline.Sub(workflow.Now(ctx)); left < wait {
			wait = max(left, time.Millisecond)
		}
		if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: wait, TimerOptions: workflow.TimerOptions{Summary: "Next coverage check"}},
			func() bool { return len(t.addPoint) > 0 }); err != nil {
			return StepResult{}, err
		}
		for len(t.addPoint) > 0 {
			add := t.addPoint[0]
			t.addPoint = t.addPoint[1:]
			if err := t.sw.r.run(ctx, "add-point/"+add.Site, "Open sampling point "+add.Site, a.AddRoundPoint,
				activities.AddRoundPointInput{Ref: t.sw.ref(add.By), RoundID: t.plan.RoundID, Site: add.Site}, &t.plan,
				func() string { return fmt.Sprintf("%d points", len(t.plan.Points)) }); err != nil {
				workflow.GetLogger(ctx).Warn("Add point", "site", add.Site, "error", err)
			}
		}
		var pr store.RoundProgress
		if err := t.sw.r.run(ctx, "check", "Count samples per point", a.RoundProgress,
			activities.RoundRef{Ref: t.sw.ref("muster"), RoundID: t.plan.RoundID}, &pr,
			func() string { return fmt.Sprintf("%d of %d sampled", pr.Sampled, pr.Expected) }); err != nil {
			return StepResult{}, err
		}
		t.update(ctx, pr)
		// At the deadline the round closes: another point helps nobody.
		if t.p.Behind && !t.p.Escalated && workflow.Now(ctx).Before(t.p.Deadline) {
			t.p.Escalated = true
			countOverdue(ctx, KindMassTesting)
			t.escalate(ctx)
		}
		now := workflow.Now(ctx)
		if now.Sub(lastRevisit) >= scaled(revisit, in.TimeScale) && pr.HomeVisits.Missed > 0 {
			lastRevisit = now
			var n int
			if err := t.sw.r.run(ctx, "revisit", "Visit again where a visit missed", a.RevisitMissed,
				activities.RoundRef{Ref: t.sw.ref("muster"), RoundID: t.plan.RoundID}, &n,
				func() string { return fmt.Sprintf("%d revisits", n) }); err != nil {
				return StepResult{}, err
			}
		}
		if pr.Sampled >= pr.Expected || !now.Before(t.p.Deadline) {
			break
		}
		// A long round with frequent checks continues as new before its
		// history grows large; the response hears from the new run.
		limit := in.HistoryLimit
		if limit == 0 {
			limit = DefaultHistoryLimit
		}
		// A check costs about a dozen events; counting them keeps the
		// decision independent of how the server reports history length.
		checks++
		if info := workflow.GetInfo(ctx); info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > limit || checks*eventsPerCheck > limit {
			return StepResult{}, continueAsNewWhenQuiet(ctx, canPlan{
				name: MassTestingStepName, inbox: t.sw.inbox,
				next: func() any {
					next := t.in
					next.Resume = &RoundState{Plan: t.plan, Progress: t.p, Steps: t.sw.list, LastRevisit: lastRevisit, AddPoints: t.addPoint}
					next.Retries = pendingRetries(t.sw.r.retry)
					return next
				},
			})
		}
	}

	t.p.State = "closing"
	var closed activities.CloseRoundResult
	if err := t.sw.r.run(ctx, "close-round", "Close the round, list who is missing", a.CloseRound,
		activities.RoundRef{Ref: t.sw.ref("muster"), RoundID: t.plan.RoundID}, &closed,
		func() string { return fmt.Sprintf("%d missing", closed.Missing) }); err != nil {
		return StepResult{}, err
	}
	t.p.Missing, t.p.State = closed.Missing, StateDone
	t.gauge(ctx)
	t.render(ctx)
	return StepResult{
		Outputs: map[string]float64{
			"positives": float64(t.p.Positives), "sampled": float64(t.p.Sampled),
			"expected": float64(t.p.Expected), "missing": float64(t.p.Missing),
		},
		Detail: fmt.Sprintf("round %d: %d of %d sampled, %d positive, %d missing", number, t.p.Sampled, t.p.Expected, t.p.Positives, t.p.Missing),
	}, nil
}

// open opens the round, calls the cohorts and assigns the home visits.
func (t *round) open(ctx workflow.Context, number int) error {
	in := t.in
	if err := t.sw.r.run(ctx, "open-round", fmt.Sprintf("Open testing round %d of %s", number, in.Area.Name), a.OpenRound,
		activities.OpenRoundInput{Ref: t.sw.ref("muster"), AreaID: in.Area.ID, Round: number, OpensAt: t.p.OpensAt, Deadline: t.p.Deadline},
		&t.plan, func() string {
			return fmt.Sprintf("%d residents, %d points, %d home visits", t.plan.Expected, len(t.plan.Points), t.plan.HomeVisits)
		}); err != nil {
		return err
	}
	t.p.RoundID, t.p.Expected = t.plan.RoundID, t.plan.Expected
	t.p.Slots = cohortSlots(t.plan, strings.Split(paramString(in.Params, "cohorts"), ","), t.p.OpensAt, in.TimeScale)
	t.points(nil)

	for _, s := range t.p.Slots {
		body := fmt.Sprintf("Testing round %d of %s (incident %s): %s residents, please come to your sampling point between %s and %s. Residents who cannot come are visited at home.",
			number, in.Area.Name, in.Incident, s.Cohort, t.clock(s.From).Format("15:04"), t.clock(s.To).Format("15:04"))
		if err := t.sw.r.run(ctx, "call/"+s.Cohort, "Call "+s.Cohort, a.PublishNotice, activities.NoticeInput{
			Ref: t.sw.ref("muster"), Step: in.Path + "/call/" + s.Cohort, AreaID: in.Area.ID,
			Kind: fmt.Sprintf("testing/%d/%s", number, s.Cohort), Audience: s.Cohort + "s of " + in.Area.Name, Body: body,
		}, nil, func() string { return fmt.Sprintf("%d called", s.Expected) }); err != nil {
			return err
		}
	}
	var visits int
	if err := t.sw.r.run(ctx, "home-visits", "Assign home visits to grid workers", a.AssignHomeVisits,
		activities.RoundRef{Ref: t.sw.ref("muster"), RoundID: t.plan.RoundID}, &visits,
		func() string { return fmt.Sprintf("%d residents to visit", visits) }); err != nil {
		return err
	}

	return nil
}

func (t *round) onAddPoint(ctx workflow.Context, in AddPointInput) error {
	if in.By == "" {
		in.By = "command-center"
	}
	t.addPoint = append(t.addPoint, in)
	return nil
}

// clock turns workflow time into scenario time: with a time scale the
// round's hours pass in seconds, and supervisors read scenario hours.
func (t *round) clock(at time.Time) time.Time {
	return t.p.OpensAt.Add(time.Duration(float64(at.Sub(t.p.OpensAt)) * t.p.TimeScale))
}

// cohortSlots calls cohorts in priority order, each for as long as the
// points need to sample it at their capacity.
func cohortSlots(plan store.RoundPlan, priority []string, opens time.Time, scale float64) []CohortSlot {
	capacity := 0
	for _, p := range plan.Points {
		capacity += p.CapacityPerHour
	}
	rank := map[string]int{}
	for i, c := range priority {
		if c = strings.TrimSpace(c); c != "" {
			rank[c] = i + 1
		}
	}
	cohorts := append([]store.CohortCount(nil), plan.Cohorts...)
	sort.SliceStable(cohorts, func(i, j int) bool {
		ri, rj := rank[cohorts[i].Cohort], rank[cohorts[j].Cohort]
		if ri == 0 {
			ri = len(rank) + 1
		}
		if rj == 0 {
			rj = len(rank) + 1
		}
		if ri != rj {
			return ri < rj
		}
		return cohorts[i].Cohort < cohorts[j].Cohort
	})
	var out []CohortSlot
	at := opens
	for _, c := range cohorts {
		if c.Count == 0 {
			continue
		}
		hours := 1.0
		if capacity > 0 {
			hours = math.Max(float64(c.Count)/float64(capacity), 0.25)
		}
		d := scaled(time.Duration(hours*float64(time.Hour)), scale)
		out = append(out, CohortSlot{Cohort: c.Cohort, Expected: c.Count, From: at, To: at.Add(d)})
		at = at.Add(d)
	}
	return out
}

func (t *round) points(pr *store.RoundProgress) {
	t.p.Points = t.p.Points[:0]
	for _, pt := range t.plan.Points {
		ps := PointStatus{Code: pt.Code, Expected: pt.Expected}
		if pr != nil {
			for _, q := range pr.Points {
				if q.SiteID == pt.SiteID {
					ps.Sampled = q.Sampled
					if h := q.LastAt.Sub(t.p.OpensAt).Hours() * t.p.TimeScale; h > 0 {
						ps.PerHour = float64(q.Sampled) / h
					}
				}
			}
		}
		t.p.Points = append(t.p.Points, ps)
	}
}

// update takes in a count and projects the finish from the rate so far.
func (t *round) update(ctx workflow.Context, pr store.RoundProgress) {
	t.p.Sampled, t.p.Expected, t.p.Positives = pr.Sampled, pr.Expected, pr.Positives
	t.p.Cohorts, t.p.Visits = pr.Cohorts, pr.HomeVisits
	t.points(&pr)
	now := workflow.Now(ctx)
	elapsed := now.Sub(t.p.OpensAt)
	t.p.Projected, t.p.Behind = time.Time{}, false
	if pr.Sampled > 0 && elapsed > 0 && pr.Sampled < pr.Expected {
		rate := float64(pr.Sampled) / float64(elapsed)
		t.p.Projected = now.Add(time.Duration(float64(pr.Expected-pr.Sampled) / rate))
		t.p.Behind = t.p.Projected.After(t.p.Deadline)
	}
	// Nobody has come after a quarter of the round: behind, with no rate
	// to project from.
	if pr.Sampled == 0 && pr.Expected > 0 && elapsed > t.p.Deadline.Sub(t.p.OpensAt)/4 {
		t.p.Behind = true
	}
	state := StateRunning
	if t.p.Behind {
		state = StateOverdue
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(state))
	t.gauge(ctx)
	t.render(ctx)
}

// gauge reports the round's coverage to the worker's metrics, labelled with
// the area's code; a closed round is no longer behind.
func (t *round) gauge(ctx workflow.Context) {
	area := t.p.Area
	if t.in.Area != nil {
		area = t.in.Area.Code
	}
	gaugeRound(ctx, area, t.p.Incident, t.p.Round, t.p.Sampled, t.p.Expected, t.p.Behind && t.p.State != StateDone)
}

// escalate recommends another sampling point, with the numbers.
func (t *round) escalate(ctx workflow.Context) {
	capacity, per := 0, 0
	for _, p := range t.plan.Points {
		capacity += p.CapacityPerHour
	}
	if len(t.plan.Points) > 0 {
		per = capacity / len(t.plan.Points)
	}
	left := t.p.Expected - t.p.Sampled
	rate := float64(t.p.Sampled) / (workflow.Now(ctx).Sub(t.p.OpensAt).Hours() * t.p.TimeScale)
	if rate == 0 {
		body := fmt.Sprintf("Testing round %d of %s (incident %s) is behind: no sample has arrived since it opened at %s, with %d residents expected at %d points by %s. Check that the points are open and their stations upload; `starter testing status %s` shows each point.",
			t.p.Round, t.p.Area, t.in.Incident, t.clock(t.p.OpensAt).Format("15:04"), t.p.Expected, len(t.plan.Points), t.clock(t.p.Deadline).Format("15:04"), t.sw.id)
		_ = t.sw.r.run(ctx, "escalate", "Report a round with no samples", a.PublishNotice, activities.NoticeInput{
			Ref: t.sw.ref("muster"), Step: t.in.Path + "/behind", AreaID: t.in.Area.ID,
			Kind: fmt.Sprintf("testing/%d/behind", t.p.Round), Audience: "command center", Body: body,
		}, nil, func() string { return "no samples reported" })
		return
	}
	withOne := rate * float64(len(t.plan.Points)+1) / float64(max(len(t.plan.Points), 1))
	finishNow := t.clock(t.p.Projected)
	finishMore := t.clock(workflow.Now(ctx)).Add(time.Duration(float64(left) / withOne * float64(time.Hour)))
	body := fmt.Sprintf("Testing round %d of %s (incident %s) is behind: %d of %d sampled at %.0f an hour over %d points; at this rate it finishes at %s, after the deadline %s. Another sampling point (about %d an hour) would bring the finish to about %s. Open one with `starter testing add-point %s SITE`.",
		t.p.Round, t.p.Area, t.in.Incident, t.p.Sampled, t.p.Expected, rate, len(t.plan.Points),
		finishNow.Format("15:04"), t.clock(t.p.Deadline).Format("15:04"), per, finishMore.Format("15:04"), t.sw.id)
	_ = t.sw.r.run(ctx, "escalate", "Recommend another sampling point", a.PublishNotice, activities.NoticeInput{
		Ref: t.sw.ref("muster"), Step: t.in.Path + "/behind", AreaID: t.in.Area.ID,
		Kind: fmt.Sprintf("testing/%d/behind", t.p.Round), Audience: "command center", Body: body,
	}, nil, func() string { return "recommended another point" })
}

// render writes the per-point table the Web UI shows.
func (t *round) render(ctx workflow.Context) {
	p := t.p
	var b strings.Builder
	fmt.Fprintf(&b, "**%s round %d**: %d / %d sampled · %d points", p.Area, p.Round, p.Sampled, p.Expected, len(p.Points))
	if !p.Projected.IsZero() {
		fmt.Fprintf(&b, " · projected finish %s", t.clock(p.Projected).Format("15:04"))
	}
	fmt.Fprintf(&b, " · deadline %s", t.clock(p.Deadline).Format("15:04"))
	if p.Behind {
		b.WriteString(" · **behind**")
	}
	if p.Positives > 0 {
		fmt.Fprintf(&b, " · **%d positive**", p.Positives)
	}
	b.WriteString("\n\n| Point | Sampled | Expected | Per hour |\n|---|---|---|---|\n")
	for _, pt := range p.Points {
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f |\n", pt.Code, pt.Sampled, pt.Expected, pt.PerHour)
	}
	fmt.Fprintf(&b, "\nHome visits: %d sampled, %d missed, %d pending", p.Visits.Sampled, p.Visits.Missed, p.Visits.Pending)
	if p.State == StateDone {
		fmt.Fprintf(&b, " · round closed, %d missing", p.Missing)
	}
	workflow.SetCurrentDetails(ctx, b.String())
}
