package workflows

import (
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
)

// shortPool makes the district's pool cover only the north gate until
// refilled is set: east and west get nobody.
func shortPool(st *sealTest, refilled *atomic.Bool) {
	st.OpenCheckpoint = func(in activities.CheckpointInput) (activities.CheckpointResult, error) {
		res := activities.CheckpointResult{Gate: in.Gate.Code, Mode: "closed"}
		if in.Gate.Entrance {
			res.Mode = "entry"
		}
		if in.Gate.Code != "north" && !refilled.Load() {
			res.Shortfall = in.RequiredStaff
			return res, nil
		}
		for i := range in.RequiredStaff {
			res.Staff = append(res.Staff, "worker-"+in.Gate.Code+"-"+string(rune('a'+i)))
		}
		return res, nil
	}
}

func TestSealCompoundUnderstaffed(t *testing.T) {
	st := newSealTest(t)
	var refilled atomic.Bool
	shortPool(st, &refilled)
	in := testInput()
	in.CheckEveryHours = 2

	type look struct {
		p       SealProgress
		sa      map[string]any
		details string
	}
	var short, staffed look
	st.At(time.Hour, func() { short = look{st.Progress(), st.SearchAttributes(), currentDetails(t, st)} })
	// Staff come back to the pool after the first round drew nobody.
	st.At(3*time.Hour, func() { refilled.Store(true) })
	st.At(5*time.Hour, func() { staffed = look{st.Progress(), st.SearchAttributes(), currentDetails(t, st)} })
	st.UpdateAt(7*time.Hour, UpdateLift, LiftInput{Reason: "all tested negative", By: "district-hq"})
	st.Run(in)
	if _, err := st.Result(); err != nil {
		t.Fatalf("SealCompound() error = %v, want nil", err)
	}

	t.Run("understaffed until staffed", func(t *testing.T) {
		if got := stepNamed(short.p, "hold").State; got != StateUnderstaffed {
			t.Errorf("hold state with 2 gates short = %q, want %q", got, StateUnderstaffed)
		}
		if got := short.sa["MusterStepState"]; got != StateUnderstaffed {
			t.Errorf("MusterStepState with 2 gates short = %v, want %q", got, StateUnderstaffed)
		}
		if short.p.OpenGates != 2 {
			t.Errorf("Progress().OpenGates with 2 gates short = %d, want 2", short.p.OpenGates)
		}
		if !strings.Contains(short.details, "2 of 3 gates unstaffed") {
			t.Errorf("current details = %q, want 2 of 3 gates unstaffed", short.details)
		}
		if got := stepNamed(staffed.p, "hold").State; got != StateHolding {
			t.Errorf("hold state once staffed = %q, want %q", got, StateHolding)
		}
		if got := staffed.sa["MusterStepState"]; got != StateHolding {
			t.Errorf("MusterStepState once staffed = %v, want %q", got, StateHolding)
		}
		if staffed.p.OpenGates != 0 {
			t.Errorf("Progress().OpenGates once staffed = %d, want 0", staffed.p.OpenGates)
		}
	})

	t.Run("shortfalls draw from the pool before each round", func(t *testing.T) {
		var east []time.Duration
		for _, c := range st.Calls("OpenCheckpoint") {
			if c.Input.(activities.CheckpointInput).Gate.Code == "east" {
				east = append(east, c.At.Sub(testStart))
			}
		}
		// Set up at 0, drawn again before round 1 (2h, pool still empty)
		// and round 2 (4h, refilled); staffed from then on.
		if want := []time.Duration{0, 2 * time.Hour, 4 * time.Hour}; !slices.Equal(east, want) {
			t.Errorf("OpenCheckpoint(east) at %v, want %v", east, want)
		}
		north := 0
		for _, c := range st.Calls("OpenCheckpoint") {
			if c.Input.(activities.CheckpointInput).Gate.Code == "north" {
				north++
			}
		}
		if north != 1 {
			t.Errorf("OpenCheckpoint(north) called %d times, want 1: it was staffed", north)
		}
	})

	t.Run("escalated once with the numbers", func(t *testing.T) {
		var esc []activities.NoticeInput
		for _, n := range inputs[activities.NoticeInput](st, "PublishNotice") {
			if strings.HasPrefix(n.Kind, "seal-understaffed") {
				esc = append(esc, n)
			}
		}
		if len(esc) != 1 {
			t.Fatalf("seal-understaffed notices = %d, want 1 for one shortfall", len(esc))
		}
		if esc[0].Audience != "district command" {
			t.Errorf("escalation audience = %q, want district command", esc[0].Audience)
		}
		if want := "Longbao Jiayuan: 2 of 3 gates unstaffed"; !strings.Contains(esc[0].Body, want) {
			t.Errorf("escalation body = %q, want it to contain %q", esc[0].Body, want)
		}
		if esc[0].Message != MsgSealUnderstaffed || esc[0].Args["open"] != "2" || esc[0].Args["gates"] != "3" {
			t.Errorf("escalation message = %q %v, want %q with 2 of 3 gates", esc[0].Message, esc[0].Args, MsgSealUnderstaffed)
		}
		checkRendersInChinese(t, esc[0], "Longbao Jiayuan：3个卡口中有2个无人值守")
	})
}

func TestSealStaffing(t *testing.T) {
	parse := func(t *testing.T, src string) *runbook.Definition {
		t.Helper()
		def, err := runbook.Parse("test", []byte(src), Kinds)
		if err != nil {
			t.Fatalf("Parse() error = %v", err)
		}
		return def
	}
	const head = "name: t\ntitle: T\nlevel: 1\nsteps:\n  - id: seal\n    for_each:\n      areas: {level: compound}\n      steps:\n        - id: s\n          kind: seal\n"
	tests := []struct {
		name        string
		src         string
		per, shifts int
		ok          bool
	}{
		{"defaults", head, 2, 3, true},
		{"12h shifts", head + "          params: {staff_per_checkpoint: 3, shift: 12h}\n", 3, 2, true},
		{"a shift that does not divide the day", head + "          params: {shift: 10h}\n", 2, 3, true},
		{"no seal", "name: t\ntitle: T\nlevel: 1\nsteps:\n  - id: w\n    kind: wait\n    params: {duration: 1h}\n", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			per, shifts, ok := SealStaffing(parse(t, tt.src))
			if per != tt.per || shifts != tt.shifts || ok != tt.ok {
				t.Errorf("SealStaffing() = %d, %d, %v; want %d, %d, %v", per, shifts, ok, tt.per, tt.shifts, tt.ok)
			}
		})
	}
	n := StaffingNeed{Gates: 1086, PerCheckpoint: 2, Shifts: 3, Registry: 336}
	if got, want := n.String(), "1,086 gates × 2 per shift × 3 shifts = 6,516 staff; the registry has 336"; got != want {
		t.Errorf("StaffingNeed.String() = %q, want %q", got, want)
	}
	if !n.Short() {
		t.Errorf("StaffingNeed%+v.Short() = false, want true", n)
	}
	if (StaffingNeed{Gates: 3, PerCheckpoint: 2, Shifts: 3, Registry: 18}).Short() {
		t.Error("StaffingNeed{3 gates, 2, 3 shifts, 18}.Short() = true, want false: 18 cover every shift")
	}
}

// Shifts: every 8 hours the staff on duty are relieved and every gate is
// staffed afresh for the next shift from those rested; compliance rounds
// keep their time across shift changes.
func TestSealCompoundShifts(t *testing.T) {
	st := newSealTest(t)
	in := testInput()
	in.CheckEveryHours, in.ShiftHours = 3, 8

	var mid SealProgress
	var midDetails string
	st.At(9*time.Hour, func() { mid, midDetails = st.Progress(), currentDetails(t, st) })
	st.UpdateAt(20*time.Hour, UpdateLift, LiftInput{Reason: "all tested negative", By: "district-hq"})
	st.Run(in)
	if _, err := st.Result(); err != nil {
		t.Fatalf("SealCompound() error = %v, want nil", err)
	}

	var relieved []int
	var at []time.Duration
	for _, c := range st.Calls("RelieveShift") {
		relieved = append(relieved, c.Input.(activities.RelieveInput).Shift)
		at = append(at, c.At.Sub(testStart))
	}
	if want := []int{2, 3}; !slices.Equal(relieved, want) {
		t.Errorf("RelieveShift shifts = %v, want %v", relieved, want)
	}
	if want := []time.Duration{8 * time.Hour, 16 * time.Hour}; !slices.Equal(at, want) {
		t.Errorf("RelieveShift at %v, want %v", at, want)
	}
	perShift := map[int]int{}
	for _, c := range inputs[activities.CheckpointInput](st, "OpenCheckpoint") {
		perShift[c.Shift]++
		if c.Shift > 1 && c.Rest != 16*time.Hour {
			t.Errorf("OpenCheckpoint(%s, shift %d).Rest = %s, want 16h: the rest of the day", c.Gate.Code, c.Shift, c.Rest)
		}
	}
	if want := map[int]int{0: 3, 2: 3, 3: 3}; !maps.Equal(perShift, want) {
		t.Errorf("OpenCheckpoint calls per shift = %v, want %v: every gate staffed afresh each shift", perShift, want)
	}
	var rounds []time.Duration
	for _, c := range st.Calls("CheckCompliance") {
		rounds = append(rounds, c.At.Sub(testStart))
	}
	if want := []time.Duration{3 * time.Hour, 6 * time.Hour, 9 * time.Hour, 12 * time.Hour, 15 * time.Hour, 18 * time.Hour}; !slices.Equal(rounds, want) {
		t.Errorf("CheckCompliance at %v, want every 3h regardless of shifts: %v", rounds, want)
	}
	if mid.Shift != 2 || !mid.ShiftEndsAt.Equal(testStart.Add(16*time.Hour)) {
		t.Errorf("Progress() at 9h: shift %d ending %s, want shift 2 ending 16h in", mid.Shift, mid.ShiftEndsAt.Sub(testStart))
	}
	if want := "shift 2 of 8h"; !strings.Contains(midDetails, want) {
		t.Errorf("current details at 9h = %q, want it to contain %q", midDetails, want)
	}
}

// What the pool and the volunteers cannot fill is asked of the command
// center: the seal awaits a decision; approved, the open gates draw on
// staff from outside the district; unanswered, the request lapses.
func TestSealCompoundOutsideStaff(t *testing.T) {
	for _, tt := range []struct {
		name      string
		decide    bool
		wantState string
		wantStep  string
	}{
		{"approved", true, StateHolding, "approved by duty-officer: 4 staff from outside the district"},
		{"unanswered", false, StateUnderstaffed, "no answer by the deadline; the gates stay open"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := newSealTest(t)
			var never atomic.Bool
			shortPool(st, &never)
			pool := st.OpenCheckpoint
			st.OpenCheckpoint = func(in activities.CheckpointInput) (activities.CheckpointResult, error) {
				if !in.Outside {
					return pool(in)
				}
				res := activities.CheckpointResult{Gate: in.Gate.Code, Mode: "closed"}
				for i := range in.RequiredStaff {
					res.Staff = append(res.Staff, "outside-"+in.Gate.Code+"-"+string(rune('a'+i)))
				}
				return res, nil
			}
			in := testInput()
			in.CheckEveryHours = 2
			var asked SealProgress
			var askedSA map[string]any
			st.At(2*time.Hour+30*time.Minute, func() { asked, askedSA = st.Progress(), st.SearchAttributes() })
			if tt.decide {
				st.At(3*time.Hour, func() {
					st.env.SignalWorkflow(SignalDecide, Decision{Step: "seal/longbao-jiayuan", Decision: "approve", By: "duty-officer"})
				})
			}
			var after SealProgress
			var afterSA map[string]any
			st.At(5*time.Hour, func() { after, afterSA = st.Progress(), st.SearchAttributes() })
			st.UpdateAt(7*time.Hour, UpdateLift, LiftInput{Reason: "all tested negative", By: "district-hq"})
			st.Run(in)
			if _, err := st.Result(); err != nil {
				t.Fatalf("SealCompound() error = %v", err)
			}
			if got := stepNamed(asked, "request-outside-staff"); got.State != StateAwaitingDecision || !strings.Contains(got.Detail, "4 staff from outside the district for 2 open gates") {
				t.Errorf("request step when asked = %s %q, want awaiting-decision for 4 staff and 2 gates", got.State, got.Detail)
			}
			if askedSA["MusterStepState"] != StateAwaitingDecision || askedSA["MusterStep"] != "request-outside-staff" {
				t.Errorf("search attributes when asked = %v / %v, want request-outside-staff awaiting-decision", askedSA["MusterStep"], askedSA["MusterStepState"])
			}
			if got := stepNamed(after, "request-outside-staff"); got.State != StateDone || got.Detail != tt.wantStep {
				t.Errorf("request step after = %s %q, want done %q", got.State, got.Detail, tt.wantStep)
			}
			if got := stepNamed(after, "hold").State; got != tt.wantState || afterSA["MusterStepState"] != tt.wantState {
				t.Errorf("hold after = %s (search attribute %v), want %s", got, afterSA["MusterStepState"], tt.wantState)
			}
			outside := 0
			for _, c := range inputs[activities.CheckpointInput](st, "OpenCheckpoint") {
				if c.Outside {
					outside++
				}
			}
			if want := map[bool]int{true: 2, false: 0}[tt.decide]; outside != want {
				t.Errorf("OpenCheckpoint calls drawing outside staff = %d, want %d", outside, want)
			}
		})
	}
}
