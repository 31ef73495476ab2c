package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/pgtest"
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
	bin, err := filepath.Abs("../bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{devenv.TemporalServerBin, devenv.TemporalSQLToolBin, devenv.TemporalUIBin, devenv.MusterWorkerBin, "starter"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Skipf("needs bin/%s: run `make cluster` (or `make build` and the cluster binaries) first", b)
		}
	}
	if _, err := devenv.PostgresBinDir(); err != nil {
		t.Skipf("needs PostgreSQL server binaries for the cluster's private PostgreSQL: %v", err)
	}
	frontend := 0
	for range 50 {
		p := 20000 + rand.IntN(10000)
		if _, err := devenv.ServerPortsFrom(p); err == nil {
			frontend = p
			break
		}
	}
	uiPort, err := devenv.FreePort()
	if err != nil || frontend == 0 {
		t.Fatalf("no free ports: %v", err)
	}
	dir, err := os.MkdirTemp("", "muster-chaos-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvDatabaseURL, "")
	t.Setenv(config.EnvTaskQueue, pgtest.Name("chaos"))
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
