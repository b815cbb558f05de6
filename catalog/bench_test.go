package catalog

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

// benchFile is a CP932 GoodsList.csv of n items, about 100 bytes a row.
func benchFile(b *testing.B, n int) []byte {
	var buf bytes.Buffer
	buf.WriteString("商品番号,販売者商品コード,商品名,販売価格,在庫数,販売状態\r\n")
	for i := range n {
		fmt.Fprintf(&buf, "%d,SC-%06d,\"長袖Tシャツ 白 サイズM, 綿100%%\",\"1,980\",%d,販売中\r\n", 1000000000+i, i, i%50)
	}
	out, err := japanese.ShiftJIS.NewEncoder().Bytes(buf.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkRead100k: a large seller's download must import in well under a
// second.
func BenchmarkRead100k(b *testing.B) {
	src := benchFile(b, 100_000)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := Read("GoodsList.csv", bytes.NewReader(src), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrite100k(b *testing.B) {
	src := benchFile(b, 100_000)
	f, err := Read("GoodsList.csv", bytes.NewReader(src), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if err := Write(io.Discard, f, func(r Row) (int64, bool) { return r.Qty + 1, true }); err != nil {
			b.Fatal(err)
		}
	}
}
