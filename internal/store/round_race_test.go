package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/store"
)

// TestCloseRacesIntake closes rounds while stations upload samples and
// grid workers record home visits, many times over: afterwards no resident
// is both sampled and missing, every resident is one or the other, and the
// figures the close returns are the database's.
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
	var both, mismatches, sampledSum int
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
				if err != nil && !errors.Is(err, store.ErrNotFound) {
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
		sampled := count(t, s, `SELECT count(*) FROM samples WHERE round_id = $1`, plan.RoundID)
		missing := count(t, s, `SELECT count(*) FROM round_missing WHERE round_id = $1`, plan.RoundID)
		positives := count(t, s, `SELECT count(*) FROM samples WHERE round_id = $1 AND result = 'positive'`, plan.RoundID)
		if closed.Sampled != sampled || closed.Missing != missing || closed.Positives != positives || sampled+missing != closed.Expected {
			mismatches++
			t.Errorf("round %d: CloseRound() = %+v; the database holds %d sampled, %d missing, %d positive (want sampled + missing = expected)",
				it, closed, sampled, missing, positives)
		}
		sampledSum += sampled
		if it%10 == 0 {
			t.Logf("round %d: closed with %d of %d sampled, %d missing", it, closed.Sampled, closed.Expected, closed.Missing)
		}
	}
	t.Logf("%d rounds raced, %d residents sampled in all: %d both sampled and missing, %d rounds whose figures differ from the database",
		iterations, sampledSum, both, mismatches)
	if both != 0 {
		t.Errorf("after %d races: %d residents both sampled and missing, want 0", iterations, both)
	}
}
