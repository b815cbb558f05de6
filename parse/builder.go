package parse

import (
	"fmt"
	"strings"

	"github.com/qoo10hook/qoo10hook/event"
)

// builder fills an order from field paths and raw text, normalizing each
// value by its kind. Values that cannot be read leave the field unset and
// add a problem; problems name the field, never its value.
type builder struct {
	order    *event.Order
	problems *[]string
	itemSet  []uint16 // per item, the fields set from their own line
	ints     []int64  // backing store of the *int64 fields, see int
	// itemsHint, when set, is how many items the order will likely have,
	// to allocate Items once.
	itemsHint int
}

const (
	bitOrderNo uint16 = 1 << iota
	bitItemNo
	bitTitle
	bitSellerItemCode
	bitOption
	bitOptionCode
	bitQty
	bitPrice
	bitDiscount
	bitTotal
)

// itemBit returns the bit of item field name, 0 for none; a switch, as
// it runs for every item value set, and hashing the name costs more.
func itemBit(name string) uint16 {
	switch name {
	case "order_no":
		return bitOrderNo
	case "item_no":
		return bitItemNo
	case "title":
		return bitTitle
	case "seller_item_code":
		return bitSellerItemCode
	case "option":
		return bitOption
	case "option_code":
		return bitOptionCode
	case "qty":
		return bitQty
	case "price":
		return bitPrice
	case "discount":
		return bitDiscount
	case "total":
		return bitTotal
	}
	return 0
}

// maxProblems bounds the problems of one mail; a mail of thousands of bad
// lines says all it has to say in the first few.
const maxProblems = 20

func (b *builder) problem(format string, args ...any) {
	if len(*b.problems) >= maxProblems {
		return
	}
	msg := fmt.Sprintf(format, args...)
	for _, p := range *b.problems {
		if p == msg {
			return
		}
	}
	*b.problems = append(*b.problems, msg)
}

// int returns a pointer to v. The numbers of one order share a few
// small arrays instead of taking one allocation each, as event.Int would.
func (b *builder) int(v int64) *int64 {
	if len(b.ints) == cap(b.ints) {
		b.ints = make([]int64, 0, 16)
	}
	b.ints = append(b.ints, v)
	return &b.ints[len(b.ints)-1]
}

// item returns item i, adding empty items up to it.
func (b *builder) item(i int) *event.Item {
	if b.order.Items == nil && b.itemsHint > i {
		b.order.Items = make([]event.Item, 0, b.itemsHint)
		b.itemSet = make([]uint16, 0, b.itemsHint)
	}
	for len(b.order.Items) <= i {
		b.order.Items = append(b.order.Items, event.Item{})
		b.itemSet = append(b.itemSet, 0)
	}
	return &b.order.Items[i]
}

// hasItemField reports whether item i has field f set from its own line.
func (b *builder) hasItemField(i int, f string) bool {
	return i < len(b.itemSet) && b.itemSet[i]&itemBit(f) != 0
}

// set stores raw under path; item is the item index of an items.* path.
func (b *builder) set(path, raw string, item int) {
	raw = trimSpace(raw)
	k, ok := fieldKinds[path]
	if !ok || k == kindNone || raw == "" {
		return
	}
	group, name, _ := strings.Cut(path, ".")
	if (k == kindText || k == kindMemo || k == kindTitle || k == kindOption) && looksTruncated(raw) {
		if group == "items" {
			b.problem("%s: value looks truncated", itemPath(item, name))
		} else {
			b.problem("%s: value looks truncated", path)
		}
	}
	switch group {
	case "items":
		b.setItem(item, name, k, raw)
	case "buyer", "receiver":
		b.setPerson(path, group, name, k, raw)
	default:
		b.setOrder(path, k, raw)
	}
}

func (b *builder) setOrder(path string, k kind, raw string) {
	o := b.order
	if k == kindMoney {
		v, ok := parseYen(raw)
		if !ok {
			b.problem("%s: not a yen amount", path)
			return
		}
		var dst **int64
		switch path {
		case "shipping_rate":
			dst = &o.ShippingRate
		case "total_price":
			dst = &o.TotalPrice
		case "settle_price":
			dst = &o.SettlePrice
		}
		if *dst != nil && **dst != v {
			b.problem("%s: two different values, the first kept", path)
			return
		}
		*dst = b.int(v)
		return
	}
	v, ok := b.normalize(fieldPath(path), k, raw)
	if !ok {
		return
	}
	dst := orderString(o, path)
	if dst == nil {
		return
	}
	if *dst != "" && *dst != v {
		b.problem("%s: two different values, the first kept", path)
		return
	}
	*dst = v
}

func (b *builder) setPerson(path, group, name string, k kind, raw string) {
	v, ok := b.normalize(fieldPath(path), k, raw)
	if !ok {
		return
	}
	pp := &b.order.Buyer
	if group == "receiver" {
		pp = &b.order.Receiver
	}
	if *pp == nil {
		*pp = &event.Person{}
	}
	if name == "address" {
		// "〒150-0001" on a line of its own, the building on the next:
		// the zip goes to zip, the address on one line.
		var zip string
		if zip, v = splitAddress(v); zip != "" && (*pp).Zip == "" {
			(*pp).Zip = zip
		}
	}
	dst := personString(*pp, name)
	if dst == nil {
		return
	}
	if *dst != "" && *dst != v {
		b.problem("%s.%s: two different values, the first kept", group, name)
		return
	}
	*dst = v
}

func (b *builder) setItem(i int, name string, k kind, raw string) {
	it := b.item(i)
	b.itemSet[i] |= itemBit(name)
	where := itemPath(i, name)
	switch k {
	case kindMoney, kindQty:
		var v int64
		var ok bool
		if k == kindMoney {
			v, ok = parseYen(raw)
		} else {
			v, ok = parseQty(raw)
		}
		if !ok {
			b.problem("%s: not a number", where)
			return
		}
		switch name {
		case "qty":
			it.Qty = b.int(v)
		case "price":
			it.Price = b.int(v)
		case "discount":
			it.Discount = b.int(v)
		case "total":
			it.Total = b.int(v)
		}
		return
	case kindTitle, kindOption:
		if unclosedCode(raw) {
			b.problem("%s: code parentheses not closed", where)
		}
		text, code := splitTrailingCode(raw)
		if k == kindTitle {
			it.Title = text
			if code != "" && b.itemSet[i]&bitSellerItemCode == 0 {
				it.SellerItemCode = code
			}
		} else {
			it.Option = text
			if code != "" && b.itemSet[i]&bitOptionCode == 0 {
				it.OptionCode = code
			}
		}
		return
	}
	v, _ := b.normalize(where, k, raw)
	switch name {
	case "order_no":
		if it.OrderNo != "" && it.OrderNo != v {
			b.problem("%s: two different values, the first kept", where)
			return
		}
		it.OrderNo = v
	case "item_no":
		it.ItemNo = v
	case "seller_item_code":
		it.SellerItemCode = v
	case "option_code":
		it.OptionCode = v
	}
}

// fieldRef names a field in problems: a path, or an item's field when item
// is not negative. It is passed as a plain struct, not as a fmt.Stringer,
// so that it is boxed (and its string built) only when a problem is
// actually reported; every value set would otherwise allocate.
type fieldRef struct {
	name string
	item int
}

// fieldPath names the order-level field path.
func fieldPath(path string) fieldRef { return fieldRef{name: path, item: -1} }

// itemPath names field name of item i.
func itemPath(i int, name string) fieldRef { return fieldRef{name: name, item: i} }

func (f fieldRef) String() string {
	if f.item < 0 {
		return f.name
	}
	return fmt.Sprintf("items[%d].%s", f.item, f.name)
}

// orderString points at the order-level string field of path, or is nil.
func orderString(o *event.Order, path string) *string {
	switch path {
	case "seller_id":
		return &o.SellerID
	case "pack_no":
		return &o.PackNo
	case "order_date":
		return &o.OrderDate
	case "payment_date":
		return &o.PaymentDate
	case "payment_method":
		return &o.PaymentMethod
	case "shipping_way":
		return &o.ShippingWay
	case "desired_delivery_date":
		return &o.DesiredDeliveryDate
	case "desired_time_slot":
		return &o.DesiredTimeSlot
	case "shipping_message":
		return &o.ShippingMessage
	case "cancel_reason":
		return &o.CancelReason
	case "cancel_requested_at":
		return &o.CancelRequestedAt
	case "cancelled_at":
		return &o.CancelledAt
	case "completed_at":
		return &o.CompletedAt
	}
	return nil
}

func personString(p *event.Person, name string) *string {
	switch name {
	case "name":
		return &p.Name
	case "kana":
		return &p.Kana
	case "tel":
		return &p.Tel
	case "mobile":
		return &p.Mobile
	case "email":
		return &p.Email
	case "zip":
		return &p.Zip
	case "address":
		return &p.Address
	}
	return nil
}

// isSet reports whether the non-item field path has a value.
func (b *builder) isSet(path string) bool {
	o := b.order
	switch path {
	case "shipping_rate":
		return o.ShippingRate != nil
	case "total_price":
		return o.TotalPrice != nil
	case "settle_price":
		return o.SettlePrice != nil
	}
	if p := orderString(o, path); p != nil {
		return *p != ""
	}
	group, name, _ := strings.Cut(path, ".")
	p := o.Buyer
	if group == "receiver" {
		p = o.Receiver
	}
	if p == nil {
		return false
	}
	if dst := personString(p, name); dst != nil {
		return *dst != ""
	}
	return false
}

// zipMarks drops the postal marks from a zip code.
var zipMarks = strings.NewReplacer("〒", "", "\u3036", "")

// normalize returns the normalized text of a string field.
func (b *builder) normalize(where fieldRef, k kind, raw string) (string, bool) {
	switch k {
	case kindCode, kindEmail:
		return trimSpace(nfkc(raw)), true
	case kindPhone:
		return trimSpace(asciiDashes(nfkc(raw))), true
	case kindZip:
		z := zipMarks.Replace(asciiDashes(nfkc(raw)))
		return trimSpace(z), true
	case kindDateTime, kindDate:
		v, ok := parseDate(raw, k == kindDate)
		if !ok && !isNoneWord(raw) {
			b.problem("%s: not a date", where)
		}
		return v, ok
	case kindMemo:
		return trimBlankLines(raw), true
	}
	return raw, true
}
