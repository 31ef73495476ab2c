package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// cst is the reference scenario's time zone (Taiyuan, UTC+8).
var cst = time.FixedZone("CST", 8*3600)

// Longbao's first round: 17:00 to midnight on 3 April 2022.
var (
	opens    = time.Date(2022, 4, 3, 17, 0, 0, 0, cst)
	deadline = time.Date(2022, 4, 4, 0, 0, 0, 0, cst)
)

// testingStore is a database with the reference scenario and its residents.
func testingStore(t *testing.T) *store.Store {
	t.Helper()
	return loaded(t, reference(t))
}

// areaID returns the ID of an area.
func areaID(t testing.TB, s *store.Store, code string) int64 {
	t.Helper()
	a, err := s.AreaByCode(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// roundEvent is the event an activity would append when opening a round.
func roundEvent(incident, step string) store.Event {
	return store.Event{Incident: incident, WorkflowID: "response/" + incident + "/testing", Step: step, State: "done", Actor: "test"}
}

// openRound opens round n of the incident over an area.
func openRound(t *testing.T, s *store.Store, incident, area string, n int) store.RoundPlan {
	t.Helper()
	plan, err := s.OpenRound(context.Background(), incident, areaID(t, s, area), n, opens, deadline, roundEvent(incident, fmt.Sprintf("open-round-%s-%d", area, n)))
	if err != nil {
		t.Fatalf("OpenRound(%s, %s, %d) error = %v", incident, area, n, err)
	}
	return plan
}

// residentCodes returns up to n codes of residents of an area (and the
// areas under it), by ID, who come to points (home false) or are visited.
func residentCodes(t *testing.T, s *store.Store, area string, home bool, n int) []string {
	t.Helper()
	var out []string
	if err := s.DB().SelectContext(context.Background(), &out, `SELECT r.code FROM residents r JOIN areas a ON a.id = r.area_id
		JOIN areas top ON top.code = $1 WHERE (a.path = top.path OR a.path LIKE top.path || '/%') AND r.home_visit = $2
		ORDER BY r.id LIMIT $3`, area, home, n); err != nil {
		t.Fatal(err)
	}
	return out
}

// assignedPoints maps each compound (or building) of a round to its point's code.
func assignedPoints(t *testing.T, s *store.Store, roundID int64) map[string]string {
	t.Helper()
	out, _ := assignments(t, s, roundID)
	return out
}

// assignments returns the units of a round with their points (see
// assignedPoints), and the compounds the plan split by building, each
// with the points of its buildings.
func assignments(t *testing.T, s *store.Store, roundID int64) (map[string]string, map[string][]string) {
	t.Helper()
	var rows []struct {
		Unit     string `db:"unit"`
		Compound string `db:"compound"`
		Point    string `db:"point"`
	}
	if err := s.DB().SelectContext(context.Background(), &rows, `SELECT a.code || coalesce(nullif('/' || ra.building, '/'), '') AS unit,
		    CASE WHEN a.level = 'compound' AND ra.building <> '' THEN a.code ELSE '' END AS compound, s.code AS point
		FROM round_assignments ra JOIN areas a ON a.id = ra.area_id JOIN sites s ON s.id = ra.site_id
		WHERE ra.round_id = $1 ORDER BY 1`, roundID); err != nil {
		t.Fatal(err)
	}
	out, split := map[string]string{}, map[string][]string{}
	for _, r := range rows {
		out[r.Unit] = r.Point
		if r.Compound != "" {
			split[r.Compound] = append(split[r.Compound], r.Point)
		}
	}
	// A compound the plan split by building is sampled, in these tests,
	// at the point of its first building: any point of the round may
	// sample any of its residents.
	for c, ps := range split {
		out[c] = ps[0]
	}
	return out, split
}

func sumPoints(ps []store.RoundPoint) int {
	n := 0
	for _, p := range ps {
		n += p.Expected
	}
	return n
}

func TestLoadResidents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, `name: t
areas:
  - code: c
    name: C
    level: community
    areas:
      - {code: k1, name: K1, level: compound, population: 2, gates: [{code: main, entrance: true}]}
      - {code: k2, name: K2, level: compound, population: 1, gates: [{code: main, entrance: true}]}
`))
	rows := []store.ResidentRow{
		{Code: "r-1", AreaCode: "k1", Building: "1", Name: "A (fake)", IDNumber: "FAKE1", Phone: "000-1"},
		{Code: "r-2", AreaCode: "k1", Building: "2", Cohort: "resident", HomeVisit: true, Name: "B (fake)"},
		{Code: "r-3", AreaCode: "c", Cohort: "student"},
	}
	res, err := s.LoadResidents(ctx, "t", rows)
	if err != nil {
		t.Fatalf("LoadResidents() error = %v", err)
	}
	if got, want := res.Inserted, map[string]int{"residents": 3, "resident_contacts": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("LoadResidents().Inserted = %v, want %v", got, want)
	}
	if n := count(t, s, `SELECT count(*) FROM residents WHERE cohort = 'resident' AND scenario = 't'`); n != 2 {
		t.Errorf("residents with the default cohort = %d, want 2", n)
	}

	again, err := s.LoadResidents(ctx, "t", rows)
	if err != nil || again.Changed() {
		t.Errorf("LoadResidents() again = %+v, %v, want nothing changed", again, err)
	}

	rows[1].HomeVisit = false
	rows[2].Phone = "000-3"
	changed, err := s.LoadResidents(ctx, "t", rows)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Updated["residents"] != 1 || changed.Inserted["resident_contacts"] != 1 || changed.Inserted["residents"] != 0 {
		t.Errorf("LoadResidents(changed) = %+v, want 1 resident updated and 1 contact added", changed)
	}

	for _, tt := range []struct {
		name string
		rows []store.ResidentRow
		want error
		msg  string
	}{
		{"unknown area", []store.ResidentRow{{Code: "r-9", AreaCode: "k1"}, {Code: "r-10", AreaCode: "nowhere"}}, store.ErrNotFound, `resident r-10: unknown area "nowhere"`},
		{"listed twice", []store.ResidentRow{{Code: "r-9", AreaCode: "k1"}, {Code: "r-9", AreaCode: "k2"}}, store.ErrInvalid, "r-9 is listed twice"},
		{"no area", []store.ResidentRow{{Code: "r-9"}}, store.ErrInvalid, "area is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.LoadResidents(ctx, "t", tt.rows)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("LoadResidents(%s) = %v, want %v mentioning %q", tt.name, err, tt.want, tt.msg)
			}
			if n := count(t, s, `SELECT count(*) FROM residents`); n != 3 {
				t.Errorf("residents after a refused load = %d, want 3 (nothing written)", n)
			}
		})
	}
}

func TestOpenRound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)

	plan := openRound(t, s, "xd-0403", "longbao", 1)
	if len(plan.Points) != 4 || plan.Expected != 7013 || plan.HomeVisits != 70 {
		t.Fatalf("OpenRound(longbao) = %d points, %d expected, %d home visits, want 4, 7013, 70", len(plan.Points), plan.Expected, plan.HomeVisits)
	}
	if want := []store.CohortCount{{Cohort: "resident", Count: 6943}}; !reflect.DeepEqual(plan.Cohorts, want) {
		t.Errorf("OpenRound(longbao).Cohorts = %v, want %v", plan.Cohorts, want)
	}
	if n := sumPoints(plan.Points); n != 6943 {
		t.Errorf("OpenRound(longbao) points expect %d in all, want the 6,943 who come to points", n)
	}
	// The six compounds' point-comers (1,471, 1,289, 1,203, 1,127, 986,
	// 867) kept whole would leave one point 2,113 residents (8.5 hours at
	// 250 an hour, after the 7-hour deadline): the plan splits the two
	// largest by building, and every point finishes in about 7 hours.
	var got []int
	for _, p := range plan.Points {
		got = append(got, p.Expected)
		if p.CapacityPerHour != 250 || !strings.HasPrefix(p.Code, "longbao-sampling-") {
			t.Errorf("OpenRound(longbao) point %+v, want a Longbao point at 250 an hour", p)
		}
	}
	slices.Sort(got)
	if want := []int{1700, 1741, 1750, 1752}; !reflect.DeepEqual(got, want) {
		t.Errorf("OpenRound(longbao) points expect %v, want %v", got, want)
	}
	assigned, split := assignments(t, s, plan.RoundID)
	compounds := 0
	for unit := range assigned {
		if !strings.Contains(unit, "/") {
			compounds++
		}
	}
	if compounds != 6 || len(split) != 2 || len(split["longbao-jiayuan"]) != 12 {
		t.Errorf("compounds assigned = %v, split %v; want Longbao's 6, Longbao Jiayuan and one more split by building", assigned, split)
	}

	t.Run("again", func(t *testing.T) {
		before := count(t, s, `SELECT count(*) FROM round_assignments`)
		events := count(t, s, `SELECT count(*) FROM step_events`)
		again := openRound(t, s, "xd-0403", "longbao", 1)
		if !reflect.DeepEqual(again, plan) {
			t.Errorf("OpenRound() again = %+v, want %+v", again, plan)
		}
		if n := count(t, s, `SELECT count(*) FROM round_assignments`); n != before {
			t.Errorf("assignments after opening again = %d, want %d", n, before)
		}
		if n := count(t, s, `SELECT count(*) FROM step_events`); n != events {
			t.Errorf("events after opening again = %d, want %d", n, events)
		}
		if n := count(t, s, `SELECT count(*) FROM testing_rounds`); n != 1 {
			t.Errorf("rounds = %d, want 1", n)
		}
	})

	t.Run("deterministic", func(t *testing.T) {
		other := testingStore(t)
		p := openRound(t, other, "xd-0403", "longbao", 1)
		if a, b := assignedPoints(t, other, p.RoundID), assigned; !reflect.DeepEqual(a, b) {
			t.Errorf("assignments in another database = %v, want %v", a, b)
		}
	})

	t.Run("one compound uses its community's points", func(t *testing.T) {
		p := openRound(t, s, "xd-0403", "longbao-jiayuan", 1)
		if len(p.Points) != 4 || p.Expected != 1486 || sumPoints(p.Points) != 1471 {
			t.Errorf("OpenRound(longbao-jiayuan) = %d points, %d expected (%d at points), want 4, 1486, 1471", len(p.Points), p.Expected, sumPoints(p.Points))
		}
	})

	t.Run("campus: students and teachers by building", func(t *testing.T) {
		p := openRound(t, s, "sxu-0403", "shanxi-university", 1)
		want := []store.CohortCount{{Cohort: "student", Count: 19630}, {Cohort: "teacher", Count: 2181}}
		if !reflect.DeepEqual(p.Cohorts, want) || p.HomeVisits != 0 || p.Expected != 21811 {
			t.Errorf("OpenRound(shanxi-university) cohorts %v, %d home visits, %d expected; want %v, 0, 21811", p.Cohorts, p.HomeVisits, p.Expected, want)
		}
		if len(p.Points) != 10 {
			t.Fatalf("OpenRound(shanxi-university) = %d points, want 10", len(p.Points))
		}
		lo, hi := p.Points[0].Expected, p.Points[0].Expected
		for _, pt := range p.Points {
			lo, hi = min(lo, pt.Expected), max(hi, pt.Expected)
		}
		// 44 buildings of up to 500 people over 10 points.
		if hi-lo > 500 {
			t.Errorf("OpenRound(shanxi-university) points expect %d to %d, want them within one building (500)", lo, hi)
		}
		if assigned, split := assignments(t, s, p.RoundID); len(assigned) != 44 || len(split) != 0 {
			t.Errorf("campus buildings assigned = %d, want 44", len(assigned))
		}
	})

	t.Run("bad calls", func(t *testing.T) {
		longbao := areaID(t, s, "longbao")
		for _, tt := range []struct {
			name string
			call func() error
			want error
		}{
			{"no incident", func() error {
				_, err := s.OpenRound(ctx, " ", longbao, 1, opens, deadline, roundEvent("x", "x"))
				return err
			}, store.ErrInvalid},
			{"round 0", func() error {
				_, err := s.OpenRound(ctx, "x", longbao, 0, opens, deadline, roundEvent("x", "x"))
				return err
			}, store.ErrInvalid},
			{"deadline before opening", func() error {
				_, err := s.OpenRound(ctx, "x", longbao, 1, deadline, opens, roundEvent("x", "x"))
				return err
			}, store.ErrInvalid},
			{"unknown area", func() error {
				_, err := s.OpenRound(ctx, "x", 999999, 1, opens, deadline, roundEvent("x", "x"))
				return err
			}, store.ErrNotFound},
			{"no sampling point", func() error {
				_, err := s.OpenRound(ctx, "x", areaID(t, s, "nanpingtou"), 1, opens, deadline, roundEvent("x", "x"))
				return err
			}, store.ErrNotFound},
		} {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Errorf("OpenRound(%s) = %v, want %v", tt.name, err, tt.want)
			}
		}
		if n := count(t, s, `SELECT count(*) FROM testing_rounds WHERE incident = 'x'`); n != 0 {
			t.Errorf("rounds after refused opens = %d, want 0", n)
		}
	})
}

func TestRoundLookups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "longbao", 1)
	openRound(t, s, "xd-0403", "zhongfuyuan", 1)
	openRound(t, s, "other", "longbao", 1)

	r, err := s.RoundByKey(ctx, "xd-0403", "longbao", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := store.RoundInfo{ID: plan.RoundID, Incident: "xd-0403", AreaID: areaID(t, s, "longbao"), AreaCode: "longbao", Round: 1}
	if r.ID != want.ID || r.Incident != want.Incident || r.AreaID != want.AreaID || r.AreaCode != want.AreaCode || r.Round != 1 ||
		!r.OpensAt.Equal(opens) || !r.Deadline.Equal(deadline) || !r.Open() {
		t.Errorf("RoundByKey() = %+v, want %+v, opening %s, deadline %s, open", r, want, opens, deadline)
	}
	if _, err := s.RoundByKey(ctx, "xd-0403", "longbao", 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RoundByKey(round 2) = %v, want ErrNotFound", err)
	}
	open, err := s.OpenRoundsFor(ctx, "xd-0403")
	if err != nil || len(open) != 2 {
		t.Fatalf("OpenRoundsFor() = %v, %v, want 2 rounds", open, err)
	}
	if _, err := s.CloseRound(ctx, plan.RoundID, roundEvent("xd-0403", "close")); err != nil {
		t.Fatal(err)
	}
	open, _ = s.OpenRoundsFor(ctx, "xd-0403")
	if len(open) != 1 || open[0].AreaCode != "zhongfuyuan" {
		t.Errorf("OpenRoundsFor() after closing Longbao = %+v, want Zhongfuyuan's round only", open)
	}
	if r, _ := s.RoundByID(ctx, plan.RoundID); r.Open() || r.ClosedAt.IsZero() {
		t.Errorf("RoundByID() after closing = %+v, want it closed", r)
	}
}

// sampleRows makes one good row per resident at the given point, minutes
// apart from the round's opening.
func sampleRows(codes []string, point, tubePrefix string) []store.SampleRow {
	rows := make([]store.SampleRow, len(codes))
	for i, c := range codes {
		rows[i] = store.SampleRow{Line: i + 2, Tube: fmt.Sprintf("%s%06d", tubePrefix, i+1), Resident: c, Point: point,
			TakenAt: opens.Add(time.Duration(i) * time.Minute)}
	}
	return rows
}

func ingest(t *testing.T, s *store.Store, incident string, rows []store.SampleRow) store.IngestResult {
	t.Helper()
	res, err := s.IngestSamples(context.Background(), store.IngestBatch{Incident: incident, Rows: rows})
	if err != nil {
		t.Fatalf("IngestSamples() error = %v", err)
	}
	return res
}

func TestAddRoundPoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "longbao", 1)
	// A fifth point the escalation may recommend, set up once the round runs.
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO sites (code, area_id, kind, name, capacity_per_hour)
		SELECT 'longbao-sampling-05', id, 'sampling-point', 'Longbao sampling point 5', 250 FROM areas WHERE code = 'longbao'`); err != nil {
		t.Fatal(err)
	}
	before := assignedPoints(t, s, plan.RoundID)
	// Heping Yuan (986 come to points) is sampled in full at its point;
	// Fengde Yuan, sharing that point, half.
	heping := residentCodes(t, s, "heping-yuan", false, 1000)
	fengde := residentCodes(t, s, "fengde-yuan", false, 560)
	rows := append(sampleRows(heping, before["heping-yuan"], "HP"), sampleRows(fengde, before["fengde-yuan"], "FD")...)
	for i := range rows {
		rows[i].Line = i + 2
		rows[i].TakenAt = opens.Add(time.Duration(i) * time.Second)
	}
	if res := ingest(t, s, "xd-0403", rows); res.Accepted != 986+560 {
		t.Fatalf("IngestSamples() accepted %d, rejected %v, want %d", res.Accepted, res.Rejected, 986+560)
	}

	e := roundEvent("xd-0403", "add-point")
	added, err := s.AddRoundPoint(ctx, plan.RoundID, "longbao-sampling-05", e)
	if err != nil {
		t.Fatalf("AddRoundPoint() error = %v", err)
	}
	if len(added.Points) != 5 || added.Expected != plan.Expected {
		t.Fatalf("AddRoundPoint() = %d points, %d expected, want 5 and %d", len(added.Points), added.Expected, plan.Expected)
	}
	if n := sumPoints(added.Points); n != 6943 {
		t.Errorf("AddRoundPoint() points expect %d in all, want 6,943 still", n)
	}
	after := assignedPoints(t, s, plan.RoundID)
	if after["heping-yuan"] != before["heping-yuan"] {
		t.Errorf("finished Heping Yuan moved from %s to %s, want it left where it was", before["heping-yuan"], after["heping-yuan"])
	}
	var newPoint store.RoundPoint
	for _, p := range added.Points {
		if p.Code == "longbao-sampling-05" {
			newPoint = p
		}
	}
	if newPoint.Expected == 0 {
		t.Errorf("AddRoundPoint() new point expects nobody, want a compound moved to it: %v", after)
	}
	// The new point takes work off the busiest points: none expects more
	// than before.
	busiest := func(ps []store.RoundPoint) int {
		m := 0
		for _, p := range ps {
			m = max(m, p.Expected)
		}
		return m
	}
	if b, a := busiest(plan.Points), busiest(added.Points); a > b {
		t.Errorf("busiest point expects %d after AddRoundPoint, %d before; want no more", a, b)
	}

	again, err := s.AddRoundPoint(ctx, plan.RoundID, "longbao-sampling-05", e)
	if err != nil || !reflect.DeepEqual(again, added) {
		t.Errorf("AddRoundPoint() again = %+v, %v, want the same plan %+v", again, err, added)
	}
	if p, err := s.RoundPlan(ctx, plan.RoundID); err != nil || !reflect.DeepEqual(p, added) {
		t.Errorf("RoundPlan() = %+v, %v, want %+v", p, err, added)
	}
	if _, err := s.AddRoundPoint(ctx, plan.RoundID, "nowhere", e); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddRoundPoint(unknown site) = %v, want ErrNotFound", err)
	}
	if _, err := s.CloseRound(ctx, plan.RoundID, roundEvent("xd-0403", "close")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRoundPoint(ctx, plan.RoundID, "zhongfuyuan-sampling-01", e); !errors.Is(err, store.ErrRoundClosed) {
		t.Errorf("AddRoundPoint(closed round) = %v, want ErrRoundClosed", err)
	}
}

func TestHomeVisits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "zhongfuyuan", 1)
	if plan.HomeVisits != 80 {
		t.Fatalf("OpenRound(zhongfuyuan).HomeVisits = %d, want 80", plan.HomeVisits)
	}
	n, err := s.AssignHomeVisits(ctx, plan.RoundID)
	if err != nil || n != 80 {
		t.Fatalf("AssignHomeVisits() = %d, %v, want 80", n, err)
	}
	visits, err := s.HomeVisits(ctx, plan.RoundID)
	if err != nil {
		t.Fatal(err)
	}
	perWorker := map[string]int{}
	for _, v := range visits {
		perWorker[v.Staff]++
		if v.Attempt != 1 || v.State != "assigned" || !strings.HasPrefix(v.Staff, "zhongfuyuan-grid-") {
			t.Errorf("visit %+v, want attempt 1 assigned to a Zhongfuyuan grid worker", v)
		}
	}
	if len(perWorker) != 9 {
		t.Errorf("grid workers with visits = %d, want all 9", len(perWorker))
	}
	for w, k := range perWorker {
		if k < 8 || k > 9 {
			t.Errorf("visits of %s = %d, want 8 or 9 (80 over 9, round-robin)", w, k)
		}
	}
	if n, err := s.AssignHomeVisits(ctx, plan.RoundID); err != nil || n != 80 {
		t.Errorf("AssignHomeVisits() again = %d, %v, want 80", n, err)
	}
	if k := count(t, s, `SELECT count(*) FROM home_visits`); k != 80 {
		t.Errorf("home visits after assigning again = %d, want 80", k)
	}

	first, second := visits[0], visits[1]
	at := opens.Add(30 * time.Minute)
	if err := s.RecordHomeVisit(ctx, plan.RoundID, first.Resident, 1, true, "HV-0001", at); err != nil {
		t.Fatalf("RecordHomeVisit(sampled) error = %v", err)
	}
	if err := s.RecordHomeVisit(ctx, plan.RoundID, first.Resident, 1, true, "HV-0001", at); err != nil {
		t.Errorf("RecordHomeVisit(sampled) again = %v, want nil", err)
	}
	if err := s.RecordHomeVisit(ctx, plan.RoundID, second.Resident, 1, false, "", at); err != nil {
		t.Fatalf("RecordHomeVisit(missed) error = %v", err)
	}
	if k := count(t, s, `SELECT count(*) FROM samples WHERE tube = 'HV-0001' AND point_id IS NULL AND home_visit`); k != 1 {
		t.Errorf("home-visit samples = %d, want 1 without a point", k)
	}
	for _, tt := range []struct {
		name     string
		resident string
		attempt  int
		sampled  bool
		tube     string
		want     error
	}{
		{"other outcome", second.Resident, 1, true, "HV-0002", store.ErrConflict},
		{"second tube", first.Resident, 1, true, "HV-0003", store.ErrConflict},
		{"tube of another resident", visits[2].Resident, 1, true, "HV-0001", store.ErrConflict},
		{"no such visit", first.Resident, 2, false, "", store.ErrNotFound},
		{"unknown resident", "r-nobody", 1, false, "", store.ErrNotFound},
		{"sampled without tube", visits[3].Resident, 1, true, "", store.ErrInvalid},
	} {
		if err := s.RecordHomeVisit(ctx, plan.RoundID, tt.resident, tt.attempt, tt.sampled, tt.tube, at); !errors.Is(err, tt.want) {
			t.Errorf("RecordHomeVisit(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}

	p, err := s.RoundProgress(ctx, plan.RoundID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.VisitProgress{Residents: 80, Sampled: 1, Missed: 1, Pending: 78}); p.HomeVisits != want {
		t.Errorf("RoundProgress().HomeVisits = %+v, want %+v", p.HomeVisits, want)
	}

	added, err := s.RevisitMissed(ctx, plan.RoundID)
	if err != nil || added != 1 {
		t.Fatalf("RevisitMissed() = %d, %v, want 1", added, err)
	}
	if added, err := s.RevisitMissed(ctx, plan.RoundID); err != nil || added != 0 {
		t.Errorf("RevisitMissed() again = %d, %v, want 0", added, err)
	}
	visits, _ = s.HomeVisits(ctx, plan.RoundID)
	var revisit store.HomeVisit
	for _, v := range visits {
		if v.Resident == second.Resident && v.Attempt == 2 {
			revisit = v
		}
	}
	if revisit.State != "assigned" || revisit.Staff == "" || revisit.Staff == second.Staff {
		t.Errorf("revisit of %s = %+v, want attempt 2 assigned to another grid worker than %s", second.Resident, revisit, second.Staff)
	}
	if p, _ := s.RoundProgress(ctx, plan.RoundID); p.HomeVisits.Missed != 0 || p.HomeVisits.Pending != 79 {
		t.Errorf("RoundProgress().HomeVisits after the revisit = %+v, want 0 missed, 79 pending", p.HomeVisits)
	}
	if err := s.RecordHomeVisit(ctx, plan.RoundID, second.Resident, 2, true, "HV-0002", at.Add(time.Hour)); err != nil {
		t.Errorf("RecordHomeVisit(revisit sampled) = %v", err)
	}
	if p, _ := s.RoundProgress(ctx, plan.RoundID); p.HomeVisits.Sampled != 2 || p.Sampled != 2 {
		t.Errorf("RoundProgress() after the revisit sampled = %+v, want 2 home visits sampled", p.HomeVisits)
	}

	if _, err := s.CloseRound(ctx, plan.RoundID, roundEvent("xd-0403", "close")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevisitMissed(ctx, plan.RoundID); !errors.Is(err, store.ErrRoundClosed) {
		t.Errorf("RevisitMissed(closed) = %v, want ErrRoundClosed", err)
	}
	if err := s.RecordHomeVisit(ctx, plan.RoundID, visits[5].Resident, 1, false, "", at); !errors.Is(err, store.ErrRoundClosed) {
		t.Errorf("RecordHomeVisit(closed) = %v, want ErrRoundClosed", err)
	}
	// Longbao's home visits go to Longbao's six grid workers.
	lb := openRound(t, s, "xd-0403", "longbao", 1)
	if n, err := s.AssignHomeVisits(ctx, lb.RoundID); err != nil || n != 70 {
		t.Errorf("AssignHomeVisits(longbao) = %d, %v, want 70", n, err)
	}
	if k := count(t, s, `SELECT count(DISTINCT staff_id) FROM home_visits h JOIN staff st ON st.id = h.staff_id
		WHERE h.round_id = $1 AND st.code LIKE 'longbao-grid-%'`, lb.RoundID); k != 6 {
		t.Errorf("Longbao grid workers with visits = %d, want 6", k)
	}
}

func TestRoundProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "longbao", 1)
	assigned := assignedPoints(t, s, plan.RoundID)

	p, err := s.RoundProgress(ctx, plan.RoundID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sampled != 0 || p.Expected != 7013 || len(p.Points) != 4 || !p.FirstAt.IsZero() {
		t.Errorf("RoundProgress() before any sample = %+v, want 0 of 7,013 at 4 points", p)
	}

	jiayuan := residentCodes(t, s, "longbao-jiayuan", false, 100)
	heping := residentCodes(t, s, "heping-yuan", false, 50)
	rows := append(sampleRows(jiayuan, assigned["longbao-jiayuan"], "JY"), sampleRows(heping, assigned["heping-yuan"], "HP")...)
	for i := range rows {
		rows[i].Line = i + 2
		rows[i].TakenAt = opens.Add(time.Duration(i) * time.Minute)
	}
	rows[3].Result, rows[4].Result = "positive", "negative"
	if res := ingest(t, s, "xd-0403", rows); res.Accepted != 150 {
		t.Fatalf("IngestSamples() = %+v, want 150 accepted", res)
	}
	p, err = s.RoundProgress(ctx, plan.RoundID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sampled != 150 || p.Expected != 7013 || p.Positives != 1 {
		t.Errorf("RoundProgress() = %d of %d sampled, %d positives, want 150 of 7013, 1", p.Sampled, p.Expected, p.Positives)
	}
	if !p.FirstAt.Equal(opens) || !p.LastAt.Equal(opens.Add(149*time.Minute)) {
		t.Errorf("RoundProgress() first %s last %s, want %s and %s", p.FirstAt, p.LastAt, opens, opens.Add(149*time.Minute))
	}
	if want := []store.CohortProgress{{Cohort: "resident", Sampled: 150, Expected: 6943}}; !reflect.DeepEqual(p.Cohorts, want) {
		t.Errorf("RoundProgress().Cohorts = %+v, want %+v", p.Cohorts, want)
	}
	for _, pt := range p.Points {
		want := 0
		if pt.Code == assigned["longbao-jiayuan"] {
			want += 100
		}
		if pt.Code == assigned["heping-yuan"] {
			want += 50
		}
		if pt.Sampled != want {
			t.Errorf("RoundProgress() point %s sampled %d, want %d", pt.Code, pt.Sampled, want)
		}
		if want > 0 && (pt.FirstAt.IsZero() || pt.LastAt.Before(pt.FirstAt)) {
			t.Errorf("RoundProgress() point %s first %s last %s, want both set", pt.Code, pt.FirstAt, pt.LastAt)
		}
	}
}

func TestCloseRoundAndMissing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "longbao", 1)
	assigned := assignedPoints(t, s, plan.RoundID)
	codes := residentCodes(t, s, "longbao-jiayuan", false, 1000)
	rows := sampleRows(codes, assigned["longbao-jiayuan"], "T")
	for i := range rows {
		rows[i].TakenAt = opens.Add(time.Duration(i) * time.Second)
	}
	ingest(t, s, "xd-0403", rows)

	// While the round is open the list is live.
	live, err := s.Missing(ctx, plan.RoundID, 0, 10)
	if err != nil || len(live) != 10 {
		t.Fatalf("Missing(open round) = %d rows, %v, want a page of 10", len(live), err)
	}

	e := roundEvent("xd-0403", "close")
	closed, err := s.CloseRound(ctx, plan.RoundID, e)
	want := store.RoundClose{Expected: 7013, Sampled: 1000, Missing: 7013 - 1000, HomeVisitsOpen: closed.HomeVisitsOpen}
	if err != nil || closed != want {
		t.Fatalf("CloseRound() = %+v, %v, want %+v", closed, err, want)
	}
	if again, err := s.CloseRound(ctx, plan.RoundID, e); err != nil || again != closed {
		t.Errorf("CloseRound() again = %+v, %v, want %+v", again, err, closed)
	}
	if n := count(t, s, `SELECT count(*) FROM step_events WHERE step = 'close'`); n != 1 {
		t.Errorf("close events = %d, want 1", n)
	}

	var all []store.MissingResident
	var after int64
	for {
		page, err := s.Missing(ctx, plan.RoundID, after, 2500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	if len(all) != closed.Missing {
		t.Errorf("Missing() pages hold %d residents, want %d", len(all), closed.Missing)
	}
	sampled := map[string]bool{}
	for _, c := range codes {
		sampled[c] = true
	}
	home := 0
	for i, m := range all {
		if sampled[m.Code] {
			t.Errorf("Missing() lists %s, who was sampled", m.Code)
		}
		if i > 0 && m.ID <= all[i-1].ID {
			t.Errorf("Missing() IDs not increasing at %d", i)
		}
		if m.HomeVisit {
			home++
		}
	}
	if home != 70 {
		t.Errorf("Missing() home-visit residents = %d, want 70", home)
	}
	contacts, err := s.MissingContacts(ctx, plan.RoundID, 0, 3, "call-back test")
	if err != nil || len(contacts) != 3 {
		t.Fatalf("MissingContacts() = %v, %v, want 3", contacts, err)
	}
	for i, c := range contacts {
		if c.MissingResident != all[i] || !strings.HasSuffix(c.Name, "(fake)") || !strings.HasPrefix(c.Phone, "000-") {
			t.Errorf("MissingContacts()[%d] = %s, %+v, want %+v with a name and phone", i, c.Code, c.MissingResident, all[i])
		}
		if s := fmt.Sprint(c); strings.Contains(s, c.Name) || strings.Contains(s, c.Phone) {
			t.Errorf("printing a contact shows personal details: %q", s)
		}
	}

	// A closed round takes no new samples; a re-sent batch is still known.
	res := ingest(t, s, "xd-0403", rows[:5])
	if res.AlreadyRecorded != 5 || res.Accepted != 0 {
		t.Errorf("IngestSamples(re-sent after close) = %+v, want 5 already recorded", res)
	}
	// After its late grace a closed round takes positives only (see
	// TestLateResults for samples within the grace).
	if err := s.SetLateGrace(ctx, plan.RoundID, 0); err != nil {
		t.Fatal(err)
	}
	late := sampleRows(residentCodes(t, s, "heping-yuan", false, 1), assigned["heping-yuan"], "LATE")
	res = ingest(t, s, "xd-0403", late)
	if len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Reason, "only positive results are taken") {
		t.Errorf("IngestSamples(after close and grace) = %+v, want the row rejected: only positives after the grace", res)
	}
}

// TestMissingOfOpenRoundFails checks that a failed read of an open round's
// missing list is an error, not an empty list: an empty call-back list
// reads as "everybody has been sampled".
func TestMissingOfOpenRoundFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "longbao", 1)
	live, err := s.Missing(ctx, plan.RoundID, 0, 5)
	if err != nil || len(live) != 5 {
		t.Fatalf("Missing(open round) = %d rows, %v, want a page of 5", len(live), err)
	}
	// A row the list cannot read: the driver refuses a NULL building, an
	// error on the reader's side that leaves the transaction able to commit.
	if _, err := s.DB().ExecContext(ctx, `ALTER TABLE residents ALTER COLUMN building DROP NOT NULL`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE residents SET building = NULL WHERE id = $1`, live[0].ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Missing(ctx, plan.RoundID, 0, 5); err == nil {
		t.Errorf("Missing(open round, a row unreadable) = %d rows, nil; want an error", len(got))
	}
	if got, err := s.MissingContacts(ctx, plan.RoundID, 0, 5, "call-back test"); err == nil {
		t.Errorf("MissingContacts(open round, a row unreadable) = %d rows, nil; want an error", len(got))
	}
}

func TestRoster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "longbao", 1)
	assigned := assignedPoints(t, s, plan.RoundID)
	var all []store.RosterEntry
	var after int64
	for {
		page, err := s.Roster(ctx, plan.RoundID, after, 3000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	if len(all) != 7013 {
		t.Fatalf("Roster() = %d residents, want 7013", len(all))
	}
	_, split := assignments(t, s, plan.RoundID)
	for _, r := range all {
		compound := strings.TrimSuffix(r.Code[2:], r.Code[strings.LastIndex(r.Code, "-"):])
		switch {
		case r.HomeVisit && r.Point != "":
			t.Errorf("Roster() %s is visited at home but has point %s", r.Code, r.Point)
		case !r.HomeVisit && split[compound] != nil:
			// Split by building: the point of the resident's building.
			if !slices.Contains(split[compound], r.Point) {
				t.Errorf("Roster() %s point = %q, want one of its compound's buildings' %v", r.Code, r.Point, split[compound])
			}
		case !r.HomeVisit && r.Point != assigned[compound]:
			t.Errorf("Roster() %s point = %s, want %s (its compound's)", r.Code, r.Point, assigned[compound])
		}
	}
}

// TestResidentsOfScenario checks that the reference scenario loads its
// generated residents and their fake contacts.
func TestResidentsOfScenario(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	f, err := scenario.Reference()
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.LoadScenario(context.Background(), f.Rows())
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted["residents"] != 38594 || res.Inserted["resident_contacts"] != 38594 {
		t.Errorf("LoadScenario(reference) inserted %d residents, %d contacts, want 38,594 each", res.Inserted["residents"], res.Inserted["resident_contacts"])
	}
	if n := count(t, s, `SELECT count(*) FROM residents r JOIN areas a ON a.id = r.area_id WHERE a.code = 'shanxi-university' AND r.cohort = 'student'`); n != 19630 {
		t.Errorf("students at Shanxi University = %d, want 19,630", n)
	}
}
