package inventory

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/store"
)

const goodsCSV = "商品番号,販売者商品コード,商品名,在庫数\n" +
	"1001,TS-001,長袖Tシャツ,10\n" +
	"1002,MUG-01,マグカップ,5\n" +
	"1003,BAG-01,トートバッグ,3\n"

const optionsCSV = "商品番号,販売者商品コード,オプション名1,オプション値1,オプションコード,在庫数\n" +
	"1001,TS-001,サイズ,M,TS-001-M,4\n" +
	"1001,TS-001,サイズ,L,TS-001-L,2\n"

// TestReserveThenRelease: an order reserves its line's quantity, its
// cancel gives exactly that back, and the stock moves with both.
func TestReserveThenRelease(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{}, func(t *testing.T, e *env) {
		e.importCSV("shop", "GoodsList.csv", goodsCSV)
		placed := e.send("shop42", event.OrderPlaced, order("shop", "P1", line{"O1", "1001", "TS-001", "", 3}))
		if len(placed.DerivedEvents) != 1 || placed.Deliveries != 1 {
			t.Fatalf("order: receipt %+v, want one derived event with one delivery", placed)
		}
		if got := e.stock("shop", "TS-001"); got != 7 {
			t.Errorf("stock after the order = %d, want 7", got)
		}
		// The cancel mail names the item by its seller code only: the
		// release goes back to the SKU the reservation took.
		e.send("shop42", event.OrderCancelled, order("shop", "P1", line{"O1", "", "TS-001", "", 3}))
		if got := e.stock("shop", "TS-001"); got != 10 {
			t.Errorf("stock after the cancel = %d, want 10", got)
		}
		adj := e.adjustments()
		if len(adj) != 2 {
			t.Fatalf("%d adjustments, want 2: %+v", len(adj), adj)
		}
		r, l := adj[1], adj[0] // sorted by order_no/reason: release, reserve
		if r.Reason != Reserve || r.Delta != -3 || r.SKU != "TS-001" || r.ItemNo != "1001" || r.SellerItemCode != "TS-001" ||
			r.PackNo != "P1" || r.OrderNo != "O1" || r.SellerID != "shop" || r.StockAfter == nil || *r.StockAfter != 7 ||
			r.SourceEventID != placed.NewEvents[0] {
			t.Errorf("reserve = %+v", r)
		}
		if l.Reason != Release || l.Delta != 3 || l.SKU != "TS-001" || l.StockAfter == nil || *l.StockAfter != 10 {
			t.Errorf("release = %+v", l)
		}
		ids := map[string]bool{}
		for _, d := range e.events(event.InventoryAdjusted) {
			ids[d.ID] = true
			if d.Tenant != "shop42" || len(d.OrderKeys) != 1 || d.OrderKeys[0] != "sku:shop|TS-001" {
				t.Errorf("event %s: tenant %q, delivery order keys %q", d.ID, d.Tenant, d.OrderKeys)
			}
		}
		for _, reason := range []string{Reserve, Release} {
			if id := event.ID("inventory", "shop", "O1", reason); !ids[id] {
				t.Errorf("no %s event with the id %s (have %v)", reason, id, ids)
			}
		}
		if got := testutil.ToFloat64(e.d.m.adjustments.WithLabelValues(Reserve)); got != 1 {
			t.Errorf("reserve adjustments counted %v, want 1", got)
		}
		if got := testutil.ToFloat64(e.d.m.adjustments.WithLabelValues(Release)); got != 1 {
			t.Errorf("release adjustments counted %v, want 1", got)
		}
	})
}

// TestDuplicatesAndReplays: the same mail twice, the same order event in
// another mail, the order read again under another route (another event
// id), per-line mails after the cart's group mail, and the deriver run
// twice for one event each adjust a line once.
func TestDuplicatesAndReplays(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{}, func(t *testing.T, e *env) {
		e.importCSV("shop", "GoodsList.csv", goodsCSV)
		cart := order("shop", "P1", line{"O1", "1001", "TS-001", "", 1}, line{"O2", "1002", "MUG-01", "", 2})
		first := e.mail("mail-a", "shop42", event.OrderPlaced, cart)
		e.ingest(first)
		if rc := e.ingest(e.mail("mail-a", "shop42", event.OrderPlaced, cart)); !rc.DuplicateMail {
			t.Errorf("same mail again: %+v, want a duplicate mail", rc)
		}
		if rc := e.send("shop42", event.OrderPlaced, cart); len(rc.DuplicateEvents) != 1 || len(rc.DerivedEvents) != 0 {
			t.Errorf("re-sent order: %+v, want a duplicate event and nothing derived", rc)
		}
		if rc := e.send("wholesale", event.OrderPlaced, cart); len(rc.NewEvents) != 1 || len(rc.DerivedEvents) != 0 {
			t.Errorf("the order under another route: %+v, want a new event and nothing derived", rc)
		}
		for _, l := range cart.Items {
			one := order("shop", "P1", line{l.OrderNo, l.ItemNo, l.SellerItemCode, "", *l.Qty})
			if rc := e.send("shop42", event.OrderPlaced, one); len(rc.NewEvents) != 1 || len(rc.DerivedEvents) != 0 {
				t.Errorf("unit mail of %s: %+v, want a new event and nothing derived", l.OrderNo, rc)
			}
		}
		// A replay straight into the deriver, as a second instance racing
		// the first would make it.
		err := e.st.Tx(t.Context(), func(tx *sql.Tx) error {
			out, err := e.d.Derive(t.Context(), tx, &first.Events[0])
			if len(out) != 0 {
				t.Errorf("replayed derive returned %d events", len(out))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if adj := e.adjustments(); len(adj) != 2 {
			t.Errorf("%d adjustments, want one per line: %+v", len(adj), adj)
		}
		if a, b := e.stock("shop", "TS-001"), e.stock("shop", "MUG-01"); a != 9 || b != 3 {
			t.Errorf("stock TS-001 %d, MUG-01 %d, want 9 and 3", a, b)
		}
		// Cancel twice, in two mails: one release.
		cancel := order("shop", "P1", line{"O1", "", "", "", 1})
		e.send("shop42", event.OrderCancelled, cancel)
		e.send("wholesale", event.OrderCancelled, cancel)
		if n := e.count(`SELECT count(*) FROM inventory_adjustment WHERE reason = 'release'`); n != 1 {
			t.Errorf("%d releases, want 1", n)
		}
		if got := e.stock("shop", "TS-001"); got != 10 {
			t.Errorf("stock TS-001 %d after the cancel, want 10", got)
		}
	})
}

// TestCartOfThreeLines: a cart mail with three lines derives three
// adjustments, each resolved to its SKU (option code first) and
// delivered in order per SKU.
func TestCartOfThreeLines(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{}, func(t *testing.T, e *env) {
		e.importCSV("shop", "GoodsList.csv", goodsCSV)
		e.importCSV("shop", "Inventory.csv", optionsCSV)
		rc := e.send("", event.OrderPlaced, order("shop", "P9",
			line{"L1", "1001", "TS-001", "TS-001-L", 1},
			line{"L2", "1002", "MUG-01", "", 2},
			line{"L3", "1003", "", "", 3}))
		if len(rc.DerivedEvents) != 3 {
			t.Fatalf("derived %d events, want 3 (receipt %+v)", len(rc.DerivedEvents), rc)
		}
		want := map[string]struct {
			sku   string
			after int64
		}{"L1": {"TS-001-L", 1}, "L2": {"MUG-01", 3}, "L3": {"BAG-01", 0}}
		for _, a := range e.adjustments() {
			w := want[a.OrderNo]
			if a.SKU != w.sku || a.StockAfter == nil || *a.StockAfter != w.after {
				t.Errorf("line %s: sku %q stock_after %v, want %q %d", a.OrderNo, a.SKU, a.StockAfter, w.sku, w.after)
			}
		}
		keys := map[string]bool{}
		for _, d := range e.events(event.InventoryAdjusted) {
			keys[d.OrderKeys[0]] = true
		}
		if len(keys) != 3 || !keys["sku:shop|TS-001-L"] || !keys["sku:shop|BAG-01"] {
			t.Errorf("delivery order keys %v, want one per SKU", keys)
		}
	})
}

// TestUnknownSKU: a line whose SKU is in no catalog is still adjusted,
// without stock_after, and counted; with a catalog loaded it is warned.
func TestUnknownSKU(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{}, func(t *testing.T, e *env) {
		e.send("", event.OrderPlaced, order("shop", "P1", line{"O1", "9999", "NOPE-1", "NOPE-1-X", 2}))
		e.importCSV("shop", "GoodsList.csv", goodsCSV)
		e.send("", event.OrderPlaced, order("shop", "P2", line{"O2", "9998", "NOPE-2", "", 1}))
		adj := e.adjustments()
		if len(adj) != 2 || adj[0].SKU != "NOPE-1-X" || adj[1].SKU != "NOPE-2" {
			t.Fatalf("adjustments %+v, want NOPE-1-X and NOPE-2", adj)
		}
		for _, a := range adj {
			if a.StockAfter != nil || a.Delta >= 0 {
				t.Errorf("%s: stock_after %v delta %d, want none and negative", a.SKU, a.StockAfter, a.Delta)
			}
		}
		if got := testutil.ToFloat64(e.d.m.unknownSKU); got != 2 {
			t.Errorf("unknown SKUs counted %v, want 2", got)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, `"level":"WARN","msg":"inventory: SKU not in the catalog`) || !strings.Contains(logs, `"sku":"NOPE-2"`) {
			t.Errorf("no warning for NOPE-2 in the log:\n%s", logs)
		}
	})
}

// TestUnreservedCancel: a cancel of a line never reserved adjusts
// nothing, is logged (without buyer data) and counted; the order mail
// that comes after it reserves nothing either.
func TestUnreservedCancel(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{}, func(t *testing.T, e *env) {
		e.importCSV("shop", "GoodsList.csv", goodsCSV)
		rc := e.send("", event.OrderCancelled, order("shop", "P1", line{"O1", "1001", "TS-001", "", 2}))
		if len(rc.DerivedEvents) != 0 {
			t.Errorf("cancel derived %v", rc.DerivedEvents)
		}
		if got := testutil.ToFloat64(e.d.m.unreserved); got != 1 {
			t.Errorf("unreserved cancels counted %v, want 1", got)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, "cancel of an order line never reserved") || !strings.Contains(logs, `"order_no":"O1"`) {
			t.Errorf("the unreserved cancel is not in the log:\n%s", logs)
		}
		for _, buyer := range []string{"佐藤", "hanako@example.jp", "03-1234-5678"} {
			if strings.Contains(logs, buyer) {
				t.Errorf("the log names the buyer (%s):\n%s", buyer, logs)
			}
		}
		if rc := e.send("", event.OrderPlaced, order("shop", "P1", line{"O1", "1001", "TS-001", "", 2})); len(rc.DerivedEvents) != 0 {
			t.Errorf("order after its cancel derived %v", rc.DerivedEvents)
		}
		if got := e.stock("shop", "TS-001"); got != 10 {
			t.Errorf("stock %d, want 10 untouched", got)
		}
		if got := testutil.ToFloat64(e.d.m.skipped.WithLabelValues(skipCancelled)); got != 1 {
			t.Errorf("lines skipped as cancelled: %v, want 1", got)
		}
	})
}

// TestPolicies: which types reserve and release follows the route;
// cancel requests and completions adjust nothing by default.
func TestPolicies(t *testing.T) {
	t.Parallel()
	policy := func(tenant string) Policy {
		switch tenant {
		case "paid":
			return Policy{ReserveOn: event.OrderPaid, ReleaseOn: event.OrderCancelled}
		case "off":
			return Policy{}
		}
		return DefaultPolicy
	}
	forStores(t, DeriverOptions{Policy: policy}, func(t *testing.T, e *env) {
		for _, ty := range []event.Type{event.OrderCancelRequested, event.OrderCompleted, event.MailUnrecognized} {
			e.send("", ty, order("shop", "P0", line{"O0", "1", "", "", 1}))
		}
		e.send("paid", event.OrderPlaced, order("shop", "P1", line{"O1", "1", "", "", 1}))
		if n := len(e.adjustments()); n != 0 {
			t.Fatalf("%d adjustments before anything reserves, want 0", n)
		}
		e.send("paid", event.OrderPaid, order("shop", "P1", line{"O1", "1", "", "", 1}))
		e.send("off", event.OrderPlaced, order("shop", "P2", line{"O2", "2", "", "", 1}))
		e.send("", event.OrderPaid, order("shop", "P3", line{"O3", "3", "", "", 1}))
		adj := e.adjustments()
		if len(adj) != 1 || adj[0].OrderNo != "O1" || adj[0].Reason != Reserve {
			t.Errorf("adjustments %+v, want only O1 reserved on order.paid", adj)
		}
	})
}

// TestBadLines: lines without order number, quantity or any code are
// skipped and counted, and do not fail the mail.
func TestBadLines(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{Settings: Settings{SKUOrder: []string{KeyOptionCode}}}, func(t *testing.T, e *env) {
		rc := e.send("", event.OrderPlaced, order("shop", "P1",
			line{"", "1", "A", "A-1", 1}, line{"O2", "1", "A", "A-1", 0}, line{"O3", "1", "A", "", 1}, line{"O4", "1", "A", "A-1", 1}))
		if len(rc.DerivedEvents) != 1 {
			t.Errorf("derived %d events, want 1 (O4)", len(rc.DerivedEvents))
		}
		for reason, want := range map[string]float64{skipNoOrderNo: 1, skipNoQty: 1, skipNoSKU: 1} {
			if got := testutil.ToFloat64(e.d.m.skipped.WithLabelValues(reason)); got != want {
				t.Errorf("skipped %s: %v, want %v", reason, got, want)
			}
		}
	})
}

// TestSKUOrder: a configured order decides which code names the SKU, in
// the catalog and in orders alike.
func TestSKUOrder(t *testing.T) {
	t.Parallel()
	o := DeriverOptions{Settings: Settings{SKUOrder: []string{KeyItemNo, KeyOptionCode}}}
	forStores(t, o, func(t *testing.T, e *env) {
		e.importCSV("shop", "GoodsList.csv", goodsCSV)
		e.send("", event.OrderPlaced, order("shop", "P1", line{"O1", "1002", "MUG-01", "MUG-01-X", 2}))
		if got := e.stock("shop", "1002"); got != 3 {
			t.Errorf("stock of item 1002 = %d, want 3", got)
		}
		if adj := e.adjustments(); len(adj) != 1 || adj[0].SKU != "1002" {
			t.Errorf("adjustments %+v, want SKU 1002", adj)
		}
	})
}

// TestLowStockFiresOnce: crossing below the threshold fires once; going
// further down does not; rising back re-arms it.
func TestLowStockFiresOnce(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{Settings: Settings{Threshold: 3}}, func(t *testing.T, e *env) {
		e.importCSV("shop", "GoodsList.csv", goodsCSV)                                      // MUG-01: 5
		e.send("", event.OrderPlaced, order("shop", "P1", line{"O1", "", "MUG-01", "", 1})) // 4
		if n := len(e.lowStock()); n != 0 {
			t.Fatalf("%d low-stock events at 4, want 0", n)
		}
		rc := e.send("", event.OrderPlaced, order("shop", "P2", line{"O2", "", "MUG-01", "", 2})) // 2: fires
		if len(rc.DerivedEvents) != 2 {
			t.Errorf("crossing mail derived %d events, want the adjustment and the low-stock event", len(rc.DerivedEvents))
		}
		e.send("", event.OrderPlaced, order("shop", "P3", line{"O3", "", "MUG-01", "", 1})) // 1: already low
		low := e.lowStock()
		if len(low) != 1 || low[0].SKU != "MUG-01" || low[0].Stock != 2 || low[0].Threshold != 3 ||
			low[0].SourceEventID != event.ID("inventory", "shop", "O2", Reserve) {
			t.Fatalf("low-stock events %+v, want one at 2", low)
		}
		for _, d := range e.events(event.InventoryLowStock) {
			if len(d.OrderKeys) != 1 || d.OrderKeys[0] != "sku:shop|MUG-01" {
				t.Errorf("low-stock delivery keys %v", d.OrderKeys)
			}
		}
		e.send("", event.OrderCancelled, order("shop", "P2", line{"O2", "", "", "", 2}))    // 3: back at the threshold
		e.send("", event.OrderPlaced, order("shop", "P4", line{"O4", "", "MUG-01", "", 1})) // 2: fires again
		if n := len(e.lowStock()); n != 2 {
			t.Errorf("%d low-stock events, want 2", n)
		}
		if got := testutil.ToFloat64(e.d.m.lowStock); got != 2 {
			t.Errorf("low-stock events counted %v, want 2", got)
		}
	})
}

// TestDeriverFailureFailsTheMail: when the inventory tables cannot be
// written, the mail is not stored either.
func TestDeriverFailureFailsTheMail(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{}, func(t *testing.T, e *env) {
		if err := e.st.Tx(t.Context(), func(tx *sql.Tx) error {
			_, err := tx.ExecContext(t.Context(), `DROP TABLE inventory_order_line`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		_, err := e.st.Ingest(t.Context(), e.mail("m1", "", event.OrderPlaced, order("shop", "P1", line{"O1", "1", "", "", 1})))
		if err == nil {
			t.Fatal("ingest succeeded without the inventory tables")
		}
		if n := e.count(`SELECT count(*) FROM mail`); n != 0 {
			t.Errorf("%d mails stored, want 0", n)
		}
	})
}

var _ store.Deriver = (&Deriver{}).Derive
