// Package catalog reads and writes the stock CSVs sellers download from QSM: GoodsList.csv and InventoryManagement_gridInventory.csv.
package catalog

import (
	"errors"
	"fmt"
	"strconv"
)

// Kind says which of the two QSM downloads a file is.
type Kind string

const (
	// KindGoods is GoodsList.csv (商品管理 > 価格/在庫): one row per item.
	KindGoods Kind = "goods"
	// KindOptions is InventoryManagement_gridInventory.csv (組合せ型オプション):
	// one row per combination of option values, with its option code.
	KindOptions Kind = "options"
)

// Encoding is the character encoding of a file, kept so that Write can
// answer in the same one.
type Encoding string

const (
	UTF8    Encoding = "utf-8"
	UTF8BOM Encoding = "utf-8-bom"
	CP932   Encoding = "cp932" // Shift_JIS as Windows writes it (Windows-31J)
)

// DefaultMaxBytes bounds the size of a file Read accepts. A QSM download of
// 100,000 items is about 20 MB.
const DefaultMaxBytes = 64 << 20

// Options tune Read. The zero value is ready to use.
type Options struct {
	// Aliases maps a header name to a canonical column (ColQty, "name1", ...),
	// or to "" to leave that header unmapped. Names match like the built-in
	// ones (ignoring width, case, spaces, '_' and '-') and take precedence.
	Aliases map[string]string
	// MaxBytes bounds the input size; 0 means DefaultMaxBytes.
	MaxBytes int64
}

// Errors that Read wraps, for callers that answer differently (400 or 413).
var (
	ErrFormat   = errors.New("not a QSM catalog CSV")
	ErrTooLarge = errors.New("file too large")
)

// File is one imported CSV. It keeps the bytes it was read from, so Write
// can reproduce them exactly: to export, read the stored upload again and
// write it with the current stock.
type File struct {
	Name     string
	Kind     Kind
	Encoding Encoding
	CRLF     bool     // the header line ends in CRLF (Write copies every line ending as it was)
	Header   []string // header cells, decoded, as in the file
	Columns  []string // canonical column per header cell, "" where unknown
	Rows     []Row    // the good rows, in file order
	Errors   []RowError

	src []byte // the input, BOM included
}

// Column returns the header index of a canonical column, or -1.
func (f *File) Column(name string) int {
	for i, c := range f.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// Row is one good data row.
type Row struct {
	Line       int      // physical line (1-based) where the record starts
	Cells      []string // every cell, decoded, in header order
	ItemNo     string   // trimmed, like the other key fields
	SellerCode string
	OptionCode string
	Title      string
	Status     string
	Options    []Option // the name/value pairs that are set, in column order
	Qty        int64
	Price      *int64 // nil when there is no price column or the cell is empty

	qtyStart, qtyEnd int // the qty cell's bytes in File.src, quotes included
}

// Option is one name/value pair of a combination option, like カラー/ホワイト.
type Option struct {
	Name, Value string
}

// SKU returns the stock key of the row, resolved the way linked software
// resolves an order line: option code, else seller code, else item number.
func (r Row) SKU() string {
	switch {
	case r.OptionCode != "":
		return r.OptionCode
	case r.SellerCode != "":
		return r.SellerCode
	}
	return r.ItemNo
}

// RowError is a data row that was left out, with where it is in the file.
type RowError struct {
	File   string
	Line   int    // physical line where the record starts
	Column int    // 1-based header index; 0 when the whole row is at fault
	Header string // the header of Column, as in the file
	Msg    string
}

// Error reads like a compiler message: `GoodsList.csv:12:3 (在庫数): qty "abc" is not a number`.
func (e RowError) Error() string {
	s := e.File + ":" + strconv.Itoa(e.Line)
	if e.Column > 0 {
		s += ":" + strconv.Itoa(e.Column)
		if e.Header != "" {
			s += " (" + e.Header + ")"
		}
	}
	return fmt.Sprintf("%s: %s", s, e.Msg)
}
