package plan

// Visits chooses who makes the first home visit of each resident, in the
// order given: pools[i] lists, by ID, the workers who may visit resident i
// (see the store's pool rule), and the least busy of them goes, the first
// listed on ties. busy counts the visits each worker has already, by ID,
// and counts the new ones too. A resident whose pool is empty gets 0 (no
// one yet).
func Visits(pools [][]int64, busy map[int64]int) []int64 {
	out := make([]int64, len(pools))
	for i, pool := range pools {
		if len(pool) == 0 {
			continue
		}
		best := pool[0]
		for _, w := range pool[1:] {
			if busy[w] < busy[best] {
				best = w
			}
		}
		busy[best]++
		out[i] = best
	}
	return out
}

// Revisits chooses who visits again each resident missed: the worker after
// last[i] in pools[i], round robin, so that someone else tries when the
// pool has anyone else; the first of the pool when last[i] is not in it;
// 0 when the pool is empty.
func Revisits(pools [][]int64, last []int64) []int64 {
	out := make([]int64, len(pools))
	for i, pool := range pools {
		if len(pool) == 0 {
			continue
		}
		next := 0
		for j, w := range pool {
			if w == last[i] {
				next = (j + 1) % len(pool)
			}
		}
		out[i] = pool[next]
	}
	return out
}
