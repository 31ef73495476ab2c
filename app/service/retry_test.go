package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
)

func TestRetryStore(t *testing.T) {
	b := Backoff{First: 10 * time.Millisecond, Max: 20 * time.Millisecond, For: 200 * time.Millisecond}
	down := &pq.Error{Code: "57P01", Message: "terminating connection due to administrator command"}

	t.Run("outage that heals", func(t *testing.T) {
		calls := 0
		var said []string
		err := RetryStore(context.Background(), b, "upload batch 7", func(m string) { said = append(said, m) }, func(context.Context) error {
			if calls++; calls < 3 {
				return down
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Fatalf("RetryStore() = %v after %d calls, want nil after 3", err, calls)
		}
		if len(said) != 2 || !strings.Contains(said[0], "upload batch 7") || !strings.Contains(said[0], "retrying in 10ms") {
			t.Errorf("said %q, want two messages naming what is retried and when", said)
		}
	})
	t.Run("outage that lasts", func(t *testing.T) {
		start := time.Now()
		err := RetryStore(context.Background(), b, "upload batch 7", nil, func(context.Context) error { return down })
		if err == nil || !strings.Contains(err.Error(), "gave up") || !errors.Is(err, down) {
			t.Fatalf("RetryStore() = %v, want it to give up, wrapping the last error", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("gave up after %s, want about %s", took, b.For)
		}
	})
	t.Run("error no retry mends", func(t *testing.T) {
		calls := 0
		err := RetryStore(context.Background(), b, "read", nil, func(context.Context) error { calls++; return domain.ErrNotFound })
		if !errors.Is(err, domain.ErrNotFound) || calls != 1 {
			t.Errorf("RetryStore() = %v after %d calls, want ErrNotFound at once", err, calls)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := RetryStore(ctx, Backoff{First: time.Hour}, "read", nil, func(context.Context) error {
			calls++
			cancel()
			return down
		})
		if err == nil || calls != 1 {
			t.Errorf("RetryStore() = %v after %d calls, want the error at once once cancelled", err, calls)
		}
	})
}
