package mailauth

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// gmailAR is what the forwarder writes after checking Qoo10's original
// mail, in Gmail's style: header.i rather than header.d, comments with
// ";" and "=" in them.
const gmailAR = "mx.google.com;\r\n" +
	"       dkim=pass header.i=@qoo10.jp header.s=s1 header.b=AbCdEf;\r\n" +
	"       spf=pass (google.com: domain of bounce@qoo10.jp designates 203.0.113.10 as permitted sender; x=y) smtp.mailfrom=bounce@qoo10.jp;\r\n" +
	"       dmarc=pass (p=REJECT sp=QUARANTINE dis=NONE) header.from=qoo10.jp"

// prepend puts header lines on top of msg, as each hop does.
func prepend(msg []byte, lines ...string) []byte {
	return append([]byte(strings.Join(lines, "\r\n")+"\r\n"), msg...)
}

func TestForwarders(t *testing.T) {
	t.Parallel()
	dns := newWorld(t)
	byNet := Forwarder{Name: "gmail", Networks: []netip.Prefix{netip.MustParsePrefix("209.85.128.0/17")}, AuthServID: "mx.google.com"}
	byDomain := Forwarder{Name: "gmail", Domains: []string{"gmail.com"}, AuthServID: "mx.google.com"}

	// Qoo10's mail as the forwarder received it, then with the footer it
	// added, which breaks the signature.
	original := sign(t, testMail(`"Qoo10" <no-reply@qoo10.jp>`), "qoo10.jp", "s1", rsaKey())
	forwarded := alterBody(original)
	viaGmail := prepend(forwarded, "Authentication-Results: "+gmailAR)
	const fwdFrom = "orders+caf_=shop=example.com@gmail.com"

	tests := []struct {
		name      string
		fw        Forwarder
		ip        net.IP
		mailFrom  string
		msg       []byte
		aligned   bool
		via       string
		dkim      string
		fwdErr    bool // ErrForwarderHeader in Err
		wantDMARC string
	}{
		{"forwarder IP, its header says dkim=pass for qoo10.jp",
			byNet, gmailIP, fwdFrom, viaGmail, true, "gmail", Pass, false, Pass},
		{"the same header from a non-forwarder IP is ignored",
			byNet, attackerIP, "x@evil.example", viaGmail, false, "", Fail, false, Fail},
		{"a forged header on an unsigned mail from a non-forwarder",
			byNet, attackerIP, "x@evil.example",
			prepend(testMail("<no-reply@qoo10.jp>"), "Authentication-Results: mx.google.com; dkim=pass header.d=qoo10.jp; spf=pass smtp.mailfrom=qoo10.jp; dmarc=pass header.from=qoo10.jp"),
			false, "", None, false, Fail},
		{"a header with another authserv-id is ignored",
			byNet, gmailIP, fwdFrom, prepend(forwarded, "Authentication-Results: mx.evil.example; dkim=pass header.d=qoo10.jp"),
			false, "", Fail, true, Fail},
		{"forwarder known by SPF pass for its domain",
			byDomain, gmailIP, fwdFrom, viaGmail, true, "gmail", Pass, false, Pass},
		{"forwarder known by DKIM pass for its domain",
			byDomain, softIP, "", sign(t, viaGmail, "gmail.com", "s1", otherRSAKey()), true, "gmail", Pass, false, Pass},
		{"not a forwarder: its domain neither passes SPF nor signs",
			byDomain, attackerIP, "x@gmail.com", viaGmail, false, "", Fail, false, Fail},
		{"the forwarder's topmost header wins over one planted below it",
			byNet, gmailIP, fwdFrom,
			prepend(prepend(forwarded, "Authentication-Results: "+gmailAR), "Authentication-Results: mx.google.com; dkim=fail header.d=qoo10.jp; spf=fail smtp.mailfrom=qoo10.jp"),
			false, "gmail", Fail, false, Fail},
		{"authserv-id compared without case",
			byNet, gmailIP, fwdFrom, prepend(forwarded, "Authentication-Results: MX.Google.COM; dkim=pass header.d=qoo10.jp"),
			true, "gmail", Pass, false, Pass},
		{"ARC only: the forwarder's instance",
			byNet, gmailIP, fwdFrom,
			prepend(forwarded, "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=google.com; s=arc; b=x", "ARC-Authentication-Results: i=1; "+gmailAR),
			true, "gmail", Pass, false, Pass},
		{"ARC: the highest instance is someone else's",
			byNet, gmailIP, fwdFrom,
			prepend(forwarded, "ARC-Authentication-Results: i=2; mx.other.example; dkim=fail", "ARC-Authentication-Results: i=1; "+gmailAR),
			false, "", Fail, true, Fail},
		{"ARC: the highest instance is duplicated",
			byNet, gmailIP, fwdFrom,
			prepend(forwarded, "ARC-Authentication-Results: i=1; "+gmailAR, "ARC-Authentication-Results: i=1; mx.google.com; dkim=fail header.d=qoo10.jp"),
			false, "", Fail, true, Fail},
		{"Authentication-Results is preferred over ARC",
			byNet, gmailIP, fwdFrom,
			prepend(forwarded, "Authentication-Results: mx.google.com; dkim=fail header.d=qoo10.jp", "ARC-Authentication-Results: i=1; "+gmailAR),
			false, "gmail", Fail, false, Fail},
		{"a pass for another From domain does not align",
			byNet, gmailIP, fwdFrom,
			prepend(testMail("<no-reply@evil.example>"), "Authentication-Results: "+gmailAR),
			false, "gmail", Pass, false, Fail},
		{"a malformed header of the forwarder is refused whole",
			byNet, gmailIP, fwdFrom, prepend(forwarded, "Authentication-Results: mx.google.com; dkim=pass header.d=qoo10.jp; garbage"),
			false, "", Fail, true, Fail},
		{"a signature we verified survives the forwarder's temperror",
			byNet, gmailIP, fwdFrom, prepend(original, "Authentication-Results: mx.google.com; dkim=temperror header.d=qoo10.jp; spf=pass smtp.mailfrom=bounce@qoo10.jp"),
			true, "gmail", Pass, false, Pass},
		{"forwarder recognised but no header",
			byNet, gmailIP, fwdFrom, forwarded, false, "", Fail, true, Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := checker(dns, tt.fw)
			r := c.Check(t.Context(), Input{RemoteIP: tt.ip, Helo: "mail-relay.example", MailFrom: tt.mailFrom, Message: tt.msg})
			if got := r.Aligned([]string{"qoo10.jp"}); got != tt.aligned {
				t.Errorf("Aligned = %v, want %v; %+v", got, tt.aligned, r)
			}
			if r.Via != tt.via {
				t.Errorf("Via = %q, want %q", r.Via, tt.via)
			}
			if r.DKIM.Result != tt.dkim {
				t.Errorf("DKIM = %+v, want %s", r.DKIM, tt.dkim)
			}
			if r.DMARC.Result != tt.wantDMARC {
				t.Errorf("DMARC = %+v, want %s", r.DMARC, tt.wantDMARC)
			}
			if got := errors.Is(r.Err, ErrForwarderHeader); got != tt.fwdErr {
				t.Errorf("errors.Is(Err, ErrForwarderHeader) = %v, want %v; Err: %v", got, tt.fwdErr, r.Err)
			}
			// DNS works throughout, and a forwarder's temperror is frozen
			// in its header: nothing here is worth a retry.
			if r.Temporary() {
				t.Error("Temporary")
			}
			if a := r.Auth("require"); a.Via != r.Via || a.DKIM != r.DKIM || a.SPF != r.SPF || a.DMARC != r.DMARC || a.Policy != "require" {
				t.Errorf("Auth = %+v", a)
			}
		})
	}
}

// What a forwarder's header maps to, verdict by verdict.
func TestParseResults(t *testing.T) {
	t.Parallel()
	got, err := parseResults(stripComments(strings.ReplaceAll(gmailAR, "\r\n", "")))
	if err != nil {
		t.Fatal(err)
	}
	want := trusted{
		spf:         verdict(Pass, "qoo10.jp"),
		dkim:        verdict(Pass, "qoo10.jp"),
		dmarc:       verdict(Pass, "qoo10.jp"),
		dkimPassing: []string{"qoo10.jp"},
	}
	if got.spf != want.spf || got.dkim != want.dkim || got.dmarc != want.dmarc || !sameSet(got.dkimPassing, want.dkimPassing) {
		t.Errorf("got %+v, want %+v", got, want)
	}

	for v, want := range map[string]string{
		"dkim=hardfail header.d=a.example":  Fail,
		"dkim=policy header.d=a.example":    Fail,
		"dkim=PASS header.d=a.example":      Pass,
		"dkim=pass":                         PermError, // a pass for no domain
		"dkim=weird header.d=a.example":     Neutral,
		"spf=temperror smtp.helo=a.example": "",
	} {
		got, err := parseResults("mx.example; " + v)
		if err != nil {
			t.Errorf("%s: %v", v, err)
			continue
		}
		if want != "" && got.dkim.Result != want {
			t.Errorf("%s: dkim %s, want %s", v, got.dkim.Result, want)
		}
		if want == "" && (got.spf != verdict(TempError, "a.example") || got.dkim.Result != None) {
			t.Errorf("%s: %+v", v, got)
		}
	}
}

func TestStripComments(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"a (b; c=d) e":           "a   e",
		"a (b (nested; x) c) d":  "a   d",
		`a "q (not; comment)" b`: `a "q (not; comment)" b`,
		`a (esc \) still; in) b`: "a   b",
		"no comments":            "no comments",
		"a (unterminated; x=y":   "a ",
	} {
		if got := stripComments(in); got != want {
			t.Errorf("stripComments(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSessionForwarder: a relay the session vouches for (SMTP AUTH) is
// trusted from any address, with the authserv-id given for it, and an
// unset authserv-id leaves our own checks standing.
func TestSessionForwarder(t *testing.T) {
	t.Parallel()
	dns := newWorld(t)
	c := checker(dns)
	forwarded := alterBody(sign(t, testMail(`"Qoo10" <no-reply@qoo10.jp>`), "qoo10.jp", "s1", rsaKey()))
	relayAR := "Authentication-Results: relay.shop.example; dkim=pass header.d=qoo10.jp; spf=pass smtp.mailfrom=bounce@qoo10.jp"
	msg := prepend(forwarded, relayAR)
	in := Input{RemoteIP: attackerIP, Helo: "relay.shop.example", MailFrom: "bounce@qoo10.jp", Message: msg}

	if res := c.Check(t.Context(), in); res.Aligned([]string{"qoo10.jp"}) {
		t.Fatalf("without the session's word the relay's header counted: %+v", res)
	}
	in.Forwarder = &Forwarder{Name: "auth", AuthServID: "relay.shop.example"}
	res := c.Check(t.Context(), in)
	if !res.Aligned([]string{"qoo10.jp"}) || res.Via != "auth" {
		t.Fatalf("authenticated relay's results not used: %+v", res)
	}
	in.Forwarder = &Forwarder{Name: "auth"}
	if res := c.Check(t.Context(), in); res.Aligned([]string{"qoo10.jp"}) || res.Via != "" {
		t.Fatalf("a forwarder without authserv-id was trusted: %+v", res)
	}
}
