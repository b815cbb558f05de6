package inventory

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/qoo10hook/qoo10hook/catalog"
)

// Upload is one catalog file to import.
type Upload struct {
	Name string // the file name, as row errors name it
	Body io.Reader
}

// ImportReport tells what an import did.
type ImportReport struct {
	SellerID string       `json:"seller_id"`
	Files    []FileReport `json:"files"`
}

// FileReport is one imported file.
type FileReport struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Encoding string `json:"encoding"`
	// Imported counts the SKUs whose stock the file set.
	Imported int `json:"imported"`
	// Replaced counts the SKUs of the seller's previous file of this kind,
	// which the file replaced.
	Replaced int `json:"replaced"`
	// Errors are the rows left out.
	Errors []RowError `json:"errors"`
}

// RowError is a row left out of an import, and where it is.
type RowError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column,omitempty"` // 1-based; 0 when the whole row is at fault
	Header  string `json:"header,omitempty"`
	Message string `json:"message"`
}

// String reads like a compiler message: `GoodsList.csv:12:3 (在庫数): qty "abc" is not a number`.
func (e RowError) String() string {
	return catalog.RowError{File: e.File, Line: e.Line, Column: e.Column, Header: e.Header, Msg: e.Message}.Error()
}

func rowError(e catalog.RowError) RowError {
	return RowError{File: e.File, Line: e.Line, Column: e.Column, Header: e.Header, Message: e.Msg}
}

// parsed is an upload read and checked, ready to be written.
type parsed struct {
	raw    []byte
	file   *catalog.File
	rows   []stockRow
	report FileReport
}

type stockRow struct {
	sku, title string
	codes
	line int
	qty  int64
}

// Import reads the uploads (QSM's GoodsList.csv or
// InventoryManagement_gridInventory.csv, in UTF-8 with or without BOM or
// in CP932) and stores them for the seller in one transaction: each file
// replaces the seller's previous file of its kind, and each of its SKUs
// starts over at the file's quantity (the running stock becomes what QSM
// said, its low-stock state too); SKUs only the previous file had are
// dropped. Bad rows are reported and left out; a file that cannot be read
// as a catalog at all fails the whole import, and nothing is written
// unless everything is.
func (s *Service) Import(ctx context.Context, seller string, uploads []Upload) (*ImportReport, error) {
	if err := CheckSellerID(seller); err != nil {
		return nil, err
	}
	if len(uploads) == 0 {
		return nil, fmt.Errorf("%w: no file to import", ErrInvalid)
	}
	var ps []*parsed
	kinds := map[catalog.Kind]string{}
	for _, u := range uploads {
		p, err := s.parse(u)
		if err != nil {
			return nil, err
		}
		if other, dup := kinds[p.file.Kind]; dup {
			return nil, fmt.Errorf("%w: %s and %s are both %s files; a seller has one of each kind (import them one at a time)",
				ErrInvalid, other, u.Name, kindName(p.file.Kind))
		}
		kinds[p.file.Kind] = u.Name
		ps = append(ps, p)
	}
	s.dedupe(ps)

	rep := &ImportReport{SellerID: seller}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, p := range ps {
			if err := s.write(ctx, tx, seller, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		rep.Files = append(rep.Files, p.report)
	}
	return rep, nil
}

func kindName(k catalog.Kind) string {
	if k == catalog.KindOptions {
		return "InventoryManagement_gridInventory.csv (options)"
	}
	return "GoodsList.csv (goods)"
}

// parse reads one upload and resolves each good row's SKU.
func (s *Service) parse(u Upload) (*parsed, error) {
	raw, err := io.ReadAll(io.LimitReader(u.Body, s.s.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("inventory: read %s: %w", u.Name, err)
	}
	if int64(len(raw)) > s.s.MaxFileBytes {
		return nil, fmt.Errorf("inventory: read %s: %w: more than %d bytes", u.Name, catalog.ErrTooLarge, s.s.MaxFileBytes)
	}
	f, err := catalog.Read(u.Name, bytes.NewReader(raw), s.s.catalogOptions())
	if err != nil {
		return nil, err // "catalog: read NAME: ..."
	}
	p := &parsed{raw: raw, file: f, report: FileReport{Name: u.Name, Kind: string(f.Kind), Encoding: string(f.Encoding),
		Errors: []RowError{}}}
	for _, e := range f.Errors {
		p.report.Errors = append(p.report.Errors, rowError(e))
	}
	for _, r := range f.Rows {
		c := rowCodes(r)
		sku, _ := c.sku(s.s.SKUOrder)
		if sku == "" {
			p.report.Errors = append(p.report.Errors, RowError{File: u.Name, Line: r.Line,
				Message: fmt.Sprintf("no SKU: none of %s is set (inventory.sku_order)", strings.Join(s.s.SKUOrder, ", "))})
			continue
		}
		p.rows = append(p.rows, stockRow{sku: sku, title: r.Title, codes: c, line: r.Line, qty: r.Qty})
	}
	return p, nil
}

// dedupe leaves out, as row errors, the rows whose SKU an earlier row of
// the import has: catalog.Read finds duplicates in the default order,
// and a configured sku_order or a second file can make more.
func (s *Service) dedupe(ps []*parsed) {
	type where struct {
		file string
		line int
	}
	first := map[string]where{}
	for _, p := range ps {
		kept := p.rows[:0]
		for _, r := range p.rows {
			if w, dup := first[r.sku]; dup {
				_, key := r.codes.sku(s.s.SKUOrder)
				col := p.file.Column(keyColumn[key]) + 1
				e := RowError{File: p.report.Name, Line: r.line, Column: col,
					Message: fmt.Sprintf("duplicate SKU %q, first on %s:%d", r.sku, w.file, w.line)}
				if col > 0 {
					e.Header = p.file.Header[col-1]
				}
				p.report.Errors = append(p.report.Errors, e)
				continue
			}
			first[r.sku] = where{p.report.Name, r.line}
			kept = append(kept, r)
		}
		p.rows = kept
	}
}

// insertBatch is how many stock rows one INSERT writes (13 parameters
// each, well under SQLite's and PostgreSQL's limits).
const insertBatch = 500

func (s *Service) write(ctx context.Context, tx *sql.Tx, seller string, p *parsed) error {
	now := s.now().UnixMicro()
	kind := string(p.file.Kind)
	_, err := tx.ExecContext(ctx, `INSERT INTO inventory_file (seller_id, kind, name, encoding, size, raw, good_rows,
		bad_rows, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (seller_id, kind) DO UPDATE SET name = excluded.name, encoding = excluded.encoding,
		size = excluded.size, raw = excluded.raw, good_rows = excluded.good_rows, bad_rows = excluded.bad_rows,
		imported_at = excluded.imported_at`,
		seller, kind, filepath.Base(p.report.Name), string(p.file.Encoding), len(p.raw), p.raw, len(p.rows), len(p.report.Errors), now)
	if err != nil {
		return fmt.Errorf("inventory: store %s: %w", p.report.Name, err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM inventory_stock WHERE seller_id = $1 AND kind = $2`, seller, kind)
	if err != nil {
		return fmt.Errorf("inventory: replace stock of %s: %w", p.report.Name, err)
	}
	if n, err := res.RowsAffected(); err == nil {
		p.report.Replaced = int(n)
	}
	for start := 0; start < len(p.rows); start += insertBatch {
		batch := p.rows[start:min(start+insertBatch, len(p.rows))]
		var q strings.Builder
		q.WriteString(`INSERT INTO inventory_stock (seller_id, sku, kind, line, item_no, seller_code, option_code, title,
			imported_qty, qty, low, imported_at, updated_at) VALUES `)
		args := make([]any, 0, len(batch)*13)
		for i, r := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)",
				n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10, n+11, n+12, n+13)
			low := 0
			if r.qty < s.s.Threshold {
				low = 1
			}
			args = append(args, seller, r.sku, kind, r.line, r.ItemNo, r.SellerItemCode, r.OptionCode, r.title,
				r.qty, r.qty, low, now, now)
		}
		// A SKU the seller's file of the other kind had moves to this one.
		q.WriteString(` ON CONFLICT (seller_id, sku) DO UPDATE SET kind = excluded.kind, line = excluded.line,
			item_no = excluded.item_no, seller_code = excluded.seller_code, option_code = excluded.option_code,
			title = excluded.title, imported_qty = excluded.imported_qty, qty = excluded.qty, low = excluded.low,
			imported_at = excluded.imported_at, updated_at = excluded.updated_at`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("inventory: store stock of %s: %w", p.report.Name, err)
		}
	}
	p.report.Imported = len(p.rows)
	return nil
}
