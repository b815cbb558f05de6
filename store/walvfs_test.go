package store

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// openWAL opens the SQLite file path as the store does, one connection:
// a writer through the gathering VFS, in WAL mode with synchronous=FULL,
// or a reader.
func openWAL(t *testing.T, path string, readOnly bool) *sql.DB {
	t.Helper()
	dsn := sqliteDSN(path, readOnly)
	if !readOnly && !strings.Contains(dsn, "vfs="+walVFSName) {
		t.Fatalf("the store's DSN does not name the WAL VFS: %s", dsn)
	}
	db, err := openSQLite(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestWALWritesACommitTogether(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	db := openWAL(t, path, false)
	if _, err := db.Exec(`CREATE TABLE page (id INTEGER PRIMARY KEY, body BLOB)`); err != nil {
		t.Fatal(err)
	}
	writes, flushes := walWrites.Load(), walFlushes.Load()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 3000) // a page each
	for i := range 200 {
		body[0] = byte(i)
		if _, err := tx.Exec(`INSERT INTO page (id, body) VALUES (?, ?)`, i, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	writes, flushes = walWrites.Load()-writes, walFlushes.Load()-flushes
	// 200 pages and more are 400 writes of a header or a page; gathered 31
	// frames at a time they are about 7 system calls.
	if writes < 400 || flushes > writes/20 {
		t.Errorf("a commit of 200 pages asked for %d WAL writes and made %d system calls; want at least 400 gathered into at most a twentieth", writes, flushes)
	}

	var n int
	if err := openWAL(t, path, true).QueryRow(`SELECT count(*) FROM page`).Scan(&n); err != nil || n != 200 {
		t.Errorf("another connection reads %d rows, %v; want 200", n, err)
	}
}

// Every commit reaches the WAL file before it is visible: another
// connection reads each one at once, and a copy of the files taken while
// the database is still open (as a crash would leave them) holds every
// commit, read with SQLite's own VFS.
func TestWALCommitsReachTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.db")
	db := openWAL(t, path, false)
	read := openWAL(t, path, true)
	if _, err := db.Exec(`CREATE TABLE counter (n INTEGER NOT NULL, body BLOB)`); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 5000) // an overflow page: two frames and more per commit
	for i := 1; i <= 300; i++ {
		if _, err := db.Exec(`INSERT INTO counter (n, body) VALUES (?, ?)`, i, body); err != nil {
			t.Fatal(err)
		}
		var last int
		if err := read.QueryRow(`SELECT max(n) FROM counter`).Scan(&last); err != nil || last != i {
			t.Fatalf("after commit %d another connection reads %d, %v", i, last, err)
		}
	}

	copyDir := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		if err := copyFile(path+suffix, filepath.Join(copyDir, "store.db"+suffix)); err != nil {
			t.Fatal(err)
		}
	}
	plain, err := sql.Open("sqlite", "file:"+filepath.Join(copyDir, "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var n, last int
	var check string
	if err := plain.QueryRow(`SELECT count(*), max(n) FROM counter`).Scan(&n, &last); err != nil || n != 300 || last != 300 {
		t.Errorf("the files copied after 300 commits hold %d rows up to %d, %v; want 300", n, last, err)
	}
	if err := plain.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check of the copy: %q, %v", check, err)
	}
}
