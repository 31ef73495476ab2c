package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/mocks"

	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/workflows"
)

// ridge is a community of 1,200 residents in three compounds with two
// sampling points of 100 and 50 an hour: 8 hours of work at the least.
const ridge = `
name: ridge
generate_residents: {seed: 7, home_visit_share: 0}
areas:
  - code: rdg
    name: Ridge District
    level: district
    areas:
      - code: ridge
        name: Ridge Community
        level: community
        sites:
          - {code: ridge-p1, name: Ridge point 1, kind: sampling-point, capacity_per_hour: 100}
          - {code: ridge-p2, name: Ridge point 2, kind: sampling-point, capacity_per_hour: 50}
        areas:
          - {code: ridge-a, name: Ridge A, level: compound, population: 500, buildings: 5, gates: [{code: main, name: Main gate, entrance: true}]}
          - {code: ridge-b, name: Ridge B, level: compound, population: 400, buildings: 4, gates: [{code: main, name: Main gate, entrance: true}]}
          - {code: ridge-c, name: Ridge C, level: compound, population: 300, buildings: 3, gates: [{code: main, name: Main gate, entrance: true}]}
`

// respond warns before the response starts when a testing round of the
// runbook cannot finish by its deadline with the area's points, naming the
// area, the projected finish and the points that would meet it; a round
// that fits says nothing.
func TestRespondWarnsOfShortTestingCapacity(t *testing.T) {
	ctx := context.Background()
	f, err := scenario.Parse("ridge.yaml", []byte(ridge))
	if err != nil {
		t.Fatal(err)
	}
	s := pgtest.New(t)
	if _, err := s.LoadScenario(ctx, f.Rows()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		deadline string
		want     []string
	}{
		{"5h", []string{"Testing: step testing/test over Ridge Community (ridge)", "the plan finishes after 8h, past its 5h deadline", "1200 residents come to 2 sampling points (150 an hour together)",
			"(100 an hour) finishes last", "2 more sampling point(s) of 75 an hour would finish it"}},
		{"9h", nil},
	}
	for _, tc := range tests {
		t.Run(tc.deadline, func(t *testing.T) {
			name := "cap-" + strings.TrimSuffix(tc.deadline, "h")
			src := "name: " + name + "\ntitle: T\nlevel: 1\nsteps:\n  - id: testing\n    repeat:\n      max: 2\n      until: {output: positives, equals: 0}\n      steps:\n        - id: test\n          kind: mass-testing\n          params: {deadline: " + tc.deadline + "}\n"
			if _, _, err := s.PublishRunbook(ctx, name, "T", []byte(src), "test"); err != nil {
				t.Fatalf("PublishRunbook() error = %v", err)
			}
			c := &mocks.Client{}
			c.On("DescribeWorkflow", mock.Anything, mock.Anything, mock.Anything).Return(nil, errors.New("not found")).Maybe()
			c.On("ExecuteWorkflow", mock.Anything, mock.Anything, workflows.ResponseName, mock.Anything).Return(&mocks.WorkflowRun{}, nil).Maybe()
			var out bytes.Buffer
			a := &app{out: &out, errOut: &out, st: s, tc: c}
			in := workflows.ResponseInput{Incident: "cap-" + tc.deadline, Area: "ridge", RequestedBy: "test", TimeScale: 1}
			if err := a.respond(ctx, in, name); err != nil {
				t.Fatalf("respond() error = %v; output %q", err, out.String())
			}
			got := out.String()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("respond() output = %q, want it to contain %q", got, w)
				}
			}
			if tc.want == nil && strings.Contains(got, "Testing:") {
				t.Errorf("respond() output = %q, want no testing warning", got)
			}
			if !strings.Contains(got, "Opened response/") {
				t.Errorf("respond() output = %q, want the response opened after the warning", got)
			}
		})
	}
}
