package plan

import "slices"

// Held is work a running round has assigned: what remains to sample of a
// compound or a building (Remaining residents), held by Point (an index
// into the points given to Rebalance, or -1 when none of them holds it),
// in Group (its community).
type Held struct {
	Point     int
	Remaining int
	Group     int64
}

// Move gives held work (Held, an index into the work given to Rebalance)
// from the point that held it (From, an index into the points) to the new
// point.
type Move struct {
	Held int
	From int
}

// Rebalance moves work from the points of a running round to a point just
// opened there (added). Only work with residents still to sample moves: in
// the new point's group when the group has any such work, else any. Again
// and again the busiest point (the most residents still to sample per hour
// of capacity, its Load counting besides the work it holds) gives its
// largest piece of work to the new point, as long as that leaves the new
// point less busy than the giver was; it ends when no point can give. Ties
// go the same way every time: of equally busy points, the one with the
// greater Name counts as the busier; of equal pieces, the one listed first
// moves. It returns the moves in the order made.
func Rebalance(points []Point, added Point, held []Held) []Move {
	load := make([]int, len(points))
	for i, p := range points {
		load[i] = p.Load
	}
	local := false
	for _, h := range held {
		if h.Point >= 0 {
			load[h.Point] += h.Remaining
		}
		if h.Remaining > 0 && h.Group == added.Group {
			local = true
		}
	}
	moved := make([]bool, len(held))
	movable := func(i int) bool {
		h := held[i]
		return !moved[i] && h.Remaining > 0 && (!local || h.Group == added.Group)
	}
	addedLoad := added.Load
	var out []Move
	for {
		from, pick := -1, -1
		for _, p := range busiestFirst(points, load) {
			for i, h := range held {
				if h.Point != p || !movable(i) {
					continue
				}
				// Moving must leave the new point less busy than the giver is now.
				if !lessBusy(addedLoad+h.Remaining, added, load[p], points[p]) {
					continue
				}
				if pick < 0 || h.Remaining > held[pick].Remaining {
					pick = i
				}
			}
			if pick >= 0 {
				from = p
				break
			}
		}
		if pick < 0 {
			return out
		}
		moved[pick] = true
		load[from] -= held[pick].Remaining
		addedLoad += held[pick].Remaining
		out = append(out, Move{Held: pick, From: from})
	}
}

// busiestFirst returns the indices of the points, the busiest first.
func busiestFirst(points []Point, load []int) []int {
	order := make([]int, len(points))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case lessBusy(load[b], points[b], load[a], points[a]):
			return -1
		case lessBusy(load[a], points[a], load[b], points[b]):
			return 1
		}
		return 0
	})
	return order
}

// lessBusy reports whether point a with load la has fewer residents per
// hour of capacity than point b with load lb; ties go to the lesser Name.
func lessBusy(la int, a Point, lb int, b Point) bool {
	l, r := int64(la)*int64(b.Capacity), int64(lb)*int64(a.Capacity)
	if l != r {
		return l < r
	}
	return a.Name < b.Name
}
