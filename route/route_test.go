package route

import (
	"testing"

	"github.com/qoo10hook/qoo10hook/config"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{
		Webhook: config.Webhook{URL: "http://hook.example/x"},
		Routes: []config.Route{
			{Tenant: "shop42", Recipients: []string{"orders+shop42@in.example.com"}, Endpoints: []string{"a"}},
			{Tenant: "orders", Recipients: []string{"orders@in.example.com"}, Endpoints: []string{"b"}},
			{Tenant: "wholesale", Recipients: []string{"@wholesale.example.com", "in.example.com"}},
		},
	}
	tab := New(cfg)
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
	tab := New(&config.Config{Domains: []string{"localhost", "in.example.test"}})
	if r := tab.Match("orders@in.example.test"); r == nil || len(r.Endpoints) != 0 {
		t.Errorf("got %+v, want a route with no endpoints", r)
	}
	if r := tab.Match("orders@example.test"); r != nil {
		t.Errorf("got %+v, want none", r)
	}
}
