package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// checkpointInterval is how often the WAL is copied back into the database
// file. Commits only append to the WAL and fsync it; doing the copy (two
// more fsyncs) inside a commit, as SQLite's automatic checkpoint does,
// would stall every SMTP session waiting on that commit.
var checkpointInterval = 500 * time.Millisecond

// walCycleFrames is how many frames (of 4 KiB pages) the WAL may hold
// before it is made to start over. SQLite starts writing the WAL from its
// beginning again only when a checkpoint has copied all of it; under a
// steady stream of commits a passive checkpoint never catches up, and the
// WAL would grow without end, every commit appending (and a sync of an
// appended file costs more than one of a rewritten one). Past this size
// the committer, between two batches, copies what the last passive
// checkpoint left, and the next batch starts the WAL over.
var walCycleFrames int64 = 4096

// checkpointer runs SQLite checkpoints on a connection of its own. PASSIVE
// checkpoints never block the writer.
type checkpointer struct {
	db      *sql.DB
	stop    chan struct{}
	done    chan struct{}
	closing sync.Once
}

func newCheckpointer(path string) (*checkpointer, error) {
	db, err := openSQLite(sqliteDSN(path, false))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

func (c *checkpointer) run(s *Store) {
	defer close(c.done)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var busy, walFrames, copied int64
		if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &walFrames, &copied); err != nil {
			s.log.Warn("store: checkpoint failed", "err", err)
		} else if walFrames >= walCycleFrames {
			s.commit.finishCheckpoint.Store(true)
		}
		cancel()
	}
}

// close stops the checkpoints, if they ran, and folds the whole WAL into
// the database.
func (c *checkpointer) close(ran bool) error {
	var err error
	c.closing.Do(func() {
		close(c.stop)
		if ran {
			<-c.done
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		}
		err = c.db.Close()
	})
	return err
}

// finishCheckpoint copies into the database file the WAL frames the last
// passive checkpoint left, on the write connection while no batch is being
// written, so that the next commit starts the WAL over (see walCycleFrames).
func (s *Store) finishCheckpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
		s.log.Warn("store: checkpoint failed", "err", err)
	}
}
