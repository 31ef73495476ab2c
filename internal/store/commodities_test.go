package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/store"
)

// medicineCounty is a small district of another shape than the reference
// whose scenario adds a commodity, medicine, with a daily need of 20 g per
// person, and a market stocking it.
const medicineCounty = `
name: medicine-county
commodities:
  - {code: medicine, name: Medicine, need_kg: 0.02}
areas:
  - code: county
    name: County
    level: district
    sites:
      - {code: county-market, name: County market, kind: market, serves: hill, stock: {medicine: 0.05, grain: 10}}
    areas:
      - code: hill
        name: Hill Community
        level: community
        areas:
          - code: hill-a
            name: Hill A
            level: compound
            population: 2000
            gates: [{code: north, name: North gate, entrance: true}]
`

// TestScenarioCommodityNeed: a commodity the scenario adds loads with its
// stock, and a supply check counts its daily need by default (2,000 people
// × 20 g = 40 kg a day against 50 kg in stock: 1.25 days, restocked).
func TestScenarioCommodityNeed(t *testing.T) {
	ctx := context.Background()
	s := loaded(t, parse(t, medicineCounty))
	// Loading twice changes nothing.
	if _, err := s.LoadScenario(ctx, parse(t, medicineCounty)); err != nil {
		t.Fatal(err)
	}
	hill := areaID(t, s, "county")
	now := time.Date(2022, 4, 3, 8, 0, 0, 0, time.UTC)
	st, err := s.CheckSupply(ctx, storeOrder(hill, now), event("inc-med", "wf", "check", "1"))
	if err != nil {
		t.Fatalf("CheckSupply() error = %v", err)
	}
	found := false
	for _, l := range st.Levels {
		if l.Commodity == "medicine" {
			found = true
			if l.NeedPerDay != 0.04 || l.Days != 1.25 || !l.Low {
				t.Errorf("medicine level = %+v, want 0.04 t a day, 1.25 days, low", l)
			}
		}
	}
	if !found || st.Ordered != 1 {
		t.Errorf("CheckSupply() levels %+v, %d ordered; want medicine counted and restocked once", st.Levels, st.Ordered)
	}
}

func storeOrder(area int64, now time.Time) store.SupplyOrder {
	return store.SupplyOrder{Incident: "inc-med", Step: "wf", AreaID: area, Need: map[string]float64{"grain": 0.4},
		MinDays: 3, TargetDays: 7, Now: now, Due: now.Add(6 * time.Hour)}
}
