package workflows

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
)

// The areas of the response tests: Longbao community with three compounds,
// and its neighbour Nanpingtou with two, for add-area.
var (
	testCommunity = activities.Area{ID: 10, Code: "longbao", Name: "Longbao", Path: "xiaodian/beiying/longbao", Level: "community"}
	testNeighbour = activities.Area{ID: 20, Code: "nanpingtou", Name: "Nanpingtou", Path: "xiaodian/beiying/nanpingtou", Level: "community"}

	testCompounds = map[string][]activities.Area{
		testCommunity.Path: {
			{ID: 42, Code: "longbao-jiayuan", Name: "Longbao Jiayuan", Path: "xiaodian/beiying/longbao/longbao-jiayuan", Level: "compound"},
			{ID: 43, Code: "longbao-xinyuan", Name: "Longbao Xinyuan", Path: "xiaodian/beiying/longbao/longbao-xinyuan", Level: "compound"},
			{ID: 44, Code: "longbao-yayuan", Name: "Longbao Yayuan", Path: "xiaodian/beiying/longbao/longbao-yayuan", Level: "compound"},
		},
		testNeighbour.Path: {
			{ID: 51, Code: "nanpingtou-1", Name: "Nanpingtou No. 1", Path: "xiaodian/beiying/nanpingtou/nanpingtou-1", Level: "compound"},
			{ID: 52, Code: "nanpingtou-2", Name: "Nanpingtou No. 2", Path: "xiaodian/beiying/nanpingtou/nanpingtou-2", Level: "compound"},
		},
	}
)

// testResponseInput opens a response over Longbao with the test runbook.
func testResponseInput() ResponseInput {
	return ResponseInput{Incident: "xd-0403", Runbook: "test-outbreak", Area: "longbao", RequestedBy: "district-hq"}
}

// responseTest is one Response run in the SDK's test environment, with its
// step workflows (seals, notices, sweeps, approvals) running as children in
// the same environment. It builds on sealTest: the seal's activities have
// the same fakes, and calls, delays and updates work the same way. The
// runbook is the YAML in Source, returned by the fake OpenResponse.
type responseTest struct {
	*sealTest
	Source string

	OpenResponse     func(activities.OpenResponseInput) (activities.OpenResponseResult, error)
	SelectAreas      func(activities.SelectAreasInput) ([]activities.Area, error)
	SetResponseState func(activities.ResponseStateInput) error
	ComplianceSweep  func(activities.SweepInput) (activities.SweepResult, error)
	// CountNotices answers the response's reading of its notice counts;
	// by default there are none.
	CountNotices func(incident string) (map[string]int, error)

	sweepMu sync.Mutex
	sweeps  int
}

// newResponseTest builds a test environment with every workflow registered
// as the worker registers it and every activity answering as a healthy
// store would: OpenResponse returns source, SelectAreas the compounds of
// testCompounds, PlanSeal a plan of the asked compound, sweeps find
// nothing wrong.
func newResponseTest(t *testing.T, source string) *responseTest {
	t.Helper()
	rt := &responseTest{sealTest: newSealTest(t), Source: source}
	rt.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: ResponseWorkflowID("xd-0403")})
	// A response that never ends fails after ten days of workflow time
	// instead of spinning.
	rt.env.SetWorkflowRunTimeout(10 * 24 * time.Hour)

	// As the activity does: the runbook is parsed against the step kinds
	// when the response opens, and the definition returned.
	rt.OpenResponse = func(in activities.OpenResponseInput) (activities.OpenResponseResult, error) {
		def, err := runbook.Parse(in.Runbook+" version 3", []byte(rt.Source), Kinds)
		if err != nil {
			return activities.OpenResponseResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("runbook %s version 3 does not validate: %v", in.Runbook, err), activities.ErrBadInput, nil)
		}
		if def.Area != "" && def.Area != testCommunity.Level {
			return activities.OpenResponseResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("runbook %s is for a %s, and %s is a %s", def.Name, def.Area, testCommunity.Code, testCommunity.Level), activities.ErrBadInput, nil)
		}
		return activities.OpenResponseResult{Runbook: in.Runbook, Version: 3, Title: "Test outbreak", Source: rt.Source, Area: testCommunity, Definition: def}, nil
	}
	rt.SelectAreas = func(in activities.SelectAreasInput) ([]activities.Area, error) {
		if len(in.Codes) > 0 {
			var out []activities.Area
			for _, c := range in.Codes {
				if ar, ok := areaByCode(c); ok {
					out = append(out, ar)
				}
			}
			return out, nil
		}
		return testCompounds[in.Under], nil
	}
	rt.SetResponseState = func(activities.ResponseStateInput) error { return nil }
	rt.CountNotices = func(string) (map[string]int, error) { return map[string]int{}, nil }
	rt.ComplianceSweep = func(activities.SweepInput) (activities.SweepResult, error) {
		return activities.SweepResult{Checked: 9}, nil
	}
	rt.PlanSeal = func(in activities.PlanSealInput) (activities.PlanSealResult, error) {
		p := testCompound
		if ar, ok := areaByCode(in.Compound); ok {
			p.AreaID, p.Code, p.Name, p.Path = ar.ID, ar.Code, ar.Name, ar.Path
		}
		return p, nil
	}

	st := rt.sealTest
	mockActivity(st, a.OpenResponse, "OpenResponse", func() func(activities.OpenResponseInput) (activities.OpenResponseResult, error) {
		return rt.OpenResponse
	})
	mockActivity(st, a.SelectAreas, "SelectAreas", func() func(activities.SelectAreasInput) ([]activities.Area, error) { return rt.SelectAreas })
	mockActivity(st, a.ComplianceSweep, "ComplianceSweep", func() func(activities.SweepInput) (activities.SweepResult, error) {
		return rt.ComplianceSweep
	})
	mockActivity(st, a.CountNotices, "CountNotices", func() func(string) (map[string]int, error) { return rt.CountNotices })
	st.mockErrActivity(a.SetResponseState, "SetResponseState", func(ctx context.Context, in activities.ResponseStateInput) error {
		st.record("SetResponseState", in)
		return rt.SetResponseState(in)
	})
	return rt
}

func areaByCode(code string) (activities.Area, bool) {
	for _, ar := range []activities.Area{testCommunity, testNeighbour} {
		if ar.Code == code {
			return ar, true
		}
	}
	for _, under := range testCompounds {
		for _, ar := range under {
			if ar.Code == code {
				return ar, true
			}
		}
	}
	return activities.Area{}, false
}

// SweepFinds makes the compliance sweeps find these numbers of failed
// checks, one sweep after another; later sweeps find the last number.
func (rt *responseTest) SweepFinds(failed ...int) {
	rt.ComplianceSweep = func(activities.SweepInput) (activities.SweepResult, error) {
		rt.sweepMu.Lock()
		defer rt.sweepMu.Unlock()
		f := failed[min(rt.sweeps, len(failed)-1)]
		rt.sweeps++
		return activities.SweepResult{Checked: 9, Failed: f}, nil
	}
}

// Run runs the Response workflow to its end: completion, failure or
// continue-as-new.
func (rt *responseTest) Run(in ResponseInput) {
	rt.t.Helper()
	rt.env.ExecuteWorkflow(ResponseName, in)
	if !rt.env.IsWorkflowCompleted() {
		rt.t.Fatalf("Response did not complete")
	}
}

// Progress answers the progress query now.
func (rt *responseTest) Progress() ResponseProgress {
	rt.t.Helper()
	var p ResponseProgress
	v, err := rt.env.QueryWorkflow(QueryProgress)
	if err != nil {
		rt.t.Errorf("QueryWorkflow(%s) at %s: %v", QueryProgress, rt.env.Now().Sub(testStart), err)
		return p
	}
	if err := v.Get(&p); err != nil {
		rt.t.Errorf("decode progress: %v", err)
	}
	return p
}

// ProgressAt keeps the progress when the workflow clock is d past testStart.
func (rt *responseTest) ProgressAt(d time.Duration) *ResponseProgress {
	p := &ResponseProgress{}
	rt.At(d, func() { *p = rt.Progress() })
	return p
}

// Result returns the workflow's result and error.
func (rt *responseTest) Result() (ResponseProgress, error) {
	rt.t.Helper()
	var p ResponseProgress
	if err := rt.env.GetWorkflowError(); err != nil {
		return p, err
	}
	if err := rt.env.GetWorkflowResult(&p); err != nil {
		rt.t.Fatalf("GetWorkflowResult: %v", err)
	}
	return p, nil
}

// Events returns the response's event log entries (RecordEvent calls of
// the response itself, not of its steps) in order.
func (rt *responseTest) Events() []domain.Event {
	var out []domain.Event
	for _, e := range inputs[domain.Event](rt.sealTest, "RecordEvent") {
		if e.WorkflowID == ResponseWorkflowID("xd-0403") {
			out = append(out, e)
		}
	}
	return out
}

// EventStates lists the states the event log recorded for a step.
func (rt *responseTest) EventStates(step string) []string {
	var out []string
	for _, e := range rt.Events() {
		if e.Step == step {
			out = append(out, e.State)
		}
	}
	return out
}

// Notices returns the PublishNotice calls whose kind starts with prefix.
func (rt *responseTest) Notices(prefix string) []activityCall {
	var out []activityCall
	for _, c := range rt.Calls("PublishNotice") {
		if strings.HasPrefix(c.Input.(activities.NoticeInput).Kind, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// AnswerSignalsOfGoneChildren stands in for step workflows that live on
// outside this environment (a previous run's children after
// continue-as-new): a lift signal to one is answered as a lifted seal
// would answer, by a final step report to the response.
func (rt *responseTest) AnswerSignalsOfGoneChildren() {
	prefix := ResponseWorkflowID("xd-0403") + "/"
	rt.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(namespace, workflowID, runID, signalName string, arg any) error {
			rt.record("Signal "+signalName, workflowID)
			if signalName == SignalLift {
				rt.env.SignalWorkflow(SignalStepReport, StepReport{
					Path: strings.TrimPrefix(workflowID, prefix), State: StateDone, Final: true, Detail: "lifted",
				})
			}
			return nil
		}).Maybe()
}

// leafStates maps the path of every leaf step that has started to its
// state, with "+held" for a seal that holds. Steps still pending are left
// out: the response may list them before they run, or only when they start.
func leafStates(p ResponseProgress) map[string]string {
	out := map[string]string{}
	for _, n := range p.Leaves() {
		if notStarted(*n) {
			continue
		}
		s := n.State
		if n.Held {
			s += "+held"
		}
		out[n.Path] = s
	}
	return out
}

// nodeOf returns the node at path, or an empty node named "(missing)" so
// that a failed check reads well.
func nodeOf(p ResponseProgress, path string) Node {
	if n := p.Find(path); n != nil {
		return *n
	}
	return Node{Path: path, State: "(missing)"}
}

// notStarted reports whether a node (from nodeOf) is pending or not in
// the tree yet.
func notStarted(n Node) bool {
	return (n.State == StatePending || n.State == "(missing)") && n.StartedAt.IsZero() && n.WorkflowID == ""
}

// states renders a map of states sorted by key, for failure messages.
func states(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b.WriteString("\n\t" + k + ": " + m[k])
	}
	return b.String()
}

// noticeKinds lists the kinds of notices, in call order.
func noticeKinds(calls []activityCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Input.(activities.NoticeInput).Kind)
	}
	return out
}

// sealedCompounds lists the compounds PlanSeal was asked for, sorted.
func (rt *responseTest) sealedCompounds() []string {
	var out []string
	for _, in := range inputs[activities.PlanSealInput](rt.sealTest, "PlanSeal") {
		out = append(out, in.Compound)
	}
	sort.Strings(out)
	return out
}
