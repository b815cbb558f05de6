// Package route decides which tenant and endpoints a recipient address belongs to.
package route

import (
	"slices"
	"strings"
	"sync"

	"github.com/qoo10hook/qoo10hook/event"
)

// Policy is what a route asks of the sender's authentication. The SMTP
// session applies it (see smtpd's authenticate); the config file names it.
type Policy string

// The sender policies.
const (
	// PolicyRequire refuses (550 5.7.1) mail not aligned with an allowed
	// sender domain, and defers it (451 4.7.0) when DNS failed.
	PolicyRequire Policy = "require"
	// PolicyQuarantine accepts such mail but holds it: stored, not
	// delivered, visible to operators.
	PolicyQuarantine Policy = "quarantine"
	// PolicyTag delivers every mail, with the verdicts in mail.auth.
	PolicyTag Policy = "tag"
	// PolicyOff makes no lookups at all.
	PolicyOff Policy = "off"
)

// DefaultPolicy is the sender policy of routes that name none.
const DefaultPolicy = PolicyRequire

// Policies lists the sender policies, strictest first.
var Policies = []Policy{PolicyRequire, PolicyQuarantine, PolicyTag, PolicyOff}

// Route is where mail for some recipients goes.
type Route struct {
	// Tenant names the route in events; empty for the domains-only setup.
	Tenant    string
	Endpoints []string
	// SenderPolicy is what the route asks of the sender's authentication.
	SenderPolicy Policy
}

// Table matches recipient addresses to routes. Its precedence is: the
// exact address (plus-tag included), then the address without its
// plus-tag, then a vendor address (SELLER.TOKEN@DOMAIN) of a vendor
// domain, then the domain. It never matches anything else: qoo10hook is
// not a relay. Local parts that only make sense to a relay (source
// routes, the % and ! hacks, quoted strings) never match, even on a
// routed domain.
type Table struct {
	exact   map[string]*Route
	domains map[string]*Route
	// tenants are the configured routes by tenant ("" for the routes-less
	// setup); vendor tenants are not among them.
	tenants map[string]*Route
	vendor  *vendor
	filter  Filter
}

// Filter tells which event types an endpoint takes.
type Filter interface {
	Wants(endpoint, eventType string) bool
}

// Options describe the routing.
type Options struct {
	// Routes are the configured routes. With none, each of Domains
	// routes to the catch-all endpoint alone.
	Routes  []Spec
	Domains []string
	// CatchAll names the endpoint that takes the events of every route
	// (vendor mode's included); "" for none.
	CatchAll string
	// Policy is the sender policy of the routes that name none
	// (DefaultPolicy when empty).
	Policy Policy
	// Vendor is vendor mode, on when it has domains.
	Vendor Vendor
	// Filter decides which of a route's endpoints take an event type
	// (Endpoints); nil lets every endpoint take every type.
	Filter Filter
}

// Spec is one configured route.
type Spec struct {
	Tenant string
	// Recipients are exact addresses ("orders@in.example.com"), plus-tag
	// included or not, and whole domains ("in.example.com" or
	// "@in.example.com").
	Recipients []string
	Endpoints  []string
	// SenderPolicy overrides Options.Policy for the route; "" keeps it.
	SenderPolicy Policy
}

// Vendor is vendor mode: every SELLER.TOKEN@DOMAIN address of Domains is
// taken when TOKEN is the seller's token under Key (see Signer), and
// routes to the tenant TenantPrefix+seller.
type Vendor struct {
	Domains      []string
	Key          []byte
	TokenLength  int
	TenantPrefix string
	Endpoints    []string
	// SenderPolicy overrides Options.Policy for vendor addresses.
	SenderPolicy Policy
}

// New builds the table. The catch-all endpoint takes the events of every
// route.
func New(o Options) *Table {
	t := &Table{exact: map[string]*Route{}, domains: map[string]*Route{}, tenants: map[string]*Route{},
		filter: o.Filter}
	var catchAll []string
	if o.CatchAll != "" {
		catchAll = []string{o.CatchAll}
	}
	policy := func(p Policy) Policy {
		if p == "" {
			p = o.Policy
		}
		if p == "" {
			return DefaultPolicy
		}
		return p
	}
	if len(o.Vendor.Domains) > 0 {
		t.vendor = newVendor(o.Vendor, appendNew(append([]string(nil), o.Vendor.Endpoints...), catchAll...),
			policy(o.Vendor.SenderPolicy), t.tenants)
	}
	if len(o.Routes) == 0 {
		r := &Route{Endpoints: catchAll, SenderPolicy: policy("")}
		t.tenants[""] = r
		for _, d := range o.Domains {
			t.domains[d] = r
		}
		return t
	}
	for _, rc := range o.Routes {
		r := &Route{Tenant: rc.Tenant, Endpoints: appendNew(append([]string(nil), rc.Endpoints...), catchAll...),
			SenderPolicy: policy(rc.SenderPolicy)}
		if t.tenants[rc.Tenant] == nil {
			t.tenants[rc.Tenant] = r
		}
		for _, rcpt := range rc.Recipients {
			local, domain, ok := strings.Cut(rcpt, "@")
			switch {
			case !ok:
				t.domains[rcpt] = r
			case local == "":
				t.domains[domain] = r
			default:
				t.exact[rcpt] = r
			}
		}
	}
	return t
}

// Group is the recipients of one transaction that reach one route.
type Group struct {
	Route *Route
	Rcpts []string
}

// Groups groups recipients by the route they reach, in the order they
// came; recipients no route takes are left out. A mail makes one event
// per group.
func (t *Table) Groups(rcpts []string) []Group {
	var out []Group
	for _, rc := range rcpts {
		r := t.Match(rc)
		if r == nil {
			continue
		}
		i := slices.IndexFunc(out, func(g Group) bool { return g.Route == r })
		if i < 0 {
			out = append(out, Group{Route: r})
			i = len(out) - 1
		}
		out[i].Rcpts = append(out[i].Rcpts, rc)
	}
	return out
}

// TenantEndpoints returns the endpoints a tenant's mail is routed to: a
// configured route's, or vendor mode's for a tenant it named.
func (t *Table) TenantEndpoints(tenant string) []string {
	if r := t.tenants[tenant]; r != nil {
		return r.Endpoints
	}
	if t.vendor != nil && tenant != "" {
		return t.vendor.endpoints
	}
	return nil
}

// Endpoints returns the endpoints a tenant's events of type typ go to:
// those of the tenant's route (TenantEndpoints) whose filter takes typ.
func (t *Table) Endpoints(tenant string, typ event.Type) []string {
	var out []string
	for _, name := range t.TenantEndpoints(tenant) {
		if t.filter == nil || t.filter.Wants(name, string(typ)) {
			out = append(out, name)
		}
	}
	return out
}

func appendNew(s []string, more ...string) []string {
	for _, m := range more {
		found := false
		for _, x := range s {
			found = found || x == m
		}
		if !found {
			s = append(s, m)
		}
	}
	return s
}

// Lookup returns the sender policy of the route rcpt belongs to, and
// false when rcpt is not ours: the SMTP server's recipient check.
func (t *Table) Lookup(rcpt string) (Policy, bool) {
	r := t.Match(rcpt)
	if r == nil {
		return "", false
	}
	return r.SenderPolicy, true
}

// PlainLocalPart reports whether a local part is a plain mailbox name:
// not empty, at most 64 characters, and without the characters relays give
// meaning to (@ from a quoted string, % and ! routing, quotes, backslashes,
// spaces, controls). Routes match no other.
func PlainLocalPart(local string) bool {
	if local == "" || len(local) > 64 {
		return false
	}
	for i := 0; i < len(local); i++ {
		switch c := local[i]; {
		case c <= ' ' || c == 0x7f:
			return false
		case strings.IndexByte(`@%!"\:;<>()[],`, c) >= 0:
			return false
		}
	}
	return true
}

// Match returns the route of a recipient address, or nil.
func (t *Table) Match(rcpt string) *Route {
	addr := strings.ToLower(strings.TrimSpace(rcpt))
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || !PlainLocalPart(local) || domain == "" {
		return nil
	}
	if r := t.exact[addr]; r != nil {
		return r
	}
	if base, _, tagged := strings.Cut(local, "+"); tagged {
		if r := t.exact[base+"@"+domain]; r != nil {
			return r
		}
	}
	if t.vendor != nil && t.vendor.domains[domain] {
		return t.vendor.match(local)
	}
	return t.domains[domain]
}

// vendor matches SELLER.TOKEN addresses. Routes are made on first use and
// kept, so that recipients of one seller share one route; only addresses
// with a valid token make one, so only real sellers take memory.
type vendor struct {
	domains   map[string]bool
	signer    Signer
	prefix    string
	endpoints []string
	policy    Policy
	routes    sync.Map // tenant -> *Route
	// configured are the configured routes by tenant, which no seller may
	// take.
	configured map[string]*Route
}

func newVendor(c Vendor, endpoints []string, policy Policy, configured map[string]*Route) *vendor {
	v := &vendor{domains: map[string]bool{}, signer: NewSigner(c.Key, c.TokenLength),
		prefix: c.TenantPrefix, endpoints: endpoints, policy: policy, configured: configured}
	for _, d := range c.Domains {
		v.domains[d] = true
	}
	return v
}

func (v *vendor) match(local string) *Route {
	i := strings.LastIndexByte(local, '.')
	if i <= 0 {
		return nil
	}
	seller, token := local[:i], local[i+1:]
	if !v.signer.Verify(seller, token) {
		return nil
	}
	tenant := Tenant(v.prefix, seller)
	if tenant == "" || v.configured[tenant] != nil {
		// A seller named like a configured route's tenant would take its
		// events and its inventory settings.
		return nil
	}
	if r, ok := v.routes.Load(tenant); ok {
		return r.(*Route)
	}
	r, _ := v.routes.LoadOrStore(tenant, &Route{Tenant: tenant, Endpoints: v.endpoints, SenderPolicy: v.policy})
	return r.(*Route)
}
