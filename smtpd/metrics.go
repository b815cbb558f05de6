package smtpd

import (
	"strconv"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/qoo10hook/qoo10hook/mailauth"
	"github.com/qoo10hook/qoo10hook/route"
)

// Metrics describe the SMTP front door. Labels come from fixed sets.
type Metrics struct {
	connections   prometheus.Gauge
	sessions      prometheus.Gauge
	connRefused   *prometheus.CounterVec
	transactions  *prometheus.CounterVec
	replies       *prometheus.CounterVec
	bytes         prometheus.Counter
	dataSeconds   prometheus.Histogram
	lineEndings   *prometheus.CounterVec
	senderAuth    *prometheus.CounterVec
	policy        *prometheus.CounterVec
	senderSeconds prometheus.Histogram
	quarantined   prometheus.Counter
	auth          *prometheus.CounterVec
	tlsReloads    *prometheus.CounterVec
	certExpiry    prometheus.Gauge
	errorLimit    prometheus.Counter
	inflight      prometheus.Gauge
}

// NewMetrics registers the SMTP metrics on reg. Every label set a counter
// can take is exported from the start, at 0, so that rates and alerts see
// the first event.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := newMetrics(reg)
	for _, r := range []string{"total", "per_ip"} {
		m.connRefused.WithLabelValues(r)
	}
	for _, k := range []string{"lf", "cr", "fake_end"} {
		m.lineEndings.WithLabelValues(k)
	}
	for _, check := range []string{"spf", "dkim", "dmarc"} {
		for r := range knownResults {
			m.senderAuth.WithLabelValues(check, r)
		}
	}
	for policy, outcomes := range map[route.Policy][]string{
		route.PolicyRequire: {"aligned", "deferred", "rejected"}, route.PolicyQuarantine: {"aligned", "deferred", "quarantined"},
		route.PolicyTag: {"aligned", "tagged"}, route.PolicyOff: {"unchecked"},
	} {
		for _, o := range outcomes {
			m.policy.WithLabelValues(string(policy), o)
		}
	}
	for _, o := range []string{"success", "failure", "too_many"} {
		m.auth.WithLabelValues(o)
	}
	for _, o := range []string{"ok", "error"} {
		m.tlsReloads.WithLabelValues(o)
	}
	return m
}

func newMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		connections: f.NewGauge(prometheus.GaugeOpts{
			Name: "qoo10hook_smtp_connections_open",
			Help: "SMTP connections open now.",
		}),
		sessions: f.NewGauge(prometheus.GaugeOpts{
			Name: "qoo10hook_smtp_sessions_open",
			Help: "SMTP sessions (connections past HELO/EHLO) open now.",
		}),
		connRefused: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_smtp_connections_refused_total",
			Help: "Connections refused at connect with 421 4.7.0, by the limit reached (total, per_ip).",
		}, []string{"reason"}),
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
		lineEndings: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_smtp_bare_line_endings_total",
			Help: "Messages with irregular line endings, by kind: lf (bare LF), cr (bare CR), fake_end (a '.' line with a bare ending: a smuggling attempt).",
		}, []string{"kind"}),
		senderAuth: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_mailauth_verdicts_total",
			Help: "Sender authentication verdicts of each checked mail by method (spf, dkim, dmarc) and result.",
		}, []string{"method", "result"}),
		policy: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_smtp_sender_policy_total",
			Help: "Mails by the sender policy applied and its outcome (aligned, tagged, quarantined, deferred, rejected, unchecked).",
		}, []string{"policy", "outcome"}),
		senderSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "qoo10hook_smtp_sender_auth_duration_seconds",
			Help:    "Time spent authenticating the sender of a mail (DNS included).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 3, 12),
		}),
		quarantined: f.NewCounter(prometheus.CounterOpts{
			Name: "qoo10hook_smtp_quarantined_total",
			Help: "Mails accepted and stored held, not delivered, because their sender was not authenticated.",
		}),
		auth: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_smtp_auth_total",
			Help: "SMTP AUTH attempts by outcome (success, failure, too_many).",
		}, []string{"outcome"}),
		tlsReloads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_smtp_tls_reloads_total",
			Help: "Reloads of the TLS certificate (SIGHUP) by outcome (ok, error).",
		}, []string{"outcome"}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "qoo10hook_smtp_inflight_bytes",
			Help: "Memory reserved for messages being received and stored, of all sessions (bounded by smtp.max_inflight_bytes).",
		}),
		errorLimit: f.NewCounter(prometheus.CounterOpts{
			Name: "qoo10hook_smtp_error_limit_closes_total",
			Help: "Connections closed with 421 4.7.0 after smtp.max_errors error replies (address harvesting, token guessing, garbage).",
		}),
		certExpiry: f.NewGauge(prometheus.GaugeOpts{
			Name: "qoo10hook_smtp_tls_certificate_expiry_timestamp_seconds",
			Help: "When the TLS certificate in use expires, in Unix seconds; 0 without TLS.",
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

// knownResults bounds the result label to the words mailauth writes.
var knownResults = map[string]bool{mailauth.Pass: true, mailauth.Fail: true, mailauth.SoftFail: true,
	mailauth.Neutral: true, mailauth.None: true, mailauth.TempError: true, mailauth.PermError: true}

func (m *Metrics) verdicts(r mailauth.Result) {
	for _, v := range []struct{ method, result string }{{"spf", r.SPF.Result}, {"dkim", r.DKIM.Result}, {"dmarc", r.DMARC.Result}} {
		res := v.result
		if !knownResults[res] {
			res = "other"
		}
		m.senderAuth.WithLabelValues(v.method, res).Inc()
	}
}
