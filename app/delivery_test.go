package app

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

// flakyEndpoint is a webhook receiver on a fixed address that can be down
// (connection refused), failing (503) or up (200).
type flakyEndpoint struct {
	addr  string
	mu    sync.Mutex
	srv   *httptest.Server
	state string // "down", "503", "up"
	log   []hit
}

type hit struct {
	eventType, orderNo, pack, webhookID string
	status                              int
	at                                  time.Time
}

func newFlakyEndpoint(t *testing.T) *flakyEndpoint {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &flakyEndpoint{addr: ln.Addr().String(), state: "down"}
	ln.Close()
	t.Cleanup(func() { e.set(t, "down") })
	return e
}

func (e *flakyEndpoint) url() string { return "http://" + e.addr + "/hook" }

func (e *flakyEndpoint) set(t *testing.T, state string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if state == "down" {
		if e.srv != nil {
			e.srv.CloseClientConnections()
			e.srv.Close()
			e.srv = nil
		}
	} else if e.srv == nil {
		ln, err := net.Listen("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		e.srv = httptest.NewUnstartedServer(http.HandlerFunc(e.serve))
		e.srv.Listener = ln
		e.srv.Start()
	}
	e.state = state
}

func (e *flakyEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	var ev struct {
		Type string `json:"type"`
		Data struct {
			PackNo string `json:"pack_no"`
			Items  []struct {
				OrderNo string `json:"order_no"`
			} `json:"items"`
		} `json:"data"`
	}
	json.NewDecoder(r.Body).Decode(&ev)
	e.mu.Lock()
	code := 200
	if e.state == "503" {
		code = 503
	}
	h := hit{eventType: ev.Type, pack: ev.Data.PackNo, webhookID: r.Header.Get("webhook-id"), status: code, at: time.Now()}
	if len(ev.Data.Items) > 0 {
		h.orderNo = ev.Data.Items[0].OrderNo
	}
	e.log = append(e.log, h)
	e.mu.Unlock()
	w.WriteHeader(code)
}

func (e *flakyEndpoint) hits() []hit {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]hit(nil), e.log...)
}

func (e *flakyEndpoint) waitDelivered(t *testing.T, n int, within time.Duration) []hit {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var ok []hit
		for _, h := range e.hits() {
			if h.status == 200 {
				ok = append(ok, h)
			}
		}
		if len(ok) >= n {
			return ok
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("fewer than %d deliveries within %s; hits: %+v", n, within, e.hits())
	return nil
}

// TestOutageThenRecovery: the endpoint refuses connections, then answers
// 503, then comes up. Every event is delivered once, the events of each
// cart in the order their mails came, and every attempt is recorded.
func TestOutageThenRecovery(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ep := newFlakyEndpoint(t)
			cfg := testConfig(t, st.URL, ep.url())
			cfg.Delivery.RetrySchedule = quickRetries(30, 100*time.Millisecond)
			cfg.Delivery.BreakerFailures = 1000
			svc := start(t, cfg)

			// Two carts, each placed, paid and cancelled, sent interleaved.
			var sent []string
			for _, kind := range []string{"placed", "paid", "cancelled"} {
				for _, pack := range []string{"7001", "7002"} {
					o := order{MessageID: kind + "." + pack + "@qoo10.jp", Seller: "shop", Pack: pack, OrderNo: pack + "1"}
					if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, renderMail(kind, o)); err != nil {
						t.Fatal(err)
					}
					sent = append(sent, pack+"/"+kind)
				}
			}
			waitAttempt(t, svc.svc.Store(), func(a store.Attempt) bool { return a.StatusCode == 0 && a.Error != "" })
			ep.set(t, "503")
			waitAttempt(t, svc.svc.Store(), func(a store.Attempt) bool { return a.StatusCode == 503 })
			ep.set(t, "up")
			waitAllDelivered(t, svc.svc.Store(), 6)
			ok := ep.waitDelivered(t, 6, time.Second)
			if len(ok) != 6 {
				t.Fatalf("%d deliveries, want 6: %+v", len(ok), ok)
			}
			order := map[string][]string{}
			seen := map[string]bool{}
			for _, h := range ok {
				if seen[h.webhookID] {
					t.Errorf("event %s delivered twice", h.webhookID)
				}
				seen[h.webhookID] = true
				order[h.pack] = append(order[h.pack], h.eventType)
			}
			for _, pack := range []string{"7001", "7002"} {
				want := []string{"order.placed", "order.paid", "order.cancelled"}
				if fmt.Sprint(order[pack]) != fmt.Sprint(want) {
					t.Errorf("cart %s delivered as %v, want %v", pack, order[pack], want)
				}
			}
			// No event of a cart was even attempted before its predecessor
			// was delivered.
			deliveredAt := map[string]time.Time{}
			for _, h := range ep.hits() {
				if h.status == 200 {
					deliveredAt[h.pack+h.eventType] = h.at
				}
			}
			for _, h := range ep.hits() {
				prev := map[string]string{"order.paid": "order.placed", "order.cancelled": "order.paid"}[h.eventType]
				if prev == "" {
					continue
				}
				if at, ok := deliveredAt[h.pack+prev]; !ok || h.at.Before(at) {
					t.Errorf("%s of cart %s attempted at %s before %s was delivered", h.eventType, h.pack, h.at.Format("15:04:05.000"), prev)
				}
			}
			ds, err := svc.svc.Store().ListDeliveries(t.Context(), store.DeliveryFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var refused, unavailable, good int
			for _, d := range ds {
				if d.Status != store.DeliveryDelivered {
					t.Errorf("delivery %d is %s", d.ID, d.Status)
				}
				_, attempts, err := svc.svc.Store().GetDelivery(t.Context(), d.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range attempts {
					switch {
					case a.StatusCode == 0 && a.Error != "":
						refused++
					case a.StatusCode == 503:
						unavailable++
					case a.StatusCode == 200:
						good++
					}
				}
			}
			if refused == 0 || unavailable == 0 || good != 6 {
				t.Errorf("attempts recorded: %d refused, %d 503, %d 200", refused, unavailable, good)
			}
		})
	}
}

// TestBreakerIsolatesDeadEndpoint: one endpoint always fails, another works;
// the good one gets everything at once, the dead one is paused by its
// breaker and tried again after the cooldown.
func TestBreakerIsolatesDeadEndpoint(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			var deadHits atomic.Int64
			dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				deadHits.Add(1)
				w.WriteHeader(500)
			}))
			defer dead.Close()
			good := newReceiver(t)
			cfg := testConfig(t, st.URL, "")
			cfg.Endpoints = []config.Endpoint{
				{Name: "dead", URL: dead.URL, Secret: testSecret, Concurrency: 1},
				{Name: "good", URL: good.URL, Secret: testSecret},
			}
			cfg.Routes = []config.Route{{Tenant: "shop", Recipients: []string{"in.example.test"}, Endpoints: []string{"dead", "good"}}}
			cfg.Delivery.RetrySchedule = quickRetries(50, 20*time.Millisecond)
			cfg.Delivery.BreakerFailures = 3
			cfg.Delivery.BreakerCooldown = config.Duration(1500 * time.Millisecond)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			svc := start(t, cfg)
			for i := range 5 {
				o := order{MessageID: fmt.Sprintf("b%d@qoo10.jp", i), Seller: "shop", Pack: fmt.Sprint(8000 + i), OrderNo: fmt.Sprint(9000 + i)}
				if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, renderMail("placed", o)); err != nil {
					t.Fatal(err)
				}
			}
			for range 5 {
				good.nextDelivered(t, 5*time.Second)
			}
			// The breaker opens after 3 failures: the dead endpoint stops
			// being hammered while it is open.
			deadline := time.Now().Add(5 * time.Second)
			var es store.EndpointState
			for time.Now().Before(deadline) {
				states, err := svc.svc.Store().EndpointStates(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if es = states["dead"]; es.CircuitOpen(time.Now()) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !es.CircuitOpen(time.Now()) {
				t.Fatalf("breaker never opened: %+v", es)
			}
			// While it is open, nothing more reaches the dead endpoint (but
			// the attempt that was in flight when it opened).
			before := deadHits.Load()
			time.Sleep(time.Until(es.CircuitOpenUntil) - 100*time.Millisecond)
			if during := deadHits.Load() - before; during > 1 {
				t.Errorf("%d attempts reached the dead endpoint while its breaker was open", during)
			}
			before = deadHits.Load()
			// After the cooldown it is tried again.
			deadline = time.Now().Add(5 * time.Second)
			for deadHits.Load() == before && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if deadHits.Load() == before {
				t.Error("the dead endpoint was not tried again after the cooldown")
			}
		})
	}
}

// TestGoneDisablesEndpoint: a 410 disables the endpoint; its deliveries wait
// until an operator enables it, with all their retries left, and then
// arrive.
func TestGoneDisablesEndpoint(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t, 410)
			svc := start(t, testConfig(t, st.URL, rx.URL))
			o := order{MessageID: "g1@qoo10.jp", Seller: "shop", Pack: "1", OrderNo: "11"}
			if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, renderMail("placed", o)); err != nil {
				t.Fatal(err)
			}
			if r := rx.next(t, 5*time.Second); r.Status != 410 {
				t.Fatalf("status %d", r.Status)
			}
			o2 := order{MessageID: "g2@qoo10.jp", Seller: "shop", Pack: "2", OrderNo: "22"}
			if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, renderMail("placed", o2)); err != nil {
				t.Fatal(err)
			}
			rx.quiet(t, time.Second)
			states, err := svc.svc.Store().EndpointStates(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !states[config.DefaultEndpoint].Disabled {
				t.Fatalf("endpoint not disabled: %+v", states)
			}
			ds, err := svc.svc.Store().ListDeliveries(t.Context(), store.DeliveryFilter{Limit: 10})
			if err != nil || len(ds) != 2 {
				t.Fatalf("%d deliveries (%v), want 2", len(ds), err)
			}
			for _, d := range ds {
				if d.Status != store.DeliveryPending || d.ScheduleIndex() != 0 {
					t.Errorf("delivery %d after the 410: %s, %d attempts, at step %d of its schedule; want pending at step 0",
						d.ID, d.Status, d.Attempts, d.ScheduleIndex())
				}
			}
			if err := svc.svc.Store().EnableEndpoint(t.Context(), config.DefaultEndpoint); err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for range 2 {
				got[get(verify(t, rx.nextDelivered(t, 10*time.Second)), "data.pack_no").(string)] = true
			}
			if !got["1"] || !got["2"] {
				t.Errorf("delivered carts %v, want 1 and 2", got)
			}
		})
	}
}

// TestRetryAfterHonoured: a 429 with Retry-After delays the next attempt
// beyond the schedule's wait.
func TestRetryAfterHonoured(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			var hits atomic.Int64
			arrived := make(chan time.Time, 10)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) == 1 {
					w.Header().Set("Retry-After", "2")
					w.WriteHeader(http.StatusTooManyRequests)
				}
				select {
				case arrived <- time.Now():
				default:
				}
			}))
			defer srv.Close()
			svc := start(t, testConfig(t, st.URL, srv.URL))
			if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, renderMail("placed", order{MessageID: "r@qoo10.jp", Seller: "s", Pack: "1", OrderNo: "1"})); err != nil {
				t.Fatal(err)
			}
			var first time.Time
			select {
			case first = <-arrived:
			case <-time.After(10 * time.Second):
				t.Fatal("no first attempt")
			}
			select {
			case second := <-arrived:
				if gap := second.Sub(first); gap < 1900*time.Millisecond {
					t.Errorf("second attempt %s after the 429, want at least the 2s Retry-After asked", gap)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no second attempt")
			}
			waitDelivery(t, svc.svc.Store(), store.DeliveryDelivered)
		})
	}
}

// TestEndpointConcurrencyBound: no more attempts in flight at an endpoint
// than its concurrency.
func TestEndpointConcurrencyBound(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			var inFlight, peak, delivered atomic.Int64
			// The first attempts are held until the cap is reached, so that
			// the test does not depend on two attempts overlapping by
			// chance; then each attempt takes a while, so that an endpoint
			// taking more than its cap would show it.
			gate := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := inFlight.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				select {
				case <-gate:
				case <-r.Context().Done():
				}
				time.Sleep(50 * time.Millisecond)
				inFlight.Add(-1)
				delivered.Add(1)
			}))
			defer srv.Close()
			cfg := testConfig(t, st.URL, "")
			cfg.Endpoints = []config.Endpoint{{Name: "slow", URL: srv.URL, Secret: testSecret, Concurrency: 2}}
			cfg.Routes = []config.Route{{Tenant: "shop", Recipients: []string{"in.example.test"}, Endpoints: []string{"slow"}}}
			svc := start(t, cfg)
			for i := range 10 {
				o := order{MessageID: fmt.Sprintf("c%d@qoo10.jp", i), Seller: "shop", Pack: fmt.Sprint(i), OrderNo: fmt.Sprint(100 + i)}
				if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, renderMail("placed", o)); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(4 * time.Second)
			for inFlight.Load() < 2 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			close(gate)
			waitAllDelivered(t, svc.svc.Store(), 10)
			if n := delivered.Load(); n < 10 {
				t.Fatalf("%d delivered", n)
			}
			if p := peak.Load(); p != 2 {
				t.Errorf("peak concurrency %d, want 2", p)
			}
		})
	}
}

// waitAttempt waits until some recorded attempt matches.
func waitAttempt(t *testing.T, st *store.Store, match func(store.Attempt) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ds, err := st.ListDeliveries(t.Context(), store.DeliveryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			_, attempts, err := st.GetDelivery(t.Context(), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range attempts {
				if match(a) {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no matching attempt recorded within 10s")
}

// waitAllDelivered waits until n deliveries exist and all are delivered.
func waitAllDelivered(t *testing.T, st *store.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ds, err := st.ListDeliveries(t.Context(), store.DeliveryFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, d := range ds {
			if d.Status == store.DeliveryDelivered {
				done++
			}
		}
		if len(ds) == n && done == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("not all %d deliveries delivered within 20s", n)
}
