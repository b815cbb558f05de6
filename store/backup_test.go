package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestBackupCheckRestore: a backup of a running store checks out with its
// counts; restore refuses to overwrite a store unless told to, keeps the
// one it replaces, and the restored store opens with every mail.
func TestBackupCheckRestore(t *testing.T) {
	url := testenv.SQLite(t)
	s := open(t, url, Options{})
	for i := range 5 {
		if _, err := s.Ingest(t.Context(), buyerMail(i, "a@example.jp", "03-0000-0000", time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.db")
	u := testURL(t, url)
	if err := Backup(t.Context(), u, backup); err != nil {
		t.Fatal(err)
	}
	if err := Backup(t.Context(), u, backup); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second backup over the first: %v", err)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v, %v: it holds buyer data, for its owner alone", fi.Mode(), err)
	}
	info, err := CheckBackup(t.Context(), backup)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mails != 5 || info.Events != 5 || info.Deliveries != 5 || info.Unfinished != 5 || len(info.Pending) != 0 {
		t.Errorf("backup info %+v", info)
	}

	target := URL{Kind: SQLite, Path: filepath.Join(dir, "restored.db")}
	if _, _, err := Restore(t.Context(), backup, target, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Restore(t.Context(), backup, target, false); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Errorf("restore over a store: %v", err)
	}
	_, kept, err := Restore(t.Context(), backup, target, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("the replaced store was not kept: %v", err)
	}
	r := open(t, "sqlite:"+target.Path, Options{})
	if n := count(t, r, `SELECT count(*) FROM mail`); n != 5 {
		t.Errorf("restored store has %d mails", n)
	}

	if _, err := CheckBackup(t.Context(), url[len("sqlite:"):]+"-missing"); err == nil {
		t.Error("a missing file checked out")
	}
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not a database ", 500)), 0o600)
	if _, err := CheckBackup(t.Context(), junk); err == nil {
		t.Error("junk checked out")
	}
	if err := Backup(t.Context(), URL{Kind: Postgres}, backup+"2"); !errors.Is(err, ErrNotSQLite) {
		t.Errorf("backup of PostgreSQL: %v", err)
	}
}

// TestCheckBackupRefusesNewerSchema: a backup made by a newer release is
// refused by this one's check.
func TestCheckBackupRefusesNewerSchema(t *testing.T) {
	url := testenv.SQLite(t)
	s := open(t, url, Options{})
	if _, err := s.db.ExecContext(t.Context(), `INSERT INTO qoo10hook_migration (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	if err := Backup(t.Context(), testURL(t, url), backup); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckBackup(t.Context(), backup); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("CheckBackup = %v, want ErrSchemaTooNew", err)
	}
}
