package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// TestNoticesOverHTTP lists an incident's notice deliveries by state and
// resends an undelivered one; Temporal is not needed for them.
func TestNoticesOverHTTP(t *testing.T) {
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
	ev := domain.Event{Incident: "xd-0403", WorkflowID: "response/xd-0403", Step: "notice/x", State: "done"}
	for i, aud := range []string{"residents of Longbao", "district command"} {
		if err := st.PublishNotice(ctx, store.Notice{Key: fmt.Sprint("n", i), Incident: "xd-0403", AreaID: longbao.ID, Audience: aud, Kind: "k", Body: "b"}, ev); err != nil {
			t.Fatal(err)
		}
	}
	// Route the first to a channel and park the second, as the dispatcher
	// does for a notice no route matches.
	if _, err := st.RouteNotices(ctx, 10, func(n store.RoutableNotice) []store.DeliveryPlan {
		if n.Audience == "district command" {
			return []store.DeliveryPlan{{Channel: "none", ChannelType: "none", AudienceClass: "command", Locale: "en", Reason: "no route"}}
		}
		return []store.DeliveryPlan{{Channel: "groups", ChannelType: "webhook", AudienceClass: "residents", Locale: "zh-CN"}}
	}); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Counts     map[string]int         `json:"counts"`
		Deliveries []store.NoticeDelivery `json:"deliveries"`
	}
	c.want(http.StatusOK, "GET", "/v1/incidents/xd-0403/notices?state=undelivered", nil).decode(t, &list)
	if len(list.Deliveries) != 1 || list.Deliveries[0].Reason != "no route" || list.Counts["pending"] != 1 || list.Counts["undelivered"] != 1 {
		t.Fatalf("GET notices?state=undelivered = %+v", list)
	}
	c.wantError(http.StatusBadRequest, "state", "GET", "/v1/incidents/xd-0403/notices?state=lost", nil, "pending, sent, delivered or undelivered")
	c.wantError(http.StatusBadRequest, "colour", "GET", "/v1/incidents/xd-0403/notices?colour=red", nil)
	id := list.Deliveries[0].ID
	c.wantError(http.StatusBadRequest, "extra", "POST", fmt.Sprintf("/v1/notices/%d/resend", id), `{"extra": 1}`)
	c.wantError(http.StatusNotFound, "id", "POST", "/v1/notices/999999/resend", ResendRequest{})
	var d store.NoticeDelivery
	c.want(http.StatusOK, "POST", fmt.Sprintf("/v1/notices/%d/resend", id), ResendRequest{Reason: "route added"}).decode(t, &d)
	if d.State != domain.DeliveryPending {
		t.Fatalf("resent delivery = %+v, want pending", d)
	}
	// A notice no route matched is routed again: it is pending, unrouted.
	c.want(http.StatusOK, "GET", "/v1/incidents/xd-0403/notices", nil).decode(t, &list)
	if list.Counts["pending"] != 2 || list.Counts["undelivered"] != 0 || len(list.Deliveries) != 1 {
		t.Fatalf("after the resend: %+v, want 2 pending (one routed, one to route again)", list)
	}
	// Only an undelivered notice can be resent.
	c.wantError(http.StatusConflict, "", "POST", fmt.Sprintf("/v1/notices/%d/resend", list.Deliveries[0].ID), ResendRequest{}, "undelivered")
	evs, err := st.Events(ctx, "xd-0403", "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		found = found || (e.State == "resent" && e.Actor == "test-command")
	}
	if !found {
		t.Fatalf("no resend by test-command (the credential) in the event log: %+v", evs)
	}
}
