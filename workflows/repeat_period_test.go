package workflows

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/runbook"
)

// periodRunbook repeats a round that takes 3 hours (a sweep, then an
// approval that waits 3 hours for an answer) with the timing given.
func periodRunbook(timing string) string {
	return fmt.Sprintf(`
name: test-period
title: Test period
level: 1
area: community
steps:
  - id: rounds
    repeat:
%s
      max: 4
      until:
        output: failed_checks
        equals: 0
        consecutive: 4
      steps:
        - id: sweep
          kind: compliance-sweep
        - id: hold
          kind: approval
          params:
            question: Go on?
            timeout: 3h
            default: approve
`, timing)
}

// TestRepeatEveryAndPause: `every` is a period measured from the start of
// a round (a round every 12 hours starts at 0, 12, 24 and 36 hours however
// long it takes), `pause` a rest after a round's end, and with both the
// later of the two applies.
func TestRepeatEveryAndPause(t *testing.T) {
	for _, c := range []struct {
		timing string
		want   []time.Duration
	}{
		{"      every: 12h", []time.Duration{0, 12 * time.Hour, 24 * time.Hour, 36 * time.Hour}},
		{"      pause: 1h", []time.Duration{0, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour}},
		{"      every: 2h\n      pause: 1h", []time.Duration{0, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour}},
		{"      every: 5h\n      pause: 1h", []time.Duration{0, 5 * time.Hour, 10 * time.Hour, 15 * time.Hour}},
	} {
		rt := newResponseTest(t, periodRunbook(c.timing))
		rt.SweepFinds(0, 0, 0, 0)
		rt.Run(testResponseInput())
		if _, err := rt.Result(); err != nil {
			t.Fatalf("%q: Response() error = %v", c.timing, err)
		}
		var at []time.Duration
		for _, call := range rt.Calls("ComplianceSweep") {
			at = append(at, call.At.Sub(testStart))
		}
		if !slices.Equal(at, c.want) {
			t.Errorf("%q: rounds started at %v, want %v", c.timing, at, c.want)
		}
	}
}

// TestRepeatRecordedEveryKeepsPause: a definition recorded at the open of
// a response before `every` meant a period (Period unset) keeps it as a
// pause after the round's end.
func TestRepeatRecordedEveryKeepsPause(t *testing.T) {
	start, end := testStart, testStart.Add(3*time.Hour)
	rp := &runbook.Repeat{Every: runbook.Duration(12 * time.Hour)}
	if got := nextRoundAt(rp, start, end, 1); !got.Equal(end.Add(12 * time.Hour)) {
		t.Errorf("recorded every: next round at %s, want 12h after the end (%s)", got, end.Add(12*time.Hour))
	}
	rp.Period = true
	if got := nextRoundAt(rp, start, end, 1); !got.Equal(start.Add(12 * time.Hour)) {
		t.Errorf("every as a period: next round at %s, want 12h after the start (%s)", got, start.Add(12*time.Hour))
	}
}
