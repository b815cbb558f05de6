package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/qoo10hook/qoo10hook/app"
	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/store"
)

// openStore loads the configuration at path and opens its existing store.
func (c *CLI) openStore(ctx context.Context, path string) (*store.Store, error) {
	cfg, err := c.load(path)
	if err != nil {
		return nil, err
	}
	return openExistingStore(ctx, cfg)
}

// openExistingStore opens the service's store for a command that reads or
// changes it. It never creates an SQLite file: run from the wrong
// directory, or without the service's configuration, a command would
// otherwise report on a new, empty store as if nothing had happened.
func openExistingStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	su, err := store.ParseURL(cfg.Store.URL)
	if err != nil {
		return nil, err
	}
	if su.Kind == store.SQLite {
		if _, err := os.Stat(su.Path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no store at %s: set QOO10HOOK_STORE or --config", displayPath(su.Path))
		}
	}
	return app.OpenStore(ctx, cfg, store.Options{})
}

// displayPath shows a relative path as relative to the current directory.
func displayPath(p string) string {
	if filepath.IsAbs(p) || strings.HasPrefix(p, ".") {
		return p
	}
	return "." + string(filepath.Separator) + p
}
