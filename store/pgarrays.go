package store

import (
	"context"
	"fmt"
	"reflect"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/lib/pq"
)

// River's database/sql driver passes its array arguments (a batch of jobs
// inserted at once, the jobs it completes) as lib/pq arrays, which pgx
// encodes as drivers' values: each array is written out as PostgreSQL's
// text literal, parsed back, and only then encoded, a tenth of the
// service's CPU under load. encodePQArraysNatively makes each connection
// encode the slices inside them directly, as it does any Go slice.
func encodePQArraysNatively(_ context.Context, conn *pgx.Conn) error {
	m := conn.TypeMap()
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{unwrapPQArray}, m.TryWrapEncodePlanFuncs...)
	return nil
}

// unwrapPQArray offers the slice inside a lib/pq array for pgx to encode.
// River's queries pass most of them by pointer (pq.Array(&x)).
func unwrapPQArray(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if g, ok := value.(pq.GenericArray); ok {
		// Any slice (River's []time.Time and []int16). pgx keeps the plan
		// it makes for a parameter's type and a Go type, and a
		// GenericArray's slice may differ from one value to the next, so
		// the plan checks that it holds the slice it was made for.
		if g.A == nil {
			return nil, nil, false
		}
		return &pqArrayPlan{generic: reflect.TypeOf(g.A)}, g.A, true
	}
	if slice, ok := pqSlice(value); ok {
		return &pqArrayPlan{}, slice, true
	}
	return nil, nil, false
}

// pqSlice returns the slice a lib/pq array of a fixed element type holds,
// a nil one for a nil pointer.
func pqSlice(value any) (any, bool) {
	switch v := value.(type) {
	case pq.StringArray:
		return []string(v), true
	case *pq.StringArray:
		return []string(deref(v)), true
	case pq.Int64Array:
		return []int64(v), true
	case *pq.Int64Array:
		return []int64(deref(v)), true
	case pq.Int32Array:
		return []int32(v), true
	case *pq.Int32Array:
		return []int32(deref(v)), true
	case pq.ByteaArray:
		return [][]byte(v), true
	case *pq.ByteaArray:
		return [][]byte(deref(v)), true
	case pq.BoolArray:
		return []bool(v), true
	case *pq.BoolArray:
		return []bool(deref(v)), true
	case pq.Float64Array:
		return []float64(v), true
	case *pq.Float64Array:
		return []float64(deref(v)), true
	}
	return nil, false
}

// deref is the slice p points to, nil for a nil p.
func deref[S ~[]E, E any](p *S) S {
	if p == nil {
		return nil
	}
	return *p
}

type pqArrayPlan struct {
	next    pgtype.EncodePlan
	generic reflect.Type // the slice type inside a pq.GenericArray
}

func (p *pqArrayPlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *pqArrayPlan) Encode(value any, buf []byte) ([]byte, error) {
	if g, ok := value.(pq.GenericArray); ok {
		if rv := reflect.ValueOf(g.A); !rv.IsValid() || rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, nil // NULL, as lib/pq writes it
		}
		if t := reflect.TypeOf(g.A); t != p.generic {
			return nil, fmt.Errorf("store: encode a lib/pq array of %v with the plan for %v", t, p.generic)
		}
		return p.next.Encode(g.A, buf)
	}
	if slice, ok := pqSlice(value); ok {
		return p.next.Encode(slice, buf)
	}
	return p.next.Encode(value, buf)
}
