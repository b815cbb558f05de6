package app

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

// TestOrderMailToWebhook sends rendered StockGear order mails over SMTP and
// checks the one signed webhook each produces, on every store.
func TestOrderMailToWebhook(t *testing.T) {
	for _, file := range []string{"stockgear-order-iso2022jp.eml", "stockgear-order-utf8.eml"} {
		for _, st := range testenv.Stores(t) {
			t.Run(st.Name+"/"+file, func(t *testing.T) {
				rx := newReceiver(t)
				svc := start(t, testConfig(t, st.URL, rx.URL))
				if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, file)); err != nil {
					t.Fatalf("send: %v", err)
				}
				ev := verify(t, rx.next(t, 10*time.Second))
				for path, want := range map[string]any{
					"type":                           "order.placed",
					"version":                        1.0,
					"data.seller_id":                 "shop_e2e",
					"data.pack_no":                   "710000123",
					"data.shipping_rate":             550.0,
					"data.currency":                  "JPY",
					"data.order_date":                "2026-11-20T21:04:55+09:00",
					"data.payment_method":            "クレジットカード",
					"data.shipping_way":              "宅配便",
					"data.desired_delivery_date":     "2026-11-25",
					"data.shipping_message":          "不在時は宅配ボックスへ",
					"data.buyer.name":                "佐藤 花子",
					"data.buyer.kana":                "サトウ ハナコ",
					"data.buyer.tel":                 "03-1234-5678",
					"data.buyer.email":               "hanako@example.jp",
					"data.items[0].order_no":         "920000456",
					"data.items[0].item_no":          "1122334455",
					"data.items[0].title":            "綿100％ 長袖Tシャツ（メンズ）",
					"data.items[0].seller_item_code": "TS-001",
					"data.items[0].option":           "カラー:ネイビー/サイズ:L",
					"data.items[0].option_code":      "TS-001-NV-L",
					"data.items[0].qty":              3.0,
					"data.items[0].price":            1980.0,
					"data.items[0].discount":         200.0,
					"data.items[0].total":            5740.0,
					"mail.subject":                   "Qoo10の注文のお知らせです。(注文番号: 920000456)",
					"mail.template":                  "stockgear-order-unit",
					"mail.to[0]":                     "orders@in.example.test",
				} {
					if got := get(ev, path); got != want {
						t.Errorf("%s = %#v, want %#v", path, got, want)
					}
				}
				if id, _ := ev["id"].(string); !strings.HasPrefix(id, "evt_") || rx.requests[0].Header.Get("webhook-id") != id {
					t.Errorf("webhook-id %q must be the event id %q", rx.requests[0].Header.Get("webhook-id"), id)
				}
				rx.quiet(t, 300*time.Millisecond)
			})
		}
	}
}

// TestRetryUntilDelivered: the receiver answers 503 twice, then 200; the
// event reaches its success path exactly once, with one webhook-id, and
// every attempt is recorded.
func TestRetryUntilDelivered(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t, 503, 503)
			svc := start(t, testConfig(t, st.URL, rx.URL))
			if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-iso2022jp.eml")); err != nil {
				t.Fatal(err)
			}
			first := rx.next(t, 10*time.Second)
			second := rx.next(t, 10*time.Second)
			third := rx.next(t, 10*time.Second)
			if first.Status != 503 || second.Status != 503 || third.Status != 200 {
				t.Fatalf("statuses %d %d %d, want 503 503 200", first.Status, second.Status, third.Status)
			}
			verify(t, third)
			id := first.Header.Get("webhook-id")
			if second.Header.Get("webhook-id") != id || third.Header.Get("webhook-id") != id {
				t.Errorf("webhook-id changed across retries")
			}
			rx.quiet(t, 400*time.Millisecond)
			ds := waitDelivery(t, svc.svc.Store(), store.DeliveryDelivered)
			_, attempts, err := svc.svc.Store().GetDelivery(t.Context(), ds.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(attempts) != 3 || attempts[0].StatusCode != 503 || attempts[2].StatusCode != 200 {
				t.Errorf("attempts = %+v, want 503, 503, 200", attempts)
			}
		})
	}
}

// TestPermanentFailureKept: a 400 is not retried; the delivery stays
// visible as failed.
func TestPermanentFailureKept(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t, 400)
			svc := start(t, testConfig(t, st.URL, rx.URL))
			if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml")); err != nil {
				t.Fatal(err)
			}
			if r := rx.next(t, 10*time.Second); r.Status != 400 {
				t.Fatalf("status %d", r.Status)
			}
			d := waitDelivery(t, svc.svc.Store(), store.DeliveryFailed)
			rx.quiet(t, 500*time.Millisecond)
			if d.LastStatus != 400 || d.Attempts != 1 {
				t.Errorf("delivery = %+v, want one attempt answered 400", d)
			}
		})
	}
}

// TestDeadLetterAndRetry: a delivery whose schedule runs out is dead,
// kept, and an operator's retry delivers it.
func TestDeadLetterAndRetry(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t, 500, 500, 500, 500)
			svc := start(t, testConfig(t, st.URL, rx.URL))
			if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml")); err != nil {
				t.Fatal(err)
			}
			for range 4 {
				if r := rx.next(t, 10*time.Second); r.Status != 500 {
					t.Fatalf("status %d, want 500", r.Status)
				}
			}
			d := waitDelivery(t, svc.svc.Store(), store.DeliveryDead)
			rx.quiet(t, 400*time.Millisecond)
			if d.Attempts != 4 || d.LastStatus != 500 {
				t.Errorf("dead delivery = %+v, want 4 attempts, the last answered 500", d)
			}
			if err := svc.svc.Store().RetryDelivery(t.Context(), d.ID); err != nil {
				t.Fatal(err)
			}
			verify(t, rx.nextDelivered(t, 10*time.Second))
			waitDelivery(t, svc.svc.Store(), store.DeliveryDelivered)
			rx.quiet(t, 300*time.Millisecond)
		})
	}
}

// TestPendingDeliverySurvivesRestart stops the service while its only
// delivery waits for a dead endpoint, starts it again on the same SQLite
// file, and sees the delivery complete.
func TestPendingDeliverySurvivesRestart(t *testing.T) {
	storeURL := testenv.SQLite(t)
	rx := newReceiver(t, 503, 503, 503, 503, 503, 503, 503, 503)
	cfg := testConfig(t, storeURL, rx.URL)
	cfg.Delivery.RetrySchedule = []config.Duration{0, config.Duration(2 * time.Second), config.Duration(time.Second)}
	first := start(t, cfg)
	if err := send(t, first.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-iso2022jp.eml")); err != nil {
		t.Fatal(err)
	}
	if r := rx.next(t, 10*time.Second); r.Status != 503 {
		t.Fatalf("status %d", r.Status)
	}
	first.stop()
	rx.mu.Lock()
	rx.statuses = nil // the endpoint is fixed while the service is down
	rx.mu.Unlock()

	second := start(t, testConfig(t, storeURL, rx.URL))
	ev := verify(t, rx.nextDelivered(t, 15*time.Second))
	if get(ev, "data.pack_no") != "710000123" {
		t.Errorf("delivered %v", ev)
	}
	waitDelivery(t, second.svc.Store(), store.DeliveryDelivered)
}

// TestUnknownRecipientRefused: the service is not a relay.
func TestUnknownRecipientRefused(t *testing.T) {
	svc := start(t, testConfig(t, testenv.SQLite(t), ""))
	for _, rcpt := range []string{"someone@elsewhere.example", "orders@sub.in.example.test", "postmaster@elsewhere.example"} {
		if code := replyCode(send(t, svc.svc.SMTPAddr(), []string{rcpt}, fixture(t, "stockgear-order-utf8.eml"))); code != 550 {
			t.Errorf("RCPT %s: reply %d, want 550", rcpt, code)
		}
	}
}

// TestNoEndpointStillStores: with no webhook configured, mail is accepted,
// stored and parsed, and the log says nothing will be delivered.
func TestNoEndpointStillStores(t *testing.T) {
	storeURL := testenv.SQLite(t)
	svc := start(t, testConfig(t, storeURL, ""))
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(svc.logs.String(), "nothing will be delivered") {
		t.Error("the log does not say that nothing will be delivered")
	}
	db := openSQLite(t, storeURL)
	var status, eventType string
	if err := db.QueryRow(`SELECT status, event_type FROM mail`).Scan(&status, &eventType); err != nil {
		t.Fatal(err)
	}
	if status != store.MailParsed || eventType != "order.placed" {
		t.Errorf("mail stored as %s/%s", status, eventType)
	}
}

// TestStoreFailureTempfails: when the store cannot commit, the client gets
// 451 4.3.0 and nothing of the mail remains.
func TestStoreFailureTempfails(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t)
			svc := start(t, testConfig(t, st.URL, rx.URL))
			// Every insert into delivery fails, from outside the service,
			// as a store that cannot write would.
			db := openStoreSQL(t, st.URL)
			ddl := []string{`CREATE TRIGGER fail_delivery BEFORE INSERT ON delivery BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`}
			if st.Name != "sqlite" {
				ddl = []string{
					`CREATE FUNCTION fail_delivery() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$`,
					`CREATE TRIGGER fail_delivery BEFORE INSERT ON delivery FOR EACH ROW EXECUTE FUNCTION fail_delivery()`,
				}
			}
			for _, q := range ddl {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml"))
			if code := replyCode(err); code != 451 || !strings.Contains(err.Error(), "4.3.0") && !strings.Contains(err.Error(), "try again") {
				t.Fatalf("reply %v, want 451 4.3.0", err)
			}
			if !strings.Contains(svc.logs.String(), "disk on fire") {
				t.Errorf("the failed commit is not the trigger's doing; log:\n%s", svc.logs.String())
			}
			err = svc.svc.Store().View(t.Context(), func(tx *sql.Tx) error {
				for _, table := range []string{"mail", "event", "delivery", "river_job"} {
					var n int
					if err := tx.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
						return err
					}
					if n != 0 {
						t.Errorf("%s has %d rows after a failed commit", table, n)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			rx.quiet(t, 200*time.Millisecond)
		})
	}
}

// TestDuplicateMailStoredOnce: the same mail sent twice (same Message-ID)
// is stored and delivered once.
func TestDuplicateMailStoredOnce(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t)
			svc := start(t, testConfig(t, st.URL, rx.URL))
			raw := fixture(t, "stockgear-order-iso2022jp.eml")
			for range 2 {
				if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, raw); err != nil {
					t.Fatal(err)
				}
			}
			rx.nextDelivered(t, 10*time.Second)
			waitDelivery(t, svc.svc.Store(), store.DeliveryDelivered)
			rx.quiet(t, 300*time.Millisecond)
			ms, err := svc.svc.Store().ListMails(t.Context(), store.MailFilter{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 1 || ms[0].Duplicates != 1 {
				var dups []int
				for _, m := range ms {
					dups = append(dups, m.Duplicates)
				}
				t.Errorf("%d mails stored with duplicates %v, want 1 with 1", len(ms), dups)
			}
			ds, err := svc.svc.Store().ListDeliveries(t.Context(), store.DeliveryFilter{Limit: 10})
			if err != nil || len(ds) != 1 {
				t.Errorf("%d deliveries (%v), want 1", len(ds), err)
			}
		})
	}
}

// openStoreSQL opens the database behind a store URL (SQLite or
// PostgreSQL, the latter in the URL's search_path) from outside the
// service, until the test ends.
func openStoreSQL(t *testing.T, storeURL string) *sql.DB {
	t.Helper()
	if strings.HasPrefix(storeURL, "sqlite:") {
		return openSQLite(t, storeURL)
	}
	db, err := sql.Open("pgx", storeURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openSQLite(t *testing.T, storeURL string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(storeURL, "sqlite:")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// waitDelivery waits until the newest delivery has the status.
func waitDelivery(t *testing.T, st *store.Store, status string) *store.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		ds, err := st.ListDeliveries(ctx, store.DeliveryFilter{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && ds[0].Status == status {
			return ds[0]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no delivery became %s; newest: %+v", status, ds)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
