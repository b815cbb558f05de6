package parse

import (
	"regexp"
	"strings"

	"github.com/qoo10hook/qoo10hook/event"
)

// Values of Result.Parser.
const (
	parserTemplate = "template"
	parserFallback = "fallback"
	parserNone     = "none"
)

// interpret reads the order out of a decoded mail into res: each
// rendering of the mail (text, HTML) is unwrapped from a forward, read and
// built; the one that yields the most order data wins, the first on a tie,
// so a stub text part never beats an HTML part with the order in it.
func (p *Parser) interpret(m *mailText, res *Result) {
	base := *res
	first := true
	read := func(outer, target *mailText) {
		if first {
			p.readRendering(outer, target, res) // the common case: one rendering, no copy
			first = false
			return
		}
		r := base
		p.readRendering(outer, target, &r)
		if orderYield(&r.Order) > orderYield(&res.Order) {
			*res = r
		}
	}
	for i := 0; i <= len(m.alternatives); i++ {
		outer := m
		if i > 0 {
			c := *m
			c.body, c.alternatives = m.alternatives[i-1], nil
			outer = &c
		}
		inner := unwrapForward(outer, p.maxDepth)
		if inner == nil {
			read(outer, outer)
			continue
		}
		for j := 0; j <= len(inner.alternatives); j++ {
			target := inner
			if j > 0 {
				c := *inner
				c.body, c.alternatives = inner.alternatives[j-1], nil
				target = &c
			}
			read(outer, target)
		}
	}
}

// readRendering reads the order from one rendering of m, the mail that
// outer forwarded (or outer itself), into res.
func (p *Parser) readRendering(outer, m *mailText, res *Result) {
	res.Problems = appendUnique(res.Problems, outer.problems...)
	if m != outer {
		res.Forwarded = true
		res.Problems = appendUnique(res.Problems, m.problems...)
	}
	res.MessageID = m.messageID
	if res.MessageID == "" {
		res.MessageID = outer.messageID
	}
	res.Subject, res.From, res.To, res.Date = m.subject, m.from, m.to, m.date
	if res.To == nil {
		res.To = []string{}
	}
	p.readBody(m, res)
}

// readBody reads the order out of the body of m into res: by the template
// that fits best, else by the labels of the fallback; then classifies.
func (p *Parser) readBody(m *mailText, res *Result) {
	ml := splitLines(m.body)
	b := &builder{order: &res.Order, problems: &res.Problems}
	var t *template
	var st *matchState
	var subjectVals []string
	// Every Qoo10 notification names Qoo10 (its sender, its greeting): a
	// mail that never does is not one, and no template needs trying. It is
	// still read for labels below, and reported as unrecognized.
	res.LooksQoo10 = mentionsQoo10(m.subject) || mentionsQoo10(m.from) || mentionsQoo10(m.body)
	qoo10 := p.operatorRules || res.LooksQoo10
	if qoo10 {
		t, st, subjectVals = p.bestTemplate(m.subject, ml)
	}
	if t != nil {
		res.Template, res.Parser = t.name, parserTemplate
		for _, v := range st.vals {
			b.itemsHint = max(b.itemsHint, v.item+1)
		}
		for _, v := range st.vals {
			b.set(v.path, v.raw, v.item)
		}
		for i, h := range t.subject.holesOrNil() {
			b.set(h.path, subjectVals[i], 0)
		}
		st.reportCutValues(b)
		// Lines the template did not expect still fill what it left empty,
		// and their fields take their place in mail order.
		var extra []event.Field
		r := newLabelReader(p.labels, b, &extra)
		r.fillOnly = true
		r.sectionAt = st.sectionAt
		r.read(ml, st.extras)
		if len(extra) == 0 {
			res.Order.Fields = st.fields
		} else {
			res.Order.Fields = make([]event.Field, 0, len(st.vals)+len(extra))
			j := 0
			for i, v := range st.vals {
				for ; j < len(extra) && r.at[j] < v.at; j++ {
					res.Order.Fields = append(res.Order.Fields, extra[j])
				}
				res.Order.Fields = append(res.Order.Fields, st.fields[i])
			}
			res.Order.Fields = append(res.Order.Fields, extra[j:]...)
		}
	} else {
		r := newLabelReader(p.labels, b, &res.Order.Fields)
		all := make([]int, len(ml.nb))
		for i := range all {
			all[i] = i
		}
		r.read(ml, all)
		if len(res.Order.Fields) > 0 {
			res.Parser = parserFallback
			p.orderNoFromSubject(m.subject, b)
		}
	}
	res.Type = event.MailUnrecognized
	if qoo10 {
		res.Type = p.classify(m.subject, m.from, m.body, t)
	}
	if res.Parser == parserNone && res.Type != event.MailUnrecognized {
		// An order event without order data helps no one: report the mail
		// as unrecognized, saying what it looked like.
		res.Problems = append(res.Problems, "looks like "+string(res.Type)+" but no order data could be read")
		res.Type = event.MailUnrecognized
	}
	checkExpected(res, b)
	if len(res.Order.Fields) > 0 || len(res.Order.Items) > 0 {
		res.Order.Currency = "JPY"
	}
}

// bestTemplate returns the template that reads the mail best, with its
// match and the values of its subject line.
func (p *Parser) bestTemplate(subject string, ml *mailLines) (*template, *matchState, []string) {
	var best *template
	var bestState *matchState
	var bestSubject []string
	bestScore := 0
	// Templates whose subject line reads the subject go first; one of them
	// that takes every line of the body cannot be beaten, so the others
	// are not tried.
	subjects := make([][]string, len(p.templates))
	for pass := range 2 {
		for i, t := range p.templates {
			if pass == 0 {
				if t.subject == nil {
					continue
				}
				v, _, ok := extractLine(t.subject, subject)
				if !ok {
					continue
				}
				subjects[i] = v
			} else if subjects[i] != nil {
				continue
			}
			st, ok := matchTemplate(t, ml)
			if !ok {
				continue
			}
			score := st.score()
			if subjects[i] != nil {
				score += 8
			}
			if best == nil || score > bestScore {
				best, bestState, bestSubject, bestScore = t, st, subjects[i], score
			}
			if subjects[i] != nil && len(st.extras) == 0 {
				return best, bestState, bestSubject
			}
		}
	}
	if best != nil && bestSubject == nil && best.subject != nil {
		best = copyWithoutSubject(best)
	}
	return best, bestState, bestSubject
}

// copyWithoutSubject is t for a mail whose subject t's subject line does
// not read: its subject values are left out.
func copyWithoutSubject(t *template) *template {
	c := *t
	c.subject = nil
	return &c
}

func (l *lineSpec) holesOrNil() []hole {
	if l == nil {
		return nil
	}
	return l.holes
}

var subjectOrderNo = regexp.MustCompile(`注文番号\s*[:：]\s*([0-9A-Za-z０-９-]+)`)

// orderNoFromSubject takes the order number of a single-line order from
// the subject when the body did not give it.
func (p *Parser) orderNoFromSubject(subject string, b *builder) {
	m := subjectOrderNo.FindStringSubmatch(subject)
	if m == nil || len(b.order.Items) > 1 {
		return
	}
	no := m[1]
	if len(b.order.Items) == 1 && b.order.Items[0].OrderNo != "" {
		return
	}
	if b.order.PackNo != "" {
		if v, _ := b.normalize(fieldPath("pack_no"), kindCode, no); v == b.order.PackNo {
			return
		}
	}
	b.set("items.order_no", no, 0)
}

// orderYield counts what an order says, to choose between renderings of
// one mail: each typed value counts four, each field one.
func orderYield(o *event.Order) int {
	n := 0
	count := func(ss ...string) {
		for _, s := range ss {
			if s != "" {
				n += 4
			}
		}
	}
	countInt := func(vs ...*int64) {
		for _, v := range vs {
			if v != nil {
				n += 4
			}
		}
	}
	count(o.SellerID, o.PackNo, o.OrderDate, o.PaymentDate, o.PaymentMethod, o.ShippingWay,
		o.DesiredDeliveryDate, o.DesiredTimeSlot, o.ShippingMessage, o.CancelReason,
		o.CancelRequestedAt, o.CancelledAt, o.CompletedAt)
	countInt(o.ShippingRate, o.TotalPrice, o.SettlePrice)
	for _, p := range []*event.Person{o.Buyer, o.Receiver} {
		if p != nil {
			count(p.Name, p.Kana, p.Tel, p.Mobile, p.Email, p.Zip, p.Address)
		}
	}
	for _, it := range o.Items {
		count(it.OrderNo, it.ItemNo, it.Title, it.SellerItemCode, it.Option, it.OptionCode)
		countInt(it.Qty, it.Price, it.Discount, it.Total)
	}
	return n + len(o.Fields)
}

func appendUnique(list []string, more ...string) []string {
next:
	for _, m := range more {
		for _, l := range list {
			if l == m {
				continue next
			}
		}
		list = append(list, m)
	}
	return list
}

// mentionsQoo10 reports whether s names Qoo10, in any case or width.
func mentionsQoo10(s string) bool {
	for _, w := range [...]string{"qoo10", "Qoo10", "QOO10", "Ｑｏｏ１０", "ｑｏｏ１０", "ＱＯＯ１０"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
