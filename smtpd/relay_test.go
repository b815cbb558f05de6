package smtpd

import (
	"strings"
	"testing"
)

// TestNeverARelay: every recipient that is not routed is refused at RCPT
// with 550 5.1.1, however it is dressed up; syntax go-smtp cannot parse
// gets its 501 5.5.2. Nothing refused is ever stored.
func TestNeverARelay(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{})
	good := vendorAddr("Shop42")
	seller, _, _ := strings.Cut(good, ".")
	for _, tc := range []struct {
		rcpt, want string
		stored     string // the recipient stored, for the accepted ones
	}{
		// Routed.
		{"<orders@in.example.test>", "250 ", "orders@in.example.test"},
		{"<ORDERS@IN.Example.Test>", "250 ", "ORDERS@IN.Example.Test"},
		{"<" + good + ">", "250 ", good},
		{"<" + strings.ToUpper(good) + ">", "250 ", strings.ToUpper(good)},
		// A source route is ignored (RFC 5321 section 3.6.1; go-smtp drops
		// it): only the final mailbox counts, and nothing is relayed.
		{"<@relay.example:orders@in.example.test>", "250 ", "orders@in.example.test"},
		{"<@relay.example,@b.example:x@elsewhere.example>", "550 5.1.1", ""},
		// A quoted local part that is a plain name is the same mailbox.
		{`<"orders"@in.example.test>`, "250 ", "orders@in.example.test"},

		// Not ours.
		{"<x@elsewhere.example>", "550 5.1.1", ""},
		{"<orders@in.example.test.>", "550 5.1.1", ""},
		{"<orders@sub.in.example.test>", "550 5.1.1", ""},
		{"<other@strict.example.test>", "550 5.1.1", ""},
		{"<@relay.example:x@elsewhere.example>", "550 5.1.1", ""},
		{"<x%elsewhere.example@in.example.test>", "550 5.1.1", ""},
		{"<elsewhere.example!x@in.example.test>", "550 5.1.1", ""},
		{`<"x@elsewhere.example"@in.example.test>`, "550 5.1.1", ""},
		{`<"x y"@in.example.test>`, "550 5.1.1", ""},
		{`<"x\"y"@in.example.test>`, "550 5.1.1", ""},
		{"<postmaster@[127.0.0.1]>", "550 5.1.1", ""},
		{"<orders@[IPv6:::1]>", "550 5.1.1", ""},
		{"<x@in.example.test@elsewhere.example>", "550 5.1.1", ""},
		{"<" + seller + ".aaaaaaaaaa@v.example.test>", "550 5.1.1", ""},                                 // wrong token
		{"<" + seller + "@v.example.test>", "550 5.1.1", ""},                                            // no token
		{"<other" + good[len(seller):] + ">", "550 5.1.1", ""},                                          // another seller's token
		{"<" + seller + "." + good[len(seller)+1:len(seller)+10] + "@v.example.test>", "550 5.1.1", ""}, // short token
		{"<" + strings.Replace(good, "v.example.test", "in.example.test", 1) + ">", "250 ", ""},         // a plain domain route
		// Syntax go-smtp refuses before us.
		{"<x@elsewhere.example", "501 5.5.2", ""},
		{"x", "501 5.5.2", ""},
		{"<>", "501 5.5.2", ""},
		{"<@relay.example>", "501 5.5.2", ""},
	} {
		d := dial(t, srv.Addr().String()).greet()
		d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
		d.expect("RCPT TO:"+tc.rcpt, tc.want)
		if tc.want != "250 " {
			// Only refused recipients: there is no transaction to send.
			d.expect("DATA", "502 5.5.1")
			d.expect("QUIT", "221 ")
			continue
		}
		d.expect("DATA", "354 ")
		d.send(mail("relay-test") + ".\r\n")
		d.expect("", "250 ")
		d.expect("QUIT", "221 ")
		if tc.stored == "" {
			continue
		}
		m := srv.sink.all()
		if got := m[len(m)-1].env.Rcpts; len(got) != 1 || got[0] != tc.stored {
			t.Errorf("RCPT TO:%s stored for %v, want %s", tc.rcpt, got, tc.stored)
		}
	}
	for _, m := range srv.sink.all() {
		for _, r := range m.env.Rcpts {
			if _, ok := testRoutes().Lookup(r); !ok {
				t.Errorf("stored a mail for unrouted %q", r)
			}
		}
	}
}

// TestPolicyMismatchDeferred: recipients of routes with different sender
// policies cannot share a transaction (one DATA reply, one verdict); the
// later one is deferred with 452 4.5.3, as for too many recipients, and
// the client sends it again in a transaction of its own.
func TestPolicyMismatchDeferred(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{})
	d := dial(t, srv.Addr().String()).greet()
	d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
	d.expect("RCPT TO:<orders@in.example.test>", "250 ")
	d.expect("RCPT TO:<orders@strict.example.test>", "452 4.5.3")
	d.expect("RCPT TO:<"+vendorAddr("shop1")+">", "250 ")
	d.expect("RSET", "250 ")
	d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
	d.expect("RCPT TO:<orders@strict.example.test>", "250 ")
}
