package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// TestHomeVisitsOverHTTP records a batch of home visits over real HTTP:
// taken, taken again as a no-op, and refused whole with the bad visit
// named; Temporal is not needed.
func TestHomeVisitsOverHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test")
	area, err := st.AreaByCode(ctx, "zhongfuyuan")
	if err != nil {
		t.Fatal(err)
	}
	opens := time.Date(2022, 4, 3, 17, 0, 0, 0, time.FixedZone("CST", 8*3600))
	plan, err := st.OpenRound(ctx, "xd-0403", area.ID, 1, opens, opens.Add(7*time.Hour),
		domain.Event{Incident: "xd-0403", WorkflowID: "response/xd-0403/testing", Step: "open", State: "done"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AssignHomeVisits(ctx, plan.RoundID); err != nil {
		t.Fatal(err)
	}
	visits, err := st.PendingVisits(ctx, plan.RoundID)
	if err != nil || len(visits) < 3 {
		t.Fatalf("PendingVisits() = %d, %v, want at least 3", len(visits), err)
	}
	at := opens.Add(time.Hour)
	batch := VisitBatch{Area: "zhongfuyuan", Round: 1, Visits: []store.VisitOutcome{
		{Resident: visits[0].Resident, Attempt: 1, Sampled: true, Tube: "HV-API-0", At: at},
		{Resident: visits[1].Resident, Attempt: 1, At: at},
	}}
	const path = "/v1/incidents/xd-0403/home-visits"

	r := c.with(t).do("POST", path, batch)
	var res store.VisitBatchResult
	r.decode(t, &res)
	if want := (store.VisitBatchResult{Visits: 2, Sampled: 1, Missed: 1}); r.status != http.StatusOK || res != want {
		t.Fatalf("POST home-visits = %s, want 200 with %+v", r, want)
	}
	r = c.with(t).do("POST", path, batch)
	r.decode(t, &res)
	if r.status != http.StatusOK || res.AlreadyRecorded != 2 {
		t.Errorf("POST home-visits again = %s, want 200 with 2 already recorded", r)
	}

	for _, tt := range []struct {
		name   string
		bad    store.VisitOutcome
		status int
	}{
		{"sampled without tube", store.VisitOutcome{Resident: visits[2].Resident, Attempt: 1, Sampled: true, At: at}, http.StatusBadRequest},
		{"unknown resident", store.VisitOutcome{Resident: "r-nobody", Attempt: 1, At: at}, http.StatusNotFound},
		{"other outcome", store.VisitOutcome{Resident: visits[1].Resident, Attempt: 1, Sampled: true, Tube: "HV-API-1", At: at}, http.StatusConflict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := VisitBatch{Area: "zhongfuyuan", Round: 1, Visits: []store.VisitOutcome{
				{Resident: visits[2].Resident, Attempt: 1, At: at}, tt.bad}}
			r := c.with(t).do("POST", path, bad)
			var e errorBody
			r.decode(t, &e)
			if r.status != tt.status || e.Field != "visits[1]" {
				t.Errorf("POST home-visits = %s, want %d naming visits[1]", r, tt.status)
			}
		})
	}
	if pending, _ := st.PendingVisits(ctx, plan.RoundID); len(pending) != len(visits)-2 {
		t.Errorf("pending visits after refused batches = %d, want %d (nothing of them recorded)", len(pending), len(visits)-2)
	}
	r = c.with(t).do("POST", path, VisitBatch{Area: "zhongfuyuan", Round: 2})
	if r.status != http.StatusNotFound {
		t.Errorf("POST home-visits (no such round) = %s, want 404", r)
	}
}
