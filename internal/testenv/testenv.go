// Package testenv gives tests the stores they run against: SQLite always, PostgreSQL when QOO10HOOK_TEST_POSTGRES is set.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// PostgresEnv names the variable holding the PostgreSQL URL tests use,
// e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const PostgresEnv = "QOO10HOOK_TEST_POSTGRES"

// Store is a store a test can run against.
type Store struct {
	Name string
	URL  string // as in QOO10HOOK_STORE
}

// Stores returns a fresh SQLite file and, when QOO10HOOK_TEST_POSTGRES is
// set, a fresh PostgreSQL schema. Without it, the PostgreSQL case is
// left out and counted: the package's TestMain (Main) reports the count.
func Stores(t testing.TB) []Store {
	t.Helper()
	out := []Store{{Name: "sqlite", URL: SQLite(t)}}
	if base := getenv(PostgresEnv); base != "" {
		out = append(out, Store{Name: "postgres", URL: Postgres(t)})
	} else {
		// Counted, and reported once for the run by Main.
		countSkipped()
	}
	return out
}

// SQLite returns a store URL for a new file in the test's directory.
func SQLite(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "store.db")
}

// Postgres returns a store URL for a new, empty schema that is dropped
// when the test ends. It skips the test when QOO10HOOK_TEST_POSTGRES is
// not set.
func Postgres(t testing.TB) string {
	t.Helper()
	schema := "t_" + randomName()
	u := createPostgres(t, "SCHEMA "+schema, "DROP SCHEMA "+schema+" CASCADE")
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresDatabase returns a store URL for a new, empty database that is
// dropped when the test ends: for a test whose advisory locks, which
// belong to a database whatever the schema, no other test may see. It
// skips the test when QOO10HOOK_TEST_POSTGRES is not set.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	name := "qoo10hook_t_" + randomName()
	u := createPostgres(t, "DATABASE "+name, "DROP DATABASE "+name+" WITH (FORCE)")
	u.Path = "/" + name
	return u.String()
}

// createPostgres creates what on the server of QOO10HOOK_TEST_POSTGRES,
// runs drop when the test ends, and returns the variable's URL. It skips
// the test when the variable is not set.
func createPostgres(t testing.TB, what, drop string) *url.URL {
	t.Helper()
	base := getenv(PostgresEnv)
	if base == "" {
		countSkipped()
		t.Skipf("set %s to run PostgreSQL tests", PostgresEnv)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), "CREATE "+what); err != nil {
		db.Close()
		t.Fatalf("create %s: %v", what, err)
	}
	t.Cleanup(func() {
		db.ExecContext(context.Background(), drop)
		db.Close()
	})
	return u
}

// randomName is 12 random hex digits, for names no other test takes.
func randomName() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// LockTable holds writers of table back from another connection until
// unlock (or the test's end): on SQLite by taking the store's write lock,
// on PostgreSQL by locking the table alone. A test can so see what the
// service does while its store hangs.
func LockTable(t testing.TB, storeURL, table string) (unlock func()) {
	t.Helper()
	path, isSQLite := strings.CutPrefix(storeURL, "sqlite:")
	var db *sql.DB
	var err error
	if isSQLite {
		db, err = sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=busy_timeout(5000)")
	} else {
		db, err = sql.Open("pgx", storeURL)
	}
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if !isSQLite {
		if _, err := tx.Exec(`LOCK TABLE ` + table + ` IN ACCESS EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			tx.Rollback()
			db.Close()
		})
	}
	t.Cleanup(unlock)
	return unlock
}
