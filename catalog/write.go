package catalog

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Write writes f back as it was read, byte for byte (header, column order,
// encoding, BOM, quoting, line endings, left-out rows), except that the qty
// cell of each row for which qty answers a value different from Row.Qty
// holds that value. It is written in ASCII digits, quoted if the cell was.
// QSM takes no negative stock, so a negative value is written as 0.
// A nil qty writes the file unchanged. f must come from Read.
func Write(w io.Writer, f *File, qty func(Row) (int64, bool)) error {
	op := "catalog: write " + f.Name
	if f.src == nil {
		return fmt.Errorf("%s: %w", op, errors.New("the file was not made by Read"))
	}
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	for _, r := range f.Rows {
		if qty == nil {
			break
		}
		v, ok := qty(r)
		if !ok {
			continue
		}
		v = max(v, 0)
		if v == r.Qty {
			continue
		}
		if r.qtyStart < 0 || r.qtyStart >= r.qtyEnd || r.qtyEnd > len(f.src) {
			return fmt.Errorf("%s: line %d: %w", op, r.Line, errors.New("row is not from this file"))
		}
		text := strconv.FormatInt(v, 10)
		if f.src[r.qtyStart] == '"' {
			text = `"` + text + `"`
		}
		edits = append(edits, edit{r.qtyStart, r.qtyEnd, text})
	}
	// Rows are in file order unless the caller reordered them.
	slices.SortFunc(edits, func(a, b edit) int { return cmp.Compare(a.start, b.start) })

	bw := bufio.NewWriter(w)
	pos := 0
	for _, e := range edits {
		if e.start < pos {
			return fmt.Errorf("%s: %w", op, errors.New("two rows share a qty cell"))
		}
		bw.Write(f.src[pos:e.start])
		bw.WriteString(e.text)
		pos = e.end
	}
	bw.Write(f.src[pos:])
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}
