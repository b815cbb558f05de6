package app

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestBackpressure: while the database is locked, mails wait for their
// commit; past the backlog limit senders get 451 4.3.2 at once, and the
// mails that waited are stored when the lock goes.
func TestBackpressure(t *testing.T) {
	storeURL := testenv.SQLite(t)
	cfg := testConfig(t, storeURL, "")
	cfg.Store.MaxBacklog = 2
	cfg.Store.BatchMax = 1
	svc := start(t, cfg)

	locker, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(storeURL, "sqlite:")+"?_txlock=immediate&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	tx, err := locker.Begin()
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 8)
	for i := range 8 {
		go func() {
			o := order{MessageID: fmt.Sprintf("bp%d@qoo10.jp", i), Seller: "s", Pack: fmt.Sprint(i), OrderNo: fmt.Sprint(500 + i)}
			results <- sendPlain(svc.svc.SMTPAddr(), "orders@in.example.test", renderMail("placed", o))
		}()
	}
	busy := 0
	for busy < 5 {
		select {
		case err := <-results:
			var se *smtp.SMTPError
			if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 2}) {
				t.Fatalf("while the store was stuck: %v, want 451 4.3.2", err)
			}
			busy++
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d senders were told to come back later", busy)
		}
	}
	tx.Rollback()
	for range 3 {
		if err := <-results; err != nil {
			t.Errorf("a mail that waited for the commit: %v", err)
		}
	}
	var n int
	db := openSQLite(t, storeURL)
	if err := db.QueryRow(`SELECT count(*) FROM mail`).Scan(&n); err != nil || n != 3 {
		t.Errorf("%d mails stored (%v), want the 3 that got 250", n, err)
	}
}
