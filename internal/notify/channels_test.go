package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/notify"
	"github.com/musterhq/muster/internal/store"
)

// TestDispatcherKilledMidBatch: the first dispatcher sends a batch, the
// receiver takes it, and the dispatcher dies before the answer comes back.
// Its lease runs out, a second dispatcher sends the same notices with the
// same keys, and the receiver, deduplicating on them, has every notice once.
func TestDispatcherKilledMidBatch(t *testing.T) {
	f := newFixture(t, 1, 10)
	const n = 40
	f.commandNotices(t, n)
	rc := newReceiver(t, "")
	release := make(chan struct{})
	var once sync.Once
	hung := make(chan struct{})
	rc.intercept = func(w http.ResponseWriter, r *http.Request, keys []string) bool {
		if r.Header.Get("X-Test-Owner") != "" {
			return false
		}
		first := false
		once.Do(func() { first = true })
		if first {
			// Take the batch, then hang until the dispatcher is gone.
			rc.take(keys)
			close(hung)
			<-release
			return true
		}
		return false
	}
	routes := writeRoutes(t, t.TempDir(), webhookRoutes(rc.srv.URL+"/hook", 10))
	d1 := dispatcher(t, f.s, routes, "d1")
	stop1 := runDispatcher(t, d1)
	<-hung
	stop1() // killed mid-batch: nothing recorded for the batch in flight
	close(release)
	c, _ := f.s.NoticeCounts(context.Background(), f.incident)
	if c[domain.DeliveryPending] == 0 {
		t.Fatalf("counts after the kill = %v, want the batch in flight still pending", c)
	}
	d2 := dispatcher(t, f.s, routes, "d2")
	runDispatcher(t, d2)
	waitCounts(t, f.s, f.incident, 20*time.Second, allDone(n))
	processed, requests, bad := rc.snapshot()
	if len(processed) != n || bad != 0 {
		t.Fatalf("receiver took %d notices (bad signatures %d), want %d", len(processed), bad, n)
	}
	dup := 0
	for _, v := range requests {
		if v > 1 {
			dup++
		}
	}
	if dup == 0 {
		t.Fatalf("no key came twice: the kill did not happen mid-batch")
	}
	var owners []string
	f.s.DB().Select(&owners, `SELECT DISTINCT worker FROM notice_attempts ORDER BY 1`)
	t.Logf("killed mid-batch: %d notices taken once each; %d keys sent again by the next dispatcher and deduplicated; attempts recorded by %v", n, dup, owners)
}

// robot is a fake WeCom group robot per key that enforces its own rate
// limit: a message past perSecond in any one-second window for the same key
// gets errcode 45009, as the real robot answers past 20 a minute.
type robot struct {
	mu sync.Mutex
	// perSecond is the most messages a key takes in any one-second window.
	perSecond int
	last      map[string][]time.Time
	got       map[string]int
	limited   int
	bodies    []map[string]any
}

func (rb *robot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	rb.mu.Lock()
	defer rb.mu.Unlock()
	now := time.Now()
	recent := 0
	for _, at := range rb.last[key] {
		if now.Sub(at) < time.Second {
			recent++
		}
	}
	if recent >= rb.perSecond {
		rb.limited++
		json.NewEncoder(w).Encode(map[string]any{"errcode": 45009, "errmsg": "api freq out of limit"})
		return
	}
	rb.last[key] = append(rb.last[key], now)
	rb.got[key]++
	rb.bodies = append(rb.bodies, body)
	json.NewEncoder(w).Encode(map[string]any{"errcode": 0, "errmsg": "ok"})
}

// TestCommunitySealWithinRate: a community of 12,000 residents in 24
// compounds is sealed; each compound's residents get their notices through
// their compound's group robot, and no robot is sent to faster than its rate.
func TestCommunitySealWithinRate(t *testing.T) {
	const compounds, population, perCompound = 24, 12000, 12
	const ratePerSecond = 5.0
	f := newFixture(t, compounds, population)
	for _, c := range f.compounds {
		f.notice(t, c, "residents of Compound "+c, "seal-announced", "Enter only by Longbao Street.")
		for k := 1; k < perCompound; k++ {
			f.notice(t, c, "residents of Compound "+c, fmt.Sprintf("seal/update/%d", k), fmt.Sprintf("Update %d for %s.", k, c))
		}
	}
	// A limiter of rate r and burst 1 lets at most r+1 messages into any
	// one-second window.
	rb := &robot{perSecond: int(ratePerSecond) + 1, last: map[string][]time.Time{}, got: map[string]int{}}
	srv := httptest.NewServer(rb)
	defer srv.Close()
	var targets strings.Builder
	for _, c := range f.compounds {
		fmt.Fprintf(&targets, "          %s: %s/cgi-bin/webhook/send?key=%s\n", c, srv.URL, c)
	}
	routes := writeRoutes(t, t.TempDir(), fmt.Sprintf(`districts:
  xiaodian:
    locale: zh-CN
    channels:
      compound-groups:
        type: wecom
        rate: %v
        targets:
%s    routes:
      - audience: [residents]
        channels: [compound-groups]
`, ratePerSecond, targets.String()))
	start := time.Now()
	runDispatcher(t, dispatcher(t, f.s, routes, "d1"))
	total := compounds * perCompound
	waitCounts(t, f.s, f.incident, 60*time.Second, allDone(total))
	took := time.Since(start)
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.limited != 0 {
		t.Fatalf("the robots refused %d messages as too fast", rb.limited)
	}
	for _, c := range f.compounds {
		if rb.got[c] != perCompound {
			t.Fatalf("robot %s got %d messages, want %d", c, rb.got[c], perCompound)
		}
	}
	// The floor: one compound's messages at the channel's rate.
	floor := time.Duration(float64(perCompound-1) / ratePerSecond * float64(time.Second))
	if took < floor {
		t.Fatalf("delivered in %s, faster than the rate allows (%s)", took, floor)
	}
	md := rb.bodies[0]["markdown"].(map[string]any)["content"].(string)
	if !strings.Contains(md, "封控") {
		t.Fatalf("robot message %q is not in the district's locale", md)
	}
	t.Logf("12,000 residents, %d compounds: %d group messages delivered in %s at %v/s per robot, none refused", compounds, total, took.Round(10*time.Millisecond), ratePerSecond)
}

// TestDingTalkSigned: a signed DingTalk robot gets timestamp and sign that
// check out, and its errcode answers are honoured.
func TestDingTalkSigned(t *testing.T) {
	f := newFixture(t, 1, 10)
	f.notice(t, "longbao-01", "residents of Compound longbao-01", "seal-announced", "Sealed.")
	var mu sync.Mutex
	var got []map[string]any
	badSign := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts, sign := r.URL.Query().Get("timestamp"), r.URL.Query().Get("sign")
		mu.Lock()
		defer mu.Unlock()
		if sign != notify.DingTalkSign("ding-secret", ts) {
			badSign++
			json.NewEncoder(w).Encode(map[string]any{"errcode": 310000, "errmsg": "sign not match"})
			return
		}
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		got = append(got, body)
		json.NewEncoder(w).Encode(map[string]any{"errcode": 0, "errmsg": "ok"})
	}))
	defer srv.Close()
	routes := writeRoutes(t, t.TempDir(), fmt.Sprintf(`districts:
  xiaodian:
    channels:
      ding:
        type: dingtalk
        url: %s/robot/send?access_token=abc
        secret: ding-secret
    routes:
      - audience: [residents]
        channels: [ding]
`, srv.URL))
	runDispatcher(t, dispatcher(t, f.s, routes, "d1"))
	waitCounts(t, f.s, f.incident, 10*time.Second, allDone(1))
	mu.Lock()
	defer mu.Unlock()
	if badSign != 0 || len(got) != 1 || got[0]["msgtype"] != "markdown" {
		t.Fatalf("robot got %v with %d bad signs", got, badSign)
	}
}

// mailSink is an SMTP server that refuses the first message with a
// temporary error, then takes messages and counts them by Message-ID.
type mailSink struct {
	mu       sync.Mutex
	refuse   int
	byID     map[string]int
	rcpts    []string
	rejectTo string
}

func (m *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{sink: m}, nil }

type mailSession struct {
	sink *mailSink
}

func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }
func (s *mailSession) Mail(string, *smtp.MailOptions) error {
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == s.sink.rejectTo {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.sink.mu.Lock()
	s.sink.rcpts = append(s.sink.rcpts, to)
	s.sink.mu.Unlock()
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	if s.sink.refuse > 0 {
		s.sink.refuse--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	id := ""
	for _, line := range strings.Split(string(b), "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "message-id:") {
			id = strings.TrimSpace(line[len("message-id:"):])
		}
	}
	s.sink.byID[id]++
	return nil
}

func startSMTP(t *testing.T, sink *mailSink) string {
	t.Helper()
	srv := smtp.NewServer(sink)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Log(err)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestSMTPDelivery: mail to the district command through a real SMTP
// server: a 451 is retried, every notice arrives once (by Message-ID), and a
// 550 for a mailbox is parked undelivered.
func TestSMTPDelivery(t *testing.T) {
	f := newFixture(t, 1, 10)
	const n = 5
	f.commandNotices(t, n)
	f.notice(t, "", "inspectors of the discipline office", "inspection/x/1/assign", "Inspect 43 key sites.")
	sink := &mailSink{refuse: 1, byID: map[string]int{}, rejectTo: "gone@example.org"}
	addr := startSMTP(t, sink)
	routes := writeRoutes(t, t.TempDir(), fmt.Sprintf(`districts:
  xiaodian:
    channels:
      duty-mail:
        type: smtp
        url: smtp://%s
        from: muster@example.org
        to: [duty@example.org]
      old-mail:
        type: smtp
        url: smtp://%s
        from: muster@example.org
        to: [gone@example.org]
    routes:
      - audience: [command]
        channels: [duty-mail]
      - audience: [staff]
        channels: [old-mail]
`, addr, addr))
	runDispatcher(t, dispatcher(t, f.s, routes, "d1"))
	waitCounts(t, f.s, f.incident, 20*time.Second, func(c map[string]int) bool {
		return c[domain.DeliverySent] == n && c[domain.DeliveryUndelivered] == 1
	})
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.byID) != n {
		t.Fatalf("sink got %d distinct messages, want %d", len(sink.byID), n)
	}
	for id, c := range sink.byID {
		if c != 1 {
			t.Fatalf("message %s arrived %d times", id, c)
		}
	}
	ds, _ := f.s.ListDeliveries(context.Background(), store.NoticeFilter{Incident: f.incident, State: domain.DeliveryUndelivered})
	if len(ds) != 1 || !strings.Contains(ds[0].Reason, "550") {
		t.Fatalf("undelivered = %+v, want one with the 550", ds)
	}
	_, retries := attemptRows(t, f.s)
	if retries < 1 {
		t.Fatalf("the 451 was not retried")
	}
}

// TestTwoDispatchersShareOutbox: two dispatchers on one outbox never send
// the same delivery at once: every key reaches the receiver in one request.
func TestTwoDispatchersShareOutbox(t *testing.T) {
	f := newFixture(t, 1, 10)
	const n = 150
	f.commandNotices(t, n)
	rc := newReceiver(t, "")
	routes := writeRoutes(t, t.TempDir(), webhookRoutes(rc.srv.URL+"/hook", 1))
	d1, d2 := dispatcher(t, f.s, routes, "d1"), dispatcher(t, f.s, routes, "d2")
	d1.Claim, d2.Claim = 10, 10
	runDispatcher(t, d1)
	runDispatcher(t, d2)
	waitCounts(t, f.s, f.incident, 30*time.Second, allDone(n))
	processed, requests, _ := rc.snapshot()
	if len(processed) != n {
		t.Fatalf("receiver took %d notices, want %d", len(processed), n)
	}
	for k, v := range requests {
		if v != 1 {
			t.Fatalf("key %s sent %d times by two dispatchers, want once", k, v)
		}
	}
	var owners []string
	f.s.DB().Select(&owners, `SELECT DISTINCT worker FROM notice_attempts ORDER BY 1`)
	t.Logf("two dispatchers: %d notices, each sent once; attempts by %v", n, owners)
}

// TestDispatcherProcessKilled runs the first dispatcher in a child process
// and kills it (SIGKILL) while the receiver holds its batch: no deferred
// cleanup runs. The next dispatcher takes over once the lease runs out, and
// every notice reaches the receiver once.
func TestDispatcherProcessKilled(t *testing.T) {
	f := newFixture(t, 1, 10)
	const n = 30
	f.commandNotices(t, n)
	rc := newReceiver(t, "")
	release := make(chan struct{})
	hung := make(chan struct{})
	var once sync.Once
	rc.intercept = func(w http.ResponseWriter, r *http.Request, keys []string) bool {
		first := false
		once.Do(func() { first = true })
		if !first {
			return false
		}
		rc.take(keys)
		close(hung)
		<-release
		return true
	}
	routes := writeRoutes(t, t.TempDir(), webhookRoutes(rc.srv.URL+"/hook", 10))
	cmd := exec.Command(os.Args[0], "-test.run=^TestDispatcherChildProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "MUSTER_NOTIFY_CHILD_DB="+f.url, "MUSTER_NOTIFY_CHILD_ROUTES="+routes, "TEST_HOOK_SECRET="+secret)
	var childOut strings.Builder
	cmd.Stdout, cmd.Stderr = &childOut, &childOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hung:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the child dispatcher sent nothing: %s", childOut.String())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(release)
	var leased int
	f.s.DB().Get(&leased, `SELECT count(*) FROM notice_deliveries WHERE lease_owner = 'child'`)
	if leased == 0 {
		t.Fatalf("no delivery leased by the killed dispatcher")
	}
	runDispatcher(t, dispatcher(t, f.s, routes, "d2"))
	waitCounts(t, f.s, f.incident, 20*time.Second, allDone(n))
	processed, requests, bad := rc.snapshot()
	if len(processed) != n || bad != 0 {
		t.Fatalf("receiver took %d notices (bad signatures %d), want %d", len(processed), bad, n)
	}
	dup := 0
	for _, v := range requests {
		if v > 1 {
			dup++
		}
	}
	t.Logf("dispatcher process killed with %d deliveries leased: %d notices taken once each, %d keys sent again and refused as repeats", leased, n, dup)
}

// TestDispatcherChildProcess is the child of TestDispatcherProcessKilled;
// run alone it does nothing.
func TestDispatcherChildProcess(t *testing.T) {
	url := os.Getenv("MUSTER_NOTIFY_CHILD_DB")
	if url == "" {
		t.Skip("only run as the child of TestDispatcherProcessKilled")
	}
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	d := &notify.Dispatcher{Store: s, RoutesFile: os.Getenv("MUSTER_NOTIFY_CHILD_ROUTES"), Owner: "child", Lease: 2 * time.Second,
		Poll: 20 * time.Millisecond, HTTP: &http.Client{Timeout: time.Minute}}
	d.Run(context.Background())
}

// TestSMSGateway: the SMS adapter posts the channel's template filled in,
// with the gateway's token and the delivery's key, and keeps the gateway's
// message ID as the receipt.
func TestSMSGateway(t *testing.T) {
	f := newFixture(t, 1, 10)
	f.commandNotices(t, 1)
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sms-token" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		got = append(got, body)
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]string{"message_id": "sms-1"})
	}))
	defer srv.Close()
	routes := writeRoutes(t, t.TempDir(), fmt.Sprintf(`districts:
  xiaodian:
    channels:
      duty-sms:
        type: sms
        url: %s/send
        secret: sms-token
        to: ["+8613800000000"]
        template: "[Xiaodian command] {{title}}: {{text}}"
    routes:
      - audience: [command]
        channels: [duty-sms]
`, srv.URL))
	runDispatcher(t, dispatcher(t, f.s, routes, "d1"))
	waitCounts(t, f.s, f.incident, 10*time.Second, allDone(1))
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.HasPrefix(got[0]["message"].(string), "[Xiaodian command] ") || got[0]["reference"] == "" {
		t.Fatalf("gateway got %v", got)
	}
	ds, _ := f.s.ListDeliveries(context.Background(), store.NoticeFilter{Incident: f.incident})
	if len(ds) != 1 || ds[0].State != domain.DeliverySent || ds[0].ReceiptID != "sms-1" {
		t.Fatalf("delivery = %+v, want sent with receipt sms-1", ds)
	}
}
