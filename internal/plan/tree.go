package plan

import "strings"

// Area is an area as the planner sees it: its parent (0 at the top) and
// whether it is a community.
type Area struct {
	Parent    int64
	Community bool
}

// Tree holds areas by ID: a round's area, the areas under it and those
// above it.
type Tree map[int64]Area

// Community returns the group an area's work belongs to: the nearest
// community at or above it, or its parent (itself at the top) when there
// is none, so compounds that sit straight in a sub-district share one.
func (tr Tree) Community(id int64) int64 {
	for cur := id; ; {
		a, ok := tr[cur]
		if !ok {
			break
		}
		if a.Community {
			return cur
		}
		if a.Parent == 0 {
			break
		}
		cur = a.Parent
	}
	if a, ok := tr[id]; ok && a.Parent != 0 {
		return a.Parent
	}
	return id
}

// Ancestors returns the area and the areas above it that the tree holds,
// nearest first.
func (tr Tree) Ancestors(id int64) []int64 {
	var out []int64
	for cur := id; ; {
		a, ok := tr[cur]
		if !ok {
			break
		}
		out = append(out, cur)
		if a.Parent == 0 {
			break
		}
		cur = a.Parent
	}
	return out
}

// Nearest returns the indices of the paths (of sampling points' areas) at
// or under path (a round's area), or, when none is, of those equal to the
// longest path given: the nearest area above, when the caller gives only
// paths at, under or above path.
func Nearest(paths []string, path string) []int {
	var in []int
	deepest := ""
	for i, p := range paths {
		switch {
		case p == path || strings.HasPrefix(p, path+"/"):
			in = append(in, i)
		case len(p) > len(deepest):
			deepest = p
		}
	}
	if len(in) > 0 {
		return in
	}
	for i, p := range paths {
		if p == deepest {
			in = append(in, i)
		}
	}
	return in
}
