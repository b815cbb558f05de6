package inventory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
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
	// Errors are the rows left out (or, when the import was refused,
	// the rows that refused it), the first MaxReportedErrors of them.
	Errors []RowError `json:"errors"`
	// MoreErrors counts the bad rows beyond those listed.
	MoreErrors int `json:"more_errors,omitempty"`
}

// MaxReportedErrors bounds the row errors a report lists per file.
const MaxReportedErrors = 1000

// ImportOptions say how an import treats bad rows.
type ImportOptions struct {
	// Partial imports the good rows of files with bad rows, and reports
	// the bad ones. Without it a single bad row refuses the whole import
	// (RejectedError) and nothing changes. Either way a file without a
	// single good row never replaces anything.
	Partial bool
}

// RejectedError is an import refused for its rows: nothing was written.
// Report lists the bad rows. It wraps ErrInvalid.
type RejectedError struct {
	Report *ImportReport
	Reason string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("inventory: import refused: %s; nothing was changed", e.Reason)
}

func (e *RejectedError) Unwrap() error { return ErrInvalid }

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

// Import reads the uploads (QSM's GoodsList.csv or
// InventoryManagement_gridInventory.csv, in UTF-8 with or without BOM or
// in CP932) and stores them for the seller: each file replaces the
// seller's previous file of its kind, and each of its SKUs starts over at
// the file's quantity (the running stock becomes what QSM said, its
// low-stock state too); SKUs only the previous file had are dropped.
//
// Every file is read and checked whole before anything is written: a file
// that cannot be read as a catalog fails the import, and so does a bad row
// unless o.Partial (a RejectedError lists them); a file without one good
// row fails it always. Then the import is written in short transactions
// (a chunk of the file, or a few hundred SKUs, each), so that mail keeps
// flowing into the store while a large file goes in, and the file is
// switched over last. Memory stays bounded: the files are streamed from
// disk, twice. A store failure while the SKUs are written leaves those
// written so far at the new quantities: importing the file again
// completes it.
func (s *Service) Import(ctx context.Context, seller string, uploads []Upload, o ImportOptions) (*ImportReport, error) {
	if err := CheckSellerID(seller); err != nil {
		return nil, err
	}
	if len(uploads) == 0 {
		return nil, fmt.Errorf("%w: no file to import", ErrInvalid)
	}
	var ps []*checked
	defer func() {
		for _, p := range ps {
			p.close()
		}
	}()
	kinds := map[catalog.Kind]string{}
	seen := map[string]where{}
	names := []string{}
	for _, u := range uploads {
		names = append(names, u.Name)
		p, err := s.check(u, seen, names)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
		if other, dup := kinds[p.kind]; dup {
			return nil, fmt.Errorf("%w: %s and %s are both %s files; a seller has one of each kind (import them one at a time)",
				ErrInvalid, other, u.Name, kindName(p.kind))
		}
		kinds[p.kind] = u.Name
	}
	rep := &ImportReport{SellerID: seller}
	for _, p := range ps {
		rep.Files = append(rep.Files, p.report)
	}
	if err := rejection(rep, ps, o); err != nil {
		return nil, err
	}

	s.importing.Lock()
	defer s.importing.Unlock()
	for i, p := range ps {
		if err := s.apply(ctx, seller, p); err != nil {
			return nil, err
		}
		rep.Files[i] = p.report
	}
	return rep, nil
}

// rejection refuses an import with bad rows (unless partial) or with a
// file that has no good row.
func rejection(rep *ImportReport, ps []*checked, o ImportOptions) error {
	for _, p := range ps {
		if p.good == 0 {
			return &RejectedError{Report: rep, Reason: fmt.Sprintf("%s has no good row (%d bad), so it would replace the stock with nothing",
				p.report.Name, p.badRows())}
		}
	}
	if o.Partial {
		return nil
	}
	bad := 0
	for _, p := range ps {
		bad += p.badRows()
	}
	if bad > 0 {
		return &RejectedError{Report: rep, Reason: fmt.Sprintf("%d bad rows (listed); fix them, or import the good rows only with partial=true (--partial)", bad)}
	}
	return nil
}

func kindName(k catalog.Kind) string {
	if k == catalog.KindOptions {
		return "InventoryManagement_gridInventory.csv (options)"
	}
	return "GoodsList.csv (goods)"
}

// checked is an upload read through once: its kind, its bad rows, and
// the file to read its good rows from again.
type checked struct {
	name string
	src  io.ReadSeeker
	temp *os.File // the spooled upload, removed by close; nil when src is the caller's
	file *catalog.File
	kind catalog.Kind
	// skip holds the lines of rows catalog.Read found good that the
	// import leaves out: no SKU, or a SKU an earlier row has.
	skip   map[int]bool
	good   int
	report FileReport
}

func (p *checked) badRows() int { return len(p.report.Errors) + p.report.MoreErrors }

func (p *checked) close() {
	if p.temp != nil {
		p.temp.Close()
		os.Remove(p.temp.Name())
	}
}

func (p *checked) addError(e RowError) {
	if len(p.report.Errors) < MaxReportedErrors {
		p.report.Errors = append(p.report.Errors, e)
	} else {
		p.report.MoreErrors++
	}
}

// where is a row's file (its index in the import) and line: a few bytes
// for each of a large catalog's SKUs.
type where struct {
	file, line int32
}

// check reads one upload and resolves each good row's SKU; seen holds the
// SKUs of the import's earlier rows (catalog.Read finds duplicates in the
// default order; a configured sku_order or a second file can make more).
func (s *Service) check(u Upload, seen map[string]where, names []string) (*checked, error) {
	p := &checked{name: u.Name, skip: map[int]bool{}, report: FileReport{Errors: []RowError{}}}
	if rs, ok := u.Body.(io.ReadSeeker); ok {
		p.src = rs
	} else if err := p.spool(u, s.s.MaxFileBytes); err != nil {
		return p, err
	}
	f, err := catalog.Scan(u.Name, p.src, s.s.catalogOptions(), func(r catalog.Row) error {
		c := rowCodes(r)
		sku, key := c.sku(s.s.SKUOrder)
		if sku == "" {
			p.skip[r.Line] = true
			p.addError(RowError{File: u.Name, Line: r.Line,
				Message: fmt.Sprintf("no SKU: none of %s is set (inventory.sku_order)", strings.Join(s.s.SKUOrder, ", "))})
			return nil
		}
		if w, dup := seen[sku]; dup {
			p.skip[r.Line] = true
			p.addError(RowError{File: u.Name, Line: r.Line, Column: -1, Header: key,
				Message: fmt.Sprintf("duplicate SKU %q, first on %s:%d", sku, names[w.file], w.line)})
			return nil
		}
		// A copy: the SKU is a slice of the whole record's string.
		seen[strings.Clone(sku)] = where{int32(len(names) - 1), int32(r.Line)}
		p.good++
		return nil
	})
	if err != nil {
		return p, err // "catalog: read NAME: ..."
	}
	p.file, p.kind = f, f.Kind
	p.report = FileReport{Name: u.Name, Kind: string(f.Kind), Encoding: string(f.Encoding), Errors: p.report.Errors,
		MoreErrors: p.report.MoreErrors}
	// The duplicate errors name their key until the header is known.
	for i, e := range p.report.Errors {
		if e.Column == -1 {
			col := f.Column(keyColumn[e.Header]) + 1
			p.report.Errors[i].Column, p.report.Errors[i].Header = col, ""
			if col > 0 {
				p.report.Errors[i].Header = f.Header[col-1]
			}
		}
	}
	ours, more := p.report.Errors, p.report.MoreErrors
	p.report.Errors, p.report.MoreErrors = []RowError{}, 0
	for _, e := range f.Errors {
		p.addError(rowError(e))
	}
	for _, e := range ours {
		p.addError(e)
	}
	p.report.MoreErrors += more
	return p, nil
}

// spool copies an upload to a temporary file, so that it can be read twice
// without holding it in memory.
func (p *checked) spool(u Upload, limit int64) error {
	f, err := os.CreateTemp("", "qoo10hook-catalog-*.csv")
	if err != nil {
		return fmt.Errorf("inventory: spool %s: %w", u.Name, err)
	}
	p.temp, p.src = f, f
	n, err := io.Copy(f, io.LimitReader(u.Body, limit+1))
	if err != nil {
		return fmt.Errorf("inventory: read %s: %w", u.Name, err)
	}
	if n > limit {
		return fmt.Errorf("inventory: read %s: %w: more than %d bytes", u.Name, catalog.ErrTooLarge, limit)
	}
	return nil
}

// newUploadID names the chunks of one stored file.
func newUploadID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
