package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned for an id that names nothing.
var ErrNotFound = errors.New("store: not found")

// Delivery is one event's delivery to one endpoint.
type Delivery struct {
	ID        int64  `json:"id"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	Endpoint  string `json:"endpoint"`
	OrderKey  string `json:"order_key,omitempty"`
	// SecondKey is the order key the delivery follows besides its own
	// (NewDelivery).
	SecondKey     string    `json:"-"`
	Status        string    `json:"status"`
	Attempts      int       `json:"attempts"`
	RetryBase     int       `json:"-"`
	JobID         int64     `json:"job_id,omitempty"`
	LastStatus    int       `json:"last_status,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	ReceivedAt    time.Time `json:"received_at"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	DeliveredAt   time.Time `json:"delivered_at,omitzero"`
	// Payload is the event JSON; only DeliveryForWork and a Dispatcher's
	// deliveries have it.
	Payload []byte `json:"-"`
	// Follows are, for a Dispatcher, the deliveries handed over with this
	// one that it waits for.
	Follows []int64 `json:"-"`
	// Ordered is set, on PostgreSQL, on a delivery handed to a Dispatcher
	// that need not look again for an earlier pending delivery it follows
	// (WaitsForPredecessor): a new one whose commit saw every delivery it
	// can follow (it has no keys, or only an OrderKey whose lock the
	// transaction held before storing it, while every instance takes
	// those locks: lockOrderKeys), or one that a
	// predecessor's last attempt took (takeSuccessor), reading its
	// predecessors as it took it.
	Ordered bool `json:"-"`
}

// ScheduleIndex is the number of attempts made since the delivery was
// created or last retried by an operator.
func (d *Delivery) ScheduleIndex() int { return d.Attempts - d.RetryBase }

const deliveryColumns = `d.id, d.event_id, e.type, d.endpoint, d.order_key, d.order_key2, d.status, d.attempts, d.retry_base,
	COALESCE(d.job_id, 0), d.last_status, d.last_error, d.received_at, d.created_at, d.updated_at,
	COALESCE(d.next_attempt_at, 0), COALESCE(d.delivered_at, 0)`

type scanner interface{ Scan(...any) error }

func scanDelivery(row scanner, extra ...any) (*Delivery, error) {
	var d Delivery
	var received, created, updated, next, delivered int64
	dest := append([]any{&d.ID, &d.EventID, &d.EventType, &d.Endpoint, &d.OrderKey, &d.SecondKey, &d.Status, &d.Attempts,
		&d.RetryBase, &d.JobID, &d.LastStatus, &d.LastError, &received, &created, &updated, &next, &delivered}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	d.ReceivedAt, d.CreatedAt, d.UpdatedAt = fromMicros(received), fromMicros(created), fromMicros(updated)
	if next != 0 {
		d.NextAttemptAt = fromMicros(next)
	}
	if delivered != 0 {
		d.DeliveredAt = fromMicros(delivered)
	}
	return &d, nil
}

// predecessorLookups finds, for delivery d, the first earlier pending
// delivery at its endpoint that d waits for: one of its own order key, one
// of the key it follows (its second key), or another follower of that key,
// so that followers keep their order among themselves. Three lookups the
// partial indexes on pending deliveries answer, rather than one OR that
// would scan every pending delivery.
const predecessorLookups = `
	SELECT (SELECT min(id) FROM delivery WHERE endpoint = d.endpoint AND status = 'pending' AND id < d.id
		AND d.order_key <> '' AND order_key = d.order_key) AS id
	UNION ALL SELECT (SELECT min(id) FROM delivery WHERE endpoint = d.endpoint AND status = 'pending' AND id < d.id
		AND d.order_key2 <> '' AND order_key = d.order_key2)
	UNION ALL SELECT (SELECT min(id) FROM delivery WHERE endpoint = d.endpoint AND status = 'pending' AND id < d.id
		AND d.order_key2 <> '' AND order_key2 <> '' AND order_key2 = d.order_key2)`

// DeliveryForWork loads a delivery with its payload, for an attempt, and
// tells whether an earlier delivery with the same endpoint and order key is
// still pending, and when that one is next due: d must wait for it so that
// one cart's events arrive in the order their mails came.
func (s *Store) DeliveryForWork(ctx context.Context, id int64) (d *Delivery, predecessorDue time.Time, blocked bool, err error) {
	var payload []byte
	var pred sql.NullInt64
	// From the readers: the workers of every endpoint ask this at once,
	// and on SQLite the writer's one connection is for writes. A parked
	// delivery's check is made again under the writer (ParkDelivery).
	d, err = scanDelivery(s.read.QueryRowContext(ctx, `SELECT `+deliveryColumns+`, e.payload,
(SELECT COALESCE(p.next_attempt_at, 0) FROM delivery p WHERE p.id = (SELECT min(m.id) FROM (`+predecessorLookups+`) m))
		FROM delivery d JOIN event e ON e.id = d.event_id WHERE d.id = $1`, id), &payload, &pred)
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("store: delivery %d: %w", id, err)
	}
	d.Payload = payload
	switch {
	case !pred.Valid:
		return d, time.Time{}, false, nil
	case pred.Int64 == 0:
		return d, time.Now(), true, nil
	default:
		return d, fromMicros(pred.Int64), true, nil
	}
}

// Attempt is one HTTP attempt of a delivery.
type Attempt struct {
	Number     int           `json:"attempt"`
	StartedAt  time.Time     `json:"started_at"`
	Duration   time.Duration `json:"duration_ns"`
	StatusCode int           `json:"status_code,omitempty"`
	Error      string        `json:"error,omitempty"`
	// Response is the start of the response body, for operators.
	Response string `json:"response,omitempty"`
}

// Outcome is the state a delivery moves to after an attempt.
type Outcome struct {
	Status        string
	NextAttemptAt time.Time // for DeliveryPending
	// KeepSchedule records the attempt without moving the delivery along
	// its retry schedule (the endpoint said 410 and is disabled: the
	// delivery waits for it, with all its retries left).
	KeepSchedule bool
}
