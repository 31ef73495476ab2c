package workflows

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// stepStates maps each step of a progress to its state.
func stepStates(p SealProgress) map[string]string {
	out := map[string]string{}
	for _, st := range p.Steps {
		out[st.Name] = st.State
	}
	return out
}

func stepNamed(p SealProgress, name string) StepProgress {
	for _, st := range p.Steps {
		if st.Name == name {
			return st
		}
	}
	return StepProgress{}
}

// sealedSteps is every step of a sealed compound, done, with the hold waiting.
var sealedSteps = map[string]string{
	"plan": StateDone, "notify-residents": StateDone,
	"checkpoint/north": StateDone, "checkpoint/east": StateDone, "checkpoint/west": StateDone,
	"close-roads": StateDone, "disinfect": StateDone, "hold": StateHolding,
}

func TestSealCompoundHappyPath(t *testing.T) {
	st := newSealTest(t)
	// Round 2 finds the east gate a guard short.
	st.CheckCompliance = func(in activities.ComplianceInput) (activities.ComplianceResult, error) {
		res := activities.ComplianceResult{Round: in.Round, Checked: 3, Passed: 3}
		if in.Round == 2 {
			res.Passed, res.Problems = 2, []string{"gate east: 2 of 3 staff on duty"}
		}
		return res, nil
	}
	st.Reopen = func(activities.ReopenInput) (activities.ReopenResult, error) {
		return activities.ReopenResult{Checkpoints: 3, StaffReleased: 9, RoadsReopened: 2}, nil
	}
	in := testInput()
	in.CheckEveryHours, in.TimeScale, in.StaffPerCheckpoint = 2, 1, 3

	var mid SealProgress
	var midSA map[string]any
	st.At(3*time.Hour, func() { mid, midSA = st.Progress(), st.SearchAttributes() })
	lift := LiftInput{Reason: "all residents tested negative twice", By: "duty-officer"}
	lifted := st.UpdateAt(6*time.Hour+30*time.Minute, UpdateLift, lift)
	st.Run(in)

	t.Run("progress while sealed", func(t *testing.T) {
		if mid.Phase != PhaseSealed {
			t.Errorf("Progress().Phase = %q, want %q", mid.Phase, PhaseSealed)
		}
		if got := stepStates(mid); !maps.Equal(got, withStep(sealedSteps, "compliance-check", StateDone)) {
			t.Errorf("Progress() step states = %v, want %v", got, withStep(sealedSteps, "compliance-check", StateDone))
		}
		wantCheckpoints := []CheckpointProgress{
			{Gate: "north", Name: "North gate", Mode: "entry", Staff: 3, Required: 3},
			{Gate: "east", Name: "East gate", Mode: "closed", Staff: 3, Required: 3},
			{Gate: "west", Name: "West gate", Mode: "closed", Staff: 3, Required: 3},
		}
		if !slices.Equal(mid.Checkpoints, wantCheckpoints) {
			t.Errorf("Progress().Checkpoints = %+v, want %+v", mid.Checkpoints, wantCheckpoints)
		}
		for _, c := range []struct {
			name      string
			got, want any
		}{
			{"Compound", mid.Compound, "longbao-jiayuan"},
			{"CompoundName", mid.CompoundName, "Longbao Jiayuan"},
			{"Residents", mid.Residents, 1486},
			{"RoadsClosed", mid.RoadsClosed, 2},
			{"Entrances", strings.Join(mid.Entrances, ","), "Longbao Street"},
			{"Zones", mid.Zones, 5},
			{"ComplianceRounds", mid.ComplianceRounds, 1},
			{"FailedChecks", mid.FailedChecks, 0},
			{"Runbook", mid.Runbook, DefaultSealRunbook},
		} {
			if c.got != c.want {
				t.Errorf("Progress().%s = %v, want %v", c.name, c.got, c.want)
			}
		}
		if want := testStart.Add(4 * time.Hour); !mid.NextCheckAt.Equal(want) {
			t.Errorf("Progress().NextCheckAt = %s, want %s", mid.NextCheckAt, want)
		}
		if !mid.SealedAt.Equal(testStart) {
			t.Errorf("Progress().SealedAt = %s, want %s", mid.SealedAt, testStart)
		}
	})

	t.Run("result", func(t *testing.T) {
		res, err := st.Result()
		if err != nil {
			t.Fatalf("SealCompound() error = %v, want nil", err)
		}
		want := SealCompoundResult{
			Incident: "xd-0403", Compound: "longbao-jiayuan", LiftedBy: "duty-officer",
			ComplianceRounds: 3, FailedChecks: 1, Checkpoints: 3, StaffReleased: 9, RoadsReopened: 2,
		}
		if !res.SealedAt.Equal(testStart) {
			t.Errorf("SealCompound().SealedAt = %s, want %s", res.SealedAt, testStart)
		}
		if wantAt := testStart.Add(6*time.Hour + 30*time.Minute); !res.LiftedAt.Equal(wantAt) {
			t.Errorf("SealCompound().LiftedAt = %s, want %s", res.LiftedAt, wantAt)
		}
		res.SealedAt, res.LiftedAt = time.Time{}, time.Time{}
		if res != want {
			t.Errorf("SealCompound() = %+v, want %+v", res, want)
		}
		if !lifted.Accepted || lifted.Err != nil {
			t.Errorf("lift update: accepted %v, error %v; want accepted", lifted.Accepted, lifted.Err)
		}
		if got, ok := lifted.Result.(LiftAccepted); !ok || !got.At.Equal(testStart.Add(6*time.Hour+30*time.Minute)) {
			t.Errorf("lift update result = %#v, want LiftAccepted at 06:30 past start", lifted.Result)
		}
	})

	t.Run("activity inputs", func(t *testing.T) {
		ref := activities.StepRef{Incident: "xd-0403", WorkflowID: SealWorkflowID("xd-0403", "longbao-jiayuan"), Actor: "muster"}
		plans := inputs[activities.PlanSealInput](st, "PlanSeal")
		wantPlan := activities.PlanSealInput{Ref: ref, Compound: "longbao-jiayuan", Runbook: DefaultSealRunbook, Level: 1}
		wantPlan.Ref.Actor = "district-hq"
		if len(plans) != 1 || plans[0] != wantPlan {
			t.Errorf("PlanSeal inputs = %+v, want one %+v", plans, wantPlan)
		}

		cps := inputs[activities.CheckpointInput](st, "OpenCheckpoint")
		slices.SortFunc(cps, func(x, y activities.CheckpointInput) int { return int(x.Gate.ID - y.Gate.ID) })
		var wantCPs []activities.CheckpointInput
		for _, g := range testCompound.Gates {
			wantCPs = append(wantCPs, activities.CheckpointInput{Ref: ref, AreaID: 42, Gate: g, RequiredStaff: 3})
		}
		if !slices.Equal(cps, wantCPs) {
			t.Errorf("OpenCheckpoint inputs = %+v, want %+v", cps, wantCPs)
		}

		roads := inputs[activities.CloseRoadsInput](st, "CloseRoads")
		if len(roads) != 1 || !reflect.DeepEqual(roads[0], activities.CloseRoadsInput{Ref: ref, AreaID: 42, Roads: testCompound.Roads}) {
			t.Errorf("CloseRoads inputs = %+v, want one with the plan's 3 roads", roads)
		}
		dis := inputs[activities.DisinfectInput](st, "Disinfect")
		if len(dis) != 1 || !reflect.DeepEqual(dis[0], activities.DisinfectInput{Ref: ref, AreaID: 42, Zones: testCompound.PublicAreas, Round: 1}) {
			t.Errorf("Disinfect inputs = %+v, want one of round 1 with the plan's public areas", dis)
		}

		var rounds []int
		var at []time.Duration
		for _, c := range st.Calls("CheckCompliance") {
			rounds = append(rounds, c.Input.(activities.ComplianceInput).Round)
			at = append(at, c.At.Sub(testStart))
		}
		if want := []int{1, 2, 3}; !slices.Equal(rounds, want) {
			t.Errorf("CheckCompliance rounds = %v, want %v", rounds, want)
		}
		if want := []time.Duration{2 * time.Hour, 4 * time.Hour, 6 * time.Hour}; !slices.Equal(at, want) {
			t.Errorf("CheckCompliance times after start = %v, want %v", at, want)
		}

		reopens := inputs[activities.ReopenInput](st, "Reopen")
		wantReopen := activities.ReopenInput{Ref: ref, AreaID: 42, Reason: lift.Reason}
		wantReopen.Ref.Actor = "duty-officer"
		if len(reopens) != 1 || reopens[0] != wantReopen {
			t.Errorf("Reopen inputs = %+v, want one %+v", reopens, wantReopen)
		}

		notices := inputs[activities.NoticeInput](st, "PublishNotice")
		var kinds []string
		for _, n := range notices {
			kinds = append(kinds, n.Step+"/"+n.Kind)
			if n.AreaID != 42 || n.Audience != "residents of Longbao Jiayuan" {
				t.Errorf("PublishNotice(%s) to area %d, audience %q; want area 42, residents of Longbao Jiayuan", n.Kind, n.AreaID, n.Audience)
			}
		}
		if want := []string{"notify-residents/seal-announced", "notify-lifted/seal-lifted"}; !slices.Equal(kinds, want) {
			t.Fatalf("PublishNotice steps/kinds = %v, want %v", kinds, want)
		}
		for _, want := range []string{"xd-0403", "North gate", "Taihang East Street South Lane 3 and Wucheng East Road extension are closed", "everyone comes and goes by Longbao Street"} {
			if !strings.Contains(notices[0].Body, want) {
				t.Errorf("seal notice body = %q, want it to mention %q", notices[0].Body, want)
			}
		}
		if notices[1].Ref.Actor != "duty-officer" {
			t.Errorf("lift notice actor = %q, want duty-officer", notices[1].Ref.Actor)
		}
		// The notices name their message, so each route gets them in its
		// own language.
		wantArgs := map[string]string{"compound": "Longbao Jiayuan", "incident": "xd-0403", "entrance": "North gate",
			"closed": "Taihang East Street South Lane 3, Wucheng East Road extension", "open": "Longbao Street"}
		if notices[0].Message != "seal-announced/closed-open" || !maps.Equal(notices[0].Args, wantArgs) {
			t.Errorf("seal notice message = %q %v, want seal-announced/closed-open %v", notices[0].Message, notices[0].Args, wantArgs)
		}
		if want := map[string]string{"compound": "Longbao Jiayuan", "incident": "xd-0403"}; notices[1].Message != MsgSealLifted || !maps.Equal(notices[1].Args, want) {
			t.Errorf("lift notice message = %q %v, want %s %v", notices[1].Message, notices[1].Args, MsgSealLifted, want)
		}
		if n := len(st.Calls("RecordEvent")); n != 0 {
			t.Errorf("RecordEvent called %d times, want 0: nothing stalled", n)
		}
	})

	t.Run("search attributes", func(t *testing.T) {
		path := []string{"xiaodian", "xiaodian/beiying", "xiaodian/beiying/longbao", "xiaodian/beiying/longbao/longbao-jiayuan"}
		for _, c := range []struct {
			when string
			sa   map[string]any
			key  string
			want any
		}{
			{"sealed", midSA, "MusterIncident", "xd-0403"},
			{"sealed", midSA, "MusterRunbook", DefaultSealRunbook},
			{"sealed", midSA, "MusterLevel", int64(1)},
			{"sealed", midSA, "MusterAreaPath", path},
			{"sealed", midSA, "MusterStep", "hold"},
			{"sealed", midSA, "MusterStepState", StateHolding},
			{"lifted", st.SearchAttributes(), "MusterStep", "notify-lifted"},
			{"lifted", st.SearchAttributes(), "MusterStepState", StateDone},
		} {
			if got := c.sa[c.key]; !reflect.DeepEqual(got, c.want) {
				t.Errorf("search attribute %s when %s = %#v, want %#v", c.key, c.when, got, c.want)
			}
		}
	})
}

// withStep returns states with one more step.
func withStep(states map[string]string, name, state string) map[string]string {
	out := maps.Clone(states)
	out[name] = state
	return out
}

func TestSealCompoundTimeScale(t *testing.T) {
	tests := []struct {
		scale float64
		every float64
		want  time.Duration // between rounds, on the workflow clock
	}{
		{scale: 1, every: 2, want: 2 * time.Hour},
		{scale: 60, every: 2, want: 2 * time.Minute},
		{scale: 3600, every: 2, want: 2 * time.Second},
		{scale: 60, every: 0.5, want: 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			st := newSealTest(t)
			in := testInput()
			in.CheckEveryHours, in.TimeScale = tt.every, tt.scale
			// Lift halfway between the third and the fourth round.
			st.UpdateAt(3*tt.want+tt.want/2, UpdateLift, LiftInput{Reason: "drill over", By: "duty-officer"})
			st.Run(in)
			res, err := st.Result()
			if err != nil {
				t.Fatalf("SealCompound() error = %v", err)
			}
			if res.ComplianceRounds != 3 {
				t.Errorf("SealCompound().ComplianceRounds = %d, want 3", res.ComplianceRounds)
			}
			var at []time.Duration
			for _, c := range st.Calls("CheckCompliance") {
				at = append(at, c.At.Sub(testStart))
			}
			if want := []time.Duration{tt.want, 2 * tt.want, 3 * tt.want}; !slices.Equal(at, want) {
				t.Errorf("CheckCompliance at %v after start, want %v", at, want)
			}
		})
	}
}

func TestSealCompoundLiftValidation(t *testing.T) {
	type lift struct {
		at      time.Duration
		in      LiftInput
		wantErr string // empty: accepted
	}
	tests := []struct {
		name        string
		planDelay   time.Duration
		reopenDelay time.Duration
		checkDelay  time.Duration
		lifts       []lift
		wantBy      string
		wantRounds  int
	}{
		{
			name: "no reason",
			lifts: []lift{
				{at: time.Hour, in: LiftInput{By: "duty-officer"}, wantErr: "needs a reason"},
				{at: time.Hour + time.Minute, in: LiftInput{Reason: "  ", By: "duty-officer"}, wantErr: "needs a reason"},
				{at: 3 * time.Hour, in: LiftInput{Reason: "all tested negative", By: "district-hq"}},
			},
			wantBy: "district-hq", wantRounds: 1,
		},
		{
			name:      "during setup",
			planDelay: 10 * time.Second,
			lifts: []lift{
				{at: 5 * time.Second, in: LiftInput{Reason: "wrong compound", By: "duty-officer"}, wantErr: "still being set up"},
				{at: 5 * time.Hour, in: LiftInput{Reason: "all tested negative", By: "district-hq"}},
			},
			wantBy: "district-hq", wantRounds: 2,
		},
		{
			// The round under way finishes before the seal lifts.
			name:       "second lift during a compliance round",
			checkDelay: 10 * time.Second,
			lifts: []lift{
				{at: 2*time.Hour + 2*time.Second, in: LiftInput{Reason: "all tested negative", By: "district-hq"}},
				{at: 2*time.Hour + 5*time.Second, in: LiftInput{Reason: "me too", By: "duty-officer"}, wantErr: "already being lifted (requested by district-hq)"},
			},
			wantBy: "district-hq", wantRounds: 1,
		},
		{
			name:        "second lift while reopening",
			reopenDelay: 10 * time.Second,
			lifts: []lift{
				{at: time.Hour, in: LiftInput{Reason: "all tested negative", By: "district-hq"}},
				{at: time.Hour + 5*time.Second, in: LiftInput{Reason: "me too", By: "duty-officer"}, wantErr: "is lifting, not sealed"},
			},
			wantBy: "district-hq",
		},
		{
			name: "by defaults to the command center",
			lifts: []lift{
				{at: time.Hour, in: LiftInput{Reason: "all tested negative"}},
			},
			wantBy: "command-center",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newSealTest(t)
			st.Delay["PlanSeal"], st.Delay["Reopen"], st.Delay["CheckCompliance"] = tt.planDelay, tt.reopenDelay, tt.checkDelay
			var outcomes []*updateOutcome
			for _, l := range tt.lifts {
				outcomes = append(outcomes, st.UpdateAt(l.at, UpdateLift, l.in))
			}
			st.Run(testInput())

			for i, l := range tt.lifts {
				o := outcomes[i]
				switch {
				case !o.Sent:
					t.Errorf("lift %d (%+v) was never sent", i, l.in)
				case l.wantErr == "" && (!o.Accepted || o.Rejected != nil || o.Err != nil):
					t.Errorf("lift %d (%+v): accepted %v, rejected %v, error %v; want accepted", i, l.in, o.Accepted, o.Rejected, o.Err)
				case l.wantErr != "" && (o.Rejected == nil || !strings.Contains(o.Rejected.Error(), l.wantErr)):
					t.Errorf("lift %d (%+v): rejected %v (accepted %v), want rejected with %q", i, l.in, o.Rejected, o.Accepted, l.wantErr)
				}
			}
			res, err := st.Result()
			if err != nil {
				t.Fatalf("SealCompound() error = %v", err)
			}
			if res.LiftedBy != tt.wantBy || res.ComplianceRounds != tt.wantRounds {
				t.Errorf("SealCompound() LiftedBy, ComplianceRounds = %q, %d; want %q, %d", res.LiftedBy, res.ComplianceRounds, tt.wantBy, tt.wantRounds)
			}
			if n := len(st.Calls("Reopen")); n != 1 {
				t.Errorf("Reopen called %d times, want 1", n)
			}
			if n := len(st.Calls("PublishNotice")); n != 2 {
				t.Errorf("PublishNotice called %d times, want 2", n)
			}
		})
	}
}

func TestSealCompoundBadInput(t *testing.T) {
	tests := []struct {
		name string
		edit func(*SealCompoundInput)
		want string
	}{
		{"incident with spaces", func(in *SealCompoundInput) { in.Incident = "Bad Incident" }, "--incident"},
		{"no incident", func(in *SealCompoundInput) { in.Incident = "" }, "--incident"},
		{"no compound", func(in *SealCompoundInput) { in.Compound = " " }, "--compound"},
		{"level 5", func(in *SealCompoundInput) { in.Level = 5 }, "--level"},
		{"check every 200h", func(in *SealCompoundInput) { in.CheckEveryHours = 200 }, "--check-every"},
		{"negative staff", func(in *SealCompoundInput) { in.StaffPerCheckpoint = -1 }, "--staff-per-checkpoint"},
		{"time scale below 1", func(in *SealCompoundInput) { in.TimeScale = 0.5 }, "--time-scale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newSealTest(t)
			in := testInput()
			tt.edit(&in)
			st.Run(in)
			_, err := st.Result()
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) {
				t.Fatalf("SealCompound() error = %v, want an application error", err)
			}
			if appErr.Type() != activities.ErrBadInput || !appErr.NonRetryable() || !strings.Contains(appErr.Error(), tt.want) {
				t.Errorf("SealCompound() error = %v (type %s, non-retryable %v), want non-retryable %s naming %s",
					appErr, appErr.Type(), appErr.NonRetryable(), activities.ErrBadInput, tt.want)
			}
			if calls := st.Calls(""); len(calls) != 0 {
				t.Errorf("activities called: %+v, want none", calls)
			}
			if now := st.env.Now(); !now.Equal(testStart) {
				t.Errorf("SealCompound() failed at %s, want at once (%s)", now, testStart)
			}
		})
	}
}

// A seal of an area that is not on file stalls once, for a person, on its
// plan: nothing else runs and nothing retries the plan on its own.
func TestSealCompoundUnknownArea(t *testing.T) {
	st := newSealTest(t)
	st.PlanSeal = func(activities.PlanSealInput) (activities.PlanSealResult, error) {
		return activities.PlanSealResult{}, temporal.NewNonRetryableApplicationError(
			`area "longbao-jiayuan": not found`, activities.ErrUnknownArea, domain.ErrNotFound)
	}
	var p SealProgress
	var sa any
	st.At(6*time.Hour, func() {
		p, sa = st.Progress(), st.SearchAttributes()["MusterStepState"]
		st.env.CancelWorkflow()
	})
	st.Run(testInput())
	names := map[string]int{}
	for _, c := range st.Calls("") {
		names[c.Name]++
	}
	delete(names, "RecordEvent") // the stall's entry in the event log
	if want := map[string]int{"PlanSeal": 1}; !maps.Equal(names, want) {
		t.Errorf("activity calls = %v, want only PlanSeal, once", names)
	}
	if plan := stepNamed(p, "plan"); plan.State != StateStalled || !strings.Contains(plan.Detail, "not retryable") || !strings.Contains(plan.LastError, "not found") {
		t.Errorf("plan step = %s %q (error %q), want stalled, not retryable, naming the area", plan.State, plan.Detail, plan.LastError)
	}
	if sa != StateStalled {
		t.Errorf("search attribute MusterStepState = %v, want %s", sa, StateStalled)
	}
}

// flakyRoads makes CloseRoads fail, as a lost database connection would,
// until healed.
func flakyRoads(st *sealTest, healed *atomic.Bool) {
	ok := st.CloseRoads
	st.CloseRoads = func(in activities.CloseRoadsInput) (activities.CloseRoadsResult, error) {
		if !healed.Load() {
			return activities.CloseRoadsResult{}, errors.New("close roads: connection refused")
		}
		return ok(in)
	}
}

func TestSealCompoundStallRetriedByOperator(t *testing.T) {
	st := newSealTest(t)
	var healed atomic.Bool
	flakyRoads(st, &healed)
	in := testInput()
	in.StallRetryMinutes = 120 // The operator comes first.

	// Eight attempts back off 1+2+4+8+16+32+60 s, so the step stalls 123 s in.
	var stalled SealProgress
	var stalledSA map[string]any
	var attempts int
	st.At(5*time.Minute, func() {
		stalled, stalledSA, attempts = st.Progress(), st.SearchAttributes(), len(st.Calls("CloseRoads"))
	})
	unknown := st.UpdateAt(6*time.Minute, UpdateRetry, RetryInput{Step: "close-road", By: "duty-officer"})
	notStalled := st.UpdateAt(6*time.Minute, UpdateRetry, RetryInput{Step: "plan", By: "duty-officer"})
	liftEarly := st.UpdateAt(6*time.Minute, UpdateLift, LiftInput{Reason: "give up", By: "duty-officer"})
	st.At(10*time.Minute-time.Second, func() { healed.Store(true) })
	retry := st.UpdateAt(10*time.Minute, UpdateRetry, RetryInput{Step: "close-roads", By: "duty-officer"})
	var after SealProgress
	st.At(11*time.Minute, func() { after = st.Progress() })
	st.UpdateAt(time.Hour, UpdateLift, LiftInput{Reason: "all tested negative", By: "district-hq"})
	st.Run(in)

	if attempts != 8 {
		t.Errorf("CloseRoads attempts before the stall = %d, want 8", attempts)
	}
	roads := stepNamed(stalled, "close-roads")
	if roads.State != StateStalled || roads.Stalls != 1 || !strings.Contains(roads.LastError, "connection refused") {
		t.Errorf("Progress() close-roads = %s, %d stalls, last error %q; want stalled, 1, connection refused", roads.State, roads.Stalls, roads.LastError)
	}
	if stalled.Phase != PhaseSettingUp {
		t.Errorf("Progress().Phase while stalled = %q, want %q", stalled.Phase, PhaseSettingUp)
	}
	if stalledSA["MusterStep"] != "close-roads" || stalledSA["MusterStepState"] != StateStalled {
		t.Errorf("search attributes MusterStep, MusterStepState while stalled = %v, %v; want close-roads, stalled", stalledSA["MusterStep"], stalledSA["MusterStepState"])
	}

	events := inputs[domain.Event](st, "RecordEvent")
	if len(events) != 1 {
		t.Fatalf("RecordEvent called %d times, want 1", len(events))
	}
	if e := events[0]; e.Incident != "xd-0403" || e.Step != "close-roads" || e.State != StateStalled || e.Actor != "muster" || !strings.Contains(e.Reason, "connection refused") {
		t.Errorf("RecordEvent(%+v), want the stall of close-roads by muster, with its cause", e)
	}

	for _, c := range []struct {
		name    string
		o       *updateOutcome
		wantErr string
	}{
		{"retry of an unknown step", unknown, `unknown step "close-road"`},
		{"retry of a step that is not stalled", notStalled, "step plan is done, not stalled"},
		{"lift while stalled in setup", liftEarly, "still being set up"},
	} {
		if c.o.Rejected == nil || !strings.Contains(c.o.Rejected.Error(), c.wantErr) {
			t.Errorf("%s: rejected %v (accepted %v), want rejected with %q", c.name, c.o.Rejected, c.o.Accepted, c.wantErr)
		}
	}
	if !retry.Accepted || retry.Err != nil {
		t.Errorf("retry of close-roads: accepted %v, rejected %v, error %v; want accepted", retry.Accepted, retry.Rejected, retry.Err)
	}

	var at []time.Duration
	for _, c := range st.Calls("CloseRoads") {
		at = append(at, c.At.Sub(testStart))
	}
	if len(at) != 9 || at[8] != 10*time.Minute {
		t.Errorf("CloseRoads called at %v, want 8 attempts and the retry at 10m", at)
	}
	if after.Phase != PhaseSealed {
		t.Errorf("Progress().Phase after the retry = %q, want %q", after.Phase, PhaseSealed)
	}
	if roads := stepNamed(after, "close-roads"); roads.State != StateDone || roads.Stalls != 1 {
		t.Errorf("Progress() close-roads after the retry = %s with %d stalls, want done with 1", roads.State, roads.Stalls)
	}
	if res, err := st.Result(); err != nil || res.LiftedBy != "district-hq" {
		t.Errorf("SealCompound() = %+v, %v; want lifted by district-hq", res, err)
	}
}

func TestSealCompoundStallRetriedAutomatically(t *testing.T) {
	tests := []struct {
		scale, stallMinutes float64
		wantWait            time.Duration // from the stall to the next attempt
	}{
		{scale: 1, stallMinutes: 15, wantWait: 15 * time.Minute},
		{scale: 60, stallMinutes: 15, wantWait: 15 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.wantWait.String(), func(t *testing.T) {
			st := newSealTest(t)
			var healed atomic.Bool
			flakyRoads(st, &healed)
			in := testInput()
			in.TimeScale, in.StallRetryMinutes = tt.scale, tt.stallMinutes

			// With scale 60 the retries themselves are not scaled: the
			// eighth attempt still comes 123 s in.
			st.At(124*time.Second, func() { healed.Store(true) })
			var after SealProgress
			st.At(124*time.Second+tt.wantWait+time.Second, func() { after = st.Progress() })
			st.UpdateAt(124*time.Second+tt.wantWait+time.Minute, UpdateLift, LiftInput{Reason: "all tested negative", By: "district-hq"})
			st.Run(in)

			calls := st.Calls("CloseRoads")
			if len(calls) != 9 {
				t.Fatalf("CloseRoads called %d times, want 8 attempts and 1 retry", len(calls))
			}
			if wait := calls[8].At.Sub(calls[7].At); wait != tt.wantWait {
				t.Errorf("CloseRoads retried %s after the stall, want %s", wait, tt.wantWait)
			}
			if after.Phase != PhaseSealed || stepNamed(after, "close-roads").State != StateDone {
				t.Errorf("Progress() Phase, close-roads = %q, %q after the automatic retry; want %q, %q",
					after.Phase, stepNamed(after, "close-roads").State, PhaseSealed, StateDone)
			}
			if _, err := st.Result(); err != nil {
				t.Errorf("SealCompound() error = %v", err)
			}
		})
	}
}

func TestSealCompoundContinueAsNew(t *testing.T) {
	in := testInput()
	in.CheckEveryHours = 0.01 // 36 s

	first := newSealTest(t)
	first.Run(in)
	_, err := first.Result()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("SealCompound() error = %v, want continue-as-new after %d rounds", err, maxRoundsPerRun)
	}
	if can.WorkflowType == nil || can.WorkflowType.Name != SealCompoundName {
		t.Errorf("continue-as-new workflow type = %v, want %s", can.WorkflowType, SealCompoundName)
	}
	var next SealCompoundInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatalf("decode continue-as-new input: %v", err)
	}
	if next.Resume == nil {
		t.Fatalf("continue-as-new input carries no Resume")
	}
	if got := next.Resume.Progress.ComplianceRounds; got != maxRoundsPerRun {
		t.Errorf("Resume.Progress.ComplianceRounds = %d, want %d", got, maxRoundsPerRun)
	}
	if got := next.Resume.Progress.Phase; got != PhaseSealed {
		t.Errorf("Resume.Progress.Phase = %q, want %q", got, PhaseSealed)
	}
	if next.Resume.Plan.Code != testCompound.Code || len(next.Resume.Plan.Gates) != 3 {
		t.Errorf("Resume.Plan = %+v, want the plan of %s", next.Resume.Plan, testCompound.Code)
	}
	if n := len(first.Calls("CheckCompliance")); n != maxRoundsPerRun {
		t.Errorf("CheckCompliance called %d times in the first run, want %d", n, maxRoundsPerRun)
	}

	second := newSealTest(t)
	var resumed SealProgress
	second.At(time.Second, func() { resumed = second.Progress() })
	second.UpdateAt(100*time.Second, UpdateLift, LiftInput{Reason: "all tested negative", By: "district-hq"})
	second.Run(next)
	res, err := second.Result()
	if err != nil {
		t.Fatalf("resumed SealCompound() error = %v", err)
	}
	if res.ComplianceRounds != maxRoundsPerRun+2 {
		t.Errorf("resumed SealCompound().ComplianceRounds = %d, want %d", res.ComplianceRounds, maxRoundsPerRun+2)
	}
	if resumed.Phase != PhaseSealed || resumed.ComplianceRounds != maxRoundsPerRun || len(resumed.Checkpoints) != 3 {
		t.Errorf("Progress() after resuming: phase %q, %d rounds, %d checkpoints; want sealed, %d, 3",
			resumed.Phase, resumed.ComplianceRounds, len(resumed.Checkpoints), maxRoundsPerRun)
	}
	names := map[string]int{}
	for _, c := range second.Calls("") {
		names[c.Name]++
	}
	if want := map[string]int{"CheckCompliance": 2, "Reopen": 1, "PublishNotice": 1}; !maps.Equal(names, want) {
		t.Errorf("resumed run's activity calls = %v, want %v", names, want)
	}
	var rounds []int
	for _, c := range inputs[activities.ComplianceInput](second, "CheckCompliance") {
		rounds = append(rounds, c.Round)
	}
	if want := []int{101, 102}; !slices.Equal(rounds, want) {
		t.Errorf("resumed CheckCompliance rounds = %v, want %v", rounds, want)
	}
}

func TestSealCompoundCurrentDetails(t *testing.T) {
	st := newSealTest(t)
	var healed atomic.Bool
	flakyRoads(st, &healed)
	in := testInput()
	in.StallRetryMinutes = 30

	details := map[string]string{}
	at := func(name string, d time.Duration) {
		st.At(d, func() { details[name] = currentDetails(t, st) })
	}
	at("stalled", 5*time.Minute)
	st.At(10*time.Minute, func() { healed.Store(true) })
	at("sealed", 3*time.Hour)
	st.UpdateAt(5*time.Hour, UpdateLift, LiftInput{Reason: "all tested negative", By: "district-hq"})
	st.Run(in)
	details["lifted"] = currentDetails(t, st)

	tests := []struct {
		when string
		want []string
	}{
		{"stalled", []string{"**Seal of Longbao Jiayuan**", "setting-up", "| close-roads | **stalled** | retries ran out (1 times): close roads: connection refused |", "| checkpoints | done | 3 of 3 gates, 6 staff on duty |"}},
		{"sealed", []string{"**Seal of Longbao Jiayuan**", "incident xd-0403", "sealed", "1486 residents", "| checkpoints | done | 3 of 3 gates, 6 staff on duty |", "| close-roads | done | 2 closed, entrance by Longbao Street |", "Compliance: 1 rounds, last 3 of 3 passed"}},
		{"lifted", []string{"**Seal of Longbao Jiayuan**", "lifted", "| notify-lifted | done | lift notice in the outbox |"}},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			for _, want := range tt.want {
				if !strings.Contains(details[tt.when], want) {
					t.Errorf("current details when %s = %q, want it to contain %q", tt.when, details[tt.when], want)
				}
			}
		})
	}
}

// currentDetails reads the workflow's current details the way the Web UI
// does, through the built-in metadata query.
func currentDetails(t *testing.T, st *sealTest) string {
	t.Helper()
	v, err := st.env.QueryWorkflow("__temporal_workflow_metadata")
	if err != nil {
		t.Errorf("metadata query: %v", err)
		return ""
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Errorf("decode metadata: %v", err)
	}
	return md.GetCurrentDetails()
}
