package workflows

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// failingSetupRunbook seals the compounds and tells the residents at once,
// then tests and asks about the lift: the shape whose unknown area once
// failed the seal while `parallel` read done and the rest went ahead.
const failingSetupRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: setup
    parallel:
      - id: seal
        for_each:
          areas:
            level: compound
            under: xiaodian/nowhere
          steps:
            - id: seal-compound
              kind: seal
      - id: tell
        kind: notice
        params:
          audience: residents
          topic: residents-told
          body: "{area}: stay at home."
  - id: after
    kind: notice
    params:
      audience: residents
      topic: testing-starts
      body: Testing starts.
  - id: approve-lift
    kind: approval
    params:
      question: Lift?
      timeout: 1h
      default: approve
`

// failingSealRunbook seals every compound; one compound's plan is bad input.
const failingSealRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: seal
    for_each:
      areas:
        level: compound
      steps:
        - id: seal-compound
          kind: seal
  - id: after
    kind: notice
    params:
      audience: residents
      topic: testing-starts
      body: Testing starts.
`

// TestResponseFailedStepStopsSequence: a step that fails inside parallel or
// for_each fails the enclosing step and stops its sequence: the rest does
// not run, and the response reads failed, naming the step (and the area).
func TestResponseFailedStepStopsSequence(t *testing.T) {
	t.Run("unknown area in parallel", func(t *testing.T) {
		rt := newResponseTest(t, failingSetupRunbook)
		rt.SelectAreas = func(in activities.SelectAreasInput) ([]activities.Area, error) {
			if in.Under == "xiaodian/nowhere" {
				// As the activity classifies the store's error: the cause's
				// root says only "not found".
				return nil, temporal.NewNonRetryableApplicationError(`area "xiaodian/nowhere": not found`, activities.ErrUnknownArea,
					fmt.Errorf(`area "xiaodian/nowhere": %w`, domain.ErrNotFound))
			}
			return testCompounds[in.Under], nil
		}
		rt.Run(testResponseInput())
		p, err := rt.Result()
		if err != nil {
			t.Fatalf("Response() error = %v", err)
		}
		if n := nodeOf(p, "setup/seal"); n.State != StateFailed || !strings.Contains(n.Detail, "xiaodian/nowhere") {
			t.Errorf("setup/seal = %s %q, want failed naming the area", n.State, n.Detail)
		}
		if n := nodeOf(p, "setup"); n.State != StateFailed || !strings.Contains(n.Detail, "setup/seal") {
			t.Errorf("setup = %s %q, want failed naming setup/seal", n.State, n.Detail)
		}
		for _, path := range []string{"after", "approve-lift"} {
			if n := nodeOf(p, path); n.State != StateSkipped {
				t.Errorf("%s = %s, want skipped after the failure", path, n.State)
			}
		}
		if got := len(rt.Notices("testing-starts")); got != 0 {
			t.Errorf("notices after the failed setup = %d, want 0", got)
		}
		if p.State != ResponseFailed || p.Root.State != StateFailed || !strings.Contains(p.Root.Detail, "setup/seal") {
			t.Errorf("Response() = %s, root %s %q; want failed naming setup/seal", p.State, p.Root.State, p.Root.Detail)
		}
	})

	// A seal whose plan is bad input stalls for a person instead of
	// failing; aborted, it fails the for_each and stops the sequence.
	t.Run("one compound of a for_each, aborted", func(t *testing.T) {
		rt := newResponseTest(t, failingSealRunbook)
		plan := rt.PlanSeal
		rt.PlanSeal = func(in activities.PlanSealInput) (activities.PlanSealResult, error) {
			if in.Compound == "longbao-xinyuan" {
				return activities.PlanSealResult{}, temporal.NewNonRetryableApplicationError("compound longbao-xinyuan has no gates", activities.ErrBadInput, nil)
			}
			return plan(in)
		}
		rt.AnswerSignalsOfGoneChildren()
		stalled := rt.ProgressAt(3 * time.Hour)
		abort := rt.UpdateAt(4*time.Hour, UpdateAbort, StepAction{Step: "seal/longbao-xinyuan", Reason: "no gates on file", By: "district-hq"})
		lift := rt.UpdateAt(6*time.Hour, UpdateLift, LiftInput{Reason: "seal failed, lift the rest", By: "district-hq"})
		mid := rt.ProgressAt(5 * time.Hour)
		rt.Run(testResponseInput())
		p, err := rt.Result()
		if err != nil {
			t.Fatalf("Response() error = %v", err)
		}
		if n := nodeOf(*stalled, "seal/longbao-xinyuan"); stalled.State == ResponseFailed || n.State != StateStalled || !strings.Contains(n.LastError, "no gates") {
			t.Errorf("at 3h: response %s, seal/longbao-xinyuan %s (%q); want the step stalled for a person, the response not failed", stalled.State, n.State, n.LastError)
		}
		if got := len(inputs[activities.PlanSealInput](rt.sealTest, "PlanSeal")); got != 3 {
			t.Errorf("PlanSeal attempts = %d, want 3: one per compound, no retry of the bad one", got)
		}
		if !abort.Accepted || abort.Err != nil {
			t.Errorf("abort of the stalled seal: accepted %v, rejected %v, error %v", abort.Accepted, abort.Rejected, abort.Err)
		}
		if mid.State != ResponseFailed {
			t.Errorf("Response at 5h = %s, want failed while the other seals hold", mid.State)
		}
		if n := nodeOf(*mid, "seal"); n.State != StateFailed || !strings.Contains(n.Detail, "seal/longbao-xinyuan") {
			t.Errorf("seal at 5h = %s %q, want failed naming seal/longbao-xinyuan", n.State, n.Detail)
		}
		if n := nodeOf(*mid, "after"); n.State != StateSkipped {
			t.Errorf("after = %s, want skipped", n.State)
		}
		if !lift.Accepted {
			t.Errorf("lift of the failed response: accepted %v, error %v", lift.Accepted, lift.Err)
		}
		if p.State != ResponseFailed || p.FinishedAt.IsZero() {
			t.Errorf("Response() = %s finished %s, want failed and finished", p.State, p.FinishedAt)
		}
		if got := len(rt.Notices("testing-starts")); got != 0 {
			t.Errorf("notices after the failed seal = %d, want 0", got)
		}
	})
}
