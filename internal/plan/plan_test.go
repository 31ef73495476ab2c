package plan

import (
	"fmt"
	"testing"
)

// buildings splits a compound of n residents into buildings of about 120.
func buildings(n int) []int {
	var out []int
	for n > 0 {
		k := min(n, 120)
		out = append(out, k)
		n -= k
	}
	return out
}

func compounds(sizes []int, split bool) []Unit {
	out := make([]Unit, len(sizes))
	for i, n := range sizes {
		out[i] = Unit{Size: n}
		if split {
			out[i].Parts = buildings(n)
		}
	}
	return out
}

func points(caps ...int) []Point {
	out := make([]Point, len(caps))
	for i, c := range caps {
		out[i] = Point{Capacity: c}
	}
	return out
}

var (
	// Hexi: 11 compounds, 12,650 residents, the largest 2,434; 6 points
	// of 150 to 400 an hour.
	hexi     = []int{2434, 1650, 1400, 1250, 1150, 1050, 950, 850, 750, 650, 516}
	hexiCaps = []int{150, 200, 250, 300, 350, 400}
	// Longbao: 6 compounds, 7,013 residents; 4 points of 250 an hour.
	longbao = []int{1486, 1302, 1215, 1138, 996, 876}
)

func TestAssignMakespan(t *testing.T) {
	tests := []struct {
		name   string
		points []Point
		units  []Unit
		// bound is what the makespan is measured against: the ideal
		// finish, or the largest indivisible unit on the fastest point.
		bound float64
	}{
		{"hexi, compounds split by building", points(hexiCaps...), compounds(hexi, true), 12650.0 / 1650},
		{"hexi, compounds whole", points(hexiCaps...), compounds(hexi, false), 12650.0 / 1650},
		{"longbao, equal points", points(250, 250, 250, 250), compounds(longbao, true), 7013.0 / 1000},
		{"one large compound, indivisible", points(150, 400), []Unit{{Size: 2434}}, 2434.0 / 400},
		{"points already loaded", []Point{{Capacity: 300, Load: 900}, {Capacity: 300}}, compounds([]int{600, 600, 300}, false), 2400.0 / 600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Assign(tc.points, tc.units)
			if got := res.Makespan(); got > 1.1*tc.bound {
				t.Errorf("Assign() makespan = %.2f h, want within 10%% of %.2f h (finish per point %v)", got, tc.bound, fmtHours(res.Finish))
			}
			// Every resident is planned exactly once.
			planned := map[int]int{}
			for _, a := range res.Assignments {
				planned[a.Unit] += a.Size
			}
			for i, u := range tc.units {
				if planned[i] != u.Size {
					t.Errorf("unit %d: %d of %d residents planned", i, planned[i], u.Size)
				}
			}
			t.Logf("makespan %.2f h against %.2f h; finish per point %v", res.Makespan(), tc.bound, fmtHours(res.Finish))
		})
	}
}

func fmtHours(f []float64) string {
	s := ""
	for i, h := range f {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2f", h)
	}
	return s
}

// The largest compound never goes to the slowest point when a faster one
// finishes it sooner: 2,434 residents at 150 an hour is 16.2 hours.
func TestAssignLargestToFastest(t *testing.T) {
	res := Assign(points(hexiCaps...), compounds(hexi, false))
	for _, a := range res.Assignments {
		if a.Unit == 0 && a.Point != 5 {
			t.Errorf("the 2,434 compound went to the point of %d an hour, want the fastest (400)", hexiCaps[a.Point])
		}
	}
	if f := res.Finish[0]; f > 8.5 {
		t.Errorf("the 150-an-hour point finishes after %.1f h, want about the ideal 7.7 h", f)
	}
}

// A unit of a group goes to that group's points when it has any, and a
// compound too large for the ideal finish is split by building.
func TestAssignGroupsAndSplits(t *testing.T) {
	ps := []Point{{Capacity: 200, Group: 1}, {Capacity: 400, Group: 2}, {Capacity: 400, Group: 2}}
	us := []Unit{{Size: 400, Group: 1}, {Size: 2000, Group: 2, Parts: []int{500, 500, 500, 500}}, {Size: 100, Group: 3}}
	res := Assign(ps, us)
	parts := 0
	for _, a := range res.Assignments {
		switch {
		case a.Unit == 0 && a.Point != 0:
			t.Errorf("unit of group 1 went to point %d, want the group's point 0", a.Point)
		case a.Unit == 1 && a.Point == 0:
			t.Errorf("unit of group 2 went to point 0 of group 1")
		case a.Unit == 1:
			parts++
		}
	}
	if parts != 4 {
		t.Errorf("the 2,000 compound was planned in %d pieces, want its 4 buildings (whole it takes 5 h on one point, split 2.5 h)", parts)
	}
}

func TestNeeded(t *testing.T) {
	tests := []struct {
		name     string
		points   []Point
		units    []Unit
		hours    float64
		capacity int
		want     int
	}{
		{"hexi in 7 hours", points(hexiCaps...), compounds(hexi, false), 7, 250, 1},
		{"hexi in 6 hours", points(hexiCaps...), compounds(hexi, false), 6, 250, 2},
		{"hexi in 8 hours", points(hexiCaps...), compounds(hexi, false), 8, 250, 0},
	}
	for _, tc := range tests {
		if got := Needed(tc.points, tc.units, tc.hours, tc.capacity); got != tc.want {
			t.Errorf("Needed(%s, %d an hour) = %d, want %d", tc.name, tc.capacity, got, tc.want)
		}
	}
}
