package store_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// Sizes of the home-visit benchmark: a city of a million has about ten
// thousand residents sampled at home.
const (
	visitBenchResidents = 1_000_000
	visitBenchChunk     = 1_000
)

// BenchmarkHomeVisitBatch records the same home visits of a city twice, in
// one run on one database: once with one RecordHomeVisit call per visit (as
// the simulator did) and once with RecordHomeVisits, a call per thousand.
// Two incidents open a round over the city each, so each way has its own
// identical list of visits. The two take turns chunk by chunk, so a load
// that comes and goes on the machine weighs on both alike, and the
// benchmark prints their rates and ratio (target: batches at least 10×).
func BenchmarkHomeVisitBatch(b *testing.B) {
	ctx := context.Background()
	s, err := store.Open(ctx, pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	city, err := scenario.GenerateCity(visitBenchResidents, benchCommunities, 1)
	if err != nil {
		b.Fatal(err)
	}
	rows := city.Rows()
	registry := rows.Registry
	rows.Registry = nil
	if _, err := s.LoadScenario(ctx, rows); err != nil {
		b.Fatal(err)
	}
	if _, err := s.LoadResidents(ctx, rows.Scenario, registry); err != nil {
		b.Fatal(err)
	}
	registry = nil
	runtime.GC()
	lists := make([][]store.PendingVisit, 2)
	rounds := make([]int64, 2)
	for k, incident := range []string{"visits-one-by-one", "visits-in-batches"} {
		plan, err := s.OpenRound(ctx, incident, areaID(b, s, "city"), 1, opens, deadline, roundEvent(incident, "open"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.AssignHomeVisits(ctx, plan.RoundID); err != nil {
			b.Fatal(err)
		}
		if lists[k], err = s.PendingVisits(ctx, plan.RoundID); err != nil {
			b.Fatal(err)
		}
		rounds[k] = plan.RoundID
	}
	if len(lists[0]) != len(lists[1]) || len(lists[0]) < 10*visitBenchChunk {
		b.Fatalf("home visits = %d and %d, want the same, at least %d", len(lists[0]), len(lists[1]), 10*visitBenchChunk)
	}
	n := len(lists[0]) / visitBenchChunk * visitBenchChunk
	// Nine visits in ten sample the resident, the tenth misses.
	outcome := func(round int64, v store.PendingVisit, i int) store.VisitOutcome {
		o := store.VisitOutcome{Resident: v.Resident, Attempt: v.Attempt, At: opens.Add(time.Duration(i) * time.Second)}
		if i%10 != 9 {
			o.Sampled, o.Tube = true, fmt.Sprintf("H%d-%s", round, v.Resident)
		}
		return o
	}
	took := takeTurns(n/visitBenchChunk,
		func(k int) {
			for i := k * visitBenchChunk; i < (k+1)*visitBenchChunk; i++ {
				o := outcome(rounds[0], lists[0][i], i)
				if err := s.RecordHomeVisit(ctx, rounds[0], o.Resident, o.Attempt, o.Sampled, o.Tube, o.At); err != nil {
					b.Fatal(err)
				}
			}
		},
		func(k int) {
			batch := make([]store.VisitOutcome, visitBenchChunk)
			for j := range batch {
				i := k*visitBenchChunk + j
				batch[j] = outcome(rounds[1], lists[1][i], i)
			}
			res, err := s.RecordHomeVisits(ctx, rounds[1], batch)
			if err != nil || res.Sampled+res.Missed != len(batch) {
				b.Fatalf("RecordHomeVisits() = %+v, %v, want %d recorded", res, err, len(batch))
			}
		})
	for k, round := range rounds {
		if got := benchCount(b, s, fmt.Sprintf(`SELECT count(*) FROM home_visits WHERE round_id = %d AND state <> 'assigned'`, round)); got != n {
			b.Fatalf("visits recorded in round %d = %d, want %d", k+1, got, n)
		}
	}
	one, batched := float64(n)/took[0].Seconds(), float64(n)/took[1].Seconds()
	verdict := "MISS"
	if batched >= 10*one {
		verdict = "PASS"
	}
	fmt.Printf("Home visits — %s, %d CPUs; the same %d visits each way, taking turns %d at a time\n", time.Now().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), n, visitBenchChunk)
	fmt.Printf("  %-52s %7.2f s summed  %9.0f visits/s\n", "RecordHomeVisit, one call per visit", took[0].Seconds(), one)
	fmt.Printf("  %-52s %7.2f s summed  %9.0f visits/s\n", fmt.Sprintf("RecordHomeVisits, batches of %d", visitBenchChunk), took[1].Seconds(), batched)
	fmt.Printf("  %-52s %9.1f×      target ≥ 10×   %s\n", "batches / one call per visit", batched/one, verdict)
}
