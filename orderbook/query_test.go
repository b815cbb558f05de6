package orderbook

import (
	"fmt"
	"testing"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/order"
)

// TestListFiltersAndTimeline: the list filters by seller, state, the
// placing date and a search over cart, order numbers and codes, pages
// newest first; the timeline lists mails, events and deliveries.
func TestListFiltersAndTimeline(t *testing.T) {
	t.Parallel()
	forStores(t, func(t *testing.T, e *env) {
		for i := range 5 {
			m := threeMails()[0]
			m.date = day.AddDate(0, 0, i)
			o := *m.order
			o.PackNo, o.OrderDate = fmt.Sprintf("P%d", i), ""
			o.Items = []event.Item{item(fmt.Sprintf("20%d", i), fmt.Sprintf("CODE-%d", i))}
			if i == 4 {
				o.SellerID = "other"
			}
			m.order = &o
			e.ingest("l", fmt.Sprintf("l-%d", i), m, false)
		}
		paid := threeMails()[1]
		paid.order = &event.Order{SellerID: "shop", PackNo: "P1", Items: []event.Item{{OrderNo: "201"}}}
		e.ingest("l", "l-paid", paid, false)

		packs := func(f Filter) string {
			t.Helper()
			os, err := e.book.List(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			s := ""
			for _, o := range os {
				s += o.PackNo + " "
			}
			return s
		}
		for _, tc := range []struct {
			name string
			f    Filter
			want string
		}{
			{"all", Filter{}, "P4 P3 P2 P1 P0 "},
			{"seller", Filter{SellerID: "shop"}, "P3 P2 P1 P0 "},
			{"state", Filter{State: order.Paid}, "P1 "},
			{"placed", Filter{PlacedFrom: day.AddDate(0, 0, 1), PlacedTo: day.AddDate(0, 0, 3)}, "P2 P1 "},
			{"search cart", Filter{Search: "P3"}, "P3 "},
			{"search order no", Filter{Search: "202"}, "P2 "},
			{"search code", Filter{Search: "CODE-0"}, "P0 "},
			{"search item no", Filter{Search: "9203"}, "P3 "},
			{"page", Filter{Limit: 2}, "P4 P3 "},
		} {
			if got := packs(tc.f); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
			}
		}
		first, _ := e.book.List(t.Context(), Filter{Limit: 2})
		if got := packs(Filter{Limit: 2, BeforeID: first[1].ID}); got != "P2 P1 " {
			t.Errorf("second page %q", got)
		}
		if _, err := e.book.List(t.Context(), Filter{State: "shipped"}); err == nil {
			t.Error("an unknown state listed")
		}

		o, err := e.book.Get(t.Context(), Key{SellerID: "shop", PackNo: "P1"})
		if err != nil {
			t.Fatal(err)
		}
		if !o.PlacedAt.Equal(day.AddDate(0, 0, 1)) {
			t.Errorf("placed at %v", o.PlacedAt)
		}
		tl, err := e.book.Timeline(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, en := range tl {
			kinds[en.Kind+"/"+en.Type]++
			if en.Link == "" {
				t.Errorf("entry %+v has no link", en)
			}
		}
		// Two mails, their two events, two order.updated, and a delivery
		// to "sub" of each of the four events.
		if kinds["mail/"] != 2 || kinds["event/order.placed"] != 1 || kinds["event/order.paid"] != 1 ||
			kinds["event/order.updated"] != 2 || kinds["delivery/"] != 4 {
			t.Errorf("timeline kinds %v", kinds)
		}
		for i := 1; i < len(tl); i++ {
			if tl[i].At.Before(tl[i-1].At) {
				t.Errorf("timeline out of order at %d: %v after %v", i, tl[i].At, tl[i-1].At)
			}
		}
		if _, err := e.book.Get(t.Context(), Key{SellerID: "shop", PackNo: "nope"}); err == nil {
			t.Error("a missing cart found")
		}
	})
}
