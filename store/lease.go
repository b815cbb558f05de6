package store

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// leaseLockClass is the first key of the PostgreSQL advisory locks that
// are the instances' leases; the second is an instance's key.
const leaseLockClass = 0x71303131 // "q011"

// orderLockingClass is the first key of a second lock each instance holds
// under its lease's key, taken before the lease: it tells the other
// instances that this one stores a cart's deliveries under the key's lock
// (orderlock.go). An instance of a release before those locks holds its
// lease without it, and while one does, a delivery is not trusted to be
// Ordered (lease.peersLockOrderKeys).
const orderLockingClass = 0x71303132 // "q012"

// olderLeaseLookAgain is how long an instance waits before it looks again
// at a lease it saw held without orderLockingClass's lock: an instance
// that ends drops its two locks one after the other, and one seen between
// the two is gone by then.
const olderLeaseLookAgain = 50 * time.Millisecond

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
	log    *slog.Logger
	// peersLock is closed once no lease is held, in this database,
	// without orderLockingClass's lock. An older release refuses to start
	// on a store this one migrated (018_order_key_locks.sql), so none
	// holds one again.
	peersLock chan struct{}
	// olderSeen tells that watchPeers has told the operators of older
	// instances (only takeLease, then keep, call it).
	olderSeen bool
}

// markLost records that the lease no longer holds.
func (l *lease) markLost() { l.goneOnce.Do(func() { close(l.gone) }) }

// takeLease opens the lease's connection and takes a lock under a key no
// other instance holds, orderLockingClass's under the same key first. It
// then looks for instances of an older release (watchPeers).
func takeLease(ctx context.Context, cfg *pgx.ConnConfig, onLost func(error), log *slog.Logger) (*lease, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: lease: %w", err)
	}
	fail := func(err error) (*lease, error) {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("store: lease: %w", err)
	}
	for range 10 {
		key := rand.Int32N(1<<31-1) + 1
		got, err := tryLock(ctx, conn, orderLockingClass, key)
		if err == nil && got {
			if got, err = tryLock(ctx, conn, leaseLockClass, key); err == nil && !got {
				_, err = conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, int32(orderLockingClass), key)
			}
		}
		if err != nil {
			return fail(err)
		}
		if got {
			l := &lease{key: key, conn: conn, gone: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
				onLost: onLost, log: log, peersLock: make(chan struct{})}
			if err := l.watchPeers(ctx); err != nil {
				return fail(err)
			}
			return l, nil
		}
	}
	return fail(fmt.Errorf("no free key after 10 tries"))
}

// tryLock takes the session advisory lock (class, key) if it is free.
func tryLock(ctx context.Context, conn *pgx.Conn, class, key int32) (got bool, err error) {
	err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, class, key).Scan(&got)
	return got, err
}

// peersLockOrderKeys tells whether every instance with a lease stores a
// cart's deliveries under its key's lock.
func (l *lease) peersLockOrderKeys() bool {
	select {
	case <-l.peersLock:
		return true
	default:
		return false
	}
}

// watchPeers closes peersLock once no instance of an older release holds
// a lease, and tells the operators while some do. It is called until then
// (by takeLease, then keep), never after.
func (l *lease) watchPeers(ctx context.Context) error {
	older, err := olderLeases(ctx, l.conn)
	if err == nil && len(older) > 0 {
		select {
		case <-time.After(olderLeaseLookAgain):
		case <-ctx.Done():
			return ctx.Err()
		}
		var again []olderLease
		again, err = olderLeases(ctx, l.conn)
		older = slices.DeleteFunc(older, func(o olderLease) bool {
			return !slices.ContainsFunc(again, func(a olderLease) bool { return a.key == o.key })
		})
	}
	switch {
	case err != nil:
		return err
	case len(older) == 0:
		close(l.peersLock)
		if l.olderSeen {
			l.log.Info("store: no instance of an older release holds a lease any more")
		}
	case !l.olderSeen:
		l.olderSeen = true
		instances := make([]string, len(older))
		for i, o := range older {
			instances[i] = fmt.Sprintf("%s (lease %d)", o.client, o.key)
		}
		l.log.Warn("store: instances of an older release hold leases on this database: until they stop,"+
			" a cart's deliveries are checked for an earlier one before each attempt", "instances", instances)
	}
	return nil
}

// olderLease is a lease held without orderLockingClass's lock: key, and
// the address its connection comes from, for the operators.
type olderLease struct {
	key    int64
	client string
}

// olderLeases returns the leases held, in this database, without
// orderLockingClass's lock: those of instances of a release that stores a
// cart's deliveries without its key's lock.
func olderLeases(ctx context.Context, conn *pgx.Conn) ([]olderLease, error) {
	// Another role's connections show no address unless this role may
	// read all statistics; a Unix socket's shows port -1.
	rows, err := conn.Query(ctx, `SELECT l.objid::bigint, CASE WHEN a.client_port = -1 THEN 'a local socket'
			ELSE COALESCE(host(a.client_addr), 'an address this role may not see') END
		FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objsubid = 2
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND NOT EXISTS (SELECT 1 FROM pg_locks o WHERE o.locktype = 'advisory' AND o.granted
			AND o.classid = $2 AND o.objid = l.objid AND o.objsubid = 2 AND o.database = l.database)`,
		uint32(leaseLockClass), uint32(orderLockingClass))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (o olderLease, err error) {
		err = row.Scan(&o.key, &o.client)
		return o, err
	})
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
		var err error
		if l.peersLockOrderKeys() {
			err = l.conn.Ping(ctx)
		} else {
			err = l.watchPeers(ctx) // its statements check the connection too
		}
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

// peersLockOrderKeys tells whether every instance with a lease stores a
// cart's deliveries under its key's lock, so that one stored under it is
// handed to the Dispatcher Ordered: false without a lease.
func (s *Store) peersLockOrderKeys() bool { return s.lease != nil && s.lease.peersLockOrderKeys() }

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
