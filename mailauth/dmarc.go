package mailauth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/qoo10hook/qoo10hook/event"
)

// policy is the outcome of the DMARC record lookup for a From domain.
type policy struct {
	rec    *dmarc.Record // nil unless found
	policy string        // p=, or sp= when found at the organizational domain
	result string        // "" when found; else None, TempError or PermError
	err    error
}

// lookupPolicy finds the DMARC record of from, falling back to its
// organizational domain (RFC 7489 section 6.6.3).
func (c *Checker) lookupPolicy(ctx context.Context, from string) policy {
	opts := &dmarc.LookupOptions{
		LookupTXT: func(name string) ([]string, error) { return c.dns.LookupTXT(ctx, name) },
	}
	rec, err := dmarc.LookupWithOptions(from, opts)
	sub := false
	if errors.Is(err, dmarc.ErrNoPolicy) {
		if org := orgDomain(from); org != from {
			rec, err = dmarc.LookupWithOptions(org, opts)
			sub = true
		}
	}
	switch {
	case err == nil:
		p := rec.Policy
		if sub && rec.SubdomainPolicy != "" {
			p = rec.SubdomainPolicy
		}
		return policy{rec: rec, policy: string(p)}
	case errors.Is(err, dmarc.ErrNoPolicy):
		return policy{result: None}
	case dmarc.IsTempFail(err):
		return policy{result: TempError, err: fmt.Errorf("mailauth: dmarc %s: %w", from, err)}
	default:
		return policy{result: PermError, err: fmt.Errorf("mailauth: dmarc %s: %w", from, err)}
	}
}

// evalDMARC computes the DMARC result (RFC 7489 section 4.2): pass when
// SPF or DKIM passed for a domain aligned with from in the mode the
// record asks for; temperror when an unaligned result may still change;
// fail otherwise. Without a record it is none.
func evalDMARC(from string, p policy, spf, dkim event.Verdict, dkimPassing []string) event.Verdict {
	if from == "" {
		return event.Verdict{Result: PermError}
	}
	if p.rec == nil {
		return event.Verdict{Result: p.result, Domain: from}
	}
	if spf.Result == Pass && aligned(spf.Domain, from, p.rec.SPFAlignment == dmarc.AlignmentStrict) {
		return event.Verdict{Result: Pass, Domain: from}
	}
	for _, d := range dkimPassing {
		if aligned(d, from, p.rec.DKIMAlignment == dmarc.AlignmentStrict) {
			return event.Verdict{Result: Pass, Domain: from}
		}
	}
	if spf.Result == TempError || dkim.Result == TempError {
		return event.Verdict{Result: TempError, Domain: from}
	}
	return event.Verdict{Result: Fail, Domain: from}
}

// aligned reports whether an authenticated domain d is aligned with the
// From domain: equal in strict mode, the same organizational domain in
// relaxed mode (RFC 7489 section 3.1).
func aligned(d, from string, strict bool) bool {
	d, from = normDomain(d), normDomain(from)
	if d == "" || from == "" {
		return false
	}
	if d == from {
		return true
	}
	return !strict && orgDomain(d) == orgDomain(from)
}

// orgDomain returns the organizational domain of d, the public suffix
// plus one label (RFC 7489 section 3.2), or d itself when it has none,
// as for a public suffix.
func orgDomain(d string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}

// underAny reports whether d equals, or is a subdomain of, one of list.
func underAny(d string, list []string) bool {
	d = normDomain(d)
	for _, a := range list {
		if under(d, normDomain(a)) {
			return true
		}
	}
	return false
}

// under reports whether d equals, or is a subdomain of, parent; both
// normalised.
func under(d, parent string) bool {
	return parent != "" && (d == parent || strings.HasSuffix(d, "."+parent))
}
