package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// ErrSchemaTooNew is returned by Open when the store was migrated by a
// newer qoo10hook than this one: this binary would misread it, so it
// refuses to start rather than touch it.
var ErrSchemaTooNew = errors.New("store: schema newer than this binary")

// SchemaError tells which schema versions the store has that this binary
// does not know.
type SchemaError struct {
	Store   int   // the highest version the store records
	Binary  int   // the highest version this binary embeds
	Unknown []int // the store's versions this binary does not know
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("store: the store's schema is at version %d, newer than this qoo10hook knows (up to %d;"+
		" unknown versions %v): it was upgraded by a newer release. Run that release (or a later one),"+
		" or restore a backup taken before the upgrade", e.Store, e.Binary, e.Unknown)
}

// Is makes errors.Is(err, ErrSchemaTooNew) true.
func (e *SchemaError) Is(target error) bool { return target == ErrSchemaTooNew }

// KnownVersions lists the schema versions this binary embeds, in order.
// Versions may have gaps: each is applied once, whenever it appears.
func KnownVersions() []int {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		panic(err) // embedded at build time
	}
	var out []int
	for _, e := range entries {
		if v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0]); err == nil {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// checkSchema refuses a store that records a schema version this binary
// does not know: a newer release migrated it.
func checkSchema(known, recorded []int) error {
	var unknown []int
	for _, v := range recorded {
		if !slices.Contains(known, v) {
			unknown = append(unknown, v)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	return &SchemaError{Store: slices.Max(recorded), Binary: known[len(known)-1], Unknown: unknown}
}

// recordedVersions reads the schema versions the store has applied.
func recordedVersions(ctx context.Context, q querier) ([]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM qoo10hook_migration ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// SchemaVersion is the highest schema version the store has applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	vs, err := recordedVersions(ctx, s.read)
	if err != nil || len(vs) == 0 {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return vs[len(vs)-1], nil
}

// querier is what reads: a pool, a connection or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}
