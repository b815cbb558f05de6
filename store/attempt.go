package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// attemptCommitter writes what delivery workers learn (an attempt and its
// outcome, a delivery parked behind an earlier one) in shared
// transactions: one commit, one fsync on SQLite, for the workers of every
// endpoint, each answered only once its write is durable. Without it every
// attempt is a transaction of its own, and the disk's fsyncs per second
// bound the deliveries per second.
type attemptCommitter struct {
	s       *Store
	in      chan *attemptRequest
	max     int
	started atomic.Bool
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// attemptRequest is one worker's write.
type attemptRequest struct {
	endpoint string
	do       func(ctx context.Context, tx *sql.Tx) (attemptResult, error)
	// recorded, in place of do, is an attempt to record on PostgreSQL:
	// a statement that a batch pipelines with its others' and its chain
	// locks (attemptBatchPostgres), and what follows it.
	recorded *recordedAttempt
	reply    chan attemptResult
}

type attemptResult struct {
	failures  int
	parked    bool
	queuedFor string // the endpoint of a delivery QueueDelivery gave a job
	err       error
}

// attemptBatchMax bounds the writes sharing one transaction.
const attemptBatchMax = 256

func newAttemptCommitter(s *Store) *attemptCommitter {
	return &attemptCommitter{s: s, in: make(chan *attemptRequest, attemptBatchMax), max: attemptBatchMax,
		quit: make(chan struct{}), done: make(chan struct{})}
}

func (c *attemptCommitter) start() {
	c.started.Store(true)
	go c.run()
}

// submit runs r in the next shared transaction and waits for its commit;
// before start (and after stop) it runs r in a transaction of its own.
func (c *attemptCommitter) submit(ctx context.Context, r *attemptRequest) attemptResult {
	r.reply = make(chan attemptResult, 1)
	if !c.started.Load() {
		c.flush([]*attemptRequest{r})
		return <-r.reply
	}
	select {
	case c.in <- r:
	case <-c.done:
		c.flush([]*attemptRequest{r})
	case <-ctx.Done():
		return attemptResult{err: ctx.Err()}
	}
	// The write is under way: its outcome is waited for even if ctx ends,
	// so that the worker never acts on a write it does not know the fate of.
	select {
	case res := <-r.reply:
		return res
	case <-c.done:
		// The committer stopped; what it left in the queue (r, maybe) is
		// written by whoever finds it.
		c.flushWaiting()
		return <-r.reply
	}
}

func (c *attemptCommitter) run() {
	defer close(c.done)
	for {
		var first *attemptRequest
		select {
		case first = <-c.in:
		case <-c.quit:
			c.flushWaiting()
			return
		}
		c.flush(takeWaiting(c.in, []*attemptRequest{first}, c.max))
	}
}

// flushWaiting writes every request waiting in the queue.
func (c *attemptCommitter) flushWaiting() {
	for batch := takeWaiting(c.in, nil, c.max); len(batch) > 0; batch = takeWaiting(c.in, nil, c.max) {
		c.flush(batch)
	}
}

// flush runs a batch in one transaction; if that fails, each request runs
// alone, so that one failing write does not fail the others.
func (c *attemptCommitter) flush(batch []*attemptRequest) {
	results, err := c.s.attemptBatch(batch)
	if err == nil {
		for i, r := range batch {
			r.reply <- results[i]
		}
		return
	}
	if len(batch) == 1 {
		batch[0].reply <- attemptResult{err: err}
		return
	}
	for _, r := range batch {
		res, err := c.s.attemptBatch([]*attemptRequest{r})
		if err != nil {
			r.reply <- attemptResult{err: err}
			continue
		}
		r.reply <- res[0]
	}
}

func (c *attemptCommitter) stop() {
	c.once.Do(func() { close(c.quit) })
	if c.started.Load() {
		<-c.done
	}
}

func (s *Store) attemptBatch(batch []*attemptRequest) ([]attemptResult, error) {
	if s.kind == Postgres {
		return s.attemptBatchPostgres(batch)
	}
	results := make([]attemptResult, len(batch))
	err := s.groupTx(func(ctx context.Context, tx *sql.Tx) error {
		endpoints := make([]string, len(batch))
		for i, r := range batch {
			endpoints[i] = r.endpoint
		}
		if err := s.lockChains(ctx, tx, endpoints); err != nil {
			return err
		}
		for i, r := range batch {
			var err error
			if results[i], err = r.do(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// attemptBatchPostgres is attemptBatch on PostgreSQL, where each statement
// is a round trip: the chain locks and the statements of the recorded
// attempts go to the server together, as one pipeline (pgx's batch, on the
// transaction's connection), run there one after the other, each with a
// snapshot of its own taken after the locks. What follows each attempt
// (waking its successors, queueing its retry) and the other requests run
// after, in the batch's order.
func (s *Store) attemptBatchPostgres(batch []*attemptRequest) ([]attemptResult, error) {
	results := make([]attemptResult, len(batch))
	err := s.groupTxOnConn(func(ctx context.Context, conn *sql.Conn, tx *sql.Tx) error {
		pipeline := &pgx.Batch{}
		endpoints := make([]string, len(batch))
		for i, r := range batch {
			endpoints[i] = r.endpoint
		}
		for _, k := range chainLockKeys(endpoints) {
			pipeline.Queue(lockChain, k)
		}
		for _, r := range batch {
			if r.recorded != nil {
				r.recorded.queue(pipeline)
			}
		}
		if err := sendPipeline(ctx, conn, pipeline); err != nil {
			return fmt.Errorf("store: record attempts: %w", err)
		}
		for i, r := range batch {
			var err error
			if r.recorded != nil {
				results[i].failures, err = r.recorded.finish(ctx, tx)
			} else {
				results[i], err = r.do(ctx, tx)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// lockChains serializes, on PostgreSQL, the transactions that park a
// delivery behind an earlier one or finish one with deliveries behind it,
// per endpoint: a delivery is parked only while its predecessor is
// pending, and the predecessor's finish then wakes it, whichever of the
// two transactions commits first. (SQLite has a single writer.) Every
// transaction takes the locks of its endpoints in one order, and the
// ingest's (insertJobs) last, after the rows that another might wait for:
// no two wait on each other.
func (s *Store) lockChains(ctx context.Context, tx *sql.Tx, endpoints []string) error {
	if s.kind != Postgres {
		return nil
	}
	for _, k := range chainLockKeys(endpoints) {
		if _, err := tx.ExecContext(ctx, lockChain, k); err != nil {
			return fmt.Errorf("store: lock delivery chain: %w", err)
		}
	}
	return nil
}

const lockChain = `SELECT pg_advisory_xact_lock($1)`

// sendPipeline sends b's statements to PostgreSQL on conn, the connection
// of a transaction under way, in one round trip (pgx's pipeline mode,
// which database/sql does not offer), and runs their callbacks on what
// they return.
func sendPipeline(ctx context.Context, conn *sql.Conn, b *pgx.Batch) error {
	return conn.Raw(func(dc any) error {
		return dc.(*stdlib.Conn).Conn().SendBatch(ctx, b).Close()
	})
}

// chainLockKeys are the advisory lock keys of the endpoints' chains, in
// the one order every transaction takes them in, each once.
func chainLockKeys(endpoints []string) []int64 {
	keys := make([]int64, 0, len(endpoints))
	for _, e := range endpoints {
		h := fnv.New64a()
		h.Write([]byte("qoo10hook delivery chain " + e))
		keys = append(keys, int64(h.Sum64()))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// settleJobs sets the River job states given, for jobs that are still
// running: River's completer, which runs after the worker returns, then
// finds them settled.
func (s *Store) settleJobs(ctx context.Context, tx *sql.Tx, jobs ...*riverdriver.JobSetStateIfRunningParams) error {
	if len(jobs) == 0 {
		return nil
	}
	p := &riverdriver.JobSetStateIfRunningManyParams{}
	for _, f := range jobs {
		p.ID = append(p.ID, f.ID)
		p.Attempt = append(p.Attempt, f.Attempt)
		p.ErrData = append(p.ErrData, f.ErrData)
		p.FinalizedAt = append(p.FinalizedAt, f.FinalizedAt)
		p.MetadataDoMerge = append(p.MetadataDoMerge, f.MetadataDoMerge)
		p.MetadataUpdates = append(p.MetadataUpdates, f.MetadataUpdates)
		p.ScheduledAt = append(p.ScheduledAt, f.ScheduledAt)
		p.State = append(p.State, f.State)
	}
	if _, err := s.river.Driver().UnwrapExecutor(tx).JobSetStateIfRunningMany(ctx, p); err != nil {
		return fmt.Errorf("settle jobs: %w", err)
	}
	return nil
}

// RecordAttempt stores an attempt, moves its delivery to the outcome and
// counts the endpoint's consecutive failures, in a transaction it may
// share with other workers' writes; it returns once that committed. It
// returns the endpoint's consecutive failures after this attempt (0 after
// a success). A delivery that leaves pending wakes the deliveries parked
// behind it. (River completes the job after: were that lost in a crash,
// the job's next run finds the delivery delivered and sends nothing.)
func (s *Store) RecordAttempt(ctx context.Context, d *Delivery, a Attempt, o Outcome) (failures int, err error) {
	res := s.attempts.submit(ctx, s.recordAttemptRequest(d, a, o))
	if res.err != nil {
		return 0, fmt.Errorf("store: record attempt: %w", res.err)
	}
	return res.failures, nil
}

// recordAttemptRequest is RecordAttempt's write, for the attemptCommitter.
func (s *Store) recordAttemptRequest(d *Delivery, a Attempt, o Outcome) *attemptRequest {
	if s.kind == Postgres {
		return &attemptRequest{endpoint: d.Endpoint, recorded: s.recordAttemptPostgres(d, a, o)}
	}
	return &attemptRequest{endpoint: d.Endpoint, do: func(ctx context.Context, tx *sql.Tx) (attemptResult, error) {
		failures, err := s.recordAttemptSQLite(ctx, tx, d, a, o)
		return attemptResult{failures: failures}, err
	}}
}

// recordAttemptSQLite stores an attempt on SQLite, where statements cost no
// round trip: the attempt, the delivery's new state and the endpoint's
// failure count, each a statement (on PostgreSQL, recordAttemptPostgres).
func (s *Store) recordAttemptSQLite(ctx context.Context, tx *sql.Tx, d *Delivery, a Attempt, o Outcome) (failures int, err error) {
	args := attemptArgs(d, a, o)
	for _, q := range []string{recordAttempt, moveDelivery} {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return 0, fmt.Errorf("record attempt: %w", err)
		}
	}
	if o.Status == DeliveryDelivered {
		// The common case writes nothing when the endpoint was healthy.
		_, err = tx.ExecContext(ctx, endpointHealthy, args...)
	} else {
		err = tx.QueryRowContext(ctx, endpointFailed, args...).Scan(&failures)
	}
	if err != nil {
		return 0, fmt.Errorf("record attempt: %w", err)
	}
	return failures, s.attemptRecorded(ctx, tx, d, o)
}

// attemptArgs are the arguments of the statements that record an attempt.
func attemptArgs(d *Delivery, a Attempt, o Outcome) []any {
	t := now()
	var next, delivered any
	if !o.NextAttemptAt.IsZero() {
		next = o.NextAttemptAt.UnixMicro()
	}
	if o.Status == DeliveryDelivered {
		delivered = t
	}
	kept := 0
	if o.KeepSchedule {
		kept = 1
	}
	return []any{d.ID, a.Number, a.StartedAt.UnixMicro(), a.Duration.Microseconds(), a.StatusCode, a.Error, a.Response,
		o.Status, next, delivered, t, kept, d.Endpoint}
}

// attemptRecorded does what follows an attempt's rows: a delivery that
// left pending wakes its successors; one tried straight from its commit
// (Dispatcher) gets its retry's River job.
func (s *Store) attemptRecorded(ctx context.Context, tx *sql.Tx, d *Delivery, o Outcome) error {
	if o.Status != DeliveryPending {
		return s.wakeSuccessors(ctx, tx, d)
	}
	if d.JobID != 0 {
		return nil
	}
	// Its retry is River's, unless, on PostgreSQL, another instance that
	// took the delivery over (this one's lease lost) gave it a job
	// meanwhile.
	var job sql.NullInt64
	if s.kind == Postgres {
		if err := tx.QueryRowContext(ctx, `SELECT job_id FROM delivery WHERE id = $1`, d.ID).Scan(&job); err != nil {
			return fmt.Errorf("queue retry: %w", err)
		}
	}
	if !job.Valid {
		if _, err := s.queueTx(ctx, tx, d.ID, d.Endpoint, o.NextAttemptAt); err != nil {
			return fmt.Errorf("queue retry: %w", err)
		}
	}
	return nil
}

// recordedAttempt is an attempt to record on PostgreSQL, where each
// statement is a round trip: the attempt, the delivery's new state and the
// endpoint's failure count in one statement (the first two as
// data-modifying WITH queries), which for a delivered attempt also reads
// the successors to wake (the delivery's key and id do not change), sent
// in a batch's pipeline (queue); then what follows (finish).
type recordedAttempt struct {
	s         *Store
	d         *Delivery
	o         Outcome
	query     string
	args      []any
	delivered bool
	// What the statement read: the successors of a delivered attempt,
	// the endpoint's consecutive failures after another.
	next     []successor
	failures int
}

func (s *Store) recordAttemptPostgres(d *Delivery, a Attempt, o Outcome) *recordedAttempt {
	r := &recordedAttempt{s: s, d: d, o: o, args: attemptArgs(d, a, o), delivered: o.Status == DeliveryDelivered}
	with := `WITH attempt AS (` + recordAttempt + `), delivery_row AS (` + moveDelivery + `) `
	if r.delivered {
		r.query = with + `, healthy AS (` + endpointHealthy + `) ` + successorJobsPostgres
	} else {
		r.query = with + endpointFailed
	}
	return r
}

// queue adds the statement to a pipeline, which reads its rows.
func (r *recordedAttempt) queue(b *pgx.Batch) {
	r.next, r.failures = nil, 0 // read anew if the batch is sent again
	q := b.Queue(r.query, r.args...)
	if !r.delivered {
		q.QueryRow(func(row pgx.Row) error { return row.Scan(&r.failures) })
		return
	}
	q.Query(func(rows pgx.Rows) (err error) {
		r.next, err = scanSuccessors(rows)
		return err
	})
}

// finish does what follows the statement, in tx, and returns the
// endpoint's consecutive failures.
func (r *recordedAttempt) finish(ctx context.Context, tx *sql.Tx) (int, error) {
	if r.delivered {
		return 0, r.s.wake(ctx, tx, r.d, r.next)
	}
	return r.failures, r.s.attemptRecorded(ctx, tx, r.d, r.o)
}

// The statements that record an attempt, over attemptArgs: $1 the delivery,
// $2–$7 the attempt, $8–$12 the delivery's new state, $13 its endpoint.
// SQLite binds each statement the arguments it names; on PostgreSQL they
// make one statement, which names every one.
const (
	recordAttempt = `INSERT INTO delivery_attempt (delivery_id, attempt, started_at, duration_us,
		status_code, error, response) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	moveDelivery = `UPDATE delivery SET status = $8, attempts = attempts + 1, last_status = $5,
		last_error = $6, next_attempt_at = $9, delivered_at = $10, updated_at = $11, retry_base = retry_base + $12
		WHERE id = $1`
	endpointHealthy = `UPDATE endpoint_state SET consecutive_failures = 0, updated_at = $11
		WHERE name = $13 AND consecutive_failures <> 0`
	endpointFailed = `INSERT INTO endpoint_state (name, consecutive_failures, updated_at)
		VALUES ($13, 1, $11) ON CONFLICT (name) DO UPDATE SET updated_at = $11,
		consecutive_failures = endpoint_state.consecutive_failures + 1
		RETURNING consecutive_failures`
)

// successorLookups finds, for delivery $1, the first later pending
// delivery at its endpoint of each kind that waits for it
// (predecessorLookups, the other way): of its order key, following its
// order key, following the key it follows. The later ones of each kind
// wait for that first one, which wakes them in turn.
const successorLookups = `
	SELECT (SELECT min(id) FROM delivery WHERE endpoint = d.endpoint AND status = 'pending' AND id > d.id
		AND d.order_key <> '' AND order_key = d.order_key) FROM delivery d WHERE d.id = $1
	UNION ALL SELECT (SELECT min(id) FROM delivery WHERE endpoint = d.endpoint AND status = 'pending' AND id > d.id
		AND d.order_key <> '' AND order_key2 <> '' AND order_key2 = d.order_key) FROM delivery d WHERE d.id = $1
	UNION ALL SELECT (SELECT min(id) FROM delivery WHERE endpoint = d.endpoint AND status = 'pending' AND id > d.id
		AND d.order_key2 <> '' AND order_key2 <> '' AND order_key2 = d.order_key2) FROM delivery d WHERE d.id = $1`

// wakeSuccessors makes the jobs of the deliveries that waited for d, now
// that d left pending, available at once (giving one to those parked
// without), or hands those that wait for nothing more to the Dispatcher
// (takeSuccessor). A job that is running is left alone: its worker parks
// it only after checking, under the same lock, that d is still pending.
func (s *Store) wakeSuccessors(ctx context.Context, tx *sql.Tx, d *Delivery) error {
	if d.OrderKey == "" {
		return nil
	}
	q := successorJobs
	if s.kind == Postgres {
		q = successorJobsPostgres
	}
	next, err := readSuccessors(tx.QueryContext(ctx, q, d.ID))
	if err != nil {
		return err
	}
	return s.wake(ctx, tx, d, next)
}

// successorJobs reads the deliveries parked, with a job or (on SQLite)
// without, that wait for delivery $1 (successorLookups).
const successorJobs = `SELECT id, job_id, created_at FROM delivery WHERE (job_id IS NOT NULL OR parked = 1)
	AND id IN (` + successorLookups + `)`

// successorJobsPostgres is successorJobs with each successor read by its
// id alone (none is parked without a job there). PostgreSQL keeps a connection's generic plan of a statement,
// made while the table was new (its planner then assumes ten pages): for
// the IN form that plan hashed the successors and read every delivery
// (a sequential scan per attempt, longer with every mail, until the next
// ANALYZE made it plan again). A LATERAL with a LIMIT stays a lookup by
// the primary key per successor whatever the table's size.
//
// It leaves out a successor that still waits for another pending
// delivery (predecessorLookups), which takeSuccessor would leave parked
// (successorWaits) after reading it back with its payload, a round trip:
// a stock adjustment of a flash sale follows both its SKU's previous
// adjustment and its own order event, and the first of the two to end
// would read it for nothing. The last one to end wakes it. Delivery $1
// counts as ended: the statement that records its attempt (and moves it)
// reads this too, and does not see its own update.
var successorJobsPostgres = `SELECT s.id, s.job_id, s.created_at FROM (` + successorLookups + `) n (id),
	LATERAL (SELECT d.id, d.job_id, d.created_at FROM delivery d WHERE d.id = n.id AND d.job_id IS NOT NULL
		AND (SELECT min(m.id) FROM (` + predecessorsBesides1 + `) m) IS NULL LIMIT 1) s`

// predecessorsBesides1 is predecessorLookups with delivery $1 taken as
// no longer pending.
var predecessorsBesides1 = func() string {
	const pending = `status = 'pending'`
	if strings.Count(predecessorLookups, pending) != 3 {
		panic("store: predecessorLookups changed: " + predecessorLookups)
	}
	return strings.ReplaceAll(predecessorLookups, pending, pending+` AND id <> $1`)
}()

type successor struct {
	id int64
	// job is the successor's River job, 0 when it is parked without one.
	job     int64
	created int64
}

func readSuccessors(rows *sql.Rows, err error) ([]successor, error) {
	if err != nil {
		return nil, fmt.Errorf("successors: %w", err)
	}
	defer rows.Close()
	return scanSuccessors(rows)
}

// scanSuccessors reads successors from rows, database/sql's or pgx's.
func scanSuccessors(rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}) ([]successor, error) {
	var next []successor
	for rows.Next() {
		var n successor
		var job sql.NullInt64
		if err := rows.Scan(&n.id, &job, &n.created); err != nil {
			return nil, fmt.Errorf("successors: %w", err)
		}
		n.job = job.Int64
		next = append(next, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("successors: %w", err)
	}
	return next, nil
}

// wake makes the jobs of next, the deliveries that waited for d, available
// at once, or hands them to the Dispatcher (wakeSuccessors).
func (s *Store) wake(ctx context.Context, tx *sql.Tx, d *Delivery, next []successor) error {
	if len(next) == 0 {
		return nil
	}
	exec := s.river.Driver().UnwrapExecutor(tx)
	woken := false
	for _, n := range next {
		switch took, err := s.takeSuccessor(ctx, tx, n.id, n.job, d.Endpoint); {
		case err != nil:
			return fmt.Errorf("take successor %d: %w", n.id, err)
		case took == successorTaken, took == successorWaits:
			continue
		}
		// Due since it was queued: it takes its place in the queue by
		// arrival, ahead of what came after it, instead of joining the
		// end of a backlog that a flash sale may have built meanwhile.
		due := fromMicros(n.created)
		if n.job == 0 {
			// Parked without a job: it gets one, made due below.
			var err error
			if n.job, err = s.queueTx(ctx, tx, n.id, d.Endpoint, time.Time{}); err != nil {
				return fmt.Errorf("queue successor %d: %w", n.id, err)
			}
		}
		if _, err := exec.JobRetry(ctx, &riverdriver.JobRetryParams{ID: n.job, Now: &due}); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
			return fmt.Errorf("wake successor job %d: %w", n.job, err)
		}
		woken = true
	}
	if !woken {
		return nil
	}
	return s.wakeQueue(ctx, tx, QueueName(d.Endpoint))
}

// How takeSuccessor left a woken successor.
type successorTake int

const (
	// successorWoken: not taken; its River job is to be woken, or it is
	// to get one if it was parked without.
	successorWoken successorTake = iota
	// successorTaken: handed to the Dispatcher once the transaction commits.
	successorTaken
	// successorWaits: it still waits for another pending delivery, whose
	// end wakes it in turn (see takeSuccessor); its job stays parked.
	successorWaits
)

// takeSuccessor hands delivery id, woken, parked with its River job or
// (job 0, on SQLite) without one, to the Dispatcher, when it waits for no
// other pending delivery and has not been attempted: its job is deleted
// and the delivery, read back as tx sees it, is handed over once tx
// commits. A chain of one cart's or one SKU's deliveries (a flash sale's
// stock adjustments) then goes from one attempt to the next without
// River's wake, fetch and completion, each a write on SQLite's one writer
// connection and a wait for a poll or a notification. A job that River
// runs already stays River's.
//
// One that still waits for another pending delivery is left parked, not
// woken to be fetched and parked again: the nearest pending delivery it
// follows of each kind (predecessorLookups) has it, or a delivery that it
// also follows and that waits in turn, as its first successor of that
// kind (successorLookups), so the last of them to end wakes it. That holds
// in this transaction because SQLite's one writer orders every end of a
// delivery after it, and on PostgreSQL the endpoint's chain lock
// (lockChains) orders the transactions that end its deliveries. There a
// delivery taken becomes this instance's, under its lease (stored_by),
// whichever instance stored it.
func (s *Store) takeSuccessor(ctx context.Context, tx *sql.Tx, id, job int64, endpoint string) (successorTake, error) {
	if s.dispatch == nil || !inGroupTx(ctx) || !s.Leased() || !s.dispatch.Accepts(endpoint) {
		return successorWoken, nil
	}
	var payload []byte
	var first sql.NullInt64
	dl, err := scanDelivery(tx.QueryRowContext(ctx, successorForDispatch, id), &payload, &first)
	if err != nil {
		return successorWoken, err
	}
	if first.Valid {
		return successorWaits, nil
	}
	if dl.Status != DeliveryPending || dl.JobID != job || dl.Attempts != 0 {
		return successorWoken, nil
	}
	t := now()
	if s.kind == Postgres {
		var taken bool
		if err := tx.QueryRowContext(ctx, takeSuccessorPostgres, t, s.leaseKey(), id, job).Scan(&taken); err != nil {
			return successorWoken, fmt.Errorf("take successor's job: %w", err)
		}
		if !taken {
			return successorWoken, nil
		}
	} else {
		if job != 0 { // 0: parked without one (insertJobs)
			switch _, err := s.river.JobDeleteTx(ctx, tx, job); {
			case errors.Is(err, rivertype.ErrJobRunning):
				return successorWoken, nil
			case err != nil && !errors.Is(err, rivertype.ErrNotFound):
				return successorWoken, err
			}
		}
		if _, err := tx.ExecContext(ctx, takeSuccessorDelivery, t, s.leaseKey(), id); err != nil {
			return successorWoken, err
		}
	}
	// Its predecessors were read as it was taken: the Dispatcher need not
	// look again.
	dl.JobID, dl.UpdatedAt, dl.Payload, dl.Ordered = 0, fromMicros(t), payload, s.kind == Postgres
	AfterCommit(ctx, func() { s.dispatch.Dispatch([]*Delivery{dl}) })
	return successorTaken, nil
}

// takeSuccessorDelivery marks delivery $3 as the Dispatcher's: no job,
// not parked.
const takeSuccessorDelivery = `UPDATE delivery SET job_id = NULL, parked = 0, updated_at = $1, stored_by = $2 WHERE id = $3`

// takeSuccessorPostgres deletes the River job $4 of delivery $3, unless
// River runs it, and then takes the delivery (takeSuccessorDelivery), in
// one statement; it returns whether it did. River's JobDelete, when it
// waits for a producer that is fetching the job, reads the job as it was
// before the fetch: it would report the job deleted while River's worker
// runs it, and the delivery would go twice. Locked first, the job is
// either skipped by the fetch or seen running here: a row locked FOR
// UPDATE is read as the transaction that held it left it. A job already
// gone leaves the delivery to take.
const takeSuccessorPostgres = `WITH job AS (SELECT id, state FROM river_job WHERE id = $4 FOR UPDATE),
	deleted AS (DELETE FROM river_job WHERE id IN (SELECT id FROM job WHERE state <> 'running')),
	taken AS (` + takeSuccessorDelivery + ` AND NOT EXISTS (SELECT 1 FROM job WHERE state = 'running') RETURNING id)
	SELECT EXISTS (SELECT 1 FROM taken)`

// successorForDispatch reads, for takeSuccessor, delivery $1 with its
// payload and the first earlier pending delivery it follows
// (predecessorLookups), null when there is none: one statement, under the
// chain lock that the attempt waking it holds.
const successorForDispatch = `SELECT ` + deliveryColumns + `, e.payload, (SELECT min(m.id) FROM (` + predecessorLookups + `) m)
	FROM delivery d JOIN event e ON e.id = d.event_id WHERE d.id = $1`

// waitsForPredecessor tells whether delivery id has an earlier pending
// delivery it follows (predecessorLookups), as tx sees it.
func waitsForPredecessor(ctx context.Context, tx *sql.Tx, id int64) (bool, error) {
	pred, err := firstPredecessor(ctx, tx, id)
	return pred.Valid, err
}

// firstPredecessor is the first earlier pending delivery that delivery id
// follows (predecessorLookups), as tx (a transaction or a pool) sees it;
// null when there is none.
func firstPredecessor(ctx context.Context, tx interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, id int64) (sql.NullInt64, error) {
	var pred sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT min(m.id) FROM (`+predecessorLookups+`) m)
		FROM delivery d WHERE d.id = $1`, id).Scan(&pred); err != nil {
		return pred, fmt.Errorf("predecessor of %d: %w", id, err)
	}
	return pred, nil
}

// ParkDelivery holds back delivery d, which found an earlier delivery it
// follows pending, until that one leaves pending: if one still is (checked
// again in the transaction that parks), d's running job is completed and d
// gets a new job, scheduled at the given time as a fallback, and parked is
// true; otherwise d may go at once. Parked deliveries occupy no worker:
// the predecessor's last attempt wakes their job (see wakeSuccessors).
//
// A new job rather than the running one snoozed: River completes the
// running job after the worker returns, if it is still running, and it
// tells runs apart by nothing else. Woken meanwhile and taken by another
// worker, the same job would be running again, that late completion would
// finish it mid-attempt, and a wake from d's other predecessor (a stock
// adjustment follows its SKU and its cart) would start a second attempt of
// d at once: the same event twice.
func (s *Store) ParkDelivery(ctx context.Context, d *Delivery, jobID int64, until time.Time) (parked bool, err error) {
	res := s.attempts.submit(ctx, &attemptRequest{endpoint: d.Endpoint, do: func(ctx context.Context, tx *sql.Tx) (attemptResult, error) {
		if waits, err := waitsForPredecessor(ctx, tx, d.ID); err != nil || !waits {
			return attemptResult{}, err
		}
		if _, err := s.queueTx(ctx, tx, d.ID, d.Endpoint, until); err != nil {
			return attemptResult{}, fmt.Errorf("park job: %w", err)
		}
		// At once: a later request of the same batch may finish the
		// predecessor and wakes the new job, not this one.
		if err := s.settleJobs(ctx, tx, riverdriver.JobSetStateCompleted(jobID, time.Now(), nil)); err != nil {
			return attemptResult{}, err
		}
		return attemptResult{parked: true}, nil
	}})
	if res.err != nil {
		return false, fmt.Errorf("store: park delivery %d: %w", d.ID, res.err)
	}
	return res.parked, nil
}
