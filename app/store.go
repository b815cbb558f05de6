package app

import (
	"context"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/store"
)

// OpenStore opens the store the configuration names (store.url), with o
// for the rest: the service gives its workers, queues and limits, a
// command nothing or its logger. It creates an SQLite file that is not
// there yet, as the service does on its first start.
func OpenStore(ctx context.Context, cfg *config.Config, o store.Options) (*store.Store, error) {
	su, err := store.ParseURL(cfg.Store.URL)
	if err != nil {
		return nil, err
	}
	o.URL = su
	return store.Open(ctx, o)
}
