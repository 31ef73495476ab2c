package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestRegisterWhenReachable checks that a worker whose Temporal cannot
// answer yet keeps running and registers its search attributes once it
// can, while a mismatch stops it at once.
func TestRegisterWhenReachable(t *testing.T) {
	t.Parallel()
	b := Backoff{First: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	logger := slog.New(slog.DiscardHandler)

	t.Run("unreachable, then reachable", func(t *testing.T) {
		var calls atomic.Int32
		done := make(chan struct{})
		err := registerWhenReachable(context.Background(), logger, b, done, func(context.Context) error {
			if calls.Add(1) < 4 {
				return errors.New("list search attributes: no usable database connection found")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("registerWhenReachable with Temporal's database down = %v, want nil (the worker keeps running)", err)
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("registration still retrying after 5 s")
		}
		if n := calls.Load(); n != 4 {
			t.Errorf("register called %d times, want 4 (3 failures, then success)", n)
		}
	})

	t.Run("mismatch", func(t *testing.T) {
		done := make(chan struct{})
		err := registerWhenReachable(context.Background(), logger, b, done, func(context.Context) error {
			return fmt.Errorf("search attribute MusterLevel is registered as Keyword: %w", ErrSearchAttributeMismatch)
		})
		if !errors.Is(err, ErrSearchAttributeMismatch) {
			t.Fatalf("registerWhenReachable with a mismatched attribute = %v, want the mismatch", err)
		}
		<-done
	})

	t.Run("stops with the worker", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		if err := registerWhenReachable(ctx, logger, b, done, func(context.Context) error { return errors.New("unavailable") }); err != nil {
			t.Fatal(err)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("background registration did not end with its context")
		}
	})
}
