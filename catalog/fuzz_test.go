package catalog

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
)

// FuzzRead: Read never panics and fails only with ErrFormat; whatever it
// accepts, Write reproduces byte for byte, and an export with new stock reads
// back as the same rows with only the quantities changed.
func FuzzRead(f *testing.F) {
	for _, fx := range fixtures {
		f.Add(fx.bytes(f))
	}
	for _, s := range []string{
		"ItemCode,Qty\r\n1,\"5\"\r\n2,５\r\n3,1\r",
		"ItemCode,OptionCode,Qty\n1,A,1\n1,A,2\n1,,3\n",
		"ItemCode,Qty\n\"1\n\",\"2\"\"\"\n\n\n4,\" 4 \"\r\r\n5,5",
		"\ufeff商品番号,在庫数\r\n1,\"¥1,980\"\r\n",
		"ItemCode,Qty\n1,2\"\n3,4\n\"5,6\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Read("fuzz.csv", bytes.NewReader(data), Options{})
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Read: %v, not ErrFormat", err)
			}
			return
		}
		var same bytes.Buffer
		if err := Write(&same, file, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(same.Bytes(), data) {
			t.Fatalf("unchanged export differs:\n got %q\nwant %q", same.Bytes(), data)
		}

		next := func(r Row) (int64, bool) { return r.Qty + 1, r.Qty < math.MaxInt64 }
		var out bytes.Buffer
		if err := Write(&out, file, next); err != nil {
			t.Fatal(err)
		}
		back, err := Read("fuzz.csv", bytes.NewReader(out.Bytes()), Options{})
		if err != nil {
			t.Fatalf("export does not read back: %v\n%q", err, out.Bytes())
		}
		want, got := summarize(file), summarize(back)
		q := file.Column(ColQty)
		for i := range want.Rows {
			if v, ok := next(file.Rows[i]); ok {
				want.Rows[i].Qty = v
			}
			want.Rows[i].Cells = slicesWithout(want.Rows[i].Cells, q)
		}
		for i := range got.Rows {
			got.Rows[i].Cells = slicesWithout(got.Rows[i].Cells, q)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("export reads back differently:\n got %+v\nwant %+v\nexport %q", got, want, out.Bytes())
		}
		assertSameOutsideQty(t, data, file, out.Bytes(), back)
	})
}
