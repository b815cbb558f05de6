package testenv

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// Session is one PostgreSQL session: a connection held, or a transaction.
type Session interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// KeptPlan returns the plan PostgreSQL keeps for stmt on the session q, as
// EXPLAIN prints it: the generic plan that a service's connection uses for
// a statement once it has run it a few times, made on the tables as they
// are now. args are the statement's arguments as SQL literals, joined by
// commas. It fails the test if PostgreSQL plans every execution anew.
func KeptPlan(t testing.TB, q Session, stmt, args string) string {
	t.Helper()
	ctx := t.Context()
	exec := func(query string) {
		t.Helper()
		if _, err := q.ExecContext(ctx, query); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	exec(`PREPARE kept_plan AS ` + stmt)
	defer exec(`DEALLOCATE kept_plan`)
	for range 10 {
		exec(`EXECUTE kept_plan (` + args + `)`)
	}
	var generic, custom int
	if err := q.QueryRowContext(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements
		WHERE name = 'kept_plan'`).Scan(&generic, &custom); err != nil {
		t.Fatal(err)
	}
	if generic == 0 {
		t.Fatalf("planned for each of %d executions, never a kept plan:\n%s", custom, stmt)
	}
	rows, err := q.QueryContext(ctx, `EXPLAIN EXECUTE kept_plan (`+args+`)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
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
	return plan.String()
}
