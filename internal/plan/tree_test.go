package plan

import (
	"reflect"
	"testing"
)

// city 1 → district 2 → sub-district 3 → community 4 → compound 5;
// compound 6 sits straight in sub-district 3.
var testTree = Tree{
	1: {},
	2: {Parent: 1},
	3: {Parent: 2},
	4: {Parent: 3, Community: true},
	5: {Parent: 4},
	6: {Parent: 3},
}

func TestTreeCommunity(t *testing.T) {
	tests := []struct {
		name string
		id   int64
		want int64
	}{
		{"a compound of a community", 5, 4},
		{"the community itself", 4, 4},
		{"a compound straight in a sub-district: its parent", 6, 3},
		{"an area above any community: its parent", 2, 1},
		{"the top: itself", 1, 1},
		{"an area the tree lacks: itself", 99, 99},
	}
	for _, tc := range tests {
		if got := testTree.Community(tc.id); got != tc.want {
			t.Errorf("%s: Community(%d) = %d, want %d", tc.name, tc.id, got, tc.want)
		}
	}
}

func TestTreeAncestors(t *testing.T) {
	tests := []struct {
		id   int64
		want []int64
	}{
		{5, []int64{5, 4, 3, 2, 1}},
		{6, []int64{6, 3, 2, 1}},
		{1, []int64{1}},
		{99, nil},
	}
	for _, tc := range tests {
		if got := testTree.Ancestors(tc.id); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Ancestors(%d) = %v, want %v", tc.id, got, tc.want)
		}
	}
	// A tree cut above the round's area ends where it is cut.
	cut := Tree{5: {Parent: 4}, 4: {Parent: 3, Community: true}}
	if got, want := cut.Ancestors(5), []int64{5, 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("Ancestors(5) of a cut tree = %v, want %v", got, want)
	}
}

func TestNearest(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		path  string
		want  []int
	}{
		{"points in and under the area", []string{"c/d", "c/d/s", "c", "c/d/s/x"}, "c/d", []int{0, 1, 3}},
		{"a sibling that shares a prefix is not under", []string{"c/dd", "c/d/s"}, "c/d", []int{1}},
		{"none under: the nearest above", []string{"c", "c/d", "c/d"}, "c/d/s", []int{1, 2}},
		{"no points", nil, "c", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Nearest(tc.paths, tc.path); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Nearest(%q, %q) = %v, want %v", tc.paths, tc.path, got, tc.want)
			}
		})
	}
}
