package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/metrics"
	"github.com/musterhq/muster/internal/notify"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const secret = "test-hook-secret"

// receiver is a webhook receiver that checks signatures and deduplicates on
// idempotency keys the way a careful receiver does: a key it has taken is
// answered again with the same receipt and not processed twice.
type receiver struct {
	mu        sync.Mutex
	processed map[string]int // notices taken, per key: must end at 1
	requests  map[string]int // requests carrying the key, duplicates included
	times     map[string][]time.Time
	badSig    int
	// intercept, when set, answers a request instead (return true).
	intercept func(w http.ResponseWriter, r *http.Request, keys []string) bool
	srv       *httptest.Server
}

func newReceiver(t *testing.T, addr string) *receiver {
	rc := &receiver{processed: map[string]int{}, requests: map[string]int{}, times: map[string][]time.Time{}}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		rc.srv.Listener.Close()
		rc.srv.Listener = ln
	}
	rc.srv.Start()
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if notify.Sign(secret, r.Header.Get(notify.HeaderTimestamp), body) != r.Header.Get(notify.HeaderSignature) || r.Header.Get(notify.HeaderIdempotencyKey) == "" {
		rc.mu.Lock()
		rc.badSig++
		rc.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var keys []string
	var batch notify.WebhookBatch
	if json.Unmarshal(body, &batch) == nil && len(batch.Notices) > 0 {
		for _, n := range batch.Notices {
			keys = append(keys, n.IdempotencyKey)
		}
	} else {
		var one struct {
			Key string `json:"idempotency_key"`
		}
		json.Unmarshal(body, &one)
		keys = []string{one.Key}
	}
	rc.mu.Lock()
	now := time.Now()
	for _, k := range keys {
		rc.requests[k]++
		rc.times[k] = append(rc.times[k], now)
	}
	icpt := rc.intercept
	rc.mu.Unlock()
	if icpt != nil && icpt(w, r, keys) {
		return
	}
	rc.take(keys)
	receipts := map[string]string{}
	for _, k := range keys {
		receipts[k] = "rcpt-" + k
	}
	json.NewEncoder(w).Encode(map[string]any{"receipts": receipts})
}

func (rc *receiver) take(keys []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, k := range keys {
		if rc.processed[k] == 0 {
			rc.processed[k] = 1
		}
		// A careful receiver never processes a key twice; counting a second
		// take here would hide nothing, so processed stays 1.
	}
}

func (rc *receiver) snapshot() (processed, requests map[string]int, badSig int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	p, q := map[string]int{}, map[string]int{}
	for k, v := range rc.processed {
		p[k] = v
	}
	for k, v := range rc.requests {
		q[k] = v
	}
	return p, q, rc.badSig
}

// fixture is a district with one community of compounds, a response, and
// notices written the way steps write them.
type fixture struct {
	s         *store.Store
	url       string
	incident  string
	compounds []string
}

func newFixture(t *testing.T, compounds int, population int) *fixture {
	t.Helper()
	url := pgtest.URL(t)
	ctx := context.Background()
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db := s.DB()
	f := &fixture{s: s, url: url, incident: pgtest.Name("inc")}
	mustExec(t)(db.ExecContext(ctx, `INSERT INTO areas (code, path, level, name, scenario) VALUES ('xiaodian', 'xiaodian', 'district', 'Xiaodian', 't')`))
	mustExec(t)(db.ExecContext(ctx, `INSERT INTO areas (code, path, parent_id, level, name, population, scenario)
		SELECT 'longbao', 'xiaodian/longbao', id, 'community', 'Longbao', $1, 't' FROM areas WHERE code = 'xiaodian'`, population))
	for i := 1; i <= compounds; i++ {
		code := fmt.Sprintf("longbao-%02d", i)
		f.compounds = append(f.compounds, code)
		mustExec(t)(db.ExecContext(ctx, `INSERT INTO areas (code, path, parent_id, level, name, population, scenario)
			SELECT $1, 'xiaodian/longbao/' || $1, id, 'compound', 'Compound ' || $1, $2, 't' FROM areas WHERE code = 'longbao'`,
			code, population/compounds))
	}
	mustExec(t)(db.ExecContext(ctx, `INSERT INTO responses (incident, runbook, area_path) VALUES ($1, 'seal', 'xiaodian/longbao')`, f.incident))
	return f
}

func mustExec(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// notice writes a notice through the store's own outbox method.
func (f *fixture) notice(t *testing.T, area, audience, kind, body string) {
	t.Helper()
	ctx := context.Background()
	var areaID int64
	if area != "" {
		if err := f.s.DB().GetContext(ctx, &areaID, `SELECT id FROM areas WHERE code = $1`, area); err != nil {
			t.Fatal(err)
		}
	}
	err := f.s.PublishNotice(ctx, store.Notice{Key: f.incident + "/" + kind + "/" + area, Incident: f.incident, AreaID: areaID,
		Audience: audience, Kind: kind, Body: body},
		domain.Event{Incident: f.incident, WorkflowID: "response/" + f.incident, Step: "notice/" + kind + "/" + area, State: "done"})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) commandNotices(t *testing.T, n int) {
	for i := 0; i < n; i++ {
		f.notice(t, "", "district command", fmt.Sprintf("escalation/%d", i), fmt.Sprintf("Step %d still not done.", i))
	}
}

func writeRoutes(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "routes.yaml")
	// A new modification time each write, so the dispatcher sees the change.
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Duration(time.Now().UnixNano()%1000) * time.Millisecond)
	os.Chtimes(p, later, later)
	return p
}

func webhookRoutes(url string, batch int) string {
	return fmt.Sprintf(`districts:
  xiaodian:
    locale: en
    channels:
      command:
        type: webhook
        url: %s
        secret: ${TEST_HOOK_SECRET}
        rate: 1000
        burst: 50
        batch: %d
    routes:
      - audience: [command, department, residents, staff, workers, school]
        channels: [command]
`, url, batch)
}

func dispatcher(t *testing.T, s *store.Store, routesFile, owner string) *notify.Dispatcher {
	t.Setenv("TEST_HOOK_SECRET", secret)
	return &notify.Dispatcher{Store: s, RoutesFile: routesFile, Owner: owner, Lease: 2 * time.Second, Poll: 20 * time.Millisecond,
		Backoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, HTTP: &http.Client{Timeout: 2 * time.Second}}
}

func runDispatcher(t *testing.T, d *notify.Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitCounts(t *testing.T, s *store.Store, incident string, within time.Duration, ok func(map[string]int) bool) map[string]int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := s.NoticeCounts(context.Background(), incident)
		if err != nil {
			t.Fatal(err)
		}
		if ok(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("notice counts after %s = %v", within, c)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func allDone(n int) func(map[string]int) bool {
	return func(c map[string]int) bool {
		return c[domain.DeliveryDelivered]+c[domain.DeliverySent] == n && c[domain.DeliveryPending] == 0
	}
}

func attemptRows(t *testing.T, s *store.Store) (total, retries int) {
	t.Helper()
	if err := s.DB().QueryRowx(`SELECT count(*), count(*) FILTER (WHERE outcome = 'retry') FROM notice_attempts`).Scan(&total, &retries); err != nil {
		t.Fatal(err)
	}
	return total, retries
}

// TestReceiverDownThenUp: the receiver is down for a while; once it is back
// every notice reaches it, and none is processed twice.
func TestReceiverDownThenUp(t *testing.T) {
	f := newFixture(t, 2, 100)
	const n = 60
	f.commandNotices(t, n)
	// Reserve an address, then leave nothing listening on it: down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	routes := writeRoutes(t, t.TempDir(), webhookRoutes("http://"+addr+"/hook", 1))
	d := dispatcher(t, f.s, routes, "d1")
	m, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Register(d.Collectors()...); err != nil {
		t.Fatal(err)
	}
	stop := runDispatcher(t, d)
	time.Sleep(1500 * time.Millisecond)
	c, _ := f.s.NoticeCounts(context.Background(), f.incident)
	if c[domain.DeliveryPending] != n {
		t.Fatalf("counts while the receiver is down = %v, want %d pending", c, n)
	}
	rc := newReceiver(t, addr)
	start := time.Now()
	waitCounts(t, f.s, f.incident, 20*time.Second, allDone(n))
	stop()
	processed, requests, bad := rc.snapshot()
	if len(processed) != n || bad != 0 {
		t.Fatalf("receiver took %d notices (bad signatures %d), want %d", len(processed), bad, n)
	}
	for k, v := range requests {
		if v != 1 {
			t.Errorf("key %s came %d times after the receiver was back, want once", k, v)
		}
	}
	total, retries := attemptRows(t, f.s)
	if retries == 0 {
		t.Fatalf("no retry recorded while the receiver was down")
	}
	var unpublished int
	f.s.DB().Get(&unpublished, `SELECT count(*) FROM notices WHERE published_at IS NULL`)
	if unpublished != 0 {
		t.Fatalf("%d notices without published_at after delivery", unpublished)
	}
	rec := httptest.NewRecorder()
	m.HTTPHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`muster_notice_deliveries{state="delivered"} 60`,
		`muster_notice_deliveries{state="undelivered"} 0`,
		`muster_notice_delivery_latency_seconds_count 60`,
		`muster_notice_attempts_total{channel_type="webhook",outcome="retry"}`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	t.Logf("receiver down then up: %d notices delivered once, %d attempts (%d retries), all delivered %s after it came back",
		n, total, retries, time.Since(start).Round(10*time.Millisecond))
}

// TestRetryAfterHonoured: a 429 with Retry-After: 2 holds the next attempt
// back at least two seconds, though the backoff alone would be 50 ms.
func TestRetryAfterHonoured(t *testing.T) {
	f := newFixture(t, 1, 10)
	f.commandNotices(t, 1)
	rc := newReceiver(t, "")
	first := true
	rc.intercept = func(w http.ResponseWriter, r *http.Request, keys []string) bool {
		if first {
			first = false
			w.Header().Set("Retry-After", "2")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		}
		return false
	}
	routes := writeRoutes(t, t.TempDir(), webhookRoutes(rc.srv.URL+"/hook", 1))
	runDispatcher(t, dispatcher(t, f.s, routes, "d1"))
	waitCounts(t, f.s, f.incident, 10*time.Second, allDone(1))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for k, ts := range rc.times {
		if len(ts) != 2 {
			t.Fatalf("key %s: %d requests, want 2 (429 then 200)", k, len(ts))
		}
		if gap := ts[1].Sub(ts[0]); gap < 2*time.Second {
			t.Fatalf("retry after a 429 with Retry-After: 2 came %s later, want ≥ 2s", gap)
		} else {
			t.Logf("Retry-After 2: the retry came %s after the 429", gap.Round(10*time.Millisecond))
		}
	}
}

// TestBadRequestParkedThenResent: a 400 is not retried; the delivery is
// parked undelivered with the reason, and an operator resends it once the
// route is fixed.
func TestBadRequestParkedThenResent(t *testing.T) {
	f := newFixture(t, 1, 10)
	f.commandNotices(t, 1)
	rc := newReceiver(t, "")
	rc.intercept = func(w http.ResponseWriter, r *http.Request, keys []string) bool {
		if r.URL.Path == "/wrong" {
			http.Error(w, "no such hook", http.StatusBadRequest)
			return true
		}
		return false
	}
	dir := t.TempDir()
	routes := writeRoutes(t, dir, webhookRoutes(rc.srv.URL+"/wrong", 1))
	runDispatcher(t, dispatcher(t, f.s, routes, "d1"))
	c := waitCounts(t, f.s, f.incident, 10*time.Second, func(c map[string]int) bool { return c[domain.DeliveryUndelivered] == 1 })
	time.Sleep(300 * time.Millisecond)
	ds, err := f.s.ListDeliveries(context.Background(), store.NoticeFilter{Incident: f.incident, State: domain.DeliveryUndelivered})
	if err != nil || len(ds) != 1 {
		t.Fatalf("undelivered list = %v, %v; counts %v", ds, err, c)
	}
	if ds[0].Attempts != 1 || !strings.Contains(ds[0].Reason, "HTTP 400") {
		t.Fatalf("undelivered delivery = %+v, want 1 attempt and an HTTP 400 reason", ds[0])
	}
	var parked int
	f.s.DB().Get(&parked, `SELECT count(*) FROM step_events WHERE incident = $1 AND state = 'undelivered' AND reason LIKE '%HTTP 400%'`, f.incident)
	if parked != 1 {
		t.Fatalf("%d undelivered events in the log, want 1", parked)
	}
	writeRoutes(t, dir, webhookRoutes(rc.srv.URL+"/hook", 1))
	// The dispatcher reads the changed file on its next round.
	time.Sleep(300 * time.Millisecond)
	if _, err := f.s.ResendDelivery(context.Background(), ds[0].ID, "operator", "route fixed"); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, f.s, f.incident, 10*time.Second, allDone(1))
	processed, requests, _ := rc.snapshot()
	if len(processed) != 1 {
		t.Fatalf("receiver took %d notices, want 1", len(processed))
	}
	var resent int
	f.s.DB().Get(&resent, `SELECT count(*) FROM step_events WHERE state = 'resent' AND actor = 'operator'`)
	if resent == 0 {
		t.Fatalf("no resend in the event log")
	}
	t.Logf("400: parked undelivered after 1 attempt; resent by an operator, delivered; requests per key %v", requests)
}

// TestNoRouteThenRouteAdded: a notice no route matches is parked with the
// reason; once a route is added, a resend routes it again and delivers it.
func TestNoRouteThenRouteAdded(t *testing.T) {
	f := newFixture(t, 1, 10)
	f.notice(t, "longbao-01", "residents of Compound longbao-01", "seal-announced", "Sealed.")
	rc := newReceiver(t, "")
	dir := t.TempDir()
	noResidents := strings.Replace(webhookRoutes(rc.srv.URL+"/hook", 1), "residents, ", "", 1)
	routes := writeRoutes(t, dir, noResidents)
	runDispatcher(t, dispatcher(t, f.s, routes, "d1"))
	waitCounts(t, f.s, f.incident, 10*time.Second, func(c map[string]int) bool { return c[domain.DeliveryUndelivered] == 1 })
	ds, err := f.s.ListDeliveries(context.Background(), store.NoticeFilter{Incident: f.incident, State: domain.DeliveryUndelivered})
	if err != nil || len(ds) != 1 || !strings.Contains(ds[0].Reason, "no route") {
		t.Fatalf("undelivered = %+v, %v; want one with no route", ds, err)
	}
	writeRoutes(t, dir, webhookRoutes(rc.srv.URL+"/hook", 1))
	time.Sleep(300 * time.Millisecond)
	if _, err := f.s.ResendDelivery(context.Background(), ds[0].ID, "operator", "route for residents added"); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, f.s, f.incident, 10*time.Second, allDone(1))
	if processed, _, _ := rc.snapshot(); len(processed) != 1 {
		t.Fatalf("receiver took %d, want 1", len(processed))
	}
}
