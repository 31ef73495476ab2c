// Package plan assigns the work of a testing round to its sampling points
// so that the round finishes as early as it can: the largest work first,
// each to the point where it would finish earliest (longest processing
// time first on points of different speeds), a large compound split by
// building across points when it would otherwise finish after all the
// rest (Assign). It also moves work to a point opened in a running round
// (Rebalance), chooses who makes each home visit (Visits, Revisits), and
// walks the area tree these rules refer to (Tree). It is pure: the store
// reads the rows, calls these functions and writes what they return.
package plan

import (
	"cmp"
	"math"
	"slices"
)

// Point is a sampling point: its capacity in residents an hour, the work
// it already has (Load, residents), and its group (the community it
// belongs to; units of a group go to the group's points when it has any).
// Name (its site code) breaks ties between equally busy points in
// Rebalance, so that a plan is reproducible.
type Point struct {
	Capacity int
	Load     int
	Group    int64
	Name     string
}

// Unit is work that goes to one point: a compound, or a community's
// building. Parts, when given, are the sizes of the pieces it may be split
// into (its buildings); they add up to Size.
type Unit struct {
	Size  int
	Group int64
	Parts []int
}

// Assignment gives a unit, or one part of it (Part ≥ 0), to a point.
type Assignment struct {
	Unit  int
	Part  int
	Point int
	Size  int
}

// Result is a plan: the assignments, in the order they were made (largest
// first), and each point's projected finish in hours of work from now.
type Result struct {
	Assignments []Assignment
	Finish      []float64
}

// Makespan is the latest finish of any point.
func (r Result) Makespan() float64 {
	m := 0.0
	for _, f := range r.Finish {
		m = max(m, f)
	}
	return m
}

// Ideal is the earliest the points could finish together: all the work
// over all the capacity.
func Ideal(points []Point, units []Unit) float64 {
	work, capacity := 0, 0
	for _, p := range points {
		work += p.Load
		capacity += p.Capacity
	}
	for _, u := range units {
		work += u.Size
	}
	if capacity == 0 {
		return math.Inf(1)
	}
	return float64(work) / float64(capacity)
}

type piece struct {
	unit, part, size int
	group            int64
}

// Assign plans the units over the points. Each piece of work, the largest
// first, goes to the point of its group (or any point, when the group has
// none) where it would finish earliest; ties go to the point listed first,
// so a plan is reproducible. Units are kept whole while the plan finishes
// within 5% of the ideal; otherwise the largest unit not yet split that
// has parts is split into them, and the points are planned again, as long
// as that finishes sooner.
func Assign(points []Point, units []Unit) Result {
	if len(points) == 0 {
		return Result{Finish: []float64{}}
	}
	ideal := Ideal(points, units)
	split := make([]bool, len(units))
	best := assign(points, units, split)
	for best.Makespan() > 1.05*ideal {
		next := -1
		for i, u := range units {
			if !split[i] && len(u.Parts) > 1 && (next < 0 || u.Size > units[next].Size) {
				next = i
			}
		}
		if next < 0 {
			break
		}
		split[next] = true
		if r := assign(points, units, split); r.Makespan() < best.Makespan() {
			best = r
		}
	}
	return best
}

func assign(points []Point, units []Unit, split []bool) Result {
	res := Result{Finish: make([]float64, len(points))}
	load := make([]int, len(points))
	grouped := map[int64]bool{}
	for i, p := range points {
		load[i] = p.Load
		grouped[p.Group] = true
	}
	var pieces []piece
	for i, u := range units {
		if split[i] {
			for j, n := range u.Parts {
				if n > 0 {
					pieces = append(pieces, piece{unit: i, part: j, size: n, group: u.Group})
				}
			}
			continue
		}
		pieces = append(pieces, piece{unit: i, part: -1, size: u.Size, group: u.Group})
	}
	slices.SortStableFunc(pieces, func(a, b piece) int { return cmp.Compare(b.size, a.size) })
	for _, pc := range pieces {
		at, finish := -1, math.Inf(1)
		for i, p := range points {
			if p.Capacity <= 0 || (grouped[pc.group] && p.Group != pc.group) {
				continue
			}
			if f := float64(load[i]+pc.size) / float64(p.Capacity); f < finish {
				at, finish = i, f
			}
		}
		if at < 0 {
			continue
		}
		load[at] += pc.size
		res.Assignments = append(res.Assignments, Assignment{Unit: pc.unit, Part: pc.part, Point: at, Size: pc.size})
	}
	for i, p := range points {
		if p.Capacity > 0 {
			res.Finish[i] = float64(load[i]) / float64(p.Capacity)
		}
	}
	return res
}

// Needed says how many more points of a capacity would let the work
// finish within hours: 0 when the points have enough capacity already.
func Needed(points []Point, units []Unit, hours float64, capacity int) int {
	if hours <= 0 || capacity <= 0 {
		return 0
	}
	work, have := 0, 0
	for _, p := range points {
		work += p.Load
		have += p.Capacity
	}
	for _, u := range units {
		work += u.Size
	}
	short := float64(work)/hours - float64(have)
	if short <= 0 {
		return 0
	}
	return int(math.Ceil(short / float64(capacity)))
}
