package store

import (
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestPersonalTableEntry: a table of order records holding buyer values,
// not tied to one mail, takes one entry in personalTables: erasure finds
// and blanks its rows, and retention purges them by age.
func TestPersonalTableEntry(t *testing.T) {
	saved := personalTables
	t.Cleanup(func() { personalTables = saved })
	personalTables = append(append([]personalTable(nil), saved...), personalTable{
		Table: "order_record", Key: "id", Email: []string{"buyer_email"}, Tel: []string{"buyer_tel"},
		Name: []string{"buyer_name"}, Other: []string{"receiver_address"}, Age: "updated_at", Purged: "purged_at",
	})
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			ctx := t.Context()
			if _, err := s.db.ExecContext(ctx, `CREATE TABLE order_record (id TEXT PRIMARY KEY, buyer_email TEXT NOT NULL,
				buyer_tel TEXT NOT NULL, buyer_name TEXT NOT NULL, receiver_address TEXT NOT NULL,
				updated_at BIGINT NOT NULL, purged_at BIGINT)`); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-48 * time.Hour).UnixMicro()
			for _, r := range [][]any{
				{"shop|1", "Jiro@Example.jp", "03-7777-8888", "山田 次郎", "大阪府1-1", time.Now().UnixMicro()},
				{"shop|2", "other@example.jp", "090-0000-1111", "田中 一郎", "京都府2-2", old},
			} {
				if _, err := s.db.ExecContext(ctx, `INSERT INTO order_record (id, buyer_email, buyer_tel, buyer_name,
					receiver_address, updated_at) VALUES ($1, $2, $3, $4, $5, $6)`, r...); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := s.Erase(ctx, Buyer{Tel: "0377778888"}, "test")
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Rows) != 1 || rep.Rows[0] != (ErasedRow{Table: "order_record", Key: "shop|1"}) {
				t.Errorf("erasure rows %+v", rep.Rows)
			}
			if found := findInTables(t, s, "Jiro@Example.jp", "7777", "山田", "大阪"); len(found) > 0 {
				t.Errorf("after the erasure: %v", found)
			}
			res, err := s.Purge(ctx, Retention{Mail: 24 * time.Hour}, time.Now())
			if err != nil || res.Rows != 1 {
				t.Fatalf("purge: %+v, %v", res, err)
			}
			if found := findInTables(t, s, "other@example.jp", "田中", "京都"); len(found) > 0 {
				t.Errorf("after the purge: %v", found)
			}
			if n := count(t, s, `SELECT count(*) FROM order_record WHERE purged_at IS NOT NULL`); n != 2 {
				t.Errorf("%d rows marked purged, want 2", n)
			}
		})
	}
}
