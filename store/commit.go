package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// committer is the writer of mail: it gathers the transactions of
// concurrent SMTP sessions into one database transaction, so that one
// fsync makes many mails durable, and answers each session after it.
// SQLite has one writer; on PostgreSQL several batches commit at once,
// as the batches of several instances do, since a transaction there is
// mostly round trips that leave the database idle.
type committer struct {
	s      *Store
	in     chan *commitRequest
	max    int
	window time.Duration
	// maxBytes bounds the message bytes waiting for a commit, so memory
	// stays bounded when the disk is slower than the senders.
	maxBytes int64
	bytes    atomic.Int64
	// committing is, per writer (one goroutine each), when the commit (or the committer's
	// checkpoint) under way started (Unix nanoseconds), 0 between
	// commits: one running past slowCommit means the store is stalled,
	// and mails are turned away rather than queued behind it.
	committing []atomic.Int64
	// finishCheckpoint asks for a checkpoint between two batches, set by
	// the checkpointer when the WAL has grown past walCycleFrames.
	finishCheckpoint atomic.Bool

	quit     chan struct{}
	done     chan struct{}
	started  atomic.Bool
	stopOnce sync.Once
}

type commitRequest struct {
	ctx   context.Context
	in    *Ingest
	reply chan commitResult
}

type commitResult struct {
	rc  Receipt
	err error
}

func newCommitter(s *Store, max int, window time.Duration, backlog int, backlogBytes int64, writers int) *committer {
	switch {
	case s.kind != Postgres:
		writers = 1
	case writers <= 0:
		writers = DefaultPostgresWriters
	}
	if max <= 0 {
		max = DefaultBatchMax
	}
	if backlog <= 0 {
		backlog = DefaultBacklog
	}
	if backlogBytes <= 0 {
		backlogBytes = DefaultBacklogBytes
	}
	return &committer{s: s, in: make(chan *commitRequest, backlog), max: max, window: window, maxBytes: backlogBytes,
		committing: make([]atomic.Int64, writers), quit: make(chan struct{}), done: make(chan struct{})}
}

// slowCommit is how long a commit may run before the store counts as
// stalled (a commit takes milliseconds; a locked database, a disk or a
// network in trouble takes seconds).
const slowCommit = 2 * time.Second

// stalled tells whether a commit under way has run past slowCommit.
func (c *committer) stalled() bool {
	for i := range c.committing {
		start := c.committing[i].Load()
		if start != 0 && time.Since(time.Unix(0, start)) > slowCommit {
			return true
		}
	}
	return false
}

// busy tells whether a mail submitted now would be turned away.
func (c *committer) busy() bool {
	return len(c.in) >= cap(c.in) || c.bytes.Load() >= c.maxBytes || c.stalled()
}

// queue queues in for the next transaction without waiting for it; it
// returns ErrBusy when too many mails are already waiting, ErrClosed once
// the committer has stopped.
func (c *committer) queue(ctx context.Context, in *Ingest) (*commitRequest, error) {
	r := &commitRequest{ctx: ctx, in: in, reply: make(chan commitResult, 1)}
	select {
	case <-c.quit:
		return nil, ErrClosed
	default:
	}
	if c.stalled() {
		c.s.metric.busy.Inc()
		return nil, ErrBusy
	}
	size := int64(len(in.Mail.Raw))
	if c.bytes.Add(size) > c.maxBytes {
		c.bytes.Add(-size)
		c.s.metric.busy.Inc()
		return nil, ErrBusy
	}
	select {
	case c.in <- r:
	default:
		c.bytes.Add(-size)
		c.s.metric.busy.Inc()
		return nil, ErrBusy
	}
	c.s.metric.backlog.Inc()
	return r, nil
}

// wait waits for the outcome of r, a request queue took.
func (c *committer) wait(r *commitRequest) (Receipt, error) {
	select {
	case res := <-r.reply:
		return res.rc, res.err
	case <-c.done:
		select {
		case res := <-r.reply:
			return res.rc, res.err
		default:
			return Receipt{}, ErrClosed
		}
	}
}

// run runs the writers until stop.
func (c *committer) run() {
	c.started.Store(true)
	defer close(c.done)
	var wg sync.WaitGroup
	for w := range c.committing {
		wg.Go(func() { c.write(&c.committing[w]) })
	}
	wg.Wait()
}

// write commits batches as they come, timing each in committing.
func (c *committer) write(committing *atomic.Int64) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	batch := make([]*commitRequest, 0, c.max)
	for {
		var first *commitRequest
		select {
		case first = <-c.in:
		case <-c.quit:
			// Mails already handed over are in-flight SMTP transactions:
			// commit them before stopping.
			for {
				select {
				case r := <-c.in:
					batch = append(batch, r)
					if len(batch) == c.max {
						c.flush(batch, committing)
						batch = batch[:0]
					}
				default:
					c.flush(batch, committing)
					return
				}
			}
		}
		batch = append(batch, first)
		// Take what is already waiting. Only a mail that came alone waits
		// up to the window for company: under load the queue refills
		// while a batch commits, and waiting would idle the disk.
		batch = takeWaiting(c.in, batch, c.max)
		if len(batch) == 1 && c.window > 0 {
			timer.Reset(c.window)
		gather:
			for len(batch) < c.max {
				select {
				case r := <-c.in:
					batch = append(batch, r)
				case <-timer.C:
					break gather
				}
			}
		}
		timer.Stop()
		c.flush(batch, committing)
		clear(batch)
		batch = batch[:0]
		// After the batch, not before it: its sessions have their answer,
		// and only mails arriving now wait for the checkpoint.
		if c.finishCheckpoint.Swap(false) {
			// Timed as a commit: mails wait behind it all the same.
			committing.Store(time.Now().UnixNano())
			c.s.finishCheckpoint()
			committing.Store(0)
		}
	}
}

// flush commits a batch in one transaction. If that fails, each mail is
// tried alone, so one bad mail cannot take the others down with it.
func (c *committer) flush(batch []*commitRequest, committing *atomic.Int64) {
	if len(batch) == 0 {
		return
	}
	c.s.metric.backlog.Sub(float64(len(batch)))
	for _, r := range batch {
		c.bytes.Add(-int64(len(r.in.Mail.Raw)))
	}
	live := batch[:0:0]
	for _, r := range batch {
		if r.ctx.Err() != nil {
			// The session gave up before its mail was written: the client
			// got no 250, so the mail must not be stored either.
			r.reply <- commitResult{err: r.ctx.Err()}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	start := time.Now()
	committing.Store(start.UnixNano())
	defer committing.Store(0)
	results, err := c.s.commitBatch(live)
	c.s.metric.commitSeconds.Observe(time.Since(start).Seconds())
	if err == nil {
		c.s.metric.batchSize.Observe(float64(len(live)))
		for i, r := range live {
			r.reply <- commitResult{rc: results[i]}
		}
		return
	}
	if len(live) == 1 {
		c.s.log.Error("commit failed", "err", err, "queue_id", live[0].in.Mail.QueueID)
		live[0].reply <- commitResult{err: err}
		return
	}
	c.s.log.Warn("batch commit failed; committing its mails one by one", "err", err, "mails", len(live))
	for _, r := range live {
		res, err := c.s.commitBatch([]*commitRequest{r})
		if err != nil {
			c.s.log.Error("commit failed", "err", err, "queue_id", r.in.Mail.QueueID)
			r.reply <- commitResult{err: err}
			continue
		}
		c.s.metric.batchSize.Observe(1)
		r.reply <- commitResult{rc: res[0]}
	}
}

// takeWaiting appends to batch what in holds now, up to max in all.
func takeWaiting[T any](in <-chan T, batch []T, max int) []T {
	for len(batch) < max {
		select {
		case r := <-in:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// groupTx runs fn in one transaction shared by many callers (a group
// commit), commits it, then runs what fn's steps asked to run after the
// commit (AfterCommit). The transaction outlives any one caller: it is not
// cancelled when one client disconnects. On PostgreSQL it is bounded in
// time, as the network may hang. SQLite's waits are bounded by its
// busy_timeout, and a context that can end would cost modernc's driver a
// goroutine per statement, on the busiest path of ingest.
func (s *Store) groupTx(fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.groupTxOnConn(func(ctx context.Context, _ *sql.Conn, tx *sql.Tx) error { return fn(ctx, tx) })
}

// groupTxOnConn is groupTx with the transaction's connection at hand, for
// what database/sql does not offer (pgx's pipelines, through Conn.Raw).
func (s *Store) groupTxOnConn(fn func(ctx context.Context, conn *sql.Conn, tx *sql.Tx) error) error {
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if s.kind == Postgres {
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	}
	defer cancel()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: connect: %w", err)
	}
	defer conn.Close()
	hooks := &afterCommit{}
	ctx = context.WithValue(ctx, afterCommitKey{}, hooks)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(ctx, conn, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	// Back to the pool before the hooks run: SQLite's has one connection.
	conn.Close()
	for _, f := range hooks.funcs {
		f()
	}
	return nil
}

func (s *Store) commitBatch(batch []*commitRequest) ([]Receipt, error) {
	results := make([]Receipt, len(batch))
	err := s.groupTxOnConn(func(ctx context.Context, conn *sql.Conn, tx *sql.Tx) error {
		b := newBatchTx(tx, s.kind)
		b.conn = conn
		var rows []mailRow
		if s.kind == Postgres {
			var err error
			if rows, err = insertMailsPostgres(ctx, conn, batch, b.newOrderLocks(batchOrderKeys(batch))); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		}
		var jobs []pendingJob
		for i, r := range batch {
			var row *mailRow
			if rows != nil {
				row = &rows[i]
			}
			rc, j, err := s.ingestTx(ctx, b, r.in, row)
			if err != nil {
				return fmt.Errorf("store: ingest %s: %w", r.in.Mail.QueueID, err)
			}
			results[i] = rc
			jobs = append(jobs, j...)
		}
		if err := s.insertJobs(ctx, b, jobs); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

type afterCommitKey struct{}

// afterCommit holds what is to run once a batch's transaction commits.
type afterCommit struct{ funcs []func() }

// AfterCommit runs fs once the group commit whose context ctx is (the one
// a Deriver is called with) has committed, and never if it does not:
// counting what a transaction did, when it may be rolled back and tried
// again. Elsewhere it runs fs at once.
func AfterCommit(ctx context.Context, fs ...func()) {
	if h, ok := ctx.Value(afterCommitKey{}).(*afterCommit); ok {
		h.funcs = append(h.funcs, fs...)
		return
	}
	for _, f := range fs {
		f()
	}
}

// stop commits what was handed over and ends the committer.
func (c *committer) stop() {
	c.stopOnce.Do(func() { close(c.quit) })
	if !c.started.Load() {
		return
	}
	select {
	case <-c.done:
	case <-time.After(time.Minute):
	}
}
