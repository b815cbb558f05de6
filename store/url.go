package store

import (
	"fmt"
	"net/url"
	"strings"
)

// Kind is the database behind the store.
type Kind string

// The supported stores.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
)

// URL is a parsed store URL (store.url, QOO10HOOK_STORE).
type URL struct {
	Kind Kind
	// Path is the SQLite file; DSN is the PostgreSQL connection string.
	Path string
	DSN  string
}

// ParseURL reads "sqlite:PATH" or a postgres:// (postgresql://) URL.
func ParseURL(s string) (URL, error) {
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if p == "" {
			return URL{}, fmt.Errorf("%q names no file (write sqlite:/var/lib/qoo10hook/store.db)", s)
		}
		return URL{Kind: SQLite, Path: p}, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return URL{Kind: Postgres, DSN: s}, nil
	default:
		return URL{}, fmt.Errorf("%q is neither sqlite:PATH nor a postgres:// URL", redactURL(s))
	}
}

// redactURL keeps a URL's secret parts (user info, query) out of a
// message.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "<redacted>"
	}
	return u.String()
}
