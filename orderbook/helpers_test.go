package orderbook

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/ingest"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/order"
	"github.com/qoo10hook/qoo10hook/store"
)

// env is a store whose deriver keeps order records and sends
// order.updated to the endpoint "sub".
type env struct {
	t    *testing.T
	st   *store.Store
	d    *Deriver
	book *Book
	n    int
}

func newEnv(t *testing.T, url string) *env { return newEnvWith(t, url, store.Options{}) }

// newEnvWith is newEnv with the store's options o.
func newEnvWith(t *testing.T, url string, o store.Options) *env {
	t.Helper()
	e := newUnstartedEnv(t, url, o)
	if err := e.st.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e
}

// newUnstartedEnv is newEnvWith with the store not started yet: mails
// given to it wait for its committer (see ingestOneBatch).
func newUnstartedEnv(t *testing.T, url string, o store.Options) *env {
	t.Helper()
	su, err := store.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDeriver(DeriverOptions{Endpoints: func(string, event.Type) []string { return []string{"sub"} },
		Postgres: su.Kind == store.Postgres})
	o.URL, o.Derive = su, d.Derive
	st, err := store.Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{t: t, st: st, d: d, book: NewBook(st, su.Kind == store.Postgres)}
}

// ingestOneBatch stores ins in one transaction, on a store from
// newUnstartedEnv whose BatchMax is at least len(ins): the mails wait,
// queued, until every one is, and the committer started then takes them
// together.
func (e *env) ingestOneBatch(ins []*store.Ingest) {
	e.t.Helper()
	pending := make([]*store.Pending, len(ins))
	for i, in := range ins {
		var err error
		if pending[i], err = e.st.Submit(e.t.Context(), in); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.st.Start(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	for _, p := range pending {
		if _, err := p.Wait(); err != nil {
			e.t.Fatal(err)
		}
	}
}

// forStores runs f on a fresh env per store.
func forStores(t *testing.T, f func(t *testing.T, e *env)) {
	for _, s := range testenv.Stores(t) {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			f(t, newEnv(t, s.URL))
		})
	}
}

// mailOf is one mail: an order event of a cart, dated.
type mailOf struct {
	typ   event.Type
	date  time.Time
	order *event.Order
}

// ingest builds a store.Ingest for the mail as ingest.Deliver would, for
// tenant, and a mail identity dedup (the same dedup is the same mail).
func (e *env) ingest(tenant, dedup string, m mailOf, hold bool) store.Receipt {
	e.t.Helper()
	rc, err := e.st.Ingest(e.t.Context(), e.mail(tenant, dedup, m, hold))
	if err != nil {
		e.t.Fatal(err)
	}
	return rc
}

// mail is the store.Ingest that ingest stores.
func (e *env) mail(tenant, dedup string, m mailOf, hold bool) *store.Ingest {
	e.t.Helper()
	e.n++
	o := *m.order
	if o.Fields == nil {
		o.Fields = []event.Field{}
	}
	id := event.ID(append([]string{tenant}, event.Key(m.typ, &o)...)...)
	received := m.date.Add(time.Minute)
	date := m.date
	ev := &event.Event{ID: id, Type: m.typ, Version: event.Version, CreatedAt: received, Tenant: tenant, Data: &o,
		Mail: &event.Mail{Subject: "s", To: []string{"orders@in.example.test"}, ReceivedAt: received, Date: &date}}
	payload, err := event.Marshal(ev)
	if err != nil {
		e.t.Fatal(err)
	}
	var nos []string
	for _, it := range o.Items {
		nos = append(nos, it.OrderNo)
	}
	status := store.MailParsed
	if hold {
		status = store.MailQuarantined
	}
	in := &store.Ingest{Hold: hold,
		Mail: store.Mail{QueueID: fmt.Sprintf("q%d", e.n), ReceivedAt: received, Rcpts: []string{"orders@in.example.test"},
			Tenant: tenant, DedupKey: dedup, Raw: []byte("Subject: s\r\n\r\nbody\r\n"), Status: status, SellerID: o.SellerID,
			PackNo: o.PackNo, EventType: string(m.typ)},
		Events: []store.Event{{ID: id, Type: string(m.typ), Tenant: tenant, SellerID: o.SellerID, PackNo: o.PackNo,
			OrderNos: nos, CreatedAt: received, Payload: payload,
			Deliveries: []store.NewDelivery{{Endpoint: "sub", OrderKey: ingest.OrderKey(&o)}}}},
	}
	return in
}

// record reads a cart's record from the store.
func (e *env) record(tenant, seller, pack string) *order.Record {
	e.t.Helper()
	o, err := e.book.Get(e.t.Context(), Key{Tenant: tenant, SellerID: seller, PackNo: pack})
	if err != nil {
		e.t.Fatalf("record %s/%s/%s: %v", tenant, seller, pack, err)
	}
	return o.Record
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.st.View(e.t.Context(), func(tx *sql.Tx) error {
		return tx.QueryRowContext(e.t.Context(), q, args...).Scan(&n)
	}); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// updates returns the order.updated events of a cart's tenant, by revision.
func (e *env) updates(tenant string) []*order.Record {
	e.t.Helper()
	var out []*order.Record
	if err := e.st.View(e.t.Context(), func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(e.t.Context(), `SELECT payload FROM event WHERE type = $1 AND tenant = $2`,
			string(event.OrderUpdated), tenant)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p []byte
			if err := rows.Scan(&p); err != nil {
				return err
			}
			var ev struct {
				Data order.Record `json:"data"`
			}
			if err := json.Unmarshal(p, &ev); err != nil {
				return err
			}
			out = append(out, &ev.Data)
		}
		return rows.Err()
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// lines returns a tenant's stored order lines, "line_key=state" sorted,
// and what its record of the cart says they are.
func (e *env) lines(tenant, seller, pack string) (stored, want string) {
	e.t.Helper()
	var got []string
	if err := e.st.View(e.t.Context(), func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(e.t.Context(), `SELECT l.line_key, l.state FROM order_line l
			JOIN order_record r ON r.id = l.order_id WHERE r.tenant = $1 ORDER BY l.line_key`, tenant)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key, state string
			if err := rows.Scan(&key, &state); err != nil {
				return err
			}
			got = append(got, key+"="+state)
		}
		return rows.Err()
	}); err != nil {
		e.t.Fatal(err)
	}
	var from []string
	for _, it := range e.record(tenant, seller, pack).Items {
		from = append(from, order.LineKey(&it.Item)+"="+string(it.State))
	}
	slices.Sort(from)
	return strings.Join(got, " "), strings.Join(from, " ")
}

// placedEvent reads the order.placed event stored for tenant.
func (e *env) placedEvent(tenant string) store.Event {
	e.t.Helper()
	var ev store.Event
	err := e.st.View(e.t.Context(), func(tx *sql.Tx) error {
		return tx.QueryRowContext(e.t.Context(), `SELECT id, type, tenant, seller_id, pack_no, payload FROM event
			WHERE tenant = $1 AND type = 'order.placed'`, tenant).Scan(&ev.ID, &ev.Type, &ev.Tenant, &ev.SellerID, &ev.PackNo, &ev.Payload)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}
