package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/route"
	"github.com/qoo10hook/qoo10hook/store"
)

// nameRE is the shape of endpoint and tenant names: they become queue
// names and metric labels.
var nameRE = regexp.MustCompile(`^[a-z0-9]+([_-][a-z0-9]+)*$`)

var domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// MinAdminToken is the shortest admin token accepted: the token guards
// buyer data and replays, so it must not be guessable.
const MinAdminToken = 24

// Validate checks every field and returns all problems at once, each naming
// the field (and its environment twin where it has one) and the fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	c.validateListeners(bad)
	c.validateStore(bad)
	c.validateDelivery(bad)
	c.validateLog(bad)
	for i, dom := range c.Domains {
		if !domainRE.MatchString(dom) {
			bad(fmt.Sprintf("domains[%d] (QOO10HOOK_DOMAINS)", i), "%q is not a domain name", dom)
		}
	}
	endpoints := c.validateEndpoints(bad)
	c.validateRoutes(bad, endpoints)
	c.validateFrontDoor(bad, endpoints)
	c.validateParse(bad)
	errs = append(errs, c.validateInventory()...)
	return errors.Join(errs...)
}

// badFunc reports a problem with a field: Validate collects them.
type badFunc = func(field, format string, args ...any)

// validateListeners checks the SMTP and HTTP addresses, the HTTP limits
// and admin token, and the SMTP message limits.
func (c *Config) validateListeners(bad badFunc) {
	checkAddr := func(field, addr string) {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(field, "%q is not host:port (write it like :2525 or 127.0.0.1:2525)", addr)
		}
	}
	checkAddr("smtp.addr (QOO10HOOK_SMTP_ADDR)", c.SMTP.Addr)
	checkAddr("http.addr (QOO10HOOK_HTTP_ADDR)", c.HTTP.Addr)
	if c.HTTP.MaxConnections < 1 {
		bad("http.max_connections (QOO10HOOK_HTTP_MAX_CONNECTIONS)", "%d must be at least 1 (default %d)",
			c.HTTP.MaxConnections, DefaultHTTPMaxConnections)
	}
	if tok := c.HTTP.AdminToken.Reveal(); tok != "" && (len(tok) < MinAdminToken || strings.TrimSpace(tok) != tok) {
		bad("http.admin_token (QOO10HOOK_ADMIN_TOKEN)", "must be at least %d characters without surrounding spaces"+
			" (make one with: qoo10hook secret), or empty to turn the admin API and console off", MinAdminToken)
	}
	if c.SMTP.MaxMessageBytes < 1024 {
		bad("smtp.max_message_bytes", "%d is too small (at least 1KiB; default 10MiB)", c.SMTP.MaxMessageBytes)
	}
	if c.SMTP.MaxRecipients < 1 {
		bad("smtp.max_recipients", "must be at least 1 (default 50)")
	}
	if c.SMTP.MaxLineLength < 1000 {
		bad("smtp.max_line_length", "must be at least 1000, the RFC 5321 line length (default 16384)")
	}
	if c.SMTP.IdleTimeout.D() <= 0 || c.SMTP.DataTimeout.D() <= 0 {
		bad("smtp.idle_timeout / smtp.data_timeout", "must be positive durations like 5m")
	}
}

// validateStore checks the store's URL, group commit and backlog.
func (c *Config) validateStore(bad badFunc) {
	if _, err := store.ParseURL(c.Store.URL); err != nil {
		bad("store.url (QOO10HOOK_STORE)", "%v", err)
	}

	if c.Store.BatchMax < 1 || c.Store.BatchMax > 10000 {
		bad("store.batch_max (QOO10HOOK_STORE_BATCH_MAX)", "%d must be between 1 and 10000 (default 256)", c.Store.BatchMax)
	}
	if c.Store.BatchWindow < 0 || c.Store.BatchWindow.D() > time.Second {
		bad("store.batch_window (QOO10HOOK_STORE_BATCH_WINDOW)", "%s must be between 0s and 1s (default 500µs)", c.Store.BatchWindow.D())
	}
	if c.Store.MaxBacklogBytes < c.SMTP.MaxMessageBytes {
		bad("store.max_backlog_bytes (QOO10HOOK_STORE_MAX_BACKLOG_BYTES)", "must hold at least one message of smtp.max_message_bytes (default 256MiB)")
	}
	if c.Store.MaxBacklog < 1 {
		bad("store.max_backlog (QOO10HOOK_STORE_MAX_BACKLOG)", "must be at least 1 (default 512)")
	}
}

// validateDelivery checks the webhook retries, timeouts, concurrency and
// circuit breaker.
func (c *Config) validateDelivery(bad badFunc) {
	d := c.Delivery
	if len(d.RetrySchedule) == 0 {
		bad("delivery.retry_schedule", "needs at least one wait (the first attempt's, usually 0s)")
	}
	for i, w := range d.RetrySchedule {
		if w < 0 {
			bad(fmt.Sprintf("delivery.retry_schedule[%d]", i), "must not be negative")
		}
	}
	if d.Jitter < 0 || d.Jitter >= 1 {
		bad("delivery.jitter", "%v must be a fraction in [0, 1), like 0.1", d.Jitter)
	}
	if d.Timeout.D() <= 0 {
		bad("delivery.timeout", "must be a positive duration like 30s")
	}
	if d.Concurrency < 1 || d.Concurrency > 1000 {
		bad("delivery.concurrency", "%d must be between 1 and 1000", d.Concurrency)
	}
	if d.RescueAfter.D() < d.Timeout.D()+JobTimeoutMargin {
		bad("delivery.rescue_after (QOO10HOOK_DELIVERY_RESCUE_AFTER)", "must be at least delivery.timeout + %s (%s), or running attempts would be rescued while still running",
			JobTimeoutMargin, d.Timeout.D()+JobTimeoutMargin)
	}

	if d.BreakerFailures < 1 {
		bad("delivery.breaker_failures (QOO10HOOK_DELIVERY_BREAKER_FAILURES)", "must be at least 1 (default 10)")
	}
	if d.BreakerCooldown.D() <= 0 {
		bad("delivery.breaker_cooldown (QOO10HOOK_DELIVERY_BREAKER_COOLDOWN)", "must be a positive duration like 1m")
	}

	if d.PollInterval.D() < 10*time.Millisecond || d.PollInterval.D() > time.Minute {
		bad("delivery.poll_interval (QOO10HOOK_DELIVERY_POLL_INTERVAL)", "%s must be between 10ms and 1m (default 100ms)", d.PollInterval.D())
	}
}

// validateLog checks the log level and format.
func (c *Config) validateLog(bad badFunc) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level (QOO10HOOK_LOG_LEVEL)", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text", "auto":
	default:
		bad("log.format (QOO10HOOK_LOG_FORMAT)", "%q is not one of json, text, auto", c.Log.Format)
	}
}

// validateEndpoints checks the catch-all webhook and the named endpoints,
// and returns the names of all the endpoints defined, for the routes and
// vendor mode to refer to.
func (c *Config) validateEndpoints(bad badFunc) (names map[string]bool) {
	if c.Webhook.URL != "" || c.Webhook.Secret != "" {
		if err := checkURL(c.Webhook.URL); err != nil {
			bad("webhook.url (QOO10HOOK_WEBHOOK_URL)", "%v", err)
		}
		if err := CheckSecret(c.Webhook.Secret.Reveal()); err != nil {
			bad("webhook.secret (QOO10HOOK_WEBHOOK_SECRET)", "%v", err)
		}
	}

	names = map[string]bool{}
	if c.Webhook.URL != "" {
		names[DefaultEndpoint] = true
	}
	for i, e := range c.Endpoints {
		f := fmt.Sprintf("endpoints[%d]", i)
		if !nameRE.MatchString(e.Name) || len(e.Name) > 60 {
			bad(f+".name", "%q must be up to 60 lower-case letters and digits, in words joined by single - or _ (it labels metrics and queues)", e.Name)
		} else if names[e.Name] {
			bad(f+".name", "%q is defined twice (the webhook section defines %q)", e.Name, DefaultEndpoint)
		}
		names[e.Name] = true
		if err := checkURL(e.URL); err != nil {
			bad(f+".url", "%v", err)
		}
		if err := CheckSecret(e.Secret.Reveal()); err != nil {
			bad(f+".secret", "%v", err)
		}
		for j, t := range e.Events {
			if !event.Type(t).Valid() {
				bad(fmt.Sprintf("%s.events[%d]", f, j), "%q is not an event type (%s)", t, typeList())
			}
		}
		if e.Concurrency < 0 || e.Concurrency > 1000 {
			bad(f+".concurrency", "%d must be between 0 (use delivery.concurrency) and 1000", e.Concurrency)
		}
	}
	return names
}

// validateRoutes checks each route's tenant, recipients and endpoints
// (among those defined).
func (c *Config) validateRoutes(bad badFunc, endpoints map[string]bool) {
	tenants := map[string]bool{}
	for i, r := range c.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		if !nameRE.MatchString(r.Tenant) || len(r.Tenant) > 60 {
			bad(f+".tenant", "%q must be up to 60 lower-case letters and digits, in words joined by single - or _", r.Tenant)
		} else if tenants[r.Tenant] {
			bad(f+".tenant", "%q is used by two routes", r.Tenant)
		}
		tenants[r.Tenant] = true
		if len(r.Recipients) == 0 {
			bad(f+".recipients", "lists no address or domain")
		}
		for j, rc := range r.Recipients {
			if err := checkRecipient(rc); err != nil {
				bad(fmt.Sprintf("%s.recipients[%d]", f, j), "%v", err)
			}
		}
		for j, name := range r.Endpoints {
			if !endpoints[name] {
				bad(fmt.Sprintf("%s.endpoints[%d]", f, j), "%q is not a defined endpoint", name)
			}
		}
	}
}

// validateParse checks the configured templates and classification rules.
func (c *Config) validateParse(bad badFunc) {
	tnames := map[string]bool{}
	for i, t := range c.Parse.Templates {
		f := fmt.Sprintf("parse.templates[%d]", i)
		if t.Name == "" || tnames[t.Name] {
			bad(f+".name", "%q must be set and unique", t.Name)
		}
		tnames[t.Name] = true
		if t.Type != "" && !event.Type(t.Type).IsOrder() {
			bad(f+".type", "%q is not an order event type (%s)", t.Type, orderTypeList())
		}
		if strings.TrimSpace(t.Body) == "" {
			bad(f+".body", "is empty: paste the template text from J·QSM, or name a body_file")
		}
	}
	for i, cl := range c.Parse.Classes {
		f := fmt.Sprintf("parse.classes[%d]", i)
		if !event.Type(cl.Type).IsOrder() {
			bad(f+".type", "%q is not an order event type (%s)", cl.Type, orderTypeList())
		}
		if cl.Subject == "" && cl.Body == "" {
			bad(f, "needs a subject or a body substring")
		}
	}
}

// CheckSecret reports whether s is a Standard Webhooks secret: "whsec_"
// followed by the base64 of 24 to 64 random bytes.
func CheckSecret(s string) error {
	const fix = `generate one with "qoo10hook secret"`
	if s == "" {
		return fmt.Errorf("is required to sign deliveries; %s", fix)
	}
	rest, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return fmt.Errorf(`must start with "whsec_"; %s`, fix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return fmt.Errorf(`the part after "whsec_" is not standard base64; %s`, fix)
	}
	if len(key) < 24 || len(key) > 64 {
		return fmt.Errorf("the key is %d bytes; it must be 24 to 64; %s", len(key), fix)
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", redactURL(s))
	}
	return nil
}

// redactURL keeps a URL's secret parts (user info, query) out of messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return RedactedURL(u)
}

// RedactedURL returns u without user info and with query values hidden.
func RedactedURL(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		c.RawQuery = "<redacted>"
	}
	return c.String()
}

func checkRecipient(r string) error {
	local, dom, hasAt := strings.Cut(r, "@")
	if !hasAt {
		dom = local
		local = ""
	}
	if hasAt && local != "" && !route.PlainLocalPart(local) {
		return fmt.Errorf("%q: %q is not a plain mailbox name (no spaces, quotes, backslashes or any of @%%!:;<>()[], and at most 64 characters), and no mail could reach it", r, local)
	}
	if !domainRE.MatchString(dom) {
		return fmt.Errorf("%q: %q is not a domain name", r, dom)
	}
	return nil
}

func typeList() string {
	var s []string
	for _, t := range event.AllTypes {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

func orderTypeList() string {
	var s []string
	for _, t := range event.OrderTypes {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}
