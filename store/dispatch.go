package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// A Dispatcher delivers new deliveries straight from the commit that
// stored them: such a delivery gets no River job, so that its first
// attempt costs no job insert, fetch and completion (on SQLite, each as
// much as the mail's own rows on the one writer connection; on PostgreSQL,
// round trips and River's heaviest statements). The delivery row is what
// keeps it meanwhile: a retry gets a River job in the transaction that
// records the attempt (RecordAttempt), whatever the dispatcher does not
// attempt itself it gives to River (QueueDelivery), and what a crash or a
// stop left without a job is given one later (JoblessDeliveries).
//
// On PostgreSQL, where several instances share the store, the instance
// holds a lease (store/lease.go) while its dispatcher holds deliveries:
// another instance takes them over only once the lease is gone.
type Dispatcher interface {
	// Accepts tells whether the dispatcher takes a new delivery to the
	// endpoint now. It is asked in the transaction that stores the
	// delivery, which holds the writer: it must answer at once.
	Accepts(endpoint string) bool
	// Dispatch hands over the deliveries of a transaction Accepts took,
	// once it has committed, in the order they were stored, each as
	// stored, payload included: new ones, and ones that waited behind a
	// delivery whose attempt this transaction recorded (their River job
	// deleted, as if they never had one). Nobody else acts on them: they have no
	// job, and operators act on deliveries that have ended. A delivery
	// waits only for those in its Follows, handed over with it: it must
	// not be attempted before they have ended (left pending), and if one
	// of them does not end at its attempt, the delivery goes to River
	// (QueueDelivery) to wait for it.
	Dispatch(ds []*Delivery)
}

// SetDispatcher has new deliveries that wait for no earlier delivery go
// to d instead of River, and reports whether it does: for a store that
// works jobs (elsewhere it does nothing). On PostgreSQL it takes the
// instance's lease. It must be called before Start.
func (s *Store) SetDispatcher(ctx context.Context, d Dispatcher) (bool, error) {
	if !s.working {
		return false, nil
	}
	if s.kind == Postgres {
		l, err := takeLease(ctx, s.pgConfig, s.reportLeaseLost, s.log)
		if err != nil {
			return false, err
		}
		s.lease = l
		if s.metric.reg != nil {
			if err := s.metric.reg.Register(s.metric.leaseHeld); err != nil {
				l.close(false)
				return false, fmt.Errorf("store: lease metric: %w", err)
			}
		}
		s.metric.leaseHeld.Set(1)
	}
	s.dispatch = d
	return true, nil
}

// dispatches tells whether the new delivery of j goes to the dispatcher,
// to be handed over when ctx's transaction commits.
func (s *Store) dispatches(ctx context.Context, j pendingJob) bool {
	return s.dispatch != nil && j.delivery != nil && inGroupTx(ctx) && s.Leased() && s.dispatch.Accepts(j.endpoint)
}

// inGroupTx tells whether ctx is that of a transaction that runs
// AfterCommit's functions once it has committed.
func inGroupTx(ctx context.Context) bool {
	_, ok := ctx.Value(afterCommitKey{}).(*afterCommit)
	return ok
}

// QueueDelivery gives delivery id a River job due at the given time, if
// it is pending without one: the dispatcher hands over what it does not
// attempt itself. A delivery that waits for an earlier pending one gets
// its job parked, as at ingest (queuedBehind), for that one's last
// attempt to wake: the write holds SQLite's one writer, so that attempt
// comes after it. It returns the endpoint of the delivery it gave a job,
// "" when it gave none. The write shares a transaction with the workers'
// attempts.
func (s *Store) QueueDelivery(ctx context.Context, id int64, at time.Time) (endpoint string, err error) {
	return s.queueDelivery(ctx, id, at, time.Time{})
}

// QueueLeftDelivery is QueueDelivery for a delivery that JoblessDeliveries
// found unchanged since before: it gives it a job only if it still is (or,
// on PostgreSQL, is another instance's), as one changed since was taken
// meanwhile. A delivery parked without a job (on SQLite) is taken by the
// attempt that ends the one it waited for, and is then the Dispatcher's.
func (s *Store) QueueLeftDelivery(ctx context.Context, id int64, before time.Time) (endpoint string, err error) {
	return s.queueDelivery(ctx, id, time.Time{}, before)
}

func (s *Store) queueDelivery(ctx context.Context, id int64, at, unchangedBefore time.Time) (endpoint string, err error) {
	res := s.attempts.submit(ctx, &attemptRequest{do: func(ctx context.Context, tx *sql.Tx) (attemptResult, error) {
		status, endpoint, jobID, err := s.deliveryState(ctx, tx, id)
		if err != nil || status != DeliveryPending || jobID.Valid {
			return attemptResult{}, err
		}
		if !unchangedBefore.IsZero() {
			var changed int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM delivery WHERE id = $1 AND updated_at >= $2
				AND (stored_by IS NULL OR stored_by = $3)`, id, unchangedBefore.UnixMicro(), s.leaseKey()).Scan(&changed); err != nil {
				return attemptResult{}, err
			}
			if changed > 0 {
				return attemptResult{}, nil
			}
		}
		if first, err := s.queuedBehind(ctx, tx, id); err != nil {
			return attemptResult{}, err
		} else if first.Valid {
			at = time.Now().Add(queuedBehindFallback)
			AfterCommit(ctx, s.metric.queuedBehind.WithLabelValues(endpoint).Inc)
		}
		if _, err := s.queueTx(ctx, tx, id, endpoint, at); err != nil {
			return attemptResult{}, err
		}
		if err := s.wakeQueue(ctx, tx, QueueName(endpoint)); err != nil {
			return attemptResult{}, err
		}
		return attemptResult{queuedFor: endpoint}, nil
	}})
	if res.err != nil {
		return "", fmt.Errorf("store: queue delivery %d: %w", id, res.err)
	}
	return res.queuedFor, nil
}

// JoblessDeliveries returns the ids of up to limit pending deliveries
// without a River job, unchanged since before the given time (stored, or
// taken from River by the Dispatcher, before it) and after delivery id
// after, in id order: those a dispatcher took and did not finish (the
// process stopped or crashed), or could not hand over. On PostgreSQL,
// those this instance holds under its lease (stored_by), and any that
// another instance held under a lease that is gone, however recent: a
// live instance's dispatcher may hold the others.
func (s *Store) JoblessDeliveries(ctx context.Context, before time.Time, after int64, limit int) ([]int64, error) {
	q := `SELECT id FROM delivery WHERE status = 'pending' AND job_id IS NULL AND id > $2 AND updated_at < $1`
	args := []any{before.UnixMicro(), after, limit}
	if s.kind == Postgres {
		live, err := s.liveLeases(ctx)
		if err != nil {
			return nil, fmt.Errorf("store: deliveries without a job: leases: %w", err)
		}
		q = `SELECT id FROM delivery WHERE status = 'pending' AND job_id IS NULL AND id > $2
			AND CASE WHEN stored_by IS NULL OR stored_by = $4 THEN updated_at < $1 ELSE stored_by <> ALL($5) END`
		args = append(args, s.leaseKey(), live)
	}
	ids, err := s.readIDs(ctx, q+` ORDER BY id LIMIT $3`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: deliveries without a job: %w", err)
	}
	return ids, nil
}

// WaitsForPredecessor tells whether delivery d follows an earlier
// delivery that is pending (predecessorLookups). A dispatcher on
// PostgreSQL asks before it attempts a delivery: a mail of the same cart
// stored by a transaction that committed beside the one that stored this
// delivery was not seen by it. There, calls made while another's
// statement runs are answered together by the next one
// (predecessorChecks): under load a dispatcher's goroutines ask at once,
// and each statement is a round trip.
func (s *Store) WaitsForPredecessor(ctx context.Context, d *Delivery) (bool, error) {
	if s.kind != Postgres {
		pred, err := firstPredecessor(ctx, s.read, d.ID)
		if err != nil {
			return false, fmt.Errorf("store: %w", err)
		}
		return pred.Valid, nil
	}
	return s.predecessorChecks.waits(ctx, s.read, pendingJob{deliveryID: d.ID, endpoint: d.Endpoint,
		orderKey: d.OrderKey, secondKey: d.SecondKey})
}

// predecessorChecks batches WaitsForPredecessor's lookups: the first
// caller reads for every caller waiting, in statements of up to
// predecessorsQueries' largest size; callers that come meanwhile wait,
// and the first of them reads for all of them next.
type predecessorChecks struct {
	mu      sync.Mutex
	reading bool
	waiting []*predecessorCheck
}

type predecessorCheck struct {
	job pendingJob
	// done is sent true once waits and err are set, or false to have
	// this caller read for those waiting.
	done  chan bool
	waits bool
	err   error
}

func (c *predecessorChecks) waits(ctx context.Context, db querier, job pendingJob) (bool, error) {
	me := &predecessorCheck{job: job, done: make(chan bool, 1)}
	c.mu.Lock()
	c.waiting = append(c.waiting, me)
	lead := !c.reading
	c.reading = true
	c.mu.Unlock()
	if !lead {
		// Not abandoned on ctx: a caller picked to read next must read,
		// or those behind it would wait for ever.
		if answered := <-me.done; answered {
			return me.waits, me.err
		}
	}
	c.mu.Lock()
	batch := c.waiting
	c.waiting = nil
	c.mu.Unlock()

	jobs := make([]pendingJob, len(batch))
	for i, chk := range batch {
		jobs[i] = chk.job
	}
	firsts, err := firstPredecessors(ctx, db, jobs)
	if err != nil {
		err = fmt.Errorf("store: %w", err)
	}
	for _, chk := range batch {
		_, chk.waits = firsts[chk.job.deliveryID]
		chk.err = err
		if chk != me {
			chk.done <- true
		}
	}

	c.mu.Lock()
	if len(c.waiting) > 0 {
		c.waiting[0].done <- false
	} else {
		c.reading = false
	}
	c.mu.Unlock()
	return me.waits, me.err
}
