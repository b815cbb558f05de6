package inventory

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/catalog"
	"github.com/qoo10hook/qoo10hook/event"
)

// The catalog package's fixtures: both kinds, in UTF-8 with BOM and in
// CP932, each with broken rows.
const fixtures = "../catalog/testdata/"

// aliases maps the English fixture's custom stock header.
var aliases = Settings{Aliases: map[string]string{"Stock Count": catalog.ColQty}}

// TestImportBothKindsBothEncodings imports each fixture: good rows become
// stock, bad rows are reported with file, line and column.
func TestImportBothKindsBothEncodings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file, kind, encoding string
		stock                map[string]int64
		errors               []string
	}{
		{"goods_ja_utf8bom.csv", "goods", "utf-8-bom", map[string]int64{"TS-001": 12, "1000000002": 5, "BAG-01": 3},
			[]string{`goods_ja_utf8bom.csv:5:5 (在庫数): qty "abc" is not a number`}},
		{"goods_en_cp932.csv", "goods", "cp932", map[string]int64{"KB-01": 7, "KB-02": 0, "1100000004": 15},
			[]string{`goods_en_cp932.csv:4:4 (Price): the row has 3 fields, the header has 7`}},
		{"options_en_utf8bom.csv", "options", "utf-8-bom", map[string]int64{"TS-001-WH-M": 5, "TS-001-WH-L": 0, "TS-001-NV-M": 2, "TS-001-BK-L": 3},
			[]string{`options_en_utf8bom.csv:6:9 (Qty): qty "-2" is negative`}},
		{"options_ja_cp932.csv", "options", "cp932", map[string]int64{"CUP-WH-M": 10, "CUP-BK-M": 2, "MUG-350": 8},
			[]string{`options_ja_cp932.csv:5:6 (オプションコード): option_code is empty, so orders cannot be matched to this option`,
				`options_ja_cp932.csv:6:6 (オプションコード): duplicate SKU "CUP-WH-M", first on line 2`}},
	}
	forStores(t, DeriverOptions{Settings: aliases}, func(t *testing.T, e *env) {
		for _, c := range cases {
			seller := "s-" + c.file
			rep := e.importFiles(seller, fixtures+c.file)
			f := rep.Files[0]
			if f.Kind != c.kind || f.Encoding != c.encoding || f.Imported != len(c.stock) {
				t.Errorf("%s: kind %s, encoding %s, %d imported; want %s, %s, %d", c.file, f.Kind, f.Encoding, f.Imported,
					c.kind, c.encoding, len(c.stock))
			}
			var got []string
			for _, re := range f.Errors {
				got = append(got, re.String())
			}
			if strings.Join(got, "\n") != strings.Join(c.errors, "\n") {
				t.Errorf("%s: errors\n%s\nwant\n%s", c.file, strings.Join(got, "\n"), strings.Join(c.errors, "\n"))
			}
			for sku, want := range c.stock {
				if got := e.stock(seller, sku); got != want {
					t.Errorf("%s: stock of %s = %d, want %d", c.file, sku, got, want)
				}
			}
			if n := e.count(`SELECT count(*) FROM inventory_stock WHERE seller_id = $1`, seller); n != len(c.stock) {
				t.Errorf("%s: %d stock rows, want %d", c.file, n, len(c.stock))
			}
		}
	})
}

// TestImportIsAllOrNothing: a file that is no catalog, or a failing
// commit, leaves the store as it was.
func TestImportIsAllOrNothing(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{}, func(t *testing.T, e *env) {
		e.importCSV("shop", "GoodsList.csv", goodsCSV)
		good, _ := os.ReadFile(fixtures + "options_ja_cp932.csv")
		_, err := e.svc.Import(t.Context(), "shop", []Upload{
			{Name: "options.csv", Body: bytes.NewReader(good)},
			{Name: "notes.csv", Body: strings.NewReader("a;b;c\n1;2;3\n")},
		}, ImportOptions{Partial: true})
		if !errors.Is(err, catalog.ErrFormat) || !strings.Contains(err.Error(), "notes.csv") {
			t.Errorf("import with a non-catalog file: %v, want a format error naming notes.csv", err)
		}
		failing, err := NewService(failingDB{e.st}, Settings{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = failing.Import(t.Context(), "shop", []Upload{
			{Name: "options.csv", Body: bytes.NewReader(good)},
			{Name: "GoodsList.csv", Body: strings.NewReader(strings.ReplaceAll(goodsCSV, ",10\n", ",99\n"))},
		}, ImportOptions{Partial: true})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("import on a failing store: %v", err)
		}
		if n := e.count(`SELECT count(*) FROM inventory_file`); n != 1 {
			t.Errorf("%d files stored, want the first import's only", n)
		}
		if n := e.count(`SELECT count(*) FROM inventory_stock WHERE kind = 'options'`); n != 0 {
			t.Errorf("%d option rows stored, want 0", n)
		}
		if got := e.stock("shop", "TS-001"); got != 10 {
			t.Errorf("TS-001 stock %d, want 10 as first imported", got)
		}
		for _, bad := range []struct {
			seller string
			ups    []Upload
		}{
			{"", []Upload{{Name: "a.csv", Body: strings.NewReader(goodsCSV)}}},
			{"shop", nil},
			{"shop", []Upload{{Name: "a.csv", Body: strings.NewReader(goodsCSV)}, {Name: "b.csv", Body: strings.NewReader(goodsCSV)}}},
		} {
			if _, err := e.svc.Import(t.Context(), bad.seller, bad.ups, ImportOptions{}); !errors.Is(err, ErrInvalid) {
				t.Errorf("import %q %d files: %v, want ErrInvalid", bad.seller, len(bad.ups), err)
			}
		}
	})
}

// TestExportRoundTrip: an export right after the import is the file as
// uploaded; after orders it carries the current stock, and importing that
// export changes no stock and exports the same bytes again.
func TestExportRoundTrip(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{Settings: aliases}, func(t *testing.T, e *env) {
		for _, file := range []string{"goods_ja_utf8bom.csv", "goods_en_cp932.csv", "options_en_utf8bom.csv", "options_ja_cp932.csv"} {
			orig, err := os.ReadFile(fixtures + file)
			if err != nil {
				t.Fatal(err)
			}
			seller := "s-" + file
			e.importFiles(seller, fixtures+file)
			if got := e.export(seller, ""); !bytes.Equal(got, orig) {
				t.Errorf("%s: export before any order differs from the upload:\n%q\n%q", file, got, orig)
			}
			// Sell one of every SKU.
			page, err := e.svc.Stock(t.Context(), StockFilter{SellerID: seller})
			if err != nil {
				t.Fatal(err)
			}
			before := map[string]int64{}
			for i, s := range page.Stock {
				before[s.SKU] = s.Qty - 1
				e.send("", event.OrderPlaced, order(seller, "P", line{"O" + s.SKU, s.ItemNo, s.SellerItemCode, s.OptionCode, 1}))
				if got := e.stock(seller, s.SKU); got != s.Qty-1 {
					t.Fatalf("%s: line %d: stock of %s = %d after one sold, want %d", file, i, s.SKU, got, s.Qty-1)
				}
			}
			first := e.export(seller, "")
			if bytes.Equal(first, orig) {
				t.Errorf("%s: the export after orders is the upload", file)
			}
			e.importCSV(seller, file, string(first))
			for sku, want := range before {
				if want < 0 {
					want = 0 // QSM takes no negative stock: exported as 0
				}
				if got := e.stock(seller, sku); got != want {
					t.Errorf("%s: after re-import, %s = %d, want %d", file, sku, got, want)
				}
			}
			if again := e.export(seller, ""); !bytes.Equal(again, first) {
				t.Errorf("%s: export -> import -> export differs:\n%q\n%q", file, again, first)
			}
		}
	})
}

// TestReimportReplacesBaseline: a new file of a kind replaces the
// seller's previous one: its quantities become the stock, SKUs it lacks
// go, the other kind's SKUs stay.
func TestReimportReplacesBaseline(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{Settings: Settings{Threshold: 3}}, func(t *testing.T, e *env) {
		e.importCSV("shop", "GoodsList.csv", goodsCSV)
		e.importCSV("shop", "Inventory.csv", optionsCSV)
		e.send("", event.OrderPlaced, order("shop", "P1", line{"O1", "", "MUG-01", "", 4})) // MUG-01: 1, low
		rep := e.importCSV("shop", "GoodsList2.csv", "商品番号,販売者商品コード,在庫数\n1002,MUG-01,20\n1004,CAP-01,2\n")
		if f := rep.Files[0]; f.Imported != 2 || f.Replaced != 3 {
			t.Errorf("report %+v, want 2 imported replacing 3", f)
		}
		for sku, want := range map[string]int64{"MUG-01": 20, "CAP-01": 2, "TS-001": -1, "BAG-01": -1, "TS-001-M": 4} {
			if got := e.stock("shop", sku); got != want {
				t.Errorf("%s = %d, want %d", sku, got, want)
			}
		}
		page, _ := e.svc.Stock(t.Context(), StockFilter{SellerID: "shop", Below: ptr(int64(3))})
		var low []string
		for _, s := range page.Stock {
			if s.Low {
				low = append(low, s.SKU)
			}
		}
		// Imported below the threshold is low, without an event: no
		// adjustment crossed it.
		if strings.Join(low, ",") != "CAP-01,TS-001-L" {
			t.Errorf("low SKUs %v, want CAP-01 and TS-001-L", low)
		}
		if n := len(e.lowStock()); n != 1 {
			t.Errorf("%d low-stock events, want the one MUG-01's order made", n)
		}
		if n := e.count(`SELECT count(*) FROM inventory_file WHERE seller_id = 'shop'`); n != 2 {
			t.Errorf("%d files for the seller, want 2 (one per kind)", n)
		}
		if _, err := e.svc.Export(t.Context(), &bytes.Buffer{}, "shop", ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("export without a kind when the seller has two files: %v", err)
		}
		if got := e.export("shop", "goods"); !strings.Contains(string(got), "1002,MUG-01,20\n") {
			t.Errorf("goods export %q", got)
		}
		if _, err := e.svc.Export(t.Context(), &bytes.Buffer{}, "other", ""); !errors.Is(err, ErrNoCatalog) {
			t.Errorf("export for a seller without catalog: %v", err)
		}
	})
}

// TestStockPages: the stock list filters and pages.
func TestStockPages(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{}, func(t *testing.T, e *env) {
		e.importCSV("a", "GoodsList.csv", goodsCSV)
		e.importCSV("b", "GoodsList.csv", goodsCSV)
		page, err := e.svc.Stock(t.Context(), StockFilter{Limit: 4})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Stock) != 4 || page.NextOffset != 4 || page.Stock[3].SellerID != "b" {
			t.Fatalf("first page %+v", page)
		}
		page, _ = e.svc.Stock(t.Context(), StockFilter{Limit: 4, Offset: 4})
		if len(page.Stock) != 2 || page.NextOffset != 0 {
			t.Errorf("second page %+v", page)
		}
		page, _ = e.svc.Stock(t.Context(), StockFilter{SellerID: "b", Below: ptr(int64(5))})
		if len(page.Stock) != 1 || page.Stock[0].SKU != "BAG-01" || page.Stock[0].Title != "トートバッグ" {
			t.Errorf("b below 5: %+v", page.Stock)
		}
	})
}

func ptr[T any](v T) *T { return &v }
