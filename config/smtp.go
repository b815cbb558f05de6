package config

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/qoo10hook/qoo10hook/mailauth"
	"github.com/qoo10hook/qoo10hook/parse"
	"github.com/qoo10hook/qoo10hook/route"
	"github.com/qoo10hook/qoo10hook/smtpd"
)

// Defaults of the front door's limits, each a setting under smtp: with an
// environment twin. They are the defaults of the packages that apply the
// limits: smtpd, parse (the MIME structure) and route (vendor tokens).
const (
	DefaultMaxHeaderBytes           = smtpd.DefaultMaxHeaderBytes
	DefaultMaxMIMEParts             = parse.DefaultMaxParts
	DefaultMaxMIMEDepth             = parse.DefaultMaxDepth
	DefaultMaxReceived              = smtpd.DefaultMaxReceived
	DefaultMaxConnections           = smtpd.DefaultMaxConnections
	DefaultMaxConnectionsPerIP      = smtpd.DefaultMaxConnectionsPerIP
	DefaultMaxTransactionsPerMinute = smtpd.DefaultMaxTransactionsPerMinute
	DefaultMaxErrors                = smtpd.DefaultMaxErrors
	DefaultMaxInflightBytes         = smtpd.DefaultMaxInflightBytes
	DefaultTokenLength              = route.DefaultTokenLength
	// DefaultHTTPMaxConnections is http.max_connections' default: far
	// more than probes, scrapers and operators need, far fewer than the
	// file descriptors SMTP needs.
	DefaultHTTPMaxConnections = 256
)

// Sender policies, as the config file spells them: route's policies (see
// route.PolicyRequire and the others).
const (
	PolicyRequire    = string(route.PolicyRequire)
	PolicyQuarantine = string(route.PolicyQuarantine)
	PolicyTag        = string(route.PolicyTag)
	PolicyOff        = string(route.PolicyOff)
)

// Policies lists the sender policies, strictest first: route.Policies.
var Policies = func() []string {
	var out []string
	for _, p := range route.Policies {
		out = append(out, string(p))
	}
	return out
}()

// TLS configures STARTTLS and the implicit TLS listener. The certificate
// and key files are read again on SIGHUP.
type TLS struct {
	CertFile string `yaml:"cert_file" env:"QOO10HOOK_SMTP_TLS_CERT_FILE"`
	KeyFile  string `yaml:"key_file" env:"QOO10HOOK_SMTP_TLS_KEY_FILE"`
	// ImplicitAddr, when set, is a second listener where TLS starts at
	// connect (port 465 style).
	ImplicitAddr string `yaml:"implicit_addr" env:"QOO10HOOK_SMTP_TLS_IMPLICIT_ADDR"`
	// Require refuses MAIL before STARTTLS with 530 5.7.0.
	Require bool `yaml:"require" env:"QOO10HOOK_SMTP_REQUIRE_TLS"`
}

// Auth configures SMTP AUTH (PLAIN, LOGIN), offered only over TLS, for a
// seller's own forwarding relay.
type Auth struct {
	Users []AuthUser `yaml:"users"`
}

// AuthUser is one relay account.
type AuthUser struct {
	Username string `yaml:"username"`
	// PasswordHash is a bcrypt hash ($2a$, $2b$ or $2y$), e.g. from
	// `htpasswd -nbBC 12 "" PASSWORD | cut -d: -f2`.
	PasswordHash Secret `yaml:"password_hash"`
	// AuthServID is the authserv-id of the Authentication-Results header
	// the relay adds; when set, those results are trusted as a
	// forwarder's for this account's mail.
	AuthServID string `yaml:"authserv_id"`
}

// Sender configures sender authentication (SPF, DKIM, DMARC alignment).
type Sender struct {
	// Policy applies to routes without a sender_policy of their own:
	// require, quarantine, tag or off.
	Policy string `yaml:"policy" env:"QOO10HOOK_SENDER_POLICY"`
	// AllowedDomains are the From domains (and their subdomains) mail
	// must be aligned with.
	AllowedDomains []string `yaml:"allowed_domains" env:"QOO10HOOK_SENDER_ALLOWED_DOMAINS"`
	// Timeout is the DNS budget of one mail; LookupTimeout of one lookup.
	Timeout       Duration `yaml:"timeout" env:"QOO10HOOK_SENDER_TIMEOUT"`
	LookupTimeout Duration `yaml:"lookup_timeout" env:"QOO10HOOK_SENDER_LOOKUP_TIMEOUT"`
	// CacheTTL is how long DNS answers are reused; CacheSize how many.
	CacheTTL  Duration `yaml:"cache_ttl" env:"QOO10HOOK_SENDER_CACHE_TTL"`
	CacheSize int      `yaml:"cache_size" env:"QOO10HOOK_SENDER_CACHE_SIZE"`
	// MaxSignatures bounds the DKIM signatures verified per mail.
	MaxSignatures int `yaml:"max_signatures" env:"QOO10HOOK_SENDER_MAX_SIGNATURES"`
}

// DefaultSender is the sender section's default: require alignment with
// qoo10.jp.
func DefaultSender() Sender {
	return Sender{
		Policy:         string(route.DefaultPolicy),
		AllowedDomains: slices.Clone(smtpd.DefaultAllowedSenders),
		Timeout:        Duration(mailauth.DefaultTimeout),
		LookupTimeout:  Duration(mailauth.DefaultLookupTimeout),
		CacheTTL:       Duration(mailauth.DefaultCacheTTL),
		CacheSize:      mailauth.DefaultCacheSize,
		MaxSignatures:  mailauth.DefaultMaxSignatures,
	}
}

// Forwarder is a trusted forwarder, such as a seller's webmail forwarding:
// its own Authentication-Results header is used for its mail.
type Forwarder struct {
	Name string `yaml:"name"`
	// Networks are the addresses it connects from (CIDR or single IPs).
	Networks []string `yaml:"networks"`
	// Domains identify it when SPF or DKIM passes for them.
	Domains    []string `yaml:"domains"`
	AuthServID string   `yaml:"authserv_id"`
}

// Prefixes parses Networks; Validate has checked them.
func (f Forwarder) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range f.Networks {
		if p, err := parsePrefix(n); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Vendor configures vendor mode: every SELLER.TOKEN@DOMAIN address of the
// domains is accepted when TOKEN is the HMAC of SELLER under Key, so a
// linked-software company serves thousands of sellers without a route each.
type Vendor struct {
	Domains     []string `yaml:"domains" env:"QOO10HOOK_VENDOR_DOMAINS"`
	Key         Secret   `yaml:"key" env:"QOO10HOOK_VENDOR_KEY"`
	TokenLength int      `yaml:"token_length" env:"QOO10HOOK_VENDOR_TOKEN_LENGTH"`
	// TenantPrefix is put before the seller id to make the tenant name.
	TenantPrefix string   `yaml:"tenant_prefix" env:"QOO10HOOK_VENDOR_TENANT_PREFIX"`
	Endpoints    []string `yaml:"endpoints" env:"QOO10HOOK_VENDOR_ENDPOINTS"`
	// SenderPolicy overrides sender.policy for vendor addresses.
	SenderPolicy string `yaml:"sender_policy" env:"QOO10HOOK_VENDOR_SENDER_POLICY"`
}

// Enabled reports whether vendor mode is configured.
func (v Vendor) Enabled() bool { return len(v.Domains) > 0 }

// MinVendorKeyBytes is the shortest vendor key accepted.
const MinVendorKeyBytes = 16

var prefixRE = regexp.MustCompile(`^[a-z0-9]+([_-][a-z0-9]+)*[_-]?$`)

// validateFrontDoor checks the smtp limits, TLS, AUTH, sender, forwarder
// and vendor settings.
func (c *Config) validateFrontDoor(bad badFunc, endpoints map[string]bool) {
	c.validateSMTPLimits(bad)
	t := c.SMTP.TLS
	hasCert := t.CertFile != "" && t.KeyFile != ""
	c.validateTLS(bad, hasCert)
	c.validateAuth(bad, hasCert)
	c.validateSender(bad)
	c.validateForwarders(bad)
	c.validateVendor(bad, endpoints)
}

// validateSMTPLimits checks the bounds on a mail's headers and MIME
// structure, on connections and transactions, and on the mail in flight.
func (c *Config) validateSMTPLimits(bad badFunc) {
	s := c.SMTP
	if s.MaxHeaderBytes < 1024 || s.MaxHeaderBytes > s.MaxMessageBytes {
		bad("smtp.max_header_bytes (QOO10HOOK_SMTP_MAX_HEADER_BYTES)", "%d must be at least 1KiB and at most smtp.max_message_bytes (default 128KiB)", s.MaxHeaderBytes)
	}
	for _, l := range []struct {
		field string
		v     int
		def   int
	}{
		{"smtp.max_mime_parts (QOO10HOOK_SMTP_MAX_MIME_PARTS)", s.MaxMIMEParts, DefaultMaxMIMEParts},
		{"smtp.max_mime_depth (QOO10HOOK_SMTP_MAX_MIME_DEPTH)", s.MaxMIMEDepth, DefaultMaxMIMEDepth},
		{"smtp.max_received (QOO10HOOK_SMTP_MAX_RECEIVED)", s.MaxReceived, DefaultMaxReceived},
		{"smtp.max_connections (QOO10HOOK_SMTP_MAX_CONNECTIONS)", s.MaxConnections, DefaultMaxConnections},
		{"smtp.max_connections_per_ip (QOO10HOOK_SMTP_MAX_CONNECTIONS_PER_IP)", s.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP},
		{"smtp.max_transactions_per_minute (QOO10HOOK_SMTP_MAX_TRANSACTIONS_PER_MINUTE)", s.MaxTransactionsPerMinute, DefaultMaxTransactionsPerMinute},
		{"smtp.max_errors (QOO10HOOK_SMTP_MAX_ERRORS)", s.MaxErrors, DefaultMaxErrors},
	} {
		if l.v < 1 {
			bad(l.field, "%d must be at least 1 (default %d)", l.v, l.def)
		}
	}
	if s.MaxInflightBytes < s.MaxMessageBytes {
		bad("smtp.max_inflight_bytes (QOO10HOOK_SMTP_MAX_INFLIGHT_BYTES)",
			"%d is less than smtp.max_message_bytes (%d): no mail of the largest size could ever be taken; raise it (default 256MiB)",
			s.MaxInflightBytes, s.MaxMessageBytes)
	}
	if s.MaxConnectionsPerIP > s.MaxConnections {
		bad("smtp.max_connections_per_ip (QOO10HOOK_SMTP_MAX_CONNECTIONS_PER_IP)", "%d is more than smtp.max_connections (%d)", s.MaxConnectionsPerIP, s.MaxConnections)
	}
}

// validateTLS checks the certificate pair, the implicit TLS listener and
// required STARTTLS; hasCert is whether both files are set.
func (c *Config) validateTLS(bad badFunc, hasCert bool) {
	t := c.SMTP.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("smtp.tls.cert_file / smtp.tls.key_file (QOO10HOOK_SMTP_TLS_CERT_FILE / QOO10HOOK_SMTP_TLS_KEY_FILE)", "set both or neither")
	}
	if t.ImplicitAddr != "" {
		if _, _, err := net.SplitHostPort(t.ImplicitAddr); err != nil {
			bad("smtp.tls.implicit_addr (QOO10HOOK_SMTP_TLS_IMPLICIT_ADDR)", "%q is not host:port (write it like :465)", t.ImplicitAddr)
		}
		if !hasCert {
			bad("smtp.tls.implicit_addr (QOO10HOOK_SMTP_TLS_IMPLICIT_ADDR)", "needs smtp.tls.cert_file and smtp.tls.key_file")
		}
	}
	if t.Require && !hasCert {
		bad("smtp.tls.require (QOO10HOOK_SMTP_REQUIRE_TLS)", "needs smtp.tls.cert_file and smtp.tls.key_file")
	}
}

// validateAuth checks the AUTH users, offered only over TLS.
func (c *Config) validateAuth(bad badFunc, hasCert bool) {
	s := c.SMTP
	users := map[string]bool{}
	for i, u := range s.Auth.Users {
		f := fmt.Sprintf("smtp.auth.users[%d]", i)
		if u.Username == "" || users[u.Username] {
			bad(f+".username", "%q must be set and unique", u.Username)
		}
		users[u.Username] = true
		if _, err := bcrypt.Cost([]byte(u.PasswordHash.Reveal())); err != nil {
			bad(f+".password_hash", "is not a bcrypt hash (make one with: htpasswd -nbBC 12 \"\" PASSWORD | cut -d: -f2)")
		}
	}
	if len(s.Auth.Users) > 0 && !hasCert {
		bad("smtp.auth.users", "AUTH is offered only over TLS: set smtp.tls.cert_file and smtp.tls.key_file")
	}
}

// validateSender checks the sender policies (the default, each route's,
// vendor mode's), the allowed sender domains and the bounds on checking
// a sender.
func (c *Config) validateSender(bad badFunc) {
	checkPolicy := func(field, p string, allowEmpty bool) {
		if p == "" && allowEmpty {
			return
		}
		for _, k := range Policies {
			if p == k {
				return
			}
		}
		bad(field, "%q is not one of require, quarantine, tag, off", p)
	}
	checkPolicy("sender.policy (QOO10HOOK_SENDER_POLICY)", c.Sender.Policy, false)
	for i, r := range c.Routes {
		checkPolicy(fmt.Sprintf("routes[%d].sender_policy", i), r.SenderPolicy, true)
	}
	checkPolicy("vendor.sender_policy (QOO10HOOK_VENDOR_SENDER_POLICY)", c.Vendor.SenderPolicy, true)
	if len(c.Sender.AllowedDomains) == 0 {
		bad("sender.allowed_domains (QOO10HOOK_SENDER_ALLOWED_DOMAINS)", "lists no domain (default qoo10.jp)")
	}
	for i, d := range c.Sender.AllowedDomains {
		if !domainRE.MatchString(d) {
			bad(fmt.Sprintf("sender.allowed_domains[%d] (QOO10HOOK_SENDER_ALLOWED_DOMAINS)", i), "%q is not a domain name", d)
		}
	}
	if c.Sender.Timeout.D() <= 0 || c.Sender.LookupTimeout.D() <= 0 {
		bad("sender.timeout / sender.lookup_timeout", "must be positive durations (defaults 5s and 2s): a dead DNS must not stall DATA")
	}
	if c.Sender.CacheSize < 1 || c.Sender.MaxSignatures < 1 {
		bad("sender.cache_size / sender.max_signatures", "must be at least 1 (defaults 10000 and 5)")
	}
}

// validateForwarders checks each trusted forwarder's name, authserv-id,
// networks and domains.
func (c *Config) validateForwarders(bad badFunc) {
	fnames := map[string]bool{}
	for i, fw := range c.Forwarders {
		f := fmt.Sprintf("forwarders[%d]", i)
		if !nameRE.MatchString(fw.Name) || fnames[fw.Name] {
			bad(f+".name", "%q must be a unique name of lower-case letters and digits, in words joined by - or _", fw.Name)
		}
		fnames[fw.Name] = true
		if fw.AuthServID == "" {
			bad(f+".authserv_id", "is required: the authserv-id of the Authentication-Results header the forwarder adds, e.g. mx.google.com")
		}
		if len(fw.Networks) == 0 && len(fw.Domains) == 0 {
			bad(f, "needs networks or domains to recognise the forwarder by")
		}
		for j, n := range fw.Networks {
			if _, err := parsePrefix(n); err != nil {
				bad(fmt.Sprintf("%s.networks[%d]", f, j), "%q is not a CIDR prefix or an IP address", n)
			}
		}
		for j, d := range fw.Domains {
			if !domainRE.MatchString(d) {
				bad(fmt.Sprintf("%s.domains[%d]", f, j), "%q is not a domain name", d)
			}
		}
	}
}

// validateVendor checks vendor mode: its domains (each its own, not a
// whole-domain route), key, token length, tenant prefix and endpoints
// (among those defined).
func (c *Config) validateVendor(bad badFunc, endpoints map[string]bool) {
	v := c.Vendor
	if !v.Enabled() {
		if v.Key != "" || len(v.Endpoints) > 0 {
			bad("vendor.domains (QOO10HOOK_VENDOR_DOMAINS)", "vendor mode needs at least one domain")
		}
		return
	}
	routed := c.wholeDomainRoutes()
	for i, d := range v.Domains {
		f := fmt.Sprintf("vendor.domains[%d] (QOO10HOOK_VENDOR_DOMAINS)", i)
		if !domainRE.MatchString(d) {
			bad(f, "%q is not a domain name", d)
		} else if routed[d] {
			bad(f, "%q is also a whole-domain route; give vendor mode a domain of its own", d)
		}
	}
	if len(v.Key.Reveal()) < MinVendorKeyBytes {
		bad("vendor.key (QOO10HOOK_VENDOR_KEY)", "must be at least %d characters; generate one with \"qoo10hook secret\"", MinVendorKeyBytes)
	}
	if v.TokenLength < 8 || v.TokenLength > 52 {
		bad("vendor.token_length (QOO10HOOK_VENDOR_TOKEN_LENGTH)", "%d must be between 8 and 52 base32 characters (default %d)", v.TokenLength, DefaultTokenLength)
	}
	if v.TenantPrefix != "" && (!prefixRE.MatchString(v.TenantPrefix) || len(v.TenantPrefix) > 30) {
		bad("vendor.tenant_prefix (QOO10HOOK_VENDOR_TENANT_PREFIX)", "%q must be up to 30 lower-case letters and digits, in words joined by - or _, and may end with - or _", v.TenantPrefix)
	}
	for j, name := range v.Endpoints {
		if !endpoints[name] {
			bad(fmt.Sprintf("vendor.endpoints[%d] (QOO10HOOK_VENDOR_ENDPOINTS)", j), "%q is not a defined endpoint", name)
		}
	}
}

// wholeDomainRoutes are the domains whose every address is routed: the
// domains without routes, else each route's recipients that name a
// domain alone.
func (c *Config) wholeDomainRoutes() map[string]bool {
	routed := map[string]bool{}
	if len(c.Routes) == 0 {
		for _, d := range c.Domains {
			routed[d] = true
		}
	}
	for _, r := range c.Routes {
		for _, rc := range r.Recipients {
			if local, d, ok := cutAt(rc); !ok || local == "" {
				routed[d] = true
			}
		}
	}
	return routed
}

// normalizeFrontDoor lower-cases domains and policies.
func (c *Config) normalizeFrontDoor() {
	lower := func(s []string) {
		for i := range s {
			s[i] = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s[i]), "@"))
		}
	}
	lower(c.Sender.AllowedDomains)
	lower(c.Vendor.Domains)
	for i := range c.Forwarders {
		lower(c.Forwarders[i].Domains)
	}
	c.Sender.Policy = strings.ToLower(strings.TrimSpace(c.Sender.Policy))
	c.Vendor.SenderPolicy = strings.ToLower(strings.TrimSpace(c.Vendor.SenderPolicy))
	for i := range c.Routes {
		c.Routes[i].SenderPolicy = strings.ToLower(strings.TrimSpace(c.Routes[i].SenderPolicy))
	}
	c.Vendor.TenantPrefix = strings.ToLower(strings.TrimSpace(c.Vendor.TenantPrefix))
}

// cutAt splits a route recipient: "a@d" -> a, d; "@d" and "d" -> "", d.
func cutAt(r string) (local, domain string, hasAt bool) {
	local, domain, hasAt = strings.Cut(r, "@")
	if !hasAt {
		return "", local, false
	}
	return local, domain, true
}
