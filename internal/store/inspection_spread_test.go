package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// spreadCity is a generated district of another shape than the reference:
// 25 communities in three sub-districts of 10, 10 and 5, each community
// with four sampling points.
func spreadCity(t *testing.T) *store.Store {
	t.Helper()
	f, err := scenario.GenerateCity(25*40, 25, 11)
	if err != nil {
		t.Fatalf("GenerateCity() error = %v", err)
	}
	return loaded(t, f.Rows())
}

func inspectorsN(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("inspector-%02d", i+1))
	}
	return out
}

// TestInspectionSitesSpreadOverInspectors checks that a round's sites are
// spread over the inspectors by count, with a sub-district's sites kept
// together where the counts allow: over the whole district (3
// sub-districts, 103 sites, 4 inspectors) and over one community (4 sites,
// which used to go to the first inspector alone).
func TestInspectionSitesSpreadOverInspectors(t *testing.T) {
	ctx := context.Background()
	s := spreadCity(t)
	for _, c := range []struct {
		area       string
		inspectors int
		sites      int
	}{{"city", 4, 103}, {"c-001", 4, 4}, {"c-001", 3, 4}, {"city", 12, 103}} {
		inc := fmt.Sprintf("inc-spread-%s-%d", c.area, c.inspectors)
		wf := "response/" + inc + "/inspect"
		plan, err := s.OpenInspectionRound(ctx, store.RoundOrder{Incident: inc, Step: "inspect", WorkflowID: wf, Round: 1, Area: c.area,
			SiteKinds: []string{"sampling-point"}, Inspectors: inspectorsN(c.inspectors)}, event(inc, wf, "round", "1"))
		if err != nil {
			t.Fatalf("OpenInspectionRound(%s) error = %v", c.area, err)
		}
		if len(plan.Sites) != c.sites {
			t.Fatalf("OpenInspectionRound(%s) = %d sites, want %d", c.area, len(plan.Sites), c.sites)
		}
		per := map[string]int{}
		inspectorsOf := map[string]map[string]bool{}
		for _, st := range plan.Sites {
			per[st.Inspector]++
			if inspectorsOf[st.SubDistrict] == nil {
				inspectorsOf[st.SubDistrict] = map[string]bool{}
			}
			inspectorsOf[st.SubDistrict][st.Inspector] = true
		}
		want := min(c.inspectors, c.sites)
		lo, hi := c.sites, 0
		for _, n := range per {
			lo, hi = min(lo, n), max(hi, n)
		}
		if len(per) != want || hi-lo > 1 {
			t.Errorf("%s with %d inspectors: sites per inspector %v; want %d inspectors, loads differing by at most one", c.area, c.inspectors, per, want)
		}
		// A sub-district is split only where an inspector's share ends:
		// it has no more inspectors than its sites need, plus one.
		share := (c.sites + want - 1) / want
		for sd, ins := range inspectorsOf {
			n := 0
			for _, st := range plan.Sites {
				if st.SubDistrict == sd {
					n++
				}
			}
			if len(ins) > (n+share-1)/share+1 {
				t.Errorf("%s with %d inspectors: sub-district %s (%d sites) spread over %d inspectors", c.area, c.inspectors, sd, n, len(ins))
			}
		}
	}
}

// TestInspectionUnreportedSitesReassigned checks that the sites a round
// closed without go to another inspector in the next round, and that the
// reported ones stay with theirs.
func TestInspectionUnreportedSitesReassigned(t *testing.T) {
	ctx := context.Background()
	s := spreadCity(t)
	const inc, wf = "inc-reassign", "response/inc-reassign/inspect"
	order := store.RoundOrder{Incident: inc, Step: "inspect", WorkflowID: wf, Round: 1, Area: "sd-01",
		SiteKinds: []string{"sampling-point"}, Inspectors: inspectorsN(4)}
	first, err := s.OpenInspectionRound(ctx, order, event(inc, wf, "round", "1"))
	if err != nil {
		t.Fatalf("OpenInspectionRound(1) error = %v", err)
	}
	before := map[string]string{}
	unreported := map[string]bool{}
	for i, st := range first.Sites {
		before[st.Site] = st.Inspector
		// Every third site is left unreported.
		if i%3 == 0 {
			unreported[st.Site] = true
			continue
		}
		if _, err := s.ReportSite(ctx, store.SiteReport{RoundID: first.RoundID, Site: st.Site}, event(inc, wf, "report/"+st.Site, "")); err != nil {
			t.Fatalf("ReportSite(%s) error = %v", st.Site, err)
		}
	}
	if err := s.CloseInspectionRound(ctx, first.RoundID, event(inc, wf, "close/1", "")); err != nil {
		t.Fatalf("CloseInspectionRound() error = %v", err)
	}
	order.Round = 2
	second, err := s.OpenInspectionRound(ctx, order, event(inc, wf, "round", "2"))
	if err != nil {
		t.Fatalf("OpenInspectionRound(2) error = %v", err)
	}
	moved := 0
	for _, st := range second.Sites {
		switch {
		case unreported[st.Site] && st.Inspector == before[st.Site]:
			t.Errorf("round 2: unreported site %s stays with %s", st.Site, st.Inspector)
		case unreported[st.Site]:
			moved++
		case st.Inspector != before[st.Site]:
			t.Errorf("round 2: reported site %s moved from %s to %s", st.Site, before[st.Site], st.Inspector)
		}
	}
	if moved != len(unreported) || moved == 0 {
		t.Errorf("round 2: %d of %d unreported sites reassigned", moved, len(unreported))
	}
	// A repeated open records nothing new and keeps the assignments.
	again, err := s.OpenInspectionRound(ctx, order, event(inc, wf, "round", "2"))
	if err != nil || again.RoundID != second.RoundID {
		t.Fatalf("OpenInspectionRound(2) again = %d, %v", again.RoundID, err)
	}
	for i := range again.Sites {
		if again.Sites[i].Inspector != second.Sites[i].Inspector {
			t.Errorf("round 2 again: %s went to %s, then %s", again.Sites[i].Site, second.Sites[i].Inspector, again.Sites[i].Inspector)
		}
	}
}

// TestInspectionReportWithdrawn checks that a finding withdrawn when the
// response ends is counted as withdrawn, not as rectified.
func TestInspectionReportWithdrawn(t *testing.T) {
	ctx := context.Background()
	s := spreadCity(t)
	const inc, wf = "inc-withdrawn", "response/inc-withdrawn/inspect"
	plan, err := s.OpenInspectionRound(ctx, store.RoundOrder{Incident: inc, Step: "inspect", WorkflowID: wf, Round: 1, Area: "c-002",
		SiteKinds: []string{"sampling-point"}, Inspectors: inspectorsN(2)}, event(inc, wf, "round", "1"))
	if err != nil {
		t.Fatalf("OpenInspectionRound() error = %v", err)
	}
	site := plan.Sites[0]
	res, err := s.ReportSite(ctx, store.SiteReport{RoundID: plan.RoundID, Site: site.Site, Findings: []domain.NewFinding{
		{Category: "queue", Severity: "low", Description: "no distance marks"},
		{Category: "masks", Severity: "high", Description: "masks not checked"}}}, event(inc, wf, "report", ""))
	if err != nil || len(res.Findings) != 2 {
		t.Fatalf("ReportSite() = %d findings, %v", len(res.Findings), err)
	}
	done, left := res.Findings[0].ID, res.Findings[1].ID
	if _, err := s.RectifyFinding(ctx, done, event(inc, wf, "rectify", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReinspectFinding(ctx, store.Reinspection{FindingID: done, By: site.Inspector, Passed: true}, event(inc, wf, "reinspect", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.WithdrawFinding(ctx, left, event(inc, wf, "withdraw", "")); err != nil {
		t.Fatal(err)
	}
	rep, err := s.InspectionReport(ctx, inc)
	if err != nil {
		t.Fatal(err)
	}
	if tl := rep.Total; tl.Found != 2 || tl.Rectified != 1 || tl.Withdrawn != 1 || tl.Open != 0 || len(rep.Open) != 0 {
		t.Errorf("InspectionReport() total = %+v, %d open listed; want 2 found, 1 rectified, 1 withdrawn, none open", tl, len(rep.Open))
	}
	if len(rep.BySubDistrict) != 1 || rep.BySubDistrict[0].Withdrawn != 1 {
		t.Errorf("InspectionReport() by sub-district = %+v, want 1 withdrawn", rep.BySubDistrict)
	}
}
