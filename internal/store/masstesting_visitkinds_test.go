package store_test

import (
	"context"
	"testing"
)

// kindsDistrict is a compound of 40 residents, a quarter of them visited
// at home: kinds in turn by priority (bedridden, pregnant, disabled).
const kindsDistrict = `name: kinds
generate_residents: {seed: 3, home_visit_share: 0.25}
home_visit_kinds:
  - {kind: disabled, priority: 3}
  - {kind: pregnant, priority: 2}
  - {kind: bedridden-elderly, priority: 1}
areas:
  - code: kd
    name: Kinds District
    level: district
    areas:
      - code: kd-c
        name: Kinds Community
        level: community
        staff:
          - {code: kd-grid, name: Grid worker, role: grid-worker, count: 2}
        sites:
          - {code: kd-p, name: Kinds point, kind: sampling-point, capacity_per_hour: 100}
        areas:
          - {code: kd-k, name: Kinds compound, level: compound, population: 40, gates: [{code: main, name: Main, entrance: true}]}
`

// Home visits carry their resident's kind and are listed, each worker's
// in turn, by the kind's priority: the bedridden first.
func TestHomeVisitsByKind(t *testing.T) {
	ctx := context.Background()
	s := loaded(t, parse(t, kindsDistrict))
	plan := openRound(t, s, "kinds", "kd-c", 1)
	if n, err := s.AssignHomeVisits(ctx, plan.RoundID); err != nil || n != 10 {
		t.Fatalf("AssignHomeVisits() = %d, %v; want 10", n, err)
	}
	visits, err := s.HomeVisits(ctx, plan.RoundID)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	rank := map[string]int{"bedridden-elderly": 1, "pregnant": 2, "disabled": 3}
	last := map[string]int{}
	for _, v := range visits {
		kinds[v.Kind]++
		if rank[v.Kind] < last[v.Staff] {
			t.Errorf("visit of %s (%s) is listed after a visit of lower priority for %s: %+v", v.Resident, v.Kind, v.Staff, visits)
		}
		last[v.Staff] = rank[v.Kind]
	}
	if kinds["bedridden-elderly"] != 4 || kinds["pregnant"] != 3 || kinds["disabled"] != 3 {
		t.Errorf("home visits by kind = %v, want 4 bedridden-elderly, 3 pregnant, 3 disabled", kinds)
	}
	if visits[0].Kind != "bedridden-elderly" {
		t.Errorf("first visit = %+v, want a bedridden-elderly resident", visits[0])
	}
	// Loading the same residents again changes nothing; the kind is kept.
	res, err := s.LoadResidents(ctx, "kinds", parse(t, kindsDistrict).Registry)
	if err != nil || res.Updated["residents"] != 0 {
		t.Errorf("LoadResidents() again = %+v, %v; want nothing updated", res, err)
	}
	if n := count(t, s, `SELECT count(*) FROM residents WHERE home_visit_kind = 'pregnant' AND home_visit_priority = 2`); n != 3 {
		t.Errorf("residents of kind pregnant, priority 2 = %d, want 3", n)
	}
}
