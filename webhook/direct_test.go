package webhook

import (
	"context"
	"log/slog"
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

func (droppingDispatcher) Accepts(string) bool      { return true }
func (droppingDispatcher) Dispatch(*store.Delivery) {}

// TestSweepHandsOverWhatItSawTwice: past the start, a delivery without a
// job is handed to River only once two sweeps found it, and never while
// Direct holds it (it may be between its commit and Dispatch).
func TestSweepHandsOverWhatItSawTwice(t *testing.T) {
	u, err := store.ParseURL(testenv.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[store.DeliveryArgs]) error { return nil }))
	s, err := store.Open(t.Context(), store.Options{URL: u, Workers: workers,
		Queues: map[string]river.QueueConfig{"idle": {MaxWorkers: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if !s.SetDispatcher(droppingDispatcher{}) {
		t.Fatal("SQLite store took no dispatcher")
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
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
		got, err := s.JoblessDeliveries(t.Context(), time.Now(), 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, j := range got {
			ids = append(ids, j.ID)
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
