package inventory

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/qoo10hook/qoo10hook/catalog"
)

// Sizes of the import's transactions: each holds the store's writer for
// a few milliseconds at most, so that mail commits go on in between.
const (
	// chunkBytes is the size of one stored chunk of a catalog file, one
	// per transaction.
	chunkBytes = 1 << 20
	// insertBatch is how many stock rows one transaction writes.
	insertBatch = 500
	// deleteBatch is how many left-over stock rows one transaction drops.
	deleteBatch = 2000
)

// apply writes a checked file: its bytes in chunks, its SKUs in batches,
// then drops the SKUs of the previous file it does not have and switches
// the seller's file of its kind over to it.
func (s *Service) apply(ctx context.Context, seller string, p *checked) error {
	upload := newUploadID()
	size, err := s.storeChunks(ctx, upload, p)
	if err != nil {
		s.dropChunks(context.WithoutCancel(ctx), upload)
		return err
	}
	kind := string(p.kind)
	var before int
	err = s.db.View(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM inventory_stock WHERE seller_id = $1 AND kind = $2`,
			seller, kind).Scan(&before)
	})
	if err != nil {
		s.dropChunks(context.WithoutCancel(ctx), upload)
		return fmt.Errorf("inventory: count stock of %s: %w", p.name, err)
	}
	gen := s.generation()
	if err := s.storeStock(ctx, seller, gen, p); err != nil {
		s.dropChunks(context.WithoutCancel(ctx), upload)
		return err
	}
	if err := s.dropLeftovers(ctx, seller, kind, gen); err != nil {
		s.dropChunks(context.WithoutCancel(ctx), upload)
		return err
	}
	var old string
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT upload FROM inventory_file WHERE seller_id = $1 AND kind = $2`,
			seller, kind).Scan(&old)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO inventory_file (seller_id, kind, name, encoding, size, raw, good_rows,
			bad_rows, imported_at, upload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (seller_id, kind) DO UPDATE SET name = excluded.name, encoding = excluded.encoding,
			size = excluded.size, raw = excluded.raw, good_rows = excluded.good_rows, bad_rows = excluded.bad_rows,
			imported_at = excluded.imported_at, upload = excluded.upload`,
			seller, kind, filepath.Base(p.name), string(p.file.Encoding), size, []byte{}, p.good, p.badRows(), gen, upload)
		return err
	})
	if err != nil {
		s.dropChunks(context.WithoutCancel(ctx), upload)
		return fmt.Errorf("inventory: store %s: %w", p.name, err)
	}
	if old != "" {
		s.dropChunks(context.WithoutCancel(ctx), old)
	}
	p.report.Imported, p.report.Replaced = p.good, before
	return nil
}

// generation is the imported_at of an import's rows: later than any
// earlier import's, so that the rows it did not write can be told apart.
func (s *Service) generation() int64 {
	g := max(s.now().UnixMicro(), s.lastGen+1)
	s.lastGen = g
	return g
}

// storeChunks writes the file's bytes under upload, a chunk per
// transaction, and returns its size.
func (s *Service) storeChunks(ctx context.Context, upload string, p *checked) (int64, error) {
	if _, err := p.src.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("inventory: read %s: %w", p.name, err)
	}
	buf := make([]byte, chunkBytes)
	var size int64
	for seq := 0; ; seq++ {
		n, err := io.ReadFull(p.src, buf)
		if n > 0 {
			size += int64(n)
			if err := s.db.Tx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO inventory_file_chunk (upload, seq, data) VALUES ($1, $2, $3)`,
					upload, seq, buf[:n])
				return err
			}); err != nil {
				return 0, fmt.Errorf("inventory: store %s: %w", p.name, err)
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return size, nil
		}
		if err != nil {
			return 0, fmt.Errorf("inventory: read %s: %w", p.name, err)
		}
	}
}

// dropChunks deletes a stored file's chunks, a few per transaction. It is
// cleanup: a failure leaves unreferenced chunks, and is not reported.
func (s *Service) dropChunks(ctx context.Context, upload string) {
	for {
		var n int64
		err := s.db.Tx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM inventory_file_chunk WHERE upload = $1 AND seq IN
				(SELECT seq FROM inventory_file_chunk WHERE upload = $1 ORDER BY seq LIMIT 8)`, upload)
			if err == nil {
				n, err = res.RowsAffected()
			}
			return err
		})
		if err != nil || n == 0 {
			return
		}
	}
}

// storeStock reads the file again and writes its good rows, insertBatch
// per transaction, at generation gen.
func (s *Service) storeStock(ctx context.Context, seller string, gen int64, p *checked) error {
	if _, err := p.src.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("inventory: read %s: %w", p.name, err)
	}
	batch := make([]stockRow, 0, insertBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.db.Tx(ctx, func(tx *sql.Tx) error { return s.insertStock(ctx, tx, seller, string(p.kind), gen, batch) })
		batch = batch[:0]
		if err != nil {
			return fmt.Errorf("inventory: store stock of %s: %w", p.name, err)
		}
		return nil
	}
	_, err := catalog.Scan(p.name, p.src, s.s.catalogOptions(), func(r catalog.Row) error {
		if p.skip[r.Line] {
			return nil
		}
		c := rowCodes(r)
		sku, _ := c.sku(s.s.SKUOrder)
		batch = append(batch, stockRow{sku: sku, title: r.Title, codes: c, line: r.Line, qty: r.Qty})
		if len(batch) == insertBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

type stockRow struct {
	sku, title string
	codes
	line int
	qty  int64
}

// rowsPerInsert is how many rows one INSERT writes: few enough that
// SQLite's driver, which looks each of the 13 parameters of a row up by
// name in time linear in their number, binds them quickly; enough that
// PostgreSQL is not asked once per row.
const rowsPerInsert = 25

// insertStock writes a batch of rows, rowsPerInsert per statement.
func (s *Service) insertStock(ctx context.Context, tx *sql.Tx, seller, kind string, gen int64, batch []stockRow) error {
	for start := 0; start < len(batch); start += rowsPerInsert {
		rows := batch[start:min(start+rowsPerInsert, len(batch))]
		var q strings.Builder
		q.WriteString(`INSERT INTO inventory_stock (seller_id, sku, kind, line, item_no, seller_code, option_code, title,
			imported_qty, qty, low, imported_at, updated_at) VALUES `)
		args := make([]any, 0, len(rows)*13)
		for i, r := range rows {
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
				r.qty, r.qty, low, gen, gen)
		}
		// A SKU the seller's file of the other kind had moves to this one.
		q.WriteString(` ON CONFLICT (seller_id, sku) DO UPDATE SET kind = excluded.kind, line = excluded.line,
			item_no = excluded.item_no, seller_code = excluded.seller_code, option_code = excluded.option_code,
			title = excluded.title, imported_qty = excluded.imported_qty, qty = excluded.qty, low = excluded.low,
			imported_at = excluded.imported_at, updated_at = excluded.updated_at`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// dropLeftovers deletes the seller's SKUs of kind that the import at gen
// did not write, deleteBatch per transaction.
func (s *Service) dropLeftovers(ctx context.Context, seller, kind string, gen int64) error {
	for {
		var n int64
		err := s.db.Tx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM inventory_stock WHERE seller_id = $1 AND sku IN
				(SELECT sku FROM inventory_stock WHERE seller_id = $1 AND kind = $2 AND imported_at <> $3 LIMIT $4)`,
				seller, kind, gen, deleteBatch)
			if err == nil {
				n, err = res.RowsAffected()
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("inventory: drop the replaced stock of %s: %w", kind, err)
		}
		if n == 0 {
			return nil
		}
	}
}
