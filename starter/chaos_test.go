package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
)

// TestChaosShort runs the short fault battery: a testing round over a small
// generated city on the native cluster, clean and then while a worker is
// killed, PostgreSQL restarted across the rounds' deadline, Temporal's history and frontend killed, an upload
// killed mid-statement and sent again, the same batch sent three times at
// once, and a worker started while Muster's database is down; beside it a
// response is started twice at once, a worker killed during its seal and
// its staffing, the response lifted twice at once during the staffing and
// a worker killed during the lift. It fails on any
// violated invariant or fault the cluster did not recover from. `make
// chaos` runs the full battery.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal cluster (run `make cluster` once to build its binaries)")
	}
	bin, frontend, uiPort, dir := clusterTest(t, "chaos", "muster")
	out, err := runCLI(t, "chaos", "--data-dir", dir, "--bin", bin, "--temporal-port", strconv.Itoa(frontend), "--ui-port", strconv.Itoa(uiPort),
		"--residents", "4000", "--communities", "4", "--seed", "7",
		"--worker-kills", "1", "--pg-restarts", "1", "--history-kills", "1", "--frontend-kills", "1", "--same-batch", "1",
		"--uploader-kills", "1", "--db-down-starts", "1", "--deadline", "30", "--timeout", "150s")
	st, _ := devenv.LoadClusterState(dir)
	for _, p := range st.Processes {
		if p.Alive() {
			t.Errorf("%s (pid %d) still runs after the battery", p.Name, p.PID)
		}
	}
	if st.PostgresDir != "" {
		os.RemoveAll(st.PostgresDir)
	}
	if err != nil {
		for _, p := range st.Processes {
			if b, rerr := os.ReadFile(p.Log); rerr == nil {
				t.Logf("%s:\n%s", p.Name, lastLinesOf(string(b), 10))
			}
		}
	}
	os.RemoveAll(dir)
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("chaos = %v", err)
	}
	for _, want := range []string{"seed 7", "kill worker", "restart PostgreSQL", "kill history", "kill frontend", "same batch, 3 stations at once",
		"restart PostgreSQL across the deadline", "kill uploader mid-statement", "start worker while Muster's database down",
		"respond twice at once", "lift during supply, twice at once", "kill worker (seal)", "kill worker (supply)", "kill worker (lift)",
		"no resident sampled twice in a round", "every workflow completed", "workflow figures = database", "clean run, wall time", "No violation"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// The invariants' SQL finds what it looks for: a step event written twice
// in a row and a notice sent twice are reported, and a step going back to
// a state it had before (running, retrying, running) is not.
func TestChaosInvariantsFindViolations(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &chaosRun{a: &app{out: &out}, ms: st, inv: map[string]*chaosInvariant{}}
	for i, ev := range []struct{ incident, wf, state string }{
		{"clean", "response/clean", "running"}, {"clean", "response/clean", "retrying"}, {"clean", "response/clean", "running"},
		{"twice", "response/twice", "running"}, {"twice", "response/twice", "running"},
	} {
		if _, err := st.DB().ExecContext(ctx, `INSERT INTO step_events (incident, workflow_id, step, state, actor, dedup_key) VALUES ($1, $2, 'seal', $3, 'test', $4)`,
			ev.incident, ev.wf, ev.state, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, incident := range []string{"clean", "twice", "twice"} {
		if _, err := st.DB().ExecContext(ctx, `INSERT INTO notices (dedup_key, incident, audience, kind, body) VALUES ($1, $2, 'residents', 'sealed', 'Sealed.')`,
			fmt.Sprint(i), incident); err != nil {
			t.Fatal(err)
		}
	}
	r.check(ctx, "clean", false)
	for _, v := range r.inv {
		if len(v.violations) > 0 {
			t.Errorf("clean incident: %s = %v, want none", v.name, v.violations)
		}
	}
	r.check(ctx, "twice", false)
	for _, name := range []string{"no step event twice", "notices once"} {
		if v := r.inv[name]; v == nil || len(v.violations) != 1 {
			t.Errorf("incident with duplicates: %s violations = %v, want 1", name, v)
		}
	}
}
