// Package orderbook keeps each cart's merged order record in the store, updated in the transaction that stores each order event, and lists, shows and exports the records.
package orderbook

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/ingest"
	"github.com/qoo10hook/qoo10hook/order"
	"github.com/qoo10hook/qoo10hook/store"
)

// DeriverOptions configure NewDeriver.
type DeriverOptions struct {
	// Endpoints returns the endpoints a tenant's events of type t go to:
	// the route's endpoints whose event filter takes t.
	Endpoints func(tenant string, t event.Type) []string
	Logger    *slog.Logger
	// Postgres is set for a store on PostgreSQL, where each statement is
	// a round trip: the deriver merges some of its statements there.
	Postgres bool
}

// Deriver updates the order record of a cart from each new order event,
// in the transaction that stores the event, and derives an order.updated
// event when the record changed: its Derive method is a store.Deriver.
type Deriver struct {
	endpoints func(string, event.Type) []string
	log       *slog.Logger
	now       func() time.Time
	postgres  bool
}

// NewDeriver builds a Deriver.
func NewDeriver(o DeriverOptions) *Deriver {
	d := &Deriver{endpoints: o.Endpoints, log: o.Logger, now: time.Now, postgres: o.Postgres}
	if d.endpoints == nil {
		d.endpoints = func(string, event.Type) []string { return nil }
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d
}

var _ store.Deriver = (*Deriver)(nil).Derive

// Derive merges the order event ev into its cart's record. The record is
// merged again from every event of the cart (order.Merge), so the result
// does not depend on the order the events came in. Bad input is logged
// and skipped, never an error: an error fails the mail's commit.
func (d *Deriver) Derive(ctx context.Context, tx *sql.Tx, ev *store.Event) ([]store.Event, error) {
	t := event.Type(ev.Type)
	if !slices.Contains(event.OrderTypes, t) {
		return nil, nil
	}
	pl, err := ev.OrderPayload()
	var src order.Source
	if err == nil {
		src, err = sourceOf(ev.ID, t, pl)
	}
	if err != nil {
		d.log.Warn("orders: order event unreadable, no record updated", "event_id", ev.ID, "err", err)
		return nil, nil
	}
	seller, pack := src.Order.SellerID, src.Order.PackNo
	if pack == "" {
		// A mail without カート番号 joins the cart its lines belong to.
		if pack, err = packOf(ctx, tx, ev.Tenant, seller, src.Order); err != nil {
			return nil, err
		}
	}
	if seller == "" || pack == "" {
		d.log.Debug("orders: order event names no cart, no record updated", "event_id", ev.ID)
		return nil, nil
	}
	now := d.now()
	// An event merged already is merged again: a path that re-reads a
	// stored mail (a re-parse) changes the event's payload and calls the
	// deriver with it; if nothing changed, nothing is derived.
	var row *recordRow
	if d.postgres && t == event.OrderPlaced {
		// A cart's first mail is mostly its order placed: the record it
		// makes is written with its row, in one statement.
		rec, body, err := revision(order.Merge([]order.Source{src}), ev.Tenant, 1, now)
		if err != nil {
			return nil, err
		}
		var created bool
		if row, created, err = createRecordPostgres(ctx, tx, ev.Tenant, seller, pack, ev.ID, now.UnixMicro(), rec, body); err != nil {
			return nil, err
		}
		if created {
			return d.derived(ev, rec)
		}
	} else if row, err = lockRecord(ctx, tx, d.postgres, ev.Tenant, seller, pack, ev.ID, now.UnixMicro()); err != nil {
		return nil, err
	}
	// The cart's other events come from the store; this one is at hand.
	var sources []order.Source
	if !row.isNew() {
		if sources, err = loadSources(ctx, tx, row.id, ev.ID); err != nil {
			return nil, err
		}
	}
	merged := order.Merge(append(sources, src))
	merged.Tenant = ev.Tenant
	changed, err := row.differs(merged)
	if err != nil || !changed {
		return nil, err
	}
	rec, body, err := revision(merged, ev.Tenant, row.revision+1, now)
	if err != nil {
		return nil, err
	}
	if err := saveRecord(ctx, tx, d.postgres, row.id, rec, body, now.UnixMicro(), row.isNew()); err != nil {
		return nil, err
	}
	return d.derived(ev, rec)
}

// revision makes rec, merged for tenant, the record's revision n, saved
// at now, and encodes it.
func revision(rec *order.Record, tenant string, n int64, now time.Time) (*order.Record, []byte, error) {
	rec.Tenant = tenant
	rec.Revision = n
	at := now.In(event.JST).Truncate(time.Millisecond)
	rec.UpdatedAt = &at
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, nil, fmt.Errorf("orders: encode record: %w", err)
	}
	return rec, body, nil
}

// derived is what a change of the record derives from ev: its
// order.updated.
func (d *Deriver) derived(ev *store.Event, rec *order.Record) ([]store.Event, error) {
	out, err := d.updated(ev, rec)
	if err != nil {
		return nil, err
	}
	return []store.Event{out}, nil
}

var _ store.Corrector = (*Deriver)(nil).Correct

// Correct replaces, in its cart's record, the event old with the event
// new that a re-parse read in its place, and merges the record again.
func (d *Deriver) Correct(ctx context.Context, tx *sql.Tx, old, new *store.Event) ([]store.Event, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM order_source WHERE event_id = $1`, old.ID); err != nil {
		return nil, fmt.Errorf("orders: drop corrected source: %w", err)
	}
	return d.Derive(ctx, tx, new)
}

// UpdatedEventID is the id of the order.updated event of a record's
// revision.
func UpdatedEventID(tenant, seller, pack string, revision int64) string {
	return event.ID(tenant, string(event.OrderUpdated), seller, pack, strconv.FormatInt(revision, 10))
}

// updated builds the order.updated event of rec. At an endpoint it goes in
// its cart's order (the key the cart's order events have): after the
// order event that changed it, before the cart's next one.
func (d *Deriver) updated(src *store.Event, rec *order.Record) (store.Event, error) {
	id := UpdatedEventID(rec.Tenant, rec.SellerID, rec.PackNo, rec.Revision)
	e := &event.Event{ID: id, Type: event.OrderUpdated, Version: event.Version, CreatedAt: src.CreatedAt.In(event.JST),
		Tenant: rec.Tenant, Data: rec}
	payload, err := event.Marshal(e)
	if err != nil {
		return store.Event{}, fmt.Errorf("orders: encode order.updated: %w", err)
	}
	var nos []string
	for _, it := range rec.Items {
		if it.OrderNo != "" {
			nos = append(nos, it.OrderNo)
		}
	}
	key := ingest.OrderKey(&event.Order{SellerID: rec.SellerID, PackNo: rec.PackNo})
	out := store.Event{ID: id, Type: string(event.OrderUpdated), Tenant: rec.Tenant, SellerID: rec.SellerID,
		PackNo: rec.PackNo, OrderNos: nos, CreatedAt: src.CreatedAt, Payload: payload}
	for _, name := range d.endpoints(rec.Tenant, event.OrderUpdated) {
		nd := store.NewDelivery{Endpoint: name, OrderKey: key}
		for _, sd := range src.Deliveries {
			// A source mail without カート番号 was keyed by its seller
			// alone: follow that key too.
			if sd.Endpoint == name && sd.OrderKey != "" && sd.OrderKey != key {
				nd.SecondKey = sd.OrderKey
			}
		}
		out.Deliveries = append(out.Deliveries, nd)
	}
	return out, nil
}

// readSource reads a stored order event as order.Merge takes it.
func readSource(id string, t event.Type, body []byte) (order.Source, error) {
	var p event.OrderPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return order.Source{}, err
	}
	return sourceOf(id, t, &p)
}

// sourceOf is the order event p as order.Merge takes it, dated by its
// mail's Date header, else by when it was received. Merge only reads it.
func sourceOf(id string, t event.Type, p *event.OrderPayload) (order.Source, error) {
	at := p.CreatedAt
	if p.Mail != nil {
		at = p.Mail.ReceivedAt
		if p.Mail.Date != nil {
			at = *p.Mail.Date
		}
	}
	if at.IsZero() {
		return order.Source{}, errors.New("no date")
	}
	return order.Source{EventID: id, Type: t, Date: at, Order: &p.Data}, nil
}
