package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// leaseLockClass is the first key of the PostgreSQL advisory locks that
// are the instances' leases; the second is an instance's key.
const leaseLockClass = 0x71303131 // "q011"

// LeaseLapse bounds how long an instance whose lease's connection failed
// may go on taking and attempting deliveries without a job: two of its
// checks, one to notice, one that waited for an answer.
const LeaseLapse = 10 * time.Second

// leaseCheckEvery is how often an instance makes sure its lease's
// connection is still there (a variable for the tests).
var leaseCheckEvery = LeaseLapse / 2

// A lease is an instance's claim, on PostgreSQL, on the deliveries it
// stores and attempts straight from its commit, without a River job (a
// Dispatcher): a session advisory lock, held on a connection of its own,
// whose key each of those deliveries keeps in stored_by. While the lock is
// held, no other instance gives them jobs (JoblessDeliveries). When the
// instance dies its connection closes and the server drops the lock, so
// the others' sweeps take its deliveries over. An instance whose
// connection fails has lost its lease for good: from then on it attempts
// nothing without a job (Leased), since another instance may take the
// deliveries over.
type lease struct {
	key  int32
	conn *pgx.Conn
	// gone is closed once the lease is lost or given up.
	gone     chan struct{}
	goneOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	closed   sync.Once
	// onLost is called when the connection fails, not when the lease is
	// given up.
	onLost func(error)
}

// markLost records that the lease no longer holds.
func (l *lease) markLost() { l.goneOnce.Do(func() { close(l.gone) }) }

// takeLease opens the lease's connection and takes a lock under a key no
// other instance holds.
func takeLease(ctx context.Context, cfg *pgx.ConnConfig, onLost func(error)) (*lease, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: lease: %w", err)
	}
	for range 10 {
		key := rand.Int32N(1<<31-1) + 1
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, int32(leaseLockClass), key).Scan(&got); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("store: lease: %w", err)
		}
		if got {
			return &lease{key: key, conn: conn, gone: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
				onLost: onLost}, nil
		}
	}
	conn.Close(context.WithoutCancel(ctx))
	return nil, fmt.Errorf("store: lease: no free key after 10 tries")
}

// keep checks the lease's connection until close, and marks the lease
// lost at the first failure.
func (l *lease) keep() {
	defer close(l.done)
	every := leaseCheckEvery
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := l.conn.Ping(ctx)
		cancel()
		if err != nil {
			l.onLost(err)
			l.markLost()
			l.conn.Close(context.Background())
			return
		}
	}
}

// close gives the lease up: the server drops the lock with the
// connection.
func (l *lease) close(started bool) {
	l.closed.Do(func() {
		if started {
			close(l.stop)
			<-l.done
		}
		l.markLost()
		l.conn.Close(context.Background())
	})
}

// reportLeaseLost tells the operators that the instance's lease is lost.
func (s *Store) reportLeaseLost(err error) {
	s.metric.leaseHeld.Set(0)
	s.log.Error("store: the PostgreSQL lease is lost: new deliveries go through River until the instance restarts",
		"err", err)
}

// Leased tells whether the store's Dispatcher may attempt the deliveries
// it holds without a job: always on SQLite; on PostgreSQL while the
// instance's lease holds.
func (s *Store) Leased() bool {
	select {
	case <-s.LeaseLost():
		return false
	default:
		return true
	}
}

// LeaseLost is closed once the instance's lease is lost or given up; it
// is nil, never ready, without a lease (SQLite, or no Dispatcher).
func (s *Store) LeaseLost() <-chan struct{} {
	if s.lease == nil {
		return nil
	}
	return s.lease.gone
}

// leaseKey is the key stored_by keeps for a new delivery: the lease's on
// PostgreSQL with a Dispatcher, else NULL.
func (s *Store) leaseKey() any {
	if s.lease == nil {
		return nil
	}
	return s.lease.key
}

// liveLeases returns the keys of the leases held now, of every instance
// in this database.
func (s *Store) liveLeases(ctx context.Context) ([]int64, error) {
	return s.readIDs(ctx, `SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid = $1 AND objsubid = 2
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, leaseLockClass)
}
