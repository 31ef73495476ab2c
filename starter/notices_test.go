package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
)

// TestNoticesListAndResend lists an incident's undelivered notices, as text
// and JSON, and resends one.
func TestNoticesListAndResend(t *testing.T) {
	url := pgtest.URL(t)
	t.Setenv("DATABASE_URL", url)
	ctx := context.Background()
	if _, err := runCLI(t, "migrate"); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ev := domain.Event{Incident: "xd-0403", WorkflowID: "response/xd-0403", Step: "notice/x", State: "done"}
	if err := st.PublishNotice(ctx, store.Notice{Key: "n1", Incident: "xd-0403", Audience: "district command", Kind: "escalation", Body: "b"}, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RouteNotices(ctx, 10, func(store.RoutableNotice) []store.DeliveryPlan {
		return []store.DeliveryPlan{{Channel: "none", ChannelType: "none", AudienceClass: "command", Locale: "en", Reason: "no routes for district \"\""}}
	}); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "notices", "list", "--incident", "xd-0403", "--state", "undelivered")
	if err != nil || !strings.Contains(out, "undelivered") || !strings.Contains(out, "no routes for district") || !strings.Contains(out, "muster notices resend ID") {
		t.Fatalf("notices list = %v, %q", err, out)
	}
	out, err = runCLI(t, "notices", "list", "--incident", "xd-0403", "--output", "json")
	var list struct {
		Counts     map[string]int         `json:"counts"`
		Deliveries []store.NoticeDelivery `json:"deliveries"`
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Deliveries) != 1 || list.Counts["undelivered"] != 1 {
		t.Fatalf("notices list --output json = %v, %q", err, out)
	}
	for _, bad := range [][]string{
		{"notices", "list"},
		{"notices", "list", "--incident", "xd-0403", "--state", "lost"},
		{"notices", "resend", "abc"},
	} {
		if out, err := runCLI(t, bad...); err == nil {
			t.Errorf("muster %s = %q, want an error", strings.Join(bad, " "), out)
		}
	}
	id := fmt.Sprint(list.Deliveries[0].ID)
	if out, err := runCLI(t, "notices", "resend", id, "--by", "duty-officer", "--reason", "route added"); err != nil || !strings.Contains(out, "pending again") {
		t.Fatalf("notices resend = %v, %q", err, out)
	}
	if out, err := runCLI(t, "notices", "resend", id); err == nil {
		t.Fatalf("second resend = %q; want refused", out)
	}
	// The notice no route matched waits to be routed again.
	out, err = runCLI(t, "notices", "list", "--incident", "xd-0403")
	if err != nil || !strings.Contains(out, "1 pending") || !strings.Contains(out, "0 undelivered") {
		t.Fatalf("notices list after the resend = %v, %q", err, out)
	}
}
