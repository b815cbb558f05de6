package inventory

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reasons an order line adjusts nothing, as the skipped-lines metric
// labels them.
const (
	skipNoOrderNo = "no_order_no" // the line has no 注文番号 to key its adjustment
	skipNoQty     = "no_qty"      // the line has no positive quantity
	skipNoSKU     = "no_sku"      // none of the sku_order codes is set
	skipCancelled = "cancelled"   // the line was cancelled before it was reserved
)

// metrics count what derivations committed: a group commit that fails
// and is retried mail by mail derives again, and counts once.
type metrics struct {
	adjustments *prometheus.CounterVec
	unknownSKU  prometheus.Counter
	unreserved  prometheus.Counter
	lowStock    prometheus.Counter
	skipped     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		adjustments: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_inventory_adjustments_total",
			Help: "Stock adjustments derived from order events, by reason (reserve, release).",
		}, []string{"reason"}),
		unknownSKU: f.NewCounter(prometheus.CounterOpts{
			Name: "qoo10hook_inventory_unknown_sku_total",
			Help: "Adjustments whose SKU is not in the seller's imported catalog: sent without stock_after.",
		}),
		unreserved: f.NewCounter(prometheus.CounterOpts{
			Name: "qoo10hook_inventory_unreserved_cancels_total",
			Help: "Cancelled order lines that were never reserved: nothing was released.",
		}),
		lowStock: f.NewCounter(prometheus.CounterOpts{
			Name: "qoo10hook_inventory_low_stock_events_total",
			Help: "inventory.low_stock events: a SKU's stock dropped below the threshold.",
		}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "qoo10hook_inventory_skipped_lines_total",
			Help: "Order lines that adjusted nothing, by reason (no_order_no, no_qty, no_sku, cancelled).",
		}, []string{"reason"}),
	}
	for _, r := range []string{Reserve, Release, Correct} {
		m.adjustments.WithLabelValues(r)
	}
	for _, r := range []string{skipNoOrderNo, skipNoQty, skipNoSKU, skipCancelled} {
		m.skipped.WithLabelValues(r)
	}
	return m
}
