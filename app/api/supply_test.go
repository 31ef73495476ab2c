package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// TestSupplyOverHTTP exercises the field's supply endpoints and their bad
// input over real HTTP; Temporal is not needed for them.
func TestSupplyOverHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test")
	longbao, err := st.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	ev := domain.Event{Incident: "xd-0403", WorkflowID: "response/xd-0403/supply", Step: "x", State: "done"}
	if err := st.OpenResponse(ctx, store.Response{Incident: "xd-0403", Runbook: "r", Level: 1, AreaPath: longbao.Path}, ev); err != nil {
		t.Fatal(err)
	}
	now := time.Now()

	// Stock: all or nothing, every bad row named.
	c.wantError(http.StatusBadRequest, "rows[1].commodity", "POST", "/v1/stock", StockReport{Rows: []store.StockRow{
		{Site: "meiteihao-kangning", Commodity: "milk", Tonnes: 2}, {Site: "meiteihao-kangning", Commodity: "beer", Tonnes: 2}}}, "unknown commodity", "nothing was recorded")
	c.wantError(http.StatusBadRequest, "rows[0].tonnes", "POST", "/v1/stock", StockReport{Rows: []store.StockRow{{Site: "market-01", Commodity: "milk", Tonnes: -2}}}, "negative")
	c.wantError(http.StatusBadRequest, "extra", "POST", "/v1/stock", `{"rows": [], "extra": 1}`)
	c.wantError(http.StatusBadRequest, "rows", "POST", "/v1/stock", `{"rows": []}`, "no rows")
	c.want(http.StatusOK, "POST", "/v1/stock", StockReport{Rows: []store.StockRow{{Site: "meiteihao-kangning", Commodity: "milk", Tonnes: 2}}})
	var stock struct {
		Stock []store.StockRow `json:"stock"`
	}
	c.want(http.StatusOK, "GET", "/v1/areas/longbao/stock", nil).decode(t, &stock)
	if len(stock.Stock) == 0 {
		t.Errorf("GET /v1/areas/longbao/stock = no rows")
	}
	c.wantError(http.StatusNotFound, "area", "GET", "/v1/areas/atlantis/stock", nil)

	// Deliveries.
	status, err := st.CheckSupply(ctx, store.SupplyOrder{Incident: "xd-0403", Step: ev.WorkflowID, AreaID: longbao.ID, Need: map[string]float64{"vegetables": 0.5},
		MinDays: 3, TargetDays: 7, Now: now, Due: now.Add(time.Hour)}, ev)
	if err != nil || status.Ordered != 1 {
		t.Fatalf("CheckSupply() = %+v, %v", status, err)
	}
	path := fmt.Sprintf("/v1/shipments/%d/delivery", status.Levels[0].Order.ID)
	c.wantError(http.StatusBadRequest, "tonnes", "POST", path, DeliveryRequest{Tonnes: -1})
	c.wantError(http.StatusBadRequest, "tonnes", "POST", path, DeliveryRequest{Tonnes: 1e6})
	c.wantError(http.StatusNotFound, "shipment", "POST", "/v1/shipments/999999/delivery", DeliveryRequest{Tonnes: 1})
	c.wantError(http.StatusBadRequest, "id", "POST", "/v1/shipments/abc/delivery", DeliveryRequest{Tonnes: 1})
	var sh domain.Shipment
	c.want(http.StatusOK, "POST", path, DeliveryRequest{Tonnes: 16.6}).decode(t, &sh)
	if sh.State != "delivered" {
		t.Errorf("delivery = %+v, want delivered", sh)
	}
	c.wantError(http.StatusConflict, "", "POST", path, DeliveryRequest{Tonnes: 3}, "already delivered")
	var list struct {
		Shipments []domain.Shipment `json:"shipments"`
	}
	c.want(http.StatusOK, "GET", "/v1/incidents/xd-0403/shipments?open=true", nil).decode(t, &list)
	if len(list.Shipments) != 0 {
		t.Errorf("open shipments after the delivery = %+v, want none", list.Shipments)
	}

	// Passes.
	c.wantError(http.StatusBadRequest, "to", "POST", "/v1/incidents/xd-0403/passes", store.VehiclePass{Plate: "JIN-A1", Area: "longbao", From: now, To: now.Add(-time.Hour)})
	c.wantError(http.StatusNotFound, "area", "POST", "/v1/incidents/xd-0403/passes", store.VehiclePass{Plate: "JIN-A1", Area: "atlantis", From: now, To: now.Add(time.Hour)})
	c.wantError(http.StatusNotFound, "incident", "POST", "/v1/incidents/xd-0000/passes", store.VehiclePass{Plate: "JIN-A1", Area: "longbao", From: now, To: now.Add(time.Hour)})
	var p store.Pass
	c.want(http.StatusOK, "POST", "/v1/incidents/xd-0403/passes", store.VehiclePass{Plate: "JIN-A1", Area: "longbao", From: now.Add(-time.Minute), To: now.Add(time.Hour)}).decode(t, &p)
	for _, q := range []struct{ query, want string }{
		{"", store.PassValid},
		{"?area=longbao-jiayuan", store.PassValid},
		{"?area=tenglong", store.PassWrongArea},
		{"?at=" + now.Add(2*time.Hour).UTC().Format(time.RFC3339), store.PassExpired},
	} {
		var check store.PassCheck
		c.want(http.StatusOK, "GET", "/v1/passes/"+p.Code+q.query, nil).decode(t, &check)
		if check.Status != q.want {
			t.Errorf("GET /v1/passes/%s%s = %s, want %s", p.Code, q.query, check.Status, q.want)
		}
	}
	c.wantError(http.StatusBadRequest, "at", "GET", "/v1/passes/"+p.Code+"?at=tomorrow", nil)
	c.wantError(http.StatusNotFound, "", "GET", "/v1/passes/PS-NOPE", nil)

	// Sign-ups and acknowledgements that need no workflow.
	c.wantError(http.StatusNotFound, "", "POST", "/v1/incidents/xd-0403/volunteers", store.SignUp{Area: "longbao", Key: "k", Name: "A"}, "no volunteer drive")
	c.wantError(http.StatusBadRequest, "name", "POST", "/v1/incidents/xd-0403/volunteers", store.SignUp{Area: "longbao", Key: "k"})
	if _, err := st.PlanPosts(ctx, store.PostOrder{Incident: "xd-0403", Step: ev.WorkflowID, AreaID: longbao.ID, From: now, To: now.Add(8 * time.Hour), Hours: 8, PerSamplingPoint: 1}, ev); err != nil {
		t.Fatal(err)
	}
	m, err := st.AssignStaff(ctx, store.AssignOrder{Incident: "xd-0403", Step: ev.WorkflowID, AreaID: longbao.ID, AckBy: now.Add(time.Hour)}, ev)
	if err != nil || len(m.PendingAcks) < 2 {
		t.Fatalf("AssignStaff() = %+v, %v", m, err)
	}
	a0, a1 := m.PendingAcks[0], m.PendingAcks[1]
	// The person acknowledging is the credential's: a1 cannot acknowledge
	// a0's assignment, nor claim to be a0.
	person1 := c.asNew(a1.Staff, RoleField)
	person1.wantError(http.StatusConflict, "", "POST", fmt.Sprintf("/v1/assignments/%d/ack", a0.ID), AckRequest{}, "only the person assigned")
	person1.wantError(http.StatusForbidden, "staff", "POST", fmt.Sprintf("/v1/assignments/%d/ack", a0.ID), AckRequest{Staff: a0.Staff}, "you act as "+a1.Staff)
	person1.wantError(http.StatusNotFound, "", "POST", "/v1/assignments/999999/ack", AckRequest{})
	var as struct {
		Assignments []domain.Assignment `json:"assignments"`
	}
	c.want(http.StatusOK, "GET", "/v1/incidents/xd-0403/assignments?staff="+a0.Staff, nil).decode(t, &as)
	if len(as.Assignments) != 1 || as.Assignments[0].ID != a0.ID {
		t.Errorf("GET assignments?staff=%s = %+v, want assignment %d", a0.Staff, as.Assignments, a0.ID)
	}
}
