package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

func TestStaffingOf(t *testing.T) {
	r := parse(t, tiny)
	s := loaded(t, r)
	path := map[string]string{}
	for _, a := range r.Areas {
		path[a.Code] = a.Path
	}
	for _, code := range []string{"town", "east", "oak-court"} {
		t.Run(code, func(t *testing.T) {
			p := path[code]
			gates := 0
			for _, g := range r.Gates {
				if ap := path[g.AreaCode]; ap == p || strings.HasPrefix(ap, p+"/") {
					gates++
				}
			}
			staff := 0
			for _, st := range r.Staff {
				ap := path[st.AreaCode]
				if (slices.Contains(domain.PathPrefixes(p), ap) || strings.HasPrefix(ap, p+"/")) && slices.Contains(store.CheckpointRoles, st.Role) {
					staff++
				}
			}
			if gates == 0 || staff == 0 {
				t.Fatalf("scenario tiny has %d gates and %d staff under %s; want some of each", gates, staff, code)
			}
			got, err := s.StaffingOf(context.Background(), p)
			if want := (store.Staffing{Gates: gates, Staff: staff}); err != nil || got != want {
				t.Errorf("StaffingOf(%s) = %+v, %v; want %+v", p, got, err, want)
			}
		})
	}
}

// Shifts: staff are relieved when their shift ends, others take the next
// one, those relieved rest before standing again, and a person may stand
// at the same gate again on a later shift; nobody is ever on duty twice.
func TestCheckpointShifts(t *testing.T) {
	ctx := context.Background()
	s := loaded(t, parse(t, tiny))
	p, err := s.SealPlan(ctx, "oak-court")
	if err != nil {
		t.Fatal(err)
	}
	const inc = "inc-shift"
	open := func(shift int, rest time.Duration) []string {
		t.Helper()
		var staff []string
		for _, g := range p.Gates {
			res, err := s.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: inc, GateID: g.ID, AreaID: p.Compound.ID, Mode: "closed", RequiredStaff: 1, Shift: shift, Rest: rest},
				func(store.CheckpointResult) domain.Event {
					return event(inc, "wf", "checkpoint/"+g.Code, fmt.Sprint(shift))
				})
			if err != nil {
				t.Fatalf("OpenCheckpoint(%s, shift %d) error = %v", g.Code, shift, err)
			}
			staff = append(staff, res.Staff...)
		}
		return staff
	}
	relieve := func(shift int) int {
		t.Helper()
		n, err := s.RelieveShift(ctx, inc, p.Compound.ID, shift, event(inc, "wf", "relieve", fmt.Sprint(shift)))
		if err != nil {
			t.Fatalf("RelieveShift(%d) error = %v", shift, err)
		}
		return n
	}
	first := open(1, 0)
	if len(first) != 2 {
		t.Fatalf("shift 1 staff = %v, want 2 (one per gate)", first)
	}
	if n := relieve(2); n != 2 {
		t.Errorf("RelieveShift(2) = %d, want 2", n)
	}
	if n := relieve(2); n != 0 {
		t.Errorf("RelieveShift(2) again = %d, want 0", n)
	}
	// Three workers in all: the one who did not stand on shift 1 takes a
	// gate; the two relieved are resting, so the other gate stays open.
	second := open(2, time.Hour)
	if len(second) != 1 || slices.Contains(first, second[0]) {
		t.Errorf("shift 2 staff with an hour's rest = %v, want the one worker not on shift 1 (%v)", second, first)
	}
	// Without the rest, people of shift 1 stand again, at a gate they
	// may have held before.
	relieve(3)
	third := open(3, 0)
	if len(third) != 2 {
		t.Errorf("shift 3 staff without rest = %v, want 2", third)
	}
	if n := count(t, s, `SELECT count(*) FROM (SELECT staff_id FROM checkpoint_staff WHERE released_at IS NULL GROUP BY staff_id HAVING count(*) > 1) x`); n != 0 {
		t.Errorf("%d people on duty twice, want none", n)
	}
	if n := count(t, s, `SELECT count(*) FROM checkpoint_staff WHERE released_at IS NULL AND shift = 3`); n != 2 {
		t.Errorf("on duty for shift 3 = %d, want 2", n)
	}
}

// The district's pool stands first, nearest first; resident volunteers of
// the compound fill what the pool cannot.
func TestCheckpointDrawsPoolBeforeVolunteers(t *testing.T) {
	ctx := context.Background()
	s := loaded(t, parse(t, `
name: vale
areas:
  - code: vale
    name: Vale
    level: district
    staff:
      - {code: vale-cadre, name: Cadre, role: cadre, count: 1}
    areas:
      - code: vale-north
        name: Vale North
        level: community
        staff:
          - {code: vale-worker, name: Worker, role: community-worker, count: 2}
        areas:
          - code: vale-court
            name: Vale Court
            level: compound
            population: 200
            staff:
              - {code: vale-court-volunteer, name: Resident volunteer, role: volunteer, count: 3}
            gates:
              - {code: a, name: Gate A, entrance: true}
              - {code: b, name: Gate B}
              - {code: c, name: Gate C}
`))
	p, err := s.SealPlan(ctx, "vale-court")
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, g := range p.Gates {
		res, err := s.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: "inc-vale", GateID: g.ID, AreaID: p.Compound.ID, Mode: "closed", RequiredStaff: 2},
			func(store.CheckpointResult) domain.Event { return event("inc-vale", "wf", "checkpoint/"+g.Code, "") })
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.Staff)
	}
	roles := func(staff []string) string {
		var out []string
		for _, code := range staff {
			switch {
			case strings.HasPrefix(code, "vale-court-volunteer"):
				out = append(out, "volunteer")
			case strings.HasPrefix(code, "vale-worker"):
				out = append(out, "worker")
			case strings.HasPrefix(code, "vale-cadre"):
				out = append(out, "cadre")
			}
		}
		slices.Sort(out)
		return strings.Join(out, "+")
	}
	var shape []string
	for _, staff := range got {
		shape = append(shape, roles(staff))
	}
	if want := []string{"worker+worker", "cadre+volunteer", "volunteer+volunteer"}; !slices.Equal(shape, want) {
		t.Errorf("checkpoint staff by gate = %v (%v), want %v: the pool nearest first, then volunteers", shape, got, want)
	}
}
