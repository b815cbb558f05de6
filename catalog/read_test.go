package catalog

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// summary is what a golden file records of a read.
type summary struct {
	Kind     Kind      `json:"kind"`
	Encoding Encoding  `json:"encoding"`
	CRLF     bool      `json:"crlf"`
	Header   []string  `json:"header"`
	Columns  []string  `json:"columns"`
	Rows     []rowJSON `json:"rows"`
	Errors   []string  `json:"errors"`
}

type rowJSON struct {
	Line       int      `json:"line"`
	SKU        string   `json:"sku"`
	ItemNo     string   `json:"item_no"`
	SellerCode string   `json:"seller_code,omitempty"`
	OptionCode string   `json:"option_code,omitempty"`
	Title      string   `json:"title,omitempty"`
	Status     string   `json:"status,omitempty"`
	Options    []Option `json:"options,omitempty"`
	Qty        int64    `json:"qty"`
	Price      *int64   `json:"price"`
	Cells      []string `json:"cells"`
}

func summarize(f *File) summary {
	s := summary{Kind: f.Kind, Encoding: f.Encoding, CRLF: f.CRLF, Header: f.Header, Columns: f.Columns}
	for _, r := range f.Rows {
		s.Rows = append(s.Rows, rowJSON{r.Line, r.SKU(), r.ItemNo, r.SellerCode, r.OptionCode,
			r.Title, r.Status, r.Options, r.Qty, r.Price, r.Cells})
	}
	for _, e := range f.Errors {
		s.Errors = append(s.Errors, e.Error())
	}
	return s
}

// TestReadGolden reads every fixture and compares all it found (kind,
// encoding, columns, rows, errors) with testdata/<name>.golden.json.
func TestReadGolden(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			t.Parallel()
			f, _ := readFixture(t, fx)
			got, err := json.MarshalIndent(summarize(f), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", strings.TrimSuffix(fx.name, ".csv")+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("read differs from %s (run with -update after checking):\n%s", path, got)
			}
		})
	}
}

// TestReadFixtureErrors spells out what each fixture must yield, so that a
// golden file rewritten by mistake cannot hide a wrong line or column.
func TestReadFixtureErrors(t *testing.T) {
	tests := []struct {
		fixture string
		kind    Kind
		enc     Encoding
		skus    []string
		lines   []int
		errors  []RowError
	}{
		{"goods_ja_utf8bom.csv", KindGoods, UTF8BOM,
			[]string{"TS-001", "1000000002", "BAG-01"}, []int{2, 3, 6},
			[]RowError{{"goods_ja_utf8bom.csv", 5, 5, "在庫数", `qty "abc" is not a number`}}},
		{"goods_en_cp932.csv", KindGoods, CP932,
			[]string{"KB-01", "KB-02", "1100000004"}, []int{2, 3, 5},
			[]RowError{{"goods_en_cp932.csv", 4, 4, "Price", "the row has 3 fields, the header has 7"}}},
		{"options_en_utf8bom.csv", KindOptions, UTF8BOM,
			[]string{"TS-001-WH-M", "TS-001-WH-L", "TS-001-NV-M", "TS-001-BK-L"}, []int{2, 3, 4, 7},
			[]RowError{{"options_en_utf8bom.csv", 6, 9, "Qty", `qty "-2" is negative`}}},
		{"options_ja_cp932.csv", KindOptions, CP932,
			[]string{"CUP-WH-M", "CUP-BK-M", "MUG-350"}, []int{2, 3, 7},
			[]RowError{
				{"options_ja_cp932.csv", 5, 6, "オプションコード", "option_code is empty, so orders cannot be matched to this option"},
				{"options_ja_cp932.csv", 6, 6, "オプションコード", `duplicate SKU "CUP-WH-M", first on line 2`},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			var fx fixture
			for _, x := range fixtures {
				if x.name == tt.fixture {
					fx = x
				}
			}
			f, _ := readFixture(t, fx)
			if f.Kind != tt.kind || f.Encoding != tt.enc {
				t.Errorf("kind, encoding = %s, %s; want %s, %s", f.Kind, f.Encoding, tt.kind, tt.enc)
			}
			var skus []string
			var lines []int
			for _, r := range f.Rows {
				skus, lines = append(skus, r.SKU()), append(lines, r.Line)
			}
			if !reflect.DeepEqual(skus, tt.skus) || !reflect.DeepEqual(lines, tt.lines) {
				t.Errorf("rows = %q on lines %v; want %q on lines %v", skus, lines, tt.skus, tt.lines)
			}
			if !reflect.DeepEqual(f.Errors, tt.errors) {
				t.Errorf("errors = %+v\nwant %+v", f.Errors, tt.errors)
			}
		})
	}
}

func TestRowErrorString(t *testing.T) {
	tests := []struct {
		e    RowError
		want string
	}{
		{RowError{"GoodsList.csv", 12, 3, "在庫数", `qty "abc" is not a number`}, `GoodsList.csv:12:3 (在庫数): qty "abc" is not a number`},
		{RowError{"GoodsList.csv", 7, 0, "", "malformed CSV"}, "GoodsList.csv:7: malformed CSV"},
		{RowError{"x.csv", 2, 4, "", "the row has 4 fields, the header has 3"}, "x.csv:2:4: the row has 4 fields, the header has 3"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %s; want %s", got, tt.want)
		}
	}
}
