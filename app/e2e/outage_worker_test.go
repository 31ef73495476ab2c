package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/app/temporaltest"
	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// TestWorkerStartsWhileDatabaseDown starts a worker whose DATABASE_URL
// points at a port nothing listens on. The worker must start and poll
// anyway: a seal started meanwhile answers its progress query, and its
// first activity fails and is retried, saying the database is not ready.
// When PostgreSQL answers on that port the worker prepares the database
// and the seal goes on to hold.
func TestWorkerStartsWhileDatabaseDown(t *testing.T) {
	t.Parallel()
	srv := temporaltest.Server(t)
	ctx := context.Background()

	// The test's own connection reaches PostgreSQL directly; the worker's
	// goes through a port that refuses connections until it is opened.
	realURL := pgtest.URL(t)
	st, err := store.Open(ctx, realURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ref, err := scenario.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadScenario(ctx, ref.Rows()); err != nil {
		t.Fatal(err)
	}
	upstream, err := hostPort(realURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := quietPort()
	if err != nil {
		t.Fatal(err)
	}
	downURL := strings.Replace(realURL, upstream, fmt.Sprintf("127.0.0.1:%d", port), 1)

	var logs syncBuffer
	cfg := config.Config{
		DatabaseURL: downURL,
		TaskQueue:   pgtest.Name("outage-worker"),
		LogLevel:    slog.LevelInfo,
		Temporal:    client.Options{HostPort: srv.FrontendHostPort(), Namespace: "default"},
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = service.RunWorker(wctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	t.Cleanup(func() {
		stop()
		<-done
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	})
	select {
	case <-done:
		t.Fatalf("RunWorker() with PostgreSQL down returned at once: %v", runErr)
	case <-time.After(2 * time.Second):
	}

	area, err := st.AreaByCode(ctx, "longbao-jiayuan")
	if err != nil {
		t.Fatal(err)
	}
	incident := pgtest.Name("down")
	in := workflows.SealCompoundInput{Incident: incident, Compound: area.Code, TimeScale: 3600, CheckEveryHours: 2, RequestedBy: "e2e"}
	id, _, err := service.StartSeal(ctx, srv.Client(), cfg.TaskQueue, in, area)
	if err != nil {
		t.Fatal(err)
	}
	progress := func() (workflows.SealProgress, error) {
		var p workflows.SealProgress
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		v, err := srv.Client().QueryWorkflow(qctx, id, "", workflows.QueryProgress)
		if err != nil {
			return p, err
		}
		return p, v.Get(&p)
	}
	p, err := progress()
	if err != nil {
		t.Fatalf("progress query with PostgreSQL down = %v, want an answer", err)
	}
	if p.Incident != incident || p.Phase == workflows.PhaseSealed {
		t.Fatalf("progress with PostgreSQL down = incident %q, phase %q; want %q, not yet sealed", p.Incident, p.Phase, incident)
	}
	eventually(t, 30*time.Second, "an activity retried because the database is not ready", func() (bool, string) {
		desc, err := srv.Client().DescribeWorkflow(ctx, id, "")
		if err != nil {
			return false, err.Error()
		}
		pending := desc.RawResponse.GetPendingActivities()
		if len(pending) == 0 {
			return false, "no pending activity"
		}
		a := pending[0]
		if a.GetAttempt() > 1 && strings.Contains(a.GetLastFailure().GetMessage(), "database not ready") {
			return true, ""
		}
		return false, fmt.Sprintf("%s attempt %d: %s", a.GetActivityType().GetName(), a.GetAttempt(), a.GetLastFailure().GetMessage())
	})
	if !strings.Contains(logs.String(), "database unavailable") {
		t.Errorf("worker log does not say it is retrying the database:\n%s", logs.String())
	}

	// PostgreSQL comes back on the worker's port.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go forward(l, upstream)
	upAt := time.Now()
	eventually(t, 90*time.Second, "the seal holding once PostgreSQL is back", func() (bool, string) {
		p, err := progress()
		if err != nil {
			return false, err.Error()
		}
		return p.Phase == workflows.PhaseSealed, "phase " + p.Phase
	})
	t.Logf("sealed %s after PostgreSQL came back", time.Since(upAt).Round(time.Millisecond))
	if !strings.Contains(logs.String(), "Database ready") {
		t.Errorf("worker log does not say the database is ready:\n%s", logs.String())
	}
}

// hostPort returns the host:port of a postgres:// URL.
func hostPort(raw string) (string, error) {
	rest, ok := strings.CutPrefix(raw, "postgres://")
	if !ok {
		return "", fmt.Errorf("%q is not a postgres:// URL", raw)
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return rest, nil
}

// forward copies every connection accepted on l to upstream until l closes.
func forward(l net.Listener, upstream string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", upstream)
		if err != nil {
			c.Close()
			continue
		}
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

// syncBuffer is a log destination that goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
