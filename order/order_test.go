package order

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
)

var base = time.Date(2026, 11, 20, 10, 0, 0, 0, event.JST)

func line(no, code string, qty int64) event.Item {
	return event.Item{OrderNo: no, ItemNo: "9" + no, Title: "長袖Tシャツ", SellerItemCode: code, Qty: event.Int(qty), Price: event.Int(1980)}
}

// cart is the mails of one cart of two lines: placed, paid, the
// cancellation of one line, and a completion.
func cart() map[string]Source {
	placed := &event.Order{SellerID: "s1", PackNo: "P1", OrderDate: "2026-11-20T10:00:00+09:00", PaymentMethod: "クレジットカード",
		TotalPrice: event.Int(3960), Buyer: &event.Person{Name: "山田 太郎", Email: "t@example.jp"},
		Items: []event.Item{line("101", "TS-001", 1), line("102", "TS-002", 1)}}
	paid := &event.Order{SellerID: "s1", PackNo: "P1", PaymentDate: "2026-11-20", ShippingWay: "宅配便",
		DesiredTimeSlot: "午前中", Receiver: &event.Person{Name: "山田 花子", Zip: "100-0001", Address: "東京都千代田区1-1"},
		Items: []event.Item{{OrderNo: "101", Qty: event.Int(1)}, {OrderNo: "102", Qty: event.Int(1)}}}
	cancel := &event.Order{SellerID: "s1", PackNo: "P1", CancelReason: "購入者都合", CancelledAt: "2026-11-21T09:00:00+09:00",
		Items: []event.Item{{OrderNo: "102", Title: "長袖Tシャツ", Qty: event.Int(1)}}}
	return map[string]Source{
		"placed": {EventID: "evt_placed", Type: event.OrderPlaced, Date: base, Order: placed},
		"paid":   {EventID: "evt_paid", Type: event.OrderPaid, Date: base.Add(time.Hour), Order: paid},
		"cancel": {EventID: "evt_cancel", Type: event.OrderCancelled, Date: base.Add(24 * time.Hour), Order: cancel},
	}
}

func encode(t *testing.T, r *Record) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMergeCart(t *testing.T) {
	t.Parallel()
	c := cart()
	r := Merge([]Source{c["placed"], c["paid"], c["cancel"]})
	if r.State != PartiallyCancelled {
		t.Errorf("state = %q, want partially_cancelled", r.State)
	}
	if len(r.Items) != 2 || r.Items[0].State != Paid || r.Items[1].State != Cancelled {
		t.Fatalf("items = %+v, want 101 paid and 102 cancelled", r.Items)
	}
	// Values the later mails lack stay as the first mail gave them.
	if r.Buyer == nil || r.Buyer.Name != "山田 太郎" || r.Items[1].SellerItemCode != "TS-002" || *r.TotalPrice != 3960 {
		t.Errorf("values of the order mail lost: %s", encode(t, r))
	}
	if r.Receiver == nil || r.Receiver.Zip != "100-0001" || r.ShippingWay != "宅配便" {
		t.Errorf("values of the paid mail lost: %s", encode(t, r))
	}
	if got := r.Transitions[Paid]; !got.Equal(base.Add(time.Hour)) {
		t.Errorf("paid at %v, want %v", got, base.Add(time.Hour))
	}
	if len(r.Conflicts) != 0 {
		t.Errorf("conflicts = %+v, want none", r.Conflicts)
	}
	if !r.Placed().Equal(base) {
		t.Errorf("Placed() = %v, want %v", r.Placed(), base)
	}
}

// TestMergeOrderIndependent is the property: the same set of mails, in
// any order and with repeats, gives the same record.
func TestMergeOrderIndependent(t *testing.T) {
	t.Parallel()
	c := cart()
	done := c["placed"]
	done.EventID, done.Type, done.Date = "evt_done", event.OrderCompleted, base.Add(48*time.Hour)
	done.Order = &event.Order{SellerID: "s1", PackNo: "P1", CompletedAt: "2026-11-22", Items: []event.Item{{OrderNo: "101"}}}
	// A second paid mail that disagrees on the address, and one with no
	// date of its own beyond the others'.
	moved := c["paid"]
	moved.EventID, moved.Date = "evt_paid2", base.Add(2*time.Hour)
	moved.Order = &event.Order{SellerID: "s1", PackNo: "P1", Receiver: &event.Person{Address: "大阪府大阪市2-2"}}
	all := []Source{c["placed"], c["paid"], c["cancel"], done, moved}
	want := encode(t, Merge(all))

	rng := rand.New(rand.NewPCG(15, 2026))
	for range 500 {
		var in []Source
		for _, s := range all {
			for range 1 + rng.IntN(3) {
				in = append(in, s)
			}
		}
		rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		if got := encode(t, Merge(in)); got != want {
			t.Fatalf("order %v gives\n%s\nwant\n%s", ids(in), got, want)
		}
	}
	r := Merge(all)
	if r.State != PartiallyCancelled || r.Items[0].State != Completed {
		t.Errorf("state %q, line 101 %q: want partially_cancelled, completed", r.State, r.Items[0].State)
	}
	if r.Receiver.Address != "大阪府大阪市2-2" || r.Receiver.Zip != "100-0001" {
		t.Errorf("receiver = %+v: want the newest address and the zip kept", r.Receiver)
	}
	if len(r.Conflicts) != 1 || r.Conflicts[0].Field != "receiver.address" || r.Conflicts[0].Kept != "大阪府大阪市2-2" ||
		len(r.Conflicts[0].Values) != 2 || r.Conflicts[0].Values[1].EventID != "evt_paid" {
		t.Errorf("conflicts = %+v", r.Conflicts)
	}
}

func ids(in []Source) []string {
	var out []string
	for _, s := range in {
		out = append(out, s.EventID)
	}
	return out
}

func TestMergeLatePlacedKeepsPaid(t *testing.T) {
	t.Parallel()
	c := cart()
	late := c["placed"]
	late.Date = base.Add(5 * time.Hour) // the order mail dated after the paid one
	r := Merge([]Source{c["paid"], late})
	if r.State != Paid || r.Items[0].State != Paid {
		t.Errorf("state %q, line %q: a late 注文情報 moved the order back", r.State, r.Items[0].State)
	}
}

func TestMergeStates(t *testing.T) {
	t.Parallel()
	c := cart()
	req := Source{EventID: "evt_req", Type: event.OrderCancelRequested, Date: base.Add(3 * time.Hour),
		Order: &event.Order{SellerID: "s1", PackNo: "P1", Items: []event.Item{{OrderNo: "101"}}}}
	both := c["cancel"]
	both.Order = &event.Order{SellerID: "s1", PackNo: "P1", Items: []event.Item{{OrderNo: "101"}, {OrderNo: "102"}}}
	cartWide := Source{EventID: "evt_pay_cart", Type: event.OrderPaid, Date: base, Order: &event.Order{SellerID: "s1", PackNo: "P1"}}
	for _, tc := range []struct {
		name string
		in   []Source
		want State
	}{
		{"placed", []Source{c["placed"]}, Placed},
		{"paid", []Source{c["placed"], c["paid"]}, Paid},
		{"one line asked to cancel", []Source{c["placed"], c["paid"], req}, CancelRequested},
		{"every line cancelled", []Source{c["placed"], both}, Cancelled},
		{"a paid mail naming no line pays every line", []Source{c["placed"], cartWide}, Paid},
		{"no line at all", []Source{cartWide}, Paid},
		{"nothing", nil, ""},
	} {
		if got := Merge(tc.in).State; got != tc.want {
			t.Errorf("%s: state %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMergeIgnoresOtherTypes(t *testing.T) {
	t.Parallel()
	c := cart()
	other := Source{EventID: "evt_x", Type: event.MailUnrecognized, Date: base, Order: &event.Order{PackNo: "X"}}
	if got, want := encode(t, Merge([]Source{c["placed"], other})), encode(t, Merge([]Source{c["placed"]})); got != want {
		t.Errorf("a mail.unrecognized event changed the record:\n%s\n%s", got, want)
	}
}
