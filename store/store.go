// Package store keeps mail, events and deliveries durable, in SQLite or PostgreSQL, with River as the delivery queue.
package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite" // the embedded default store

	"github.com/qoo10hook/qoo10hook/event"
)

// Options configure Open.
type Options struct {
	URL    URL
	Logger *slog.Logger
	// Registerer receives the store's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Workers and Queues make the store's River client work jobs; without
	// them the client only inserts (as the CLI does).
	Workers *river.Workers
	Queues  map[string]river.QueueConfig
	// JobTimeout bounds one job run; RescueAfter is when a job left running
	// by a crash is run again; SoftStopTimeout is how long running jobs may
	// finish on Stop before they are cancelled.
	JobTimeout      time.Duration
	RescueAfter     time.Duration
	SoftStopTimeout time.Duration
	// Batch bounds group commit: at most BatchMax mails per transaction
	// (DefaultBatchMax), a mail that came alone waiting at most
	// BatchWindow (0: not at all) for others to share its commit.
	// Backlog bounds the mails waiting for a commit (DefaultBacklog);
	// past it Ingest answers ErrBusy.
	BatchMax    int
	BatchWindow time.Duration
	Backlog     int
	// Writers is how many batches commit at once on PostgreSQL
	// (DefaultPostgresWriters); SQLite has one writer.
	Writers int
	// BacklogBytes bounds the bytes of the mails waiting
	// (DefaultBacklogBytes).
	BacklogBytes int64
	// PollInterval is how often queues look for due jobs
	// (DefaultPollInterval).
	PollInterval time.Duration
	// InstanceID names this process in River's tables and in logs.
	InstanceID string
	// Derive, when set, adds derived events to each new event's transaction.
	Derive Deriver
	// Correct, when set, adds the events a re-parse's corrected event
	// derives (the difference in stock), in the transaction that stores it.
	Correct Corrector
	// Retention, when set, has Start run the purger that applies it (see
	// Purge); nil keeps everything.
	Retention *Retention
}

// Store is the database behind qoo10hook.
type Store struct {
	kind   Kind
	db     *sql.DB // writes, and River
	read   *sql.DB // reads for operators; the same pool on PostgreSQL
	river  *river.Client[*sql.Tx]
	log    *slog.Logger
	metric *metrics
	commit *committer
	// attempts writes what delivery workers learn, many per transaction.
	attempts *attemptCommitter
	// predecessorChecks has concurrent WaitsForPredecessor calls share
	// a statement.
	predecessorChecks predecessorChecks
	// ckpt copies the WAL into the database file, for SQLite.
	ckpt *checkpointer
	// path is the SQLite database file, "" on PostgreSQL.
	path string
	// working is whether the River client has queues to work.
	working bool
	// dispatch takes new deliveries without a River job (SetDispatcher).
	dispatch Dispatcher
	// lease is this instance's claim on what dispatch holds, on
	// PostgreSQL; pgConfig opens its connection.
	lease        *lease
	leaseStarted bool
	pgConfig     *pgx.ConnConfig
	// serving is the lock of the process working a SQLite store.
	serving *os.File
	derive  Deriver
	correct Corrector
	// purge applies the retention periods.
	purge *purger
	// waker wakes this process's producers after a commit, on SQLite.
	waker *wakingDriver
	// listenPool holds River's LISTEN connection, on PostgreSQL.
	listenPool *pgxpool.Pool
	// reclaimPending asks the purger to reclaim space an erasure freed.
	reclaimPending atomic.Bool
}

// Open connects to the store, applies pending migrations (River's and
// ours, once, whichever instance gets there first) and builds the River
// client. Start runs the committer and the workers.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{kind: o.URL.Kind, log: o.Logger, metric: newMetrics(o.Registerer), derive: o.Derive, correct: o.Correct}
	var driver riverdriver.Driver[*sql.Tx]
	switch o.URL.Kind {
	case SQLite:
		if err := os.MkdirAll(filepath.Dir(o.URL.Path), 0o750); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		if err := createPrivate(o.URL.Path); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		s.path = o.URL.Path
		db, err := openSQLite(sqliteDSN(o.URL.Path, false))
		if err != nil {
			return nil, fmt.Errorf("store: open %s: %w", o.URL.Path, err)
		}
		// SQLite has one writer at a time; one connection avoids
		// SQLITE_BUSY between River's internals and the committer.
		db.SetMaxOpenConns(1)
		s.db = db
		s.waker = newWakingDriver(riversqlite.New(db))
		driver = s.waker
	case Postgres:
		cfg, err := pgx.ParseConfig(o.URL.DSN)
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		s.pgConfig = cfg
		db := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(encodePQArraysNatively))
		// As many idle as open: a connection closed when the pool
		// overflowed its idle ones is a new server process at the next
		// peak, and that churn halved the mails accepted.
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
		s.db, s.read = db, db
		driver = riverdatabasesql.New(db)
		if o.Workers != nil && len(o.Queues) > 0 {
			// A LISTEN connection wakes the producers of every instance
			// when a commit queues jobs, instead of at their next poll.
			cfg, err := pgxpool.ParseConfig(o.URL.DSN)
			if err != nil {
				db.Close()
				return nil, fmt.Errorf("store: postgres listener: %w", err)
			}
			cfg.MinConns, cfg.MaxConns = 0, 1
			if s.listenPool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
				db.Close()
				return nil, fmt.Errorf("store: postgres listener: %w", err)
			}
			driver = riverdatabasesql.NewWithPgxListener(db, s.listenPool)
		}
	default:
		return nil, fmt.Errorf("store: unknown kind %q", o.URL.Kind)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if s.kind == SQLite {
		if err := s.newFileIncremental(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.migrate(ctx, driver); err != nil {
		s.Close()
		return nil, err
	}
	if o.Retention != nil {
		// The service converts an older SQLite store; the command line,
		// which may run beside it, does not.
		if s.kind == SQLite {
			s.enableIncrementalVacuum(ctx)
		}
		s.purge = newPurger(*o.Retention)
	}
	if s.read == nil {
		read, err := openSQLite(sqliteDSN(o.URL.Path, true))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store: open reader: %w", err)
		}
		// All four stay open: past database/sql's two idle ones, a reader
		// was closed on its return and the next one opened anew, reading
		// the schema and preparing its statements again; under delivery
		// load that was most of what loading a delivery cost.
		read.SetMaxOpenConns(4)
		read.SetMaxIdleConns(4)
		s.read = read
		if s.ckpt, err = newCheckpointer(o.URL.Path); err != nil {
			s.Close()
			return nil, fmt.Errorf("store: open checkpointer: %w", err)
		}
	}

	rc, err := river.NewClient(driver, riverConfig(o))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: river client: %w", err)
	}
	s.river = rc
	s.working = o.Workers != nil && len(o.Queues) > 0
	for q := range o.Queues {
		if endpoint, ok := strings.CutPrefix(q, QueueName("")); ok {
			s.metric.queuedBehind.WithLabelValues(endpoint) // shown from the start, at 0
		}
	}
	s.commit = newCommitter(s, o.BatchMax, o.BatchWindow, o.Backlog, o.BacklogBytes, o.Writers)
	s.attempts = newAttemptCommitter(s)
	return s, nil
}

func sqliteDSN(path string, readOnly bool) string {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	if readOnly {
		return dsn + "&mode=ro&_pragma=query_only(1)"
	}
	// Writers open the file through the WAL VFS (see walVFSName); readers,
	// which never write the WAL, keep the unix VFS.
	// FULL makes every commit durable before we answer 250, even if the
	// machine loses power (and the WAL VFS relies on it); IMMEDIATE takes
	// the write lock at BEGIN so two writers never deadlock upgrading.
	// Checkpoints run apart from commits (see checkpointer).
	// journal_size_limit gives back the disk a WAL grown by a burst, once
	// it starts over.
	// secure_delete overwrites what is deleted, so that purged buyer data
	// does not stay in free pages. (auto_vacuum is set once per file, see
	// newFileIncremental: as a pragma of every connection it would write.)
	return dsn + walVFSParam() + "&_pragma=secure_delete(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(0)" +
		"&_pragma=journal_size_limit(67108864)&_txlock=immediate"
}

func riverConfig(o Options) *river.Config {
	cfg := &river.Config{
		ID:                          o.InstanceID,
		Logger:                      o.Logger.With("component", "river"),
		MaxAttempts:                 25,
		JobTimeout:                  o.JobTimeout,
		RescueStuckJobsAfter:        o.RescueAfter,
		SoftStopTimeout:             o.SoftStopTimeout,
		CompletedJobRetentionPeriod: 24 * time.Hour,
		// Dead letters are kept in our delivery table; River's cancelled
		// rows go after a month like its discarded ones.
		CancelledJobRetentionPeriod: 30 * 24 * time.Hour,
		DiscardedJobRetentionPeriod: 30 * 24 * time.Hour,
		// A commit that queues jobs wakes the producers (wake.go, and
		// LISTEN/NOTIFY on PostgreSQL); polling is the fallback, for a
		// wake-up lost or another process's jobs.
		FetchPollInterval: cmp.Or(o.PollInterval, DefaultPollInterval),
		FetchCooldown:     min(cmp.Or(o.PollInterval, DefaultPollInterval), 5*time.Millisecond),
	}
	if o.Workers != nil && len(o.Queues) > 0 {
		cfg.Workers = o.Workers
		cfg.Queues = o.Queues
	}
	return cfg
}

// River returns the River client, for workers and for the operators' UI.
func (s *Store) River() *river.Client[*sql.Tx] { return s.river }

// Kind tells which database is behind the store.
func (s *Store) Kind() Kind { return s.kind }

// Start runs the group committer and River's workers. A SQLite store is
// worked by one process at a time: Start fails while another works it.
func (s *Store) Start(ctx context.Context) error {
	if s.working && s.path != "" {
		var err error
		if s.serving, err = lockServing(s.path); err != nil {
			return err
		}
	}
	s.commit.started.Store(true)
	go s.commit.run()
	s.attempts.start()
	if s.ckpt != nil {
		go s.ckpt.run(s)
	}
	if s.purge != nil {
		go s.purge.run(s)
	}
	if s.lease != nil && !s.leaseStarted {
		s.leaseStarted = true
		go s.lease.keep()
	}
	if !s.working {
		return nil
	}
	if err := s.river.Start(ctx); err != nil {
		return fmt.Errorf("store: start river: %w", err)
	}
	return nil
}

// StopWorkers lets running jobs finish until ctx ends, then cancels them.
func (s *Store) StopWorkers(ctx context.Context) error {
	if !s.working {
		return nil
	}
	err := s.river.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		hard, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return s.river.StopAndCancel(hard)
	}
	return err
}

// Busy reports whether Ingest would turn a mail away now (ErrBusy): too
// many mails or bytes wait for a commit, or the commit under way has
// stalled. A session asks before it reads a message it could not store,
// and turns the mail away when told so: a true answer counts as a busy
// rejection.
func (s *Store) Busy() bool {
	if !s.commit.busy() {
		return false
	}
	s.metric.busy.Inc()
	return true
}

// Stalled reports whether the commit under way has run past the stall
// limit, the moment from which mails are turned away.
func (s *Store) Stalled() bool { return s.commit.stalled() }

// Close stops the committer (mails still waiting get ErrClosed) and closes
// the database.
func (s *Store) Close() error {
	if s.purge != nil && s.commit != nil && s.commit.started.Load() {
		s.purge.close()
	}
	if s.commit != nil {
		s.commit.stop()
	}
	if s.attempts != nil {
		s.attempts.stop()
	}
	var errs []error
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close(s.commit != nil && s.commit.started.Load()))
	}
	if s.read != nil && s.read != s.db {
		errs = append(errs, s.read.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	if s.listenPool != nil {
		s.listenPool.Close()
	}
	if s.lease != nil {
		s.lease.close(s.leaseStarted)
	}
	if s.serving != nil {
		errs = append(errs, s.serving.Close())
	}
	return errors.Join(errs...)
}

// Ping tells whether a commit can succeed now: it commits a write (which
// a full disk or a read-only database refuses) and, on SQLite, that the
// disk keeps a reserve for the mails to come (see checkFreeSpace). It is
// what /readyz asks.
func (s *Store) Ping(ctx context.Context) error {
	if s.path != "" {
		if err := checkFreeSpace(s.path); err != nil {
			return err
		}
	}
	_, err := s.db.ExecContext(ctx, `UPDATE store_probe SET at = $1 WHERE id = 1`, now())
	if err != nil {
		return fmt.Errorf("store: write: %w", err)
	}
	return nil
}

func now() int64 { return time.Now().UnixMicro() }

// fromMicros reads a stored time. Times leave the store in Japan time, as
// the events write them, so that operators read one zone everywhere.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).In(event.JST) }

func microsDuration(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// createPrivate creates the database file readable by its owner only: it
// holds buyers' names, addresses and phone numbers. SQLite creates the
// WAL and shared-memory files with the database file's permissions.
// An existing file keeps its own.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}
