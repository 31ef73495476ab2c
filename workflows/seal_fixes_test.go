package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// A lift must not wait for a compliance round that keeps stalling: the
// round is abandoned and the compound reopens at once.
func TestSealCompoundLiftEndsStalledRound(t *testing.T) {
	st := newSealTest(t)
	st.CheckCompliance = func(activities.ComplianceInput) (activities.ComplianceResult, error) {
		return activities.ComplianceResult{}, errors.New("compliance: connection refused")
	}
	in := testInput()
	in.StallRetryMinutes = 60
	// The first round starts at 2 h and stalls 123 s later.
	liftAt := 2*time.Hour + 5*time.Minute
	lift := st.UpdateAt(liftAt, UpdateLift, LiftInput{Reason: "cleared", By: "district-hq"})
	st.Run(in)

	res, err := st.Result()
	if err != nil {
		t.Fatalf("SealCompound() error = %v", err)
	}
	if lift.Rejected != nil {
		t.Fatalf("lift rejected: %v", lift.Rejected)
	}
	reopen := st.Calls("Reopen")
	if len(reopen) != 1 {
		t.Fatalf("Reopen called %d times, want 1", len(reopen))
	}
	if got := reopen[0].At.Sub(testStart); got != liftAt {
		t.Errorf("Reopen ran %s in, want right after the lift at %s", got, liftAt)
	}
	if res.ComplianceRounds != 0 {
		t.Errorf("ComplianceRounds = %d, want 0 (the stalled round was abandoned)", res.ComplianceRounds)
	}
}

// A gate that fails with bad input stalls once, for a person: the gate
// itself, not another step, is marked stalled with the error, the other
// gates are done, and nothing retries the gate on its own.
func TestSealCompoundGateFailureKeepsType(t *testing.T) {
	st := newSealTest(t)
	ok := st.OpenCheckpoint
	st.OpenCheckpoint = func(in activities.CheckpointInput) (activities.CheckpointResult, error) {
		if in.Gate.Code == "east" {
			return activities.CheckpointResult{}, temporal.NewNonRetryableApplicationError("gate east: gone", activities.ErrBadInput, nil)
		}
		return ok(in)
	}
	var p SealProgress
	st.At(6*time.Hour, func() { p = st.Progress(); st.env.CancelWorkflow() })
	st.Run(testInput())
	if east := stepNamed(p, "checkpoint/east"); east.State != StateStalled || east.Stalls != 1 || !strings.Contains(east.LastError, "gate east: gone") {
		t.Errorf("checkpoint/east = %s, %d stalls, error %q; want stalled once with the gate's error", east.State, east.Stalls, east.LastError)
	}
	for _, g := range []string{"checkpoint/north", "checkpoint/west"} {
		if s := stepNamed(p, g).State; s != StateDone {
			t.Errorf("%s state = %s, want %s", g, s, StateDone)
		}
	}
	east := 0
	for _, in := range inputs[activities.CheckpointInput](st, "OpenCheckpoint") {
		if in.Gate.Code == "east" {
			east++
		}
	}
	if east != 1 {
		t.Errorf("OpenCheckpoint(east) attempts in 6 hours = %d, want 1", east)
	}
}

// Every stall of a step reaches the event log with its own sequence number,
// so none is dropped as a duplicate.
func TestSealCompoundStallsLoggedApart(t *testing.T) {
	st := newSealTest(t)
	failing := true
	ok := st.CloseRoads
	st.CloseRoads = func(in activities.CloseRoadsInput) (activities.CloseRoadsResult, error) {
		if failing {
			return activities.CloseRoadsResult{}, errors.New("close roads: connection refused")
		}
		return ok(in)
	}
	in := testInput()
	in.StallRetryMinutes = 10
	// Two stalls: at 123 s and after the automatic retry's eight attempts.
	st.At(time.Hour, func() { failing = false })
	st.UpdateAt(3*time.Hour, UpdateLift, LiftInput{Reason: "done"})
	st.Run(in)
	var seqs []string
	for _, e := range inputs[domain.Event](st, "RecordEvent") {
		if e.Step == "close-roads" && e.State == StateStalled {
			seqs = append(seqs, e.Seq)
		}
	}
	if len(seqs) < 2 || seqs[0] == seqs[1] || strings.Join(seqs, ",") == "" {
		t.Errorf("stall events Seq = %v, want at least two distinct", seqs)
	}
}
