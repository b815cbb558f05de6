package store

import (
	"context"
	"database/sql"

	"fmt"
	"time"
)

// Template is a parse template stored through the admin API.
type Template struct {
	Name      string    `json:"name"`
	Type      string    `json:"type,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Body      string    `json:"body"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Templates returns the stored templates by name, and the version of the
// set: it moves on every change, on whichever instance.
func (s *Store) Templates(ctx context.Context) ([]Template, int64, error) {
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("store: templates: %w", err)
	}
	defer tx.Rollback()
	var version int64
	if err := tx.QueryRowContext(ctx, `SELECT version FROM parse_template_version`).Scan(&version); err != nil {
		return nil, 0, fmt.Errorf("store: templates: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT name, type, subject, body, updated_at FROM parse_template ORDER BY name`)
	if err != nil {
		return nil, 0, fmt.Errorf("store: templates: %w", err)
	}
	defer rows.Close()
	var out []Template
	for rows.Next() {
		var t Template
		var at int64
		if err := rows.Scan(&t.Name, &t.Type, &t.Subject, &t.Body, &at); err != nil {
			return nil, 0, fmt.Errorf("store: templates: %w", err)
		}
		t.UpdatedAt = fromMicros(at)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: templates: %w", err)
	}
	return out, version, nil
}

// TemplatesVersion returns the version of the stored templates, a cheap
// read to poll.
func (s *Store) TemplatesVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.read.QueryRowContext(ctx, `SELECT version FROM parse_template_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: templates version: %w", err)
	}
	return v, nil
}

// PutTemplate adds or replaces a template; created tells which.
func (s *Store) PutTemplate(ctx context.Context, t Template) (created bool, err error) {
	err = s.templateTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM parse_template WHERE name = $1`, t.Name).Scan(&n); err != nil {
			return err
		}
		created = n == 0
		_, err := tx.ExecContext(ctx, `INSERT INTO parse_template (name, type, subject, body, updated_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET type = excluded.type,
			subject = excluded.subject, body = excluded.body, updated_at = excluded.updated_at`,
			t.Name, t.Type, t.Subject, t.Body, now())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: put template %s: %w", t.Name, err)
	}
	return created, nil
}

// DeleteTemplate removes a stored template; ErrNotFound if there is none.
func (s *Store) DeleteTemplate(ctx context.Context, name string) error {
	err := s.templateTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM parse_template WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete template %s: %w", name, err)
	}
	return nil
}

// templateTx runs change and moves the version, in one transaction.
func (s *Store) templateTx(ctx context.Context, change func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The version row first: concurrent changes queue on its lock.
	if _, err := tx.ExecContext(ctx, `UPDATE parse_template_version SET version = version + 1`); err != nil {
		return err
	}
	if err := change(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return nil
}
