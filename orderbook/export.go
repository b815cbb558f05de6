package orderbook

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"

	"github.com/qoo10hook/qoo10hook/order"
)

// Encodings of the CSV export: UTF-8 with a byte-order mark, which Excel
// needs to read UTF-8, or CP932 (Windows Shift_JIS), which every Excel
// in Japan opens with a double click.
const (
	UTF8  = "utf-8"
	CP932 = "cp932"
)

// ExportHeader is the CSV export's header: one row per order line, with
// what a seller needs to ship it, in the QSM order CSV's own words.
var ExportHeader = []string{"販売者ID", "カート番号", "注文番号", "状態", "注文日", "商品番号", "商品名", "オプション情報",
	"販売者商品コード", "オプションコード", "数量", "受取人名", "郵便番号", "住所", "受取人電話番号", "受取人携帯電話番号",
	"お届け希望日", "配送時間帯", "配送方法", "配送要請事項"}

// exportPage is how many records the export reads per query.
const exportPage = 1000

// Export writes the records f selects (every page of them; f's BeforeID
// and Limit are ignored) as CSV in enc, one row per order line, newest
// cart first. A cell a spreadsheet would run as a formula is neutralised.
func (b *Book) Export(ctx context.Context, w io.Writer, f Filter, enc string) (rows int, err error) {
	if err := f.Check(); err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(w)
	var out io.Writer = bw
	switch strings.ToLower(enc) {
	case UTF8, "utf8", "":
		bw.WriteString("\ufeff")
	case CP932, "shift_jis", "sjis":
		// A character CP932 lacks becomes "?": the row is kept.
		out = encoding.ReplaceUnsupported(japanese.ShiftJIS.NewEncoder()).Writer(bw)
	default:
		return 0, fmt.Errorf("%w: encoding %q: want %s or %s", ErrInvalid, enc, UTF8, CP932)
	}
	cw := csv.NewWriter(out)
	cw.UseCRLF = true
	if err := cw.Write(ExportHeader); err != nil {
		return 0, fmt.Errorf("orders: export: %w", err)
	}
	f.BeforeID, f.Limit = 0, exportPage
	for {
		page, err := b.List(ctx, f)
		if err != nil {
			return rows, err
		}
		for _, o := range page {
			for _, r := range exportRows(o.Record) {
				if err := cw.Write(r); err != nil {
					return rows, fmt.Errorf("orders: export: %w", err)
				}
				rows++
			}
		}
		if len(page) < exportPage {
			break
		}
		f.BeforeID = page[len(page)-1].ID
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return rows, fmt.Errorf("orders: export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return rows, fmt.Errorf("orders: export: %w", err)
	}
	return rows, nil
}

func exportRows(r *order.Record) [][]string {
	var rcv struct{ name, zip, address, tel, mobile string }
	if p := r.Receiver; p != nil {
		rcv.name, rcv.zip, rcv.address, rcv.tel, rcv.mobile = p.Name, p.Zip, p.Address, p.Tel, p.Mobile
	}
	var out [][]string
	for _, it := range r.Items {
		qty := ""
		if it.Qty != nil {
			qty = strconv.FormatInt(*it.Qty, 10)
		}
		row := []string{r.SellerID, r.PackNo, it.OrderNo, string(it.State), r.OrderDate, it.ItemNo, it.Title, it.Option,
			it.SellerItemCode, it.OptionCode, qty, rcv.name, rcv.zip, rcv.address, rcv.tel, rcv.mobile,
			r.DesiredDeliveryDate, r.DesiredTimeSlot, r.ShippingWay, r.ShippingMessage}
		for i := range row {
			row[i] = Inert(row[i])
		}
		out = append(out, row)
	}
	return out
}

// Inert returns a cell a spreadsheet will show as text: one that starts
// with a character that makes it a formula (=, +, -, @, or a tab or
// carriage return that hides one) gets a leading apostrophe.
func Inert(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}
