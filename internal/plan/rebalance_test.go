package plan

import (
	"reflect"
	"testing"
)

func TestRebalance(t *testing.T) {
	tests := []struct {
		name   string
		points []Point
		added  Point
		held   []Held
		want   []Move
	}{
		{
			name:   "the busiest point gives its largest compound",
			points: []Point{{Capacity: 100, Name: "p1"}, {Capacity: 100, Name: "p2"}},
			added:  Point{Capacity: 100, Name: "p3"},
			held:   []Held{{Point: 0, Remaining: 300}, {Point: 0, Remaining: 500}, {Point: 1, Remaining: 200}},
			// p1 holds 800: it gives 500 (new point 500 < 800), then 300
			// would leave the new point at 800 against p1's 300: no.
			want: []Move{{Held: 1, From: 0}},
		},
		{
			name:   "moves go on while the new point stays less busy",
			points: []Point{{Capacity: 100, Name: "p1"}},
			added:  Point{Capacity: 300, Name: "p2"},
			held:   []Held{{Point: 0, Remaining: 400}, {Point: 0, Remaining: 400}, {Point: 0, Remaining: 100}},
			// 400 at 300 an hour (1.3 h) < 900 at 100 (9 h); then 800 at
			// 300 (2.7 h) < 500 at 100 (5 h); then 900 at 300 (3 h) is
			// not less than 100 at 100 (1 h).
			want: []Move{{Held: 0, From: 0}, {Held: 1, From: 0}},
		},
		{
			name:   "finished work stays",
			points: []Point{{Capacity: 100, Name: "p1"}},
			added:  Point{Capacity: 100, Name: "p2"},
			held:   []Held{{Point: 0, Remaining: 0}, {Point: 0, Remaining: 10}},
			want:   nil,
		},
		{
			name:   "only work of the new point's group moves when the group has any",
			points: []Point{{Capacity: 100, Name: "p1"}, {Capacity: 100, Name: "p2"}},
			added:  Point{Capacity: 100, Group: 2, Name: "p3"},
			held:   []Held{{Point: 0, Remaining: 900, Group: 1}, {Point: 1, Remaining: 300, Group: 2}, {Point: 1, Remaining: 200, Group: 2}},
			want:   []Move{{Held: 1, From: 1}},
		},
		{
			name:   "any work moves when the new point's group has none",
			points: []Point{{Capacity: 100, Name: "p1"}, {Capacity: 100, Name: "p2"}},
			added:  Point{Capacity: 100, Group: 3, Name: "p3"},
			held:   []Held{{Point: 0, Remaining: 600, Group: 1}, {Point: 0, Remaining: 300, Group: 1}, {Point: 1, Remaining: 300, Group: 2}},
			want:   []Move{{Held: 0, From: 0}},
		},
		{
			name:   "equal pieces: the first listed moves",
			points: []Point{{Capacity: 100, Name: "p1"}},
			added:  Point{Capacity: 100, Name: "p2"},
			held:   []Held{{Point: 0, Remaining: 300}, {Point: 0, Remaining: 300}, {Point: 0, Remaining: 300}},
			want:   []Move{{Held: 0, From: 0}},
		},
		{
			name:   "equally busy points: the greater name gives",
			points: []Point{{Capacity: 100, Name: "a"}, {Capacity: 100, Name: "b"}},
			added:  Point{Capacity: 100, Name: "c"},
			held:   []Held{{Point: 0, Remaining: 300}, {Point: 0, Remaining: 100}, {Point: 1, Remaining: 300}, {Point: 1, Remaining: 100}},
			want:   []Move{{Held: 2, From: 1}},
		},
		{
			name:   "work held by no listed point counts for the group but does not move",
			points: []Point{{Capacity: 100, Name: "p1"}},
			added:  Point{Capacity: 100, Group: 2, Name: "p2"},
			held:   []Held{{Point: -1, Remaining: 500, Group: 2}, {Point: 0, Remaining: 800, Group: 1}},
			want:   nil,
		},
		{
			name:   "a whole compound that would leave the new point as busy stays",
			points: []Point{{Capacity: 100, Name: "p1"}},
			added:  Point{Capacity: 100, Name: "p2"},
			held:   []Held{{Point: 0, Remaining: 900}},
			want:   nil,
		},
		{
			name:  "no points",
			added: Point{Capacity: 100, Name: "p1"},
			want:  nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Rebalance(tc.points, tc.added, tc.held); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Rebalance() = %v, want %v", got, tc.want)
			}
		})
	}
}
