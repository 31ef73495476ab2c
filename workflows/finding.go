package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/table"
)

// Names of the finding workflow's updates and of its report to the
// inspection step.
const (
	FindingFollowUpName = "FindingFollowUp"
	UpdateRectify       = "rectify"
	UpdateReinspect     = "reinspect"
	// SignalFindingReport carries a FindingStatus from a finding to its
	// inspection step.
	SignalFindingReport = "finding-report"
)

// FindingWorkflowID is the ID of the workflow following a finding.
func FindingWorkflowID(incident string, finding int64) string {
	return fmt.Sprintf("%s/finding/%d", ResponseWorkflowID(incident), finding)
}

// FindingInput starts the follow-up of one finding.
type FindingInput struct {
	Incident string
	Finding  domain.Finding
	// DeadlineHours is the time allowed to rectify, by the finding's
	// severity; a reopened finding gets it again.
	DeadlineHours float64
	// RemindEveryHours is the time between reminders while the unit has
	// not rectified, or the inspector has not re-inspected.
	RemindEveryHours  float64
	TimeScale         float64              `json:",omitempty"`
	StallRetryMinutes float64              `json:",omitempty"`
	Retry             *runbook.RetryPolicy `json:",omitempty"`
	// HistoryLimit is the history length after which the finding continues
	// as new; 0 means DefaultHistoryLimit. A finding left for days gets a
	// reminder every few hours, and its history grows with each.
	HistoryLimit int `json:",omitempty"`
	// Resume carries the finding's state across continue-as-new.
	Resume *FindingState `json:",omitempty"`
}

// FindingState is what a finding carries into its next run: where it
// stands, its rectifications so far, its steps and its next reminder.
type FindingState struct {
	Status         FindingStatus
	Rectifications int            `json:",omitempty"`
	Steps          []StepProgress `json:",omitempty"`
	NextRemind     time.Time
}

// findingContinueAsNew marks the runs that continue as new when their
// history grows long; runs recorded before it never did.
const findingContinueAsNew = "finding-continue-as-new"

// eventsPerFindingWait is about how many history events one turn of the
// finding's loop adds: a timer, an activity, a report to the inspection
// and a workflow task.
const eventsPerFindingWait = 12

// FindingStatus is where a finding stands: the answer to its progress
// query and its report to the inspection step.
type FindingStatus struct {
	ID          int64
	WorkflowID  string
	Site        string
	SubDistrict string
	Unit        string
	Category    string
	Severity    string
	Inspector   string
	Source      string
	State       string
	DeadlineAt  time.Time `json:",omitzero"`
	Repeat      bool      `json:",omitempty"`
	Overdue     bool      `json:",omitempty"`
	Escalated   bool      `json:",omitempty"`
	Reopened    int       `json:",omitempty"`
	Reminders   int       `json:",omitempty"`
	// Talks lists the reasons the person responsible was called in.
	Talks []string `json:",omitempty"`
}

// Open says the finding still needs work.
func (s FindingStatus) Open() bool {
	return s.State != domain.FindingClosed && s.State != domain.FindingWithdrawn
}

// RectifyInput reports a finding rectified.
type RectifyInput struct {
	By   string
	Note string
}

// ReinspectInput is the assigned inspector's verdict on a rectification.
type ReinspectInput struct {
	By     string
	Passed bool
	Note   string
}

type finding struct {
	in   FindingInput
	id   string
	s    FindingStatus
	r    *steps
	list []StepProgress
	// version changes with every transition, to wake the main loop.
	version        int
	rectifications int
	saState        string
	// waits counts the turns of the main loop in this run.
	waits int
}

// FindingFollowUp follows one finding to its close: assigned with a
// rectification deadline by severity → reminders → the unit reports it
// rectified (update) → the assigned inspector re-inspects (update): a pass
// closes it, a fail reopens it with a new deadline. A finding not rectified
// by its deadline, or repeating the same category at the same unit, calls
// in the person responsible for a talk.
func FindingFollowUp(ctx workflow.Context, in FindingInput) (FindingStatus, error) {
	f := &finding{in: in, id: workflow.GetInfo(ctx).WorkflowExecution.ID}
	fr := in.Finding
	f.s = FindingStatus{
		ID: fr.ID, WorkflowID: f.id, Site: fr.Site, SubDistrict: fr.SubDistrict, Unit: fr.Unit, Category: fr.Category,
		Severity: fr.Severity, Inspector: fr.Inspector, Source: fr.Source, State: domain.FindingOpen,
	}
	stall := in.StallRetryMinutes
	if stall <= 0 {
		stall = DefaultStallRetryMinutes
	}
	if in.Resume != nil {
		f.s, f.rectifications, f.list = in.Resume.Status, in.Resume.Rectifications, in.Resume.Steps
		f.s.WorkflowID = f.id
	}
	f.r = &steps{
		incident: in.Incident, workflowID: f.id, timeScale: in.TimeScale, stallRetry: time.Duration(stall * float64(time.Minute)),
		policy: in.Retry, list: &f.list, retry: map[string]bool{},
		changed: func(ctx workflow.Context, name, state string) { f.render(ctx) },
	}
	if err := f.setup(ctx); err != nil {
		return f.s, err
	}
	err := f.run(ctx)
	var can *workflow.ContinueAsNewError
	if errors.As(err, &can) {
		return f.s, err
	}
	if err != nil && ctx.Err() != nil {
		// The response ended: the finding is withdrawn, out of the
		// cancellation's reach.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		if f.s.Open() {
			_ = f.r.run(dctx, "withdraw", "Withdraw the finding", a.WithdrawFinding, activities.FindingRef{Ref: f.ref("muster"), FindingID: fr.ID}, nil, func() string { return "withdrawn" })
			f.s.State = domain.FindingWithdrawn
		}
		f.report(dctx)
		return f.s, err
	}
	f.report(ctx)
	return f.s, err
}

func (f *finding) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryProgress, func() (FindingStatus, error) { return f.s, nil },
		workflow.QueryHandlerOptions{Description: "Where the finding stands"}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRectify, f.onRectify, workflow.UpdateHandlerOptions{
		Validator:   f.validateRectify,
		Description: "Report the finding rectified; the assigned inspector then re-inspects",
	}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateReinspect, f.onReinspect, workflow.UpdateHandlerOptions{
		Validator:   f.validateReinspect,
		Description: "Re-inspect a rectified finding (assigned inspector only): pass closes it, fail reopens it",
	})
}

func (f *finding) ref(actor string) activities.StepRef {
	return activities.StepRef{Incident: f.in.Incident, WorkflowID: f.id, Actor: actor}
}

func (f *finding) validateRectify(ctx workflow.Context, in RectifyInput) error {
	if err := limitText("by", in.By, "note", in.Note); err != nil {
		return err
	}
	switch f.s.State {
	case domain.FindingClosed, domain.FindingWithdrawn:
		return fmt.Errorf("finding %d is %s: nothing to rectify", f.s.ID, f.s.State)
	case domain.FindingOpen:
		return fmt.Errorf("finding %d is still being assigned; try again in a moment", f.s.ID)
	}
	return nil
}

// onRectify records the rectification; a second report while the finding
// waits for re-inspection changes nothing.
func (f *finding) onRectify(ctx workflow.Context, in RectifyInput) (FindingStatus, error) {
	if f.s.State == domain.FindingRectified {
		return f.s, nil
	}
	if in.By == "" {
		in.By = f.s.Unit
	}
	f.rectifications++
	if err := f.r.run(ctx, "rectify", "Record the rectification", a.RecordRectification,
		activities.RectifyInput{Ref: f.ref(in.By), FindingID: f.s.ID, Note: in.Note, Seq: f.rectifications}, nil,
		func() string { return "rectification reported by " + in.By }); err != nil {
		return f.s, err
	}
	f.s.State = domain.FindingRectified
	f.changed(ctx)
	return f.s, nil
}

func (f *finding) validateReinspect(ctx workflow.Context, in ReinspectInput) error {
	if err := limitText("by", in.By, "note", in.Note); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(in.By) == "":
		return fmt.Errorf("by: name the inspector re-inspecting (finding %d is assigned to %s)", f.s.ID, f.s.Inspector)
	case in.By != f.s.Inspector:
		return fmt.Errorf("by %q: finding %d is assigned to inspector %s; only they re-inspect it", in.By, f.s.ID, f.s.Inspector)
	case f.s.State != domain.FindingRectified:
		return fmt.Errorf("finding %d is %s, not rectified: nothing to re-inspect yet", f.s.ID, f.s.State)
	}
	return nil
}

func (f *finding) onReinspect(ctx workflow.Context, in ReinspectInput) (FindingStatus, error) {
	if f.s.State != domain.FindingRectified {
		// A concurrent re-inspection got there first.
		return f.s, nil
	}
	reopen, deadline := f.s.Reopened, time.Time{}
	if !in.Passed {
		reopen++
		deadline = workflow.Now(ctx).Add(scaled(hours(f.in.DeadlineHours), f.in.TimeScale))
	}
	if err := f.r.run(ctx, fmt.Sprintf("reinspect/%d", reopen), "Record the re-inspection", a.RecordReinspection,
		activities.ReinspectInput{Ref: f.ref(in.By), FindingID: f.s.ID, Passed: in.Passed, Note: in.Note, Reopen: reopen, NewDeadline: deadline}, nil,
		func() string {
			if in.Passed {
				return "passed"
			}
			return "failed: reopened"
		}); err != nil {
		return f.s, err
	}
	if in.Passed {
		f.s.State = domain.FindingClosed
	} else {
		f.s.State, f.s.Reopened, f.s.DeadlineAt, f.s.Overdue = domain.FindingReopened, reopen, deadline, false
	}
	f.changed(ctx)
	return f.s, nil
}

func hours(h float64) time.Duration { return time.Duration(h * float64(time.Hour)) }

func (f *finding) changed(ctx workflow.Context) {
	f.version++
	f.report(ctx)
	f.render(ctx)
}

// report tells the inspection step, if any, where the finding stands. The
// step may have ended; the finding goes on regardless.
func (f *finding) report(ctx workflow.Context) {
	parent := workflow.GetInfo(ctx).ParentWorkflowExecution
	if parent == nil {
		return
	}
	_ = workflow.SignalExternalWorkflow(ctx, parent.ID, "", SignalFindingReport, f.s).Get(ctx, nil)
}

func (f *finding) run(ctx workflow.Context) error {
	every := scaled(hours(f.in.RemindEveryHours), f.in.TimeScale)
	if every <= 0 {
		every = scaled(2*time.Hour, f.in.TimeScale)
	}
	if f.in.Resume != nil {
		// A run continued from an earlier one: assigned already, its
		// talks held, its reminders counted.
		f.render(ctx)
		return f.follow(ctx, every, f.in.Resume.NextRemind)
	}
	deadline := workflow.Now(ctx).Add(scaled(hours(f.in.DeadlineHours), f.in.TimeScale))
	var rec domain.Finding
	if err := f.r.run(ctx, "assign", "Assign the finding with its rectification deadline", a.AssignFinding,
		activities.AssignFindingInput{Ref: f.ref("muster"), FindingID: f.s.ID, DeadlineAt: deadline}, &rec,
		func() string { return "rectify by " + deadline.Format("Jan 2 15:04") }); err != nil {
		return err
	}
	f.s.State, f.s.Repeat = domain.FindingAssigned, rec.Repeat
	if rec.DeadlineAt != nil {
		f.s.DeadlineAt = *rec.DeadlineAt
	}
	// A finding picked up again after a restart keeps its recorded state.
	if rec.State != domain.FindingOpen && rec.State != "" {
		f.s.State = rec.State
	}
	f.changed(ctx)
	if f.s.Repeat {
		if err := f.talk(ctx, "repeat"); err != nil {
			return err
		}
	}
	return f.follow(ctx, every, workflow.Now(ctx).Add(every))
}

// follow reminds and marks the deadline until the finding is closed,
// continuing as new when the run's history has grown long.
func (f *finding) follow(ctx workflow.Context, every time.Duration, nextRemind time.Time) error {
	for f.s.Open() {
		if longHistory(ctx, f.in.HistoryLimit, f.waits*eventsPerFindingWait) && workflow.GetVersion(ctx, findingContinueAsNew, workflow.DefaultVersion, 1) >= 1 {
			version := f.version
			err := continueAsNewWhenQuiet(ctx, canPlan{
				name: FindingFollowUpName,
				// An update that closed the finding while the run was
				// getting quiet ends it here instead.
				stop: func() bool { return !f.s.Open() },
				next: func() any {
					remind := nextRemind
					if f.version != version {
						// A transition while the run got quiet restarts
						// the reminders, as it does in the loop.
						remind = workflow.Now(ctx).Add(every)
					}
					next := f.in
					next.Resume = &FindingState{Status: f.s, Rectifications: f.rectifications, Steps: f.list, NextRemind: remind}
					return next
				},
				shrink: func() {
					for i := range f.list {
						f.list[i].Detail = short(f.list[i].Detail)
					}
				},
			})
			if err != nil {
				return err
			}
			continue
		}
		f.waits++
		version := f.version
		wake := nextRemind
		pending := f.s.State == domain.FindingAssigned || f.s.State == domain.FindingReopened
		if pending && !f.s.Overdue && f.s.DeadlineAt.Before(wake) {
			wake = f.s.DeadlineAt
		}
		wait := max(wake.Sub(workflow.Now(ctx)), time.Millisecond)
		summary := "Next reminder"
		if wake.Equal(f.s.DeadlineAt) {
			summary = "Rectification deadline"
		}
		woken, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: wait, TimerOptions: workflow.TimerOptions{Summary: summary}},
			func() bool { return f.version != version })
		if err != nil {
			return err
		}
		if woken {
			// A transition (rectified, reopened) restarts the reminders.
			nextRemind = workflow.Now(ctx).Add(every)
			continue
		}
		now := workflow.Now(ctx)
		pending = f.s.State == domain.FindingAssigned || f.s.State == domain.FindingReopened
		if pending && !f.s.Overdue && !now.Before(f.s.DeadlineAt) {
			if err := f.overdue(ctx); err != nil {
				return err
			}
			continue
		}
		if !now.Before(nextRemind) {
			nextRemind = now.Add(every)
			if err := f.remind(ctx); err != nil {
				return err
			}
		}
	}
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// overdue marks the finding overdue and calls in the person responsible.
func (f *finding) overdue(ctx workflow.Context) error {
	if err := f.r.run(ctx, fmt.Sprintf("overdue/%d", f.s.Reopened), "Mark the finding overdue", a.MarkFindingOverdue,
		activities.MarkFindingOverdueInput{Ref: f.ref("muster"), FindingID: f.s.ID, DeadlineAt: f.s.DeadlineAt, Seq: f.s.Reopened}, nil,
		func() string { return "not rectified by " + f.s.DeadlineAt.Format("Jan 2 15:04") }); err != nil {
		return err
	}
	f.s.Overdue = true
	f.changed(ctx)
	return f.talk(ctx, "overdue")
}

// talk records a talk with the person responsible, once per reason.
func (f *finding) talk(ctx workflow.Context, reason string) error {
	for _, t := range f.s.Talks {
		if t == reason {
			return nil
		}
	}
	var t domain.Talk
	if err := f.r.run(ctx, "talk/"+reason, "Call in the person responsible ("+reason+")", a.RecordTalk,
		activities.TalkInput{Ref: f.ref("discipline-office"), FindingID: f.s.ID, Reason: reason, Summary: f.summary()}, &t,
		func() string { return "talk with the " + t.Person + ", " + t.UnitName }); err != nil {
		return err
	}
	f.s.Escalated = true
	f.s.Talks = append(f.s.Talks, reason)
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"reason": reason}).Counter(MetricInspectionTalks).Inc(1)
	f.changed(ctx)
	return nil
}

// remind nudges whoever the finding waits for: the unit to rectify, or the
// inspector to re-inspect.
func (f *finding) remind(ctx workflow.Context) error {
	f.s.Reminders++
	n := f.s.Reminders
	audience, body := f.s.Unit, fmt.Sprintf("Reminder %d (incident %s): %s Rectify it by %s and report it with `muster inspection rectify %s %d`.",
		n, f.in.Incident, f.summary(), f.s.DeadlineAt.Format("Jan 2 15:04"), f.in.Incident, f.s.ID)
	if f.s.Overdue {
		body = fmt.Sprintf("Reminder %d (incident %s): OVERDUE since %s. %s Report it with `muster inspection rectify %s %d`.",
			n, f.in.Incident, f.s.DeadlineAt.Format("Jan 2 15:04"), f.summary(), f.in.Incident, f.s.ID)
	}
	if f.s.State == domain.FindingRectified {
		audience = "inspector " + f.s.Inspector
		body = fmt.Sprintf("Reminder %d (incident %s): finding %d is reported rectified and waits for your re-inspection: `muster inspection reinspect %s %d --by %s --pass|--fail`.",
			n, f.in.Incident, f.s.ID, f.in.Incident, f.s.ID, f.s.Inspector)
	}
	reminder := activities.NoticeInput{
		Ref: f.ref("muster"), Step: fmt.Sprintf("finding/%d/remind", f.s.ID), Kind: fmt.Sprintf("finding/%d/reminder/%d", f.s.ID, n),
		Audience: audience, Body: body,
	}
	if workflow.GetVersion(ctx, findingMessagesChange, workflow.DefaultVersion, 1) >= 1 {
		reminder.Message, reminder.Args = f.reminderMessage(n)
	}
	err := f.r.run(ctx, "remind", "Send a reminder", a.PublishNotice, reminder, nil, func() string { return fmt.Sprintf("%d reminders", n) })
	if err != nil && !errors.Is(err, errAbandoned) {
		return err
	}
	f.render(ctx)
	return nil
}

// reminderMessage is the reminder as a message of the catalogue, with the
// same facts as its English text.
func (f *finding) reminderMessage(n int) (string, map[string]string) {
	args := map[string]string{"reminder": fmt.Sprint(n), "incident": f.in.Incident, "finding": fmt.Sprint(f.s.ID)}
	if f.s.State == domain.FindingRectified {
		args["inspector"] = f.s.Inspector
		return MsgFindingReminder + "/reinspect", args
	}
	args["site"], args["category"], args["severity"] = f.s.Site, f.s.Category, f.s.Severity
	args["description"] = strings.TrimSuffix(f.in.Finding.Description, ".")
	args["deadline"] = f.s.DeadlineAt.Format("2006-01-02 15:04")
	if f.s.Overdue {
		return MsgFindingReminder + "/overdue", args
	}
	return MsgFindingReminder, args
}

func (f *finding) summary() string {
	return fmt.Sprintf("Finding %d at %s (%s, %s): %s.", f.s.ID, f.s.Site, f.s.Category, f.s.Severity, strings.TrimSuffix(f.in.Finding.Description, "."))
}

// render writes the current details the Web UI shows and keeps the step
// state search attribute in step with the finding's state.
func (f *finding) render(ctx workflow.Context) {
	var b strings.Builder
	fmt.Fprintf(&b, "**Finding %d** · %s · %s at %s · unit %s · **%s**", f.s.ID, f.s.Severity, f.s.Category, f.s.Site, f.s.Unit, f.s.State)
	if !f.s.DeadlineAt.IsZero() && f.s.Open() {
		fmt.Fprintf(&b, " · rectify by %s", f.s.DeadlineAt.Format("Jan 2 15:04"))
	}
	if f.s.Overdue {
		b.WriteString(" · **overdue**")
	}
	if len(f.s.Talks) > 0 {
		fmt.Fprintf(&b, " · talk with the person responsible (%s)", strings.Join(f.s.Talks, ", "))
	}
	if f.s.Reopened > 0 {
		fmt.Fprintf(&b, " · reopened %d×", f.s.Reopened)
	}
	fmt.Fprintf(&b, " · inspector %s", f.s.Inspector)
	if len(f.list) > 0 {
		b.WriteString("\n\n")
		t := table.New("Step", "State", "Detail")
		for _, st := range f.list {
			t.Row(st.Name, st.State, st.Detail)
		}
		t.Render(&b)
	}
	workflow.SetCurrentDetails(ctx, b.String())
	state := StateRunning
	switch {
	case !f.s.Open():
		state = StateDone
	case f.s.Overdue:
		state = StateOverdue
	case f.s.State == domain.FindingRectified:
		state = StateAwaitingDecision
	}
	if state != f.saState {
		f.saState = state
		_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(state))
	}
}
