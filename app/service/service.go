// Package service wires Muster's parts together for the processes that run
// them: the worker, the command-center CLI, the demo and the end-to-end tests.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/codec"
	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/metrics"
	"github.com/musterhq/muster/internal/notify"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// NewLogger returns the process logger: text on stderr.
func NewLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Dial connects to Temporal and says what to do when it cannot.
func Dial(ctx context.Context, opts client.Options, logger *slog.Logger) (client.Client, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts.Logger = tlog.NewStructuredLogger(logger)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %s): %v (start it with `make dev`, or set TEMPORAL_ADDRESS)", opts.HostPort, opts.Namespace, err)
	}
	return c, nil
}

// LogCodec says whether payloads are encrypted: a worker without codec keys
// stores operators' free text in Temporal's histories in clear.
func LogCodec(logger *slog.Logger, c *codec.Codec) {
	if c == nil || !c.Encrypting() {
		logger.Warn("Payload codec off: workflow payloads (reasons, notes, findings) are stored in Temporal in clear",
			"fix", "set "+codec.EnvKeyFile+" or "+codec.EnvKeys+" to the same keys for the worker, the CLI and the API")
		return
	}
	logger.Info("Payload codec on: payloads are encrypted", "key", c.CurrentKeyID())
}

// OpenStore connects to PostgreSQL and applies pending migrations.
func OpenStore(ctx context.Context, databaseURL string, logger *slog.Logger) (*store.Store, error) {
	s, err := store.Open(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	if logger != nil && len(applied) > 0 {
		logger.Info("Applied migrations", "migrations", strings.Join(applied, ", "))
	}
	return s, nil
}

// ConnectStore connects to PostgreSQL without migrating: every process but
// `muster migrate` and the worker uses it, so its login needs no DDL
// rights. A schema behind this build is an error naming `muster migrate`.
func ConnectStore(ctx context.Context, databaseURL string) (*store.Store, error) {
	s, err := store.Open(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	if err := s.CheckSchema(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ErrSearchAttributeMismatch says a search attribute Muster needs is
// registered with another type: no retry mends it.
var ErrSearchAttributeMismatch = errors.New("search attribute of another type")

// RegisterSearchAttributes adds Muster's search attributes to the namespace
// unless they are there already.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	req := &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: map[string]enums.IndexedValueType{}}
	var names []string
	for name, t := range workflows.SearchAttributes {
		if got, ok := have.GetCustomAttributes()[name]; ok {
			if got != t {
				return fmt.Errorf("search attribute %s is registered as %s, Muster needs %s: remove it or use another namespace: %w", name, got, t, ErrSearchAttributeMismatch)
			}
			continue
		}
		req.SearchAttributes[name] = t
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	if _, err := ops.AddSearchAttributes(ctx, req); err != nil {
		var exists *serviceerror.AlreadyExists
		if errors.As(err, &exists) {
			return nil
		}
		return fmt.Errorf("register search attributes %s: %w", strings.Join(names, ", "), err)
	}
	return nil
}

// NewWorker returns a worker for Muster's task queue with every workflow
// and activity registered.
func NewWorker(c client.Client, taskQueue string, s *store.Store) worker.Worker {
	return newWorker(c, taskQueue, s, worker.Options{})
}

// Task pollers a worker keeps open for each kind of task. The SDK's default
// of two drained the backlog of a district's seals (1,000 compounds, a few
// thousand activities queued at once) at the pace of two round trips to
// the server; more pollers take queued tasks in parallel.
const (
	workflowTaskPollers = 8
	activityTaskPollers = 8
)

// WorkerOptions completes opts with the poller counts Muster's workers
// use; benchmarks use it for their baselines too.
func WorkerOptions(opts worker.Options) worker.Options {
	if opts.MaxConcurrentWorkflowTaskPollers == 0 {
		opts.MaxConcurrentWorkflowTaskPollers = workflowTaskPollers
	}
	if opts.MaxConcurrentActivityTaskPollers == 0 {
		opts.MaxConcurrentActivityTaskPollers = activityTaskPollers
	}
	return opts
}

func newWorker(c client.Client, taskQueue string, s *store.Store, opts worker.Options) worker.Worker {
	w := worker.New(c, taskQueue, WorkerOptions(opts))
	acts := activities.New(s)
	acts.Schedules, acts.TaskQueue = c.ScheduleClient(), taskQueue
	acts.Kinds = workflows.Kinds
	workflows.Register(w, acts)
	return w
}

// RunWorker connects everything a worker needs and runs it until ctx ends.
//
// The worker polls as soon as Temporal answers, even while PostgreSQL is
// down: workflows then still fire their timers and answer queries, and
// their activities fail with a retryable error until the database is back,
// its migrations applied and the built-in runbooks published. That is done
// in the background, retried with backoff and logged, for as long as the
// worker runs.
func RunWorker(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	s, err := store.Connect(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer s.Close()
	var dispatcher *notify.Dispatcher
	if cfg.NoticeRoutes != "" {
		dispatcher = &notify.Dispatcher{Store: s, RoutesFile: cfg.NoticeRoutes, Logger: logger}
	}
	if cfg.MetricsAddr != "" {
		m, err := metrics.New()
		if err != nil {
			return err
		}
		defer m.Close(context.WithoutCancel(ctx))
		if dispatcher != nil {
			if err := m.Register(dispatcher.Collectors()...); err != nil {
				return err
			}
		}
		if err := m.Serve(ctx, cfg.MetricsAddr, logger); err != nil {
			return err
		}
		cfg.Temporal.MetricsHandler = m.Handler
	}
	c, err := Dial(ctx, cfg.Temporal, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	registered := make(chan struct{})
	if err := registerWhenReachable(ctx, logger, Backoff{First: time.Second, Max: 30 * time.Second}, registered, func(ctx context.Context) error {
		return RegisterSearchAttributes(ctx, c, cfg.Temporal.Namespace)
	}); err != nil {
		return err
	}
	defer func() { <-registered }()
	LogCodec(logger, cfg.Codec)
	gate := &storeGate{}
	gate.fail(errors.New("not reached yet"))
	w := newWorker(c, cfg.TaskQueue, s, worker.Options{Interceptors: []interceptor.WorkerInterceptor{gate}})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	if dispatcher != nil {
		if err := startDispatcher(ctx, dispatcher, logger); err != nil {
			return err
		}
	}
	logger.Info("Worker polling", "task_queue", cfg.TaskQueue, "temporal", cfg.Temporal.HostPort,
		"namespace", cfg.Temporal.Namespace, "database", config.RedactedDatabaseURL(cfg.DatabaseURL))
	prepared := make(chan struct{})
	go func() {
		defer close(prepared)
		prepareStore(ctx, s, gate, logger, cfg.Migrate)
	}()
	<-ctx.Done()
	<-prepared
	logger.Info("Worker stopping")
	return nil
}

// prepareStore applies pending migrations and publishes the built-in
// runbooks, retrying while the database is unavailable, then opens the
// gate to activities. An error no retry can fix (a migration that does not
// apply) is logged and retried on the slowest cadence: the worker keeps
// serving workflows meanwhile, and the log says what to mend.
//
// With migrate false (MUSTER_MIGRATE=false, a worker logged in as
// muster_app) it checks the schema instead, and waits for `muster migrate`.
func prepareStore(ctx context.Context, s *store.Store, gate *storeGate, logger *slog.Logger, migrate bool) {
	b := Backoff{First: time.Second, Max: 30 * time.Second}
	for ctx.Err() == nil {
		err := RetryStore(ctx, b, "prepare the database (migrations, built-in runbooks)", func(msg string) { logger.Warn(msg) },
			func(ctx context.Context) error {
				err := prepareOnce(ctx, s, logger, migrate)
				if err != nil {
					gate.fail(err)
				}
				return err
			})
		if err == nil {
			gate.open()
			logger.Info("Database ready")
			return
		}
		if ctx.Err() != nil {
			return
		}
		logger.Error("Cannot prepare the database; activities wait", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(b.Max):
		}
	}
}

func prepareOnce(ctx context.Context, s *store.Store, logger *slog.Logger, migrate bool) error {
	if !migrate {
		if err := s.CheckSchema(ctx); err != nil {
			return err
		}
		return PublishBuiltins(ctx, s)
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		logger.Info("Applied migrations", "migrations", strings.Join(applied, ", "))
	}
	return PublishBuiltins(ctx, s)
}

// registerWhenReachable registers the search attributes, and when Temporal
// cannot answer yet (its own database down, say) keeps trying in the
// background instead of stopping the worker: timers and queries need no
// new attributes, and workflow tasks that set them are retried until they
// exist. Only a mismatch, which no retry mends, is returned. done is closed
// once the background attempts end.
func registerWhenReachable(ctx context.Context, logger *slog.Logger, b Backoff, done chan<- struct{}, register func(context.Context) error) error {
	err := register(ctx)
	if err == nil || errors.Is(err, ErrSearchAttributeMismatch) {
		close(done)
		return err
	}
	logger.Warn("Search attributes not registered yet; retrying in the background", "error", err)
	go func() {
		defer close(done)
		wait := b.First
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			err := register(ctx)
			if err == nil {
				logger.Info("Search attributes registered")
				return
			}
			if errors.Is(err, ErrSearchAttributeMismatch) {
				logger.Error("Search attributes cannot be registered", "error", err)
				return
			}
			logger.Warn("Search attributes not registered yet; retrying", "error", err, "in", min(2*wait, b.Max))
			wait = min(2*wait, b.Max)
		}
	}()
	return nil
}
