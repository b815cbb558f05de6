package store

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"slices"
)

// Order keys' locks, on PostgreSQL.
//
// A delivery waits for the earlier pending deliveries of its order key at
// its endpoint, and the transaction that stores it looks for them
// (parkedBehind). Another transaction's delivery of the same key, stored
// beside it, is not among what that look sees until that transaction
// commits. So each transaction locks a cart's key (a transaction-level
// advisory lock) before it stores a delivery of it, and holds the lock
// until it commits: of two transactions that store deliveries of one key,
// the second stores its own once the first has committed, and its look
// sees the first's. A new delivery whose only key was locked so was seen
// by its commit to follow all it follows (Delivery.Ordered), and a
// Dispatcher attempts it without looking again (WaitsForPredecessor).
// That holds only if every writer takes the locks: while an instance of
// an older release holds a lease, no delivery is Ordered so
// (lease.watchPeers), and an older release refuses to start on a store
// this one migrated.
//
// A batch takes the locks of the keys its mails' deliveries name in one
// statement, in one order, before anything else: two batches do not wait
// for each other's locks crosswise. A key that comes up later (the cart of
// an order.updated, which a mail without カート番号 joins; a re-parse) is
// locked as its delivery is stored, and a transaction that makes an
// earlier delivery pending again (a release from quarantine, an
// operator's retry or resend) locks its key first. Should two
// transactions then wait for each other, PostgreSQL ends one with a
// deadlock error, and a batch is committed again mail by mail.
//
// A SKU's key is not locked (NewDelivery.KeyShared): every mail of a
// flash sale would wait for the one before it. Its deliveries are never
// Ordered. (A SKU's key begins "sku:"; a cart's begins with its seller's
// id, which would have to begin so too to be taken for a SKU's.)

// lockOrderKeysStatement takes the transaction-level advisory locks of
// the keys given, in the array's order.
const lockOrderKeysStatement = `SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS k`

// orderLockKey is the advisory lock key of an order key.
func orderLockKey(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte("qoo10hook order key " + key))
	return int64(h.Sum64())
}

// newOrderLocks notes keys as locked by b's transaction and returns the
// advisory lock keys of those it did not hold, each once, in the order
// every transaction takes them in.
func (b *batchTx) newOrderLocks(keys []string) []int64 {
	var locks []int64
	for _, k := range keys {
		if k == "" || b.orderLocks[k] {
			continue
		}
		if b.orderLocks == nil {
			b.orderLocks = map[string]bool{}
		}
		b.orderLocks[k] = true
		locks = append(locks, orderLockKey(k))
	}
	slices.Sort(locks)
	return slices.Compact(locks)
}

// lockOrderKeys takes, on PostgreSQL, the locks of the keys b's
// transaction does not hold yet.
func (b *batchTx) lockOrderKeys(ctx context.Context, keys []string) error {
	if b.kind != Postgres {
		return nil
	}
	locks := b.newOrderLocks(keys)
	if len(locks) == 0 {
		return nil
	}
	if _, err := b.tx.ExecContext(ctx, lockOrderKeysStatement, locks); err != nil {
		return fmt.Errorf("lock order keys: %w", err)
	}
	return nil
}

// batchOrderKeys are the order keys that batch's mails' deliveries name
// and lock (those not KeyShared).
func batchOrderKeys(batch []*commitRequest) []string {
	var keys []string
	for _, r := range batch {
		for _, ev := range r.in.Events {
			for _, d := range ev.Deliveries {
				if d.OrderKey != "" && !d.KeyShared {
					keys = append(keys, d.OrderKey)
				}
			}
		}
	}
	return keys
}

// lockOrderKeyOf takes, on PostgreSQL, the lock of the order key of
// delivery id, which tx makes pending again: a delivery of that key
// stored beside it would not see it.
func (s *Store) lockOrderKeyOf(ctx context.Context, tx *sql.Tx, id int64) error {
	if s.kind != Postgres {
		return nil
	}
	var key string
	if err := tx.QueryRowContext(ctx, `SELECT order_key FROM delivery WHERE id = $1`, id).Scan(&key); err != nil {
		return fmt.Errorf("read order key: %w", err)
	}
	return newBatchTx(tx, s.kind).lockOrderKeys(ctx, []string{key})
}
