package workflows

import (
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

// badTextRunbook tells the residents and sweeps the checkpoints at once,
// then announces testing; the residents' notice carries text the database
// refuses (a NUL byte, SQLSTATE 22021).
const badTextRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: setup
    parallel:
      - id: tell
        kind: notice
        params:
          audience: residents
          topic: bad-text
          body: "{area}: stay at home."
      - id: sweep
        kind: compliance-sweep
  - id: after
    kind: notice
    params:
      audience: residents
      topic: testing-starts
      body: Testing starts.
`

// badText is the error the activities give text PostgreSQL refuses.
func badText() error {
	return temporal.NewNonRetryableApplicationError(`notice xd-0403/0/bad-text: pq: invalid byte sequence for encoding "UTF8": 0x00 (22021)`,
		activities.ErrBadInput, errors.New(`pq: invalid byte sequence for encoding "UTF8": 0x00 (22021)`))
}

// TestResponseBadInputStallsOnceForAPerson: a step whose error no retry can
// mend runs its activity once and stalls once, for a person: one stall in
// the event log, one notice to the command center, and no further attempt
// however long nobody acts. Then a person aborts it (the enclosing
// parallel fails and its sequence stops, naming the step), skips it (the
// runbook goes on), or fixes the data and retries it (the step is done).
func TestResponseBadInputStallsOnceForAPerson(t *testing.T) {
	for _, tc := range []struct {
		name, update string
		arg          any
		// fixed makes the data right before the person acts.
		fixed bool
		want  string
		// tell, after: the states of the stalled step and of the step
		// after its sequence when the response ends.
		tell, after string
	}{
		{name: "abort", update: UpdateAbort, arg: StepAction{Step: "setup/tell", Reason: "notice text is broken", By: "district-hq"},
			want: ResponseFailed, tell: StateAborted, after: StateSkipped},
		{name: "skip", update: UpdateSkip, arg: StepAction{Step: "setup/tell", Reason: "residents were told by phone", By: "district-hq"},
			want: ResponseClosed, tell: StateSkipped, after: StateDone},
		{name: "retry after the fix", update: UpdateRetry, arg: RetryInput{Step: "setup/tell", By: "district-hq"}, fixed: true,
			want: ResponseClosed, tell: StateDone, after: StateDone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newResponseTest(t, badTextRunbook)
			fixed := false
			rt.PublishNotice = func(in activities.NoticeInput) error {
				if in.Kind == "bad-text" && !fixed {
					return badText()
				}
				return nil
			}
			mid := rt.ProgressAt(5 * time.Hour)
			var attempts int
			rt.At(6*time.Hour-time.Minute, func() {
				attempts = len(rt.Notices("bad-text"))
				fixed = tc.fixed
			})
			act := rt.UpdateAt(6*time.Hour, tc.update, tc.arg)
			rt.Run(testResponseInput())
			p, err := rt.Result()
			if err != nil {
				t.Fatalf("Response() error = %v", err)
			}
			if n := nodeOf(*mid, "setup/tell"); n.State != StateStalled || !strings.Contains(n.LastError, "22021") || !strings.Contains(n.Detail, "not retryable") {
				t.Errorf("setup/tell at 5h = %s %q (error %q), want stalled, not retryable, with the error", n.State, n.Detail, n.LastError)
			}
			if n := nodeOf(*mid, "after"); !notStarted(n) {
				t.Errorf("after at 5h = %s, want not started while setup/tell waits", n.State)
			}
			if attempts != 1 {
				t.Errorf("PublishNotice(bad-text) attempts in 6 hours = %d, want 1: no retry, no automatic retry", attempts)
			}
			stalls := 0
			for _, st := range rt.EventStates("setup/tell") {
				if st == StateStalled {
					stalls++
				}
			}
			if stalls != 1 {
				t.Errorf("stall events of setup/tell = %d, want 1", stalls)
			}
			if got := rt.Notices("stalled/setup/tell"); len(got) != 1 ||
				!strings.Contains(got[0].Input.(activities.NoticeInput).Body, "not retried automatically") {
				t.Errorf("stall notices of setup/tell = %v, want 1 that says it is not retried automatically", noticeKinds(got))
			}
			if !act.Accepted || act.Err != nil {
				t.Fatalf("%s: accepted %v, rejected %v, error %v", tc.update, act.Accepted, act.Rejected, act.Err)
			}
			if n := nodeOf(p, "setup/tell"); n.State != tc.tell {
				t.Errorf("setup/tell = %s %q, want %s", n.State, n.Detail, tc.tell)
			}
			if n := nodeOf(p, "after"); n.State != tc.after {
				t.Errorf("after = %s %q, want %s", n.State, n.Detail, tc.after)
			}
			if p.State != tc.want {
				t.Errorf("Response() = %s (%s), want %s", p.State, p.Root.Detail, tc.want)
			}
			if tc.want == ResponseFailed && (nodeOf(p, "setup").State != StateFailed || !strings.Contains(p.Root.Detail, "setup/tell")) {
				t.Errorf("setup = %s, root %q; want setup failed and the root naming setup/tell", nodeOf(p, "setup").State, p.Root.Detail)
			}
		})
	}
}

// A seal cancelled by its response takes down what it set up out of the
// cancellation's reach; when that meets bad input nobody can act on it any
// more (the response has ended the step), so it fails at once and the seal
// ends instead of stalling for ever.
func TestSealCancelledBadInputOnCleanupEnds(t *testing.T) {
	st := newSealTest(t)
	st.Reopen = func(activities.ReopenInput) (activities.ReopenResult, error) {
		return activities.ReopenResult{}, temporal.NewNonRetryableApplicationError("reopen: bad text", activities.ErrBadInput, nil)
	}
	st.At(time.Hour, func() { st.env.CancelWorkflow() })
	st.Run(testInput())
	if now := st.env.Now().Sub(testStart); now > 2*time.Hour {
		t.Errorf("SealCompound ended %s in, want soon after its cancellation at 1h", now)
	}
	if got := len(st.Calls("Reopen")); got != 1 {
		t.Errorf("Reopen attempts = %d, want 1", got)
	}
}

// A finding is followed by its inspection, not by the response, which
// relays a person's retry, skip and abort only to its own steps: a step of
// the finding that meets bad input fails at once, as before, instead of
// stalling where nobody can act on it.
func TestFindingBadInputFailsAtOnce(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(testStart)
	env.SetWorkflowRunTimeout(30 * 24 * time.Hour)
	Register(env, nil)
	env.OnActivity(a.AssignFinding, mock.Anything, mock.Anything).Return(domain.Finding{},
		temporal.NewNonRetryableApplicationError("finding 3: bad text", activities.ErrBadInput, nil))
	env.OnActivity(a.RecordEvent, mock.Anything, mock.Anything).Return(nil).Maybe()
	env.OnActivity(a.PublishNotice, mock.Anything, mock.Anything).Return(nil).Maybe()
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return().Maybe()
	fid := FindingWorkflowID("xd-0403", 3)
	parent := func(ctx workflow.Context, in FindingInput) (FindingStatus, error) {
		var res FindingStatus
		err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: fid}),
			FindingFollowUpName, in).Get(ctx, &res)
		return res, err
	}
	env.RegisterWorkflow(parent)
	env.ExecuteWorkflow(parent, FindingInput{Incident: "xd-0403", Finding: domain.Finding{ID: 3, Incident: "xd-0403", Source: "inspection",
		Site: "qinxian-key-01", Unit: "market-regulation", Category: "registration", Severity: "low", Description: "d", State: domain.FindingOpen},
		DeadlineHours: 72, RemindEveryHours: 2})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "bad text") {
		t.Errorf("FindingFollowUp() = %v, want the bad input error", err)
	}
	if now := env.Now().Sub(testStart); now > time.Hour {
		t.Errorf("FindingFollowUp ended %s in, want at once", now)
	}
}
