package orderbook

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/order"
	"github.com/qoo10hook/qoo10hook/store"
)

// The SQL the deriver runs inside the transaction that stores an order
// event, for SQLite and PostgreSQL alike.

// recordRow is a cart's row as locked for an update.
type recordRow struct {
	id       int64
	revision int64
	record   string
}

// lockRecord makes sure the cart has a row and returns it. On PostgreSQL
// the upsert holds the row until the transaction ends, so that two
// instances storing events of one cart merge one after the other, each
// seeing the other's; on SQLite there is one writer anyway.
//
// It also records that the event ev is merged into the record
// (addSource): on PostgreSQL, where each statement is a round trip, in the
// same statement. The body is read by a statement of its own, which sees
// what another instance committed while this one waited for the row.
func lockRecord(ctx context.Context, tx *sql.Tx, postgres bool, tenant, seller, pack, ev string, now int64) (*recordRow, error) {
	r := &recordRow{}
	const upsert = `INSERT INTO order_record (tenant, seller_id, pack_no, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant, seller_id, pack_no) DO UPDATE SET tenant = excluded.tenant
		RETURNING id, revision`
	args := []any{store.Text(tenant), store.Text(seller), store.Text(pack), now}
	var err error
	if postgres {
		err = tx.QueryRowContext(ctx, `WITH record AS (`+upsert+`),
			source AS (INSERT INTO order_source (order_id, event_id) SELECT id, $5 FROM record ON CONFLICT DO NOTHING)
			SELECT id, revision FROM record`, append(args, ev)...).Scan(&r.id, &r.revision)
	} else {
		err = tx.QueryRowContext(ctx, upsert, args...).Scan(&r.id, &r.revision)
	}
	if err != nil {
		return nil, fmt.Errorf("orders: lock record: %w", err)
	}
	if !postgres {
		if err := addSource(ctx, tx, r.id, ev); err != nil {
			return nil, err
		}
	}
	if err := r.readBody(ctx, tx); err != nil {
		return nil, err
	}
	return r, nil
}

// readBody reads the locked record's body, which a row still new has not.
func (r *recordRow) readBody(ctx context.Context, tx *sql.Tx) error {
	if r.isNew() {
		return nil
	}
	err := tx.QueryRowContext(ctx, `SELECT record FROM order_body WHERE order_id = $1`, r.id).Scan(&r.record)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("orders: read record: %w", err)
	}
	return nil
}

// createRecordPostgres is lockRecord on PostgreSQL for a cart that is
// likely new: the record that the event alone makes (rec, its body and
// lines) is written in the statement that makes the row, one round trip,
// and the row is written once, where lockRecord's row is inserted and
// then updated (and an update of state and placed_at, both indexed,
// moves every index entry of the row). If the cart has a row already, the
// statement locks it and adds the source as lockRecord's does, and writes
// nothing else: created is false, and the row is as lockRecord returns it.
func createRecordPostgres(ctx context.Context, tx *sql.Tx, tenant, seller, pack, ev string, now int64, rec *order.Record,
	body []byte) (r *recordRow, created bool, err error) {
	r = &recordRow{}
	lines := recordLines(rec)
	err = tx.QueryRowContext(ctx, createRecord, store.Text(tenant), store.Text(seller), store.Text(pack), now, ev,
		string(rec.State), rec.Placed().UnixMicro(), rec.Revision, string(body), lines.keys, lines.orderNos, lines.itemNos,
		lines.sellerCodes, lines.optionCodes, lines.states).Scan(&r.id, &r.revision, &created)
	if err != nil {
		return nil, false, fmt.Errorf("orders: lock record: %w", err)
	}
	if created {
		return r, true, nil
	}
	return r, false, r.readBody(ctx, tx)
}

// createRecord is createRecordPostgres's statement. The body and the lines
// are written only where the row is new: xmax = 0 tells a row the
// statement inserted from one it found, whose xmax holds the lock that
// ON CONFLICT's update leaves.
var createRecord = `WITH record AS (INSERT INTO order_record (tenant, seller_id, pack_no, updated_at, state, placed_at, revision)
		VALUES ($1, $2, $3, $4, $6, $7, $8)
		ON CONFLICT (tenant, seller_id, pack_no) DO UPDATE SET tenant = excluded.tenant
		RETURNING id, revision, xmax = 0 AS created),
	source AS (INSERT INTO order_source (order_id, event_id) SELECT id, $5 FROM record ON CONFLICT DO NOTHING),
	body AS (INSERT INTO order_body (order_id, record, updated_at) SELECT id, $9, $4 FROM record WHERE created),
	lines AS (` + fmt.Sprintf(saveLine, `SELECT record.id, l.* FROM record, unnest($10::text[], $11::text[], $12::text[],
		$13::text[], $14::text[], $15::text[]) AS l WHERE created`) + `)
	SELECT id, revision, created FROM record`

// isNew tells whether the row was made for this event: a record is saved
// at revision 1 and up in the transaction that makes it, so one still at
// revision 0 has no body and no other event merged into it.
func (r *recordRow) isNew() bool { return r.revision == 0 }

// differs reports whether rec, merged anew, says something the stored
// record does not.
func (r *recordRow) differs(rec *order.Record) (bool, error) {
	if r.record == "" {
		return true, nil
	}
	var old order.Record
	if err := json.Unmarshal([]byte(r.record), &old); err != nil {
		return true, nil
	}
	cmp := *rec
	cmp.Revision, cmp.UpdatedAt = old.Revision, old.UpdatedAt
	b, err := json.Marshal(&cmp)
	if err != nil {
		return false, fmt.Errorf("orders: encode record: %w", err)
	}
	return !bytes.Equal(b, []byte(r.record)), nil
}

// addSource records that the event is merged into the record.
func addSource(ctx context.Context, tx *sql.Tx, orderID int64, eventID string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO order_source (order_id, event_id) VALUES ($1, $2)
		ON CONFLICT DO NOTHING`, orderID, eventID); err != nil {
		return fmt.Errorf("orders: add source: %w", err)
	}
	return nil
}

// loadSources reads every event merged into the record but except.
func loadSources(ctx context.Context, tx *sql.Tx, orderID int64, except string) ([]order.Source, error) {
	rows, err := tx.QueryContext(ctx, `SELECT e.id, e.type, e.payload FROM order_source s
		JOIN event e ON e.id = s.event_id WHERE s.order_id = $1 AND s.event_id <> $2`, orderID, except)
	if err != nil {
		return nil, fmt.Errorf("orders: load sources: %w", err)
	}
	defer rows.Close()
	var out []order.Source
	for rows.Next() {
		var id, typ string
		var body []byte
		if err := rows.Scan(&id, &typ, &body); err != nil {
			return nil, fmt.Errorf("orders: load sources: %w", err)
		}
		src, err := readSource(id, event.Type(typ), body)
		if err != nil {
			continue // Derive would not have added it
		}
		out = append(out, src)
	}
	return out, rows.Err()
}

// saveRecord writes the record and its lines. On PostgreSQL, where each
// statement is a round trip, in one statement (saveRecordPostgres).
func saveRecord(ctx context.Context, tx *sql.Tx, postgres bool, id int64, rec *order.Record, body []byte, now int64, isNew bool) error {
	args := []any{string(rec.State), rec.Placed().UnixMicro(), rec.Revision, now, id, string(body)}
	if postgres {
		lines := recordLines(rec)
		if _, err := tx.ExecContext(ctx, saveRecordPostgres, append(args, lines.keys, lines.orderNos, lines.itemNos,
			lines.sellerCodes, lines.optionCodes, lines.states)...); err != nil {
			return fmt.Errorf("orders: save record: %w", err)
		}
		return nil
	}
	for _, q := range []string{updateRecord, saveBody} {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("orders: save record: %w", err)
		}
	}
	return saveLines(ctx, tx, id, rec, isNew)
}

const (
	updateRecord = `UPDATE order_record SET state = $1, placed_at = $2, revision = $3, updated_at = $4 WHERE id = $5`
	// updated_at dates the personal data the record holds, for
	// retention; a record merged again holds what its events hold now,
	// unpurged.
	saveBody = `INSERT INTO order_body (order_id, record, updated_at) VALUES ($5, $6, $4)
		ON CONFLICT (order_id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at,
		purged_at = NULL`
	// saveLine writes a line where it changed: a line written again moves
	// its entry in every index of order_line, and a cart's next mail
	// mostly leaves its lines as they were, or changes their state only.
	saveLine = `INSERT INTO order_line (order_id, line_key, order_no, item_no, seller_item_code, option_code, state) %s
		ON CONFLICT (order_id, line_key) DO UPDATE SET order_no = excluded.order_no, item_no = excluded.item_no,
		seller_item_code = excluded.seller_item_code, option_code = excluded.option_code, state = excluded.state
		WHERE order_line.order_no <> excluded.order_no OR order_line.item_no <> excluded.item_no
		OR order_line.seller_item_code <> excluded.seller_item_code
		OR order_line.option_code <> excluded.option_code OR order_line.state <> excluded.state`
)

// saveRecordPostgres is saveRecord's one statement on PostgreSQL: the
// body, the lines ($7 to $12, one array per column, a line's key unique)
// and the lines the record no longer has dropped, as data-modifying WITH
// queries, then the record's row. The lines written and those dropped are
// distinct rows, and the DELETE does not see the lines this statement
// inserts.
var saveRecordPostgres = `WITH body AS (` + saveBody + `),
	lines AS (` + fmt.Sprintf(saveLine, `SELECT $5::bigint, * FROM unnest($7::text[], $8::text[], $9::text[],
		$10::text[], $11::text[], $12::text[])`) + `),
	dropped AS (DELETE FROM order_line WHERE order_id = $5 AND line_key <> ALL($7::text[]))
	` + updateRecord

var saveLineValues = fmt.Sprintf(saveLine, `VALUES ($1, $2, $3, $4, $5, $6, $7)`)

// lineColumns are a record's lines as columns, each line's key once (the
// first line of a key is the one kept), for saveRecordPostgres.
type lineColumns struct {
	keys, orderNos, itemNos, sellerCodes, optionCodes, states []string
}

func recordLines(rec *order.Record) *lineColumns {
	// Empty, not nil: a nil slice is bound as NULL, and "<> ALL(NULL)"
	// would keep every line of a record left with none.
	c := &lineColumns{keys: []string{}, orderNos: []string{}, itemNos: []string{}, sellerCodes: []string{},
		optionCodes: []string{}, states: []string{}}
	seen := map[string]bool{}
	for i := range rec.Items {
		it := &rec.Items[i]
		key := store.Text(order.LineKey(&it.Item))
		if seen[key] {
			continue
		}
		seen[key] = true
		c.keys = append(c.keys, key)
		c.orderNos = append(c.orderNos, store.Text(it.OrderNo))
		c.itemNos = append(c.itemNos, store.Text(it.ItemNo))
		c.sellerCodes = append(c.sellerCodes, store.Text(it.SellerItemCode))
		c.optionCodes = append(c.optionCodes, store.Text(it.OptionCode))
		c.states = append(c.states, string(it.State))
	}
	return c
}

// saveLines writes the record's lines where they changed (saveLine), and
// drops the lines it no longer has. A new record has no lines yet.
func saveLines(ctx context.Context, tx *sql.Tx, id int64, rec *order.Record, isNew bool) error {
	old := map[string]bool{}
	if !isNew {
		rows, err := tx.QueryContext(ctx, `SELECT line_key FROM order_line WHERE order_id = $1`, id)
		if err != nil {
			return fmt.Errorf("orders: read lines: %w", err)
		}
		for rows.Next() {
			var key string
			if err := rows.Scan(&key); err != nil {
				rows.Close()
				return fmt.Errorf("orders: read lines: %w", err)
			}
			old[key] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("orders: read lines: %w", err)
		}
	}
	lines := recordLines(rec)
	for i, key := range lines.keys {
		if _, err := tx.ExecContext(ctx, saveLineValues, id, key, lines.orderNos[i], lines.itemNos[i],
			lines.sellerCodes[i], lines.optionCodes[i], lines.states[i]); err != nil {
			return fmt.Errorf("orders: save lines: %w", err)
		}
		delete(old, key)
	}
	for key := range old {
		if _, err := tx.ExecContext(ctx, `DELETE FROM order_line WHERE order_id = $1 AND line_key = $2`, id, key); err != nil {
			return fmt.Errorf("orders: drop line: %w", err)
		}
	}
	return nil
}

// packOf finds the cart of a mail that named none by its order numbers,
// among the seller's records of the tenant; "" when none is known.
func packOf(ctx context.Context, tx *sql.Tx, tenant, seller string, o *event.Order) (string, error) {
	for _, it := range o.Items {
		if it.OrderNo == "" {
			continue
		}
		var pack string
		err := tx.QueryRowContext(ctx, `SELECT r.pack_no FROM order_line l JOIN order_record r ON r.id = l.order_id
			WHERE l.order_no = $1 AND r.tenant = $2 AND r.seller_id = $3 ORDER BY r.id LIMIT 1`,
			store.Text(it.OrderNo), store.Text(tenant), store.Text(seller)).Scan(&pack)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("orders: find cart: %w", err)
		}
		return pack, nil
	}
	return "", nil
}
