package app

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/inventory"
	"github.com/qoo10hook/qoo10hook/route"
)

// InventorySettings are the inventory settings of the configuration: the
// service's, and the catalog command's.
func InventorySettings(cfg *config.Config) inventory.Settings {
	return inventory.Settings{
		SKUOrder:     cfg.Inventory.SKUOrder,
		Threshold:    cfg.Inventory.LowStockThreshold,
		Aliases:      cfg.Inventory.HeaderAliases,
		MaxFileBytes: int64(cfg.Inventory.MaxFileBytes),
	}
}

// newDeriver builds the deriver of inventory events: each tenant's policy
// from its route, and its endpoints as its order events get them, the
// route's endpoints whose event filter takes the inventory type.
func newDeriver(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer, routes *route.Table) (*inventory.Deriver, error) {
	return inventory.NewDeriver(inventory.DeriverOptions{
		Settings: InventorySettings(cfg),
		Policy: func(tenant string) inventory.Policy {
			reserve, release := cfg.InventoryPolicy(tenant)
			return inventory.Policy{ReserveOn: event.Type(reserve), ReleaseOn: event.Type(release)}
		},
		Endpoints:  routes.Endpoints,
		Logger:     log.With("component", "inventory"),
		Registerer: reg,
	})
}

// InventoryHandler serves GET /api/v1/stock and the catalog upload and
// export under /api/v1/catalog (inventory.Patterns), for the admin surface
// to mount behind its authentication.
func (s *Service) InventoryHandler() http.Handler {
	return inventory.NewHandler(s.inventory, s.log.With("component", "inventory"))
}
