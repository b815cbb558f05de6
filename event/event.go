// Package event defines the versioned JSON events that qoo10hook posts to webhooks.
package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the version of the event envelope and of every data shape below.
// Fields are only ever added to version 1; a rename or a change of meaning
// makes version 2.
const Version = 1

// Type names what happened. The values are part of the public contract.
type Type string

// Order event types, one per Qoo10 notification category.
const (
	OrderPlaced          Type = "order.placed"           // 注文情報: every order, before payment
	OrderPaid            Type = "order.paid"             // 配送要請: payment confirmed, ship it
	OrderCompleted       Type = "order.completed"        // 取引完了
	OrderCancelRequested Type = "order.cancel_requested" // キャンセル要求
	OrderCancelled       Type = "order.cancelled"        // キャンセル完了
	MailUnrecognized     Type = "mail.unrecognized"      // stored and reported, never dropped
)

// Inventory event types, derived from order events.
const (
	InventoryAdjusted Type = "inventory.adjusted"
	InventoryLowStock Type = "inventory.low_stock"
)

// OrderUpdated carries a cart's whole merged order record after each
// change to it (package order). It goes only to endpoints that list it.
const OrderUpdated Type = "order.updated"

// OrderTypes lists the types a parsed mail can have, in lifecycle order.
var OrderTypes = []Type{OrderPlaced, OrderPaid, OrderCompleted, OrderCancelRequested, OrderCancelled}

// AllTypes lists every event type qoo10hook emits.
var AllTypes = []Type{OrderPlaced, OrderPaid, OrderCompleted, OrderCancelRequested, OrderCancelled,
	MailUnrecognized, InventoryAdjusted, InventoryLowStock, OrderUpdated}

// OptIn reports whether t goes only to endpoints whose events filter
// names it: a type added after endpoints without a filter were set up
// must not start arriving at them unasked.
func (t Type) OptIn() bool { return t == OrderUpdated }

// IsOrder reports whether t is one of the order types a mail can have.
func (t Type) IsOrder() bool { return slices.Contains(OrderTypes, t) }

// Valid reports whether t is a type qoo10hook emits.
func (t Type) Valid() bool {
	return slices.Contains(AllTypes, t)
}

// Event is the envelope of every webhook body.
type Event struct {
	ID        string    `json:"id"`
	Type      Type      `json:"type"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	// Tenant is the name of the route the recipient address matched.
	Tenant string `json:"tenant,omitempty"`
	// Data is *Order for order.* and mail.unrecognized events, *Adjustment
	// for inventory.adjusted, *LowStock for inventory.low_stock and
	// *order.Record for order.updated.
	Data any `json:"data"`
	// Mail describes the mail an order event was read from.
	Mail *Mail `json:"mail,omitempty"`
	// Supersedes is set on an event re-read from its stored mail with
	// corrected data: the id of the event, delivered before, it replaces.
	Supersedes string `json:"supersedes,omitempty"`
}

// Order is the data of an order event, mirroring Qoo10's own field names.
// Identifiers are strings; money is integer yen; dates are RFC 3339 in Japan
// time, or YYYY-MM-DD for date-only values. A field the mail did not carry
// is omitted.
type Order struct {
	SellerID            string `json:"seller_id,omitempty"`
	PackNo              string `json:"pack_no,omitempty"` // カート番号
	OrderDate           string `json:"order_date,omitempty"`
	PaymentDate         string `json:"payment_date,omitempty"`
	PaymentMethod       string `json:"payment_method,omitempty"`
	ShippingWay         string `json:"shipping_way,omitempty"`
	DesiredDeliveryDate string `json:"desired_delivery_date,omitempty"`
	DesiredTimeSlot     string `json:"desired_time_slot,omitempty"`
	ShippingMessage     string `json:"shipping_message,omitempty"`
	ShippingRate        *int64 `json:"shipping_rate,omitempty"`
	TotalPrice          *int64 `json:"total_price,omitempty"`  // 合計金額 of the cart
	SettlePrice         *int64 `json:"settle_price,omitempty"` // 購入者決済金額
	Currency            string `json:"currency,omitempty"`
	// Claim and completion details of order.cancel_requested,
	// order.cancelled and order.completed mails.
	CancelReason      string `json:"cancel_reason,omitempty"`
	CancelRequestedAt string `json:"cancel_requested_at,omitempty"`
	CancelledAt       string `json:"cancelled_at,omitempty"`
	CompletedAt       string `json:"completed_at,omitempty"`

	Buyer    *Person `json:"buyer,omitempty"`
	Receiver *Person `json:"receiver,omitempty"`
	Items    []Item  `json:"items"`
	// Fields holds every label/value pair read from the mail, verbatim and
	// in mail order, including those that map to no field above.
	Fields []Field `json:"fields"`
}

// OrderPayload is what is read back of an order event's stored body: when
// it was created, its order and the mail it was read from.
type OrderPayload struct {
	CreatedAt time.Time `json:"created_at"`
	Data      Order     `json:"data"`
	Mail      *Mail     `json:"mail"`
}

// Payload returns what decoding the order event's JSON (Marshal) gives,
// without encoding and decoding it: the mail's goroutines build the event
// and read it back at once. It returns false when that is not certain: for
// another kind of data, or text that is not valid UTF-8, which encoding
// replaces. The result shares the event's slices and is not to be modified.
func (ev *Event) Payload() (*OrderPayload, bool) {
	o, ok := ev.Data.(*Order)
	if !ok || o == nil || !o.validUTF8() || (ev.Mail != nil && !ev.Mail.validUTF8()) {
		return nil, false
	}
	// Decoding gives times without a monotonic clock reading.
	p := &OrderPayload{CreatedAt: ev.CreatedAt.Round(0), Data: *o}
	if ev.Mail != nil {
		m := *ev.Mail
		m.ReceivedAt = m.ReceivedAt.Round(0)
		if m.Date != nil {
			d := m.Date.Round(0)
			m.Date = &d
		}
		p.Mail = &m
	}
	return p, true
}

func (o *Order) validUTF8() bool {
	if !allValid(o.SellerID, o.PackNo, o.OrderDate, o.PaymentDate, o.PaymentMethod, o.ShippingWay,
		o.DesiredDeliveryDate, o.DesiredTimeSlot, o.ShippingMessage, o.Currency,
		o.CancelReason, o.CancelRequestedAt, o.CancelledAt, o.CompletedAt) ||
		!o.Buyer.validUTF8() || !o.Receiver.validUTF8() {
		return false
	}
	for i := range o.Items {
		it := &o.Items[i]
		if !allValid(it.OrderNo, it.ItemNo, it.Title, it.SellerItemCode, it.Option, it.OptionCode) {
			return false
		}
	}
	for _, f := range o.Fields {
		if !allValid(f.Section, f.Label, f.Value) {
			return false
		}
	}
	return true
}

func (p *Person) validUTF8() bool {
	return p == nil || allValid(p.Name, p.Kana, p.Tel, p.Mobile, p.Email, p.Zip, p.Address)
}

func (m *Mail) validUTF8() bool {
	if !allValid(m.QueueID, m.MessageID, m.Subject, m.From, m.Template, m.Parser) || !allValid(m.To...) || !allValid(m.Problems...) {
		return false
	}
	return m.Auth == nil || allValid(m.Auth.SPF.Result, m.Auth.SPF.Domain, m.Auth.DKIM.Result, m.Auth.DKIM.Domain,
		m.Auth.DMARC.Result, m.Auth.DMARC.Domain, m.Auth.Policy, m.Auth.Via)
}

func allValid(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// Person is a buyer (注文者) or a receiver (お届け先).
type Person struct {
	Name    string `json:"name,omitempty"`
	Kana    string `json:"kana,omitempty"`
	Tel     string `json:"tel,omitempty"`
	Mobile  string `json:"mobile,omitempty"`
	Email   string `json:"email,omitempty"`
	Zip     string `json:"zip,omitempty"`
	Address string `json:"address,omitempty"`
}

// IsZero reports whether p carries no value.
func (p *Person) IsZero() bool { return p == nil || *p == Person{} }

// Item is one order line (注文番号) of a cart.
type Item struct {
	OrderNo        string `json:"order_no,omitempty"`
	ItemNo         string `json:"item_no,omitempty"`
	Title          string `json:"title,omitempty"`
	SellerItemCode string `json:"seller_item_code,omitempty"`
	Option         string `json:"option,omitempty"`
	OptionCode     string `json:"option_code,omitempty"`
	Qty            *int64 `json:"qty,omitempty"`
	Price          *int64 `json:"price,omitempty"`
	Discount       *int64 `json:"discount,omitempty"`
	Total          *int64 `json:"total,omitempty"`
}

// Field is one label/value pair as it stood in the mail.
type Field struct {
	Section string `json:"section,omitempty"`
	Label   string `json:"label"`
	Value   string `json:"value"`
}

// Mail describes the mail an event was read from.
type Mail struct {
	QueueID    string    `json:"queue_id,omitempty"`
	MessageID  string    `json:"message_id,omitempty"`
	Subject    string    `json:"subject"`
	From       string    `json:"from,omitempty"`
	To         []string  `json:"to"`
	ReceivedAt time.Time `json:"received_at"`
	// Template names the template that read the mail; empty when the
	// tolerant fallback read it or nothing could.
	Template string `json:"template,omitempty"`
	// Parser is "template", "fallback" or "none".
	Parser   string   `json:"parser,omitempty"`
	Problems []string `json:"problems,omitempty"`
	Auth     *Auth    `json:"auth,omitempty"`
	// Date is the mail's Date header (the forwarded mail's, when it was
	// forwarded by hand), when it had a readable one.
	Date *time.Time `json:"date,omitempty"`
	// Forwarded is set when the mail was forwarded by hand and the event
	// was read from the mail inside it.
	Forwarded bool `json:"forwarded,omitempty"`
}

// Auth carries the sender-authentication verdicts for the mail.
type Auth struct {
	SPF    Verdict `json:"spf"`
	DKIM   Verdict `json:"dkim"`
	DMARC  Verdict `json:"dmarc"`
	Policy string  `json:"policy,omitempty"` // the route's policy that applied
	Via    string  `json:"via,omitempty"`    // trusted forwarder whose results were used
}

// Verdict is one check's result and the domain it was made for.
type Verdict struct {
	Result string `json:"result"` // pass, fail, softfail, neutral, none, temperror, permerror
	Domain string `json:"domain,omitempty"`
}

// Adjustment is the data of an inventory.adjusted event.
type Adjustment struct {
	SellerID       string `json:"seller_id"`
	SKU            string `json:"sku"`
	ItemNo         string `json:"item_no,omitempty"`
	SellerItemCode string `json:"seller_item_code,omitempty"`
	OptionCode     string `json:"option_code,omitempty"`
	Delta          int64  `json:"delta"`
	Reason         string `json:"reason"` // "reserve", "release", or "correct" (a re-read mail changed the order line)
	OrderNo        string `json:"order_no"`
	PackNo         string `json:"pack_no,omitempty"`
	SourceEventID  string `json:"source_event_id"`
	StockAfter     *int64 `json:"stock_after,omitempty"`
}

// LowStock is the data of an inventory.low_stock event.
type LowStock struct {
	SellerID      string `json:"seller_id"`
	SKU           string `json:"sku"`
	Stock         int64  `json:"stock"`
	Threshold     int64  `json:"threshold"`
	SourceEventID string `json:"source_event_id,omitempty"`
}

// IDEncoding writes the ids of events and of mails: lower-case base32
// without the letters that read as digits (i, l, o, u).
var IDEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// ID derives a stable event id from the parts that identify an event, so
// that the same order event read from two mails, or replayed, keeps one id.
func ID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "evt_" + IDEncoding.EncodeToString(h.Sum(nil)[:16])
}

// Key returns the parts that identify the order event of type t with data o:
// (type, seller_id, pack_no, order numbers). It is empty when the mail
// carried no order number, and such events are keyed by their mail instead.
func Key(t Type, o *Order) []string {
	if o == nil {
		return nil
	}
	var nos []string
	for _, it := range o.Items {
		if it.OrderNo != "" {
			nos = append(nos, it.OrderNo)
		}
	}
	if len(nos) == 0 {
		return nil
	}
	slices.Sort(nos)
	return []string{string(t), o.SellerID, o.PackNo, strings.Join(nos, ",")}
}

// Marshal encodes an event as the webhook body: compact JSON, without
// HTML escaping, so Japanese text and <> stay as written.
func Marshal(ev *Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// JST is Japan time, in which every time in an event is written.
var JST = time.FixedZone("JST", 9*60*60)

// Int returns a pointer to v, for the optional integer fields.
func Int(v int64) *int64 { return &v }
