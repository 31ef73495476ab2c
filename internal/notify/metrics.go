package notify

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// Collectors returns the dispatcher's metrics for a Prometheus registry:
// muster_notice_deliveries{state} (read from the store on each scrape, so
// every worker reports the same figures), muster_notice_attempts_total
// {channel_type,outcome} and muster_notice_delivery_latency_seconds (from the
// notice's creation to its receipt).
func (d *Dispatcher) Collectors() []prometheus.Collector {
	d.metrics = &dispatchMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "muster_notice_attempts_total",
			Help: "Delivery attempts of notices by channel type and outcome (sent, delivered, retry, undelivered).",
		}, []string{"channel_type", "outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "muster_notice_delivery_latency_seconds",
			Help:    "Seconds from a notice being written to its receiver taking it.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600},
		}),
	}
	return []prometheus.Collector{d.metrics.attempts, d.metrics.latency, stateCollector{d.Store}}
}

var stateDesc = prometheus.NewDesc("muster_notice_deliveries", "Notice deliveries by state (pending, sent, delivered, undelivered).", []string{"state"}, nil)

type stateCollector struct{ s *store.Store }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- stateDesc }

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.s.DeliveryStatsSince(ctx, time.Now())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(stateDesc, err)
		return
	}
	for _, state := range domain.DeliveryStates {
		ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, float64(st.ByState[state]), state)
	}
}
