package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/qoo10hook/qoo10hook/catalog"
	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/inventory"
)

// Inventory configures the stock adjustments derived from order events
// and the catalog (QSM's GoodsList.csv and
// InventoryManagement_gridInventory.csv) they are resolved against.
type Inventory struct {
	// ReserveOn is the order event type whose lines take stock:
	// order.placed (the default: Qoo10 takes its own stock at order time),
	// order.paid, or none to derive no adjustments at all.
	ReserveOn string `yaml:"reserve_on" env:"QOO10HOOK_INVENTORY_RESERVE_ON"`
	// ReleaseOn is the order event type that gives reserved stock back:
	// order.cancelled (the default), order.cancel_requested, or none.
	ReleaseOn string `yaml:"release_on" env:"QOO10HOOK_INVENTORY_RELEASE_ON"`
	// SKUOrder is the order in which an order line's codes are tried as
	// its SKU: option_code, seller_item_code, item_no (the default, as
	// linked software does it), or any order of a subset of them.
	SKUOrder []string `yaml:"sku_order" env:"QOO10HOOK_INVENTORY_SKU_ORDER"`
	// LowStockThreshold: an inventory.low_stock event fires once when a
	// SKU's stock drops below it, and again only after it has risen back
	// to it. 0 fires only for oversold SKUs.
	LowStockThreshold int64 `yaml:"low_stock_threshold" env:"QOO10HOOK_INVENTORY_LOW_STOCK_THRESHOLD"`
	// MaxFileBytes bounds one catalog file read by an import.
	MaxFileBytes ByteSize `yaml:"max_file_bytes" env:"QOO10HOOK_INVENTORY_MAX_FILE_BYTES"`
	// HeaderAliases maps further CSV header names to catalog columns
	// (item_no, seller_code, option_code, title, price, qty, status,
	// name1..name5, value1..value5), or to "" to ignore a header.
	HeaderAliases map[string]string `yaml:"header_aliases,omitempty"`
}

// RouteInventory overrides the inventory defaults for one route.
type RouteInventory struct {
	ReserveOn string `yaml:"reserve_on,omitempty"`
	ReleaseOn string `yaml:"release_on,omitempty"`
}

// SKU keys: the order line codes sku_order lists (inventory's keys).
const (
	SKUOptionCode     = inventory.KeyOptionCode
	SKUSellerItemCode = inventory.KeySellerItemCode
	SKUItemNo         = inventory.KeyItemNo
)

// InventoryNone turns reserving or releasing off.
const InventoryNone = "none"

var (
	reserveTypes = []string{string(event.OrderPlaced), string(event.OrderPaid), InventoryNone}
	releaseTypes = []string{string(event.OrderCancelled), string(event.OrderCancelRequested), InventoryNone}
	skuKeys      = inventory.DefaultSKUOrder
)

// DefaultInventory returns the inventory settings used where nothing else
// is said.
func DefaultInventory() Inventory {
	return Inventory{
		ReserveOn:         string(inventory.DefaultPolicy.ReserveOn),
		ReleaseOn:         string(inventory.DefaultPolicy.ReleaseOn),
		SKUOrder:          slices.Clone(inventory.DefaultSKUOrder),
		LowStockThreshold: 1,
		MaxFileBytes:      catalog.DefaultMaxBytes,
	}
}

// InventoryPolicy returns the event types that reserve and release stock
// for a route's tenant ("" for the routes-less setup): the route's own
// settings over the inventory section's. "none" comes back as "".
func (c *Config) InventoryPolicy(tenant string) (reserveOn, releaseOn string) {
	reserveOn, releaseOn = c.Inventory.ReserveOn, c.Inventory.ReleaseOn
	for _, r := range c.Routes {
		if r.Tenant != tenant || r.Inventory == nil {
			continue
		}
		if r.Inventory.ReserveOn != "" {
			reserveOn = r.Inventory.ReserveOn
		}
		if r.Inventory.ReleaseOn != "" {
			releaseOn = r.Inventory.ReleaseOn
		}
	}
	if reserveOn == InventoryNone {
		reserveOn = ""
	}
	if releaseOn == InventoryNone {
		releaseOn = ""
	}
	return reserveOn, releaseOn
}

func (c *Config) validateInventory() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	inv := c.Inventory
	if !slices.Contains(reserveTypes, inv.ReserveOn) {
		bad("inventory.reserve_on (QOO10HOOK_INVENTORY_RESERVE_ON)", "%q is not one of %s", inv.ReserveOn, strings.Join(reserveTypes, ", "))
	}
	if !slices.Contains(releaseTypes, inv.ReleaseOn) {
		bad("inventory.release_on (QOO10HOOK_INVENTORY_RELEASE_ON)", "%q is not one of %s", inv.ReleaseOn, strings.Join(releaseTypes, ", "))
	}
	if len(inv.SKUOrder) == 0 {
		bad("inventory.sku_order (QOO10HOOK_INVENTORY_SKU_ORDER)", "lists no code; write e.g. [%s]", strings.Join(skuKeys, ", "))
	}
	seen := map[string]bool{}
	for i, k := range inv.SKUOrder {
		f := fmt.Sprintf("inventory.sku_order[%d] (QOO10HOOK_INVENTORY_SKU_ORDER)", i)
		switch {
		case !slices.Contains(skuKeys, k):
			bad(f, "%q is not one of %s", k, strings.Join(skuKeys, ", "))
		case seen[k]:
			bad(f, "%q is listed twice", k)
		}
		seen[k] = true
	}
	if inv.LowStockThreshold < 0 {
		bad("inventory.low_stock_threshold (QOO10HOOK_INVENTORY_LOW_STOCK_THRESHOLD)", "%d must not be negative (default 1: fires when a SKU sells out)", inv.LowStockThreshold)
	}
	if inv.MaxFileBytes < 1024 {
		bad("inventory.max_file_bytes (QOO10HOOK_INVENTORY_MAX_FILE_BYTES)", "%d is too small (at least 1KiB; default 64MiB)", inv.MaxFileBytes)
	}
	if err := (catalog.Options{Aliases: inv.HeaderAliases}).Validate(); err != nil {
		bad("inventory.header_aliases", "%v", strings.TrimPrefix(err.Error(), "catalog: "))
	}
	for i, r := range c.Routes {
		if r.Inventory == nil {
			continue
		}
		f := fmt.Sprintf("routes[%d].inventory", i)
		if v := r.Inventory.ReserveOn; v != "" && !slices.Contains(reserveTypes, v) {
			bad(f+".reserve_on", "%q is not one of %s", v, strings.Join(reserveTypes, ", "))
		}
		if v := r.Inventory.ReleaseOn; v != "" && !slices.Contains(releaseTypes, v) {
			bad(f+".release_on", "%q is not one of %s", v, strings.Join(releaseTypes, ", "))
		}
	}
	return errs
}
