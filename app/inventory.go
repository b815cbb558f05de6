package app

import (
	"log/slog"
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/inventory"
)

// inventorySettings are the inventory settings of the configuration.
func inventorySettings(cfg *config.Config) inventory.Settings {
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
func newDeriver(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer, eps endpointSet) (*inventory.Deriver, error) {
	byTenant := tenantEndpoints(cfg)
	return inventory.NewDeriver(inventory.DeriverOptions{
		Settings: inventorySettings(cfg),
		Policy: func(tenant string) inventory.Policy {
			reserve, release := cfg.InventoryPolicy(tenant)
			return inventory.Policy{ReserveOn: event.Type(reserve), ReleaseOn: event.Type(release)}
		},
		Endpoints: func(tenant string, t event.Type) []string {
			var out []string
			for _, name := range byTenant[tenant] {
				if eps.Wants(name, string(t)) {
					out = append(out, name)
				}
			}
			return out
		},
		Logger:     log.With("component", "inventory"),
		Registerer: reg,
	})
}

// tenantEndpoints lists each tenant's endpoints the way route.New routes
// its mail: the route's own endpoints, then the catch-all webhook, which
// takes the events of every route ("" is the tenant of the routes-less
// setup, whose only endpoint is the catch-all).
func tenantEndpoints(cfg *config.Config) map[string][]string {
	var catchAll []string
	if cfg.Webhook.URL != "" {
		catchAll = []string{config.DefaultEndpoint}
	}
	out := map[string][]string{}
	if len(cfg.Routes) == 0 {
		out[""] = catchAll
		return out
	}
	for _, r := range cfg.Routes {
		names := slices.Clone(r.Endpoints)
		for _, c := range catchAll {
			if !slices.Contains(names, c) {
				names = append(names, c)
			}
		}
		out[r.Tenant] = names
	}
	return out
}

// InventoryHandler serves GET /api/v1/stock and the catalog upload and
// export under /api/v1/catalog (inventory.Patterns), for the admin surface
// to mount behind its authentication.
func (s *Service) InventoryHandler() http.Handler {
	return inventory.NewHandler(s.inventory, s.log.With("component", "inventory"))
}
