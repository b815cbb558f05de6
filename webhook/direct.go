package webhook

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/qoo10hook/qoo10hook/store"
)

// Direct is the Worker's store.Dispatcher: an endpoint's new deliveries go
// from the commit that stored them to goroutines of the endpoint's own,
// which attempt them as River's jobs do (Worker.attempt) but without a
// River job, the endpoint's attempt slots shared with its queue. Whatever
// is not a plain first attempt goes to River instead: a delivery whose
// endpoint is paused, disabled or gone from the configuration, one that
// came while the endpoint's goroutines were behind, one that follows a
// delivery whose attempt did not end it. (One that waits for a delivery
// stored before it got its job when it was stored, and comes here when
// the attempt that ends the last one it waits for is recorded, its job
// deleted; one that follows only deliveries of its own commit, as a stock
// adjustment follows its order event, is attempted here once they have
// ended.) A retry gets its River job with the attempt that failed
// (store.RecordAttempt).
type Direct struct {
	w      *Worker
	log    *slog.Logger
	queues map[string]chan *store.Delivery
	// workers is how many goroutines attempt each endpoint's deliveries.
	workers map[string]int

	// taking ends with Stop: no delivery is taken after it. working ends
	// when Stop's deadline passes: attempts under way are cut.
	taking, working         context.Context
	stopTaking, stopWorking context.CancelFunc
	wg                      sync.WaitGroup

	started atomic.Bool

	// sweepEvery and sweepGrace are DefaultSweepEvery and
	// DefaultSweepGrace unless SetSweep changed them.
	sweepEvery, sweepGrace time.Duration

	mu sync.Mutex
	// held holds the deliveries taken and not yet attempted or handed to
	// River: the sweep leaves them alone.
	held map[int64]struct{}
	// followers holds, by the id of a delivery taken, those that wait for
	// it to end.
	followers map[int64][]*follower
}

// follower is a delivery taken that waits for others taken with it.
type follower struct {
	dl *store.Delivery
	// waiting counts the deliveries it follows whose attempt is not over;
	// unended is set when one of them did not end.
	waiting int
	unended bool
}

// directQueue bounds, per endpoint, the deliveries waiting for the
// endpoint's goroutines; past half of it new deliveries go to River, so
// that a batch's deliveries still fit.
const directQueue = 2048

// DefaultSweepEvery is how often Direct looks, on SQLite, for deliveries
// it took and could not hand to River (the store failing at that moment);
// DefaultSweepGrace is how long such a delivery must have been unchanged:
// more than the time from the commit that gave it to Direct to Dispatch.
// On PostgreSQL the sweep also takes over a dead instance's deliveries,
// every delivery timeout plus store.LeaseLapse.
const (
	DefaultSweepEvery = time.Minute
	DefaultSweepGrace = time.Minute
)

// NewDirect returns the dispatcher of w's endpoints, running as many
// goroutines per endpoint as its River queue runs jobs (QueueWorkers).
func NewDirect(w *Worker, log *slog.Logger) *Direct {
	d := &Direct{w: w, log: log, queues: map[string]chan *store.Delivery{}, workers: map[string]int{},
		held: map[int64]struct{}{}, followers: map[int64][]*follower{},
		sweepEvery: DefaultSweepEvery, sweepGrace: DefaultSweepGrace}
	if w.store.Kind() == store.Postgres {
		// A dead instance's deliveries are handed over once two sweeps
		// found its lease gone: by then it attempts nothing more, even
		// were it alive and its lease's connection lost (store.LeaseLapse),
		// and its last attempts have timed out.
		d.sweepEvery = w.policy.Timeout + store.LeaseLapse
	}
	for name, ep := range w.endpoints {
		d.queues[name] = make(chan *store.Delivery, directQueue)
		d.workers[name] = QueueWorkers(max(ep.Concurrency, 1))
	}
	d.taking, d.stopTaking = context.WithCancel(context.Background())
	d.working, d.stopWorking = context.WithCancel(context.Background())
	return d
}

// SetSweep sets how often the sweep runs and how long a delivery it
// hands over must have been unchanged (DefaultSweepEvery,
// DefaultSweepGrace). It must be called before Start.
func (d *Direct) SetSweep(every, grace time.Duration) {
	d.sweepEvery, d.sweepGrace = every, grace
}

// Start runs the endpoints' goroutines, and the sweep, which first gives
// River a job for each delivery a previous run took and did not finish.
func (d *Direct) Start() {
	if d.started.Swap(true) {
		return
	}
	before := time.Now()
	for name, q := range d.queues {
		for range d.workers[name] {
			d.wg.Go(func() { d.run(q) })
		}
	}
	d.wg.Go(func() { d.sweepLoop(before) })
}

// Stop takes no more deliveries and waits for the attempts under way
// until ctx ends, then cuts them. What is left without a job gets one at
// the next start.
func (d *Direct) Stop(ctx context.Context) {
	d.stopTaking()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.stopWorking()
		<-done
	}
	d.stopWorking()
}

// Accepts takes a delivery to endpoint while the endpoint's queue has
// room and nothing holds its deliveries back. It reads only what is in
// memory: the store's writer waits for the answer.
func (d *Direct) Accepts(endpoint string) bool {
	q := d.queues[endpoint]
	if q == nil || len(q) >= cap(q)/2 || d.taking.Err() != nil {
		return false
	}
	return d.started.Load() && !d.w.heldBack(endpoint)
}

// Dispatch queues a commit's deliveries for their endpoints' goroutines,
// those that follow others once those have ended.
func (d *Direct) Dispatch(ds []*store.Delivery) {
	var ready []*store.Delivery
	d.mu.Lock()
	for _, dl := range ds {
		d.held[dl.ID] = struct{}{}
		d.w.metrics.dispatched.WithLabelValues(dl.Endpoint).Inc()
		if len(dl.Follows) == 0 {
			ready = append(ready, dl)
			continue
		}
		f := &follower{dl: dl, waiting: len(dl.Follows)}
		for _, p := range dl.Follows {
			d.followers[p] = append(d.followers[p], f)
		}
	}
	d.mu.Unlock()
	for _, dl := range ready {
		d.queue(dl)
	}
}

// queue hands dl to its endpoint's goroutines, or to River when their
// queue is full.
func (d *Direct) queue(dl *store.Delivery) {
	select {
	case d.queues[dl.Endpoint] <- dl:
	default:
		go d.handOver(dl.ID)
	}
}

// over is told that delivery id's turn here is over, and whether its
// attempt ended it: its followers go once every delivery they follow is
// over, to its endpoint's goroutines if all of those ended, else to River,
// which parks them until those do.
func (d *Direct) over(id int64, ended bool) {
	var ready, unended []*store.Delivery
	d.mu.Lock()
	for _, f := range d.followers[id] {
		f.waiting--
		f.unended = f.unended || !ended
		switch {
		case f.waiting > 0:
		case f.unended:
			unended = append(unended, f.dl)
		default:
			ready = append(ready, f.dl)
		}
	}
	delete(d.followers, id)
	d.mu.Unlock()
	for _, dl := range ready {
		d.queue(dl)
	}
	for _, dl := range unended {
		d.handOver(dl.ID)
	}
}

func (d *Direct) run(q chan *store.Delivery) {
	for d.taking.Err() == nil {
		select {
		case dl := <-q:
			d.deliver(dl)
		case <-d.taking.Done():
		}
	}
}

// deliver makes the first attempt of dl, as the store handed it over (no
// need to read it back: nothing else acts on it), or hands it to River.
func (d *Direct) deliver(dl *store.Delivery) {
	defer d.release(dl.ID)
	ctx := d.working
	ep := d.w.endpoints[dl.Endpoint]
	if ep == nil || d.w.isDisabled(ctx, dl.Endpoint) || !d.w.circuitOpenUntil(dl.Endpoint).IsZero() {
		// River's worker holds it back as it does any job.
		d.handOver(dl.ID)
		return
	}
	if !d.w.store.Leased() {
		// PostgreSQL: another instance may take it over; River's job is
		// the one that attempts it.
		d.handOver(dl.ID)
		return
	}
	if d.w.store.Kind() == store.Postgres && !dl.Ordered {
		// A delivery of its cart or SKU stored beside it, by a transaction
		// it did not see, may have come first: River's worker parks it
		// behind that one. (Not an Ordered one: its commit held its
		// cart's lock, or the attempt that woke it read its predecessors.)
		if waits, err := d.w.store.WaitsForPredecessor(ctx, dl); err != nil || waits {
			if err != nil {
				d.log.Error("direct delivery: could not look for an earlier delivery; River will", "delivery", dl.ID, "err", err)
			}
			d.handOver(dl.ID)
			return
		}
	}
	err := d.w.attempt(ctx, d.w.log.With("delivery", dl.ID, "event_id", dl.EventID, "endpoint", dl.Endpoint), ep, dl)
	if ctx.Err() != nil {
		return // cut by Stop: the next start gives it and its followers jobs
	}
	var snooze *river.JobSnoozeError
	var cancel *river.JobCancelError
	switch {
	case err == nil || errors.As(err, &cancel):
		d.over(dl.ID, true) // delivered, failed or dead
	case errors.As(err, &snooze):
		d.over(dl.ID, false) // its retry is River's job
	default:
		// The attempt was not recorded: River makes it again, as it would
		// for a job.
		d.handOver(dl.ID)
	}
}

// handOver gives delivery id a River job (store.QueueDelivery), and its
// followers after it. Should the store fail, the sweep tries again.
func (d *Direct) handOver(id int64) {
	defer d.over(id, false)
	defer d.release(id)
	if _, err := d.queueInRiver(context.WithoutCancel(d.working), id, time.Time{}); err != nil {
		d.log.Error("direct delivery: could not hand it to River; the sweep will", "delivery", id, "err", err)
	}
}

// queueInRiver gives delivery id a River job, if it is pending without
// one (store.QueueDelivery; for the sweep, which found it unchanged since
// before, store.QueueLeftDelivery), counts it, and reports whether it did.
func (d *Direct) queueInRiver(ctx context.Context, id int64, before time.Time) (bool, error) {
	var queuedFor string
	var err error
	if before.IsZero() {
		queuedFor, err = d.w.store.QueueDelivery(ctx, id, time.Time{})
	} else {
		queuedFor, err = d.w.store.QueueLeftDelivery(ctx, id, before)
	}
	if err != nil || queuedFor == "" {
		return false, err
	}
	d.w.metrics.handedOver.WithLabelValues(queuedFor).Inc()
	return true, nil
}

func (d *Direct) release(id int64) {
	d.mu.Lock()
	delete(d.held, id)
	d.mu.Unlock()
}

func (d *Direct) isHeld(id int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.held[id]
	return ok
}

// sweepLoop gives River the deliveries that have no job and that nobody
// holds: on SQLite, at start, those of earlier runs (no other process
// works the store), then those a hand-over failed and those parked
// without a job that still wait a minute on (each gets its job only if
// nothing took it since the sweep found it). A later sweep hands
// over only what the one before it found too, a minute apart: a delivery
// between its commit and Dispatch is not held yet, and is never seen so
// twice. On PostgreSQL the first sweep hands over nothing either, and the
// deliveries of another instance are among those found only while its
// lease is gone (JoblessDeliveries): an instance whose lease's connection
// failed stops attempting within store.LeaseLapse (store.Store.Leased),
// and its attempts under way end within the delivery timeout, before the
// next sweep.
func (d *Direct) sweepLoop(before time.Time) {
	var suspects map[int64]bool
	if d.w.store.Kind() == store.Postgres {
		suspects = d.sweep(before, map[int64]bool{})
	} else {
		d.sweep(before, nil)
	}
	t := time.NewTicker(d.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			suspects = d.sweep(time.Now().Add(-d.sweepGrace), suspects)
		case <-d.taking.Done():
			return
		}
	}
}

// sweep hands over the deliveries without a job unchanged since before
// the given time that nobody holds, those of suspects only unless
// suspects is nil, and returns the ones it left.
func (d *Direct) sweep(before time.Time, suspects map[int64]bool) (left map[int64]bool) {
	const page = 500
	var after int64
	n := 0
	left = map[int64]bool{}
	for d.taking.Err() == nil {
		jobless, err := d.w.store.JoblessDeliveries(d.taking, before, after, page)
		if err != nil {
			d.log.Error("direct delivery: looking for deliveries without a job", "err", err)
			return left
		}
		for _, id := range jobless {
			after = id
			if d.isHeld(id) {
				continue
			}
			if suspects != nil && !suspects[id] {
				left[id] = true
				continue
			}
			queued, err := d.queueInRiver(d.taking, id, before)
			if err != nil {
				d.log.Error("direct delivery: could not hand it to River", "delivery", id, "err", err)
				return left
			}
			if queued {
				n++
			}
		}
		if len(jobless) < page {
			break
		}
	}
	if n > 0 {
		d.log.Info("direct delivery: deliveries left without a job handed to River", "deliveries", n)
	}
	return left
}
