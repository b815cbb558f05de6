package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

func open(t *testing.T, url string, o Options) *Store {
	t.Helper()
	o.URL = testURL(t, url)
	s, err := Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mail(n int, eventID string, endpoints ...string) *Ingest {
	in := &Ingest{Mail: Mail{
		QueueID: fmt.Sprintf("q%d", n), ReceivedAt: time.Now(), Rcpts: []string{"orders@in.example.test"},
		DedupKey: fmt.Sprintf("dedup-%d", n), Raw: []byte("Subject: test\r\n\r\nbody\r\n"), Status: MailParsed,
	}}
	if eventID != "" {
		ev := Event{ID: eventID, Type: "order.placed", SellerID: "shop", PackNo: "1", OrderNos: []string{"9"},
			CreatedAt: time.Now(), Payload: []byte(`{"id":"` + eventID + `"}`)}
		for _, e := range endpoints {
			ev.Deliveries = append(ev.Deliveries, NewDelivery{Endpoint: e, OrderKey: "shop|1"})
		}
		in.Events = []Event{ev}
	}
	return in
}

// ingestDeliveries stores mail n (mail's) with its event's deliveries
// replaced by those given, and returns the id of the first.
func ingestDeliveries(t *testing.T, s *Store, n int, deliveries ...NewDelivery) int64 {
	t.Helper()
	in := mail(n, fmt.Sprintf("evt_w%d", n))
	in.Events[0].Deliveries = deliveries
	if _, err := s.Ingest(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := s.db.QueryRowContext(t.Context(), `SELECT min(id) FROM delivery WHERE event_id = $1`, in.Events[0].ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// ingestOneBatch stores ins in one transaction, on a store opened with o,
// whose BatchMax is at least len(ins): the mails wait, queued, until every
// one is, and the committer started then takes them together. It returns
// the store, started, and the receipts in ins' order.
func ingestOneBatch(t *testing.T, url string, o Options, ins []*Ingest) (*Store, []Receipt) {
	t.Helper()
	o.URL = testURL(t, url)
	s, err := Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pending := make([]*Pending, len(ins))
	for i, in := range ins {
		if pending[i], err = s.Submit(t.Context(), in); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	receipts := make([]Receipt, len(ins))
	for i, p := range pending {
		if receipts[i], err = p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	return s, receipts
}

func count(t *testing.T, s *Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestGroupCommit: concurrent mails share transactions, each is durable
// with its event, delivery and River job.
func TestGroupCommit(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			s := open(t, st.URL, Options{Registerer: reg, BatchWindow: 5 * time.Millisecond})
			const n = 64
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					in := mail(i, fmt.Sprintf("evt_%d", i), "vendor")
					// Each its own cart: none waits for another.
					in.Events[0].Deliveries[0].OrderKey = fmt.Sprintf("shop|%d", i)
					rc, err := s.Ingest(t.Context(), in)
					if err == nil && (rc.MailID == 0 || len(rc.NewEvents) != 1 || rc.Deliveries != 1) {
						err = fmt.Errorf("receipt %+v", rc)
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for q, want := range map[string]int{
				`SELECT count(*) FROM mail`:                                           n,
				`SELECT count(*) FROM event`:                                          n,
				`SELECT count(*) FROM delivery WHERE job_id IS NOT NULL`:              n,
				`SELECT count(*) FROM river_job WHERE kind = 'delivery'`:              n,
				`SELECT count(*) FROM river_job WHERE queue = 'ep_vendor'`:            n,
				`SELECT count(*) FROM event_order WHERE order_no = '9'`:               n,
				`SELECT count(*) FROM delivery d JOIN river_job j ON j.id = d.job_id`: n,
			} {
				if got := count(t, s, q); got != want {
					t.Errorf("%s = %d, want %d", q, got, want)
				}
			}
			batches := testutil.CollectAndCount(reg, "qoo10hook_store_commit_batch_size")
			if batches != 1 {
				t.Fatalf("batch histogram families = %d", batches)
			}
			var sampleCount uint64
			mfs, _ := reg.Gather()
			for _, mf := range mfs {
				if mf.GetName() == "qoo10hook_store_commit_batch_size" {
					sampleCount = mf.GetMetric()[0].GetHistogram().GetSampleCount()
				}
			}
			if sampleCount >= n {
				t.Errorf("%d mails took %d transactions: no grouping", n, sampleCount)
			}
		})
	}
}

// TestIngestDeduplicates: a re-sent mail is stored once; the same event
// from another mail creates no second delivery.
func TestIngestDeduplicates(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			ctx := t.Context()
			first, err := s.Ingest(ctx, mail(1, "evt_a", "vendor"))
			if err != nil || first.DuplicateMail {
				t.Fatalf("first: %+v %v", first, err)
			}
			again := mail(2, "evt_a", "vendor")
			again.Mail.DedupKey = "dedup-1"
			rc, err := s.Ingest(ctx, again)
			if err != nil || !rc.DuplicateMail {
				t.Fatalf("re-sent mail: %+v %v", rc, err)
			}
			other, err := s.Ingest(ctx, mail(3, "evt_a", "vendor"))
			if err != nil || other.DuplicateMail || len(other.DuplicateEvents) != 1 || other.Deliveries != 0 {
				t.Fatalf("same event, other mail: %+v %v", other, err)
			}
			if n := count(t, s, `SELECT count(*) FROM mail`); n != 2 {
				t.Errorf("%d mails stored, want 2", n)
			}
			if n := count(t, s, `SELECT duplicates FROM mail WHERE dedup_key = 'dedup-1'`); n != 1 {
				t.Errorf("duplicates = %d, want 1", n)
			}
			var status string
			s.db.QueryRowContext(ctx, `SELECT status FROM mail WHERE queue_id = 'q3'`).Scan(&status)
			if status != MailDuplicateEvent {
				t.Errorf("status of the second mail = %q", status)
			}
			if n := count(t, s, `SELECT count(*) FROM delivery`); n != 1 {
				t.Errorf("%d deliveries, want 1", n)
			}
		})
	}
}

// TestHoldQueuesNothing: quarantined mail keeps its deliveries held, with
// no River job.
func TestHoldQueuesNothing(t *testing.T) {
	s := open(t, testenv.SQLite(t), Options{})
	in := mail(1, "evt_h", "vendor")
	in.Hold = true
	if _, err := s.Ingest(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM delivery WHERE status = 'held' AND job_id IS NULL`); n != 1 {
		t.Errorf("held deliveries = %d", n)
	}
	if n := count(t, s, `SELECT count(*) FROM river_job`); n != 0 {
		t.Errorf("river jobs = %d", n)
	}
}

// TestBusyWhenBacklogFull: while the database is locked, mails wait for
// their commit; past the backlog limit Ingest answers ErrBusy at once.
func TestBusyWhenBacklogFull(t *testing.T) {
	url := testenv.SQLite(t)
	s := open(t, url, Options{Backlog: 2, BatchMax: 1})
	locker, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(url, "sqlite:")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	tx, err := locker.Begin()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	results := make(chan error, 10)
	for i := range 10 {
		go func() {
			_, err := s.Ingest(ctx, mail(i, ""))
			results <- err
		}()
	}
	busy := 0
	deadline := time.After(5 * time.Second)
	for busy < 7 {
		select {
		case err := <-results:
			if !errors.Is(err, ErrBusy) {
				t.Fatalf("got %v while locked, want ErrBusy", err)
			}
			busy++
		case <-deadline:
			t.Fatalf("only %d of 10 mails were refused as busy", busy)
		}
	}
	tx.Rollback()
	// The backlog holds two mails and the committer the one it is trying
	// to store; if the committer had not yet taken that one off the
	// backlog when the last mails came, an eighth was refused.
	stored := 0
	for range 3 {
		switch err := <-results; {
		case err == nil:
			stored++
		case errors.Is(err, ErrBusy) && busy == 7:
			busy++
		default:
			t.Errorf("after unlocking: %v", err)
		}
	}
	if stored < 2 {
		t.Errorf("%d mails stored after unlocking, want at least the backlog's 2", stored)
	}
	if n := count(t, s, `SELECT count(*) FROM mail`); n != stored {
		t.Errorf("%d mails stored, want %d", n, stored)
	}
}

// TestConcurrentMigrations: several instances starting together on one
// PostgreSQL database migrate it once.
func TestConcurrentMigrations(t *testing.T) {
	url := testenv.Postgres(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(t.Context(), Options{URL: testURL(t, url)})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	s := open(t, url, Options{})
	files, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM qoo10hook_migration`); n != len(files) {
		t.Errorf("%d migration rows, want one per file: %d", n, len(files))
	}
}

// TestDeriveInSameTransaction: the deriver's events and writes commit with
// the event they come from, and duplicates derive nothing.
func TestDeriveInSameTransaction(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			calls := 0
			derive := func(ctx context.Context, tx *sql.Tx, ev *Event) ([]Event, error) {
				calls++
				if _, err := tx.ExecContext(ctx, `UPDATE endpoint_state SET updated_at = 0 WHERE name = 'none'`); err != nil {
					return nil, err
				}
				return []Event{{ID: ev.ID + "_inv", Type: "inventory.adjusted", CreatedAt: ev.CreatedAt,
					Payload: []byte(`{}`), Deliveries: []NewDelivery{{Endpoint: "stock", OrderKey: "sku:A"}}}}, nil
			}
			s := open(t, st.URL, Options{Derive: derive})
			rc, err := s.Ingest(t.Context(), mail(1, "evt_d", "vendor"))
			if err != nil {
				t.Fatal(err)
			}
			if len(rc.DerivedEvents) != 1 || rc.Deliveries != 2 {
				t.Fatalf("receipt %+v", rc)
			}
			if _, err := s.Ingest(t.Context(), mail(2, "evt_d", "vendor")); err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Errorf("deriver called %d times, want once", calls)
			}
			if n := count(t, s, `SELECT count(*) FROM river_job WHERE queue = 'ep_stock'`); n != 1 {
				t.Errorf("%d jobs for the derived delivery, want 1", n)
			}
		})
	}
}

// TestDerivedEventStoredOnce: an event derived again, from another new
// event, is stored once and delivered once; the new event and what it
// alone derives are stored and delivered. (On PostgreSQL the derived
// events' rows go in the statement of the other's delivery.)
func TestDerivedEventStoredOnce(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			derive := func(ctx context.Context, tx *sql.Tx, ev *Event) ([]Event, error) {
				return []Event{
					{ID: "evt_summary", Type: "order.updated", CreatedAt: ev.CreatedAt, Payload: []byte(`{}`),
						OrderNos: []string{"100"}, Deliveries: []NewDelivery{{Endpoint: "vendor", OrderKey: "cart1"}}},
					{ID: ev.ID + "_inv", Type: "inventory.adjusted", CreatedAt: ev.CreatedAt, Payload: []byte(`{"n":1}`),
						OrderNos: []string{"100", "101"}, Deliveries: []NewDelivery{{Endpoint: "stock", OrderKey: "sku:A"}}},
				}, nil
			}
			s := open(t, st.URL, Options{Derive: derive})
			first, err := s.Ingest(t.Context(), mail(1, "evt_a", "vendor"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(first.DerivedEvents, []string{"evt_summary", "evt_a_inv"}) || first.Deliveries != 3 {
				t.Fatalf("first receipt %+v, want evt_summary and evt_a_inv derived and 3 deliveries", first)
			}
			again, err := s.Ingest(t.Context(), mail(2, "evt_b", "vendor"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(again.DerivedEvents, []string{"evt_b_inv"}) || again.Deliveries != 2 ||
				!slices.Equal(again.NewEvents, []string{"evt_b"}) {
				t.Errorf("second receipt %+v, want evt_b new and evt_b_inv derived, with a delivery each", again)
			}
			for q, want := range map[string]int{
				`SELECT count(*) FROM delivery WHERE event_id = 'evt_summary'`:                         1,
				`SELECT count(*) FROM delivery WHERE event_id = 'evt_b_inv' AND endpoint = 'stock'`:    1,
				`SELECT count(*) FROM event_order WHERE event_id = 'evt_summary' AND order_no = '100'`: 1,
				`SELECT count(*) FROM event_order WHERE event_id = 'evt_b_inv'`:                        2,
			} {
				if n := count(t, s, q); n != want {
					t.Errorf("%s: %d, want %d", q, n, want)
				}
			}
			if n := count(t, s, `SELECT count(*) FROM event WHERE id = 'evt_b_inv' AND payload = $1`, []byte(`{"n":1}`)); n != 1 {
				t.Errorf("evt_b_inv stored %d times with its payload, want once", n)
			}
			// From an event routed nowhere, the derived events' rows go
			// alone (on PostgreSQL with no delivery to go with).
			unrouted, err := s.Ingest(t.Context(), mail(3, "evt_c"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(unrouted.DerivedEvents, []string{"evt_c_inv"}) || unrouted.Deliveries != 1 {
				t.Errorf("third receipt %+v, want evt_c_inv derived with its delivery, evt_summary not again", unrouted)
			}
		})
	}
}

// TestDerivedTwiceInOneMail: a deriver that gives one event twice has it
// stored and delivered once, as the first.
func TestDerivedTwiceInOneMail(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			derive := func(ctx context.Context, tx *sql.Tx, ev *Event) ([]Event, error) {
				twice := Event{ID: "evt_twice", Type: "order.updated", CreatedAt: ev.CreatedAt, Payload: []byte(`{}`),
					Deliveries: []NewDelivery{{Endpoint: "vendor", OrderKey: "cart1"}}}
				return []Event{twice, twice}, nil
			}
			s := open(t, st.URL, Options{Derive: derive})
			rc, err := s.Ingest(t.Context(), mail(1, "evt_a", "vendor"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rc.DerivedEvents, []string{"evt_twice"}) || rc.Deliveries != 2 {
				t.Errorf("receipt %+v, want evt_twice derived once and 2 deliveries", rc)
			}
		})
	}
}

// TestSecondOrderKey: a delivery waits for the earlier pending deliveries
// of its own order key, of the key it follows (its second key) and of the
// other followers of that key, and only for those; a follower holds none
// of the followed key's own later deliveries up. Here, stock adjustments
// keyed by SKU follow their carts, whose later events pass them.
func TestSecondOrderKey(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			ctx := t.Context()
			c := &chainFixture{t: t, s: s}
			add := func(n int, key, second string) *Delivery {
				d, _ := c.add(n, key, second)
				return d
			}
			cart1 := add(1, "cart1", "")
			adjust1 := add(2, "sku:X", "cart1") // waits for cart1's order event
			adjust2 := add(3, "sku:X", "cart2") // waits for adjust1, its SKU's
			cart1Next := add(4, "cart1", "")    // waits for cart1, not for adjust1
			cart2Next := add(5, "cart2", "")    // waits for nothing: adjust2 only follows cart2
			adjustY := add(6, "sku:Y", "cart1") // waits for cart1's events and adjust1
			blocked := func(d *Delivery) bool {
				t.Helper()
				_, _, bl, err := s.DeliveryForWork(ctx, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				return bl
			}
			want := map[*Delivery]bool{cart1: false, adjust1: true, adjust2: true, cart1Next: true, cart2Next: false, adjustY: true}
			for d, w := range want {
				if got := blocked(d); got != w {
					t.Errorf("delivery %d blocked = %v, want %v", d.ID, got, w)
				}
			}
			// A dispatcher's goroutines ask together, and are answered
			// in shared statements.
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 10 {
						for d, w := range want {
							if got, err := s.WaitsForPredecessor(ctx, d); err != nil || got != w {
								t.Errorf("delivery %d waits = %v (%v), want %v", d.ID, got, err, w)
							}
						}
					}
				})
			}
			wg.Wait()
			deliver := c.deliver
			deliver(cart1)
			if blocked(adjust1) || blocked(cart1Next) {
				t.Error("cart1's adjustment and next event still blocked after its order event was delivered")
			}
			if !blocked(adjust2) || !blocked(adjustY) {
				t.Error("adjust2 must still wait for adjust1, adjustY for cart1Next")
			}
			deliver(cart1Next)
			if !blocked(adjustY) {
				t.Error("adjustY must still wait for adjust1, cart1's earlier adjustment")
			}
			deliver(adjust1)
			if blocked(adjust2) || blocked(adjustY) {
				t.Error("adjust2 or adjustY still blocked after adjust1 was delivered")
			}
		})
	}
}

// TestSecondKeyMigration: migration 011 swaps the keys of pending stock
// adjustments stored cart first, and leaves other deliveries alone.
func TestSecondKeyMigration(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			ctx := t.Context()
			add := func(n int, typ, status string) {
				in := mail(n, fmt.Sprintf("evt_m%d", n))
				in.Events[0].Type = typ
				in.Events[0].Deliveries = []NewDelivery{{Endpoint: "e", OrderKey: "cart", SecondKey: "sku"}}
				if _, err := s.Ingest(ctx, in); err != nil {
					t.Fatal(err)
				}
				if _, err := s.db.ExecContext(ctx, `UPDATE delivery SET status = $1 WHERE event_id = $2`, status, fmt.Sprintf("evt_m%d", n)); err != nil {
					t.Fatal(err)
				}
			}
			add(1, "inventory.adjusted", DeliveryPending)
			add(2, "inventory.adjusted", DeliveryDelivered)
			add(3, "order.updated", DeliveryPending)
			body, err := migrationFS.ReadFile("migrations/011_second_key_follows.sql")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.ExecContext(ctx, forDialect(s.kind, string(body))); err != nil {
				t.Fatal(err)
			}
			for n, want := range map[int]string{1: "sku|cart", 2: "cart|sku", 3: "cart|sku"} {
				var got string
				if err := s.db.QueryRowContext(ctx, `SELECT order_key || '|' || order_key2 FROM delivery WHERE event_id = $1`,
					fmt.Sprintf("evt_m%d", n)).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("delivery of evt_m%d keys %s, want %s", n, got, want)
				}
			}
		})
	}
}

// TestJobsLinkedToTheirDeliveries: a batch of one cart's mails, the first
// delivery queued and the others parked behind it (no Dispatcher here):
// each delivery with a River job is linked to the job that names it. On
// PostgreSQL every one has a job, and the links go as one pipeline; on
// SQLite the parked ones have none.
func TestJobsLinkedToTheirDeliveries(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ins := make([]*Ingest, 4)
			for i := range ins {
				ins[i] = mail(i, fmt.Sprintf("evt_link%d", i), "e")
			}
			s, _ := ingestOneBatch(t, st.URL, Options{BatchMax: 4, Writers: 1}, ins)
			rows, err := s.db.QueryContext(t.Context(), `SELECT id, COALESCE(job_id, 0) FROM delivery ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			links := map[int64]int64{}
			for rows.Next() {
				var id, job int64
				if err := rows.Scan(&id, &job); err != nil {
					t.Fatal(err)
				}
				links[id] = job
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if len(links) != 4 {
				t.Fatalf("%d deliveries, want 4", len(links))
			}
			linked, want := 0, 1
			if st.Name == "postgres" {
				want = 4
			}
			for id, job := range links {
				if job == 0 {
					continue
				}
				linked++
				row, err := s.river.JobGet(t.Context(), job)
				if err != nil {
					t.Fatal(err)
				}
				var args DeliveryArgs
				if err := json.Unmarshal(row.EncodedArgs, &args); err != nil {
					t.Fatal(err)
				}
				if args.DeliveryID != id {
					t.Errorf("delivery %d linked to job %d, which is delivery %d's", id, job, args.DeliveryID)
				}
			}
			if linked != want {
				t.Errorf("%d deliveries linked to a job, want %d", linked, want)
			}
		})
	}
}

// TestDuplicatesInOneBatch: in one group commit (on PostgreSQL the mails'
// rows go as one pipeline), a mail given twice is stored once and counted
// a duplicate once, an event carried by two mails is stored once, and a
// mail without an event is stored.
func TestDuplicatesInOneBatch(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			again := mail(1, "evt_one", "vendor")
			again.Mail.QueueID = "q1-again"
			other := mail(2, "evt_one", "vendor")
			plain := mail(3, "")
			s, receipts := ingestOneBatch(t, st.URL, Options{BatchMax: 4, Writers: 1},
				[]*Ingest{mail(1, "evt_one", "vendor"), again, other, plain})
			duplicateMails, newEvents, duplicateEvents, stored := 0, 0, 0, 0
			for _, rc := range receipts {
				if rc.DuplicateMail {
					duplicateMails++
				} else if rc.MailID != 0 {
					stored++
				}
				newEvents += len(rc.NewEvents)
				duplicateEvents += len(rc.DuplicateEvents)
			}
			if duplicateMails != 1 || stored != 3 || newEvents != 1 || duplicateEvents != 1 {
				t.Errorf("duplicate mails %d, mails stored %d, new events %d, duplicate events %d; want 1, 3, 1, 1",
					duplicateMails, stored, newEvents, duplicateEvents)
			}
			for q, want := range map[string]int{
				`SELECT count(*) FROM mail`: 3,
				`SELECT count(*) FROM mail WHERE dedup_key = 'dedup-1' AND duplicates = 1`: 1,
				`SELECT count(*) FROM event`:    1,
				`SELECT count(*) FROM delivery`: 1,
			} {
				if n := count(t, s, q); n != want {
					t.Errorf("%s: %d, want %d", q, n, want)
				}
			}
		})
	}
}

// TestAfterCommitOnlyOnCommit: what a deriver registers with AfterCommit
// runs once its mail is committed, and not for a batch that failed and was
// tried again mail by mail, nor for a mail that failed.
func TestAfterCommitOnlyOnCommit(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			var mu sync.Mutex
			counted := map[string]int{}
			derive := func(ctx context.Context, tx *sql.Tx, ev *Event) ([]Event, error) {
				AfterCommit(ctx, func() {
					mu.Lock()
					counted[ev.ID]++
					mu.Unlock()
				})
				if ev.ID == "evt_bad" {
					return nil, errors.New("refused")
				}
				return nil, nil
			}
			// A batch of two and a long window: the two mails share one
			// batch, which fails on the bad one and is tried mail by mail.
			var logs testenv.LogBuffer
			s := open(t, st.URL, Options{Derive: derive, BatchMax: 2, BatchWindow: time.Minute, Writers: 1,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			errs := make(chan error, 2)
			for i, id := range []string{"evt_ok", "evt_bad"} {
				go func() {
					_, err := s.Ingest(t.Context(), mail(i+1, id))
					errs <- err
				}()
			}
			failed := 0
			for range 2 {
				if err := <-errs; err != nil {
					failed++
				}
			}
			if failed != 1 {
				t.Fatalf("%d mails failed, want the bad one", failed)
			}
			if !strings.Contains(logs.String(), "committing its mails one by one") {
				t.Fatalf("the two mails were not committed as one batch that split; log: %s", logs.String())
			}
			mu.Lock()
			defer mu.Unlock()
			if counted["evt_ok"] != 1 || counted["evt_bad"] != 0 {
				t.Errorf("after-commit runs %v, want evt_ok once and evt_bad never", counted)
			}
		})
	}
}

// TestHeldMailDerivesOnRelease: a quarantined mail derives nothing (a
// forged order must not move stock); released, it derives what ingest
// would have, and the derived deliveries are queued with its own.
func TestHeldMailDerivesOnRelease(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			var calls []string
			derive := func(ctx context.Context, tx *sql.Tx, ev *Event) ([]Event, error) {
				call := ev.ID + " " + ev.Type + " " + string(ev.Payload)
				for _, d := range ev.Deliveries {
					call += " " + d.Endpoint + ":" + d.OrderKey
				}
				calls = append(calls, call)
				return []Event{{ID: ev.ID + "_inv", Type: "inventory.adjusted", CreatedAt: ev.CreatedAt,
					Payload: []byte(`{}`), Deliveries: []NewDelivery{{Endpoint: "stock", OrderKey: "sku:A"}}}}, nil
			}
			s := open(t, st.URL, Options{Derive: derive})
			in := mail(1, "evt_q", "vendor")
			in.Hold, in.Mail.Status = true, MailQuarantined
			rc, err := s.Ingest(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(calls) != 0 || len(rc.DerivedEvents) != 0 {
				t.Fatalf("a held mail derived %v", calls)
			}
			s.Ingest(t.Context(), mail(2, "")) // another mail between the two
			n, err := s.ReleaseMail(t.Context(), "q1")
			if err != nil {
				t.Fatal(err)
			}
			if want := `evt_q order.placed {"id":"evt_q"} vendor:shop|1`; len(calls) != 1 || calls[0] != want {
				t.Errorf("derived on release from %q, want [%s]", calls, want)
			}
			if n != 2 {
				t.Errorf("release queued %d deliveries, want the held one and the derived one", n)
			}
			if got := count(t, s, `SELECT count(*) FROM delivery WHERE event_id = 'evt_q_inv' AND status = 'pending' AND job_id IS NOT NULL`); got != 1 {
				t.Errorf("%d queued deliveries of the derived event, want 1", got)
			}
			if got := count(t, s, `SELECT count(*) FROM river_job WHERE queue = 'ep_stock'`); got != 1 {
				t.Errorf("%d jobs for the derived delivery, want 1", got)
			}
		})
	}
}

// TestWALStartsOver: under a stream of commits that never leaves a passive
// checkpoint a quiet moment, the WAL still starts over instead of growing
// with everything ever written.
func TestWALStartsOver(t *testing.T) {
	t.Cleanup(func(i time.Duration, f int64) func() {
		return func() { checkpointInterval, walCycleFrames = i, f }
	}(checkpointInterval, walCycleFrames))
	checkpointInterval, walCycleFrames = 20*time.Millisecond, 64
	url := testenv.SQLite(t)
	s := open(t, url, Options{BatchWindow: time.Millisecond})
	raw := []byte("Subject: load\r\n\r\n" + strings.Repeat("0123456789abcdef", 256) + "\r\n")
	const senders, each = 16, 250
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				in := mail(g*each+i, "")
				in.Mail.Raw = raw
				if _, err := s.Ingest(t.Context(), in); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A WAL that never starts over holds every page written: each mail's
	// own, and the index and table pages it shares with the others in its
	// batch, three times the mails' bytes here.
	written := int64(senders * each * len(raw))
	st, err := os.Stat(testURL(t, url).Path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > written {
		t.Fatalf("WAL is %d bytes after %d bytes of mail: it did not start over", st.Size(), written)
	}
	t.Logf("WAL %d bytes after %d bytes of mail", st.Size(), written)
}

// TestOrderPayload: an event's payload is decoded once for every deriver,
// and anew when the payload is replaced, as a re-parse does.
func TestOrderPayload(t *testing.T) {
	ev := &Event{Payload: []byte(`{"created_at":"2026-11-20T10:00:00+09:00","data":{"seller_id":"shop","items":[]}}`)}
	first, err := ev.OrderPayload()
	if err != nil || first.Data.SellerID != "shop" {
		t.Fatalf("decoded %+v, %v", first, err)
	}
	if again, _ := ev.OrderPayload(); again != first {
		t.Error("decoded a second time")
	}
	ev.Payload = []byte(`{"created_at":"2026-11-20T10:00:00+09:00","data":{"seller_id":"other","items":[]}}`)
	if p, err := ev.OrderPayload(); err != nil || p.Data.SellerID != "other" {
		t.Errorf("after the payload was replaced: %+v, %v", p, err)
	}
	ev.Payload = []byte(`{`)
	if _, err := ev.OrderPayload(); err == nil {
		t.Error("a payload that is not JSON decoded without error")
	}
}
