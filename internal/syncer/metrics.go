package syncer

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names (all labelled by utility slug, a bounded set: the catalogue).
const (
	metricAttempts      = "gridlink_sync_attempts_total"
	metricLayoutChanged = "gridlink_sync_layout_changed_total"
	metricDuration      = "gridlink_sync_duration_seconds"
	metricDeferred      = "gridlink_sync_deferred_total"
	metricScheduled     = "gridlink_sync_scheduled_total"
)

// metrics are the sync engine's Prometheus collectors.
type metrics struct {
	// attempts counts finished sync attempts by utility and result ("ok"
	// or the error code recorded in the sync state).
	attempts *prometheus.CounterVec
	// layoutChanged counts syncs that found a utility site changed: the
	// connector needs fixing. Alert on any increase.
	layoutChanged *prometheus.CounterVec
	// duration observes attempt durations by utility.
	duration *prometheus.HistogramVec
	// deferred counts syncs put back because their utility was at its
	// concurrency limit.
	deferred *prometheus.CounterVec
	// scheduled counts sync jobs the scheduler queued.
	scheduled prometheus.Counter
}

// newMetrics creates the collectors and registers them on reg. A
// collector already registered there (a second Syncer on one registry) is
// shared.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricAttempts,
			Help: "Finished sync attempts by utility and result (ok, or the sync error code).",
		}, []string{"utility", "result"}),
		layoutChanged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricLayoutChanged,
			Help: "Syncs that found the utility's website changed; the connector needs attention (alert on any increase).",
		}, []string{"utility"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricDuration,
			Help:    "Duration of sync attempts by utility.",
			Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"utility"}),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricDeferred,
			Help: "Syncs deferred because their utility was at its concurrency limit.",
		}, []string{"utility"}),
		scheduled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricScheduled,
			Help: "Sync jobs queued by the scheduler (users due for a refresh or a retry).",
		}),
	}
	var err error
	m.attempts, err = register(reg, m.attempts)
	if err != nil {
		return nil, err
	}
	if m.layoutChanged, err = register(reg, m.layoutChanged); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.deferred, err = register(reg, m.deferred); err != nil {
		return nil, err
	}
	if m.scheduled, err = register(reg, m.scheduled); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c on reg, or returns the equal collector registered
// there before.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	switch {
	case err == nil:
		return c, nil
	case errors.As(err, &are):
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("syncer: register metrics: %w", err)
}
