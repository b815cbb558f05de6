package mailauth

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	good := Forwarder{Name: "gmail", Networks: []netip.Prefix{netip.MustParsePrefix("209.85.128.0/17")}, AuthServID: "mx.google.com"}
	tests := []struct {
		name string
		o    Options
		want string // substring of the error; "" for none
	}{
		{"zero value", Options{}, ""},
		{"a forwarder", Options{Forwarders: []Forwarder{good, {Name: "fwd", Domains: []string{"fwd.example"}, AuthServID: "mx.fwd.example"}}}, ""},
		{"negative timeout", Options{Timeout: -time.Second}, "Timeout: negative"},
		{"negative lookup timeout", Options{LookupTimeout: -1}, "LookupTimeout: negative"},
		{"negative cache size", Options{CacheSize: -1}, "CacheSize: negative"},
		{"no authserv-id", Options{Forwarders: []Forwarder{{Name: "x", Domains: []string{"x.example"}}}}, "Forwarders[0] (x): AuthServID is empty"},
		{"nothing identifies it", Options{Forwarders: []Forwarder{good, {Name: "x", AuthServID: "mx.x.example"}}}, "Forwarders[1] (x): neither Networks nor Domains"},
		{"zero prefix", Options{Forwarders: []Forwarder{{Name: "x", AuthServID: "a", Networks: []netip.Prefix{{}}}}}, "Networks[0] is not a valid prefix"},
		{"empty domain", Options{Forwarders: []Forwarder{{Name: "x", AuthServID: "a", Domains: []string{" ."}}}}, "Domains[0] is empty"},
		{"no name", Options{Forwarders: []Forwarder{{AuthServID: "a", Domains: []string{"x.example"}}}}, "Name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.o.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// Result.Err may reach logs: it names domains, never an address, even
// where an SPF macro puts the local part into a lookup or a From field
// cannot be parsed.
func TestErrorsCarryNoAddresses(t *testing.T) {
	t.Parallel()
	dns := newWorld(t)
	dns.addTXT("macro.example", "v=spf1 exists:%{l}._spf.macro.example -all")
	dns.servfail["buyer-taro._spf.macro.example"] = true
	c := checker(dns)
	r := c.Check(t.Context(), Input{RemoteIP: attackerIP, MailFrom: "buyer-taro@macro.example",
		Message: testMail("buyer-taro@buyer.example <<broken")})
	if r.SPF.Result != TempError || r.Err == nil {
		t.Fatalf("SPF %+v, Err %v", r.SPF, r.Err)
	}
	if s := r.Err.Error(); strings.Contains(s, "taro") {
		t.Errorf("Err carries a local part: %s", s)
	}
}

func TestAligned(t *testing.T) {
	t.Parallel()
	r := Result{FromDomain: "mail.qoo10.jp", SPF: verdict(Fail, "qoo10.jp"), DKIM: verdict(Pass, "qoo10.jp"), DKIMDomains: []string{"qoo10.jp"}}
	for _, tt := range []struct {
		allowed []string
		want    bool
	}{
		{[]string{"qoo10.jp"}, true},
		{[]string{"QOO10.JP."}, true},
		{[]string{"mail.qoo10.jp"}, true},
		{[]string{"other.example", "qoo10.jp"}, true},
		{[]string{"shop.qoo10.jp"}, false},
		{[]string{"oo10.jp"}, false},
		{[]string{"jp"}, true}, // the caller's choice, however unwise
		{nil, false},
		{[]string{""}, false},
	} {
		if got := r.Aligned(tt.allowed); got != tt.want {
			t.Errorf("Aligned(%q) = %v, want %v", tt.allowed, got, tt.want)
		}
	}
	// A DKIM pass for a public suffix or a look-alike does not align.
	for _, d := range []string{"jp", "oo10.jp", "qoo10.jp.evil.example"} {
		r := Result{FromDomain: "qoo10.jp", DKIM: verdict(Pass, d), DKIMDomains: []string{d}}
		if r.Aligned([]string{"qoo10.jp"}) {
			t.Errorf("aligned by d=%s", d)
		}
	}
}
