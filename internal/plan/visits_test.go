package plan

import (
	"reflect"
	"testing"
)

func TestVisits(t *testing.T) {
	tests := []struct {
		name     string
		pools    [][]int64
		busy     map[int64]int
		want     []int64
		wantBusy map[int64]int
	}{
		{
			name:     "turns among a pool, the first listed on ties",
			pools:    [][]int64{{1, 2, 3}, {1, 2, 3}, {1, 2, 3}, {1, 2, 3}},
			busy:     map[int64]int{},
			want:     []int64{1, 2, 3, 1},
			wantBusy: map[int64]int{1: 2, 2: 1, 3: 1},
		},
		{
			name:     "visits already made count",
			pools:    [][]int64{{1, 2}, {1, 2}},
			busy:     map[int64]int{1: 3},
			want:     []int64{2, 2},
			wantBusy: map[int64]int{1: 3, 2: 2},
		},
		{
			name:     "an empty pool leaves the visit to no one",
			pools:    [][]int64{nil, {7}},
			busy:     map[int64]int{},
			want:     []int64{0, 7},
			wantBusy: map[int64]int{7: 1},
		},
		{
			name:     "pools share workers",
			pools:    [][]int64{{1}, {1, 2}, {2, 3}},
			busy:     map[int64]int{},
			want:     []int64{1, 2, 3},
			wantBusy: map[int64]int{1: 1, 2: 1, 3: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Visits(tc.pools, tc.busy)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Visits() = %v, want %v", got, tc.want)
			}
			if !reflect.DeepEqual(tc.busy, tc.wantBusy) {
				t.Errorf("Visits() left busy = %v, want %v", tc.busy, tc.wantBusy)
			}
		})
	}
}

func TestRevisits(t *testing.T) {
	tests := []struct {
		name  string
		pools [][]int64
		last  []int64
		want  []int64
	}{
		{"the next worker goes", [][]int64{{1, 2, 3}}, []int64{1}, []int64{2}},
		{"round robin wraps", [][]int64{{1, 2, 3}}, []int64{3}, []int64{1}},
		{"a pool of one sends the same worker", [][]int64{{5}}, []int64{5}, []int64{5}},
		{"someone not in the pool: the first", [][]int64{{1, 2}}, []int64{9}, []int64{1}},
		{"no one visited before: the first", [][]int64{{1, 2}}, []int64{0}, []int64{1}},
		{"an empty pool: no one", [][]int64{nil}, []int64{1}, []int64{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Revisits(tc.pools, tc.last); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Revisits(%v, %v) = %v, want %v", tc.pools, tc.last, got, tc.want)
			}
		})
	}
}
