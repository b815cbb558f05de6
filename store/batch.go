package store

import (
	"context"
	"database/sql"
)

// batchTx is the transaction of one group commit. It prepares each
// statement once per batch: preparing is a large share of SQLite's work
// for a small insert, and a batch repeats the same few statements.
type batchTx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func newBatchTx(tx *sql.Tx) *batchTx { return &batchTx{tx: tx, stmts: map[string]*sql.Stmt{}} }

func (b *batchTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := b.stmts[query]; ok {
		return st, nil
	}
	st, err := b.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	b.stmts[query] = st
	return st, nil
}

func (b *batchTx) exec(ctx context.Context, query string, args ...any) error {
	st, err := b.stmt(ctx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// scan runs a query returning one row into dest; sql.ErrNoRows when none.
func (b *batchTx) scan(ctx context.Context, query string, args []any, dest ...any) error {
	st, err := b.stmt(ctx, query)
	if err != nil {
		return err
	}
	return st.QueryRowContext(ctx, args...).Scan(dest...)
}

// close releases the prepared statements; the transaction is the caller's.
func (b *batchTx) close() {
	for _, st := range b.stmts {
		st.Close()
	}
}
