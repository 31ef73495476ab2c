package workflows

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
)

// The kinds whose work is one activity or one wait: a notice, a compliance
// sweep and an approval. A notice and a sweep grow only while their
// activity stalls, and continue as new from a long stall; an approval
// cannot grow, however long it waits.

const noticeOnlyRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: tell
    kind: notice
    params:
      audience: residents
      topic: stay-home
      body: "{area}: stay at home."
`

const sweepOnlyRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: sweep
    kind: compliance-sweep
`

// outageUntil is how long the store is down in the stall tests: about
// sixteen stalls of a quarter of an hour.
const outageUntil = 5 * time.Hour

// A notice whose outbox is down for five hours stalls again and again;
// continuing as new every few stalls, it ends as the same notice stalled
// in one piece: the same attempts, the same stall notices, one final
// report, and the response running throughout.
func TestResponseNoticeContinuesAsNew(t *testing.T) {
	run := func(limit int) kindRun {
		return runStepUnderResponse(t, noticeOnlyRunbook, "tell", limit, 8*time.Hour, func(rt *responseTest) {
			rt.PublishNotice = func(in activities.NoticeInput) error {
				if in.Kind == "stay-home" && rt.env.Now().Sub(testStart) < outageUntil {
					return errors.New("dial tcp 127.0.0.1:5432: connection refused")
				}
				return nil
			}
		})
	}
	whole, split := run(0), run(2*eventsPerStall)
	checkSplitLikeWhole(t, whole, split)
	checkStalledLong(t, whole, "tell")
}

// A compliance sweep checks every checkpoint in one activity, however many
// there are: its history grows only while the store is down. Stalled for
// five hours and continuing as new every few stalls, it ends as the same
// sweep stalled in one piece.
func TestResponseComplianceSweepContinuesAsNew(t *testing.T) {
	run := func(limit int) kindRun {
		return runStepUnderResponse(t, sweepOnlyRunbook, "sweep", limit, 8*time.Hour, func(rt *responseTest) {
			rt.ComplianceSweep = func(activities.SweepInput) (activities.SweepResult, error) {
				if rt.env.Now().Sub(testStart) < outageUntil {
					return activities.SweepResult{}, errors.New("dial tcp 127.0.0.1:5432: connection refused")
				}
				return activities.SweepResult{Checked: 9, Failed: 1, Problems: []string{"gate east: no staff"}}, nil
			}
		})
	}
	whole, split := run(0), run(2*eventsPerStall)
	checkSplitLikeWhole(t, whole, split)
	checkStalledLong(t, whole, "sweep")
	if split.node.Outputs["checked"] != 9 || split.node.Outputs["failed_checks"] != 1 {
		t.Errorf("split sweep outputs = %v, want 9 checked, 1 failed", split.node.Outputs)
	}
}

// checkStalledLong checks that the step stalled often enough for the split
// run to continue as new at least three times.
func checkStalledLong(t *testing.T, r kindRun, path string) {
	t.Helper()
	if r.calls["PublishNotice"] < 10 {
		t.Errorf("notices while %s stalled = %d, want a stall notice for each of more than ten stalls", path, r.calls["PublishNotice"])
	}
}

const approvalOnlyRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: approve-lift
    kind: approval
    params:
      question: Lift?
      timeout: 14d
      default: reject
`

// commandLog counts, per workflow ID, the commands a workflow gives and
// the messages it takes, the two things that make its history grow.
type commandLog struct {
	interceptor.WorkerInterceptorBase
	mu    sync.Mutex
	count map[string]int
}

func (l *commandLog) add(ctx workflow.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count[workflow.GetInfo(ctx).WorkflowExecution.ID]++
}

func (l *commandLog) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &commandLogInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, log: l}
}

type commandLogInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	log *commandLog
}

func (i *commandLogInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&commandLogOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, log: i.log})
}

func (i *commandLogInbound) HandleSignal(ctx workflow.Context, in *interceptor.HandleSignalInput) error {
	i.log.add(ctx)
	return i.Next.HandleSignal(ctx, in)
}

func (i *commandLogInbound) ExecuteUpdate(ctx workflow.Context, in *interceptor.UpdateInput) (any, error) {
	i.log.add(ctx)
	return i.Next.ExecuteUpdate(ctx, in)
}

type commandLogOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	log *commandLog
}

func (o *commandLogOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.log.add(ctx)
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

func (o *commandLogOutbound) NewTimerWithOptions(ctx workflow.Context, d time.Duration, opts workflow.TimerOptions) workflow.Future {
	o.log.add(ctx)
	return o.Next.NewTimerWithOptions(ctx, d, opts)
}

func (o *commandLogOutbound) SignalExternalWorkflow(ctx workflow.Context, id, runID, name string, arg any) workflow.Future {
	o.log.add(ctx)
	return o.Next.SignalExternalWorkflow(ctx, id, runID, name, arg)
}

func (o *commandLogOutbound) UpsertTypedSearchAttributes(ctx workflow.Context, sa ...temporal.SearchAttributeUpdate) error {
	o.log.add(ctx)
	return o.Next.UpsertTypedSearchAttributes(ctx, sa...)
}

// An approval cannot grow: it asks once, then waits on one timer for one
// decision (the response refuses a second decision and any retry, since
// an approval runs no activity to stall). Waiting thirteen days for a
// question of the longest text allowed, it gives as many commands and
// takes as many messages as one decided within the hour, far under the
// smallest history limit: it never needs to continue as new.
func TestResponseApprovalCannotGrow(t *testing.T) {
	const limit = 40
	run := func(after time.Duration) (kindRun, int) {
		rt := newResponseTest(t, strings.Replace(approvalOnlyRunbook, "Lift?", strings.Repeat("x", MaxText), 1))
		runs := &runLog{}
		cmds := &commandLog{count: map[string]int{}}
		rt.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{runs, cmds}})
		rt.env.SetWorkflowRunTimeout(20 * 24 * time.Hour)
		decide := rt.UpdateAt(after, UpdateDecide, Decision{Step: "approve-lift", Decision: "approve", By: "district-hq", Reason: "clean"})
		in := testResponseInput()
		in.StepHistoryLimit = limit
		rt.Run(in)
		p, err := rt.Result()
		if err != nil {
			t.Fatalf("Response() with the decision after %s: error = %v", after, err)
		}
		if !decide.Accepted || decide.Err != nil {
			t.Errorf("decide after %s: accepted %v, rejected %v, error %v", after, decide.Accepted, decide.Rejected, decide.Err)
		}
		id := ResponseWorkflowID("xd-0403") + "/approve-lift"
		return kindRun{node: nodeOf(p, "approve-lift"), result: p, runs: len(runs.Runs("/approve-lift"))}, cmds.count[id]
	}
	soon, soonCmds := run(time.Hour)
	late, lateCmds := run(13 * 24 * time.Hour)
	t.Logf("approval: %d commands and messages decided within the hour, %d after 13 days", soonCmds, lateCmds)
	for name, r := range map[string]kindRun{"within the hour": soon, "after 13 days": late} {
		if r.result.State != ResponseClosed || r.node.State != StateDone || r.node.Outputs["approved"] != 1 {
			t.Errorf("decided %s: Response() = %s, approval %s %v; want closed, approved", name, r.result.State, r.node.State, r.node.Outputs)
		}
		if r.runs != 1 {
			t.Errorf("decided %s: approval runs = %d, want 1", name, r.runs)
		}
	}
	// Each command or message is at most four events (with the workflow
	// task that takes it).
	if lateCmds != soonCmds || 4*lateCmds+5 > limit {
		t.Errorf("approval commands and messages = %d after 13 days, %d within the hour; want equal, and under a history of %d events", lateCmds, soonCmds, limit)
	}
}
