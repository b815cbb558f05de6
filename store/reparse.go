package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Corrector returns the events derived from a re-parse that corrected
// event old into new (inventory adjustments of the difference), computed
// in the transaction that stores new, like a Deriver's.
type Corrector func(ctx context.Context, tx *sql.Tx, old, new *Event) ([]Event, error)

// Correctors chains correctors into one, as Derivers chains derivers.
func Correctors(cs ...Corrector) Corrector {
	return func(ctx context.Context, tx *sql.Tx, old, new *Event) ([]Event, error) {
		var out []Event
		for _, c := range cs {
			if c == nil {
				continue
			}
			evs, err := c(ctx, tx, old, new)
			if err != nil {
				return nil, err
			}
			out = append(out, evs...)
		}
		return out, nil
	}
}

// StoredMail is a mail as a re-parse reads it again.
type StoredMail struct {
	ID         int64
	QueueID    string
	ReceivedAt time.Time
	Rcpts      []string
	DedupKey   string
	Status     string
	Raw        []byte
	// Events are the mail's current events: those it stored, less those
	// a re-parse has since replaced; derived events are not among them.
	Events []Event
	// Replaced are the ids of the events re-parses replaced.
	Replaced []string
}

// MailsToReparse returns the mails f selects, oldest first, with their
// raw message and current events.
func (s *Store) MailsToReparse(ctx context.Context, f MailFilter) ([]*StoredMail, error) {
	list, err := s.ListMails(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]*StoredMail, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		m, err := s.storedMail(ctx, list[i].ID)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (s *Store) storedMail(ctx context.Context, id int64) (*StoredMail, error) {
	m := &StoredMail{ID: id}
	var received int64
	var rcpts string
	err := s.read.QueryRowContext(ctx, `SELECT queue_id, received_at, rcpt_to, dedup_key, status, raw
		FROM mail WHERE id = $1`, id).Scan(&m.QueueID, &received, &rcpts, &m.DedupKey, &m.Status, &m.Raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: mail %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: mail %d: %w", id, err)
	}
	m.ReceivedAt = fromMicros(received)
	if rcpts != "" {
		m.Rcpts = strings.Split(rcpts, ",")
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, type, tenant, seller_id, pack_no, created_at, payload
		FROM event WHERE mail_id = $1 AND type NOT LIKE 'inventory.%'
		AND id NOT IN (SELECT old_id FROM event_supersede WHERE mail_id = $1) ORDER BY created_at, id`, id)
	if err != nil {
		return nil, fmt.Errorf("store: events of mail %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Event
		var created int64
		if err := rows.Scan(&e.ID, &e.Type, &e.Tenant, &e.SellerID, &e.PackNo, &created, &e.Payload); err != nil {
			return nil, fmt.Errorf("store: events of mail %d: %w", id, err)
		}
		e.CreatedAt = fromMicros(created)
		m.Events = append(m.Events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events of mail %d: %w", id, err)
	}
	rows.Close()
	rows, err = s.read.QueryContext(ctx, `SELECT old_id FROM event_supersede WHERE mail_id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("store: replaced events of mail %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var old string
		if err := rows.Scan(&old); err != nil {
			return nil, fmt.Errorf("store: replaced events of mail %d: %w", id, err)
		}
		m.Replaced = append(m.Replaced, old)
	}
	return m, rows.Err()
}

// EventChange is one event a re-parse stores.
type EventChange struct {
	// Old is the mail's event that New takes the place of; nil for an
	// event the mail did not yield before.
	Old *Event
	// Supersede is set when New corrects Old (same type, other data):
	// the stock follows the difference. Otherwise New replaces Old
	// (another type), and derives as a new event does.
	Supersede bool
	New       Event
}

// Reparse is what re-reading one stored mail changes.
type Reparse struct {
	MailID int64
	// Mail carries the new parse columns: Status (before duplicates),
	// EventType, Template, Parser, Problems, SellerID and PackNo.
	Mail    Mail
	Hold    bool // the mail is quarantined: new deliveries are held
	Changes []EventChange
}

// ReparseReceipt tells what ApplyReparse did.
type ReparseReceipt struct {
	// NewEvents were stored and delivered; DuplicateEvents were already
	// known from another mail; Skipped changes were already applied (by
	// an earlier or concurrent run).
	NewEvents       []string
	DuplicateEvents []string
	Skipped         int
	DerivedEvents   []string
	DerivedTypes    []string
	Deliveries      int
	Status          string
}

// ApplyReparse stores a re-parse of a mail in one transaction: each
// change once (its old event recorded as replaced, guarded so that a
// second run, here or on another instance, does nothing), the new
// events with their deliveries and derived events, and the mail's parse
// columns.
func (s *Store) ApplyReparse(ctx context.Context, r *Reparse) (ReparseReceipt, error) {
	hooks := &afterCommit{}
	ctx = context.WithValue(ctx, afterCommitKey{}, hooks)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return ReparseReceipt{}, fmt.Errorf("store: reparse mail %d: %w", r.MailID, err)
	}
	defer tx.Rollback()
	b := newBatchTx(tx, s.kind)
	rc, jobs, err := s.reparseTx(ctx, b, r)
	if err == nil {
		err = s.insertJobs(ctx, b, jobs)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return ReparseReceipt{}, fmt.Errorf("store: reparse mail %d: %w", r.MailID, err)
	}
	for _, f := range hooks.funcs {
		f()
	}
	return rc, nil
}

func (s *Store) reparseTx(ctx context.Context, b *batchTx, r *Reparse) (ReparseReceipt, []pendingJob, error) {
	var out ReparseReceipt
	var received int64
	if err := b.tx.QueryRowContext(ctx, `SELECT received_at FROM mail WHERE id = $1`, r.MailID).Scan(&received); err != nil {
		return out, nil, err
	}
	status := DeliveryPending
	if r.Hold {
		status = DeliveryHeld
	}
	var rc Receipt
	var jobs []pendingJob
	for i := range r.Changes {
		c := &r.Changes[i]
		if c.Old != nil {
			// The guard: a change is applied once, whoever runs it.
			ok, err := b.insertNew(ctx, `INSERT INTO event_supersede (old_id, new_id, mail_id, created_at)
				VALUES ($1, $2, $3, $4) ON CONFLICT (old_id) DO NOTHING`, c.Old.ID, c.New.ID, r.MailID, now())
			if err != nil {
				return out, nil, fmt.Errorf("record supersede: %w", err)
			}
			if !ok {
				out.Skipped++
				continue
			}
			if r.Hold {
				// Never sent: the corrected event goes out in its place on release.
				if err := b.exec(ctx, `DELETE FROM delivery WHERE event_id = $1 AND status = $2`, c.Old.ID, DeliveryHeld); err != nil {
					return out, nil, fmt.Errorf("drop held deliveries: %w", err)
				}
			}
		}
		// A quarantined mail derives nothing until released.
		var derive func(*Event) ([]Event, error)
		if !r.Hold {
			derive = func(*Event) ([]Event, error) { return s.deriveChange(ctx, b.tx, c) }
		}
		isNew, evJobs, err := s.insertEvent(ctx, b, r.MailID, fromMicros(received), &c.New, status, &rc, derive, nil)
		if err != nil {
			return out, nil, err
		}
		if !isNew {
			out.DuplicateEvents = append(out.DuplicateEvents, c.New.ID)
			continue
		}
		out.NewEvents = append(out.NewEvents, c.New.ID)
		jobs = append(jobs, evJobs...)
	}
	out.DerivedEvents, out.DerivedTypes, out.Deliveries = rc.DerivedEvents, rc.DerivedTypes, rc.Deliveries
	if err := s.updateParse(ctx, b, r, &out); err != nil {
		return out, nil, err
	}
	return out, jobs, nil
}

// deriveChange returns the events derived from a change's new event: the
// difference from the old one when it corrects it, else as ingest
// derives.
func (s *Store) deriveChange(ctx context.Context, tx *sql.Tx, c *EventChange) ([]Event, error) {
	if !c.Supersede || c.Old == nil {
		if s.derive == nil {
			return nil, nil
		}
		return s.derived(ctx, tx, &c.New)
	}
	if s.correct == nil {
		return nil, nil
	}
	derived, err := s.correct(ctx, tx, c.Old, &c.New)
	if err != nil {
		return nil, fmt.Errorf("correct %s: %w", c.Old.ID, err)
	}
	return derived, nil
}

// updateParse writes the mail's new parse columns. A quarantined mail
// stays quarantined; one whose changed events were all known from other
// mails becomes a duplicate.
func (s *Store) updateParse(ctx context.Context, b *batchTx, r *Reparse, out *ReparseReceipt) error {
	m := &r.Mail
	problems := ""
	if len(m.Problems) > 0 {
		pj, _ := json.Marshal(m.Problems)
		problems = string(pj)
	}
	status := m.Status
	switch {
	case r.Hold:
		status = MailQuarantined
	case len(r.Changes) > 0 && len(out.NewEvents) == 0 && len(out.DuplicateEvents) > 0 && status != MailUnrecognized:
		status = MailDuplicateEvent
	}
	out.Status = status
	eventID := ""
	if len(r.Changes) > 0 {
		eventID = r.Changes[0].New.ID
	}
	set := `status = $1, event_type = $2, template = $3, parser = $4, problems = $5, seller_id = $6, pack_no = $7`
	args := []any{status, m.EventType, m.Template, m.Parser, problems, m.SellerID, m.PackNo}
	if eventID != "" {
		set += `, event_id = $9`
		args = append(args, r.MailID, eventID)
	} else {
		args = append(args, r.MailID)
	}
	if err := b.exec(ctx, `UPDATE mail SET `+set+` WHERE id = $8`, args...); err != nil {
		return fmt.Errorf("update mail: %w", err)
	}
	return nil
}
