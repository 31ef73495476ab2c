package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// TestRecordHomeVisits checks that a batch of visits follows the rules of
// RecordHomeVisit for each visit: a batch with one bad visit is refused
// whole with that visit's index and the error RecordHomeVisit gives for it
// alone, nothing of it is written, and a re-sent batch changes nothing.
func TestRecordHomeVisits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "zhongfuyuan", 1)
	if _, err := s.AssignHomeVisits(ctx, plan.RoundID); err != nil {
		t.Fatal(err)
	}
	visits, err := s.HomeVisits(ctx, plan.RoundID)
	if err != nil || len(visits) < 20 {
		t.Fatalf("HomeVisits() = %d visits, %v, want at least 20", len(visits), err)
	}
	at := opens.Add(30 * time.Minute)
	sampled := func(i int, tube string) store.VisitOutcome {
		return store.VisitOutcome{Resident: visits[i].Resident, Attempt: 1, Sampled: true, Tube: tube, At: at}
	}
	missed := func(i int) store.VisitOutcome {
		return store.VisitOutcome{Resident: visits[i].Resident, Attempt: 1, At: at}
	}

	good := []store.VisitOutcome{sampled(0, "HVB-0"), missed(1), sampled(2, "HVB-2")}
	res, err := s.RecordHomeVisits(ctx, plan.RoundID, good)
	if want := (store.VisitBatchResult{Visits: 3, Sampled: 2, Missed: 1}); err != nil || res != want {
		t.Fatalf("RecordHomeVisits(good) = %+v, %v, want %+v", res, err, want)
	}
	samples := count(t, s, `SELECT count(*) FROM samples`)
	res, err = s.RecordHomeVisits(ctx, plan.RoundID, good)
	if want := (store.VisitBatchResult{Visits: 3, AlreadyRecorded: 3}); err != nil || res != want {
		t.Errorf("RecordHomeVisits(same batch again) = %+v, %v, want %+v", res, err, want)
	}
	if k := count(t, s, `SELECT count(*) FROM samples`); k != samples {
		t.Errorf("samples after the batch again = %d, want %d", k, samples)
	}
	if k := count(t, s, `SELECT count(*) FROM samples WHERE tube LIKE 'HVB-%' AND point_id IS NULL AND home_visit AND round_id = $1`, plan.RoundID); k != 2 {
		t.Errorf("home-visit samples of the batch = %d, want 2 without a point", k)
	}

	// Every bad batch starts with a good visit (visits[10+case]) that must
	// not be written, and its bad visit is at index 1.
	for n, tt := range []struct {
		name   string
		bad    store.VisitOutcome
		single bool // whether RecordHomeVisit alone refuses the bad visit the same way
		want   error
	}{
		{"other outcome", sampled(1, "HVB-1"), true, domain.ErrConflict},
		{"second tube", sampled(0, "HVB-00"), true, domain.ErrConflict},
		{"tube of another resident", sampled(3, "HVB-0"), true, domain.ErrConflict},
		{"no such visit", store.VisitOutcome{Resident: visits[4].Resident, Attempt: 2, At: at}, true, domain.ErrNotFound},
		{"unknown resident", store.VisitOutcome{Resident: "r-nobody", Attempt: 1, At: at}, true, domain.ErrNotFound},
		{"sampled without tube", sampled(5, " "), true, domain.ErrInvalid},
		{"attempt 0", store.VisitOutcome{Resident: visits[6].Resident, At: at}, false, domain.ErrInvalid},
		{"visit twice in the batch", missed(17), false, domain.ErrInvalid},
		{"tube twice in the batch", sampled(7, "HVB-first-7"), false, domain.ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			first := sampled(10+n, "HVB-first-"+tt.name)
			if tt.name == "tube twice in the batch" {
				first.Tube = tt.bad.Tube
			}
			before := count(t, s, `SELECT count(*) FROM home_visits WHERE state <> 'assigned'`)
			_, err := s.RecordHomeVisits(ctx, plan.RoundID, []store.VisitOutcome{first, tt.bad})
			var ve *store.VisitError
			if !errors.Is(err, tt.want) || !errors.As(err, &ve) || ve.Index != 1 {
				t.Fatalf("RecordHomeVisits() = %v, want %v at visit 1", err, tt.want)
			}
			if k := count(t, s, `SELECT count(*) FROM samples WHERE tube = $1`, first.Tube); k != 0 && tt.name != "tube twice in the batch" {
				t.Errorf("samples of the refused batch's good visit = %d, want 0", k)
			}
			if k := count(t, s, `SELECT count(*) FROM home_visits WHERE state <> 'assigned'`); k != before {
				t.Errorf("visits recorded after a refused batch = %d, want %d", k, before)
			}
			if tt.single {
				b := tt.bad
				if err := s.RecordHomeVisit(ctx, plan.RoundID, b.Resident, b.Attempt, b.Sampled, b.Tube, b.At); !errors.Is(err, tt.want) {
					t.Errorf("RecordHomeVisit(the bad visit alone) = %v, want %v", err, tt.want)
				}
			}
		})
	}

	if _, err := s.CloseRound(ctx, plan.RoundID, roundEvent("xd-0403", "close")); err != nil {
		t.Fatal(err)
	}
	// Closed: outcomes recorded before are taken again, new ones are not.
	if res, err := s.RecordHomeVisits(ctx, plan.RoundID, good[:1]); err != nil || res.AlreadyRecorded != 1 {
		t.Errorf("RecordHomeVisits(closed, recorded before) = %+v, %v, want 1 already recorded", res, err)
	}
	_, err = s.RecordHomeVisits(ctx, plan.RoundID, []store.VisitOutcome{good[1], missed(19)})
	var ve *store.VisitError
	if !errors.Is(err, store.ErrRoundClosed) || !errors.As(err, &ve) || ve.Index != 1 {
		t.Errorf("RecordHomeVisits(closed) = %v, want ErrRoundClosed at visit 1", err)
	}
	if err := s.RecordHomeVisit(ctx, plan.RoundID, visits[19].Resident, 1, false, "", at); !errors.Is(err, store.ErrRoundClosed) {
		t.Errorf("RecordHomeVisit(closed) = %v, want ErrRoundClosed", err)
	}
	// A resident visited at most once and never both sampled and missing.
	if k := count(t, s, `SELECT count(*) FROM round_missing m JOIN samples x ON x.round_id = m.round_id AND x.resident_id = m.resident_id WHERE m.round_id = $1`, plan.RoundID); k != 0 {
		t.Errorf("residents both sampled and missing = %d, want 0", k)
	}
	if _, err := s.RecordHomeVisits(ctx, plan.RoundID, nil); err != nil {
		t.Errorf("RecordHomeVisits(no visits) = %v, want nil", err)
	}
}
