package webhook

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

// droppingDispatcher takes deliveries and loses them, as a process that
// crashed after their commit.
type droppingDispatcher struct{}

func (droppingDispatcher) Accepts(string) bool        { return true }
func (droppingDispatcher) Dispatch([]*store.Delivery) {}

// openWorking opens a store that works jobs, as the service's does (on a
// queue nobody queues to), and closes it when the test ends.
func openWorking(t *testing.T, u store.URL) *store.Store {
	t.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[store.DeliveryArgs]) error { return nil }))
	s, err := store.Open(t.Context(), store.Options{URL: u, Workers: workers,
		Queues: map[string]river.QueueConfig{"idle": {MaxWorkers: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startWith starts s with dispatcher d.
func startWith(t *testing.T, s *store.Store, d store.Dispatcher) {
	t.Helper()
	if taken, err := s.SetDispatcher(t.Context(), d); !taken || err != nil {
		t.Fatalf("the store took no dispatcher: %v", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestSweepHandsOverWhatItSawTwice: past the start, a delivery without a
// job is handed to River only once two sweeps found it, and never while
// Direct holds it (it may be between its commit and Dispatch).
func TestSweepHandsOverWhatItSawTwice(t *testing.T) {
	u, err := store.ParseURL(testenv.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	s := openWorking(t, u)
	startWith(t, s, droppingDispatcher{})
	for i, id := range []string{"evt_s1", "evt_s2"} {
		in := &store.Ingest{Mail: store.Mail{QueueID: id, ReceivedAt: time.Now(), DedupKey: id, Raw: []byte("x"),
			Status: store.MailUnrecognized}, Events: []store.Event{{ID: id, Type: "mail.unrecognized", CreatedAt: time.Now(),
			Payload: []byte(`{}`), Deliveries: []store.NewDelivery{{Endpoint: "e"}}}}}
		if _, err := s.Ingest(t.Context(), in); err != nil {
			t.Fatalf("mail %d: %v", i, err)
		}
	}
	w := NewWorker(s, []*Endpoint{endpoint(t, "http://127.0.0.1:1/")}, Policy{Timeout: time.Second},
		NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler), "test")
	d := NewDirect(w, slog.New(slog.DiscardHandler))
	jobless := func() []int64 {
		t.Helper()
		ids, err := s.JoblessDeliveries(t.Context(), time.Now(), 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	ids := jobless()
	if len(ids) != 2 {
		t.Fatalf("deliveries without a job: %v, want 2", ids)
	}
	d.held[ids[0]] = struct{}{}

	seen := d.sweep(time.Now(), map[int64]bool{})
	if got := jobless(); len(got) != 2 {
		t.Fatalf("the first sighting handed over %v", got)
	}
	if len(seen) != 1 || !seen[ids[1]] {
		t.Fatalf("first sweep saw %v, want only %d (%d is held)", seen, ids[1], ids[0])
	}
	seen = d.sweep(time.Now(), seen)
	if got := jobless(); len(got) != 1 || got[0] != ids[0] {
		t.Errorf("after the second sighting, without a job: %v, want only the held %d", got, ids[0])
	}
	if len(seen) != 0 {
		t.Errorf("second sweep left %v", seen)
	}
	d.release(ids[0])
	d.sweep(time.Now(), nil) // as at start
	if got := jobless(); len(got) != 0 {
		t.Errorf("the sweep at start left %v without a job", got)
	}
}

// startDirect starts a Direct for one endpoint at url, on store s.
func startDirect(t *testing.T, s *store.Store, url string) (*Direct, *Endpoint) {
	t.Helper()
	ep := endpoint(t, url)
	w := NewWorker(s, []*Endpoint{ep}, Policy{Timeout: 5 * time.Second, Schedule: []time.Duration{0, time.Hour}},
		NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler), "test")
	d := NewDirect(w, slog.New(slog.DiscardHandler))
	startWith(t, s, d)
	d.Start()
	return d, ep
}

// TestFollowerWaitsForItsCommit: a stock adjustment stored with its order
// event is taken with it and attempted only once the order event has
// ended; when the order event's attempt does not end it, the adjustment
// goes to River parked behind it, not to the endpoint.
func TestFollowerWaitsForItsCommit(t *testing.T) {
	u, err := store.ParseURL(testenv.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	arrived := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		arrived <- id
		if id == "evt_fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	s := openWorking(t, u)
	d, ep := startDirect(t, s, srv.URL)

	for n, ids := range [][2]string{{"evt_ok", "evt_ok_adjust"}, {"evt_fail", "evt_fail_adjust"}} {
		cart := fmt.Sprintf("shop|%d", n)
		ev := func(id, typ string, nd store.NewDelivery) store.Event {
			return store.Event{ID: id, Type: typ, CreatedAt: time.Now(), Payload: []byte(`{"id":"` + id + `"}`),
				Deliveries: []store.NewDelivery{nd}}
		}
		in := &store.Ingest{Mail: store.Mail{QueueID: ids[0], ReceivedAt: time.Now(), DedupKey: ids[0], Raw: []byte("x"),
			Status: store.MailParsed}, Events: []store.Event{
			ev(ids[0], "order.placed", store.NewDelivery{Endpoint: ep.Name, OrderKey: cart}),
			// Another SKU each: each adjustment follows only its order event.
			ev(ids[1], "inventory.adjusted", store.NewDelivery{Endpoint: ep.Name, OrderKey: "sku|" + cart, SecondKey: cart}),
		}}
		if _, err := s.Ingest(t.Context(), in); err != nil {
			t.Fatal(err)
		}
	}
	// Three requests: both order events and the first adjustment. Stop
	// then waits for what they set off: the attempts' records, the second
	// adjustment's hand-over.
	var got []string
	for range 3 {
		select {
		case id := <-arrived:
			got = append(got, id)
		case <-time.After(10 * time.Second):
			t.Fatalf("requests %v, then nothing for 10s", got)
		}
	}
	d.Stop(t.Context())
	close(arrived)
	for id := range arrived {
		got = append(got, id)
	}
	if slices.Contains(got, "evt_fail_adjust") {
		t.Errorf("requests %v: the adjustment of an order event still pending was sent", got)
	}

	attempts := func(event string) (*store.Delivery, []store.Attempt) {
		t.Helper()
		ds, err := s.ListDeliveries(t.Context(), store.DeliveryFilter{EventID: event})
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries of %s: %v, %v", event, ds, err)
		}
		dl, as, err := s.GetDelivery(t.Context(), ds[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		return dl, as
	}
	order, _ := attempts("evt_ok")
	adjust, as := attempts("evt_ok_adjust")
	if adjust.Status != store.DeliveryDelivered || adjust.JobID != 0 || len(as) != 1 {
		t.Fatalf("the adjustment of a delivered order event: %s, job %d, %d attempts; want delivered at once, without a job",
			adjust.Status, adjust.JobID, len(as))
	}
	if !as[0].StartedAt.After(order.DeliveredAt) {
		t.Errorf("the adjustment was sent at %s, before its order event was delivered (%s)", as[0].StartedAt, order.DeliveredAt)
	}

	if failed, _ := attempts("evt_fail"); failed.Status != store.DeliveryPending {
		t.Fatalf("the order event answered 503 is %s", failed.Status)
	}
	parked, as := attempts("evt_fail_adjust")
	if parked.JobID == 0 || len(as) != 0 {
		t.Fatalf("the adjustment of a pending order event: job %d, %d attempts; want a job, no attempt", parked.JobID, len(as))
	}
	var state string
	db, err := sql.Open("sqlite", u.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT state FROM river_job WHERE id = ?`, parked.JobID).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "scheduled" {
		t.Errorf("the adjustment of a pending order event: job %s, want scheduled (parked)", state)
	}
}

// directOnPostgres starts, on a new PostgreSQL store, a Direct for one
// endpoint, whose requests' webhook-ids come on arrived.
func directOnPostgres(t *testing.T) (u store.URL, s *store.Store, d *Direct, ep *Endpoint, arrived chan string) {
	t.Helper()
	u, err := store.ParseURL(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	arrived = make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.Header.Get("webhook-id")
	}))
	t.Cleanup(srv.Close)
	s = openWorking(t, u)
	d, ep = startDirect(t, s, srv.URL)
	t.Cleanup(func() { d.Stop(context.Background()) })
	return u, s, d, ep, arrived
}

// storeOne stores one mail with event id, delivered to endpoint under
// order key key, and returns the delivery.
func storeOne(t *testing.T, s *store.Store, id, endpoint, key string) *store.Delivery {
	t.Helper()
	in := &store.Ingest{Mail: store.Mail{QueueID: id, ReceivedAt: time.Now(), DedupKey: id, Raw: []byte("x"),
		Status: store.MailParsed}, Events: []store.Event{{ID: id, Type: "order.placed", CreatedAt: time.Now(),
		Payload: []byte(`{"id":"` + id + `"}`), Deliveries: []store.NewDelivery{{Endpoint: endpoint, OrderKey: key}}}}}
	if _, err := s.Ingest(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	ds, err := s.ListDeliveries(t.Context(), store.DeliveryFilter{EventID: id})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries of %s: %v, %v", id, ds, err)
	}
	return ds[0]
}

// secondOfOneCart has another instance at u, which delivers nothing,
// store two events of one cart for endpoint (both pending, each with its
// job), and returns the second's delivery.
func secondOfOneCart(t *testing.T, u store.URL, endpoint string) *store.Delivery {
	t.Helper()
	other := openWorking(t, u)
	if err := other.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	storeOne(t, other, "evt_first", endpoint, "shop|1")
	return storeOne(t, other, "evt_second", endpoint, "shop|1")
}

// TestDirectChecksForAnUnseenPredecessor: on PostgreSQL a delivery the
// commit that stored it saw nothing ahead of may still follow one that a
// transaction beside it stored (another instance's, or another batch's):
// Direct looks again before the attempt, and hands it to River, which
// parks it, instead of sending it first.
func TestDirectChecksForAnUnseenPredecessor(t *testing.T) {
	u, s, d, ep, arrived := directOnPostgres(t)

	second := secondOfOneCart(t, u, ep.Name)
	// The second comes to Direct as if its commit had not seen the first.
	d.Dispatch([]*store.Delivery{second})
	select {
	case id := <-arrived:
		t.Fatalf("%s was sent while an earlier delivery of its cart was pending", id)
	case <-time.After(500 * time.Millisecond):
	}
	if _, as, err := s.GetDelivery(t.Context(), second.ID); err != nil || len(as) != 0 {
		t.Fatalf("the second delivery: %d attempts, %v; want none", len(as), err)
	}
}

// TestDirectTrustsAnOrderedCommit: a delivery whose commit held its
// cart's lock (store.Delivery.Ordered) saw every delivery it follows, and
// Direct attempts it without looking again. Shown by one handed over as
// Ordered while an earlier delivery of its cart is pending (which such a
// commit would have seen): it is sent.
func TestDirectTrustsAnOrderedCommit(t *testing.T) {
	u, _, d, ep, arrived := directOnPostgres(t)
	second := secondOfOneCart(t, u, ep.Name)
	second.Ordered = true
	d.Dispatch([]*store.Delivery{second})
	select {
	case id := <-arrived:
		if id != "evt_second" {
			t.Fatalf("sent %s, want evt_second", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a delivery whose commit was ordered was not sent")
	}
}

// TestDirectWithoutLeaseSendsNothing: on PostgreSQL, once the instance's
// lease is lost (its connection ended), Direct attempts nothing it holds
// without a job, since another instance may take it over: it hands it to
// River instead.
func TestDirectWithoutLeaseSendsNothing(t *testing.T) {
	u, s, d, ep, arrived := directOnPostgres(t)
	storeOne(t, s, "evt_leased", ep.Name, "")
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("a delivery taken under the lease was not sent")
	}

	// End the lease's connection: its key is the one the delivery keeps.
	db, err := sql.Open("pgx", u.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ended bool
	if err := db.QueryRowContext(t.Context(), `SELECT bool_or(pg_terminate_backend(l.pid)) FROM pg_locks l, delivery d
		WHERE d.event_id = 'evt_leased' AND l.locktype = 'advisory' AND l.objsubid = 2 AND l.objid::bigint = d.stored_by`).Scan(&ended); err != nil || !ended {
		t.Fatalf("ending the lease's connection: %v, %v", ended, err)
	}
	select {
	case <-s.LeaseLost():
	case <-time.After(3 * store.LeaseLapse):
		t.Fatal("the store still holds its lease")
	}

	// A delivery handed to Direct now goes to River, not to the endpoint.
	other := openWorking(t, u)
	if err := other.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	d.Dispatch([]*store.Delivery{storeOne(t, other, "evt_unleased", ep.Name, "")})
	select {
	case id := <-arrived:
		t.Fatalf("%s was sent without the lease", id)
	case <-time.After(500 * time.Millisecond):
	}
}
