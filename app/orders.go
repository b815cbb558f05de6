package app

import (
	"log/slog"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/orderbook"
	"github.com/qoo10hook/qoo10hook/route"
)

// tenantEndpoints returns, for a derived event, the endpoints its tenant's
// events of its type go to: the route's endpoints whose filter takes it.
func tenantEndpoints(routes *route.Table, eps endpointSet) func(string, event.Type) []string {
	return func(tenant string, t event.Type) []string {
		var out []string
		for _, name := range routes.TenantEndpoints(tenant) {
			if eps.Wants(name, string(t)) {
				out = append(out, name)
			}
		}
		return out
	}
}

// newOrderDeriver builds the deriver that keeps each cart's order record
// and sends order.updated to the endpoints that list it.
func newOrderDeriver(log *slog.Logger, routes *route.Table, eps endpointSet) *orderbook.Deriver {
	return orderbook.NewDeriver(orderbook.DeriverOptions{
		Endpoints: tenantEndpoints(routes, eps),
		Logger:    log.With("component", "orders"),
	})
}
