package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/table"
)

// Signals between a response and its step workflows. Operators never send
// them: they send validated updates to the response, which relays them.
const (
	// SignalStepReport carries a StepReport from a step to its response.
	SignalStepReport = "step-report"
	// SignalLift asks a holding step (a seal) to lift.
	SignalLift = "lift"
	// SignalRetry asks a step to retry its stalled activity now.
	SignalRetry = "retry"
	// SignalDecide carries a Decision to an approval step.
	SignalDecide = "decide"
)

// AreaRef names an area a step works on.
type AreaRef = activities.Area

// StepInput starts a step workflow of a response.
type StepInput struct {
	Incident string
	Runbook  string
	Level    int
	// Path is the step's place in the runbook, e.g. seal/longbao-jiayuan.
	Path   string
	Kind   string
	Title  string
	Params map[string]any
	Area   *AreaRef `json:",omitempty"`
	// Round numbers the rounds of an enclosing repeat, from 1.
	Round             int                  `json:",omitempty"`
	TimeScale         float64              `json:",omitempty"`
	StallRetryMinutes float64              `json:",omitempty"`
	Retry             *runbook.RetryPolicy `json:",omitempty"`
	// HistoryLimit is the history length after which a long step continues
	// as new; 0 means DefaultHistoryLimit.
	HistoryLimit int `json:",omitempty"`
	// Resume carries a testing round's state across continue-as-new.
	Resume *RoundState `json:",omitempty"`
	// ResumeInspection carries an inspection's state across continue-as-new.
	ResumeInspection *InspectionState `json:",omitempty"`
	// ResumeSupply carries a staff-supply step's state across
	// continue-as-new.
	ResumeSupply *SupplyState `json:",omitempty"`
	// Retries carries operator retries received but not yet taken across
	// continue-as-new.
	Retries []string `json:",omitempty"`
	// ResumeSteps carries the steps of a notice or compliance sweep that
	// continued as new while stalled: their stalls and last errors.
	ResumeSteps []StepProgress `json:",omitempty"`
}

// StepResult is what a step workflow returns.
type StepResult struct {
	Outputs map[string]float64 `json:",omitempty"`
	Detail  string
}

// StepReport tells the response how a step is doing.
type StepReport struct {
	Path   string
	State  string
	Detail string `json:",omitempty"`
	// Ready says a holding step is in place (a compound is sealed); the
	// runbook moves on while the step holds.
	Ready bool `json:",omitempty"`
	// Final says the step workflow has ended.
	Final   bool               `json:",omitempty"`
	Outputs map[string]float64 `json:",omitempty"`
	// Inner, Stalls and LastError describe a stalled activity step inside
	// the step workflow.
	Inner     string `json:",omitempty"`
	Stalls    int    `json:",omitempty"`
	LastError string `json:",omitempty"`
}

// Decision answers an approval step.
type Decision struct {
	Step     string
	Decision string // approve or reject
	By       string
	Reason   string
}

// reportToParent signals the step's response, if it has one. A response
// that has ended no longer listens; the step goes on regardless.
func reportToParent(ctx workflow.Context, rep StepReport) {
	parent := workflow.GetInfo(ctx).ParentWorkflowExecution
	if parent == nil || rep.Path == "" {
		return
	}
	_ = workflow.SignalExternalWorkflow(ctx, parent.ID, "", SignalStepReport, rep).Get(ctx, nil)
}

// stepWorkflow is what every step kind's workflow shares: the step runner,
// operator retries relayed by the response, reports to the response and a
// final report however the step ends.
type stepWorkflow struct {
	in   StepInput
	id   string
	list []StepProgress
	// r is the step runner (runner.go) the kind runs its activities with.
	r      *steps
	detail string
	// details, when set, writes the current details instead of the
	// default step table (a testing round shows its points).
	details func(ctx workflow.Context)
	// inbox takes the step's signals in its main loop; kinds add their
	// own channels to it.
	inbox *inbox
}

func newStepWorkflow(ctx workflow.Context, in StepInput) *stepWorkflow {
	sw := &stepWorkflow{in: in, id: workflow.GetInfo(ctx).WorkflowExecution.ID}
	stall := in.StallRetryMinutes
	if stall <= 0 {
		stall = DefaultStallRetryMinutes
	}
	if in.Retry != nil && in.Retry.StallRetry > 0 {
		stall = in.Retry.StallRetry.D().Minutes()
	}
	sw.r = &steps{
		incident: in.Incident, workflowID: sw.id, timeScale: in.TimeScale,
		stallRetry: time.Duration(stall * float64(time.Minute)), policy: in.Retry,
		list: &sw.list, retry: map[string]bool{}, changed: sw.changed, root: ctx,
	}
	for _, step := range in.Retries {
		sw.r.retry[step] = true
	}
	sw.list, sw.in.Retries, sw.in.ResumeSteps = in.ResumeSteps, nil, nil
	// The main loop drains retries before it continues as new; the
	// receiver below wakes a stalled step waiting in the step runner.
	sw.inbox = &inbox{}
	receive(ctx, sw.inbox, SignalRetry, func(in RetryInput) { sw.r.retry[in.Step] = true })
	retries := workflow.GetSignalChannel(ctx, SignalRetry)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var in RetryInput
			if !retries.Receive(ctx, &in) {
				return
			}
			sw.r.retry[in.Step] = true
		}
	})
	_ = workflow.SetQueryHandler(ctx, QueryProgress, func() ([]StepProgress, error) { return sw.list, nil })
	_ = workflow.UpsertTypedSearchAttributes(ctx, SAStep.ValueSet(in.Path), SAStepState.ValueSet(StateRunning))
	return sw
}

// stallChange gates the continue-as-new of a notice or compliance sweep
// stalled for long; runs recorded before it waited out every stall in one
// history.
const stallChange = "stall-continue-as-new"

// eventsPerStall is about the history one stall adds: the failed attempts,
// the reports to the response, the stall's event and its timer. Counting
// stalls keeps the decision independent of how the server reports history
// length.
const eventsPerStall = 40

// continueWhenStalledLong makes a kind whose work is one activity step (a
// notice, a compliance sweep) continue as new, as name, while a stall
// lasts long enough to grow its history past its limit (an outbox down for
// days): the next run tries the step again, carrying the steps' stalls and
// the retries not yet taken. Nothing else of such a kind grows.
func (sw *stepWorkflow) continueWhenStalledLong(name string) {
	sw.r.stalledLong = func(ctx workflow.Context, step string) error {
		limit := sw.in.HistoryLimit
		if limit == 0 {
			limit = DefaultHistoryLimit
		}
		info := workflow.GetInfo(ctx)
		long := info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > limit || sw.r.waits*eventsPerStall > limit
		if !long || workflow.GetVersion(ctx, stallChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return nil
		}
		// The next run's first attempt is the retry that is due.
		delete(sw.r.retry, step)
		return continueAsNewWhenQuiet(ctx, canPlan{
			name: name, inbox: sw.inbox,
			next: func() any {
				next := sw.in
				next.ResumeSteps = sw.list
				next.Retries = pendingRetries(sw.r.retry)
				return next
			},
		})
	}
}

// changed reports stalls and recoveries to the response and keeps the
// search attributes and current details in step.
func (sw *stepWorkflow) changed(ctx workflow.Context, name, state string) {
	rep := StepReport{Path: sw.in.Path, State: state}
	if st := sw.r.ref(name); state == StateStalled || state == StateRetrying {
		rep.Inner, rep.Stalls, rep.LastError, rep.Detail = name, st.Stalls, st.LastError, st.Detail
	}
	if state == StateStalled || state == StateRetrying || (state == StateRunning && (sw.r.ref(name).Stalls > 0 || sw.r.recovering(name))) {
		reportToParent(ctx, rep)
	}
	if state == StateStalled || state == StateRunning || state == StateRetrying {
		_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(state))
	}
	sw.render(ctx)
}

func (sw *stepWorkflow) render(ctx workflow.Context) {
	if sw.details != nil {
		sw.details(ctx)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** · incident %s", sw.in.Title, sw.in.Incident)
	if sw.in.Area != nil {
		fmt.Fprintf(&b, " · %s", sw.in.Area.Name)
	}
	if sw.detail != "" {
		b.WriteString(" · " + sw.detail)
	}
	if len(sw.list) > 0 {
		steps := table.New("Step", "State", "Detail")
		for _, st := range sw.list {
			steps.Row(st.Name, st.State, st.Detail)
		}
		b.WriteString("\n\n")
		steps.Render(&b)
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

// finish sends the final report and sets the final search attributes.
func (sw *stepWorkflow) finish(ctx workflow.Context, res StepResult, err error) (StepResult, error) {
	// Continuing as new is not an end: the next run goes on with the step
	// and reports how it ends.
	if workflow.IsContinueAsNewError(err) {
		return res, err
	}
	state := StateDone
	detail := res.Detail
	if err != nil {
		state, detail = StateFailed, rootMessage(err)
		if temporal.IsCanceledError(err) {
			state, detail = "cancelled", "cancelled"
		}
	}
	sw.detail = detail
	// A cancelled step still reports, from a context the cancellation
	// does not reach.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	_ = workflow.UpsertTypedSearchAttributes(dctx, SAStepState.ValueSet(state))
	sw.render(dctx)
	reportToParent(dctx, StepReport{Path: sw.in.Path, State: state, Detail: detail, Final: true, Outputs: res.Outputs})
	return res, err
}

func (sw *stepWorkflow) ref(actor string) activities.StepRef {
	return activities.StepRef{Incident: sw.in.Incident, WorkflowID: sw.id, Actor: actor}
}

func paramString(p map[string]any, name string) string {
	if v, ok := p[name]; ok {
		return fmt.Sprint(v)
	}
	return ""
}

func paramDuration(p map[string]any, name string) time.Duration {
	d, err := runbook.ParseDuration(paramString(p, name))
	if err != nil {
		return 0
	}
	return d.D()
}

func paramInt(p map[string]any, name string) int {
	switch v := p[name].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	return 0
}

// fill replaces {incident} and {area} in a notice text.
func fill(text string, in StepInput) string {
	area := "the area"
	if in.Area != nil {
		area = in.Area.Name
	}
	return strings.NewReplacer("{incident}", in.Incident, "{area}", area).Replace(text)
}
