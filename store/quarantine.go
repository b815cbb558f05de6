package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrNotQuarantined is returned when releasing a mail that is not held.
var ErrNotQuarantined = errors.New("store: mail is not quarantined")

// ReleaseMail lets a quarantined mail go: its held deliveries become
// pending with a River job each, the events derived from its events
// (inventory adjustments, which a held mail does not make) are derived
// now and queued too, and the mail takes the status it would have had
// without quarantine. All of it happens in one transaction. ref is the
// mail's id or its queue id; it returns the number of deliveries queued.
func (s *Store) ReleaseMail(ctx context.Context, ref string) (int, error) {
	hooks := &afterCommit{}
	ctx = context.WithValue(ctx, afterCommitKey{}, hooks)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: release %s: %w", ref, err)
	}
	defer tx.Rollback()
	n, err := s.releaseTx(ctx, tx, ref)
	if err != nil {
		return 0, fmt.Errorf("store: release %s: %w", ref, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: release %s: %w", ref, err)
	}
	for _, f := range hooks.funcs {
		f()
	}
	return n, nil
}

func (s *Store) releaseTx(ctx context.Context, tx *sql.Tx, ref string) (int, error) {
	q := `SELECT id, status, event_type, received_at, problems FROM mail WHERE `
	var arg any = ref
	if id, ok := numericID(ref); ok {
		q += `id = $1`
		arg = id
	} else {
		q += `queue_id = $1`
	}
	var id, received int64
	var status, eventType, problems string
	err := tx.QueryRowContext(ctx, q, arg).Scan(&id, &status, &eventType, &received, &problems)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	if status != MailQuarantined {
		return 0, fmt.Errorf("%w (it is %s)", ErrNotQuarantined, status)
	}

	rows, err := tx.QueryContext(ctx, `SELECT d.id, d.endpoint, d.order_key, d.order_key2 FROM delivery d JOIN event e ON e.id = d.event_id
		WHERE e.mail_id = $1 AND d.status = $2 ORDER BY d.id`, id, DeliveryHeld)
	if err != nil {
		return 0, err
	}
	var held []pendingJob
	for rows.Next() {
		var j pendingJob
		if err := rows.Scan(&j.deliveryID, &j.endpoint, &j.orderKey, &j.secondKey); err != nil {
			rows.Close()
			return 0, err
		}
		held = append(held, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	b := newBatchTx(tx, s.kind)
	keys := make([]string, len(held))
	for i, j := range held {
		keys[i] = j.orderKey
	}
	if err := b.lockOrderKeys(ctx, keys); err != nil {
		return 0, err
	}
	t := now()
	for _, j := range held {
		if _, err := tx.ExecContext(ctx, `UPDATE delivery SET status = $1, updated_at = $2 WHERE id = $3`,
			DeliveryPending, t, j.deliveryID); err != nil {
			return 0, err
		}
	}
	derived, err := s.deriveReleased(ctx, b, id, fromMicros(received))
	if err != nil {
		return 0, err
	}
	held = append(held, derived...)

	next := MailParsed
	switch {
	case eventType == "mail.unrecognized":
		next = MailUnrecognized
	case eventType != "" && len(held) == 0:
		// Every event it carried was known already: nothing to deliver.
		var own int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM event WHERE mail_id = $1`, id).Scan(&own); err != nil {
			return 0, err
		}
		if own == 0 {
			next = MailDuplicateEvent
		}
	}
	if next == MailParsed && problems != "" {
		next = MailPartial
	}
	if _, err := tx.ExecContext(ctx, `UPDATE mail SET status = $1 WHERE id = $2`, next, id); err != nil {
		return 0, err
	}
	// Last: on PostgreSQL it may take the chain locks (parkedBehind).
	if err := s.insertJobs(ctx, b, held); err != nil {
		return 0, err
	}
	return len(held), nil
}

// deriveReleased derives, as ingest would have, from the events a
// released mail carried (their deliveries included: a derived delivery
// keeps the order of its source's cart), and returns the jobs of the
// derived deliveries.
func (s *Store) deriveReleased(ctx context.Context, b *batchTx, mailID int64, received time.Time) ([]pendingJob, error) {
	if s.derive == nil {
		return nil, nil
	}
	rows, err := b.tx.QueryContext(ctx, `SELECT id, type, tenant, seller_id, pack_no, created_at, payload
		FROM event WHERE mail_id = $1 AND id NOT IN (SELECT old_id FROM event_supersede WHERE mail_id = $1)
		ORDER BY id`, mailID)
	if err != nil {
		return nil, err
	}
	var evs []Event
	for rows.Next() {
		var ev Event
		var created int64
		if err := rows.Scan(&ev.ID, &ev.Type, &ev.Tenant, &ev.SellerID, &ev.PackNo, &created, &ev.Payload); err != nil {
			rows.Close()
			return nil, err
		}
		ev.CreatedAt = fromMicros(created)
		evs = append(evs, ev)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var jobs []pendingJob
	var rc Receipt
	for i := range evs {
		ev := &evs[i]
		if ev.Deliveries, err = eventDeliveries(ctx, b.tx, ev.ID); err != nil {
			return nil, err
		}
		dJobs, err := s.deriveFrom(ctx, b, mailID, received, ev, DeliveryPending, &rc)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, dJobs...)
	}
	return jobs, nil
}

// eventDeliveries are an event's deliveries as it was stored with them.
func eventDeliveries(ctx context.Context, tx *sql.Tx, eventID string) ([]NewDelivery, error) {
	rows, err := tx.QueryContext(ctx, `SELECT endpoint, order_key, order_key2 FROM delivery WHERE event_id = $1 ORDER BY id`, eventID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []NewDelivery
	for rows.Next() {
		var d NewDelivery
		if err := rows.Scan(&d.Endpoint, &d.OrderKey, &d.SecondKey); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
