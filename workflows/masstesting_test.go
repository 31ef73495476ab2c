package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// testPlan is the plan the fake OpenRound returns: four points of 250 an
// hour (1,000 an hour together), four cohorts (largest first, as the store
// orders them) and 70 home visits, 7,013 residents in all.
func testPlan() domain.RoundPlan {
	return domain.RoundPlan{
		RoundID: 7,
		Points: []domain.RoundPoint{
			{SiteID: 101, Code: "P1", Name: "Point 1", CapacityPerHour: 250, Expected: 1736},
			{SiteID: 102, Code: "P2", Name: "Point 2", CapacityPerHour: 250, Expected: 1736},
			{SiteID: 103, Code: "P3", Name: "Point 3", CapacityPerHour: 250, Expected: 1736},
			{SiteID: 104, Code: "P4", Name: "Point 4", CapacityPerHour: 250, Expected: 1735},
		},
		Cohorts: []domain.CohortCount{
			{Cohort: "resident", Count: 6700},
			{Cohort: "elderly", Count: 100},
			{Cohort: "student", Count: 100},
			{Cohort: "teacher", Count: 43},
		},
		HomeVisits: 70,
		Expected:   7013,
	}
}

const testExpected = 7013

// testingInput is a round over Longbao run as a step of a response.
func testingInput() StepInput {
	ar := testCommunity
	return StepInput{
		Incident: "xd-0403", Runbook: "test-outbreak", Level: 2, Path: "testing/longbao", Kind: KindMassTesting,
		Title: "Mass testing of Longbao", Area: &ar, TimeScale: 1,
		Params: map[string]any{"deadline": "7h", "check_every": "15m", "revisit_after": "1h", "cohorts": "student,teacher"},
	}
}

// testingTest is one MassTestingStep run in the SDK's test environment. It
// builds on sealTest (fakes recording calls with their workflow time,
// search attributes, updates); the round's activities answer from
// Sampled and Missed, functions of the workflow time since the start.
type testingTest struct {
	*sealTest

	OpenRound func(activities.OpenRoundInput) (domain.RoundPlan, error)
	// Sampled and Missed give the samples so far and the missed home
	// visits at a time after the start.
	Sampled func(elapsed time.Duration) int
	Missed  func(elapsed time.Duration) int
	// CloseRound returns the missing count; by default expected - sampled.
	CloseRound func(activities.RoundRef) (activities.CloseRoundResult, error)
	// Down, when set, makes the progress checks fail while it is true:
	// the database is out.
	Down          func(elapsed time.Duration) bool
	AddRoundPoint func(activities.AddRoundPointInput) (domain.RoundPlan, error)
	// Tally returns the round's figures after its close; by default those
	// of the close.
	Tally func(activities.RoundRef) (activities.CloseRoundResult, error)
}

// atRate samples perHour residents an hour, up to everyone.
func atRate(perHour float64) func(time.Duration) int {
	return func(d time.Duration) int { return min(int(perHour*d.Hours()), testExpected) }
}

func newTestingTest(t *testing.T) *testingTest {
	t.Helper()
	tt := &testingTest{sealTest: newSealTest(t)}
	tt.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: ResponseWorkflowID("xd-0403") + "/testing/longbao"})
	tt.mockRound()
	return tt
}

// mockRound makes the round's activities of tt's environment answer from
// tt's fakes, with healthy defaults.
func (tt *testingTest) mockRound() {
	tt.OpenRound = func(activities.OpenRoundInput) (domain.RoundPlan, error) { return testPlan(), nil }
	tt.Sampled = atRate(1200)
	tt.Missed = func(time.Duration) int { return 0 }
	tt.CloseRound = func(activities.RoundRef) (activities.CloseRoundResult, error) { return tt.closed(0), nil }
	tt.Tally = func(activities.RoundRef) (activities.CloseRoundResult, error) { return tt.closed(0), nil }
	tt.AddRoundPoint = func(in activities.AddRoundPointInput) (domain.RoundPlan, error) {
		p := testPlan()
		p.Points = append(p.Points, domain.RoundPoint{SiteID: 105, Code: in.Site, CapacityPerHour: 250})
		return p, nil
	}

	st := tt.sealTest
	mockActivity(st, a.OpenRound, "OpenRound", func() func(activities.OpenRoundInput) (domain.RoundPlan, error) { return tt.OpenRound })
	mockActivity(st, a.AssignHomeVisits, "AssignHomeVisits", func() func(activities.RoundRef) (int, error) {
		return func(activities.RoundRef) (int, error) { return 70, nil }
	})
	mockActivity(st, a.RevisitMissed, "RevisitMissed", func() func(activities.RoundRef) (int, error) {
		return func(activities.RoundRef) (int, error) { return tt.Missed(tt.elapsed()), nil }
	})
	mockActivity(st, a.RoundProgress, "RoundProgress", func() func(activities.RoundRef) (domain.RoundProgress, error) {
		return func(activities.RoundRef) (domain.RoundProgress, error) {
			if tt.Down != nil && tt.Down(tt.elapsed()) {
				return domain.RoundProgress{}, errors.New("connection refused")
			}
			return tt.progress(), nil
		}
	})
	mockActivity(st, a.ExtendRound, "ExtendRound", func() func(activities.ExtendRoundInput) (time.Time, error) {
		return func(in activities.ExtendRoundInput) (time.Time, error) { return in.Deadline, nil }
	})
	mockActivity(st, a.CloseRound, "CloseRound", func() func(activities.RoundRef) (activities.CloseRoundResult, error) { return tt.CloseRound })
	mockActivity(st, a.RoundTally, "RoundTally", func() func(activities.RoundRef) (activities.CloseRoundResult, error) { return tt.Tally })
	mockActivity(st, a.AddRoundPoint, "AddRoundPoint", func() func(activities.AddRoundPointInput) (domain.RoundPlan, error) {
		return tt.AddRoundPoint
	})
}

func (tt *testingTest) elapsed() time.Duration { return tt.env.Now().Sub(testStart) }

// progress is what the store would count now: the samples split over the
// points, a positive in a thousand.
func (tt *testingTest) progress() domain.RoundProgress {
	now := tt.env.Now()
	n := tt.Sampled(now.Sub(testStart))
	p := domain.RoundProgress{Sampled: n, Expected: testExpected, Positives: n / 1000}
	for i, pt := range testPlan().Points {
		k := n / 4
		if i == 0 {
			k += n % 4
		}
		p.Points = append(p.Points, domain.PointProgress{SiteID: pt.SiteID, Code: pt.Code, CapacityPerHour: pt.CapacityPerHour,
			Sampled: k, Expected: pt.Expected, FirstAt: testStart, LastAt: now})
	}
	missed := tt.Missed(now.Sub(testStart))
	p.HomeVisits = domain.VisitProgress{Residents: 70, Missed: missed, Pending: 70 - missed}
	if n > 0 {
		p.FirstAt, p.LastAt = testStart, now
	}
	return p
}

// closed is what the store's close would count now: the samples so far,
// and late more that the workflow's last count had not seen.
func (tt *testingTest) closed(late int) activities.CloseRoundResult {
	p := tt.progress()
	n := min(p.Sampled+late, p.Expected)
	return activities.CloseRoundResult{Missing: p.Expected - n, Expected: p.Expected, Sampled: n, Positives: n / 1000,
		HomeVisitsOpen: p.HomeVisits.Missed + p.HomeVisits.Pending}
}

// Run runs MassTestingStep to its end.
func (tt *testingTest) Run(in StepInput) {
	tt.t.Helper()
	tt.env.ExecuteWorkflow(MassTestingStepName, in)
	if !tt.env.IsWorkflowCompleted() {
		tt.t.Fatalf("MassTestingStep did not complete")
	}
}

// Result returns the step's result and error.
func (tt *testingTest) Result() (StepResult, error) {
	tt.t.Helper()
	var res StepResult
	if err := tt.env.GetWorkflowError(); err != nil {
		return res, err
	}
	if err := tt.env.GetWorkflowResult(&res); err != nil {
		tt.t.Fatalf("GetWorkflowResult: %v", err)
	}
	return res, nil
}

// Progress answers the progress query now.
func (tt *testingTest) Progress() TestingProgress {
	tt.t.Helper()
	var p TestingProgress
	v, err := tt.env.QueryWorkflow(QueryProgress)
	if err != nil {
		tt.t.Errorf("QueryWorkflow(%s) at %s: %v", QueryProgress, tt.elapsed(), err)
		return p
	}
	if err := v.Get(&p); err != nil {
		tt.t.Errorf("decode progress: %v", err)
	}
	return p
}

// ProgressAt keeps the progress and search attributes when the workflow
// clock is d past testStart.
func (tt *testingTest) ProgressAt(d time.Duration) (*TestingProgress, map[string]any) {
	p, sa := &TestingProgress{}, map[string]any{}
	tt.At(d, func() {
		*p = tt.Progress()
		for k, v := range tt.SearchAttributes() {
			sa[k] = v
		}
	})
	return p, sa
}

// callTimes lists when the named activity was called, as offsets from the start.
func (tt *testingTest) callTimes(name string) []time.Duration {
	var out []time.Duration
	for _, c := range tt.Calls(name) {
		out = append(out, c.At.Sub(testStart))
	}
	return out
}

// notices returns the PublishNotice inputs whose kind starts with prefix.
func (tt *testingTest) notices(prefix string) []activities.NoticeInput {
	var out []activities.NoticeInput
	for _, n := range inputs[activities.NoticeInput](tt.sealTest, "PublishNotice") {
		if strings.HasPrefix(n.Kind, prefix) {
			out = append(out, n)
		}
	}
	return out
}

func durationsEqual(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func checkOutputs(t *testing.T, res StepResult, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if got, ok := res.Outputs[k]; !ok || got != v {
			t.Errorf("Outputs[%q] = %v (present %v), want %v", k, got, ok, v)
		}
	}
}

func TestMassTestingCohortsInOrder(t *testing.T) {
	tt := newTestingTest(t)
	mid, _ := tt.ProgressAt(10 * time.Minute)
	tt.Run(testingInput())
	if _, err := tt.Result(); err != nil {
		t.Fatalf("MassTestingStep() error = %v", err)
	}

	type call struct {
		cohort   string
		from, to string
	}
	want := []call{
		{"student", "08:00", "08:15"}, // 100 at 1,000 an hour: 6 min, at least 15
		{"teacher", "08:15", "08:30"},
		{"elderly", "08:30", "08:45"},  // not prioritised: after, by name
		{"resident", "08:45", "15:27"}, // 6,700 at 1,000 an hour: 6h42
	}
	calls := tt.notices("testing/1/")
	if len(calls) != len(want) {
		t.Fatalf("cohort notices = %v, want %d", noticeKindsOf(calls), len(want))
	}
	for i, w := range want {
		n := calls[i]
		if kind := "testing/1/" + w.cohort; n.Kind != kind {
			t.Errorf("notice %d Kind = %q, want %q", i, n.Kind, kind)
		}
		if between := "between " + w.from + " and " + w.to; !strings.Contains(n.Body, between) {
			t.Errorf("notice %d (%s) Body = %q, want it to contain %q", i, w.cohort, n.Body, between)
		}
		if n.Message != MsgTestingCall || n.Args["cohort"] != w.cohort || n.Args["from"] != w.from || n.Args["to"] != w.to || n.Args["round"] != "1" {
			t.Errorf("notice %d (%s) message = %q %v, want %s with its cohort, round 1, %s to %s", i, w.cohort, n.Message, n.Args, MsgTestingCall, w.from, w.to)
		}
		if aud := w.cohort + "s of Longbao"; n.Audience != aud {
			t.Errorf("notice %d Audience = %q, want %q", i, n.Audience, aud)
		}
		if n.AreaID != testCommunity.ID || n.Step != "testing/longbao/call/"+w.cohort {
			t.Errorf("notice %d AreaID, Step = %d, %q, want %d, %q", i, n.AreaID, n.Step, testCommunity.ID, "testing/longbao/call/"+w.cohort)
		}
	}

	counts := map[string]int{"student": 100, "teacher": 43, "elderly": 100, "resident": 6700}
	if len(mid.Slots) != len(want) {
		t.Fatalf("Progress().Slots = %+v, want %d slots", mid.Slots, len(want))
	}
	at := testStart
	for i, s := range mid.Slots {
		if s.Cohort != want[i].cohort {
			t.Errorf("Progress().Slots[%d].Cohort = %q, want %q", i, s.Cohort, want[i].cohort)
		}
		if s.Expected != counts[s.Cohort] {
			t.Errorf("Progress().Slots[%d].Expected = %d, want %d", i, s.Expected, counts[s.Cohort])
		}
		if !s.From.Equal(at) {
			t.Errorf("Progress().Slots[%d].From = %s, want %s (the end of the slot before)", i, s.From, at)
		}
		d := max(time.Duration(float64(counts[s.Cohort])/1000*float64(time.Hour)), 15*time.Minute)
		if got := s.To.Sub(s.From); (got - d).Abs() > time.Millisecond {
			t.Errorf("Progress().Slots[%d] (%s) lasts %s, want %s", i, s.Cohort, got, d)
		}
		at = s.To
	}
	if mid.Round != 1 || mid.RoundID != 7 || mid.Area != "Longbao" || mid.State != StateRunning {
		t.Errorf("Progress() Round, RoundID, Area, State = %d, %d, %q, %q, want 1, 7, Longbao, running", mid.Round, mid.RoundID, mid.Area, mid.State)
	}
	if want := testStart.Add(7 * time.Hour); !mid.Deadline.Equal(want) {
		t.Errorf("Progress().Deadline = %s, want %s", mid.Deadline, want)
	}

	// The round opens, calls, then assigns home visits, in that order.
	var names []string
	for _, c := range tt.Calls("") {
		if c.Name != "RecordEvent" {
			names = append(names, c.Name)
		}
	}
	if len(names) < 7 || names[0] != "OpenRound" || names[5] != "AssignHomeVisits" {
		t.Errorf("first calls = %v, want OpenRound, 4 × PublishNotice, AssignHomeVisits", names[:min(len(names), 7)])
	}
	if in := inputs[activities.OpenRoundInput](tt.sealTest, "OpenRound"); len(in) != 1 || in[0].AreaID != testCommunity.ID || in[0].Round != 1 ||
		!in[0].OpensAt.Equal(testStart) || !in[0].Deadline.Equal(testStart.Add(7*time.Hour)) {
		t.Errorf("OpenRound inputs = %+v, want one for area %d, round 1, %s to %s", in, testCommunity.ID, testStart, testStart.Add(7*time.Hour))
	}
}

func noticeKindsOf(ns []activities.NoticeInput) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Kind)
	}
	return out
}

func TestMassTestingOnSchedule(t *testing.T) {
	tt := newTestingTest(t)
	tt.Sampled = atRate(1200) // 7,013 by 5h51: the check at 6h sees everyone
	mid, midSA := tt.ProgressAt(2*time.Hour + time.Minute)
	tt.Run(testingInput())
	res, err := tt.Result()
	if err != nil {
		t.Fatalf("MassTestingStep() error = %v", err)
	}

	if got, want := tt.callTimes("CloseRound"), []time.Duration{6 * time.Hour}; !durationsEqual(got, want) {
		t.Errorf("CloseRound calls at %v, want %v", got, want)
	}
	checks := tt.callTimes("RoundProgress")
	if len(checks) != 24 || checks[0] != 15*time.Minute || checks[len(checks)-1] != 6*time.Hour {
		t.Errorf("RoundProgress calls at %v, want every 15m from 15m to 6h", checks)
	}
	var last []string
	for _, c := range tt.Calls("") {
		if c.Name != "RecordEvent" {
			last = append(last, c.Name)
		}
	}
	if n := len(last); n < 2 || last[n-2] != "RoundProgress" || last[n-1] != "CloseRound" {
		t.Errorf("last calls = %v, want RoundProgress then CloseRound", last[max(len(last)-3, 0):])
	}
	checkOutputs(t, res, map[string]float64{"sampled": 7013, "expected": 7013, "missing": 0, "positives": 7})
	if got := tt.notices("testing/1/behind"); len(got) != 0 {
		t.Errorf("behind notices = %d, want none", len(got))
	}
	if got := tt.Calls("RevisitMissed"); len(got) != 0 {
		t.Errorf("RevisitMissed calls = %d, want none (no visit missed)", len(got))
	}

	if mid.Behind || mid.Escalated {
		t.Errorf("Progress().Behind, Escalated at 2h01 = %v, %v, want false, false", mid.Behind, mid.Escalated)
	}
	if mid.Sampled != 2400 || mid.Expected != 7013 {
		t.Errorf("Progress().Sampled, Expected at 2h01 = %d, %d, want 2400, 7013", mid.Sampled, mid.Expected)
	}
	if mid.Projected.IsZero() || !mid.Projected.Before(mid.Deadline) {
		t.Errorf("Progress().Projected at 2h01 = %s, want before the deadline %s", mid.Projected, mid.Deadline)
	}
	if len(mid.Points) != 4 || mid.Points[1].Sampled != 600 || mid.Points[1].PerHour != 300 {
		t.Errorf("Progress().Points at 2h01 = %+v, want 4 points, P2 600 sampled at 300 an hour", mid.Points)
	}
	if got := midSA["MusterStepState"]; got != StateRunning {
		t.Errorf("MusterStepState at 2h01 = %v, want %s", got, StateRunning)
	}
	if got := tt.SearchAttributes()["MusterStepState"]; got != StateDone {
		t.Errorf("MusterStepState at the end = %v, want %s", got, StateDone)
	}
}

func TestMassTestingBehind(t *testing.T) {
	tt := newTestingTest(t)
	tt.Sampled = atRate(800) // 7,013 by 8h46: behind at the first check
	early, earlySA := tt.ProgressAt(20 * time.Minute)
	_, laterSA := tt.ProgressAt(40 * time.Minute)
	add := tt.UpdateAt(65*time.Minute, UpdateAddPoint, AddPointInput{Site: "longbao-school", Reason: "behind"})
	empty := tt.UpdateAt(70*time.Minute, UpdateAddPoint, AddPointInput{Site: "  "})
	tt.Run(testingInput())
	res, err := tt.Result()
	if err != nil {
		t.Fatalf("MassTestingStep() error = %v", err)
	}

	behind := tt.notices("testing/1/behind")
	if len(behind) != 1 {
		t.Fatalf("behind notices = %d, want exactly 1", len(behind))
	}
	wantMessage(t, behind[0], MsgTestingBehind+"/furthest")
	for _, c := range tt.Calls("PublishNotice") {
		if n, ok := c.Input.(activities.NoticeInput); ok && n.Kind == "testing/1/behind" && c.At.Sub(testStart) != 15*time.Minute {
			t.Errorf("behind notice at %s, want 15m (the first check)", c.At.Sub(testStart))
		}
	}
	// At 15m: 200 of 7,013 at 800 an hour; 6,813 left finish at 16:45,
	// after the deadline 15:00; with a fifth point (1,000 an hour) at 15:03.
	for _, want := range []string{"200 of 7013 sampled", "at 800 an hour over 4 points", "finishes at 16:45", "after the deadline 15:00",
		"about 250 an hour", "finish to about 15:03", "add-point " + ResponseWorkflowID("xd-0403") + "/testing/longbao SITE"} {
		if !strings.Contains(behind[0].Body, want) {
			t.Errorf("behind notice Body = %q, want it to contain %q", behind[0].Body, want)
		}
	}
	if behind[0].Audience != "command center" || behind[0].Step != "testing/longbao/behind" {
		t.Errorf("behind notice Audience, Step = %q, %q, want command center, testing/longbao/behind", behind[0].Audience, behind[0].Step)
	}

	if !early.Behind {
		t.Errorf("Progress().Behind at 20m = %v, want true", early.Behind)
	}
	if !early.Escalated {
		t.Errorf("Progress().Escalated at 20m = %v, want true", early.Escalated)
	}
	if !early.Projected.After(early.Deadline) {
		t.Errorf("Progress().Projected at 20m = %s, want after the deadline %s", early.Projected, early.Deadline)
	}
	if got := earlySA["MusterStepState"]; got != StateOverdue {
		t.Errorf("MusterStepState at 20m = %v, want %s", got, StateOverdue)
	}
	if got := laterSA["MusterStepState"]; got != StateOverdue {
		t.Errorf("MusterStepState at 40m = %v, want %s", got, StateOverdue)
	}

	if !add.Accepted || add.Rejected != nil || !add.Completed || add.Err != nil {
		t.Errorf("add-point update: accepted %v, rejected %v, completed %v, err %v, want accepted and completed", add.Accepted, add.Rejected, add.Completed, add.Err)
	}
	if empty.Accepted || empty.Rejected == nil {
		t.Errorf("add-point update with an empty site: accepted %v, rejected %v, want rejected", empty.Accepted, empty.Rejected)
	}
	adds := inputs[activities.AddRoundPointInput](tt.sealTest, "AddRoundPoint")
	if len(adds) != 1 || adds[0].Site != "longbao-school" || adds[0].RoundID != 7 || adds[0].Ref.Actor != "command-center" {
		t.Errorf("AddRoundPoint inputs = %+v, want one for longbao-school in round 7 by command-center", adds)
	}
	if got := tt.callTimes("AddRoundPoint"); len(got) != 1 || got[0] != 65*time.Minute {
		t.Errorf("AddRoundPoint calls at %v, want [1h5m0s] (at once, not at the next check)", got)
	}
	final := tt.Progress()
	if len(final.Points) != 5 {
		t.Errorf("Progress().Points at the end = %d, want 5 after add-point", len(final.Points))
	}

	if got, want := tt.callTimes("CloseRound"), []time.Duration{7 * time.Hour}; !durationsEqual(got, want) {
		t.Errorf("CloseRound calls at %v, want %v", got, want)
	}
	checkOutputs(t, res, map[string]float64{"sampled": 5600, "expected": 7013, "missing": 1413, "positives": 5})
}

func TestMassTestingHomeVisits(t *testing.T) {
	tt := newTestingTest(t)
	// Visits miss for the first three hours; then none is missed.
	tt.Missed = func(d time.Duration) int {
		if d < 3*time.Hour {
			return 4
		}
		return 0
	}
	tt.Run(testingInput())
	if _, err := tt.Result(); err != nil {
		t.Fatalf("MassTestingStep() error = %v", err)
	}
	if got, want := tt.callTimes("RevisitMissed"), []time.Duration{time.Hour, 2 * time.Hour}; !durationsEqual(got, want) {
		t.Errorf("RevisitMissed calls at %v, want %v (every revisit_after while visits miss)", got, want)
	}
	if in := inputs[activities.RoundRef](tt.sealTest, "AssignHomeVisits"); len(in) != 1 || in[0].RoundID != 7 {
		t.Errorf("AssignHomeVisits inputs = %+v, want one for round 7", in)
	}
}

func TestMassTestingDeadline(t *testing.T) {
	tt := newTestingTest(t)
	// 1,200 an hour until 6,900, then no more: the last 113 never come.
	tt.Sampled = func(d time.Duration) int { return min(int(1200*d.Hours()), 6900) }
	tt.CloseRound = func(activities.RoundRef) (activities.CloseRoundResult, error) { return tt.closed(0), nil }
	tt.Run(testingInput())
	res, err := tt.Result()
	if err != nil {
		t.Fatalf("MassTestingStep() error = %v", err)
	}
	if got, want := tt.callTimes("CloseRound"), []time.Duration{7 * time.Hour}; !durationsEqual(got, want) {
		t.Errorf("CloseRound calls at %v, want %v (the deadline)", got, want)
	}
	if checks := tt.callTimes("RoundProgress"); len(checks) != 28 || checks[len(checks)-1] != 7*time.Hour {
		t.Errorf("RoundProgress calls at %v, want every 15m up to 7h", checks)
	}
	checkOutputs(t, res, map[string]float64{"sampled": 6900, "expected": 7013, "missing": 113, "positives": 6})
	if !strings.Contains(res.Detail, "6900 of 7013 sampled") || !strings.Contains(res.Detail, "113 missing") {
		t.Errorf("Detail = %q, want the counts", res.Detail)
	}
	// The round closes at the deadline: recommending another point then
	// helps nobody.
	if got := tt.notices("testing/1/behind"); len(got) != 0 {
		t.Errorf("behind notices = %d (at %v), want none: the last check is at the deadline", len(got), tt.callTimes("PublishNotice"))
	}
	final := tt.Progress()
	if final.State != StateDone || final.Missing != 113 {
		t.Errorf("Progress().State, Missing = %q, %d, want done, 113", final.State, final.Missing)
	}
}

func TestMassTestingBadInput(t *testing.T) {
	t.Run("no area", func(t *testing.T) {
		tt := newTestingTest(t)
		in := testingInput()
		in.Area = nil
		tt.Run(in)
		_, err := tt.Result()
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != activities.ErrBadInput || !appErr.NonRetryable() {
			t.Fatalf("MassTestingStep() error = %v, want a non-retryable %s error", err, activities.ErrBadInput)
		}
		if got := tt.Calls("OpenRound"); len(got) != 0 {
			t.Errorf("OpenRound calls = %d, want none", len(got))
		}
		if got := tt.SearchAttributes()["MusterStepState"]; got != StateFailed {
			t.Errorf("MusterStepState = %v, want %s", got, StateFailed)
		}
	})
	// A round the store refuses to open stalls once, for a person.
	t.Run("open round fails", func(t *testing.T) {
		tt := newTestingTest(t)
		tt.OpenRound = func(activities.OpenRoundInput) (domain.RoundPlan, error) {
			return domain.RoundPlan{}, temporal.NewNonRetryableApplicationError("the area has no sampling point", activities.ErrBadInput, nil)
		}
		var sa any
		tt.At(6*time.Hour, func() { sa = tt.SearchAttributes()["MusterStepState"]; tt.env.CancelWorkflow() })
		tt.Run(testingInput())
		if got := len(tt.Calls("OpenRound")); got != 1 {
			t.Errorf("OpenRound calls in 6 hours = %d, want 1 (no retry)", got)
		}
		for _, name := range []string{"PublishNotice", "AssignHomeVisits", "RoundProgress", "CloseRound"} {
			if got := tt.Calls(name); len(got) != 0 {
				t.Errorf("%s calls = %d, want none", name, len(got))
			}
		}
		if sa != StateStalled {
			t.Errorf("MusterStepState = %v, want %s", sa, StateStalled)
		}
	})
}

// A long round continues as new before its history grows large, and the
// next run picks up where the last one stopped: no second opening, calls or
// home-visit assignment, the same deadline, and the round closes as usual.
func TestMassTestingContinuesAsNew(t *testing.T) {
	tt := newTestingTest(t)
	tt.Sampled = func(d time.Duration) int { return min(int(1200*d.Hours()), 6900) }
	in := testingInput()
	in.HistoryLimit = 60
	tt.Run(in)
	_, err := tt.Result()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("MassTestingStep() error = %v, want continue-as-new", err)
	}
	var next StepInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Resume == nil || next.Resume.Progress.RoundID == 0 || next.Resume.Plan.Expected != 7013 {
		t.Fatalf("continue-as-new input Resume = %+v, want the round's plan and progress", next.Resume)
	}
	first := next.Resume.Progress
	// Continuing as new is not an end: the step reports nothing final and
	// its state stays as it was (a response would otherwise take the step
	// for failed while its next run goes on).
	if got := tt.sa["MusterStepState"]; got != StateRunning {
		t.Errorf("MusterStepState after continue-as-new = %v, want %s", got, StateRunning)
	}

	tt2 := newTestingTest(t)
	tt2.Sampled = tt.Sampled
	tt2.CloseRound = func(activities.RoundRef) (activities.CloseRoundResult, error) { return tt2.closed(0), nil }
	next.HistoryLimit = 0
	tt2.Run(next)
	res, err := tt2.Result()
	if err != nil {
		t.Fatalf("resumed MassTestingStep() error = %v", err)
	}
	for _, name := range []string{"OpenRound", "AssignHomeVisits"} {
		if n := len(tt2.callTimes(name)); n != 0 {
			t.Errorf("%s called %d times after continue-as-new, want 0", name, n)
		}
	}
	if got := tt2.notices("testing/1/student"); len(got) != 0 {
		t.Errorf("cohorts called again after continue-as-new: %d notices", len(got))
	}
	if p := tt2.Progress(); !p.Deadline.Equal(first.Deadline) || p.State != StateDone {
		t.Errorf("resumed Progress() deadline, state = %s, %s; want %s, done", p.Deadline, p.State, first.Deadline)
	}
	checkOutputs(t, res, map[string]float64{"sampled": 6900, "expected": 7013, "missing": 113, "positives": 6})
}

// TestMassTestingStateSetOnChange: a round sets MusterStepState only when
// it changes (every set is an event and a visibility write), and still
// reads overdue while behind and done at the end.
func TestMassTestingStateSetOnChange(t *testing.T) {
	for _, c := range []struct {
		name string
		rate float64
		want []any
	}{
		{"on schedule", 1200, []any{StateRunning, StateDone}},
		// Closing at the deadline, the round runs again (closing).
		{"behind", 800, []any{StateRunning, StateOverdue, StateRunning, StateDone}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tt := newTestingTest(t)
			tt.Sampled = atRate(c.rate)
			tt.Run(testingInput())
			if _, err := tt.Result(); err != nil {
				t.Fatalf("MassTestingStep() error = %v", err)
			}
			if n := len(tt.Calls("RoundProgress")); n < 20 {
				t.Fatalf("RoundProgress calls = %d, want a check every 15m", n)
			}
			got := tt.saSets["MusterStepState"]
			if len(got) != len(c.want) {
				t.Fatalf("MusterStepState set %d times: %v, want %v", len(got), got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("MusterStepState sets = %v, want %v", got, c.want)
					break
				}
			}
		})
	}
}
