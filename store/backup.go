package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrNotSQLite is returned by Backup and Restore for a PostgreSQL store:
// back it up with pg_dump (docs/data-lifetime.md).
var ErrNotSQLite = errors.New("store: backup and restore work on a SQLite store; back PostgreSQL up with pg_dump of its schema (see docs/data-lifetime.md)")

// Backup writes a consistent copy of the SQLite store at u to dest, while
// the service runs: VACUUM INTO reads one snapshot, as any reader does,
// and holds no lock mail commits wait for. dest must not exist.
func Backup(ctx context.Context, u URL, dest string) error {
	if u.Kind != SQLite {
		return ErrNotSQLite
	}
	if _, err := os.Stat(u.Path); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	// Made empty first, readable by its owner alone: it holds buyer data.
	// VACUUM INTO writes into an empty file.
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("store: backup: %s exists: name a new file", dest)
	}
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	f.Close()
	db, err := sql.Open("sqlite", "file:"+u.Path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO $1`, dest); err != nil {
		os.Remove(dest)
		return fmt.Errorf("store: backup: %w", err)
	}
	return syncFile(dest)
}

// BackupInfo is what CheckBackup found in a backup.
type BackupInfo struct {
	Path          string    `json:"path"`
	Bytes         int64     `json:"bytes"`
	SchemaVersion int       `json:"schema_version"`
	Pending       []int     `json:"pending_versions,omitempty"` // known to this binary, applied when the service opens it
	Mails         int64     `json:"mails"`
	PurgedMails   int64     `json:"purged_mails"`
	Events        int64     `json:"events"`
	Deliveries    int64     `json:"deliveries"`
	Unfinished    int64     `json:"unfinished_deliveries"` // pending or held: the service delivers them after a restore
	LastMail      time.Time `json:"last_mail_received_at,omitzero"`
}

// CheckBackup checks a SQLite backup without changing it: its integrity,
// its schema (not newer than this binary) and what it holds.
func CheckBackup(ctx context.Context, path string) (*BackupInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store: check backup: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		return nil, fmt.Errorf("store: check backup: %w", err)
	}
	defer db.Close()
	var verdict string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check(1)`).Scan(&verdict); err != nil {
		return nil, fmt.Errorf("store: check backup: %s is not a SQLite database: %w", path, err)
	}
	if verdict != "ok" {
		return nil, fmt.Errorf("store: check backup: %s is damaged: %s", path, verdict)
	}
	versions, err := recordedVersions(ctx, db)
	if err != nil || len(versions) == 0 {
		return nil, fmt.Errorf("store: check backup: %s is not a qoo10hook store (no schema version): %v", path, err)
	}
	if err := checkSchema(KnownVersions(), versions); err != nil {
		return nil, err
	}
	info := &BackupInfo{Path: path, Bytes: fi.Size(), SchemaVersion: slices.Max(versions)}
	for _, v := range KnownVersions() {
		if !slices.Contains(versions, v) {
			info.Pending = append(info.Pending, v)
		}
	}
	var last int64
	for q, dst := range map[string]*int64{
		`SELECT count(*) FROM mail`:                                         &info.Mails,
		`SELECT count(*) FROM mail WHERE purged_at IS NOT NULL`:             &info.PurgedMails,
		`SELECT count(*) FROM event`:                                        &info.Events,
		`SELECT count(*) FROM delivery`:                                     &info.Deliveries,
		`SELECT count(*) FROM delivery WHERE status IN ('pending', 'held')`: &info.Unfinished,
		`SELECT COALESCE(max(received_at), 0) FROM mail`:                    &last,
	} {
		if err := db.QueryRowContext(ctx, q).Scan(dst); err != nil {
			return nil, fmt.Errorf("store: check backup: %w", err)
		}
	}
	if last != 0 {
		info.LastMail = fromMicros(last)
	}
	return info, nil
}

// Restore checks the backup at src and puts a copy of it where the store
// at u lives, for the service to open. The service must be stopped. An
// existing store is refused unless replace is set; then it is kept, with
// its WAL, under the name it returns.
func Restore(ctx context.Context, src string, u URL, replace bool) (info *BackupInfo, kept string, err error) {
	if u.Kind != SQLite {
		return nil, "", ErrNotSQLite
	}
	if info, err = CheckBackup(ctx, src); err != nil {
		return nil, "", err
	}
	if _, err := os.Stat(u.Path); err == nil {
		if !replace {
			return info, "", fmt.Errorf("store: restore: the store %s exists: stop the service and pass --replace"+
				" (the current store is kept beside it)", u.Path)
		}
		kept = u.Path + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(u.Path+suffix, kept+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return info, "", fmt.Errorf("store: restore: keep the current store: %w", err)
			}
		}
	}
	if err := copyFile(src, u.Path); err != nil {
		return info, kept, fmt.Errorf("store: restore: %w", err)
	}
	return info, kept, nil
}

// copyFile copies src to dst through a temporary file, synced and renamed
// into place.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	tmp := dst + ".restoring"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return syncFile(filepath.Dir(dst))
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !strings.Contains(err.Error(), "invalid argument") {
		return err
	}
	return nil
}
