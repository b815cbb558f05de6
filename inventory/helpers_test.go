package inventory

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

// env is a store with the deriver and the catalog service over it.
type env struct {
	t    *testing.T
	st   *store.Store
	d    *Deriver
	svc  *Service
	reg  *prometheus.Registry
	logs *testenv.LogBuffer
	n    int
}

// newEnv opens a store on url whose deriver sends every inventory event
// to the endpoint "stock".
func newEnv(t *testing.T, url string, o DeriverOptions) *env {
	t.Helper()
	e := &env{t: t, reg: prometheus.NewRegistry(), logs: &testenv.LogBuffer{}}
	o.Registerer = e.reg
	o.Logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.Endpoints == nil {
		o.Endpoints = func(string, event.Type) []string { return []string{"stock"} }
	}
	d, err := NewDeriver(o)
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	su, err := store.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), store.Options{URL: su, Derive: d.Derive})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	if e.svc, err = NewService(st, o.Settings); err != nil {
		t.Fatal(err)
	}
	return e
}

// forStores runs f on a fresh env per store.
func forStores(t *testing.T, o DeriverOptions, f func(t *testing.T, e *env)) {
	for _, s := range testenv.Stores(t) {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			f(t, newEnv(t, s.URL, o))
		})
	}
}

type line struct {
	orderNo, itemNo, sellerCode, optionCode string
	qty                                     int64
}

func order(seller, pack string, lines ...line) *event.Order {
	o := &event.Order{SellerID: seller, PackNo: pack, Fields: []event.Field{},
		Buyer: &event.Person{Name: "佐藤 花子", Email: "hanako@example.jp", Tel: "03-1234-5678"}}
	for _, l := range lines {
		it := event.Item{OrderNo: l.orderNo, ItemNo: l.itemNo, SellerItemCode: l.sellerCode, OptionCode: l.optionCode}
		if l.qty != 0 {
			it.Qty = event.Int(l.qty)
		}
		o.Items = append(o.Items, it)
	}
	return o
}

// mail is one mail carrying one order event for tenant, keyed like
// ingest.BuildEvent keys it. dedup names the mail: the same dedup is the
// same mail sent again.
func (e *env) mail(dedup, tenant string, t event.Type, o *event.Order) *store.Ingest {
	e.n++
	key := event.Key(t, o)
	id := event.ID(append([]string{tenant}, key...)...)
	at := time.Date(2026, 11, 20, 21, 5, 0, 0, event.JST).Add(time.Duration(e.n) * time.Second)
	ev := &event.Event{ID: id, Type: t, Version: event.Version, CreatedAt: at, Tenant: tenant, Data: o,
		Mail: &event.Mail{Subject: "s", To: []string{"orders@in.example.test"}, ReceivedAt: at}}
	payload, err := event.Marshal(ev)
	if err != nil {
		e.t.Fatal(err)
	}
	var nos []string
	for _, it := range o.Items {
		nos = append(nos, it.OrderNo)
	}
	return &store.Ingest{
		Mail: store.Mail{QueueID: fmt.Sprintf("q%d", e.n), ReceivedAt: at, Rcpts: []string{"orders@in.example.test"},
			Tenant: tenant, DedupKey: dedup, Raw: []byte("Subject: s\r\n\r\nbody\r\n"), Status: store.MailParsed},
		Events: []store.Event{{ID: id, Type: string(t), Tenant: tenant, SellerID: o.SellerID, PackNo: o.PackNo,
			OrderNos: nos, CreatedAt: at, Payload: payload}},
	}
}

// send stores a new mail with the order event and returns the receipt.
func (e *env) send(tenant string, t event.Type, o *event.Order) store.Receipt {
	e.t.Helper()
	return e.ingest(e.mail(fmt.Sprintf("mail-%d", e.n+1), tenant, t, o))
}

func (e *env) ingest(in *store.Ingest) store.Receipt {
	e.t.Helper()
	rc, err := e.st.Ingest(e.t.Context(), in)
	if err != nil {
		e.t.Fatal(err)
	}
	return rc
}

// derived is an inventory event as stored.
type derived struct {
	ID        string
	Type      event.Type
	Tenant    string
	Data      json.RawMessage
	OrderKeys []string // of its deliveries
}

func (e *env) events(t event.Type) []derived {
	e.t.Helper()
	var out []derived
	e.view(func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(e.t.Context(), `SELECT payload FROM event WHERE type = $1`, string(t))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p []byte
			if err := rows.Scan(&p); err != nil {
				return err
			}
			var d derived
			if err := json.Unmarshal(p, &d); err != nil {
				return err
			}
			out = append(out, d)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range out {
			keys, err := tx.QueryContext(e.t.Context(), `SELECT order_key FROM delivery WHERE event_id = $1 ORDER BY id`, out[i].ID)
			if err != nil {
				return err
			}
			for keys.Next() {
				var k string
				keys.Scan(&k)
				out[i].OrderKeys = append(out[i].OrderKeys, k)
			}
			keys.Close()
		}
		return nil
	})
	return out
}

// adjustments returns the inventory.adjusted events' data, by order_no
// and reason.
func (e *env) adjustments() []event.Adjustment {
	e.t.Helper()
	var out []event.Adjustment
	for _, d := range e.events(event.InventoryAdjusted) {
		var a event.Adjustment
		if err := json.Unmarshal(d.Data, &a); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b event.Adjustment) int {
		return strings.Compare(a.OrderNo+"/"+a.Reason, b.OrderNo+"/"+b.Reason)
	})
	return out
}

func (e *env) lowStock() []event.LowStock {
	e.t.Helper()
	var out []event.LowStock
	for _, d := range e.events(event.InventoryLowStock) {
		var l event.LowStock
		if err := json.Unmarshal(d.Data, &l); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// stock returns a SKU's running stock, or -1 when it has none.
func (e *env) stock(seller, sku string) int64 {
	e.t.Helper()
	qty := int64(-1)
	e.view(func(tx *sql.Tx) error {
		err := tx.QueryRowContext(e.t.Context(), `SELECT qty FROM inventory_stock WHERE seller_id = $1 AND sku = $2`,
			seller, sku).Scan(&qty)
		if err == sql.ErrNoRows {
			return nil
		}
		return err
	})
	return qty
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	e.view(func(tx *sql.Tx) error { return tx.QueryRowContext(e.t.Context(), q, args...).Scan(&n) })
	return n
}

func (e *env) view(f func(tx *sql.Tx) error) {
	e.t.Helper()
	if err := e.st.View(e.t.Context(), f); err != nil {
		e.t.Fatal(err)
	}
}

// importFiles imports catalog files read from paths, as the seller.
func (e *env) importFiles(seller string, paths ...string) *ImportReport {
	e.t.Helper()
	var ups []Upload
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			e.t.Fatal(err)
		}
		ups = append(ups, Upload{Name: p[strings.LastIndex(p, "/")+1:], Body: bytes.NewReader(b)})
	}
	rep, err := e.svc.Import(e.t.Context(), seller, ups, ImportOptions{Partial: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

// importCSV imports one CSV given as text, as the seller.
func (e *env) importCSV(seller, name, text string) *ImportReport {
	e.t.Helper()
	rep, err := e.svc.Import(e.t.Context(), seller, []Upload{{Name: name, Body: strings.NewReader(text)}}, ImportOptions{Partial: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

func (e *env) export(seller, kind string) []byte {
	e.t.Helper()
	var b bytes.Buffer
	if _, err := e.svc.Export(e.t.Context(), &b, seller, kind); err != nil {
		e.t.Fatal(err)
	}
	return b.Bytes()
}

// failingDB runs a transaction to its end, then fails it: what it wrote
// must all be rolled back.
type failingDB struct{ DB }

func (f failingDB) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return f.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return fmt.Errorf("disk full")
	})
}
