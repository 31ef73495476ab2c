package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/app/temporaltest"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/workflows"
)

// TestWatchJSONLines follows a response with `watch -o json` from its start
// to its close: every line is one JSON snapshot, and the last one shows the
// response closed with all its steps finished.
func TestWatchJSONLines(t *testing.T) {
	ctx := context.Background()
	srv := temporaltest.Server(t)
	dbURL := pgtest.URL(t)
	st, err := service.OpenStore(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := service.PublishBuiltins(ctx, st); err != nil {
		t.Fatal(err)
	}
	wc, err := client.Dial(client.Options{HostPort: srv.FrontendHostPort()})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	taskQueue := pgtest.Name("cli-watch")
	w := service.NewWorker(wc, taskQueue, st)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("TEMPORAL_ADDRESS", srv.FrontendHostPort())
	t.Setenv("MUSTER_TASK_QUEUE", taskQueue)

	incident := pgtest.Name("watch")
	for _, args := range [][]string{
		{"scenario", "load", "--reference"},
		{"respond", "--incident", incident, "--runbook", "seal-compound", "--area", "longbao-jiayuan", "--time-scale", "3600"},
	} {
		if out, err := runCLI(t, args...); err != nil {
			t.Fatalf("muster %s = %v, %q", strings.Join(args, " "), err, out)
		}
	}
	var out, errOut bytes.Buffer
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(wctx, []string{"watch", incident, "-o", "json", "--every", "200ms"}, &out, &errOut)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for {
		s, err := runCLI(t, "status", incident)
		if err == nil && strings.Contains(s, "awaiting-decision") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s: no awaiting-decision within 90 s; last:\n%s (%v)", incident, s, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if s, err := runCLI(t, "step", "decide", incident, "approve-lift", "approve", "--reason", "watch test"); err != nil {
		t.Fatalf("decide = %v\n%s", err, s)
	}
	if err := <-done; err != nil {
		t.Fatalf("watch = %v: %s", err, errOut.String())
	}
	if errOut.Len() != 0 {
		t.Errorf("watch -o json wrote to standard error: %q", errOut.String())
	}
	var last watchSnapshot
	lines := 0
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		lines++
		last = watchSnapshot{}
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("line %d is not a snapshot: %v\n%s", lines, err, sc.Text())
		}
		if last.At.IsZero() || last.Progress.Incident != incident {
			t.Errorf("line %d = at %v, incident %q; want a time and %s", lines, last.At, last.Progress.Incident, incident)
		}
	}
	if lines < 2 {
		t.Errorf("watch printed %d snapshots, want one per refresh until the close", lines)
	}
	if last.Progress.State != workflows.ResponseClosed {
		t.Errorf("last snapshot's state = %q, want %s", last.Progress.State, workflows.ResponseClosed)
	}
	if d, n := stepsFinished(last.Progress); n == 0 || d != n {
		t.Errorf("last snapshot: %d of %d steps finished, want all", d, n)
	}
	t.Logf("%d snapshots", lines)
}
