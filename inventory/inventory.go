// Package inventory derives stock adjustments from order events and keeps the running stock of the seller's QSM catalog.
//
// Every order line an order event carries becomes one inventory.adjusted
// event: a reservation (delta -qty) when the event's type reserves stock
// for its route, a release (+qty, of what was reserved, nothing else)
// when it releases stock. There is exactly one adjustment per (seller_id,
// order_no, reason): a unique key in the store, written in the
// transaction that stores the order event, makes duplicates, re-sends and
// replays adjust nothing twice.
//
// The catalog is what the seller downloads from QSM (GoodsList.csv and
// InventoryManagement_gridInventory.csv), imported per seller. Its
// quantities start the running stock of each SKU, which every adjustment
// then moves; an inventory.low_stock event fires when a SKU drops below
// the threshold. Export writes the imported file back with the current
// stock, ready to upload to QSM.
package inventory

import (
	"fmt"
	"slices"

	"github.com/qoo10hook/qoo10hook/catalog"
)

// Reasons of an adjustment, as its event carries them.
const (
	Reserve = "reserve"
	Release = "release"
	// Correct is the reason of the difference a re-parse makes to an
	// order line already reserved.
	Correct = "correct"
)

// Keys are the codes of an order line (and of a catalog row) that can be
// its SKU, in the names of the event's item fields.
const (
	KeyOptionCode     = "option_code"
	KeySellerItemCode = "seller_item_code"
	KeyItemNo         = "item_no"
)

// DefaultSKUOrder is how linked software resolves an order line's SKU:
// its option code, else its seller item code, else Qoo10's item number.
var DefaultSKUOrder = []string{KeyOptionCode, KeySellerItemCode, KeyItemNo}

// Settings are what the deriver and the catalog import agree on.
type Settings struct {
	// SKUOrder lists the keys tried, in order, to name a SKU; nil means
	// DefaultSKUOrder.
	SKUOrder []string
	// Threshold: a SKU whose stock drops below it is low, and one
	// inventory.low_stock event says so.
	Threshold int64
	// Aliases extend the catalog's header names (catalog.Options.Aliases).
	Aliases map[string]string
	// MaxFileBytes bounds one catalog file; 0 means catalog.DefaultMaxBytes.
	MaxFileBytes int64
}

func (s Settings) normalized() (Settings, error) {
	if len(s.SKUOrder) == 0 {
		s.SKUOrder = DefaultSKUOrder
	}
	for i, k := range s.SKUOrder {
		if !slices.Contains(DefaultSKUOrder, k) || slices.Index(s.SKUOrder, k) != i {
			return s, fmt.Errorf("inventory: sku order %q: want each of %v at most once", s.SKUOrder, DefaultSKUOrder)
		}
	}
	if s.MaxFileBytes <= 0 {
		s.MaxFileBytes = catalog.DefaultMaxBytes
	}
	if err := s.catalogOptions().Validate(); err != nil {
		return s, fmt.Errorf("inventory: %w", err)
	}
	return s, nil
}

func (s Settings) catalogOptions() catalog.Options {
	return catalog.Options{Aliases: s.Aliases, MaxBytes: s.MaxFileBytes}
}

// codes are the three codes of an order line or a catalog row.
type codes struct {
	ItemNo, SellerItemCode, OptionCode string
}

func (c codes) get(key string) string {
	switch key {
	case KeyOptionCode:
		return c.OptionCode
	case KeySellerItemCode:
		return c.SellerItemCode
	case KeyItemNo:
		return c.ItemNo
	}
	return ""
}

// sku returns the first code set, in the order given, and its key.
func (c codes) sku(order []string) (sku, key string) {
	for _, k := range order {
		if v := c.get(k); v != "" {
			return v, k
		}
	}
	return "", ""
}

func rowCodes(r catalog.Row) codes {
	return codes{ItemNo: r.ItemNo, SellerItemCode: r.SellerCode, OptionCode: r.OptionCode}
}

// OrderKey is the delivery order key of a SKU's inventory events at an
// endpoint that receives no order events: it receives one SKU's events in
// the order they were derived.
func OrderKey(sellerID, sku string) string { return "sku:" + sellerID + "|" + sku }
