package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
)

// simStack is a database with the reference scenario and one open round
// over Longbao whose four points have unequal capacities.
func simStack(t *testing.T) (dbURL string, st *store.Store, roundID int64) {
	t.Helper()
	ctx := context.Background()
	dbURL = pgtest.URL(t)
	t.Setenv("DATABASE_URL", dbURL)
	if out, err := runCLI(t, "scenario", "load", "--reference"); err != nil {
		t.Fatalf("scenario load: %v %s", err, out)
	}
	st, err := service.OpenStore(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	longbao, err := st.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	opens := time.Now()
	plan, err := st.OpenRound(ctx, "sim-1", longbao.ID, 1, opens, opens.Add(7*time.Hour),
		domain.Event{Incident: "sim-1", WorkflowID: "response/sim-1/testing", Step: "open", State: "done"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `UPDATE round_points rp SET capacity_per_hour = c.cap
		FROM (SELECT site_id, (ARRAY[150, 250, 400, 600])[row_number() OVER (ORDER BY site_id)] AS cap
		      FROM round_points WHERE round_id = $1) c
		WHERE rp.round_id = $1 AND rp.site_id = c.site_id`, plan.RoundID); err != nil {
		t.Fatal(err)
	}
	return dbURL, st, plan.RoundID
}

// lockedBuffer collects what a simulation running in a goroutine says.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestSimulatePacesEachPointAtItsCapacity(t *testing.T) {
	dbURL, st, roundID := simStack(t)
	ctx := context.Background()
	var out lockedBuffer
	a := &app{out: &out, errOut: &out}
	a.cfg.DatabaseURL = dbURL
	defer a.close()
	// An hour of the round lasts a second: after 1.5 s the 150-an-hour
	// point has sampled about 225 and the 600-an-hour one about 900.
	sctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	o := simOptions{incident: "sim-1", pace: 1, timeScale: 3600, batch: 5000, cohorts: "student", tick: 100 * time.Millisecond, seed: 1}
	if err := a.simulate(sctx, o); err != nil {
		t.Fatalf("simulate = %v\n%s", err, out.String())
	}
	rows, err := st.DB().QueryContext(ctx, `SELECT rp.capacity_per_hour, count(s.tube)
		FROM round_points rp LEFT JOIN samples s ON s.round_id = rp.round_id AND s.point_id = rp.site_id
		WHERE rp.round_id = $1 GROUP BY rp.capacity_per_hour ORDER BY 1`, roundID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var perHour []float64
	var got []string
	for rows.Next() {
		var capacity, n int
		if err := rows.Scan(&capacity, &n); err != nil {
			t.Fatal(err)
		}
		perHour = append(perHour, float64(n)/float64(capacity))
		got = append(got, fmt.Sprintf("%d/h: %d", capacity, n))
	}
	if len(perHour) != 4 {
		t.Fatalf("points = %v, want 4", got)
	}
	// Each point sampled for the same time, so samples ÷ capacity is the
	// same hours for all; one rate for every point would make it differ
	// four-fold between the slowest and the fastest.
	lo, hi := perHour[0], perHour[0]
	for _, h := range perHour {
		lo, hi = min(lo, h), max(hi, h)
	}
	if lo <= 0.5 || hi/lo > 1.3 {
		t.Errorf("samples per point = %v: hours worked %.2f to %.2f; want about 1.5 h at every point", got, lo, hi)
	}
	t.Logf("samples per point after 1.5 s (1.5 scenario hours): %v", got)
	if !strings.Contains(out.String(), "150/h") {
		t.Errorf("simulate said %q, want each point's capacity", out.String())
	}
}

func TestSimulateFollowEndsWhenTheResponseCloses(t *testing.T) {
	dbURL, st, roundID := simStack(t)
	ctx := context.Background()
	if _, err := st.DB().ExecContext(ctx, `INSERT INTO responses (incident, runbook, area_path) VALUES ('sim-1', 'community-outbreak-level-1', 'xiaodian')`); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	a := &app{out: &out, errOut: &out}
	a.cfg.DatabaseURL = dbURL
	defer a.close()
	done := make(chan error, 1)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	go func() {
		done <- a.simulate(sctx, simOptions{incident: "sim-1", pace: 0, timeScale: 1, batch: 5000, tick: 50 * time.Millisecond, follow: true})
	}()
	if _, err := st.CloseRound(ctx, roundID, domain.Event{Incident: "sim-1", WorkflowID: "response/sim-1/testing", Step: "close", State: "done"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("simulate --follow ended while the response was open: %v\n%s", err, out.String())
	case <-time.After(time.Second):
	}
	if _, err := st.DB().ExecContext(ctx, `UPDATE responses SET state = 'closed', closed_at = now() WHERE incident = 'sim-1'`); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "is closed") {
			t.Errorf("simulate --follow = %v, said %q; want it done once the response closed", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("simulate --follow still running 10 s after the response closed\n%s", out.String())
	}
}

func TestSimulateWaitsOutAnOutage(t *testing.T) {
	dbURL, st, roundID := simStack(t)
	ctx := context.Background()
	// The simulation reaches PostgreSQL through a port that refuses
	// connections for its first two seconds.
	rest := strings.TrimPrefix(dbURL, "postgres://")
	at := strings.IndexByte(rest, '@')
	slash := strings.IndexByte(rest, '/')
	upstream := rest[at+1 : slash]
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().String()
	l.Close()
	var out lockedBuffer
	a := &app{out: &out, errOut: &out}
	a.cfg.DatabaseURL = strings.Replace(dbURL, upstream, port, 1)
	defer a.close()
	done := make(chan error, 1)
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	go func() {
		done <- a.simulate(sctx, simOptions{incident: "sim-1", pace: 0, timeScale: 1, batch: 5000, tick: 50 * time.Millisecond, retryFor: time.Minute})
	}()
	time.Sleep(2 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("simulate with PostgreSQL down ended: %v\n%s", err, out.String())
	default:
	}
	l, err = net.Listen("tcp", port)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
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
	}()
	// Once the round is fully sampled the test closes it and the
	// simulation, which does not follow, ends.
	deadline := time.Now().Add(90 * time.Second)
	for {
		var n int
		if err := st.DB().GetContext(ctx, &n, `SELECT count(*) FROM samples WHERE round_id = $1`, roundID); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sample uploaded 90 s after PostgreSQL came back\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := st.CloseRound(ctx, roundID, domain.Event{Incident: "sim-1", WorkflowID: "response/sim-1/testing", Step: "close", State: "done"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("simulate = %v, want done", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("simulate still running after its round closed")
	}
	if !strings.Contains(out.String(), "database unavailable") || !strings.Contains(out.String(), "retrying in") {
		t.Errorf("simulate said %q, want it to say what it retried", out.String())
	}
}
