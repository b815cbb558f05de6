package app

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/riverqueue/river"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

// deliveryOf returns the delivery of the event a webhook carried.
func deliveryOf(t *testing.T, st *store.Store, r request) *store.Delivery {
	t.Helper()
	id, _ := verify(t, r)["id"].(string)
	ds, err := st.ListDeliveries(t.Context(), store.DeliveryFilter{EventID: id})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries of %s: %v, %v", id, ds, err)
	}
	return ds[0]
}

// TestDirectDelivery: a mail's delivery is attempted from the commit that
// stored it, without a River job, and a failed first attempt is retried
// through River.
func TestDirectDelivery(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t, 500)
			svc := start(t, testConfig(t, st.URL, rx.URL))
			addr, s := svc.svc.SMTPAddr(), svc.svc.Store()
			if err := send(t, addr, []string{"orders@in.example.test"}, fixture(t, "stockgear-order-iso2022jp.eml")); err != nil {
				t.Fatal(err)
			}
			if r := rx.next(t, 10*time.Second); r.Status != 500 {
				t.Fatalf("first request answered %d", r.Status)
			}
			retried := deliveryOf(t, s, rx.nextDelivered(t, 10*time.Second))

			if err := send(t, addr, []string{"orders@in.example.test"}, fixture(t, "crossmall-group-3-lines.eml")); err != nil {
				t.Fatal(err)
			}
			first := deliveryOf(t, s, rx.nextDelivered(t, 10*time.Second))
			// Both answers recorded: the counter moves once the attempt is.
			scrapeUntil(t, svc.svc.HTTPAddr(), 5*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
				return sumOf(mfs, "qoo10hook_webhook_deliveries_total", "delivered") == 2
			})
			first, _, _ = s.GetDelivery(t.Context(), first.ID)
			retried, _, _ = s.GetDelivery(t.Context(), retried.ID)
			if retried.Status != store.DeliveryDelivered || retried.Attempts != 2 || retried.JobID == 0 {
				t.Errorf("retried delivery: %s after %d attempts, job %d; want delivered after 2, by a River job",
					retried.Status, retried.Attempts, retried.JobID)
			}
			if first.Status != store.DeliveryDelivered || first.Attempts != 1 {
				t.Errorf("second delivery: %s after %d attempts", first.Status, first.Attempts)
			}
			if first.JobID != 0 {
				t.Errorf("delivered at the first attempt with River job %d, want none", first.JobID)
			}
			if s.Kind() == store.Postgres {
				expectMetrics(t, svc.svc.HTTPAddr(), 0, []metricWant{{"qoo10hook_store_lease_held", nil, 1}})
			}
			expectMetrics(t, svc.svc.HTTPAddr(), 5*time.Second, []metricWant{
				{"qoo10hook_webhook_dispatched_total", []string{"default"}, 2},
				{"qoo10hook_webhook_handed_over_total", []string{"default"}, 0},
			})
		})
	}
}

// droppingDispatcher takes deliveries and loses them: the process that
// stored them crashed before it attempted them.
type droppingDispatcher struct{}

func (droppingDispatcher) Accepts(string) bool        { return true }
func (droppingDispatcher) Dispatch([]*store.Delivery) {}

// storeDropping opens and starts a store at url whose dispatcher takes
// new deliveries and loses them, working the River queue of endpoint
// queue only, and stores one unrecognized mail, event eventID, to the
// endpoint "default": a process that took it without a job and then
// crashed, or is still holding it.
func storeDropping(t *testing.T, url, queue, eventID string) *store.Store {
	t.Helper()
	u, err := store.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[store.DeliveryArgs]) error { return nil }))
	s, err := store.Open(t.Context(), store.Options{URL: u, Workers: workers,
		Queues: map[string]river.QueueConfig{store.QueueName(queue): {MaxWorkers: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if taken, err := s.SetDispatcher(t.Context(), droppingDispatcher{}); !taken || err != nil {
		t.Fatalf("the store took no dispatcher: %v", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	in := &store.Ingest{Mail: store.Mail{QueueID: "q-" + eventID, ReceivedAt: time.Now(), Rcpts: []string{"orders@in.example.test"},
		DedupKey: "dedup-" + eventID, Raw: []byte("Subject: t\r\n\r\nbody\r\n"), Status: store.MailUnrecognized},
		Events: []store.Event{{ID: eventID, Type: "mail.unrecognized", CreatedAt: time.Now(),
			Payload: []byte(`{"id":"` + eventID + `","type":"mail.unrecognized"}`), Deliveries: []store.NewDelivery{{Endpoint: "default"}}}}}
	if _, err := s.Ingest(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDirectLeftoversDeliveredAtStart: deliveries a process took for
// direct delivery and never attempted have no River job; the next start
// gives them one, and they are delivered.
func TestDirectLeftoversDeliveredAtStart(t *testing.T) {
	url := testenv.SQLite(t)
	crashed := storeDropping(t, url, "default", "evt_left_1")
	if err := crashed.Close(); err != nil {
		t.Fatal(err)
	}

	rx := newReceiver(t)
	svc := start(t, testConfig(t, url, rx.URL))
	d := deliveryOf(t, svc.svc.Store(), rx.nextDelivered(t, 10*time.Second))
	if d.EventID != "evt_left_1" || d.JobID == 0 {
		t.Errorf("delivered %s with job %d, want evt_left_1 through a River job", d.EventID, d.JobID)
	}
	scrapeUntil(t, svc.svc.HTTPAddr(), 5*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		return sumOf(mfs, "qoo10hook_webhook_handed_over_total") == 1
	})
	expectMetrics(t, svc.svc.HTTPAddr(), 0, []metricWant{
		{"qoo10hook_webhook_handed_over_total", []string{"default"}, 1},
		{"qoo10hook_webhook_dispatched_total", []string{"default"}, 0},
	})
	rx.quiet(t, 300*time.Millisecond)
}

// TestDirectTakenOverFromDeadInstance: on PostgreSQL, a delivery another
// instance took for direct delivery is left alone while that instance's
// lease holds, and once the instance is gone (its lease with it) it is
// handed to River and delivered.
func TestDirectTakenOverFromDeadInstance(t *testing.T) {
	url := testenv.Postgres(t)
	dead := storeDropping(t, url, "other", "evt_held_1")

	rx := newReceiver(t)
	svc := start(t, testConfig(t, url, rx.URL), func(o *options) { o.directSweep = 100 * time.Millisecond })
	// Many sweeps while the other instance holds its lease.
	rx.quiet(t, time.Second)

	if err := dead.Close(); err != nil {
		t.Fatal(err)
	}
	d := deliveryOf(t, svc.svc.Store(), rx.nextDelivered(t, 10*time.Second))
	if d.EventID != "evt_held_1" || d.JobID == 0 {
		t.Errorf("delivered %s with job %d, want evt_held_1 through a River job", d.EventID, d.JobID)
	}
	scrapeUntil(t, svc.svc.HTTPAddr(), 5*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		return sumOf(mfs, "qoo10hook_webhook_handed_over_total") == 1
	})
	rx.quiet(t, 300*time.Millisecond)
}
