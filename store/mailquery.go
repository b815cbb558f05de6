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

// MailFilter selects mails for operators. Zero fields match all.
type MailFilter struct {
	// OrderNo finds the mails that carried an event of this order number
	// (注文番号), including mails whose events were duplicates.
	OrderNo  string
	PackNo   string
	SellerID string
	Status   string
	// Statuses, when set, selects mails in any of these statuses.
	Statuses []string
	// Since and Until, when set, bound the time the mails were received
	// (Since inclusive, Until exclusive).
	Since, Until time.Time
	// IDs, when set, selects these mails (ids or queue ids).
	IDs []string
	// BeforeID pages backwards: only mails with a smaller id.
	BeforeID int64
	Limit    int
}

// MailSummary is one stored mail as operators list it.
type MailSummary struct {
	ID         int64     `json:"id"`
	QueueID    string    `json:"queue_id"`
	ReceivedAt time.Time `json:"received_at"`
	Tenant     string    `json:"tenant,omitempty"`
	MessageID  string    `json:"message_id,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	Size       int64     `json:"size"`
	Status     string    `json:"status"`
	EventID    string    `json:"event_id,omitempty"`
	EventType  string    `json:"event_type,omitempty"`
	Template   string    `json:"template,omitempty"`
	Parser     string    `json:"parser,omitempty"`
	SellerID   string    `json:"seller_id,omitempty"`
	PackNo     string    `json:"pack_no,omitempty"`
	Duplicates int       `json:"duplicates"`
	// PurgedAt is when retention or an erasure took the mail's raw bytes
	// and buyer values; nil while they are kept.
	PurgedAt *time.Time `json:"purged_at,omitempty"`
	// Deliveries counts the deliveries of the mail's events by status.
	Deliveries map[string]int `json:"deliveries"`
}

// MailDetail is a mail with its envelope, parse result, events and
// deliveries.
type MailDetail struct {
	MailSummary
	RemoteAddr string        `json:"remote_addr,omitempty"`
	Helo       string        `json:"helo,omitempty"`
	MailFrom   string        `json:"mail_from"`
	Rcpts      []string      `json:"rcpt_to"`
	Problems   []string      `json:"problems,omitempty"`
	Events     []EventDetail `json:"events"`
}

// EventDetail is an event with its payload and deliveries.
type EventDetail struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Tenant    string    `json:"tenant,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// MailID is the mail that first carried the event: another mail's id
	// when this mail repeated an event already known.
	MailID int64 `json:"mail_id"`
	// SupersededBy is the event a re-parse of the mail replaced this one
	// with, when it did.
	SupersededBy string                `json:"superseded_by,omitempty"`
	Payload      json.RawMessage       `json:"event"`
	Deliveries   []DeliveryAndAttempts `json:"deliveries"`
}

// DeliveryAndAttempts is a delivery with its attempt log.
type DeliveryAndAttempts struct {
	*Delivery
	AttemptLog []Attempt `json:"attempt_log"`
}

const mailColumns = `m.id, m.queue_id, m.received_at, m.tenant, m.message_id, m.subject, m.size, m.status,
	m.event_id, m.event_type, m.template, m.parser, m.seller_id, m.pack_no, m.duplicates,
	COALESCE(m.purged_at, 0)`

func scanMail(row scanner, extra ...any) (*MailSummary, error) {
	var m MailSummary
	var received, purged int64
	dest := append([]any{&m.ID, &m.QueueID, &received, &m.Tenant, &m.MessageID, &m.Subject, &m.Size, &m.Status,
		&m.EventID, &m.EventType, &m.Template, &m.Parser, &m.SellerID, &m.PackNo, &m.Duplicates, &purged}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	m.ReceivedAt = fromMicros(received)
	if purged != 0 {
		at := fromMicros(purged)
		m.PurgedAt = &at
	}
	m.Deliveries = map[string]int{}
	return &m, nil
}

// ListMails returns mails, newest first, with their delivery counts.
func (s *Store) ListMails(ctx context.Context, f MailFilter) ([]*MailSummary, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.OrderNo != "" {
		// A mail carried the order if an event of it names the order
		// number: the event it first stored, or the one it repeated.
		add(`EXISTS (SELECT 1 FROM event_order o JOIN event e ON e.id = o.event_id
			WHERE o.order_no = $%d AND (e.mail_id = m.id OR e.id = m.event_id))`, f.OrderNo)
	}
	if f.PackNo != "" {
		add("m.pack_no = $%d", f.PackNo)
	}
	if f.SellerID != "" {
		add("m.seller_id = $%d", f.SellerID)
	}
	if f.Status != "" {
		add("m.status = $%d", f.Status)
	}
	if len(f.Statuses) > 0 {
		var ph []string
		for _, st := range f.Statuses {
			args = append(args, st)
			ph = append(ph, fmt.Sprintf("$%d", len(args)))
		}
		where = append(where, "m.status IN ("+strings.Join(ph, ", ")+")")
	}
	if !f.Since.IsZero() {
		add("m.received_at >= $%d", f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		add("m.received_at < $%d", f.Until.UnixMicro())
	}
	if len(f.IDs) > 0 {
		var ph []string
		for _, ref := range f.IDs {
			if id, ok := numericID(ref); ok {
				args = append(args, id)
				ph = append(ph, fmt.Sprintf("m.id = $%d", len(args)))
			} else {
				args = append(args, ref)
				ph = append(ph, fmt.Sprintf("m.queue_id = $%d", len(args)))
			}
		}
		where = append(where, "("+strings.Join(ph, " OR ")+")")
	}
	if f.BeforeID > 0 {
		add("m.id < $%d", f.BeforeID)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q := `SELECT ` + mailColumns + ` FROM mail m`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY m.id DESC LIMIT %d", f.Limit)
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list mails: %w", err)
	}
	var out []*MailSummary
	for rows.Next() {
		m, err := scanMail(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: list mails: %w", err)
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list mails: %w", err)
	}
	if err := s.countDeliveries(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// countDeliveries fills each mail's delivery counts by status.
func (s *Store) countDeliveries(ctx context.Context, mails []*MailSummary) error {
	if len(mails) == 0 {
		return nil
	}
	byID := map[int64]*MailSummary{}
	ph := make([]string, len(mails))
	args := make([]any, len(mails))
	for i, m := range mails {
		byID[m.ID] = m
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = m.ID
	}
	rows, err := s.read.QueryContext(ctx, `SELECT e.mail_id, d.status, count(*) FROM delivery d
		JOIN event e ON e.id = d.event_id WHERE e.mail_id IN (`+strings.Join(ph, ", ")+`)
		GROUP BY e.mail_id, d.status`, args...)
	if err != nil {
		return fmt.Errorf("store: count deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var status string
		var n int
		if err := rows.Scan(&id, &status, &n); err != nil {
			return fmt.Errorf("store: count deliveries: %w", err)
		}
		if m := byID[id]; m != nil {
			m.Deliveries[status] = n
		}
	}
	return rows.Err()
}

// GetMail returns a mail with its envelope, parse problems, events and
// their deliveries with attempts. ref is the mail's id or its queue id.
func (s *Store) GetMail(ctx context.Context, ref string) (*MailDetail, error) {
	var rcpts, problems string
	var d MailDetail
	q := `SELECT ` + mailColumns + `, m.remote_addr, m.helo, m.mail_from, m.rcpt_to, m.problems FROM mail m WHERE `
	var arg any = ref
	if id, ok := numericID(ref); ok {
		q += `m.id = $1`
		arg = id
	} else {
		q += `m.queue_id = $1`
	}
	m, err := scanMail(s.read.QueryRowContext(ctx, q, arg), &d.RemoteAddr, &d.Helo, &d.MailFrom, &rcpts, &problems)
	if err != nil {
		return nil, fmt.Errorf("store: mail %s: %w", ref, err)
	}
	d.MailSummary = *m
	if rcpts != "" {
		d.Rcpts = strings.Split(rcpts, ",")
	}
	if problems != "" {
		if err := json.Unmarshal([]byte(problems), &d.Problems); err != nil {
			d.Problems = []string{problems}
		}
	}
	if err := s.countDeliveries(ctx, []*MailSummary{&d.MailSummary}); err != nil {
		return nil, err
	}

	rows, err := s.read.QueryContext(ctx, `SELECT e.id, e.type, e.tenant, e.created_at, e.mail_id, e.payload,
		COALESCE(r.new_id, '') FROM event e LEFT JOIN event_supersede r ON r.old_id = e.id
		WHERE e.mail_id = $1 OR e.id = $2 ORDER BY e.created_at, e.id`, d.ID, d.EventID)
	if err != nil {
		return nil, fmt.Errorf("store: events of mail %d: %w", d.ID, err)
	}
	for rows.Next() {
		var e EventDetail
		var created int64
		var payload []byte
		if err := rows.Scan(&e.ID, &e.Type, &e.Tenant, &created, &e.MailID, &payload, &e.SupersededBy); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: events of mail %d: %w", d.ID, err)
		}
		e.CreatedAt, e.Payload = fromMicros(created), json.RawMessage(payload)
		d.Events = append(d.Events, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events of mail %d: %w", d.ID, err)
	}
	for i := range d.Events {
		ds, err := s.ListDeliveries(ctx, DeliveryFilter{EventID: d.Events[i].ID, Limit: 1000})
		if err != nil {
			return nil, err
		}
		d.Events[i].Deliveries = []DeliveryAndAttempts{}
		for _, dl := range ds {
			_, attempts, err := s.GetDelivery(ctx, dl.ID)
			if err != nil {
				return nil, err
			}
			if attempts == nil {
				attempts = []Attempt{}
			}
			d.Events[i].Deliveries = append(d.Events[i].Deliveries, DeliveryAndAttempts{Delivery: dl, AttemptLog: attempts})
		}
	}
	if d.Events == nil {
		d.Events = []EventDetail{}
	}
	return &d, nil
}

// MailRaw returns a mail's message as received. ref is the mail's id or
// its queue id.
func (s *Store) MailRaw(ctx context.Context, ref string) ([]byte, error) {
	q := `SELECT raw FROM mail WHERE `
	var arg any = ref
	if id, ok := numericID(ref); ok {
		q += `id = $1`
		arg = id
	} else {
		q += `queue_id = $1`
	}
	var raw []byte
	err := s.read.QueryRowContext(ctx, q, arg).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: mail %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: mail %s: %w", ref, err)
	}
	return raw, nil
}

// numericID reports whether ref is a mail's numeric id rather than a
// queue id (queue ids are 16 characters long).
func numericID(ref string) (int64, bool) {
	if ref == "" || len(ref) >= 16 {
		return 0, false
	}
	var id int64
	for _, c := range ref {
		if c < '0' || c > '9' {
			return 0, false
		}
		id = id*10 + int64(c-'0')
	}
	return id, true
}
