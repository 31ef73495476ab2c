package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/workflows"
)

// TestDistrictsRunAtOnceEndToEnd loads a second district that reuses the
// reference district's staff, site, supplier and area codes (Longbao
// among them), runs the same seal-and-supply runbook over each district's
// Longbao at once, and checks that nothing crosses over: checkpoint staff,
// assignments, passes, notices and restock orders of each response are
// all its own district's (DESIGN.md §8, promise 9).
func TestDistrictsRunAtOnceEndToEnd(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	f, err := scenario.ReadFile("../../internal/scenario/testdata/districts/tuanbo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.LoadScenario(ctx, f.Rows()); err != nil {
		t.Fatal(err)
	}
	name := "districts-e2e"
	if _, _, err := s.st.PublishRunbook(ctx, name, "Supply under seal (test)", []byte(fmt.Sprintf(supplyRunbook, name)), "e2e"); err != nil {
		t.Fatal(err)
	}
	// Longbao names an area in both districts: a code alone is refused,
	// naming them.
	if _, err := s.st.AreaByCode(ctx, "longbao"); err == nil {
		t.Fatal("AreaByCode(longbao) with two districts loaded = nil error, want ambiguous")
	}
	districts := []string{"xiaodian", "tuanbo"}
	incidents := map[string]string{}
	ids := map[string]string{}
	for _, d := range districts {
		area, err := s.st.AreaIn(ctx, d, "longbao")
		if err != nil {
			t.Fatal(err)
		}
		incidents[d] = pgtest.Name("dist-" + d[:2])
		ids[d], _, err = service.StartResponse(ctx, s.c, s.taskQueue, workflows.ResponseInput{
			Incident: incidents[d], Runbook: name, Area: area.Path, TimeScale: 720, RequestedBy: "e2e"}, "test")
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range districts {
		wctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
		var res workflows.ResponseProgress
		err := s.c.GetWorkflow(wctx, ids[d], "").Get(wctx, &res)
		cancel()
		if err != nil {
			t.Fatalf("response of %s: %v", d, err)
		}
		if res.State != workflows.ResponseClosed {
			t.Errorf("response of %s ended %s, want %s", d, res.State, workflows.ResponseClosed)
		}
	}

	for _, d := range districts {
		inc := incidents[d]
		counts := map[string]string{
			"checkpoint staff": `SELECT count(*), count(*) FILTER (WHERE split_part(sa.path, '/', 1) <> $2)
				FROM checkpoint_staff cs JOIN checkpoints c ON c.id = cs.checkpoint_id
				JOIN staff st ON st.id = cs.staff_id JOIN areas sa ON sa.id = st.area_id WHERE c.incident = $1`,
			"checkpoints": `SELECT count(*), count(*) FILTER (WHERE split_part(a.path, '/', 1) <> $2)
				FROM checkpoints c JOIN areas a ON a.id = c.area_id WHERE c.incident = $1`,
			"assignments": `SELECT count(*), count(*) FILTER (WHERE split_part(sa.path, '/', 1) <> $2 OR split_part(pa.path, '/', 1) <> $2)
				FROM staff_assignments x JOIN staff st ON st.id = x.staff_id JOIN areas sa ON sa.id = st.area_id
				JOIN staff_posts p ON p.id = x.post_id JOIN areas pa ON pa.id = p.area_id WHERE x.incident = $1`,
			"passes": `SELECT count(*), count(*) FILTER (WHERE split_part(a.path, '/', 1) <> $2
				OR EXISTS (SELECT 1 FROM staff st JOIN areas sa ON sa.id = st.area_id WHERE st.id = p.staff_id AND split_part(sa.path, '/', 1) <> $2))
				FROM passes p JOIN areas a ON a.id = p.area_id WHERE p.incident = $1`,
			"notices": `SELECT count(*), count(*) FILTER (WHERE split_part(a.path, '/', 1) <> $2)
				FROM notices n JOIN areas a ON a.id = n.area_id WHERE n.incident = $1`,
			"supply orders": `SELECT count(*), count(*) FILTER (WHERE si.district <> $2 OR split_part(a.path, '/', 1) <> $2)
				FROM shipments sh JOIN sites si ON si.id = sh.site_id JOIN areas a ON a.id = sh.area_id WHERE sh.incident = $1`,
		}
		for what, q := range counts {
			var all, other int
			if err := s.st.DB().QueryRowContext(ctx, q, inc, d).Scan(&all, &other); err != nil {
				t.Fatalf("%s of %s: %v", what, d, err)
			}
			t.Logf("%s: %d %s, %d of another district", d, all, what, other)
			if all == 0 {
				t.Errorf("%s: no %s, want some", d, what)
			}
			if other != 0 {
				t.Errorf("%s: %d of %d %s are another district's, want 0", d, other, all, what)
			}
		}
	}
}
