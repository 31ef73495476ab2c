package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
)

// TestSupplyCommands: stock reports, deliveries and passes from the CLI,
// with the bad input a field team sends.
func TestSupplyCommands(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	t.Setenv("DATABASE_URL", dbURL)
	if out, err := runCLI(t, "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, out)
	}
	if out, err := runCLI(t, "scenario", "load", "--reference"); err != nil {
		t.Fatalf("scenario load: %v %s", err, out)
	}
	st, err := service.OpenStore(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	longbao, err := st.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.OpenResponse(ctx, store.Response{Incident: "xd-0403", Runbook: "r", Level: 1, AreaPath: longbao.Path}, domain.Event{Incident: "xd-0403", WorkflowID: "w", Step: "open", State: "done"}); err != nil {
		t.Fatal(err)
	}
	status, err := st.CheckSupply(ctx, store.SupplyOrder{Incident: "xd-0403", Step: "response/xd-0403/supply", AreaID: longbao.ID,
		Need: map[string]float64{"vegetables": 0.5}, MinDays: 3, TargetDays: 7, Now: now, Due: now.Add(6 * time.Hour)},
		domain.Event{Incident: "xd-0403", WorkflowID: "response/xd-0403/supply", Step: "check", State: "done"})
	if err != nil || status.Ordered != 1 {
		t.Fatalf("CheckSupply() = %+v, %v; want one order for Longbao's vegetables", status, err)
	}
	ship := status.Levels[0].Order

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown commodity", []string{"supply", "report-stock", "meiteihao-kangning", "beer", "3"}, `rows[0].commodity: unknown commodity "beer"`},
		{"negative stock", []string{"supply", "report-stock", "--", "meiteihao-kangning", "milk", "-3"}, "rows[0].tonnes: -3 must not be negative"},
		{"not a supplier", []string{"supply", "report-stock", "longbao-sampling-01", "milk", "3"}, `rows[0].site: "longbao-sampling-01" is not a supplier`},
		{"not a number", []string{"supply", "report-stock", "meiteihao-kangning", "milk", "lots"}, `rows[0].tonnes: "lots" is not a number`},
		{"absurd delivery", []string{"supply", "deliver", itoa(ship.ID), "--tonnes", "5000"}, "tonnes: 5000 is more than three times"},
		{"unknown shipment", []string{"supply", "deliver", "999999", "--tonnes", "1"}, "no shipment 999999"},
		{"unknown area", []string{"supply", "stock", "atlantis"}, `area "atlantis"`},
		{"pass window backwards", []string{"supply", "pass", "issue", "xd-0403", "--plate", "JIN-A1", "--area", "longbao", "--from", "2022-04-04T08:00:00+08:00", "--to", "2022-04-03T08:00:00+08:00"}, "to: the window ends"},
		{"unknown pass", []string{"supply", "pass", "verify", "PS-NOPE"}, "not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := runCLI(t, c.args...)
			if err == nil || !strings.Contains(err.Error()+out, c.want) {
				t.Errorf("muster %s = %v %q, want an error containing %q", strings.Join(c.args, " "), err, out, c.want)
			}
		})
	}
	if n, _ := st.Stock(ctx, "", "longbao"); len(n) == 0 {
		t.Fatal("no stock for Longbao")
	}
	if out, err := runCLI(t, "supply", "report-stock", "meiteihao-kangning", "milk", "2.5"); err != nil || !strings.Contains(out, "Recorded 1") {
		t.Errorf("report-stock = %v %q", err, out)
	}
	if out, err := runCLI(t, "supply", "deliver", itoa(ship.ID), "--tonnes", "20"); err != nil || !strings.Contains(out, "delivered") {
		t.Errorf("deliver = %v %q", err, out)
	}
	from, to := now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)
	out, err := runCLI(t, "-o", "json", "supply", "pass", "issue", "xd-0403", "--plate", "JIN-A1", "--area", "longbao", "--from", from, "--to", to)
	if err != nil {
		t.Fatalf("pass issue = %v %q", err, out)
	}
	code := out[strings.Index(out, "PS-") : strings.Index(out, "PS-")+15]
	if out, err := runCLI(t, "supply", "pass", "verify", code, "--area", "longbao-jiayuan"); err != nil || !strings.Contains(out, "VALID") {
		t.Errorf("pass verify = %v %q, want valid", err, out)
	}
	out, err = runCLI(t, "supply", "pass", "verify", code, "--at", now.Add(2*time.Hour).Format(time.RFC3339))
	var nv errPassNotValid
	if !errors.As(err, &nv) || exitCode(err) != 3 || !strings.Contains(out, "EXPIRED") {
		t.Errorf("pass verify after its window = %v (exit %d) %q, want EXPIRED and exit status 3", err, exitCode(err), out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
