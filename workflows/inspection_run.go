package workflows

// How an inspection step runs: it opens its first round and its schedule,
// looks for automatic findings and the end of a round until it is settled
// or lifted, and continues as new when its history grows long.

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// run runs the inspection until it is settled (a step of one round) or
// lifted.
func (insp *inspection) run(ctx workflow.Context) (StepResult, error) {
	if err := insp.begin(ctx); err != nil {
		return StepResult{}, err
	}
	for {
		done, err := insp.look(ctx)
		if err != nil {
			return StepResult{}, err
		}
		if done {
			break
		}
	}
	insp.end(ctx, insp.lift != nil)
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return StepResult{}, err
	}
	insp.p.State = StateDone
	insp.tally(ctx)
	detail := insp.summary()
	if insp.lift != nil {
		detail = "lifted by " + insp.lift.By + ": " + detail
	}
	return StepResult{Outputs: insp.outputs(), Detail: detail}, nil
}

// begin sets the inspection up: its parameters, handlers and first round,
// or the state a previous run carried over.
func (insp *inspection) begin(ctx workflow.Context) error {
	in := insp.in
	if in.Area == nil {
		return temporal.NewNonRetryableApplicationError("an inspection needs an area", activities.ErrBadInput, nil)
	}
	insp.cfg = inspectionParams(in)
	insp.p = InspectionProgress{Incident: in.Incident, Area: in.Area.Name, State: StateRunning, TimeScale: max(in.TimeScale, 1)}
	if insp.cfg.every > 0 {
		insp.p.Schedule, insp.p.Every = InspectionScheduleID(insp.sw.id), insp.cfg.every.String()
	}
	// The step runner marks the step running whenever one of its
	// activities starts; the inspection's own state wins.
	changed := insp.sw.r.changed
	insp.sw.r.changed = func(ctx workflow.Context, name, state string) {
		changed(ctx, name, state)
		if state == StateRunning && insp.saState != "" && insp.saState != StateRunning {
			_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(insp.saState))
		}
	}
	if err := insp.handlers(ctx); err != nil {
		return err
	}
	if r := in.ResumeInspection; r != nil {
		insp.resume(ctx, r)
		insp.in.ResumeInspection = nil
		return nil
	}
	return insp.start(ctx)
}

// look waits for the next look for automatic findings, a round's end, the
// next round or a lift, and does what is due; done says the inspection is
// over.
func (insp *inspection) look(ctx workflow.Context) (done bool, err error) {
	// A look costs a timer, an activity and workflow tasks.
	insp.events += 10
	roundOpen := insp.p.RoundState == "open"
	wait := scaled(insp.cfg.checkEvery, insp.in.TimeScale)
	if roundOpen {
		wait = min(wait, max(insp.p.RoundDeadline.Sub(workflow.Now(ctx)), time.Millisecond))
	}
	if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: wait, TimerOptions: workflow.TimerOptions{Summary: "Next look for automatic findings"}},
		func() bool {
			return insp.lift != nil || insp.nextRound || (roundOpen && insp.allReported() && insp.reports == 0) || (insp.settled() && !insp.ready)
		}); err != nil {
		return false, err
	}
	if insp.lift != nil {
		return true, nil
	}
	if insp.p.RoundState == "open" && insp.reports == 0 && (insp.allReported() || !workflow.Now(ctx).Before(insp.p.RoundDeadline)) {
		if err := insp.closeRound(ctx); err != nil {
			return false, err
		}
	}
	if err := insp.pickUpAutomatic(ctx); err != nil {
		return false, err
	}
	if insp.nextRound {
		if err := insp.turnRound(ctx); err != nil {
			return false, err
		}
	}
	if longHistory(ctx, insp.in.HistoryLimit, insp.events) {
		if err := insp.continueAsNew(ctx); err != nil {
			return false, err
		}
		if insp.lift != nil {
			return true, nil
		}
	}
	if insp.settled() {
		if insp.cfg.every <= 0 {
			return true, nil
		}
		if !insp.ready {
			insp.ready, insp.p.Holding = true, true
			reportToParent(ctx, StepReport{Path: insp.in.Path, State: StateDone, Ready: true, Detail: insp.summary(), Outputs: insp.outputs()})
		}
	}
	return false, nil
}

// turnRound closes the open round, once no report is being recorded, and
// opens the next: the schedule asked for it.
func (insp *inspection) turnRound(ctx workflow.Context) error {
	insp.nextRound = false
	if err := workflow.Await(ctx, func() bool { return insp.reports == 0 }); err != nil {
		return err
	}
	if insp.p.RoundState == "open" {
		if err := insp.closeRound(ctx); err != nil {
			return err
		}
	}
	return insp.openRound(ctx, insp.p.Round+1, nil)
}

// start opens the first round and, with `every`, the schedule of the next.
func (insp *inspection) start(ctx workflow.Context) error {
	if err := insp.openRound(ctx, 1, nil); err != nil {
		return err
	}
	if insp.cfg.every > 0 {
		in := insp.scheduleInput()
		// The next round comes a period after the first, not when the
		// clock next reaches a multiple of the period: a tick before the
		// first round is settled would open round 2 over it, and the step
		// would not hold until that round closed too. Runs that created
		// their schedule before this keep the input they recorded.
		if workflow.GetVersion(ctx, "inspection-schedule-start", workflow.DefaultVersion, 1) >= 1 {
			in.Start = workflow.Now(ctx)
		}
		return insp.sw.r.run(ctx, "schedule", "Schedule a round every "+insp.cfg.every.String(), a.EnsureInspectionSchedule,
			in, nil, func() string { return "schedule " + insp.p.Schedule })
	}
	return nil
}

// resume takes up the state a previous run carried over.
func (insp *inspection) resume(ctx workflow.Context, r *InspectionState) {
	insp.p, insp.plan, insp.ready, insp.nextRound = r.Progress, r.Plan, r.Ready, r.NextRound
	insp.sites = map[string]*SiteStatus{}
	for i := range insp.p.Sites {
		insp.sites[insp.p.Sites[i].Site] = &insp.p.Sites[i]
	}
	insp.units = nil
	for _, u := range insp.plan.Units {
		insp.units = append(insp.units, u.Code)
	}
	for _, f := range r.Findings {
		insp.findings[f.ID] = &f
	}
	insp.tally(ctx)
}

// continueAsNew hands the state to a new run once the history is long:
// after the handlers in flight have finished and the signals received so
// far are applied. A lift that arrives meanwhile is taken here instead.
func (insp *inspection) continueAsNew(ctx workflow.Context) error {
	b := insp.sw.inbox
	receive(ctx, b, SignalFindingReport, func(s FindingStatus) {
		if f, ok := insp.findings[s.ID]; ok {
			*f = s
		}
	})
	receive(ctx, b, SignalNextRound, func(struct{}) { insp.nextRound = true })
	receive(ctx, b, SignalLift, insp.takeLift)
	return continueAsNewWhenQuiet(ctx, canPlan{
		name: InspectionStepName, inbox: b,
		busy: func() bool { return insp.reports > 0 },
		stop: func() bool { return insp.lift != nil },
		next: func() any {
			state := &InspectionState{Progress: insp.p, Plan: insp.plan, Ready: insp.ready, NextRound: insp.nextRound}
			for _, id := range insp.findingIDs() {
				state.Findings = append(state.Findings, *insp.findings[id])
			}
			next := insp.in
			next.ResumeInspection = state
			next.Retries = pendingRetries(insp.sw.r.retry)
			return next
		},
	})
}

// takeLift takes a lift relayed by the response: the first one counts.
func (insp *inspection) takeLift(l LiftInput) {
	if insp.lift == nil {
		insp.lift = &l
	}
}

// settled says the round has closed and every finding is closed.
func (insp *inspection) settled() bool {
	if insp.p.RoundState != "closed" || insp.reports > 0 {
		return false
	}
	//workflowcheck:ignore the answer is the same in any order
	for _, f := range insp.findings {
		if f.Open() {
			return false
		}
	}
	return true
}

// allReported says every site of the round has been reported.
func (insp *inspection) allReported() bool {
	return len(insp.sites) > 0 && insp.p.Reported == len(insp.sites)
}

// end deletes the schedule and, when the response ends the step, withdraws
// the findings still open.
func (insp *inspection) end(ctx workflow.Context, withdraw bool) {
	if insp.cfg.every > 0 && insp.p.Schedule != "" {
		_ = insp.sw.r.run(ctx, "unschedule", "Delete the round schedule", a.DeleteInspectionSchedule, insp.scheduleInput(), nil,
			func() string { return "schedule deleted" })
	}
	if !withdraw {
		return
	}
	for _, id := range insp.findingIDs() {
		if f := insp.findings[id]; f.Open() {
			// A cancelled finding withdraws itself: it is counted as
			// withdrawn from here on, never as rectified or still open.
			if err := workflow.RequestCancelExternalWorkflow(ctx, f.WorkflowID, "").Get(ctx, nil); err == nil {
				f.State = domain.FindingWithdrawn
			}
		}
	}
}

// scheduleInput is the round schedule: a tick every period that asks this
// step for its next round.
func (insp *inspection) scheduleInput() activities.InspectionScheduleInput {
	return activities.InspectionScheduleInput{
		Ref: insp.sw.ref("muster"), ScheduleID: insp.p.Schedule, Every: scaled(insp.cfg.every, insp.in.TimeScale),
		Workflow: InspectionTickName, WorkflowID: insp.sw.id + "/tick", Arg: InspectionTickInput{WorkflowID: insp.sw.id},
	}
}

// handlers answers the progress query, takes site reports (an update) and
// takes the findings' reports, the schedule's ticks and a lift as signals.
func (insp *inspection) handlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryProgress, func() (InspectionProgress, error) { return insp.p, nil },
		workflow.QueryHandlerOptions{Description: "Sites, findings per sub-district and unit, shared problems and the open list"}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateReportSite, insp.onReportSite, workflow.UpdateHandlerOptions{
		Validator:   insp.validateReportSite,
		Description: "Report one site's inspection: its findings, or none",
	}); err != nil {
		return err
	}
	receiveAlways(ctx, SignalFindingReport, func(ctx workflow.Context, s FindingStatus) {
		if f, ok := insp.findings[s.ID]; ok {
			*f = s
			insp.events += 3
			insp.tally(ctx)
		}
	})
	receiveAlways(ctx, SignalNextRound, func(workflow.Context, struct{}) { insp.nextRound = true })
	receiveAlways(ctx, SignalLift, func(_ workflow.Context, l LiftInput) { insp.takeLift(l) })
	return nil
}
