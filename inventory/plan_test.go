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
	e.view(func(tx *sql.Tx) error {
		plan := testenv.KeptPlan(t, tx, reservationQuery, `'shop', 'O1', 'reserve'`)
		if !strings.Contains(plan, "inventory_adjustment_pkey") || strings.Contains(plan, "Filter") {
			t.Errorf("the kept plan does not read the reservation by its key:\n%s", plan)
		}
		return nil
	})
}
