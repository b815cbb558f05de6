package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Tx runs fn in a write transaction and commits it when fn returns nil;
// any error, or a panic, rolls everything fn wrote back. It is for
// packages that keep their own tables next to the mail (the inventory's
// catalog import), so that what they write is all or nothing.
//
// On SQLite the store has one writing connection: fn must use only tx,
// and should not hold it long, as mail commits wait for it.
func (s *Store) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// View runs fn in a read-only transaction on the readers' pool: it sees
// one consistent snapshot and never waits for, nor delays, mail commits
// on SQLite.
func (s *Store) View(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}
