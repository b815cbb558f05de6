// Package order merges the partial order events of one Qoo10 cart into one order record.
package order

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
)

// State is where an order, or one of its lines, stands. The values are
// part of the public contract (the order.updated event, the API).
type State string

// States, in the order of precedence Merge applies to a line: a line
// cancelled stays cancelled whatever mail comes after, and a late
// 注文情報 never moves a paid line back.
const (
	Placed             State = "placed"
	Paid               State = "paid"
	CancelRequested    State = "cancel_requested"
	Completed          State = "completed"
	Cancelled          State = "cancelled"
	PartiallyCancelled State = "partially_cancelled" // of an order only: some lines cancelled, not all
)

// States lists every state, for filters and documentation.
var States = []State{Placed, Paid, CancelRequested, Completed, Cancelled, PartiallyCancelled}

// Valid reports whether s is a state.
func (s State) Valid() bool { return slices.Contains(States, s) }

// stateOf is the state an order event type moves its lines to.
var stateOf = map[event.Type]State{
	event.OrderPlaced:          Placed,
	event.OrderPaid:            Paid,
	event.OrderCancelRequested: CancelRequested,
	event.OrderCompleted:       Completed,
	event.OrderCancelled:       Cancelled,
}

// rank orders the states of a line: the highest a line's events reach wins.
func rank(s State) int {
	switch s {
	case Placed:
		return 1
	case Paid:
		return 2
	case CancelRequested:
		return 3
	case Completed:
		return 4
	case Cancelled:
		return 5
	}
	return 0
}

// Source is one order event of the cart, as Merge reads it.
type Source struct {
	EventID string
	Type    event.Type
	// Date is the mail's own date (its Date header), or when it had none
	// the time it was received: the newest value of a field wins by it.
	Date  time.Time
	Order *event.Order
}

// Record is the merged order: the event's own field names, plus a state
// on the order and on each line, the time of each transition and the
// values the mails disagreed on.
type Record struct {
	Tenant string `json:"tenant,omitempty"`
	State  State  `json:"state"`
	event.Order
	// Items shadows the order's items: each line carries its state.
	Items []Item `json:"items"`
	// Fields shadows the order's label/value pairs, which belong to one
	// mail each and are not merged: it stays empty.
	Fields []event.Field `json:"fields,omitempty"`
	// Transitions is when the cart first reached each state, by the date
	// of the first mail that told it.
	Transitions map[State]time.Time `json:"transitions"`
	// Conflicts lists the fields whose mails disagreed.
	Conflicts []Conflict `json:"conflicts,omitempty"`
	// Revision counts the changes of the record; UpdatedAt is the last.
	// The store sets them; Merge leaves them zero.
	Revision  int64      `json:"revision"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// Item is one order line of the record.
type Item struct {
	event.Item
	State State `json:"state"`
}

// Conflict is a field that mails gave different values.
type Conflict struct {
	// Field is the value's path: "receiver.address", "items[12345].price".
	Field string `json:"field"`
	// Kept is the value the record holds: the newest mail's.
	Kept string `json:"kept"`
	// Values are the distinct values, newest first, each with the newest
	// event that carried it.
	Values []Value `json:"values"`
}

// Value is one of the values of a conflict.
type Value struct {
	Value   string    `json:"value"`
	EventID string    `json:"event_id"`
	Date    time.Time `json:"date"`
}

// Merge folds the cart's order events into one record. It depends on the
// set of events only: the same events in any order, or repeated, give the
// same record. Events of other types than order.* are ignored.
func Merge(sources []Source) *Record {
	srcs := normalize(sources)
	r := &Record{Transitions: map[State]time.Time{}, Items: []Item{}}
	m := &merger{}
	orders := make([]sourced[event.Order], len(srcs))
	for i := range srcs {
		s := &srcs[i]
		orders[i] = sourced[event.Order]{v: s.Order, src: s}
		st := stateOf[s.Type]
		if at, ok := r.Transitions[st]; !ok || s.Date.Before(at) {
			r.Transitions[st] = s.Date.In(event.JST)
		}
	}
	mergeFields(m, "", &r.Order, orders, orderText, orderNumbers)
	r.Buyer = mergePerson(m, "buyer", orders, func(o *event.Order) *event.Person { return o.Buyer })
	r.Receiver = mergePerson(m, "receiver", orders, func(o *event.Order) *event.Person { return o.Receiver })
	r.Items = mergeItems(m, srcs)
	r.State = orderState(r.Items, srcs)
	r.Conflicts = m.conflicts
	return r
}

// normalize drops what is not an order event and repeats of one event,
// and sorts the rest oldest first, so that what follows reads the set
// the same way whatever order it came in.
func normalize(sources []Source) []Source {
	var out []Source
	for _, s := range sources {
		if _, ok := stateOf[s.Type]; ok && s.Order != nil {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Source) int {
		return cmp.Or(a.Date.Compare(b.Date), cmp.Compare(rank(stateOf[a.Type]), rank(stateOf[b.Type])),
			cmp.Compare(a.EventID, b.EventID))
	})
	return slices.CompactFunc(out, func(a, b Source) bool { return a.EventID == b.EventID })
}

// Placed is when the order was placed: the order date its mails gave,
// else the date of its 注文情報 mail, else of its first mail.
func (r *Record) Placed() time.Time {
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.ParseInLocation(layout, r.OrderDate, event.JST); err == nil {
			return t
		}
	}
	if t, ok := r.Transitions[Placed]; ok {
		return t
	}
	var first time.Time
	for _, t := range r.Transitions {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first
}

// LineKey identifies an order line across mails: its order number, or
// for a line without one its codes.
func LineKey(it *event.Item) string {
	if it.OrderNo != "" {
		return it.OrderNo
	}
	return "codes:" + it.ItemNo + "|" + it.SellerItemCode + "|" + it.OptionCode + "|" + it.Title
}

func mergeItems(m *merger, srcs []Source) []Item {
	lines := map[string][]sourced[event.Item]{}
	var cartWide []*Source
	for i := range srcs {
		s := &srcs[i]
		if len(s.Order.Items) == 0 {
			// A mail that names no line speaks for the whole cart.
			cartWide = append(cartWide, s)
			continue
		}
		for j := range s.Order.Items {
			it := &s.Order.Items[j]
			k := LineKey(it)
			lines[k] = append(lines[k], sourced[event.Item]{v: it, src: s})
		}
	}
	keys := make([]string, 0, len(lines))
	for k := range lines {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) })
	items := make([]Item, 0, len(keys))
	for _, k := range keys {
		var it Item
		mergeFields(m, "items["+k+"].", &it.Item, lines[k], itemText, itemNumbers)
		for _, s := range lines[k] {
			it.State = higher(it.State, stateOf[s.src.Type])
		}
		for _, s := range cartWide {
			it.State = higher(it.State, stateOf[s.Type])
		}
		items = append(items, it)
	}
	return items
}

func higher(a, b State) State {
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// orderState sums up the lines: cancelled when all are, partially
// cancelled when some are, cancel_requested when a live line is, else
// the state the least advanced live line has reached.
func orderState(items []Item, srcs []Source) State {
	if len(items) == 0 {
		var st State
		for _, s := range srcs {
			st = higher(st, stateOf[s.Type])
		}
		return st
	}
	var cancelled int
	var least State
	requested := false
	for _, it := range items {
		switch {
		case it.State == Cancelled:
			cancelled++
		case it.State == CancelRequested:
			requested = true
		case least == "" || rank(it.State) < rank(least):
			least = it.State
		}
	}
	switch {
	case cancelled == len(items):
		return Cancelled
	case cancelled > 0:
		return PartiallyCancelled
	case requested:
		return CancelRequested
	}
	return least
}

// itoa formats an optional number for a conflict.
func itoa(n *int64) string { return strconv.FormatInt(*n, 10) }
