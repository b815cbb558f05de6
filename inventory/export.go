package inventory

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/qoo10hook/qoo10hook/catalog"
)

// Export writes an imported catalog file back as it was uploaded (same
// headers, encoding, quoting and line endings, bad rows untouched) with
// each SKU's current stock in its quantity cell, ready to upload to QSM.
// seller and kind ("goods" or "options") may be empty when only one
// imported file matches the other. A negative stock is written as 0.
func (s *Service) Export(ctx context.Context, w io.Writer, seller, kind string) (*FileInfo, error) {
	if kind != "" && kind != string(catalog.KindGoods) && kind != string(catalog.KindOptions) {
		return nil, fmt.Errorf("%w: kind %q is not goods or options", ErrInvalid, kind)
	}
	var info FileInfo
	var raw []byte
	stock := map[string]lineQty{}
	err := s.db.View(ctx, func(tx *sql.Tx) error {
		fs, err := files(ctx, tx, seller, kind)
		if err != nil {
			return err
		}
		switch len(fs) {
		case 0:
			return ErrNoCatalog
		case 1:
		default:
			var names []string
			for _, f := range fs {
				names = append(names, fmt.Sprintf("--seller %s --kind %s (%s)", f.SellerID, f.Kind, f.Name))
			}
			return fmt.Errorf("%w: %d imported files match; choose one: %s", ErrInvalid, len(fs), strings.Join(names, ", "))
		}
		info = fs[0]
		if raw, err = loadFile(ctx, tx, info); err != nil {
			return fmt.Errorf("inventory: load %s: %w", info.Name, err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT sku, line, qty FROM inventory_stock WHERE seller_id = $1 AND kind = $2`,
			info.SellerID, info.Kind)
		if err != nil {
			return fmt.Errorf("inventory: load stock: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var sku string
			var v lineQty
			if err := rows.Scan(&sku, &v.line, &v.qty); err != nil {
				return err
			}
			stock[sku] = v
		}
		return rows.Err()
	})
	if errors.Is(err, ErrNoCatalog) {
		return nil, fmt.Errorf("%w for seller %q, kind %q: run qoo10hook catalog import first", ErrNoCatalog, seller, kind)
	}
	if err != nil {
		return nil, err
	}

	f, err := catalog.Read(info.Name, bytes.NewReader(raw), s.s.catalogOptions())
	if err != nil {
		return nil, fmt.Errorf("inventory: re-read %s (were inventory.header_aliases changed since the import?): %w", info.Name, err)
	}
	var buf bytes.Buffer
	err = catalog.Write(&buf, f, func(r catalog.Row) (int64, bool) {
		sku, _ := rowCodes(r).sku(s.s.SKUOrder)
		v, ok := stock[sku]
		// The line check keeps a row that was left out of the import
		// (as a duplicate SKU) from taking the stock of the one kept.
		return v.qty, ok && v.line == r.Line
	})
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("inventory: export %s: %w", info.Name, err)
	}
	return &info, nil
}

// loadFile reads the bytes of an imported file: from its chunks, or from
// inventory_file.raw for a file imported before files were chunked.
func loadFile(ctx context.Context, tx *sql.Tx, info FileInfo) ([]byte, error) {
	var raw []byte
	var upload string
	if err := tx.QueryRowContext(ctx, `SELECT raw, upload FROM inventory_file WHERE seller_id = $1 AND kind = $2`,
		info.SellerID, info.Kind).Scan(&raw, &upload); err != nil {
		return nil, err
	}
	if upload == "" {
		return raw, nil
	}
	raw = make([]byte, 0, info.Size)
	rows, err := tx.QueryContext(ctx, `SELECT data FROM inventory_file_chunk WHERE upload = $1 ORDER BY seq`, upload)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var chunk []byte
		if err := rows.Scan(&chunk); err != nil {
			return nil, err
		}
		raw = append(raw, chunk...)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if int64(len(raw)) != info.Size {
		return nil, fmt.Errorf("%d bytes stored, want %d", len(raw), info.Size)
	}
	return raw, nil
}

type lineQty struct {
	line int
	qty  int64
}
