package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestChainWaitsWithoutWorker: while one cart's first event is held at the
// endpoint, that cart's later events wait without holding a worker (they
// are parked, once each), other carts of the same endpoint flow past them,
// and once the first is answered the cart's events follow in order, woken
// by its answer: the queues' polling is set to a minute, as the parked
// deliveries' fallback wait is a minute, so neither can be what delivers.
func TestChainWaitsWithoutWorker(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			release := make(chan struct{})
			held := make(chan struct{}, 1)
			answered := make(chan string, 16) // "pack/type", in the order answered 2xx
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var ev struct {
					Type string `json:"type"`
					Data struct {
						PackNo string `json:"pack_no"`
					} `json:"data"`
				}
				json.NewDecoder(r.Body).Decode(&ev)
				if ev.Data.PackNo == "8001" && ev.Type == "order.placed" {
					select {
					case held <- struct{}{}:
					default:
					}
					<-release
				}
				answered <- ev.Data.PackNo + "/" + ev.Type
			}))
			defer srv.Close()
			cfg := testConfig(t, st.URL, "")
			cfg.Endpoints = []config.Endpoint{{Name: "vendor", URL: srv.URL, Secret: testSecret, Concurrency: 2,
				Events: []string{"order.placed", "order.paid", "order.cancelled"}}}
			cfg.Routes = []config.Route{{Tenant: "shop", Recipients: []string{"in.example.test"}, Endpoints: []string{"vendor"}}}
			cfg.Delivery.PollInterval = config.Duration(time.Minute)
			svc := start(t, cfg)
			mail := func(kind, pack string) {
				t.Helper()
				o := order{MessageID: kind + "." + pack + "@qoo10.jp", Seller: "shop", Pack: pack, OrderNo: pack + "1"}
				if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, renderMail(kind, o)); err != nil {
					t.Fatal(err)
				}
			}
			mail("placed", "8001")
			select {
			case <-held:
			case <-time.After(30 * time.Second):
				t.Fatal("the first event never reached the endpoint")
			}
			mail("paid", "8001")
			mail("cancelled", "8001")
			for _, pack := range []string{"8002", "8003", "8004"} {
				mail("placed", pack)
			}
			// The other carts pass the held one, through the endpoint's
			// second slot, and its later events are parked meanwhile.
			got := receive(t, answered, 3, "the other carts delivered past the held one")
			expectWaited(t, svc.svc.HTTPAddr(), 30*time.Second, 2)
			close(release)
			got = append(got, receive(t, answered, 3, "the held cart's events delivered")...)
			cart := []string{}
			for _, g := range got {
				if g[:4] == "8001" {
					cart = append(cart, g)
				}
			}
			if want := "[8001/order.placed 8001/order.paid 8001/order.cancelled]"; fmt.Sprint(cart) != want {
				t.Errorf("cart 8001 delivered as %v, want %s", cart, want)
			}
			// Each parked delivery ran again once, when woken: none was
			// parked a second time.
			expectWaited(t, svc.svc.HTTPAddr(), time.Second, 2)
			// The woken ones went from the attempt that woke them to the
			// endpoint's own goroutines, not through River: six
			// deliveries taken in all, four of them from their commit.
			const want = 6.0
			if mfs, ok := scrapeUntil(t, svc.svc.HTTPAddr(), 5*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
				return sumOf(mfs, "qoo10hook_webhook_dispatched_total", "vendor") == want
			}); !ok {
				t.Errorf("%v deliveries dispatched without River, want %v", sumOf(mfs, "qoo10hook_webhook_dispatched_total", "vendor"), want)
			}
		})
	}
}

// expectWaited waits until the endpoint vendor's deliveries that waited
// without a worker number want: parked by their worker, or queued parked
// (a delivery stored behind a pending one is).
func expectWaited(t *testing.T, addr string, within time.Duration, want float64) {
	t.Helper()
	waited := func(mfs map[string]*dto.MetricFamily) (parked, queued float64) {
		return sumOf(mfs, "qoo10hook_webhook_parked_total", "vendor"),
			sumOf(mfs, "qoo10hook_store_deliveries_queued_behind_total", "vendor")
	}
	mfs, held := scrapeUntil(t, addr, within, func(mfs map[string]*dto.MetricFamily) bool {
		parked, queued := waited(mfs)
		return parked+queued == want
	})
	if !held {
		parked, queued := waited(mfs)
		t.Errorf("%v deliveries parked and %v queued behind, want %v in all", parked, queued, want)
	}
}

// receive takes n values from ch, or fails after 30 s.
func receive(t *testing.T, ch <-chan string, n int, what string) []string {
	t.Helper()
	var out []string
	deadline := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case v := <-ch:
			out = append(out, v)
		case <-deadline:
			t.Fatalf("%s: %d of %d within 30s (%v)", what, len(out), n, out)
		}
	}
	return out
}

// TestFlashSaleAdjustmentsWait: in a flash sale each stock adjustment
// follows both its SKU's previous adjustment and its own order event.
// While the SKU's first adjustment is refused and retried, the later
// carts' order events go through, and their adjustments wait for the
// first one, then follow it in order. On SQLite an adjustment whose order
// event went first stays parked until the SKU's previous one ends: no
// worker fetches it only to park it again.
func TestFlashSaleAdjustmentsWait(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newGatedReceiver(t, func(ev map[string]any) bool {
				return ev["type"] == "inventory.adjusted" && get(ev, "data.order_no") == "90011"
			})
			cfg := testConfig(t, st.URL, "")
			cfg.Inventory = config.DefaultInventory()
			cfg.Endpoints = []config.Endpoint{{Name: "vendor", URL: rx.URL, Secret: testSecret,
				Events: []string{"order.placed", "inventory.adjusted"}}}
			cfg.Routes = []config.Route{{Tenant: "shop", Recipients: []string{"in.example.test"}, Endpoints: []string{"vendor"}}}
			cfg.Delivery.RetrySchedule = quickRetries(100, 100*time.Millisecond)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			svc := start(t, cfg)
			mail := func(pack string) {
				t.Helper()
				o := order{MessageID: "placed." + pack + "@qoo10.jp", Seller: "shop", Pack: pack, OrderNo: pack + "1"}
				if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, renderMail("placed", o)); err != nil {
					t.Fatal(err)
				}
			}
			mail("9001")
			select {
			case <-rx.held:
			case <-time.After(20 * time.Second):
				t.Fatal("the first adjustment was not attempted in 20s")
			}
			mail("9002")
			mail("9003")
			// Three carts: no order among them is promised (two may be
			// attempted at once).
			var placed []string
			for range 3 {
				ev := rx.next(t)
				if ev["type"] != "order.placed" {
					t.Fatalf("got %s %v while the first adjustment is refused, want the carts' order events", ev["type"], get(ev, "data.order_no"))
				}
				placed = append(placed, fmt.Sprint(get(ev, "data.pack_no")))
			}
			if slices.Sort(placed); fmt.Sprint(placed) != "[9001 9002 9003]" {
				t.Errorf("order events delivered of carts %v, want 9001, 9002 and 9003", placed)
			}
			if st.Name == "sqlite" {
				// Each refusal is River's fetch and run of the first
				// adjustment's retry. Woken by their order events, the
				// waiting adjustments would be due before it, fetched at
				// once and parked by their workers: by the second refusal
				// from now, that would show.
				for drained := false; !drained; {
					select {
					case <-rx.held:
					default:
						drained = true
					}
				}
				for range 2 {
					select {
					case <-rx.held:
					case <-time.After(20 * time.Second):
						t.Fatal("the first adjustment was not retried in 20s")
					}
				}
				if n := sumOf(scrape(t, svc.svc.HTTPAddr()), "qoo10hook_webhook_parked_total", "vendor"); n != 0 {
					t.Errorf("%v adjustments parked by a worker while they waited, want 0", n)
				}
			}
			rx.open.Store(true)
			var adjusted []any
			for range 3 {
				ev := rx.next(t)
				if ev["type"] != "inventory.adjusted" {
					t.Fatalf("got %s, want the SKU's adjustments", ev["type"])
				}
				adjusted = append(adjusted, get(ev, "data.order_no"))
			}
			if fmt.Sprint(adjusted) != "[90011 90021 90031]" {
				t.Errorf("adjustments delivered as %v, want the SKU's in the order of its carts", adjusted)
			}
		})
	}
}
