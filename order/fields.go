package order

import (
	"github.com/qoo10hook/qoo10hook/event"
)

// sourced is a part of one source: its order, a line, a person.
type sourced[T any] struct {
	v   *T
	src *Source
}

// text and number name a field of T and reach it, for reading it from
// each source and setting it on the record alike.
type text[T any] struct {
	name string
	at   func(*T) *string
}

type number[T any] struct {
	name string
	at   func(*T) **int64
}

var orderText = []text[event.Order]{
	{"seller_id", func(o *event.Order) *string { return &o.SellerID }},
	{"pack_no", func(o *event.Order) *string { return &o.PackNo }},
	{"order_date", func(o *event.Order) *string { return &o.OrderDate }},
	{"payment_date", func(o *event.Order) *string { return &o.PaymentDate }},
	{"payment_method", func(o *event.Order) *string { return &o.PaymentMethod }},
	{"shipping_way", func(o *event.Order) *string { return &o.ShippingWay }},
	{"desired_delivery_date", func(o *event.Order) *string { return &o.DesiredDeliveryDate }},
	{"desired_time_slot", func(o *event.Order) *string { return &o.DesiredTimeSlot }},
	{"shipping_message", func(o *event.Order) *string { return &o.ShippingMessage }},
	{"currency", func(o *event.Order) *string { return &o.Currency }},
	{"cancel_reason", func(o *event.Order) *string { return &o.CancelReason }},
	{"cancel_requested_at", func(o *event.Order) *string { return &o.CancelRequestedAt }},
	{"cancelled_at", func(o *event.Order) *string { return &o.CancelledAt }},
	{"completed_at", func(o *event.Order) *string { return &o.CompletedAt }},
}

var orderNumbers = []number[event.Order]{
	{"shipping_rate", func(o *event.Order) **int64 { return &o.ShippingRate }},
	{"total_price", func(o *event.Order) **int64 { return &o.TotalPrice }},
	{"settle_price", func(o *event.Order) **int64 { return &o.SettlePrice }},
}

var personText = []text[event.Person]{
	{"name", func(p *event.Person) *string { return &p.Name }},
	{"kana", func(p *event.Person) *string { return &p.Kana }},
	{"tel", func(p *event.Person) *string { return &p.Tel }},
	{"mobile", func(p *event.Person) *string { return &p.Mobile }},
	{"email", func(p *event.Person) *string { return &p.Email }},
	{"zip", func(p *event.Person) *string { return &p.Zip }},
	{"address", func(p *event.Person) *string { return &p.Address }},
}

var itemText = []text[event.Item]{
	{"order_no", func(it *event.Item) *string { return &it.OrderNo }},
	{"item_no", func(it *event.Item) *string { return &it.ItemNo }},
	{"title", func(it *event.Item) *string { return &it.Title }},
	{"seller_item_code", func(it *event.Item) *string { return &it.SellerItemCode }},
	{"option", func(it *event.Item) *string { return &it.Option }},
	{"option_code", func(it *event.Item) *string { return &it.OptionCode }},
}

var itemNumbers = []number[event.Item]{
	{"qty", func(it *event.Item) **int64 { return &it.Qty }},
	{"price", func(it *event.Item) **int64 { return &it.Price }},
	{"discount", func(it *event.Item) **int64 { return &it.Discount }},
	{"total", func(it *event.Item) **int64 { return &it.Total }},
}

// merger collects the conflicts of one Merge.
type merger struct {
	conflicts []Conflict
}

// mergeFields sets each field of dst from srcs, sorted oldest first: the
// newest value wins, a source without a value erases nothing, and
// disagreeing values are recorded as a conflict under prefix+name.
func mergeFields[T any](m *merger, prefix string, dst *T, srcs []sourced[T], texts []text[T], numbers []number[T]) {
	for _, f := range texts {
		var vals []candidate
		for _, s := range srcs {
			if v := *f.at(s.v); v != "" {
				vals = append(vals, candidate{text: v, src: s.src})
			}
		}
		if i, ok := m.pick(prefix+f.name, vals); ok {
			*f.at(dst) = vals[i].text
		}
	}
	for _, f := range numbers {
		var vals []candidate
		var ptrs []*int64
		for _, s := range srcs {
			if v := *f.at(s.v); v != nil {
				vals = append(vals, candidate{text: itoa(v), src: s.src})
				ptrs = append(ptrs, v)
			}
		}
		if i, ok := m.pick(prefix+f.name, vals); ok {
			*f.at(dst) = event.Int(*ptrs[i])
		}
	}
}

// mergePerson merges the buyer or the receiver of the sources; nil when
// no source had one.
func mergePerson(m *merger, name string, orders []sourced[event.Order], of func(*event.Order) *event.Person) *event.Person {
	var people []sourced[event.Person]
	for _, o := range orders {
		if p := of(o.v); !p.IsZero() {
			people = append(people, sourced[event.Person]{v: p, src: o.src})
		}
	}
	if len(people) == 0 {
		return nil
	}
	p := &event.Person{}
	mergeFields(m, name+".", p, people, personText, nil)
	return p
}

// candidate is one source's value of a field.
type candidate struct {
	text string
	src  *Source
}

// pick returns the index of the newest value, vals being oldest first,
// and records a conflict when the values differ. ok is false when there
// is no value.
func (m *merger) pick(field string, vals []candidate) (int, bool) {
	if len(vals) == 0 {
		return 0, false
	}
	kept := len(vals) - 1
	var distinct []Value
	seen := map[string]bool{}
	for i := len(vals) - 1; i >= 0; i-- {
		v := vals[i]
		if seen[v.text] {
			continue
		}
		seen[v.text] = true
		distinct = append(distinct, Value{Value: v.text, EventID: v.src.EventID, Date: v.src.Date.In(event.JST)})
	}
	if len(distinct) > 1 {
		m.conflicts = append(m.conflicts, Conflict{Field: field, Kept: vals[kept].text, Values: distinct})
	}
	return kept, true
}
