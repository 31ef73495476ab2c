package notify

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Receiver is a webhook receiver for a local run: it checks each request's
// signature, takes each idempotency key once (a repeat is answered with the
// same receipt and not taken again), and appends what it takes to a JSON
// lines file. It is what a command center's own receiver should do.
type Receiver struct {
	Secret string
	mu     sync.Mutex
	taken  map[string]bool
	dups   int
	bad    int
	log    io.Writer
	srv    *http.Server
	URL    string
}

// StartReceiver listens on addr (127.0.0.1:0 for any port) and writes what
// it takes to logFile.
func StartReceiver(addr, secret, logFile string) (*Receiver, error) {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		f.Close()
		return nil, err
	}
	rc := &Receiver{Secret: secret, taken: map[string]bool{}, log: f, URL: "http://" + ln.Addr().String() + "/notices"}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		rc.srv.Serve(ln)
		f.Close()
	}()
	return rc, nil
}

// Close stops the receiver.
func (rc *Receiver) Close() error { return rc.srv.Close() }

// Counts returns the notices taken, the repeats refused and the requests
// with a bad signature.
func (rc *Receiver) Counts() (taken, duplicates, badSignatures int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.taken), rc.dups, rc.bad
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "POST a notice", http.StatusBadRequest)
		return
	}
	// A signature over a timestamp more than five minutes off is a replay.
	ts, _ := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64)
	if Sign(rc.Secret, r.Header.Get(HeaderTimestamp), body) != r.Header.Get(HeaderSignature) || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		rc.mu.Lock()
		rc.bad++
		rc.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var items []webhookNotice
	var batch WebhookBatch
	if json.Unmarshal(body, &batch) == nil && len(batch.Notices) > 0 {
		items = batch.Notices
	} else {
		var one webhookNotice
		if err := json.Unmarshal(body, &one); err != nil || one.IdempotencyKey == "" {
			http.Error(w, "not a notice", http.StatusBadRequest)
			return
		}
		items = []webhookNotice{one}
	}
	receipts := map[string]string{}
	rc.mu.Lock()
	for _, n := range items {
		receipts[n.IdempotencyKey] = "rcv-" + n.IdempotencyKey
		if rc.taken[n.IdempotencyKey] {
			rc.dups++
			continue
		}
		rc.taken[n.IdempotencyKey] = true
		line, _ := json.Marshal(n)
		rc.log.Write(append(line, '\n'))
	}
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"receipts": receipts})
}

// MailSink is an SMTP server for a local run that keeps each message (by
// Message-ID, once) as a file in a folder.
type MailSink struct {
	Addr string
	Dir  string
	mu   sync.Mutex
	ids  map[string]bool
	srv  *smtp.Server
}

// StartMailSink listens on addr and stores messages under dir.
func StartMailSink(addr, dir string) (*MailSink, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	m := &MailSink{Addr: ln.Addr().String(), Dir: dir, ids: map[string]bool{}}
	m.srv = smtp.NewServer(m)
	m.srv.Domain = "localhost"
	m.srv.ReadTimeout, m.srv.WriteTimeout = 10*time.Second, 10*time.Second
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			return
		}
	}()
	return m, nil
}

// Close stops the sink.
func (m *MailSink) Close() error { return m.srv.Close() }

// Count returns how many distinct messages the sink holds.
func (m *MailSink) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ids)
}

// NewSession implements smtp.Backend.
func (m *MailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{m: m}, nil }

type sinkSession struct{ m *MailSink }

func (s *sinkSession) Reset()                               {}
func (s *sinkSession) Logout() error                        { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return err
	}
	id := ""
	for _, line := range strings.Split(string(b), "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "message-id:") {
			id = strings.Trim(strings.TrimSpace(line[len("message-id:"):]), "<>")
			break
		}
	}
	if id == "" {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "no Message-ID"}
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if s.m.ids[id] {
		return nil
	}
	s.m.ids[id] = true
	name := strings.NewReplacer("/", "_", "@", "_at_").Replace(id) + ".eml"
	return os.WriteFile(filepath.Join(s.m.Dir, name), b, 0o600)
}
