package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// DeliveryFilter selects deliveries for operators. Zero fields match all.
type DeliveryFilter struct {
	// Status is one status, or several separated by commas
	// ("failed,dead": the deliveries that need an operator).
	Status   string
	Endpoint string
	EventID  string
	// BeforeID pages backwards: only deliveries with a smaller id.
	BeforeID int64
	Limit    int
}

// ListDeliveries returns deliveries, newest first.
func (s *Store) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Status != "" {
		var in []string
		for _, st := range strings.Split(f.Status, ",") {
			args = append(args, strings.TrimSpace(st))
			in = append(in, fmt.Sprintf("$%d", len(args)))
		}
		where = append(where, "d.status IN ("+strings.Join(in, ", ")+")")
	}
	if f.Endpoint != "" {
		add("d.endpoint = $%d", f.Endpoint)
	}
	if f.EventID != "" {
		add("d.event_id = $%d", f.EventID)
	}
	if f.BeforeID > 0 {
		add("d.id < $%d", f.BeforeID)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q := `SELECT ` + deliveryColumns + ` FROM delivery d JOIN event e ON e.id = d.event_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY d.id DESC LIMIT %d", f.Limit)
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list deliveries: %w", err)
	}
	defer rows.Close()
	var out []*Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// GetDelivery returns one delivery and its attempts, oldest first.
func (s *Store) GetDelivery(ctx context.Context, id int64) (*Delivery, []Attempt, error) {
	d, err := scanDelivery(s.read.QueryRowContext(ctx, `SELECT `+deliveryColumns+`
		FROM delivery d JOIN event e ON e.id = d.event_id WHERE d.id = $1`, id))
	if err != nil {
		return nil, nil, fmt.Errorf("store: delivery %d: %w", id, err)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT attempt, started_at, duration_us, status_code, error, response
		FROM delivery_attempt WHERE delivery_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, nil, fmt.Errorf("store: attempts of %d: %w", id, err)
	}
	defer rows.Close()
	var attempts []Attempt
	for rows.Next() {
		var a Attempt
		var started, dur int64
		if err := rows.Scan(&a.Number, &started, &dur, &a.StatusCode, &a.Error, &a.Response); err != nil {
			return nil, nil, err
		}
		a.StartedAt, a.Duration = fromMicros(started), microsDuration(dur)
		attempts = append(attempts, a)
	}
	return d, attempts, rows.Err()
}

// EventPayload returns the JSON of an event.
func (s *Store) EventPayload(ctx context.Context, id string) ([]byte, error) {
	var p []byte
	err := s.read.QueryRowContext(ctx, `SELECT payload FROM event WHERE id = $1`, id).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: event %s: %w", id, ErrNotFound)
	}
	return p, err
}

// ErrNotRetryable is returned when retrying a delivery that is delivered,
// or held in quarantine.
var ErrNotRetryable = errors.New("store: delivery is not failed, dead or pending")

// RetryDelivery makes a failed, dead or pending delivery due now, with its
// retry schedule started over.
func (s *Store) RetryDelivery(ctx context.Context, id int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: retry %d: %w", id, err)
	}
	defer tx.Rollback()
	if err := s.retryTx(ctx, tx, id); err != nil {
		return fmt.Errorf("store: retry %d: %w", id, err)
	}
	return tx.Commit()
}

// RetryAllFailed retries every failed and dead delivery (of one endpoint,
// if endpoint is not empty) and returns how many.
func (s *Store) RetryAllFailed(ctx context.Context, endpoint string) (int, error) {
	q := `SELECT id FROM delivery WHERE status IN ('failed', 'dead')`
	var args []any
	if endpoint != "" {
		q += ` AND endpoint = $1`
		args = append(args, endpoint)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return 0, fmt.Errorf("store: retry all: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for n, id := range ids {
		if err := s.RetryDelivery(ctx, id); err != nil {
			return n, err
		}
	}
	return len(ids), nil
}

func (s *Store) retryTx(ctx context.Context, tx *sql.Tx, id int64) error {
	status, endpoint, jobID, err := s.deliveryState(ctx, tx, id)
	if err != nil {
		return err
	}
	switch status {
	case DeliveryFailed, DeliveryDead, DeliveryPending:
	default:
		return fmt.Errorf("%w (it is %s)", ErrNotRetryable, status)
	}
	return s.requeueTx(ctx, tx, id, status, endpoint, jobID)
}

// ErrNotResendable is returned when resending a delivery that is not
// delivered: retry it instead.
var ErrNotResendable = errors.New("store: delivery is not delivered (retry a failed, dead or pending one)")

// ResendDelivery delivers a delivered delivery's event again, under the
// same webhook-id, for a receiver that lost what it had received. The
// delivery becomes pending with its retry schedule started over, and the
// new attempt is recorded after the earlier ones.
func (s *Store) ResendDelivery(ctx context.Context, id int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: resend %d: %w", id, err)
	}
	defer tx.Rollback()
	status, endpoint, jobID, err := s.deliveryState(ctx, tx, id)
	if err == nil && status != DeliveryDelivered {
		err = fmt.Errorf("%w (it is %s)", ErrNotResendable, status)
	}
	if err == nil {
		err = s.requeueTx(ctx, tx, id, status, endpoint, jobID)
	}
	if err != nil {
		return fmt.Errorf("store: resend %d: %w", id, err)
	}
	return tx.Commit()
}

// deliveryState reads delivery id's status, endpoint and River job in tx.
func (s *Store) deliveryState(ctx context.Context, tx *sql.Tx, id int64) (status, endpoint string, jobID sql.NullInt64, err error) {
	// On PostgreSQL the row stays locked until tx ends: each caller goes on
	// to give the delivery a job if it has none, and two of them at once
	// (operators, instances' sweeps) must give it one.
	q := `SELECT status, endpoint, job_id FROM delivery WHERE id = $1`
	if s.kind == Postgres {
		q += ` FOR UPDATE`
	}
	err = tx.QueryRowContext(ctx, q, id).Scan(&status, &endpoint, &jobID)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	return status, endpoint, jobID, err
}

// requeueTx makes a delivery pending and due now, its retry schedule
// started over, and has River run its job again (or a new one).
func (s *Store) requeueTx(ctx context.Context, tx *sql.Tx, id int64, status, endpoint string, jobID sql.NullInt64) error {
	if err := s.lockOrderKeyOf(ctx, tx, id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE delivery SET status = 'pending', retry_base = attempts,
		next_attempt_at = NULL, updated_at = $1 WHERE id = $2`, now(), id); err != nil {
		return err
	}
	if jobID.Valid {
		job, err := s.retryJobTx(ctx, tx, jobID.Int64)
		switch {
		case err == nil && (job.State != rivertype.JobStateRunning || status == DeliveryPending):
			return nil
		case err == nil:
			// The job is still finishing the attempt that ended the
			// delivery: River leaves a running job alone and then marks
			// it completed or cancelled, so this needs a job of its own.
		case !errors.Is(err, rivertype.ErrNotFound):
			return err
		}
		// Or River removed the job after its retention period: queue anew.
	}
	_, err := s.queueTx(ctx, tx, id, endpoint, time.Time{})
	return err
}

// retryJobTx makes a job available to run again. On PostgreSQL River's
// retry looks at the job as its statement began, then waits for the row's
// lock: if River's completer held it, finishing the job, the retry saw it
// running, left it alone, and returns it as completed or cancelled. The
// row is now locked by tx and a second statement sees it as it is.
func (s *Store) retryJobTx(ctx context.Context, tx *sql.Tx, id int64) (*rivertype.JobRow, error) {
	job, err := s.river.JobRetryTx(ctx, tx, id)
	if err == nil && job.FinalizedAt != nil {
		job, err = s.river.JobRetryTx(ctx, tx, id)
	}
	return job, err
}

// queueTx inserts a River job for a delivery, due at the given time (the
// zero time: at once), makes it the delivery's job and returns its id.
func (s *Store) queueTx(ctx context.Context, tx *sql.Tx, id int64, endpoint string, at time.Time) (job int64, err error) {
	res, err := s.river.InsertTx(ctx, tx, DeliveryArgs{DeliveryID: id}, &river.InsertOpts{Queue: QueueName(endpoint), ScheduledAt: at})
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE delivery SET job_id = $1, parked = 0 WHERE id = $2`, res.Job.ID, id)
	return res.Job.ID, err
}
