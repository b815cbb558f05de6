package inventory

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/store"
)

var _ store.Corrector = (*Deriver)(nil).Correct

// Correct returns the inventory events of a re-parse that corrected the
// order event old into new: for each order line already reserved whose
// quantity or SKU changed, the difference (reason "correct"), never a
// second reservation; a line reserved for the first time now (its
// quantity was missing before) is reserved as at ingest; a line old had
// and new has not (its order number was misread) gets its reservation
// back. Only the reserving event type corrects anything.
func (d *Deriver) Correct(ctx context.Context, tx *sql.Tx, old, new *store.Event) ([]store.Event, error) {
	if event.Type(new.Type) != d.policy(new.Tenant).ReserveOn || new.Type == "" {
		return nil, nil
	}
	var src, prev struct {
		Data event.Order `json:"data"`
	}
	if err := json.Unmarshal(new.Payload, &src); err != nil {
		d.log.Warn("inventory: corrected order event unreadable, nothing derived", "event_id", new.ID, "err", err)
		return nil, nil
	}
	json.Unmarshal(old.Payload, &prev)
	x := &derivation{Deriver: d, ctx: ctx, tx: tx, ev: new, order: &src.Data, now: d.now().UnixMicro()}
	lines := map[string]bool{}
	for i := range src.Data.Items {
		it := &src.Data.Items[i]
		lines[it.OrderNo] = true
		if err := x.correct(it); err != nil {
			return nil, err
		}
	}
	if prev.Data.SellerID == src.Data.SellerID {
		for i := range prev.Data.Items {
			if no := prev.Data.Items[i].OrderNo; no != "" && !lines[no] {
				if err := x.giveBack(no); err != nil {
					return nil, err
				}
			}
		}
	}
	store.AfterCommit(ctx, x.counted...)
	return x.out, nil
}

// correct brings the reservation of order line it to what it says now.
func (x *derivation) correct(it *event.Item) error {
	seller := x.order.SellerID
	if it.OrderNo == "" {
		return nil
	}
	r, err := reservation(x.ctx, x.tx, seller, it.OrderNo)
	if err != nil {
		return err
	}
	if r == nil {
		return x.reserve(it) // never reserved: its quantity or codes were missing
	}
	if it.Qty == nil || *it.Qty <= 0 {
		x.skip(skipNoQty, it)
		return nil
	}
	if cancelled, err := x.lockLine(it.OrderNo, false); err != nil || cancelled {
		return err // a cancelled line was given back already
	}
	c := codes{ItemNo: it.ItemNo, SellerItemCode: it.SellerItemCode, OptionCode: it.OptionCode}
	sku, known, err := x.skuOf(c)
	if err != nil {
		return err
	}
	if sku == "" {
		x.skip(skipNoSKU, it)
		return nil
	}
	delta := -*it.Qty
	if sku == r.SKU && delta == r.Delta {
		return nil
	}
	if sku == r.SKU {
		if err := x.correction(r, sku, c, delta-r.Delta, known); err != nil {
			return err
		}
	} else {
		// Another SKU: the old one gets its reservation back, the new one
		// is reserved.
		if err := x.correction(r, r.SKU, r.codes, -r.Delta, true); err != nil {
			return err
		}
		if err := x.correction(r, sku, c, delta, known); err != nil {
			return err
		}
	}
	return setReservation(x.ctx, x.tx, seller, it.OrderNo, sku, c, delta, x.ev.ID)
}

// giveBack returns the reservation of an order line the corrected event
// no longer has.
func (x *derivation) giveBack(orderNo string) error {
	r, err := reservation(x.ctx, x.tx, x.order.SellerID, orderNo)
	if err != nil || r == nil || r.Delta == 0 {
		return err
	}
	if err := x.correction(r, r.SKU, r.codes, -r.Delta, true); err != nil {
		return err
	}
	return setReservation(x.ctx, x.tx, r.SellerID, orderNo, r.SKU, r.codes, 0, x.ev.ID)
}

// correction moves sku by delta for reservation r's line and emits its
// inventory.adjusted event (reason correct), keyed by the correcting
// event: the same correction is one event however often it is derived.
func (x *derivation) correction(r *adjustment, sku string, c codes, delta int64, known bool) error {
	a := &adjustment{SellerID: r.SellerID, OrderNo: r.OrderNo, Reason: Correct, SKU: sku, codes: c,
		PackNo: r.PackNo, Delta: delta, SourceEventID: x.ev.ID, Tenant: x.ev.Tenant}
	if a.PackNo == "" {
		a.PackNo = x.order.PackNo
	}
	a.EventID = event.ID("inventory", a.SellerID, a.OrderNo, Correct, x.ev.ID, sku)
	return x.move(a, known, false)
}

// setReservation makes the line's reservation row say what is reserved
// now, so that a later cancel gives back exactly that.
func setReservation(ctx context.Context, tx *sql.Tx, seller, orderNo, sku string, c codes, delta int64, source string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE inventory_adjustment SET sku = $1, item_no = $2, seller_item_code = $3,
		option_code = $4, delta = $5, source_event_id = $6 WHERE seller_id = $7 AND order_no = $8 AND reason = $9`,
		sku, c.ItemNo, c.SellerItemCode, c.OptionCode, delta, source, seller, orderNo, Reserve); err != nil {
		return fmt.Errorf("inventory: correct reservation: %w", err)
	}
	return nil
}
