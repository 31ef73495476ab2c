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
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/codec"
	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/metrics"
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
// `starter migrate` and the worker uses it, so its login needs no DDL
// rights. A schema behind this build is an error naming `starter migrate`.
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
				return fmt.Errorf("search attribute %s is registered as %s, Muster needs %s: remove it or use another namespace", name, got, t)
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
	w := worker.New(c, taskQueue, worker.Options{})
	acts := activities.New(s)
	acts.Schedules, acts.TaskQueue = c.ScheduleClient(), taskQueue
	acts.Kinds = workflows.Kinds
	workflows.Register(w, acts)
	return w
}

// RunWorker connects everything a worker needs and runs it until ctx ends.
func RunWorker(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	open := OpenStore
	if !cfg.Migrate {
		open = func(ctx context.Context, url string, _ *slog.Logger) (*store.Store, error) {
			return ConnectStore(ctx, url)
		}
	}
	s, err := open(ctx, cfg.DatabaseURL, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	if cfg.MetricsAddr != "" {
		m, err := metrics.New()
		if err != nil {
			return err
		}
		defer m.Close(context.WithoutCancel(ctx))
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
	if err := RegisterSearchAttributes(ctx, c, cfg.Temporal.Namespace); err != nil {
		return err
	}
	if err := PublishBuiltins(ctx, s); err != nil {
		return err
	}
	LogCodec(logger, cfg.Codec)
	w := NewWorker(c, cfg.TaskQueue, s)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	logger.Info("Worker polling", "task_queue", cfg.TaskQueue, "temporal", cfg.Temporal.HostPort,
		"namespace", cfg.Temporal.Namespace, "database", config.RedactedDatabaseURL(cfg.DatabaseURL))
	<-ctx.Done()
	logger.Info("Worker stopping")
	return nil
}
