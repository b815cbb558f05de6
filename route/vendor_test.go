package route

import (
	"slices"
	"strings"
	"testing"
)

// catchAll is the catch-all endpoint of the tests.
const catchAll = "default"

func vendorOptions() Options {
	return Options{
		CatchAll: catchAll,
		Policy:   PolicyQuarantine,
		Routes:   []Spec{{Tenant: "direct", Recipients: []string{"orders@in.example.com"}, SenderPolicy: PolicyTag}},
		Vendor: Vendor{Domains: []string{"v.example.com"}, Key: []byte("0123456789abcdef0123"), TokenLength: 10,
			TenantPrefix: "acme-", Endpoints: []string{"vendor"}},
	}
}

func TestVendorAddresses(t *testing.T) {
	t.Parallel()
	o := vendorOptions()
	tab := New(o)
	s := NewSigner(o.Vendor.Key, 10)
	addr, err := s.Address("Shop_42", "v.example.com")
	if err != nil {
		t.Fatal(err)
	}
	local, _, _ := strings.Cut(addr, "@")
	if !strings.HasPrefix(addr, "shop_42.") || len(local) != len("shop_42.")+10 {
		t.Fatalf("address %q is not SELLER.TOKEN@DOMAIN with a 10-character token", addr)
	}
	r := tab.Match(addr)
	if r == nil || r.Tenant != "acme-shop_42" || r.SenderPolicy != PolicyQuarantine {
		t.Fatalf("%s matched %+v", addr, r)
	}
	if len(r.Endpoints) != 2 || r.Endpoints[0] != "vendor" || r.Endpoints[1] != catchAll {
		t.Errorf("endpoints = %v, want vendor and the catch-all", r.Endpoints)
	}
	if again := tab.Match(strings.ToUpper(addr)); again != r {
		t.Errorf("the same seller in upper case got another route: %p %p", again, r)
	}
	token := local[len("shop_42."):]
	for _, bad := range []string{
		"shop_42." + strings.Repeat("a", 10) + "@v.example.com", // wrong token
		"shop_43." + token + "@v.example.com",                   // another seller
		"shop_42." + token[:9] + "@v.example.com",               // short token
		"shop_42." + token + "a@v.example.com",                  // long token
		"shop_42@v.example.com",                                 // no token
		"." + token + "@v.example.com",                          // no seller
		"shop_42." + token + "@in.example.com",                  // not a vendor domain
	} {
		if r := tab.Match(bad); r != nil {
			t.Errorf("%s matched %+v", bad, r)
		}
	}
	other := NewSigner([]byte("another-key-0123456789"), 10)
	if a, _ := other.Address("shop_42", "v.example.com"); tab.Match(a) != nil {
		t.Errorf("a token made with another key matched: %s", a)
	}
	if _, err := s.Address("bad seller", "v.example.com"); err == nil {
		t.Error("a seller id with a space made an address")
	}
	if r := tab.Match("orders@in.example.com"); r == nil || r.SenderPolicy != PolicyTag {
		t.Errorf("a route's own policy is lost: %+v", r)
	}
}

func TestTenantShape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ prefix, seller, want string }{
		{"", "shop42", "shop42"},
		{"", "Shop42", "shop42"}, // tokens ignore case, and so do tenants
		{"", "shop-42", "shop-42"},
		{"", "Shop.42", "shop-42-ce99bd"},
		{"acme-", "_shop__42_", "acme-shop_42-c36cfd"},
		{"", "a..-_b", "a-b-f884c9"},
		{"", "._-", ""},
		{"", "ショップ", ""},
		{"", strings.Repeat("ab", 40), strings.Repeat("ab", 26) + "a-a8a0b7"},
	} {
		if got := Tenant(tc.prefix, tc.seller); got != tc.want {
			t.Errorf("Tenant(%q, %q) = %q, want %q", tc.prefix, tc.seller, got, tc.want)
		}
	}
	// Sellers whose ids differ only in their separators, or past the cut,
	// keep tenants of their own.
	for _, pair := range [][2]string{{"shop.a", "shop-a"}, {"shop_a", "shop__a"}, {strings.Repeat("x", 70) + "1", strings.Repeat("x", 70) + "2"}} {
		if a, b := Tenant("", pair[0]), Tenant("", pair[1]); a == b {
			t.Errorf("sellers %q and %q share the tenant %q", pair[0], pair[1], a)
		}
	}
}

// TestVendorTenantOwnership: a seller cannot take a configured route's
// tenant, and a vendor tenant's endpoints are vendor mode's.
func TestVendorTenantOwnership(t *testing.T) {
	t.Parallel()
	tab := New(Options{
		Vendor: Vendor{Domains: []string{"v.example.com"}, Key: []byte("vendor-key-0123456789"), TokenLength: 10,
			Endpoints: []string{"vendor-orders"}},
		Routes: []Spec{{Tenant: "shop42", Recipients: []string{"orders@in.example.com"}, Endpoints: []string{"shop"}}},
	})
	s := NewSigner([]byte("vendor-key-0123456789"), 10)
	taken, _ := s.Address("shop42", "v.example.com")
	if r := tab.Match(taken); r != nil {
		t.Errorf("vendor seller shop42 took the configured tenant: %+v", r)
	}
	own, _ := s.Address("shop43", "v.example.com")
	if r := tab.Match(own); r == nil || r.Tenant != "shop43" {
		t.Fatalf("vendor seller shop43: %+v", r)
	}
	if got := tab.TenantEndpoints("shop43"); !slices.Equal(got, []string{"vendor-orders"}) {
		t.Errorf("vendor tenant endpoints %v", got)
	}
	if got := tab.TenantEndpoints("shop42"); !slices.Equal(got, []string{"shop"}) {
		t.Errorf("configured tenant endpoints %v", got)
	}
}

// TestRelayShapesNeverMatch: local parts that only mean something to a
// relay are refused even on a routed domain.
func TestRelayShapesNeverMatch(t *testing.T) {
	t.Parallel()
	tab := New(Options{Domains: []string{"in.example.com"}})
	for _, a := range []string{"x%elsewhere.example@in.example.com", "elsewhere.example!x@in.example.com",
		`"x"@in.example.com`, "x@y@in.example.com", "a b@in.example.com", "x\\y@in.example.com",
		strings.Repeat("a", 65) + "@in.example.com", "x@[127.0.0.1]"} {
		if r := tab.Match(a); r != nil {
			t.Errorf("%s matched %+v", a, r)
		}
	}
	if tab.Match("orders@in.example.com") == nil {
		t.Error("a plain address of the domain did not match")
	}
}
