package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/workflows"
)

// testing status shows each point's planned and projected finish while a
// round runs, and only its final state once it has closed.
func TestRenderTesting(t *testing.T) {
	opens := time.Date(2026, 12, 4, 9, 0, 0, 0, time.Local)
	running := workflows.TestingProgress{
		Incident: "qs-1204", Area: "Hexi", Round: 1, State: workflows.StateRunning, Expected: 12650, Sampled: 4000,
		OpensAt: opens, Deadline: opens.Add(7 * time.Hour), Projected: opens.Add(9 * time.Hour), Behind: true, TimeScale: 1,
		Points: []workflows.PointStatus{
			{Code: "qs-hexi-p1", Sampled: 500, Expected: 1019, PerHour: 120, Capacity: 150, Planned: opens.Add(6*time.Hour + 48*time.Minute), Projected: opens.Add(8*time.Hour + 20*time.Minute)},
			{Code: "qs-hexi-p6", Sampled: 1500, Expected: 2952, PerHour: 400, Capacity: 400, Planned: opens.Add(7*time.Hour + 23*time.Minute), Projected: opens.Add(7 * time.Hour)},
		},
		Slots: []workflows.CohortSlot{
			{Cohort: "resident", Expected: 12000, From: opens, To: opens.Add(7 * time.Hour)},
			{Cohort: "block-b", Expected: 300, From: opens, To: opens.Add(time.Hour), Site: "qs-voc", SiteName: "Vocational school"},
		},
	}
	var b bytes.Buffer
	renderTesting(&b, "response/qs-1204/testing/1", running)
	for _, want := range []string{"BEHIND SCHEDULE", "PLANNED", "PROJECTED", "qs-hexi-p1  500      1019      120       150       15:48    17:20",
		"resident: called 09:00–16:00 (12000)", "block-b of Vocational school: called 09:00–10:00 (300)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("renderTesting(running) =\n%s\nwant it to contain %q", b.String(), want)
		}
	}

	closed := running
	closed.State, closed.Missing, closed.Sampled = workflows.StateDone, 2150, 10500
	closed.Coverage, closed.MinCoverage, closed.Clean = 10500.0/12650, 0.99, false
	b.Reset()
	renderTesting(&b, "response/qs-1204/testing/1", closed)
	out := b.String()
	if strings.Contains(out, "BEHIND") || strings.Contains(out, "projected finish") || strings.Contains(out, "17:20") {
		t.Errorf("renderTesting(closed) =\n%s\nwant no projection or BEHIND once the round has closed", out)
	}
	if !strings.Contains(out, "closed NOT CLEAN: 83.0% sampled (min 99%)") {
		t.Errorf("renderTesting(closed) =\n%s\nwant it to say the round closed not clean", out)
	}
}
