package smtpd

import (
	"strconv"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics describe the SMTP front door. Labels come from fixed sets.
type Metrics struct {
	connections  prometheus.Gauge
	transactions *prometheus.CounterVec
	replies      *prometheus.CounterVec
	bytes        prometheus.Counter
	dataSeconds  prometheus.Histogram
}

// NewMetrics registers the SMTP metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		connections: f.NewGauge(prometheus.GaugeOpts{
			Name: "qoo10hook_smtp_connections_open",
			Help: "SMTP connections open now.",
		}),
		transactions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_smtp_transactions_total",
			Help: "SMTP transactions and refusals by outcome (accepted, rejected, tempfailed) and reason.",
		}, []string{"outcome", "reason"}),
		replies: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_smtp_replies_total",
			Help: "Replies to MAIL, RCPT and DATA by code.",
		}, []string{"code"}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "qoo10hook_smtp_received_bytes_total",
			Help: "Message bytes received in DATA.",
		}),
		dataSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "qoo10hook_smtp_data_duration_seconds",
			Help:    "Time from the DATA command to the reply, storing included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}),
	}
}

func (m *Metrics) accepted() { m.transactions.WithLabelValues("accepted", "").Inc() }

func (m *Metrics) rejected(reason string) { m.transactions.WithLabelValues("rejected", reason).Inc() }

func (m *Metrics) tempfailed(reason string) {
	m.transactions.WithLabelValues("tempfailed", reason).Inc()
}

func (m *Metrics) reply(e *smtp.SMTPError) { m.replyCode(e.Code) }

func (m *Metrics) replyCode(code int) { m.replies.WithLabelValues(strconv.Itoa(code)).Inc() }
