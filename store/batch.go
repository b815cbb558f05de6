package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"unicode/utf8"
)

// batchTx is the transaction of one group commit. On SQLite its
// statements come prepared from the connection's cache (see
// cachingConn); PostgreSQL's driver caches them per connection itself.
type batchTx struct {
	tx   *sql.Tx
	kind Kind
	// conn is tx's connection where the caller has it (a group commit's),
	// for statements sent together as a pipeline on PostgreSQL.
	conn *sql.Conn
	// orderLocks are the order keys whose locks tx holds (lockOrderKeys).
	orderLocks map[string]bool
}

func newBatchTx(tx *sql.Tx, kind Kind) *batchTx { return &batchTx{tx: tx, kind: kind} }

func (b *batchTx) exec(ctx context.Context, query string, args ...any) error {
	_, err := b.tx.ExecContext(ctx, query, textArgs(args)...)
	return err
}

// textArgs makes every string argument fit a text column of either store:
// valid UTF-8 without NUL. PostgreSQL refuses both ("invalid byte
// sequence for encoding UTF8: 0x00") and SQLite's text functions stop at
// a NUL, so a mail with a NUL in its Subject or Message-ID would be
// refused on every try. The strings are what the mail said, for people and
// lookups; the raw bytes ([]byte arguments) stay as they came.
func textArgs(args []any) []any {
	for i, a := range args {
		if s, ok := a.(string); ok {
			if t := Text(s); len(t) != len(s) || t != s {
				args[i] = t
			}
		}
	}
	return args
}

// Text returns s as a text column keeps it: each NUL and each byte that
// is not UTF-8 becomes U+FFFD.
func Text(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// insert runs an INSERT (which may end in ON CONFLICT DO NOTHING) and
// returns the new row's id, or inserted false when the conflict left the
// row out. SQLite answers with the last insert id, sparing the row
// machinery of RETURNING on the busiest statement of ingest.
func (b *batchTx) insert(ctx context.Context, query string, args ...any) (id int64, inserted bool, err error) {
	args = textArgs(args)
	if b.kind == Postgres {
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
	res, err := b.tx.ExecContext(ctx, query, textArgs(args)...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
