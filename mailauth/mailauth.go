// Package mailauth authenticates the sender of a mail: DKIM, SPF, DMARC alignment and trusted forwarders.
package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
)

// Verdict results, as written into event.Verdict.Result.
const (
	Pass      = "pass"
	Fail      = "fail"
	SoftFail  = "softfail"
	Neutral   = "neutral"
	None      = "none"
	TempError = "temperror"
	PermError = "permerror"
)

// Defaults of the Options fields left zero.
const (
	DefaultTimeout       = 5 * time.Second
	DefaultLookupTimeout = 2 * time.Second
	DefaultCacheTTL      = 5 * time.Minute
	DefaultTempErrorTTL  = 10 * time.Second
	DefaultCacheSize     = 10_000
	DefaultMaxSignatures = 5
)

// Errors carried in Result.Err that callers may count or branch on.
var (
	// ErrBudget means the per-mail lookup budget (Options.Timeout) ran out
	// before every check had its answer; the checks still waiting became
	// temperror.
	ErrBudget = errors.New("mailauth: lookup budget exhausted")
	// ErrFrom means the header has no From field, more than one, or one
	// that does not hold exactly one address, so no From domain can be
	// authenticated (RFC 7489 section 6.6.1).
	ErrFrom = errors.New("mailauth: no single RFC5322.From address")
	// ErrForwarderHeader means a trusted forwarder was recognised but it
	// left no usable Authentication-Results of its own, so the mail's own
	// checks stand.
	ErrForwarderHeader = errors.New("mailauth: forwarder results missing or unusable")
)

// Resolver is the DNS the checks use; *net.Resolver satisfies it. Tests
// inject a fake. Errors should be *net.DNSError (IsNotFound for NXDOMAIN
// and empty answers); any other error is treated as a temporary failure.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Options configures a Checker. Zero values take the documented defaults.
type Options struct {
	Resolver Resolver // nil = net.DefaultResolver
	// Timeout is the per-mail budget for all lookups together (default
	// 5s): a dead DNS must not stall DATA.
	Timeout time.Duration
	// LookupTimeout bounds a single lookup (default 2s), so one slow name
	// cannot eat the whole budget of the checks running beside it.
	LookupTimeout time.Duration
	// CacheTTL is how long answers, NXDOMAIN and empty answers included,
	// are reused (default 5m). net.Resolver does not expose record TTLs, so
	// a rotated DKIM key or a changed policy is seen at most this late.
	// A negative value disables caching; concurrent lookups of one name
	// are still coalesced.
	CacheTTL time.Duration
	// TempErrorTTL is how long a temporary failure or timeout is reused
	// (default 10s): long enough that a dead DNS does not cost every mail
	// in a burst the full budget, short enough to recover quickly.
	// Negative disables it.
	TempErrorTTL time.Duration
	// CacheSize bounds the number of cached answers (default 10,000).
	CacheSize int
	// MaxSignatures bounds the DKIM signatures verified per mail (default
	// 5); each costs a lookup and a public-key operation.
	MaxSignatures int
	// Forwarders lists the trusted forwarders.
	Forwarders []Forwarder
}

// Forwarder is a relay, such as a seller's webmail forwarding, whose own
// authentication results are trusted in place of ours: forwarding breaks
// SPF, and footers or re-encoding can break DKIM.
//
// Trust in its Authentication-Results rests on the forwarder removing, at
// its own border, any such header that claims its AuthServID (RFC 8601
// section 5), as large providers do. Networks identify it more firmly than
// Domains: anyone with an account at a webmail provider can send mail that
// passes SPF or DKIM for the provider's domain.
type Forwarder struct {
	Name     string         // e.g. "gmail"; reported in Result.Via
	Networks []netip.Prefix // connecting IPs that identify it (optional)
	// Domains are SPF MAIL FROM / DKIM d= domains that identify it when
	// they pass (optional); subdomains match too.
	Domains []string
	// AuthServID is the authserv-id of the Authentication-Results or
	// ARC-Authentication-Results it adds, e.g. "mx.google.com".
	AuthServID string
}

// Input is what Check needs to know about one mail.
type Input struct {
	RemoteIP net.IP // connecting client
	Helo     string // HELO/EHLO name
	MailFrom string // envelope sender, "" for the null sender
	// Header is the message header block, or the whole message: Check
	// finds the end of the header. Nil means take it from Message.
	Header []byte
	// Message is the whole raw message, for the DKIM body hashes. Nil
	// means Header, which then has to hold the whole message.
	Message []byte
	// Forwarder, when set, is trusted for this mail whatever its address
	// and domains: the SMTP session knows the client as one, e.g. a relay
	// that authenticated with SMTP AUTH. Its AuthServID must be set.
	Forwarder *Forwarder
}

// Result holds the verdicts for one mail. It carries domains and result
// words only, never addresses or content of the mail.
type Result struct {
	SPF, DKIM, DMARC event.Verdict // pass fail softfail neutral none temperror permerror
	FromDomain       string        // RFC5322.From domain, lower case; "" when not exactly one
	DKIMDomains      []string      // d= of passing signatures, lower case
	// DMARCPolicy is the policy (p=, or sp= for a subdomain) published for
	// FromDomain: none, quarantine, reject; "" without a DMARC record.
	DMARCPolicy string
	// Via names the trusted forwarder whose results were used.
	Via string
	// tempFailed: SPF or some DKIM signature failed temporarily; see
	// Temporary.
	tempFailed bool
	// Err joins what went wrong (DNS failures, malformed records, bad
	// signatures), for debug logs and counting with errors.Is. Nil when
	// every check reached a clean verdict.
	Err error
}

// Aligned reports whether the mail is authenticated, DMARC style, for a
// From domain that equals, or is a subdomain of, one of allowed (e.g.
// ["qoo10.jp"]): SPF passed for a MAIL FROM domain, or DKIM passed for a
// d= domain, with the same organizational domain as the From domain
// (relaxed alignment). It works whether or not the domain publishes DMARC.
func (r Result) Aligned(allowed []string) bool {
	from := r.FromDomain
	if from == "" || !underAny(from, allowed) {
		return false
	}
	if r.SPF.Result == Pass && aligned(r.SPF.Domain, from, false) {
		return true
	}
	if r.DKIM.Result == Pass {
		for _, d := range r.DKIMDomains {
			if aligned(d, from, false) {
				return true
			}
		}
	}
	return false
}

// Temporary reports whether SPF or a DKIM signature failed for a reason
// that may pass on a retry: a DNS failure, or the budget running out. A
// mail that is not Aligned but Temporary is better deferred (451) than
// refused, lest a DNS outage bounce real orders. A DMARC record lookup
// failure alone does not count, as alignment does not depend on it.
func (r Result) Temporary() bool { return r.tempFailed }

// Auth returns the verdicts for the event, with the route's policy that
// applied.
func (r Result) Auth(policy string) *event.Auth {
	return &event.Auth{SPF: r.SPF, DKIM: r.DKIM, DMARC: r.DMARC, Policy: policy, Via: r.Via}
}

// Checker authenticates mails. It is safe for concurrent use and meant to
// be shared, so that its DNS cache is.
type Checker struct {
	dns           *dnsCache
	timeout       time.Duration
	maxSignatures int
	forwarders    []Forwarder
}

// New returns a Checker with o's settings, defaults filled in.
func New(o Options) *Checker {
	r := o.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	return &Checker{
		dns: newDNSCache(r,
			positiveOr(o.LookupTimeout, DefaultLookupTimeout),
			zeroOr(o.CacheTTL, DefaultCacheTTL),
			zeroOr(o.TempErrorTTL, DefaultTempErrorTTL),
			positiveOr(o.CacheSize, DefaultCacheSize)),
		timeout:       positiveOr(o.Timeout, DefaultTimeout),
		maxSignatures: positiveOr(o.MaxSignatures, DefaultMaxSignatures),
		forwarders:    o.Forwarders,
	}
}

// positiveOr is for bounds, where zero or less would mean no bound at all.
func positiveOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// zeroOr is for TTLs, where a negative value switches caching off.
func zeroOr[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Validate reports settings that New would otherwise quietly replace or
// that could never work, naming the field, for the config loader.
func (o Options) Validate() error {
	var errs []error
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("mailauth: Timeout: negative (%v)", o.Timeout))
	}
	if o.LookupTimeout < 0 {
		errs = append(errs, fmt.Errorf("mailauth: LookupTimeout: negative (%v)", o.LookupTimeout))
	}
	if o.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("mailauth: CacheSize: negative (%d)", o.CacheSize))
	}
	if o.MaxSignatures < 0 {
		errs = append(errs, fmt.Errorf("mailauth: MaxSignatures: negative (%d)", o.MaxSignatures))
	}
	for i, f := range o.Forwarders {
		at := fmt.Sprintf("mailauth: Forwarders[%d] (%s)", i, f.Name)
		if f.Name == "" {
			errs = append(errs, fmt.Errorf("%s: Name is empty", at))
		}
		if f.AuthServID == "" {
			errs = append(errs, fmt.Errorf("%s: AuthServID is empty", at))
		}
		if len(f.Networks) == 0 && len(f.Domains) == 0 {
			errs = append(errs, fmt.Errorf("%s: neither Networks nor Domains identify it", at))
		}
		for j, p := range f.Networks {
			if !p.IsValid() {
				errs = append(errs, fmt.Errorf("%s: Networks[%d] is not a valid prefix", at, j))
			}
		}
		for j, d := range f.Domains {
			if normDomain(d) == "" {
				errs = append(errs, fmt.Errorf("%s: Domains[%d] is empty", at, j))
			}
		}
	}
	return errors.Join(errs...)
}
