package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations
var migrationFS embed.FS

// migrationLock is the PostgreSQL advisory lock that makes one instance
// migrate while the others wait, so N instances can start together.
const migrationLock = 0x71303130 // "q010"

// migrate applies River's migrations, then ours, each at most once.
func (s *Store) migrate(ctx context.Context, driver riverdriver.Driver[*sql.Tx]) error {
	var unlock func()
	if s.kind == Postgres {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("store: migrate: lock: %w", err)
		}
		unlock = func() { conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) }
		defer unlock()
	}

	// Before anything is migrated: a binary older than its store must
	// not touch it.
	if err := s.createMigrationTable(ctx); err != nil {
		return err
	}
	recorded, err := recordedVersions(ctx, s.db)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if err := checkSchema(KnownVersions(), recorded); err != nil {
		return err
	}

	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return fmt.Errorf("store: migrate river: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("store: migrate river: %w", err)
	}
	return s.migrateOwn(ctx)
}

// createMigrationTable makes the table that records which schema
// versions the store has applied.
func (s *Store) createMigrationTable(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS qoo10hook_migration (
		version    INTEGER PRIMARY KEY,
		applied_at BIGINT  NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

func (s *Store) migrateOwn(ctx context.Context) error {
	dir := "migrations"
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		version, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("store: migrate: bad file name %s", e.Name())
		}
		body, err := migrationFS.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		if err := s.applyMigration(ctx, version, forDialect(s.kind, string(body))); err != nil {
			return fmt.Errorf("store: migrate %s: %w", e.Name(), err)
		}
	}
	return nil
}

// The migrations are written in SQLite's dialect; PostgreSQL differs only
// in its auto-incrementing keys and its binary type. A migration that
// begins with postgresOnly changes nothing on SQLite, where its version
// is recorded all the same.
const postgresOnly = "-- PostgreSQL only"

var (
	rowidKey = regexp.MustCompile(`\bINTEGER PRIMARY KEY\b`)
	blobType = regexp.MustCompile(`\bBLOB\b`)
)

func forDialect(kind Kind, body string) string {
	if kind != Postgres {
		if strings.HasPrefix(body, postgresOnly) {
			return ""
		}
		return body
	}
	body = rowidKey.ReplaceAllString(body, "BIGSERIAL PRIMARY KEY")
	return blobType.ReplaceAllString(body, "BYTEA")
}

func (s *Store) applyMigration(ctx context.Context, version int, body string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM qoo10hook_migration WHERE version = $1`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if body != "" {
		if _, err := tx.ExecContext(ctx, body); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO qoo10hook_migration (version, applied_at) VALUES ($1, $2)`, version, now()); err != nil {
		return err
	}
	return tx.Commit()
}
