package inventory

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestReservationLookupKeepsKeyPlan: PostgreSQL keeps, per connection, the
// generic plan it made of a statement, here while the adjustments table
// is new and never analysed. A cancel's lookup of the reservation reads
// it by the whole primary key in that plan, not by an index that holds
// the seller alone, which would read every adjustment of the seller.
func TestReservationLookupKeepsKeyPlan(t *testing.T) {
	e := newEnv(t, testenv.Postgres(t), DeriverOptions{})
	ctx := t.Context()
	e.view(func(tx *sql.Tx) error {
		exec := func(q string) {
			t.Helper()
			if _, err := tx.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		exec(`PREPARE lookup AS ` + reservationQuery)
		for range 10 {
			exec(`EXECUTE lookup ('shop', 'O1', 'reserve')`)
		}
		var generic int
		if err := tx.QueryRowContext(ctx, `SELECT generic_plans FROM pg_prepared_statements
			WHERE name = 'lookup'`).Scan(&generic); err != nil {
			t.Fatal(err)
		}
		if generic == 0 {
			t.Error("planned for each execution, never a kept plan")
		}
		rows, err := tx.QueryContext(ctx, `EXPLAIN EXECUTE lookup ('shop', 'O1', 'reserve')`)
		if err != nil {
			t.Fatal(err)
		}
		var plan strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(line + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan.String(), "inventory_adjustment_pkey") || strings.Contains(plan.String(), "Filter") {
			t.Errorf("the kept plan does not read the reservation by its key:\n%s", plan.String())
		}
		exec(`DEALLOCATE lookup`)
		return nil
	})
}
