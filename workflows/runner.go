package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
)

// steps runs a workflow's work as named activity steps and keeps their
// progress. A step's activity is retried with backoff; when retries run
// out the step is marked stalled, logged, and tried again after the stall
// interval or when an operator asks for a retry. Bad input is not retried:
// the step stalls once and waits for a person to retry, skip or abort it.
type steps struct {
	incident   string
	workflowID string
	timeScale  float64
	// stallRetry is the real time between automatic retries of a stalled step.
	stallRetry time.Duration
	policy     *runbook.RetryPolicy
	list       *[]StepProgress
	retry      map[string]bool
	// recovered marks a step whose activity just succeeded after
	// retrying, while its state returns to running.
	recovered map[string]bool
	// abandon, when it returns true, makes a stalled step give up.
	abandon func(step string) bool
	// changed runs after every state change: search attributes, current
	// details, the report to a parent response.
	changed func(ctx workflow.Context, name, state string)
	// stalledLong, when set, runs when a stalled step is due to be tried
	// again: it returns a ContinueAsNewError when the run's history has
	// grown long, and the next run tries the step again instead.
	stalledLong func(ctx workflow.Context, name string) error
	// waits counts the stalls this run waited out, each a few dozen
	// events of history.
	waits int
	// retrying is set by a workflow whose version already implies the
	// retrying-state change (a seal on "seal-quick-setup"), which then
	// records no marker of its own.
	retrying bool
	// root is the workflow's own context, which its cancellation reaches,
	// so that a step run in a disconnected context (cleanup after the
	// response ended the step) knows nobody will act on it. The step core
	// sets it, and so does every workflow that builds its runner itself
	// (the seal, the finding); one that does not gets the context of its
	// first step.
	root workflow.Context
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

// retryingChange gates the first attempt of a step's activity run on its
// own, so the step reads `retrying` from its first failed attempt; runs
// recorded before it ran every attempt as one activity.
const retryingChange = "retrying-state"

// run runs one activity as the named step.
func (sr *steps) run(ctx workflow.Context, name, title string, fn, arg, out any, detail func() string) error {
	return sr.runAfter(ctx, name, title, fn, arg, out, detail, nil)
}

// runAfter runs the named step, already begun, whose activity's work was
// tried elsewhere (a seal's checkpoints opened at once) and failed with
// failed, an error no retry can mend: the step stalls for a person as if
// its own attempt had failed so. Without such an error it runs the step
// from the start.
func (sr *steps) runAfter(ctx workflow.Context, name, title string, fn, arg, out any, detail func() string, failed error) error {
	if sr.root == nil {
		sr.root = ctx
	}
	if failed == nil || !permanent(failed) {
		failed = nil
		sr.begin(ctx, name, title)
	}
	for {
		err := failed
		if failed = nil; err == nil {
			err = sr.attempts(ctx, name, title, fn, arg, out)
		}
		if err == nil {
			sr.mark(ctx, name, StateDone, detail())
			return nil
		}
		abandon := func() bool { return sr.abandon != nil && sr.abandon(name) }
		if permanent(err) {
			if !sr.waitsForPerson(ctx, err) {
				sr.mark(ctx, name, StateFailed, appMessage(err))
				return err
			}
			// The same input fails the same way: no timer retries it, a
			// person retries it once the data is right, or skips or
			// aborts the step.
			sr.stall(ctx, name, err, true)
			if err := workflow.Await(ctx, func() bool { return sr.retry[name] || abandon() || sr.cancelled() }); err != nil {
				return err
			}
			if sr.cancelled() {
				sr.mark(ctx, name, StateFailed, appMessage(err))
				return err
			}
		} else {
			sr.stall(ctx, name, err, false)
			if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
				Timeout:      scaled(sr.stallRetry, sr.timeScale),
				TimerOptions: workflow.TimerOptions{Summary: "Automatic retry of stalled step " + name},
			}, func() bool { return sr.retry[name] || abandon() }); err != nil {
				return err
			}
		}
		if abandon() {
			sr.mark(ctx, name, StateDone, "abandoned: no longer needed")
			return errAbandoned
		}
		sr.waits++
		if sr.stalledLong != nil {
			if err := sr.stalledLong(ctx, name); err != nil {
				return err
			}
		}
		sr.retry[name] = false
		sr.mark(ctx, name, StateRunning, "retrying after stall")
	}
}

// personStallChange gates the stall for a person of a step whose error is
// not retryable; runs recorded before it failed the step at once.
const personStallChange = "stall-for-person"

// notRetryable begins the detail of a step stalled for a person. The
// response reads it from the report of any kind, the seal's included,
// which builds its reports from the step's detail.
const notRetryable = "not retryable, waits for a person: "

// waitsForPerson reports whether a step whose error no retry can mend
// stalls for a person instead of failing. A person acts through the
// response, which relays retry, skip and abort to its own steps' workflows
// (not to a finding an inspection follows), or on a workflow started on
// its own. A cancelled step ends, and so does one run while its workflow
// is being cancelled; a step run by an operator's update fails back to
// that operator, who is there to see the error.
func (sr *steps) waitsForPerson(ctx workflow.Context, err error) bool {
	if temporal.IsCanceledError(err) || sr.cancelled() || inUpdate(ctx) {
		return false
	}
	if parent := workflow.GetInfo(ctx).ParentWorkflowExecution; parent != nil && parent.ID != ResponseWorkflowID(sr.incident) {
		return false
	}
	return workflow.GetVersion(ctx, personStallChange, workflow.DefaultVersion, 1) >= 1
}

// cancelled reports whether the workflow has been asked to stop.
func (sr *steps) cancelled() bool { return sr.root != nil && sr.root.Err() != nil }

// inUpdate reports whether ctx is an update handler's. The SDK's
// GetCurrentUpdateInfo panics outside one instead of returning nil.
func inUpdate(ctx workflow.Context) (in bool) {
	defer func() {
		if recover() != nil {
			in = false
		}
	}()
	return workflow.GetCurrentUpdateInfo(ctx) != nil
}

// permanent reports whether no retry can mend err: bad input, or the step
// was cancelled.
func permanent(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && (appErr.NonRetryable() || slices.Contains(activities.NonRetryable, appErr.Type())) ||
		temporal.IsCanceledError(err)
}

// attempts runs the step's activity under its retry policy. The first
// attempt runs on its own: when it fails with an error a retry may mend, the
// step reads `retrying` (search attribute, current details and progress,
// with the error and since when) while Temporal retries the rest of the
// attempts, so an outage shows at once instead of as a step that runs with
// frozen counts until its retries run out.
func (sr *steps) attempts(ctx workflow.Context, name, title string, fn, arg, out any) error {
	opts := activityOptions(title, sr.policy)
	if opts.RetryPolicy.MaximumAttempts == 1 || !sr.retrying && workflow.GetVersion(ctx, retryingChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), fn, arg).Get(ctx, out)
	}
	first, rest := opts, opts
	fp, rp := *opts.RetryPolicy, *opts.RetryPolicy
	fp.MaximumAttempts = 1
	if rp.MaximumAttempts > 1 {
		rp.MaximumAttempts--
	}
	// The rest keep the policy's timing: the second attempt comes after the
	// initial interval, the third after one backoff more, and so on.
	rp.InitialInterval = min(time.Duration(float64(fp.InitialInterval)*fp.BackoffCoefficient), fp.MaximumInterval)
	first.RetryPolicy, rest.RetryPolicy = &fp, &rp
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, first), fn, arg).Get(ctx, out)
	if err == nil || permanent(err) {
		return err
	}
	st := sr.ref(name)
	st.LastError = appMessage(err)
	since := workflow.Now(ctx)
	sr.mark(ctx, name, StateRetrying, fmt.Sprintf("retrying since %s: %s", since.Format("15:04:05"), st.LastError))
	if err := workflow.NewTimerWithOptions(ctx, fp.InitialInterval, workflow.TimerOptions{Summary: "Retry " + name + " after a failed attempt"}).Get(ctx, nil); err != nil {
		return err
	}
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, rest), fn, arg).Get(ctx, out)
	if err == nil {
		if sr.recovered == nil {
			sr.recovered = map[string]bool{}
		}
		sr.recovered[name] = true
		sr.mark(ctx, name, StateRunning, fmt.Sprintf("recovered after retrying since %s", since.Format("15:04:05")))
		delete(sr.recovered, name)
	}
	return err
}

// recovering reports whether the step is back to running after retrying,
// which its response is told about.
func (sr *steps) recovering(name string) bool { return sr.recovered[name] }

// stall marks a step stalled and records it: its retries ran out, or,
// with forPerson, its error is not retryable and it waits for a person.
func (sr *steps) stall(ctx workflow.Context, name string, cause error, forPerson bool) {
	st := sr.ref(name)
	st.Stalls++
	st.LastError = appMessage(cause)
	detail, reason := fmt.Sprintf("retries ran out (%d times): %s", st.Stalls, st.LastError), "retries ran out: "+st.LastError
	if forPerson {
		detail = notRetryable + st.LastError
		reason = "not retryable: " + st.LastError
	}
	sr.mark(ctx, name, StateStalled, detail)
	workflow.GetLogger(ctx).Warn("Step stalled", "step", name, "stalls", st.Stalls, "error", st.LastError)
	countStall(ctx, name)
	// Recording the stall may fail for the reason the step stalled; the
	// progress query and search attributes show it either way.
	rctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second, Summary: "Log stall of " + name,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	_ = workflow.ExecuteActivity(rctx, a.RecordEvent, domain.Event{
		Incident: sr.incident, WorkflowID: sr.workflowID, Step: name, State: StateStalled, Actor: "muster",
		Reason: reason, Seq: fmt.Sprint(st.Stalls),
	}).Get(ctx, nil)
}

func (sr *steps) ref(name string) *StepProgress {
	for i := range *sr.list {
		if (*sr.list)[i].Name == name {
			return &(*sr.list)[i]
		}
	}
	*sr.list = append(*sr.list, StepProgress{Name: name, State: StatePending})
	return &(*sr.list)[len(*sr.list)-1]
}

func (sr *steps) begin(ctx workflow.Context, name, title string) {
	st := sr.ref(name)
	st.Title = title
	st.StartedAt = workflow.Now(ctx)
	st.FinishedAt = time.Time{}
	sr.mark(ctx, name, StateRunning, "")
}

// mark records a step's state and detail.
func (sr *steps) mark(ctx workflow.Context, name, state, detail string) {
	st := sr.ref(name)
	st.State = state
	if detail != "" || state == StateRunning {
		st.Detail = detail
	}
	if state == StateDone || state == StateFailed {
		st.FinishedAt = workflow.Now(ctx)
	}
	if sr.changed != nil {
		sr.changed(ctx, name, state)
	}
}

// validateRetry accepts a retry only for a stalled step.
func (sr *steps) validateRetry(step string) error {
	var names []string
	for _, st := range *sr.list {
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

// appMessage is the message of the application error in err, which names
// what it is about (the area, the step); the root of its cause may not.
func appMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Message() != "" {
		return appErr.Message()
	}
	return rootMessage(err)
}
