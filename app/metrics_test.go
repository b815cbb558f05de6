package app

import (
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// documentedFamily is a row of the metrics table in docs/metrics.md.
type documentedFamily struct {
	Name    string
	Planned bool
	// PostgresOnly families ("PostgreSQL only") are absent on SQLite.
	PostgresOnly bool
}

var metricRowRE = regexp.MustCompile("(?m)^\\| `(qoo10hook_[a-z0-9_]+)` \\|(.*)$")

// documentedFamilies reads the metrics table of docs/metrics.md.
func documentedFamilies(t *testing.T) []documentedFamily {
	t.Helper()
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)
	var out []documentedFamily
	for _, m := range metricRowRE.FindAllStringSubmatch(sec, -1) {
		out = append(out, documentedFamily{Name: m[1], Planned: strings.Contains(m[2], "(planned"),
			PostgresOnly: strings.Contains(m[2], "| PostgreSQL only")})
	}
	if len(out) < 20 {
		t.Fatalf("docs/metrics.md's table lists %d families", len(out))
	}
	return out
}

// scrape reads /metrics.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// value returns the value of the sample of family name whose labels
// include all of labels (name=value pairs); histograms give their count.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	ms := samples(mfs, name, labels...)
	if len(ms) == 0 {
		return 0, false
	}
	return sampleValue(ms[0]), true
}

// samples are the samples of family name whose labels include all of
// labels (name=value pairs).
func samples(mfs map[string]*dto.MetricFamily, name string, labels ...string) []*dto.Metric {
	var out []*dto.Metric
next:
	for _, m := range mfs[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// sampleValue is a counter's or gauge's value, or a histogram's count.
func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

// TestMetricsAfterTraffic sends real mail through SMTP (an order mail
// whose first delivery attempt fails, the same mail again, a mail that is
// no order, a refused recipient), then scrapes /metrics: every family the
// docs/metrics.md documents is there with the values this traffic must give, and
// no family is exported that docs/metrics.md does not document.
func TestMetricsAfterTraffic(t *testing.T) {
	rx := newReceiver(t, 503)
	svc := start(t, adminConfig(t, testenv.SQLite(t), rx.URL))
	order := fixture(t, "stockgear-order-utf8.eml")
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, order); err != nil {
		t.Fatal(err)
	}
	if r := rx.next(t, 10*time.Second); r.Status != 503 {
		t.Fatalf("first attempt answered %d", r.Status)
	}
	rx.nextDelivered(t, 10*time.Second)
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, order); err != nil {
		t.Fatal(err)
	}
	other := fixture(t, "../parse/testdata/non-qoo10.eml")
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, other); err != nil {
		t.Fatal(err)
	}
	rx.nextDelivered(t, 10*time.Second)
	if code := replyCode(send(t, svc.svc.SMTPAddr(), []string{"x@elsewhere.example"}, order)); code != 550 {
		t.Fatalf("foreign recipient: %d", code)
	}
	rx.quiet(t, 200*time.Millisecond)

	want := []struct {
		name   string
		labels []string
		value  float64
	}{
		{"qoo10hook_smtp_transactions_total", []string{"outcome", "accepted"}, 3},
		{"qoo10hook_smtp_transactions_total", []string{"outcome", "rejected", "reason", "unknown_recipient"}, 1},
		{"qoo10hook_smtp_replies_total", []string{"code", "250"}, 3},
		{"qoo10hook_smtp_replies_total", []string{"code", "550"}, 1},
		{"qoo10hook_smtp_data_duration_seconds", nil, 3},
		{"qoo10hook_store_commit_backlog", nil, 0},
		{"qoo10hook_store_busy_rejections_total", nil, 0},
		{"qoo10hook_parse_results_total", []string{"template", "stockgear-order-unit", "outcome", "matched"}, 2},
		{"qoo10hook_parse_results_total", []string{"template", "", "outcome", "unrecognized"}, 1},
		{"qoo10hook_parse_duration_seconds", nil, 3},
		{"qoo10hook_events_total", []string{"type", "order.placed"}, 1},
		{"qoo10hook_events_total", []string{"type", "mail.unrecognized"}, 1},
		{"qoo10hook_events_total", []string{"type", "order.paid"}, 0},
		{"qoo10hook_duplicates_total", []string{"kind", "mail"}, 1},
		{"qoo10hook_webhook_attempts_total", []string{"endpoint", "default", "result", "retry"}, 1},
		{"qoo10hook_webhook_attempts_total", []string{"endpoint", "default", "result", "delivered"}, 2},
		{"qoo10hook_webhook_attempt_duration_seconds", []string{"endpoint", "default"}, 3},
		{"qoo10hook_webhook_deliveries_total", []string{"endpoint", "default", "outcome", "delivered"}, 2},
		{"qoo10hook_webhook_end_to_end_seconds", []string{"endpoint", "default"}, 2},
		{"qoo10hook_webhook_endpoint_disabled", []string{"endpoint", "default"}, 0},
		{"qoo10hook_webhook_endpoint_circuit_open", []string{"endpoint", "default"}, 0},
		{"qoo10hook_webhook_endpoint_consecutive_failures", []string{"endpoint", "default"}, 0},
		{"qoo10hook_store_deliveries", []string{"status", "pending"}, 0},
		{"qoo10hook_store_deliveries", []string{"status", "held"}, 0},
		{"qoo10hook_store_deliveries", []string{"status", "failed"}, 0},
		{"qoo10hook_store_deliveries", []string{"status", "dead"}, 0},
		{"qoo10hook_store_oldest_pending_delivery_age_seconds", nil, 0},
		{"qoo10hook_store_dead_letters", nil, 0},
		{"qoo10hook_store_stats_up", nil, 1},
		{"qoo10hook_ready", nil, 1},
		{"qoo10hook_build_info", nil, 1},
		{"qoo10hook_smtp_connections_open", nil, 0},
	}
	// The gauges of endpoints and connections settle shortly after the
	// traffic: the endpoint refresh runs every 2 s, sessions close after
	// QUIT.
	var mfs map[string]*dto.MetricFamily
	deadline := time.Now().Add(5 * time.Second)
	for {
		mfs = scrape(t, svc.svc.HTTPAddr())
		var bad []string
		for _, w := range want {
			got, ok := value(mfs, w.name, w.labels...)
			if !ok || got != w.value {
				bad = append(bad, w.name+"{"+strings.Join(w.labels, ",")+"}")
			}
		}
		if len(bad) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, w := range want {
				got, ok := value(mfs, w.name, w.labels...)
				if !ok || got != w.value {
					t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, got, ok, w.value)
				}
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n, _ := value(mfs, "qoo10hook_smtp_received_bytes_total"); n < float64(len(order)+len(other)) {
		t.Errorf("received bytes %v, want at least %d", n, len(order)+len(other))
	}
	if n, _ := value(mfs, "qoo10hook_store_commit_batch_size"); n < 1 || n > 3 {
		t.Errorf("commit batches %v, want 1 to 3", n)
	}
	if sum := mfs["qoo10hook_store_commit_batch_size"].GetMetric()[0].GetHistogram().GetSampleSum(); sum != 3 {
		t.Errorf("mails committed %v, want 3", sum)
	}
	if n, _ := value(mfs, "qoo10hook_store_commit_duration_seconds"); n < 1 {
		t.Errorf("commit durations observed: %v", n)
	}

	documented := map[string]bool{}
	for _, f := range documentedFamilies(t) {
		documented[f.Name] = true
		if mfs[f.Name] == nil && !f.Planned && !f.PostgresOnly { // this service runs on SQLite
			t.Errorf("docs/metrics.md documents %s, /metrics has no such family", f.Name)
		}
	}
	var undocumented []string
	for name := range mfs {
		if strings.HasPrefix(name, "qoo10hook_") && !documented[name] {
			undocumented = append(undocumented, name)
		}
	}
	sort.Strings(undocumented)
	if len(undocumented) > 0 {
		t.Errorf("/metrics exports families docs/metrics.md does not document: %v", undocumented)
	}
}

// TestQueueMetricsSeeDeadLetters: a dead letter shows in the queue gauges
// and the dead outcome counters, and leaves them when retried.
func TestQueueMetricsSeeDeadLetters(t *testing.T) {
	rx := newReceiver(t, 500, 500, 500, 500)
	svc := start(t, testConfig(t, testenv.SQLite(t), rx.URL))
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml")); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		rx.next(t, 10*time.Second)
	}
	d := waitDelivery(t, svc.svc.Store(), "dead")
	mfs := scrape(t, svc.svc.HTTPAddr())
	for _, w := range []struct {
		name   string
		labels []string
		value  float64
	}{
		{"qoo10hook_store_dead_letters", nil, 1},
		{"qoo10hook_store_deliveries", []string{"status", "dead"}, 1},
		{"qoo10hook_webhook_deliveries_total", []string{"outcome", "dead"}, 1},
		{"qoo10hook_webhook_attempts_total", []string{"result", "dead"}, 1},
		{"qoo10hook_webhook_attempts_total", []string{"result", "retry"}, 3},
	} {
		if got, ok := value(mfs, w.name, w.labels...); !ok || got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
	if err := svc.svc.Store().RetryDelivery(t.Context(), d.ID); err != nil {
		t.Fatal(err)
	}
	rx.nextDelivered(t, 10*time.Second)
	waitDelivery(t, svc.svc.Store(), "delivered")
	mfs = scrape(t, svc.svc.HTTPAddr())
	if got, _ := value(mfs, "qoo10hook_store_dead_letters"); got != 0 {
		t.Errorf("dead letters after the retry: %v", got)
	}
}
