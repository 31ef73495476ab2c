package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/plan"
)

// PreviewPlan plans a round over an area without opening it: the points
// and units it gives package plan are those OpenRound would, so the plan
// finishes when the opened round's would.
func TestPreviewPlan(t *testing.T) {
	ctx := context.Background()
	s := loaded(t, qingshui(t))
	pv, err := s.PreviewPlan(ctx, areaID(t, s, "qs-hexi"))
	if err != nil {
		t.Fatalf("PreviewPlan(qs-hexi) error = %v", err)
	}
	if len(pv.Points) != 6 || len(pv.Codes) != 6 || pv.Residents != 12650 {
		t.Fatalf("PreviewPlan(qs-hexi) = %d points, %d residents; want 6, 12650", len(pv.Points), pv.Residents)
	}
	work := 0
	for _, u := range pv.Units {
		work += u.Size
	}
	opened := openRound(t, s, "preview", "qs-hexi", 1)
	latest := 0.0
	for _, p := range opened.Points {
		latest = max(latest, float64(p.Expected)/float64(p.CapacityPerHour))
	}
	if got := plan.Assign(pv.Points, pv.Units).Makespan(); work != sumPoints(opened.Points) || got != latest {
		t.Errorf("PreviewPlan(qs-hexi) plans %d residents to finish after %.2f h; the opened round %d, after %.2f h", work, got, sumPoints(opened.Points), latest)
	}
	if _, err := s.PreviewPlan(ctx, -1); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("PreviewPlan(-1) error = %v, want ErrNotFound", err)
	}
}
