package store

import (
	"database/sql"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestRetryAsRiverFinishesTheJob: on PostgreSQL an operator's retry may
// reach a dead delivery's job while River's completer is still marking it
// cancelled. The retry waits for that row; once it has it, the job must
// run again, not stay cancelled because the retry's first look predates
// the completion.
func TestRetryAsRiverFinishesTheJob(t *testing.T) {
	s := open(t, testenv.Postgres(t), Options{})
	ctx := t.Context()
	c := &chainFixture{t: t, s: s}
	d, job := c.add(1)
	if _, err := s.RecordAttempt(ctx, d, Attempt{Number: 1, StartedAt: time.Now(), StatusCode: 500},
		Outcome{Status: DeliveryDead}); err != nil {
		t.Fatal(err)
	}

	completer := beginHeld(t, s)
	if _, err := completer.ExecContext(ctx, `UPDATE river_job SET state = 'cancelled', finalized_at = now() WHERE id = $1`, job); err != nil {
		t.Fatal(err)
	}

	if err := completer.commitOnceWaited(t, s, func() error { return s.RetryDelivery(ctx, d.ID) }); err != nil {
		t.Fatal(err)
	}
	if got := c.state(c.jobOf(d)); got != "available" {
		t.Errorf("after a retry that waited for River's completion the delivery's job is %s, want available", got)
	}
}

// heldTx is a PostgreSQL transaction that stands in for another
// session's (River's producer or completer, an attempt's) and holds its
// locks until it commits; it is rolled back when the test ends otherwise.
type heldTx struct {
	*sql.Tx
	pid int
}

func beginHeld(t *testing.T, s *Store) *heldTx {
	t.Helper()
	tx, err := s.db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	h := &heldTx{Tx: tx}
	if err := tx.QueryRowContext(t.Context(), `SELECT pg_backend_pid()`).Scan(&h.pid); err != nil {
		t.Fatal(err)
	}
	return h
}

// commitOnceWaited runs f, which must come to wait for a lock h holds;
// once it waits, h commits. It returns f's error.
func (h *heldTx) commitOnceWaited(t *testing.T, s *Store, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	waitBlockedBy(t, s, h.pid, done)
	if err := h.Commit(); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// waitBlockedBy returns oncea session waits for a lock the session pid
// holds, and fails the test if done reports first.
func waitBlockedBy(t *testing.T, s *Store, pid int, done <-chan error) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var waiting int
		if err := s.db.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE $1 = ANY(pg_blocking_pids(pid))`, pid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("finished (%v) without waiting for the lock", err)
		case <-tick.C:
		}
	}
}
