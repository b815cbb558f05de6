// Package route decides which tenant and endpoints a recipient address belongs to.
package route

import (
	"strings"

	"github.com/qoo10hook/qoo10hook/config"
)

// Route is where mail for some recipients goes.
type Route struct {
	// Tenant names the route in events; empty for the domains-only setup.
	Tenant    string
	Endpoints []string
}

// Table matches recipient addresses to routes. Its precedence is: the
// exact address (plus-tag included), then the address without its
// plus-tag, then the domain. It never matches anything else: qoo10hook
// is not a relay.
type Table struct {
	exact   map[string]*Route
	domains map[string]*Route
}

// New builds the table from the configuration. With no routes, each of
// cfg.Domains routes to the catch-all webhook (when it is set). The
// catch-all endpoint takes the events of every route.
func New(cfg *config.Config) *Table {
	t := &Table{exact: map[string]*Route{}, domains: map[string]*Route{}}
	var catchAll []string
	if cfg.Webhook.URL != "" {
		catchAll = []string{config.DefaultEndpoint}
	}
	if len(cfg.Routes) == 0 {
		r := &Route{Endpoints: catchAll}
		for _, d := range cfg.Domains {
			t.domains[d] = r
		}
		return t
	}
	for _, rc := range cfg.Routes {
		r := &Route{Tenant: rc.Tenant, Endpoints: appendNew(append([]string(nil), rc.Endpoints...), catchAll...)}
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

// Match returns the route of a recipient address, or nil.
func (t *Table) Match(rcpt string) *Route {
	addr := strings.ToLower(strings.TrimSpace(rcpt))
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" || domain == "" {
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
	return t.domains[domain]
}
