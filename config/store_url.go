package config

import (
	"fmt"
	"strings"
)

// StoreKind is the database behind the store.
type StoreKind string

// The supported stores.
const (
	SQLite   StoreKind = "sqlite"
	Postgres StoreKind = "postgres"
)

// StoreURL is a parsed store.url.
type StoreURL struct {
	Kind StoreKind
	// Path is the SQLite file; DSN is the PostgreSQL connection string.
	Path string
	DSN  string
}

// ParseStoreURL reads "sqlite:PATH" or a postgres:// (postgresql://) URL.
func ParseStoreURL(s string) (StoreURL, error) {
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if p == "" {
			return StoreURL{}, fmt.Errorf("%q names no file (write sqlite:/var/lib/qoo10hook/store.db)", s)
		}
		return StoreURL{Kind: SQLite, Path: p}, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return StoreURL{Kind: Postgres, DSN: s}, nil
	default:
		return StoreURL{}, fmt.Errorf("%q is neither sqlite:PATH nor a postgres:// URL", redactURL(s))
	}
}
