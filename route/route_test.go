package route

import (
	"slices"
	"testing"

	"github.com/qoo10hook/qoo10hook/event"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	tab := New(Options{
		CatchAll: catchAll,
		Routes: []Spec{
			{Tenant: "shop42", Recipients: []string{"orders+shop42@in.example.com"}, Endpoints: []string{"a"}},
			{Tenant: "orders", Recipients: []string{"orders@in.example.com"}, Endpoints: []string{"b"}},
			{Tenant: "wholesale", Recipients: []string{"@wholesale.example.com", "in.example.com"}},
		},
	})
	for _, tc := range []struct {
		rcpt, tenant string
		endpoints    int
	}{
		{"orders+shop42@in.example.com", "shop42", 2},
		{"Orders+SHOP42@IN.example.com", "shop42", 2},
		{"orders+other@in.example.com", "orders", 2},
		{"orders@in.example.com", "orders", 2},
		{"anyone@in.example.com", "wholesale", 1},
		{"x@wholesale.example.com", "wholesale", 1},
		{"x@sub.wholesale.example.com", "", -1},
		{"x@elsewhere.example", "", -1},
		{"in.example.com", "", -1},
		{"@in.example.com", "", -1},
	} {
		r := tab.Match(tc.rcpt)
		if tc.endpoints < 0 {
			if r != nil {
				t.Errorf("%s matched %+v, want no route", tc.rcpt, r)
			}
			continue
		}
		if r == nil || r.Tenant != tc.tenant || len(r.Endpoints) != tc.endpoints {
			t.Errorf("%s matched %+v, want tenant %s with %d endpoints", tc.rcpt, r, tc.tenant, tc.endpoints)
		}
	}
}

func TestDomainsOnly(t *testing.T) {
	t.Parallel()
	tab := New(Options{Domains: []string{"localhost", "in.example.test"}})
	if r := tab.Match("orders@in.example.test"); r == nil || len(r.Endpoints) != 0 {
		t.Errorf("got %+v, want a route with no endpoints", r)
	}
	if r := tab.Match("orders@example.test"); r != nil {
		t.Errorf("got %+v, want none", r)
	}
}

// onlyFilter lets each endpoint listed take only the types listed; the
// others take everything.
type onlyFilter map[string][]string

func (f onlyFilter) Wants(endpoint, eventType string) bool {
	types, ok := f[endpoint]
	return !ok || slices.Contains(types, eventType)
}

// TestEndpoints: a tenant's events of a type go to its route's endpoints
// whose filter takes the type, the catch-all's included; a tenant no
// route has gets none.
func TestEndpoints(t *testing.T) {
	t.Parallel()
	o := Options{
		CatchAll: catchAll,
		Routes:   []Spec{{Tenant: "shop42", Recipients: []string{"orders@in.example.com"}, Endpoints: []string{"a", "b"}}},
	}
	filtered := o
	filtered.Filter = onlyFilter{"a": {"order.placed"}, catchAll: {"order.paid"}}
	tab := New(filtered)
	for _, tc := range []struct {
		tenant string
		typ    event.Type
		want   []string
	}{
		{"shop42", event.OrderPlaced, []string{"a", "b"}},
		{"shop42", event.OrderPaid, []string{"b", catchAll}},
		{"shop42", event.OrderCancelled, []string{"b"}},
		{"other", event.OrderPlaced, nil},
	} {
		if got := tab.Endpoints(tc.tenant, tc.typ); !slices.Equal(got, tc.want) {
			t.Errorf("Endpoints(%q, %s) = %v, want %v", tc.tenant, tc.typ, got, tc.want)
		}
	}
	if got := New(o).Endpoints("shop42", event.OrderCancelled); !slices.Equal(got, []string{"a", "b", catchAll}) {
		t.Errorf("without a filter: %v", got)
	}
}
