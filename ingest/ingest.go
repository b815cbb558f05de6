// Package ingest turns an accepted SMTP transaction into a stored mail, its events and their deliveries.
package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/parse"
	"github.com/qoo10hook/qoo10hook/route"
	"github.com/qoo10hook/qoo10hook/smtpd"
	"github.com/qoo10hook/qoo10hook/store"
)

// Parser reads mails: a *parse.Parser, or one that an operator's
// templates rebuild at run time.
type Parser interface {
	Parse(raw []byte) *parse.Result
}

// Pipeline parses, routes and stores mail. It is the SMTP server's sink:
// a smtpd.Sink and a smtpd.Busier.
type Pipeline struct {
	Parser  Parser
	Routes  *route.Table
	Store   *store.Store
	Log     *slog.Logger
	Metrics *Metrics
}

// Outcome is what became of a mail.
type Outcome struct {
	QueueID   string
	EventType event.Type
	Receipt   store.Receipt
}

// Busy tells whether the store would turn a mail away now: the SMTP
// session then refuses DATA before reading the message.
func (p *Pipeline) Busy() bool { return p.Store.Busy() }

// Deliver is Ingest as the SMTP server's sink sees it: nil once the mail
// is durable.
func (p *Pipeline) Deliver(ctx context.Context, env *smtpd.Envelope, raw []byte) error {
	_, err := p.Ingest(ctx, env, raw)
	return err
}

// Ingest parses raw, builds one event per route its recipients belong to,
// and stores everything in one transaction. It returns once the mail is
// durable; any error means it is not stored. The error wraps
// smtpd.ErrTooComplex for a MIME structure beyond the parser's limits, and
// smtpd.ErrBusy when the store cannot take more mail now.
func (p *Pipeline) Ingest(ctx context.Context, env *smtpd.Envelope, raw []byte) (Outcome, error) {
	start := time.Now()
	res := p.Parser.Parse(raw)
	p.Metrics.parsed(res, time.Since(start))
	if errors.Is(res.Err, parse.ErrTooComplex) {
		// Beyond the MIME limits is abusive, not malformed: refused, not stored.
		return Outcome{}, fmt.Errorf("%w: ingest: %w", smtpd.ErrTooComplex, res.Err)
	}

	queueID := NewQueueID(env.ReceivedAt)
	in := &store.Ingest{Hold: env.Hold}
	m := &in.Mail
	*m = store.Mail{
		QueueID: queueID, ReceivedAt: env.ReceivedAt, RemoteAddr: env.RemoteAddr, Helo: env.Helo,
		MailFrom: env.MailFrom, Rcpts: env.Rcpts, MessageID: res.MessageID, Subject: res.Subject,
		DedupKey: DedupKey(res, raw, env.Rcpts), Raw: raw, EventType: string(res.Type),
		Template: res.Template, Parser: res.Parser, Problems: Problems(res),
		SellerID: res.Order.SellerID, PackNo: res.Order.PackNo, Status: MailStatus(res),
	}
	if env.Hold {
		m.Status = store.MailQuarantined
	}

	events, tenant, err := p.routeEvents(res, Meta{QueueID: queueID, ReceivedAt: env.ReceivedAt, Auth: env.Auth,
		DedupKey: m.DedupKey}, env.Rcpts)
	if err != nil {
		return Outcome{}, err
	}
	in.Events, m.Tenant = events, tenant

	rc, err := p.Store.Ingest(ctx, in)
	if errors.Is(err, store.ErrBusy) {
		err = fmt.Errorf("%w: %w", smtpd.ErrBusy, err)
	}
	if err != nil {
		return Outcome{QueueID: queueID}, err
	}
	out := Outcome{QueueID: queueID, EventType: res.Type, Receipt: rc}
	p.Metrics.stored(res.Type, rc)
	if !rc.DuplicateMail {
		p.Metrics.Status(res, "ingest")
	}
	p.logMail(env, res, m, out)
	return out, nil
}

// routeEvents builds one event per route the recipients belong to, with
// the deliveries to the route's endpoints that take its type, and
// returns them with the first route's tenant. meta's Tenant and To are
// set per route.
func (p *Pipeline) routeEvents(res *parse.Result, meta Meta, rcpts []string) ([]store.Event, string, error) {
	var events []store.Event
	tenant := ""
	for _, r := range p.Routes.Groups(rcpts) {
		meta.Tenant, meta.To = r.Route.Tenant, r.Rcpts
		ev := BuildEvent(res, meta)
		se, err := storeEvent(ev, res)
		if err != nil {
			return nil, "", err
		}
		for _, name := range p.Routes.Endpoints(r.Route.Tenant, ev.Type) {
			se.Deliveries = append(se.Deliveries, store.NewDelivery{Endpoint: name, OrderKey: OrderKey(&res.Order)})
		}
		if tenant == "" {
			tenant = r.Route.Tenant
		}
		events = append(events, se)
	}
	return events, tenant, nil
}

// storeEvent encodes ev, read as res, for the store.
func storeEvent(ev *event.Event, res *parse.Result) (store.Event, error) {
	payload, err := event.Marshal(ev)
	if err != nil {
		return store.Event{}, fmt.Errorf("ingest: encode event: %w", err)
	}
	se := store.Event{ID: ev.ID, Type: string(ev.Type), Tenant: ev.Tenant, SellerID: res.Order.SellerID,
		PackNo: res.Order.PackNo, OrderNos: orderNos(&res.Order), CreatedAt: ev.CreatedAt, Payload: payload}
	if ev.Type.IsOrder() {
		if p, ok := ev.Payload(); ok {
			se.SetOrderPayload(p) // the derivers read it without decoding the payload again
		}
	}
	return se, nil
}

// MailStatus is the status a mail read as res is stored with, before
// quarantine and duplicates: parsed, partial or unrecognized.
func MailStatus(res *parse.Result) string {
	switch {
	case res.Type == event.MailUnrecognized:
		return store.MailUnrecognized
	case res.Partial():
		return store.MailPartial
	}
	return store.MailParsed
}

// logMail writes the one info line per mail operators read. It names no
// buyer data.
func (p *Pipeline) logMail(env *smtpd.Envelope, res *parse.Result, m *store.Mail, out Outcome) {
	outcome := "accepted"
	switch {
	case out.Receipt.DuplicateMail:
		outcome = "duplicate_mail"
	case len(out.Receipt.NewEvents) == 0 && len(out.Receipt.DuplicateEvents) > 0:
		outcome = "duplicate_event"
	case env.Hold:
		outcome = "quarantined"
	}
	p.Log.Info("mail", "queue_id", out.QueueID, "msg_id", res.MessageID, "event_type", string(res.Type),
		"tenant", m.Tenant, "template", res.Template, "parser", res.Parser,
		"deliveries", out.Receipt.Deliveries, "outcome", outcome, "size", len(m.Raw))
}

// Meta is what the service knows of a mail beyond its text.
type Meta struct {
	Tenant     string
	QueueID    string
	ReceivedAt time.Time
	// To is the envelope recipients; empty uses the header To.
	To       []string
	Auth     *event.Auth
	DedupKey string
}

// BuildEvent wraps a parse result into the event v1 envelope. The id is
// derived from (tenant, type, seller_id, pack_no, order numbers), so the
// same order event read from two mails keeps one id; a mail without an
// order number is keyed by the mail itself.
func BuildEvent(res *parse.Result, meta Meta) *event.Event {
	var id string
	if key := event.Key(res.Type, &res.Order); key != nil {
		id = event.ID(append([]string{meta.Tenant}, key...)...)
	} else {
		id = event.ID(meta.Tenant, "mail", meta.DedupKey)
	}
	order := res.Order
	if order.Items == nil {
		order.Items = []event.Item{}
	}
	if order.Fields == nil {
		order.Fields = []event.Field{}
	}
	m := res.MailInfo()
	at := meta.ReceivedAt.Truncate(time.Millisecond).In(event.JST)
	m.QueueID, m.ReceivedAt, m.Problems, m.Auth = meta.QueueID, at, Problems(res), meta.Auth
	if len(meta.To) > 0 {
		m.To = meta.To
	}
	if m.Date != nil {
		d := m.Date.In(event.JST)
		m.Date = &d
	}
	return &event.Event{
		ID: id, Type: res.Type, Version: event.Version, CreatedAt: at, Tenant: meta.Tenant,
		Data: &order, Mail: m,
	}
}

// Problems lists a result's problems, its fatal error first.
func Problems(res *parse.Result) []string {
	if res.Err == nil {
		return res.Problems
	}
	return append([]string{res.Err.Error()}, res.Problems...)
}

// OrderKey groups a cart's events for ordered delivery.
func OrderKey(o *event.Order) string {
	if o.PackNo == "" && o.SellerID == "" {
		return ""
	}
	return o.SellerID + "|" + o.PackNo
}

func orderNos(o *event.Order) []string {
	var nos []string
	for _, it := range o.Items {
		if it.OrderNo != "" && !slices.Contains(nos, it.OrderNo) {
			nos = append(nos, it.OrderNo)
		}
	}
	return nos
}

// DedupKey identifies a mail across re-sends to the same recipients: its
// Message-ID, or where it has none a digest of Date, From, Subject and body.
func DedupKey(res *parse.Result, raw []byte, rcpts []string) string {
	h := sha256.New()
	rc := slices.Clone(rcpts)
	for i := range rc {
		rc[i] = strings.ToLower(rc[i])
	}
	slices.Sort(rc)
	h.Write([]byte(strings.Join(rc, ",")))
	h.Write([]byte{0})
	if res.MessageID != "" {
		h.Write([]byte("mid:" + res.MessageID))
	} else {
		h.Write([]byte("sum:" + res.Date.UTC().Format(time.RFC3339) + "\x00" + res.From + "\x00" + res.Subject + "\x00"))
		h.Write(body(raw))
	}
	return hex.EncodeToString(h.Sum(nil)[:20])
}

func body(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[i+4:]
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		return raw[i+2:]
	}
	return nil
}

// NewQueueID returns a time-ordered id for a mail, as operators see it in
// logs and the admin API.
func NewQueueID(t time.Time) string {
	var b [10]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	rand.Read(b[6:])
	return event.IDEncoding.EncodeToString(b[:])
}
