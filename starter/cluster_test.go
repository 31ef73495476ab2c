package main

import (
	"database/sql"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/pgtest"
)

// TestClusterRunsAResponse brings the native cluster up from the binaries
// `make cluster` builds, runs a seal-compound response over one compound
// of the reference scenario on it, and tears it down. It takes about half
// a minute once the binaries are built.
func TestClusterRunsAResponse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal cluster (run `make cluster` once to build its binaries)")
	}
	bin, frontend, uiPort, dir := clusterTest(t, "cluster")
	start := time.Now()
	out, err := runCLI(t, "cluster", "up", "--data-dir", dir, "--bin", bin, "--temporal-port", strconv.Itoa(frontend), "--ui-port", strconv.Itoa(uiPort))
	st, _ := devenv.LoadClusterState(dir)
	t.Cleanup(func() {
		if out, err := runCLI(t, "cluster", "down", "--data-dir", dir); err != nil {
			t.Errorf("cluster down = %v\n%s", err, out)
		}
		for _, p := range st.Processes {
			if p.Alive() {
				t.Errorf("%s (pid %d) still runs after cluster down", p.Name, p.PID)
			}
		}
		if st.PostgresDir != "" {
			os.RemoveAll(st.PostgresDir)
		}
		if t.Failed() {
			for _, p := range st.Processes {
				if b, err := os.ReadFile(p.Log); err == nil {
					t.Logf("%s:\n%s", p.Name, lastLinesOf(string(b), 10))
				}
			}
		}
		os.RemoveAll(dir)
	})
	if err != nil {
		t.Fatalf("cluster up = %v\n%s", err, out)
	}
	t.Logf("cluster up in %s", time.Since(start).Round(time.Millisecond))
	counts := map[string]int{}
	for _, p := range st.Processes {
		counts[strings.TrimRight(p.Name, "-0123456789")]++
		if !p.Alive() {
			t.Errorf("%s = stopped after cluster up, want running", p.Name)
		}
	}
	for _, svc := range devenv.TemporalServices {
		if counts["temporal-"+svc] != 1 {
			t.Errorf("temporal-%s processes = %d, want 1", svc, counts["temporal-"+svc])
		}
	}
	if counts["temporal-ui"] != 1 || counts["muster-worker"] < 2 {
		t.Errorf("processes = %v, want the UI and at least two workers", counts)
	}
	// The workers and the CLI log in as the application login, which may
	// not migrate; the owner's login is kept apart for `muster migrate`.
	if !strings.Contains(st.DatabaseURL, "://"+devenv.MusterAppLogin+":") {
		t.Errorf("DATABASE_URL = %s, want the application login %s", config.RedactedDatabaseURL(st.DatabaseURL), devenv.MusterAppLogin)
	}
	if !strings.Contains(st.MigrateDatabaseURL, "://"+devenv.MusterRole+":") {
		t.Errorf("migrate_database_url = %s, want Muster's owner login %s", config.RedactedDatabaseURL(st.MigrateDatabaseURL), devenv.MusterRole)
	}
	if db, err := sql.Open("postgres", st.DatabaseURL); err != nil {
		t.Error(err)
	} else {
		if _, err := db.Exec(`CREATE TABLE worker_ddl_probe (id int)`); err == nil {
			t.Errorf("the workers' login created a table, want no DDL")
		}
		db.Close()
	}
	out, err = runCLI(t, "cluster", "status", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "answering") || strings.Contains(out, "stopped") {
		t.Errorf("cluster status = %v\n%s", err, out)
	}

	t.Setenv(config.EnvDatabaseURL, st.DatabaseURL)
	t.Setenv("TEMPORAL_ADDRESS", st.FrontendAddr)
	if out, err := runCLI(t, "scenario", "load", "--reference"); err != nil {
		t.Fatalf("scenario load = %v\n%s", err, out)
	}
	incident := pgtest.Name("cluster")
	if out, err := runCLI(t, "respond", "--incident", incident, "--runbook", "seal-compound", "--area", "longbao-jiayuan", "--time-scale", "3600"); err != nil {
		t.Fatalf("respond = %v\n%s", err, out)
	}
	waitStatus := func(want string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			out, err := runCLI(t, "status", incident)
			if err == nil && strings.Contains(out, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("status of %s: no %q within 90 s; last:\n%s (%v)", incident, want, out, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	waitStatus("awaiting-decision")
	if out, err := runCLI(t, "step", "decide", incident, "approve-lift", "approve", "--reason", "cluster test"); err != nil {
		t.Fatalf("decide = %v\n%s", err, out)
	}
	waitStatus("· closed")
	t.Logf("response sealed and lifted on the cluster; %s in all", time.Since(start).Round(time.Millisecond))
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// clusterTest skips a test when the cluster's binaries or PostgreSQL's
// server binaries are missing, and gives it free ports for Temporal's
// frontend and Web UI, a data folder, a private PostgreSQL (DATABASE_URL
// cleared) and a task queue of its own. needs names binaries besides the
// cluster's that the test runs.
func clusterTest(t *testing.T, name string, needs ...string) (bin string, frontend, uiPort int, dir string) {
	t.Helper()
	bin, err := filepath.Abs("../bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range append([]string{devenv.TemporalServerBin, devenv.TemporalSQLToolBin, devenv.TemporalUIBin, devenv.MusterWorkerBin}, needs...) {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Skipf("needs bin/%s: run `make cluster` (or `make build` and the cluster binaries) first", b)
		}
	}
	if _, err := devenv.PostgresBinDir(); err != nil {
		t.Skipf("needs PostgreSQL server binaries for the cluster's private PostgreSQL: %v", err)
	}
	for range 50 {
		p := 20000 + rand.IntN(10000)
		if _, err := devenv.ServerPortsFrom(p); err == nil {
			frontend = p
			break
		}
	}
	uiPort, err = devenv.FreePort()
	if err != nil || frontend == 0 {
		t.Fatalf("no free ports: %v", err)
	}
	if dir, err = os.MkdirTemp("", "muster-"+name+"-test-"); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvDatabaseURL, "")
	t.Setenv(config.EnvTaskQueue, pgtest.Name(name))
	return bin, frontend, uiPort, dir
}
