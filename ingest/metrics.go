package ingest

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/parse"
	"github.com/qoo10hook/qoo10hook/store"
)

// Metrics count what parsing and storing mail found.
type Metrics struct {
	parseResults  *prometheus.CounterVec
	parseDuration prometheus.Histogram
	events        *prometheus.CounterVec
	duplicates    *prometheus.CounterVec
	statuses      *prometheus.CounterVec
}

// NewMetrics registers the ingest metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		parseResults: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_parse_results_total",
			Help: "Parsed mails by template (\"\" for none) and outcome (matched, fallback, unrecognized, error).",
		}, []string{"template", "outcome"}),
		parseDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "qoo10hook_parse_duration_seconds",
			Help:    "Time to decode and parse one mail.",
			Buckets: prometheus.ExponentialBuckets(0.00002, 2.5, 12),
		}),
		events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_events_total",
			Help: "New events stored, by type.",
		}, []string{"type"}),
		duplicates: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_duplicates_total",
			Help: "Mails and events recognized as duplicates and not stored again, by kind (mail, event).",
		}, []string{"kind"}),
		statuses: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_parse_status_total",
			Help: "Mails read, by parse status (parsed, partial, unrecognized) and whether the mail names Qoo10 (qoo10=\"true\"); re-parses count with source=\"reparse\".",
		}, []string{"status", "qoo10", "source"}),
	}
	for _, st := range []string{store.MailParsed, store.MailPartial, store.MailUnrecognized} {
		for _, q := range []string{"true", "false"} {
			m.statuses.WithLabelValues(st, q, "ingest")
		}
	}
	for _, t := range event.AllTypes {
		m.events.WithLabelValues(string(t))
	}
	return m
}

// ParseOutcome names a parse result for metrics.
func ParseOutcome(res *parse.Result) string {
	switch {
	case res.Err != nil:
		return "error"
	case res.Type == event.MailUnrecognized:
		return "unrecognized"
	case res.Parser == "template":
		return "matched"
	default:
		return "fallback"
	}
}

func (m *Metrics) parsed(res *parse.Result, d time.Duration) {
	m.parseResults.WithLabelValues(res.Template, ParseOutcome(res)).Inc()
	m.parseDuration.Observe(d.Seconds())
}

// Status counts a mail read with status (parsed, partial, unrecognized)
// from source: "ingest" or "reparse".
func (m *Metrics) Status(res *parse.Result, source string) {
	m.statuses.WithLabelValues(MailStatus(res), strconv.FormatBool(res.LooksQoo10), source).Inc()
}

func (m *Metrics) stored(t event.Type, rc store.Receipt) {
	if rc.DuplicateMail {
		m.duplicates.WithLabelValues("mail").Inc()
		return
	}
	m.events.WithLabelValues(string(t)).Add(float64(len(rc.NewEvents)))
	for _, dt := range rc.DerivedTypes {
		m.events.WithLabelValues(dt).Inc()
	}
	m.duplicates.WithLabelValues("event").Add(float64(len(rc.DuplicateEvents)))
}
