package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrNotQuarantined is returned when releasing a mail that is not held.
var ErrNotQuarantined = errors.New("store: mail is not quarantined")

// ReleaseMail lets a quarantined mail go: its held deliveries (those of
// the events it carried, derived ones included) become pending with a
// River job each, and the mail takes the status it would have had
// without quarantine. All of it happens in one transaction. ref is the
// mail's id or its queue id; it returns the number of deliveries queued.
func (s *Store) ReleaseMail(ctx context.Context, ref string) (int, error) {
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
	return n, nil
}

func (s *Store) releaseTx(ctx context.Context, tx *sql.Tx, ref string) (int, error) {
	q := `SELECT id, status, event_type FROM mail WHERE `
	var arg any = ref
	if id, ok := numericID(ref); ok {
		q += `id = $1`
		arg = id
	} else {
		q += `queue_id = $1`
	}
	var id int64
	var status, eventType string
	err := tx.QueryRowContext(ctx, q, arg).Scan(&id, &status, &eventType)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	if status != MailQuarantined {
		return 0, fmt.Errorf("%w (it is %s)", ErrNotQuarantined, status)
	}

	rows, err := tx.QueryContext(ctx, `SELECT d.id, d.endpoint FROM delivery d JOIN event e ON e.id = d.event_id
		WHERE e.mail_id = $1 AND d.status = $2 ORDER BY d.id`, id, DeliveryHeld)
	if err != nil {
		return 0, err
	}
	var held []pendingJob
	for rows.Next() {
		var j pendingJob
		if err := rows.Scan(&j.deliveryID, &j.endpoint); err != nil {
			rows.Close()
			return 0, err
		}
		held = append(held, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	t := now()
	for _, j := range held {
		if _, err := tx.ExecContext(ctx, `UPDATE delivery SET status = $1, updated_at = $2 WHERE id = $3`,
			DeliveryPending, t, j.deliveryID); err != nil {
			return 0, err
		}
	}
	b := newBatchTx(tx, s.kind)
	if err := s.insertJobs(ctx, b, held); err != nil {
		return 0, err
	}

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
	if _, err := tx.ExecContext(ctx, `UPDATE mail SET status = $1 WHERE id = $2`, next, id); err != nil {
		return 0, err
	}
	return len(held), nil
}
