package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/qoo10hook/qoo10hook/store"
)

// Metrics are the delivery metrics; labels are endpoint names from the
// configuration and fixed outcome sets, never URLs.
type Metrics struct {
	attempts      *prometheus.CounterVec
	attemptTime   *prometheus.HistogramVec
	deliveries    *prometheus.CounterVec
	endToEnd      *prometheus.HistogramVec
	disabled      *prometheus.GaugeVec
	circuitOpen   *prometheus.GaugeVec
	consecutiveFs *prometheus.GaugeVec
	parked        *prometheus.CounterVec
	dispatched    *prometheus.CounterVec
	handedOver    *prometheus.CounterVec
}

// NewMetrics registers the delivery metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		attempts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_webhook_attempts_total",
			Help: "Delivery attempts by endpoint and result (delivered, retry, failed, dead, disabled).",
		}, []string{"endpoint", "result"}),
		attemptTime: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "qoo10hook_webhook_attempt_duration_seconds",
			Help:    "Time of one delivery attempt, from request to the end of the response.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"endpoint"}),
		deliveries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_webhook_deliveries_total",
			Help: "Deliveries that ended, by endpoint and outcome (delivered, failed, dead).",
		}, []string{"endpoint", "outcome"}),
		endToEnd: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "qoo10hook_webhook_end_to_end_seconds",
			Help:    "Time from the 250 reply to the mail to the endpoint's 2xx answer.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 16),
		}, []string{"endpoint"}),
		disabled: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "qoo10hook_webhook_endpoint_disabled",
			Help: "1 when the endpoint is disabled (410 Gone or an operator) until an operator enables it.",
		}, []string{"endpoint"}),
		circuitOpen: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "qoo10hook_webhook_endpoint_circuit_open",
			Help: "1 while the endpoint's circuit breaker pauses its deliveries.",
		}, []string{"endpoint"}),
		consecutiveFs: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "qoo10hook_webhook_endpoint_consecutive_failures",
			Help: "Failed attempts to the endpoint since its last success.",
		}, []string{"endpoint"}),
		parked: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_webhook_parked_total",
			Help: "Deliveries held back, holding no worker, until an earlier delivery of their cart or SKU to the endpoint ends.",
		}, []string{"endpoint"}),
		dispatched: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_webhook_dispatched_total",
			Help: "Deliveries attempted without a River job (SQLite): taken from the commit that stored them, or from the attempt that ended the one they waited for.",
		}, []string{"endpoint"}),
		handedOver: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_webhook_handed_over_total",
			Help: "Deliveries without a River job given one instead of a direct attempt: endpoint paused or disabled, an earlier delivery pending, direct queue full, left by a stop or a crash.",
		}, []string{"endpoint"}),
	}
}

func (m *Metrics) attempt(endpoint, status string, res Result) {
	result := status
	switch {
	case res.Gone:
		result = "disabled"
	case status == store.DeliveryPending:
		result = "retry"
	}
	m.attempts.WithLabelValues(endpoint, result).Inc()
	m.attemptTime.WithLabelValues(endpoint).Observe(res.Duration.Seconds())
}

func (m *Metrics) delivered(endpoint string, sinceReceived time.Duration) {
	m.deliveries.WithLabelValues(endpoint, store.DeliveryDelivered).Inc()
	m.endToEnd.WithLabelValues(endpoint).Observe(sinceReceived.Seconds())
}

func (m *Metrics) finished(endpoint, outcome string) {
	m.deliveries.WithLabelValues(endpoint, outcome).Inc()
}

func (m *Metrics) states(states map[string]store.EndpointState, endpoints map[string]*Endpoint, now time.Time) {
	for name := range endpoints {
		st := states[name]
		m.disabled.WithLabelValues(name).Set(b2f(st.Disabled))
		m.circuitOpen.WithLabelValues(name).Set(b2f(st.CircuitOpen(now)))
		m.consecutiveFs.WithLabelValues(name).Set(float64(st.ConsecutiveFailures))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
