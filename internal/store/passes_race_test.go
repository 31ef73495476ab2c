package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// twinCourts is a community of two sealed compounds, with a pass for the
// community as a whole.
const twinCourts = `
name: twin-courts
areas:
  - code: town
    name: Town
    level: district
    areas:
      - code: east
        name: East Community
        level: community
        areas:
          - {code: oak-court, name: Oak Court, level: compound, population: 100, gates: [{code: main, name: Main gate, entrance: true}]}
          - {code: elm-court, name: Elm Court, level: compound, population: 100, gates: [{code: main, name: Main gate, entrance: true}]}
`

// TestLiftsAtOnceRevokeCommunityPasses lifts the two seals of a community
// at the same moment, many times: a pass for the community is needed by
// neither once both are lifted, so it is revoked, whichever lift commits
// last. Each lift alone still sees the other's checkpoint open.
func TestLiftsAtOnceRevokeCommunityPasses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, twinCourts))
	courts := []int64{areaID(t, s, "oak-court"), areaID(t, s, "elm-court")}
	now := time.Now()
	for i := range 25 {
		inc := fmt.Sprintf("inc-%d", i)
		if err := s.OpenResponse(ctx, store.Response{Incident: inc, Runbook: "r", Level: 1, AreaPath: "town/east"}, event(inc, "wf", "open", "")); err != nil {
			t.Fatal(err)
		}
		for _, code := range []string{"oak-court", "elm-court"} {
			plan, err := s.SealPlan(ctx, code)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.OpenCheckpoint(ctx, store.CheckpointOrder{Incident: inc, GateID: plan.Gates[0].ID, AreaID: plan.Compound.ID, Mode: "entry"},
				func(store.CheckpointResult) domain.Event { return event(inc, "wf-"+code, "checkpoint", "") }); err != nil {
				t.Fatal(err)
			}
		}
		truck, err := s.IssueVehiclePass(ctx, store.VehiclePass{Incident: inc, Plate: "JIN-A1234", Area: "east", From: now.Add(-time.Hour), To: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, court := range courts {
			wg.Go(func() {
				if _, err := s.Reopen(ctx, inc, court, event(inc, fmt.Sprintf("wf-%d", court), "reopen", "")); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got, err := s.VerifyPass(ctx, truck.Code, time.Now(), ""); err != nil || got.Status != store.PassRevoked {
			t.Fatalf("%s: VerifyPass(community pass) after both lifts = %s, %v; want revoked", inc, got.Status, err)
		}
	}
}
