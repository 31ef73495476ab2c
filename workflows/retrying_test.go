package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// TestStepRetryingDuringOutage: a notice whose outbox fails for its first
// attempts reads `retrying` from the first failed attempt — state, search
// attribute, the last error and since when in the progress — while the
// progress query answers; when the outbox works again the step is done.
func TestStepRetryingDuringOutage(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(testStart)
	var states []string
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		for k, v := range args.Get(0).(temporal.SearchAttributes).GetUntypedValues() {
			if k.GetName() == SAStepState.GetName() {
				states = append(states, v.(string))
			}
		}
	}).Return().Maybe()
	calls := 0
	env.OnActivity(a.PublishNotice, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.NoticeInput) error {
		calls++
		if calls <= 3 {
			return errors.New("dial tcp 127.0.0.1:5432: connection refused")
		}
		return nil
	})
	env.OnActivity(a.RecordEvent, mock.Anything, mock.Anything).Return(nil).Maybe()

	var during []StepProgress
	var queryErr error
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryProgress)
		if err != nil {
			queryErr = err
			return
		}
		queryErr = v.Get(&during)
	}, 2*time.Second)
	env.ExecuteWorkflow(NoticeStep, StepInput{Incident: "xd-0403", Path: "declare", Kind: KindNotice, Title: "Declare",
		Params: map[string]any{"topic": "level-1-declared", "audience": "residents", "body": "stay home"}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("NoticeStep() = %v, want success after the outage", err)
	}
	if queryErr != nil {
		t.Fatalf("progress query during the outage = %v", queryErr)
	}
	if len(during) != 1 || during[0].State != StateRetrying {
		t.Fatalf("progress during the outage = %+v, want the publish step retrying", during)
	}
	if !strings.Contains(during[0].LastError, "connection refused") || !strings.Contains(during[0].Detail, "retrying since 08:00:00") {
		t.Errorf("retrying step = error %q, detail %q; want the outage's error and since when", during[0].LastError, during[0].Detail)
	}
	if calls != 4 {
		t.Errorf("PublishNotice attempts = %d, want 4", calls)
	}
	want := []string{StateRunning, StateRunning, StateRetrying, StateRunning, StateDone}
	if strings.Join(states, ",") != strings.Join(want, ",") {
		t.Errorf("MusterStepState upserts = %v, want %v", states, want)
	}
	var res StepResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
}

// TestStepBadInputStallsOnce: an error no retry can mend runs the step's
// activity once and stalls the step once, for a person, with the error in
// its detail and search attribute; no timer retries it. Once the data is
// right, a person's retry publishes the notice.
func TestStepBadInputStallsOnce(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var state string
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		for k, v := range args.Get(0).(temporal.SearchAttributes).GetUntypedValues() {
			if k.GetName() == SAStepState.GetName() {
				state = v.(string)
			}
		}
	}).Return().Maybe()
	calls, fixed := 0, false
	env.OnActivity(a.PublishNotice, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.NoticeInput) error {
		calls++
		if fixed {
			return nil
		}
		return temporal.NewNonRetryableApplicationError(`notice xd-0403/0/t: pq: invalid byte sequence for encoding "UTF8": 0x00 (22021)`, activities.ErrBadInput,
			errors.New(`pq: invalid byte sequence for encoding "UTF8": 0x00 (22021)`))
	})
	stalls := 0
	env.OnActivity(a.RecordEvent, mock.Anything, mock.Anything).Return(func(ctx context.Context, e domain.Event) error {
		if e.State == StateStalled {
			stalls++
		}
		return nil
	}).Maybe()
	var stalled []StepProgress
	var stalledState string
	var stalledCalls int
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryProgress)
		if err == nil {
			err = v.Get(&stalled)
		}
		if err != nil {
			t.Errorf("progress query: %v", err)
		}
		stalledState, stalledCalls, fixed = state, calls, true
		env.SignalWorkflow(SignalRetry, RetryInput{Step: "publish", By: "district-hq"})
	}, 12*time.Hour)
	env.ExecuteWorkflow(NoticeStep, StepInput{Incident: "xd-0403", Path: "declare", Kind: KindNotice, Title: "Declare",
		Params: map[string]any{"topic": "t", "audience": "residents", "body": "b"}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("NoticeStep() = %v, want success after the retry", err)
	}
	if stalledCalls != 1 || calls != 2 {
		t.Errorf("PublishNotice attempts = %d in 12 hours, %d in all; want 1 and 2 (the person's retry)", stalledCalls, calls)
	}
	if stalls != 1 {
		t.Errorf("stall events = %d, want 1", stalls)
	}
	// The step's detail names what the error is about, not only its root.
	if len(stalled) != 1 || stalled[0].State != StateStalled || !strings.Contains(stalled[0].Detail, "not retryable") ||
		!strings.Contains(stalled[0].Detail, "notice xd-0403/0/t") {
		t.Errorf("progress at 12h = %+v, want the publish step stalled, not retryable, naming the notice", stalled)
	}
	if stalledState != StateStalled {
		t.Errorf("MusterStepState at 12h = %s, want %s", stalledState, StateStalled)
	}
}

// TestStepBadInputBeforeStallChange: a run recorded before steps stalled
// for a person keeps failing the step at once when it replays.
func TestStepBadInputBeforeStallChange(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.OnGetVersion(personStallChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return().Maybe()
	env.OnActivity(a.PublishNotice, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("notice xd-0403/0/t: bad text", activities.ErrBadInput, nil))
	env.OnActivity(a.RecordEvent, mock.Anything, mock.Anything).Return(nil).Maybe()
	env.ExecuteWorkflow(NoticeStep, StepInput{Incident: "xd-0403", Path: "declare", Kind: KindNotice, Title: "Declare",
		Params: map[string]any{"topic": "t", "audience": "residents", "body": "b"}})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "bad text") {
		t.Fatalf("NoticeStep() = %v, want the bad input error at once", err)
	}
}
