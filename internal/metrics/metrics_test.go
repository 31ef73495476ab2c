package metrics

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestServe serves the registry over HTTP and reads back a counter and a
// gauge written through the SDK handler, as workflows write them.
func TestServe(t *testing.T) {
	m, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	m.Handler.WithTags(map[string]string{"step": "publish"}).Counter("muster_step_stalled").Inc(2)
	m.Handler.WithTags(map[string]string{"area": "longbao"}).Gauge("muster_round_sampled").Update(5214)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	if err := m.Serve(ctx, addr, logger); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"# TYPE muster_step_stalled_total counter",
		`muster_step_stalled_total{step="publish"} 2`,
		`muster_round_sampled{area="longbao"} 5214`,
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics has no %q:\n%s", want, body)
		}
	}

	// A second server on the same address says what to do.
	err = m.Serve(ctx, addr, logger)
	if err == nil || !strings.Contains(err.Error(), "MUSTER_METRICS_ADDR") {
		t.Errorf("Serve(%s) again = %v, want an error naming MUSTER_METRICS_ADDR", addr, err)
	}
}
