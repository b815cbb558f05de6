package store

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestFirstPredecessorsInChunks reads the first predecessors of more
// deliveries than one statement takes, the last statement padded.
func TestFirstPredecessorsInChunks(t *testing.T) {
	s := open(t, testenv.Postgres(t), Options{})
	ctx := t.Context()
	const n, carts = 70, 7
	jobs := make([]pendingJob, n)
	for i := range n {
		in := mail(i, fmt.Sprintf("evt_c%d", i))
		in.Events[0].Deliveries = []NewDelivery{{Endpoint: "e", OrderKey: fmt.Sprintf("cart%d", i%carts)}}
		if _, err := s.Ingest(ctx, in); err != nil {
			t.Fatal(err)
		}
		j := &jobs[i]
		if err := s.db.QueryRowContext(ctx, `SELECT id, endpoint, order_key, order_key2 FROM delivery WHERE event_id = $1`,
			fmt.Sprintf("evt_c%d", i)).Scan(&j.deliveryID, &j.endpoint, &j.orderKey, &j.secondKey); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range []int{1, 3, carts + 2, n} {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The last deliveries: each follows the first of its cart.
		firsts, err := firstPredecessors(ctx, tx, jobs[n-size:])
		tx.Rollback()
		if err != nil {
			t.Fatalf("%d deliveries: %v", size, err)
		}
		want := map[int64]int64{}
		for i := n - size; i < n; i++ {
			if i >= carts {
				want[jobs[i].deliveryID] = jobs[i%carts].deliveryID
			}
		}
		if fmt.Sprint(firsts) != fmt.Sprint(want) {
			t.Errorf("%d deliveries: first predecessors %v, want %v", size, firsts, want)
		}
	}
}

// TestChainLookupsKeepIndexPlans: PostgreSQL keeps, per connection, the
// generic plan it made of a statement, here while the delivery table is
// new. The lookups of a delivery's chain, run for every delivery stored
// and every attempt, read deliveries through indexes in that plan, and
// the plan is kept (not made again at every execution).
func TestChainLookupsKeepIndexPlans(t *testing.T) {
	conn := pinnedConn(t, open(t, testenv.Postgres(t), Options{}))
	predecessors := func(k int) (string, string) {
		args := make([]string, 1<<k)
		for i := range args {
			args[i] = fmt.Sprintf("%d, 'e', 'cart%d', 'sku'", i+1, i)
		}
		return predecessorsQueries[k], strings.Join(args, ", ")
	}
	lookups := map[string]func() (string, string){
		"successors":        func() (string, string) { return successorJobsPostgres, "1" },
		"successor taken":   func() (string, string) { return successorForDispatch, "1" },
		"job link":          func() (string, string) { return linkJob, "2, 1" },
		"predecessors of 1": func() (string, string) { return predecessors(0) },
		"predecessors of 8": func() (string, string) { return predecessors(3) },
		"predecessors of 64": func() (string, string) {
			return predecessors(len(predecessorsQueries) - 1)
		},
	}
	for name, lookup := range lookups {
		q, args := lookup()
		if plan := testenv.KeptPlan(t, conn, q, args); strings.Contains(plan, "Seq Scan on delivery") {
			t.Errorf("%s: the kept plan reads the whole delivery table:\n%s", name, plan)
		}
	}
}

// pinnedConn is one connection of s's pool, held until the test ends: a
// session's prepared statements and settings stay on it.
func pinnedConn(t *testing.T, s *Store) *sql.Conn {
	t.Helper()
	conn, err := s.db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
