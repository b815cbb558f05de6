package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrBadBuyer is returned for an erasure that names no one: no value, or a
// phone number too short to name one person.
var ErrBadBuyer = errors.New("store: erasure: give one e-mail address, phone number (6 digits or more) or name")

// ErasureReport is what an erasure found, and erased unless it was a dry
// run. Webhooks already delivered cannot be recalled: DeliveredTo names
// the endpoints that received events of this buyer.
type ErasureReport struct {
	MatchedBy   string        `json:"matched_by"`
	DryRun      bool          `json:"dry_run"`
	ErasedAt    time.Time     `json:"erased_at,omitzero"`
	Mails       []ErasedMail  `json:"mails"`
	Events      []ErasedEvent `json:"events"`
	Rows        []ErasedRow   `json:"rows,omitempty"`
	DeliveredTo []string      `json:"delivered_to"`
}

// ErasedMail is a mail holding the buyer's data.
type ErasedMail struct {
	ID         int64     `json:"id"`
	QueueID    string    `json:"queue_id"`
	ReceivedAt time.Time `json:"received_at"`
	Status     string    `json:"status"`
}

// ErasedEvent is an event of those mails, with the endpoints that received
// it.
type ErasedEvent struct {
	ID          string   `json:"id"`
	Type        string   `json:"type"`
	MailID      int64    `json:"mail_id"`
	DeliveredTo []string `json:"delivered_to,omitempty"`
}

// ErasedRow is a row of another table holding the buyer's data.
type ErasedRow struct {
	Table string `json:"table"`
	Key   string `json:"key"`
}

// FindBuyer reports every mail, event and row holding the buyer's data,
// without changing anything. It reads on the readers' pool: on SQLite it
// does not hold up mail.
func (s *Store) FindBuyer(ctx context.Context, b Buyer) (*ErasureReport, error) {
	m, ok := newMatcher(b)
	if !ok {
		return nil, ErrBadBuyer
	}
	rep := &ErasureReport{MatchedBy: m.by, DryRun: true}
	var mailIDs []int64
	var eventIDs []string
	for _, t := range personalTables {
		found, err := s.findRows(ctx, t, m)
		if err != nil {
			return nil, fmt.Errorf("store: erasure: find in %s: %w", t.Table, err)
		}
		for _, r := range found {
			switch {
			case t.MailID != "":
				mailIDs = append(mailIDs, r.mailID)
			default:
				rep.Rows = append(rep.Rows, ErasedRow{Table: t.Table, Key: r.key})
			}
			if t.EventID != "" {
				eventIDs = append(eventIDs, r.eventID)
			}
		}
	}
	if err := s.reportMails(ctx, rep, mailIDs, eventIDs); err != nil {
		return nil, fmt.Errorf("store: erasure: %w", err)
	}
	return rep, nil
}

type foundRow struct {
	key, eventID string
	mailID       int64
}

// findRows returns t's rows holding the value m looks for. A LIKE on a
// piece of the value narrows the rows read; the comparison proper is m's.
func (s *Store) findRows(ctx context.Context, t personalTable, m matcher) ([]foundRow, error) {
	var cols []string
	if t.Payload != "" {
		cols = append(cols, t.Payload)
	}
	switch m.by {
	case "email":
		cols = append(cols, t.Email...)
	case "tel":
		cols = append(cols, t.Tel...)
	default:
		cols = append(cols, t.Name...)
	}
	if len(cols) == 0 {
		return nil, nil
	}
	sel := []string{t.Key, coalesce(t.MailID, "0"), coalesce(t.EventID, "''")}
	var likes []string
	for _, c := range cols {
		sel = append(sel, c)
		likes = append(likes, s.likeExpr(c, c == t.Payload && !t.PayloadText))
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+strings.Join(sel, ", ")+` FROM `+t.Table+
		` WHERE `+strings.Join(likes, " OR "), likePattern(m))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []foundRow
	for rows.Next() {
		var r foundRow
		var key any
		vals := make([][]byte, len(cols))
		dest := []any{&key, &r.mailID, &r.eventID}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		r.key = fmt.Sprint(key)
		if b, ok := key.([]byte); ok {
			r.key = string(b)
		}
		for i, c := range cols {
			if (c == t.Payload && matchJSON(vals[i], m)) || (c != t.Payload && m.match(string(vals[i]))) {
				out = append(out, r)
				break
			}
		}
	}
	return out, rows.Err()
}

func coalesce(col, zero string) string {
	if col == "" {
		return zero
	}
	return col
}

// likeExpr is a case-insensitive LIKE of column c against $1; blob says c
// holds bytes (UTF-8 text).
func (s *Store) likeExpr(c string, blob bool) string {
	if s.kind == Postgres {
		if blob {
			return `convert_from(` + c + `, 'UTF8') ILIKE $1`
		}
		return c + ` ILIKE $1`
	}
	return `CAST(` + c + ` AS TEXT) LIKE $1`
}

// likePattern is a piece of the value that any way of writing it
// contains: the address; the last digits of a phone number; the longest
// run of a name without spaces.
func likePattern(m matcher) string {
	piece := m.want
	switch m.by {
	case "tel":
		piece = piece[len(piece)-3:]
	case "name":
		// m.want has no spaces: its first half is in the name however
		// it is spaced.
		r := []rune(piece)
		piece = string(r[:max(1, len(r)/2)])
	}
	return "%" + strings.NewReplacer("%", "_", "_", "_").Replace(piece) + "%"
}

// reportMails fills the report with the mails found, those that carried
// the same events (re-sent mails), their events and the endpoints that
// received them.
func (s *Store) reportMails(ctx context.Context, rep *ErasureReport, mailIDs []int64, eventIDs []string) error {
	rep.Mails, rep.Events, rep.DeliveredTo = []ErasedMail{}, []ErasedEvent{}, []string{}
	if len(mailIDs) == 0 && len(eventIDs) == 0 {
		return nil
	}
	mIn, mArgs := inList(1, append(mailIDs, 0))
	eIn, eArgs := inList(len(mArgs)+1, append(eventIDs, ""))
	args := append(mArgs, eArgs...)
	rows, err := s.read.QueryContext(ctx, `SELECT id, queue_id, received_at, status FROM mail
		WHERE id IN (`+mIn+`) OR event_id IN (`+eIn+`) ORDER BY id`, args...)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var m ErasedMail
		var at int64
		if err := rows.Scan(&m.ID, &m.QueueID, &at, &m.Status); err != nil {
			rows.Close()
			return err
		}
		m.ReceivedAt = fromMicros(at)
		rep.Mails = append(rep.Mails, m)
		ids = append(ids, m.ID)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	mIn, mArgs = inList(1, append(ids, 0))
	rows, err = s.read.QueryContext(ctx, `SELECT e.id, e.type, e.mail_id, COALESCE(d.endpoint, '') FROM event e
		LEFT JOIN delivery d ON d.event_id = e.id AND d.status = 'delivered'
		WHERE e.mail_id IN (`+mIn+`) ORDER BY e.mail_id, e.id, d.endpoint`, mArgs...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e ErasedEvent
		var endpoint string
		if err := rows.Scan(&e.ID, &e.Type, &e.MailID, &endpoint); err != nil {
			return err
		}
		if n := len(rep.Events); n == 0 || rep.Events[n-1].ID != e.ID {
			rep.Events = append(rep.Events, e)
		}
		if endpoint != "" {
			last := &rep.Events[len(rep.Events)-1]
			last.DeliveredTo = append(last.DeliveredTo, endpoint)
			if !slices.Contains(rep.DeliveredTo, endpoint) {
				rep.DeliveredTo = append(rep.DeliveredTo, endpoint)
			}
		}
	}
	slices.Sort(rep.DeliveredTo)
	return rows.Err()
}

// Erase finds the buyer's data as FindBuyer does and erases it in one
// transaction: the raw bytes of every mail found, the buyer and receiver
// values of their events and of the other tables' rows, the response
// bodies of their deliveries. It records who (actor) erased what, without
// the value searched for, in the erasure table and the log.
func (s *Store) Erase(ctx context.Context, b Buyer, actor string) (*ErasureReport, error) {
	rep, err := s.FindBuyer(ctx, b)
	if err != nil {
		return nil, err
	}
	rep.DryRun = false
	rep.ErasedAt = time.Now()
	ids := make([]int64, len(rep.Mails))
	for i, m := range rep.Mails {
		ids[i] = m.ID
	}
	refs, _ := json.Marshal(struct {
		Mails  []int64  `json:"mails"`
		Events []string `json:"events"`
		Rows   []string `json:"rows,omitempty"`
	}{ids, eventRefs(rep.Events), rowRefs(rep.Rows)})
	err = s.Tx(ctx, func(tx *sql.Tx) error {
		if len(ids) > 0 {
			if _, err := purgeMails(ctx, tx, ids, true); err != nil {
				return err
			}
		}
		if err := scrubFoundRows(ctx, tx, rep.Rows); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO erasure (erased_at, actor, matched_by, mails, events, refs)
			VALUES ($1, $2, $3, $4, $5, $6)`, rep.ErasedAt.UnixMicro(), actor, rep.MatchedBy, len(ids), len(rep.Events), string(refs))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: erasure: %w", err)
	}
	// The pages the erased values were on are zeroed (secure_delete); the
	// WAL still holds them as they were until it is truncated.
	if ok, err := s.reclaim(ctx); err != nil || !ok {
		s.reclaimPending.Store(true)
		s.log.Warn("store: erasure: the WAL could not be truncated yet; it is at the next purge or restart", "err", err)
	}
	s.log.Info("erasure", "actor", actor, "matched_by", rep.MatchedBy, "mails", len(ids), "events", len(rep.Events),
		"rows", len(rep.Rows), "mail_ids", ids, "event_ids", eventRefs(rep.Events), "delivered_to", rep.DeliveredTo)
	return rep, nil
}

// scrubFoundRows erases the rows found in tables not tied to a mail.
func scrubFoundRows(ctx context.Context, tx *sql.Tx, rows []ErasedRow) error {
	for _, t := range personalTables {
		var keys []string
		for _, r := range rows {
			if r.Table == t.Table {
				keys = append(keys, r.Key)
			}
		}
		if len(keys) == 0 {
			continue
		}
		in, args := inList(1, keys)
		if _, err := scrubRows(ctx, tx, t, t.Key+` IN (`+in+`)`, args...); err != nil {
			return fmt.Errorf("scrub %s: %w", t.Table, err)
		}
	}
	return nil
}

func eventRefs(es []ErasedEvent) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func rowRefs(rs []ErasedRow) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Table+":"+r.Key)
	}
	return out
}
