package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
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
			"await_late":    {Type: runbook.TypeDuration, Doc: "how long the step stays after the round closes, counting late results every check_every (the step's outputs follow them); at most grace; default none: the figures are the close's"},
		},
		Outputs:   []string{"positives", "sampled", "expected", "missing", "coverage", "home_visits_open", "clean", "late_results"},
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

// CohortSlot is when a cohort is called to the sampling points; Site,
// when set, is the campus or school whose own cohort it is.
type CohortSlot struct {
	Cohort   string
	Expected int
	From, To time.Time
	Site     string `json:",omitempty"`
	SiteName string `json:",omitempty"`
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
	Cohorts   []domain.CohortProgress
	Slots     []CohortSlot
	Visits    domain.VisitProgress
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
	// LateResults counts samples recorded against the round after it
	// closed, as the step last counted them.
	LateResults int `json:",omitempty"`
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
	Plan        domain.RoundPlan
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
	// quietState marks runs of the version that sets MusterStepState only
	// when it changes; saState is the value last set.
	quietState bool
	saState    string
	sw         *stepWorkflow
	in         StepInput
	p          TestingProgress
	plan       domain.RoundPlan
	addPoint   []AddPointInput
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
	rnd := &round{sw: newStepWorkflow(ctx, in), in: in, saState: StateRunning}
	// The step runner marks the step running whenever one of its
	// activities starts; a round that is behind stays overdue.
	changed := rnd.sw.r.changed
	rnd.sw.r.changed = func(ctx workflow.Context, name, state string) {
		if rnd.quietState && rnd.unchanged(name, state) {
			rnd.sw.render(ctx)
			return
		}
		changed(ctx, name, state)
		// The step's change sets these states (step.go), no others.
		if state == StateRunning || state == StateStalled || state == StateRetrying {
			rnd.saState = state
		}
		if state == StateRunning && rnd.p.Behind && rnd.p.State == StateRunning {
			_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(StateOverdue))
			rnd.saState = StateOverdue
		}
	}
	rnd.sw.details = rnd.render
	res, err := rnd.run(ctx)
	return rnd.sw.finish(ctx, res, err)
}

// roundParams are a testing round's parameters, read from its step.
type roundParams struct {
	number                             int
	deadline, every, revisit, extendBy time.Duration
	minCoverage                        float64
	// awaitLate is how long the step counts late results after the
	// close, at most the round's grace.
	awaitLate time.Duration
}

func roundParamsOf(in StepInput) roundParams {
	c := roundParams{
		number:   max(in.Round, 1),
		deadline: paramDuration(in.Params, "deadline"),
		every:    paramDuration(in.Params, "check_every"),
		revisit:  paramDuration(in.Params, "revisit_after"),
	}
	if r := paramInt(in.Params, "round"); r > 0 {
		c.number = r
	}
	c.minCoverage = DefaultMinCoverage
	if _, ok := in.Params["min_coverage"]; ok {
		c.minCoverage = paramNumber(in.Params, "min_coverage")
	}
	c.extendBy = DefaultExtendBy
	if _, ok := in.Params["extend_by"]; ok {
		c.extendBy = paramDuration(in.Params, "extend_by")
	}
	c.extendBy = min(c.extendBy, c.deadline)
	grace := DefaultLateGrace
	if _, ok := in.Params["grace"]; ok {
		grace = paramDuration(in.Params, "grace")
	}
	c.awaitLate = min(paramDuration(in.Params, "await_late"), grace)
	return c
}

// run opens the round (or takes up the state a previous run carried over),
// checks its coverage until everyone is sampled or the deadline passes,
// and closes it.
func (rnd *round) run(ctx workflow.Context) (StepResult, error) {
	in := rnd.in
	if in.Area == nil {
		return StepResult{}, temporal.NewNonRetryableApplicationError("a testing round needs an area", activities.ErrBadInput, nil)
	}
	cfg := roundParamsOf(in)
	// Rounds before this version closed with the workflow's last count and
	// no coverage rule; their histories replay as they ran.
	rnd.evidence = workflow.GetVersion(ctx, "testing-evidence", workflow.DefaultVersion, 1) >= 1
	// Rounds before this version set the state at every activity's start
	// and every check, mostly to the value it had.
	rnd.quietState = workflow.GetVersion(ctx, testingQuietStateChange, workflow.DefaultVersion, 1) >= 1
	opens := workflow.Now(ctx)
	rnd.p = TestingProgress{
		Incident: in.Incident, Area: in.Area.Name, Round: cfg.number, State: StateRunning,
		OpensAt: opens, Deadline: opens.Add(scaled(cfg.deadline, in.TimeScale)), TimeScale: max(in.TimeScale, 1),
	}
	resume := in.Resume
	if resume != nil {
		rnd.p, rnd.plan, rnd.sw.list, rnd.addPoint = resume.Progress, resume.Plan, resume.Steps, resume.AddPoints
		rnd.in.Resume = nil
	}
	if err := rnd.handlers(ctx); err != nil {
		return StepResult{}, err
	}
	var lastRevisit time.Time
	if resume != nil {
		lastRevisit = resume.LastRevisit
	} else {
		if err := rnd.open(ctx, cfg.number); err != nil {
			return StepResult{}, err
		}
		lastRevisit = workflow.Now(ctx)
	}
	checks := 0
	for {
		extended, over, err := rnd.check(ctx, cfg, &lastRevisit)
		if err != nil {
			return StepResult{}, err
		}
		if extended {
			continue
		}
		if over {
			break
		}
		// A check costs about a dozen events; counting them keeps the
		// decision independent of how the server reports history length.
		checks++
		if longHistory(ctx, rnd.in.HistoryLimit, checks*eventsPerCheck) {
			// The response hears from the new run.
			return StepResult{}, continueAsNewWhenQuiet(ctx, canPlan{
				name: MassTestingStepName, inbox: rnd.sw.inbox,
				next: func() any {
					next := rnd.in
					next.Resume = &RoundState{Plan: rnd.plan, Progress: rnd.p, Steps: rnd.sw.list, LastRevisit: lastRevisit, AddPoints: rnd.addPoint}
					next.Retries = pendingRetries(rnd.sw.r.retry)
					return next
				},
			})
		}
	}
	return rnd.close(ctx, cfg)
}

// handlers answers the progress query and takes operators' requests for
// another sampling point.
func (rnd *round) handlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (TestingProgress, error) { return rnd.p, nil }); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateAddPoint, rnd.onAddPoint, workflow.UpdateHandlerOptions{
		Validator: func(ctx workflow.Context, a AddPointInput) error {
			if err := limitText("site", a.Site, "reason", a.Reason, "by", a.By); err != nil {
				return err
			}
			if strings.TrimSpace(a.Site) == "" {
				return fmt.Errorf("name the sampling point to open (a site code)")
			}
			if rnd.p.State != StateRunning {
				return fmt.Errorf("round %d of %s is %s", rnd.p.Round, rnd.p.Area, rnd.p.State)
			}
			return nil
		},
		Description: "Open another sampling point in this round",
	})
}

// check waits for the next coverage check (or a point an operator asked
// for), counts the samples, escalates a round that is behind, sends
// revisits, and extends a round that lost time to an outage. extended says
// the deadline moved; over says the round is to close.
func (rnd *round) check(ctx workflow.Context, cfg roundParams, lastRevisit *time.Time) (extended, over bool, err error) {
	wait := scaled(cfg.every, rnd.in.TimeScale)
	if left := rnd.p.Deadline.Sub(workflow.Now(ctx)); left < wait {
		wait = max(left, time.Millisecond)
	}
	if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: wait, TimerOptions: workflow.TimerOptions{Summary: "Next coverage check"}},
		func() bool { return len(rnd.addPoint) > 0 }); err != nil {
		return false, false, err
	}
	rnd.openAddedPoints(ctx)
	var pr domain.RoundProgress
	asked := workflow.Now(ctx)
	if err := rnd.sw.r.run(ctx, "check", "Count samples per point", a.RoundProgress,
		activities.RoundRef{Ref: rnd.sw.ref("muster"), RoundID: rnd.plan.RoundID}, &pr,
		func() string { return fmt.Sprintf("%d of %d sampled", pr.Sampled, pr.Expected) }); err != nil {
		return false, false, err
	}
	// A check that took longer than a quarter of the time between
	// checks was retried through an outage: the stations could not
	// upload either, and the round lost that time.
	if took := workflow.Now(ctx).Sub(asked); rnd.evidence && took > max(scaled(cfg.every, rnd.in.TimeScale)/4, time.Second) {
		rnd.p.Lost += took
	}
	rnd.update(ctx, pr)
	// At the deadline the round closes: another point helps nobody.
	if rnd.p.Behind && !rnd.p.Escalated && workflow.Now(ctx).Before(rnd.p.Deadline) {
		rnd.p.Escalated = true
		countOverdue(ctx, KindMassTesting)
		rnd.escalate(ctx)
	}
	now := workflow.Now(ctx)
	if now.Sub(*lastRevisit) >= scaled(cfg.revisit, rnd.in.TimeScale) && pr.HomeVisits.Missed > 0 {
		*lastRevisit = now
		var n int
		if err := rnd.sw.r.run(ctx, "revisit", "Visit again where a visit missed", a.RevisitMissed,
			activities.RoundRef{Ref: rnd.sw.ref("muster"), RoundID: rnd.plan.RoundID}, &n,
			func() string { return fmt.Sprintf("%d revisits", n) }); err != nil {
			return false, false, err
		}
	}
	if rnd.evidence && !now.Before(rnd.p.Deadline) && pr.Sampled < pr.Expected && rnd.p.Lost > 0 && !rnd.p.Extended && cfg.extendBy > 0 &&
		coverage(pr.Sampled, pr.Expected) < cfg.minCoverage {
		return true, false, rnd.extend(ctx, cfg.extendBy, cfg.minCoverage)
	}
	return false, pr.Sampled >= pr.Expected || !now.Before(rnd.p.Deadline), nil
}

// openAddedPoints opens the sampling points operators asked for; a point
// that cannot open is logged and the round goes on.
func (rnd *round) openAddedPoints(ctx workflow.Context) {
	for len(rnd.addPoint) > 0 {
		add := rnd.addPoint[0]
		rnd.addPoint = rnd.addPoint[1:]
		if err := rnd.sw.r.run(ctx, "add-point/"+add.Site, "Open sampling point "+add.Site, a.AddRoundPoint,
			activities.AddRoundPointInput{Ref: rnd.sw.ref(add.By), RoundID: rnd.plan.RoundID, Site: add.Site}, &rnd.plan,
			func() string { return fmt.Sprintf("%d points", len(rnd.plan.Points)) }); err != nil {
			workflow.GetLogger(ctx).Warn("Add point", "site", add.Site, "error", err)
		}
	}
}

// close closes the round and lists who is missing.
func (rnd *round) close(ctx workflow.Context, cfg roundParams) (StepResult, error) {
	rnd.p.State = "closing"
	var closed activities.CloseRoundResult
	if err := rnd.sw.r.run(ctx, "close-round", "Close the round, list who is missing", a.CloseRound,
		activities.RoundRef{Ref: rnd.sw.ref("muster"), RoundID: rnd.plan.RoundID}, &closed,
		func() string { return fmt.Sprintf("%d missing", closed.Missing) }); err != nil {
		return StepResult{}, err
	}
	rnd.p.Missing, rnd.p.State = closed.Missing, StateDone
	if rnd.evidence {
		res := rnd.closeWithEvidence(ctx, closed, cfg.minCoverage)
		if cfg.awaitLate > 0 {
			return rnd.awaitLate(ctx, cfg, closed, res), nil
		}
		return res, nil
	}
	rnd.gauge(ctx)
	rnd.render(ctx)
	return StepResult{
		Outputs: map[string]float64{
			"positives": float64(rnd.p.Positives), "sampled": float64(rnd.p.Sampled),
			"expected": float64(rnd.p.Expected), "missing": float64(rnd.p.Missing),
		},
		Detail: fmt.Sprintf("round %d: %d of %d sampled, %d positive, %d missing", cfg.number, rnd.p.Sampled, rnd.p.Expected, rnd.p.Positives, rnd.p.Missing),
	}, nil
}

// DefaultExtendBy is how long a round that lost time to an outage is
// extended when the step's params do not say (a round started alone).
const DefaultExtendBy = 2 * time.Hour

// DefaultLateGrace is how long after the close a round records late
// samples when the step's params do not say; the store's default is the
// same.
const DefaultLateGrace = 6 * time.Hour

// coverage is sampled ÷ expected; a round that expected nobody is covered.
func coverage(sampled, expected int) float64 {
	if expected <= 0 {
		return 1
	}
	return float64(sampled) / float64(expected)
}

// extend moves the deadline of a round that lost time to an outage, once,
// and tells the command center.
func (rnd *round) extend(ctx workflow.Context, by time.Duration, minCoverage float64) error {
	old := rnd.p.Deadline
	rnd.p.Deadline = old.Add(scaled(by, rnd.in.TimeScale))
	rnd.p.Extended, rnd.p.Behind, rnd.p.Escalated = true, false, false
	reason := fmt.Sprintf("%s lost to an outage; %s sampled (min %s)", rnd.p.Lost.Round(time.Minute), percent(coverage(rnd.p.Sampled, rnd.p.Expected)), percent(minCoverage))
	var d time.Time
	if err := rnd.sw.r.run(ctx, "extend", "Extend the round after an outage", a.ExtendRound,
		activities.ExtendRoundInput{Ref: rnd.sw.ref("muster"), RoundID: rnd.plan.RoundID, Deadline: rnd.p.Deadline, Reason: reason}, &d,
		func() string { return "extended by " + by.String() }); err != nil {
		return err
	}
	body := fmt.Sprintf("Testing round %d of %s (incident %s) lost time to an outage (%s) and had %s sampled (%d of %d, min %s) at its deadline %s: it is extended by %s to %s. It closes then, and counts as clean only at %s or more.",
		rnd.p.Round, rnd.p.Area, rnd.in.Incident, rnd.p.Lost.Round(time.Minute), percent(coverage(rnd.p.Sampled, rnd.p.Expected)), rnd.p.Sampled, rnd.p.Expected, percent(minCoverage),
		rnd.clock(old).Format("15:04"), by, rnd.clock(rnd.p.Deadline).Format("15:04"), percent(minCoverage))
	_ = rnd.sw.r.run(ctx, "escalate-extended", "Tell the command center the round is extended", a.PublishNotice, activities.NoticeInput{
		Ref: rnd.sw.ref("muster"), Step: rnd.in.Path + "/extended", AreaID: rnd.in.Area.ID,
		Kind: fmt.Sprintf("testing/%d/extended", rnd.p.Round), Audience: "command center", Body: body,
		Message: MsgTestingExtended, Args: map[string]string{"round": fmt.Sprint(rnd.p.Round), "area": rnd.p.Area, "incident": rnd.in.Incident, "lost": rnd.p.Lost.Round(time.Minute).String(), "coverage": percent(coverage(rnd.p.Sampled, rnd.p.Expected)), "sampled": fmt.Sprint(rnd.p.Sampled), "expected": fmt.Sprint(rnd.p.Expected), "min": percent(minCoverage), "deadline": rnd.clock(old).Format("15:04"), "by": by.String(), "until": rnd.clock(rnd.p.Deadline).Format("15:04")},
	}, nil, func() string { return "extension reported" })
	rnd.render(ctx)
	return nil
}

// closeWithEvidence reports the figures the database counted as the round
// closed, and whether they are evidence: a round below its minimum
// coverage is never clean, whatever its positives, and the command center
// is told.
func (rnd *round) closeWithEvidence(ctx workflow.Context, closed activities.CloseRoundResult, minCoverage float64) StepResult {
	res := rnd.figures(ctx, closed, minCoverage)
	if !rnd.p.Clean {
		body := fmt.Sprintf("Testing round %d of %s (incident %s) closed below its minimum coverage: %s sampled (%d of %d, min %s), %d missing. It is no evidence for a lift, whatever its positives (%d); the residents missing are on the call-back list (`muster testing missing %s`).",
			rnd.p.Round, rnd.p.Area, rnd.in.Incident, percent(rnd.p.Coverage), rnd.p.Sampled, rnd.p.Expected, percent(minCoverage), rnd.p.Missing, rnd.p.Positives, rnd.sw.id)
		n := activities.NoticeInput{
			Ref: rnd.sw.ref("muster"), Step: rnd.in.Path + "/not-clean", AreaID: rnd.in.Area.ID,
			Kind: fmt.Sprintf("testing/%d/not-clean", rnd.p.Round), Audience: "command center", Body: body,
		}
		if workflow.GetVersion(ctx, escalationMessagesChange, workflow.DefaultVersion, 1) >= 1 {
			n.Message, n.Args = MsgTestingNotClean, map[string]string{"round": fmt.Sprint(rnd.p.Round), "area": rnd.p.Area, "incident": rnd.in.Incident,
				"coverage": percent(rnd.p.Coverage), "sampled": fmt.Sprint(rnd.p.Sampled), "expected": fmt.Sprint(rnd.p.Expected), "min": percent(minCoverage),
				"missing": fmt.Sprint(rnd.p.Missing), "positives": fmt.Sprint(rnd.p.Positives), "response": rnd.sw.id}
		}
		_ = rnd.sw.r.run(ctx, "escalate-not-clean", "Tell the command center the round is not clean", a.PublishNotice, n,
			nil, func() string { return "not clean reported" })
	}
	return res
}

// figures takes a round's figures as the database counted them (at the
// close, or after it with late results) into its progress, and returns
// them as the step's outputs and detail.
func (rnd *round) figures(ctx workflow.Context, c activities.CloseRoundResult, minCoverage float64) StepResult {
	rnd.p.Sampled, rnd.p.Expected, rnd.p.Positives, rnd.p.Missing = c.Sampled, c.Expected, c.Positives, c.Missing
	rnd.p.HomeVisitsOpen, rnd.p.MinCoverage, rnd.p.LateResults = c.HomeVisitsOpen, minCoverage, c.LateResults
	rnd.p.Coverage = coverage(rnd.p.Sampled, rnd.p.Expected)
	rnd.p.Clean = rnd.p.Coverage >= minCoverage
	rnd.p.Behind = false
	rnd.gauge(ctx)
	rnd.render(ctx)
	clean := 0.0
	detail := fmt.Sprintf("round %d: %d of %d sampled (%s), %d positive, %d missing", rnd.p.Round, rnd.p.Sampled, rnd.p.Expected, percent(rnd.p.Coverage), rnd.p.Positives, rnd.p.Missing)
	if rnd.p.Clean {
		clean = 1
	} else {
		detail = fmt.Sprintf("round %d: not clean: %s sampled (min %s) · %d of %d sampled, %d positive, %d missing",
			rnd.p.Round, percent(rnd.p.Coverage), percent(minCoverage), rnd.p.Sampled, rnd.p.Expected, rnd.p.Positives, rnd.p.Missing)
	}
	if rnd.p.LateResults > 0 {
		detail += fmt.Sprintf(", %d late", rnd.p.LateResults)
	}
	return StepResult{
		Outputs: map[string]float64{
			"positives": float64(rnd.p.Positives), "sampled": float64(rnd.p.Sampled),
			"expected": float64(rnd.p.Expected), "missing": float64(rnd.p.Missing),
			"coverage": rnd.p.Coverage, "home_visits_open": float64(rnd.p.HomeVisitsOpen), OutputClean: clean,
			"late_results": float64(rnd.p.LateResults),
		},
		Detail: detail,
	}
}

// awaitLate keeps the step of a closed round running for cfg.awaitLate,
// counting the results recorded against the round after its close every
// check_every: the response's tree, and so its until conditions, see the
// outputs follow them, and the step's result is the last count. A count
// that cannot be made ends the wait with the figures counted so far.
func (rnd *round) awaitLate(ctx workflow.Context, cfg roundParams, last activities.CloseRoundResult, res StepResult) StepResult {
	// Runs before this version ended at the close; only runbooks that ask
	// for the wait reach this point.
	if workflow.GetVersion(ctx, "testing-await-late", workflow.DefaultVersion, 1) < 1 {
		return res
	}
	until := workflow.Now(ctx).Add(scaled(cfg.awaitLate, rnd.in.TimeScale))
	every := max(scaled(cfg.every, rnd.in.TimeScale), time.Millisecond)
	for now := workflow.Now(ctx); now.Before(until); now = workflow.Now(ctx) {
		if err := workflow.NewTimer(ctx, min(every, until.Sub(now))).Get(ctx, nil); err != nil {
			return res
		}
		var c activities.CloseRoundResult
		if err := rnd.sw.r.run(ctx, "late-results", "Count results that came after the close", a.RoundTally,
			activities.RoundRef{Ref: rnd.sw.ref("muster"), RoundID: rnd.plan.RoundID}, &c,
			func() string { return fmt.Sprintf("%d late results", c.LateResults) }); err != nil {
			workflow.GetLogger(ctx).Warn("Count late results", "round", rnd.plan.RoundID, "error", err)
			return res
		}
		if c == last {
			continue
		}
		last = c
		res = rnd.figures(ctx, c, cfg.minCoverage)
		reportToParent(ctx, StepReport{Path: rnd.in.Path, State: StateRunning, Detail: res.Detail, Outputs: res.Outputs})
	}
	return res
}

func (rnd *round) onAddPoint(ctx workflow.Context, in AddPointInput) error {
	if in.By == "" {
		in.By = "command-center"
	}
	rnd.addPoint = append(rnd.addPoint, in)
	return nil
}
