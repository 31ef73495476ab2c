package workflows

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/internal/domain"
)

// kindRun is what one run of a response with a single long step gave: the
// step's node at the end, the response's states sampled every half hour,
// the final reports the response took, and the step's runs.
type kindRun struct {
	node    Node
	result  ResponseProgress
	states  map[string]int
	finals  int
	calls   map[string]int
	runs    int
	largest int
}

// runStepUnderResponse runs a response over runbook, whose one step at
// path is a long step, with the steps' history limit stepLimit (0: the
// default), for at most span of workflow time. setup installs the step's
// fakes and any signals.
func runStepUnderResponse(t *testing.T, runbook, path string, stepLimit int, span time.Duration, setup func(rt *responseTest)) kindRun {
	t.Helper()
	rt := newResponseTest(t, runbook)
	runs := watchRuns(rt)
	setup(rt)
	var samples []*ResponseProgress
	for d := 30 * time.Minute; d < span; d += 30 * time.Minute {
		samples = append(samples, rt.ProgressAt(d))
	}
	in := testResponseInput()
	in.StepHistoryLimit = stepLimit
	rt.Run(in)
	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response() with step history limit %d: error = %v", stepLimit, err)
	}
	out := kindRun{node: nodeOf(p, path), result: p, states: map[string]int{}, calls: map[string]int{}}
	for _, s := range samples {
		// A sample taken after the response ended is empty.
		if s.State != "" {
			out.states[s.State]++
		}
	}
	for _, c := range rt.Calls("") {
		out.calls[c.Name]++
	}
	for _, st := range rt.EventStates(path) {
		if terminal(st) {
			out.finals++
		}
	}
	stepRuns := runs.Runs("/" + path)
	out.runs = len(stepRuns)
	for _, r := range stepRuns {
		out.largest = max(out.largest, r.InputSize)
	}
	return out
}

// checkSplitLikeWhole compares a step run under a response in one piece
// with the same step continuing as new at least three times.
func checkSplitLikeWhole(t *testing.T, whole, split kindRun) {
	t.Helper()
	t.Logf("split: %d runs, largest carried input %d bytes; outputs %v; response states sampled %v", split.runs, split.largest, split.node.Outputs, split.states)
	if whole.runs != 1 || split.runs < 4 {
		t.Errorf("step runs = %d in one piece, %d split; want 1 and at least 4 (three continue-as-new)", whole.runs, split.runs)
	}
	for name, r := range map[string]kindRun{"whole": whole, "split": split} {
		if r.result.State != ResponseClosed || r.node.State != StateDone {
			t.Errorf("%s: Response() = %s with the step %s (%s), want closed with the step done", name, r.result.State, r.node.State, r.node.Detail)
		}
		for st, n := range r.states {
			if st != ResponseRunning && st != ResponseHolding {
				t.Errorf("%s: response read %s %d times while the step ran, want running or holding throughout", name, st, n)
			}
		}
		if r.finals != 1 {
			t.Errorf("%s: the response recorded %d final reports of the step, want 1", name, r.finals)
		}
	}
	if !maps.Equal(whole.node.Outputs, split.node.Outputs) || whole.node.Detail != split.node.Detail {
		t.Errorf("split step = %v %q, want as in one piece: %v %q", split.node.Outputs, split.node.Detail, whole.node.Outputs, whole.node.Detail)
	}
	if !maps.Equal(whole.calls, split.calls) {
		t.Errorf("split run's activity calls = %v, want as in one piece: %v", split.calls, whole.calls)
	}
}

const testingOnlyRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: testing
    kind: mass-testing
    params: {deadline: 7h, check_every: 15m, revisit_after: 1h, cohorts: "student,teacher"}
`

// A testing round of 7 hours under a response, continuing as new every six
// checks, ends as the same round run in one piece, a retry signalled on
// the way included; the response runs throughout and takes one final
// report.
func TestResponseMassTestingContinuesAsNew(t *testing.T) {
	run := func(limit int) kindRun {
		return runStepUnderResponse(t, testingOnlyRunbook, "testing", limit, 12*time.Hour, func(rt *responseTest) {
			tt := &testingTest{sealTest: rt.sealTest}
			tt.mockRound()
			tt.Sampled = atRate(900)
			rt.At(90*time.Minute, func() {
				if err := rt.env.SignalWorkflowByID(ResponseWorkflowID("xd-0403")+"/testing", SignalRetry, RetryInput{Step: "check", By: "district-hq"}); err != nil {
					t.Errorf("signal retry: %v", err)
				}
			})
		})
	}
	checkSplitLikeWhole(t, run(0), run(6*eventsPerCheck))
}

const supplyOnlyRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: supply
    kind: staff-supply
    params:
      duration: 14h
      check_every: 1h
      ack_within: 1h
      reassign_rounds: 2
      per_sampling_point: 2
      need: vegetables=0.5
      min_days: 3
      target_days: 7
      delivery_within: 3h
      escalate_after: 4h
      volunteers: 0
`

// A staff-supply step of 14 hours under a response, continuing as new
// every three checks, ends as the same step run in one piece, with the
// acknowledgements signalled across the runs counted once each; the
// response runs throughout and takes one final report.
func TestResponseStaffSupplyContinuesAsNew(t *testing.T) {
	run := func(limit int) kindRun {
		return runStepUnderResponse(t, supplyOnlyRunbook, "supply", limit, 20*time.Hour, func(rt *responseTest) {
			f := mockSupply(rt.sealTest, 0)
			// Two of the first four acknowledge in time, one of them twice
			// (the second time in a later run); a third one too late.
			for _, sig := range []struct {
				at    time.Duration
				id    int64
				staff string
			}{{10 * time.Minute, 1, "teacher-01"}, {20 * time.Minute, 2, "teacher-02"}, {6 * time.Hour, 1, "teacher-01"}, {9*time.Hour + 5*time.Minute, 3, "teacher-03"}} {
				rt.At(sig.at, func() {
					// As the API does: the acknowledgement is recorded in
					// the store, then signalled.
					f.mu.Lock()
					for i, as := range f.assigned {
						if as.id == sig.id && as.staff == sig.staff && as.state == "notified" {
							f.assigned[i].state = "acknowledged"
						}
					}
					f.mu.Unlock()
					if err := rt.env.SignalWorkflowByID(ResponseWorkflowID("xd-0403")+"/supply", SignalAcknowledged, AcknowledgeInput{Assignment: sig.id, Staff: sig.staff}); err != nil {
						t.Errorf("signal acknowledgement %d at %s: %v", sig.id, sig.at, err)
					}
				})
			}
		})
	}
	checkSplitLikeWhole(t, run(0), run(3*eventsPerSupplyCheck))
}

const inspectionOnlyRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: inspect
    kind: inspection-follow-up
    params:
      site_kinds: key-site
      inspectors: 2
      round_deadline: 12h
      rectify_high: 6h
      rectify_medium: 24h
      rectify_low: 72h
      remind_every: 2h
      check_every: 1h
`

// An inspection under a response whose one finding takes a day to rectify,
// continuing as new on the way at least three times, ends as the same
// inspection run in one piece; the response never reads anything but
// running or holding, and takes one final report.
func TestResponseInspectionContinuesAsNew(t *testing.T) {
	run := func(limit int) kindRun {
		return runStepUnderResponse(t, inspectionOnlyRunbook, "inspect", limit, 30*time.Hour, func(rt *responseTest) {
			it := &inspectionTest{t: t, env: rt.env, fake: mockInspections(rt.env)}
			step := ResponseWorkflowID("xd-0403") + "/inspect"
			for i, s := range allSites {
				var fs []domain.NewFinding
				if s == "qinxian-key-02" {
					fs = []domain.NewFinding{{Category: "staffing", Severity: "low", Description: "night shift missing"}}
				}
				it.update(time.Duration(i+1)*time.Minute, step, UpdateReportSite, ReportSiteInput{Site: s, Findings: fs})
			}
			fid := FindingWorkflowID("xd-0403", 1)
			it.update(20*time.Hour, fid, UpdateRectify, RectifyInput{By: "qinxian-office", Note: "night shift staffed"})
			it.update(21*time.Hour, fid, UpdateReinspect, ReinspectInput{By: "inspector-02", Passed: true})
		})
	}
	checkSplitLikeWhole(t, run(0), run(60))
}

// A low finding left for days: reminders every 2 hours, overdue at 72 h,
// rectified on day 2, failed at re-inspection, reopened, overdue again and
// closed on day 7. Continuing as new every ten reminders or so, it ends as
// the same finding followed in one piece: the same status, the same calls,
// the same reminders numbered on without a gap or a repeat.
func TestFindingContinuesAsNew(t *testing.T) {
	type outcome struct {
		status  string
		calls   map[string]int
		notices []string
		runs    int
		largest int
	}
	fid := FindingWorkflowID("xd-0403", 3)
	run := func(limit int) outcome {
		it := newInspectionTest(t)
		runs := &runLog{}
		it.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{runs}})
		it.fake.findings[3] = &domain.Finding{ID: 3, Incident: "xd-0403", Source: "inspection", Site: "qinxian-key-01", SubDistrict: "qinxian",
			Unit: "market-regulation", Category: "registration", Severity: "low", Description: "visitor register incomplete",
			Inspector: "inspector-02", State: domain.FindingOpen}
		parent := func(ctx workflow.Context, in FindingInput) (FindingStatus, error) {
			var res FindingStatus
			err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: fid}),
				FindingFollowUpName, in).Get(ctx, &res)
			return res, err
		}
		it.update(30*time.Hour, fid, UpdateRectify, RectifyInput{By: "market-regulation", Note: "register kept"})
		it.update(31*time.Hour, fid, UpdateReinspect, ReinspectInput{By: "inspector-02", Passed: false, Note: "two pages missing"})
		it.update(110*time.Hour, fid, UpdateRectify, RectifyInput{})
		it.update(160*time.Hour, fid, UpdateReinspect, ReinspectInput{By: "inspector-02", Passed: true})
		it.env.RegisterWorkflow(parent)
		it.env.ExecuteWorkflow(parent, FindingInput{Incident: "xd-0403", Finding: *it.fake.findings[3], DeadlineHours: 72,
			RemindEveryHours: 2, HistoryLimit: limit})
		if err := it.env.GetWorkflowError(); err != nil {
			t.Fatalf("FindingFollowUp() with history limit %d: error = %v", limit, err)
		}
		var res FindingStatus
		if err := it.env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(res)
		out := outcome{status: string(b), calls: map[string]int{}}
		for _, c := range it.fake.notices {
			out.notices = append(out.notices, c.Kind)
		}
		out.calls["talks"] = len(it.fake.talks)
		out.calls["overdue"] = len(it.fake.overdue)
		out.calls["notices"] = len(it.fake.notices)
		for _, r := range runs.Runs(fid) {
			out.runs++
			out.largest = max(out.largest, r.InputSize)
		}
		return out
	}
	whole := run(0)
	split := run(10 * eventsPerFindingWait)
	t.Logf("split: %d runs, largest carried input %d bytes; %d notices; status %s", split.runs, split.largest, len(split.notices), split.status)
	if whole.runs != 1 || split.runs < 4 {
		t.Errorf("finding runs = %d in one piece, %d split; want 1 and at least 4 (three continue-as-new)", whole.runs, split.runs)
	}
	if whole.status != split.status {
		t.Errorf("split FindingFollowUp() = %s\nwant as in one piece: %s", split.status, whole.status)
	}
	if !maps.Equal(whole.calls, split.calls) {
		t.Errorf("split finding's calls = %v, want as in one piece: %v", split.calls, whole.calls)
	}
	if !slices.Equal(whole.notices, split.notices) {
		t.Errorf("split finding's notices = %v\nwant as in one piece: %v", split.notices, whole.notices)
	}
	if len(whole.notices) < 60 || !strings.Contains(whole.status, `"Reopened":1`) || !strings.Contains(whole.status, `"closed"`) {
		t.Errorf("finding in one piece: %d notices, status %s; want about 80 reminders, reopened once, closed", len(whole.notices), whole.status)
	}
}
