package catalog

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
)

var bomUTF8 = []byte{0xEF, 0xBB, 0xBF}

// Read parses a QSM catalog download. It detects the encoding (UTF-8 with or
// without BOM, else CP932) and the kind of file from its header. The error is
// only for input that cannot be used at all (wrapping ErrFormat or
// ErrTooLarge); bad data rows are left out of File.Rows and listed in
// File.Errors, and the caller decides whether to import the rest.
func Read(name string, r io.Reader, o Options) (*File, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	op := "catalog: read " + name
	limit := o.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	src, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if int64(len(src)) > limit {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", op, ErrTooLarge, limit)
	}

	f := &File{Name: name, src: src}
	body := src
	switch {
	case bytes.HasPrefix(src, bomUTF8):
		f.Encoding, body = UTF8BOM, src[len(bomUTF8):]
	case bytes.HasPrefix(src, []byte{0xFF, 0xFE}), bytes.HasPrefix(src, []byte{0xFE, 0xFF}):
		return nil, fmt.Errorf("%s: %w: the file is UTF-16; save it as CSV in UTF-8 or Shift_JIS", op, ErrFormat)
	case utf8.Valid(src):
		f.Encoding = UTF8
	default:
		f.Encoding = CP932
	}
	d := newCellDecoder(f.Encoding)

	// encoding/csv runs on the undecoded bytes: in CP932 the bytes of '"', ','
	// CR and LF never occur inside a two-byte character, so records and cell
	// offsets come out right, and each cell is decoded on its own.
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: %w: no header, the file is empty", op, ErrFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w: header: %w", op, ErrFormat, err)
	}
	f.Header = d.cells(header)
	end := int(cr.InputOffset())
	f.CRLF = end >= 2 && body[end-2] == '\r' && body[end-1] == '\n'
	f.Columns, f.Kind, err = mapHeader(f.Header, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}

	base := len(src) - len(body)
	lines := lineCursor{b: body, line: 1}
	l := f.layout()
	firstLine := map[string]int{} // SKU -> line of its first row
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			f.Errors = append(f.Errors, RowError{File: name, Line: pe.StartLine,
				Msg: fmt.Sprintf("malformed CSV at line %d, byte %d: %v", pe.Line, pe.Column, pe.Err)})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		line, _ := cr.FieldPos(0)
		row, rerr := f.row(&l, d, rec, line)
		if rerr == nil {
			key := row.SKU()
			if first, dup := firstLine[key]; dup {
				rerr = f.errorAt(line, l.skuColumn(row), fmt.Sprintf("duplicate SKU %q, first on line %d", key, first))
			} else {
				firstLine[key] = line
			}
		}
		if rerr != nil {
			f.Errors = append(f.Errors, *rerr)
			continue
		}
		qLine, qCol := cr.FieldPos(l.qty)
		start := lines.start(qLine) + qCol - 1
		row.qtyStart, row.qtyEnd = base+start, base+cellEnd(body, start)
		f.Rows = append(f.Rows, row)
	}
	return f, nil
}

// layout holds the header index of each canonical column, -1 when absent.
type layout struct {
	item, seller, option, title, status, qty, price int
	names, values                                   [maxOptions]int
}

func (f *File) layout() layout {
	l := layout{
		item: f.Column(ColItemNo), seller: f.Column(ColSellerCode), option: f.Column(ColOptionCode),
		title: f.Column(ColTitle), status: f.Column(ColStatus), qty: f.Column(ColQty), price: f.Column(ColPrice),
	}
	for i := range maxOptions {
		l.names[i] = f.Column(fmt.Sprint("name", i+1))
		l.values[i] = f.Column(fmt.Sprint("value", i+1))
	}
	return l
}

// row checks one record and fills a Row from it.
func (f *File) row(l *layout, d cellDecoder, rec []string, line int) (Row, *RowError) {
	if n, want := len(rec), len(f.Header); n != want {
		col := min(n, want) + 1
		return Row{}, f.errorAt(line, col, fmt.Sprintf("the row has %d fields, the header has %d", n, want))
	}
	r := Row{Line: line, Cells: d.cells(rec)}
	cell := func(i int) string {
		if i < 0 {
			return ""
		}
		return trimBlank(r.Cells[i])
	}
	r.ItemNo, r.SellerCode, r.OptionCode = cell(l.item), cell(l.seller), cell(l.option)
	r.Title, r.Status = cell(l.title), cell(l.status)
	if r.ItemNo == "" {
		return Row{}, f.errorAt(line, l.item+1, "item_no is empty")
	}
	if f.Kind == KindOptions && r.OptionCode == "" {
		return Row{}, f.errorAt(line, l.option+1, "option_code is empty, so orders cannot be matched to this option")
	}

	v, why := parseCount(r.Cells[l.qty])
	if why != "" {
		return Row{}, f.errorAt(line, l.qty+1, fmt.Sprintf("qty %q %s", r.Cells[l.qty], why))
	}
	r.Qty = v
	if cell(l.price) != "" {
		v, why := parseCount(r.Cells[l.price])
		if why != "" {
			return Row{}, f.errorAt(line, l.price+1, fmt.Sprintf("price %q %s", r.Cells[l.price], why))
		}
		r.Price = &v
	}

	for i := range maxOptions {
		if o := (Option{cell(l.names[i]), cell(l.values[i])}); o != (Option{}) {
			r.Options = append(r.Options, o)
		}
	}
	return r, nil
}

// skuColumn is the 1-based column the row's SKU came from.
func (l *layout) skuColumn(r Row) int {
	switch {
	case r.OptionCode != "":
		return l.option + 1
	case r.SellerCode != "":
		return l.seller + 1
	}
	return l.item + 1
}

func (f *File) errorAt(line, col int, msg string) *RowError {
	e := &RowError{File: f.Name, Line: line, Column: col, Msg: msg}
	if col >= 1 && col <= len(f.Header) {
		e.Header = f.Header[col-1]
	}
	return e
}

// cellDecoder turns raw cells into UTF-8 strings.
type cellDecoder struct{ dec *encoding.Decoder }

func newCellDecoder(e Encoding) cellDecoder {
	if e == CP932 {
		return cellDecoder{japanese.ShiftJIS.NewDecoder()}
	}
	return cellDecoder{}
}

func (d cellDecoder) cells(raw []string) []string {
	out := make([]string, len(raw))
	for i, s := range raw {
		out[i] = d.cell(s)
	}
	return out
}

func (d cellDecoder) cell(s string) string {
	ascii := true
	for i := 0; i < len(s) && ascii; i++ {
		ascii = s[i] < utf8.RuneSelf
	}
	if ascii {
		return s // ASCII is the same in CP932 (WHATWG maps 0x5C to '\')
	}
	if d.dec != nil {
		if t, err := d.dec.String(s); err == nil {
			return t
		}
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// lineCursor finds where a physical line starts, for lines asked in
// increasing order, as encoding/csv counts them (after each LF).
type lineCursor struct {
	b         []byte
	line, off int // off is where line starts
}

func (c *lineCursor) start(line int) int {
	for c.line < line {
		i := bytes.IndexByte(c.b[c.off:], '\n')
		if i < 0 {
			break
		}
		c.off += i + 1
		c.line++
	}
	return c.off
}

// cellEnd returns the end of the cell that starts at b[i], as encoding/csv
// reads it: a quoted cell ends after its closing quote; an unquoted one at
// the next comma or line end, without the CR of a CRLF (or of a final CR).
func cellEnd(b []byte, i int) int {
	if i < len(b) && b[i] == '"' {
		for j := i + 1; j < len(b); j++ {
			if b[j] == '"' {
				if j+1 < len(b) && b[j+1] == '"' {
					j++
					continue
				}
				return j + 1
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '\n' {
		j++
	}
	if j > i && b[j-1] == '\r' && (j == len(b) || b[j] == '\n') {
		j--
	}
	return j
}
