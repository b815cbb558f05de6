package main

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

// TestOlderBinaryRefusesNewerStore: the binary, started on a store that a
// newer release migrated, exits at once saying so, and leaves it as it was.
func TestOlderBinaryRefusesNewerStore(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			u, err := store.ParseURL(st.URL)
			if err != nil {
				t.Fatal(err)
			}
			s, err := store.Open(t.Context(), store.Options{URL: u})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			driver, dsn := "pgx", st.URL
			if path, ok := strings.CutPrefix(st.URL, "sqlite:"); ok {
				driver, dsn = "sqlite", "file:"+path
			}
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`INSERT INTO qoo10hook_migration (version, applied_at) VALUES (999, 0)`); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, "serve")
			cmd.Env = append(os.Environ(), "QOO10HOOK_STORE="+st.URL, "QOO10HOOK_SMTP_ADDR=127.0.0.1:0",
				"QOO10HOOK_HTTP_ADDR=127.0.0.1:0", "QOO10HOOK_CONFIG=")
			out, err := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
				t.Fatalf("serve exited %d (%v):\n%s", code, err, out)
			}
			if !strings.Contains(string(out), "newer than this qoo10hook knows") {
				t.Errorf("serve did not say why:\n%s", out)
			}
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM qoo10hook_migration WHERE version = 999`).Scan(&n); err != nil || n != 1 {
				t.Errorf("the store was changed: %d, %v", n, err)
			}
		})
	}
}
