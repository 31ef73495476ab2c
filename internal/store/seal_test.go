package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// staffFor counts the staff of the scenario who may stand at a checkpoint of
// the area: those of the area and its ancestors with a checkpoint role.
func staffFor(r scenario.Rows, code string) int {
	var path string
	for _, a := range r.Areas {
		if a.Code == code {
			path = a.Path
		}
	}
	mine := map[string]bool{}
	for _, p := range domain.PathPrefixes(path) {
		mine[p[strings.LastIndex(p, "/")+1:]] = true
	}
	n := 0
	for _, s := range r.Staff {
		if mine[s.AreaCode] && slices.Contains(store.CheckpointRoles, s.Role) {
			n++
		}
	}
	return n
}

func TestSealPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := reference(t)
	s := loaded(t, r)

	p, err := s.SealPlan(ctx, "longbao-jiayuan")
	if err != nil {
		t.Fatalf("SealPlan(longbao-jiayuan) error = %v", err)
	}
	if p.Compound.Code != "longbao-jiayuan" || p.Compound.Population != 1486 {
		t.Errorf("SealPlan().Compound = %s with %d residents, want longbao-jiayuan with 1486", p.Compound.Code, p.Compound.Population)
	}
	var gates []string
	entrances := 0
	for _, g := range p.Gates {
		gates = append(gates, g.Code)
		if g.Entrance {
			entrances++
			if g.Code != "north" {
				t.Errorf("SealPlan() entrance gate = %s, want north", g.Code)
			}
		}
	}
	if want := []string{"east", "north", "west"}; !reflect.DeepEqual(gates, want) || entrances != 1 {
		t.Errorf("SealPlan().Gates = %v with %d entrances, want %v with 1", gates, entrances, want)
	}
	var roads []string
	var entranceRoads []string
	for _, rd := range p.Roads {
		if rd.AreaCode == "longbao" {
			roads = append(roads, rd.Code)
		}
		if rd.Entrance {
			entranceRoads = append(entranceRoads, rd.Code)
		}
	}
	if len(roads) != 3 {
		t.Errorf("SealPlan().Roads of longbao = %v, want its 3 roads", roads)
	}
	if want := []string{"longbao-street"}; !reflect.DeepEqual(entranceRoads, want) {
		t.Errorf("SealPlan() entrance roads = %v, want %v", entranceRoads, want)
	}
	if want := []string{"gates", "stairwells", "lift lobbies", "refuse points", "car park"}; !reflect.DeepEqual(p.PublicAreas, want) {
		t.Errorf("SealPlan().PublicAreas = %q, want %q", p.PublicAreas, want)
	}
	wantStaff := staffFor(r, "longbao-jiayuan")
	if wantStaff < 70 {
		t.Fatalf("reference has %d staff for longbao-jiayuan, want at least Longbao's 70", wantStaff)
	}
	if p.StaffAvailable != wantStaff {
		t.Errorf("SealPlan().StaffAvailable = %d, want %d", p.StaffAvailable, wantStaff)
	}

	// Staff at a checkpoint are no longer available to another seal.
	if _, err := s.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: "inc-plan", GateID: p.Gates[0].ID, AreaID: p.Compound.ID, Mode: "closed", RequiredStaff: 4},
		func(store.CheckpointResult) domain.Event { return event("inc-plan", "wf-plan", "checkpoint/east", "") }); err != nil {
		t.Fatal(err)
	}
	if p2, err := s.SealPlan(ctx, "jinxiu-huating"); err != nil || p2.StaffAvailable != wantStaff-4 {
		t.Errorf("SealPlan(jinxiu-huating).StaffAvailable with 4 on duty = %d, %v, want %d", p2.StaffAvailable, err, wantStaff-4)
	}

	for _, tt := range []struct {
		code string
		want error
	}{
		{"longbao", domain.ErrNotCompound},
		{"xiaodian", domain.ErrNotCompound},
		{"nowhere", domain.ErrNotFound},
	} {
		if _, err := s.SealPlan(ctx, tt.code); !errors.Is(err, tt.want) {
			t.Errorf("SealPlan(%s) error = %v, want %v", tt.code, err, tt.want)
		}
	}
}

// TestSealPlanDefaultZones checks that a compound listing no public areas is
// disinfected in the default zones.
func TestSealPlanDefaultZones(t *testing.T) {
	t.Parallel()
	s := loaded(t, parse(t, tiny))
	p, err := s.SealPlan(context.Background(), "elm-court")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.PublicAreas, store.DefaultPublicAreas) {
		t.Errorf("SealPlan(elm-court).PublicAreas = %q, want %q", p.PublicAreas, store.DefaultPublicAreas)
	}
}

func event(incident, workflowID, step, seq string) domain.Event {
	return domain.Event{Incident: incident, WorkflowID: workflowID, Step: step, State: "done", Reason: step, Seq: seq}
}

// sealTables are the tables a seal writes.
var sealTables = []string{"responses", "notices", "checkpoints", "checkpoint_staff", "road_closures",
	"disinfection_tasks", "compliance_checks", "step_events"}

// snapshot renders every row of the seal tables, timestamps included, so two
// snapshots are equal only when nothing was written in between.
func snapshot(t *testing.T, s *store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range sealTables {
		var rows string
		if err := s.DB().GetContext(context.Background(), &rows,
			`SELECT coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '') FROM `+table+` t`); err != nil {
			t.Fatalf("snapshot %s: %v", table, err)
		}
		out[table] = rows
	}
	return out
}

// TestWritesIdempotent calls every write twice with the same arguments, as a
// retried activity does, and checks that the second call returns the same and
// writes nothing.
func TestWritesIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, reference(t))
	const inc, wf = "inc-twice", "seal/inc-twice/longbao-jiayuan"
	p, err := s.SealPlan(ctx, "longbao-jiayuan")
	if err != nil {
		t.Fatal(err)
	}
	area := p.Compound.ID
	var closeIDs []int64
	for _, r := range p.Roads {
		if !r.Entrance {
			closeIDs = append(closeIDs, r.ID)
		}
	}
	const perGate = 2

	tests := []struct {
		name string
		do   func() (any, error)
		// between runs after the first call, to change what a fresh check
		// would see.
		between func(t *testing.T)
		rows    string
		want    int
		events  int
	}{
		{
			name: "OpenResponse",
			do: func() (any, error) {
				return nil, s.OpenResponse(ctx, store.Response{Incident: inc, Runbook: "seal-compound", Level: 1, AreaPath: p.Compound.Path},
					event(inc, wf, "plan", ""))
			},
			rows: `SELECT count(*) FROM responses WHERE incident = $1`, want: 1, events: 1,
		},
		{
			name: "PublishNotice",
			do: func() (any, error) {
				return nil, s.PublishNotice(ctx, store.Notice{Key: inc + "/seal-announced", Incident: inc, AreaID: area,
					Audience: "residents", Kind: "seal-announced", Body: "Sealed from now."}, event(inc, wf, "notify-residents", ""))
			},
			rows: `SELECT count(*) FROM notices WHERE incident = $1`, want: 1, events: 1,
		},
		{
			name: "OpenCheckpoint",
			do: func() (any, error) {
				var out []store.CheckpointResult
				for _, g := range p.Gates {
					mode := "closed"
					if g.Entrance {
						mode = "entry"
					}
					res, err := s.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: inc, GateID: g.ID, AreaID: area, Mode: mode, RequiredStaff: perGate},
						func(store.CheckpointResult) domain.Event { return event(inc, wf, "checkpoint/"+g.Code, "") })
					if err != nil {
						return nil, err
					}
					out = append(out, res)
				}
				return out, nil
			},
			rows: `SELECT (SELECT count(*) FROM checkpoints WHERE incident = $1) * 100 +
				(SELECT count(*) FROM checkpoint_staff cs JOIN checkpoints c ON c.id = cs.checkpoint_id WHERE c.incident = $1)`,
			want: 3*100 + 3*perGate, events: 3,
		},
		{
			name: "CloseRoads",
			do: func() (any, error) {
				return s.CloseRoads(ctx, inc, area, closeIDs, event(inc, wf, "close-roads", ""))
			},
			rows: `SELECT count(*) FROM road_closures WHERE incident = $1`, want: 2, events: 1,
		},
		{
			name: "Disinfect",
			do: func() (any, error) {
				return s.Disinfect(ctx, inc, area, p.PublicAreas, 1, event(inc, wf, "disinfect", "1"))
			},
			rows: `SELECT count(*) FROM disinfection_tasks WHERE incident = $1`, want: 5, events: 1,
		},
		{
			name: "CheckCompliance",
			do: func() (any, error) {
				return s.CheckCompliance(ctx, inc, area, 1, func([]store.ComplianceResult) domain.Event {
					return event(inc, wf, "compliance-check", "1")
				})
			},
			// A guard goes off duty: the recorded round must not change.
			between: func(t *testing.T) {
				if _, err := s.DB().ExecContext(ctx, `UPDATE checkpoint_staff SET released_at = now()
					WHERE (checkpoint_id, staff_id) = (SELECT cs.checkpoint_id, cs.staff_id FROM checkpoint_staff cs
					  JOIN checkpoints c ON c.id = cs.checkpoint_id WHERE c.incident = $1 ORDER BY cs.staff_id LIMIT 1)`, inc); err != nil {
					t.Fatal(err)
				}
			},
			rows: `SELECT count(*) FROM compliance_checks WHERE incident = $1`, want: 3, events: 1,
		},
		{
			name: "Reopen",
			do: func() (any, error) {
				return s.Reopen(ctx, inc, area, event(inc, wf, "reopen", ""))
			},
			rows: `SELECT count(*) FROM checkpoints WHERE incident = $1 AND closed_at IS NOT NULL`, want: 3, events: 1,
		},
		{
			name: "AppendEvent",
			do: func() (any, error) {
				return nil, s.AppendEvent(ctx, domain.Event{Incident: inc, WorkflowID: wf, Step: "hold", State: "done", Reason: "lifted", Actor: "duty officer"})
			},
			rows: `SELECT count(*) FROM step_events WHERE incident = $1 AND step = 'hold'`, want: 1, events: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := count(t, s, `SELECT count(*) FROM step_events WHERE incident = $1`, inc)
			first, err := tt.do()
			if err != nil {
				t.Fatalf("%s() error = %v", tt.name, err)
			}
			if n := count(t, s, tt.rows, inc); n != tt.want {
				t.Errorf("%s() rows = %d, want %d", tt.name, n, tt.want)
			}
			if n := count(t, s, `SELECT count(*) FROM step_events WHERE incident = $1`, inc) - events; n != tt.events {
				t.Errorf("%s() events = %d, want %d", tt.name, n, tt.events)
			}
			if tt.between != nil {
				tt.between(t)
			}
			before := snapshot(t, s)
			second, err := tt.do()
			if err != nil {
				t.Fatalf("%s() again error = %v", tt.name, err)
			}
			if !reflect.DeepEqual(second, first) {
				t.Errorf("%s() again = %+v, want %+v", tt.name, second, first)
			}
			after := snapshot(t, s)
			for _, table := range sealTables {
				if after[table] != before[table] {
					t.Errorf("%s() again changed %s:\nbefore:\n%s\nafter:\n%s", tt.name, table, before[table], after[table])
				}
			}
		})
	}

	// The figures the seal ends with, once.
	got, err := s.SealRecords(ctx, inc, area)
	if err != nil {
		t.Fatal(err)
	}
	want := store.SealRecords{Checkpoints: 3, StaffAssigned: 3 * perGate, RoadClosures: 2,
		DisinfectionTasks: 5, ComplianceChecks: 3, Notices: 1}
	if got != want {
		t.Errorf("SealRecords() = %+v, want %+v", got, want)
	}
	if r, err := s.ResponseByIncident(ctx, inc); err != nil || r.Runbook != "seal-compound" || r.State != "open" {
		t.Errorf("ResponseByIncident() = %+v, %v, want the seal-compound response, open", r, err)
	}
}

// TestOpenResponseKeepsFirst checks that a later call for the same incident
// keeps the first record.
func TestOpenResponseKeepsFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, tiny))
	for i, level := range []int{1, 2} {
		r := store.Response{Incident: "inc-1", Runbook: "seal-compound", Level: level, AreaPath: "town/east/oak-court"}
		if err := s.OpenResponse(ctx, r, event("inc-1", "wf-1", "plan", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := s.ResponseByIncident(ctx, "inc-1"); err != nil || r.Level != 1 {
		t.Errorf("ResponseByIncident(inc-1).Level = %d, %v, want 1", r.Level, err)
	}
	if _, err := s.ResponseByIncident(ctx, "inc-2"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("ResponseByIncident(inc-2) error = %v, want ErrNotFound", err)
	}
}

// tiny is a district with one community of three checkpoint staff (and a
// doctor, who does not stand at gates) and two compounds.
const tiny = `
name: tiny
areas:
  - code: town
    name: Town
    level: district
    areas:
      - code: east
        name: East Community
        level: community
        roads:
          - code: main-street
            name: Main Street
            entrance: true
          - code: back-lane
            name: Back Lane
          - code: mill-road
            name: Mill Road
        staff:
          - code: worker
            name: Worker
            role: community-worker
            count: 3
          - code: doctor
            name: Doctor
            role: medical
        areas:
          - code: oak-court
            name: Oak Court
            level: compound
            population: 120
            gates:
              - code: main
                name: Main gate
                entrance: true
              - code: side
                name: Side gate
            public_areas: [gates, stairwells]
          - code: elm-court
            name: Elm Court
            level: compound
            population: 80
            gates:
              - code: main
                name: Main gate
                entrance: true
`

// TestNoDoubleBooking seals two compounds for two incidents at once from one
// pool of three staff, asking for more than there are.
func TestNoDoubleBooking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, tiny))
	const pool, perGate = 3, 2
	type order struct {
		incident string
		plan     store.SealPlan
		gate     store.Gate
	}
	var orders []order
	for _, c := range []struct{ incident, compound string }{{"inc-oak", "oak-court"}, {"inc-elm", "elm-court"}} {
		p, err := s.SealPlan(ctx, c.compound)
		if err != nil {
			t.Fatal(err)
		}
		if p.StaffAvailable != pool {
			t.Fatalf("SealPlan(%s).StaffAvailable = %d, want %d", c.compound, p.StaffAvailable, pool)
		}
		for _, g := range p.Gates {
			orders = append(orders, order{c.incident, p, g})
		}
	}
	demand := len(orders) * perGate

	// Several rounds, each sealing under new incident names after the last
	// round's seals were lifted, give the race several chances.
	for round := range 25 {
		results := make([]store.CheckpointResult, len(orders))
		errs := make([]error, len(orders))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, o := range orders {
			wg.Go(func() {
				<-start
				inc := fmt.Sprintf("%s-%d", o.incident, round)
				results[i], errs[i] = s.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: inc, GateID: o.gate.ID, AreaID: o.plan.Compound.ID, Mode: "closed", RequiredStaff: perGate},
					func(store.CheckpointResult) domain.Event { return event(inc, "wf-"+inc, "checkpoint/"+o.gate.Code, "") })
			})
		}
		close(start)
		wg.Wait()

		assigned, shortfall := map[string]int{}, 0
		for i, res := range results {
			if errs[i] != nil {
				t.Fatalf("round %d: OpenCheckpoint(%s, %s) error = %v", round, orders[i].incident, orders[i].gate.Code, errs[i])
			}
			if len(res.Staff)+res.Shortfall != perGate {
				t.Errorf("round %d: OpenCheckpoint(%s, %s) = %d staff, %d short, want %d in all", round, orders[i].incident, orders[i].gate.Code, len(res.Staff), res.Shortfall, perGate)
			}
			for _, code := range res.Staff {
				assigned[code]++
			}
			shortfall += res.Shortfall
		}
		for code, n := range assigned {
			if n > 1 {
				t.Errorf("round %d: staff %s at %d checkpoints, want 1", round, code, n)
			}
			if code == "doctor" {
				t.Errorf("round %d: doctor assigned to a checkpoint, want checkpoint roles only", round)
			}
		}
		if shortfall != demand-len(assigned) || len(assigned) > pool {
			t.Errorf("round %d: %d staff assigned and %d posts short, want at most %d assigned and the rest of %d short", round, len(assigned), shortfall, pool, demand)
		}
		if n := count(t, s, `SELECT count(*) FROM (SELECT cs.staff_id FROM checkpoint_staff cs JOIN checkpoints c ON c.id = cs.checkpoint_id
			WHERE c.closed_at IS NULL AND cs.released_at IS NULL GROUP BY cs.staff_id HAVING count(*) > 1) twice`); n != 0 {
			t.Errorf("round %d: staff on duty at two open checkpoints = %d, want 0", round, n)
		}

		// Lifting the seals frees everyone for the next round.
		lifted := map[string]bool{}
		for _, o := range orders {
			inc := fmt.Sprintf("%s-%d", o.incident, round)
			if lifted[inc] {
				continue
			}
			lifted[inc] = true
			if _, err := s.Reopen(ctx, inc, o.plan.Compound.ID, event(inc, "wf-"+inc, "reopen", "")); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, s, `SELECT count(*) FROM checkpoint_staff WHERE released_at IS NULL`); n != 0 {
			t.Fatalf("round %d: staff on duty after both seals were lifted = %d, want 0", round, n)
		}
	}
}

// TestReassignAfterReopen lifts one seal and gives its staff to another.
func TestReassignAfterReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, tiny))
	oak, err := s.SealPlan(ctx, "oak-court")
	if err != nil {
		t.Fatal(err)
	}
	elm, err := s.SealPlan(ctx, "elm-court")
	if err != nil {
		t.Fatal(err)
	}
	open := func(inc string, p store.SealPlan, need int) store.CheckpointResult {
		t.Helper()
		res, err := s.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: inc, GateID: p.Gates[0].ID, AreaID: p.Compound.ID, Mode: "entry", RequiredStaff: need},
			func(store.CheckpointResult) domain.Event { return event(inc, "wf-"+inc, "checkpoint/main", "") })
		if err != nil {
			t.Fatalf("OpenCheckpoint(%s) error = %v", inc, err)
		}
		return res
	}
	first := open("inc-a", oak, 3)
	if want := []string{"worker-01", "worker-02", "worker-03"}; !reflect.DeepEqual(first.Staff, want) || first.Shortfall != 0 {
		t.Fatalf("OpenCheckpoint(inc-a) = %v, %d short, want %v, 0 short", first.Staff, first.Shortfall, want)
	}
	if res := open("inc-b", elm, 2); len(res.Staff) != 0 || res.Shortfall != 2 {
		t.Fatalf("OpenCheckpoint(inc-b) with everyone busy = %v, %d short, want none, 2 short", res.Staff, res.Shortfall)
	}
	if got, err := s.Reopen(ctx, "inc-a", oak.Compound.ID, event("inc-a", "wf-inc-a", "reopen", "")); err != nil || got.StaffReleased != 3 {
		t.Fatalf("Reopen(inc-a) = %+v, %v, want 3 staff released", got, err)
	}
	// The retried order of inc-b tops its checkpoint up with the freed staff.
	if res := open("inc-b", elm, 2); !reflect.DeepEqual(res.Staff, []string{"worker-01", "worker-02"}) || res.Shortfall != 0 {
		t.Errorf("OpenCheckpoint(inc-b) after inc-a was lifted = %v, %d short, want [worker-01 worker-02], 0 short", res.Staff, res.Shortfall)
	}
	if n := count(t, s, `SELECT count(*) FROM checkpoints WHERE incident = 'inc-b'`); n != 1 {
		t.Errorf("checkpoints of inc-b = %d, want 1", n)
	}
}

func TestCompliance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, tiny))
	const inc = "inc-check"
	p, err := s.SealPlan(ctx, "oak-court")
	if err != nil {
		t.Fatal(err)
	}
	area := p.Compound.ID
	// The entrance wants five staff of three; the side gate, being shut,
	// wants none.
	need := map[string]int{"main": 5, "side": 0}
	for _, g := range p.Gates {
		if _, err := s.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: inc, GateID: g.ID, AreaID: area, Mode: "closed", RequiredStaff: need[g.Code]},
			func(store.CheckpointResult) domain.Event { return event(inc, "wf", "checkpoint/"+g.Code, "") }); err != nil {
			t.Fatal(err)
		}
	}
	var closeIDs []int64
	for _, r := range p.Roads {
		if !r.Entrance {
			closeIDs = append(closeIDs, r.ID)
		}
	}
	if n, err := s.CloseRoads(ctx, inc, area, closeIDs, event(inc, "wf", "close-roads", "")); err != nil || n != 2 {
		t.Fatalf("CloseRoads() = %d, %v, want 2", n, err)
	}
	check := func(round int) []store.ComplianceResult {
		t.Helper()
		res, err := s.CheckCompliance(ctx, inc, area, round, func([]store.ComplianceResult) domain.Event {
			return event(inc, "wf", "compliance-check", fmt.Sprint(round))
		})
		if err != nil {
			t.Fatalf("CheckCompliance(round %d) error = %v", round, err)
		}
		return res
	}

	got := check(1)
	want := []store.ComplianceResult{
		{Area: "oak-court", Gate: "main", Passed: false, StaffOnDuty: 3, Problems: []string{"understaffed: 3 of 5 on duty"}},
		{Area: "oak-court", Gate: "side", Passed: true, StaffOnDuty: 0, Problems: []string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CheckCompliance(round 1) = %+v, want %+v", got, want)
	}

	// Someone lifts the Back Lane barrier while the compound is still sealed.
	if _, err := s.DB().ExecContext(ctx, `UPDATE road_closures SET reopened_at = now()
		WHERE incident = $1 AND road_id = (SELECT id FROM roads WHERE code = 'back-lane')`, inc); err != nil {
		t.Fatal(err)
	}
	got = check(2)
	early := "road back-lane reopened before the seal was lifted"
	want = []store.ComplianceResult{
		{Area: "oak-court", Gate: "main", Passed: false, StaffOnDuty: 3, Problems: []string{"understaffed: 3 of 5 on duty", early}},
		{Area: "oak-court", Gate: "side", Passed: false, StaffOnDuty: 0, Problems: []string{early}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CheckCompliance(round 2) = %+v, want %+v", got, want)
	}
	rec, err := s.SealRecords(ctx, inc, area)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ComplianceChecks != 4 || rec.ComplianceFailed != 3 || rec.RoadsClosedNow != 1 {
		t.Errorf("SealRecords() = %+v, want 4 checks, 3 failed, 1 road closed now", rec)
	}
}

func TestStepEventsAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, tiny))
	if err := s.AppendEvent(ctx, event("inc-log", "wf", "plan", "")); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE step_events SET reason = 'rewritten'`,
		`UPDATE step_events SET state = 'failed' WHERE step = 'plan'`,
		`DELETE FROM step_events`,
		`DELETE FROM step_events WHERE step = 'plan'`,
	} {
		if _, err := s.DB().ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: error = %v, want step_events is append-only", q, err)
		}
	}
	evs, err := s.Events(ctx, "inc-log", "")
	if err != nil || len(evs) != 1 || evs[0].Reason != "plan" || evs[0].State != "done" {
		t.Errorf("Events(inc-log) = %+v, %v, want the one plan event unchanged", evs, err)
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, tiny))
	appends := []domain.Event{
		{Incident: "inc-1", WorkflowID: "wf-oak", Step: "plan", State: "done"},
		{Incident: "inc-1", WorkflowID: "wf-elm", Step: "plan", State: "done"},
		{Incident: "inc-2", WorkflowID: "wf-other", Step: "plan", State: "done"},
		{Incident: "inc-1", WorkflowID: "wf-oak", Step: "compliance-check", State: "done", Seq: "1"},
		{Incident: "inc-1", WorkflowID: "wf-elm", Step: "close-roads", State: "running", Actor: "duty officer"},
		{Incident: "inc-1", WorkflowID: "wf-oak", Step: "compliance-check", State: "done", Seq: "2"},
		// A retry of the first event lands nowhere.
		{Incident: "inc-1", WorkflowID: "wf-oak", Step: "plan", State: "done", Reason: "retried"},
		{Incident: "inc-1", WorkflowID: "wf-elm", Step: "close-roads", State: "done"},
	}
	for _, e := range appends {
		if err := s.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	steps := func(evs []domain.Event) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.WorkflowID+" "+e.Step+" "+e.State)
		}
		return out
	}
	tests := []struct {
		incident, workflowID string
		want                 []string
	}{
		{"inc-1", "", []string{
			"wf-oak plan done", "wf-elm plan done", "wf-oak compliance-check done",
			"wf-elm close-roads running", "wf-oak compliance-check done", "wf-elm close-roads done"}},
		{"inc-1", "wf-elm", []string{"wf-elm plan done", "wf-elm close-roads running", "wf-elm close-roads done"}},
		{"inc-2", "", []string{"wf-other plan done"}},
		{"inc-3", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.incident+"/"+tt.workflowID, func(t *testing.T) {
			evs, err := s.Events(ctx, tt.incident, tt.workflowID)
			if err != nil {
				t.Fatal(err)
			}
			if got := steps(evs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Events(%s, %q) = %q, want %q", tt.incident, tt.workflowID, got, tt.want)
			}
			for i := 1; i < len(evs); i++ {
				if evs[i].At.Before(evs[i-1].At) {
					t.Errorf("Events(%s, %q)[%d].At = %v, before the previous event's %v", tt.incident, tt.workflowID, i, evs[i].At, evs[i-1].At)
				}
			}
		})
	}
	evs, _ := s.Events(ctx, "inc-1", "")
	if len(evs) > 0 && (evs[0].Reason != "" || evs[0].Actor != "muster") {
		t.Errorf("Events(inc-1)[0] = reason %q by %q, want the first write: no reason, by muster", evs[0].Reason, evs[0].Actor)
	}
	if len(evs) > 3 && evs[3].Actor != "duty officer" {
		t.Errorf("Events(inc-1)[3].Actor = %q, want duty officer", evs[3].Actor)
	}
}

// TestResponseLocale: a response takes the locale of the scenario its area
// was loaded from, and keeps it.
func TestResponseLocale(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rows := parse(t, tiny)
	rows.Locale = "zh-CN"
	s := loaded(t, rows)
	r := store.Response{Incident: "inc-zh", Runbook: "seal-compound", Level: 1, AreaPath: "town/east/oak-court"}
	locale, err := s.OpenRunbookResponse(ctx, r, 1, event("inc-zh", "wf-1", "response", "opened"))
	if err != nil || locale != "zh-CN" {
		t.Fatalf("OpenRunbookResponse() = %q, %v, want zh-CN", locale, err)
	}
	if got, err := s.ResponseByIncident(ctx, "inc-zh"); err != nil || got.Locale != "zh-CN" {
		t.Errorf("ResponseByIncident(inc-zh).Locale = %q, %v, want zh-CN", got.Locale, err)
	}
	// Loading the scenario again in English leaves the open response's.
	rows.Locale = "en"
	if _, err := s.LoadScenario(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if locale, err := s.OpenRunbookResponse(ctx, r, 1, event("inc-zh", "wf-1", "response", "again")); err != nil || locale != "zh-CN" {
		t.Errorf("OpenRunbookResponse() again = %q, %v, want zh-CN kept", locale, err)
	}
	r.Incident = "inc-en"
	if locale, err := s.OpenRunbookResponse(ctx, r, 1, event("inc-en", "wf-2", "response", "opened")); err != nil || locale != "en" {
		t.Errorf("OpenRunbookResponse(inc-en) = %q, %v, want en", locale, err)
	}
}
