package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/qoo10hook/qoo10hook/config"
)

// batchTx is the transaction of one group commit. On SQLite its
// statements come prepared from the connection's cache (see
// cachingConn); PostgreSQL's driver caches them per connection itself.
type batchTx struct {
	tx   *sql.Tx
	kind config.StoreKind
}

func newBatchTx(tx *sql.Tx, kind config.StoreKind) *batchTx { return &batchTx{tx: tx, kind: kind} }

func (b *batchTx) exec(ctx context.Context, query string, args ...any) error {
	_, err := b.tx.ExecContext(ctx, query, args...)
	return err
}

// insert runs an INSERT (which may end in ON CONFLICT DO NOTHING) and
// returns the new row's id, or inserted false when the conflict left the
// row out. SQLite answers with the last insert id, sparing the row
// machinery of RETURNING on the busiest statement of ingest.
func (b *batchTx) insert(ctx context.Context, query string, args ...any) (id int64, inserted bool, err error) {
	if b.kind == config.Postgres {
		err = b.tx.QueryRowContext(ctx, query+" RETURNING id", args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false, nil
		}
		return id, err == nil, err
	}
	res, err := b.tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return 0, false, err
	}
	id, err = res.LastInsertId()
	return id, err == nil, err
}

// insertNew runs an INSERT … ON CONFLICT DO NOTHING and reports whether
// the row went in.
func (b *batchTx) insertNew(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := b.tx.ExecContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
