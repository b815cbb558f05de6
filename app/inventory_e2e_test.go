package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/inventory"
)

// gatedReceiver is a webhook endpoint that answers 503 to the requests
// hold picks until it is opened, and 200 to everything else.
type gatedReceiver struct {
	*httptest.Server
	open    atomic.Bool
	held    chan struct{} // one value per refused request
	arrived chan request
	hold    func(ev map[string]any) bool
}

func newGatedReceiver(t *testing.T, hold func(map[string]any) bool) *gatedReceiver {
	rx := &gatedReceiver{held: make(chan struct{}, 100), arrived: make(chan request, 1000), hold: hold}
	rx.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev map[string]any
		json.Unmarshal(body, &ev)
		code := 200
		if !rx.open.Load() && rx.hold(ev) {
			code = 503
		}
		req := request{Header: r.Header.Clone(), Body: body, Status: code}
		w.WriteHeader(code)
		if code == 503 {
			rx.held <- struct{}{}
			return
		}
		rx.arrived <- req
	}))
	t.Cleanup(rx.Close)
	return rx
}

// next waits for the next 2xx request and returns its verified event.
func (rx *gatedReceiver) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case r := <-rx.arrived:
		ev := verify(t, r)
		if r.Header.Get("webhook-id") != ev["id"] {
			t.Errorf("webhook-id %q, event id %v", r.Header.Get("webhook-id"), ev["id"])
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook delivered in 20s")
		return nil
	}
}

// TestInventoryThroughSMTP: a CrossMall cart mail with three lines, then
// the cancel mail of one line, become signed inventory.adjusted webhooks
// (and one inventory.low_stock). The catch-all endpoint, which takes the
// order events too, gets everything in the cart's order; an
// inventory-only endpoint gets each SKU's events in order, the release
// after the reservation it gives back even when that one has to be
// retried, while other SKUs go on. Re-sent mails adjust nothing, and the
// stock API shows the result.
func TestInventoryThroughSMTP(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			all := newGatedReceiver(t, func(map[string]any) bool { return false })
			stock := newGatedReceiver(t, func(ev map[string]any) bool {
				return ev["type"] == "inventory.adjusted" && get(ev, "data.sku") == "HT-001" && get(ev, "data.reason") == "reserve"
			})
			cfg := testConfig(t, st.URL, all.URL)
			cfg.Inventory = config.DefaultInventory()
			cfg.Inventory.LowStockThreshold = 2
			cfg.Endpoints = []config.Endpoint{{Name: "stock", URL: stock.URL, Secret: testSecret,
				Events: []string{"inventory.adjusted", "inventory.low_stock"}}}
			cfg.Routes = []config.Route{{Tenant: "cm", Recipients: []string{"in.example.test"}, Endpoints: []string{"stock"}}}
			cfg.Delivery.RetrySchedule = quickRetries(30, 100*time.Millisecond)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			cfg.HTTP.AdminToken = testAdminToken
			svc := start(t, cfg)
			api := func(method, path string, body []byte) (int, []byte) {
				req, err := http.NewRequestWithContext(t.Context(), method, "http://"+svc.svc.HTTPAddr()+path, bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+testAdminToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, b
			}

			// The catalog is uploaded through the authenticated admin API.
			for _, f := range []string{"GoodsList-cm_shop-cp932.csv", "InventoryManagement_gridInventory-cm_shop.csv"} {
				if code, body := api("POST", "/api/v1/catalog?seller_id=cm_shop&partial=true&filename="+f, fixture(t, f)); code != 200 {
					t.Fatalf("upload %s: %d %s", f, code, body)
				}
			}
			if code, _ := call(t, "GET", "http://"+svc.svc.HTTPAddr()+"/api/v1/stock", ""); code != 401 {
				t.Errorf("stock API without a token: %d, want 401", code)
			}

			rcpt := []string{"orders@in.example.test"}
			cart := fixture(t, "crossmall-group-3-lines.eml")
			if err := send(t, svc.svc.SMTPAddr(), rcpt, cart); err != nil {
				t.Fatalf("send cart: %v", err)
			}
			select {
			case <-stock.held:
			case <-time.After(20 * time.Second):
				t.Fatal("the HT-001 reservation was not attempted in 20s")
			}
			// The other SKUs are not held up by HT-001's retries.
			var toStock []map[string]any
			for range 3 {
				toStock = append(toStock, stock.next(t))
			}
			// The release is stored while the reservation it gives back
			// is still waiting for its retry.
			cancel := fixture(t, "claim-complete-crossmall-line-1.eml")
			if err := send(t, svc.svc.SMTPAddr(), rcpt, cancel); err != nil {
				t.Fatalf("send cancel: %v", err)
			}
			stock.open.Store(true)
			for range 2 {
				toStock = append(toStock, stock.next(t))
			}
			var toAll []map[string]any
			for range 7 {
				toAll = append(toAll, all.next(t))
			}

			// The cart's events come first and in order; its adjustments
			// follow them, the release after the cancellation. The
			// cancellation itself need not wait for the reservations.
			placed := toAll[0]["id"]
			if toAll[0]["type"] != "order.placed" {
				t.Fatalf("catch-all got %s first, want order.placed", toAll[0]["type"])
			}
			var cancelled any
			for i, ev := range toAll {
				switch {
				case ev["type"] == "order.cancelled":
					cancelled = ev["id"]
				case get(ev, "data.reason") == "release" && cancelled == nil:
					t.Errorf("catch-all got the release at %d, before order.cancelled", i)
				}
			}
			if cancelled == nil {
				t.Fatal("catch-all got no order.cancelled")
			}
			want := []struct {
				key          string // order_no/reason, or low/sku
				sku          string
				delta, after float64
				source       any
			}{
				{"800000001/reserve", "HT-001", -2, 8, placed},
				{"800000002/reserve", "HT-002-BL", -3, 2, placed},
				{"800000003/reserve", "HT-003", -1, 1, placed},
				{"low/HT-003", "HT-003", 0, 1, nil},
				{"800000001/release", "HT-001", 2, 10, cancelled},
			}
			inventoryOf := func(evs []map[string]any) []map[string]any {
				var out []map[string]any
				for _, ev := range evs {
					if t, _ := ev["type"].(string); strings.HasPrefix(t, "inventory.") {
						out = append(out, ev)
					}
				}
				return out
			}
			check := func(ev map[string]any) string {
				if ev["type"] == "inventory.low_stock" {
					if get(ev, "data.stock") != 1.0 || get(ev, "data.threshold") != 2.0 || ev["tenant"] != "cm" {
						t.Errorf("low stock %v", ev)
					}
					return "low/" + get(ev, "data.sku").(string)
				}
				key := get(ev, "data.order_no").(string) + "/" + get(ev, "data.reason").(string)
				for _, w := range want {
					if w.key != key {
						continue
					}
					if get(ev, "data.sku") != w.sku || get(ev, "data.delta") != w.delta || get(ev, "data.stock_after") != w.after ||
						get(ev, "data.source_event_id") != w.source || get(ev, "data.seller_id") != "cm_shop" ||
						get(ev, "data.pack_no") != "700100200" || ev["version"] != 1.0 || ev["tenant"] != "cm" {
						t.Errorf("%s: %v, want %+v", key, ev, w)
					}
					reason := get(ev, "data.reason").(string)
					if id := event.ID("inventory", "cm_shop", get(ev, "data.order_no").(string), reason); ev["id"] != id {
						t.Errorf("%s: id %v, want %s", key, ev["id"], id)
					}
				}
				return key
			}
			var gotAll, gotStock []string
			for _, ev := range inventoryOf(toAll) {
				gotAll = append(gotAll, check(ev))
			}
			for _, ev := range inventoryOf(toStock) {
				gotStock = append(gotStock, check(ev))
			}
			var wantAll []string
			for _, w := range want {
				wantAll = append(wantAll, w.key)
			}
			if strings.Join(gotAll, " ") != strings.Join(wantAll, " ") {
				t.Errorf("catch-all inventory webhooks\n%v, want the cart's order\n%v", gotAll, wantAll)
			}
			// HT-001 was held: the others came first, then its
			// reservation, then its release.
			if len(gotStock) != 5 || gotStock[3] != "800000001/reserve" || gotStock[4] != "800000001/release" {
				t.Errorf("inventory endpoint webhooks %v, want HT-001's reserve then release last", gotStock)
			}

			// The same mails again, and the cart re-sent with a new
			// Message-ID: nothing more is adjusted or delivered.
			for _, raw := range [][]byte{cart, cancel, bytes.Replace(cart, []byte("inv-cart-3@"), []byte("inv-cart-3-resent@"), 1)} {
				if err := send(t, svc.svc.SMTPAddr(), rcpt, raw); err != nil {
					t.Fatalf("re-send: %v", err)
				}
			}
			select {
			case r := <-all.arrived:
				t.Errorf("unexpected webhook after re-sends: %s", r.Body)
			case r := <-stock.arrived:
				t.Errorf("unexpected webhook after re-sends: %s", r.Body)
			case <-time.After(700 * time.Millisecond):
			}

			code, body := api("GET", "/api/v1/stock?seller_id=cm_shop", nil)
			var page inventory.StockPage
			if err := json.Unmarshal(body, &page); err != nil || code != 200 {
				t.Fatalf("stock API: %d %s", code, body)
			}
			qty := map[string]int64{}
			low := map[string]bool{}
			for _, s := range page.Stock {
				qty[s.SKU], low[s.SKU] = s.Qty, s.Low
			}
			wantQty := map[string]int64{"HT-001": 10, "HT-002": 9, "HT-003": 1, "HT-002-BL": 2, "HT-002-RD": 4}
			for sku, q := range wantQty {
				if qty[sku] != q {
					t.Errorf("stock of %s = %d, want %d (all: %v)", sku, qty[sku], q, qty)
				}
			}
			if len(qty) != len(wantQty) || !low["HT-003"] || low["HT-002-BL"] {
				t.Errorf("stock %v, low %v", qty, low)
			}

			// The derived events are counted with the others, by type.
			mfs := scrape(t, svc.svc.HTTPAddr())
			for typ, want := range map[string]float64{"order.placed": 1, "order.cancelled": 1, "inventory.adjusted": 4, "inventory.low_stock": 1} {
				if got, _ := value(mfs, "qoo10hook_events_total", "type", typ); got != want {
					t.Errorf("qoo10hook_events_total{type=%q} = %v, want %v", typ, got, want)
				}
			}
		})
	}
}
