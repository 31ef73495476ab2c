package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// TestCloseRacesIntake closes rounds while stations upload samples and
// grid workers record home visits, many times over: afterwards no resident
// is both sampled and missing, every resident is one or the other, and the
// figures the close returns are the database's at the close (samples
// uploaded after it are recorded late, within the grace).
func TestCloseRacesIntake(t *testing.T) {
	ctx := context.Background()
	s := loaded(t, qingshui(t))
	const iterations = 50
	area := "qs-hexi-k11" // 516 residents, about 26 of them visited at home
	walkIns := residentCodes(t, s, area, false, 10000)
	homes := residentCodes(t, s, area, true, 10000)
	if len(homes) == 0 || len(walkIns) < 400 {
		t.Fatalf("%s has %d residents coming to points and %d visited at home", area, len(walkIns), len(homes))
	}
	opensAt := time.Now().Add(-time.Hour)
	var both, mismatches, sampledSum, lateSum int
	for it := range iterations {
		incident := fmt.Sprintf("race-%02d", it)
		plan, err := s.OpenRound(ctx, incident, areaID(t, s, area), 1, opensAt, opensAt.Add(7*time.Hour), roundEvent(incident, "open"))
		if err != nil {
			t.Fatalf("OpenRound() error = %v", err)
		}
		if _, err := s.AssignHomeVisits(ctx, plan.RoundID); err != nil {
			t.Fatalf("AssignHomeVisits() error = %v", err)
		}
		point := plan.Points[0].Code
		rng := rand.New(rand.NewPCG(uint64(it), 7))
		var wg sync.WaitGroup
		var closed store.RoundClose
		var closeErr error
		// Four stations upload batches of 15 until the round refuses them.
		const stations = 4
		for st := range stations {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := st * 15; i < len(walkIns); i += stations * 15 {
					var rows []store.SampleRow
					for _, code := range walkIns[i:min(i+15, len(walkIns))] {
						rows = append(rows, store.SampleRow{Tube: fmt.Sprintf("%s-%s", incident, code), Resident: code, Point: point, TakenAt: time.Now()})
					}
					res, err := s.IngestSamples(ctx, store.IngestBatch{Incident: incident, Rows: rows})
					if err != nil && !errors.Is(err, store.ErrConcurrentBatch) {
						t.Errorf("IngestSamples() error = %v", err)
						return
					}
					if err == nil && res.Accepted == 0 {
						return // the round has closed
					}
				}
			}()
		}
		// A grid worker records the home visits, one by one.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, code := range homes {
				err := s.RecordHomeVisit(ctx, plan.RoundID, code, 1, true, fmt.Sprintf("%s-h-%s", incident, code), time.Now())
				if errors.Is(err, store.ErrRoundClosed) {
					return
				}
				if err != nil && !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("RecordHomeVisit() error = %v", err)
					return
				}
			}
		}()
		// The round closes while they work.
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
			closed, closeErr = s.CloseRound(ctx, plan.RoundID, roundEvent(incident, "close"))
		}()
		wg.Wait()
		if closeErr != nil {
			t.Fatalf("CloseRound() error = %v", closeErr)
		}
		both += count(t, s, `SELECT count(*) FROM samples sa JOIN round_missing m ON m.round_id = sa.round_id AND m.resident_id = sa.resident_id
			WHERE sa.round_id = $1`, plan.RoundID)
		sampled := count(t, s, `SELECT count(*) FROM samples WHERE round_id = $1 AND NOT late`, plan.RoundID)
		late := count(t, s, `SELECT count(*) FROM samples WHERE round_id = $1 AND late`, plan.RoundID)
		missing := count(t, s, `SELECT count(*) FROM round_missing WHERE round_id = $1`, plan.RoundID)
		positives := count(t, s, `SELECT count(*) FROM samples WHERE round_id = $1 AND result = 'positive'`, plan.RoundID)
		if closed.Sampled != sampled || closed.Missing != missing+late || closed.Positives != positives || sampled+late+missing != closed.Expected {
			mismatches++
			t.Errorf("round %d: CloseRound() = %+v; the database holds %d sampled at the close, %d late, %d missing, %d positive (want sampled + late + missing = expected)",
				it, closed, sampled, late, missing, positives)
		}
		sampledSum += sampled
		lateSum += late
		if it%10 == 0 {
			t.Logf("round %d: closed with %d of %d sampled, %d missing", it, closed.Sampled, closed.Expected, closed.Missing)
		}
	}
	t.Logf("%d rounds raced: %d residents sampled before the closes, %d late after them; %d both sampled and missing, %d rounds whose figures differ from the database",
		iterations, sampledSum, lateSum, both, mismatches)
	if both != 0 {
		t.Errorf("after %d races: %d residents both sampled and missing, want 0", iterations, both)
	}
}

// A sample taken during a round but uploaded after it closed is recorded
// against the round within its late grace, and taken off the missing
// list; after the grace only positives are; a positive that comes late,
// new or as the result of a known tube, is told to the command center.
func TestLateResults(t *testing.T) {
	ctx := context.Background()
	s := loaded(t, qingshui(t))
	area := "qs-hexi-k10"
	opensAt := time.Now().Add(-2 * time.Hour)
	plan, err := s.OpenRound(ctx, "late", areaID(t, s, area), 1, opensAt, opensAt.Add(time.Hour), roundEvent("late", "open"))
	if err != nil {
		t.Fatal(err)
	}
	codes := residentCodes(t, s, area, false, 5)
	point := plan.Points[0].Code
	row := func(i int, result string) store.SampleRow {
		return store.SampleRow{Tube: "late-" + codes[i], Resident: codes[i], Point: point, TakenAt: opensAt.Add(30 * time.Minute), Result: result}
	}
	ingest(t, s, "late", []store.SampleRow{row(0, "")})
	closed, err := s.CloseRound(ctx, plan.RoundID, roundEvent("late", "close"))
	if err != nil || closed.Sampled != 1 {
		t.Fatalf("CloseRound() = %+v, %v; want 1 sampled", closed, err)
	}

	// Within the grace (6 hours by default): recorded, off the missing list.
	res := ingest(t, s, "late", []store.SampleRow{row(1, "negative")})
	if res.Accepted != 1 || res.Late != 1 || res.LatePositives != 0 {
		t.Errorf("late sample within grace: %+v, want accepted 1, late 1", res)
	}
	onList := `SELECT count(*) FROM round_missing m JOIN residents r ON r.id = m.resident_id WHERE m.round_id = $1 AND r.code = $2`
	if n := count(t, s, onList, plan.RoundID, codes[1]); n != 0 {
		t.Errorf("resident sampled late is still on the missing list")
	}

	// After the grace a negative is refused, a positive taken and told.
	if err := s.SetLateGrace(ctx, plan.RoundID, 0); err != nil {
		t.Fatal(err)
	}
	res = ingest(t, s, "late", []store.SampleRow{row(2, "negative"), row(3, "positive")})
	if res.Accepted != 1 || res.Late != 1 || res.LatePositives != 1 || len(res.Rejected) != 1 ||
		!strings.Contains(res.Rejected[0].Reason, "only positive results are taken") {
		t.Errorf("late samples after grace: %+v, want the positive taken and the negative refused", res)
	}
	// The result of a tube sampled in time arrives late, positive.
	res = ingest(t, s, "late", []store.SampleRow{row(0, "positive")})
	if res.ResultsUpdated != 1 || res.LatePositives != 1 {
		t.Errorf("late positive result of a known tube: %+v, want 1 updated, 1 late positive", res)
	}
	if n := count(t, s, `SELECT count(*) FROM notices WHERE incident = 'late' AND kind = 'testing/1/late-positive' AND audience = 'command center'`); n != 2 {
		t.Errorf("late-positive notices = %d, want 2 (one per batch)", n)
	}
	sampled := count(t, s, `SELECT count(*) FROM samples WHERE round_id = $1`, plan.RoundID)
	missing := count(t, s, `SELECT count(*) FROM round_missing WHERE round_id = $1`, plan.RoundID)
	if sampled != 3 || sampled+missing != closed.Expected {
		t.Errorf("after late results: %d sampled, %d missing of %d expected; want 3 and the rest missing", sampled, missing, closed.Expected)
	}
	if n := count(t, s, `SELECT count(*) FROM samples sa JOIN round_missing m USING (round_id, resident_id) WHERE sa.round_id = $1`, plan.RoundID); n != 0 {
		t.Errorf("%d residents both sampled and missing after late results", n)
	}
	// The round's figures count the late results (two late samples; the
	// late result of a tube sampled in time is no late sample), and
	// sampled and missing as they stand now.
	figs, err := s.RoundTally(ctx, plan.RoundID)
	if err != nil || figs.LateResults != 2 || figs.Sampled != 3 || figs.Missing != missing || figs.Positives != 2 {
		t.Errorf("RoundTally() = %+v, %v; want 2 late results, 3 sampled, %d missing, 2 positive", figs, err, missing)
	}
	if _, err := s.RoundTally(ctx, -1); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("RoundTally(-1) error = %v, want ErrNotFound", err)
	}
}

// Hexi's round is planned over its six points of 150 to 400 an hour so
// that every point finishes near the ideal, total work ÷ total capacity
// (12,018 residents coming to points over 1,650 an hour, about 7.3 hours):
// its largest compound never goes whole to the slowest point.
func TestOpenRoundUnequalPoints(t *testing.T) {
	s := loaded(t, qingshui(t))
	plan := openRound(t, s, "hexi", "qs-hexi", 1)
	if len(plan.Points) != 6 || plan.Expected != 12650 {
		t.Fatalf("OpenRound(qs-hexi) = %d points, %d expected; want 6, 12650", len(plan.Points), plan.Expected)
	}
	work, capacity, latest := 0, 0, 0.0
	for _, p := range plan.Points {
		work += p.Expected
		capacity += p.CapacityPerHour
		latest = max(latest, float64(p.Expected)/float64(p.CapacityPerHour))
	}
	ideal := float64(work) / float64(capacity)
	for _, p := range plan.Points {
		t.Logf("%s: %d an hour, %d expected, planned finish %.2f h", p.Code, p.CapacityPerHour, p.Expected, float64(p.Expected)/float64(p.CapacityPerHour))
	}
	if latest > 1.1*ideal {
		t.Errorf("planned makespan %.2f h, want within 10%% of the ideal %.2f h", latest, ideal)
	}
	assigned := assignedPoints(t, s, plan.RoundID)
	if assigned["qs-hexi-k01"] == "qs-hexi-p1" {
		t.Errorf("the 2,434 compound went to the 150-an-hour point")
	}
}

// Grid workers on checkpoint duty are not sent on home visits: one
// booking per person.
func TestHomeVisitsSkipBookedWorkers(t *testing.T) {
	ctx := context.Background()
	s := loaded(t, qingshui(t))
	compound := areaID(t, s, "qs-hexi-k01")
	var gate int64
	if err := s.DB().Get(&gate, `SELECT id FROM gates WHERE area_id = $1 ORDER BY id LIMIT 1`, compound); err != nil {
		t.Fatal(err)
	}
	cp, err := s.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: "hv", GateID: gate, AreaID: compound, Mode: "entry", RequiredStaff: 4},
		func(store.CheckpointResult) domain.Event { return roundEvent("hv", "checkpoint") })
	if err != nil || len(cp.Staff) != 4 {
		t.Fatalf("OpenCheckpoint() = %+v, %v; want 4 grid workers on duty", cp, err)
	}
	plan := openRound(t, s, "hv", "qs-hexi", 1)
	n, err := s.AssignHomeVisits(ctx, plan.RoundID)
	if err != nil || n == 0 {
		t.Fatalf("AssignHomeVisits() = %d, %v", n, err)
	}
	visits, err := s.HomeVisits(ctx, plan.RoundID)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]int{}
	for _, v := range visits {
		used[v.Staff]++
	}
	for _, st := range cp.Staff {
		if used[st] > 0 {
			t.Errorf("%s is on checkpoint duty and was sent on %d home visits", st, used[st])
		}
	}
	if len(used) != 6 {
		t.Errorf("home visits went to %d grid workers (%v), want the 6 not on duty", len(used), used)
	}
	t.Logf("%d home visits over %d grid workers; %v on checkpoint duty", n, len(used), cp.Staff)
}
