// Package temporaltest starts what end-to-end tests run against: a Temporal
// dev server from the pinned temporal CLI, with Muster's search attributes,
// and a worker with every workflow and activity on a task queue of the
// test's own. Tests that stop and restart the server or the worker on
// purpose (the fault tests) start their own.
package temporaltest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/metrics"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/service"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// Server starts a dev server for the test, with the settings the demo uses
// on a small machine, and stops it when the test ends. Its log goes to a
// file in the test's temporary directory. Under -short the test is skipped:
// it needs the temporal CLI (`make tools`, or MUSTER_TEMPORAL_BIN).
func Server(t testing.TB) *testsuite.DevServer {
	t.Helper()
	return start(t, 0)
}

// ServerWithUI is Server with the Web UI on uiPort, for tests that drive
// the UI in a browser.
func ServerWithUI(t testing.TB, uiPort int) *testsuite.DevServer {
	t.Helper()
	return start(t, uiPort)
}

func start(t testing.TB, uiPort int) *testsuite.DevServer {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the temporal CLI and a dev server (run `make test`)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := devenv.TemporalBinary()
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(t.TempDir(), "temporal.log"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := devenv.StartTemporal(ctx, devenv.TemporalOptions{Bin: bin, SearchAttributes: workflows.SearchAttributes, Output: logFile, UIPort: uiPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		logFile.Close()
	})
	return srv
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
