package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

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
		{"other outcome", second.Resident, 1, true, "HV-0002", domain.ErrConflict},
		{"second tube", first.Resident, 1, true, "HV-0003", domain.ErrConflict},
		{"tube of another resident", visits[2].Resident, 1, true, "HV-0001", domain.ErrConflict},
		{"no such visit", first.Resident, 2, false, "", domain.ErrNotFound},
		{"unknown resident", "r-nobody", 1, false, "", domain.ErrNotFound},
		{"sampled without tube", visits[3].Resident, 1, true, "", domain.ErrInvalid},
	} {
		if err := s.RecordHomeVisit(ctx, plan.RoundID, tt.resident, tt.attempt, tt.sampled, tt.tube, at); !errors.Is(err, tt.want) {
			t.Errorf("RecordHomeVisit(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}

	p, err := s.RoundProgress(ctx, plan.RoundID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (domain.VisitProgress{Residents: 80, Sampled: 1, Missed: 1, Pending: 78}); p.HomeVisits != want {
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
