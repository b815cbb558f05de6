package store

import (
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestPersonalTableEntry: a table of records holding buyer values,
// not tied to one mail, takes one entry in personalTables: erasure finds
// and blanks its rows, and retention purges them by age.
func TestPersonalTableEntry(t *testing.T) {
	saved := personalTables
	t.Cleanup(func() { personalTables = saved })
	personalTables = append(append([]personalTable(nil), saved...), personalTable{
		Table: "buyer_record", Key: "id", Email: []string{"buyer_email"}, Tel: []string{"buyer_tel"},
		Name: []string{"buyer_name"}, Other: []string{"receiver_address"}, Age: "updated_at", Purged: "purged_at",
	})
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			ctx := t.Context()
			if _, err := s.db.ExecContext(ctx, `CREATE TABLE buyer_record (id TEXT PRIMARY KEY, buyer_email TEXT NOT NULL,
				buyer_tel TEXT NOT NULL, buyer_name TEXT NOT NULL, receiver_address TEXT NOT NULL,
				updated_at BIGINT NOT NULL, purged_at BIGINT)`); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-48 * time.Hour).UnixMicro()
			for _, r := range [][]any{
				{"shop|1", "Jiro@Example.jp", "03-7777-8888", "山田 次郎", "大阪府1-1", time.Now().UnixMicro()},
				{"shop|2", "other@example.jp", "090-0000-1111", "田中 一郎", "京都府2-2", old},
			} {
				if _, err := s.db.ExecContext(ctx, `INSERT INTO buyer_record (id, buyer_email, buyer_tel, buyer_name,
					receiver_address, updated_at) VALUES ($1, $2, $3, $4, $5, $6)`, r...); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := s.Erase(ctx, Buyer{Tel: "0377778888"}, "test")
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Rows) != 1 || rep.Rows[0] != (ErasedRow{Table: "buyer_record", Key: "shop|1"}) {
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
			if n := count(t, s, `SELECT count(*) FROM buyer_record WHERE purged_at IS NOT NULL`); n != 2 {
				t.Errorf("%d rows marked purged, want 2", n)
			}
		})
	}
}

// TestScrubOrderRecordConflicts: an order record's conflicts between a
// buyer's or receiver's values hold those values; erasure finds a buyer
// by a value only a conflict keeps, and scrubbing drops those conflicts
// and keeps the others.
func TestScrubOrderRecordConflicts(t *testing.T) {
	doc := []byte(`{"seller_id":"s","pack_no":"1","receiver":{"name":"山田 花子","tel":"03-1111-2222"},
		"conflicts":[
			{"field":"receiver.tel","kept":"03-1111-2222","values":[{"value":"03-1111-2222"},{"value":"090-3333-4444"}]},
			{"field":"items[7].price","kept":"1980","values":[{"value":"1980"},{"value":"2000"}]}]}`)
	m, _ := newMatcher(Buyer{Tel: "09033334444"})
	if !matchJSON(doc, m) {
		t.Error("the phone only a conflict holds is not found")
	}
	out := string(scrubJSON(doc))
	for _, gone := range []string{"山田", "1111", "3333", "receiver"} {
		if strings.Contains(out, gone) {
			t.Errorf("scrubbed record holds %q: %s", gone, out)
		}
	}
	if !strings.Contains(out, `"items[7].price"`) || !strings.Contains(out, `"pack_no":"1"`) {
		t.Errorf("scrubbing dropped what is not personal: %s", out)
	}
}
