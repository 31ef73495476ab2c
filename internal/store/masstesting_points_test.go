package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

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
	var newPoint domain.RoundPoint
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
	busiest := func(ps []domain.RoundPoint) int {
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
	if _, err := s.AddRoundPoint(ctx, plan.RoundID, "nowhere", e); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("AddRoundPoint(unknown site) = %v, want ErrNotFound", err)
	}
	if _, err := s.CloseRound(ctx, plan.RoundID, roundEvent("xd-0403", "close")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRoundPoint(ctx, plan.RoundID, "zhongfuyuan-sampling-01", e); !errors.Is(err, store.ErrRoundClosed) {
		t.Errorf("AddRoundPoint(closed round) = %v, want ErrRoundClosed", err)
	}
}
