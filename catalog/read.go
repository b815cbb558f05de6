package catalog

import (
	"bufio"
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
	limit := o.limit()
	src, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if int64(len(src)) > limit {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", op, ErrTooLarge, limit)
	}
	enc, bom, err := encodingOf(src, utf8.Valid(src))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	body := src[bom:]
	lines := lineCursor{b: body, line: 1}
	f, err := scan(name, bytes.NewReader(body), enc, o, func(f *File, row Row, cr *csv.Reader, qty int) error {
		qLine, qCol := cr.FieldPos(qty)
		start := lines.start(qLine) + qCol - 1
		row.qtyStart, row.qtyEnd = bom+start, bom+cellEnd(body, start)
		f.Rows = append(f.Rows, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	f.src = src
	return f, nil
}

// Scan reads a catalog of any size up to Options.MaxBytes without holding
// it in memory: it reads r twice (once to detect the encoding, once to
// parse it) and hands each good row to fn, in file order, instead of
// keeping it. The File it returns has no Rows and cannot be written; its
// Errors list the bad rows. An error from fn ends the scan and is returned.
func Scan(name string, r io.ReadSeeker, o Options, fn func(Row) error) (*File, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	op := "catalog: read " + name
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if size > o.limit() {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", op, ErrTooLarge, o.limit())
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	head := make([]byte, 3)
	n, _ := io.ReadFull(r, head)
	valid, err := validUTF8(io.MultiReader(bytes.NewReader(head[:n]), r))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	enc, bom, err := encodingOf(head[:n], valid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if _, err := r.Seek(int64(bom), io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return scan(name, bufio.NewReaderSize(r, 64<<10), enc, o, func(_ *File, row Row, _ *csv.Reader, _ int) error {
		return fn(row)
	})
}

func (o Options) limit() int64 {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

// encodingOf tells the encoding of a file from its first bytes and whether
// all of it is valid UTF-8, and how many bytes of BOM to skip.
func encodingOf(head []byte, validUTF8 bool) (Encoding, int, error) {
	switch {
	case bytes.HasPrefix(head, bomUTF8):
		return UTF8BOM, len(bomUTF8), nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return "", 0, fmt.Errorf("%w: the file is UTF-16; save it as CSV in UTF-8 or Shift_JIS", ErrFormat)
	case validUTF8:
		return UTF8, 0, nil
	}
	return CP932, 0, nil
}

// validUTF8 reports whether all of r is valid UTF-8, a buffer at a time.
func validUTF8(r io.Reader) (bool, error) {
	buf := make([]byte, 64<<10)
	carry := 0 // bytes of a character cut at the end of the last read
	for {
		n, err := r.Read(buf[carry:])
		n += carry
		end := n
		// Hold back an incomplete character at the end, up to 3 bytes.
		for i := 1; i <= 3 && i <= n; i++ {
			if c := buf[n-i]; c >= 0xC0 {
				if !utf8.FullRune(buf[n-i : n]) {
					end = n - i
				}
				break
			} else if c < 0x80 {
				break
			}
		}
		if err == io.EOF {
			return utf8.Valid(buf[:n]), nil
		}
		if err != nil {
			return false, err
		}
		if !utf8.Valid(buf[:end]) {
			return false, nil
		}
		carry = copy(buf, buf[end:n])
	}
}

// scan parses the header and the rows of body, in encoding enc, and hands
// each good row to keep along with the reader, for where its cells are.
func scan(name string, body io.Reader, enc Encoding, o Options, keep func(*File, Row, *csv.Reader, int) error) (*File, error) {
	op := "catalog: read " + name
	f := &File{Name: name, Encoding: enc}
	d := newCellDecoder(f.Encoding)

	// encoding/csv runs on the undecoded bytes: in CP932 the bytes of '"', ','
	// CR and LF never occur inside a two-byte character, so records and cell
	// offsets come out right, and each cell is decoded on its own.
	head := &headRecorder{r: body}
	cr := csv.NewReader(head)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	if err := f.readHeader(cr, head, d, o); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}

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
				firstLine[strings.Clone(key)] = line // not a slice of the whole record
			}
		}
		if rerr != nil {
			f.Errors = append(f.Errors, *rerr)
			continue
		}
		if err := keep(f, row, cr, l.qty); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// readHeader reads the header record from cr: the column names, the line
// ending the file uses (from what head recorded) and, from the names, the
// kind of file and its canonical columns.
func (f *File) readHeader(cr *csv.Reader, head *headRecorder, d cellDecoder, o Options) error {
	header, err := cr.Read()
	if err == io.EOF {
		return fmt.Errorf("%w: no header, the file is empty", ErrFormat)
	}
	if err != nil {
		return fmt.Errorf("%w: header: %w", ErrFormat, err)
	}
	f.Header = d.cells(header)
	end := int(cr.InputOffset())
	f.CRLF = end >= 2 && end <= len(head.b) && head.b[end-2] == '\r' && head.b[end-1] == '\n'
	head.b, head.done = nil, true
	f.Columns, f.Kind, err = mapHeader(f.Header, o)
	return err
}

// headRecorder keeps what is read through it until done: the header's
// bytes, for its line ending.
type headRecorder struct {
	r    io.Reader
	b    []byte
	done bool
}

func (h *headRecorder) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if !h.done {
		h.b = append(h.b, p[:n]...)
	}
	return n, err
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
