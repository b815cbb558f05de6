package mailauth

import (
	"slices"
	"strings"
	"testing"
)

func TestDKIM(t *testing.T) {
	t.Parallel()
	dns := newWorld(t)
	c := checker(dns)
	qoo10 := testMail(`"Qoo10" <no-reply@qoo10.jp>`)
	evil := testMail(`"Qoo10" <no-reply@evil.example>`)

	twoSigs := sign(t, sign(t, qoo10, "qoo10.jp", "ed1", edKey), "qoo10.jp", "nokey", rsaKey())

	tests := []struct {
		name        string
		msg         []byte
		dkim        string
		dkimDomain  string
		passing     []string
		dmarc       string
		aligned     bool // Aligned(["qoo10.jp"])
		alignedEvil bool // Aligned(["evil.example"])
	}{
		{"rsa pass", sign(t, qoo10, "qoo10.jp", "s1", rsaKey()), Pass, "qoo10.jp", []string{"qoo10.jp"}, Pass, true, false},
		{"ed25519 pass", sign(t, qoo10, "qoo10.jp", "ed1", edKey), Pass, "qoo10.jp", []string{"qoo10.jp"}, Pass, true, false},
		{"body altered after signing", alterBody(sign(t, qoo10, "qoo10.jp", "s1", rsaKey())), Fail, "qoo10.jp", nil, Fail, false, false},
		{"signed by the wrong key", sign(t, qoo10, "qoo10.jp", "s1", otherRSAKey()), Fail, "qoo10.jp", nil, Fail, false, false},
		{"missing signature", qoo10, None, "", nil, Fail, false, false},
		{"misaligned From: qoo10.jp signed by evil.example", sign(t, qoo10, "evil.example", "s1", otherRSAKey()), Pass, "evil.example", []string{"evil.example"}, Fail, false, false},
		{"evil.example signed by itself", sign(t, evil, "evil.example", "s1", otherRSAKey()), Pass, "evil.example", []string{"evil.example"}, Pass, false, true},
		{"no key published", sign(t, qoo10, "qoo10.jp", "nokey", rsaKey()), PermError, "qoo10.jp", nil, Fail, false, false},
		{"key lookup SERVFAIL", sign(t, testMail("<a@tempkey.example>"), "tempkey.example", "s1", rsaKey()), TempError, "tempkey.example", nil, None, false, false},
		{"one good of two signatures", twoSigs, Pass, "qoo10.jp", []string{"qoo10.jp"}, Pass, true, false},
		{"unaligned pass does not hide an aligned one",
			sign(t, sign(t, qoo10, "qoo10.jp", "s1", rsaKey()), "evil.example", "s1", otherRSAKey()),
			Pass, "qoo10.jp", []string{"qoo10.jp", "evil.example"}, Pass, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// SPF none: the null sender from a HELO without a record, so
			// only DKIM can authenticate.
			r := c.Check(t.Context(), Input{RemoteIP: attackerIP, Helo: "relay.nowhere.example", Message: tt.msg})
			if r.SPF.Result != None {
				t.Fatalf("SPF = %+v, want none", r.SPF)
			}
			if r.DKIM.Result != tt.dkim || r.DKIM.Domain != tt.dkimDomain {
				t.Errorf("DKIM = %+v, want %s %q (err %v)", r.DKIM, tt.dkim, tt.dkimDomain, r.Err)
			}
			if !sameSet(r.DKIMDomains, tt.passing) {
				t.Errorf("DKIMDomains = %q, want %q", r.DKIMDomains, tt.passing)
			}
			if r.DMARC.Result != tt.dmarc {
				t.Errorf("DMARC = %+v, want %s (err %v)", r.DMARC, tt.dmarc, r.Err)
			}
			if got := r.Aligned([]string{"qoo10.jp"}); got != tt.aligned {
				t.Errorf(`Aligned(["qoo10.jp"]) = %v, want %v`, got, tt.aligned)
			}
			if got := r.Aligned([]string{"evil.example"}); got != tt.alignedEvil {
				t.Errorf(`Aligned(["evil.example"]) = %v, want %v`, got, tt.alignedEvil)
			}
			if got := r.Temporary(); got != (tt.dkim == TempError) {
				t.Errorf("Temporary = %v", got)
			}
			if tt.dkim != Pass && tt.dkim != None && r.Err == nil {
				t.Error("Err = nil for a failed signature")
			}
		})
	}
}

// An unaligned pass decides the verdict, but an aligned signature that
// failed temporarily still makes the result worth a retry.
func TestDKIMTemporaryBehindPass(t *testing.T) {
	t.Parallel()
	c := checker(newWorld(t))
	msg := sign(t, sign(t, testMail("<a@tempkey.example>"), "tempkey.example", "s1", rsaKey()), "evil.example", "s1", otherRSAKey())
	r := c.Check(t.Context(), Input{Message: msg})
	if r.DKIM != verdict(Pass, "evil.example") || r.Aligned([]string{"tempkey.example"}) || !r.Temporary() {
		t.Errorf("DKIM %+v, aligned %v, temporary %v", r.DKIM, r.Aligned([]string{"tempkey.example"}), r.Temporary())
	}
}

// A header-only Input (no Message) and a message with LF line ends both
// verify: go-smtp hands over CRLF, but other callers may not.
func TestDKIMInputForms(t *testing.T) {
	t.Parallel()
	c := checker(newWorld(t))
	signed := sign(t, testMail("<no-reply@qoo10.jp>"), "qoo10.jp", "s1", rsaKey())
	lf := []byte(strings.ReplaceAll(string(signed), "\r\n", "\n"))
	for name, in := range map[string]Input{
		"Header holds the whole message": {Header: signed},
		"Header and Message":             {Header: headerOf(signed), Message: signed},
		"LF line ends":                   {Message: lf},
	} {
		t.Run(name, func(t *testing.T) {
			r := c.Check(t.Context(), in)
			if r.DKIM.Result != Pass || !r.Aligned([]string{"qoo10.jp"}) {
				t.Errorf("DKIM = %+v, aligned %v, err %v", r.DKIM, r.Aligned([]string{"qoo10.jp"}), r.Err)
			}
		})
	}
}

func TestDKIMMaxSignatures(t *testing.T) {
	t.Parallel()
	dns := newWorld(t)
	c := New(Options{Resolver: dns, MaxSignatures: 2})
	msg := testMail("<no-reply@qoo10.jp>")
	msg = sign(t, msg, "qoo10.jp", "s1", rsaKey())
	for range 3 {
		msg = sign(t, msg, "evil.example", "nokey", otherRSAKey())
	}
	r := c.Check(t.Context(), Input{Message: msg})
	// The good signature is the oldest, below the limit: not verified.
	if r.DKIM.Result != PermError {
		t.Errorf("DKIM = %+v, want permerror from the two verified", r.DKIM)
	}
	if got := dns.count("txt", "s1._domainkey.qoo10.jp"); got != 0 {
		t.Errorf("signature beyond the limit was looked up %d times", got)
	}
	if r.Err == nil || !containsErr(r.Err, "only 2 signatures") {
		t.Errorf("Err = %v, want the limit named", r.Err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func containsErr(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}
