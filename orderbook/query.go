package orderbook

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/order"
	"github.com/qoo10hook/qoo10hook/store"
)

// DB is the store as the book reads it; *store.Store has it.
type DB interface {
	View(ctx context.Context, fn func(*sql.Tx) error) error
}

// Book reads the order records.
type Book struct{ db DB }

// NewBook returns the book over db.
func NewBook(db DB) *Book { return &Book{db: db} }

// ErrInvalid wraps a request the book cannot answer: a bad filter.
var ErrInvalid = errors.New("orders: invalid request")

// Order is a record as the API lists it: the record and its place in the
// list.
type Order struct {
	// ID is the record's row: lists page by it, newest cart first.
	ID int64 `json:"id"`
	// PlacedAt is when the order was placed, as the filter reads it.
	PlacedAt time.Time `json:"placed_at"`
	*order.Record
}

// Key names a cart; an empty Tenant takes the first tenant's.
type Key struct {
	Tenant, SellerID, PackNo string
}

// Filter selects records. Zero fields match all.
type Filter struct {
	Tenant   string
	SellerID string
	State    order.State
	// PlacedFrom and PlacedTo bound PlacedAt: from inclusive, to exclusive.
	PlacedFrom, PlacedTo time.Time
	// Search matches the cart number, an order number, or an item's
	// item_no, seller_item_code or option_code, exactly.
	Search string
	// BeforeID pages backwards: only records with a smaller id.
	BeforeID int64
	Limit    int
}

// ParseTime reads a bound of the placing date: a date (Japan time), which
// at the end of a range (end) stands for the whole day, or an RFC 3339
// time. "" is no bound.
func ParseTime(v string, end bool) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, event.JST); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, fmt.Errorf("%w: %q is not a date (2026-11-20) or an RFC 3339 time", ErrInvalid, v)
	}
	return t, nil
}

// Check reports a filter the book cannot apply.
func (f *Filter) Check() error {
	if f.State != "" && !f.State.Valid() {
		return fmt.Errorf("%w: state %q is not one of %v", ErrInvalid, f.State, order.States)
	}
	return nil
}

// where builds the filter's SQL condition and its arguments.
func (f *Filter) where() (string, []any) {
	conds := []string{"r.revision > 0"}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Tenant != "" {
		conds = append(conds, "r.tenant = "+arg(f.Tenant))
	}
	if f.SellerID != "" {
		conds = append(conds, "r.seller_id = "+arg(f.SellerID))
	}
	if f.State != "" {
		conds = append(conds, "r.state = "+arg(string(f.State)))
	}
	if !f.PlacedFrom.IsZero() {
		conds = append(conds, "r.placed_at >= "+arg(f.PlacedFrom.UnixMicro()))
	}
	if !f.PlacedTo.IsZero() {
		conds = append(conds, "r.placed_at < "+arg(f.PlacedTo.UnixMicro()))
	}
	if s := strings.TrimSpace(f.Search); s != "" {
		p := arg(s)
		conds = append(conds, fmt.Sprintf(`(r.pack_no = %[1]s OR r.id IN (SELECT order_id FROM order_line WHERE order_no = %[1]s)
			OR r.id IN (SELECT order_id FROM order_line WHERE item_no = %[1]s)
			OR r.id IN (SELECT order_id FROM order_line WHERE seller_item_code = %[1]s)
			OR r.id IN (SELECT order_id FROM order_line WHERE option_code = %[1]s))`, p))
	}
	if f.BeforeID > 0 {
		conds = append(conds, "r.id < "+arg(f.BeforeID))
	}
	return strings.Join(conds, " AND "), args
}

// List returns the records f selects, newest cart first.
func (b *Book) List(ctx context.Context, f Filter) ([]*Order, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	where, args := f.where()
	q := fmt.Sprintf(`SELECT r.id, r.placed_at, b.record FROM order_record r JOIN order_body b ON b.order_id = r.id
		WHERE %s ORDER BY r.id DESC LIMIT %d`, where, f.Limit)
	var out []*Order
	err := b.db.View(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanOrders(tx.QueryContext(ctx, q, args...))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("orders: list: %w", err)
	}
	return out, nil
}

func scanOrders(rows *sql.Rows, err error) ([]*Order, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Order
	for rows.Next() {
		o := &Order{Record: &order.Record{}}
		var placed int64
		var body string
		if err := rows.Scan(&o.ID, &placed, &body); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(body), o.Record); err != nil {
			return nil, fmt.Errorf("record %d: %w", o.ID, err)
		}
		o.PlacedAt = time.UnixMicro(placed).In(event.JST)
		out = append(out, o)
	}
	return out, rows.Err()
}

// Get returns a cart's record, or store.ErrNotFound.
func (b *Book) Get(ctx context.Context, k Key) (*Order, error) {
	f := Filter{Tenant: k.Tenant, SellerID: k.SellerID}
	where, args := f.where()
	args = append(args, k.PackNo)
	q := fmt.Sprintf(`SELECT r.id, r.placed_at, b.record FROM order_record r JOIN order_body b ON b.order_id = r.id
		WHERE %s AND r.pack_no = $%d ORDER BY r.id LIMIT 1`, where, len(args))
	var out []*Order
	err := b.db.View(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanOrders(tx.QueryContext(ctx, q, args...))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("orders: get: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("order %s/%s: %w", k.SellerID, k.PackNo, store.ErrNotFound)
	}
	return out[0], nil
}
