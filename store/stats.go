package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueStatuses are the delivery statuses that make up the queue: a
// delivered delivery has left it.
var QueueStatuses = []string{DeliveryPending, DeliveryHeld, DeliveryFailed, DeliveryDead}

// DeliveryStats is the state of the delivery queue at one moment.
type DeliveryStats struct {
	// ByStatus counts the deliveries in each of QueueStatuses.
	ByStatus map[string]int
	// OldestPending is when the oldest pending delivery was created (its
	// mail received); zero when none is pending.
	OldestPending time.Time
}

// Stats counts the deliveries that are not delivered, by status, and
// finds the oldest pending one.
func (s *Store) Stats(ctx context.Context) (DeliveryStats, error) {
	st := DeliveryStats{ByStatus: map[string]int{}}
	for _, status := range QueueStatuses {
		st.ByStatus[status] = 0
	}
	// The oldest pending delivery is the first pending id (ids follow
	// creation), which the (status, id) index finds as it counts.
	rows, err := s.read.QueryContext(ctx, `SELECT status, count(*), min(id) FROM delivery
		WHERE status IN ($1, $2, $3, $4) GROUP BY status`,
		DeliveryPending, DeliveryHeld, DeliveryFailed, DeliveryDead)
	if err != nil {
		return st, fmt.Errorf("store: stats: %w", err)
	}
	var firstPending int64
	for rows.Next() {
		var status string
		var n int
		var first int64
		if err := rows.Scan(&status, &n, &first); err != nil {
			rows.Close()
			return st, fmt.Errorf("store: stats: %w", err)
		}
		st.ByStatus[status] = n
		if status == DeliveryPending {
			firstPending = first
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || firstPending == 0 {
		return st, err
	}
	var created int64
	switch err := s.read.QueryRowContext(ctx, `SELECT created_at FROM delivery WHERE id = $1`, firstPending).Scan(&created); {
	case errors.Is(err, sql.ErrNoRows):
		// Erased between the two reads: the next scrape finds the next one.
	case err != nil:
		return st, fmt.Errorf("store: stats: %w", err)
	default:
		st.OldestPending = fromMicros(created)
	}
	return st, nil
}

// StatsCollector exports the delivery queue's state, read from the store
// on each scrape within a bounded time, so that every instance sharing a
// database reports the same numbers.
type StatsCollector struct {
	s       *Store
	timeout time.Duration
	log     *slog.Logger

	depth, oldest, dead, up *prometheus.Desc
}

// NewStatsCollector returns a collector over s whose query gives up after
// timeout (then only qoo10hook_store_stats_up, as 0, is exported).
func NewStatsCollector(s *Store, timeout time.Duration, log *slog.Logger) *StatsCollector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &StatsCollector{s: s, timeout: timeout, log: log,
		depth: prometheus.NewDesc("qoo10hook_store_deliveries",
			"Deliveries in the queue by status (pending, held, failed, dead); delivered ones have left it.",
			[]string{"status"}, nil),
		oldest: prometheus.NewDesc("qoo10hook_store_oldest_pending_delivery_age_seconds",
			"Age of the oldest pending delivery, from its creation (0 when none is pending).", nil, nil),
		dead: prometheus.NewDesc("qoo10hook_store_dead_letters",
			"Dead-lettered deliveries: their retry schedule ran out; kept until an operator retries them.", nil, nil),
		up: prometheus.NewDesc("qoo10hook_store_stats_up",
			"1 when the store answered the queue statistics query of this scrape in time, else 0.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *StatsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.oldest
	ch <- c.dead
	ch <- c.up
}

// Collect implements prometheus.Collector.
func (c *StatsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.s.Stats(ctx)
	if err != nil {
		c.log.Warn("queue statistics for metrics failed", "err", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, status := range QueueStatuses {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(st.ByStatus[status]), status)
	}
	age := 0.0
	if !st.OldestPending.IsZero() {
		age = max(time.Since(st.OldestPending).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(st.ByStatus[DeliveryDead]))
}

// EndpointQueues counts each endpoint's deliveries that are not delivered,
// by status.
func (s *Store) EndpointQueues(ctx context.Context) (map[string]map[string]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT endpoint, status, count(*) FROM delivery
		WHERE status IN ($1, $2, $3, $4) GROUP BY endpoint, status`,
		DeliveryPending, DeliveryHeld, DeliveryFailed, DeliveryDead)
	if err != nil {
		return nil, fmt.Errorf("store: endpoint queues: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]int{}
	for rows.Next() {
		var name, status string
		var n int
		if err := rows.Scan(&name, &status, &n); err != nil {
			return nil, fmt.Errorf("store: endpoint queues: %w", err)
		}
		if out[name] == nil {
			out[name] = map[string]int{}
		}
		out[name][status] = n
	}
	return out, rows.Err()
}
