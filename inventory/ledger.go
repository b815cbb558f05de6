package inventory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The ledger: the SQL the deriver runs inside the transaction that stores
// an order event. It is written for SQLite and PostgreSQL alike.

// lockLine upserts the order line's row. On PostgreSQL the upsert holds the
// row until the transaction ends, so that a reserve and a release of one
// line on two instances happen one after the other and each sees the
// other's result; on SQLite there is one writer anyway. With cancel set it
// marks the line cancelled. It reports whether the line was cancelled
// (before this call, or by it), and whether the seller has imported any
// catalog (hasCatalog): asked in the same statement, a round trip less on
// PostgreSQL.
func lockLine(ctx context.Context, tx *sql.Tx, seller, orderNo string, cancel bool, now int64) (cancelled, catalog bool, err error) {
	const returning = ` RETURNING COALESCE(cancelled_at, 0), EXISTS (SELECT 1 FROM inventory_file WHERE seller_id = $1)`
	var at int64
	if cancel {
		err = tx.QueryRowContext(ctx, `INSERT INTO inventory_order_line (seller_id, order_no, cancelled_at, updated_at)
			VALUES ($1, $2, $3, $3)
			ON CONFLICT (seller_id, order_no) DO UPDATE
			SET cancelled_at = COALESCE(inventory_order_line.cancelled_at, excluded.cancelled_at), updated_at = excluded.updated_at`+
			returning, seller, orderNo, now).Scan(&at, &catalog)
	} else {
		err = tx.QueryRowContext(ctx, `INSERT INTO inventory_order_line (seller_id, order_no, updated_at)
			VALUES ($1, $2, $3)
			ON CONFLICT (seller_id, order_no) DO UPDATE SET updated_at = excluded.updated_at`+
			returning, seller, orderNo, now).Scan(&at, &catalog)
	}
	if err != nil {
		return false, false, fmt.Errorf("inventory: lock order line: %w", err)
	}
	return at != 0, catalog, nil
}

// adjustment is one row of inventory_adjustment.
type adjustment struct {
	SellerID, OrderNo, Reason, SKU string
	codes
	PackNo        string
	Delta         int64
	EventID       string
	SourceEventID string
	Tenant        string
}

// insertAdjustment records an adjustment unless one with its (seller_id,
// order_no, reason) exists; it reports whether it did.
func insertAdjustment(ctx context.Context, tx *sql.Tx, a *adjustment, now int64) (bool, error) {
	var reason string
	err := tx.QueryRowContext(ctx, `INSERT INTO inventory_adjustment (seller_id, order_no, reason, sku, item_no,
		seller_item_code, option_code, pack_no, delta, event_id, source_event_id, tenant, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (seller_id, order_no, reason) DO NOTHING RETURNING reason`,
		a.SellerID, a.OrderNo, a.Reason, a.SKU, a.ItemNo, a.SellerItemCode, a.OptionCode, a.PackNo, a.Delta,
		a.EventID, a.SourceEventID, a.Tenant, now).Scan(&reason)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inventory: insert adjustment: %w", err)
	}
	return true, nil
}

func setStockAfter(ctx context.Context, tx *sql.Tx, a *adjustment, after int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE inventory_adjustment SET stock_after = $1
		WHERE seller_id = $2 AND order_no = $3 AND reason = $4`, after, a.SellerID, a.OrderNo, a.Reason); err != nil {
		return fmt.Errorf("inventory: set stock_after: %w", err)
	}
	return nil
}

// reservationQuery reads a line's adjustment by its primary key.
const reservationQuery = `SELECT sku, item_no, seller_item_code, option_code, pack_no, delta, event_id
	FROM inventory_adjustment WHERE seller_id = $1 AND order_no = $2 AND reason = $3`

// reservation returns the line's reserve adjustment, or nil.
func reservation(ctx context.Context, tx *sql.Tx, seller, orderNo string) (*adjustment, error) {
	a := adjustment{SellerID: seller, OrderNo: orderNo, Reason: Reserve}
	err := tx.QueryRowContext(ctx, reservationQuery, seller, orderNo, Reserve).
		Scan(&a.SKU, &a.ItemNo, &a.SellerItemCode, &a.OptionCode, &a.PackNo, &a.Delta, &a.EventID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inventory: find reservation: %w", err)
	}
	return &a, nil
}

// catalogColumn is the stock column an order line's code is matched
// against, and the kind of catalog file that holds it: option codes are
// the combination options' rows, seller codes and item numbers the items'.
var catalogColumn = map[string]struct{ column, kind string }{
	KeyOptionCode:     {"option_code", "options"},
	KeySellerItemCode: {"seller_code", "goods"},
	KeyItemNo:         {"item_no", "goods"},
}

// resolve names the SKU of an order line: for each key in order whose code
// is set, the catalog row that code matches; when none matches, the first
// code set (the SKU is then unknown to the catalog). It returns "" when
// no code is set.
func resolve(ctx context.Context, tx *sql.Tx, seller string, c codes, order []string) (sku string, known bool, err error) {
	for _, k := range order {
		v := c.get(k)
		if v == "" {
			continue
		}
		col := catalogColumn[k]
		rows, err := tx.QueryContext(ctx, `SELECT sku FROM inventory_stock WHERE seller_id = $1 AND `+col.column+` = $2
			AND kind = $3 ORDER BY sku LIMIT 2`, seller, v, col.kind)
		if err != nil {
			return "", false, fmt.Errorf("inventory: resolve sku: %w", err)
		}
		var found []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return "", false, fmt.Errorf("inventory: resolve sku: %w", err)
			}
			found = append(found, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return "", false, fmt.Errorf("inventory: resolve sku: %w", err)
		}
		if len(found) == 1 { // two rows with one code: ambiguous, try the next key
			return found[0], true, nil
		}
	}
	sku, _ = c.sku(order)
	return sku, false, nil
}

// hasCatalog reports whether the seller has imported any catalog.
func hasCatalog(ctx context.Context, tx *sql.Tx, seller string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM inventory_file WHERE seller_id = $1`, seller).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("inventory: %w", err)
	}
	return n > 0, nil
}

// moved is a SKU's stock after an adjustment.
type moved struct {
	Qty int64
	// Crossed is set when the stock dropped below the threshold with this
	// adjustment, after being at or above it.
	Crossed bool
}

// moveStock adds delta to a SKU's running stock and keeps its low flag:
// set when the stock drops below threshold (Crossed), cleared when it is
// back at or above it, so that the next drop fires again. It returns nil
// when the SKU has no stock row.
func moveStock(ctx context.Context, tx *sql.Tx, seller, sku string, delta, threshold, now int64) (*moved, error) {
	var qty, low int64
	// On PostgreSQL the UPDATE locks the row: the low flag read with the
	// new quantity cannot change under us before the flag update below.
	err := tx.QueryRowContext(ctx, `UPDATE inventory_stock SET qty = qty + $1, updated_at = $2
		WHERE seller_id = $3 AND sku = $4 RETURNING qty, low`, delta, now, seller, sku).Scan(&qty, &low)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inventory: move stock: %w", err)
	}
	m := &moved{Qty: qty}
	isLow := qty < threshold
	if isLow == (low != 0) {
		return m, nil
	}
	flag := 0
	if isLow {
		flag = 1
	}
	if _, err := tx.ExecContext(ctx, `UPDATE inventory_stock SET low = $1 WHERE seller_id = $2 AND sku = $3`,
		flag, seller, sku); err != nil {
		return nil, fmt.Errorf("inventory: move stock: %w", err)
	}
	m.Crossed = isLow
	return m, nil
}
