package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
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
func roundEvent(incident, step string) domain.Event {
	return domain.Event{Incident: incident, WorkflowID: "response/" + incident + "/testing", Step: step, State: "done", Actor: "test"}
}

// openRound opens round n of the incident over an area.
func openRound(t *testing.T, s *store.Store, incident, area string, n int) domain.RoundPlan {
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

func sumPoints(ps []domain.RoundPoint) int {
	n := 0
	for _, p := range ps {
		n += p.Expected
	}
	return n
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
