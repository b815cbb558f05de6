package catalog

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

// TestKind: the kind comes from the header alone, whatever the file is called.
func TestKind(t *testing.T) {
	tests := []struct {
		header string
		opts   Options
		want   Kind
	}{
		{"商品番号,販売者商品コード,商品名,販売価格,在庫数", Options{}, KindGoods},
		{"ItemCode,SellerCode,ItemTitle,Price,Qty,ItemStatus", Options{}, KindGoods},
		{"商品コード,数量", Options{}, KindGoods},
		{"item_no,qty", Options{}, KindGoods},
		{"Ｉｔｅｍ　Ｃｏｄｅ,ＱＴＹ", Options{}, KindGoods},
		{"商品番号,ｵﾌﾟｼｮﾝｺｰﾄﾞ,在庫数", Options{}, KindOptions},
		{"商品番号,オプション名１,在庫数,Option_Code", Options{}, KindOptions},
		{"商品番号,オプション名1,オプション値1,オプションコード,在庫数", Options{}, KindOptions},
		{"ItemCode,Name1,Value1,Name2,Value2,OptionCode,Price,Qty", Options{}, KindOptions},
		{"ItemCode,option_code,qty", Options{}, KindOptions},
		{"商品番号,ＳＫＵ,個数", Options{Aliases: map[string]string{"SKU": ColOptionCode, "個数": ColQty}}, KindOptions},
	}
	for _, tt := range tests {
		f, err := Read("x.csv", strings.NewReader(tt.header+"\n"), tt.opts)
		if err != nil {
			t.Errorf("%s: %v", tt.header, err)
			continue
		}
		if f.Kind != tt.want {
			t.Errorf("%s: kind %s; want %s", tt.header, f.Kind, tt.want)
		}
	}
}

// TestHeaderErrors: a header that is neither download is an error that says
// what was expected.
func TestHeaderErrors(t *testing.T) {
	tests := []struct {
		name, in string
		opts     Options
		want     []string
	}{
		{"unknown", "注文番号,配送状態\n1,x\n", Options{},
			[]string{"not a QSM catalog CSV", "no item_no column (商品番号, 商品コード, ItemCode) and no qty column (在庫数, 数量, Qty)",
				"GoodsList.csv", "InventoryManagement_gridInventory.csv", `["注文番号" "配送状態"]`, "header aliases"}},
		{"no qty", "ItemCode,SellerCode,Stock Count\n", Options{},
			[]string{"no qty column"}},
		{"options without option code", "商品番号,オプション名1,オプション値1,在庫数\n", Options{},
			[]string{"no option_code column (オプションコード, OptionCode)"}},
		{"ambiguous", "商品番号,価格,販売価格,在庫数\n", Options{},
			[]string{"columns 2 (価格) and 3 (販売価格) both mean price"}},
		{"tab separated", "商品番号\t在庫数\n", Options{},
			[]string{"tab- or semicolon-separated"}},
		{"empty", "", Options{}, []string{"no header, the file is empty"}},
		{"blank lines only", "\r\n\r\n", Options{}, []string{"no header"}},
		{"UTF-16", "\xff\xfeI\x00", Options{}, []string{"UTF-16"}},
		{"bare quote in header", "Item\"Code,Qty\n", Options{}, []string{"header:", "bare \""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read("x.csv", strings.NewReader(tt.in), tt.opts)
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("err = %v; want ErrFormat", err)
			}
			if !strings.HasPrefix(err.Error(), "catalog: read x.csv: ") {
				t.Errorf("err = %v; want the op prefix", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant it to contain %s", err, w)
				}
			}
		})
	}
}

// TestAliases: caller aliases add names, override built-in ones, and "" keeps
// a header unmapped; a bad alias is a configuration error.
func TestAliases(t *testing.T) {
	in := "商品番号,価格,販売価格,在庫(倉庫A),在庫数\n1,100,200,7,9\n"
	f, err := Read("x.csv", strings.NewReader(in), Options{Aliases: map[string]string{
		"価格":      "",     // the list price; 販売価格 is what the buyer pays
		"在庫(倉庫A)": ColQty, // the stock this seller syncs
		"在庫数":     "",
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := f.Rows[0]
	if r.Qty != 7 || r.Price == nil || *r.Price != 200 {
		t.Errorf("qty, price = %d, %v; want 7, 200", r.Qty, r.Price)
	}
	if got := strings.Join(f.Columns, ","); got != "item_no,,price,qty," {
		t.Errorf("columns = %s", got)
	}

	for _, o := range []Options{
		{Aliases: map[string]string{"在庫": "stock"}},
		{Aliases: map[string]string{" ": ColQty}},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%v) = nil; want an error", o.Aliases)
		}
		if _, err := Read("x.csv", strings.NewReader(in), o); err == nil || !strings.Contains(err.Error(), "alias") {
			t.Errorf("Read with %v = %v; want an alias error", o.Aliases, err)
		}
	}
	err = Options{Aliases: map[string]string{"在庫": "stock"}}.Validate()
	if !strings.Contains(err.Error(), `"stock"`) || !strings.Contains(err.Error(), "option_code") {
		t.Errorf("Validate = %v; want it to name the bad column and the good ones", err)
	}
}

// TestEncodings: detection of UTF-8, UTF-8 with BOM and CP932, and cells
// decoded in each.
func TestEncodings(t *testing.T) {
	text := "商品番号,商品名,在庫数\r\n1,髙島屋①,3\r\n"
	sjis, err := japanese.ShiftJIS.NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in string
		want     Encoding
	}{
		{"utf-8", text, UTF8},
		{"utf-8-bom", "\ufeff" + text, UTF8BOM},
		{"cp932", sjis, CP932},
		{"ascii", "ItemCode,Qty\n1,2\n", UTF8},
	}
	for _, tt := range tests {
		f, err := Read("x.csv", strings.NewReader(tt.in), Options{})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if f.Encoding != tt.want || !f.CRLF == strings.Contains(tt.in, "\r\n") {
			t.Errorf("%s: encoding %s crlf %v; want %s", tt.name, f.Encoding, f.CRLF, tt.want)
		}
		if tt.name != "ascii" && (f.Header[0] != "商品番号" || f.Rows[0].Title != "髙島屋①") {
			t.Errorf("%s: header %q, title %q", tt.name, f.Header, f.Rows[0].Title)
		}
	}
}

// TestBadRows: every kind of bad row is reported where it starts and the
// rows after it are still read.
func TestBadRows(t *testing.T) {
	in := strings.Join([]string{
		"ItemCode,SellerCode,ItemTitle,Price,Qty", // 1
		"1,A,\"two\nlines\",100,1",                // 2-3
		"2,B,x,100",                               // 4: too few
		"3,C,x,100,1,extra",                       // 5: too many
		",D,x,100,1",                              // 6: no item_no
		"5,E,x,abc,1",                             // 7: bad price
		"6,F,x,100,1.5",                           // 8: fraction
		"7,G,x,100,99999999999999999999",          // 9: overflow
		"8,H,bad\"quote,100,1",                    // 10: bare quote
		"9,I,\"bad\"x,100,1",                      // 11: text after a closing quote
		"10,A,x,100,1",                            // 12: duplicate SKU
		"11,J,x,,２",                               // 13: good, no price
	}, "\n") + "\n"
	f, err := Read("GoodsList.csv", strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GoodsList.csv:4:5 (Qty): the row has 4 fields, the header has 5",
		"GoodsList.csv:5:6: the row has 6 fields, the header has 5",
		"GoodsList.csv:6:1 (ItemCode): item_no is empty",
		`GoodsList.csv:7:4 (Price): price "abc" is not a number`,
		`GoodsList.csv:8:5 (Qty): qty "1.5" is not a whole number`,
		`GoodsList.csv:9:5 (Qty): qty "99999999999999999999" is out of range`,
		`GoodsList.csv:10: malformed CSV at line 10, byte 8: bare " in non-quoted-field`,
		`GoodsList.csv:11: malformed CSV at line 11, byte 9: extraneous or missing " in quoted-field`,
		`GoodsList.csv:12:2 (SellerCode): duplicate SKU "A", first on line 2`,
	}
	var got []string
	for _, e := range f.Errors {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(f.Rows) != 2 || f.Rows[0].SKU() != "A" || f.Rows[1].SKU() != "J" || f.Rows[1].Line != 13 ||
		f.Rows[1].Qty != 2 || f.Rows[1].Price != nil {
		t.Errorf("rows = %+v", f.Rows)
	}
}

func TestMaxBytes(t *testing.T) {
	in := "ItemCode,Qty\n1,2\n"
	if _, err := Read("x.csv", strings.NewReader(in), Options{MaxBytes: int64(len(in))}); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	_, err := Read("x.csv", strings.NewReader(in), Options{MaxBytes: int64(len(in) - 1)})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v; want ErrTooLarge", err)
	}
}

func TestSKU(t *testing.T) {
	tests := []struct {
		r    Row
		want string
	}{
		{Row{ItemNo: "1", SellerCode: "S", OptionCode: "O"}, "O"},
		{Row{ItemNo: "1", SellerCode: "S"}, "S"},
		{Row{ItemNo: "1"}, "1"},
	}
	for _, tt := range tests {
		if got := tt.r.SKU(); got != tt.want {
			t.Errorf("%+v.SKU() = %s; want %s", tt.r, got, tt.want)
		}
	}
}
