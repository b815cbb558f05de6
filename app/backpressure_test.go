package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
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

// TestStalledStore: once a commit has hung for longer than the store's
// stall limit, new mails get 451 4.3.2 at once (the backlog is far from
// full), and the mail whose commit hung is stored when the store recovers.
func TestStalledStore(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			cfg := testConfig(t, st.URL, "")
			svc := start(t, cfg)
			// Once the first mail's commit has waited past the stall limit,
			// a new sender is told at once to come back later.
			unlock, first := stallStore(t, svc, st.URL, "stall0@qoo10.jp")
			o := order{MessageID: "stall1@qoo10.jp", Seller: "s", Pack: "2", OrderNo: "901"}
			sent := time.Now()
			err := sendPlain(svc.svc.SMTPAddr(), "orders@in.example.test", renderMail("placed", o))
			var se *smtp.SMTPError
			if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 2}) {
				t.Errorf("a mail sent to the stalled store: %v, want 451 4.3.2", err)
			}
			if waited := time.Since(sent); waited > time.Second {
				t.Errorf("the answer took %v: the sender waited on the stalled store", waited)
			}
			unlock()
			if err := <-first; err != nil {
				t.Fatalf("the mail whose commit waited: %v", err)
			}
			ms, err := svc.svc.Store().ListMails(context.Background(), store.MailFilter{OrderNo: "900", Limit: 10})
			if err != nil || len(ms) != 1 || ms[0].MessageID != "stall0@qoo10.jp" {
				t.Fatalf("the mail that got 250: %d stored (%v), want it alone", len(ms), err)
			}
		})
	}
}

// stallStore stalls the store: it takes the mail table's lock, sends the
// mail messageID (order 900), whose commit waits on the lock, and returns
// once the store says that commit has waited past its stall limit.
// The mail's SMTP result comes on first once unlock is called.
func stallStore(t *testing.T, svc *running, storeURL, messageID string) (unlock func(), first <-chan error) {
	t.Helper()
	unlock = testenv.LockTable(t, storeURL, "mail")
	sent := make(chan error, 1)
	go func() {
		o := order{MessageID: messageID, Seller: "s", Pack: "1", OrderNo: "900"}
		sent <- sendPlain(svc.svc.SMTPAddr(), "orders@in.example.test", renderMail("placed", o))
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !svc.svc.Store().Stalled() {
		if time.Now().After(deadline) {
			t.Fatal("the store did not stall behind the locked table within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return unlock, sent
}
