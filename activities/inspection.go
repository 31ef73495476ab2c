package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// OpenInspectionRoundInput opens a round of inspections.
type OpenInspectionRoundInput struct {
	Ref   StepRef
	Step  string
	Round int
	// Area is the code or path of the area inspected.
	Area        string
	SiteKinds   []string
	Departments []domain.Unit
	Inspectors  []string
	// Only, when set, limits a follow-up round to these sites of the
	// previous round.
	Only []string `json:",omitempty"`
}

// OpenInspectionRound records a round over the sub-districts and sites
// under the area, with an inspector for each, and returns its plan.
func (a *Activities) OpenInspectionRound(ctx context.Context, in OpenInspectionRoundInput) (domain.InspectionPlan, error) {
	if err := in.Ref.validate(); err != nil {
		return domain.InspectionPlan{}, classify(err)
	}
	if in.Area == "" || in.Step == "" {
		return domain.InspectionPlan{}, badInput("an inspection round needs an area and a step")
	}
	e := in.Ref.event("round", "done", fmt.Sprintf("inspection round %d of %s opened", in.Round, in.Area))
	e.Seq = fmt.Sprint(in.Round)
	// The area is the response's district's, whoever else uses the code.
	area, err := a.Store.AreaFor(ctx, in.Ref.Incident, in.Area)
	if err != nil {
		return domain.InspectionPlan{}, classify(err)
	}
	plan, err := a.Store.OpenInspectionRound(ctx, store.RoundOrder{
		Incident: in.Ref.Incident, Step: in.Step, WorkflowID: in.Ref.WorkflowID, Round: in.Round, Area: area.Path,
		SiteKinds: in.SiteKinds, Departments: in.Departments, Inspectors: in.Inspectors, Only: in.Only,
	}, e)
	return plan, classify(err)
}

// CloseInspectionRoundInput closes a round.
type CloseInspectionRoundInput struct {
	Ref      StepRef
	RoundID  int64
	Round    int
	Reported int
	Sites    int
}

// CloseInspectionRound records the end of a round.
func (a *Activities) CloseInspectionRound(ctx context.Context, in CloseInspectionRoundInput) error {
	if err := in.Ref.validate(); err != nil {
		return classify(err)
	}
	e := in.Ref.event("round", "closed", fmt.Sprintf("inspection round %d closed: %d of %d sites reported", in.Round, in.Reported, in.Sites))
	e.Seq = fmt.Sprint(in.Round)
	return classify(a.Store.CloseInspectionRound(ctx, in.RoundID, e))
}

// ReportSiteInput is an inspector's report of one site.
type ReportSiteInput struct {
	Ref      StepRef
	RoundID  int64
	Site     string
	Findings []domain.NewFinding
}

// ReportSite records a site's report and its findings together; a second
// report of the site returns the first one's findings.
func (a *Activities) ReportSite(ctx context.Context, in ReportSiteInput) (domain.SiteReportResult, error) {
	if err := in.Ref.validate(); err != nil {
		return domain.SiteReportResult{}, classify(err)
	}
	e := in.Ref.event("report/"+in.Site, "done", fmt.Sprintf("site %s inspected by %s: %d findings", in.Site, in.Ref.Actor, len(in.Findings)))
	res, err := a.Store.ReportSite(ctx, store.SiteReport{RoundID: in.RoundID, Site: in.Site, Inspector: in.Ref.Actor, Findings: in.Findings}, e)
	return res, classify(err)
}

// ClaimFindingsInput names the inspection looking for automatic findings.
type ClaimFindingsInput struct {
	Incident string
	// Area is the path of the area the inspection covers.
	Area string
}

// ClaimFindings returns the findings of failed compliance checks in the
// inspection's area (of any incident) that the inspection is to follow,
// claiming those no other inspection follows.
func (a *Activities) ClaimFindings(ctx context.Context, in ClaimFindingsInput) ([]domain.Finding, error) {
	if in.Incident == "" || in.Area == "" {
		return nil, badInput("claiming findings needs the incident and the area")
	}
	out, err := a.Store.ClaimFindings(ctx, in.Incident, in.Area)
	return out, classify(err)
}

// FindingRef names a finding and the workflow following it.
type FindingRef struct {
	Ref       StepRef
	FindingID int64
}

// AssignFindingInput starts the follow-up of a finding.
type AssignFindingInput struct {
	Ref        StepRef
	FindingID  int64
	DeadlineAt time.Time
}

// AssignFinding sets a finding's rectification deadline and says whether it
// repeats an earlier finding of the same category at the same unit.
func (a *Activities) AssignFinding(ctx context.Context, in AssignFindingInput) (domain.Finding, error) {
	if err := in.Ref.validate(); err != nil {
		return domain.Finding{}, classify(err)
	}
	e := in.Ref.event("assign", "done", "rectify by "+in.DeadlineAt.UTC().Format(time.RFC3339))
	f, err := a.Store.AssignFinding(ctx, in.FindingID, in.DeadlineAt, e)
	return f, classify(err)
}

// RectifyInput reports a finding rectified.
type RectifyInput struct {
	Ref       StepRef
	FindingID int64
	Note      string
	// Seq tells apart the rectifications of a reopened finding.
	Seq int
}

// RecordRectification records that the unit reports the finding rectified.
func (a *Activities) RecordRectification(ctx context.Context, in RectifyInput) error {
	if err := in.Ref.validate(); err != nil {
		return classify(err)
	}
	e := in.Ref.event("rectify", "done", strings.TrimSpace("rectification reported by "+in.Ref.Actor+": "+in.Note))
	e.Seq = fmt.Sprint(in.Seq)
	_, err := a.Store.RectifyFinding(ctx, in.FindingID, e)
	return classify(err)
}

// ReinspectInput is the assigned inspector's verdict.
type ReinspectInput struct {
	Ref         StepRef
	FindingID   int64
	Passed      bool
	Note        string
	Reopen      int
	NewDeadline time.Time
}

// RecordReinspection closes a finding whose rectification passed, or
// reopens it with a new deadline.
func (a *Activities) RecordReinspection(ctx context.Context, in ReinspectInput) error {
	if err := in.Ref.validate(); err != nil {
		return classify(err)
	}
	state, reason := "closed", "re-inspection passed"
	if !in.Passed {
		state, reason = "reopened", "re-inspection failed; rectify by "+in.NewDeadline.UTC().Format(time.RFC3339)
	}
	if in.Note != "" {
		reason += ": " + in.Note
	}
	e := in.Ref.event("reinspect", state, reason)
	e.Seq = fmt.Sprint(in.Reopen)
	_, err := a.Store.ReinspectFinding(ctx, store.Reinspection{FindingID: in.FindingID, By: in.Ref.Actor, Passed: in.Passed, Reopen: in.Reopen, NewDeadline: in.NewDeadline}, e)
	return classify(err)
}

// MarkFindingOverdueInput marks a finding overdue.
type MarkFindingOverdueInput struct {
	Ref        StepRef
	FindingID  int64
	DeadlineAt time.Time
	// Seq tells apart the deadlines of a reopened finding.
	Seq int
}

// MarkFindingOverdue records that a finding passed its deadline.
func (a *Activities) MarkFindingOverdue(ctx context.Context, in MarkFindingOverdueInput) error {
	if err := in.Ref.validate(); err != nil {
		return classify(err)
	}
	e := in.Ref.event("deadline", "overdue", "not rectified by "+in.DeadlineAt.UTC().Format(time.RFC3339))
	e.Seq = fmt.Sprint(in.Seq)
	return classify(a.Store.MarkFindingOverdue(ctx, in.FindingID, e))
}

// TalkInput calls in the person responsible for a finding's unit.
type TalkInput struct {
	Ref       StepRef
	FindingID int64
	// Reason is overdue or repeat.
	Reason string
	// Summary describes the finding for the notice.
	Summary string
}

// RecordTalk records a talk with the person responsible, with its notice
// and event, once per finding and reason.
func (a *Activities) RecordTalk(ctx context.Context, in TalkInput) (domain.Talk, error) {
	if err := in.Ref.validate(); err != nil {
		return domain.Talk{}, classify(err)
	}
	if in.Reason != "overdue" && in.Reason != "repeat" {
		return domain.Talk{}, badInput("talk reason %q: want overdue or repeat", in.Reason)
	}
	why := map[string]string{"overdue": "was not rectified by its deadline", "repeat": "repeats a problem already found at your unit"}[in.Reason]
	e := in.Ref.event("talk", "escalated", "talk with the person responsible: "+in.Reason)
	e.Seq = in.Reason
	t, err := a.Store.RecordTalk(ctx, in.FindingID, in.Reason, func(t domain.Talk) string {
		return fmt.Sprintf("The district discipline office calls in the %s, %s, for a talk (incident %s): finding %d %s. %s",
			t.Person, t.UnitName, t.Incident, in.FindingID, why, in.Summary)
	}, e)
	return t, classify(err)
}

// WithdrawFinding ends the follow-up of a finding when its response ends.
func (a *Activities) WithdrawFinding(ctx context.Context, in FindingRef) error {
	if err := in.Ref.validate(); err != nil {
		return classify(err)
	}
	return classify(a.Store.WithdrawFinding(ctx, in.FindingID, in.Ref.event("withdraw", "done", "the response ended before the finding was closed")))
}

// InspectionScheduleInput keeps the schedule of an incident's inspection
// rounds.
type InspectionScheduleInput struct {
	Ref StepRef
	// ScheduleID is derived from the incident and the step.
	ScheduleID string
	// Every is the time between rounds, already scaled.
	Every time.Duration
	// Workflow and Arg are what each firing starts: a small workflow that
	// asks the inspection step for its next round.
	Workflow   string
	WorkflowID string
	Arg        any
	// Start is when the rounds began: the schedule fires a whole number of
	// periods after it, not on the clock's own multiples of the period.
	// Zero: when the schedule is created.
	Start time.Time `json:",omitzero"`
}

// InspectionScheduleSpec fires every `every` from start: the first firing
// is a whole period after start. An interval alone would fire at multiples
// of the period since the Unix epoch, so a round could follow the first
// one at any moment (a daily round at midnight UTC, however late in the day
// the first one opened).
func InspectionScheduleSpec(start time.Time, every time.Duration) client.ScheduleSpec {
	var offset time.Duration
	if every > 0 {
		r := start.UnixNano() % int64(every)
		if r < 0 {
			r += int64(every)
		}
		offset = time.Duration(r).Truncate(time.Second)
	}
	return client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every, Offset: offset}}}
}

// EnsureInspectionSchedule creates the schedule once; a schedule that
// exists already is left as it is.
func (a *Activities) EnsureInspectionSchedule(ctx context.Context, in InspectionScheduleInput) error {
	if err := in.Ref.validate(); err != nil {
		return classify(err)
	}
	if a.Schedules == nil {
		return badInput("this worker has no Temporal client for schedules")
	}
	if in.ScheduleID == "" || in.Every <= 0 || in.Workflow == "" {
		return badInput("a schedule needs an ID, an interval and a workflow")
	}
	start := in.Start
	if start.IsZero() {
		start = time.Now()
	}
	_, err := a.Schedules.Create(ctx, client.ScheduleOptions{
		ID:      in.ScheduleID,
		Spec:    InspectionScheduleSpec(start, in.Every),
		Overlap: enums.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "inspection rounds of incident " + in.Ref.Incident,
		Action: &client.ScheduleWorkflowAction{
			ID: in.WorkflowID, Workflow: in.Workflow, Args: []any{in.Arg}, TaskQueue: a.TaskQueue,
			WorkflowRunTimeout: time.Hour,
		},
	})
	var exists *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.Is(err, temporal.ErrScheduleAlreadyRunning) && !errors.As(err, &exists) {
		return fmt.Errorf("create schedule %s: %w", in.ScheduleID, err)
	}
	e := in.Ref.event("schedule", "done", fmt.Sprintf("inspection rounds every %s (schedule %s)", in.Every, in.ScheduleID))
	return classify(a.Store.AppendEvent(ctx, e))
}

// DeleteInspectionSchedule deletes the schedule; one already gone is fine.
func (a *Activities) DeleteInspectionSchedule(ctx context.Context, in InspectionScheduleInput) error {
	if err := in.Ref.validate(); err != nil {
		return classify(err)
	}
	if a.Schedules == nil {
		return badInput("this worker has no Temporal client for schedules")
	}
	err := a.Schedules.GetHandle(ctx, in.ScheduleID).Delete(ctx)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("delete schedule %s: %w", in.ScheduleID, err)
	}
	e := in.Ref.event("schedule", "deleted", "inspection schedule "+in.ScheduleID+" deleted")
	return classify(a.Store.AppendEvent(ctx, e))
}
