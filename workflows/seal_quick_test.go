package workflows

import (
	"cmp"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// quickRun is what a seal showed and wrote, set up quick or not.
type quickRun struct {
	// upserts counts the search attribute upserts up to holding; sa and
	// progress are the search attributes and progress then.
	upserts  int
	sa       map[string]any
	progress SealProgress
	// finalSA are the search attributes once lifted.
	finalSA map[string]any
	batches int
	gates   []activities.CheckpointInput
	events  []domain.Event
	notices []activities.NoticeInput
	result  SealCompoundResult
}

// runQuick seals testCompound, holds it for an hour and lifts it, with
// the quick set-up or (quick false) as seals recorded before it.
func runQuick(t *testing.T, quick bool, setup func(*sealTest)) quickRun {
	t.Helper()
	st := newSealTest(t)
	if !quick {
		st.env.OnGetVersion(sealQuickChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	}
	if setup != nil {
		setup(st)
	}
	var r quickRun
	st.At(30*time.Minute, func() {
		st.mu.Lock()
		r.upserts = st.upserts
		st.mu.Unlock()
		r.sa, r.progress = st.SearchAttributes(), st.Progress()
	})
	st.UpdateAt(time.Hour, UpdateLift, LiftInput{Reason: "all negative", By: "duty-officer"})
	st.Run(testInput())
	res, err := st.Result()
	if err != nil {
		t.Fatalf("SealCompound(quick %v) error = %v", quick, err)
	}
	r.result, r.finalSA = res, st.SearchAttributes()
	r.batches = len(st.Calls("OpenCheckpoints"))
	// The seals before opened their gates by concurrent activities, in
	// whatever order the fake saw them: compare them by gate.
	r.gates = inputs[activities.CheckpointInput](st, "OpenCheckpoint")
	slices.SortFunc(r.gates, func(a, b activities.CheckpointInput) int { return cmp.Compare(a.Gate.ID, b.Gate.ID) })
	r.events = inputs[domain.Event](st, "RecordEvent")
	r.notices = inputs[activities.NoticeInput](st, "PublishNotice")
	return r
}

// A quick seal sets up with half the upserts and one activity for its
// gates, and shows, logs and notifies the same as a seal before it.
func TestSealQuickSetUp(t *testing.T) {
	old, quick := runQuick(t, false, nil), runQuick(t, true, nil)
	if old.batches != 0 || quick.batches != 1 {
		t.Errorf("OpenCheckpoints calls = %d before, %d quick; want 0 and 1", old.batches, quick.batches)
	}
	if len(quick.gates) != len(testCompound.Gates) || !reflect.DeepEqual(quick.gates, old.gates) {
		t.Errorf("gates opened quick = %+v, want %+v as before", quick.gates, old.gates)
	}
	if quick.upserts > old.upserts/2 {
		t.Errorf("search attribute upserts up to holding = %d quick, %d before; want at most half", quick.upserts, old.upserts)
	}
	t.Logf("upserts up to holding: %d before, %d quick", old.upserts, quick.upserts)
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"search attributes holding", quick.sa, old.sa},
		{"search attributes lifted", quick.finalSA, old.finalSA},
		{"progress holding", quick.progress, old.progress},
		{"events", quick.events, old.events},
		{"notices", quick.notices, old.notices},
		{"result", quick.result, old.result},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s quick = %+v\nwant as before %+v", c.name, c.got, c.want)
		}
	}
	if quick.sa[SAStepState.GetName()] != StateHolding || quick.sa[SAStep.GetName()] != "hold" {
		t.Errorf("search attributes holding = %v, want step hold, state holding", quick.sa)
	}
	if got, want := quick.sa[SAAreaPath.GetName()], domain.PathPrefixes(testCompound.Path); !reflect.DeepEqual(got, want) {
		t.Errorf("MusterAreaPath = %v, want %v", got, want)
	}
}

// A gate the batch could not open for a passing reason is opened on its
// own; the others are not opened again.
func TestSealQuickGateRetried(t *testing.T) {
	r := runQuick(t, true, func(st *sealTest) {
		ok, failed := st.OpenCheckpoint, false
		st.OpenCheckpoint = func(in activities.CheckpointInput) (activities.CheckpointResult, error) {
			if in.Gate.Code == "east" && !failed {
				failed = true
				return activities.CheckpointResult{}, errors.New("connection reset")
			}
			return ok(in)
		}
	})
	per := map[string]int{}
	for _, in := range r.gates {
		per[in.Gate.Code]++
	}
	if want := map[string]int{"north": 1, "east": 2, "west": 1}; !reflect.DeepEqual(per, want) {
		t.Errorf("OpenCheckpoint calls per gate = %v, want %v", per, want)
	}
	for _, g := range testCompound.Gates {
		if st := stepNamed(r.progress, "checkpoint/"+g.Code); st.State != StateDone || st.Detail != "2 of 2 staff" {
			t.Errorf("checkpoint/%s = %s %q, want done, 2 of 2 staff", g.Code, st.State, st.Detail)
		}
	}
	if r.sa[SAStepState.GetName()] != StateHolding {
		t.Errorf("state at 30 minutes = %v, want holding", r.sa[SAStepState.GetName()])
	}
}

// Every gate the batch activity could not reach is opened on its own.
func TestSealQuickBatchFailed(t *testing.T) {
	r := runQuick(t, true, func(st *sealTest) {
		st.OpenCheckpoints = func(activities.CheckpointsInput) (activities.CheckpointsResult, error) {
			return activities.CheckpointsResult{}, errors.New("worker lost")
		}
	})
	if len(r.gates) != len(testCompound.Gates) || r.batches != 1 {
		t.Errorf("OpenCheckpoints calls %d, OpenCheckpoint calls %d; want 1 and one a gate", r.batches, len(r.gates))
	}
	if r.progress.Phase != PhaseSealed || r.sa[SAStepState.GetName()] != StateHolding {
		t.Errorf("phase %s, state %v at 30 minutes; want sealed and holding", r.progress.Phase, r.sa[SAStepState.GetName()])
	}
}
