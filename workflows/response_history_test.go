package workflows

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
)

// historyCount estimates, per run, the events a workflow adds to its
// history, from what the workflow does: three per activity and child
// workflow (scheduled or initiated, started, closed), two per timer,
// external signal or cancel request, two per update, one per signal
// received, marker and search-attribute upsert, two for the start. The
// test environment has no history of its own, and workflow tasks (three
// events each, batched) are left out: the figure is a floor of what a
// server would record.
type historyCount struct {
	interceptor.WorkerInterceptorBase
	match string
	mu    sync.Mutex
	runs  []*runCount
}

type runCount struct {
	ID     string
	Events int
	seen   map[string]bool
}

func (h *historyCount) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	info := workflow.GetInfo(ctx)
	if info.WorkflowExecution.ID != h.match {
		return next
	}
	h.mu.Lock()
	rc := &runCount{ID: info.WorkflowExecution.RunID, Events: 2, seen: map[string]bool{}}
	h.runs = append(h.runs, rc)
	h.mu.Unlock()
	return &countInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, h: h, rc: rc}
}

func (h *historyCount) add(rc *runCount, n int) {
	h.mu.Lock()
	rc.Events += n
	h.mu.Unlock()
}

// Runs returns the event count of each run, in order.
func (h *historyCount) Runs() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]int, len(h.runs))
	for i, rc := range h.runs {
		out[i] = rc.Events
	}
	return out
}

type countInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	h  *historyCount
	rc *runCount
}

func (i *countInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&countOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, h: i.h, rc: i.rc})
}

func (i *countInbound) HandleSignal(ctx workflow.Context, in *interceptor.HandleSignalInput) error {
	i.h.add(i.rc, 1)
	return i.Next.HandleSignal(ctx, in)
}

func (i *countInbound) ExecuteUpdate(ctx workflow.Context, in *interceptor.UpdateInput) (any, error) {
	i.h.add(i.rc, 2)
	return i.Next.ExecuteUpdate(ctx, in)
}

type countOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	h  *historyCount
	rc *runCount
}

func (o *countOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.h.add(o.rc, 3)
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

func (o *countOutbound) ExecuteChildWorkflow(ctx workflow.Context, childWorkflowType string, args ...any) workflow.ChildWorkflowFuture {
	o.h.add(o.rc, 3)
	return o.Next.ExecuteChildWorkflow(ctx, childWorkflowType, args...)
}

func (o *countOutbound) NewTimerWithOptions(ctx workflow.Context, d time.Duration, options workflow.TimerOptions) workflow.Future {
	o.h.add(o.rc, 2)
	return o.Next.NewTimerWithOptions(ctx, d, options)
}

func (o *countOutbound) NewTimer(ctx workflow.Context, d time.Duration) workflow.Future {
	o.h.add(o.rc, 2)
	return o.Next.NewTimer(ctx, d)
}

func (o *countOutbound) SignalExternalWorkflow(ctx workflow.Context, workflowID, runID, signalName string, arg any) workflow.Future {
	o.h.add(o.rc, 2)
	return o.Next.SignalExternalWorkflow(ctx, workflowID, runID, signalName, arg)
}

func (o *countOutbound) RequestCancelExternalWorkflow(ctx workflow.Context, workflowID, runID string) workflow.Future {
	o.h.add(o.rc, 2)
	return o.Next.RequestCancelExternalWorkflow(ctx, workflowID, runID)
}

func (o *countOutbound) UpsertTypedSearchAttributes(ctx workflow.Context, attrs ...temporal.SearchAttributeUpdate) error {
	o.h.add(o.rc, 1)
	return o.Next.UpsertTypedSearchAttributes(ctx, attrs...)
}

// GetInfo reports the counted history length as the server reports its
// own, so the workflow sees its history grow as it would on a server.
// The SDK keeps the field unexported and the test environment leaves it
// at what SetCurrentHistoryLength set, for the root workflow only.
func (o *countOutbound) GetInfo(ctx workflow.Context) *workflow.Info {
	info := *o.Next.GetInfo(ctx)
	o.h.mu.Lock()
	n := o.rc.Events
	o.h.mu.Unlock()
	//workflowcheck:ignore a test probe setting the history length the test counted; the same on every replay
	f := reflect.ValueOf(&info).Elem().FieldByName("currentHistoryLength")
	if !f.IsValid() {
		panic("the SDK's workflow.Info has no currentHistoryLength field any more: countOutbound.GetInfo needs another way to report the count")
	}
	//workflowcheck:ignore as above
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().SetInt(int64(n))
	return &info
}

func (o *countOutbound) GetVersion(ctx workflow.Context, changeID string, minSupported, maxSupported workflow.Version) workflow.Version {
	o.h.mu.Lock()
	if !o.rc.seen[changeID] {
		o.rc.seen[changeID] = true
		o.rc.Events++
	}
	o.h.mu.Unlock()
	return o.Next.GetVersion(ctx, changeID, minSupported, maxSupported)
}

// cityRunbook sweeps every compound of the community, one small child
// workflow per compound: a city round in small.
const cityRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: sweep
    for_each:
      areas:
        level: compound
      steps:
        - id: check
          kind: compliance-sweep
`

// cityAreas returns n compounds of the test community.
func cityAreas(n int) []activities.Area {
	out := make([]activities.Area, n)
	for i := range out {
		code := fmt.Sprintf("c%04d", i)
		out[i] = activities.Area{ID: int64(1000 + i), Code: code, Name: "Compound " + code, Path: testCommunity.Path + "/" + code, Level: "compound"}
	}
	return out
}

// responseParent runs a response as a child, as a test parent that lets
// the response continue as new within one test environment. The test
// environment hands a grandchild's signals to the root workflow; the
// parent passes the steps' reports on to the response.
func responseParent(ctx workflow.Context, in ResponseInput) (ResponseProgress, error) {
	id := ResponseWorkflowID(in.Incident)
	reports := workflow.GetSignalChannel(ctx, SignalStepReport)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var rep StepReport
			if !reports.Receive(ctx, &rep) {
				return
			}
			_ = workflow.SignalExternalWorkflow(ctx, id, "", SignalStepReport, rep).Get(ctx, nil)
		}
	})
	var p ResponseProgress
	err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id}), ResponseName, in).Get(ctx, &p)
	return p, err
}

// A city round: a for_each over hundreds of compounds, each a child
// workflow, under a small history limit. Every run of the response stays
// near the limit (it stops starting steps and continues as new when its
// history is long, instead of waiting for a quiet moment that a stream of
// reports never leaves), and every compound's step runs once across the
// runs.
func TestResponseCityRoundContinuesAsNew(t *testing.T) {
	areas, limit := 300, 600
	// MUSTER_CITY=1000,8000 runs a whole city round at the default limit.
	if v := os.Getenv("MUSTER_CITY"); v != "" {
		if _, err := fmt.Sscanf(v, "%d,%d", &areas, &limit); err != nil {
			t.Fatalf("MUSTER_CITY=%q: want areas,limit", v)
		}
	}
	rt := newResponseTest(t, cityRunbook)
	all := cityAreas(areas)
	rt.SelectAreas = func(activities.SelectAreasInput) ([]activities.Area, error) { return all, nil }
	rt.Delay["ComplianceSweep"] = 10 * time.Minute
	runs := &runLog{}
	hist := &historyCount{match: ResponseWorkflowID("xd-0403")}
	rt.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{runs, hist}})
	rt.env.RegisterWorkflow(responseParent)
	rt.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "test-parent"})
	in := testResponseInput()
	in.HistoryLimit = limit
	rt.env.ExecuteWorkflow(responseParent, in)
	if !rt.env.IsWorkflowCompleted() {
		t.Fatalf("Response did not complete")
	}
	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response() error = %v", err)
	}
	if p.State != ResponseClosed {
		t.Errorf("Response().State = %q, want %q", p.State, ResponseClosed)
	}
	done := 0
	for path, state := range leafStates(p) {
		if state != StateDone {
			t.Errorf("Response() step %s = %s, want %s", path, state, StateDone)
		} else {
			done++
		}
	}
	if done != areas {
		t.Errorf("Response() has %d steps done, want %d", done, areas)
	}

	// Every compound's step ran once.
	started := map[string]int{}
	for _, r := range runs.Runs("") {
		if strings.HasPrefix(r.ID, ResponseWorkflowID("xd-0403")+"/sweep/") {
			started[strings.TrimPrefix(r.ID, ResponseWorkflowID("xd-0403")+"/sweep/")]++
		}
	}
	for _, ar := range all {
		if started[ar.Code] != 1 {
			t.Errorf("step sweep/%s ran %d times, want 1", ar.Code, started[ar.Code])
		}
	}
	if got := len(rt.Calls("ComplianceSweep")); got != areas {
		t.Errorf("ComplianceSweep called %d times, want %d", got, areas)
	}

	// Every run's history stays within the limit and a tenth.
	counts := hist.Runs()
	bound := limit + limit/10
	for i, n := range counts {
		if n > bound {
			t.Errorf("run %d of %d: about %d events, want at most %d (limit %d)", i+1, len(counts), n, bound, limit)
		}
	}
	if len(counts) < 2 {
		t.Errorf("response ran %d times, want it to continue as new", len(counts))
	}
	// The event log has each compound's start and end once.
	logged := map[string]int{}
	for _, e := range rt.Events() {
		if strings.HasPrefix(e.Step, "sweep/") {
			logged[e.Step+" "+e.State]++
		}
	}
	for _, ar := range all {
		for _, state := range []string{StateRunning, StateDone} {
			if k := "sweep/" + ar.Code + " " + state; logged[k] != 1 {
				t.Errorf("event log has %q %d times, want 1", k, logged[k])
			}
		}
	}
	sorted := append([]int(nil), counts...)
	sort.Ints(sorted)
	t.Logf("%d areas, limit %d: %d runs, events per run %v (largest %d)", areas, limit, len(counts), counts, sorted[len(sorted)-1])
}
