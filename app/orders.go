package app

import (
	"log/slog"

	"github.com/qoo10hook/qoo10hook/orderbook"
	"github.com/qoo10hook/qoo10hook/route"
	"github.com/qoo10hook/qoo10hook/store"
)

// newOrderDeriver builds the deriver that keeps each cart's order record
// and sends order.updated to the endpoints that list it.
func newOrderDeriver(log *slog.Logger, routes *route.Table, kind store.Kind) *orderbook.Deriver {
	return orderbook.NewDeriver(orderbook.DeriverOptions{
		Endpoints: routes.Endpoints,
		Logger:    log.With("component", "orders"),
		Postgres:  kind == store.Postgres,
	})
}
