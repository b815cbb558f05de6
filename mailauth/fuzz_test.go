package mailauth

import (
	"net/netip"
	"testing"
)

// FuzzCheck feeds hostile messages through Check from a trusted
// forwarder's IP, so that header scanning, From parsing, DKIM and the
// Authentication-Results and ARC readers all see them. Check must not
// panic, and what it reports must hang together.
func FuzzCheck(f *testing.F) {
	signed := sign(f, testMail(`"Qoo10" <no-reply@qoo10.jp>`), "qoo10.jp", "s1", rsaKey())
	f.Add(signed)
	f.Add(alterBody(signed))
	f.Add(prepend(alterBody(signed), "Authentication-Results: "+gmailAR))
	f.Add(prepend(signed, "ARC-Authentication-Results: i=2; "+gmailAR, "ARC-Authentication-Results: i=1; mx.other.example; dkim=pass header.d=qoo10.jp"))
	f.Add(prepend(signed, "Authentication-Results: mx.google.com (a (nested) \\) comment; x=y); dkim=pass header.d=qoo10.jp"))
	f.Add(testMail("a@evil.example, b@qoo10.jp", "From: x@qoo10.jp"))
	f.Add([]byte("From: =?ISO-2022-JP?B?GyRCJWEhPCVrGyhC?= <no-reply@qoo10.jp>\n\n"))
	f.Add([]byte("DKIM-Signature: v=1; a=rsa-sha256; d=qoo10.jp; s=s1; h=from; bh=; b=\r\nFrom: a@qoo10.jp"))
	f.Add([]byte{})

	dns := newWorld(f)
	c := checker(dns, Forwarder{Name: "gmail", Networks: []netip.Prefix{netip.MustParsePrefix("209.85.128.0/17")}, AuthServID: "mx.google.com"})
	f.Fuzz(func(t *testing.T, msg []byte) {
		r := c.Check(t.Context(), Input{RemoteIP: gmailIP, Helo: "mail-relay.example", MailFrom: "x@gmail.com", Message: msg})
		if r.FromDomain == "" && r.Aligned([]string{"qoo10.jp"}) {
			t.Fatal("aligned without a From domain")
		}
		for _, v := range []string{r.SPF.Result, r.DKIM.Result, r.DMARC.Result} {
			if _, ok := rank[v]; !ok {
				t.Fatalf("verdict %q outside the vocabulary: %+v", v, r)
			}
		}
		if r.DKIM.Result != Pass && len(r.DKIMDomains) > 0 {
			t.Fatalf("passing domains %q without a pass", r.DKIMDomains)
		}
	})
}
