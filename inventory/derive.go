package inventory

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/store"
)

// Policy says which order event types reserve and release stock for a
// route's tenant; "" turns either off.
type Policy struct {
	ReserveOn event.Type
	ReleaseOn event.Type
}

// DefaultPolicy reserves when the order is placed, as Qoo10 does (vendors
// import at order time), and releases when it is cancelled.
var DefaultPolicy = Policy{ReserveOn: event.OrderPlaced, ReleaseOn: event.OrderCancelled}

// DeriverOptions configure NewDeriver.
type DeriverOptions struct {
	Settings
	// Policy returns a tenant's policy; nil means DefaultPolicy for all.
	Policy func(tenant string) Policy
	// Endpoints returns the endpoints a tenant's events of type t go to:
	// the route's endpoints whose event filter takes t.
	Endpoints func(tenant string, t event.Type) []string
	Logger    *slog.Logger
	// Registerer receives the inventory metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Deriver turns order events into inventory events, in the transaction
// that stores them: its Derive method is a store.Deriver.
type Deriver struct {
	s         Settings
	policy    func(string) Policy
	endpoints func(string, event.Type) []string
	log       *slog.Logger
	m         *metrics
	now       func() time.Time
}

// NewDeriver checks the options and registers the metrics.
func NewDeriver(o DeriverOptions) (*Deriver, error) {
	s, err := o.Settings.normalized()
	if err != nil {
		return nil, err
	}
	d := &Deriver{s: s, policy: o.Policy, endpoints: o.Endpoints, log: o.Logger, now: time.Now}
	if d.policy == nil {
		d.policy = func(string) Policy { return DefaultPolicy }
	}
	if d.endpoints == nil {
		d.endpoints = func(string, event.Type) []string { return nil }
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.m = newMetrics(o.Registerer)
	return d, nil
}

var _ store.Deriver = (*Deriver)(nil).Derive

// Derive returns the inventory events of a new order event: one
// inventory.adjusted per order line it reserves or releases, and an
// inventory.low_stock for each SKU that drops below the threshold. What
// it writes goes through tx, so it commits, or not, with the event.
// Bad input (a line without order number or quantity) is skipped and
// counted, never an error: an error fails the mail's commit.
func (d *Deriver) Derive(ctx context.Context, tx *sql.Tx, ev *store.Event) ([]store.Event, error) {
	p := d.policy(ev.Tenant)
	var reason string
	switch t := event.Type(ev.Type); {
	case t == "":
		return nil, nil
	case t == p.ReserveOn:
		reason = Reserve
	case t == p.ReleaseOn:
		reason = Release
	default:
		return nil, nil
	}
	pl, err := ev.OrderPayload()
	if err != nil {
		d.log.Warn("inventory: order event unreadable, nothing derived", "event_id", ev.ID, "err", err)
		return nil, nil
	}
	// A copy: the decoded payload is shared with the other derivers.
	o := &event.Order{SellerID: pl.Data.SellerID, PackNo: pl.Data.PackNo, Items: slices.Clone(pl.Data.Items)}
	textFields(o)
	x := &derivation{Deriver: d, ctx: ctx, tx: tx, ev: ev, order: o, now: d.now().UnixMicro()}
	for i := range o.Items {
		var err error
		if reason == Reserve {
			err = x.reserve(&o.Items[i])
		} else {
			err = x.release(&o.Items[i])
		}
		if err != nil {
			return nil, err
		}
	}
	// The metrics move only if what was derived is committed.
	store.AfterCommit(ctx, x.counted...)
	return x.out, nil
}

// textFields makes the order's codes fit text columns (store.Text): the
// ledger keys on them, and PostgreSQL refuses a NUL.
func textFields(o *event.Order) {
	o.SellerID, o.PackNo = store.Text(o.SellerID), store.Text(o.PackNo)
	for i := range o.Items {
		it := &o.Items[i]
		it.OrderNo, it.ItemNo = store.Text(it.OrderNo), store.Text(it.ItemNo)
		it.SellerItemCode, it.OptionCode = store.Text(it.SellerItemCode), store.Text(it.OptionCode)
		it.Title, it.Option = store.Text(it.Title), store.Text(it.Option)
	}
}

// derivation is one Derive call.
type derivation struct {
	*Deriver
	ctx   context.Context
	tx    *sql.Tx
	ev    *store.Event
	order *event.Order
	now   int64
	out   []store.Event
	// counted are the metric increments of this derivation, made once its
	// transaction commits.
	counted []func()
	catalog *bool // whether the seller has a catalog, once asked
}

func (x *derivation) count(inc func()) { x.counted = append(x.counted, inc) }

// lockLine is lockLine for the order's seller, which notes the answer
// to hasCatalog.
func (x *derivation) lockLine(orderNo string, cancel bool) (cancelled bool, err error) {
	cancelled, catalog, err := lockLine(x.ctx, x.tx, x.order.SellerID, orderNo, cancel, x.now)
	if err == nil && x.catalog == nil {
		x.catalog = &catalog
	}
	return cancelled, err
}

// hasCatalog tells whether the order's seller has imported a catalog,
// asked once per derivation (or answered by lockLine): one order is one
// seller's.
func (x *derivation) hasCatalog() (bool, error) {
	if x.catalog == nil {
		has, err := hasCatalog(x.ctx, x.tx, x.order.SellerID)
		if err != nil {
			return false, err
		}
		x.catalog = &has
	}
	return *x.catalog, nil
}

func (x *derivation) skip(why string, it *event.Item) {
	x.count(x.m.skipped.WithLabelValues(why).Inc)
	x.log.Debug("inventory: order line adjusts nothing", "reason", why, "event_id", x.ev.ID,
		"seller_id", x.order.SellerID, "order_no", it.OrderNo)
}

func (x *derivation) reserve(it *event.Item) error {
	seller := x.order.SellerID
	if it.OrderNo == "" {
		x.skip(skipNoOrderNo, it)
		return nil
	}
	if it.Qty == nil || *it.Qty <= 0 {
		x.skip(skipNoQty, it)
		return nil
	}
	c := codes{ItemNo: it.ItemNo, SellerItemCode: it.SellerItemCode, OptionCode: it.OptionCode}
	cancelled, err := x.lockLine(it.OrderNo, false)
	if err != nil {
		return err
	}
	if cancelled {
		x.skip(skipCancelled, it)
		x.log.Info("inventory: order line already cancelled, not reserved", "event_id", x.ev.ID,
			"seller_id", seller, "order_no", it.OrderNo)
		return nil
	}
	sku, known, err := x.skuOf(c)
	if err != nil {
		return err
	}
	if sku == "" {
		x.skip(skipNoSKU, it)
		return nil
	}
	a := &adjustment{SellerID: seller, OrderNo: it.OrderNo, Reason: Reserve, SKU: sku, codes: c,
		PackNo: x.order.PackNo, Delta: -*it.Qty, SourceEventID: x.ev.ID, Tenant: x.ev.Tenant}
	return x.apply(a, known)
}

// skuOf returns the SKU of an order line's codes, and whether the
// seller's catalog knows it ("" when no code of sku_order is set).
func (x *derivation) skuOf(c codes) (sku string, known bool, err error) {
	has, err := x.hasCatalog()
	if err != nil || !has {
		// No catalog: no code can resolve, so none is looked up.
		sku, _ = c.sku(x.s.SKUOrder)
		return sku, false, err
	}
	return resolve(x.ctx, x.tx, x.order.SellerID, c, x.s.SKUOrder)
}

func (x *derivation) release(it *event.Item) error {
	seller := x.order.SellerID
	if it.OrderNo == "" {
		x.skip(skipNoOrderNo, it)
		return nil
	}
	if _, err := x.lockLine(it.OrderNo, true); err != nil {
		return err
	}
	r, err := reservation(x.ctx, x.tx, seller, it.OrderNo)
	if err != nil {
		return err
	}
	if r == nil {
		x.count(x.m.unreserved.Inc)
		x.log.Info("inventory: cancel of an order line never reserved, nothing released", "event_id", x.ev.ID,
			"event_type", x.ev.Type, "seller_id", seller, "order_no", it.OrderNo)
		return nil
	}
	// The release gives back what was reserved, to the SKU it was taken
	// from: the cancel mail may carry fewer codes than the order mail.
	pack := x.order.PackNo
	if pack == "" {
		pack = r.PackNo
	}
	a := &adjustment{SellerID: seller, OrderNo: it.OrderNo, Reason: Release, SKU: r.SKU, codes: r.codes,
		PackNo: pack, Delta: -r.Delta, SourceEventID: x.ev.ID, Tenant: x.ev.Tenant}
	return x.apply(a, true)
}

// apply records the adjustment, moves the stock and builds its events.
// known is false when the SKU was resolved against no catalog row.
func (x *derivation) apply(a *adjustment, known bool) error {
	a.EventID = event.ID("inventory", a.SellerID, a.OrderNo, a.Reason)
	inserted, err := insertAdjustment(x.ctx, x.tx, a, x.now)
	if err != nil || !inserted {
		// Not inserted: this line's adjustment exists, from another mail
		// or another route's copy of this order event.
		return err
	}
	return x.move(a, known, true)
}

// move moves the stock of a's SKU by its delta (when known: in the
// catalog) and emits its events; recorded is set when a has a ledger row
// to note the stock after in.
func (x *derivation) move(a *adjustment, known, recorded bool) error {
	var m *moved
	var err error
	if known {
		if m, err = moveStock(x.ctx, x.tx, a.SellerID, a.SKU, a.Delta, x.s.Threshold, x.now); err != nil {
			return err
		}
	}
	data := &event.Adjustment{SellerID: a.SellerID, SKU: a.SKU, ItemNo: a.ItemNo, SellerItemCode: a.SellerItemCode,
		OptionCode: a.OptionCode, Delta: a.Delta, Reason: a.Reason, OrderNo: a.OrderNo, PackNo: a.PackNo,
		SourceEventID: a.SourceEventID}
	if m != nil {
		data.StockAfter = event.Int(m.Qty)
		if recorded {
			if err := setStockAfter(x.ctx, x.tx, a, m.Qty); err != nil {
				return err
			}
		}
	} else if err := x.unknownSKU(a); err != nil {
		return err
	}
	x.count(x.m.adjustments.WithLabelValues(a.Reason).Inc)
	if err := x.emit(a.EventID, event.InventoryAdjusted, a, data); err != nil {
		return err
	}
	if m != nil && m.Crossed {
		x.count(x.m.lowStock.Inc)
		low := &event.LowStock{SellerID: a.SellerID, SKU: a.SKU, Stock: m.Qty, Threshold: x.s.Threshold,
			SourceEventID: a.EventID}
		x.log.Info("inventory: stock low", "seller_id", a.SellerID, "sku", a.SKU, "stock", m.Qty,
			"threshold", x.s.Threshold, "event_id", a.EventID)
		return x.emit(event.ID("inventory", "low_stock", a.EventID), event.InventoryLowStock, a, low)
	}
	return nil
}

func (x *derivation) unknownSKU(a *adjustment) error {
	x.count(x.m.unknownSKU.Inc)
	ok, err := x.hasCatalog()
	if err != nil {
		return err
	}
	// Without any catalog every SKU is unknown: say so only at debug.
	level := slog.LevelDebug
	if ok {
		level = slog.LevelWarn
	}
	x.log.Log(x.ctx, level, "inventory: SKU not in the catalog, adjustment sent without stock_after",
		"seller_id", a.SellerID, "sku", a.SKU, "order_no", a.OrderNo, "event_id", a.EventID)
	return nil
}

// emit adds an inventory event, delivered to the tenant's endpoints that
// take its type, in order per SKU. An endpoint that receives the order
// event too gets it after that event (it follows the order key the order
// event has there): a receiver of both never sees a reservation before
// its order, nor a release before its reservation, and a cart's next
// order event does not wait for a flash sale's chain of adjustments.
func (x *derivation) emit(id string, t event.Type, a *adjustment, data any) error {
	e := &event.Event{ID: id, Type: t, Version: event.Version, CreatedAt: x.ev.CreatedAt.In(event.JST),
		Tenant: x.ev.Tenant, Data: data}
	payload, err := event.Marshal(e)
	if err != nil {
		return fmt.Errorf("inventory: encode %s: %w", t, err)
	}
	se := store.Event{ID: id, Type: string(t), Tenant: x.ev.Tenant, SellerID: a.SellerID, PackNo: a.PackNo,
		OrderNos: []string{a.OrderNo}, CreatedAt: x.ev.CreatedAt, Payload: payload}
	for _, name := range x.endpoints(x.ev.Tenant, t) {
		// One SKU's adjustments arrive in the order they were derived; at
		// an endpoint that also takes the order event, each also follows
		// its own order event (its cart's key, as second key: the cart's
		// later events do not wait for the SKU's chain).
		nd := store.NewDelivery{Endpoint: name, OrderKey: OrderKey(a.SellerID, a.SKU), KeyShared: true}
		for _, d := range x.ev.Deliveries {
			if d.Endpoint == name && d.OrderKey != "" {
				nd.SecondKey = d.OrderKey
			}
		}
		se.Deliveries = append(se.Deliveries, nd)
	}
	x.out = append(x.out, se)
	return nil
}
