package app

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	orderrec "github.com/qoo10hook/qoo10hook/order"
)

// benchOrders is how many order records BenchmarkOrdersAPI stores:
// QOO10HOOK_BENCH_ORDERS, default 10000 (docs/performance.md reports
// 1000000).
func benchOrders(b *testing.B) int {
	n := 10000
	if v := os.Getenv("QOO10HOOK_BENCH_ORDERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("QOO10HOOK_BENCH_ORDERS=%q: want a number of at least 1000", v)
		}
	}
	return n
}

// BenchmarkOrdersAPI measures GET /api/v1/orders (100 orders a page) over
// loopback on a store of benchOrders records of two lines each, written
// directly in SQL: the newest page, a deep page, and the filters.
func BenchmarkOrdersAPI(b *testing.B) {
	for _, st := range testenv.Stores(b) {
		b.Run(st.Name, func(b *testing.B) {
			cfg := testConfigB(b, st.URL)
			cfg.HTTP.AdminToken = testAdminToken
			svc, _ := startB(b, cfg)
			n := benchOrders(b)
			start := time.Now()
			fillOrders(b, svc, n, st.Name == "postgres")
			b.Logf("%d orders stored in %s", n, time.Since(start).Round(time.Second))
			base := "http://" + svc.HTTPAddr() + "/api/v1/orders?limit=100"
			for _, c := range []struct{ name, query string }{
				{"newest", ""},
				{"deep", fmt.Sprintf("&before=%d", n/2)},
				{"seller", "&seller_id=seller7"},
				{"state", "&state=partially_cancelled"},
				{"placed", "&placed_from=2026-06-01&placed_to=2026-06-30"},
				{"search_order_no", fmt.Sprintf("&q=%d", 2*(n/3))},
				{"search_code", "&q=CODE-42"},
			} {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						getOrders(b, base+c.query)
					}
				})
			}
		})
	}
}

func getOrders(b *testing.B, url string) {
	req, _ := http.NewRequestWithContext(b.Context(), "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "{") {
		b.Fatalf("%s: %d %s", url, resp.StatusCode, body)
	}
}

// fillOrders writes n records with two lines each, in SQL: 50 sellers,
// one placed every 30 s from 2026-01-01, one in five paid, one in fifty
// partially cancelled. Each carries the same realistic record JSON.
func fillOrders(b *testing.B, svc *Service, n int, postgres bool) {
	b.Helper()
	rec := sampleRecord(b)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, event.JST).UnixMicro()
	series := `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $1) `
	from := `FROM s`
	if postgres {
		series, from = ``, `FROM generate_series(1, $1) AS s(i)`
	}
	state := `CASE WHEN i % 50 = 0 THEN 'partially_cancelled' WHEN i % 5 = 0 THEN 'paid' ELSE 'placed' END`
	stmts := []string{
		series + `INSERT INTO order_record (id, tenant, seller_id, pack_no, state, placed_at, revision, updated_at)
			SELECT i, 'bench', 'seller' || (i % 50), 'P' || i, ` + state + `, CAST($2 AS BIGINT) + CAST(i AS BIGINT) * 30000000, 1,
			CAST($2 AS BIGINT) + CAST(i AS BIGINT) * 30000000 ` + from,
		series + `INSERT INTO order_body (order_id, record) SELECT i, CAST($2 AS TEXT) ` + from,
		series + `INSERT INTO order_line (order_id, line_key, order_no, item_no, seller_item_code, option_code, state)
			SELECT i, '' || (2 * i), '' || (2 * i), '' || (i % 997), 'CODE-' || (i % 1000), 'OPT-' || i, 'placed' ` + from,
		series + `INSERT INTO order_line (order_id, line_key, order_no, item_no, seller_item_code, option_code, state)
			SELECT i, '' || (2 * i + 1), '' || (2 * i + 1), '' || (i % 997), 'CODE-' || (i % 1000), '', 'placed' ` + from,
	}
	if postgres {
		stmts = append(stmts, `SELECT setval(pg_get_serial_sequence('order_record', 'id'), $1)`, `ANALYZE order_record`, `ANALYZE order_body`, `ANALYZE order_line`)
	} else {
		stmts = append(stmts, `ANALYZE`)
	}
	err := svc.Store().Tx(b.Context(), func(tx *sql.Tx) error {
		for _, q := range stmts {
			var args []any
			switch {
			case strings.Contains(q, "INSERT INTO order_body"):
				args = []any{n, rec}
			case strings.Contains(q, "$2"):
				args = []any{n, t0}
			case strings.Contains(q, "$1"):
				args = []any{n}
			}
			if _, err := tx.ExecContext(b.Context(), q, args...); err != nil {
				return fmt.Errorf("%.60s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// sampleRecord is a record of a three-line cart with a buyer and a
// receiver, as JSON.
func sampleRecord(b *testing.B) string {
	o := &event.Order{SellerID: "seller1", PackNo: "P1", OrderDate: "2026-01-01T00:00:00+09:00", PaymentMethod: "クレジットカード",
		ShippingWay: "宅配便", DesiredTimeSlot: "午前中", TotalPrice: event.Int(5940), Currency: "JPY",
		Buyer:    &event.Person{Name: "山田 太郎", Kana: "ヤマダ タロウ", Tel: "03-1234-5678", Email: "taro@example.jp"},
		Receiver: &event.Person{Name: "山田 花子", Zip: "100-0001", Address: "東京都千代田区千代田1-1 ハイツ千代田101", Tel: "090-1234-5678"}}
	for i := range 3 {
		o.Items = append(o.Items, event.Item{OrderNo: fmt.Sprint(100 + i), ItemNo: "5550001", Title: "長袖Tシャツ 綿100%",
			SellerItemCode: "TS-001", Option: "サイズ:L", OptionCode: "TS-001-L", Qty: event.Int(1), Price: event.Int(1980)})
	}
	r := orderrec.Merge([]orderrec.Source{{EventID: "evt_a", Type: event.OrderPaid, Date: time.Now(), Order: o}})
	r.Tenant, r.Revision = "bench", 1
	j, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	return string(j)
}
