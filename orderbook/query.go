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
type Book struct {
	db       DB
	postgres bool
}

// NewBook returns the book over db, a PostgreSQL store when postgres is
// set (its planner needs a hint that SQLite's does not).
func NewBook(db DB, postgres bool) *Book { return &Book{db: db, postgres: postgres} }

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

// query builds the SQL that lists the records f selects, newest first,
// and its arguments. It picks the ids of one page from order_record's
// small rows, then joins their bodies. The placing dates and the search
// are matched through their own indexes, as sets of ids (idIn).
func (b *Book) query(f *Filter) (string, []any) {
	var conds []string
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
	var placed []string
	if !f.PlacedFrom.IsZero() {
		placed = append(placed, "placed_at >= "+arg(f.PlacedFrom.UnixMicro()))
	}
	if !f.PlacedTo.IsZero() {
		placed = append(placed, "placed_at < "+arg(f.PlacedTo.UnixMicro()))
	}
	if len(placed) > 0 {
		conds = append(conds, b.idIn("SELECT id FROM order_record WHERE "+strings.Join(placed, " AND ")))
	}
	if search := strings.TrimSpace(f.Search); search != "" {
		p := arg(search)
		conds = append(conds, b.idIn(fmt.Sprintf(`SELECT id FROM order_record WHERE pack_no = %[1]s
			UNION SELECT order_id FROM order_line WHERE order_no = %[1]s
			UNION SELECT order_id FROM order_line WHERE item_no = %[1]s
			UNION SELECT order_id FROM order_line WHERE seller_item_code = %[1]s
			UNION SELECT order_id FROM order_line WHERE option_code = %[1]s`, p)))
	}
	if f.BeforeID > 0 {
		conds = append(conds, "r.id < "+arg(f.BeforeID))
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	return fmt.Sprintf(`SELECT p.id, p.placed_at, b.record FROM (SELECT r.id, r.placed_at FROM order_record r %s
		ORDER BY r.id DESC LIMIT %d) p JOIN order_body b ON b.order_id = p.id ORDER BY p.id DESC`, where, f.Limit), args
}

// idIn is the condition that r.id is one of the ids sub selects. SQLite
// walks such a set in id order; PostgreSQL gets it as an array, which it
// walks down the primary key too, where it would rather join the set to
// a scan of the whole table.
func (b *Book) idIn(sub string) string {
	if b.postgres {
		return "r.id = ANY(ARRAY(" + sub + "))"
	}
	return "r.id IN (" + sub + ")"
}

// List returns the records f selects, newest cart first.
func (b *Book) List(ctx context.Context, f Filter) ([]*Order, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	q, args := b.query(&f)
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
	q := `SELECT r.id, r.placed_at, b.record FROM order_record r JOIN order_body b ON b.order_id = r.id
		WHERE r.seller_id = $1 AND r.pack_no = $2 AND ($3 = '' OR r.tenant = $3) ORDER BY r.id LIMIT 1`
	var out []*Order
	err := b.db.View(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanOrders(tx.QueryContext(ctx, q, k.SellerID, k.PackNo, k.Tenant))
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
