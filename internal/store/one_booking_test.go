package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// soloTown has one person who may both sample and stand at a checkpoint,
// one sampling point and one compound gate.
const soloTown = `
name: solo-town
areas:
  - code: town
    name: Town
    level: district
    areas:
      - code: east
        name: East Community
        level: community
        staff:
          - {code: solo, name: Solo volunteer, role: volunteer, count: 1}
        sites:
          - {code: east-point, name: East point, kind: sampling-point, capacity_per_hour: 100}
        areas:
          - code: oak-court
            name: Oak Court
            level: compound
            population: 100
            gates: [{code: main, name: Main gate, entrance: true}]
`

type soloFixture struct {
	s     *store.Store
	town  int64
	oak   int64
	gate  int64
	staff int64
}

func newSolo(t *testing.T) soloFixture {
	t.Helper()
	s := loaded(t, parse(t, soloTown))
	f := soloFixture{s: s, town: areaID(t, s, "town"), oak: areaID(t, s, "oak-court")}
	if err := s.DB().Get(&f.gate, `SELECT id FROM gates WHERE area_id = $1`, f.oak); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Get(&f.staff, `SELECT id FROM staff WHERE code = 'solo'`); err != nil {
		t.Fatal(err)
	}
	return f
}

// supply plans one sampling post for the shift and fills it.
func (f soloFixture) supply(t *testing.T, inc string, from, to time.Time) (domain.Mobilization, error) {
	t.Helper()
	ctx := context.Background()
	step := "wf-" + inc
	if _, err := f.s.PlanPosts(ctx, store.PostOrder{Incident: inc, Step: step, AreaID: f.town, From: from, To: to, Hours: to.Sub(from).Hours(), PerSamplingPoint: 1},
		event(inc, step, "posts", "")); err != nil {
		t.Fatal(err)
	}
	return f.s.AssignStaff(ctx, store.AssignOrder{Incident: inc, Step: step, AreaID: f.town, AckBy: from.Add(time.Hour)}, event(inc, step, "assign", ""))
}

func (f soloFixture) checkpoint(inc string) (store.CheckpointResult, error) {
	return f.s.OpenCheckpoint(context.Background(), store.CheckpointOrder{Incident: inc, GateID: f.gate, AreaID: f.oak, Mode: "entry", RequiredStaff: 1},
		func(store.CheckpointResult) domain.Event { return event(inc, "wf-"+inc, "checkpoint/main", "") })
}

func (f soloFixture) lift(t *testing.T, inc string) {
	t.Helper()
	if _, err := f.s.Reopen(context.Background(), inc, f.oak, event(inc, "wf-"+inc, "reopen", "")); err != nil {
		t.Fatal(err)
	}
}

// bookings counts the person's active bookings of both kinds.
func (f soloFixture) bookings(t *testing.T) (supply, duty int) {
	t.Helper()
	supply = count(t, f.s, `SELECT count(*) FROM staff_assignments WHERE staff_id = $1 AND state IN ('notified', 'acknowledged')`, f.staff)
	duty = count(t, f.s, `SELECT count(*) FROM checkpoint_staff WHERE staff_id = $1 AND released_at IS NULL`, f.staff)
	return supply, duty
}

// wantRefused checks that err is the one-booking triggers' refusal naming
// the person and the booking in the way.
func wantRefused(t *testing.T, what string, err error, other string) {
	t.Helper()
	var pe *pq.Error
	if !errors.As(err, &pe) || pe.Code != "23M01" || pe.Constraint != "one_booking_per_person" {
		t.Fatalf("%s: error = %v, want SQLSTATE 23M01 from one_booking_per_person", what, err)
	}
	if !strings.Contains(pe.Message, "staff solo is already booked") || !strings.Contains(pe.Message, other) {
		t.Errorf("%s: message %q, want it to name staff solo and the %s", what, pe.Message, other)
	}
}

// TestSupplyBookingBlocksCheckpoint: a supply shift that overlaps keeps the
// person off a checkpoint, in the store's pick and in the database; one
// that is over, lapsed or released does not.
func TestSupplyBookingBlocksCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newSolo(t)
	now := time.Now()

	// A shift long over does not overlap checkpoint duty from now.
	past := time.Date(2022, 4, 3, 17, 0, 0, 0, time.UTC)
	if m, err := f.supply(t, "inc-past", past, past.Add(4*time.Hour)); err != nil || m.Assigned != 1 {
		t.Fatalf("AssignStaff(past shift) = %+v, %v; want solo assigned", m, err)
	}
	if res, err := f.checkpoint("inc-seal-1"); err != nil || len(res.Staff) != 1 {
		t.Fatalf("OpenCheckpoint with only a past shift booked = %+v, %v; want solo on duty", res, err)
	}
	f.lift(t, "inc-seal-1")
	if _, err := f.s.ReleaseStaff(ctx, "wf-inc-past", now, event("inc-past", "wf-inc-past", "release", "")); err != nil {
		t.Fatal(err)
	}

	// A shift under way: the seal finds nobody and the database refuses.
	if m, err := f.supply(t, "inc-now", now.Add(-time.Hour), now.Add(4*time.Hour)); err != nil || m.Assigned != 1 {
		t.Fatalf("AssignStaff(current shift) = %+v, %v; want solo assigned", m, err)
	}
	if p, err := f.s.SealPlan(ctx, "oak-court"); err != nil || p.StaffAvailable != 0 {
		t.Errorf("SealPlan().StaffAvailable = %d, %v; want 0 while solo is booked", p.StaffAvailable, err)
	}
	res, err := f.checkpoint("inc-seal-2")
	if err != nil || len(res.Staff) != 0 || res.Shortfall != 1 {
		t.Fatalf("OpenCheckpoint while solo is booked = %+v, %v; want nobody, 1 short", res, err)
	}
	_, err = f.s.DB().ExecContext(ctx, `INSERT INTO checkpoint_staff (checkpoint_id, staff_id) VALUES ($1, $2)`, res.CheckpointID, f.staff)
	wantRefused(t, "checkpoint duty over a supply shift", err, "supply assignment")
	// A shift that starts later still overlaps duty open from now.
	if m, err := f.supply(t, "inc-later", now.Add(20*time.Hour), now.Add(24*time.Hour)); err != nil || m.Assigned != 1 {
		t.Fatalf("AssignStaff(later shift) = %+v, %v; want solo assigned", m, err)
	}

	// Lapsed and released bookings free the person.
	if _, err := f.s.ReleaseStaff(ctx, "wf-inc-now", now, event("inc-now", "wf-inc-now", "release", "")); err != nil {
		t.Fatal(err)
	}
	if res, err := f.checkpoint("inc-seal-2"); err != nil || len(res.Staff) != 0 {
		t.Fatalf("OpenCheckpoint with a later shift still booked = %+v, %v; want nobody", res, err)
	}
	if _, err := f.s.Reassign(ctx, store.AssignOrder{Incident: "inc-later", Step: "wf-inc-later", AreaID: f.town, AckBy: now.Add(30 * time.Hour)}, now.Add(21*time.Hour),
		event("inc-later", "wf-inc-later", "reassign", "")); err != nil {
		t.Fatal(err)
	}
	if supply, _ := f.bookings(t); supply != 0 {
		t.Fatalf("active supply bookings after release and lapse = %d, want 0", supply)
	}
	if res, err := f.checkpoint("inc-seal-2"); err != nil || len(res.Staff) != 1 {
		t.Fatalf("OpenCheckpoint after release and lapse = %+v, %v; want solo on duty", res, err)
	}
}

// TestCheckpointDutyBlocksSupply: open checkpoint duty keeps the person off
// a supply shift that overlaps it, in the store's pick and in the database;
// lifting the seal frees them.
func TestCheckpointDutyBlocksSupply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newSolo(t)
	now := time.Now()
	if res, err := f.checkpoint("inc-seal"); err != nil || len(res.Staff) != 1 {
		t.Fatalf("OpenCheckpoint = %+v, %v; want solo on duty", res, err)
	}
	m, err := f.supply(t, "inc-now", now, now.Add(4*time.Hour))
	if err != nil || m.Assigned != 0 || m.Shortfall != 1 {
		t.Fatalf("AssignStaff while solo is on duty = %+v, %v; want nobody, 1 short", m, err)
	}
	insert := func(from, to time.Time) error {
		_, err := f.s.DB().ExecContext(ctx, `INSERT INTO staff_assignments (post_id, incident, step, staff_id, shift, hours, ack_by)
			SELECT p.id, p.incident, p.step, $1, tstzrange($2, $3), 1, $3 FROM staff_posts p WHERE p.step = 'wf-inc-now'`, f.staff, from, to)
		return err
	}
	wantRefused(t, "supply shift over checkpoint duty", insert(now, now.Add(4*time.Hour)), "checkpoint oak-court/main")
	// Hours before the duty began are free.
	if err := insert(now.Add(-30*time.Hour), now.Add(-26*time.Hour)); err != nil {
		t.Errorf("supply shift before the duty began: error = %v, want none", err)
	}
	// Making a released booking active again is checked too.
	if _, err := f.s.DB().ExecContext(ctx, `UPDATE staff_assignments SET state = 'released' WHERE staff_id = $1`, f.staff); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.DB().ExecContext(ctx, `UPDATE staff_assignments SET state = 'notified', shift = tstzrange($2, $3) WHERE staff_id = $1`, f.staff, now, now.Add(time.Hour))
	wantRefused(t, "released booking made active over checkpoint duty", err, "checkpoint")

	f.lift(t, "inc-seal")
	m, err = f.s.AssignStaff(ctx, store.AssignOrder{Incident: "inc-now", Step: "wf-inc-now", AreaID: f.town, AckBy: now.Add(time.Hour)}, event("inc-now", "wf-inc-now", "top-up", ""))
	if err != nil || m.Assigned != 1 {
		t.Fatalf("AssignStaff after the seal was lifted = %+v, %v; want solo assigned", m, err)
	}
	// The holder can still acknowledge: that is not a new booking.
	as, err := f.s.Assignments(ctx, "inc-now", "solo")
	if err != nil || len(as) == 0 {
		t.Fatalf("Assignments() = %v, %v", as, err)
	}
	last := as[len(as)-1]
	if _, err := f.s.Acknowledge(ctx, last.ID, "solo", now); err != nil {
		t.Errorf("Acknowledge() error = %v", err)
	}
}

// TestOneBookingRace books the one scarce person for a checkpoint of one
// response and a supply shift of another at the same moment, many times:
// exactly one booking wins; the other finds nobody or is refused.
func TestOneBookingRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newSolo(t)
	now := time.Now()
	wins := map[string]int{}
	for round := range 40 {
		seal, supplyInc := fmt.Sprintf("inc-seal-%d", round), fmt.Sprintf("inc-supply-%d", round)
		step := "wf-" + supplyInc
		if _, err := f.s.PlanPosts(ctx, store.PostOrder{Incident: supplyInc, Step: step, AreaID: f.town, From: now, To: now.Add(4 * time.Hour), Hours: 4, PerSamplingPoint: 1},
			event(supplyInc, step, "posts", "")); err != nil {
			t.Fatal(err)
		}
		var (
			wg     sync.WaitGroup
			cp     store.CheckpointResult
			mob    domain.Mobilization
			cpErr  error
			mobErr error
			start  = make(chan struct{})
		)
		wg.Go(func() {
			<-start
			cp, cpErr = f.checkpoint(seal)
		})
		wg.Go(func() {
			<-start
			mob, mobErr = f.s.AssignStaff(ctx, store.AssignOrder{Incident: supplyInc, Step: step, AreaID: f.town, AckBy: now.Add(time.Hour)}, event(supplyInc, step, "assign", ""))
		})
		close(start)
		wg.Wait()
		for _, err := range []error{cpErr, mobErr} {
			if err != nil && !errors.Is(err, domain.ErrStaffBusy) {
				t.Fatalf("round %d: error = %v, want none or ErrStaffBusy", round, err)
			}
		}
		supply, duty := f.bookings(t)
		if supply+duty != 1 {
			t.Fatalf("round %d: solo has %d supply bookings and %d checkpoint duties, want exactly one in all (checkpoint %+v, %v; supply %+v, %v)",
				round, supply, duty, cp, cpErr, mob, mobErr)
		}
		if duty == 1 {
			wins["checkpoint"]++
		} else {
			wins["supply"]++
		}
		f.lift(t, seal)
		if _, err := f.s.ReleaseStaff(ctx, step, now, event(supplyInc, step, "release", "")); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("store race winners: %v", wins)

	// The same race with no picking at all: two transactions write the two
	// bookings directly; the database lets exactly one commit.
	res, err := f.checkpoint("inc-raw")
	if err != nil {
		t.Fatal(err)
	}
	f.lift(t, "inc-raw")
	if _, err := f.s.DB().ExecContext(ctx, `UPDATE checkpoints SET closed_at = NULL WHERE id = $1`, res.CheckpointID); err != nil {
		t.Fatal(err)
	}
	raw := map[string]int{}
	for round := range 60 {
		if _, err := f.s.DB().ExecContext(ctx, `DELETE FROM checkpoint_staff WHERE checkpoint_id = $1`, res.CheckpointID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.DB().ExecContext(ctx, `DELETE FROM staff_assignments WHERE step = 'raw'`); err != nil {
			t.Fatal(err)
		}
		writes := []string{
			`INSERT INTO checkpoint_staff (checkpoint_id, staff_id) VALUES ($1, $2)`,
			`INSERT INTO staff_assignments (post_id, incident, step, staff_id, shift, hours, ack_by)
			 SELECT p.id, 'raw', 'raw', $2, tstzrange(now(), now() + interval '4 hours'), 4, now() FROM staff_posts p
			 WHERE $1::bigint > 0 ORDER BY p.id LIMIT 1`,
		}
		errs := make([]error, len(writes))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, q := range writes {
			wg.Go(func() {
				tx, err := f.s.DB().BeginTxx(ctx, nil)
				if err != nil {
					errs[i] = err
					return
				}
				defer tx.Rollback()
				<-start
				if _, err := tx.ExecContext(ctx, q, res.CheckpointID, f.staff); err != nil {
					errs[i] = err
					return
				}
				errs[i] = tx.Commit()
			})
		}
		close(start)
		wg.Wait()
		failed := 0
		for i, err := range errs {
			if err == nil {
				raw[[]string{"checkpoint", "supply"}[i]]++
				continue
			}
			failed++
			var pe *pq.Error
			if !errors.As(err, &pe) || pe.Code != "23M01" {
				t.Fatalf("round %d: write %d error = %v, want SQLSTATE 23M01", round, i, err)
			}
		}
		supply, duty := f.bookings(t)
		if failed != 1 || supply+duty != 1 {
			t.Fatalf("round %d: %d writes refused, %d supply bookings and %d duties; want exactly one booking (errors %v)", round, failed, supply, duty, errs)
		}
	}
	t.Logf("raw race winners: %v", raw)
}
