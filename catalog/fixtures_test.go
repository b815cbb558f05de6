package catalog

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

var update = flag.Bool("update", false, "rewrite testdata fixtures and golden files")

// fixture is one CSV under testdata, written from its records here so that
// the CP932 bytes need no editor that speaks Shift_JIS. Records are joined
// by CRLF or LF; a "\n" inside a quoted cell stays a bare LF, as Excel writes
// it.
type fixture struct {
	name    string
	enc     Encoding
	crlf    bool
	noFinal bool // no line break after the last record
	opts    Options
	records []string
}

// necBecause stands for ∵ written as 0x879A (NEC row 13) rather than the
// 0x81E6 an encoder picks: only a copy of the original bytes keeps it.
const necBecause = "{NEC∵}"

var fixtures = []fixture{
	{
		name: "goods_ja_utf8bom.csv", enc: UTF8BOM, crlf: true,
		records: []string{
			"商品番号,販売者商品コード,商品名,販売価格,在庫数,販売状態,JANコード",
			`1000000001,TS-001,長袖Tシャツ(白),"¥1,980",12,販売中,4901234567890`,
			"1000000002,,\"ギフトセット\n（のし付き）\",\"1,500円\",５,販売中,",
			`1000000003,MUG-01,"マグカップ ""白""",800,abc,販売中,`,
			`1000000004,BAG-01,トートバッグ,"￥２，４８０","3",在庫切れ,4901234567891`,
		},
	},
	{
		name: "goods_en_cp932.csv", enc: CP932, crlf: true,
		opts: Options{Aliases: map[string]string{"Stock Count": ColQty}},
		records: []string{
			"ItemCode,SellerCode,ItemTitle,Price,Stock Count,ItemStatus,Memo",
			`1100000001,KB-01,キーボード①型,"\3,300",7,S1,"髙橋さん手配,表示確認"`,
			"1100000002,KB-02,マウス㈱製,1200,0,S2," + necBecause + "理由あり",
			"1100000003,KB-03,ケーブル",
			"1100000004,,USBハブ,2980,15,S1,\"複数行\nメモ\"",
		},
	},
	{
		name: "options_en_utf8bom.csv", enc: UTF8BOM, noFinal: true,
		records: []string{
			"ItemCode,SellerCode,Name1,Value1,Name2,Value2,OptionCode,Price,Qty",
			"1000000001,TS-001,Color,White,Size,M,TS-001-WH-M,0,5",
			"1000000001,TS-001,Color,White,Size,L,TS-001-WH-L,100,0",
			"1000000001,TS-001,Color,\"Navy\n(limited)\",Size,M,TS-001-NV-M,\"1,000\",2",
			"1000000001,TS-001,Color,Black,Size,M,TS-001-BK-M,0,-2",
			"1000000001,TS-001,Color,Black,Size,L,TS-001-BK-L,0,3",
		},
	},
	{
		name: "options_ja_cp932.csv", enc: CP932, crlf: true,
		records: []string{
			"商品番号,オプション名1,オプション値1,オプション名2,オプション値2,オプションコード,追加価格,在庫数",
			"1200000001,カラー,ホワイト,サイズ,Ｍ,CUP-WH-M,0,１０",
			"1200000001,カラー,\"ブラック\n（限定）\",サイズ,Ｍ,CUP-BK-M,\"1,000\",2",
			"1200000001,カラー,レッド,サイズ,Ｍ,,0,4",
			"1200000001,カラー,ソーダブルー,サイズ,Ｍ,CUP-WH-M,0,1",
			"1200000002,容量,350ml,,,MUG-350,0,8",
		},
	},
}

// bytes renders the fixture in its encoding.
func (fx fixture) bytes(t testing.TB) []byte {
	t.Helper()
	eol := "\n"
	if fx.crlf {
		eol = "\r\n"
	}
	text := strings.Join(fx.records, eol)
	if !fx.noFinal {
		text += eol
	}
	switch fx.enc {
	case UTF8:
		return []byte(text)
	case UTF8BOM:
		return append([]byte("\ufeff"), text...)
	}
	parts := strings.Split(text, necBecause)
	var out []byte
	for i, p := range parts {
		b, err := japanese.ShiftJIS.NewEncoder().Bytes([]byte(p))
		if err != nil {
			t.Fatalf("%s: encode CP932: %v", fx.name, err)
		}
		if i > 0 {
			out = append(out, 0x87, 0x9A)
		}
		out = append(out, b...)
	}
	return out
}

// TestFixtures keeps the committed fixture files equal to their definitions;
// -update rewrites them.
func TestFixtures(t *testing.T) {
	for _, fx := range fixtures {
		path := filepath.Join("testdata", fx.name)
		want := fx.bytes(t)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its definition; run go test ./catalog -run TestFixtures -update", path)
		}
	}
}

// readFixture reads a committed fixture the way an upload would be read.
func readFixture(t testing.TB, fx fixture) (*File, []byte) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", fx.name))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Read(fx.name, bytes.NewReader(src), fx.opts)
	if err != nil {
		t.Fatalf("Read(%s): %v", fx.name, err)
	}
	return f, src
}
