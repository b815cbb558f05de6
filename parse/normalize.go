package parse

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/qoo10hook/qoo10hook/event"
)

// builder fills an order from field paths and raw text, normalizing each
// value by its kind. Values that cannot be read leave the field unset and
// add a problem; problems name the field, never its value.
type builder struct {
	order    *event.Order
	problems *[]string
	itemSet  []uint16 // per item, the fields set from their own line
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

var itemBits = map[string]uint16{
	"order_no": bitOrderNo, "item_no": bitItemNo, "title": bitTitle,
	"seller_item_code": bitSellerItemCode, "option": bitOption, "option_code": bitOptionCode,
	"qty": bitQty, "price": bitPrice, "discount": bitDiscount, "total": bitTotal,
}

func (b *builder) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, p := range *b.problems {
		if p == msg {
			return
		}
	}
	*b.problems = append(*b.problems, msg)
}

// item returns item i, adding empty items up to it.
func (b *builder) item(i int) *event.Item {
	for len(b.order.Items) <= i {
		b.order.Items = append(b.order.Items, event.Item{})
		b.itemSet = append(b.itemSet, 0)
	}
	return &b.order.Items[i]
}

// hasItemField reports whether item i has field f set from its own line.
func (b *builder) hasItemField(i int, f string) bool {
	return i < len(b.itemSet) && b.itemSet[i]&itemBits[f] != 0
}

// set stores raw under path; item is the item index of an items.* path.
func (b *builder) set(path, raw string, item int) {
	raw = trimSpace(raw)
	k, ok := fieldKinds[path]
	if !ok || k == kindNone || raw == "" {
		return
	}
	group, name, _ := strings.Cut(path, ".")
	switch group {
	case "items":
		b.setItem(item, name, k, raw)
	case "buyer", "receiver":
		b.setPerson(group, name, k, raw)
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
		*dst = event.Int(v)
		return
	}
	v, ok := b.normalize(path, k, raw)
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

func (b *builder) setPerson(group, name string, k kind, raw string) {
	v, ok := b.normalize(group+"."+name, k, raw)
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
	b.itemSet[i] |= itemBits[name]
	where := fmt.Sprintf("items[%d].%s", i, name)
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
			it.Qty = event.Int(v)
		case "price":
			it.Price = event.Int(v)
		case "discount":
			it.Discount = event.Int(v)
		case "total":
			it.Total = event.Int(v)
		}
		return
	case kindTitle, kindOption:
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

// normalize returns the normalized text of a string field.
func (b *builder) normalize(where string, k kind, raw string) (string, bool) {
	switch k {
	case kindCode, kindPhone, kindEmail:
		return trimSpace(norm.NFKC.String(raw)), true
	case kindZip:
		z := norm.NFKC.String(raw)
		z = strings.NewReplacer("〒", "", "\u3036", "").Replace(z)
		return trimSpace(z), true
	case kindDateTime, kindDate:
		if isNoneWord(raw) {
			return "", false
		}
		v, ok := parseDate(raw, k == kindDate)
		if !ok {
			b.problem("%s: not a date", where)
		}
		return v, ok
	case kindMemo:
		return trimBlankLines(raw), true
	}
	return raw, true
}

// splitTrailingCode splits "長袖Tシャツ(TS-001)" into the text and the code
// in its trailing HALF-width parentheses. Full-width （…） belong to the
// text and stay.
func splitTrailingCode(s string) (text, code string) {
	s = trimSpace(s)
	if !strings.HasSuffix(s, ")") {
		return s, ""
	}
	depth := 0
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				text, code = trimSpace(s[:i]), trimSpace(norm.NFKC.String(s[i+1:len(s)-1]))
				if text == "" || code == "" {
					return s, ""
				}
				return text, code
			}
		}
	}
	return s, ""
}

// parseYen reads "¥ 1,980", "￥1,980", "1,980円" or "\1,980" as yen.
func parseYen(s string) (int64, bool) {
	s = norm.NFKC.String(s)
	s = strings.TrimSuffix(trimSpace(s), "(税込)")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '¥' || r == '\\' || r == '円' || r == ',' || isSpace(r):
		case r == '−' || r == '▲':
			b.WriteByte('-')
		default:
			b.WriteRune(r)
		}
	}
	v, err := strconv.ParseInt(b.String(), 10, 64)
	return v, err == nil
}

// parseQty reads a quantity, allowing a counter word after the number.
func parseQty(s string) (int64, bool) {
	s = trimSpace(norm.NFKC.String(s))
	for _, suffix := range []string{"個", "点", "枚", "本", "つ", "pcs", "件"} {
		s = trimSpace(strings.TrimSuffix(s, suffix))
	}
	s = strings.ReplaceAll(s, ",", "")
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v >= 0
}

// isNoneWord reports whether s says "not specified".
func isNoneWord(s string) bool {
	switch foldString(s) {
	case "指定なし", "指定無し", "なし", "無し", "未指定", "-", "ー", "--", "なし(指定なし)":
		return true
	}
	return false
}

// parseDate reads 2026/11/20 21:04:55, 2026-11-20 21:04, 20261125 or
// 2026年11月25日 (also with a weekday in parentheses) as RFC 3339 in Japan
// time, or as YYYY-MM-DD when there is no time or dateOnly is set.
func parseDate(s string, dateOnly bool) (string, bool) {
	s = norm.NFKC.String(trimSpace(s))
	var nums []string
	start := -1
	for i, r := range s + " " {
		isDigit := r >= '0' && r <= '9'
		if isDigit {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			nums = append(nums, s[start:i])
			start = -1
		}
		if i < len(s) && !strings.ContainsRune("/-.年月日 T:時分秒()月火水木金土日", r) && !isSpace(r) {
			if !isWeekdayLetter(r) {
				return "", false
			}
		}
	}
	if len(nums) == 1 {
		n := nums[0]
		switch len(n) {
		case 8:
			nums = []string{n[:4], n[4:6], n[6:8]}
		case 12:
			nums = []string{n[:4], n[4:6], n[6:8], n[8:10], n[10:12]}
		case 14:
			nums = []string{n[:4], n[4:6], n[6:8], n[8:10], n[10:12], n[12:14]}
		}
	}
	if len(nums) < 3 || len(nums) > 6 || len(nums[0]) != 4 {
		return "", false
	}
	v := make([]int, 6)
	for i, n := range nums {
		if len(n) > 4 {
			return "", false
		}
		v[i], _ = strconv.Atoi(n)
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, jst)
	if t.Year() != v[0] || int(t.Month()) != v[1] || t.Day() != v[2] || v[3] > 23 || v[4] > 59 || v[5] > 59 {
		return "", false
	}
	if dateOnly || len(nums) == 3 {
		return t.Format(time.DateOnly), true
	}
	return t.Format(time.RFC3339), true
}

func isWeekdayLetter(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// trimBlankLines trims each line and drops blank lines at both ends.
func trimBlankLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = trimSpace(l)
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}
