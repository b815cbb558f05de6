package config

import (
	"strings"
	"testing"
)

func TestLoadInventory(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/good-inventory.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	inv := cfg.Inventory
	if strings.Join(inv.SKUOrder, ",") != "seller_item_code,option_code" || inv.LowStockThreshold != 3 ||
		inv.MaxFileBytes != 8<<20 || inv.HeaderAliases["在庫数(合計)"] != "qty" || inv.ReserveOn != "order.placed" {
		t.Errorf("inventory = %+v", inv)
	}
	for _, c := range []struct{ tenant, reserve, release string }{
		{"shop42", "order.paid", "order.cancelled"},
		{"wholesale", "order.placed", ""},
		{"", "order.placed", "order.cancelled"},
	} {
		if r, l := cfg.InventoryPolicy(c.tenant); r != c.reserve || l != c.release {
			t.Errorf("policy of %q = %q, %q; want %q, %q", c.tenant, r, l, c.reserve, c.release)
		}
	}

	cfg, err = Load("testdata/good-inventory.yaml", env(map[string]string{
		"QOO10HOOK_INVENTORY_RESERVE_ON":          "none",
		"QOO10HOOK_INVENTORY_SKU_ORDER":           "item_no, option_code",
		"QOO10HOOK_INVENTORY_LOW_STOCK_THRESHOLD": "0",
		"QOO10HOOK_INVENTORY_MAX_FILE_BYTES":      "1MiB",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := cfg.InventoryPolicy(""); r != "" || strings.Join(cfg.Inventory.SKUOrder, ",") != "item_no,option_code" ||
		cfg.Inventory.LowStockThreshold != 0 || cfg.Inventory.MaxFileBytes != 1<<20 {
		t.Errorf("env not applied: %+v", cfg.Inventory)
	}
	if r, _ := cfg.InventoryPolicy("shop42"); r != "order.paid" {
		t.Errorf("a route's reserve_on must win over the default, got %q", r)
	}
}

func TestLoadInventoryDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	inv := cfg.Inventory
	if inv.ReserveOn != "order.placed" || inv.ReleaseOn != "order.cancelled" || inv.LowStockThreshold != 1 ||
		strings.Join(inv.SKUOrder, ",") != "option_code,seller_item_code,item_no" || inv.MaxFileBytes != 64<<20 {
		t.Errorf("defaults = %+v", inv)
	}
}

func TestLoadBadInventory(t *testing.T) {
	t.Parallel()
	_, err := Load("testdata/bad-inventory.yaml", env(nil))
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		`routes[0].inventory.reserve_on: "order.shipped" is not one of order.placed, order.paid, none`,
		`inventory.release_on (QOO10HOOK_INVENTORY_RELEASE_ON): "order.completed" is not one of`,
		`inventory.sku_order[1] (QOO10HOOK_INVENTORY_SKU_ORDER): "jan_code" is not one of option_code, seller_item_code, item_no`,
		`inventory.sku_order[2] (QOO10HOOK_INVENTORY_SKU_ORDER): "option_code" is listed twice`,
		`inventory.low_stock_threshold (QOO10HOOK_INVENTORY_LOW_STOCK_THRESHOLD): -1 must not be negative`,
		`inventory.header_aliases: alias "在庫": unknown column "stock"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	_, err = Load("", env(map[string]string{"QOO10HOOK_INVENTORY_SKU_ORDER": " , "}))
	if err == nil || !strings.Contains(err.Error(), "inventory.sku_order (QOO10HOOK_INVENTORY_SKU_ORDER): lists no code") {
		t.Errorf("empty sku order: %v", err)
	}
}
