package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
)

// headcount is a step kind of the tests only, added the way
// docs/adding-a-step-kind.md describes: one kind value with its spec and
// its workflow, built on the step core, and one entry in the list of kinds
// (useKinds stands in for the line in kinds.go). headcounter stands in for
// its activities in activities/.
const (
	kindHeadcount     = "headcount"
	headcountStepName = "HeadcountStep"
)

var headcountKind = kind{
	spec: runbook.Kind{
		Name: kindHeadcount,
		Doc:  "Count the people of the area from its households.",
		Params: map[string]runbook.Param{
			"per_household": {Type: runbook.TypeInt, Default: 3, Doc: "people counted per household"},
		},
		Outputs: []string{"people"},
	},
	workflow: headcountStep, name: headcountStepName,
}

// headcountInput is what countHeads is asked.
type headcountInput struct {
	Ref          activities.StepRef
	Area         string
	PerHousehold int
}

// headcountStep counts the people of its area with one activity, run by
// the step runner: retries, stalls and reports to the response come with
// the step core.
func headcountStep(ctx workflow.Context, in StepInput) (StepResult, error) {
	sw := newStepWorkflow(ctx, in)
	var people int
	err := sw.r.run(ctx, "count", "Count the people of "+in.Area.Name, "CountHeads",
		headcountInput{Ref: sw.ref("muster"), Area: in.Area.Code, PerHousehold: paramInt(in.Params, "per_household")}, &people,
		func() string { return fmt.Sprintf("%d people", people) })
	return sw.finish(ctx, StepResult{Outputs: map[string]float64{"people": float64(people)}, Detail: fmt.Sprintf("%d people", people)}, err)
}

// headcounter stands in for the kind's activities: the households of the
// test compounds, and a first attempt for Longbao Xinyuan that fails as a
// database that is briefly away would.
type headcounter struct {
	mu     sync.Mutex
	failed bool
}

var households = map[string]int{"longbao-jiayuan": 500, "longbao-xinyuan": 300, "longbao-yayuan": 200}

func (h *headcounter) CountHeads(_ context.Context, in headcountInput) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if in.Area == "longbao-xinyuan" && !h.failed {
		h.failed = true
		return 0, errors.New("connection refused")
	}
	return households[in.Area] * in.PerHousehold, nil
}

// useKinds makes the step kinds those listed, for the test's duration, as
// if kinds.go listed them. A test that calls it must not run in parallel.
func useKinds(t *testing.T, list ...kind) {
	t.Helper()
	saved, savedKinds, savedIndex := kinds, Kinds, stepKinds
	t.Cleanup(func() { kinds, Kinds, stepKinds = saved, savedKinds, savedIndex })
	kinds = list
	Kinds, stepKinds = kindRegistry(kinds), kindIndex(kinds)
}

const headcountRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: census
    for_each:
      areas:
        level: compound
      steps:
        - id: count
          kind: headcount
          params:
            per_household: 2
  - id: tell
    kind: notice
    params:
      audience: residents
      topic: counted
      body: "{area} is counted"
`

// TestAddedKind runs a response with a kind added in one list entry: the
// validator knows its parameters, the worker registers its workflow, the
// response runs a step of it per compound and takes its outputs, and a
// failed attempt of its activity is retried by the step core.
func TestAddedKind(t *testing.T) {
	useKinds(t, append(slices.Clone(kinds), headcountKind)...)

	if _, err := runbook.Parse("typo", []byte(strings.Replace(headcountRunbook, "per_household", "per_houshold", 1)), Kinds); err == nil ||
		!strings.Contains(err.Error(), "per_houshold") {
		t.Errorf("Parse with a misspelt headcount parameter = %v, want an error naming it", err)
	}

	rt := newResponseTest(t, headcountRunbook)
	counter := &headcounter{}
	rt.env.RegisterActivity(counter)
	rt.Run(testResponseInput())
	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response = %v", err)
	}
	if p.State != ResponseClosed {
		t.Errorf("response state = %s, want %s", p.State, ResponseClosed)
	}
	want := map[string]float64{"longbao-jiayuan": 1000, "longbao-xinyuan": 600, "longbao-yayuan": 400}
	for code, people := range want {
		n := p.Find("census/" + code)
		if n == nil {
			t.Errorf("no step census/%s in %v", code, p.Leaves())
			continue
		}
		if n.Type != kindHeadcount || n.State != StateDone || n.Outputs["people"] != people {
			t.Errorf("census/%s = %s %s %v, want a headcount done with people = %g", code, n.Type, n.State, n.Outputs, people)
		}
	}
	if !counter.failed {
		t.Error("CountHeads never failed; want its failed first attempt for longbao-xinyuan retried")
	}
	if tell := p.Find("tell"); tell == nil || tell.State != StateDone {
		t.Errorf("tell = %+v, want done after the census", tell)
	}
}
