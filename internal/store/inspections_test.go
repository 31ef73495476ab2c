package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

func countRows(t *testing.T, s *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB().GetContext(context.Background(), &n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestInspectionRoundAndFindings follows the reference district's first
// inspection round through the store: 12 sub-districts and 43 key sites,
// site reports with bad input and duplicates, a finding reopened and closed,
// a repeat, talks, and the report.
func TestInspectionRoundAndFindings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, reference(t))
	const inc, wf = "inc-inspect", "response/inc-inspect/inspect"
	var inspectors []string
	for _, c := range []string{"01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"} {
		inspectors = append(inspectors, "inspector-"+c)
	}
	order := store.RoundOrder{Incident: inc, Step: "inspect", WorkflowID: wf, Round: 1, Area: "xiaodian", SiteKinds: []string{"key-site"},
		Departments: []domain.Unit{{Code: "market-regulation", Name: "District market regulation bureau"}}, Inspectors: inspectors}
	plan, err := s.OpenInspectionRound(ctx, order, event(inc, wf, "round", "1"))
	if err != nil {
		t.Fatalf("OpenInspectionRound() error = %v", err)
	}
	subs, keys := 0, 0
	perInspector := map[string]int{}
	for _, st := range plan.Sites {
		switch st.Kind {
		case "sub-district":
			subs++
		case "key-site":
			keys++
		}
		perInspector[st.Inspector]++
	}
	if subs != 12 || keys != 43 || len(plan.Units) != 13 || len(perInspector) != 12 {
		t.Errorf("OpenInspectionRound() = %d sub-districts, %d key sites, %d units, %d inspectors; want 12, 43, 13, 12", subs, keys, len(plan.Units), len(perInspector))
	}
	again, err := s.OpenInspectionRound(ctx, order, event(inc, wf, "round", "1"))
	if err != nil || again.RoundID != plan.RoundID || len(again.Sites) != len(plan.Sites) {
		t.Errorf("OpenInspectionRound() again = round %d with %d sites, %v; want the same round", again.RoundID, len(again.Sites), err)
	}
	if id, err := s.InspectionWorkflow(ctx, inc); err != nil || id != wf {
		t.Errorf("InspectionWorkflow() = %q, %v, want %q", id, err, wf)
	}

	mask := domain.NewFinding{Category: "mask-checks", Severity: "high", Description: "masks not checked"}
	// Bad input names the field and writes nothing.
	for name, c := range map[string]struct {
		r    store.SiteReport
		want string
	}{
		"unknown site": {store.SiteReport{RoundID: plan.RoundID, Site: "nowhere"}, `site "nowhere" is not in inspection round`},
		"unknown unit": {store.SiteReport{RoundID: plan.RoundID, Site: "beiying-key-01", Findings: []domain.NewFinding{mask, {Category: "x", Severity: "low", Description: "d", Unit: "ghost"}}},
			`findings[1].unit "ghost": unknown unit`},
		"bad severity": {store.SiteReport{RoundID: plan.RoundID, Site: "beiying-key-01", Findings: []domain.NewFinding{{Category: "x", Severity: "urgent", Description: "d"}}},
			`findings[0].severity "urgent"`},
	} {
		_, err := s.ReportSite(ctx, c.r, event(inc, wf, "report/"+c.r.Site, ""))
		if !errors.Is(err, domain.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: ReportSite() error = %v, want ErrInvalid containing %q", name, err, c.want)
		}
	}
	if n := countRows(t, s, `SELECT count(*) FROM findings WHERE incident = $1`, inc); n != 0 {
		t.Errorf("findings after rejected reports = %d, want 0", n)
	}

	first, err := s.ReportSite(ctx, store.SiteReport{RoundID: plan.RoundID, Site: "beiying-key-01", Findings: []domain.NewFinding{mask}}, event(inc, wf, "report/beiying-key-01", ""))
	if err != nil || first.Duplicate || len(first.Findings) != 1 || first.Findings[0].Unit != "beiying-office" || first.Findings[0].SubDistrict != "beiying" {
		t.Fatalf("ReportSite(beiying-key-01) = %+v, %v; want one finding at beiying-office", first, err)
	}
	dup, err := s.ReportSite(ctx, store.SiteReport{RoundID: plan.RoundID, Site: "beiying-key-01", Findings: []domain.NewFinding{mask, mask}}, event(inc, wf, "report/beiying-key-01", ""))
	if err != nil || !dup.Duplicate || len(dup.Findings) != 1 || dup.Findings[0].ID != first.Findings[0].ID {
		t.Errorf("ReportSite(beiying-key-01) again = %+v, %v; want a duplicate returning the first finding", dup, err)
	}
	second, err := s.ReportSite(ctx, store.SiteReport{RoundID: plan.RoundID, Site: "beiying-key-02", Findings: []domain.NewFinding{mask}}, event(inc, wf, "report/beiying-key-02", ""))
	if err != nil {
		t.Fatal(err)
	}
	f1, f2 := first.Findings[0].ID, second.Findings[0].ID
	deadline := time.Date(2022, 4, 3, 20, 0, 0, 0, time.UTC)
	a1, err := s.AssignFinding(ctx, f1, deadline, event(inc, "f1", "assign", ""))
	if err != nil || a1.Repeat || a1.State != domain.FindingAssigned || a1.Inspector != perInspectorOf(plan, "beiying-key-01") {
		t.Errorf("AssignFinding(first) = %+v, %v; want assigned, not a repeat, to the site's inspector", a1, err)
	}
	a2, err := s.AssignFinding(ctx, f2, deadline, event(inc, "f2", "assign", ""))
	if err != nil || !a2.Repeat {
		t.Errorf("AssignFinding(second) = %+v, %v; want a repeat (same category, same unit)", a2, err)
	}

	// Re-inspection: only the assigned inspector, only once rectified.
	if _, err := s.ReinspectFinding(ctx, store.Reinspection{FindingID: f1, By: a1.Inspector, Passed: true}, event(inc, "f1", "reinspect", "0")); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("ReinspectFinding(before rectification) error = %v, want ErrInvalid", err)
	}
	if _, err := s.RectifyFinding(ctx, f1, event(inc, "f1", "rectify", "1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReinspectFinding(ctx, store.Reinspection{FindingID: f1, By: "someone-else", Passed: true}, event(inc, "f1", "reinspect", "0")); err == nil || !strings.Contains(err.Error(), `by "someone-else"`) {
		t.Errorf("ReinspectFinding(by someone else) error = %v, want one naming by", err)
	}
	later := deadline.Add(4 * time.Hour)
	for range 2 { // a retried activity reopens once
		r, err := s.ReinspectFinding(ctx, store.Reinspection{FindingID: f1, By: a1.Inspector, Passed: false, Reopen: 1, NewDeadline: later}, event(inc, "f1", "reinspect", "1"))
		if err != nil || r.State != domain.FindingReopened || r.Reopened != 1 {
			t.Errorf("ReinspectFinding(fail) = %+v, %v; want reopened once", r, err)
		}
	}
	if _, err := s.RectifyFinding(ctx, f1, event(inc, "f1", "rectify", "2")); err != nil {
		t.Fatal(err)
	}
	if r, err := s.ReinspectFinding(ctx, store.Reinspection{FindingID: f1, By: a1.Inspector, Passed: true, Reopen: 1}, event(inc, "f1", "reinspect", "1p")); err != nil || r.State != domain.FindingClosed {
		t.Errorf("ReinspectFinding(pass) = %+v, %v; want closed", r, err)
	}
	if _, err := s.RectifyFinding(ctx, f1, event(inc, "f1", "rectify", "3")); !errors.Is(err, domain.ErrInvalid) || !strings.Contains(err.Error(), "is closed") {
		t.Errorf("RectifyFinding(closed) error = %v, want ErrInvalid saying it is closed", err)
	}

	// The repeat and an overdue: one talk per finding and reason, with its notice.
	body := func(tk domain.Talk) string { return "talk with the " + tk.Person }
	for range 2 {
		tk, err := s.RecordTalk(ctx, f2, "repeat", body, event(inc, "f2", "talk", "repeat"))
		if err != nil || tk.Person != "head of Beiying Sub-district" || tk.UnitName != "Beiying Sub-district office" {
			t.Errorf("RecordTalk(repeat) = %+v, %v; want the head of Beiying Sub-district", tk, err)
		}
	}
	if err := s.MarkFindingOverdue(ctx, f2, event(inc, "f2", "deadline", "0")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordTalk(ctx, f2, "overdue", body, event(inc, "f2", "talk", "overdue")); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, `SELECT count(*) FROM inspection_talks WHERE incident = $1`, inc); n != 2 {
		t.Errorf("talks = %d, want 2 (repeat and overdue, once each)", n)
	}
	if n := countRows(t, s, `SELECT count(*) FROM notices WHERE incident = $1 AND kind = 'inspection/talk'`, inc); n != 2 {
		t.Errorf("talk notices = %d, want 2", n)
	}

	r, err := s.InspectionReport(ctx, inc)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sites != 55 || r.SitesReported != 2 || r.Total.Found != 2 || r.Total.Rectified != 1 || r.Total.Open != 1 || r.Total.Overdue != 1 || r.Total.Escalated != 1 {
		t.Errorf("InspectionReport() = %d sites, %d reported, total %+v; want 55, 2, 2 found, 1 rectified, 1 open, 1 overdue, 1 escalated", r.Sites, r.SitesReported, r.Total)
	}
	if len(r.BySubDistrict) != 1 || r.BySubDistrict[0].Key != "beiying" || len(r.ByUnit) != 1 || r.ByUnit[0].Key != "beiying-office" {
		t.Errorf("InspectionReport() by sub-district %+v, by unit %+v; want beiying only", r.BySubDistrict, r.ByUnit)
	}
	if len(r.Groups) != 1 || r.Groups[0].Category != "mask-checks" || len(r.Groups[0].Sites) != 2 {
		t.Errorf("InspectionReport().Groups = %+v, want mask-checks at 2 sites of beiying-office", r.Groups)
	}
	if len(r.Open) != 1 || r.Open[0].ID != f2 || len(r.Talks) != 2 {
		t.Errorf("InspectionReport() open %+v, talks %+v; want finding %d open and 2 talks", r.Open, r.Talks, f2)
	}
}

func perInspectorOf(p domain.InspectionPlan, site string) string {
	for _, s := range p.Sites {
		if s.Site == site {
			return s.Inspector
		}
	}
	return ""
}

// TestComplianceOpensFinding checks that a failed compliance check opens a
// finding in its own transaction, once per check, and that it is claimed by
// one inspection over its sub-district: its own incident's, or another's.
func TestComplianceOpensFinding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, reference(t))
	const inc = "inc-auto"
	p, err := s.SealPlan(ctx, "longbao-jiayuan")
	if err != nil {
		t.Fatal(err)
	}
	g := p.Gates[0]
	if _, err := s.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: inc, GateID: g.ID, AreaID: p.Compound.ID, Mode: "entry", RequiredStaff: 500},
		func(store.CheckpointResult) domain.Event { return event(inc, "wf", "checkpoint/"+g.Code, "") }); err != nil {
		t.Fatal(err)
	}
	check := func(round int) {
		t.Helper()
		if _, err := s.CheckCompliance(ctx, inc, p.Compound.ID, round, func([]store.ComplianceResult) domain.Event {
			return event(inc, "wf", "compliance-check", fmt.Sprint(round))
		}); err != nil {
			t.Fatal(err)
		}
	}
	check(1)
	check(1)
	if n := countRows(t, s, `SELECT count(*) FROM findings WHERE incident = $1`, inc); n != 1 {
		t.Fatalf("findings after round 1 checked twice = %d, want 1", n)
	}
	// An inspection of another sub-district does not see it.
	if got, err := s.ClaimFindings(ctx, "inc-elsewhere", "xiaodian/qinxian"); err != nil || len(got) != 0 {
		t.Errorf("ClaimFindings(Qinxian) = %+v, %v; want none", got, err)
	}
	// The district's inspection, another incident, claims it, twice alike.
	var f domain.Finding
	for range 2 {
		got, err := s.ClaimFindings(ctx, "inc-district", "xiaodian")
		if err != nil || len(got) != 1 {
			t.Fatalf("ClaimFindings(district) = %+v, %v; want the finding of the failed check", got, err)
		}
		f = got[0]
	}
	if f.Source != "compliance" || f.Category != domain.CategoryCompliance || f.SubDistrict != "beiying" || f.Unit != "beiying-office" ||
		f.Site != "longbao-jiayuan/"+g.Code || !strings.Contains(f.Description, "understaffed") || f.Incident != inc || f.Follower() != "inc-district" {
		t.Errorf("finding of the failed check = %+v, want a compliance finding at longbao-jiayuan/%s for beiying-office, followed by inc-district", f, g.Code)
	}
	if got, err := s.ClaimFindings(ctx, inc, "xiaodian/beiying/longbao"); err != nil || len(got) != 0 {
		t.Errorf("ClaimFindings(its own incident) after the district claimed it = %+v, %v; want none", got, err)
	}
	if _, err := s.AssignFinding(ctx, f.ID, time.Now().Add(time.Hour), event(inc, "f", "assign", "")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimFindings(ctx, "inc-district", "xiaodian"); err != nil || len(got) != 0 {
		t.Errorf("ClaimFindings() after assignment = %+v, %v; want none", got, err)
	}
	if r, err := s.InspectionReport(ctx, "inc-district"); err != nil || r.Total.Found != 1 {
		t.Errorf("InspectionReport(inc-district) = %+v, %v; want the claimed finding", r.Total, err)
	}
	// A second round failing again is a new finding, and a repeat.
	check(2)
	got, err := s.ClaimFindings(ctx, "inc-district", "xiaodian")
	if err != nil || len(got) != 1 {
		t.Fatalf("ClaimFindings() after round 2 = %d, %v; want 1", len(got), err)
	}
	if a, err := s.AssignFinding(ctx, got[0].ID, time.Now().Add(time.Hour), event(inc, "f2", "assign", "")); err != nil || !a.Repeat {
		t.Errorf("AssignFinding(round 2's finding) = %+v, %v; want a repeat", a, err)
	}
}

// TestInspectionRoundTakesCheckpoints: a round whose site kinds name
// checkpoints inspects every checkpoint open in its area, as compound/gate
// under its sub-district; a closed one is not inspected.
func TestInspectionRoundTakesCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, reference(t))
	p, err := s.SealPlan(ctx, "longbao-jiayuan")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range p.Gates {
		if _, err := s.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: "inc-seal", GateID: g.ID, AreaID: p.Compound.ID, Mode: "entry", RequiredStaff: 0},
			func(store.CheckpointResult) domain.Event { return event("inc-seal", "wf", "checkpoint/"+g.Code, "") }); err != nil {
			t.Fatal(err)
		}
	}
	order := store.RoundOrder{Incident: "inc-cp", Step: "inspect", WorkflowID: "response/inc-cp/inspect", Round: 1, Area: "beiying",
		SiteKinds: []string{store.SiteKindCheckpoint}, Inspectors: []string{"inspector-01"}}
	plan, err := s.OpenInspectionRound(ctx, order, event("inc-cp", order.WorkflowID, "round", "1"))
	if err != nil {
		t.Fatalf("OpenInspectionRound() error = %v", err)
	}
	var got []string
	for _, st := range plan.Sites {
		if st.Kind == store.SiteKindCheckpoint {
			if st.SubDistrict != "beiying" || st.Unit != "beiying-office" || st.Inspector != "inspector-01" {
				t.Errorf("checkpoint site = %+v, want beiying's, its office's, inspector-01's", st)
			}
			got = append(got, st.Site)
		}
	}
	if len(got) != len(p.Gates) || len(got) == 0 || got[0] != "longbao-jiayuan/"+p.Gates[0].Code {
		t.Errorf("checkpoint sites = %v, want one per gate of longbao-jiayuan (%d), as compound/gate", got, len(p.Gates))
	}
}
