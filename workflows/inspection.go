package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/store"
)

// The inspection-follow-up step kind: InspectionFollowUpStep runs the
// rounds, and a FindingFollowUp follows each finding. Its spec is
// inspectionKind, below.
const KindInspection = "inspection-follow-up"

var inspectionFollowUpKind = kind{spec: inspectionKind, name: InspectionStepName, holds: true, registerAll: registerInspection}

// Names of the inspection step's workflows, updates and signals.
const (
	InspectionStepName = "InspectionFollowUpStep"
	InspectionTickName = "InspectionTick"
	UpdateReportSite   = "report-site"
	// SignalNextRound asks the inspection step for its next round; the
	// schedule's tick sends it.
	SignalNextRound = "next-round"
)

// Muster's own metrics of the inspection follow-up, emitted through
// workflow.GetMetricsHandler (silent during replay) and exported with the
// SDK's metrics by a worker that serves them.
const (
	// MetricFindingsOpen is how many findings of an incident's inspection
	// are not yet closed, by incident.
	MetricFindingsOpen = "muster_findings_open"
	// MetricFindingsOverdue is how many of them are past their deadline.
	MetricFindingsOverdue = "muster_findings_overdue"
	// MetricInspectionTalks counts talks with the people responsible, by
	// reason (overdue, repeat).
	MetricInspectionTalks = "muster_inspection_talks"
)

// InspectionScheduleID is the ID of the schedule of an inspection step's
// rounds, derived from the step's workflow ID (and so from the incident).
func InspectionScheduleID(stepWorkflowID string) string {
	return strings.ReplaceAll(stepWorkflowID, "/", "-") + "-rounds"
}

// ReportSiteInput is an inspector's report of one site: findings, or none.
type ReportSiteInput struct {
	Site string
	// Inspector is who inspected; empty means the site's assigned inspector.
	Inspector string
	Findings  []store.NewFinding
}

// ReportSiteResult is what a site report recorded.
type ReportSiteResult struct {
	Site  string
	Round int
	// Findings are the IDs of the site's findings, each followed by the
	// workflow FindingWorkflowID names.
	Findings []int64
	// Duplicate says the site was reported before; nothing was written.
	Duplicate bool
}

// InspectionTickInput is what the schedule starts on each firing.
type InspectionTickInput struct {
	WorkflowID string
}

// SiteStatus is one site of the current round.
type SiteStatus struct {
	Site        string
	SubDistrict string
	Kind        string
	Inspector   string
	Reported    bool
	Findings    int
}

// InspectionProgress is the answer to an inspection step's progress query:
// the current round, found / rectified / overdue / escalated per
// sub-district and unit, problems shared by several sites, and the open list.
type InspectionProgress struct {
	Incident   string
	Area       string
	Round      int
	RoundID    int64
	RoundState string
	// RoundDeadline is when the round closes with whatever is reported.
	RoundDeadline time.Time
	Sites         []SiteStatus
	Reported      int
	Total         store.Tally
	BySubDistrict []store.Tally
	ByUnit        []store.Tally
	Groups        []store.FindingGroup
	Open          []FindingStatus
	// Schedule is the ID of the schedule starting daily rounds, if any.
	Schedule string `json:",omitempty"`
	Every    string `json:",omitempty"`
	// Holding says the first round is settled and the step holds, starting
	// rounds on its schedule, until the response is lifted.
	Holding bool `json:",omitempty"`
	// Unreported are the sites the last closed round closed without: they
	// were escalated to the command center and go to another inspector, and
	// the step reads overdue until a round has them reported.
	Unreported []string `json:",omitempty"`
	State      string
	TimeScale  float64
}

// InspectionState is what an inspection step carries across
// continue-as-new: its progress, the current round's plan and where every
// finding stands. Finding workflows go on meanwhile and report to the new run.
type InspectionState struct {
	Progress  InspectionProgress
	Plan      store.InspectionPlan
	Findings  []FindingStatus
	Ready     bool
	NextRound bool `json:",omitempty"`
}

type inspection struct {
	sw       *stepWorkflow
	in       StepInput
	p        InspectionProgress
	plan     store.InspectionPlan
	sites    map[string]*SiteStatus
	findings map[int64]*FindingStatus
	units    []string
	// nextRound, lift and ready are set by signals and read by the loop.
	nextRound bool
	lift      *LiftInput
	ready     bool
	// reports counts site reports being recorded, so a round does not close
	// under one.
	reports int
	saState string
	cfg     inspectionConfig
	// events estimates the history this run has added, so the decision to
	// continue as new does not depend on how the server reports its length.
	events int
	// The signal channels, drained before continuing as new.
	reportsCh, roundsCh, liftsCh workflow.ReceiveChannel
}

type inspectionConfig struct {
	siteKinds   []string
	departments []store.Unit
	inspectors  []string
	roundFor    time.Duration
	deadline    map[string]float64
	remindEvery float64
	every       time.Duration
	checkEvery  time.Duration
}

func inspectionParams(in StepInput) inspectionConfig {
	c := inspectionConfig{
		roundFor:    paramDuration(in.Params, "round_deadline"),
		remindEvery: paramDuration(in.Params, "remind_every").Hours(),
		every:       paramDuration(in.Params, "every"),
		checkEvery:  paramDuration(in.Params, "check_every"),
		deadline: map[string]float64{
			"high":   paramDuration(in.Params, "rectify_high").Hours(),
			"medium": paramDuration(in.Params, "rectify_medium").Hours(),
			"low":    paramDuration(in.Params, "rectify_low").Hours(),
		},
	}
	for _, k := range strings.Split(paramString(in.Params, "site_kinds"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			c.siteKinds = append(c.siteKinds, k)
		}
	}
	// departments: code=Name;code=Name
	for _, d := range strings.Split(paramString(in.Params, "departments"), ";") {
		code, name, _ := strings.Cut(strings.TrimSpace(d), "=")
		if code = strings.TrimSpace(code); code != "" {
			if name = strings.TrimSpace(name); name == "" {
				name = code
			}
			c.departments = append(c.departments, store.Unit{Code: code, Name: name, Kind: "department", Person: "head of " + name})
		}
	}
	n := max(paramInt(in.Params, "inspectors"), 1)
	for i := range n {
		c.inspectors = append(c.inspectors, fmt.Sprintf("inspector-%02d", i+1))
	}
	if c.roundFor <= 0 {
		c.roundFor = 12 * time.Hour
	}
	if c.checkEvery <= 0 {
		c.checkEvery = time.Hour
	}
	//workflowcheck:ignore each key is set on its own, so the order does not matter
	for sev, def := range map[string]float64{"high": 6, "medium": 24, "low": 72} {
		if c.deadline[sev] <= 0 {
			c.deadline[sev] = def
		}
	}
	if c.remindEvery <= 0 {
		c.remindEvery = 2
	}
	return c
}

// InspectionFollowUpStep runs the discipline office's inspections over an
// area: a round over its sub-districts and the sites the runbook names, each
// with an assigned inspector; inspectors report each site (an update) with
// its findings or none; every finding is followed by its own
// FindingFollowUp workflow until it is rectified; findings failed compliance
// checks open are picked up too. With `every`, a Temporal Schedule starts a
// round each period until the response is lifted. Without it, the step is
// done once the round has closed and every finding is closed.
func InspectionFollowUpStep(ctx workflow.Context, in StepInput) (StepResult, error) {
	t := &inspection{sw: newStepWorkflow(ctx, in), in: in, sites: map[string]*SiteStatus{}, findings: map[int64]*FindingStatus{}}
	t.sw.details = t.render
	res, err := t.run(ctx)
	if workflow.IsContinueAsNewError(err) {
		// The new run goes on with the schedule, the findings and the
		// response's step: nothing ends here.
		return res, err
	}
	if err != nil {
		// Cancelled (the response skipped or aborted the step) or failed:
		// the schedule goes, and open findings are withdrawn when
		// cancelled, out of the cancellation's reach.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		t.end(dctx, ctx.Err() != nil)
	}
	return t.sw.finish(ctx, res, err)
}

func (t *inspection) run(ctx workflow.Context) (StepResult, error) {
	in := t.in
	if in.Area == nil {
		return StepResult{}, temporal.NewNonRetryableApplicationError("an inspection needs an area", activities.ErrBadInput, nil)
	}
	t.cfg = inspectionParams(in)
	t.p = InspectionProgress{Incident: in.Incident, Area: in.Area.Name, State: StateRunning, TimeScale: max(in.TimeScale, 1)}
	if t.cfg.every > 0 {
		t.p.Schedule, t.p.Every = InspectionScheduleID(t.sw.id), t.cfg.every.String()
	}
	// The step runner marks the step running whenever one of its
	// activities starts; the inspection's own state wins.
	changed := t.sw.r.changed
	t.sw.r.changed = func(ctx workflow.Context, name, state string) {
		changed(ctx, name, state)
		if state == StateRunning && t.saState != "" && t.saState != StateRunning {
			_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(t.saState))
		}
	}
	if err := t.handlers(ctx); err != nil {
		return StepResult{}, err
	}
	if r := in.ResumeInspection; r != nil {
		t.resume(ctx, r)
		in.ResumeInspection, t.in.ResumeInspection = nil, nil
	} else if err := t.start(ctx); err != nil {
		return StepResult{}, err
	}
	for {
		// A look costs a timer, an activity and workflow tasks.
		t.events += 10
		roundOpen := t.p.RoundState == "open"
		wait := scaled(t.cfg.checkEvery, in.TimeScale)
		if roundOpen {
			wait = min(wait, max(t.p.RoundDeadline.Sub(workflow.Now(ctx)), time.Millisecond))
		}
		if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: wait, TimerOptions: workflow.TimerOptions{Summary: "Next look for automatic findings"}},
			func() bool {
				return t.lift != nil || t.nextRound || (roundOpen && t.allReported() && t.reports == 0) || (t.settled() && !t.ready)
			}); err != nil {
			return StepResult{}, err
		}
		if t.lift != nil {
			break
		}
		if t.p.RoundState == "open" && t.reports == 0 && (t.allReported() || !workflow.Now(ctx).Before(t.p.RoundDeadline)) {
			if err := t.closeRound(ctx); err != nil {
				return StepResult{}, err
			}
		}
		if err := t.pickUpAutomatic(ctx); err != nil {
			return StepResult{}, err
		}
		if t.nextRound {
			t.nextRound = false
			if err := workflow.Await(ctx, func() bool { return t.reports == 0 }); err != nil {
				return StepResult{}, err
			}
			if t.p.RoundState == "open" {
				if err := t.closeRound(ctx); err != nil {
					return StepResult{}, err
				}
			}
			if err := t.openRound(ctx, t.p.Round+1, nil); err != nil {
				return StepResult{}, err
			}
		}
		if t.longHistory(ctx) {
			if err := t.continueAsNew(ctx); err != nil {
				return StepResult{}, err
			}
			if t.lift != nil {
				break
			}
		}
		if t.settled() {
			if t.cfg.every <= 0 {
				break
			}
			if !t.ready {
				t.ready, t.p.Holding = true, true
				reportToParent(ctx, StepReport{Path: in.Path, State: StateDone, Ready: true, Detail: t.summary(), Outputs: t.outputs()})
			}
		}
	}
	t.end(ctx, t.lift != nil)
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return StepResult{}, err
	}
	t.p.State = StateDone
	t.tally(ctx)
	detail := t.summary()
	if t.lift != nil {
		detail = "lifted by " + t.lift.By + ": " + detail
	}
	return StepResult{Outputs: t.outputs(), Detail: detail}, nil
}

// start opens the first round and, with `every`, the schedule of the next.
func (t *inspection) start(ctx workflow.Context) error {
	if err := t.openRound(ctx, 1, nil); err != nil {
		return err
	}
	if t.cfg.every > 0 {
		in := t.scheduleInput()
		// The next round comes a period after the first, not when the
		// clock next reaches a multiple of the period: a tick before the
		// first round is settled would open round 2 over it, and the step
		// would not hold until that round closed too. Runs that created
		// their schedule before this keep the input they recorded.
		if workflow.GetVersion(ctx, "inspection-schedule-start", workflow.DefaultVersion, 1) >= 1 {
			in.Start = workflow.Now(ctx)
		}
		return t.sw.r.run(ctx, "schedule", "Schedule a round every "+t.cfg.every.String(), a.EnsureInspectionSchedule,
			in, nil, func() string { return "schedule " + t.p.Schedule })
	}
	return nil
}

// resume takes up the state a previous run carried over.
func (t *inspection) resume(ctx workflow.Context, r *InspectionState) {
	t.p, t.plan, t.ready, t.nextRound = r.Progress, r.Plan, r.Ready, r.NextRound
	t.sites = map[string]*SiteStatus{}
	for i := range t.p.Sites {
		t.sites[t.p.Sites[i].Site] = &t.p.Sites[i]
	}
	t.units = nil
	for _, u := range t.plan.Units {
		t.units = append(t.units, u.Code)
	}
	for _, f := range r.Findings {
		t.findings[f.ID] = &f
	}
	t.tally(ctx)
}

// continueAsNew hands the state to a new run once the history is long:
// after the handlers in flight have finished and the signals received so
// far are applied. A lift that arrives meanwhile is taken here instead.
func (t *inspection) continueAsNew(ctx workflow.Context) error {
	b := t.sw.inbox
	receive(ctx, b, SignalFindingReport, func(s FindingStatus) {
		if f, ok := t.findings[s.ID]; ok {
			*f = s
		}
	})
	receive(ctx, b, SignalNextRound, func(struct{}) { t.nextRound = true })
	receive(ctx, b, SignalLift, func(l LiftInput) {
		if t.lift == nil {
			t.lift = &l
		}
	})
	return continueAsNewWhenQuiet(ctx, canPlan{
		name: InspectionStepName, inbox: b,
		busy: func() bool { return t.reports > 0 },
		stop: func() bool { return t.lift != nil },
		next: func() any {
			state := &InspectionState{Progress: t.p, Plan: t.plan, Ready: t.ready, NextRound: t.nextRound}
			for _, id := range t.findingIDs() {
				state.Findings = append(state.Findings, *t.findings[id])
			}
			next := t.in
			next.ResumeInspection = state
			next.Retries = pendingRetries(t.sw.r.retry)
			return next
		},
	})
}

// longHistory says the run should continue as new.
func (t *inspection) longHistory(ctx workflow.Context) bool {
	limit := t.in.HistoryLimit
	if limit == 0 {
		limit = DefaultHistoryLimit
	}
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > limit || t.events > limit
}

// settled says the round has closed and every finding is closed.
func (t *inspection) settled() bool {
	if t.p.RoundState != "closed" || t.reports > 0 {
		return false
	}
	//workflowcheck:ignore the answer is the same in any order
	for _, f := range t.findings {
		if f.Open() {
			return false
		}
	}
	return true
}

func (t *inspection) allReported() bool {
	return len(t.sites) > 0 && t.p.Reported == len(t.sites)
}

// end deletes the schedule and, when the response ends the step, withdraws
// the findings still open.
func (t *inspection) end(ctx workflow.Context, withdraw bool) {
	if t.cfg.every > 0 && t.p.Schedule != "" {
		_ = t.sw.r.run(ctx, "unschedule", "Delete the round schedule", a.DeleteInspectionSchedule, t.scheduleInput(), nil,
			func() string { return "schedule deleted" })
	}
	if !withdraw {
		return
	}
	for _, id := range t.findingIDs() {
		if f := t.findings[id]; f.Open() {
			// A cancelled finding withdraws itself: it is counted as
			// withdrawn from here on, never as rectified or still open.
			if err := workflow.RequestCancelExternalWorkflow(ctx, f.WorkflowID, "").Get(ctx, nil); err == nil {
				f.State = store.FindingWithdrawn
			}
		}
	}
}

func (t *inspection) scheduleInput() activities.InspectionScheduleInput {
	return activities.InspectionScheduleInput{
		Ref: t.sw.ref("muster"), ScheduleID: t.p.Schedule, Every: scaled(t.cfg.every, t.in.TimeScale),
		Workflow: InspectionTickName, WorkflowID: t.sw.id + "/tick", Arg: InspectionTickInput{WorkflowID: t.sw.id},
	}
}

func (t *inspection) handlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryProgress, func() (InspectionProgress, error) { return t.p, nil },
		workflow.QueryHandlerOptions{Description: "Sites, findings per sub-district and unit, shared problems and the open list"}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateReportSite, t.onReportSite, workflow.UpdateHandlerOptions{
		Validator:   t.validateReportSite,
		Description: "Report one site's inspection: its findings, or none",
	}); err != nil {
		return err
	}
	t.reportsCh = workflow.GetSignalChannel(ctx, SignalFindingReport)
	t.roundsCh = workflow.GetSignalChannel(ctx, SignalNextRound)
	t.liftsCh = workflow.GetSignalChannel(ctx, SignalLift)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var s FindingStatus
			if !t.reportsCh.Receive(ctx, &s) {
				return
			}
			if f, ok := t.findings[s.ID]; ok {
				*f = s
				t.events += 3
				t.tally(ctx)
			}
		}
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		for t.roundsCh.Receive(ctx, nil) {
			t.nextRound = true
		}
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var l LiftInput
			if !t.liftsCh.Receive(ctx, &l) {
				return
			}
			if t.lift == nil {
				t.lift = &l
			}
		}
	})
	return nil
}

// openRound opens a round over the area's sites or, with only, a follow-up
// round over those sites of the previous one.
func (t *inspection) openRound(ctx workflow.Context, number int, only []string) error {
	var plan store.InspectionPlan
	title := fmt.Sprintf("Open inspection round %d", number)
	if len(only) > 0 {
		title = fmt.Sprintf("Open follow-up inspection round %d of %d unreported sites", number, len(only))
	}
	if err := t.sw.r.run(ctx, fmt.Sprintf("round/%d", number), title, a.OpenInspectionRound,
		activities.OpenInspectionRoundInput{
			Ref: t.sw.ref("discipline-office"), Step: t.in.Path, Round: number, Area: t.in.Area.Path,
			SiteKinds: t.cfg.siteKinds, Departments: t.cfg.departments, Inspectors: t.cfg.inspectors, Only: only,
		}, &plan, func() string { return fmt.Sprintf("%d sites, %d inspectors", len(plan.Sites), len(t.cfg.inspectors)) }); err != nil {
		return err
	}
	t.plan = plan
	t.p.Round, t.p.RoundID, t.p.RoundState = number, plan.RoundID, "open"
	t.p.RoundDeadline = workflow.Now(ctx).Add(scaled(t.cfg.roundFor, t.in.TimeScale))
	t.sites = map[string]*SiteStatus{}
	t.p.Sites, t.p.Reported = nil, 0
	for _, s := range plan.Sites {
		t.p.Sites = append(t.p.Sites, SiteStatus{Site: s.Site, SubDistrict: s.SubDistrict, Kind: s.Kind, Inspector: s.Inspector, Reported: s.Reported})
	}
	for i := range t.p.Sites {
		t.sites[t.p.Sites[i].Site] = &t.p.Sites[i]
		if t.p.Sites[i].Reported {
			t.p.Reported++
		}
	}
	t.units = t.units[:0]
	for _, u := range plan.Units {
		t.units = append(t.units, u.Code)
	}
	// Inspectors hear which sites are theirs, once per round.
	per := map[string][]string{}
	for _, s := range plan.Sites {
		per[s.Inspector] = append(per[s.Inspector], s.Site)
	}
	var lines []string
	for _, who := range sortedKeys(per) {
		lines = append(lines, fmt.Sprintf("%s: %s", who, strings.Join(per[who], ", ")))
	}
	body := fmt.Sprintf("Inspection round %d of %s (incident %s): %d sites. Report each site with `starter inspection report-site %s SITE --inspector YOU [--finding ...]`. Assignments — %s.",
		number, t.in.Area.Name, t.in.Incident, len(plan.Sites), t.in.Incident, strings.Join(lines, "; "))
	if err := t.sw.r.run(ctx, fmt.Sprintf("assign/%d", number), "Tell inspectors their sites", a.PublishNotice, activities.NoticeInput{
		Ref: t.sw.ref("discipline-office"), Step: t.in.Path + "/assign", AreaID: t.in.Area.ID,
		Kind: fmt.Sprintf("inspection/%s/%d/assign", t.in.Path, number), Audience: "inspectors of the discipline office", Body: body,
		Message: MsgInspectionAssign, Args: map[string]string{"round": fmt.Sprint(number), "area": t.in.Area.Name, "incident": t.in.Incident, "sites": fmt.Sprint(len(plan.Sites)), "assignments": strings.Join(lines, "; ")},
	}, nil, func() string { return fmt.Sprintf("%d inspectors told", len(per)) }); err != nil {
		return err
	}
	t.tally(ctx)
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	//workflowcheck:ignore the keys are sorted below
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (t *inspection) closeRound(ctx workflow.Context) error {
	if err := t.sw.r.run(ctx, fmt.Sprintf("close/%d", t.p.Round), fmt.Sprintf("Close inspection round %d", t.p.Round), a.CloseInspectionRound,
		activities.CloseInspectionRoundInput{Ref: t.sw.ref("discipline-office"), RoundID: t.p.RoundID, Round: t.p.Round, Reported: t.p.Reported, Sites: len(t.sites)},
		nil, func() string { return fmt.Sprintf("%d of %d sites reported", t.p.Reported, len(t.sites)) }); err != nil {
		return err
	}
	t.p.RoundState = "closed"
	t.groupNotice(ctx)
	t.tally(ctx)
	// Runs that closed rounds before unreported sites were escalated let
	// them go silently; they keep doing so.
	if workflow.GetVersion(ctx, "inspection-unreported-escalation", workflow.DefaultVersion, 1) >= 1 {
		return t.escalateUnreported(ctx)
	}
	return nil
}

// escalateUnreported tells the command center which sites the round closed
// without, and who had them, and marks the step overdue. The sites go to
// another inspector: in the next scheduled round or, for a step of one
// round, in one follow-up round of those sites alone.
func (t *inspection) escalateUnreported(ctx workflow.Context) error {
	was := len(t.p.Unreported) > 0
	t.p.Unreported = nil
	var lines []string
	for _, s := range t.p.Sites {
		if !s.Reported {
			t.p.Unreported = append(t.p.Unreported, s.Site)
			lines = append(lines, fmt.Sprintf("%s (%s)", s.Site, s.Inspector))
		}
	}
	t.tally(ctx)
	if len(t.p.Unreported) == 0 {
		if was && !t.ready {
			reportToParent(ctx, StepReport{Path: t.in.Path, State: StateRunning, Detail: t.summary()})
		}
		return nil
	}
	followUp := t.cfg.every <= 0 && t.p.Round == 1
	next, key := "They go to another inspector in the next round.", MsgInspectionUnreported+"/next-round"
	switch {
	case followUp:
		key = MsgInspectionUnreported + "/follow-up"
		next = fmt.Sprintf("A follow-up round %d of these sites alone opens now, each with another inspector, for %s.", t.p.Round+1, t.cfg.roundFor)
	case t.cfg.every <= 0:
		next, key = "No further round follows: send an inspector to each by hand.", MsgInspectionUnreported+"/by-hand"
	}
	body := fmt.Sprintf("Inspection round %d of %s (incident %s) closed with %d of %d sites unreported: %s. %s",
		t.p.Round, t.in.Area.Name, t.in.Incident, len(t.p.Unreported), len(t.p.Sites), strings.Join(lines, ", "), next)
	if err := t.sw.r.run(ctx, fmt.Sprintf("unreported/%d", t.p.Round), "Escalate the unreported sites", a.PublishNotice, activities.NoticeInput{
		Ref: t.sw.ref("discipline-office"), Step: t.in.Path + "/unreported", AreaID: t.in.Area.ID,
		Kind: fmt.Sprintf("inspection/%s/%d/unreported", t.in.Path, t.p.Round), Audience: "command center", Body: body,
		Message: key, Args: map[string]string{"round": fmt.Sprint(t.p.Round), "area": t.in.Area.Name, "incident": t.in.Incident, "unreported": fmt.Sprint(len(t.p.Unreported)), "sites": fmt.Sprint(len(t.p.Sites)), "list": strings.Join(lines, ", "), "next": fmt.Sprint(t.p.Round + 1), "for": t.cfg.roundFor.String()},
	}, nil, func() string { return fmt.Sprintf("%d sites unreported", len(t.p.Unreported)) }); err != nil {
		return err
	}
	if !t.ready {
		reportToParent(ctx, StepReport{Path: t.in.Path, State: StateOverdue, Detail: t.summary()})
	}
	if followUp {
		return t.openRound(ctx, t.p.Round+1, t.p.Unreported)
	}
	return nil
}

// groupNotice tells each unit once about a problem found at several of its
// sites, so the office takes it up with the department as a whole.
func (t *inspection) groupNotice(ctx workflow.Context) {
	type key struct{ unit, category string }
	sites := map[key][]string{}
	for _, id := range t.findingIDs() {
		f := t.findings[id]
		k := key{f.Unit, f.Category}
		if !contains(sites[k], f.Site) {
			sites[k] = append(sites[k], f.Site)
		}
	}
	var keys []key
	//workflowcheck:ignore the keys are sorted below
	for k, v := range sites {
		if len(v) > 1 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].unit != keys[j].unit {
			return keys[i].unit < keys[j].unit
		}
		return keys[i].category < keys[j].category
	})
	messages := len(keys) > 0 && workflow.GetVersion(ctx, inspectionMessagesChange, workflow.DefaultVersion, 1) >= 1
	for _, k := range keys {
		body := fmt.Sprintf("Inspection round %d (incident %s) found the same problem, %s, at %d of your sites: %s. The discipline office takes it up with your unit as a whole; each finding is still followed to its rectification.",
			t.p.Round, t.in.Incident, k.category, len(sites[k]), strings.Join(sites[k], ", "))
		talk := activities.NoticeInput{
			Ref: t.sw.ref("discipline-office"), Step: t.in.Path + "/group", AreaID: t.in.Area.ID,
			Kind: fmt.Sprintf("inspection/%s/%d/group/%s/%s", t.in.Path, t.p.Round, k.unit, k.category), Audience: k.unit, Body: body,
		}
		if messages {
			talk.Message, talk.Args = MsgInspectionTalk, map[string]string{"round": fmt.Sprint(t.p.Round), "incident": t.in.Incident,
				"category": k.category, "count": fmt.Sprint(len(sites[k])), "sites": strings.Join(sites[k], ", ")}
		}
		_ = t.sw.r.run(ctx, "group/"+k.unit+"/"+k.category, "Address "+k.unit+" once about "+k.category, a.PublishNotice, talk,
			nil, func() string { return fmt.Sprintf("%d sites", len(sites[k])) })
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (t *inspection) validateReportSite(ctx workflow.Context, in ReportSiteInput) error {
	if err := limitText("site", in.Site, "inspector", in.Inspector); err != nil {
		return err
	}
	for i, f := range in.Findings {
		if err := limitText(fmt.Sprintf("findings[%d].description", i), f.Description); err != nil {
			return err
		}
	}
	s, ok := t.sites[in.Site]
	switch {
	case strings.TrimSpace(in.Site) == "":
		return errors.New("site: name the site inspected (a sub-district or site code; `starter inspection report INCIDENT` lists them)")
	case t.p.RoundState == "":
		return errors.New("the inspection round is still opening; try again in a moment")
	case !ok:
		return fmt.Errorf("site %q: not a site of inspection round %d of %s (%d sites; `starter inspection report %s` lists them)", in.Site, t.p.Round, t.p.Area, len(t.sites), t.in.Incident)
	case s.Reported:
		// A duplicated report is a no-op, answered by the handler.
		return nil
	case t.p.RoundState != "open":
		return fmt.Errorf("inspection round %d is closed: site %s was not reported in time", t.p.Round, in.Site)
	case in.Inspector != "" && in.Inspector != s.Inspector:
		return fmt.Errorf("inspector %q: site %s is assigned to %s", in.Inspector, in.Site, s.Inspector)
	}
	for i, f := range in.Findings {
		if f.Unit == "" {
			f.Unit = t.unitOf(in.Site)
		}
		if err := store.CheckFinding(i, f, t.units); err != nil {
			return errors.New(strings.TrimSuffix(err.Error(), ": "+store.ErrInvalid.Error()))
		}
	}
	return nil
}

// unitOf returns the unit responsible for a site of the round.
func (t *inspection) unitOf(site string) string {
	for _, s := range t.plan.Sites {
		if s.Site == site {
			return s.Unit
		}
	}
	return ""
}

func (t *inspection) onReportSite(ctx workflow.Context, in ReportSiteInput) (ReportSiteResult, error) {
	s := t.sites[in.Site]
	out := ReportSiteResult{Site: in.Site, Round: t.p.Round}
	if s.Reported {
		out.Duplicate = true
		for _, id := range t.findingIDs() {
			if f := t.findings[id]; f.Site == in.Site && f.Source == "inspection" {
				out.Findings = append(out.Findings, id)
			}
		}
		return out, nil
	}
	t.reports++
	defer func() { t.reports-- }()
	// An update, its activity and its findings' child workflows.
	t.events += 8 + 6*len(in.Findings)
	by := in.Inspector
	if by == "" {
		by = s.Inspector
	}
	var res store.SiteReportResult
	if err := t.sw.r.run(ctx, "report/"+in.Site, "Record the report of "+in.Site, a.ReportSite,
		activities.ReportSiteInput{Ref: t.sw.ref(by), RoundID: t.p.RoundID, Site: in.Site, Findings: in.Findings}, &res,
		func() string { return fmt.Sprintf("%d findings", len(res.Findings)) }); err != nil {
		return out, err
	}
	if !s.Reported {
		s.Reported, s.Findings = true, len(res.Findings)
		t.p.Reported++
	}
	out.Duplicate = res.Duplicate
	for _, f := range res.Findings {
		out.Findings = append(out.Findings, f.ID)
		t.follow(ctx, f)
	}
	t.tally(ctx)
	return out, nil
}

// pickUpAutomatic follows the findings failed compliance checks opened.
func (t *inspection) pickUpAutomatic(ctx workflow.Context) error {
	var found []store.Finding
	if err := t.sw.r.run(ctx, "automatic", "Look for findings of failed compliance checks", a.ClaimFindings,
		activities.ClaimFindingsInput{Incident: t.in.Incident, Area: t.in.Area.Path}, &found,
		func() string { return fmt.Sprintf("%d new", len(found)) }); err != nil {
		return err
	}
	for _, f := range found {
		t.follow(ctx, f)
	}
	if len(found) > 0 {
		t.tally(ctx)
	}
	return nil
}

// follow starts the finding's own workflow once.
func (t *inspection) follow(ctx workflow.Context, f store.Finding) {
	if _, ok := t.findings[f.ID]; ok {
		return
	}
	id := FindingWorkflowID(t.in.Incident, f.ID)
	t.findings[f.ID] = &FindingStatus{
		ID: f.ID, WorkflowID: id, Site: f.Site, SubDistrict: f.SubDistrict, Unit: f.Unit, Category: f.Category,
		Severity: f.Severity, Inspector: f.Inspector, Source: f.Source, State: store.FindingOpen,
	}
	opts := workflow.ChildWorkflowOptions{
		WorkflowID:        id,
		ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
		// A cancelled finding withdraws itself before it ends.
		WaitForCancellation:   true,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         fmt.Sprintf("Finding %d · %s at %s · %s · incident %s", f.ID, f.Category, f.Site, f.Severity, t.in.Incident),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SAIncident.ValueSet(t.in.Incident), SAAreaPath.ValueSet(store.PathPrefixes(t.in.Area.Path)),
			SARunbook.ValueSet(t.in.Runbook), SAStep.ValueSet(t.in.Path+"/finding"), SAStepState.ValueSet(StateRunning),
			SALevel.ValueSet(int64(t.in.Level)),
		),
	}
	in := FindingInput{
		Incident: t.in.Incident, Finding: f, DeadlineHours: t.cfg.deadline[f.Severity], RemindEveryHours: t.cfg.remindEvery,
		TimeScale: t.in.TimeScale, StallRetryMinutes: t.in.StallRetryMinutes, Retry: t.in.Retry, HistoryLimit: t.in.HistoryLimit,
	}
	fut := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, opts), FindingFollowUpName, in)
	if err := fut.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		// Already followed (a retried report): its reports still arrive.
		workflow.GetLogger(ctx).Warn("Finding workflow not started", "finding", f.ID, "error", err)
	}
}

func (t *inspection) findingIDs() []int64 {
	ids := make([]int64, 0, len(t.findings))
	//workflowcheck:ignore the IDs are sorted below
	for id := range t.findings {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// tally recounts the findings per sub-district and unit, groups shared
// problems, and refreshes the search attribute and current details.
func (t *inspection) tally(ctx workflow.Context) {
	bySub, byUnit := map[string]*store.Tally{}, map[string]*store.Tally{}
	total := store.Tally{Key: "total"}
	type gkey struct{ unit, category string }
	groups := map[gkey]*store.FindingGroup{}
	t.p.Open = nil
	for _, id := range t.findingIDs() {
		f := t.findings[id]
		for _, tl := range []*store.Tally{entry(bySub, f.SubDistrict), entry(byUnit, f.Unit), &total} {
			tl.Found++
			switch {
			case f.State == store.FindingClosed:
				tl.Rectified++
			case f.State == store.FindingWithdrawn:
				tl.Withdrawn++
			case f.Open():
				tl.Open++
			}
			if f.Overdue {
				tl.Overdue++
			}
			if f.Escalated {
				tl.Escalated++
			}
		}
		g := groups[gkey{f.Unit, f.Category}]
		if g == nil {
			g = &store.FindingGroup{Unit: f.Unit, Category: f.Category}
			groups[gkey{f.Unit, f.Category}] = g
		}
		if !contains(g.Sites, f.Site) {
			g.Sites = append(g.Sites, f.Site)
		}
		if f.Open() {
			g.Open++
			t.p.Open = append(t.p.Open, *f)
		}
	}
	t.p.Total = total
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"incident": t.in.Incident})
	m.Gauge(MetricFindingsOpen).Update(float64(total.Open))
	overdueOpen := 0
	for _, f := range t.p.Open {
		if f.Overdue {
			overdueOpen++
		}
	}
	m.Gauge(MetricFindingsOverdue).Update(float64(overdueOpen))
	t.p.BySubDistrict, t.p.ByUnit = flatten(bySub), flatten(byUnit)
	t.p.Groups = nil
	//workflowcheck:ignore the groups are sorted below
	for _, g := range groups {
		if len(g.Sites) > 1 {
			t.p.Groups = append(t.p.Groups, *g)
		}
	}
	sort.Slice(t.p.Groups, func(i, j int) bool {
		a, b := t.p.Groups[i], t.p.Groups[j]
		if len(a.Sites) != len(b.Sites) {
			return len(a.Sites) > len(b.Sites)
		}
		return a.Unit+a.Category < b.Unit+b.Category
	})
	state := StateRunning
	if total.Overdue > 0 && total.Open > 0 {
		state = StateOverdue
	}
	if t.ready {
		state = StateDone
	}
	if len(t.p.Unreported) > 0 {
		state = StateOverdue
	}
	if state != t.saState {
		t.saState = state
		_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(state))
	}
	t.sw.detail = t.summary()
	t.render(ctx)
}

func entry(m map[string]*store.Tally, key string) *store.Tally {
	if m[key] == nil {
		m[key] = &store.Tally{Key: key}
	}
	return m[key]
}

func flatten(m map[string]*store.Tally) []store.Tally {
	out := make([]store.Tally, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, *m[k])
	}
	return out
}

func (t *inspection) summary() string {
	tl := t.p.Total
	out := fmt.Sprintf("round %d: %d of %d sites reported", t.p.Round, t.p.Reported, len(t.sites))
	if n := len(t.p.Unreported); n > 0 {
		out += fmt.Sprintf(" · %d sites unreported by the last close, escalated", n)
	}
	out += fmt.Sprintf(" · %d findings: %d rectified, ", tl.Found, tl.Rectified)
	if tl.Withdrawn > 0 {
		out += fmt.Sprintf("%d withdrawn, ", tl.Withdrawn)
	}
	return out + fmt.Sprintf("%d open, %d overdue, %d escalated", tl.Open, tl.Overdue, tl.Escalated)
}

func (t *inspection) outputs() map[string]float64 {
	tl := t.p.Total
	return map[string]float64{
		"found": float64(tl.Found), "rectified": float64(tl.Rectified), "open": float64(tl.Open),
		"overdue": float64(tl.Overdue), "escalated": float64(tl.Escalated), "rounds": float64(t.p.Round),
		"withdrawn": float64(tl.Withdrawn),
	}
}

// render writes the per-sub-district table the Web UI shows.
func (t *inspection) render(ctx workflow.Context) {
	p := t.p
	var b strings.Builder
	fmt.Fprintf(&b, "**Inspection of %s**, round %d (%s) · %d / %d sites reported · %d findings: %d rectified, %d open",
		p.Area, p.Round, p.RoundState, p.Reported, len(p.Sites), p.Total.Found, p.Total.Rectified, p.Total.Open)
	if p.Total.Overdue > 0 {
		fmt.Fprintf(&b, " · **%d overdue**", p.Total.Overdue)
	}
	if p.Total.Escalated > 0 {
		fmt.Fprintf(&b, " · %d talks", p.Total.Escalated)
	}
	if p.Schedule != "" {
		fmt.Fprintf(&b, " · a round every %s (schedule %s)", p.Every, p.Schedule)
	}
	b.WriteString("\n\n| Sub-district | Found | Rectified | Open | Overdue | Escalated |\n|---|---|---|---|---|---|\n")
	for _, tl := range p.BySubDistrict {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d |\n", tl.Key, tl.Found, tl.Rectified, tl.Open, tl.Overdue, tl.Escalated)
	}
	for _, g := range p.Groups {
		fmt.Fprintf(&b, "\nShared: %s at %d sites of %s (%d open)", g.Category, len(g.Sites), g.Unit, g.Open)
	}
	if len(p.Open) > 0 {
		b.WriteString("\n\nOpen: ")
		for i, f := range p.Open {
			if i == 10 {
				fmt.Fprintf(&b, " … and %d more", len(p.Open)-10)
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "#%d %s (%s)", f.ID, f.Site, f.State)
		}
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

// InspectionTick is what the round schedule starts: it asks the inspection
// step for its next round.
func InspectionTick(ctx workflow.Context, in InspectionTickInput) error {
	return workflow.SignalExternalWorkflow(ctx, in.WorkflowID, "", SignalNextRound, nil).Get(ctx, nil)
}

// inspectionKind is the inspection-follow-up step kind's registration.
var inspectionKind = runbook.Kind{
	Name: KindInspection,
	Doc:  "Inspect the area's sub-districts and the sites the runbook names (InspectionFollowUpStep) and follow every finding to its rectification: each finding is its own workflow (assigned → rectification deadline by severity → reminders → rectified → re-inspected by the assigned inspector → closed, or reopened); overdue and repeated findings call in the person responsible for a talk; failed compliance checks open findings too. Without `every` the step is done when the round has closed and every finding is closed; with it a Temporal Schedule starts a round each period and the step holds until the response is lifted.",
	Params: map[string]runbook.Param{
		"site_kinds":     {Type: runbook.TypeString, Default: "key-site", Doc: "kinds of site inspected besides the sub-districts, comma-separated (key-site, sampling-point, market, …; checkpoint: the checkpoints open in the area, as compound/gate)"},
		"departments":    {Type: runbook.TypeString, Default: "", Doc: "departments findings may be laid at besides the sub-district offices: code=Name, separated by ';'"},
		"inspectors":     {Type: runbook.TypeInt, Default: 12, Doc: "inspectors of the discipline office; the sites are spread over them by count, a sub-district's sites kept together where the counts allow, and a site left unreported goes to another inspector next"},
		"round_deadline": {Type: runbook.TypeDuration, Default: "12h", Doc: "how long a round stays open for site reports"},
		"rectify_high":   {Type: runbook.TypeDuration, Default: "6h", Doc: "time to rectify a high-severity finding"},
		"rectify_medium": {Type: runbook.TypeDuration, Default: "24h", Doc: "time to rectify a medium-severity finding"},
		"rectify_low":    {Type: runbook.TypeDuration, Default: "72h", Doc: "time to rectify a low-severity finding"},
		"remind_every":   {Type: runbook.TypeDuration, Default: "2h", Doc: "time between reminders while a finding waits"},
		"check_every":    {Type: runbook.TypeDuration, Default: "1h", Doc: "time between looks for findings of failed compliance checks"},
		"every":          {Type: runbook.TypeDuration, Doc: "start a round this often (a Temporal Schedule, e.g. 24h) until the response is lifted; empty: one round"},
	},
	Outputs: []string{"found", "rectified", "open", "overdue", "escalated", "rounds", "withdrawn"},
}

func registerInspection(w worker.Registry) {
	w.RegisterWorkflowWithOptions(InspectionFollowUpStep, workflow.RegisterOptions{Name: InspectionStepName})
	w.RegisterWorkflowWithOptions(FindingFollowUp, workflow.RegisterOptions{Name: FindingFollowUpName})
	w.RegisterWorkflowWithOptions(InspectionTick, workflow.RegisterOptions{Name: InspectionTickName})
}
