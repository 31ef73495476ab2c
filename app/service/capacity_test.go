package service

import (
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/plan"
	"github.com/musterhq/muster/internal/store"
)

// The warning names the area and the finish against the deadline, and
// the points it proposes do meet the deadline; a round that fits, or an
// area with nobody to test, says nothing.
func TestCapacityWarning(t *testing.T) {
	// Hexi: 11 compounds split by building, 6 points of 150 to 400 an
	// hour (1,650 together): about 7.7 hours at the least.
	hexi := []int{2434, 1650, 1400, 1250, 1150, 1050, 950, 850, 750, 650, 516}
	var units []plan.Unit
	for _, n := range hexi {
		u := plan.Unit{Size: n}
		for left := n; left > 0; left -= 120 {
			u.Parts = append(u.Parts, min(left, 120))
		}
		units = append(units, u)
	}
	hexiPoints := store.PlanPreview{Codes: []string{"p1", "p2", "p3", "p4", "p5", "p6"}, Units: units}
	for _, c := range []int{150, 200, 250, 300, 350, 400} {
		hexiPoints.Points = append(hexiPoints.Points, plan.Point{Capacity: c})
	}
	area := store.Area{Code: "qs-hexi", Name: "Hexi Community"}
	tests := []struct {
		name     string
		pv       store.PlanPreview
		deadline time.Duration
		want     []string
	}{
		{"hexi in 7h", hexiPoints, 7 * time.Hour, []string{"over Hexi Community (qs-hexi)", "past its 7h deadline", "12650 residents come to 6 sampling points (1650 an hour together)",
			"1 more sampling point(s) of 275 an hour"}},
		{"hexi in 4h30m", hexiPoints, 4*time.Hour + 30*time.Minute, []string{"past its 4h30m deadline", "5 more sampling point(s) of 275 an hour"}},
		{"hexi in 9h", hexiPoints, 9 * time.Hour, nil},
		{"no points", store.PlanPreview{Units: units[:1]}, 7 * time.Hour, []string{"2434 residents come to sampling points, and the area has none"}},
		{"nobody", store.PlanPreview{}, 7 * time.Hour, nil},
		{"an indivisible compound", store.PlanPreview{Codes: []string{"p"}, Points: []plan.Point{{Capacity: 10}}, Units: []plan.Unit{{Size: 2434}}}, time.Hour,
			[]string{"Even 50 more points of 10 an hour would not finish it in time"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := capacityWarning(tc.pv, testingStep{path: "testing/test", deadline: tc.deadline}, area)
			if tc.want == nil && got != "" {
				t.Errorf("capacityWarning() = %q, want none", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("capacityWarning() = %q, want it to contain %q", got, w)
				}
			}
		})
	}
	// The points proposed meet the deadline, and one fewer would not.
	for _, hours := range []float64{7, 6, 4.5} {
		more, finish := addPoints(hexiPoints.Points, units, hours, 275)
		fewer := append(append([]plan.Point(nil), hexiPoints.Points...), make([]plan.Point, more-1)...)
		for i := len(hexiPoints.Points); i < len(fewer); i++ {
			fewer[i].Capacity = 275
		}
		if finish > hours || plan.Assign(fewer, units).Makespan() <= hours {
			t.Errorf("addPoints(%.1f h) = %d points, finish %.2f h; want the fewest that finish in time", hours, more, finish)
		}
	}
}

// A finish is said up to the next minute, so a plan half a minute past its
// deadline (Longbao's four points: 7.008 h against 7h) reads past it.
func TestCeilMinutes(t *testing.T) {
	for _, tc := range []struct {
		hours float64
		want  string
	}{{7.008, "7h1m"}, {8, "8h"}, {4.5, "4h30m"}, {0.2, "12m"}} {
		if got := hoursText(ceilMinutes(tc.hours)); got != tc.want {
			t.Errorf("hoursText(ceilMinutes(%g)) = %q, want %q", tc.hours, got, tc.want)
		}
	}
}
