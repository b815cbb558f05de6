package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/order"
	"github.com/qoo10hook/qoo10hook/orderbook"
)

// Orders is the order book as the admin surface reads it; *orderbook.Book
// has it.
type Orders interface {
	List(ctx context.Context, f orderbook.Filter) ([]*orderbook.Order, error)
	Get(ctx context.Context, k orderbook.Key) (*orderbook.Order, error)
	Timeline(ctx context.Context, o *orderbook.Order) ([]orderbook.Entry, error)
	Export(ctx context.Context, w io.Writer, f orderbook.Filter, enc string) (int, error)
}

func (h *Handler) routesOrders() {
	h.mux.HandleFunc("GET /api/v1/orders", h.apiOrders)
	h.mux.HandleFunc("GET /api/v1/orders/export", h.apiOrdersExport)
	h.mux.HandleFunc("GET /api/v1/orders/{seller_id}/{pack_no}", h.apiOrder)
	h.mux.HandleFunc("GET /admin/orders", h.pageOrders)
	h.mux.HandleFunc("GET /admin/orders/export", h.apiOrdersExport)
	h.mux.HandleFunc("GET /admin/orders/{seller_id}/{pack_no}", h.pageOrder)
}

// orderFilter reads the list's filter: seller_id, state, placed_from and
// placed_to (a date, both days included, or an RFC 3339 time), q (a cart
// or order number or an item code), tenant, and the paging of the
// messages list (before, limit).
func orderFilter(q url.Values) (orderbook.Filter, error) {
	f := orderbook.Filter{Tenant: q.Get("tenant"), SellerID: strings.TrimSpace(q.Get("seller_id")),
		State: order.State(q.Get("state")), Search: q.Get("q")}
	var err error
	if f.PlacedFrom, err = timeParam(q, "placed_from", false); err != nil {
		return f, err
	}
	if f.PlacedTo, err = timeParam(q, "placed_to", true); err != nil {
		return f, err
	}
	if f.BeforeID, err = intParam(q, "before", 0, 0, 1<<62); err != nil {
		return f, err
	}
	limit, err := intParam(q, "limit", 50, 1, 1000)
	f.Limit = int(limit)
	if err == nil {
		err = f.Check()
	}
	return f, ordersErr(err)
}

// timeParam reads a bound of the placing date (orderbook.ParseTime).
func timeParam(q url.Values, name string, end bool) (time.Time, error) {
	t, err := orderbook.ParseTime(q.Get(name), end)
	if err != nil {
		return t, badRequest{fmt.Errorf("%s: %w", name, err)}
	}
	return t, nil
}

// ordersErr makes the book's refusals bad requests.
func ordersErr(err error) error {
	if errors.Is(err, orderbook.ErrInvalid) {
		return badRequest{err}
	}
	return err
}

type ordersPage struct {
	Orders     []*orderbook.Order `json:"orders"`
	NextBefore int64              `json:"next_before,omitempty"`
}

func (h *Handler) listOrders(r *http.Request) (orderbook.Filter, *ordersPage, error) {
	f, err := orderFilter(r.URL.Query())
	if err != nil {
		return f, nil, err
	}
	os, err := h.orders.List(r.Context(), f)
	if err != nil {
		return f, nil, ordersErr(err)
	}
	if os == nil {
		os = []*orderbook.Order{}
	}
	return f, &ordersPage{Orders: os, NextBefore: nextBefore(os, f.Limit, func(o *orderbook.Order) int64 { return o.ID })}, nil
}

func (h *Handler) apiOrders(w http.ResponseWriter, r *http.Request) {
	_, page, err := h.listOrders(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// orderDetail is an order with its timeline.
type orderDetail struct {
	*orderbook.Order
	Timeline []orderbook.Entry `json:"timeline"`
}

func (h *Handler) orderDetail(r *http.Request) (*orderDetail, error) {
	o, err := h.orders.Get(r.Context(), orderbook.Key{Tenant: r.URL.Query().Get("tenant"),
		SellerID: r.PathValue("seller_id"), PackNo: r.PathValue("pack_no")})
	if err != nil {
		return nil, err
	}
	tl, err := h.orders.Timeline(r.Context(), o)
	if err != nil {
		return nil, err
	}
	if tl == nil {
		tl = []orderbook.Entry{}
	}
	return &orderDetail{Order: o, Timeline: tl}, nil
}

func (h *Handler) apiOrder(w http.ResponseWriter, r *http.Request) {
	d, err := h.orderDetail(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// apiOrdersExport answers the CSV export of the orders the filter selects
// (every page): format=csv, encoding=utf-8 (with a BOM) or cp932.
func (h *Handler) apiOrdersExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if f := q.Get("format"); f != "" && f != "csv" {
		h.fail(w, r, badRequest{fmt.Errorf("format=%q: the export is csv", f)})
		return
	}
	f, err := orderFilter(q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	enc := strings.ToLower(q.Get("encoding"))
	if enc == "" {
		enc = orderbook.UTF8
	}
	var buf bytes.Buffer
	if _, err := h.orders.Export(r.Context(), &buf, f, enc); err != nil {
		h.fail(w, r, ordersErr(err))
		return
	}
	charset := "utf-8"
	if enc == orderbook.CP932 {
		charset = "Shift_JIS"
	}
	name := "orders-" + time.Now().In(event.JST).Format("20060102-150405") + ".csv"
	w.Header().Set("Content-Type", "text/csv; charset="+charset)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}

type ordersData struct {
	Orders []*orderbook.Order
	States []order.State
	Older  string
	// ExportUTF8 and ExportCP932 export the orders of the same filter.
	ExportUTF8, ExportCP932 string
}

func (h *Handler) pageOrders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	_, list, err := h.listOrders(r)
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	exp := url.Values{}
	for _, k := range []string{"tenant", "seller_id", "state", "placed_from", "placed_to", "q"} {
		if v := q.Get(k); v != "" {
			exp.Set(k, v)
		}
	}
	exp.Set("format", "csv")
	exp.Set("encoding", orderbook.UTF8)
	utf8 := "/admin/orders/export?" + exp.Encode()
	exp.Set("encoding", orderbook.CP932)
	data := ordersData{Orders: list.Orders, States: order.States, ExportUTF8: utf8, ExportCP932: "/admin/orders/export?" + exp.Encode(),
		Older: olderLink("/admin/orders", q, list.NextBefore)}
	h.render(w, r, http.StatusOK, "orders", page{Title: "Orders", Nav: "orders", Data: data, Filter: q})
}

func (h *Handler) pageOrder(w http.ResponseWriter, r *http.Request) {
	d, err := h.orderDetail(r)
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "order", page{Title: "Order " + d.PackNo, Nav: "orders", Data: d})
}

func init() {
	// yen writes an amount as the console shows money: ¥1,980.
	funcs["yen"] = func(n int64) string {
		s := strconv.FormatInt(max(n, -n), 10)
		for i := len(s) - 3; i > 0; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		if n < 0 {
			s = "-" + s
		}
		return "¥" + s
	}
}
