package mailauth

import (
	"errors"
	"testing"
)

func TestDMARC(t *testing.T) {
	t.Parallel()
	c := checker(newWorld(t))
	tests := []struct {
		name    string
		in      Input
		dmarc   string
		domain  string
		policy  string
		aligned bool // Aligned(allowed)
		allowed []string
	}{
		{"p=reject, DKIM aligned",
			Input{Message: sign(t, testMail("<no-reply@qoo10.jp>"), "qoo10.jp", "s1", rsaKey())},
			Pass, "qoo10.jp", "reject", true, []string{"qoo10.jp"}},
		{"p=reject, SPF aligned",
			Input{RemoteIP: qoo10IP, MailFrom: "bounce@qoo10.jp", Message: testMail("<no-reply@qoo10.jp>")},
			Pass, "qoo10.jp", "reject", true, []string{"qoo10.jp"}},
		{"p=reject, nothing aligned",
			Input{RemoteIP: attackerIP, MailFrom: "x@evil.example", Message: sign(t, testMail("<no-reply@qoo10.jp>"), "evil.example", "s1", otherRSAKey())},
			Fail, "qoo10.jp", "reject", false, []string{"qoo10.jp"}},
		{"subdomain From, relaxed alignment to qoo10.jp, sp= applies",
			Input{Message: sign(t, testMail("<info@mail.qoo10.jp>"), "qoo10.jp", "s1", rsaKey())},
			Pass, "mail.qoo10.jp", "quarantine", true, []string{"qoo10.jp"}},
		{"subdomain From is not under a narrower allowed domain",
			Input{Message: sign(t, testMail("<info@mail.qoo10.jp>"), "qoo10.jp", "s1", rsaKey())},
			Pass, "mail.qoo10.jp", "quarantine", false, []string{"shop.qoo10.jp"}},
		{"no DMARC record: none, but Aligned works",
			Input{Message: sign(t, testMail("<a@nodmarc.example>"), "nodmarc.example", "s1", rsaKey())},
			None, "nodmarc.example", "", true, []string{"nodmarc.example"}},
		{"no DMARC record and not aligned",
			Input{Message: sign(t, testMail("<a@nodmarc.example>"), "evil.example", "s1", otherRSAKey())},
			None, "nodmarc.example", "", false, []string{"nodmarc.example"}},
		{"adkim=s: subdomain fails DMARC, relaxed Aligned still holds",
			Input{Message: sign(t, testMail("<a@mail.strict.example>"), "strict.example", "s1", rsaKey())},
			Fail, "mail.strict.example", "reject", true, []string{"strict.example"}},
		{"DMARC lookup SERVFAIL: temperror, Aligned from alignment",
			Input{Message: sign(t, testMail("<a@tempdmarc.example>"), "tempdmarc.example", "s1", rsaKey())},
			TempError, "tempdmarc.example", "", true, []string{"tempdmarc.example"}},
		{"malformed DMARC record: permerror",
			Input{Message: sign(t, testMail("<a@bad.example>"), "bad.example", "s1", rsaKey())},
			PermError, "bad.example", "", true, []string{"bad.example"}},
		{"DKIM temperror, nothing aligned: temperror",
			Input{Message: sign(t, testMail("<no-reply@qoo10.jp>"), "tempkey.example", "s1", rsaKey())},
			TempError, "qoo10.jp", "reject", false, []string{"qoo10.jp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := c.Check(t.Context(), tt.in)
			if r.DMARC.Result != tt.dmarc || r.DMARC.Domain != tt.domain {
				t.Errorf("DMARC = %+v, want %s %q (err %v)", r.DMARC, tt.dmarc, tt.domain, r.Err)
			}
			if r.DMARCPolicy != tt.policy {
				t.Errorf("DMARCPolicy = %q, want %q", r.DMARCPolicy, tt.policy)
			}
			if r.FromDomain != tt.domain {
				t.Errorf("FromDomain = %q, want %q", r.FromDomain, tt.domain)
			}
			if got := r.Aligned(tt.allowed); got != tt.aligned {
				t.Errorf("Aligned(%q) = %v, want %v", tt.allowed, got, tt.aligned)
			}
		})
	}
}

// The From header decides the domain, and it must be unambiguous.
func TestFromDomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		want   string
	}{
		{"plain", "From: no-reply@qoo10.jp\r\n", "qoo10.jp"},
		{"display name", "From: \"Qoo10 Japan\" <No-Reply@Qoo10.JP>\r\n", "qoo10.jp"},
		{"ISO-2022-JP encoded name", "From: =?ISO-2022-JP?B?GyRCJWEhPCVrGyhC?= <no-reply@qoo10.jp>\r\n", "qoo10.jp"},
		{"raw UTF-8 name", "From: キューテン <no-reply@qoo10.jp>\r\n", "qoo10.jp"},
		{"raw Shift_JIS name", "From: \x83\x4c\x83\x85\x81\x5b <no-reply@qoo10.jp>\r\n", "qoo10.jp"},
		{"folded", "From: \"Qoo10\"\r\n <no-reply@qoo10.jp>\r\n", "qoo10.jp"},
		{"lower-case field name", "from: no-reply@qoo10.jp\r\n", "qoo10.jp"},
		{"quoted address-like name", "From: \"no-reply@qoo10.jp\" <x@evil.example>\r\n", "evil.example"},
		{"two From fields", "From: a@evil.example\r\nFrom: no-reply@qoo10.jp\r\n", ""},
		{"two addresses", "From: a@evil.example, no-reply@qoo10.jp\r\n", ""},
		{"no From", "Sender: no-reply@qoo10.jp\r\n", ""},
		{"group", "From: undisclosed:;\r\n", ""},
		{"name with an address-like word before another address", "From: <a@evil.example> <no-reply@qoo10.jp>\r\n", ""},
		{"no domain", "From: no-reply\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := fromDomain(fields([]byte(tt.header+"Subject: x\r\n\r\nbody\r\n"), "From"))
			if got != tt.want {
				t.Errorf("fromDomain = %q, want %q (err %v)", got, tt.want, err)
			}
			if (tt.want == "") != errors.Is(err, ErrFrom) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// Two From fields cannot authenticate, whatever passes.
func TestTwoFromFieldsNeverAlign(t *testing.T) {
	t.Parallel()
	c := checker(newWorld(t))
	msg := sign(t, testMail("<no-reply@qoo10.jp>", "From: <no-reply@qoo10.jp>"), "qoo10.jp", "s1", rsaKey())
	r := c.Check(t.Context(), Input{RemoteIP: qoo10IP, MailFrom: "bounce@qoo10.jp", Message: msg})
	if r.Aligned([]string{"qoo10.jp"}) || r.FromDomain != "" || r.DMARC.Result != PermError || !errors.Is(r.Err, ErrFrom) {
		t.Errorf("got %+v", r)
	}
}
