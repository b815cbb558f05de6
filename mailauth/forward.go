package mailauth

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"github.com/qoo10hook/qoo10hook/event"
)

// Why only a forwarder's header, and only its topmost one:
// Authentication-Results is an ordinary header field that anyone can write
// into a mail. A forged "dkim=pass header.d=qoo10.jp" from an arbitrary
// client must count for nothing, so headers are read only when the
// connecting client is a configured forwarder, and only the one carrying
// that forwarder's authserv-id. A forwarder adds its header on top of the
// ones already there, so the topmost with its authserv-id is its own, and
// anything the original sender planted under that name sits below it; a
// forwarder that follows RFC 8601 section 5 removes such plants anyway.
// ARC instances are numbered: the forwarder, as the last hop, seals the
// highest one, so only that instance is read, and only if it is the
// forwarder's and not duplicated.

// maxARCInstance is the highest ARC instance number (RFC 8617 section 4.2.1).
const maxARCInstance = 50

// forwarderFor returns the trusted forwarder the mail came from, if any:
// by connecting IP, or by SPF or DKIM passing for one of its domains.
func (c *Checker) forwarderFor(ip net.IP, spf event.Verdict, dkimPassing []string) *Forwarder {
	addr, ipOK := netip.AddrFromSlice(ip)
	addr = addr.Unmap()
	for i := range c.forwarders {
		f := &c.forwarders[i]
		for _, p := range f.Networks {
			if ipOK && p.Contains(addr) {
				return f
			}
		}
		for _, d := range f.Domains {
			d = normDomain(d)
			if spf.Result == Pass && under(spf.Domain, d) {
				return f
			}
			for _, k := range dkimPassing {
				if under(k, d) {
					return f
				}
			}
		}
	}
	return nil
}

// trusted is what a forwarder's header says.
type trusted struct {
	spf, dkim, dmarc event.Verdict
	dkimPassing      []string
}

// merge adds a forwarder's results to our own. Its header supplies what
// forwarding hid from us (SPF of the original hop, a signature its footer
// broke) but never takes away a pass we verified ourselves: a DNS hiccup
// at the forwarder, frozen into its header, must not undo a good
// signature. For the same reason its temperrors do not make the result
// Temporary: a retry resends the same header.
func merge(r Result, t trusted) (spf, dkim event.Verdict, passing []string) {
	spf = t.spf
	if r.SPF.Result == Pass && aligned(r.SPF.Domain, r.FromDomain, false) {
		spf = r.SPF
	}
	dkim = r.DKIM
	if better(t.dkim.Result, dkim.Result) ||
		(t.dkim.Result == Pass && dkim.Result == Pass &&
			!aligned(dkim.Domain, r.FromDomain, false) && aligned(t.dkim.Domain, r.FromDomain, false)) {
		dkim = t.dkim
	}
	passing = slices.Clone(r.DKIMDomains)
	for _, d := range t.dkimPassing {
		if !slices.Contains(passing, d) {
			passing = append(passing, d)
		}
	}
	return spf, dkim, passing
}

// forwarderResults reads the forwarder's results: its topmost
// Authentication-Results, or failing that its ARC-Authentication-Results
// of the highest instance. fs holds both kinds of field in header order.
func forwarderResults(fs []field, authservID string) (trusted, error) {
	if authservID == "" {
		// An empty id would match a header that names no one.
		return trusted{}, fmt.Errorf("%w: no AuthServID configured", ErrForwarderHeader)
	}
	for _, f := range fs {
		if f.name != "Authentication-Results" {
			continue
		}
		v := stripComments(f.value)
		if !strings.EqualFold(servID(v), authservID) {
			continue
		}
		return parseResults(v)
	}
	best, n, value := 0, 0, ""
	for _, f := range fs {
		if f.name != "ARC-Authentication-Results" {
			continue
		}
		inst, rest, ok := strings.Cut(stripComments(f.value), ";")
		k, num, _ := strings.Cut(strings.TrimSpace(inst), "=")
		i, err := strconv.Atoi(strings.TrimSpace(num))
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "i") || err != nil || i < 1 || i > maxARCInstance {
			continue
		}
		switch {
		case i > best:
			best, n, value = i, 1, rest
		case i == best:
			n++
		}
	}
	switch {
	case best == 0:
		return trusted{}, fmt.Errorf("%w: no header from %s", ErrForwarderHeader, authservID)
	case n > 1:
		return trusted{}, fmt.Errorf("%w: ARC instance %d appears %d times", ErrForwarderHeader, best, n)
	case !strings.EqualFold(servID(value), authservID):
		return trusted{}, fmt.Errorf("%w: ARC instance %d is not from %s", ErrForwarderHeader, best, authservID)
	}
	return parseResults(value)
}

// servID returns the authserv-id of a comment-free Authentication-Results
// value.
func servID(v string) string {
	id, _, _ := strings.Cut(v, ";")
	if f := strings.Fields(id); len(f) > 0 {
		return f[0]
	}
	return ""
}

// parseResults maps a comment-free Authentication-Results value to
// verdicts. A malformed one is refused whole rather than read in part.
func parseResults(v string) (trusted, error) {
	_, results, err := authres.Parse(v)
	if err != nil {
		return trusted{}, fmt.Errorf("%w: %w", ErrForwarderHeader, err)
	}
	t := trusted{spf: event.Verdict{Result: None}, dkim: event.Verdict{Result: None}}
	seenSPF := false
	for _, r := range results {
		switch r := r.(type) {
		case *authres.SPFResult:
			if seenSPF {
				continue
			}
			seenSPF = true
			d := domainOf(r.From)
			if d == "" {
				d = domainOf(r.Helo)
			}
			t.spf = event.Verdict{Result: verdictOf(r.Value), Domain: d}
		case *authres.DKIMResult:
			d := normDomain(r.Domain)
			if d == "" {
				d = domainOf(r.Identifier)
			}
			res := verdictOf(r.Value)
			if res == Pass && d != "" {
				t.dkimPassing = append(t.dkimPassing, d)
			} else if res == Pass {
				res = PermError // a pass for no domain authenticates nothing
			}
			if better(res, t.dkim.Result) {
				t.dkim = event.Verdict{Result: res, Domain: d}
			}
		case *authres.DMARCResult:
			if t.dmarc.Result == "" {
				t.dmarc = event.Verdict{Result: verdictOf(r.Value), Domain: normDomain(r.From)}
			}
		}
	}
	return t, nil
}

// verdictOf maps an Authentication-Results value onto the verdict words.
func verdictOf(v authres.ResultValue) string {
	switch s := strings.ToLower(string(v)); s {
	case Pass, Fail, SoftFail, Neutral, None, TempError, PermError:
		return s
	case authres.ResultHardFail, authres.ResultPolicy:
		return Fail
	default:
		return Neutral
	}
}

// stripComments removes RFC 5322 comments, "(...)" possibly nested, which
// authres does not: a ";" or "=" inside one would otherwise split or
// invent a result. Quoted strings are kept as they are.
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth, quoted, escaped := 0, false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case escaped:
			escaped = false
		case ch == '\\' && (quoted || depth > 0):
			escaped = true
		case quoted:
			quoted = ch != '"'
		case ch == '"' && depth == 0:
			quoted = true
		case ch == '(':
			depth++
			continue
		case ch == ')' && depth > 0:
			depth--
			if depth == 0 {
				b.WriteByte(' ')
			}
			continue
		}
		if depth == 0 {
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// domainOf returns the domain of an address, "@domain" or bare domain.
func domainOf(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	return normDomain(s)
}
