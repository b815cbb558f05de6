package app

import (
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/qoo10hook/qoo10hook/admin"
	"github.com/qoo10hook/qoo10hook/store"
)

// startupAttrs are the attributes of the log line that says the service
// is up: where it listens, where it keeps its store, which mail it takes
// and how it checks the sender, and where the console is. A newcomer's
// first questions are answered there.
func (s *Service) startupAttrs() []any {
	attrs := []any{"smtp", s.SMTPAddr(), "http", s.HTTPAddr(), "store", storeLocation(s.cfg.Store.URL),
		"sender_policy", s.cfg.Sender.Policy}
	if len(s.cfg.Routes) == 0 && !s.cfg.Vendor.Enabled() {
		attrs = append(attrs, "domains", strings.Join(s.cfg.Domains, ","))
	} else {
		attrs = append(attrs, "routes", len(s.cfg.Routes))
	}
	console := "off (set QOO10HOOK_ADMIN_TOKEN to turn it on)"
	if s.admin != nil {
		console = "http://" + browsable(s.HTTPAddr()) + admin.ConsolePrefix
	}
	return append(attrs, "console", console, "endpoints", len(s.endpoints), "version", Version())
}

// storeLocation names the store for the log: the SQLite file's absolute
// path, or the PostgreSQL server and database without credentials.
func storeLocation(storeURL string) string {
	su, err := store.ParseURL(storeURL)
	if err != nil {
		return "?"
	}
	if su.Kind == store.SQLite {
		if abs, err := filepath.Abs(su.Path); err == nil {
			return "sqlite:" + abs
		}
		return "sqlite:" + su.Path
	}
	u, err := url.Parse(su.DSN)
	if err != nil {
		return "postgres"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// browsable turns a listener address into one a browser on the same
// machine can open: an unspecified address becomes localhost.
func browsable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// indexPage is what / answers when the console is off: what this
// listener serves, and how to turn the console on.
const indexPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>qoo10hook</title></head>
<body>
<h1>qoo10hook</h1>
<p>Qoo10 notification mails in, signed webhooks out.</p>
<ul>
<li><a href="/healthz">/healthz</a>: the process runs</li>
<li><a href="/readyz">/readyz</a>: ready to take mail</li>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
</ul>
<p>The admin API (/api/v1/) and console (/admin/) are off: set an admin token
(<code>QOO10HOOK_ADMIN_TOKEN</code>, or <code>http.admin_token</code>) to turn them on.</p>
</body></html>
`

func index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Write([]byte(indexPage))
}
