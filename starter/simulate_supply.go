package main

// The demo's field for staff supply: people acknowledging their
// mobilization notices and suppliers confirming restock deliveries, the
// way the sampling stations upload samples.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/internal/store"
)

// supplySim plays the field of an incident's staff-supply steps: everyone
// acknowledges after a tick except every skipEvery-th assignment (which
// lapses and is reassigned, as on a real day), and every restock shipment
// is delivered in full deliverAfter ticks after it is seen.
type supplySim struct {
	incident     string
	tick         time.Duration
	skipEvery    int64
	deliverAfter int
}

func (a *app) simulateSupply(ctx context.Context, c client.Client, st *store.Store, o supplySim) error {
	seen, sighted := map[int64]int{}, map[int64]bool{}
	t := time.NewTicker(o.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		as, err := st.Assignments(ctx, o.incident, "")
		if err != nil {
			return err
		}
		// Everyone answers at once, as people do.
		var wg sync.WaitGroup
		for _, x := range as {
			if x.State != "notified" || (o.skipEvery > 0 && x.ID%o.skipEvery == 0) {
				continue
			}
			// People read their notice a moment after it is sent, by when
			// the step knows the assignment too.
			if !sighted[x.ID] {
				sighted[x.ID] = true
				continue
			}
			wg.Go(func() {
				if _, err := api.Acknowledge(ctx, st, c, x.ID, x.Staff); err != nil && ctx.Err() == nil {
					// A deadline that passed a moment ago: the post went
					// to someone else, as it should.
					a.say("Field: %s could not acknowledge assignment %d: %v", x.Staff, x.ID, err)
				}
			})
		}
		wg.Wait()
		open, err := st.Shipments(ctx, o.incident, true)
		if err != nil {
			return err
		}
		for _, sh := range open {
			seen[sh.ID]++
			if seen[sh.ID] < o.deliverAfter {
				continue
			}
			if _, err := st.ConfirmDelivery(ctx, store.Delivery{Shipment: sh.ID, Tonnes: sh.Tonnes, By: sh.Site}, time.Now()); err != nil {
				return fmt.Errorf("deliver shipment %d: %w", sh.ID, err)
			}
			a.say("Field: %s delivered %g t of %s for %s (shipment %d).", sh.Site, sh.Tonnes, sh.Commodity, sh.Area, sh.ID)
		}
	}
}

// supplyReport sums up what the incident's staff-supply steps did.
func supplyReport(ctx context.Context, st *store.Store, incident string) (string, error) {
	r, err := st.SupplyTotals(ctx, incident)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Staff supply: %d assignments (%d acknowledged, %d lapsed and reassigned), %d passes (%d revoked with the seals), %d restock orders, %d delivered (%.1f t).",
		r.Assigned, r.Acknowledged, r.Lapsed, r.Passes, r.Revoked, r.Orders, r.Delivered, r.Tonnes), nil
}
