package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/store"
)

// steps runs a workflow's work as named activity steps and keeps their
// progress. A step's activity is retried with backoff; bad input fails at
// once; when retries run out the step is marked stalled, logged, and tried
// again after the stall interval or when an operator asks for a retry.
type steps struct {
	incident   string
	workflowID string
	timeScale  float64
	// stallRetry is the real time between automatic retries of a stalled step.
	stallRetry time.Duration
	policy     *runbook.RetryPolicy
	list       *[]StepProgress
	retry      map[string]bool
	// abandon, when it returns true, makes a stalled step give up.
	abandon func(step string) bool
	// changed runs after every state change: search attributes, current
	// details, the report to a parent response.
	changed func(ctx workflow.Context, name, state string)
}

// errAbandoned ends a stalled step that is no longer needed.
var errAbandoned = errors.New("step abandoned")

// activityOptions: every step is a short database write. Retries back off
// to a minute; when they run out the step stalls instead of failing. A
// runbook may override the policy per step.
func activityOptions(summary string, p *runbook.RetryPolicy) workflow.ActivityOptions {
	rp := &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		MaximumAttempts:        8,
		NonRetryableErrorTypes: activities.NonRetryable,
	}
	if p != nil {
		if p.MaxAttempts > 0 {
			rp.MaximumAttempts = int32(p.MaxAttempts)
		}
		if p.InitialInterval > 0 {
			rp.InitialInterval = p.InitialInterval.D()
		}
		if p.MaximumInterval > 0 {
			rp.MaximumInterval = p.MaximumInterval.D()
		}
	}
	return workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, Summary: summary, RetryPolicy: rp}
}

// run runs one activity as the named step.
func (r *steps) run(ctx workflow.Context, name, title string, fn, arg, out any, detail func() string) error {
	actx := workflow.WithActivityOptions(ctx, activityOptions(title, r.policy))
	r.begin(ctx, name, title)
	for {
		err := workflow.ExecuteActivity(actx, fn, arg).Get(ctx, out)
		if err == nil {
			r.mark(ctx, name, StateDone, detail())
			return nil
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && slices.Contains(activities.NonRetryable, appErr.Type()) || temporal.IsCanceledError(err) {
			r.mark(ctx, name, StateFailed, rootMessage(err))
			return err
		}
		r.stall(ctx, name, err)
		abandon := func() bool { return r.abandon != nil && r.abandon(name) }
		if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      scaled(r.stallRetry, r.timeScale),
			TimerOptions: workflow.TimerOptions{Summary: "Automatic retry of stalled step " + name},
		}, func() bool { return r.retry[name] || abandon() }); err != nil {
			return err
		}
		if abandon() {
			r.mark(ctx, name, StateDone, "abandoned: no longer needed")
			return errAbandoned
		}
		r.retry[name] = false
		r.mark(ctx, name, StateRunning, "retrying after stall")
	}
}

func (r *steps) stall(ctx workflow.Context, name string, cause error) {
	st := r.ref(name)
	st.Stalls++
	st.LastError = rootMessage(cause)
	r.mark(ctx, name, StateStalled, fmt.Sprintf("retries ran out (%d times): %s", st.Stalls, st.LastError))
	workflow.GetLogger(ctx).Warn("Step stalled", "step", name, "stalls", st.Stalls, "error", st.LastError)
	countStall(ctx, name)
	// Recording the stall may fail for the reason the step stalled; the
	// progress query and search attributes show it either way.
	rctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second, Summary: "Log stall of " + name,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	_ = workflow.ExecuteActivity(rctx, a.RecordEvent, store.Event{
		Incident: r.incident, WorkflowID: r.workflowID, Step: name, State: StateStalled, Actor: "muster",
		Reason: fmt.Sprintf("retries ran out: %s", st.LastError), Seq: fmt.Sprint(st.Stalls),
	}).Get(ctx, nil)
}

func (r *steps) ref(name string) *StepProgress {
	for i := range *r.list {
		if (*r.list)[i].Name == name {
			return &(*r.list)[i]
		}
	}
	*r.list = append(*r.list, StepProgress{Name: name, State: StatePending})
	return &(*r.list)[len(*r.list)-1]
}

func (r *steps) begin(ctx workflow.Context, name, title string) {
	st := r.ref(name)
	st.Title = title
	st.StartedAt = workflow.Now(ctx)
	st.FinishedAt = time.Time{}
	r.mark(ctx, name, StateRunning, "")
}

// mark records a step's state and detail.
func (r *steps) mark(ctx workflow.Context, name, state, detail string) {
	st := r.ref(name)
	st.State = state
	if detail != "" || state == StateRunning {
		st.Detail = detail
	}
	if state == StateDone || state == StateFailed {
		st.FinishedAt = workflow.Now(ctx)
	}
	if r.changed != nil {
		r.changed(ctx, name, state)
	}
}

// validateRetry accepts a retry only for a stalled step.
func (r *steps) validateRetry(step string) error {
	var names []string
	for _, st := range *r.list {
		if st.Name == step {
			if st.State != StateStalled {
				return fmt.Errorf("step %s is %s, not stalled: only a stalled step can be retried", step, st.State)
			}
			return nil
		}
		names = append(names, st.Name)
	}
	return fmt.Errorf("unknown step %q (steps: %v)", step, names)
}

func rootMessage(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
