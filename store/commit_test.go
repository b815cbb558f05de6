package store

import (
	"context"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestPostgresCommitsDoNotQueueBehindOne: on PostgreSQL a mail whose
// commit waits on a lock held elsewhere (here, another transaction's
// uncommitted row under the same dedup key) does not hold up the mails
// after it, which commit on another writer meanwhile.
func TestPostgresCommitsDoNotQueueBehindOne(t *testing.T) {
	s := open(t, testenv.Postgres(t), Options{BatchMax: 1})
	ctx := t.Context()
	holder, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, `INSERT INTO mail (queue_id, received_at, dedup_key, size, raw, status)
		VALUES ('held', 0, 'dedup-1', 0, '', 'parsed')`); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := s.Ingest(ctx, mail(1, ""))
		blocked <- err
	}()
	waitForLockWait(t, s)

	later, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.Ingest(later, mail(2, "")); err != nil {
		t.Fatalf("a mail behind one waiting on a lock: %v", err)
	}
	select {
	case err := <-blocked:
		t.Fatalf("the mail waiting on the lock finished before it was released: %v", err)
	default:
	}
	holder.Rollback()
	if err := <-blocked; err != nil {
		t.Fatalf("once the lock was released: %v", err)
	}
	if n := count(t, s, `SELECT count(*) FROM mail`); n != 2 {
		t.Errorf("%d mails stored, want 2", n)
	}
}

// waitForLockWait returns once a backend of the store's database waits on
// a lock.
func waitForLockWait(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for count(t, s, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE NOT l.granted AND a.datname = current_database()`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no commit came to wait on the held row")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
