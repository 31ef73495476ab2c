package service

import (
	"context"
	"fmt"
	"sync"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
)

// ErrDatabaseNotReady is the error type of an activity refused because the
// worker has not yet reached the database (or not yet applied its
// migrations). It is retryable: the activity runs once the database is back.
const ErrDatabaseNotReady = "DatabaseNotReady"

// storeGate holds activities back until the worker's database is ready, so
// none runs against a schema without its migrations or before the built-in
// runbooks are published (which would read as an unknown runbook, an error
// no retry mends). Workflows pass through: timers and queries need no
// database.
type storeGate struct {
	interceptor.WorkerInterceptorBase
	mu    sync.Mutex
	ready bool
	last  error
}

func (g *storeGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ready, g.last = true, nil
}

func (g *storeGate) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.last = err
}

// check returns nil once the database is ready, else a retryable error
// saying why not.
func (g *storeGate) check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ready {
		return nil
	}
	return temporal.NewApplicationError(fmt.Sprintf("database not ready: %v", g.last), ErrDatabaseNotReady)
}

func (g *storeGate) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &gatedActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, gate: g}
}

type gatedActivity struct {
	interceptor.ActivityInboundInterceptorBase
	gate *storeGate
}

func (a *gatedActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if err := a.gate.check(); err != nil {
		return nil, err
	}
	return a.Next.ExecuteActivity(ctx, in)
}
