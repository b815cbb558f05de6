package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/qoo10hook/qoo10hook/store"
)

// Policy is the retry and circuit-breaker policy of deliveries.
type Policy struct {
	// Schedule is the wait before each attempt, the first included.
	Schedule []time.Duration
	// Jitter spreads each wait by up to this fraction either way.
	Jitter float64
	// MaxRetryAfter caps the wait an endpoint may ask for.
	MaxRetryAfter time.Duration
	// Timeout bounds one attempt.
	Timeout time.Duration
	// BreakerFailures consecutive failures of an endpoint open its breaker
	// for BreakerCooldown: its queue pauses, so a dead endpoint does not
	// hold workers that other endpoints need.
	BreakerFailures int
	BreakerCooldown time.Duration
}

// Worker is the River worker that delivers one delivery per job.
type Worker struct {
	river.WorkerDefaults[store.DeliveryArgs]

	store     *store.Store
	endpoints map[string]*Endpoint
	policy    Policy
	client    *http.Client
	log       *slog.Logger
	metrics   *Metrics
	userAgent string

	// slots holds, per endpoint, a token per attempt in flight: its
	// queue runs more jobs than that (QueueWorkers), so that loading a
	// delivery and recording its attempt overlap other jobs' requests.
	slots map[string]chan struct{}

	mu       sync.Mutex
	disabled map[string]bool // endpoints an operator or a 410 disabled
	// gone holds the endpoints that answered 410 while the store is told:
	// from the answer on, no delivery leaves for them from this process.
	gone map[string]bool
	// circuitUntil is when each open breaker closes. River's queue pause
	// reaches a producer only at its next poll of the queue's settings, so
	// the worker holds deliveries back itself meanwhile.
	circuitUntil map[string]time.Time
}

// NewWorker returns a worker delivering to the given endpoints.
func NewWorker(st *store.Store, endpoints []*Endpoint, p Policy, m *Metrics, log *slog.Logger, userAgent string) *Worker {
	byName := map[string]*Endpoint{}
	slots := map[string]chan struct{}{}
	for _, e := range endpoints {
		byName[e.Name] = e
		slots[e.Name] = make(chan struct{}, max(e.Concurrency, 1))
		if m != nil { // shown from the start, at 0
			m.parked.WithLabelValues(e.Name)
			m.dispatched.WithLabelValues(e.Name)
			m.handedOver.WithLabelValues(e.Name)
		}
	}
	if p.BreakerFailures <= 0 {
		p.BreakerFailures = DefaultBreakerFailures
	}
	if p.BreakerCooldown <= 0 {
		p.BreakerCooldown = DefaultBreakerCooldown
	}
	return &Worker{store: st, endpoints: byName, policy: p, client: NewClient(p.Timeout), log: log,
		metrics: m, userAgent: userAgent, slots: slots, disabled: map[string]bool{}, gone: map[string]bool{}, circuitUntil: map[string]time.Time{}}
}

// QueueWorkers is how many jobs an endpoint's queue runs at once for
// concurrency attempts in flight. A job spends most of its time loading
// its delivery and waiting for its attempt's group commit (milliseconds,
// against a fraction of one for a local receiver's answer), which overlap
// the requests of the others; a job waiting for a slot costs a goroutine.
// With four per attempt slot, order events were delivered at 0.58 of the
// rate mails were accepted; with sixteen, at the same rate.
func QueueWorkers(concurrency int) int { return max(concurrency*16, 64) }

// acquire waits for one of the endpoint's attempt slots.
func (w *Worker) acquire(ctx context.Context, ep *Endpoint) bool {
	select {
	case w.slots[ep.Name] <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *Worker) release(ep *Endpoint) { <-w.slots[ep.Name] }

// Timeout lets River's own job timeout sit above the HTTP timeout.
func (w *Worker) Timeout(*river.Job[store.DeliveryArgs]) time.Duration {
	return w.policy.Timeout + JobTimeoutMargin
}

// Work makes one attempt. It never returns a plain error for a delivery
// outcome: the retry schedule is ours, kept with the delivery, and River
// only snoozes the job until the next attempt is due.
func (w *Worker) Work(ctx context.Context, job *river.Job[store.DeliveryArgs]) error {
	d, predecessorDue, blocked, err := w.store.DeliveryForWork(ctx, job.Args.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err // the store is failing: River retries the job
	}
	if d.Status != store.DeliveryPending {
		return nil // delivered, failed or dead already: nothing to do
	}
	log := w.log.With("delivery", d.ID, "event_id", d.EventID, "endpoint", d.Endpoint)
	ep := w.endpoints[d.Endpoint]
	if ep == nil {
		// The endpoint left the configuration: keep the delivery until it
		// comes back or an operator acts.
		log.Warn("delivery waits: endpoint is not configured")
		return river.JobSnooze(time.Hour)
	}
	if w.isDisabled(ctx, d.Endpoint) {
		return river.JobSnooze(time.Minute)
	}
	if until := w.circuitOpenUntil(d.Endpoint); !until.IsZero() {
		return river.JobSnooze(time.Until(until))
	}
	if blocked {
		// An earlier event of the same cart or SKU is not delivered yet:
		// park this one until that one's last attempt wakes it, without
		// holding a worker meanwhile. The wait is only the fallback.
		wait := min(max(time.Until(predecessorDue), 0)+time.Minute, time.Hour)
		parked, err := w.store.ParkDelivery(context.WithoutCancel(ctx), d, job.ID, time.Now().Add(wait))
		if err != nil {
			return err
		}
		if parked {
			w.metrics.parked.WithLabelValues(d.Endpoint).Inc()
			return nil
		}
		// The earlier one finished meanwhile: go on.
	}

	return w.attempt(ctx, log, ep, d)
}

// errLeaseLost: a delivery held without a job was not attempted, as the
// instance's lease on it is lost (PostgreSQL, store.Store.Leased).
var errLeaseLost = errors.New("webhook: the instance's lease is lost")

// attempt sends d to ep once and records the attempt. It returns what
// River is to do with d's job: nothing (nil) once d has left pending,
// snooze it until d's next attempt, or retry it when the attempt could not
// be recorded.
func (w *Worker) attempt(ctx context.Context, log *slog.Logger, ep *Endpoint, d *store.Delivery) error {
	if !w.acquire(ctx, ep) {
		return river.JobSnooze(0) // shutting down
	}
	if d.JobID == 0 && !w.store.Leased() {
		// Taken without a job (Direct), and the instance's lease was lost
		// while it waited for the slot: another instance may take it over.
		w.release(ep)
		return errLeaseLost
	}
	attemptCtx, cancel := context.WithTimeout(ctx, w.policy.Timeout)
	res := Send(attemptCtx, w.client, ep, d.EventID, d.Payload, w.userAgent)
	cancel()
	w.release(ep)
	if res.Gone {
		w.disable(ctx, log, d.Endpoint, "endpoint answered 410 Gone")
	}
	if ctx.Err() != nil && res.Err != nil {
		// Shutting down mid-attempt: try again at the next start without
		// counting this attempt against the schedule.
		return river.JobSnooze(0)
	}

	a := store.Attempt{Number: d.Attempts + 1, StartedAt: time.Now().Add(-res.Duration), Duration: res.Duration,
		StatusCode: res.StatusCode, Response: res.Response}
	if res.Err != nil {
		a.Error = res.Err.Error()
	}
	outcome, snooze := w.decide(d, res)
	failures, recErr := w.store.RecordAttempt(context.WithoutCancel(ctx), d, a, outcome)
	w.metrics.attempt(d.Endpoint, outcome.Status, res)
	logAttempt(log, a, outcome)
	if recErr != nil {
		// The attempt happened but could not be recorded: River retries the
		// job, and the receiver may see this event twice (same webhook-id).
		return recErr
	}

	switch outcome.Status {
	case store.DeliveryDelivered:
		if d.DeliveredAt.IsZero() {
			w.metrics.delivered(d.Endpoint, time.Since(d.ReceivedAt))
		} else {
			// Sent again by an operator: its time since the mail came
			// says nothing of the pipeline's latency.
			w.metrics.finished(d.Endpoint, store.DeliveryDelivered)
		}
		return nil
	case store.DeliveryFailed, store.DeliveryDead:
		w.metrics.finished(d.Endpoint, outcome.Status)
		return river.JobCancel(fmt.Errorf("%s: %w", outcome.Status, res.Err))
	}
	if !res.Gone && failures >= w.policy.BreakerFailures {
		until := time.Now().Add(w.policy.BreakerCooldown)
		if err := w.store.OpenCircuit(context.WithoutCancel(ctx), d.Endpoint, until); err != nil {
			log.Error("could not open circuit", "err", err)
		} else {
			w.mu.Lock()
			w.circuitUntil[d.Endpoint] = until
			w.mu.Unlock()
			log.Warn("endpoint keeps failing: paused", "failures", failures, "until", until)
		}
	}
	return river.JobSnooze(snooze)
}

// decide maps an attempt's result to the delivery's next state and, for a
// pending one, how long to wait.
func (w *Worker) decide(d *store.Delivery, res Result) (store.Outcome, time.Duration) {
	switch {
	case res.Err == nil:
		return store.Outcome{Status: store.DeliveryDelivered}, 0
	case res.Gone:
		// The endpoint is disabled; the delivery waits for it, with its
		// schedule untouched.
		return store.Outcome{Status: store.DeliveryPending, NextAttemptAt: time.Now().Add(time.Minute), KeepSchedule: true}, time.Minute
	case !res.Retry:
		return store.Outcome{Status: store.DeliveryFailed}, 0
	}
	next := d.ScheduleIndex() + 1
	if next >= len(w.policy.Schedule) {
		return store.Outcome{Status: store.DeliveryDead}, 0
	}
	wait := jitter(w.policy.Schedule[next], w.policy.Jitter)
	if res.RetryAfter > wait {
		wait = min(res.RetryAfter, w.policy.MaxRetryAfter)
	}
	return store.Outcome{Status: store.DeliveryPending, NextAttemptAt: time.Now().Add(wait)}, wait
}

func jitter(d time.Duration, frac float64) time.Duration {
	if frac <= 0 || d <= 0 {
		return d
	}
	spread := float64(d) * frac
	return d + time.Duration((rand.Float64()*2-1)*spread)
}

func logAttempt(log *slog.Logger, a store.Attempt, o store.Outcome) {
	attrs := []any{"attempt", a.Number, "status", a.StatusCode, "duration", a.Duration, "outcome", o.Status}
	if a.Error != "" {
		attrs = append(attrs, "err", a.Error)
	}
	if !o.NextAttemptAt.IsZero() {
		attrs = append(attrs, "next_attempt_at", o.NextAttemptAt.Format(time.RFC3339))
	}
	level := slog.LevelInfo
	if o.Status == store.DeliveryDead || o.Status == store.DeliveryFailed {
		level = slog.LevelWarn
	}
	log.Log(context.Background(), level, "delivery attempt", attrs...)
}

// isDisabled trusts the cache for "enabled", the common case, and checks
// the store before holding a delivery back: an operator may have enabled
// the endpoint since the last refresh.
func (w *Worker) isDisabled(ctx context.Context, name string) bool {
	w.mu.Lock()
	cached, gone := w.disabled[name], w.gone[name]
	w.mu.Unlock()
	if gone {
		return true
	}
	if !cached {
		return false
	}
	disabled, err := w.store.EndpointDisabled(ctx, name)
	if err != nil {
		return true
	}
	if !disabled {
		w.mu.Lock()
		delete(w.disabled, name)
		w.mu.Unlock()
	}
	return disabled
}

// disable disables an endpoint in the store. Deliveries that start
// meanwhile are held back already: the write can wait for the store's
// writer, and every delivery sent then would reach an endpoint that asked
// for none.
func (w *Worker) disable(ctx context.Context, log *slog.Logger, name, reason string) {
	w.mu.Lock()
	w.gone[name] = true
	w.mu.Unlock()
	err := w.store.DisableEndpoint(context.WithoutCancel(ctx), name, reason)
	w.mu.Lock()
	delete(w.gone, name)
	if err == nil {
		w.disabled[name] = true
	}
	w.mu.Unlock()
	if err != nil {
		log.Error("could not disable endpoint", "err", err)
		return
	}
	log.Warn("endpoint disabled until an operator enables it", "reason", reason)
}

// heldBack tells, from memory alone, whether the endpoint's deliveries are
// held back: disabled, or its breaker open.
func (w *Worker) heldBack(name string) bool {
	w.mu.Lock()
	disabled := w.disabled[name] || w.gone[name]
	w.mu.Unlock()
	return disabled || !w.circuitOpenUntil(name).IsZero()
}

// circuitOpenUntil is when the endpoint's open breaker closes, or zero.
func (w *Worker) circuitOpenUntil(name string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	until := w.circuitUntil[name]
	if !until.IsZero() && time.Now().Before(until) {
		return until
	}
	return time.Time{}
}

// Refresh reloads which endpoints are disabled and resumes those whose
// breaker pause is over. Every instance runs it periodically.
func (w *Worker) Refresh(ctx context.Context) error {
	if names, err := w.store.CloseDueCircuits(ctx, time.Now()); err != nil {
		return err
	} else {
		for _, n := range names {
			w.log.Info("endpoint breaker half-open: resuming", "endpoint", n)
		}
	}
	states, err := w.store.EndpointStates(ctx)
	if err != nil {
		return err
	}
	disabled := map[string]bool{}
	circuits := map[string]time.Time{}
	now := time.Now()
	for name, st := range states {
		if st.Disabled {
			disabled[name] = true
		}
		if st.CircuitOpen(now) {
			circuits[name] = st.CircuitOpenUntil
		}
	}
	w.mu.Lock()
	w.disabled = disabled
	w.circuitUntil = circuits
	w.mu.Unlock()
	w.metrics.states(states, w.endpoints, time.Now())
	return nil
}

// RunRefresh calls Refresh every interval until ctx ends.
func (w *Worker) RunRefresh(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := w.Refresh(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("endpoint state refresh failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
