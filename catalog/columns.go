package catalog

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Canonical column names. A header maps to at most one of them; the rest of
// the header is kept verbatim and written back untouched.
const (
	ColItemNo     = "item_no"     // Qoo10 item number (商品番号, ItemCode)
	ColSellerCode = "seller_code" // seller's own item code (販売者商品コード, SellerCode)
	ColTitle      = "title"       // item name (商品名, ItemTitle)
	ColPrice      = "price"       // price in yen; for options the option's price
	ColQty        = "qty"         // stock quantity, the column Write replaces
	ColStatus     = "status"      // item status (販売状態, ItemStatus)
	ColOptionCode = "option_code" // seller's option code (オプションコード, OptionCode)
	// Option names and values are name1..name5 and value1..value5.
)

// maxOptions is how many name/value pairs QSM's combination options have
// (the API's Name1..Name5 / Value1..Value5).
const maxOptions = 5

// builtinAliases lists the header names seen in QSM downloads, linked
// software manuals and the QSM API. The real headers are not published, so
// this is a best guess that Options.Aliases extends or overrides.
var builtinAliases = func() map[string][]string {
	m := map[string][]string{
		ColItemNo:     {"商品番号", "商品コード", "Qoo10商品番号", "ItemCode", "ItemNo", "GoodsCode", "GdNo"},
		ColSellerCode: {"販売者商品コード", "販売者コード", "SellerCode", "SellerItemCode"},
		ColTitle:      {"商品名", "ItemTitle", "ItemName", "Title"},
		ColPrice:      {"価格", "販売価格", "商品価格", "オプション価格", "追加価格", "追加金額", "Price", "SellPrice", "ItemPrice", "OptionPrice"},
		ColQty:        {"在庫数", "在庫数量", "在庫", "数量", "Qty", "Quantity", "Stock", "ItemQty"},
		ColStatus:     {"販売状態", "商品状態", "ステータス", "ItemStatus", "Status"},
		ColOptionCode: {"オプションコード", "販売者オプションコード", "OptionCode", "SellerOptionCode"},
	}
	for i := 1; i <= maxOptions; i++ {
		n := fmt.Sprint(i)
		m["name"+n] = []string{"オプション名" + n, "選択肢名" + n, "Name" + n, "OptionName" + n}
		m["value"+n] = []string{"オプション値" + n, "選択肢値" + n, "Value" + n, "OptionValue" + n}
	}
	return m
}()

// defaultAliases maps a normalized header name to its canonical column.
var defaultAliases = func() map[string]string {
	m := make(map[string]string)
	for col, names := range builtinAliases {
		m[normHeader(col)] = col
		for _, n := range names {
			m[normHeader(n)] = col
		}
	}
	return m
}()

// isColumn reports whether name is a canonical column name.
func isColumn(name string) bool {
	_, ok := builtinAliases[name]
	return ok
}

// columnNames lists the canonical names, sorted, for error messages.
func columnNames() []string {
	names := make([]string, 0, len(builtinAliases))
	for c := range builtinAliases {
		names = append(names, c)
	}
	slices.Sort(names)
	return names
}

// normHeader folds the differences a person or a spreadsheet introduces into
// a header name: full-width letters and digits or half-width katakana (NFKC),
// case, spaces, '_' and '-'.
func normHeader(s string) string {
	s = strings.ToLower(norm.NFKC.String(s))
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '_', '-', '\ufeff':
			return -1
		}
		return r
	}, s)
}

// Validate checks that every alias names a canonical column (or "" to keep a
// header unmapped), so that a configuration error shows at load time.
func (o Options) Validate() error {
	keys := make([]string, 0, len(o.Aliases))
	for k := range o.Aliases {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if normHeader(k) == "" {
			return fmt.Errorf("catalog: alias %q: empty header name", k)
		}
		if c := o.Aliases[k]; c != "" && !isColumn(c) {
			return fmt.Errorf("catalog: alias %q: unknown column %q, want one of %s or \"\"",
				k, c, strings.Join(columnNames(), ", "))
		}
	}
	return nil
}

// mapHeader resolves each header cell to a canonical column ("" when unknown)
// and decides the kind of file from which columns are present.
func mapHeader(header []string, o Options) ([]string, Kind, error) {
	extra := make(map[string]string, len(o.Aliases))
	for k, v := range o.Aliases {
		extra[normHeader(k)] = v
	}
	cols := make([]string, len(header))
	seen := make(map[string]int)
	for i, h := range header {
		n := normHeader(h)
		c, ok := extra[n]
		if !ok {
			c = defaultAliases[n]
		}
		if c == "" {
			continue
		}
		if j, dup := seen[c]; dup {
			return nil, "", fmt.Errorf("%w: columns %d (%s) and %d (%s) both mean %s; map one of them to \"\" in the header aliases",
				ErrFormat, j+1, header[j], i+1, h, c)
		}
		seen[c] = i
		cols[i] = c
	}

	has := func(c string) bool { _, ok := seen[c]; return ok }
	kind := KindGoods
	if has(ColOptionCode) {
		kind = KindOptions
	}
	for i := 1; i <= maxOptions; i++ {
		if has(fmt.Sprint("name", i)) || has(fmt.Sprint("value", i)) {
			kind = KindOptions
		}
	}

	var missing []string
	want := func(c, names string) {
		if !has(c) {
			missing = append(missing, fmt.Sprintf("%s column (%s)", c, names))
		}
	}
	want(ColItemNo, "商品番号, 商品コード, ItemCode")
	want(ColQty, "在庫数, 数量, Qty")
	if kind == KindOptions {
		want(ColOptionCode, "オプションコード, OptionCode")
	}
	if len(missing) == 0 {
		return cols, kind, nil
	}

	msg := fmt.Sprintf("no %s; want item_no and qty for GoodsList.csv, plus option_code for InventoryManagement_gridInventory.csv; the header is %q",
		strings.Join(missing, " and no "), header)
	if len(header) == 1 && strings.ContainsAny(header[0], "\t;") {
		msg += "; the file looks tab- or semicolon-separated, save it as comma-separated CSV"
	} else {
		msg += "; map other header names through the header aliases"
	}
	return nil, "", fmt.Errorf("%w: %s", ErrFormat, msg)
}
