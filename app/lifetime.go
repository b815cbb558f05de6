package app

import (
	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/store"
)

// retention is the store's retention from the configuration.
func retention(cfg *config.Config) *store.Retention {
	r := cfg.Retention
	return &store.Retention{Mail: r.Mail.D(), Deliveries: r.Deliveries.D(), Dead: r.Dead.D()}
}
