package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// startLogging runs the service with the logger production builds from
// cfg.Log (JSON at the configured level) writing into logs.
func startLogging(t *testing.T, cfg *config.Config, logs *testenv.LogBuffer) *running {
	t.Helper()
	svc, err := New(t.Context(), cfg, NewLogger(cfg.Log, logs), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{svc: svc, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { r.done <- svc.Run(ctx) }()
	waitReady(t, svc.HTTPAddr())
	t.Cleanup(r.stop)
	return r
}

// buyerValues lists every value a mail carries about its buyer and
// receiver, as the parser reads them, each line of an address alone too.
func buyerValues(t *testing.T, cfg *config.Config, raw []byte) []string {
	t.Helper()
	p, err := NewParser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := p.Parse(raw)
	var out []string
	for _, who := range []*event.Person{res.Order.Buyer, res.Order.Receiver} {
		if who == nil {
			continue
		}
		for _, v := range []string{who.Name, who.Kana, who.Tel, who.Mobile, who.Email, who.Zip, who.Address} {
			if v == "" {
				continue
			}
			out = append(out, v)
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); utf8.RuneCountInString(line) >= 4 && line != v {
					out = append(out, line)
				}
			}
		}
	}
	return out
}

// TestLogsHoldNoBuyerData runs mail with buyer names, kana, phones,
// e-mail addresses, receivers and postal addresses through SMTP at the
// default log level (info): deliveries, a retried 503, a refused 400, an
// operator's retry through the API and reads of the mail's detail. Then
// it greps the whole log, raw and JSON-decoded, for every buyer value.
func TestLogsHoldNoBuyerData(t *testing.T) {
	rx := newReceiver(t, 503, 200, 400)
	cfg := adminConfig(t, testenv.SQLite(t), rx.URL)
	cfg.Log = config.Log{Level: "info", Format: "json"}
	logs := &testenv.LogBuffer{}
	svc := startLogging(t, cfg, logs)
	base := "http://" + svc.svc.HTTPAddr()

	mails := map[string][]byte{
		"order":       fixture(t, "stockgear-order-utf8.eml"),
		"receiver":    fixture(t, "../parse/testdata/fallback-labels.eml"),
		"bad-numbers": fixture(t, "../parse/testdata/stockgear-order-bad-numbers.eml"),
	}
	var values []string
	for _, raw := range mails {
		values = append(values, buyerValues(t, cfg, raw)...)
	}
	t.Logf("looking for %d buyer values: %q", len(values), values)
	if len(values) < 12 {
		t.Fatalf("only %d buyer values to look for: %q", len(values), values)
	}

	send1 := func(name string) {
		t.Helper()
		if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, mails[name]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	send1("order")
	if r := rx.next(t, 10*time.Second); r.Status != 503 {
		t.Fatalf("first attempt %d", r.Status)
	}
	rx.nextDelivered(t, 10*time.Second)
	send1("receiver")
	if r := rx.next(t, 10*time.Second); r.Status != 400 {
		t.Fatalf("receiver mail answered %d, want 400", r.Status)
	}
	failed := waitDelivery(t, svc.svc.Store(), "failed")
	send1("bad-numbers")
	rx.nextDelivered(t, 10*time.Second)
	if code := replyCode(send(t, svc.svc.SMTPAddr(), []string{"someone@elsewhere.example"}, mails["order"])); code != 550 {
		t.Fatalf("foreign recipient: %d", code)
	}
	if code, body := call(t, "POST", base+"/api/v1/deliveries/"+itoa(failed.ID)+"/retry", testAdminToken); code != 200 {
		t.Fatalf("retry: %d %s", code, body)
	}
	rx.nextDelivered(t, 10*time.Second)
	for _, p := range []string{"/api/v1/messages", "/api/v1/messages/1", "/api/v1/messages/2/raw", "/api/v1/deliveries/" + itoa(failed.ID)} {
		if code, _ := call(t, "GET", base+p, testAdminToken); code != 200 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	svc.stop()

	out := logs.String()
	var decoded []string
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var mailLines, attemptLines int
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if rec["level"] == "DEBUG" {
			t.Errorf("debug line at level info: %s", l)
		}
		switch rec["msg"] {
		case "mail":
			mailLines++
			for _, k := range []string{"queue_id", "msg_id", "event_type", "tenant", "outcome"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("mail line without %s: %s", k, l)
				}
			}
		case "delivery attempt":
			attemptLines++
		}
		collectStrings(rec, &decoded)
	}
	if mailLines != 3 || attemptLines != 5 {
		t.Errorf("%d mail lines and %d attempt lines, want 3 and 5:\n%s", mailLines, attemptLines, out)
	}
	all := out + "\n" + strings.Join(decoded, "\n")
	for _, v := range values {
		if strings.Contains(all, v) {
			t.Errorf("the log holds buyer data %q", v)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", out)
	}
}

func collectStrings(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case map[string]any:
		for _, e := range x {
			collectStrings(e, out)
		}
	case []any:
		for _, e := range x {
			collectStrings(e, out)
		}
	}
}
