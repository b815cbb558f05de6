package catalog

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestWriteUnchanged: when the stock did not change, or is not known, the
// export is the imported file byte for byte, BOM, CP932 and all.
func TestWriteUnchanged(t *testing.T) {
	same := func(r Row) (int64, bool) { return r.Qty, true }
	unknown := func(Row) (int64, bool) { return 99, false }
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			t.Parallel()
			f, src := readFixture(t, fx)
			for name, qty := range map[string]func(Row) (int64, bool){"nil": nil, "same": same, "unknown": unknown} {
				var out bytes.Buffer
				if err := Write(&out, f, qty); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), src) {
					t.Errorf("%s: export differs from the import:\n got %q\nwant %q", name, out.Bytes(), src)
				}
			}
		})
	}
}

// TestWriteRoundTrip: an export with new stock reads back as the same file
// with only the quantities changed, and its bytes differ from the import's
// only inside qty cells.
func TestWriteRoundTrip(t *testing.T) {
	newQty := func(r Row) int64 { return r.Qty*3 + 1 }
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			t.Parallel()
			f, src := readFixture(t, fx)
			var out bytes.Buffer
			if err := Write(&out, f, func(r Row) (int64, bool) { return newQty(r), true }); err != nil {
				t.Fatal(err)
			}
			g, err := Read(fx.name, bytes.NewReader(out.Bytes()), fx.opts)
			if err != nil {
				t.Fatal(err)
			}

			want := summarize(f)
			q := f.Column(ColQty)
			for i := range want.Rows {
				want.Rows[i].Qty = newQty(f.Rows[i])
			}
			got := summarize(g)
			for i := range got.Rows {
				got.Rows[i].Cells = slicesWithout(got.Rows[i].Cells, q)
				want.Rows[i].Cells = slicesWithout(want.Rows[i].Cells, q)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read back:\n got %+v\nwant %+v", got, want)
			}
			assertSameOutsideQty(t, src, f, out.Bytes(), g)
		})
	}
}

// slicesWithout returns s without its i'th element, in a new slice.
func slicesWithout(s []string, i int) []string {
	return append(append([]string(nil), s[:i]...), s[i+1:]...)
}

// assertSameOutsideQty compares a and b piece by piece between the qty cells
// of their rows.
func assertSameOutsideQty(t *testing.T, a []byte, fa *File, b []byte, fb *File) {
	t.Helper()
	if len(fa.Rows) != len(fb.Rows) {
		t.Fatalf("%d rows, then %d", len(fa.Rows), len(fb.Rows))
	}
	pa, pb := 0, 0
	for i := range fa.Rows {
		ra, rb := fa.Rows[i], fb.Rows[i]
		if !bytes.Equal(a[pa:ra.qtyStart], b[pb:rb.qtyStart]) {
			t.Fatalf("bytes before the qty cell of line %d differ:\n%q\n%q", ra.Line, a[pa:ra.qtyStart], b[pb:rb.qtyStart])
		}
		pa, pb = ra.qtyEnd, rb.qtyEnd
	}
	if !bytes.Equal(a[pa:], b[pb:]) {
		t.Fatalf("bytes after the last qty cell differ:\n%q\n%q", a[pa:], b[pb:])
	}
}

// TestWriteExact pins the bytes of small exports.
func TestWriteExact(t *testing.T) {
	stock := map[string]int64{"A": 7, "B": 1000, "C": -4, "D": 12, "E": 0, "F": 3}
	tests := []struct {
		name, in, want string
	}{
		{"quoted qty stays quoted, full-width becomes ASCII",
			"\ufeffItemCode,SellerCode,Qty,Memo\r\n1,A,\"5\",x\r\n2,B,\"1,000\",\"y\r\nz\"\r\n3,C,２,\r\n",
			"\ufeffItemCode,SellerCode,Qty,Memo\r\n1,A,\"7\",x\r\n2,B,\"1,000\",\"y\r\nz\"\r\n3,C,0,\r\n"},
		{"qty last, no final line break, unknown SKU untouched",
			"商品番号,販売者商品コード,在庫数\n1,D,5\n2,Z,５\n\n3,E,1",
			"商品番号,販売者商品コード,在庫数\n1,D,12\n2,Z,５\n\n3,E,0"},
		{"left-out rows are copied as they were",
			"ItemCode,SellerCode,Qty\r\n1,F,x\r\n2,F,1\r\n3,F,2\r\n",
			"ItemCode,SellerCode,Qty\r\n1,F,x\r\n2,F,3\r\n3,F,2\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Read("t.csv", strings.NewReader(tt.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = Write(&out, f, func(r Row) (int64, bool) {
				v, ok := stock[r.SKU()]
				return v, ok
			})
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got  %q\nwant %q", out.String(), tt.want)
			}
		})
	}
}

// TestWriteCP932KeepsBytes: a character CP932 can spell two ways (∵ as
// 0x879A or 0x81E6) keeps its original bytes next to a changed qty.
func TestWriteCP932KeepsBytes(t *testing.T) {
	f, _ := readFixture(t, fixtures[1])
	var out bytes.Buffer
	if err := Write(&out, f, func(r Row) (int64, bool) { return r.Qty + 1, true }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out.Bytes(), []byte("S2,\x87\x9a")) {
		t.Errorf("the NEC ∵ was re-encoded: %q", out.Bytes())
	}
}

func TestWriteRejectsForeignRows(t *testing.T) {
	if err := Write(new(bytes.Buffer), &File{Name: "x.csv"}, nil); err == nil || !strings.Contains(err.Error(), "not made by Read") {
		t.Errorf("Write(File{}) = %v; want a not made by Read error", err)
	}
	f, _ := readFixture(t, fixtures[0])
	f.Rows = append(f.Rows, Row{Line: 99, ItemNo: "x"})
	err := Write(new(bytes.Buffer), f, func(r Row) (int64, bool) { return r.Qty + 1, true })
	if err == nil || !strings.Contains(err.Error(), "line 99") {
		t.Errorf("Write with a made-up row = %v; want an error naming line 99", err)
	}
}
