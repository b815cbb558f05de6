package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// EndpointState is what the store knows of an endpoint's health.
type EndpointState struct {
	Name                string    `json:"name"`
	Disabled            bool      `json:"disabled"`
	DisabledAt          time.Time `json:"disabled_at,omitzero"`
	DisabledReason      string    `json:"disabled_reason,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	CircuitOpenUntil    time.Time `json:"circuit_open_until,omitzero"`
}

// CircuitOpen reports whether the endpoint is paused by its breaker at t.
func (e EndpointState) CircuitOpen(t time.Time) bool {
	return !e.CircuitOpenUntil.IsZero() && t.Before(e.CircuitOpenUntil)
}

// EndpointStates returns the state of every endpoint that has one.
func (s *Store) EndpointStates(ctx context.Context) (map[string]EndpointState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, COALESCE(disabled_at, 0), disabled_reason, consecutive_failures,
		COALESCE(circuit_open_until, 0) FROM endpoint_state WHERE name <> ''`)
	if err != nil {
		return nil, fmt.Errorf("store: endpoint states: %w", err)
	}
	defer rows.Close()
	out := map[string]EndpointState{}
	for rows.Next() {
		var e EndpointState
		var disabled, open int64
		if err := rows.Scan(&e.Name, &disabled, &e.DisabledReason, &e.ConsecutiveFailures, &open); err != nil {
			return nil, err
		}
		if disabled != 0 {
			e.Disabled, e.DisabledAt = true, fromMicros(disabled)
		}
		if open != 0 {
			e.CircuitOpenUntil = fromMicros(open)
		}
		out[e.Name] = e
	}
	return out, rows.Err()
}

// DisableEndpoint stops deliveries to an endpoint until EnableEndpoint:
// its queue is paused, its deliveries keep waiting.
func (s *Store) DisableEndpoint(ctx context.Context, name, reason string) error {
	return s.endpointTx(ctx, name, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO endpoint_state (name, disabled_at, disabled_reason, updated_at)
			VALUES ($1, $2, $3, $2) ON CONFLICT (name) DO UPDATE SET disabled_at = $2, disabled_reason = $3, updated_at = $2`,
			name, now(), reason); err != nil {
			return err
		}
		return s.pauseQueue(ctx, tx, name)
	})
}

// EnableEndpoint resumes an endpoint's deliveries and resets its breaker.
// The deliveries that waited for it are due at once.
func (s *Store) EnableEndpoint(ctx context.Context, name string) error {
	return s.endpointTx(ctx, name, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO endpoint_state (name, updated_at) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET disabled_at = NULL, disabled_reason = '', circuit_open_until = NULL,
			consecutive_failures = 0, updated_at = $2`, name, now()); err != nil {
			return err
		}
		if err := s.resumeQueue(ctx, tx, name); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT job_id FROM delivery
			WHERE endpoint = $1 AND status = 'pending' AND job_id IS NOT NULL ORDER BY id`, name)
		if err != nil {
			return err
		}
		var jobs []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			jobs = append(jobs, id)
		}
		rows.Close()
		for _, id := range jobs {
			if _, err := s.retryJobTx(ctx, tx, id); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
				return err
			}
		}
		return nil
	})
}

// EndpointDisabled reads whether an endpoint is disabled now.
func (s *Store) EndpointDisabled(ctx context.Context, name string) (bool, error) {
	var disabled int64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(disabled_at, 0) FROM endpoint_state WHERE name = $1`, name).Scan(&disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return disabled != 0, err
}

// OpenCircuit pauses an endpoint that keeps failing until the given time.
func (s *Store) OpenCircuit(ctx context.Context, name string, until time.Time) error {
	return s.endpointTx(ctx, name, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE endpoint_state SET circuit_open_until = $1, updated_at = $2 WHERE name = $3`,
			until.UnixMicro(), now(), name); err != nil {
			return err
		}
		return s.pauseQueue(ctx, tx, name)
	})
}

// CloseDueCircuits resumes the endpoints whose breaker pause has ended
// (and that no operator disabled), returning their names. The breaker is
// then half-open: one more failure opens it again.
func (s *Store) CloseDueCircuits(ctx context.Context, at time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM endpoint_state
		WHERE circuit_open_until IS NOT NULL AND circuit_open_until <= $1 AND disabled_at IS NULL`, at.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("store: due circuits: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	for _, n := range names {
		err := s.endpointTx(ctx, n, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE endpoint_state SET circuit_open_until = NULL, updated_at = $1 WHERE name = $2`,
				now(), n); err != nil {
				return err
			}
			return s.resumeQueue(ctx, tx, n)
		})
		if err != nil {
			return names, err
		}
	}
	return names, nil
}

func (s *Store) endpointTx(ctx context.Context, name string, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: endpoint %s: %w", name, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return fmt.Errorf("store: endpoint %s: %w", name, err)
	}
	return tx.Commit()
}

// pauseQueue pauses the endpoint's River queue; a queue no instance has
// worked yet has no row, and a pause of it would fail, so it is created.
func (s *Store) pauseQueue(ctx context.Context, tx *sql.Tx, endpoint string) error {
	err := s.river.QueuePauseTx(ctx, tx, QueueName(endpoint), nil)
	if errors.Is(err, rivertype.ErrNotFound) {
		return nil
	}
	return err
}

func (s *Store) resumeQueue(ctx context.Context, tx *sql.Tx, endpoint string) error {
	err := s.river.QueueResumeTx(ctx, tx, QueueName(endpoint), nil)
	if errors.Is(err, rivertype.ErrNotFound) {
		return nil
	}
	return err
}
