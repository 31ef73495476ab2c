package activities

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newActivities returns activities on a fresh database holding the reference
// scenario, and the scenario's rows.
func newActivities(t *testing.T) (*Activities, scenario.Rows) {
	t.Helper()
	f, err := scenario.Reference()
	if err != nil {
		t.Fatalf("scenario.Reference() error = %v", err)
	}
	r := f.Rows()
	// The scenario is loaded once per test process; each test copies it.
	s := pgtest.Seeded(t, "reference", func(ctx context.Context, s *store.Store) error {
		_, err := s.LoadScenario(ctx, r)
		return err
	})
	return New(s), r
}

// count runs a query returning one integer.
func count(t *testing.T, a *Activities, query string, args ...any) int {
	t.Helper()
	var n int
	if err := a.Store.DB().GetContext(context.Background(), &n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// checkAppError fails unless err is a non-retryable application error of the
// given type.
func checkAppError(t *testing.T, call string, err error, typ string) {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("%s error = %v (%T), want a *temporal.ApplicationError of type %s", call, err, err, typ)
	}
	if ae.Type() != typ || !ae.NonRetryable() {
		t.Errorf("%s error = type %q, non-retryable %v, want type %q, non-retryable", call, ae.Type(), ae.NonRetryable(), typ)
	}
}

func ref(incident string) StepRef {
	return StepRef{Incident: incident, WorkflowID: "seal/" + incident + "/longbao-jiayuan", Actor: "duty officer"}
}

func TestPlanSeal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, r := newActivities(t)

	got, err := a.PlanSeal(ctx, PlanSealInput{Ref: ref("inc-1"), Compound: "longbao-jiayuan", Runbook: "seal-compound", Level: 1})
	if err != nil {
		t.Fatalf("PlanSeal(longbao-jiayuan) error = %v", err)
	}
	var residents int
	for _, ar := range r.Areas {
		if ar.Code == "longbao-jiayuan" {
			residents = ar.Population
		}
	}
	if got.Code != "longbao-jiayuan" || got.Path != "xiaodian/beiying/longbao/longbao-jiayuan" || got.Residents != residents || got.AreaID == 0 {
		t.Errorf("PlanSeal() = %s at %s (area %d) with %d residents, want longbao-jiayuan at xiaodian/beiying/longbao/longbao-jiayuan with %d",
			got.Code, got.Path, got.AreaID, got.Residents, residents)
	}
	var gates, entranceGates, roads, entranceRoads []string
	for _, g := range got.Gates {
		gates = append(gates, g.Code)
		if g.Entrance {
			entranceGates = append(entranceGates, g.Code)
		}
	}
	for _, rd := range got.Roads {
		roads = append(roads, rd.Code)
		if rd.Entrance {
			entranceRoads = append(entranceRoads, rd.Code)
		}
	}
	if want := []string{"east", "north", "west"}; !reflect.DeepEqual(gates, want) || !reflect.DeepEqual(entranceGates, []string{"north"}) {
		t.Errorf("PlanSeal().Gates = %v, entrance %v, want %v, entrance [north]", gates, entranceGates, want)
	}
	if len(roads) != 3 || !reflect.DeepEqual(entranceRoads, []string{"longbao-street"}) {
		t.Errorf("PlanSeal().Roads = %v, entrance %v, want Longbao's 3, entrance [longbao-street]", roads, entranceRoads)
	}
	if len(got.PublicAreas) != 5 || got.StaffAvailable < 70 {
		t.Errorf("PlanSeal() = %d public areas, %d staff available, want 5 and at least Longbao's 70", len(got.PublicAreas), got.StaffAvailable)
	}
	resp, err := a.Store.ResponseByIncident(ctx, "inc-1")
	if err != nil || resp.Runbook != "seal-compound" || resp.Level != 1 || resp.AreaPath != got.Path {
		t.Errorf("ResponseByIncident(inc-1) = %+v, %v, want seal-compound level 1 at %s", resp, err, got.Path)
	}

	tests := []struct {
		name string
		in   PlanSealInput
		want string
	}{
		{"unknown compound", PlanSealInput{Ref: ref("inc-2"), Compound: "nowhere"}, ErrUnknownArea},
		{"community", PlanSealInput{Ref: ref("inc-2"), Compound: "longbao"}, ErrNotCompound},
		{"district by path", PlanSealInput{Ref: ref("inc-2"), Compound: "xiaodian"}, ErrNotCompound},
		{"no incident", PlanSealInput{Ref: StepRef{WorkflowID: "wf"}, Compound: "longbao-jiayuan"}, ErrBadInput},
		{"no workflow", PlanSealInput{Ref: StepRef{Incident: "inc-2"}, Compound: "longbao-jiayuan"}, ErrBadInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.PlanSeal(ctx, tt.in)
			checkAppError(t, "PlanSeal("+tt.in.Compound+")", err, tt.want)
		})
	}
	// A plan that failed opened no response and logged nothing.
	if _, err := a.Store.ResponseByIncident(ctx, "inc-2"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("ResponseByIncident(inc-2) after failed plans error = %v, want ErrNotFound", err)
	}
	if n := count(t, a, `SELECT count(*) FROM step_events WHERE incident <> 'inc-1'`); n != 0 {
		t.Errorf("events of failed plans = %d, want 0", n)
	}
}

// sealRun is what one run of the seal's activities returned.
type sealRun struct {
	Plan        PlanSealResult
	Checkpoints []CheckpointResult
	Roads       CloseRoadsResult
	Disinfect   DisinfectResult
	Compliance  ComplianceResult
	Reopen      ReopenResult
	// Sealed are the seal's records before the lift, Lifted after.
	Sealed, Lifted store.SealRecords
}

// runSeal runs every activity of a seal of longbao-jiayuan in order, each
// times times in a row, as retries after a lost reply would.
func runSeal(t *testing.T, a *Activities, incident string, times int) sealRun {
	t.Helper()
	ctx := context.Background()
	rf := ref(incident)
	var out sealRun
	// twice calls an activity times times and checks that every call
	// returns what the first did.
	twice := func(name string, call func() (any, error)) any {
		t.Helper()
		var first any
		for i := range times {
			got, err := call()
			if err != nil {
				t.Fatalf("%s (call %d) error = %v", name, i+1, err)
			}
			if i == 0 {
				first = got
			} else if !reflect.DeepEqual(got, first) {
				t.Errorf("%s (call %d) = %+v, want %+v as the first call", name, i+1, got, first)
			}
		}
		return first
	}

	out.Plan = twice("PlanSeal", func() (any, error) {
		return a.PlanSeal(ctx, PlanSealInput{Ref: rf, Compound: "longbao-jiayuan", Runbook: "seal-compound", Level: 1})
	}).(PlanSealResult)
	area := out.Plan.AreaID
	twice("PublishNotice", func() (any, error) {
		return nil, a.PublishNotice(ctx, NoticeInput{Ref: rf, Step: "notify-residents", AreaID: area, Kind: "seal-announced",
			Audience: "residents of Longbao Jiayuan", Body: "Longbao Jiayuan is sealed from now."})
	})
	for _, g := range out.Plan.Gates {
		out.Checkpoints = append(out.Checkpoints, twice("OpenCheckpoint("+g.Code+")", func() (any, error) {
			return a.OpenCheckpoint(ctx, CheckpointInput{Ref: rf, AreaID: area, Gate: g, RequiredStaff: 2})
		}).(CheckpointResult))
	}
	out.Roads = twice("CloseRoads", func() (any, error) {
		return a.CloseRoads(ctx, CloseRoadsInput{Ref: rf, AreaID: area, Roads: out.Plan.Roads})
	}).(CloseRoadsResult)
	out.Disinfect = twice("Disinfect", func() (any, error) {
		return a.Disinfect(ctx, DisinfectInput{Ref: rf, AreaID: area, Zones: out.Plan.PublicAreas, Round: 1})
	}).(DisinfectResult)
	out.Compliance = twice("CheckCompliance", func() (any, error) {
		return a.CheckCompliance(ctx, ComplianceInput{Ref: rf, AreaID: area, Round: 1})
	}).(ComplianceResult)
	var err error
	if out.Sealed, err = a.Store.SealRecords(ctx, incident, area); err != nil {
		t.Fatal(err)
	}
	out.Reopen = twice("Reopen", func() (any, error) {
		return a.Reopen(ctx, ReopenInput{Ref: rf, AreaID: area, Reason: "all tests negative"})
	}).(ReopenResult)
	twice("PublishNotice(lifted)", func() (any, error) {
		return nil, a.PublishNotice(ctx, NoticeInput{Ref: rf, Step: "notify-lifted", AreaID: area, Kind: "seal-lifted",
			Audience: "residents of Longbao Jiayuan", Body: "The seal of Longbao Jiayuan is lifted."})
	})
	twice("RecordEvent", func() (any, error) {
		return nil, a.RecordEvent(ctx, domain.Event{Incident: incident, WorkflowID: rf.WorkflowID, Step: "hold", State: "done", Reason: "lift requested"})
	})
	if out.Lifted, err = a.Store.SealRecords(ctx, incident, area); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSealRetried runs a seal once, lifts it, then runs it under another
// incident with every activity called twice: both leave the same rows.
func TestSealRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _ := newActivities(t)
	once := runSeal(t, a, "inc-once", 1)
	twice := runSeal(t, a, "inc-twice", 2)

	wantSealed := store.SealRecords{Checkpoints: 3, OpenCheckpoints: 3, StaffOnDuty: 6, StaffAssigned: 6,
		RoadClosures: 2, RoadsClosedNow: 2, DisinfectionTasks: 5, ComplianceChecks: 3, Notices: 1}
	wantLifted := store.SealRecords{Checkpoints: 3, StaffAssigned: 6, RoadClosures: 2, DisinfectionTasks: 5, ComplianceChecks: 3, Notices: 2}
	for _, run := range []struct {
		name string
		got  sealRun
	}{{"once", once}, {"twice", twice}} {
		if run.got.Sealed != wantSealed {
			t.Errorf("SealRecords() sealed, calls %s = %+v, want %+v", run.name, run.got.Sealed, wantSealed)
		}
		if run.got.Lifted != wantLifted {
			t.Errorf("SealRecords() lifted, calls %s = %+v, want %+v", run.name, run.got.Lifted, wantLifted)
		}
	}
	// The first seal released its staff, so the second gets the same people.
	if !reflect.DeepEqual(twice.Checkpoints, once.Checkpoints) || twice.Roads.Closed != once.Roads.Closed ||
		twice.Disinfect != once.Disinfect || !reflect.DeepEqual(twice.Compliance, once.Compliance) || twice.Reopen != once.Reopen {
		t.Errorf("seal with calls twice = %+v, want %+v as with calls once", twice, once)
	}
	if want := (ReopenResult{Checkpoints: 3, StaffReleased: 6, RoadsReopened: 2}); twice.Reopen != want {
		t.Errorf("Reopen() = %+v, want %+v", twice.Reopen, want)
	}
	if want := (ComplianceResult{Round: 1, Checked: 3, Passed: 3}); !reflect.DeepEqual(twice.Compliance, want) {
		t.Errorf("CheckCompliance() = %+v, want %+v", twice.Compliance, want)
	}

	// Each step logged once, with the same words either way.
	steps := []string{"plan", "notify-residents", "checkpoint/east", "checkpoint/north", "checkpoint/west",
		"close-roads", "disinfect", "compliance-check", "reopen", "notify-lifted", "hold"}
	for _, inc := range []string{"inc-once", "inc-twice"} {
		for _, step := range steps {
			if n := count(t, a, `SELECT count(*) FROM step_events WHERE incident = $1 AND step = $2`, inc, step); n != 1 {
				t.Errorf("events of step %s for %s = %d, want 1", step, inc, n)
			}
		}
		if n := count(t, a, `SELECT count(*) FROM step_events WHERE incident = $1`, inc); n != len(steps) {
			t.Errorf("events of %s = %d, want %d", inc, n, len(steps))
		}
	}
	onceEvents, err := a.Store.Events(ctx, "inc-once", "")
	if err != nil {
		t.Fatal(err)
	}
	twiceEvents, err := a.Store.Events(ctx, "inc-twice", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range min(len(onceEvents), len(twiceEvents)) {
		o, w := onceEvents[i], twiceEvents[i]
		if o.Step != w.Step || o.State != w.State || o.Reason != w.Reason || o.Actor != w.Actor {
			t.Errorf("Events(inc-twice)[%d] = %s %s %q by %s, want %s %s %q by %s as once",
				i, w.Step, w.State, w.Reason, w.Actor, o.Step, o.State, o.Reason, o.Actor)
		}
	}
}

// TestSealShape checks what a seal shuts: no entrance road is closed, the
// entrance gate lets people through with checks, the others stay shut.
func TestSealShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _ := newActivities(t)
	rf := ref("inc-shape")
	plan, err := a.PlanSeal(ctx, PlanSealInput{Ref: rf, Compound: "longbao-jiayuan", Runbook: "seal-compound", Level: 1})
	if err != nil {
		t.Fatal(err)
	}
	wantMode := map[string]string{}
	for _, g := range plan.Gates {
		wantMode[g.Code] = "closed"
		if g.Entrance {
			wantMode[g.Code] = "entry"
		}
		res, err := a.OpenCheckpoint(ctx, CheckpointInput{Ref: rf, AreaID: plan.AreaID, Gate: g, RequiredStaff: 1})
		if err != nil {
			t.Fatalf("OpenCheckpoint(%s) error = %v", g.Code, err)
		}
		if res.Mode != wantMode[g.Code] || res.Gate != g.Code || len(res.Staff) != 1 {
			t.Errorf("OpenCheckpoint(%s) = %+v, want mode %s with 1 staff", g.Code, res, wantMode[g.Code])
		}
	}
	if wantMode["north"] != "entry" || len(wantMode) != 3 {
		t.Fatalf("plan gates = %v, want north as the one entrance of 3", wantMode)
	}
	var rows []struct {
		Gate string `db:"code"`
		Mode string `db:"mode"`
	}
	if err := a.Store.DB().SelectContext(ctx, &rows, `SELECT g.code, c.mode FROM checkpoints c JOIN gates g ON g.id = c.gate_id
		WHERE c.incident = $1`, rf.Incident); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(wantMode) {
		t.Errorf("checkpoints = %d, want %d", len(rows), len(wantMode))
	}
	for _, r := range rows {
		if r.Mode != wantMode[r.Gate] {
			t.Errorf("checkpoint at %s mode = %s, want %s", r.Gate, r.Mode, wantMode[r.Gate])
		}
	}

	roads, err := a.CloseRoads(ctx, CloseRoadsInput{Ref: rf, AreaID: plan.AreaID, Roads: plan.Roads})
	if err != nil {
		t.Fatal(err)
	}
	if roads.Closed != 2 || !reflect.DeepEqual(roads.Entrances, []string{"Longbao Street"}) {
		t.Errorf("CloseRoads() = %+v, want 2 closed, entrance by Longbao Street", roads)
	}
	if n := count(t, a, `SELECT count(*) FROM road_closures rc JOIN roads r ON r.id = rc.road_id WHERE rc.incident = $1 AND r.entrance`, rf.Incident); n != 0 {
		t.Errorf("entrance roads closed = %d, want 0", n)
	}

	// A road list of entrances only closes nothing.
	var entrances []RoadPlan
	for _, r := range plan.Roads {
		if r.Entrance {
			entrances = append(entrances, r)
		}
	}
	other := ref("inc-shape-2")
	got, err := a.CloseRoads(ctx, CloseRoadsInput{Ref: other, AreaID: plan.AreaID, Roads: entrances})
	if err != nil || got.Closed != 0 {
		t.Errorf("CloseRoads(entrances only) = %+v, %v, want 0 closed", got, err)
	}
	if n := count(t, a, `SELECT count(*) FROM road_closures WHERE incident = $1`, other.Incident); n != 0 {
		t.Errorf("closures for entrances only = %d, want 0", n)
	}
}

// TestBadInput checks that input no retry can fix fails at once, without
// writing anything.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _ := newActivities(t)
	rf := ref("inc-bad")
	plan, err := a.PlanSeal(ctx, PlanSealInput{Ref: rf, Compound: "longbao-jiayuan"})
	if err != nil {
		t.Fatal(err)
	}
	area, gate := plan.AreaID, plan.Gates[0]
	notice := NoticeInput{Ref: rf, Step: "notify-residents", AreaID: area, Kind: "seal-announced", Audience: "residents", Body: "Sealed."}
	tests := []struct {
		name string
		call func() error
	}{
		{"PublishNotice no incident", func() error {
			in := notice
			in.Ref.Incident = ""
			return a.PublishNotice(ctx, in)
		}},
		{"PublishNotice no step", func() error { in := notice; in.Step = ""; return a.PublishNotice(ctx, in) }},
		{"PublishNotice no kind", func() error { in := notice; in.Kind = ""; return a.PublishNotice(ctx, in) }},
		{"PublishNotice no audience", func() error { in := notice; in.Audience = ""; return a.PublishNotice(ctx, in) }},
		{"PublishNotice no body", func() error { in := notice; in.Body = ""; return a.PublishNotice(ctx, in) }},
		{"OpenCheckpoint no workflow", func() error {
			_, err := a.OpenCheckpoint(ctx, CheckpointInput{Ref: StepRef{Incident: "inc-bad"}, AreaID: area, Gate: gate, RequiredStaff: 2})
			return err
		}},
		{"OpenCheckpoint no area", func() error {
			_, err := a.OpenCheckpoint(ctx, CheckpointInput{Ref: rf, Gate: gate, RequiredStaff: 2})
			return err
		}},
		{"OpenCheckpoint no gate ID", func() error {
			_, err := a.OpenCheckpoint(ctx, CheckpointInput{Ref: rf, AreaID: area, Gate: GatePlan{Code: gate.Code}, RequiredStaff: 2})
			return err
		}},
		{"OpenCheckpoint negative staff", func() error {
			_, err := a.OpenCheckpoint(ctx, CheckpointInput{Ref: rf, AreaID: area, Gate: gate, RequiredStaff: -1})
			return err
		}},
		{"CloseRoads no incident", func() error {
			_, err := a.CloseRoads(ctx, CloseRoadsInput{Ref: StepRef{WorkflowID: rf.WorkflowID}, AreaID: area, Roads: plan.Roads})
			return err
		}},
		{"CloseRoads no area", func() error {
			_, err := a.CloseRoads(ctx, CloseRoadsInput{Ref: rf, Roads: plan.Roads})
			return err
		}},
		{"Disinfect no area", func() error {
			_, err := a.Disinfect(ctx, DisinfectInput{Ref: rf, Zones: plan.PublicAreas, Round: 1})
			return err
		}},
		{"Disinfect no zones", func() error {
			_, err := a.Disinfect(ctx, DisinfectInput{Ref: rf, AreaID: area, Round: 1})
			return err
		}},
		{"Disinfect round 0", func() error {
			_, err := a.Disinfect(ctx, DisinfectInput{Ref: rf, AreaID: area, Zones: plan.PublicAreas})
			return err
		}},
		{"CheckCompliance round 0", func() error {
			_, err := a.CheckCompliance(ctx, ComplianceInput{Ref: rf, AreaID: area})
			return err
		}},
		{"CheckCompliance no area", func() error {
			_, err := a.CheckCompliance(ctx, ComplianceInput{Ref: rf, Round: 1})
			return err
		}},
		{"CheckCompliance negative round", func() error {
			_, err := a.CheckCompliance(ctx, ComplianceInput{Ref: rf, AreaID: area, Round: -1})
			return err
		}},
		{"Reopen no workflow", func() error {
			_, err := a.Reopen(ctx, ReopenInput{Ref: StepRef{Incident: "inc-bad"}, AreaID: area})
			return err
		}},
		{"Reopen no area", func() error {
			_, err := a.Reopen(ctx, ReopenInput{Ref: rf})
			return err
		}},
		{"RecordEvent no step", func() error {
			return a.RecordEvent(ctx, domain.Event{Incident: "inc-bad", WorkflowID: rf.WorkflowID, State: "done"})
		}},
		{"RecordEvent no state", func() error {
			return a.RecordEvent(ctx, domain.Event{Incident: "inc-bad", WorkflowID: rf.WorkflowID, Step: "hold"})
		}},
		{"RecordEvent no incident", func() error {
			return a.RecordEvent(ctx, domain.Event{WorkflowID: rf.WorkflowID, Step: "hold", State: "done"})
		}},
	}
	written := func() int {
		return count(t, a, `SELECT (SELECT count(*) FROM step_events) + (SELECT count(*) FROM notices) + (SELECT count(*) FROM checkpoints)
			+ (SELECT count(*) FROM road_closures) + (SELECT count(*) FROM disinfection_tasks) + (SELECT count(*) FROM compliance_checks)`)
	}
	before := written()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAppError(t, tt.name, tt.call(), ErrBadInput)
		})
	}
	if after := written(); after != before {
		t.Errorf("rows after bad input = %d, want %d (nothing written)", after, before)
	}
}

// TestRoundsLogged checks that each round of a repeated step logs its own
// event once, however often it is retried.
func TestRoundsLogged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _ := newActivities(t)
	rf := ref("inc-rounds")
	plan, err := a.PlanSeal(ctx, PlanSealInput{Ref: rf, Compound: "heping-yuan"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.OpenCheckpoint(ctx, CheckpointInput{Ref: rf, AreaID: plan.AreaID, Gate: plan.Gates[0], RequiredStaff: 1}); err != nil {
		t.Fatal(err)
	}
	for _, round := range []int{1, 1, 2, 2, 3} {
		if _, err := a.Disinfect(ctx, DisinfectInput{Ref: rf, AreaID: plan.AreaID, Zones: plan.PublicAreas, Round: round}); err != nil {
			t.Fatalf("Disinfect(round %d) error = %v", round, err)
		}
		if _, err := a.CheckCompliance(ctx, ComplianceInput{Ref: rf, AreaID: plan.AreaID, Round: round}); err != nil {
			t.Fatalf("CheckCompliance(round %d) error = %v", round, err)
		}
	}
	for _, step := range []string{"disinfect", "compliance-check"} {
		if n := count(t, a, `SELECT count(*) FROM step_events WHERE incident = $1 AND step = $2`, rf.Incident, step); n != 3 {
			t.Errorf("events of step %s over rounds 1, 1, 2, 2, 3 = %d, want 3", step, n)
		}
	}
	rec, err := a.Store.SealRecords(ctx, rf.Incident, plan.AreaID)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * len(plan.PublicAreas); rec.DisinfectionTasks != want || rec.ComplianceChecks != 3 {
		t.Errorf("SealRecords() = %d disinfection tasks, %d checks, want %d, 3", rec.DisinfectionTasks, rec.ComplianceChecks, want)
	}
}
