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
	"github.com/musterhq/muster/internal/plan"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/store"
)

// The mass-testing step kind: MassTestingStep runs one round.
const (
	KindMassTesting     = "mass-testing"
	MassTestingStepName = "MassTestingStep"
)

// DefaultMinCoverage is the share of residents a testing round samples to
// be clean when the runbook does not say.
const DefaultMinCoverage = 0.99

var massTestingKind = kind{
	spec: runbook.Kind{
		Name: KindMassTesting,
		Doc:  "Test every resident of the area once (MassTesting): sampling points with their compounds, cohorts called in priority order into time slots, home visits by grid workers with a revisit when one misses, samples arriving in batches, coverage and a projected finish against the deadline (a notice recommends another point when behind), and the list of who is still missing at the end.",
		Params: map[string]runbook.Param{
			"deadline":      {Type: runbook.TypeDuration, Required: true, Doc: "how long the round may take, e.g. 7h"},
			"check_every":   {Type: runbook.TypeDuration, Default: "15m", Doc: "time between coverage checks"},
			"revisit_after": {Type: runbook.TypeDuration, Default: "1h", Doc: "time between revisits of missed home visits"},
			"cohorts":       {Type: runbook.TypeString, Default: "", Doc: "cohorts called first, in order, comma-separated, e.g. student,teacher"},
			"round":         {Type: runbook.TypeInt, Doc: "the round number (default: the enclosing repeat's round, else 1)"},
			"min_coverage":  {Type: runbook.TypeNumber, Fraction: true, Default: DefaultMinCoverage, Doc: "share of the expected residents a round must sample to be clean (0.99 is 99%); a round below it is never clean, whatever its positives"},
			"grace":         {Type: runbook.TypeDuration, Default: "6h", Doc: "how long after the round closes a sample taken during it is still recorded against it (and taken off the missing list); positive results are taken whenever they come, and the command center is told"},
			"extend_by":     {Type: runbook.TypeDuration, Default: "2h", Doc: "how long a round that lost time to an outage (coverage checks that could not run) and is below min_coverage at its deadline is extended, once; at most the round's deadline"},
		},
		Outputs:   []string{"positives", "sampled", "expected", "missing", "coverage", "home_visits_open", "clean"},
		Fractions: []string{"coverage", "clean"},
	},
	workflow: MassTestingStep, name: MassTestingStepName,
}

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
	// Capacity is the point's planned rate; Planned is when it finishes
	// its residents at that rate, and Projected at its rate so far (at
	// its capacity before its first sample), both in workflow time.
	Capacity  int       `json:",omitempty"`
	Planned   time.Time `json:",omitzero"`
	Projected time.Time `json:",omitzero"`
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
	// Coverage is sampled ÷ expected at the close; Clean says it reached
	// MinCoverage, and HomeVisitsOpen counts home visits without a sample.
	Coverage       float64 `json:",omitempty"`
	MinCoverage    float64 `json:",omitempty"`
	Clean          bool    `json:",omitempty"`
	HomeVisitsOpen int     `json:",omitempty"`
	// Lost is the time the round's coverage checks could not run (an
	// outage); Extended says the deadline was moved once because of it.
	Lost     time.Duration `json:",omitempty"`
	Extended bool          `json:",omitempty"`
	// Short, when the plan cannot meet the deadline, says how many more
	// points of what capacity would.
	Short string `json:",omitempty"`
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
	// evidence marks runs of the version that reports coverage and
	// per-point projections.
	evidence bool
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
	// Rounds before this version closed with the workflow's last count and
	// no coverage rule; their histories replay as they ran.
	evidence := workflow.GetVersion(ctx, "testing-evidence", workflow.DefaultVersion, 1) >= 1
	t.evidence = evidence
	minCoverage := DefaultMinCoverage
	if _, ok := in.Params["min_coverage"]; ok {
		minCoverage = paramNumber(in.Params, "min_coverage")
	}
	extendBy := DefaultExtendBy
	if _, ok := in.Params["extend_by"]; ok {
		extendBy = paramDuration(in.Params, "extend_by")
	}
	extendBy = min(extendBy, deadline)
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
		asked := workflow.Now(ctx)
		if err := t.sw.r.run(ctx, "check", "Count samples per point", a.RoundProgress,
			activities.RoundRef{Ref: t.sw.ref("muster"), RoundID: t.plan.RoundID}, &pr,
			func() string { return fmt.Sprintf("%d of %d sampled", pr.Sampled, pr.Expected) }); err != nil {
			return StepResult{}, err
		}
		// A check that took longer than a quarter of the time between
		// checks was retried through an outage: the stations could not
		// upload either, and the round lost that time.
		if took := workflow.Now(ctx).Sub(asked); evidence && took > max(scaled(every, in.TimeScale)/4, time.Second) {
			t.p.Lost += took
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
		if evidence && !now.Before(t.p.Deadline) && pr.Sampled < pr.Expected && t.p.Lost > 0 && !t.p.Extended && extendBy > 0 &&
			coverage(pr.Sampled, pr.Expected) < minCoverage {
			if err := t.extend(ctx, extendBy, minCoverage); err != nil {
				return StepResult{}, err
			}
			continue
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
	if evidence {
		return t.closeWithEvidence(ctx, closed, minCoverage), nil
	}
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

// DefaultExtendBy is how long a round that lost time to an outage is
// extended when the step's params do not say (a round started alone).
const DefaultExtendBy = 2 * time.Hour

// coverage is sampled ÷ expected; a round that expected nobody is covered.
func coverage(sampled, expected int) float64 {
	if expected <= 0 {
		return 1
	}
	return float64(sampled) / float64(expected)
}

// extend moves the deadline of a round that lost time to an outage, once,
// and tells the command center.
func (t *round) extend(ctx workflow.Context, by time.Duration, minCoverage float64) error {
	old := t.p.Deadline
	t.p.Deadline = old.Add(scaled(by, t.in.TimeScale))
	t.p.Extended, t.p.Behind, t.p.Escalated = true, false, false
	reason := fmt.Sprintf("%s lost to an outage; %s sampled (min %s)", t.p.Lost.Round(time.Minute), percent(coverage(t.p.Sampled, t.p.Expected)), percent(minCoverage))
	var d time.Time
	if err := t.sw.r.run(ctx, "extend", "Extend the round after an outage", a.ExtendRound,
		activities.ExtendRoundInput{Ref: t.sw.ref("muster"), RoundID: t.plan.RoundID, Deadline: t.p.Deadline, Reason: reason}, &d,
		func() string { return "extended by " + by.String() }); err != nil {
		return err
	}
	body := fmt.Sprintf("Testing round %d of %s (incident %s) lost time to an outage (%s) and had %s sampled (%d of %d, min %s) at its deadline %s: it is extended by %s to %s. It closes then, and counts as clean only at %s or more.",
		t.p.Round, t.p.Area, t.in.Incident, t.p.Lost.Round(time.Minute), percent(coverage(t.p.Sampled, t.p.Expected)), t.p.Sampled, t.p.Expected, percent(minCoverage),
		t.clock(old).Format("15:04"), by, t.clock(t.p.Deadline).Format("15:04"), percent(minCoverage))
	_ = t.sw.r.run(ctx, "escalate-extended", "Tell the command center the round is extended", a.PublishNotice, activities.NoticeInput{
		Ref: t.sw.ref("muster"), Step: t.in.Path + "/extended", AreaID: t.in.Area.ID,
		Kind: fmt.Sprintf("testing/%d/extended", t.p.Round), Audience: "command center", Body: body,
		Message: MsgTestingExtended, Args: map[string]string{"round": fmt.Sprint(t.p.Round), "area": t.p.Area, "incident": t.in.Incident, "lost": t.p.Lost.Round(time.Minute).String(), "coverage": percent(coverage(t.p.Sampled, t.p.Expected)), "sampled": fmt.Sprint(t.p.Sampled), "expected": fmt.Sprint(t.p.Expected), "min": percent(minCoverage), "deadline": t.clock(old).Format("15:04"), "by": by.String(), "until": t.clock(t.p.Deadline).Format("15:04")},
	}, nil, func() string { return "extension reported" })
	t.render(ctx)
	return nil
}

// closeWithEvidence reports the figures the database counted as the round
// closed, and whether they are evidence: a round below its minimum
// coverage is never clean, whatever its positives, and the command center
// is told.
func (t *round) closeWithEvidence(ctx workflow.Context, closed activities.CloseRoundResult, minCoverage float64) StepResult {
	t.p.Sampled, t.p.Expected, t.p.Positives = closed.Sampled, closed.Expected, closed.Positives
	t.p.HomeVisitsOpen, t.p.MinCoverage = closed.HomeVisitsOpen, minCoverage
	t.p.Coverage = coverage(t.p.Sampled, t.p.Expected)
	t.p.Clean = t.p.Coverage >= minCoverage
	t.p.Behind = false
	t.gauge(ctx)
	t.render(ctx)
	clean := 0.0
	detail := fmt.Sprintf("round %d: %d of %d sampled (%s), %d positive, %d missing", t.p.Round, t.p.Sampled, t.p.Expected, percent(t.p.Coverage), t.p.Positives, t.p.Missing)
	if t.p.Clean {
		clean = 1
	} else {
		detail = fmt.Sprintf("round %d: not clean: %s sampled (min %s) · %d of %d sampled, %d positive, %d missing",
			t.p.Round, percent(t.p.Coverage), percent(minCoverage), t.p.Sampled, t.p.Expected, t.p.Positives, t.p.Missing)
		body := fmt.Sprintf("Testing round %d of %s (incident %s) closed below its minimum coverage: %s sampled (%d of %d, min %s), %d missing. It is no evidence for a lift, whatever its positives (%d); the residents missing are on the call-back list (`starter testing missing %s`).",
			t.p.Round, t.p.Area, t.in.Incident, percent(t.p.Coverage), t.p.Sampled, t.p.Expected, percent(minCoverage), t.p.Missing, t.p.Positives, t.sw.id)
		n := activities.NoticeInput{
			Ref: t.sw.ref("muster"), Step: t.in.Path + "/not-clean", AreaID: t.in.Area.ID,
			Kind: fmt.Sprintf("testing/%d/not-clean", t.p.Round), Audience: "command center", Body: body,
		}
		if workflow.GetVersion(ctx, escalationMessagesChange, workflow.DefaultVersion, 1) >= 1 {
			n.Message, n.Args = MsgTestingNotClean, map[string]string{"round": fmt.Sprint(t.p.Round), "area": t.p.Area, "incident": t.in.Incident,
				"coverage": percent(t.p.Coverage), "sampled": fmt.Sprint(t.p.Sampled), "expected": fmt.Sprint(t.p.Expected), "min": percent(minCoverage),
				"missing": fmt.Sprint(t.p.Missing), "positives": fmt.Sprint(t.p.Positives), "response": t.sw.id}
		}
		_ = t.sw.r.run(ctx, "escalate-not-clean", "Tell the command center the round is not clean", a.PublishNotice, n,
			nil, func() string { return "not clean reported" })
	}
	return StepResult{
		Outputs: map[string]float64{
			"positives": float64(t.p.Positives), "sampled": float64(t.p.Sampled),
			"expected": float64(t.p.Expected), "missing": float64(t.p.Missing),
			"coverage": t.p.Coverage, "home_visits_open": float64(t.p.HomeVisitsOpen), OutputClean: clean,
		},
		Detail: detail,
	}
}

// open opens the round, calls the cohorts and assigns the home visits.
func (t *round) open(ctx workflow.Context, number int) error {
	in := t.in
	if err := t.sw.r.run(ctx, "open-round", fmt.Sprintf("Open testing round %d of %s", number, in.Area.Name), a.OpenRound,
		activities.OpenRoundInput{Ref: t.sw.ref("muster"), AreaID: in.Area.ID, Round: number, OpensAt: t.p.OpensAt, Deadline: t.p.Deadline,
			LateGrace: scaled(paramDuration(in.Params, "grace"), in.TimeScale)},
		&t.plan, func() string {
			return fmt.Sprintf("%d residents, %d points, %d home visits", t.plan.Expected, len(t.plan.Points), t.plan.HomeVisits)
		}); err != nil {
		return err
	}
	t.p.RoundID, t.p.Expected = t.plan.RoundID, t.plan.Expected
	t.p.Slots = cohortSlots(t.plan, strings.Split(paramString(in.Params, "cohorts"), ","), t.p.OpensAt, in.TimeScale)
	t.points(nil)
	if t.evidence {
		t.warnShort(ctx)
	}

	messages := len(t.p.Slots) > 0 && workflow.GetVersion(ctx, testingMessagesChange, workflow.DefaultVersion, 1) >= 1
	for _, s := range t.p.Slots {
		from, to := t.clock(s.From).Format("15:04"), t.clock(s.To).Format("15:04")
		body := fmt.Sprintf("Testing round %d of %s (incident %s): %s residents, please come to your sampling point between %s and %s. Residents who cannot come are visited at home.",
			number, in.Area.Name, in.Incident, s.Cohort, from, to)
		call := activities.NoticeInput{
			Ref: t.sw.ref("muster"), Step: in.Path + "/call/" + s.Cohort, AreaID: in.Area.ID,
			Kind: fmt.Sprintf("testing/%d/%s", number, s.Cohort), Audience: s.Cohort + "s of " + in.Area.Name, Body: body,
		}
		if messages {
			call.Message, call.Args = MsgTestingCall, map[string]string{"round": fmt.Sprint(number), "area": in.Area.Name,
				"incident": in.Incident, "cohort": s.Cohort, "from": from, "to": to}
		}
		if err := t.sw.r.run(ctx, "call/"+s.Cohort, "Call "+s.Cohort, a.PublishNotice, call,
			nil, func() string { return fmt.Sprintf("%d called", s.Expected) }); err != nil {
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

// warnShort tells the command center, as the round opens, when its plan
// cannot meet the deadline: which point finishes last, and how many more
// points of the round's usual capacity would let it finish in time.
func (t *round) warnShort(ctx workflow.Context) {
	last, ok := t.latestPoint()
	if !ok || !last.Planned.After(t.p.Deadline) {
		return
	}
	var ps []plan.Point
	work, capacity := 0, 0
	for _, p := range t.plan.Points {
		ps = append(ps, plan.Point{Capacity: p.CapacityPerHour, Load: p.Expected})
		work += p.Expected
		capacity += p.CapacityPerHour
	}
	per := capacity / max(len(ps), 1)
	hours := t.p.Deadline.Sub(t.p.OpensAt).Hours() * t.p.TimeScale
	more := plan.Needed(ps, nil, hours, per)
	advice := fmt.Sprintf("%d more sampling point(s) of about %d an hour would let it finish by %s", more, per, t.clock(t.p.Deadline).Format("15:04"))
	if more == 0 {
		advice = "the points together have the capacity: move compounds from the last point to the others (`starter testing add-point` rebalances)"
	}
	t.p.Short = advice
	body := fmt.Sprintf("The plan of testing round %d of %s (incident %s) cannot meet its deadline %s: %d residents over %d points (%d an hour together); %s (%d an hour, %d residents) finishes last, at %s. %s.",
		t.p.Round, t.p.Area, t.in.Incident, t.clock(t.p.Deadline).Format("15:04"), work, len(ps), capacity,
		last.Code, last.Capacity, last.Expected, t.clock(last.Planned).Format("15:04"), advice)
	n := activities.NoticeInput{
		Ref: t.sw.ref("muster"), Step: t.in.Path + "/plan-short", AreaID: t.in.Area.ID,
		Kind: fmt.Sprintf("testing/%d/plan-short", t.p.Round), Audience: "command center", Body: body,
	}
	if workflow.GetVersion(ctx, escalationMessagesChange, workflow.DefaultVersion, 1) >= 1 {
		key := MsgTestingPlanShort + "/more-points"
		if more == 0 {
			key = MsgTestingPlanShort + "/rebalance"
		}
		n.Message, n.Args = key, map[string]string{"round": fmt.Sprint(t.p.Round), "area": t.p.Area, "incident": t.in.Incident,
			"deadline": t.clock(t.p.Deadline).Format("15:04"), "residents": fmt.Sprint(work), "points": fmt.Sprint(len(ps)),
			"capacity": fmt.Sprint(capacity), "last": last.Code, "last_capacity": fmt.Sprint(last.Capacity),
			"last_residents": fmt.Sprint(last.Expected), "last_at": t.clock(last.Planned).Format("15:04"),
			"more": fmt.Sprint(more), "per": fmt.Sprint(per)}
	}
	_ = t.sw.r.run(ctx, "plan-short", "Tell the command center the plan cannot meet the deadline", a.PublishNotice, n,
		nil, func() string { return advice })
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
		ps := PointStatus{Code: pt.Code, Expected: pt.Expected, Capacity: pt.CapacityPerHour}
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
		if pt.CapacityPerHour > 0 {
			ps.Planned = t.p.OpensAt.Add(scenarioHours(float64(pt.Expected)/float64(pt.CapacityPerHour), t.p.TimeScale))
			rate := float64(pt.CapacityPerHour)
			if ps.PerHour > 0 {
				rate = ps.PerHour
			}
			left := float64(max(pt.Expected-ps.Sampled, 0))
			from := t.p.OpensAt
			if pr != nil && pr.LastAt.After(from) {
				from = pr.LastAt
			}
			ps.Projected = from.Add(scenarioHours(left/rate, t.p.TimeScale))
		}
		t.p.Points = append(t.p.Points, ps)
	}
}

// scenarioHours is a duration of scenario hours in workflow time.
func scenarioHours(h float64, scale float64) time.Duration {
	return time.Duration(h * float64(time.Hour) / max(scale, 1))
}

// latestPoint is the point projected to finish last.
func (t *round) latestPoint() (PointStatus, bool) {
	var out PointStatus
	found := false
	for _, p := range t.p.Points {
		if !p.Projected.IsZero() && (!found || p.Projected.After(out.Projected)) {
			out, found = p, true
		}
	}
	return out, found
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
			Message: MsgTestingBehind + "/no-samples", Args: map[string]string{"round": fmt.Sprint(t.p.Round), "area": t.p.Area, "incident": t.in.Incident, "opened": t.clock(t.p.OpensAt).Format("15:04"), "expected": fmt.Sprint(t.p.Expected), "points": fmt.Sprint(len(t.plan.Points)), "deadline": t.clock(t.p.Deadline).Format("15:04"), "response": t.sw.id},
		}, nil, func() string { return "no samples reported" })
		return
	}
	withOne := rate * float64(len(t.plan.Points)+1) / float64(max(len(t.plan.Points), 1))
	finishNow := t.clock(t.p.Projected)
	finishMore := t.clock(workflow.Now(ctx)).Add(time.Duration(float64(left) / withOne * float64(time.Hour)))
	body := fmt.Sprintf("Testing round %d of %s (incident %s) is behind: %d of %d sampled at %.0f an hour over %d points; at this rate it finishes at %s, after the deadline %s. Another sampling point (about %d an hour) would bring the finish to about %s. Open one with `starter testing add-point %s SITE`.",
		t.p.Round, t.p.Area, t.in.Incident, t.p.Sampled, t.p.Expected, rate, len(t.plan.Points),
		finishNow.Format("15:04"), t.clock(t.p.Deadline).Format("15:04"), per, finishMore.Format("15:04"), t.sw.id)
	key, args := MsgTestingBehind, map[string]string{"round": fmt.Sprint(t.p.Round), "area": t.p.Area, "incident": t.in.Incident, "sampled": fmt.Sprint(t.p.Sampled), "expected": fmt.Sprint(t.p.Expected), "rate": fmt.Sprintf("%.0f", rate), "points": fmt.Sprint(len(t.plan.Points)), "finish": finishNow.Format("15:04"), "deadline": t.clock(t.p.Deadline).Format("15:04"), "per": fmt.Sprint(per), "finish_more": finishMore.Format("15:04"), "response": t.sw.id}
	if pt, ok := t.latestPoint(); ok && t.evidence {
		key, args["point"], args["point_sampled"], args["point_expected"], args["point_rate"], args["point_finish"] = MsgTestingBehind+"/furthest", pt.Code, fmt.Sprint(pt.Sampled), fmt.Sprint(pt.Expected), fmt.Sprintf("%.0f", pt.PerHour), t.clock(pt.Projected).Format("15:04")
		body += fmt.Sprintf(" The point furthest behind is %s (%d of %d sampled, %.0f an hour, projected to finish at %s): open the new point in %s next to it, and it takes over part of %s's compounds.",
			pt.Code, pt.Sampled, pt.Expected, pt.PerHour, t.clock(pt.Projected).Format("15:04"), t.p.Area, pt.Code)
	}
	_ = t.sw.r.run(ctx, "escalate", "Recommend another sampling point", a.PublishNotice, activities.NoticeInput{
		Ref: t.sw.ref("muster"), Step: t.in.Path + "/behind", AreaID: t.in.Area.ID,
		Kind: fmt.Sprintf("testing/%d/behind", t.p.Round), Audience: "command center", Body: body, Message: key, Args: args,
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
	if p.Behind && p.State != StateDone {
		b.WriteString(" · **behind**")
	}
	if p.Short != "" && p.State != StateDone {
		b.WriteString(" · **the plan cannot meet the deadline**: " + p.Short)
	}
	if p.Positives > 0 {
		fmt.Fprintf(&b, " · **%d positive**", p.Positives)
	}
	b.WriteString("\n\n| Point | Sampled | Expected | Per hour | Capacity | Planned finish | Projected finish |\n|---|---|---|---|---|---|---|\n")
	for _, pt := range p.Points {
		planned, projected := "", ""
		if !pt.Planned.IsZero() {
			planned = t.clock(pt.Planned).Format("15:04")
		}
		if !pt.Projected.IsZero() && p.State != StateDone {
			projected = t.clock(pt.Projected).Format("15:04")
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %d | %s | %s |\n", pt.Code, pt.Sampled, pt.Expected, pt.PerHour, pt.Capacity, planned, projected)
	}
	fmt.Fprintf(&b, "\nHome visits: %d sampled, %d missed, %d pending", p.Visits.Sampled, p.Visits.Missed, p.Visits.Pending)
	if p.State == StateDone {
		fmt.Fprintf(&b, " · round closed, %d missing", p.Missing)
		if p.MinCoverage > 0 && !p.Clean {
			fmt.Fprintf(&b, " · **not clean: %s sampled (min %s)**", percent(p.Coverage), percent(p.MinCoverage))
		}
	}
	if p.Extended {
		fmt.Fprintf(&b, "\n\nExtended after an outage (%s lost)", p.Lost.Round(time.Minute))
	}
	workflow.SetCurrentDetails(ctx, b.String())
}
