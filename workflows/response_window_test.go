package workflows

import (
	"fmt"
	"strings"
	"testing"

	"github.com/musterhq/muster/activities"
)

// manyAreasRunbook tells the residents of every compound of the community.
const manyAreasRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: tell
    for_each:
      areas:
        level: compound
      steps:
        - id: tell-compound
          kind: notice
          params:
            audience: residents
            topic: stay-home
            body: "{area}: stay at home."
`

// A for_each over many areas starts their steps through the window: no
// more than startWindow child starts are pending at once, and every area
// still runs to its end, its current details saying so.
func TestResponseForEachStartsThroughWindow(t *testing.T) {
	const areas = 3*startWindow + 7
	rt := newResponseTest(t, manyAreasRunbook)
	rt.SelectAreas = func(activities.SelectAreasInput) ([]activities.Area, error) {
		var out []activities.Area
		for i := range areas {
			code := fmt.Sprintf("compound-%03d", i)
			out = append(out, activities.Area{ID: int64(1000 + i), Code: code, Name: "Compound " + code,
				Path: testCommunity.Path + "/" + code, Level: "compound"})
		}
		return out, nil
	}
	peak := 0
	startsPending = func(n int) { peak = max(peak, n) }
	t.Cleanup(func() { startsPending = nil })
	rt.Run(testResponseInput())
	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response() error = %v", err)
	}
	if peak > startWindow {
		t.Errorf("%d child starts pending at once, want at most %d", peak, startWindow)
	}
	if peak == 0 {
		t.Errorf("no child start seen")
	}
	done := 0
	for path, state := range leafStates(p) {
		if state != StateDone {
			t.Errorf("%s: %s, want done", path, state)
		}
		done++
	}
	if done != areas {
		t.Errorf("%d steps done, want %d", done, areas)
	}
	// The details the Web UI shows are those of the end.
	if got, want := currentDetails(t, rt.sealTest), fmt.Sprintf("Steps: %d done\n", areas); !strings.Contains(got, want) {
		t.Errorf("current details:\n%s\nwant them to say %q", got, want)
	}
}
