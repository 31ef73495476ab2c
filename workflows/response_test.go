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

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
)

// outbreakRunbook is the level-1 runbook in small: a notice, a seal per
// compound, sweeps every 2 hours until two clean ones in a row, an
// approval, the lift.
const outbreakRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: declare
    kind: notice
    params:
      audience: residents
      topic: level-1-declared
      body: "{area} declares a level-1 response ({incident})"
  - id: seal
    for_each:
      areas:
        level: compound
      steps:
        - id: seal-compound
          kind: seal
          params:
            check_every: 2h
  - id: rounds
    repeat:
      every: 2h
      max: 5
      until:
        output: failed_checks
        equals: 0
        consecutive: 2
      steps:
        - id: sweep
          kind: compliance-sweep
  - id: approve-lift
    kind: approval
    params:
      question: Lift the seals of {area}?
      timeout: 12h
      default: reject
  - id: lift
    kind: lift
    params:
      reason: compliance held and lift approved
`

// stallingRunbook has a sweep that stalls at its first failure and is
// retried automatically only after 10 hours, then two notices.
const stallingRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: sweep
    kind: compliance-sweep
    retry:
      max_attempts: 1
      stall_retry: 10h
  - id: tell-schools
    kind: notice
    params:
      audience: all schools of the district
      topic: schools-postponed
      body: Schools postpone reopening.
  - id: tell-residents
    kind: notice
    params:
      audience: residents
      topic: residents-told
      body: "{area}: stay at home."
`

var longbaoSeals = []string{"seal/longbao-jiayuan", "seal/longbao-xinyuan", "seal/longbao-yayuan"}

// withStates returns a copy of m with the given paths set to state.
func withStates(m map[string]string, state string, paths ...string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	for _, p := range paths {
		out[p] = state
	}
	return out
}

func TestResponseHappyPath(t *testing.T) {
	rt := newResponseTest(t, outbreakRunbook)
	rt.SweepFinds(1, 0, 0)
	sealed := rt.ProgressAt(time.Hour)
	awaiting := rt.ProgressAt(4*time.Hour + 30*time.Minute)
	decideAt := 5 * time.Hour
	decided := rt.UpdateAt(decideAt, UpdateDecide, Decision{Step: "approve-lift", Decision: "approve", By: "duty-officer", Reason: "two clean rounds"})
	rt.Run(testResponseInput())

	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response() error = %v, want nil", err)
	}

	t.Run("sealed, first round done", func(t *testing.T) {
		p := *sealed
		want := withStates(map[string]string{"declare": StateDone, "rounds/1/sweep": StateDone}, StateDone+"+held", longbaoSeals...)
		if got := leafStates(p); !maps.Equal(got, want) {
			t.Errorf("Progress() leaf states = %s\nwant %s", states(got), states(want))
		}
		for _, c := range []struct {
			name      string
			got, want any
		}{
			{"State", p.State, ResponseRunning},
			{"Runbook", p.Runbook, "test-outbreak"},
			{"Version", p.Version, 3},
			{"Level", p.Level, 1},
			{"Area.Code", p.Area.Code, "longbao"},
			{`Find("seal").State`, nodeOf(p, "seal").State, StateDone},
			{`Find("seal").Detail`, nodeOf(p, "seal").Detail, "3 areas"},
			{`Find("rounds").State`, nodeOf(p, "rounds").State, StateRunning},
			{`Find("rounds").Round`, nodeOf(p, "rounds").Round, 1},
			{`Find("rounds").NextAt`, nodeOf(p, "rounds").NextAt, testStart.Add(2 * time.Hour)},
			{`Find("rounds/1").Outputs[failed_checks]`, nodeOf(p, "rounds/1").Outputs["failed_checks"], 1.0},
			{`Find("approve-lift") not started`, notStarted(nodeOf(p, "approve-lift")), true},
		} {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("Progress().%s = %v, want %v", c.name, c.got, c.want)
			}
		}
		for _, path := range longbaoSeals {
			n := nodeOf(p, path)
			code := strings.TrimPrefix(path, "seal/")
			if want := SealWorkflowID("xd-0403", code); n.WorkflowID != want {
				t.Errorf("Find(%q).WorkflowID = %q, want %q", path, n.WorkflowID, want)
			}
			if n.Area == nil || n.Area.Code != code {
				t.Errorf("Find(%q).Area = %+v, want %s", path, n.Area, code)
			}
			if n.Type != KindSeal {
				t.Errorf("Find(%q).Type = %q, want %q", path, n.Type, KindSeal)
			}
		}
	})

	t.Run("rounds done, awaiting the decision", func(t *testing.T) {
		p := *awaiting
		want := withStates(map[string]string{
			"declare": StateDone, "rounds/1/sweep": StateDone, "rounds/2/sweep": StateDone, "rounds/3/sweep": StateDone,
			"approve-lift": StateAwaitingDecision,
		}, StateDone+"+held", longbaoSeals...)
		if got := leafStates(p); !maps.Equal(got, want) {
			t.Errorf("Progress() leaf states = %s\nwant %s", states(got), states(want))
		}
		if n := nodeOf(p, "rounds"); n.State != StateDone || n.Round != 3 {
			t.Errorf("Progress() rounds = %s round %d, want %s round 3", n.State, n.Round, StateDone)
		}
		if n := nodeOf(p, "approve-lift"); n.WorkflowID != ResponseWorkflowID("xd-0403")+"/approve-lift" {
			t.Errorf("Find(approve-lift).WorkflowID = %q, want %q", n.WorkflowID, ResponseWorkflowID("xd-0403")+"/approve-lift")
		}
	})

	t.Run("closed", func(t *testing.T) {
		if p.State != ResponseClosed {
			t.Errorf("Response().State = %q, want %q", p.State, ResponseClosed)
		}
		if !decided.Accepted || decided.Err != nil {
			t.Errorf("decide update: accepted %v, rejected %v, error %v; want accepted", decided.Accepted, decided.Rejected, decided.Err)
		}
		for path, state := range leafStates(p) {
			if state != StateDone {
				t.Errorf("Response() step %s = %s, want %s", path, state, StateDone)
			}
		}
		if got := len(p.Leaves()); got != 9 {
			t.Errorf("len(Response().Leaves()) = %d, want 9", got)
		}
		if n := nodeOf(p, "approve-lift"); n.Outputs["approved"] != 1 {
			t.Errorf("Response() approve-lift Outputs = %v, want approved 1", n.Outputs)
		}
		if n := nodeOf(p, "lift"); n.Outputs["lifted"] != 3 {
			t.Errorf("Response() lift Outputs = %v, want lifted 3", n.Outputs)
		}
		var reopened []int64
		for _, in := range inputs[activities.ReopenInput](rt.sealTest, "Reopen") {
			reopened = append(reopened, in.AreaID)
		}
		slices.Sort(reopened)
		if want := []int64{42, 43, 44}; !slices.Equal(reopened, want) {
			t.Errorf("Reopen area IDs = %v, want %v", reopened, want)
		}
		for _, c := range rt.Calls("Reopen") {
			if got := c.At.Sub(testStart); got != decideAt {
				t.Errorf("Reopen ran %s in, want at the decision (%s)", got, decideAt)
			}
		}
		if want := testStart.Add(decideAt); !p.FinishedAt.Equal(want) {
			t.Errorf("Response().FinishedAt = %s, want %s", p.FinishedAt, want)
		}
	})

	t.Run("activities", func(t *testing.T) {
		var sweepsAt []time.Duration
		for _, c := range rt.Calls("ComplianceSweep") {
			sweepsAt = append(sweepsAt, c.At.Sub(testStart))
		}
		if want := []time.Duration{0, 2 * time.Hour, 4 * time.Hour}; !slices.Equal(sweepsAt, want) {
			t.Errorf("ComplianceSweep ran at %v, want %v", sweepsAt, want)
		}
		if got, want := rt.sealedCompounds(), []string{"longbao-jiayuan", "longbao-xinyuan", "longbao-yayuan"}; !slices.Equal(got, want) {
			t.Errorf("PlanSeal compounds = %v, want %v", got, want)
		}
		sel := inputs[activities.SelectAreasInput](rt.sealTest, "SelectAreas")
		if len(sel) != 1 || sel[0].Under != testCommunity.Path || sel[0].Level != "compound" {
			t.Errorf("SelectAreas inputs = %+v, want one of compounds under %s", sel, testCommunity.Path)
		}
		if got := noticeKinds(rt.Notices("level-1-declared")); len(got) != 1 {
			t.Errorf("level-1-declared notices = %d, want 1", len(got))
		}
		decide := rt.EventStates("approve-lift")
		if !slices.Contains(decide, "approved") {
			t.Errorf("event log of approve-lift = %v, want an approved event", decide)
		}
		var last string
		for _, in := range inputs[activities.ResponseStateInput](rt.sealTest, "SetResponseState") {
			last = in.State
		}
		if last != ResponseClosed {
			t.Errorf("last SetResponseState = %q, want %q", last, ResponseClosed)
		}
	})
}

// TestResponseValidators sends bad operator updates while the approval
// waits: each is rejected and leaves the response as it was.
func TestResponseValidators(t *testing.T) {
	rt := newResponseTest(t, outbreakRunbook)
	rt.SweepFinds(1, 0, 0)
	cases := []struct {
		name   string
		update string
		arg    any
		want   string
	}{
		{"lift without reason", UpdateLift, LiftInput{By: "duty-officer"}, "a lift needs a reason"},
		{"escalate to the same level", UpdateEscalate, EscalateInput{Level: 1, Reason: "worse"}, "already at level 1"},
		{"escalate to level 5", UpdateEscalate, EscalateInput{Level: 5, Reason: "worse"}, "--level 5: response levels run from 1"},
		{"escalate to level 0", UpdateEscalate, EscalateInput{Level: 0, Reason: "worse"}, "--level 0: response levels run from 1"},
		{"escalate without reason", UpdateEscalate, EscalateInput{Level: 2}, "needs a reason"},
		{"decide a notice", UpdateDecide, Decision{Step: "declare", Decision: "approve"}, "not an approval"},
		{"decide maybe", UpdateDecide, Decision{Step: "approve-lift", Decision: "maybe"}, `decision "maybe": want approve or reject`},
		{"decide an unknown step", UpdateDecide, Decision{Step: "approve", Decision: "approve"}, `unknown step "approve"`},
		{"retry a step that is done", UpdateRetry, RetryInput{Step: "declare"}, "is done, not stalled"},
		{"retry the approval", UpdateRetry, RetryInput{Step: "approve-lift"}, "is awaiting-decision, not stalled"},
		{"skip without reason", UpdateSkip, StepAction{Step: "approve-lift"}, "give a reason"},
		{"skip a held seal", UpdateSkip, StepAction{Step: "seal/longbao-jiayuan", Reason: "not needed"}, "holding (lift it instead)"},
		{"abort a finished step", UpdateAbort, StepAction{Step: "rounds/1/sweep", Reason: "wrong"}, "is done: nothing to abort"},
		{"pause an unknown step", UpdatePause, StepAction{Step: "seal/nowhere", Reason: "wait"}, `unknown step "seal/nowhere"`},
		{"pause the whole response", UpdatePause, StepAction{Step: "", Reason: "wait"}, `unknown step ""`},
		{"pause a finished step", UpdatePause, StepAction{Step: "declare"}, "nothing to pause"},
		{"resume a step that runs", UpdateResume, StepAction{Step: "approve-lift"}, "is not paused"},
		{"add-area with a bad code", UpdateAddArea, AddAreaInput{Area: "Nan Ping Tou!", Reason: "cases"}, `area "Nan Ping Tou!": give an area code`},
		{"add-area of its own area", UpdateAddArea, AddAreaInput{Area: "longbao", Reason: "cases"}, "the response's own area"},
		{"add-area without reason", UpdateAddArea, AddAreaInput{Area: "nanpingtou"}, "needs a reason"},
	}
	outcomes := make([]*updateOutcome, len(cases))
	var before, after ResponseProgress
	var eventsBefore, eventsAfter, callsBefore, callsAfter int
	sendAt := 4*time.Hour + 30*time.Minute
	rt.At(sendAt, func() {
		before, eventsBefore, callsBefore = rt.Progress(), len(rt.Events()), len(rt.Calls(""))
		for i, c := range cases {
			outcomes[i] = rt.Update(c.update, c.arg)
		}
	})
	rt.At(sendAt+time.Minute, func() {
		after, eventsAfter, callsAfter = rt.Progress(), len(rt.Events()), len(rt.Calls(""))
	})
	rt.UpdateAt(5*time.Hour, UpdateDecide, Decision{Step: "approve-lift", Decision: "approve"})
	rt.Run(testResponseInput())

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := outcomes[i]
			switch {
			case o == nil || !o.Sent:
				t.Fatalf("update %s(%+v) was not sent", c.update, c.arg)
			case o.Accepted || o.Completed:
				t.Fatalf("update %s(%+v) accepted (result %v, error %v), want rejected", c.update, c.arg, o.Result, o.Err)
			case o.Rejected == nil:
				t.Fatalf("update %s(%+v) neither accepted nor rejected, want rejected", c.update, c.arg)
			case !strings.Contains(o.Rejected.Error(), c.want):
				t.Errorf("update %s(%+v) rejected with %q, want it to say %q", c.update, c.arg, o.Rejected, c.want)
			}
		})
	}
	t.Run("no effect", func(t *testing.T) {
		if before.Root == nil || !reflect.DeepEqual(before, after) {
			t.Errorf("Progress() after the rejected updates = %+v, want as before %+v", after, before)
		}
		if eventsAfter != eventsBefore {
			t.Errorf("event log grew from %d to %d entries on rejected updates, want unchanged", eventsBefore, eventsAfter)
		}
		if callsAfter != callsBefore {
			t.Errorf("activity calls grew from %d to %d on rejected updates, want unchanged", callsBefore, callsAfter)
		}
	})
	p, err := rt.Result()
	if err != nil || p.State != ResponseClosed || p.Level != 1 || len(p.Added) != 0 {
		t.Errorf("Response() = state %s, level %d, added %v, error %v; want closed at level 1, nothing added", p.State, p.Level, p.Added, err)
	}
}

// TestResponseRejectedApproval lets the approval time out: its default,
// reject, stops the runbook before the lift step, and the seals hold
// until the command center lifts the response.
func TestResponseRejectedApproval(t *testing.T) {
	rt := newResponseTest(t, outbreakRunbook)
	rt.SweepFinds(1, 0, 0)
	// The approval starts at 4 h and times out 12 h later.
	holding := rt.ProgressAt(18 * time.Hour)
	liftAt := 20 * time.Hour
	var reopenedBefore int
	rt.At(liftAt-time.Minute, func() { reopenedBefore = len(rt.Calls("Reopen")) })
	lifted := rt.UpdateAt(liftAt, UpdateLift, LiftInput{Reason: "the command center lifts the seals", By: "district-hq"})
	rt.Run(testResponseInput())

	t.Run("holding", func(t *testing.T) {
		p := *holding
		approve := nodeOf(p, "approve-lift")
		if approve.State != StateDone || approve.Outputs["approved"] != 0 {
			t.Errorf("Progress() approve-lift = %s %v, want %s with approved 0", approve.State, approve.Outputs, StateDone)
		}
		if !strings.HasPrefix(approve.Detail, "rejected by timeout") {
			t.Errorf("Progress() approve-lift Detail = %q, want rejected by timeout…", approve.Detail)
		}
		if want := testStart.Add(16 * time.Hour); !approve.FinishedAt.Equal(want) {
			t.Errorf("Progress() approve-lift FinishedAt = %s, want %s", approve.FinishedAt, want)
		}
		if n := nodeOf(p, "lift"); n.State != StateSkipped {
			t.Errorf("Progress() lift State = %q, want %q", n.State, StateSkipped)
		}
		if p.Root.State != StateDone || !strings.Contains(p.Root.Detail, "approve-lift: not approved") {
			t.Errorf("Progress().Root = %s %q, want %s, stopped at approve-lift: not approved", p.Root.State, p.Root.Detail, StateDone)
		}
		for _, path := range longbaoSeals {
			if n := nodeOf(p, path); !n.Held {
				t.Errorf("Progress() %s Held = false, want true", path)
			}
		}
		if p.State != ResponseHolding {
			t.Errorf("Progress().State = %q, want %q", p.State, ResponseHolding)
		}
		if reopenedBefore != 0 {
			t.Errorf("Reopen called %d times before the lift, want 0", reopenedBefore)
		}
	})

	t.Run("lifted", func(t *testing.T) {
		p, err := rt.Result()
		if err != nil {
			t.Fatalf("Response() error = %v", err)
		}
		if !lifted.Accepted || lifted.Err != nil {
			t.Errorf("lift update: accepted %v, rejected %v, error %v; want accepted", lifted.Accepted, lifted.Rejected, lifted.Err)
		}
		if p.State != ResponseClosed || p.LiftedBy != "district-hq" {
			t.Errorf("Response() = %s lifted by %q, want %s lifted by district-hq", p.State, p.LiftedBy, ResponseClosed)
		}
		if got := len(rt.Calls("Reopen")); got != 3 {
			t.Errorf("Reopen called %d times, want 3", got)
		}
		for _, path := range longbaoSeals {
			if n := nodeOf(p, path); n.Held || n.State != StateDone {
				t.Errorf("Response() %s = %s held %v, want %s, not held", path, n.State, n.Held, StateDone)
			}
		}
		if n := nodeOf(p, "lift"); n.State != StateSkipped {
			t.Errorf("Response() lift State = %q, want %q", n.State, StateSkipped)
		}
		if want := testStart.Add(liftAt); !p.FinishedAt.Equal(want) {
			t.Errorf("Response().FinishedAt = %s, want %s", p.FinishedAt, want)
		}
		if got := rt.EventStates("response"); !slices.Contains(got, ResponseLifting) {
			t.Errorf("event log of the response = %v, want %s", got, ResponseLifting)
		}
		var recorded []string
		for _, in := range inputs[activities.ResponseStateInput](rt.sealTest, "SetResponseState") {
			recorded = append(recorded, in.State)
		}
		if want := []string{ResponseRunning, ResponseHolding, ResponseClosed}; !slices.Equal(recorded, want) {
			t.Errorf("SetResponseState states = %v, want %v", recorded, want)
		}
	})
}

func TestResponseDeadlineAndEscalation(t *testing.T) {
	rt := newResponseTest(t, `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: observe
    kind: wait
    params:
      duration: 3h
    deadline: 2h
    escalate:
      - after: 1h
        notify: district-command
        message: the observation is still running
`)
	escalated := rt.ProgressAt(90 * time.Minute)
	overdue := rt.ProgressAt(150 * time.Minute)
	rt.Run(testResponseInput())
	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response() error = %v", err)
	}

	for _, c := range []struct {
		name      string
		p         ResponseProgress
		state     string
		escalated int
		overdue   bool
	}{
		{"after 1h30", *escalated, StateRunning, 1, false},
		{"after 2h30", *overdue, StateOverdue, 1, true},
		{"at the end", p, StateDone, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := nodeOf(c.p, "observe")
			if n.State != c.state {
				t.Errorf("Progress() observe State = %q, want %q", n.State, c.state)
			}
			if n.Escalated != c.escalated || n.Overdue != c.overdue {
				t.Errorf("Progress() observe Escalated, Overdue = %d, %v, want %d, %v", n.Escalated, n.Overdue, c.escalated, c.overdue)
			}
			if want := testStart.Add(2 * time.Hour); !n.DeadlineAt.Equal(want) {
				t.Errorf("Progress() observe DeadlineAt = %s, want %s", n.DeadlineAt, want)
			}
		})
	}
	t.Run("notices and events", func(t *testing.T) {
		if n := nodeOf(p, "observe"); !n.FinishedAt.Equal(testStart.Add(3 * time.Hour)) {
			t.Errorf("observe FinishedAt = %s, want %s", n.FinishedAt, testStart.Add(3*time.Hour))
		}
		esc := rt.Notices("escalation/")
		if len(esc) != 1 {
			t.Fatalf("escalation notices = %v, want 1", noticeKinds(esc))
		}
		in := esc[0].Input.(activities.NoticeInput)
		if in.Kind != "escalation/observe/1" || in.Audience != "district-command" || in.Body != "the observation is still running" || esc[0].At.Sub(testStart) != time.Hour {
			t.Errorf("escalation notice = %s to %q: %q at %s, want escalation/observe/1 to district-command at 1h0m0s",
				in.Kind, in.Audience, in.Body, esc[0].At.Sub(testStart))
		}
		od := rt.Notices("overdue/")
		if len(od) != 1 || od[0].Input.(activities.NoticeInput).Kind != "overdue/observe" || od[0].At.Sub(testStart) != 2*time.Hour {
			t.Errorf("overdue notices = %v, want overdue/observe at 2h", noticeKinds(od))
		} else {
			wantMessage(t, od[0].Input.(activities.NoticeInput), MsgStepOverdue)
		}
		want := []string{StateRunning, "escalated", StateOverdue, StateDone}
		if got := rt.EventStates("observe"); !slices.Equal(got, want) {
			t.Errorf("event log of observe = %v, want %v", got, want)
		}
	})
}

// sweepFailsUntil makes every compliance sweep fail with a retryable error
// until healed is set.
func sweepFailsUntil(rt *responseTest, healed *atomic.Bool) {
	rt.ComplianceSweep = func(activities.SweepInput) (activities.SweepResult, error) {
		if !healed.Load() {
			return activities.SweepResult{}, errors.New("sweep: connection refused")
		}
		return activities.SweepResult{Checked: 9}, nil
	}
}

func TestResponseStallAndRetry(t *testing.T) {
	rt := newResponseTest(t, stallingRunbook)
	var healed atomic.Bool
	sweepFailsUntil(rt, &healed)
	stalled := rt.ProgressAt(30 * time.Minute)
	retryAt := time.Hour
	rt.At(retryAt-time.Second, func() { healed.Store(true) })
	retried := rt.UpdateAt(retryAt, UpdateRetry, RetryInput{Step: "sweep", By: "duty-officer"})
	rt.Run(testResponseInput())

	t.Run("stalled", func(t *testing.T) {
		n := nodeOf(*stalled, "sweep")
		if n.State != StateStalled {
			t.Errorf("Progress() sweep State = %q, want %q", n.State, StateStalled)
		}
		if n.Inner != "sweep" || n.Stalls != 1 || !strings.Contains(n.LastError, "connection refused") {
			t.Errorf("Progress() sweep Inner, Stalls, LastError = %q, %d, %q; want sweep, 1, connection refused", n.Inner, n.Stalls, n.LastError)
		}
		if n := nodeOf(*stalled, "tell-schools"); !notStarted(n) {
			t.Errorf("Progress() tell-schools State = %q, want not started", n.State)
		}
		notices := rt.Notices("stalled/")
		if got := noticeKinds(notices); !slices.Equal(got, []string{"stalled/sweep/1"}) {
			t.Errorf("stall notices = %v, want [stalled/sweep/1]", got)
		} else if in := notices[0].Input.(activities.NoticeInput); !strings.Contains(in.Body, "connection refused") || in.Audience != "command center" {
			t.Errorf("stall notice = %q to %q, want the error, to the command center", in.Body, in.Audience)
		} else {
			wantMessage(t, in, MsgStepStalled)
		}
	})

	t.Run("healed by retry", func(t *testing.T) {
		p, err := rt.Result()
		if err != nil {
			t.Fatalf("Response() error = %v", err)
		}
		if !retried.Accepted || retried.Err != nil {
			t.Errorf("retry update: accepted %v, rejected %v, error %v; want accepted", retried.Accepted, retried.Rejected, retried.Err)
		}
		want := map[string]string{"sweep": StateDone, "tell-schools": StateDone, "tell-residents": StateDone}
		if got := leafStates(p); !maps.Equal(got, want) {
			t.Errorf("Response() leaf states = %s\nwant %s", states(got), states(want))
		}
		if n := nodeOf(p, "sweep"); !n.FinishedAt.Equal(testStart.Add(retryAt)) {
			t.Errorf("sweep FinishedAt = %s, want %s (the operator's retry, not the automatic one)", n.FinishedAt, testStart.Add(retryAt))
		}
		if got := len(rt.Calls("ComplianceSweep")); got != 2 {
			t.Errorf("ComplianceSweep called %d times, want 2", got)
		}
		got := rt.EventStates("sweep")
		for _, want := range []string{StateStalled, "retry-requested", StateDone} {
			if !slices.Contains(got, want) {
				t.Errorf("event log of sweep = %v, want %s", got, want)
			}
		}
		if p.State != ResponseClosed {
			t.Errorf("Response().State = %q, want %q", p.State, ResponseClosed)
		}
	})
}

func TestResponseSkipAndAbort(t *testing.T) {
	for _, c := range []struct {
		update     string
		stepState  string
		rest       string
		rootState  string
		notices    int
		finishedAt time.Duration
		// bug, when set, names a known bug that makes the case fail.
		bug string
	}{
		{UpdateSkip, StateSkipped, StateDone, StateDone, 2, time.Hour, ""},
		{UpdateAbort, StateAborted, StateSkipped, StateAborted, 0, time.Hour, ""},
	} {
		t.Run(c.update, func(t *testing.T) {
			if c.bug != "" {
				t.Skip("known bug: " + c.bug)
			}
			rt := newResponseTest(t, stallingRunbook)
			var healed atomic.Bool
			sweepFailsUntil(rt, &healed)
			o := rt.UpdateAt(time.Hour, c.update, StepAction{Step: "sweep", Reason: "the sweep system is down", By: "duty-officer"})
			rt.Run(testResponseInput())
			p, err := rt.Result()
			if err != nil {
				t.Fatalf("Response() error = %v", err)
			}
			if !o.Accepted || o.Err != nil {
				t.Errorf("%s update: accepted %v, rejected %v, error %v; want accepted", c.update, o.Accepted, o.Rejected, o.Err)
			}
			want := map[string]string{"sweep": c.stepState, "tell-schools": c.rest, "tell-residents": c.rest}
			if got := leafStates(p); !maps.Equal(got, want) {
				t.Errorf("Response() leaf states = %s\nwant %s", states(got), states(want))
			}
			if n := nodeOf(p, "sweep"); !strings.Contains(n.Detail, "the sweep system is down (by duty-officer)") {
				t.Errorf("Response() sweep Detail = %q, want the reason and who", n.Detail)
			}
			if p.Root.State != c.rootState {
				t.Errorf("Response().Root.State = %q, want %q", p.Root.State, c.rootState)
			}
			if got := len(rt.Notices("schools-postponed")) + len(rt.Notices("residents-told")); got != c.notices {
				t.Errorf("notices after the sweep = %d, want %d", got, c.notices)
			}
			// The stalled sweep was cancelled, not retried at 10 h.
			if got := len(rt.Calls("ComplianceSweep")); got != 1 {
				t.Errorf("ComplianceSweep called %d times, want 1", got)
			}
			if p.State != ResponseClosed || !p.FinishedAt.Equal(testStart.Add(c.finishedAt)) {
				t.Errorf("Response() = %s at %s, want %s at %s", p.State, p.FinishedAt, ResponseClosed, testStart.Add(c.finishedAt))
			}
			if got := rt.EventStates("sweep"); !slices.Contains(got, c.stepState) {
				t.Errorf("event log of sweep = %v, want %s", got, c.stepState)
			}
		})
	}
}

func TestResponsePauseRepeat(t *testing.T) {
	rt := newResponseTest(t, `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: rounds
    repeat:
      every: 2h
      max: 5
      until:
        output: failed_checks
        equals: 0
        consecutive: 2
      steps:
        - id: sweep
          kind: compliance-sweep
`)
	rt.SweepFinds(1, 0, 0)
	paused := rt.UpdateAt(time.Hour, UpdatePause, StepAction{Step: "rounds", Reason: "staff needed elsewhere", By: "duty-officer"})
	during := rt.ProgressAt(4 * time.Hour)
	resumed := rt.UpdateAt(5*time.Hour, UpdateResume, StepAction{Step: "rounds", By: "duty-officer"})
	rt.Run(testResponseInput())
	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response() error = %v", err)
	}
	for name, o := range map[string]*updateOutcome{"pause": paused, "resume": resumed} {
		if !o.Accepted || o.Err != nil {
			t.Errorf("%s update: accepted %v, rejected %v, error %v; want accepted", name, o.Accepted, o.Rejected, o.Err)
		}
	}
	if n := nodeOf(*during, "rounds"); !n.Paused || n.Round != 1 || n.State != StateRunning {
		t.Errorf("Progress() rounds at 4h = %s, round %d, paused %v; want running, round 1, paused", n.State, n.Round, n.Paused)
	}
	var at []time.Duration
	for _, c := range rt.Calls("ComplianceSweep") {
		at = append(at, c.At.Sub(testStart))
	}
	if want := []time.Duration{0, 5 * time.Hour, 7 * time.Hour}; !slices.Equal(at, want) {
		t.Errorf("ComplianceSweep ran at %v, want %v (round 2 waits for the resume)", at, want)
	}
	if n := nodeOf(p, "rounds"); n.State != StateDone || n.Round != 3 || n.Paused {
		t.Errorf("Response() rounds = %s, round %d, paused %v; want done, round 3, not paused", n.State, n.Round, n.Paused)
	}
	if want := []string{StateRunning, "paused", "resumed", StateDone}; !slices.Equal(rt.EventStates("rounds"), want) {
		t.Errorf("event log of rounds = %v, want %v", rt.EventStates("rounds"), want)
	}
}

func TestResponseContinueAsNew(t *testing.T) {
	first := newResponseTest(t, outbreakRunbook)
	first.SweepFinds(1)
	// The history passes the limit after the first round; the response
	// continues as new at its next wake-up.
	first.At(time.Hour, func() { first.env.SetCurrentHistoryLength(500) })
	// The seals outlive the first run; its environment does not wait for them.
	first.env.SetDetachedChildWait(false)
	in := testResponseInput()
	in.HistoryLimit = 100
	first.Run(in)

	_, err := first.Result()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("Response() error = %v, want a ContinueAsNewError", err)
	}
	if can.WorkflowType == nil || can.WorkflowType.Name != ResponseName {
		t.Errorf("ContinueAsNewError.WorkflowType = %v, want %s", can.WorkflowType, ResponseName)
	}
	var next ResponseInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatalf("decode continue-as-new input: %v", err)
	}
	if next.Resume == nil {
		t.Fatalf("continue-as-new input Resume = nil, want the response's state")
	}
	carried := next.Resume.Progress
	if n := nodeOf(carried, "rounds"); n.Round != 1 || n.State != StateRunning {
		t.Errorf("Resume rounds = %s round %d, want running round 1", n.State, n.Round)
	}
	for _, path := range longbaoSeals {
		if n := nodeOf(carried, path); !n.Held {
			t.Errorf("Resume %s Held = false, want true", path)
		}
	}
	if next.Resume.Definition.Name != "test-outbreak" || next.HistoryLimit != 100 || next.Incident != "xd-0403" {
		t.Errorf("continue-as-new input = %s, limit %d, incident %s; want test-outbreak, 100, xd-0403",
			next.Resume.Definition.Name, next.HistoryLimit, next.Incident)
	}
	canAt := first.env.Now()
	// The second run counts its own history too (response-history-budget):
	// with room for it, it runs to the end.
	next.HistoryLimit = DefaultHistoryLimit

	// The second run continues from the carried state. The seals are still
	// running in the first environment; lift signals to them are answered
	// on their behalf.
	second := newResponseTest(t, outbreakRunbook)
	second.env.SetStartTime(canAt)
	second.SweepFinds(0)
	second.AnswerSignalsOfGoneChildren()
	decideAt := testStart.Add(5 * time.Hour).Sub(canAt)
	second.UpdateAt(decideAt, UpdateDecide, Decision{Step: "approve-lift", Decision: "approve"})
	second.Run(next)
	p, err := second.Result()
	if err != nil {
		t.Fatalf("second Response() error = %v", err)
	}
	if p.State != ResponseClosed {
		t.Errorf("second Response().State = %q, want %q", p.State, ResponseClosed)
	}
	for path, state := range leafStates(p) {
		if state != StateDone {
			t.Errorf("second Response() step %s = %s, want %s", path, state, StateDone)
		}
	}
	if n := nodeOf(p, "rounds"); n.Round != 3 {
		t.Errorf("second Response() rounds Round = %d, want 3", n.Round)
	}
	for _, name := range []string{"OpenResponse", "SelectAreas", "PlanSeal"} {
		if got := len(second.Calls(name)); got != 0 {
			t.Errorf("second run called %s %d times, want 0 (done before continue-as-new)", name, got)
		}
	}
	if got := len(second.Notices("level-1-declared")); got != 0 {
		t.Errorf("second run published %d level-1-declared notices, want 0", got)
	}
	if got := len(second.Calls("ComplianceSweep")); got != 2 {
		t.Errorf("second run called ComplianceSweep %d times, want 2 (rounds 2 and 3)", got)
	}
	var lifted []string
	for _, c := range second.Calls("Signal " + SignalLift) {
		lifted = append(lifted, c.Input.(string))
	}
	slices.Sort(lifted)
	var want []string
	for _, path := range longbaoSeals {
		want = append(want, ResponseWorkflowID("xd-0403")+"/"+path)
	}
	if !slices.Equal(lifted, want) {
		t.Errorf("second run lift signals = %v, want %v", lifted, want)
	}
}

func TestResponseAddArea(t *testing.T) {
	rt := newResponseTest(t, outbreakRunbook)
	rt.SweepFinds(1, 0, 0)
	// Sealing takes 2 hours, so the for_each still runs when Nanpingtou
	// joins at 1 h.
	rt.Delay["PlanSeal"] = 2 * time.Hour
	added := rt.UpdateAt(time.Hour, UpdateAddArea, AddAreaInput{Area: "nanpingtou", Reason: "cases next door", By: "district-hq"})
	sealed := rt.ProgressAt(3*time.Hour + 30*time.Minute)
	rt.UpdateAt(8*time.Hour, UpdateDecide, Decision{Step: "approve-lift", Decision: "approve"})
	rt.Run(testResponseInput())
	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response() error = %v", err)
	}
	if !added.Accepted || added.Err != nil {
		t.Fatalf("add-area update: accepted %v, rejected %v, error %v; want accepted", added.Accepted, added.Rejected, added.Err)
	}
	if got, ok := added.Result.(activities.Area); !ok || got.Code != "nanpingtou" {
		t.Errorf("add-area result = %#v, want the Nanpingtou area", added.Result)
	}
	newSeals := []string{"seal/nanpingtou-1", "seal/nanpingtou-2"}
	want := withStates(nil, StateDone+"+held", append(slices.Clone(longbaoSeals), newSeals...)...)
	got := map[string]string{}
	for path, state := range leafStates(*sealed) {
		if strings.HasPrefix(path, "seal/") {
			got[path] = state
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("Progress() seal states = %s\nwant %s", states(got), states(want))
	}
	if n := nodeOf(*sealed, "seal"); n.Detail != "5 areas" || n.State != StateDone {
		t.Errorf("Progress() seal = %s %q, want %s, 5 areas", n.State, n.Detail, StateDone)
	}
	if len(sealed.Added) != 1 || sealed.Added[0].Code != "nanpingtou" {
		t.Errorf("Progress().Added = %+v, want nanpingtou", sealed.Added)
	}
	for _, path := range newSeals {
		n := nodeOf(*sealed, path)
		code := strings.TrimPrefix(path, "seal/")
		if n.WorkflowID != SealWorkflowID("xd-0403", code) || n.Area == nil || n.Area.Code != code {
			t.Errorf("Progress() %s = workflow %q area %+v, want %s over %s", path, n.WorkflowID, n.Area, SealWorkflowID("xd-0403", code), code)
		}
		if !n.StartedAt.Equal(testStart.Add(time.Hour)) {
			t.Errorf("Progress() %s StartedAt = %s, want %s", path, n.StartedAt, testStart.Add(time.Hour))
		}
	}
	if got, want := rt.sealedCompounds(), []string{"longbao-jiayuan", "longbao-xinyuan", "longbao-yayuan", "nanpingtou-1", "nanpingtou-2"}; !slices.Equal(got, want) {
		t.Errorf("PlanSeal compounds = %v, want %v", got, want)
	}
	if got := len(rt.Calls("Reopen")); got != 5 {
		t.Errorf("Reopen called %d times, want 5", got)
	}
	if p.State != ResponseClosed {
		t.Errorf("Response().State = %q, want %q", p.State, ResponseClosed)
	}
	if got := rt.EventStates("response"); !slices.Contains(got, "area-added") {
		t.Errorf("event log of the response = %v, want area-added", got)
	}
}

func TestResponseBadInput(t *testing.T) {
	for _, c := range []struct {
		name   string
		source string
		in     func(*ResponseInput)
		want   []string
	}{
		{
			name:   "unknown level and kind",
			source: strings.Replace(strings.Replace(outbreakRunbook, "level: compound", "level: compund", 1), "kind: compliance-sweep", "kind: sweep", 1),
			want: []string{
				"runbook test-outbreak version 3 does not validate",
				`steps[1].for_each.areas.level: unknown level "compund"`,
				`steps[2].repeat.steps[0].kind: unknown kind "sweep"`,
			},
		},
		{
			name:   "missing param",
			source: strings.Replace(outbreakRunbook, "      timeout: 12h\n", "", 1),
			want:   []string{"steps[3].params.timeout: is required by kind approval"},
		},
		{
			name:   "not YAML",
			source: "steps: [",
			want:   []string{"does not validate"},
		},
		{
			name:   "runbook for another level of area",
			source: strings.Replace(outbreakRunbook, "area: community", "area: compound", 1),
			want:   []string{"runbook test-outbreak is for a compound, and longbao is a community"},
		},
		{
			name:   "bad incident",
			source: outbreakRunbook,
			in:     func(in *ResponseInput) { in.Incident = "XD 0403" },
			want:   []string{`--incident: incident "XD 0403"`},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			rt := newResponseTest(t, c.source)
			in := testResponseInput()
			if c.in != nil {
				c.in(&in)
			}
			rt.Run(in)
			_, err := rt.Result()
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != activities.ErrBadInput || !appErr.NonRetryable() {
				t.Fatalf("Response() error = %v, want a non-retryable %s error", err, activities.ErrBadInput)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Response() error = %v, want it to say %q", err, w)
				}
			}
			for _, name := range []string{"SelectAreas", "PublishNotice", "PlanSeal"} {
				if got := len(rt.Calls(name)); got != 0 {
					t.Errorf("%s called %d times, want 0", name, got)
				}
			}
		})
	}
}

// An area added after every compound is sealed still gets its seals: the
// finished for_each runs again for it, and the lift covers them.
func TestResponseAddAreaAfterForEach(t *testing.T) {
	rt := newResponseTest(t, outbreakRunbook)
	rt.SweepFinds(1, 0, 0)
	added := rt.UpdateAt(3*time.Hour, UpdateAddArea, AddAreaInput{Area: "nanpingtou", Reason: "cases next door", By: "district-hq"})
	sealed := rt.ProgressAt(3*time.Hour + 30*time.Minute)
	rt.UpdateAt(8*time.Hour, UpdateDecide, Decision{Step: "approve-lift", Decision: "approve"})
	rt.Run(testResponseInput())
	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response() error = %v", err)
	}
	if !added.Accepted || added.Err != nil {
		t.Fatalf("add-area update: accepted %v, rejected %v, error %v; want accepted", added.Accepted, added.Rejected, added.Err)
	}
	for _, path := range []string{"seal/nanpingtou-1", "seal/nanpingtou-2"} {
		if n := nodeOf(*sealed, path); !n.Held {
			t.Errorf("Progress() %s = %+v, want a held seal", path, n)
		}
	}
	if got := len(rt.Calls("Reopen")); got != 5 {
		t.Errorf("Reopen called %d times, want 5 (3 + the 2 added)", got)
	}
	if p.State != ResponseClosed {
		t.Errorf("Response().State = %q, want %q", p.State, ResponseClosed)
	}
}
