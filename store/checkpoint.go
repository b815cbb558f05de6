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
const checkpointInterval = 500 * time.Millisecond

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
		if _, err := c.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
			s.log.Warn("store: checkpoint failed", "err", err)
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
