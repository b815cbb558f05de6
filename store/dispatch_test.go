package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// takingDispatcher takes every delivery and notes what it was handed,
// and whether each was committed by then.
type takingDispatcher struct {
	s *Store

	mu        sync.Mutex
	accepting bool
	ids       []int64
	follows   [][]int64       // each one's Follows
	ordered   map[string]bool // by event id, each one's Ordered
	unseen    []int64         // handed over before a reader could see them, or unlike what was stored
	errs      []error
}

func (d *takingDispatcher) Accepts(string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.accepting
}

func (d *takingDispatcher) Dispatch(ds []*Delivery) {
	for _, dl := range ds {
		id := dl.ID
		stored, _, err := d.s.GetDelivery(context.Background(), id)
		if err == nil && (stored.EventID != dl.EventID || stored.Endpoint != dl.Endpoint || stored.Status != dl.Status ||
			stored.OrderKey != dl.OrderKey || stored.SecondKey != dl.SecondKey || !stored.ReceivedAt.Equal(dl.ReceivedAt) || !stored.CreatedAt.Equal(dl.CreatedAt) ||
			stored.Attempts != 0 || stored.JobID != 0 || len(dl.Payload) == 0) {
			err = fmt.Errorf("handed over %+v, stored %+v", dl, stored)
		}
		d.mu.Lock()
		d.ids = append(d.ids, id)
		d.follows = append(d.follows, dl.Follows)
		if d.ordered == nil {
			d.ordered = map[string]bool{}
		}
		d.ordered[dl.EventID] = dl.Ordered
		if err != nil {
			d.unseen = append(d.unseen, id)
			d.errs = append(d.errs, err)
		}
		d.mu.Unlock()
	}
}

// workingOptions make a store at url that works jobs, as the service's
// does.
func workingOptions(t *testing.T, url string) Options {
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[DeliveryArgs]) error { return nil }))
	// A queue nobody queues to: the test's jobs stay as stored.
	return Options{URL: testURL(t, url), Workers: workers, Queues: map[string]river.QueueConfig{"idle": {MaxWorkers: 1}}}
}

// openWorking opens and starts a store that works jobs, with dispatcher d
// if not nil, and closes it when the test ends.
func openWorking(t *testing.T, url string, d Dispatcher) *Store {
	t.Helper()
	return startWorking(t, workingOptions(t, url), d)
}

// openTaking opens and starts a store at url that works jobs, with its
// Deriver derive (if not nil) and a takingDispatcher that takes every
// delivery.
func openTaking(t *testing.T, url string, derive Deriver) (*Store, *takingDispatcher) {
	t.Helper()
	o := workingOptions(t, url)
	o.Derive = derive
	d := &takingDispatcher{accepting: true}
	s := startWorking(t, o, d)
	d.s = s
	return s, d
}

// startWorking opens a store with o, with dispatcher d if not nil, starts
// it, and closes it when the test ends.
func startWorking(t *testing.T, o Options, d Dispatcher) *Store {
	t.Helper()
	s, err := Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if d != nil {
		if taken, err := s.SetDispatcher(t.Context(), d); !taken || err != nil {
			t.Fatalf("SetDispatcher on %s: %v, %v", s.kind, taken, err)
		}
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDispatcherTakesNewDeliveries: a delivery the dispatcher takes has
// no River job and is handed over once committed; a retry gets
// its job with the attempt that failed; a delivery queued behind an
// earlier one, or one the dispatcher declines, gets its job at once.
func TestDispatcherTakesNewDeliveries(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s, d := openTaking(t, st.URL, nil)
			ctx := t.Context()
			jobOf := func(event string) int64 {
				t.Helper()
				var job int64
				if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(job_id, 0) FROM delivery WHERE event_id = $1`, event).Scan(&job); err != nil {
					t.Fatal(err)
				}
				return job
			}

			first := mail(1, "evt_d1", "e")
			if _, err := s.Ingest(ctx, first); err != nil {
				t.Fatal(err)
			}
			behind := mail(2, "evt_d2", "e") // same cart as the first
			if _, err := s.Ingest(ctx, behind); err != nil {
				t.Fatal(err)
			}
			if len(d.ids) != 1 || len(d.unseen) != 0 {
				t.Fatalf("dispatched %v (%v before their commit or unlike what was stored: %v), want the first delivery only, after its commit",
					d.ids, d.unseen, d.errs)
			}
			if job := jobOf("evt_d1"); job != 0 {
				t.Errorf("the dispatched delivery has River job %d", job)
			}
			// Parked: with a job on PostgreSQL, without one on SQLite.
			if jobOf("evt_d2") == 0 && count(t, s, `SELECT count(*) FROM delivery WHERE event_id = 'evt_d2' AND parked = 1`) == 0 {
				t.Error("the delivery queued behind the dispatched one has no job and is not parked: nothing would wake it")
			}

			// The first attempt fails: the retry is River's.
			dl, _, _, err := s.DeliveryForWork(ctx, d.ids[0])
			if err != nil {
				t.Fatal(err)
			}
			next := time.Now().Add(time.Hour)
			if _, err := s.RecordAttempt(ctx, dl, Attempt{Number: 1, StartedAt: time.Now(), StatusCode: 500},
				Outcome{Status: DeliveryPending, NextAttemptAt: next}); err != nil {
				t.Fatal(err)
			}
			job := jobOf("evt_d1")
			if job == 0 {
				t.Fatal("a retry of a dispatched delivery has no River job: it would never be attempted again")
			}
			var state string
			var scheduled time.Time
			if err := s.db.QueryRowContext(ctx, `SELECT state, scheduled_at FROM river_job WHERE id = $1`, job).Scan(&state, &scheduled); err != nil {
				t.Fatal(err)
			}
			if state != "scheduled" || scheduled.Sub(next).Abs() > time.Second {
				t.Errorf("retry job %s at %s, want scheduled at %s", state, scheduled, next)
			}

			// Declined: a job at once. QueueDelivery then finds it has one.
			d.mu.Lock()
			d.accepting = false
			d.mu.Unlock()
			if _, err := s.Ingest(ctx, mail(3, "evt_d3", "other")); err != nil {
				t.Fatal(err)
			}
			if jobOf("evt_d3") == 0 || len(d.ids) != 1 {
				t.Errorf("a declined delivery: job %d, dispatched %v", jobOf("evt_d3"), d.ids)
			}
			var id3 int64
			if err := s.db.QueryRowContext(ctx, `SELECT id FROM delivery WHERE event_id = 'evt_d3'`).Scan(&id3); err != nil {
				t.Fatal(err)
			}
			if queuedFor, err := s.QueueDelivery(ctx, id3, time.Time{}); err != nil || queuedFor != "" {
				t.Errorf("QueueDelivery of a delivery with a job: queued for %q, %v", queuedFor, err)
			}

			// A delivery that follows a second key is handed over with it,
			// for the dispatcher's own look for predecessors.
			d.mu.Lock()
			d.accepting = true
			d.mu.Unlock()
			adjust := mail(4, "evt_d4")
			adjust.Events[0].Deliveries = []NewDelivery{{Endpoint: "e", OrderKey: "sku:A", SecondKey: "shop|9"}}
			if _, err := s.Ingest(ctx, adjust); err != nil {
				t.Fatal(err)
			}
			if len(d.ids) != 2 || len(d.unseen) != 0 {
				t.Errorf("dispatched %v (%v unlike what was stored: %v), want the adjustment too", d.ids, d.unseen, d.errs)
			}
		})
	}
}

// TestJoblessDeliveriesHandedOver: what a dispatcher took and never
// attempted (a crash) is listed once the process is gone, and
// QueueDelivery gives it one job however often it is asked.
func TestJoblessDeliveriesHandedOver(t *testing.T) {
	path := t.TempDir() + "/store.db"
	s, d := openTaking(t, "sqlite:"+path, nil)
	ctx := t.Context()
	if _, err := s.Ingest(ctx, mail(1, "evt_j1", "e", "f")); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := s.Ingest(ctx, mail(2, "evt_j2", "g")); err != nil {
		t.Fatal(err)
	}
	if len(d.ids) != 3 {
		t.Fatalf("dispatched %v, want 3", d.ids)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, "sqlite:"+path, Options{})
	got, err := s.JoblessDeliveries(ctx, before, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != d.ids[0] || got[1] != d.ids[1] {
		t.Fatalf("jobless before the second mail: %v, want deliveries %v", got, d.ids[:2])
	}
	if page, _ := s.JoblessDeliveries(ctx, time.Now(), got[0], 1); len(page) != 1 || page[0] != got[1] {
		t.Errorf("the page after %d: %v", got[0], page)
	}
	for i, want := range []string{"e", ""} { // to endpoint e, then nothing: it has its job
		queuedFor, err := s.QueueDelivery(ctx, got[0], time.Time{})
		if err != nil || queuedFor != want {
			t.Fatalf("QueueDelivery, time %d: queued for %q, %v; want %q", i+1, queuedFor, err, want)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM river_job`); n != 1 {
		t.Errorf("%d River jobs, want 1", n)
	}
	if rest, _ := s.JoblessDeliveries(ctx, time.Now(), 0, 10); len(rest) != 2 {
		t.Errorf("jobless after one was queued: %+v, want the other two", rest)
	}
}

// TestSQLiteWorkedByOneProcess: a second store working the same SQLite
// file does not start, and says why; one that only reads and writes (the
// CLI's) opens it as before.
func TestSQLiteWorkedByOneProcess(t *testing.T) {
	url := "sqlite:" + t.TempDir() + "/store.db"
	first := openWorking(t, url, nil)
	second, err := Open(t.Context(), workingOptions(t, url))
	if err != nil {
		t.Fatal(err)
	}
	err = second.Start(t.Context())
	second.Close()
	if err == nil || !strings.Contains(err.Error(), "served by another qoo10hook process") {
		t.Fatalf("second worker on the same file: %v", err)
	}
	open(t, url, Options{}) // the CLI's store
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openWorking(t, url, nil) // fails the test if it cannot start
}

// TestDispatcherTakesWokenSuccessors: on SQLite a delivery parked behind
// another, without a River job, goes to the dispatcher when the attempt
// that ends the one it waited for is recorded; not while it still waits
// for another pending delivery, nor when the dispatcher declines it: it
// gets a job then. One given a parked job (by the sweep) has it deleted
// when taken, and stays River's while River runs it. A sweep finds a
// parked delivery once it has waited past the sweep's grace, not one
// taken since.
func TestDispatcherTakesWokenSuccessors(t *testing.T) {
	s, d := openTaking(t, "sqlite:"+t.TempDir()+"/store.db", nil)
	ctx := t.Context()
	ingest := func(n int, deliveries ...NewDelivery) int64 {
		t.Helper()
		return ingestDeliveries(t, s, n, deliveries...)
	}
	jobOf := func(id int64) (job int64, state string) {
		t.Helper()
		if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(d.job_id, 0), COALESCE(j.state, '')
			FROM delivery d LEFT JOIN river_job j ON j.id = d.job_id WHERE d.id = $1`, id).Scan(&job, &state); err != nil {
			t.Fatal(err)
		}
		return job, state
	}
	deliver := func(id int64) {
		t.Helper()
		dl, _, _, err := s.DeliveryForWork(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordAttempt(ctx, dl, Attempt{Number: dl.Attempts + 1, StartedAt: time.Now(), StatusCode: 204},
			Outcome{Status: DeliveryDelivered}); err != nil {
			t.Fatal(err)
		}
	}
	dispatched := func() []int64 {
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.unseen) != 0 {
			t.Fatalf("handed over before their commit or unlike what was stored: %v", d.errs)
		}
		return slices.Clone(d.ids)
	}
	cart := NewDelivery{Endpoint: "e", OrderKey: "cart1"}

	first := ingest(1, cart)
	second := ingest(2, cart)
	third := ingest(3, cart)
	parked := func(id int64) bool {
		t.Helper()
		return count(t, s, `SELECT count(*) FROM delivery WHERE id = $1 AND parked = 1`, id) == 1
	}
	if job2, _ := jobOf(second); !slices.Equal(dispatched(), []int64{first}) || job2 != 0 || !parked(second) || !parked(third) {
		t.Fatalf("dispatched %v, second's job %d: want the first only, the others parked without jobs", dispatched(), job2)
	}
	beforeTake := time.Now()
	deliver(first)
	if got := dispatched(); !slices.Equal(got, []int64{first, second}) {
		t.Fatalf("after the first was delivered: dispatched %v, want the second too", got)
	}
	if job, _ := jobOf(second); job != 0 || parked(second) {
		t.Errorf("the second, taken: job %d, parked %v", job, parked(second))
	}
	if job, _ := jobOf(third); job != 0 || !parked(third) {
		t.Errorf("the third, still behind the second: job %d, parked %v; want it parked without one", job, parked(third))
	}
	if left, _ := s.JoblessDeliveries(ctx, beforeTake, 0, 10); !slices.Equal(left, []int64{third}) {
		t.Errorf("a sweep of what waited since before the take finds %v, want the third (parked), not the second (taken)", left)
	}
	if left, _ := s.JoblessDeliveries(ctx, time.Now(), 0, 10); !slices.Equal(left, []int64{second, third}) {
		t.Errorf("jobless now: %v, want the second and the third", left)
	}
	// A sweep that found the second parked, before it was taken, gives it
	// no job now: the dispatcher has it.
	if queuedFor, err := s.QueueLeftDelivery(ctx, second, beforeTake); err != nil || queuedFor != "" {
		t.Errorf("the second, taken since a sweep found it: queued for %q (%v), want no job", queuedFor, err)
	}

	// Given a parked job by the sweep, and that job running: River's.
	if queuedFor, err := s.QueueLeftDelivery(ctx, third, beforeTake); err != nil || queuedFor != "e" {
		t.Fatalf("the third, parked since before the sweep's time: queued for %q (%v), want its endpoint", queuedFor, err)
	}
	job3, state := jobOf(third)
	if job3 == 0 || state != "scheduled" || parked(third) {
		t.Fatalf("the third, queued by a sweep: job %d %s, parked %v; want a parked job instead", job3, state, parked(third))
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE river_job SET state = 'running' WHERE id = $1`, job3); err != nil {
		t.Fatal(err)
	}
	deliver(second)
	if job, state := jobOf(third); job != job3 || state != "running" || len(dispatched()) != 2 {
		t.Errorf("a successor River runs: job %d %s (was %d running), dispatched %v", job, state, job3, dispatched())
	}

	// Waiting for another: left parked, not woken to be parked again;
	// taken when the other ends.
	x := ingest(4, NewDelivery{Endpoint: "e", OrderKey: "cartX"})
	y := ingest(5, NewDelivery{Endpoint: "e", OrderKey: "cartY"})
	z := ingest(6, NewDelivery{Endpoint: "e", OrderKey: "cartX", SecondKey: "cartY"})
	deliver(x)
	if job, _ := jobOf(z); job != 0 || !parked(z) || slices.Contains(dispatched(), z) {
		t.Errorf("a successor still behind another: job %d, dispatched %v; want it parked", job, dispatched())
	}
	deliver(y)
	if job, _ := jobOf(z); job != 0 || !slices.Contains(dispatched(), z) {
		t.Errorf("the same, once the other ended: job %d, dispatched %v; want it taken", job, dispatched())
	}

	// Declined: River's.
	u := ingest(7, NewDelivery{Endpoint: "e", OrderKey: "cartU"})
	v := ingest(8, NewDelivery{Endpoint: "e", OrderKey: "cartU"})
	d.mu.Lock()
	d.accepting = false
	d.mu.Unlock()
	deliver(u)
	if job, state := jobOf(v); job == 0 || state != "available" || parked(v) || slices.Contains(dispatched(), v) {
		t.Errorf("a successor declined: job %d %s, dispatched %v; want a job available", job, state, dispatched())
	}
}

// TestLeaseHoldsJoblessDeliveries: on PostgreSQL, what one instance's
// dispatcher holds without a job is not another instance's to hand over
// while the first one's lease holds. Once the lease is gone (its
// connection ended, as when the process dies) it is, the first instance
// takes no more deliveries without a job, and two instances handing the
// same delivery over at once give it one job.
func TestLeaseHoldsJoblessDeliveries(t *testing.T) {
	url := testenv.Postgres(t)
	was := leaseCheckEvery
	leaseCheckEvery = 100 * time.Millisecond
	t.Cleanup(func() { leaseCheckEvery = was })
	da := &takingDispatcher{accepting: true}
	a := openWorking(t, url, da)
	da.s = a
	b := openWorking(t, url, &takingDispatcher{})
	c := openWorking(t, url, &takingDispatcher{})
	ctx := t.Context()

	if _, err := a.Ingest(ctx, mail(1, "evt_l1", "e")); err != nil {
		t.Fatal(err)
	}
	if len(da.ids) != 1 {
		t.Fatalf("dispatched %v, want one delivery", da.ids)
	}
	id := da.ids[0]
	later := time.Now().Add(time.Minute)
	if got, err := a.JoblessDeliveries(ctx, later, 0, 10); err != nil || !slices.Equal(got, []int64{id}) {
		t.Fatalf("the instance that holds it: jobless %v, %v; want %d (a failed hand-over is its own to retry)", got, err, id)
	}
	if got, err := b.JoblessDeliveries(ctx, later, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("another instance, while the lease holds: jobless %v, %v; want none", got, err)
	}

	if held := testutil.ToFloat64(a.metric.leaseHeld); held != 1 {
		t.Errorf("qoo10hook_store_lease_held %v while the lease holds, want 1", held)
	}

	// The lease's connection ends, as when its process dies.
	var ended bool
	if err := b.db.QueryRowContext(ctx, `SELECT bool_or(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = 2`,
		leaseLockClass, a.lease.key).Scan(&ended); err != nil || !ended {
		t.Fatalf("ending the lease's connection: %v, %v", ended, err)
	}
	select {
	case <-a.LeaseLost():
	case <-time.After(10 * time.Second):
		t.Fatal("the instance still thinks it holds its lease")
	}
	if a.Leased() {
		t.Fatal("the lease is gone, and Leased says it holds")
	}
	if held := testutil.ToFloat64(a.metric.leaseHeld); held != 0 {
		t.Errorf("qoo10hook_store_lease_held %v once the lease is lost, want 0", held)
	}
	if got, err := b.JoblessDeliveries(ctx, later, 0, 10); err != nil || !slices.Equal(got, []int64{id}) {
		t.Fatalf("another instance, the lease gone: jobless %v, %v; want %d", got, err, id)
	}
	if _, err := a.Ingest(ctx, mail(2, "evt_l2", "e2")); err != nil {
		t.Fatal(err)
	}
	if len(da.ids) != 1 || count(t, a, `SELECT count(*) FROM delivery WHERE event_id = 'evt_l2' AND job_id IS NOT NULL`) != 1 {
		t.Fatalf("without its lease the instance dispatched %v: a new delivery must get its River job", da.ids)
	}

	var wg sync.WaitGroup
	queued := make([]string, 2)
	errs := make([]error, 2)
	for i, s := range []*Store{b, c} {
		wg.Go(func() { queued[i], errs[i] = s.QueueDelivery(ctx, id, time.Time{}) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errors.Join(errs...))
	}
	if n := count(t, b, `SELECT count(*) FROM river_job WHERE (args->>'delivery_id')::bigint = $1`, id); n != 1 || (queued[0] == "") == (queued[1] == "") {
		t.Errorf("two instances handed it over at once: %d River jobs (queued for %q and %q), want 1", n, queued[0], queued[1])
	}
}

// TestSuccessorNotTakenFromRunningJob: on PostgreSQL, a delivery whose
// River job a producer is fetching (its row locked, made running, not yet
// committed; a parked job is, once its fallback time has come) when its
// predecessor's last attempt ends stays River's: the
// attempt's transaction waits for the fetch and leaves the job alone,
// instead of deleting what it no longer sees as running and handing the
// delivery to the dispatcher beside River's worker (the same event twice).
func TestSuccessorNotTakenFromRunningJob(t *testing.T) {
	url := testenv.Postgres(t)
	s, d := openTaking(t, url, nil)
	ctx := t.Context()

	if _, err := s.Ingest(ctx, mail(1, "evt_r1", "e")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ingest(ctx, mail(2, "evt_r2", "e")); err != nil { // same cart
		t.Fatal(err)
	}
	if len(d.ids) != 1 {
		t.Fatalf("dispatched %v, want the first delivery only", d.ids)
	}
	var second, job int64
	if err := s.db.QueryRowContext(ctx, `SELECT id, job_id FROM delivery WHERE event_id = 'evt_r2'`).Scan(&second, &job); err != nil {
		t.Fatal(err)
	}

	// River's producer takes the job: its transaction has made it running
	// and not committed yet.
	fetch := beginHeld(t, s)
	if _, err := fetch.ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = attempt + 1,
		attempted_at = now() WHERE id = $1`, job); err != nil {
		t.Fatal(err)
	}

	// Meanwhile the first delivery's attempt ends it.
	first, _, _, err := s.DeliveryForWork(ctx, d.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	// The attempt's transaction waits for the job's row.
	if err := fetch.commitOnceWaited(t, s, func() error {
		_, err := s.RecordAttempt(ctx, first, Attempt{Number: 1, StartedAt: time.Now(), StatusCode: 204},
			Outcome{Status: DeliveryDelivered})
		return err
	}); err != nil {
		t.Fatal(err)
	}

	if slices.Contains(d.ids, second) {
		t.Errorf("the delivery whose job River is running was handed to the dispatcher too: attempted twice")
	}
	var linked int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(job_id, 0) FROM delivery WHERE id = $1`, second).Scan(&linked); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM river_job WHERE id = $1 AND state = 'running'`, job); linked != job || n != 1 {
		t.Errorf("after the attempt: the delivery's job %d (want %d), running jobs of that id %d (want 1)", linked, job, n)
	}
}

// TestWokenSuccessorHandedOverOrdered: on PostgreSQL a delivery that its
// predecessor's last attempt takes comes to the Dispatcher Ordered: the
// statement that took it read its predecessors, and a second look would
// only make the same read again, a round trip before each link of a
// chain.
func TestWokenSuccessorHandedOverOrdered(t *testing.T) {
	url := testenv.Postgres(t)
	s, d := openTaking(t, url, nil)
	ctx := t.Context()
	// A SKU's chain: stored without its key's lock, so not Ordered at its
	// commit.
	for n := 1; n <= 2; n++ {
		ingestDeliveries(t, s, n, NewDelivery{Endpoint: "e", OrderKey: "sku:shop|A", KeyShared: true})
	}
	d.mu.Lock()
	ids, firstOrdered := slices.Clone(d.ids), d.ordered["evt_w1"]
	d.mu.Unlock()
	if len(ids) != 1 || firstOrdered {
		t.Fatalf("dispatched %v (the first Ordered: %v), want the first alone, not Ordered", ids, firstOrdered)
	}
	first, _, _, err := s.DeliveryForWork(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordAttempt(ctx, first, Attempt{Number: 1, StartedAt: time.Now(), StatusCode: 204},
		Outcome{Status: DeliveryDelivered}); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ordered, handed := d.ordered["evt_w2"]; !handed || !ordered {
		t.Errorf("the second, woken: handed over %v, Ordered %v; want both", handed, ordered)
	}
}
