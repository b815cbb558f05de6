package store

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	batchSize     prometheus.Histogram
	commitSeconds prometheus.Histogram
	backlog       prometheus.Gauge
	busy          prometheus.Counter
	purged        *prometheus.CounterVec
	purgeSeconds  prometheus.Histogram
	queuedBehind  *prometheus.CounterVec
	space         *spaceGauges
	// leaseHeld is registered only on PostgreSQL with a Dispatcher
	// (SetDispatcher): elsewhere there is no lease to hold.
	leaseHeld prometheus.Gauge
	reg       prometheus.Registerer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		batchSize: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "qoo10hook_store_commit_batch_size",
			Help:    "Mails committed per group-commit transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		commitSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "qoo10hook_store_commit_duration_seconds",
			Help:    "Time to write and commit one group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		backlog: f.NewGauge(prometheus.GaugeOpts{
			Name: "qoo10hook_store_commit_backlog",
			Help: "Mails handed to the committer and not yet committed.",
		}),
		busy: f.NewCounter(prometheus.CounterOpts{
			Name: "qoo10hook_store_busy_rejections_total",
			Help: "Mails refused with a temporary failure because the commit backlog was full.",
		}),
		purged: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_store_purged_total",
			Help: "What retention purged: mails whose raw bytes and buyer values were erased (mail), delivery attempts and dead or failed deliveries dropped, other rows purged by age (rows).",
		}, []string{"kind"}),
		purgeSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "qoo10hook_store_purge_batch_duration_seconds",
			Help:    "Time one retention batch, vacuum step or WAL truncation held the store's writer.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		queuedBehind: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_store_deliveries_queued_behind_total",
			Help: "Deliveries queued already parked behind an earlier pending delivery of their cart or SKU, to be woken by its last attempt; with qoo10hook_webhook_parked_total, the deliveries that waited holding no worker.",
		}, []string{"endpoint"}),
		space: newSpaceGauges(f),
		leaseHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "qoo10hook_store_lease_held",
			Help: "1 while this instance holds its PostgreSQL lease and attempts new deliveries straight from their commit; 0 once it lost it (its deliveries then go through River).",
		}),
		reg: reg,
	}
}
