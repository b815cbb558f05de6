package app

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/mailgen"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/parse"
)

// BenchmarkIngest measures accepted mails/s through the real SMTP server
// into the embedded store, as smtp-source drives it: 20 concurrent
// sessions, a new connection per 4 KiB Qoo10 order mail, no endpoint.
func BenchmarkIngest(b *testing.B) {
	cfg := testConfigB(b, testenv.SQLite(b))
	svc, reg := startB(b, cfg)
	raw := orderMail4K(b)
	const sessions = 20
	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				msg := bytes.Replace(raw, []byte("<bench@qoo10.jp>"), fmt.Appendf(nil, "<bench.%d@qoo10.jp>", i), 1)
				if err := sendPlain(svc.SMTPAddr(), "orders@in.example.test", msg); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mails/s")
	reportHistogramMean(b, reg, "qoo10hook_store_commit_batch_size", "mails/commit")
	reportHistogramMean(b, reg, "qoo10hook_store_commit_duration_seconds", "s/commit")
	reportHistogramMean(b, reg, "qoo10hook_smtp_data_duration_seconds", "s/DATA")
	reportHistogramMean(b, reg, "qoo10hook_parse_duration_seconds", "s/parse")
}

// orderMail4K is a StockGear order mail of about 4 KiB, in ISO-2022-JP as
// Qoo10 sends it, its shipping note long enough to reach the size.
func orderMail4K(b *testing.B) []byte {
	var src parse.TemplateSource
	for _, t := range parse.BuiltinTemplates() {
		if t.Name == "stockgear-order-unit" {
			src = t
		}
	}
	v := mailgen.Values{Fields: map[string]string{
		"SELLER_ID": "bench_shop", "PACK_NO": "710000123", "DELIVERY_FEE": "550", "ORDER_TIME": "2026/11/20 21:04:55",
		"BUYER_NM": "佐藤 花子", "BUYER_NM_JA": "サトウ ハナコ", "BUYER_TEL_NO": "03-1234-5678", "BUYER_EMAIL": "hanako@example.jp",
		"PAYMENT_METHOD": "クレジットカード", "ORDER_NO": "920000456", "ITEM_NO": "1122334455",
		"ITEM_NM": "綿100％ 長袖Tシャツ（メンズ）(TS-001)", "OPTION_INFO": "カラー:ネイビー/サイズ:L(TS-001-NV-L)",
		"ORDER_QTY": "3", "ORDER_PRICE": "1,980", "DISCOUNT": "200", "TOTAL_PRICE": "5,740", "DELIVERY_OPTION": "宅配便",
		"DEL_HOPE_DATE": "2026/11/25", "DEL_MEMO": strings.Repeat("不在時は宅配ボックスへお願いします。", 77),
	}}
	raw, err := mailgen.Mail{From: "Qoo10 <qoo10info@qoo10.jp>", To: "orders@in.example.test", MessageID: "bench@qoo10.jp",
		Subject: mailgen.Render(src.Subject, v), Body: mailgen.Render(src.Body, v) + "\n", Charset: "iso-2022-jp",
		Encoding: "7bit", CRLF: true}.Bytes()
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// sendPlain sends one mail on a new connection, as an MTA without TLS does.
func sendPlain(addr, rcpt string, msg []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("bench.example"); err != nil {
		return err
	}
	if err := c.SendMail("qoo10info@qoo10.jp", []string{rcpt}, bytes.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

func reportHistogramMean(b *testing.B, reg *prometheus.Registry, name, unit string) {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() > 0 {
				b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount()), unit)
			}
		}
	}
}

// BenchmarkEndToEnd measures delivered events/s: mails in over SMTP (20
// sessions), signed webhooks out to a local receiver, on SQLite.
func BenchmarkEndToEnd(b *testing.B) {
	var got atomic.Int64
	done := make(chan struct{})
	rx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if got.Add(1) == int64(b.N) {
			close(done)
		}
	}))
	defer rx.Close()
	cfg := testConfigB(b, testenv.SQLite(b), rx.URL)
	svc, reg := startB(b, cfg)
	b.ResetTimer()
	sendOrders(b, svc.SMTPAddr(), "e2e")
	reportDelivered(b, done, &got)
	reportHistogramMean(b, reg, "qoo10hook_webhook_end_to_end_seconds", "s/end-to-end")
}

// BenchmarkEndToEndFairness measures the order events/s one endpoint gets
// alone, beside a healthy endpoint of the same route (one that answers at
// once), and beside one that answers in a second or never (it holds each
// request until the attempt times out): a slow or silent neighbour must
// not slow it by more than 10% against a healthy one. (Against none, each
// mail also stores and attempts one delivery instead of two.)
func BenchmarkEndToEndFairness(b *testing.B) {
	for _, neighbour := range []string{"none", "healthy", "slow", "silent"} {
		b.Run(neighbour, func(b *testing.B) {
			var got atomic.Int64
			done := make(chan struct{})
			fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if bytes.Contains(body, []byte(`"type":"order.placed"`)) && got.Add(1) == int64(b.N) {
					close(done)
				}
			}))
			defer fast.Close()
			stop := make(chan struct{})
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				wait := time.Second
				switch neighbour {
				case "healthy":
					return
				case "silent":
					wait = time.Hour
				}
				select {
				case <-time.After(wait):
				case <-r.Context().Done():
				case <-stop:
				}
			}))
			defer other.Close()
			defer close(stop)
			cfg := testConfigB(b, testenv.SQLite(b))
			cfg.Endpoints = []config.Endpoint{{Name: "fast", URL: fast.URL, Secret: testSecret}}
			if neighbour != "none" {
				cfg.Endpoints = append(cfg.Endpoints, config.Endpoint{Name: "other", URL: other.URL, Secret: testSecret})
			}
			var names []string
			for _, e := range cfg.Endpoints {
				names = append(names, e.Name)
			}
			cfg.Routes = []config.Route{{Tenant: "bench", Recipients: []string{"in.example.test"}, Endpoints: names}}
			svc, _ := startB(b, cfg)
			b.ResetTimer()
			sendOrders(b, svc.SMTPAddr(), "fair")
			reportDelivered(b, done, &got)
		})
	}
}

// reportDelivered waits for done (b.N deliveries counted in got), stops
// the timer and reports deliveries per second.
func reportDelivered(b *testing.B, done <-chan struct{}, got *atomic.Int64) {
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d delivered", got.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "delivered/s")
}

// sendOrders sends b.N order mails, each of its own cart, over 20 SMTP
// sessions.
func sendOrders(b *testing.B, addr, prefix string) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				o := order{MessageID: fmt.Sprintf("%s.%d@qoo10.jp", prefix, i), Seller: "bench", Pack: fmt.Sprint(i), OrderNo: fmt.Sprint(i)}
				if err := sendPlain(addr, "orders@in.example.test", renderMail("placed", o)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
