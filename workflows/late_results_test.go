package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
)

// Results recorded against a round after it closed (late results) are the
// step's late_results output. With await_late the step stays after the
// close and counts them every check_every, its outputs following the
// database; without it the figures are those of the close.
func TestMassTestingLateResults(t *testing.T) {
	const sampled = 6800
	// late is how many results arrived after the close at 7h: 100 an
	// hour, up to 150, one of them positive from the first hundred.
	late := func(d time.Duration) int { return min(max(int(100*(d-7*time.Hour).Hours()), 0), 150) }
	tally := func(tt *testingTest) func(activities.RoundRef) (activities.CloseRoundResult, error) {
		return func(activities.RoundRef) (activities.CloseRoundResult, error) {
			c := tt.closed(0)
			n := late(tt.elapsed())
			c.Sampled, c.Missing, c.LateResults = c.Sampled+n, c.Missing-n, n
			if n >= 100 {
				c.Positives++
			}
			return c, nil
		}
	}
	tests := []struct {
		name      string
		awaitLate string
		want      map[string]float64
		tallies   int
	}{
		{"without await_late the close's figures", "", map[string]float64{"late_results": 0, "sampled": sampled, "positives": 6}, 0},
		{"await_late 2h counts what came", "2h", map[string]float64{"late_results": 150, "sampled": sampled + 150, "missing": 7013 - sampled - 150, "positives": 7}, 8},
		{"await_late is at most grace", "12h", map[string]float64{"late_results": 150}, 24},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt := newTestingTest(t)
			tt.Sampled = func(d time.Duration) int { return min(int(1000*d.Hours()), sampled) }
			tt.Tally = tally(tt)
			in := testingInput()
			if tc.awaitLate != "" {
				in.Params["await_late"] = tc.awaitLate
			}
			tt.Run(in)
			res, err := tt.Result()
			if err != nil {
				t.Fatalf("MassTestingStep() error = %v", err)
			}
			checkOutputs(t, res, tc.want)
			if got := len(tt.callTimes("RoundTally")); got != tc.tallies {
				t.Errorf("RoundTally calls = %d (at %v), want %d (every 15m of the wait)", got, tt.callTimes("RoundTally"), tc.tallies)
			}
			p := tt.Progress()
			if p.State != StateDone || p.LateResults != int(tc.want["late_results"]) {
				t.Errorf("final Progress() State, LateResults = %s, %d; want done, %v", p.State, p.LateResults, tc.want["late_results"])
			}
		})
	}
}

// A repeat's until may name late_results and await_late is a duration
// parameter of the kind.
func TestLateResultsInUntil(t *testing.T) {
	src := `name: t
title: T
level: 1
steps:
  - id: testing
    repeat:
      max: 3
      until:
        all:
          - {output: positives, equals: 0}
          - {output: late_results, equals: 0}
      steps:
        - id: test
          kind: mass-testing
          params: {deadline: 7h, await_late: 2h}
`
	if _, err := runbook.Parse("t.yaml", []byte(src), Kinds); err != nil {
		t.Errorf("runbook.Parse(until late_results) error = %v", err)
	}
	bad := strings.Replace(src, "await_late: 2h", "await_late: soon", 1)
	if _, err := runbook.Parse("t.yaml", []byte(bad), Kinds); err == nil || !strings.Contains(err.Error(), "await_late") {
		t.Errorf("runbook.Parse(await_late: soon) error = %v, want one naming await_late", err)
	}
}
