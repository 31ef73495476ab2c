package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// inspectionScale plays the first day fast: an hour lasts 6 seconds, so a
// high finding's 2-hour deadline passes in 12 seconds and the daily round
// schedule fires every 144 seconds.
const inspectionScale = 600

// TestInspectionFirstDayEndToEnd runs the seed's first day of the discipline
// office on a real dev server: the built-in discipline-inspection runbook
// over Xiaodian's 12 sub-districts and 43 key sites, 25 findings reported
// through the same calls the CLI and API make, each followed by its own
// workflow to "all rectified" — one reopened, one left overdue until the
// person responsible is called in, repeats talked about — then the daily
// round schedule fires for real, and the lift deletes it.
func TestInspectionFirstDayEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	began := time.Now()
	if err := service.PublishBuiltins(ctx, s.st); err != nil {
		t.Fatal(err)
	}
	incident := pgtest.Name("insp")
	in := workflows.ResponseInput{Incident: incident, Runbook: "discipline-inspection", Area: "xiaodian", TimeScale: inspectionScale, RequestedBy: "e2e"}
	respID, _, err := service.StartResponse(ctx, s.c, s.taskQueue, in, "test")
	if err != nil {
		t.Fatalf("StartResponse() = %v", err)
	}

	var stepID string
	var p workflows.InspectionProgress
	eventually(t, 60*time.Second, "inspection round open", func() (bool, string) {
		id, err := s.st.InspectionWorkflow(ctx, incident)
		if err != nil {
			return false, err.Error()
		}
		stepID, p = id, s.inspection(t, id)
		return p.RoundState == "open", p.RoundState
	})
	subs, keys := 0, 0
	var keySites []workflows.SiteStatus
	inspectorOf := map[string]string{}
	for _, st := range p.Sites {
		inspectorOf[st.Site] = st.Inspector
		if st.Kind == "sub-district" {
			subs++
		} else {
			keys++
			keySites = append(keySites, st)
		}
	}
	if subs != 12 || keys != 43 {
		t.Fatalf("round 1 = %d sub-districts and %d key sites, want 12 and 43", subs, keys)
	}
	opened := time.Now()

	// Bad input: clear errors naming the field, nothing written.
	for name, c := range map[string]struct {
		in    workflows.ReportSiteInput
		field string
	}{
		"unknown site":    {workflows.ReportSiteInput{Site: "no-such-site"}, "site"},
		"unknown unit":    {workflows.ReportSiteInput{Site: keySites[0].Site, Findings: []domain.NewFinding{{Category: "x", Severity: "low", Description: "d", Unit: "ghost-bureau"}}}, "findings[0].unit"},
		"wrong inspector": {workflows.ReportSiteInput{Site: keySites[0].Site, Inspector: "inspector-99"}, "inspector"},
	} {
		_, err := api.ReportSite(ctx, s.c, s.st, incident, c.in)
		var e *api.Error
		if !errors.As(err, &e) || e.Field != c.field {
			t.Errorf("%s: ReportSite() = %v, want an error naming field %s", name, err, c.field)
		}
	}

	// The first day: 25 problems at 25 of the 43 key sites, taken in turn
	// from each of the 12 sub-districts. Beiying's first sites share one
	// problem (mask checks at the door); the others cycle through
	// categories and severities, every fifth laid at the market regulation
	// bureau.
	categories := []string{"registration", "disinfection-log", "staffing", "supplies", "mask-checks"}
	severities := []string{"high", "medium", "low"}
	turn := map[string]int{}
	nth := map[string]int{}
	sort.Slice(keySites, func(i, j int) bool { return keySites[i].Site < keySites[j].Site })
	for _, st := range keySites {
		nth[st.Site] = turn[st.SubDistrict]
		turn[st.SubDistrict]++
	}
	sort.SliceStable(keySites, func(i, j int) bool { return nth[keySites[i].Site] < nth[keySites[j].Site] })
	planned := map[string][]domain.NewFinding{}
	n := 0
	for _, st := range keySites {
		if n == 25 {
			break
		}
		f := domain.NewFinding{Category: categories[n%len(categories)], Severity: severities[n%len(severities)],
			Description: fmt.Sprintf("problem %d found at %s", n+1, st.Site)}
		if strings.HasPrefix(st.Site, "beiying-key-0") && st.Site <= "beiying-key-03" {
			f.Category, f.Severity = "mask-checks", "high"
		}
		if n%5 == 4 {
			f.Unit = "market-regulation"
		}
		planned[st.Site] = []domain.NewFinding{f}
		n++
	}
	var ids []int64
	for _, st := range p.Sites {
		res, err := api.ReportSite(ctx, s.c, s.st, incident, workflows.ReportSiteInput{Site: st.Site, Inspector: st.Inspector, Findings: planned[st.Site]})
		if err != nil {
			t.Fatalf("ReportSite(%s) = %v", st.Site, err)
		}
		ids = append(ids, res.Findings...)
	}
	dup, err := api.ReportSite(ctx, s.c, s.st, incident, workflows.ReportSiteInput{Site: keySites[0].Site, Findings: planned[keySites[0].Site]})
	if err != nil || !dup.Duplicate || len(dup.Findings) != 1 {
		t.Errorf("duplicate ReportSite() = %+v, %v; want a no-op", dup, err)
	}
	if len(ids) != 25 {
		t.Fatalf("findings reported = %d, want 25", len(ids))
	}
	reported := time.Since(opened)

	// Every finding is rectified and re-inspected by its inspector; the
	// first fails once and is reopened; the last high one (2 hours, 12 s
	// here) is left until it is overdue.
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var late int64
	var others []int64
	for _, id := range ids {
		f, err := s.st.FindingByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if f.Severity == "high" {
			if late != 0 {
				others = append(others, late)
			}
			late = id
			continue
		}
		others = append(others, id)
	}
	sort.Slice(others, func(i, j int) bool { return others[i] < others[j] })
	follow := func(id int64, fail bool) {
		t.Helper()
		f, err := s.st.FindingByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, fmt.Sprintf("finding %d assigned", id), func() (bool, string) {
			f, _ = s.st.FindingByID(ctx, id)
			return f.State == domain.FindingAssigned, f.State
		})
		if _, err := api.Rectify(ctx, s.c, s.st, incident, id, workflows.RectifyInput{By: f.Unit, Note: "done"}); err != nil {
			t.Fatalf("Rectify(%d) = %v", id, err)
		}
		if fail {
			if _, err := api.Reinspect(ctx, s.c, s.st, incident, id, workflows.ReinspectInput{By: "inspector-99", Passed: true}); err == nil || !strings.Contains(err.Error(), "assigned to inspector") {
				t.Errorf("Reinspect(%d) by someone else = %v, want a refusal naming the assigned inspector", id, err)
			}
			st, err := api.Reinspect(ctx, s.c, s.st, incident, id, workflows.ReinspectInput{By: f.Inspector, Passed: false, Note: "not holding"})
			if err != nil || st.State != domain.FindingReopened {
				t.Fatalf("Reinspect(%d, fail) = %+v, %v; want reopened", id, st, err)
			}
			if _, err := api.Rectify(ctx, s.c, s.st, incident, id, workflows.RectifyInput{By: f.Unit}); err != nil {
				t.Fatalf("Rectify(%d) again = %v", id, err)
			}
		}
		st, err := api.Reinspect(ctx, s.c, s.st, incident, id, workflows.ReinspectInput{By: f.Inspector, Passed: true})
		if err != nil || st.State != domain.FindingClosed {
			t.Fatalf("Reinspect(%d) = %+v, %v; want closed", id, st, err)
		}
	}
	for i, id := range others {
		follow(id, i == 0)
	}
	if _, err := api.Rectify(ctx, s.c, s.st, incident, ids[0], workflows.RectifyInput{}); err == nil || !strings.Contains(err.Error(), "is closed") {
		t.Errorf("Rectify(closed finding %d) = %v, want a refusal saying it is closed", ids[0], err)
	}
	eventually(t, 90*time.Second, fmt.Sprintf("finding %d overdue and escalated", late), func() (bool, string) {
		f, _ := s.st.FindingByID(ctx, late)
		return f.Overdue && f.Escalated, fmt.Sprintf("%s overdue=%v escalated=%v", f.State, f.Overdue, f.Escalated)
	})
	follow(late, false)

	var rep store.InspectionReport
	eventually(t, 30*time.Second, "all rectified", func() (bool, string) {
		rep, err = s.st.InspectionReport(ctx, incident)
		if err != nil {
			return false, err.Error()
		}
		p = s.inspection(t, stepID)
		return rep.Total.Rectified == 25 && p.Total.Rectified == 25 && p.Holding,
			fmt.Sprintf("report %+v, workflow round %d %s %+v holding %v", rep.Total, p.Round, p.RoundState, p.Total, p.Holding)
	})
	allRectified := time.Since(opened)
	if p.Round != 1 {
		t.Errorf("round %d when the first was settled, want 1: the schedule fired before a day had passed", p.Round)
	}
	if rep.Total.Found != 25 || rep.Total.Open != 0 || rep.Total.Overdue < 1 || rep.Total.Escalated < 1 || rep.SitesReported != 55 {
		t.Errorf("report = %+v with %d sites reported, want 25 found and rectified, none open, the late one overdue and escalated, 55 sites", rep.Total, rep.SitesReported)
	}
	if len(rep.BySubDistrict) != 12 || len(rep.ByUnit) < 12 || len(rep.Groups) == 0 {
		t.Errorf("report by sub-district %d rows, by unit %d rows, %d shared problems; want 12 sub-districts, 12 offices and a department, shared problems", len(rep.BySubDistrict), len(rep.ByUnit), len(rep.Groups))
	}
	// The late finding is talked about for being overdue. On a loaded
	// machine another high finding (2 hours, 12 s here, from its report)
	// may pass its deadline before the test gets to it, and is talked about
	// too: every overdue talk is about a finding marked overdue.
	talks := map[string]int{}
	lateTalk := false
	for _, tk := range rep.Talks {
		talks[tk.Reason]++
		lateTalk = lateTalk || (tk.Reason == "overdue" && tk.FindingID == late)
	}
	if talks["repeat"] == 0 || !lateTalk || talks["overdue"] > rep.Total.Overdue {
		t.Errorf("talks = %v with %d findings overdue, want repeats, an overdue talk about finding %d and none about a finding not overdue", talks, rep.Total.Overdue, late)
	}
	var groupNotices int
	if err := s.st.DB().GetContext(ctx, &groupNotices, `SELECT count(*) FROM notices WHERE incident = $1 AND kind LIKE 'inspection/inspect/1/group/%'`, incident); err != nil {
		t.Fatal(err)
	}
	if groupNotices == 0 {
		t.Errorf("no notice addressed a unit once about a shared problem")
	}
	// The inspection reports to the response by a signal, which on a busy
	// server (the package's tests share it) may arrive a moment after the
	// last finding is rectified.
	eventually(t, 20*time.Second, "response step inspect done and holding for the daily rounds", func() (bool, string) {
		node := s.responseProgress(t, respID).Find("inspect")
		return node != nil && node.State == workflows.StateDone && node.Held, fmt.Sprintf("%+v", node)
	})

	// A checkpoint of the incident fails its compliance check: the finding
	// it opens is picked up by the inspection and followed like the rest.
	plan, err := s.st.SealPlan(ctx, "longbao-jiayuan")
	if err != nil {
		t.Fatal(err)
	}
	gate := plan.Gates[0]
	ev := func(step string) domain.Event {
		return domain.Event{Incident: incident, WorkflowID: respID + "/e2e-seal", Step: step, State: "done"}
	}
	if _, err := s.st.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: incident, GateID: gate.ID, AreaID: plan.Compound.ID, Mode: "entry", RequiredStaff: 500},
		func(store.CheckpointResult) domain.Event { return ev("checkpoint") }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.CheckCompliance(ctx, incident, plan.Compound.ID, 1, func([]store.ComplianceResult) domain.Event { return ev("compliance-check") }); err != nil {
		t.Fatal(err)
	}
	var auto domain.Finding
	eventually(t, 60*time.Second, "automatic finding followed", func() (bool, string) {
		r, err := s.st.InspectionReport(ctx, incident)
		if err != nil {
			return false, err.Error()
		}
		for _, f := range r.Open {
			if f.Source == "compliance" {
				auto = f
				return f.State == domain.FindingAssigned, f.State
			}
		}
		return false, "no compliance finding open"
	})
	if auto.Category != domain.CategoryCompliance || auto.Unit != "beiying-office" || auto.Inspector != inspectorOf["beiying"] {
		t.Errorf("automatic finding = %+v, want a checkpoint-compliance finding of beiying-office for the Beiying inspector %s", auto, inspectorOf["beiying"])
	}
	follow(auto.ID, false)
	eventually(t, 30*time.Second, "automatic finding rectified", func() (bool, string) {
		rep, err = s.st.InspectionReport(ctx, incident)
		if err != nil {
			return false, err.Error()
		}
		p = s.inspection(t, stepID)
		return rep.Total.Rectified == 26 && p.Total.Rectified == 26, fmt.Sprintf("report %+v, workflow %+v", rep.Total, p.Total)
	})

	// The daily schedule exists; firing it now opens round 2 for real.
	h := s.c.ScheduleClient().GetHandle(ctx, workflows.InspectionScheduleID(stepID))
	desc, err := h.Describe(ctx)
	if err != nil {
		t.Fatalf("Describe(schedule) = %v", err)
	}
	day := 24 * time.Hour / inspectionScale
	if every := desc.Schedule.Spec.Intervals[0].Every; every != day {
		t.Errorf("schedule interval = %s, want a day at time scale %d (%s)", every, inspectionScale, day)
	}
	// Its first firing is a day after the first round, not whenever the
	// clock next reaches a multiple of a day, which could open round 2
	// before round 1 is settled.
	if next := desc.Info.NextActionTimes; len(next) == 0 || next[0].Sub(desc.Info.CreatedAt) < day-10*time.Second || next[0].Sub(desc.Info.CreatedAt) > day {
		t.Errorf("schedule created %s, next firings %v; want the first a day (%s) after it", desc.Info.CreatedAt, next, day)
	}
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enums.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "round 2 opened by the schedule", func() (bool, string) {
		p = s.inspection(t, stepID)
		return p.Round == 2 && p.RoundState == "open", fmt.Sprintf("round %d %s", p.Round, p.RoundState)
	})

	// Lifting the response ends the step and deletes the schedule.
	if err := sendUpdate(ctx, s.c, respID, workflows.UpdateLift, workflows.LiftInput{Reason: "inspection complete", By: "e2e"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "inspection step closed", func() (bool, string) {
		d, err := s.c.DescribeWorkflow(ctx, stepID, "")
		if err != nil {
			return false, err.Error()
		}
		st := d.Status
		return st == enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, st.String()
	})
	eventually(t, 30*time.Second, "schedule deleted", func() (bool, string) {
		_, err := h.Describe(ctx)
		var nf *serviceerror.NotFound
		return errors.As(err, &nf), fmt.Sprint(err)
	})

	t.Logf("discipline-inspection at time scale %d: %d sub-districts + %d key sites; %d findings reported in %s; all %d rectified %s after the round opened (%.1f scenario hours); then 1 automatic finding from a failed compliance check, followed to closed; %d overdue, %d escalated, %d talks (%v), %d shared problems; sub-districts %d, units %d; whole test %s",
		inspectionScale, subs, keys, len(ids), reported.Round(time.Millisecond), 25, allRectified.Round(time.Millisecond),
		allRectified.Hours()*inspectionScale, rep.Total.Overdue, rep.Total.Escalated, len(rep.Talks), talks, len(rep.Groups),
		len(rep.BySubDistrict), len(rep.ByUnit), time.Since(began).Round(time.Millisecond))
	for _, tl := range rep.BySubDistrict {
		t.Logf("  %-16s found %d rectified %d overdue %d escalated %d", tl.Key, tl.Found, tl.Rectified, tl.Overdue, tl.Escalated)
	}
}

// inspection queries an inspection step's progress.
func (s *stack) inspection(t *testing.T, id string) workflows.InspectionProgress {
	t.Helper()
	var p workflows.InspectionProgress
	v, err := s.c.QueryWorkflow(context.Background(), id, "", workflows.QueryProgress)
	if err != nil {
		t.Logf("QueryWorkflow(%s) = %v", id, err)
		return p
	}
	if err := v.Get(&p); err != nil {
		t.Fatal(err)
	}
	return p
}
