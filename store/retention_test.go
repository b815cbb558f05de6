package store

import (
	"bytes"

	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// buyerMail is a mail of an order by the buyer with this e-mail address and
// phone number, received at, with its event to endpoint "vendor". The raw
// bytes hold both as an ISO-2022-JP mail would (ASCII stays ASCII).
func buyerMail(n int, email, tel string, at time.Time) *Ingest {
	in := mail(n, fmt.Sprintf("evt_buyer_%d", n), "vendor")
	in.Mail.ReceivedAt = at
	in.Mail.Raw = []byte("Subject: order\r\n\r\nE-mail: " + email + "\r\nTEL: " + tel + "\r\n" + strings.Repeat("x", 6000) + "\r\n")
	in.Events[0].Payload = []byte(`{"id":"` + in.Events[0].ID + `","type":"order.placed","data":{"pack_no":"1",` +
		`"buyer":{"name":"佐藤 花子","tel":"` + tel + `","email":"` + email + `"},` +
		`"receiver":{"name":"佐藤 花子","tel":"` + tel + `","address":"東京都千代田区1-1"},"shipping_message":"置き配",` +
		`"items":[{"order_no":"9"}],"fields":[{"label":"Eメールアドレス","value":"` + email + `"},` +
		`{"label":"電話番号","value":"` + tel + `"}]}}`)
	return in
}

// deliver records one attempt of mail n's delivery with outcome status,
// its response echoing echo.
func deliver(t *testing.T, s *Store, n int, status, echo string) {
	t.Helper()
	var id int64
	if err := s.db.QueryRowContext(t.Context(), `SELECT id FROM delivery WHERE event_id = $1`,
		fmt.Sprintf("evt_buyer_%d", n)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	_, err := s.RecordAttempt(t.Context(), &Delivery{ID: id, Endpoint: "vendor"},
		Attempt{Number: 1, StartedAt: time.Now(), StatusCode: 200, Response: "ok " + echo}, Outcome{Status: status})
	if err != nil {
		t.Fatal(err)
	}
}

// findInTables returns the tables and columns holding any of needles, in
// plain bytes or as PostgreSQL renders bytes in hex.
func findInTables(t *testing.T, s *Store, needles ...string) []string {
	t.Helper()
	ctx := t.Context()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if s.kind != "sqlite" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	var found []string
	for _, table := range tables {
		found = append(found, findInTable(t, s.db, table, needles)...)
	}
	return found
}

func findInTable(t *testing.T, db *sql.DB, table string, needles []string) []string {
	rows, err := db.QueryContext(t.Context(), `SELECT * FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var found []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var b []byte
			switch x := v.(type) {
			case []byte:
				b = x
			case string:
				b = []byte(x)
			default:
				continue
			}
			for _, n := range needles {
				if bytes.Contains(b, []byte(n)) || bytes.Contains(b, []byte(hex.EncodeToString([]byte(n)))) {
					found = append(found, table+"."+cols[i])
				}
			}
		}
	}
	return found
}

// findInFiles returns the SQLite files (database, WAL) holding any of
// needles.
func findInFiles(t *testing.T, url string, needles ...string) []string {
	path := strings.TrimPrefix(url, "sqlite:")
	var found []string
	for _, f := range []string{path, path + "-wal", path + "-journal"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				found = append(found, f+": "+n)
			}
		}
	}
	return found
}

// waitFor polls cond until it holds or the time runs out.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		<-tick.C
	}
}

// TestRetentionPurgesBuyerData: a mail past its retention is purged in
// the background: no raw bytes, no buyer value left in any table, nor,
// on SQLite, anywhere in the database file or its WAL; a recent mail is
// untouched.
func TestRetentionPurgesBuyerData(t *testing.T) {
	const email, tel = "hanako.purge@example.jp", "03-9876-5432"
	const keptEmail = "taro.kept@example.jp"
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			r := Retention{Mail: 2 * time.Second, Deliveries: 2 * time.Second, Dead: time.Hour}
			s := open(t, st.URL, Options{Registerer: reg, Retention: &r})
			old := time.Now().Add(-time.Minute)
			for i, in := range []*Ingest{buyerMail(1, email, tel, old), buyerMail(2, keptEmail, "090-1111-2222", time.Now().Add(time.Hour))} {
				if _, err := s.Ingest(t.Context(), in); err != nil {
					t.Fatal(err)
				}
				deliver(t, s, i+1, DeliveryDelivered, []string{email, keptEmail}[i])
			}
			waitFor(t, time.Minute, "mail purged and space reclaimed", func() bool {
				return testutil.ToFloat64(s.metric.space.rows.WithLabelValues("mail_purged")) == 1
			})
			if got := testutil.ToFloat64(s.metric.purged.WithLabelValues("mail")); got != 1 {
				t.Errorf("purged mails = %v, want 1", got)
			}
			if found := findInTables(t, s, email, tel, "9876"); len(found) > 0 {
				t.Errorf("buyer values left in %v", found)
			}
			if found := findInTables(t, s, keptEmail); len(found) == 0 {
				t.Error("the recent mail lost its buyer values")
			}
			raw, err := s.MailRaw(t.Context(), "1")
			if err != nil || len(raw) != 0 {
				t.Errorf("raw of the purged mail = %q, %v", raw, err)
			}
			m, err := s.GetMail(t.Context(), "1")
			if err != nil || m.Status != MailParsed || m.QueueID != "q1" || len(m.Events) != 1 {
				t.Fatalf("purged mail's row: %+v, %v", m, err)
			}
			if p := string(m.Events[0].Payload); !strings.Contains(p, `"order_no":"9"`) || strings.Contains(p, `"buyer":`) {
				t.Errorf("purged payload = %s", p)
			}
			if st.Name == "sqlite" {
				if found := findInFiles(t, st.URL, email, tel); len(found) > 0 {
					t.Errorf("buyer values left in the files: %v", found)
				}
				if found := findInFiles(t, st.URL, keptEmail); len(found) == 0 {
					t.Error("the search of the files finds nothing, not even the recent mail")
				}
			}
		})
	}
}

// TestRetentionRules: attempts of delivered deliveries go after
// retention.deliveries; a mail waits for its unresolved deliveries until
// retention.dead, when dead ones go; 0 keeps forever.
func TestRetentionRules(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			ctx := t.Context()
			at := time.Now()
			for i, status := range []string{DeliveryDelivered, DeliveryDead, ""} {
				if _, err := s.Ingest(ctx, buyerMail(i+1, fmt.Sprintf("b%d@example.jp", i), "03-0000-000"+fmt.Sprint(i), at.Add(-time.Hour))); err != nil {
					t.Fatal(err)
				}
				if status != "" {
					deliver(t, s, i+1, status, "")
				}
			}
			purge := func(r Retention, later time.Duration) PurgeResult {
				t.Helper()
				res, err := s.Purge(ctx, r, time.Now().Add(later))
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			if res := purge(Retention{}, 100*24*time.Hour); res.any() {
				t.Errorf("retention 0 purged %+v", res)
			}
			// Mail after 30 minutes, dead after two days: only the mail
			// whose delivery was delivered goes; its attempt stays.
			if res := purge(Retention{Mail: 30 * time.Minute, Dead: 48 * time.Hour}, 0); res != (PurgeResult{Mails: 1}) {
				t.Errorf("first pass: %+v, want one mail", res)
			}
			if res := purge(Retention{Deliveries: time.Hour, Dead: 48 * time.Hour}, 2*time.Hour); res != (PurgeResult{Attempts: 1}) {
				t.Errorf("second pass: %+v, want the delivered attempt", res)
			}
			// Three days on, the dead delivery goes and its mail with it; the
			// pending one's mail too, being past retention.dead.
			res := purge(Retention{Mail: 30 * time.Minute, Dead: 48 * time.Hour}, 72*time.Hour)
			if res != (PurgeResult{Mails: 2, Deliveries: 1}) {
				t.Errorf("third pass: %+v, want two mails and the dead delivery", res)
			}
			if n := count(t, s, `SELECT count(*) FROM mail WHERE purged_at IS NULL`); n != 0 {
				t.Errorf("%d mails not purged", n)
			}
		})
	}
}

// TestIncrementalVacuum: a new SQLite store is made for the incremental
// vacuum; one made before it is converted once when opened, and the pages
// purging frees go back to the file system.
func TestIncrementalVacuum(t *testing.T) {
	fresh := open(t, testenv.SQLite(t), Options{})
	var mode int
	if err := fresh.db.QueryRow(`PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != 2 {
		t.Fatalf("new store: auto_vacuum = %d, %v; want 2 (incremental)", mode, err)
	}
	url := testenv.SQLite(t)
	path := strings.TrimPrefix(url, "sqlite:")
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE leftover (v BLOB)`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	s := open(t, url, Options{Retention: &Retention{}})
	if err := s.db.QueryRow(`PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != 2 {
		t.Fatalf("auto_vacuum = %d, %v; want 2 (incremental)", mode, err)
	}
	for i := range 20 {
		if _, err := s.Ingest(t.Context(), buyerMail(i, "a@example.jp", "03-0000-0000", time.Now().Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	before, _, err := s.Size(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Purge(t.Context(), Retention{Mail: time.Minute}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.reclaim(t.Context()); err != nil {
		t.Fatal(err)
	}
	after, free, err := s.Size(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if free != 0 || after >= before {
		t.Errorf("size %d -> %d, %d bytes free: nothing given back", before, after, free)
	}
}

// TestOnePurgerAtATime: on PostgreSQL an instance whose neighbour is
// purging skips its pass.
func TestOnePurgerAtATime(t *testing.T) {
	url := testenv.Postgres(t)
	s := open(t, url, Options{})
	if _, err := s.Ingest(t.Context(), buyerMail(1, "a@example.jp", "03-0000-0000", time.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `SELECT pg_advisory_lock($1)`, purgeLock); err != nil {
		t.Fatal(err)
	}
	// Its delivery is pending: the mail is due through retention.dead.
	r := Retention{Mail: time.Minute, Dead: time.Minute}
	if res, err := s.purgeAlone(t.Context(), r); err != nil || res.any() {
		t.Fatalf("purged %+v, %v while another instance held the purge", res, err)
	}
	if _, err := conn.ExecContext(t.Context(), `SELECT pg_advisory_unlock($1)`, purgeLock); err != nil {
		t.Fatal(err)
	}
	if res, err := s.purgeAlone(t.Context(), r); err != nil || res.Mails != 1 {
		t.Fatalf("purged %+v, %v once alone", res, err)
	}
}
