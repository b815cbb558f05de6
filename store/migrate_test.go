package store

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestLargeValuesCompressedWithLZ4: on a PostgreSQL server that has lz4,
// a mail, an event's payload and a record are compressed with it; on one
// without, with the server's default. On SQLite the migration that sets
// it is recorded and changes nothing.
func TestLargeValuesCompressedWithLZ4(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			if !slices.Contains(appliedVersions(t, s), 17) {
				t.Fatal("migration 017 not recorded")
			}
			if st.Name != "postgres" {
				return
			}
			var lz4 bool
			if err := s.db.QueryRowContext(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_settings
				WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))`).Scan(&lz4); err != nil {
				t.Fatal(err)
			}
			want := "pglz"
			if lz4 {
				want = "lz4"
			}
			in := mail(1, "evt_big")
			in.Mail.Raw = bytes.Repeat([]byte("ご注文ありがとうございます。注文番号: 123456789\r\n"), 400)
			in.Events[0].Payload = []byte(`{"text":"` + strings.Repeat("注文情報 ", 2000) + `"}`)
			if _, err := s.Ingest(t.Context(), in); err != nil {
				t.Fatal(err)
			}
			var raw, payload string
			if err := s.db.QueryRowContext(t.Context(), `SELECT pg_column_compression(m.raw), pg_column_compression(e.payload)
				FROM mail m JOIN event e ON e.mail_id = m.id WHERE e.id = 'evt_big'`).Scan(&raw, &payload); err != nil {
				t.Fatal(err)
			}
			if raw != want || payload != want {
				t.Errorf("mail compressed with %q, payload with %q; want %q", raw, payload, want)
			}
			var record string
			if err := s.db.QueryRowContext(t.Context(), `SELECT attcompression::text FROM pg_attribute
				WHERE attrelid = 'order_body'::regclass AND attname = 'record'`).Scan(&record); err != nil {
				t.Fatal(err)
			}
			if lz4 && record != "l" {
				t.Errorf("order_body.record compression %q, want l (lz4)", record)
			}
		})
	}
}

func appliedVersions(t *testing.T, s *Store) []int {
	t.Helper()
	versions, err := recordedVersions(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	return versions
}
