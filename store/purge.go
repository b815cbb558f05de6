package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention bounds how long the store keeps personal data; 0 keeps it
// forever.
type Retention struct {
	// Mail: after it a mail's raw bytes and every buyer and receiver value
	// in its events are erased; the mail and event rows stay, marked
	// purged. A mail with an unresolved delivery (pending, held, failed,
	// dead) waits for it to be resolved, or for Dead.
	Mail time.Duration
	// Deliveries: after it the attempts of delivered deliveries go.
	Deliveries time.Duration
	// Dead: after it dead and failed deliveries go, with their attempts.
	Dead time.Duration
}

// interval is how often the purger looks for work: a mail is purged well
// within a minute of its retention running out.
func (r Retention) interval() time.Duration {
	iv := 30 * time.Second
	for _, d := range []time.Duration{r.Mail, r.Deliveries, r.Dead} {
		if d > 0 {
			iv = min(iv, d/4)
		}
	}
	return max(iv, 50*time.Millisecond)
}

// Batch sizes: each batch is one short write transaction, so that the
// group committer (on SQLite, the same connection) waits at most a few
// milliseconds for it.
var (
	purgeMailBatch    = 16
	purgeAttemptBatch = 256
)

// PurgeResult counts what one pass of Purge erased or dropped.
type PurgeResult struct {
	Mails      int // mails purged (raw bytes and buyer values erased)
	Rows       int // rows of other tables purged by age
	Attempts   int // delivery attempts dropped
	Deliveries int // dead or failed deliveries dropped
}

func (r PurgeResult) any() bool { return r.Mails+r.Rows+r.Attempts+r.Deliveries > 0 }

// Purge applies the retention periods as of at, in small transactions,
// until nothing is left to purge or ctx ends.
func (s *Store) Purge(ctx context.Context, r Retention, at time.Time) (PurgeResult, error) {
	var res PurgeResult
	steps := []struct {
		on   time.Duration
		kind string
		n    *int
		step func(context.Context, time.Time, Retention) (int, error)
	}{
		{r.Dead, "delivery", &res.Deliveries, s.purgeDeadBatch},
		{r.Deliveries, "delivery_attempt", &res.Attempts, s.purgeAttemptBatch},
		{r.Mail, "mail", &res.Mails, s.purgeMailBatch},
		{r.Mail, "rows", &res.Rows, s.purgeAgedBatch},
	}
	for _, st := range steps {
		if st.on <= 0 {
			continue
		}
		for ctx.Err() == nil {
			start := time.Now()
			n, err := st.step(ctx, at, r)
			if err != nil {
				return res, fmt.Errorf("store: purge %s: %w", st.kind, err)
			}
			*st.n += n
			s.metric.purged.WithLabelValues(st.kind).Add(float64(n))
			if n == 0 {
				break
			}
			// Leave the disk to mail as long as the batch took: a backlog
			// of purging (retention turned on for a full store) runs at
			// most half the time.
			pause := time.NewTimer(max(time.Since(start), 2*time.Millisecond))
			select {
			case <-ctx.Done():
			case <-pause.C:
			}
			pause.Stop()
		}
	}
	return res, ctx.Err()
}

// cutoff is the time, in the store's microseconds, before which data
// older than d is due.
func cutoff(at time.Time, d time.Duration) int64 { return at.Add(-d).UnixMicro() }

// purgeDeadBatch drops one batch of dead and failed deliveries last moved
// before retention.dead, with their attempts.
func (s *Store) purgeDeadBatch(ctx context.Context, at time.Time, r Retention) (int, error) {
	ids, err := s.readIDs(ctx, `SELECT id FROM delivery WHERE status IN ('dead', 'failed') AND updated_at < $1
		ORDER BY updated_at LIMIT $2`, cutoff(at, r.Dead), purgeAttemptBatch)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	var n int64
	err = s.purgeTx(ctx, func(tx *sql.Tx) error {
		in, args := inList(1, ids)
		if _, err := tx.ExecContext(ctx, `DELETE FROM delivery_attempt WHERE delivery_id IN (`+in+`)`, args...); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM delivery WHERE id IN (`+in+`) AND status IN ('dead', 'failed')`, args...)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

// purgeAttemptBatch drops one batch of the attempts of deliveries
// delivered before retention.deliveries.
func (s *Store) purgeAttemptBatch(ctx context.Context, at time.Time, r Retention) (int, error) {
	ids, err := s.readIDs(ctx, `SELECT a.id FROM delivery_attempt a JOIN delivery d ON d.id = a.delivery_id
		WHERE d.status = 'delivered' AND d.updated_at < $1 ORDER BY a.id LIMIT $2`, cutoff(at, r.Deliveries), purgeAttemptBatch)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	var n int64
	err = s.purgeTx(ctx, func(tx *sql.Tx) error {
		in, args := inList(1, ids)
		res, err := tx.ExecContext(ctx, `DELETE FROM delivery_attempt WHERE id IN (`+in+`)`, args...)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

// purgeMailBatch purges one batch of mails received before
// retention.mail whose deliveries are all resolved (or that are older
// than retention.dead).
func (s *Store) purgeMailBatch(ctx context.Context, at time.Time, r Retention) (int, error) {
	deadCut := int64(-1 << 62)
	if r.Dead > 0 {
		deadCut = cutoff(at, max(r.Dead, r.Mail))
	}
	ids, err := s.readIDs(ctx, `SELECT m.id FROM mail m WHERE m.purged_at IS NULL AND m.received_at < $1
		AND (m.received_at < $2 OR NOT EXISTS (SELECT 1 FROM event e JOIN delivery d ON d.event_id = e.id
			WHERE e.mail_id = m.id AND d.status <> 'delivered'))
		ORDER BY m.received_at LIMIT $3`, cutoff(at, r.Mail), deadCut, purgeMailBatch)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	var n int
	err = s.purgeTx(ctx, func(tx *sql.Tx) error {
		n, err = purgeMails(ctx, tx, ids, false)
		return err
	})
	return n, err
}

// purgeAgedBatch purges one batch of the rows of each table not tied to a
// mail whose age is past retention.mail.
func (s *Store) purgeAgedBatch(ctx context.Context, at time.Time, r Retention) (int, error) {
	total := 0
	for _, t := range personalTables {
		if t.Age == "" {
			continue
		}
		err := s.purgeTx(ctx, func(tx *sql.Tx) error {
			keys, err := scrubRows(ctx, tx, t, t.Purged+` IS NULL AND `+t.Age+` < $1 ORDER BY `+t.Age+
				` LIMIT `+strconv.Itoa(purgeMailBatch), cutoff(at, r.Mail))
			total += len(keys)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("%s: %w", t.Table, err)
		}
	}
	return total, nil
}

// purgeMails erases the raw bytes of mails ids and the personal values of
// every row tied to them, and blanks the response bodies their events'
// endpoints answered (they may echo the payload). It returns how many
// mails it purged: those not purged already, unless again is set.
func purgeMails(ctx context.Context, tx *sql.Tx, ids []int64, again bool) (int, error) {
	in, args := inList(3, ids)
	q := `UPDATE mail SET raw = $1, purged_at = COALESCE(purged_at, $2) WHERE id IN (` + in + `)`
	if !again {
		q += ` AND purged_at IS NULL`
	}
	res, err := tx.ExecContext(ctx, q, append([]any{[]byte{}, now()}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("erase mail: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	in, args = inList(1, ids)
	for _, t := range personalTables {
		if t.MailID == "" {
			continue
		}
		if _, err := scrubRows(ctx, tx, t, t.MailID+` IN (`+in+`)`, args...); err != nil {
			return 0, fmt.Errorf("scrub %s: %w", t.Table, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE delivery_attempt SET response = '' WHERE response <> '' AND delivery_id IN
		(SELECT d.id FROM delivery d JOIN event e ON e.id = d.event_id WHERE e.mail_id IN (`+in+`))`, args...); err != nil {
		return 0, fmt.Errorf("blank responses: %w", err)
	}
	return int(n), nil
}

// scrubRows erases the personal values of t's rows that where selects
// (args numbered from $1) and returns their keys.
func scrubRows(ctx context.Context, tx *sql.Tx, t personalTable, where string, args ...any) ([]any, error) {
	cols := t.Key
	if t.Payload != "" {
		cols += ", " + t.Payload
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+cols+` FROM `+t.Table+` WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	type row struct {
		key     any
		payload []byte
	}
	var found []row
	for rows.Next() {
		var r row
		dest := []any{&r.key}
		if t.Payload != "" {
			dest = append(dest, &r.payload)
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, err
		}
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var set []string
	for _, c := range t.columns() {
		set = append(set, c+` = ''`)
	}
	if t.Purged != "" {
		set = append(set, t.Purged+` = COALESCE(`+t.Purged+`, `+strconv.FormatInt(now(), 10)+`)`)
	}
	keys := make([]any, len(found))
	for i, r := range found {
		keys[i] = r.key
		sets, args := set, []any{r.key}
		if t.Payload != "" {
			sets = append(sets, t.Payload+` = $2`)
			if scrubbed := scrubJSON(r.payload); t.PayloadText {
				args = append(args, string(scrubbed))
			} else {
				args = append(args, scrubbed)
			}
		}
		if len(sets) == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+t.Table+` SET `+strings.Join(sets, ", ")+` WHERE `+t.Key+` = $1`, args...); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// purgeTx runs one purge batch's write transaction, timed from when it
// holds the writer to its commit: on SQLite mail commits wait for it.
func (s *Store) purgeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	start := time.Now()
	defer func() { s.metric.purgeSeconds.Observe(time.Since(start).Seconds()) }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// readIDs runs a query of integer ids on the readers' pool, where it
// holds no write lock.
func (s *Store) readIDs(ctx context.Context, q string, args ...any) ([]int64, error) {
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// inList returns placeholders $from… for values, and the values as
// arguments.
func inList[T any](from int, values []T) (string, []any) {
	ph := make([]string, len(values))
	args := make([]any, len(values))
	for i, v := range values {
		ph[i] = "$" + strconv.Itoa(from+i)
		args[i] = v
	}
	return strings.Join(ph, ", "), args
}
