package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestParkAndWake: a delivery whose predecessor is pending is parked (its
// running job completed, a new one scheduled for the fallback), the
// predecessor's last attempt
// makes the parked job available again in the transaction that records
// it, and a delivery whose predecessor has ended is not parked.
func TestParkAndWake(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			ctx := t.Context()
			c := &chainFixture{t: t, s: s}
			add, state, jobOf := c.add, c.state, c.jobOf
			p, _ := add(1)
			sd, sj := add(2)
			parked, err := s.ParkDelivery(ctx, sd, sj, time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if !parked || state(sj) != "completed" || state(jobOf(sd)) != "scheduled" {
				t.Fatalf("parked = %v, its job %s, its new job %s; want parked, completed, scheduled", parked, state(sj), state(jobOf(sd)))
			}
			c.deliver(p)
			if got := state(jobOf(sd)); got != "available" {
				t.Errorf("the parked job is %s after its predecessor was delivered, want available", got)
			}
			td, tj := add(3)
			if _, err := s.RecordAttempt(ctx, sd, Attempt{Number: 1, StartedAt: time.Now(), StatusCode: 410},
				Outcome{Status: DeliveryFailed}); err != nil {
				t.Fatal(err)
			}
			if parked, err := s.ParkDelivery(ctx, td, tj, time.Now().Add(time.Hour)); err != nil || parked {
				t.Errorf("parked = %v (%v) with no pending predecessor, want false", parked, err)
			}
			if got := state(tj); got != "running" {
				t.Errorf("the job not parked is %s, want running", got)
			}

			// A delivery following cart1 (a stock adjustment) parks behind
			// td and is woken by it; cart1's next delivery passes it.
			ud, uj := add(4, "sku:X", "cart1")
			if parked, err := s.ParkDelivery(ctx, ud, uj, time.Now().Add(time.Hour)); err != nil || !parked {
				t.Fatalf("follower parked = %v (%v), want parked behind td", parked, err)
			}
			c.deliver(td)
			if got := state(jobOf(ud)); got != "available" {
				t.Errorf("the parked follower is %s after the cart's delivery, want available", got)
			}
			vd, vj := add(5)
			if parked, err := s.ParkDelivery(ctx, vd, vj, time.Now().Add(time.Hour)); err != nil || parked {
				t.Errorf("cart1's next delivery parked = %v (%v) behind a follower of cart1, want not parked", parked, err)
			}
		})
	}
}

// TestAttemptsShareOneTransaction: the writes of several workers commit
// together, each with its own outcome: on PostgreSQL the attempts'
// statements go to the server as one pipeline, after the chain lock,
// and what follows each (waking, the other requests) after them.
func TestAttemptsShareOneTransaction(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			ctx := t.Context()
			c := &chainFixture{t: t, s: s}
			first, _ := c.add(1)
			behind, behindJob := c.add(2)
			if parked, err := s.ParkDelivery(ctx, behind, behindJob, time.Now().Add(time.Hour)); err != nil || !parked {
				t.Fatalf("parked = %v (%v), want parked behind the first", parked, err)
			}
			retried, _ := c.add(3, "cartR", "")
			failed, _ := c.add(4, "cartF", "")
			attempt := func(status int) Attempt { return Attempt{Number: 1, StartedAt: time.Now(), StatusCode: status} }
			var seen string
			batch := []*attemptRequest{
				s.recordAttemptRequest(first, attempt(204), Outcome{Status: DeliveryDelivered}),
				s.recordAttemptRequest(retried, attempt(503), Outcome{Status: DeliveryPending, NextAttemptAt: time.Now().Add(time.Hour)}),
				s.recordAttemptRequest(failed, attempt(410), Outcome{Status: DeliveryFailed}),
				{endpoint: "e", do: func(ctx context.Context, tx *sql.Tx) (attemptResult, error) {
					err := tx.QueryRowContext(ctx, `SELECT status FROM delivery WHERE id = $1`, first.ID).Scan(&seen)
					return attemptResult{queuedFor: "other"}, err
				}},
			}
			results, err := s.attemptBatch(batch)
			if err != nil {
				t.Fatal(err)
			}
			if got := []int{results[0].failures, results[1].failures, results[2].failures}; !slices.Equal(got, []int{0, 1, 2}) {
				t.Errorf("consecutive failures after each attempt %v, want [0 1 2]", got)
			}
			if results[3].queuedFor != "other" || seen != DeliveryDelivered {
				t.Errorf("the other request: result %+v, saw the first delivery %q; want it run after the attempts", results[3], seen)
			}
			for d, want := range map[*Delivery]string{first: DeliveryDelivered, retried: DeliveryPending, failed: DeliveryFailed} {
				got, attempts, err := s.GetDelivery(ctx, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != want || len(attempts) != 1 {
					t.Errorf("delivery %d: %s with %d attempts, want %s with 1", d.ID, got.Status, len(attempts), want)
				}
			}
			if got := c.state(c.jobOf(behind)); got != "available" {
				t.Errorf("the delivery parked behind the first is %s, want woken (available)", got)
			}
		})
	}
}

// TestQueuedBehind: a delivery stored while an earlier one it follows is
// pending is queued parked, not fetched only to be parked, and that one's
// last attempt wakes it; one with nothing to wait for is queued available.
func TestQueuedBehind(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			c := &chainFixture{t: t, s: s}
			first, _ := c.add(1)
			second := mail(2, "evt_q2")
			second.Events[0].Deliveries = []NewDelivery{{Endpoint: "e", OrderKey: "cart1"}}
			if _, err := s.Ingest(t.Context(), second); err != nil {
				t.Fatal(err)
			}
			var id int64
			var job sql.NullInt64
			var parked int
			queued := `SELECT id, job_id, parked FROM delivery WHERE event_id = 'evt_q2'`
			if err := s.db.QueryRowContext(t.Context(), queued).Scan(&id, &job, &parked); err != nil {
				t.Fatal(err)
			}
			// On SQLite without a River job, on PostgreSQL with a parked one.
			if st.Name == "sqlite" && (job.Valid || parked != 1) {
				t.Fatalf("a delivery queued behind a pending one of its cart: job %v, parked %d; want no job, parked", job, parked)
			}
			if st.Name != "sqlite" {
				if got := c.state(job.Int64); got != "scheduled" {
					t.Fatalf("a delivery queued behind a pending one of its cart: job %s, want scheduled", got)
				}
			}
			c.deliver(first)
			if err := s.db.QueryRowContext(t.Context(), queued).Scan(&id, &job, &parked); err != nil {
				t.Fatal(err)
			}
			if got := c.state(job.Int64); got != "available" || parked != 0 {
				t.Errorf("after the cart's earlier delivery: job %s, parked %d; want available", got, parked)
			}
			if _, err := s.Ingest(t.Context(), mail(3, "evt_q3", "other")); err != nil {
				t.Fatal(err)
			}
			if err := s.db.QueryRowContext(t.Context(), `SELECT job_id FROM delivery WHERE event_id = 'evt_q3'`).Scan(&job); err != nil {
				t.Fatal(err)
			}
			if got := c.state(job.Int64); got != "available" {
				t.Errorf("a delivery with nothing pending before it at its endpoint: job %s, want available", got)
			}
		})
	}
}

// TestQueuedBehindReadsAgainUnderChainLock: on PostgreSQL the
// predecessor's last attempt may end while a new delivery's transaction
// is under way, and then looks for deliveries to wake without seeing the
// new one. The new delivery's job is queued available, not parked with
// nothing left to wake it, when that attempt committed before the
// transaction got the endpoint's chain lock. A mail whose deliveries of
// the cart follow each other takes the lock before it reads at all, and
// must read only once it holds it.
func TestQueuedBehindReadsAgainUnderChainLock(t *testing.T) {
	for name, events := range map[string][]string{
		"alone":                 {"evt_q2"},
		"followed in its batch": {"evt_q2", "evt_q2u"},
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t, testenv.Postgres(t), Options{})
			ctx := t.Context()
			c := &chainFixture{t: t, s: s}
			first, _ := c.add(1)
			attempt := c.endUnderChainLock(first)

			// Meanwhile the cart's next mail comes, sees the first pending
			// and waits for the lock.
			second := mail(2, events[0])
			for _, id := range events[1:] {
				updated := second.Events[0]
				updated.ID, updated.Type = id, "order.updated"
				second.Events = append(second.Events, updated)
			}
			for i := range second.Events {
				second.Events[i].Deliveries = []NewDelivery{{Endpoint: first.Endpoint, OrderKey: "cart1"}}
			}
			if err := attempt.commitOnceWaited(t, s, func() error {
				_, err := s.Ingest(ctx, second)
				return err
			}); err != nil {
				t.Fatal(err)
			}

			for i, event := range events {
				var job int64
				if err := s.db.QueryRowContext(ctx, `SELECT job_id FROM delivery WHERE event_id = $1`, event).Scan(&job); err != nil {
					t.Fatal(err)
				}
				want := "available" // the first, whose predecessor has ended
				if i > 0 {
					want = "scheduled" // behind the one before it
				}
				if got := c.state(job); got != want {
					t.Errorf("%s, stored while its predecessor's last attempt ended: job %s, want %s", event, got, want)
				}
			}
		})
	}
}

// TestAttemptReadsSuccessorsUnderChainLock: on PostgreSQL a delivery's
// last attempt looks for the deliveries to wake only once it holds the
// endpoint's chain lock, with what the lock's holder committed in view:
// a new delivery parked behind it by that holder is woken. (The attempt's
// statement goes in one pipeline with the lock, which must come first and
// be waited for.)
func TestAttemptReadsSuccessorsUnderChainLock(t *testing.T) {
	s := open(t, testenv.Postgres(t), Options{})
	ctx := t.Context()
	c := &chainFixture{t: t, s: s}
	first, _ := c.add(1)
	second, secondJob := c.add(2)
	if parked, err := s.ParkDelivery(ctx, second, secondJob, time.Now().Add(time.Hour)); err != nil || !parked {
		t.Fatalf("parked = %v (%v), want parked behind the first", parked, err)
	}
	// The second stands for a delivery a transaction parks as it stores
	// it: not pending yet, and pending once that commits.
	if _, err := s.db.ExecContext(ctx, `UPDATE delivery SET status = $1 WHERE id = $2`, DeliveryHeld, second.ID); err != nil {
		t.Fatal(err)
	}
	storing := beginHeld(t, s)
	if err := s.lockChains(ctx, storing.Tx, []string{first.Endpoint}); err != nil {
		t.Fatal(err)
	}
	if _, err := storing.ExecContext(ctx, `UPDATE delivery SET status = $1 WHERE id = $2`, DeliveryPending, second.ID); err != nil {
		t.Fatal(err)
	}
	if err := storing.commitOnceWaited(t, s, func() error {
		_, err := s.RecordAttempt(ctx, first, Attempt{Number: 1, StartedAt: time.Now(), StatusCode: 204},
			Outcome{Status: DeliveryDelivered})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := c.state(c.jobOf(second)); got != "available" {
		t.Errorf("a delivery parked while its predecessor's last attempt waited for the chain lock: job %s, want available", got)
	}
}

// TestDeliveriesNumberedAfterDerive: on PostgreSQL two writers may store
// mails of one cart at once. The derivers lock the cart (the order book
// its record), and the mail's deliveries get their ids only after that
// lock: the mail that takes it second has the higher ids and sees the
// first one's deliveries when it looks for deliveries to wait for.
// Numbered before, it could have the lower ids, follow nothing and be
// attempted beside the first one's.
func TestDeliveriesNumberedAfterDerive(t *testing.T) {
	const cartLock = 7001 // stands in for the cart's record row
	lockCart := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, cartLock)
		return err
	}
	s := open(t, testenv.Postgres(t), Options{Derive: func(ctx context.Context, tx *sql.Tx, _ *Event) ([]Event, error) {
		return nil, lockCart(ctx, tx)
	}})
	ctx := t.Context()

	// The other writer's mail of the cart has taken the cart's lock.
	other := beginHeld(t, s)
	if err := lockCart(ctx, other.Tx); err != nil {
		t.Fatal(err)
	}
	ingested := make(chan error, 1)
	go func() {
		_, err := s.Ingest(ctx, mail(1, "evt_n1", "e"))
		ingested <- err
	}()
	// This one waits for the lock; meanwhile the other numbers its
	// delivery and commits.
	waitBlockedBy(t, s, other.pid, ingested)
	var otherID int64
	if err := other.QueryRowContext(ctx, `SELECT nextval(pg_get_serial_sequence('delivery', 'id'))`).Scan(&otherID); err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-ingested; err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := s.db.QueryRowContext(ctx, `SELECT id FROM delivery WHERE event_id = 'evt_n1'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if id < otherID {
		t.Errorf("the mail that took the cart's lock second has delivery %d, below the first one's %d", id, otherID)
	}
}

// TestParkedRunsOnce: River's completion of the run that parked a delivery
// comes after the worker returns, and may come after the delivery was
// woken and taken again; it must not end that new run, nor let the wake of
// the delivery's other predecessor start a second one meanwhile.
func TestParkedRunsOnce(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			c := &chainFixture{t: t, s: s}
			ctx := t.Context()
			cart, _ := c.add(1)                      // the order event
			earlier, _ := c.add(2, "sku:X", "cart2") // the SKU's earlier adjustment
			d, run1 := c.add(3, "sku:X", "cart1")    // follows both
			if parked, err := s.ParkDelivery(ctx, d, run1, time.Now().Add(time.Hour)); err != nil || !parked {
				t.Fatalf("parked = %v (%v), want parked", parked, err)
			}
			c.deliver(cart)
			// The producer takes the woken job: a second run.
			run2 := c.jobOf(d)
			c.take(run2)
			// River's completer ends the first run, if its job runs.
			tx, err := s.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.settleJobs(ctx, tx, riverdriver.JobSetStateCompleted(run1, time.Now(), nil)); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			c.deliver(earlier)
			if got := c.state(c.jobOf(d)); c.jobOf(d) != run2 || got != "running" {
				t.Errorf("the second run's job %d is %s (the delivery's job %d), want it running alone", run2, got, c.jobOf(d))
			}
		})
	}
}

// chainFixture adds deliveries whose jobs run, as River's producer has
// taken them, and reads their jobs' states.
type chainFixture struct {
	t *testing.T
	s *Store
}

// add stores a delivery keyed by cart1, or by the two keys given, and
// takes its job: one parked without a job gets one first, as the
// Dispatcher's sweep gives it.
func (c *chainFixture) add(n int, keys ...string) (*Delivery, int64) {
	c.t.Helper()
	ctx := c.t.Context()
	in := mail(n, fmt.Sprintf("evt_p%d", n))
	nd := NewDelivery{Endpoint: "e", OrderKey: "cart1"}
	if len(keys) == 2 {
		nd.OrderKey, nd.SecondKey = keys[0], keys[1]
	}
	in.Events[0].Deliveries = []NewDelivery{nd}
	if _, err := c.s.Ingest(ctx, in); err != nil {
		c.t.Fatal(err)
	}
	var id int64
	var job sql.NullInt64
	byEvent := `SELECT id, job_id FROM delivery WHERE event_id = $1`
	if err := c.s.db.QueryRowContext(ctx, byEvent, fmt.Sprintf("evt_p%d", n)).Scan(&id, &job); err != nil {
		c.t.Fatal(err)
	}
	if !job.Valid {
		if _, err := c.s.QueueDelivery(ctx, id, time.Time{}); err != nil {
			c.t.Fatal(err)
		}
		if err := c.s.db.QueryRowContext(ctx, byEvent, fmt.Sprintf("evt_p%d", n)).Scan(&id, &job); err != nil {
			c.t.Fatal(err)
		}
	}
	c.take(job.Int64)
	d, _, _, err := c.s.DeliveryForWork(ctx, id)
	if err != nil {
		c.t.Fatal(err)
	}
	return d, job.Int64
}

// take marks a job running, as River's producer does when it takes it.
func (c *chainFixture) take(job int64) {
	c.t.Helper()
	if _, err := c.s.db.ExecContext(c.t.Context(), `UPDATE river_job SET state = 'running', attempt = attempt + 1 WHERE id = $1`, job); err != nil {
		c.t.Fatal(err)
	}
}

// endUnderChainLock begins d's last attempt: under the chain lock, it
// ends the delivery, and does not commit yet.
func (c *chainFixture) endUnderChainLock(d *Delivery) *heldTx {
	c.t.Helper()
	attempt := beginHeld(c.t, c.s)
	if err := c.s.lockChains(c.t.Context(), attempt.Tx, []string{d.Endpoint}); err != nil {
		c.t.Fatal(err)
	}
	if _, err := attempt.ExecContext(c.t.Context(), `UPDATE delivery SET status = 'delivered' WHERE id = $1`, d.ID); err != nil {
		c.t.Fatal(err)
	}
	return attempt
}

func (c *chainFixture) state(job int64) string {
	c.t.Helper()
	var st string
	if err := c.s.db.QueryRowContext(c.t.Context(), `SELECT state FROM river_job WHERE id = $1`, job).Scan(&st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

// jobOf is the job the delivery has now: parking gives it a new one.
func (c *chainFixture) jobOf(d *Delivery) int64 {
	c.t.Helper()
	var job int64
	if err := c.s.db.QueryRowContext(c.t.Context(), `SELECT job_id FROM delivery WHERE id = $1`, d.ID).Scan(&job); err != nil {
		c.t.Fatal(err)
	}
	return job
}

func (c *chainFixture) deliver(d *Delivery) {
	c.t.Helper()
	if _, err := c.s.RecordAttempt(c.t.Context(), d, Attempt{Number: 1, StartedAt: time.Now(), StatusCode: 200},
		Outcome{Status: DeliveryDelivered}); err != nil {
		c.t.Fatal(err)
	}
}

// TestSuccessorsLeaveOutThoseStillWaiting: on PostgreSQL the successors
// an attempt reads to wake (successorJobsPostgres, read by the statement
// that records the attempt, which does not see its own update) leave out
// one that still waits for another pending delivery, and count the
// delivery the attempt ends as ended.
func TestSuccessorsLeaveOutThoseStillWaiting(t *testing.T) {
	s := open(t, testenv.Postgres(t), Options{})
	ctx := t.Context()
	add := func(n int, key, second string) int64 {
		t.Helper()
		return ingestDeliveries(t, s, n, NewDelivery{Endpoint: "e", OrderKey: key, SecondKey: second})
	}
	order := add(1, "cart1", "")           // an order event
	previous := add(2, "sku:A", "")        // the SKU's previous adjustment
	adjustment := add(3, "sku:A", "cart1") // follows both
	successorsOf := func(id int64) []int64 {
		t.Helper()
		next, err := readSuccessors(s.db.QueryContext(ctx, successorJobsPostgres, id))
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, n := range next {
			ids = append(ids, n.id)
		}
		return ids
	}

	if got := successorsOf(order); len(got) != 0 {
		t.Errorf("as the order event ends, with the SKU's previous adjustment pending: successors %v, want none", got)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE delivery SET status = 'delivered' WHERE id = $1`, previous); err != nil {
		t.Fatal(err)
	}
	// The order event is still pending in the table, as the statement
	// that ends it sees it.
	if got := successorsOf(order); !slices.Equal(got, []int64{adjustment}) {
		t.Errorf("as the order event ends, the previous adjustment delivered: successors %v, want %d", got, adjustment)
	}
}
