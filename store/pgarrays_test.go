package store

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lib/pq"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestPQArraysEncodedNatively checks that the store's PostgreSQL
// connections encode River's lib/pq arrays as the slices they hold, not
// through their text form, and that the values arrive as lib/pq would
// have sent them.
func TestPQArraysEncodedNatively(t *testing.T) {
	s := open(t, testenv.Postgres(t), Options{})
	ctx := t.Context()
	conn := pinnedConn(t, s)

	if err := conn.Raw(func(dc any) error {
		m := dc.(*stdlib.Conn).Conn().TypeMap()
		for name, v := range map[string]any{"_text": pq.StringArray{"a"}, "_int8": pq.Int64Array{1},
			"_bytea": pq.ByteaArray{{1}}, "_int4": &pq.Int32Array{1}, "_timestamptz": pq.GenericArray{A: []time.Time{time.Now()}}} {
			typ, ok := m.TypeForName(name)
			if !ok {
				t.Fatalf("no type %s", name)
			}
			plan := m.PlanEncode(typ.OID, pgtype.BinaryFormatCode, v)
			if plan == nil || strings.Contains(fmt.Sprintf("%T", plan), "DriverValuer") {
				t.Errorf("%T encoded by %T, want the slice it holds encoded", v, plan)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	at := time.Date(2026, 12, 4, 5, 6, 7, 891011000, time.UTC)
	var texts, bytes, times, smalls, nulls string
	if err := conn.QueryRowContext(ctx, `SELECT $1::text[]::text, $2::bytea[]::text, $3::timestamptz[]::text,
		$4::smallint[]::text, ($5::text[] IS NULL AND $6::timestamptz[] IS NULL)::text`,
		&pq.StringArray{"a", "b,c", `"q"`, ""}, pq.ByteaArray{{0, 1}, nil}, pq.GenericArray{A: []time.Time{at, at.Add(time.Hour)}},
		pq.GenericArray{A: []int16{1, -2}}, (*pq.StringArray)(nil), pq.GenericArray{A: []time.Time(nil)},
	).Scan(&texts, &bytes, &times, &smalls, &nulls); err != nil {
		t.Fatal(err)
	}
	var tz string
	if err := conn.QueryRowContext(ctx, `SHOW TIME ZONE`).Scan(&tz); err != nil {
		t.Fatal(err)
	}
	var wantTimes string
	if err := conn.QueryRowContext(ctx, `SELECT ARRAY[$1::timestamptz, $2::timestamptz]::text`, at, at.Add(time.Hour)).Scan(&wantTimes); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"text[]", texts, `{a,"b,c","\"q\"",""}`},
		{"bytea[]", bytes, `{"\\x0001",NULL}`},
		{"timestamptz[] (" + tz + ")", times, wantTimes},
		{"smallint[]", smalls, `{1,-2}`},
		{"nil arrays", nulls, "true"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, c.got, c.want)
		}
	}

	// A plan made for one GenericArray's slice refuses another's rather
	// than write it wrong.
	plan := &pqArrayPlan{generic: reflect.TypeOf([]time.Time(nil))}
	if _, err := plan.Encode(pq.GenericArray{A: []string{"2026-12-04"}}, nil); err == nil {
		t.Error("a []string encoded by the plan for []time.Time, no error")
	}
}
