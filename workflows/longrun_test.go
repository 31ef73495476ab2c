package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
)

// runLog records every run of every workflow in a test environment: its
// type, ID and the size of its input, so a test sees each continue-as-new
// and what it carried.
type runLog struct {
	interceptor.WorkerInterceptorBase
	mu   sync.Mutex
	runs []workflowRun
}

type workflowRun struct {
	Type, ID  string
	InputSize int
}

func (l *runLog) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &runLogInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, log: l}
}

type runLogInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	log *runLog
}

func (i *runLogInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	info := workflow.GetInfo(ctx)
	size := 0
	for _, arg := range in.Args {
		//workflowcheck:ignore a test probe measuring the input's size; encoding a value gives the same bytes on every replay
		b, _ := json.Marshal(arg)
		size += len(b)
	}
	i.log.mu.Lock()
	i.log.runs = append(i.log.runs, workflowRun{Type: info.WorkflowType.Name, ID: info.WorkflowExecution.ID, InputSize: size})
	i.log.mu.Unlock()
	return i.Next.ExecuteWorkflow(ctx, in)
}

// Runs returns the runs of workflows whose ID ends with suffix.
func (l *runLog) Runs(suffix string) []workflowRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []workflowRun
	for _, r := range l.runs {
		if strings.HasSuffix(r.ID, suffix) {
			out = append(out, r)
		}
	}
	return out
}

// watchRuns makes env record its workflows' runs.
func watchRuns(rt *responseTest) *runLog {
	l := &runLog{}
	rt.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{l}})
	return l
}

// sealOnlyRunbook seals one compound of the community and holds: the
// response ends only with its lift.
const sealOnlyRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: seal
    for_each:
      areas:
        codes: [longbao-jiayuan]
      steps:
        - id: seal-compound
          kind: seal
          params:
            check_every: 2h
`

// A lockdown of 30 days: every seal checks its checkpoints every 2 hours
// (360 rounds) and continues as new every 100 rounds. The response holds
// the whole time and closes with the lift on day 30.
func TestResponseSealThirtyDays(t *testing.T) {
	t.Run("seal on the step core", func(t *testing.T) { sealThirtyDays(t, false) })
	// A seal already running when the step core was deployed has no
	// seal-step-core marker; it continues as new through the core from its
	// next continue-as-new on.
	t.Run("seal started before the step core", func(t *testing.T) { sealThirtyDays(t, true) })
}

func sealThirtyDays(t *testing.T, started bool) {
	thirtyDaySeals := []string{"seal/longbao-jiayuan"}
	rt := newResponseTest(t, sealOnlyRunbook)
	if started {
		rt.env.OnGetVersion("seal-step-core", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	}
	runs := watchRuns(rt)
	rt.env.SetWorkflowRunTimeout(40 * 24 * time.Hour)
	// The response waits for its seals' final reports; a seal that outlives
	// a closed response is a failure this test reports, not waits for.
	rt.env.SetDetachedChildWait(false)
	days := 30
	if d := os.Getenv("MUSTER_DAYS"); d != "" {
		days, _ = strconv.Atoi(d)
	}
	daily := make([]*ResponseProgress, days)
	for d := range days {
		daily[d] = rt.ProgressAt(time.Duration(d)*24*time.Hour + 23*time.Hour)
	}
	liftAt := time.Duration(days)*24*time.Hour + time.Minute
	lift := rt.UpdateAt(liftAt, UpdateLift, LiftInput{Reason: "30 days without a case", By: "district-hq"})
	rt.Run(testResponseInput())

	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response() error = %v", err)
	}
	if !lift.Accepted || lift.Err != nil {
		t.Fatalf("lift update: accepted %v, rejected %v, error %v; want accepted", lift.Accepted, lift.Rejected, lift.Err)
	}
	for d, dp := range daily {
		if dp.State != ResponseHolding {
			t.Errorf("day %d: Progress().State = %q, want %q", d+1, dp.State, ResponseHolding)
			continue
		}
		for _, path := range thirtyDaySeals {
			if n := nodeOf(*dp, path); !n.Held || n.State != StateDone {
				t.Errorf("day %d: %s = %s held %v (%s), want done and held", d+1, path, n.State, n.Held, n.Detail)
			}
		}
	}
	if p.State != ResponseClosed || p.LiftedBy != "district-hq" {
		t.Errorf("Response() State, LiftedBy = %q, %q; want %q, district-hq", p.State, p.LiftedBy, ResponseClosed)
	}
	for _, path := range thirtyDaySeals {
		if n := nodeOf(p, path); n.State != StateDone || n.Held || !strings.HasPrefix(n.Detail, "lifted by district-hq") {
			t.Errorf("Response() %s = %s held %v (%s), want done, lifted by district-hq", path, n.State, n.Held, n.Detail)
		}
	}
	if got := len(rt.Calls("Reopen")); got != len(thirtyDaySeals) {
		t.Errorf("Reopen called %d times, want %d", got, len(thirtyDaySeals))
	}
	if got, want := len(rt.Calls("CheckCompliance")), 360*len(thirtyDaySeals); got != want {
		t.Errorf("CheckCompliance called %d times, want %d (360 rounds per seal)", got, want)
	}
	if got := rt.EventStates("response"); len(got) == 0 || got[len(got)-1] != ResponseLifting {
		t.Errorf("event log of the response = %v, want it to end with %s", got, ResponseLifting)
	}
	largest := 0
	for _, path := range thirtyDaySeals {
		sr := runs.Runs("/" + path)
		if len(sr) < 4 {
			t.Errorf("%s ran %d times, want at least 4 (continue-as-new every %d rounds)", path, len(sr), maxRoundsPerRun)
		}
		for _, r := range sr {
			largest = max(largest, r.InputSize)
		}
	}
	t.Logf("seal runs: %d per seal; largest carried input %d bytes", len(runs.Runs("/"+thirtyDaySeals[0])), largest)
}

// quiesceProbe puts a response in the state a workflow task leaves it in
// when a step's final report arrives with the task that decides to
// continue as new: the report is handed to the receiving goroutine, which
// has not run yet. It then continues as new as the response does.
func quiesceProbe(ctx workflow.Context) error {
	n := &Node{Path: "seal/longbao-jiayuan", Type: KindSeal, State: StateDone, Held: true, WorkflowID: "seal"}
	r := &response{in: testResponseInput().WithDefaults(), id: workflow.GetInfo(ctx).WorkflowExecution.ID, nodes: map[string]*Node{n.Path: n}}
	r.p = ResponseProgress{Incident: "xd-0403", State: ResponseHolding, Root: &Node{Type: "sequence", State: StateDone, Children: []*Node{n}}}
	workflow.Go(ctx, r.receiveReports)
	if err := workflow.Sleep(ctx, time.Second); err != nil {
		return err
	}
	// The SDK delivers a signal this way: to a receiver blocked on the
	// channel, or into the channel's buffer.
	reports := workflow.GetSignalChannel(ctx, SignalStepReport).(workflow.Channel)
	reports.SendAsync(StepReport{Path: n.Path, State: StateDone, Final: true, Detail: "lifted by district-hq"})
	reports.SendAsync(StepReport{Path: "unknown", State: StateRunning})
	return r.continueAsNew(ctx)
}

// A step's final report that arrives with the workflow task in which the
// response decides to continue as new is applied before the state is
// carried: without the drain the seal would hold for ever in the next
// run's tree.
func TestResponseQuiesceAppliesReportOfTheSameTask(t *testing.T) {
	st := newSealTest(t)
	st.env.RegisterWorkflow(quiesceProbe)
	st.env.ExecuteWorkflow(quiesceProbe)
	var can *workflow.ContinueAsNewError
	if err := st.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("quiesceProbe() error = %v, want a ContinueAsNewError", err)
	}
	var next ResponseInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if n := nodeOf(next.Resume.Progress, "seal/longbao-jiayuan"); n.Held || n.State != StateDone || n.Detail != "lifted by district-hq" {
		t.Errorf("carried seal/longbao-jiayuan = %s held %v (%q), want done, not held, lifted by district-hq", n.State, n.Held, n.Detail)
	}
}

// canProbe puts a step in the state a workflow task leaves it in when a
// lift and a retry arrive with the task that decides to continue as new:
// the lift waits in its channel, the retry is handed to a side receiver
// (the step runner's) that has not run yet. It then continues as new the way
// every step kind does, carrying what it received.
func canProbe(ctx workflow.Context) error {
	var lift *LiftInput
	retry := map[string]bool{}
	b := &inbox{}
	receive(ctx, b, SignalLift, func(in LiftInput) { lift = &in })
	receive(ctx, b, SignalRetry, func(in RetryInput) { retry[in.Step] = true })
	retries := workflow.GetSignalChannel(ctx, SignalRetry)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var in RetryInput
			if !retries.Receive(ctx, &in) {
				return
			}
			retry[in.Step] = true
		}
	})
	if err := workflow.Sleep(ctx, time.Second); err != nil {
		return err
	}
	workflow.GetSignalChannel(ctx, SignalLift).(workflow.Channel).SendAsync(LiftInput{Reason: "all tested negative", By: "district-hq"})
	retries.(workflow.Channel).SendAsync(RetryInput{Step: "compliance-check", By: "district-hq"})
	return continueAsNewWhenQuiet(ctx, canPlan{name: SealCompoundName, inbox: b, next: func() any {
		return SealCompoundInput{Incident: "xd-0403", Resume: &SealState{Lift: lift, Retries: pendingRetries(retry)}}
	}})
}

// A lift and a retry that arrive with the workflow task in which a step
// decides to continue as new travel into the next run's input.
func TestContinueAsNewCarriesWhatArrivedWithTheTask(t *testing.T) {
	st := newSealTest(t)
	st.env.RegisterWorkflow(canProbe)
	st.env.ExecuteWorkflow(canProbe)
	var can *workflow.ContinueAsNewError
	if err := st.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("canProbe() error = %v, want a ContinueAsNewError", err)
	}
	var next SealCompoundInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Resume == nil {
		t.Fatal("next run's Resume = nil, want the carried state")
	}
	if l := next.Resume.Lift; l == nil || l.By != "district-hq" {
		t.Errorf("next run's Resume.Lift = %+v, want the lift by district-hq", l)
	}
	if got := next.Resume.Retries; !slices.Equal(got, []string{"compliance-check"}) {
		t.Errorf("next run's Resume.Retries = %v, want [compliance-check]", got)
	}
}

// Free text in operators' updates is bounded: two skip reasons of 950 KB
// once made the next continue-as-new exceed the server's input limit and
// terminated the response. They are refused, naming the field, and a
// reason at the limit is taken.
func TestResponseRefusesLongText(t *testing.T) {
	rt := newResponseTest(t, stallingRunbook)
	sweepFailsUntil(rt, new(atomic.Bool))
	huge := strings.Repeat("x", 950<<10)
	first := rt.UpdateAt(time.Hour, UpdateSkip, StepAction{Step: "sweep", Reason: huge, By: "district-hq"})
	second := rt.UpdateAt(time.Hour, UpdateSkip, StepAction{Step: "tell-schools", Reason: huge, By: "district-hq"})
	byLong := rt.UpdateAt(time.Hour, UpdateLift, LiftInput{Reason: "done", By: huge})
	atLimit := rt.UpdateAt(2*time.Hour, UpdateSkip, StepAction{Step: "sweep", Reason: strings.Repeat("y", MaxText), By: "district-hq"})
	rt.Run(testResponseInput())
	if _, err := rt.Result(); err != nil {
		t.Fatalf("Response() error = %v", err)
	}
	for name, o := range map[string]*updateOutcome{"first skip": first, "second skip": second} {
		if o.Rejected == nil || !strings.Contains(o.Rejected.Error(), "reason: 972800 bytes, at most 2048") {
			t.Errorf("%s: rejected %v, want a rejection naming reason and its size", name, o.Rejected)
		}
	}
	if byLong.Rejected == nil || !strings.HasPrefix(byLong.Rejected.Error(), "by:") {
		t.Errorf("lift with a long by: rejected %v, want a rejection naming by", byLong.Rejected)
	}
	if !atLimit.Accepted || atLimit.Err != nil {
		t.Errorf("skip with a reason of %d bytes: accepted %v, rejected %v, error %v; want accepted", MaxText, atLimit.Accepted, atLimit.Rejected, atLimit.Err)
	}
	events := rt.Events()
	var full bool
	for _, e := range events {
		if e.Step == "sweep" && e.State == StateSkipped && len(e.Reason) == MaxText {
			full = true
		}
	}
	if !full {
		t.Errorf("event log has no skip of sweep with the whole %d-byte reason", MaxText)
	}
}

// carryProbe continues as new the way the response does, with a tree whose
// free text fills more than the budget.
func carryProbe(ctx workflow.Context, nodes int) error {
	root := &Node{Type: "sequence"}
	for i := range nodes {
		root.Children = append(root.Children, &Node{Path: fmt.Sprintf("seal/compound-%d", i), Type: KindSeal,
			Detail: strings.Repeat("d", MaxText), LastError: strings.Repeat("e", MaxText)})
	}
	return workflow.NewContinueAsNewError(ctx, ResponseName, carry(ctx, func() any {
		return ResponseInput{Incident: "xd-0403", Resume: &ResponseState{Progress: ResponseProgress{Root: root}}}
	}, func() { shrinkTree(root, 0) }))
}

// A response whose state passes the carry budget still continues as new,
// with its free text cut to short forms.
func TestResponseContinueAsNewOverBudget(t *testing.T) {
	st := newSealTest(t)
	st.env.RegisterWorkflow(carryProbe)
	st.env.ExecuteWorkflow(carryProbe, 100) // about 400 KiB of text
	var can *workflow.ContinueAsNewError
	if err := st.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("carryProbe() error = %v, want a ContinueAsNewError", err)
	}
	size := 0
	for _, p := range can.Input.GetPayloads() {
		size += len(p.GetData())
	}
	if size > carryBudget {
		t.Errorf("carried input = %d bytes, want at most %d", size, carryBudget)
	}
	var next ResponseInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if n := len(next.Resume.Progress.Root.Children); n != 100 {
		t.Errorf("carried tree has %d steps, want 100", n)
	}
	t.Logf("carried %d bytes from about %d", size, 100*2*MaxText)
}

// Two identical add-area updates sent at once add the area once, with one
// event; the second is answered that the area is already being added. An
// update sent again with the same update ID changes nothing.
func TestResponseConcurrentAddArea(t *testing.T) {
	rt := newResponseTest(t, outbreakRunbook)
	rt.SweepFinds(1, 0, 0)
	rt.Delay["SelectAreas"] = time.Minute
	add := AddAreaInput{Area: "nanpingtou", Reason: "cases next door", By: "district-hq"}
	var outcomes []*updateOutcome
	send := func(id string) {
		o := &updateOutcome{Sent: true}
		outcomes = append(outcomes, o)
		rt.env.UpdateWorkflow(UpdateAddArea, id, &testsuite.TestUpdateCallback{
			OnAccept:   func() { o.Accepted = true },
			OnReject:   func(err error) { o.Rejected = err },
			OnComplete: func(res any, err error) { o.Completed, o.Result, o.Err = true, res, err },
		}, add)
	}
	rt.At(3*time.Hour, func() {
		send("add-1")
		send("add-2")
		send("add-1")
	})
	rt.UpdateAt(8*time.Hour, UpdateDecide, Decision{Step: "approve-lift", Decision: "approve"})
	rt.Run(testResponseInput())
	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response() error = %v", err)
	}
	if len(p.Added) != 1 || p.Added[0].Code != "nanpingtou" {
		t.Errorf("Response().Added = %v, want nanpingtou once", p.Added)
	}
	var added int
	for _, e := range rt.Events() {
		if e.State == "area-added" {
			added++
		}
	}
	if added != 1 {
		t.Errorf("event log has %d area-added events, want 1", added)
	}
	if o := outcomes[0]; !o.Accepted || o.Err != nil {
		t.Errorf("first add-area: accepted %v, rejected %v, error %v; want accepted", o.Accepted, o.Rejected, o.Err)
	}
	if o := outcomes[1]; o.Accepted || o.Rejected == nil || !strings.Contains(o.Rejected.Error(), "nanpingtou is already being added") {
		t.Errorf("second add-area: accepted %v, rejected %v; want rejected as already being added", o.Accepted, o.Rejected)
	}
	if got := len(rt.Calls("Reopen")); got != 5 {
		t.Errorf("Reopen called %d times, want 5 (3 + the 2 added once)", got)
	}
	// The same update ID again is the same update: its answer is the
	// first's, and the counts above show it added nothing.
	if o := outcomes[2]; !o.Completed || o.Err != nil || o.Result.(activities.Area).Code != "nanpingtou" {
		t.Errorf("add-area sent again as add-1: %+v, want the first answer (nanpingtou)", *o)
	}
}

// A staff-supply step of 14 hours that continues as new every three
// checks (four times) ends as the same step run in one piece: the same
// outputs, the same calls, acknowledgements signalled across the runs
// counted once each.
func TestStaffSupplyContinuesAsNew(t *testing.T) {
	run := func(limit int) (StepResult, map[string]int, int) {
		st, _ := newSupplyTest(t, 0)
		runs := &runLog{}
		st.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{runs}})
		in := supplyInput()
		in.Params["duration"] = "14h"
		in.HistoryLimit = limit
		parent := func(ctx workflow.Context, in StepInput) (StepResult, error) {
			var res StepResult
			err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: "response/xd-0403/staff"}),
				StaffSupplyStepName, in).Get(ctx, &res)
			return res, err
		}
		for _, sig := range []struct {
			at time.Duration
			id int64
		}{{10 * time.Minute, 1}, {3*time.Hour + 10*time.Minute, 2}, {6 * time.Hour, 1}, {9*time.Hour + 5*time.Minute, 3}} {
			st.At(sig.at, func() {
				if err := st.env.SignalWorkflowByID("response/xd-0403/staff", SignalAcknowledged, AcknowledgeInput{Assignment: sig.id}); err != nil {
					t.Errorf("signal acknowledgement %d at %s: %v", sig.id, sig.at, err)
				}
			})
		}
		st.env.RegisterWorkflow(parent)
		st.env.ExecuteWorkflow(parent, in)
		res, err := st.supplyResult()
		if err != nil {
			t.Fatalf("StaffSupplyStep() with history limit %d: error = %v", limit, err)
		}
		calls := map[string]int{}
		for _, c := range st.Calls("") {
			calls[c.Name]++
		}
		return res, calls, len(runs.Runs("/staff"))
	}
	whole, wholeCalls, wholeRuns := run(0)
	split, splitCalls, splitRuns := run(3 * eventsPerSupplyCheck)
	t.Logf("%d runs; outputs %v", splitRuns, split.Outputs)
	if wholeRuns != 1 || splitRuns < 4 {
		t.Errorf("runs = %d in one piece, %d split; want 1 and at least 4", wholeRuns, splitRuns)
	}
	if !maps.Equal(whole.Outputs, split.Outputs) || whole.Detail != split.Detail {
		t.Errorf("split StaffSupplyStep() = %v %q, want as in one piece: %v %q", split.Outputs, split.Detail, whole.Outputs, whole.Detail)
	}
	if !maps.Equal(wholeCalls, splitCalls) {
		t.Errorf("split run's activity calls = %v, want as in one piece: %v", splitCalls, wholeCalls)
	}
}

// A testing round of 7 hours checked every 15 minutes that continues as new
// every six checks (four times) ends as the same round run in one piece:
// the same outputs and the same calls, a retry signalled on the way
// included.
func TestMassTestingContinuesAsNewUnderAParent(t *testing.T) {
	run := func(limit int) (StepResult, map[string]int, int) {
		tt := newTestingTest(t)
		tt.Sampled = atRate(900)
		runs := &runLog{}
		tt.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{runs}})
		in := testingInput()
		in.HistoryLimit = limit
		parent := func(ctx workflow.Context, in StepInput) (StepResult, error) {
			var res StepResult
			err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: "response/xd-0403/round"}),
				MassTestingStepName, in).Get(ctx, &res)
			return res, err
		}
		tt.At(90*time.Minute, func() {
			if err := tt.env.SignalWorkflowByID("response/xd-0403/round", SignalRetry, RetryInput{Step: "check", By: "district-hq"}); err != nil {
				t.Errorf("signal retry: %v", err)
			}
		})
		tt.env.RegisterWorkflow(parent)
		tt.env.ExecuteWorkflow(parent, in)
		var res StepResult
		if err := tt.env.GetWorkflowError(); err != nil {
			t.Fatalf("MassTestingStep() with history limit %d: error = %v", limit, err)
		}
		if err := tt.env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		calls := map[string]int{}
		for _, c := range tt.Calls("") {
			calls[c.Name]++
		}
		return res, calls, len(runs.Runs("/round"))
	}
	whole, wholeCalls, wholeRuns := run(0)
	split, splitCalls, splitRuns := run(6 * eventsPerCheck)
	if wholeRuns != 1 || splitRuns < 4 {
		t.Errorf("runs = %d in one piece, %d split; want 1 and at least 4", wholeRuns, splitRuns)
	}
	if !maps.Equal(whole.Outputs, split.Outputs) || whole.Detail != split.Detail {
		t.Errorf("split MassTestingStep() = %v %q, want as in one piece: %v %q", split.Outputs, split.Detail, whole.Outputs, whole.Detail)
	}
	if !maps.Equal(wholeCalls, splitCalls) {
		t.Errorf("split round's activity calls = %v, want as in one piece: %v", splitCalls, wholeCalls)
	}
}

// Two decisions sent at once for one approval: the first is taken, the
// second refused, and the event log has one decision.
func TestResponseConcurrentDecide(t *testing.T) {
	rt := newResponseTest(t, outbreakRunbook)
	rt.SweepFinds(1, 0, 0)
	var first, second *updateOutcome
	rt.At(5*time.Hour, func() {
		first = rt.Update(UpdateDecide, Decision{Step: "approve-lift", Decision: "approve", By: "district-hq"})
		second = rt.Update(UpdateDecide, Decision{Step: "approve-lift", Decision: "reject", By: "deputy"})
	})
	rt.Run(testResponseInput())
	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response() error = %v", err)
	}
	if !first.Accepted || first.Err != nil {
		t.Errorf("first decision: accepted %v, rejected %v, error %v; want accepted", first.Accepted, first.Rejected, first.Err)
	}
	if second.Accepted || second.Rejected == nil {
		t.Errorf("second decision: accepted %v, rejected %v; want refused", second.Accepted, second.Rejected)
	}
	if got := rt.EventStates("approve-lift"); slices.Contains(got, "rejected") || !slices.Contains(got, "approved") {
		t.Errorf("event log of approve-lift = %v, want one approval and no rejection", got)
	}
	if p.State != ResponseClosed {
		t.Errorf("Response().State = %q, want %q", p.State, ResponseClosed)
	}
}
