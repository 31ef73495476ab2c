package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// supplyTown has one scarce volunteer team of three, two sampling points
// (one in each community) and suppliers for the east community.
const supplyTown = `
name: supply-town
areas:
  - code: town
    name: Town
    level: district
    staff:
      - {code: teacher, name: Teacher, role: teacher, count: 1, max_shift_hours: 4}
    sites:
      - {code: corner-shop, name: Corner shop, kind: supermarket, serves: east, stock: {vegetables: 0.1, grain: 5}}
      - {code: east-market, name: East market, kind: market, serves: east, stock: {vegetables: 0.2}}
    areas:
      - code: east
        name: East Community
        level: community
        staff:
          - {code: east-vol, name: East volunteer, role: volunteer, count: 3}
        sites:
          - {code: east-point, name: East point, kind: sampling-point, capacity_per_hour: 100}
        areas:
          - code: oak-court
            name: Oak Court
            level: compound
            population: 1000
            gates: [{code: main, name: Main gate, entrance: true}]
      - code: west
        name: West Community
        level: community
        sites:
          - {code: west-point, name: West point, kind: sampling-point, capacity_per_hour: 100}
        areas:
          - {code: elm-court, name: Elm Court, level: compound, population: 500, gates: [{code: main, name: Main gate, entrance: true}]}
`

// TestAssignUnderContention runs two responses' assignments at once over
// one scarce team, many times: nobody is ever booked twice for overlapping
// shifts, and what one response could not get it reports as short.
func TestAssignUnderContention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, supplyTown))
	town := areaID(t, s, "town")
	from := time.Date(2022, 4, 3, 17, 0, 0, 0, time.UTC)
	// Each response needs 2 per sampling point (4); the pool holds the 3
	// volunteers and the teacher.
	const pool, need = 4, 4
	for round := range 15 {
		incs := []string{fmt.Sprintf("inc-a-%d", round), fmt.Sprintf("inc-b-%d", round)}
		var wg sync.WaitGroup
		res := make([]domain.Mobilization, 2)
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, inc := range incs {
			step := "wf-" + inc
			if _, err := s.PlanPosts(ctx, store.PostOrder{Incident: inc, Step: step, AreaID: town, From: from, To: from.Add(4 * time.Hour), Hours: 4, PerSamplingPoint: 2},
				event(inc, step, "posts", "")); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				<-start
				res[i], errs[i] = s.AssignStaff(ctx, store.AssignOrder{Incident: inc, Step: step, AreaID: town, AckBy: from.Add(time.Hour)}, event(inc, step, "assign", ""))
			})
		}
		close(start)
		wg.Wait()
		total := 0
		for i := range incs {
			if errs[i] != nil {
				t.Fatalf("round %d: AssignStaff(%s) error = %v", round, incs[i], errs[i])
			}
			if res[i].Assigned+res[i].Shortfall != need {
				t.Errorf("round %d: AssignStaff(%s) = %d assigned + %d short, want %d", round, incs[i], res[i].Assigned, res[i].Shortfall, need)
			}
			total += res[i].Assigned
		}
		if total != pool {
			t.Errorf("round %d: %d assigned across both responses, want the whole pool of %d", round, total, pool)
		}
		if n := count(t, s, `SELECT count(*) FROM staff_assignments a JOIN staff_assignments b ON a.staff_id = b.staff_id AND a.id < b.id
			AND a.shift && b.shift AND a.state IN ('notified', 'acknowledged') AND b.state IN ('notified', 'acknowledged')`); n != 0 {
			t.Fatalf("round %d: %d overlapping bookings of one person, want 0", round, n)
		}
		for _, inc := range incs {
			if _, err := s.ReleaseStaff(ctx, "wf-"+inc, from, event(inc, "wf-"+inc, "release", "")); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The database itself refuses a second booking, whatever the code does.
	_, err := s.DB().ExecContext(ctx, `INSERT INTO staff_assignments (post_id, incident, step, staff_id, shift, hours, ack_by)
		SELECT p.id, 'x', 'x', st.id, tstzrange($1, $2), 1, $2 FROM staff_posts p, staff st WHERE st.code = 'east-vol-01' LIMIT 2`,
		from, from.Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "staff_one_place_at_a_time") {
		t.Errorf("two overlapping bookings of one person = %v, want the exclusion constraint to refuse", err)
	}
}

// TestAssignNearestFirst: each point takes its own community's staff before
// the district's, and the shift limit keeps the 4-hour teacher off a
// longer shift.
func TestAssignNearestFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, supplyTown))
	town := areaID(t, s, "town")
	from := time.Date(2022, 4, 3, 17, 0, 0, 0, time.UTC)
	if _, err := s.PlanPosts(ctx, store.PostOrder{Incident: "inc", Step: "wf", AreaID: town, From: from, To: from.Add(6 * time.Hour), Hours: 6, PerSamplingPoint: 2},
		event("inc", "wf", "posts", "")); err != nil {
		t.Fatal(err)
	}
	m, err := s.AssignStaff(ctx, store.AssignOrder{Incident: "inc", Step: "wf", AreaID: town, AckBy: from.Add(time.Hour)}, event("inc", "wf", "assign", ""))
	if err != nil {
		t.Fatal(err)
	}
	// East point: two east volunteers; west point: the third (east is
	// its parent's sibling, not an ancestor, so none) — the district's
	// teacher is over his limit for 6 hours.
	as, err := s.Assignments(ctx, "inc", "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, a := range as {
		got[a.Post] = append(got[a.Post], a.Staff)
	}
	if len(got["east-point"]) != 2 || len(got["west-point"]) != 0 || m.Shortfall != 2 {
		t.Errorf("AssignStaff() = %v, shortfall %d; want two east volunteers at east-point, nobody at west-point, 2 short", got, m.Shortfall)
	}
	// A repeated call adds nothing.
	again, err := s.AssignStaff(ctx, store.AssignOrder{Incident: "inc", Step: "wf", AreaID: town, AckBy: from.Add(time.Hour)}, event("inc", "wf", "assign", ""))
	if err != nil || again.Assigned != m.Assigned || again.New != 0 {
		t.Errorf("AssignStaff() again = %+v, %v; want the same %d assigned, none new", again, err, m.Assigned)
	}
	if n := count(t, s, `SELECT count(*) FROM notices WHERE kind LIKE 'mobilization/%'`); n != 2 {
		t.Errorf("mobilization notices = %d, want 2", n)
	}
	// Each keeps its message and the arguments its English text was written
	// from, so a route in another language gets the same facts.
	if n := count(t, s, `SELECT count(*) FROM notices WHERE kind LIKE 'mobilization/%' AND message_key = 'mobilization'
		AND body LIKE '%' || (message_args->>'post') || ' (' || (message_args->>'post_kind') || ')%'
		AND body LIKE '%shift ' || (message_args->>'from') || ' to ' || (message_args->>'to') || '%'
		AND body LIKE '%ack ' || (message_args->>'assignment') || ' --staff ' || (message_args->>'staff')`); n != 2 {
		t.Errorf("mobilization notices with their message and arguments = %d, want 2", n)
	}
}

// TestAcknowledgeRemindReassign covers the mobilization cycle and its bad
// input: someone else's assignment, an unknown one, a lapsed one.
func TestAcknowledgeRemindReassign(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, supplyTown))
	east := areaID(t, s, "east")
	from := time.Date(2022, 4, 3, 17, 0, 0, 0, time.UTC)
	ackBy := from.Add(time.Hour)
	if _, err := s.PlanPosts(ctx, store.PostOrder{Incident: "inc", Step: "wf", AreaID: east, From: from, To: from.Add(4 * time.Hour), Hours: 4, PerSamplingPoint: 2},
		event("inc", "wf", "posts", "")); err != nil {
		t.Fatal(err)
	}
	m, err := s.AssignStaff(ctx, store.AssignOrder{Incident: "inc", Step: "wf", AreaID: east, AckBy: ackBy}, event("inc", "wf", "assign", ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.PendingAcks) != 2 || m.Passes != 2 {
		t.Fatalf("AssignStaff() = %+v, want 2 pending acknowledgements and 2 passes", m)
	}
	first, second := m.PendingAcks[0], m.PendingAcks[1]
	for _, c := range []struct {
		name  string
		id    int64
		staff string
		want  error
	}{
		{"someone else's", first.ID, second.Staff, domain.ErrConflict},
		{"unknown", 999999, first.Staff, domain.ErrNotFound},
		{"no staff", first.ID, "", domain.ErrInvalid},
	} {
		if _, err := s.Acknowledge(ctx, c.id, c.staff, from); !errors.Is(err, c.want) {
			t.Errorf("Acknowledge(%s) = %v, want %v", c.name, err, c.want)
		}
	}
	if a, err := s.Acknowledge(ctx, first.ID, first.Staff, from); err != nil || a.State != "acknowledged" {
		t.Fatalf("Acknowledge(own) = %+v, %v; want acknowledged", a, err)
	}
	if _, err := s.Acknowledge(ctx, first.ID, first.Staff, from); err != nil {
		t.Errorf("Acknowledge(own) twice = %v, want nil", err)
	}
	if n, err := s.Remind(ctx, "wf", from.Add(30*time.Minute), event("inc", "wf", "remind", "")); err != nil || n != 1 {
		t.Errorf("Remind() = %d, %v; want 1 reminded", n, err)
	}
	// The deadline passes: the second lapses, the third volunteer takes
	// the post.
	r, err := s.Reassign(ctx, store.AssignOrder{Incident: "inc", Step: "wf", AreaID: east, AckBy: ackBy.Add(time.Hour)}, ackBy, event("inc", "wf", "reassign", ""))
	if err != nil {
		t.Fatal(err)
	}
	if r.Lapsed != 1 || r.New != 1 || r.Assigned != 2 || r.Acknowledged != 1 {
		t.Errorf("Reassign() = %+v, want 1 lapsed, 1 new, 2 assigned, 1 acknowledged", r)
	}
	if len(r.PendingAcks) != 1 || r.PendingAcks[0].Staff == second.Staff {
		t.Errorf("Reassign().PendingAcks = %+v, want one, not %s", r.PendingAcks, second.Staff)
	}
	if _, err := s.Acknowledge(ctx, second.ID, second.Staff, ackBy); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("Acknowledge(lapsed) = %v, want ErrConflict", err)
	}
	if n := count(t, s, `SELECT count(*) FROM passes WHERE revoked_reason LIKE 'assignment lapsed%'`); n != 1 {
		t.Errorf("passes revoked with the lapse = %d, want 1", n)
	}
}

// TestPassesRevokedOnLift issues passes in a sealed community and lifts the
// seal: the passes are revoked once, and verification says so.
func TestPassesRevokedOnLift(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, supplyTown))
	east, oak := areaID(t, s, "east"), areaID(t, s, "oak-court")
	now := time.Now()
	if err := s.OpenResponse(ctx, store.Response{Incident: "inc", Runbook: "r", Level: 1, AreaPath: "town/east"}, event("inc", "wf", "open", "")); err != nil {
		t.Fatal(err)
	}
	plan, err := s.SealPlan(ctx, "oak-court")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: "inc", GateID: plan.Gates[0].ID, AreaID: oak, Mode: "entry", RequiredStaff: 1},
		func(store.CheckpointResult) domain.Event { return event("inc", "wf", "checkpoint", "") }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PlanPosts(ctx, store.PostOrder{Incident: "inc", Step: "wf", AreaID: east, From: now.Add(-time.Hour), To: now.Add(3 * time.Hour), Hours: 4, PerSamplingPoint: 1},
		event("inc", "wf", "posts", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AssignStaff(ctx, store.AssignOrder{Incident: "inc", Step: "wf", AreaID: east, AckBy: now}, event("inc", "wf", "assign", "")); err != nil {
		t.Fatal(err)
	}
	truck, err := s.IssueVehiclePass(ctx, store.VehiclePass{Incident: "inc", Plate: "JIN-A1234", Area: "east", From: now.Add(-time.Hour), To: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		v    store.VehiclePass
		want error
	}{
		{"window backwards", store.VehiclePass{Incident: "inc", Plate: "X1", Area: "east", From: now, To: now.Add(-time.Hour)}, domain.ErrInvalid},
		{"window too long", store.VehiclePass{Incident: "inc", Plate: "X1", Area: "east", From: now, To: now.Add(40 * 24 * time.Hour)}, domain.ErrInvalid},
		{"unknown area", store.VehiclePass{Incident: "inc", Plate: "X1", Area: "nowhere", From: now, To: now.Add(time.Hour)}, domain.ErrNotFound},
		{"unknown incident", store.VehiclePass{Incident: "nope", Plate: "X1", Area: "east", From: now, To: now.Add(time.Hour)}, domain.ErrNotFound},
		{"no plate", store.VehiclePass{Incident: "inc", Area: "east", From: now, To: now.Add(time.Hour)}, domain.ErrInvalid},
	} {
		if _, err := s.IssueVehiclePass(ctx, c.v); !errors.Is(err, c.want) {
			t.Errorf("IssueVehiclePass(%s) = %v, want %v", c.name, err, c.want)
		}
	}
	for _, c := range []struct {
		at   time.Time
		area string
		want string
	}{
		{now, "", store.PassValid},
		{now, "oak-court", store.PassValid},
		{now, "west", store.PassWrongArea},
		{now.Add(2 * time.Hour), "", store.PassExpired},
		{now.Add(-2 * time.Hour), "", store.PassNotYet},
	} {
		if got, err := s.VerifyPass(ctx, truck.Code, c.at, c.area); err != nil || got.Status != c.want {
			t.Errorf("VerifyPass(%s at %s in %q) = %s, %v; want %s", truck.Code, c.at.Sub(now), c.area, got.Status, err, c.want)
		}
	}
	if _, err := s.VerifyPass(ctx, "PS-NOPE", now, ""); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("VerifyPass(unknown) = %v, want ErrNotFound", err)
	}
	for range 2 {
		if _, err := s.Reopen(ctx, "inc", oak, event("inc", "wf-seal", "reopen", "")); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.VerifyPass(ctx, truck.Code, time.Now(), ""); err != nil || got.Status != store.PassRevoked {
		t.Errorf("VerifyPass after the lift = %s, %v; want revoked", got.Status, err)
	}
	if n := count(t, s, `SELECT count(*) FROM passes WHERE incident = 'inc' AND revoked_reason = 'seal lifted'`); n != 2 {
		t.Errorf("passes revoked by the lift = %d, want 2 (the staff pass and the truck's)", n)
	}
}

// TestRestockCycle: low stock orders a restock once, a delivery raises the
// stock, a shipment past due is late; bad reports write nothing.
func TestRestockCycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, supplyTown))
	town := areaID(t, s, "town")
	now := time.Date(2022, 4, 3, 8, 0, 0, 0, time.UTC)
	order := store.SupplyOrder{Incident: "inc", Step: "wf", AreaID: town, Need: map[string]float64{"vegetables": 0.5, "grain": 0.4},
		MinDays: 3, TargetDays: 7, Now: now, Due: now.Add(6 * time.Hour)}
	st, err := s.CheckSupply(ctx, order, event("inc", "wf", "check", "1"))
	if err != nil {
		t.Fatal(err)
	}
	// East feeds 1,000 residents: 0.5 t of vegetables a day against 0.3 t
	// in stock; 0.4 t of grain against 5 t.
	if len(st.Levels) != 2 || st.Ordered != 1 {
		t.Fatalf("CheckSupply() = %+v, want 2 levels (east grain, vegetables) and 1 order", st)
	}
	veg := st.Levels[1]
	if veg.Commodity != "vegetables" || !veg.Low || veg.Order == nil || veg.Order.Tonnes != 3.2 || veg.Order.Site != "corner-shop" {
		t.Fatalf("vegetables = %+v (order %+v), want low with an order of 3.2 t to corner-shop (the least stocked)", veg, veg.Order)
	}
	if again, err := s.CheckSupply(ctx, order, event("inc", "wf", "check", "2")); err != nil || again.Ordered != 0 || again.Orders != 1 {
		t.Errorf("CheckSupply() again = %+v, %v; want no second order", again, err)
	}
	id := veg.Order.ID
	for _, c := range []struct {
		name string
		d    store.Delivery
		want error
	}{
		{"nothing", store.Delivery{Shipment: id, Tonnes: 0}, domain.ErrInvalid},
		{"negative", store.Delivery{Shipment: id, Tonnes: -3}, domain.ErrInvalid},
		{"absurd", store.Delivery{Shipment: id, Tonnes: 3200}, domain.ErrInvalid},
		{"unknown", store.Delivery{Shipment: 99999, Tonnes: 3}, domain.ErrNotFound},
	} {
		if _, err := s.ConfirmDelivery(ctx, c.d, now); !errors.Is(err, c.want) {
			t.Errorf("ConfirmDelivery(%s) = %v, want %v", c.name, err, c.want)
		}
	}
	late := order
	late.Now = now.Add(7 * time.Hour)
	late.Due = late.Now.Add(6 * time.Hour)
	if st, err := s.CheckSupply(ctx, late, event("inc", "wf", "check", "3")); err != nil || len(st.Late) != 1 || st.Late[0].ID != id {
		t.Errorf("CheckSupply() after the due time = %+v, %v; want shipment %d late", st.Late, err, id)
	}
	sh, err := s.ConfirmDelivery(ctx, store.Delivery{Shipment: id, Tonnes: 3.2, By: "corner-shop"}, now.Add(8*time.Hour))
	if err != nil || sh.State != "delivered" {
		t.Fatalf("ConfirmDelivery() = %+v, %v; want delivered", sh, err)
	}
	if _, err := s.ConfirmDelivery(ctx, store.Delivery{Shipment: id, Tonnes: 3.2}, now.Add(8*time.Hour)); err != nil {
		t.Errorf("ConfirmDelivery() twice = %v, want nil", err)
	}
	if _, err := s.ConfirmDelivery(ctx, store.Delivery{Shipment: id, Tonnes: 2}, now.Add(8*time.Hour)); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("ConfirmDelivery() again with other tonnes = %v, want ErrConflict", err)
	}
	after := order
	after.Now = now.Add(9 * time.Hour)
	after.Due = after.Now.Add(6 * time.Hour)
	st, err = s.CheckSupply(ctx, after, event("inc", "wf", "check", "4"))
	if err != nil {
		t.Fatal(err)
	}
	if v := st.Levels[1]; v.Low || v.Stock != 3.5 || st.Delivered != 1 {
		t.Errorf("vegetables after delivery = %+v (delivered %d), want 3.5 t, not low", v, st.Delivered)
	}

	// Bad stock reports: every problem named, nothing written.
	_, err = s.ReportStock(ctx, "", []store.StockRow{
		{Site: "corner-shop", Commodity: "grain", Tonnes: 1},
		{Site: "corner-shop", Commodity: "beer", Tonnes: 1},
		{Site: "east-point", Commodity: "grain", Tonnes: 1},
		{Site: "east-market", Commodity: "milk", Tonnes: -1},
		{Site: "east-market", Commodity: "milk", Tonnes: 1e9},
	}, "test")
	for _, want := range []string{"rows[1].commodity", "rows[2].site", "rows[3].tonnes", "rows[4].tonnes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReportStock(bad rows) = %v, want it to name %s", err, want)
		}
	}
	if !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("ReportStock(bad rows) = %v, want ErrInvalid", err)
	}
	if n := count(t, s, `SELECT count(*) FROM supplier_stock ss JOIN sites si ON si.id = ss.site_id WHERE si.code = 'corner-shop' AND commodity = 'grain' AND tonnes = 5`); n != 1 {
		t.Errorf("corner-shop grain after a refused report changed, want 5 t")
	}
	if _, err := s.CheckSupply(ctx, store.SupplyOrder{Incident: "inc", Step: "wf", AreaID: town, Need: map[string]float64{"beer": 1}, MinDays: 3, TargetDays: 7, Now: now, Due: now.Add(time.Hour)},
		event("inc", "wf", "check", "5")); !errors.Is(err, domain.ErrInvalid) || !strings.Contains(err.Error(), "need.beer") {
		t.Errorf("CheckSupply(unknown commodity) = %v, want ErrInvalid naming need.beer", err)
	}
}

// TestVolunteerSignUp: sign-ups until the quota or the close, each once.
func TestVolunteerSignUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, supplyTown))
	east := areaID(t, s, "east")
	now := time.Now()
	if _, err := s.OpenVolunteerDrive(ctx, domain.VolunteerDrive{Incident: "inc", AreaID: east, Step: "wf", Quota: 2, ClosesAt: now.Add(time.Hour)}, event("inc", "wf", "drive", "")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range 5 {
		wg.Go(func() {
			_, errs[i] = s.SignUpVolunteer(ctx, store.SignUp{Incident: "inc", Area: "east", Key: fmt.Sprint("form-", i), Name: "Student"}, now)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, domain.ErrConflict) {
			t.Errorf("SignUpVolunteer() = %v, want nil or ErrConflict (full)", err)
		}
	}
	if ok != 2 {
		t.Errorf("sign-ups taken = %d, want the quota of 2", ok)
	}
	for _, c := range []struct {
		name string
		u    store.SignUp
		at   time.Time
		want error
	}{
		{"unknown area", store.SignUp{Incident: "inc", Area: "nowhere", Key: "k", Name: "A"}, now, domain.ErrNotFound},
		{"no drive", store.SignUp{Incident: "other", Area: "east", Key: "k", Name: "A"}, now, domain.ErrNotFound},
		{"no name", store.SignUp{Incident: "inc", Area: "east", Key: "k"}, now, domain.ErrInvalid},
		{"closed", store.SignUp{Incident: "inc", Area: "east", Key: "late", Name: "A"}, now.Add(2 * time.Hour), domain.ErrConflict},
	} {
		if _, err := s.SignUpVolunteer(ctx, c.u, c.at); !errors.Is(err, c.want) {
			t.Errorf("SignUpVolunteer(%s) = %v, want %v", c.name, err, c.want)
		}
	}
}

// An acknowledgement after its deadline, or after the response has
// closed, is refused; closing the response releases its assignments.
func TestAcknowledgeRefusedLateOrClosed(t *testing.T) {
	ctx := context.Background()
	s := loaded(t, parse(t, supplyTown))
	east := areaID(t, s, "east")
	from := time.Date(2022, 4, 3, 17, 0, 0, 0, time.UTC)
	ackBy := from.Add(time.Hour)
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO responses (incident, runbook, area_path) VALUES ('inc', 'test', 'town')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PlanPosts(ctx, store.PostOrder{Incident: "inc", Step: "wf", AreaID: east, From: from, To: from.Add(4 * time.Hour), Hours: 4, PerSamplingPoint: 2},
		event("inc", "wf", "posts", "")); err != nil {
		t.Fatal(err)
	}
	m, err := s.AssignStaff(ctx, store.AssignOrder{Incident: "inc", Step: "wf", AreaID: east, AckBy: ackBy}, event("inc", "wf", "assign", ""))
	if err != nil || len(m.PendingAcks) != 2 {
		t.Fatalf("AssignStaff() = %+v, %v; want 2 pending", m, err)
	}
	first, second := m.PendingAcks[0], m.PendingAcks[1]
	if _, err := s.Acknowledge(ctx, first.ID, first.Staff, ackBy.Add(time.Minute)); !errors.Is(err, domain.ErrConflict) || !strings.Contains(err.Error(), "too late") {
		t.Errorf("Acknowledge(after its deadline) = %v, want ErrConflict: too late", err)
	}
	if err := s.SetResponseState(ctx, "inc", "closed", 1, event("inc", "response/inc", "response", "closed")); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM staff_assignments WHERE incident = 'inc' AND state IN ('notified', 'acknowledged')`); n != 0 {
		t.Errorf("assignments still active after the response closed = %d, want 0", n)
	}
	if _, err := s.Acknowledge(ctx, second.ID, second.Staff, from); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("Acknowledge(after the response closed) = %v, want ErrConflict", err)
	}
}
