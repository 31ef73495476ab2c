package service

import (
	"context"
	"fmt"
	"time"

	"github.com/musterhq/muster/internal/store"
)

// Backoff says how often and for how long a call is repeated while the
// database is unavailable.
type Backoff struct {
	// First is the wait after the first failure; it doubles up to Max.
	First, Max time.Duration
	// For bounds the time spent retrying; zero retries until ctx ends.
	For time.Duration
}

// DefaultBackoff waits 1 s, 2 s, 4 s … up to 30 s between attempts, for at
// most ten minutes.
var DefaultBackoff = Backoff{First: time.Second, Max: 30 * time.Second, For: 10 * time.Minute}

// RetryStore runs fn until it succeeds, fails with an error that is not
// store.Unavailable, ctx ends or the backoff's time is spent. Before each
// wait it calls say with what it is retrying, why and when, so an operator
// sees the outage rather than a silent pause.
func RetryStore(ctx context.Context, b Backoff, what string, say func(string), fn func(context.Context) error) error {
	if b.First <= 0 {
		b.First = time.Second
	}
	if b.Max < b.First {
		b.Max = b.First
	}
	start := time.Now()
	wait := b.First
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !store.Unavailable(err) || ctx.Err() != nil {
			return err
		}
		if b.For > 0 && time.Since(start)+wait > b.For {
			return fmt.Errorf("%s: database unavailable for %s, gave up after %d attempts: %w", what, time.Since(start).Round(time.Second), attempt, err)
		}
		if say != nil {
			say(fmt.Sprintf("%s: database unavailable (%v); attempt %d failed, retrying in %s", what, err, attempt, wait))
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, b.Max)
	}
}
