package activities

import (
	"context"
	"reflect"
	"testing"

	"github.com/musterhq/muster/internal/store"
)

// TestOpenCheckpoints opens every gate of a compound in one call, twice:
// the same checkpoints, staff and events as one OpenCheckpoint a gate, and
// nothing added the second time. A gate that cannot be opened is listed as
// failed while the others open.
func TestOpenCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _ := newActivities(t)
	rf := ref("inc-gates")
	plan, err := a.PlanSeal(ctx, PlanSealInput{Ref: rf, Compound: "longbao-jiayuan", Runbook: "seal-compound", Level: 1})
	if err != nil {
		t.Fatal(err)
	}
	in := CheckpointsInput{Ref: rf, AreaID: plan.AreaID, Gates: plan.Gates, RequiredStaff: 2}
	first, err := a.OpenCheckpoints(ctx, in)
	if err != nil {
		t.Fatalf("OpenCheckpoints() error = %v", err)
	}
	if len(first.Opened) != len(plan.Gates) || len(first.Failed) != 0 {
		t.Fatalf("OpenCheckpoints() = %+v, want %d gates opened, none failed", first, len(plan.Gates))
	}
	for i, g := range plan.Gates {
		if got := first.Opened[i]; got.Gate != g.Code || len(got.Staff) != 2 || got.Shortfall != 0 {
			t.Errorf("OpenCheckpoints().Opened[%d] = %+v, want gate %s with 2 staff", i, got, g.Code)
		}
	}
	again, err := a.OpenCheckpoints(ctx, in)
	if err != nil {
		t.Fatalf("OpenCheckpoints() again error = %v", err)
	}
	if !reflect.DeepEqual(again, first) {
		t.Errorf("OpenCheckpoints() again = %+v, want %+v as the first call", again, first)
	}
	recs, err := a.Store.SealRecords(ctx, "inc-gates", plan.AreaID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.SealRecords{Checkpoints: 3, OpenCheckpoints: 3, StaffOnDuty: 6, StaffAssigned: 6}); recs != want {
		t.Errorf("SealRecords() = %+v, want %+v", recs, want)
	}
	for _, g := range plan.Gates {
		if n := count(t, a, `SELECT count(*) FROM step_events WHERE incident = $1 AND step = $2`, "inc-gates", "checkpoint/"+g.Code); n != 1 {
			t.Errorf("events of step checkpoint/%s = %d, want 1", g.Code, n)
		}
	}

	// A gate without its ID is bad input: it fails, the others open.
	bad := append([]GatePlan{{Code: "nowhere", Name: "No gate"}}, plan.Gates...)
	res, err := a.OpenCheckpoints(ctx, CheckpointsInput{Ref: ref("inc-gates-bad"), AreaID: plan.AreaID, Gates: bad, RequiredStaff: 1})
	if err != nil {
		t.Fatalf("OpenCheckpoints(a bad gate) error = %v", err)
	}
	if len(res.Failed) != 1 || res.Failed[0].Gate != "nowhere" || len(res.Opened) != len(plan.Gates) {
		t.Errorf("OpenCheckpoints(a bad gate) = %+v, want gate nowhere failed and %d opened", res, len(plan.Gates))
	}
	if _, err := a.OpenCheckpoints(ctx, CheckpointsInput{AreaID: plan.AreaID, Gates: plan.Gates}); err == nil {
		t.Error("OpenCheckpoints(no workflow) error = nil, want bad input")
	}
}
