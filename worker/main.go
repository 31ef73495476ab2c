// Command muster-worker runs Muster's workflows and activities: it applies
// database migrations, registers search attributes and polls the task queue
// until it is stopped.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/config"
)

const usage = `Usage: muster-worker

Runs Muster's workflows and activities against PostgreSQL and Temporal.
Stop it with Ctrl-C or SIGTERM; running workflows carry on in another worker
or when this one restarts.

It starts even while PostgreSQL is down: workflows keep their timers and
answer queries, activities are retried until the database is back, and the
log says what is being retried. Migrations are applied and the built-in
runbooks published as soon as the database answers.

Configuration comes from the environment:
  DATABASE_URL         PostgreSQL URL (default %s; sslmode honoured, require when absent)
  MUSTER_MIGRATE       apply pending migrations at start (default true; false when
                       the login is muster_app and the owner runs muster migrate)
  MUSTER_TASK_QUEUE    task queue to poll (default %s)
  MUSTER_LOG_LEVEL     debug, info, warn or error (default info)
  MUSTER_METRICS_ADDR  where to serve /metrics for Prometheus (default %s; off for none)
  MUSTER_NOTICE_ROUTES routes file for delivering notices (docs/notices.md); unset, none are delivered
  TEMPORAL_ADDRESS     Temporal frontend (default %s)
  TEMPORAL_NAMESPACE   namespace (default %s)
  TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE: as for the temporal CLI
  MUSTER_CODEC_KEY_FILE  file of payload codec keys, id:base64 per line, current first
  MUSTER_CODEC_KEYS      the same keys inline: id:base64,id:base64 (set one of the two)
`

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), usage, config.DefaultDatabaseURL, config.DefaultTaskQueue, config.DefaultMetricsAddr, config.DefaultTemporalAddress, config.DefaultNamespace)
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "muster-worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	logger := service.NewLogger(cfg.LogLevel)
	err = service.RunWorker(ctx, cfg, logger)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
