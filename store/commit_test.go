package store

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestPostgresCommitsDoNotQueueBehindOne: on PostgreSQL a mail whose
// commit is held up (here by its deriver, as a lock held elsewhere would)
// does not hold up the mails after it, which commit on another writer
// meanwhile.
func TestPostgresCommitsDoNotQueueBehindOne(t *testing.T) {
	url := testenv.Postgres(t)
	inTx, release := make(chan struct{}), make(chan struct{})
	derive := func(ctx context.Context, tx *sql.Tx, ev *Event) ([]Event, error) {
		if ev.ID == "evt_held" {
			close(inTx)
			<-release
		}
		return nil, nil
	}
	s := open(t, url, Options{BatchMax: 1, Derive: derive})
	ctx := t.Context()
	ingest := func(n int, id string) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := s.Ingest(ctx, mail(n, id))
			done <- err
		}()
		return done
	}
	held := ingest(1, "evt_held")
	<-inTx
	select {
	case err := <-ingest(2, "evt_next"):
		if err != nil {
			t.Errorf("a mail behind one whose commit is held: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("a mail behind one whose commit is held waited for it")
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatalf("the held mail, once released: %v", err)
	}
	if n := count(t, s, `SELECT count(*) FROM mail`); n != 2 {
		t.Errorf("%d mails stored, want 2", n)
	}
}
