// Package temporaltest starts what end-to-end tests run against: a Temporal
// dev server from the pinned temporal CLI, with Muster's search attributes,
// and a worker with every workflow and activity on a task queue of the
// test's own. The tests of a package share one dev server: each has its own
// task queue and incident IDs, so they do not see each other's workflows and
// may run in parallel.
// Tests that stop and restart the server or the worker on purpose (the
// fault tests) start their own.
package temporaltest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/metrics"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// shared is the dev server the tests of this process share.
var shared struct {
	sync.Mutex
	srv *testsuite.DevServer
}

// Server returns the dev server of the package's tests, with the settings
// the demo uses on a small machine, starting it for the first test that
// asks. pgtest.Main stops it once the tests have run; in a package whose
// TestMain does not call pgtest.Main, each test gets a server of its own,
// stopped when the test ends. The server's log goes to a temporary file,
// removed with it. Under -short the test is skipped: it needs the temporal
// CLI (`make tools`, or MUSTER_TEMPORAL_BIN).
func Server(t testing.TB) *testsuite.DevServer {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the temporal CLI and a dev server (run `make test`)")
	}
	shared.Lock()
	defer shared.Unlock()
	if shared.srv != nil {
		return shared.srv
	}
	srv, stop, err := start(0)
	if err != nil {
		t.Fatal(err)
	}
	if pgtest.AfterAll(stop) {
		shared.srv = srv
	} else {
		t.Cleanup(stop)
	}
	return srv
}

// ServerWithUI starts a dev server of the test's own with the Web UI on
// uiPort, for tests that drive the UI in a browser; it stops when the test
// ends.
func ServerWithUI(t testing.TB, uiPort int) *testsuite.DevServer {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the temporal CLI and a dev server (run `make test`)")
	}
	srv, stop, err := start(uiPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return srv
}

// start starts a dev server and returns the function that stops it.
func start(uiPort int) (*testsuite.DevServer, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := devenv.TemporalBinary()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "muster-temporal-")
	if err != nil {
		return nil, nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "temporal.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	srv, err := devenv.StartTemporal(ctx, devenv.TemporalOptions{Bin: bin, SearchAttributes: workflows.SearchAttributes, Output: logFile, UIPort: uiPort})
	if err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return srv, func() {
		srv.Stop()
		logFile.Close()
		os.RemoveAll(dir)
	}, nil
}

// Worker runs Muster's workflows and activities against st on a task
// queue of the test's own (named after prefix), reporting to a metrics
// registry of its own as muster-worker does, until the test ends.
func Worker(t testing.TB, c client.Client, st *store.Store, prefix string) (taskQueue string, m *metrics.Metrics) {
	t.Helper()
	m, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	wc, err := client.NewClientFromExisting(c, client.Options{
		MetricsHandler: m.Handler,
		Logger:         tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		t.Fatal(err)
	}
	taskQueue = pgtest.Name(prefix)
	w := service.NewWorker(wc, taskQueue, st)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return taskQueue, m
}
