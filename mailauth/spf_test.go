package mailauth

import (
	"net"
	"testing"
)

func TestSPF(t *testing.T) {
	t.Parallel()
	c := checker(newWorld(t))
	tests := []struct {
		name     string
		ip       net.IP
		helo     string
		mailFrom string
		want     string
		domain   string
		aligned  bool // Aligned(["qoo10.jp"]) for From: no-reply@qoo10.jp, unsigned
	}{
		{"pass through include", qoo10IP, "mta.qoo10.jp", "bounce@qoo10.jp", Pass, "qoo10.jp", true},
		{"pass for a subdomain by redirect, relaxed alignment", qoo10IP, "mta.qoo10.jp", "bounce@mail.qoo10.jp", Pass, "mail.qoo10.jp", true},
		{"fail: -all", attackerIP, "mx.evil.example", "bounce@qoo10.jp", Fail, "qoo10.jp", false},
		{"softfail through redirect", attackerIP, "mx.evil.example", "x@soft.example", SoftFail, "soft.example", false},
		{"pass through redirect, unaligned", softIP, "mx.soft.example", "x@soft.example", Pass, "soft.example", false},
		{"neutral", attackerIP, "mx.evil.example", "x@neutral.example", Neutral, "neutral.example", false},
		{"none: no record", attackerIP, "mx.evil.example", "x@norecord.example", None, "norecord.example", false},
		{"temperror: SERVFAIL", attackerIP, "mx.evil.example", "x@tempfail.example", TempError, "tempfail.example", false},
		{"temperror: SERVFAIL in an include", attackerIP, "mx.evil.example", "x@incl-temp.example", TempError, "incl-temp.example", false},
		{"permerror: include of a domain without SPF", attackerIP, "mx.evil.example", "x@incl-missing.example", PermError, "incl-missing.example", false},
		{"permerror: unknown mechanism", attackerIP, "mx.evil.example", "x@broken.example", PermError, "broken.example", false},
		{"null sender checks HELO", qoo10IP, "mta.qoo10.jp", "", Pass, "mta.qoo10.jp", true},
		{"null sender from the wrong IP", attackerIP, "mta.qoo10.jp", "", Fail, "mta.qoo10.jp", false},
		{"null sender with an address literal", attackerIP, "[192.0.2.66]", "", None, "", false},
		{"angle brackets and case are ignored", qoo10IP, "mta.qoo10.jp", "<Bounce@QOO10.JP>", Pass, "qoo10.jp", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := c.Check(t.Context(), Input{RemoteIP: tt.ip, Helo: tt.helo, MailFrom: tt.mailFrom, Message: testMail("<no-reply@qoo10.jp>")})
			if r.SPF.Result != tt.want || r.SPF.Domain != tt.domain {
				t.Errorf("SPF = %+v, want %s %q (err %v)", r.SPF, tt.want, tt.domain, r.Err)
			}
			if got := r.Aligned([]string{"qoo10.jp"}); got != tt.aligned {
				t.Errorf("Aligned = %v, want %v", got, tt.aligned)
			}
			if got := r.Temporary(); got != (tt.want == TempError) {
				t.Errorf("Temporary = %v", got)
			}
			if (tt.want == TempError || tt.want == PermError) && r.Err == nil {
				t.Error("Err = nil")
			}
		})
	}
}

// An SPF pass for qoo10.jp does not authenticate a From of another domain.
func TestSPFPassDoesNotAlignOtherFrom(t *testing.T) {
	t.Parallel()
	c := checker(newWorld(t))
	r := c.Check(t.Context(), Input{RemoteIP: qoo10IP, Helo: "mta.qoo10.jp", MailFrom: "bounce@qoo10.jp",
		Message: testMail("<no-reply@qoo10.jp.evil.example>")})
	if r.SPF.Result != Pass {
		t.Fatalf("SPF = %+v", r.SPF)
	}
	if r.Aligned([]string{"qoo10.jp"}) {
		t.Error("aligned for From qoo10.jp.evil.example")
	}
}
