package store

import (
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

	completer, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer completer.Rollback()
	var completerPID int
	if err := completer.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&completerPID); err != nil {
		t.Fatal(err)
	}
	if _, err := completer.ExecContext(ctx, `UPDATE river_job SET state = 'cancelled', finalized_at = now() WHERE id = $1`, job); err != nil {
		t.Fatal(err)
	}

	retried := make(chan error, 1)
	go func() { retried <- s.RetryDelivery(ctx, d.ID) }()
	waitBlockedBy(t, s, completerPID, retried)
	if err := completer.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-retried; err != nil {
		t.Fatal(err)
	}
	if got := c.state(c.jobOf(d)); got != "available" {
		t.Errorf("after a retry that waited for River's completion the delivery's job is %s, want available", got)
	}
}

// waitBlockedBy returns once a session waits for a lock the session pid
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
