package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// fakeInspections answers the inspection activities as the store would,
// in memory: three sub-districts with two key sites each, two inspectors.
type fakeInspections struct {
	mu        sync.Mutex
	env       *testsuite.TestWorkflowEnvironment
	rounds    int
	reported  map[string]bool
	findings  map[int64]*domain.Finding
	next      int64
	notices   []activities.NoticeInput
	talks     []activities.TalkInput
	auto      []domain.Finding
	scheduled []activities.InspectionScheduleInput
	deleted   []activities.InspectionScheduleInput
	overdue   []time.Time
	withdrawn []int64
	// opened are the rounds asked for; states the step states upserted.
	opened []activities.OpenInspectionRoundInput
	states []string
}

func (f *fakeInspections) plan(round int) domain.InspectionPlan {
	p := domain.InspectionPlan{RoundID: int64(100 + round), Round: round}
	for i, sd := range []string{"beiying", "qinxian", "huangling"} {
		insp := fmt.Sprintf("inspector-%02d", i%2+1)
		p.Units = append(p.Units, domain.Unit{Code: sd + "-office", Name: sd + " office", Kind: "sub-district"})
		p.Sites = append(p.Sites, domain.InspectionSite{Site: sd, Kind: "sub-district", SubDistrict: sd, Unit: sd + "-office", Inspector: insp})
		for k := 1; k <= 2; k++ {
			p.Sites = append(p.Sites, domain.InspectionSite{Site: fmt.Sprintf("%s-key-%02d", sd, k), Kind: "key-site", SubDistrict: sd, Unit: sd + "-office", Inspector: insp})
		}
	}
	p.Units = append(p.Units, domain.Unit{Code: "market-regulation", Name: "Market regulation bureau", Kind: "department"})
	return p
}

func (f *fakeInspections) site(code string) domain.InspectionSite {
	for _, s := range f.plan(1).Sites {
		if s.Site == code {
			return s
		}
	}
	return domain.InspectionSite{}
}

type inspectionTest struct {
	t    *testing.T
	env  *testsuite.TestWorkflowEnvironment
	fake *fakeInspections
	// updates numbers the updates sent by workflow ID, which need an ID.
	updates int
}

// newInspectionTest builds a test environment with the inspection
// workflows registered and their activities answered by fakeInspections.
func newInspectionTest(t *testing.T) *inspectionTest {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))))
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(testStart)
	env.SetWorkflowRunTimeout(30 * 24 * time.Hour)
	// Findings are abandoned children; the test ends with the step.
	env.SetDetachedChildWait(false)
	Register(env, nil)
	return &inspectionTest{t: t, env: env, fake: mockInspections(env)}
}

// mockInspections makes the inspection activities of env answer from a
// fakeInspections, as the store would.
func mockInspections(env *testsuite.TestWorkflowEnvironment) *fakeInspections {
	f := &fakeInspections{env: env, reported: map[string]bool{}, findings: map[int64]*domain.Finding{}}

	env.OnActivity(a.OpenInspectionRound, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.OpenInspectionRoundInput) (domain.InspectionPlan, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.rounds = max(f.rounds, in.Round)
		f.opened = append(f.opened, in)
		p := f.plan(in.Round)
		if len(in.Only) > 0 {
			// A follow-up round inspects only the sites named, each by
			// the next inspector.
			var only []domain.InspectionSite
			for _, s := range p.Sites {
				if slices.Contains(in.Only, s.Site) {
					s.Inspector = map[string]string{"inspector-01": "inspector-02", "inspector-02": "inspector-01"}[s.Inspector]
					only = append(only, s)
				}
			}
			p.Sites = only
		}
		return p, nil
	}).Maybe()
	env.OnActivity(a.CloseInspectionRound, mock.Anything, mock.Anything).Return(nil).Maybe()
	env.OnActivity(a.ReportSite, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ReportSiteInput) (domain.SiteReportResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		key := fmt.Sprint(in.RoundID, in.Site)
		if f.reported[key] {
			var out domain.SiteReportResult
			out.Duplicate = true
			for _, id := range sortedIDs(f.findings) {
				if fd := f.findings[id]; fd.Site == in.Site && fd.Source == "inspection" {
					out.Findings = append(out.Findings, *fd)
				}
			}
			return out, nil
		}
		f.reported[key] = true
		s := f.site(in.Site)
		var out domain.SiteReportResult
		for _, nf := range in.Findings {
			f.next++
			unit := nf.Unit
			if unit == "" {
				unit = s.Unit
			}
			fd := &domain.Finding{ID: f.next, Incident: in.Ref.Incident, Source: "inspection", Site: in.Site, SubDistrict: s.SubDistrict,
				Unit: unit, Category: nf.Category, Severity: nf.Severity, Description: nf.Description, Inspector: s.Inspector, State: domain.FindingOpen}
			f.findings[fd.ID] = fd
			out.Findings = append(out.Findings, *fd)
		}
		return out, nil
	}).Maybe()
	env.OnActivity(a.AssignFinding, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AssignFindingInput) (domain.Finding, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		fd := f.findings[in.FindingID]
		if fd.State == domain.FindingOpen {
			fd.State = domain.FindingAssigned
			d := in.DeadlineAt
			fd.DeadlineAt = &d
			for _, id := range sortedIDs(f.findings) {
				if p := f.findings[id]; p.ID < fd.ID && p.Unit == fd.Unit && p.Category == fd.Category {
					fd.Repeat = true
				}
			}
		}
		return *fd, nil
	}).Maybe()
	env.OnActivity(a.RecordRectification, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RectifyInput) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.findings[in.FindingID].State = domain.FindingRectified
		return nil
	}).Maybe()
	env.OnActivity(a.RecordReinspection, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ReinspectInput) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		if in.Passed {
			f.findings[in.FindingID].State = domain.FindingClosed
		} else {
			f.findings[in.FindingID].State = domain.FindingReopened
		}
		return nil
	}).Maybe()
	env.OnActivity(a.MarkFindingOverdue, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.MarkFindingOverdueInput) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.overdue = append(f.overdue, env.Now())
		return nil
	}).Maybe()
	env.OnActivity(a.RecordTalk, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.TalkInput) (domain.Talk, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.talks = append(f.talks, in)
		fd := f.findings[in.FindingID]
		return domain.Talk{FindingID: in.FindingID, Unit: fd.Unit, UnitName: fd.Unit, Person: "head of " + fd.Unit, Reason: in.Reason}, nil
	}).Maybe()
	env.OnActivity(a.PublishNotice, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.NoticeInput) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.notices = append(f.notices, in)
		return nil
	}).Maybe()
	env.OnActivity(a.ClaimFindings, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ClaimFindingsInput) ([]domain.Finding, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := f.auto
		f.auto = nil
		return out, nil
	}).Maybe()
	env.OnActivity(a.EnsureInspectionSchedule, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.InspectionScheduleInput) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.scheduled = append(f.scheduled, in)
		return nil
	}).Maybe()
	env.OnActivity(a.DeleteInspectionSchedule, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.InspectionScheduleInput) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.deleted = append(f.deleted, in)
		return nil
	}).Maybe()
	env.OnActivity(a.WithdrawFinding, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FindingRef) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.withdrawn = append(f.withdrawn, in.FindingID)
		return nil
	}).Maybe()
	env.OnActivity(a.RecordEvent, mock.Anything, mock.Anything).Return(nil).Maybe()
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if v, ok := sa.GetKeyword(SAStepState); ok {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.states = append(f.states, v)
		}
	}).Return().Maybe()
	return f
}

func sortedIDs(m map[int64]*domain.Finding) []int64 {
	var ids []int64
	for id := range m {
		ids = append(ids, id)
	}
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			if ids[j] < ids[i] {
				ids[i], ids[j] = ids[j], ids[i]
			}
		}
	}
	return ids
}

func (it *inspectionTest) notices(kindPrefix string) []activities.NoticeInput {
	it.fake.mu.Lock()
	defer it.fake.mu.Unlock()
	var out []activities.NoticeInput
	for _, n := range it.fake.notices {
		if strings.HasPrefix(n.Kind, kindPrefix) {
			out = append(out, n)
		}
	}
	return out
}

// update sends an update to a workflow by ID when the clock is d past
// testStart; the outcome fills in as the workflow handles it.
func (it *inspectionTest) update(d time.Duration, workflowID, name string, arg any) *updateOutcome {
	o := &updateOutcome{}
	it.env.RegisterDelayedCallback(func() {
		o.Sent = true
		cb := &testsuite.TestUpdateCallback{
			OnAccept:   func() { o.Accepted = true },
			OnReject:   func(err error) { o.Rejected = err },
			OnComplete: func(res any, err error) { o.Completed, o.Result, o.Err = true, res, err },
		}
		if workflowID == "" {
			it.env.UpdateWorkflow(name, "", cb, arg)
			return
		}
		it.updates++
		if err := it.env.UpdateWorkflowByID(workflowID, name, fmt.Sprintf("update-%d", it.updates), cb, arg); err != nil {
			o.Rejected = err
		}
	}, d)
	return o
}

func (it *inspectionTest) progress() InspectionProgress {
	it.t.Helper()
	var p InspectionProgress
	v, err := it.env.QueryWorkflow(QueryProgress)
	if err != nil {
		it.t.Fatalf("QueryWorkflow(progress) = %v", err)
	}
	if err := v.Get(&p); err != nil {
		it.t.Fatal(err)
	}
	return p
}

func inspectionInput(params map[string]any) StepInput {
	p := map[string]any{"site_kinds": "key-site", "inspectors": 2, "round_deadline": "12h",
		"rectify_high": "6h", "rectify_medium": "24h", "rectify_low": "72h", "remind_every": "2h", "check_every": "1h"}
	for k, v := range params {
		p[k] = v
	}
	return StepInput{
		Incident: "xd-0403", Runbook: "discipline-inspection", Level: 1, Path: "inspect", Kind: KindInspection, Title: "Inspect",
		Params: p, Area: &AreaRef{ID: 1, Code: "xiaodian", Name: "Xiaodian District", Path: "xiaodian"},
	}
}

var allSites = []string{"beiying", "beiying-key-01", "beiying-key-02", "qinxian", "qinxian-key-01", "qinxian-key-02", "huangling", "huangling-key-01", "huangling-key-02"}

// TestInspectionRoundToAllRectified runs a round to its end: every site is
// reported, findings are rectified and re-inspected, one fails and is
// reopened, one low-severity finding takes days and is overdue, reminders
// go out, a repeat calls in the person responsible, and a shared problem is
// addressed to its unit once.
func TestInspectionRoundToAllRectified(t *testing.T) {
	it := newInspectionTest(t)
	it.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "response/xd-0403/inspect"})
	fid := func(n int64) string { return FindingWorkflowID("xd-0403", n) }
	mask := func(sev string) domain.NewFinding {
		return domain.NewFinding{Category: "mask-checks", Severity: sev, Description: "temperature and masks not checked at the door"}
	}
	reports := map[string]*updateOutcome{}
	for i, s := range allSites {
		var fs []domain.NewFinding
		switch s {
		case "beiying-key-01": // finding 1: high, rectified at once
			fs = []domain.NewFinding{mask("high")}
		case "beiying-key-02": // finding 2: same category at the same unit → repeat
			fs = []domain.NewFinding{mask("medium")}
		case "qinxian-key-01": // finding 3: low, 72 h, left overdue for days
			fs = []domain.NewFinding{{Category: "registration", Severity: "low", Description: "visitor register incomplete", Unit: "market-regulation"}}
		}
		reports[s] = it.update(time.Duration(i+1)*time.Minute, "", UpdateReportSite, ReportSiteInput{Site: s, Findings: fs})
	}
	// A duplicated report is a no-op; bad reports are rejected naming the field.
	dup := it.update(20*time.Minute, "", UpdateReportSite, ReportSiteInput{Site: "beiying-key-01", Findings: []domain.NewFinding{mask("high")}})
	unknownSite := it.update(30*time.Second, "", UpdateReportSite, ReportSiteInput{Site: "nowhere"})
	unknownUnit := it.update(30*time.Second, "", UpdateReportSite, ReportSiteInput{Site: "beiying", Findings: []domain.NewFinding{{Category: "x", Severity: "low", Description: "d", Unit: "ghost-bureau"}}})
	wrongInspector := it.update(30*time.Second, "", UpdateReportSite, ReportSiteInput{Site: "qinxian", Inspector: "inspector-09"})

	// Finding 1: rectified after 2 h, re-inspected by someone else (rejected),
	// then passed by its inspector.
	it.update(2*time.Hour, fid(1), UpdateRectify, RectifyInput{By: "beiying-office", Note: "door staff back"})
	stranger := it.update(3*time.Hour, fid(1), UpdateReinspect, ReinspectInput{By: "inspector-02", Passed: true})
	it.update(3*time.Hour+time.Minute, fid(1), UpdateReinspect, ReinspectInput{By: "inspector-01", Passed: true})
	closedRectify := it.update(4*time.Hour, fid(1), UpdateRectify, RectifyInput{By: "beiying-office"})
	// Finding 2: rectified, fails re-inspection (reopened), rectified again, passes.
	it.update(5*time.Hour, fid(2), UpdateRectify, RectifyInput{})
	it.update(6*time.Hour, fid(2), UpdateReinspect, ReinspectInput{By: "inspector-01", Passed: false, Note: "still no checks at the back door"})
	it.update(10*time.Hour, fid(2), UpdateRectify, RectifyInput{})
	it.update(11*time.Hour, fid(2), UpdateReinspect, ReinspectInput{By: "inspector-01", Passed: true})
	// Finding 3: 72 h allowed; rectified on day 4 (overdue), passes.
	var mid InspectionProgress
	it.env.RegisterDelayedCallback(func() { mid = it.progress() }, 50*time.Hour)
	it.update(80*time.Hour, fid(3), UpdateRectify, RectifyInput{})
	it.update(81*time.Hour, fid(3), UpdateReinspect, ReinspectInput{By: "inspector-02", Passed: true})

	it.env.ExecuteWorkflow(InspectionStepName, inspectionInput(nil))
	if !it.env.IsWorkflowCompleted() {
		t.Fatal("InspectionFollowUpStep did not complete")
	}
	if err := it.env.GetWorkflowError(); err != nil {
		t.Fatalf("InspectionFollowUpStep error = %v", err)
	}
	var res StepResult
	if err := it.env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}

	for s, o := range reports {
		if !o.Completed || o.Err != nil {
			t.Errorf("report-site %s = completed %v, err %v, rejected %v; want completed", s, o.Completed, o.Err, o.Rejected)
		}
	}
	if r, ok := dup.Result.(ReportSiteResult); !dup.Completed || !ok || !r.Duplicate || len(r.Findings) != 1 || r.Findings[0] != 1 {
		t.Errorf("duplicate report = %+v, %v; want a no-op naming finding 1", dup.Result, dup.Err)
	}
	for name, c := range map[string]struct {
		o    *updateOutcome
		want string
	}{
		"unknown site":    {unknownSite, `site "nowhere"`},
		"unknown unit":    {unknownUnit, `findings[0].unit "ghost-bureau": unknown unit`},
		"wrong inspector": {wrongInspector, `inspector "inspector-09"`},
		"stranger":        {stranger, `by "inspector-02": finding 1 is assigned to inspector inspector-01`},
		// A closed finding's workflow has ended; the CLI and API read the
		// store to say so (see app/api/inspections.go).
		"closed rectify": {closedRectify, "already completed"},
	} {
		if c.o.Rejected == nil || !strings.Contains(c.o.Rejected.Error(), c.want) {
			t.Errorf("%s: rejected = %v, want an error containing %q", name, c.o.Rejected, c.want)
		}
	}

	want := map[string]float64{"found": 3, "rectified": 3, "open": 0, "overdue": 1, "escalated": 2, "rounds": 1}
	for k, v := range want {
		if res.Outputs[k] != v {
			t.Errorf("Outputs[%s] = %v, want %v (all: %v)", k, res.Outputs[k], v, res.Outputs)
		}
	}
	// Deadlines of days: the low finding's 72 h deadline passed at 72 h.
	if got := it.fake.overdue; len(got) != 1 || got[0].Sub(testStart) < 72*time.Hour || got[0].Sub(testStart) > 73*time.Hour {
		t.Errorf("overdue marked at %v, want once, 72 h after start", got)
	}
	talks := map[string]int64{}
	for _, tk := range it.fake.talks {
		talks[tk.Reason] = tk.FindingID
	}
	if talks["repeat"] != 2 || talks["overdue"] != 3 {
		t.Errorf("talks = %v, want repeat about finding 2 and overdue about finding 3", talks)
	}
	// Reminders every 2 h while finding 3 waited: dozens over 80 h.
	if n := len(it.notices("finding/3/reminder/")); n < 30 || n > 45 {
		t.Errorf("reminders of finding 3 = %d, want about 40 (every 2 h for 80 h)", n)
	}
	// Each reminder names its message, overdue ones the overdue message.
	var overdue int
	for _, r := range it.notices("finding/3/reminder/") {
		switch {
		case r.Message == MsgFindingReminder+"/overdue":
			overdue++
		case r.Message != MsgFindingReminder:
			t.Errorf("reminder %s message = %q, want %s or its overdue variant", r.Kind, r.Message, MsgFindingReminder)
		}
		if r.Args["finding"] != "3" || r.Args["deadline"] == "" || r.Args["site"] == "" {
			t.Errorf("reminder %s args = %v, want finding 3 with its site and deadline", r.Kind, r.Args)
		}
	}
	if overdue == 0 {
		t.Errorf("no overdue reminder of finding 3, want the reminders after its deadline to say so")
	}
	if g := it.notices("inspection/inspect/1/group/beiying-office/mask-checks"); len(g) != 1 {
		t.Errorf("group notices to beiying-office about mask-checks = %d, want 1", len(g))
	} else if g[0].Message != MsgInspectionTalk || g[0].Args["category"] != "mask-checks" || g[0].Args["round"] != "1" || g[0].Args["count"] == "" {
		t.Errorf("group notice message = %q %v, want %s about mask-checks in round 1", g[0].Message, g[0].Args, MsgInspectionTalk)
	}
	if mid.Total.Found != 3 || mid.Total.Open != 1 || mid.Reported != len(allSites) || len(mid.Groups) != 1 {
		t.Errorf("progress at 50 h = %+v, want 3 found, 1 open, every site reported, one shared problem", mid.Total)
	}
	if len(mid.BySubDistrict) != 2 || mid.BySubDistrict[0].Key != "beiying" || mid.BySubDistrict[0].Rectified != 2 {
		t.Errorf("progress by sub-district at 50 h = %+v, want beiying 2 rectified, qinxian 1 open", mid.BySubDistrict)
	}
}

// TestInspectionFindingReopened follows one finding on its own:
// a high finding (6 h) is rectified, fails re-inspection, gets a new
// deadline, misses it, and the person responsible is called in once.
func TestInspectionFindingReopened(t *testing.T) {
	it := newInspectionTest(t)
	f := domain.Finding{ID: 7, Incident: "xd-0403", Source: "inspection", Site: "beiying-key-01", SubDistrict: "beiying", Unit: "beiying-office",
		Category: "staffing", Severity: "high", Description: "checkpoint unstaffed at night", Inspector: "inspector-01", State: domain.FindingOpen}
	it.fake.findings[7] = &f
	it.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: FindingWorkflowID("xd-0403", 7)})
	early := it.update(0, "", UpdateReinspect, ReinspectInput{By: "inspector-01", Passed: true})
	it.update(time.Hour, "", UpdateRectify, RectifyInput{})
	dupRectify := it.update(90*time.Minute, "", UpdateRectify, RectifyInput{})
	reopened := it.update(2*time.Hour, "", UpdateReinspect, ReinspectInput{By: "inspector-01", Passed: false})
	// New deadline 2 h + 6 h = 8 h; rectified only at 20 h.
	it.update(20*time.Hour, "", UpdateRectify, RectifyInput{})
	it.update(21*time.Hour, "", UpdateReinspect, ReinspectInput{By: "inspector-01", Passed: true})
	it.env.ExecuteWorkflow(FindingFollowUpName, FindingInput{Incident: "xd-0403", Finding: f, DeadlineHours: 6, RemindEveryHours: 2})
	if err := it.env.GetWorkflowError(); err != nil {
		t.Fatalf("FindingFollowUp error = %v", err)
	}
	var s FindingStatus
	if err := it.env.GetWorkflowResult(&s); err != nil {
		t.Fatal(err)
	}
	if s.State != domain.FindingClosed || s.Reopened != 1 || !s.Overdue || !s.Escalated {
		t.Errorf("FindingFollowUp = %+v, want closed, reopened once, overdue, escalated", s)
	}
	if early.Rejected == nil || !strings.Contains(early.Rejected.Error(), "not rectified") {
		t.Errorf("re-inspection before rectification: rejected = %v, want not rectified", early.Rejected)
	}
	if r, ok := dupRectify.Result.(FindingStatus); !dupRectify.Completed || !ok || r.State != domain.FindingRectified {
		t.Errorf("duplicate rectification = %+v, %v; want a no-op", dupRectify.Result, dupRectify.Err)
	}
	if r, ok := reopened.Result.(FindingStatus); !ok || r.State != domain.FindingReopened || !r.DeadlineAt.Equal(testStart.Add(8*time.Hour)) {
		t.Errorf("failed re-inspection = %+v, want reopened with deadline 8 h after start", reopened.Result)
	}
	if got := it.fake.overdue; len(got) != 1 || !got[0].Equal(testStart.Add(8*time.Hour)) {
		t.Errorf("overdue marked at %v, want once at the new deadline (8 h)", got)
	}
	if len(it.fake.talks) != 1 || it.fake.talks[0].Reason != "overdue" {
		t.Errorf("talks = %+v, want one overdue talk", it.fake.talks)
	}
}

// TestInspectionScheduledRounds runs the step with a daily schedule: the
// schedule is created once, each tick opens the next round, findings of a
// failed compliance check are picked up automatically, and a lift deletes
// the schedule and ends the step.
func TestInspectionScheduledRounds(t *testing.T) {
	it := newInspectionTest(t)
	id := "response/xd-0403/inspect"
	it.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id})
	for i, s := range allSites {
		it.update(time.Duration(i+1)*time.Minute, "", UpdateReportSite, ReportSiteInput{Site: s})
	}
	// A failed compliance check at 30 h opens a finding automatically.
	it.env.RegisterDelayedCallback(func() {
		it.fake.mu.Lock()
		defer it.fake.mu.Unlock()
		fd := &domain.Finding{ID: 50, Incident: "xd-0403", Source: "compliance", Site: "longbao-jiayuan/east", SubDistrict: "beiying",
			Unit: "beiying-office", Category: domain.CategoryCompliance, Severity: "high", Description: "understaffed: 1 of 2 on duty", Inspector: "inspector-01", State: domain.FindingOpen}
		it.fake.findings[50] = fd
		it.fake.auto = append(it.fake.auto, *fd)
	}, 30*time.Hour)
	var afterAuto InspectionProgress
	it.env.RegisterDelayedCallback(func() { afterAuto = it.progress() }, 32*time.Hour)
	it.update(33*time.Hour, FindingWorkflowID("xd-0403", 50), UpdateRectify, RectifyInput{})
	it.update(34*time.Hour, FindingWorkflowID("xd-0403", 50), UpdateReinspect, ReinspectInput{By: "inspector-01", Passed: true})
	// The schedule's ticks, as its InspectionTick workflow sends them.
	for day := 1; day <= 2; day++ {
		it.env.RegisterDelayedCallback(func() { it.env.SignalWorkflow(SignalNextRound, nil) }, time.Duration(day)*24*time.Hour)
	}
	var day2 InspectionProgress
	it.env.RegisterDelayedCallback(func() { day2 = it.progress() }, 49*time.Hour)
	it.env.RegisterDelayedCallback(func() { it.env.SignalWorkflow(SignalLift, LiftInput{Reason: "response lifted", By: "district-hq"}) }, 60*time.Hour)

	began := it.env.Now()
	it.env.ExecuteWorkflow(InspectionStepName, inspectionInput(map[string]any{"every": "24h"}))
	if err := it.env.GetWorkflowError(); err != nil {
		t.Fatalf("InspectionFollowUpStep error = %v", err)
	}
	var res StepResult
	if err := it.env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(it.fake.scheduled) != 1 || it.fake.scheduled[0].ScheduleID != "response-xd-0403-inspect-rounds" || it.fake.scheduled[0].Every != 24*time.Hour {
		t.Errorf("schedules created = %+v, want one, response-xd-0403-inspect-rounds every 24h", it.fake.scheduled)
	} else if start := it.fake.scheduled[0].Start; !start.Equal(began) {
		t.Errorf("schedule start = %s, want %s: the rounds count from the first one", start, began)
	}
	if len(it.fake.deleted) != 1 {
		t.Errorf("schedules deleted = %d, want 1 at the lift", len(it.fake.deleted))
	}
	if it.fake.rounds != 3 || day2.Round != 3 || day2.Reported != 0 {
		t.Errorf("rounds = %d, progress on day 2 = round %d with %d reported; want 3 rounds, round 3 fresh", it.fake.rounds, day2.Round, day2.Reported)
	}
	if afterAuto.Total.Found != 1 || len(afterAuto.Open) != 1 || afterAuto.Open[0].Source != "compliance" {
		t.Errorf("progress after the failed check = %+v open %+v, want the compliance finding open", afterAuto.Total, afterAuto.Open)
	}
	if res.Outputs["rectified"] != 1 || res.Outputs["rounds"] != 3 || !strings.HasPrefix(res.Detail, "lifted by district-hq") {
		t.Errorf("result = %+v, want 1 rectified over 3 rounds, lifted", res)
	}
	if !day2.Holding {
		t.Errorf("no Ready report: a scheduled inspection holds once its first round is settled")
	}
}

// TestInspectionTickBeforeSettled sends the schedule's tick while the first
// round's finding is still open: round 2 opens over round 1, and although
// every finding is then rectified the step does not hold until round 2 has
// closed too. This is what a schedule firing on the clock's multiples of
// its period did to a step whose first round opened shortly before one.
func TestInspectionTickBeforeSettled(t *testing.T) {
	it := newInspectionTest(t)
	it.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "response/xd-0403/inspect"})
	for i, s := range allSites {
		var fs []domain.NewFinding
		if s == "beiying-key-01" {
			fs = []domain.NewFinding{{Category: "mask-checks", Severity: "high", Description: "masks not checked at the door"}}
		}
		it.update(time.Duration(i+1)*time.Minute, "", UpdateReportSite, ReportSiteInput{Site: s, Findings: fs})
	}
	it.env.RegisterDelayedCallback(func() { it.env.SignalWorkflow(SignalNextRound, nil) }, time.Hour)
	it.update(2*time.Hour, FindingWorkflowID("xd-0403", 1), UpdateRectify, RectifyInput{})
	it.update(3*time.Hour, FindingWorkflowID("xd-0403", 1), UpdateReinspect, ReinspectInput{By: "inspector-01", Passed: true})
	var rectified, round2Closed InspectionProgress
	it.env.RegisterDelayedCallback(func() { rectified = it.progress() }, 4*time.Hour)
	// Round 2 opened at 1 h and closes unreported at its 12 h deadline.
	it.env.RegisterDelayedCallback(func() { round2Closed = it.progress() }, 14*time.Hour)
	it.env.RegisterDelayedCallback(func() { it.env.SignalWorkflow(SignalLift, LiftInput{Reason: "response lifted", By: "district-hq"}) }, 15*time.Hour)

	it.env.ExecuteWorkflow(InspectionStepName, inspectionInput(map[string]any{"every": "24h"}))
	if err := it.env.GetWorkflowError(); err != nil {
		t.Fatalf("InspectionFollowUpStep error = %v", err)
	}
	if rectified.Round != 2 || rectified.RoundState != "open" || rectified.Total.Rectified != 1 || rectified.Total.Open != 0 || rectified.Holding {
		t.Errorf("after the early tick and the rectification: round %d %s, %+v, holding %v; want round 2 open, 1 rectified, none open, not holding",
			rectified.Round, rectified.RoundState, rectified.Total, rectified.Holding)
	}
	if round2Closed.Round != 2 || round2Closed.RoundState != "closed" || !round2Closed.Holding {
		t.Errorf("after round 2's deadline: round %d %s, holding %v; want round 2 closed, holding", round2Closed.Round, round2Closed.RoundState, round2Closed.Holding)
	}
}

// TestInspectionScheduleSpec checks the schedule's first firing comes a
// whole period after the rounds began, wherever the start falls between
// the clock's multiples of the period — as the e2e time scale's 144 s
// period and a real day — where an interval alone fires at the next
// multiple since the Unix epoch, however soon.
func TestInspectionScheduleSpec(t *testing.T) {
	// next is the server's next firing of an interval spec after ts.
	next := func(iv client.ScheduleIntervalSpec, ts time.Time) time.Time {
		n, every, offset := ts.UnixNano(), int64(iv.Every), int64(iv.Offset)
		return time.Unix(0, ((n-offset)/every+1)*every+offset)
	}
	for _, every := range []time.Duration{144 * time.Second, 24 * time.Hour} {
		for _, into := range []time.Duration{0, time.Second, every / 3, every - 14*time.Second, every - time.Second} {
			start := time.Unix(0, 0).Add(1000*every + into + 250*time.Millisecond)
			spec := activities.InspectionScheduleSpec(start, every)
			if len(spec.Intervals) != 1 || spec.Intervals[0].Every != every || spec.Intervals[0].Offset >= every {
				t.Fatalf("InspectionScheduleSpec(%s, %s) = %+v, want one interval every %s with an offset under it", start, every, spec, every)
			}
			// The schedule is created a moment after the rounds began.
			first := next(spec.Intervals[0], start.Add(200*time.Millisecond))
			if d := first.Sub(start); d <= every-time.Second || d > every {
				t.Errorf("every %s, start %s into the period: first firing %s after the start, want %s", every, into, d, every)
			}
			if into == every-14*time.Second {
				if d := next(client.ScheduleIntervalSpec{Every: every}, start).Sub(start); d >= every/2 {
					t.Errorf("an interval alone fires %s after a start %s into the period; want the early firing this spec avoids", d, into)
				}
			}
		}
	}
}

// TestInspectionNeedsArea rejects a step without an area at once.
func TestInspectionNeedsArea(t *testing.T) {
	it := newInspectionTest(t)
	in := inspectionInput(nil)
	in.Area = nil
	it.env.ExecuteWorkflow(InspectionStepName, in)
	var appErr *temporal.ApplicationError
	if err := it.env.GetWorkflowError(); err == nil || !asAppErr(err, &appErr) || appErr.Type() != activities.ErrBadInput {
		t.Errorf("InspectionFollowUpStep without an area = %v, want a BadInput error", err)
	}
}

func asAppErr(err error, target **temporal.ApplicationError) bool { return errors.As(err, target) }

// TestInspectionContinuesAsNew lets a long inspection hand its state to a
// new run: the carried state keeps the round, the sites reported and the
// open finding, and the new run, hearing the finding closed, settles.
func TestInspectionContinuesAsNew(t *testing.T) {
	first := newInspectionTest(t)
	id := "response/xd-0403/inspect"
	first.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id})
	for i, s := range allSites {
		var fs []domain.NewFinding
		if s == "qinxian-key-02" {
			fs = []domain.NewFinding{{Category: "staffing", Severity: "low", Description: "night shift missing"}}
		}
		first.update(time.Duration(i+1)*time.Minute, "", UpdateReportSite, ReportSiteInput{Site: s, Findings: fs})
	}
	in := inspectionInput(nil)
	in.HistoryLimit = 60
	first.env.ExecuteWorkflow(InspectionStepName, in)
	var can *workflow.ContinueAsNewError
	if err := first.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("InspectionFollowUpStep error = %v, want a ContinueAsNewError", err)
	}
	var next StepInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	r := next.ResumeInspection
	if r == nil || r.Progress.Round != 1 || r.Progress.Reported != len(allSites) || len(r.Findings) != 1 || !r.Findings[0].Open() {
		t.Fatalf("carried state = %+v, want round 1 with every site reported and one open finding", r)
	}

	second := newInspectionTest(t)
	second.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id})
	closed := r.Findings[0]
	closed.State = domain.FindingClosed
	second.env.RegisterDelayedCallback(func() { second.env.SignalWorkflow(SignalFindingReport, closed) }, 3*time.Hour)
	next.HistoryLimit = 0
	second.env.ExecuteWorkflow(InspectionStepName, next)
	if err := second.env.GetWorkflowError(); err != nil {
		t.Fatalf("resumed InspectionFollowUpStep error = %v", err)
	}
	var res StepResult
	if err := second.env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Outputs["found"] != 1 || res.Outputs["rectified"] != 1 {
		t.Errorf("resumed result = %+v, want the carried finding rectified", res)
	}
	if second.fake.rounds != 0 {
		t.Errorf("the resumed run opened %d rounds, want none", second.fake.rounds)
	}
}

// TestInspectionCancelled cancels a scheduled inspection, as a response's
// skip or abort does: the schedule is deleted and the open finding is
// withdrawn by its own workflow.
func TestInspectionCancelled(t *testing.T) {
	it := newInspectionTest(t)
	it.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "response/xd-0403/inspect"})
	it.update(time.Minute, "", UpdateReportSite, ReportSiteInput{Site: "beiying-key-01",
		Findings: []domain.NewFinding{{Category: "staffing", Severity: "low", Description: "night shift missing"}}})
	it.env.RegisterDelayedCallback(it.env.CancelWorkflow, 5*time.Hour)
	// The finding's workflow is abandoned by the step; give it time to see
	// its cancellation before the test environment stops.
	it.env.SetDetachedChildWait(true)
	it.env.ExecuteWorkflow(InspectionStepName, inspectionInput(map[string]any{"every": "24h"}))
	if err := it.env.GetWorkflowError(); !temporal.IsCanceledError(err) {
		t.Errorf("InspectionFollowUpStep error = %v, want cancelled", err)
	}
	if len(it.fake.scheduled) != 1 || len(it.fake.deleted) != 1 {
		t.Errorf("schedules created %d, deleted %d; want 1 and 1", len(it.fake.scheduled), len(it.fake.deleted))
	}
	if len(it.fake.withdrawn) != 1 || it.fake.withdrawn[0] != 1 {
		t.Errorf("findings withdrawn = %v, want [1]", it.fake.withdrawn)
	}
}

// TestInspectionUnreportedSitesEscalated closes a round with six of its
// nine sites unreported: the command center hears which sites and who had
// them, the step reads overdue, and a follow-up round sends those sites,
// and only those, to the other inspector; once they are reported the step
// is done.
func TestInspectionUnreportedSitesEscalated(t *testing.T) {
	it := newInspectionTest(t)
	it.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "response/xd-0403/inspect"})
	reported := []string{"beiying", "beiying-key-01", "beiying-key-02"}
	for i, s := range reported {
		it.update(time.Duration(i+1)*time.Minute, "", UpdateReportSite, ReportSiteInput{Site: s})
	}
	var missing []string
	for _, s := range allSites {
		if !slices.Contains(reported, s) {
			missing = append(missing, s)
		}
	}
	var mid InspectionProgress
	var midStates []string
	it.env.RegisterDelayedCallback(func() {
		mid = it.progress()
		it.fake.mu.Lock()
		midStates = append(midStates, it.fake.states...)
		it.fake.mu.Unlock()
	}, 13*time.Hour)
	for i, s := range missing {
		it.update(14*time.Hour+time.Duration(i)*time.Minute, "", UpdateReportSite, ReportSiteInput{Site: s})
	}
	it.env.ExecuteWorkflow(InspectionStepName, inspectionInput(nil))
	if err := it.env.GetWorkflowError(); err != nil {
		t.Fatalf("InspectionFollowUpStep error = %v", err)
	}
	var res StepResult
	if err := it.env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	esc := it.notices("inspection/inspect/1/unreported")
	if len(esc) != 1 || esc[0].Audience != "command center" {
		t.Fatalf("escalations of round 1 = %+v, want one to the command center", esc)
	}
	wantMessage(t, esc[0], MsgInspectionUnreported+"/follow-up")
	for _, s := range missing {
		if !strings.Contains(esc[0].Body, s) {
			t.Errorf("escalation %q does not name unreported site %s", esc[0].Body, s)
		}
	}
	if strings.Contains(esc[0].Body, "beiying-key-01") {
		t.Errorf("escalation %q names a reported site", esc[0].Body)
	}
	if mid.Round != 2 || len(mid.Sites) != len(missing) || len(mid.Unreported) != len(missing) {
		t.Errorf("after round 1 closed: round %d with %d sites, %d unreported; want follow-up round 2 of %d sites, %d unreported", mid.Round, len(mid.Sites), len(mid.Unreported), len(missing), len(missing))
	}
	if len(midStates) == 0 || midStates[len(midStates)-1] != StateOverdue {
		t.Errorf("step states after round 1 closed = %v, want overdue last", midStates)
	}
	if op := it.fake.lastOpened(); op.Round != 2 || !slices.Equal(op.Only, missing) {
		t.Errorf("follow-up round = %d of %v, want round 2 of %v", op.Round, op.Only, missing)
	}
	for _, s := range mid.Sites {
		if want := it.fake.site(s.Site).Inspector; s.Inspector == want {
			t.Errorf("follow-up round: site %s stays with %s", s.Site, s.Inspector)
		}
	}
	if res.Outputs["rounds"] != 2 || strings.Contains(res.Detail, "unreported") {
		t.Errorf("result = %+v, want 2 rounds and nothing unreported", res)
	}
	if len(it.notices("inspection/inspect/2/unreported")) != 0 {
		t.Errorf("round 2 escalated although every site was reported")
	}
}

func (f *fakeInspections) lastOpened() activities.OpenInspectionRoundInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.opened) == 0 {
		return activities.OpenInspectionRoundInput{}
	}
	return f.opened[len(f.opened)-1]
}

// TestInspectionLiftWithdrawsNotRectifies lifts the response while a
// finding is still open: the step's result counts it withdrawn, not
// rectified and not open.
func TestInspectionLiftWithdrawsNotRectifies(t *testing.T) {
	it := newInspectionTest(t)
	it.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "response/xd-0403/inspect"})
	for i, s := range allSites {
		var fs []domain.NewFinding
		if s == "qinxian-key-01" {
			fs = []domain.NewFinding{{Category: "registration", Severity: "low", Description: "visitor register incomplete"}}
		}
		it.update(time.Duration(i+1)*time.Minute, "", UpdateReportSite, ReportSiteInput{Site: s, Findings: fs})
	}
	it.env.RegisterDelayedCallback(func() { it.env.SignalWorkflow(SignalLift, LiftInput{Reason: "response lifted", By: "district-hq"}) }, 15*time.Hour)
	it.env.SetDetachedChildWait(true)
	it.env.ExecuteWorkflow(InspectionStepName, inspectionInput(map[string]any{"every": "24h"}))
	if err := it.env.GetWorkflowError(); err != nil {
		t.Fatalf("InspectionFollowUpStep error = %v", err)
	}
	var res StepResult
	if err := it.env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Outputs["withdrawn"] != 1 || res.Outputs["rectified"] != 0 || res.Outputs["open"] != 0 || !strings.Contains(res.Detail, "0 rectified, 1 withdrawn, 0 open") {
		t.Errorf("result after the lift = %+v, want the open finding withdrawn, none rectified", res)
	}
}
