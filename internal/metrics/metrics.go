// Package metrics exposes what a Prometheus scrapes from a Muster worker:
// the Temporal SDK's metrics (workflow and activity counts, latencies,
// poller and cache figures) and Muster's own, which workflows emit through
// the same SDK handler so that a replay never counts twice (their names are
// in package workflows: muster_step_stalled_total, muster_step_overdue_total,
// muster_round_sampled, muster_round_expected, muster_round_behind).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Metrics is a process's registry and the SDK handler that writes to it.
type Metrics struct {
	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	// Handler goes into client.Options.MetricsHandler: workers made from
	// that client report to this registry, and so do workflows through
	// workflow.GetMetricsHandler.
	Handler client.MetricsHandler
}

// New returns a registry with the Go runtime's and the process's metrics,
// and an SDK metrics handler that reports to it.
func New() (*Metrics, error) {
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	return &Metrics{
		registry: registry,
		provider: provider,
		Handler:  temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{Meter: provider.Meter("muster"), UseMonotonicCounters: true}),
	}, nil
}

// Register adds collectors of a process's own, such as the notice
// dispatcher's, to the registry.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.registry.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// HTTPHandler serves the registry in Prometheus' text format.
func (m *Metrics) HTTPHandler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Serve answers GET /metrics on addr until ctx ends. It returns once the
// address is listened on; errors after that are logged.
func (m *Metrics) Serve(ctx context.Context, addr string, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w (set MUSTER_METRICS_ADDR to another address, or to off)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.HTTPHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("Metrics server stopped", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	logger.Info("Serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// Close flushes and stops the meter provider.
func (m *Metrics) Close(ctx context.Context) error {
	return m.provider.Shutdown(ctx)
}
