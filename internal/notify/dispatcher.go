package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// Dispatcher delivers the outbox. Each round it routes new notices, claims
// due deliveries under a lease, sends them per channel and target within the
// channel's rate, and records each attempt. Sending is at least once and the
// idempotency key is the same on every attempt, so a receiver that
// deduplicates on it sees every notice exactly once, even when a dispatcher
// dies between sending and recording.
type Dispatcher struct {
	Store *store.Store
	// RoutesFile, when set, is read again whenever it changes, so a fixed
	// route applies without a restart.
	RoutesFile string
	Routes     *Routes
	// Owner names this dispatcher in leases and attempt records.
	Owner string
	// Lease is how long a claim holds; a dispatcher that dies leaves its
	// deliveries to another once it runs out.
	Lease time.Duration
	// Poll is the pause after a round with nothing to do.
	Poll time.Duration
	// Claim is the most deliveries one round takes.
	Claim int
	// Backoff is the first retry's wait, doubled each attempt up to
	// MaxBackoff; a receiver's Retry-After wins when longer.
	Backoff, MaxBackoff time.Duration
	// MaxAge is how long a delivery is retried before it is parked
	// undelivered for a person.
	MaxAge time.Duration
	HTTP   *http.Client
	Logger *slog.Logger

	catalogues Catalogues
	routesMod  time.Time
	mu         sync.Mutex
	limiters   map[string]*rate.Limiter
	metrics    *dispatchMetrics
}

func (d *Dispatcher) init() error {
	if d.Lease <= 0 {
		d.Lease = 30 * time.Second
	}
	if d.Poll <= 0 {
		d.Poll = 500 * time.Millisecond
	}
	if d.Claim <= 0 {
		d.Claim = 200
	}
	if d.Backoff <= 0 {
		d.Backoff = time.Second
	}
	if d.MaxBackoff <= 0 {
		d.MaxBackoff = time.Minute
	}
	if d.MaxAge <= 0 {
		d.MaxAge = 24 * time.Hour
	}
	if d.HTTP == nil {
		d.HTTP = &http.Client{Timeout: 15 * time.Second}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Owner == "" {
		host, _ := os.Hostname()
		d.Owner = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	if d.limiters == nil {
		d.limiters = map[string]*rate.Limiter{}
	}
	if d.catalogues == nil {
		cs, err := LoadCatalogues()
		if err != nil {
			return err
		}
		d.catalogues = cs
	}
	if d.Routes == nil && d.RoutesFile == "" {
		return errors.New("notify: a dispatcher needs routes")
	}
	return d.reload()
}

// reload reads the routes file again when it changed since the last read.
// A file that no longer parses is reported and the routes in force are kept.
func (d *Dispatcher) reload() error {
	if d.RoutesFile == "" {
		return nil
	}
	fi, err := os.Stat(d.RoutesFile)
	if err != nil {
		if d.Routes != nil {
			d.Logger.Warn("Routes file unreadable; keeping the routes in force", "file", d.RoutesFile, "error", err)
			return nil
		}
		return fmt.Errorf("routes: %w", err)
	}
	if d.Routes != nil && fi.ModTime().Equal(d.routesMod) {
		return nil
	}
	r, err := LoadRoutes(d.RoutesFile)
	if err != nil {
		if d.Routes != nil {
			d.Logger.Error("Routes file changed but does not parse; keeping the routes in force", "error", err)
			return nil
		}
		return err
	}
	d.mu.Lock()
	d.Routes, d.routesMod = r, fi.ModTime()
	d.limiters = map[string]*rate.Limiter{}
	d.mu.Unlock()
	d.Logger.Info("Notice routes loaded", "file", d.RoutesFile, "districts", len(r.Districts))
	return nil
}

// Run delivers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	if err := d.init(); err != nil {
		return err
	}
	d.Logger.Info("Notice dispatcher running", "owner", d.Owner)
	for {
		n, err := d.RunOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			d.Logger.Warn("Notice dispatch round failed", "error", err)
		}
		if n == 0 || err != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d.Poll):
			}
		}
	}
}

// RunOnce routes new notices and delivers one claim of due deliveries; it
// returns how many notices and deliveries it handled.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	if err := d.init(); err != nil {
		return 0, err
	}
	d.mu.Lock()
	routes := d.Routes
	d.mu.Unlock()
	routed, err := d.Store.RouteNotices(ctx, d.Claim, routes.Plan)
	if err != nil {
		return 0, err
	}
	jobs, err := d.Store.ClaimDeliveries(ctx, d.Owner, d.Lease, d.Claim)
	if err != nil {
		return routed, err
	}
	if len(jobs) == 0 {
		return routed, nil
	}
	claimed := time.Now()
	groups := map[string][]store.NoticeJob{}
	for _, j := range jobs {
		k := j.Channel + "|" + j.Target + "|" + districtOf(routes, j)
		groups[k] = append(groups[k], j)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Each channel and target is sent to in order by one goroutine, so its
	// rate limit holds; different targets go out side by side.
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func(js []store.NoticeJob) {
			defer wg.Done()
			defer func() { <-sem }()
			d.deliverGroup(ctx, routes, js, claimed)
		}(groups[k])
	}
	wg.Wait()
	return routed + len(jobs), nil
}

// districtOf finds the district whose routes own a job's channel: the one
// that has a channel of that name and, for a target, that target.
func districtOf(r *Routes, j store.NoticeJob) string {
	for _, code := range sortedKeys(r.Districts) {
		ch := r.Districts[code].Channels[j.Channel]
		if ch == nil || ch.Type != j.ChannelType {
			continue
		}
		if j.Target == "" {
			return code
		}
		if _, ok := ch.Targets[j.Target]; ok {
			return code
		}
	}
	return ""
}

func (d *Dispatcher) limiter(key string, ch *Channel) *rate.Limiter {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.limiters[key]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(ch.Rate), ch.Burst)
		d.limiters[key] = l
	}
	return l
}

func (d *Dispatcher) deliverGroup(ctx context.Context, routes *Routes, js []store.NoticeJob, claimed time.Time) {
	district := districtOf(routes, js[0])
	var ch *Channel
	if district != "" {
		ch = routes.Districts[district].Channels[js[0].Channel]
	}
	if ch == nil {
		// The channel left the routes file after the notice was routed:
		// park the deliveries for a person rather than guess.
		for _, j := range js {
			d.record(ctx, j, time.Now(), Result{Outcome: "undelivered", Err: fmt.Sprintf("channel %q (%s) is no longer in the routes", j.Channel, j.ChannelType)})
		}
		return
	}
	lim := d.limiter(district+"|"+js[0].Channel+"|"+js[0].Target, ch)
	batch := ch.Batch
	if batch < 1 {
		batch = 1
	}
	for start := 0; start < len(js); start += batch {
		chunk := js[start:min(start+batch, len(js))]
		// A message that would wait for the rate limit past the lease is
		// handed back unsent, so that no other dispatcher sends it while
		// this one still means to.
		res := lim.Reserve()
		deadline := claimed.Add(d.Lease * 3 / 4)
		if !res.OK() || time.Now().Add(res.Delay()).After(deadline) {
			res.Cancel()
			for _, j := range js[start:] {
				if err := d.Store.DeferDelivery(ctx, j.ID, d.Owner, j.Attempt); err != nil && !errors.Is(err, store.ErrLeaseLost) {
					d.Logger.Warn("Defer delivery", "delivery", j.ID, "error", err)
				}
			}
			return
		}
		select {
		case <-ctx.Done():
			res.Cancel()
			return
		case <-time.After(res.Delay()):
		}
		msgs := make([]Message, len(chunk))
		for i, j := range chunk {
			msgs[i] = d.render(j)
		}
		started := time.Now()
		sctx, cancel := context.WithTimeout(ctx, ch.Timeout)
		results := send(sctx, d.HTTP, ch, chunk[0].Target, msgs, started)
		cancel()
		if ctx.Err() != nil {
			return
		}
		for i, j := range chunk {
			d.record(ctx, j, started, results[i])
		}
	}
}

func (d *Dispatcher) render(j store.NoticeJob) Message {
	area := j.AreaName
	if area == "" {
		area = j.AreaCode
	}
	body := d.catalogues.Body(j.Locale, j.Message, j.MessageArgs, j.Body)
	title, text := d.catalogues.Render(j.Locale, map[string]string{
		"incident": j.Incident, "area": area, "audience": j.Audience, "kind": j.Kind, "body": body,
	})
	return Message{Key: j.IdempotencyKey, NoticeID: j.NoticeID, Incident: j.Incident, Kind: j.Kind, Audience: j.Audience,
		Area: j.AreaCode, Locale: j.Locale, Title: title, Text: text, Target: j.Target}
}

// record writes an attempt's outcome; a retry is due after the backoff or
// the receiver's Retry-After, whichever is longer, and a delivery retried
// past MaxAge is parked undelivered.
func (d *Dispatcher) record(ctx context.Context, j store.NoticeJob, started time.Time, r Result) {
	a := store.Attempt{DeliveryID: j.ID, Attempt: j.Attempt, Worker: d.Owner, StartedAt: started,
		Status: r.Status, ReceiptID: r.ReceiptID, Outcome: r.Outcome, Error: r.Err}
	if r.Outcome == outcomeRetry {
		wait := d.backoff(j.Attempt)
		if r.RetryAfter > wait {
			wait = r.RetryAfter
		}
		a.NextAttempt = time.Now().Add(wait)
		if time.Since(j.CreatedAt) > d.MaxAge {
			a.Outcome = domain.DeliveryUndelivered
			a.Error = fmt.Sprintf("gave up after %d attempts over %s: %s", j.Attempt, d.MaxAge, r.Err)
		}
	}
	if err := d.Store.RecordAttempt(ctx, a); err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			d.Logger.Warn("Delivery lease lost before its attempt was recorded; the next holder sends it again with the same key", "delivery", j.ID)
		} else {
			d.Logger.Error("Record delivery attempt", "delivery", j.ID, "error", err)
		}
		return
	}
	d.observe(j, a)
	if a.Outcome == domain.DeliveryUndelivered {
		d.Logger.Warn("Notice undelivered", "delivery", j.ID, "notice", j.NoticeID, "channel", j.Channel, "reason", a.Error)
	}
}

func (d *Dispatcher) backoff(attempt int) time.Duration {
	w := float64(d.Backoff) * math.Pow(2, float64(attempt-1))
	if w > float64(d.MaxBackoff) {
		return d.MaxBackoff
	}
	return time.Duration(w)
}

// dispatchMetrics are the dispatcher's own counters; the per-state gauges
// are read from the store on scrape (see Collector).
type dispatchMetrics struct {
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
}

func (d *Dispatcher) observe(j store.NoticeJob, a store.Attempt) {
	if d.metrics == nil {
		return
	}
	d.metrics.attempts.WithLabelValues(j.ChannelType, a.Outcome).Inc()
	if a.Outcome == domain.DeliverySent || a.Outcome == domain.DeliveryDelivered {
		d.metrics.latency.Observe(time.Since(j.CreatedAt).Seconds())
	}
}
