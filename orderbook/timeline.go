package orderbook

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
)

// Entry is one step of an order's timeline: a mail that told of it, an
// event (an order event read from a mail, or an order.updated derived
// from one), or a delivery of one of those events.
type Entry struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"` // mail, event or delivery
	// ID is the mail's queue id, the event's id or the delivery's number.
	ID string `json:"id"`
	// Type is the event's type; Status the mail's or delivery's status.
	Type   string `json:"type,omitempty"`
	Status string `json:"status,omitempty"`
	// Text says more: the mail's subject, the delivery's endpoint.
	Text string `json:"text,omitempty"`
	// EventID links a delivery to its event, and an event to its mail's
	// first event.
	EventID string `json:"event_id,omitempty"`
	// Link is where the API shows it; Console where the console does.
	Link    string `json:"link"`
	Console string `json:"console,omitempty"`
}

// maxUpdates bounds the order.updated events a timeline lists.
const maxUpdates = 500

// Timeline lists what happened to an order, oldest first.
func (b *Book) Timeline(ctx context.Context, o *Order) ([]Entry, error) {
	var out []Entry
	err := b.db.View(ctx, func(tx *sql.Tx) error {
		events, mailIDs, err := timelineEvents(ctx, tx, o)
		if err != nil {
			return err
		}
		out = append(out, events...)
		mails, err := timelineMails(ctx, tx, mailIDs)
		if err != nil {
			return err
		}
		out = append(out, mails...)
		var ids []any
		for _, e := range events {
			ids = append(ids, e.ID)
		}
		ds, err := timelineDeliveries(ctx, tx, ids)
		out = append(out, ds...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("orders: timeline: %w", err)
	}
	// Events carry their mail's time to the millisecond: at that grain a
	// mail comes before its events, and they before their deliveries.
	for i := range out {
		out[i].At = out[i].At.Truncate(time.Millisecond)
	}
	kindOrder := map[string]int{"mail": 0, "event": 1, "delivery": 2}
	slices.SortStableFunc(out, func(a, b Entry) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(kindOrder[a.Kind], kindOrder[b.Kind]), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// in returns "$n, $n+1, …" for the values, numbered after the first n-1.
func in(n, count int) string {
	ps := make([]string, count)
	for i := range ps {
		ps[i] = fmt.Sprintf("$%d", n+i)
	}
	return strings.Join(ps, ", ")
}

func timelineEvents(ctx context.Context, tx *sql.Tx, o *Order) ([]Entry, []any, error) {
	ids := []any{o.ID}
	for rev := max(1, o.Revision-maxUpdates+1); rev <= o.Revision; rev++ {
		ids = append(ids, UpdatedEventID(o.Tenant, o.SellerID, o.PackNo, rev))
	}
	q := `SELECT e.id, e.type, e.created_at, e.mail_id FROM event e
		WHERE e.id IN (SELECT event_id FROM order_source WHERE order_id = $1)`
	if len(ids) > 1 {
		q += ` OR e.id IN (` + in(2, len(ids)-1) + `)`
	}
	rows, err := tx.QueryContext(ctx, q, ids...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []Entry
	var mails []any
	seen := map[int64]bool{}
	for rows.Next() {
		var e Entry
		var created, mailID int64
		if err := rows.Scan(&e.ID, &e.Type, &created, &mailID); err != nil {
			return nil, nil, err
		}
		e.Kind, e.At = "event", time.UnixMicro(created).In(event.JST)
		e.Link = "/api/v1/deliveries?event_id=" + url.QueryEscape(e.ID)
		e.Console = "/admin/deliveries?event_id=" + url.QueryEscape(e.ID)
		if e.Type != string(event.OrderUpdated) {
			e.Link = fmt.Sprintf("/api/v1/messages/%d", mailID)
			e.Console = fmt.Sprintf("/admin/messages/%d", mailID)
			if !seen[mailID] {
				seen[mailID] = true
				mails = append(mails, mailID)
			}
		}
		out = append(out, e)
	}
	return out, mails, rows.Err()
}

func timelineMails(ctx context.Context, tx *sql.Tx, ids []any) ([]Entry, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, queue_id, received_at, subject, status, event_id FROM mail
		WHERE id IN (`+in(1, len(ids))+`)`, ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var id, received int64
		if err := rows.Scan(&id, &e.ID, &received, &e.Text, &e.Status, &e.EventID); err != nil {
			return nil, err
		}
		e.Kind, e.At = "mail", time.UnixMicro(received).In(event.JST)
		e.Link, e.Console = fmt.Sprintf("/api/v1/messages/%d", id), fmt.Sprintf("/admin/messages/%d", id)
		out = append(out, e)
	}
	return out, rows.Err()
}

func timelineDeliveries(ctx context.Context, tx *sql.Tx, eventIDs []any) ([]Entry, error) {
	if len(eventIDs) == 0 {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, event_id, endpoint, status, created_at FROM delivery
		WHERE event_id IN (`+in(1, len(eventIDs))+`)`, eventIDs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var id, created int64
		if err := rows.Scan(&id, &e.EventID, &e.Text, &e.Status, &created); err != nil {
			return nil, err
		}
		e.Kind, e.At, e.ID = "delivery", time.UnixMicro(created).In(event.JST), fmt.Sprint(id)
		e.Link = fmt.Sprintf("/api/v1/deliveries/%d", id)
		e.Console = "/admin/deliveries?event_id=" + url.QueryEscape(e.EventID)
		out = append(out, e)
	}
	return out, rows.Err()
}
