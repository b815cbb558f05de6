package orderbook

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/order"
	"github.com/qoo10hook/qoo10hook/store"
)

var day = time.Date(2026, 11, 20, 10, 0, 0, 0, event.JST)

func item(no, code string) event.Item {
	return event.Item{OrderNo: no, ItemNo: "9" + no, Title: "長袖Tシャツ", SellerItemCode: code, Qty: event.Int(1), Price: event.Int(1980)}
}

// threeMails are the mails of a two-line cart: placed, paid, and the
// cancellation of one line.
func threeMails() []mailOf {
	return []mailOf{
		{event.OrderPlaced, day, &event.Order{SellerID: "shop", PackNo: "P1", OrderDate: "2026-11-20T10:00:00+09:00",
			TotalPrice: event.Int(3960), Buyer: &event.Person{Name: "山田 太郎", Email: "taro@example.jp"},
			Items: []event.Item{item("101", "TS-001"), item("102", "TS-002")}}},
		{event.OrderPaid, day.Add(time.Hour), &event.Order{SellerID: "shop", PackNo: "P1", ShippingWay: "宅配便",
			Receiver: &event.Person{Name: "山田 花子", Zip: "100-0001", Address: "東京都千代田区1-1", Tel: "03-1234-5678"},
			Items:    []event.Item{{OrderNo: "101", Qty: event.Int(1)}, {OrderNo: "102", Qty: event.Int(1)}}}},
		{event.OrderCancelled, day.Add(24 * time.Hour), &event.Order{SellerID: "shop", PackNo: "P1", CancelReason: "購入者都合",
			Items: []event.Item{{OrderNo: "102"}}}},
	}
}

// comparable is a record without what depends on the tenant or on how
// many changes led to it.
func comparable(t *testing.T, r *order.Record) string {
	t.Helper()
	c := *r
	c.Tenant, c.Revision, c.UpdatedAt = "", 0, nil
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var permutations = [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}

// TestShuffledMailsOneRecord: placed, paid and a one-line cancellation,
// stored in every order (one tenant per order), give the same record;
// each change sends one order.updated with one delivery, and mails that
// change nothing send none.
func TestShuffledMailsOneRecord(t *testing.T) {
	t.Parallel()
	forStores(t, func(t *testing.T, e *env) {
		mails := threeMails()
		var want string
		for i, perm := range permutations {
			tenant := fmt.Sprintf("t%d", i)
			for _, j := range perm {
				e.ingest(tenant, fmt.Sprintf("%s-%d", tenant, j), mails[j], false)
			}
			rec := e.record(tenant, "shop", "P1")
			got := comparable(t, rec)
			if i == 0 {
				want = got
			} else if got != want {
				t.Errorf("order %v gives\n%s\nwant (order %v)\n%s", perm, got, permutations[0], want)
			}
			if rec.State != order.PartiallyCancelled || rec.Items[0].State != order.Paid || rec.Items[1].State != order.Cancelled {
				t.Errorf("order %v: state %q, lines %q %q", perm, rec.State, rec.Items[0].State, rec.Items[1].State)
			}
			if stored, want := e.lines(tenant, "shop", "P1"); stored != want {
				t.Errorf("order %v: order_line holds %q, the record %q", perm, stored, want)
			}
			ups := e.updates(tenant)
			if int64(len(ups)) != rec.Revision || rec.Revision < 1 || rec.Revision > 3 {
				t.Errorf("order %v: %d order.updated events, revision %d", perm, len(ups), rec.Revision)
			}
			if n := e.count(`SELECT count(*) FROM delivery d JOIN event v ON v.id = d.event_id
				WHERE v.type = 'order.updated' AND v.tenant = $1 AND d.endpoint = 'sub' AND d.order_key = 'shop|P1'`, tenant); n != len(ups) {
				t.Errorf("order %v: %d deliveries in the cart's order for %d order.updated events", perm, n, len(ups))
			}
		}

		// The same mail again, the same event in another mail, and a late
		// order mail change nothing.
		before := e.record("t0", "shop", "P1").Revision
		e.ingest("t0", "t0-0", mails[0], false)
		e.ingest("t0", "t0-0-again", mails[0], false)
		late := mails[0]
		late.date = day.Add(48 * time.Hour)
		late.order = &event.Order{SellerID: "shop", PackNo: "P1", Items: []event.Item{{OrderNo: "101"}}}
		rc := e.ingest("t0", "t0-late", late, false)
		if len(rc.NewEvents) != 1 {
			t.Fatalf("late order mail: receipt %+v, want a new event", rc)
		}
		r := e.record("t0", "shop", "P1")
		if r.Revision != before || r.State != order.PartiallyCancelled || r.Items[0].State != order.Paid {
			t.Errorf("after repeats: revision %d (was %d), state %q, line 101 %q", r.Revision, before, r.State, r.Items[0].State)
		}
		if r.Buyer == nil || r.Buyer.Name != "山田 太郎" || r.Items[0].SellerItemCode != "TS-001" {
			t.Errorf("a mail without the buyer or codes erased them: %+v", r)
		}
	})
}

// TestNewCartTwiceInOneTransaction: a cart of two orders, each with its
// order placed mail, stored in one transaction. The first makes the
// cart's record, the second finds it and merges into it; a cart made
// earlier in the transaction is not taken for one the statement made.
func TestNewCartTwiceInOneTransaction(t *testing.T) {
	t.Parallel()
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			t.Parallel()
			e := newUnstartedEnv(t, st.URL, store.Options{BatchMax: 3, Writers: 1})
			placed := func(no, code string) mailOf {
				return mailOf{event.OrderPlaced, day, &event.Order{SellerID: "shop", PackNo: "P1",
					Buyer: &event.Person{Name: "山田 太郎"}, Items: []event.Item{item(no, code)}}}
			}
			// With a mail of another cart, all three in one transaction.
			e.ingestOneBatch([]*store.Ingest{e.mail("t", "m1", placed("101", "TS-001"), false),
				e.mail("t", "m2", placed("102", "TS-002"), false),
				e.mail("other", "m3", placed("201", "TS-003"), false)})
			if st.Name == "postgres" {
				if n := e.count(`SELECT count(DISTINCT xmin::text) FROM mail`); n != 1 {
					t.Fatalf("the mails went in %d transactions, want 1", n)
				}
			}
			rec := e.record("t", "shop", "P1")
			if len(rec.Items) != 2 || rec.Revision != 2 || rec.Buyer == nil {
				t.Fatalf("record of the two mails: revision %d, %d lines, buyer %v; want 2, 2 and the buyer",
					rec.Revision, len(rec.Items), rec.Buyer)
			}
			if stored, want := e.lines("t", "shop", "P1"); stored != want {
				t.Errorf("order_line holds %q, the record %q", stored, want)
			}
			if ups := e.updates("t"); len(ups) != 2 || len(ups[0].Items) != 1 || len(ups[1].Items) != 2 {
				t.Errorf("order.updated events: %d, want the record of one line, then of two", len(ups))
			}
			if n := e.count(`SELECT count(*) FROM order_source s JOIN order_record r ON r.id = s.order_id
				WHERE r.tenant = 't'`); n != 2 {
				t.Errorf("the record has %d sources, want 2", n)
			}
			if r := e.record("other", "shop", "P1"); len(r.Items) != 1 || r.Revision != 1 {
				t.Errorf("the other tenant's cart: revision %d, %d lines; want 1, 1", r.Revision, len(r.Items))
			}
		})
	}
}

// TestQuarantinedMailMergesOnRelease: a held mail changes no record until
// it is released; then the record and order.updated follow.
func TestQuarantinedMailMergesOnRelease(t *testing.T) {
	t.Parallel()
	forStores(t, func(t *testing.T, e *env) {
		mails := threeMails()
		e.ingest("q", "q-0", mails[0], false)
		held := e.ingest("q", "q-1", mails[1], true)
		if r := e.record("q", "shop", "P1"); r.State != order.Placed || r.Revision != 1 {
			t.Fatalf("held mail: state %q revision %d, want placed 1", r.State, r.Revision)
		}
		if _, err := e.st.ReleaseMail(t.Context(), fmt.Sprint(held.MailID)); err != nil {
			t.Fatal(err)
		}
		r := e.record("q", "shop", "P1")
		if r.State != order.Paid || r.Revision != 2 || r.Receiver == nil {
			t.Errorf("released: state %q revision %d receiver %v, want paid 2 with the receiver", r.State, r.Revision, r.Receiver)
		}
		if n := e.count(`SELECT count(*) FROM delivery d JOIN event v ON v.id = d.event_id
			WHERE v.type = 'order.updated' AND v.tenant = 'q' AND d.status = 'pending'`); n != 2 {
			t.Errorf("%d pending order.updated deliveries, want 2", n)
		}
	})
}

// TestMailWithoutCartJoinsIt: a cancel mail that lacks カート番号 joins the
// cart of its order number.
func TestMailWithoutCartJoinsIt(t *testing.T) {
	t.Parallel()
	forStores(t, func(t *testing.T, e *env) {
		mails := threeMails()
		e.ingest("n", "n-0", mails[0], false)
		cancel := mails[2]
		cancel.order = &event.Order{SellerID: "shop", Items: []event.Item{{OrderNo: "102"}}}
		e.ingest("n", "n-2", cancel, false)
		r := e.record("n", "shop", "P1")
		if r.State != order.PartiallyCancelled || r.PackNo != "P1" {
			t.Errorf("state %q pack %q, want partially_cancelled in P1", r.State, r.PackNo)
		}
		if n := e.count(`SELECT count(*) FROM order_record`); n != 1 {
			t.Errorf("%d records, want 1", n)
		}
	})
}

// TestCorrectedLineDropped: a re-parse that reads a line under another
// order number replaces the old line in the record and in order_line, which
// the orders search reads.
func TestCorrectedLineDropped(t *testing.T) {
	t.Parallel()
	forStores(t, func(t *testing.T, e *env) {
		placed := threeMails()[0]
		e.ingest("c", "c-0", placed, false)
		old := e.placedEvent("c")
		corrected := old
		corrected.ID = old.ID + "-corrected"
		corrected.Payload = bytes.ReplaceAll(old.Payload, []byte(`"102"`), []byte(`"103"`))
		if err := e.st.Tx(t.Context(), func(tx *sql.Tx) error {
			_, err := e.d.Correct(t.Context(), tx, &old, &corrected)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		stored, want := e.lines("c", "shop", "P1")
		if stored != want || !strings.Contains(stored, "103=") || strings.Contains(stored, "102=") {
			t.Errorf("order_line holds %q, the record %q; want line 103 in place of 102", stored, want)
		}
	})
}

// TestCorrectedLinesAllDropped: a re-parse that reads no line at all
// leaves the record, and order_line, without any.
func TestCorrectedLinesAllDropped(t *testing.T) {
	t.Parallel()
	forStores(t, func(t *testing.T, e *env) {
		e.ingest("z", "z-0", threeMails()[0], false)
		old := e.placedEvent("z")
		if stored, _ := e.lines("z", "shop", "P1"); stored == "" {
			t.Fatal("the order's lines were not stored")
		}
		var payload map[string]any
		if err := json.Unmarshal(old.Payload, &payload); err != nil {
			t.Fatal(err)
		}
		payload["data"].(map[string]any)["items"] = []any{}
		corrected := old
		corrected.ID = old.ID + "-corrected"
		body, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		corrected.Payload = body
		if err := e.st.Tx(t.Context(), func(tx *sql.Tx) error {
			_, err := e.d.Correct(t.Context(), tx, &old, &corrected)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if stored, want := e.lines("z", "shop", "P1"); stored != "" || want != "" {
			t.Errorf("order_line holds %q, the record %q; want no line in either", stored, want)
		}
	})
}

// TestRederiveChangedEvent: a path that re-reads a stored mail (a
// re-parse) rewrites its event's payload and calls the deriver with it
// again: the record follows; called again unchanged, nothing is derived.
func TestRederiveChangedEvent(t *testing.T) {
	t.Parallel()
	forStores(t, func(t *testing.T, e *env) {
		mails := threeMails()
		e.ingest("r", "r-0", mails[0], false)
		e.ingest("r", "r-1", mails[1], false)
		var ev store.Event
		var payload []byte
		err := e.st.View(t.Context(), func(tx *sql.Tx) error {
			return tx.QueryRowContext(t.Context(), `SELECT id, type, tenant, seller_id, pack_no, payload FROM event
				WHERE tenant = 'r' AND type = 'order.paid'`).Scan(&ev.ID, &ev.Type, &ev.Tenant, &ev.SellerID, &ev.PackNo, &payload)
		})
		if err != nil {
			t.Fatal(err)
		}
		ev.Payload = bytes.Replace(payload, []byte("東京都千代田区1-1"), []byte("東京都千代田区2-2"), 1)
		rederive := func() []store.Event {
			var out []store.Event
			if err := e.st.Tx(t.Context(), func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(t.Context(), `UPDATE event SET payload = $1 WHERE id = $2`, ev.Payload, ev.ID); err != nil {
					return err
				}
				var err error
				out, err = e.d.Derive(t.Context(), tx, &ev)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return out
		}
		if out := rederive(); len(out) != 1 || out[0].Type != string(event.OrderUpdated) {
			t.Fatalf("re-derived %+v, want one order.updated", out)
		}
		if r := e.record("r", "shop", "P1"); r.Revision != 3 || r.Receiver.Address != "東京都千代田区2-2" {
			t.Errorf("revision %d, receiver %+v: want 3 with the new address", r.Revision, r.Receiver)
		}
		if out := rederive(); len(out) != 0 {
			t.Errorf("re-derived unchanged: %+v, want nothing", out)
		}
	})
}
