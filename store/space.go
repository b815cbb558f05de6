package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// spaceGauges show what the store holds: its size, the space it could give
// back, and its rows. The purger refreshes them.
type spaceGauges struct {
	size, free prometheus.Gauge
	rows       *prometheus.GaugeVec
}

func newSpaceGauges(f promauto.Factory) *spaceGauges {
	return &spaceGauges{
		size: f.NewGauge(prometheus.GaugeOpts{
			Name: "qoo10hook_store_size_bytes",
			Help: "Size of the store: the SQLite file with its WAL, or qoo10hook's tables in PostgreSQL with their indexes.",
		}),
		free: f.NewGauge(prometheus.GaugeOpts{
			Name: "qoo10hook_store_free_bytes",
			Help: "SQLite: pages freed and not yet given back to the file system by the incremental vacuum.",
		}),
		rows: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "qoo10hook_store_rows",
			Help: "Rows in the store's main tables; purged mails count in mail, and in mail_purged.",
		}, []string{"table"}),
	}
}

// countedTables are the tables whose rows are shown.
var countedTables = map[string]string{
	"mail":             `SELECT count(*) FROM mail`,
	"mail_purged":      `SELECT count(*) FROM mail WHERE purged_at IS NOT NULL`,
	"event":            `SELECT count(*) FROM event`,
	"delivery":         `SELECT count(*) FROM delivery`,
	"delivery_attempt": `SELECT count(*) FROM delivery_attempt`,
}

// refreshSpace reads the store's size and row counts into the gauges.
func (s *Store) refreshSpace(ctx context.Context) error {
	g := s.metric.space
	for table, q := range countedTables {
		var n int64
		if err := s.read.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return fmt.Errorf("store: count %s: %w", table, err)
		}
		g.rows.WithLabelValues(table).Set(float64(n))
	}
	size, free, err := s.Size(ctx)
	if err != nil {
		return err
	}
	g.size.Set(float64(size))
	g.free.Set(float64(free))
	return nil
}

// Size returns the bytes the store takes and, on SQLite, the bytes of its
// free pages.
func (s *Store) Size(ctx context.Context) (size, free int64, err error) {
	if s.kind == Postgres {
		err = s.read.QueryRowContext(ctx, `SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'`).Scan(&size)
		if err != nil {
			return 0, 0, fmt.Errorf("store: size: %w", err)
		}
		return size, 0, nil
	}
	var pages, freePages, pageSize int64
	for q, dst := range map[string]*int64{`PRAGMA page_count`: &pages, `PRAGMA freelist_count`: &freePages, `PRAGMA page_size`: &pageSize} {
		if err := s.read.QueryRowContext(ctx, q).Scan(dst); err != nil {
			return 0, 0, fmt.Errorf("store: size: %w", err)
		}
	}
	return pages*pageSize + walSize(s.path), freePages * pageSize, nil
}

// reclaimStep is how many free pages one incremental vacuum step gives
// back: a step holds the write lock, as a commit does.
const reclaimStep = 64

// reclaim gives the pages purging freed back to the file system, in small
// steps, and has the WAL, which still holds the pages as they were before
// purging, copied back and truncated. It does nothing on PostgreSQL, whose
// autovacuum reclaims dead rows.
func (s *Store) reclaim(ctx context.Context) (truncated bool, err error) {
	if s.kind != SQLite {
		return true, nil
	}
	last := int64(-1)
	for ctx.Err() == nil {
		var free int64
		if err := s.db.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
			return false, fmt.Errorf("store: reclaim: %w", err)
		}
		if free == 0 || free == last {
			break // done, or the store is not in incremental vacuum mode
		}
		last = free
		start := time.Now()
		_, err := s.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, reclaimStep))
		s.metric.purgeSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			return false, fmt.Errorf("store: reclaim: %w", err)
		}
	}
	start := time.Now()
	defer func() { s.metric.purgeSeconds.Observe(time.Since(start).Seconds()) }()
	return s.ckpt.truncate(ctx)
}

// truncate copies the whole WAL into the database and empties it, if it
// can do so within a short wait for readers; it reports whether it did.
func (c *checkpointer) truncate(ctx context.Context) (bool, error) {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("store: truncate wal: %w", err)
	}
	defer conn.Close()
	// It holds new writers back while it waits: not for long.
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = 200`); err != nil {
		return false, fmt.Errorf("store: truncate wal: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA busy_timeout = 10000`)
	var busy, frames, copied int64
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied); err != nil {
		return false, nil // busy: next time
	}
	return busy == 0, nil
}

// purger applies the retention periods in the background.
type purger struct {
	r        Retention
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func newPurger(r Retention) *purger {
	return &purger{r: r, stop: make(chan struct{}), done: make(chan struct{})}
}

// spaceRefresh is how often the size and row gauges are read when nothing
// was purged.
const spaceRefresh = 30 * time.Second

func (p *purger) run(s *Store) {
	defer close(p.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.stop
		cancel()
	}()
	t := time.NewTicker(p.r.interval())
	defer t.Stop()
	var refreshed time.Time
	dirty := false // purged, and the WAL not yet truncated
	for {
		res, err := s.purgeAlone(ctx, p.r)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("store: retention purge failed", "err", err)
		}
		if res.any() {
			s.log.Info("retention purge", "mails", res.Mails, "rows", res.Rows, "attempts", res.Attempts,
				"dead_deliveries", res.Deliveries)
			dirty = true
		}
		if s.reclaimPending.Swap(false) {
			dirty = true
		}
		if dirty && ctx.Err() == nil {
			ok, err := s.reclaim(ctx)
			if err != nil {
				s.log.Warn("store: reclaiming space failed", "err", err)
			}
			dirty = !ok
		}
		if res.any() || time.Since(refreshed) >= spaceRefresh {
			if err := s.refreshSpace(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("store: reading the store's size failed", "err", err)
			}
			refreshed = time.Now()
		}
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

func (p *purger) close() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

// walSize is the size of the SQLite file's WAL, 0 when it has none.
func walSize(path string) int64 {
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		return 0
	}
	return fi.Size()
}

// enableIncrementalVacuum converts a SQLite store made before purging
// existed, once: the incremental vacuum needs auto_vacuum set in the file,
// which only a VACUUM can do to a file that has tables. The VACUUM also
// rewrites the free pages, which may still hold deleted data. It needs as
// much free disk as the store takes; if it fails the store works as
// before, only without giving space back.
func (s *Store) enableIncrementalVacuum(ctx context.Context) {
	var mode int
	if err := s.db.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode == 2 {
		return
	}
	start := time.Now()
	s.log.Info("store: converting the SQLite file to incremental vacuum (once; this rewrites the file)", "path", s.path)
	conn, err := s.db.Conn(ctx)
	if err == nil {
		defer conn.Close()
		if _, err = conn.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL`); err == nil {
			_, err = conn.ExecContext(ctx, `VACUUM`)
		}
	}
	if err != nil {
		s.log.Warn("store: converting to incremental vacuum failed: purged space is reused but not given back", "err", err)
		return
	}
	s.log.Info("store: converted to incremental vacuum", "took", time.Since(start).Round(time.Millisecond))
}

// purgeLock is the PostgreSQL advisory lock held by the instance whose
// purger runs a pass: the others skip it rather than redo its work.
const purgeLock = 0x71303131

// purgeAlone runs one pass of Purge, on PostgreSQL only when no other
// instance is running one.
func (s *Store) purgeAlone(ctx context.Context, r Retention) (PurgeResult, error) {
	if s.kind != Postgres {
		return s.Purge(ctx, r, time.Now())
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return PurgeResult{}, fmt.Errorf("store: purge: %w", err)
	}
	defer conn.Close()
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, purgeLock).Scan(&got); err != nil {
		return PurgeResult{}, fmt.Errorf("store: purge: lock: %w", err)
	}
	if !got {
		return PurgeResult{}, nil
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, purgeLock)
	return s.Purge(ctx, r, time.Now())
}

// newFileIncremental makes a new SQLite file (one without tables yet) for
// the incremental vacuum, before the migrations create its tables.
func (s *Store) newFileIncremental(ctx context.Context) error {
	var tables int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&tables); err != nil {
		return fmt.Errorf("store: open: %w", err)
	}
	if tables > 0 {
		return nil
	}
	// The file has its first page already (journal_mode wrote it): only a
	// VACUUM, instant on an empty file, makes the setting take.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: open: %w", err)
	}
	defer conn.Close()
	for _, q := range []string{`PRAGMA auto_vacuum = INCREMENTAL`, `VACUUM`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store: open: set auto_vacuum: %w", err)
		}
	}
	return nil
}
