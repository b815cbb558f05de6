package parse

import (
	"iter"
	"regexp"

	"github.com/qoo10hook/qoo10hook/event"
)

// Values of Result.Parser.
const (
	parserTemplate = "template"
	parserFallback = "fallback"
	parserNone     = "none"
)

// interpret runs the stages after decode on m (see the package doc): each
// rendering of the mail is unwrapped from a forward, read, built and
// classified; the one that yields the most order data wins, the first on
// a tie, so a stub text part never beats an HTML part with the order in it.
func (p *Parser) interpret(m *mailText, res *Result) {
	base := *res
	first := true
	for outer, target := range p.unwrap(m) {
		if first {
			p.readRendering(outer, target, res) // the common case: one rendering, no copy
			first = false
			continue
		}
		r := base
		p.readRendering(outer, target, &r)
		if orderYield(&r.Order) > orderYield(&res.Order) {
			*res = r
		}
	}
}

// unwrap yields each rendering to read, with the mail that carries it:
// each rendering of m (text, then HTML) as it is or, when it forwards a
// mail by hand, each rendering of the forwarded mail.
func (p *Parser) unwrap(m *mailText) iter.Seq2[*mailText, *mailText] {
	return func(yield func(outer, target *mailText) bool) {
		for i := 0; i <= len(m.alternatives); i++ {
			outer := rendering(m, i)
			inner := unwrapForward(outer, p.maxDepth)
			if inner == nil {
				if !yield(outer, outer) {
					return
				}
				continue
			}
			for j := 0; j <= len(inner.alternatives); j++ {
				if !yield(outer, rendering(inner, j)) {
					return
				}
			}
		}
	}
}

// rendering returns m with its rendering i as the body: m itself for the
// first, a copy holding alternative i-1 for the others.
func rendering(m *mailText, i int) *mailText {
	if i == 0 {
		return m
	}
	c := *m
	c.body, c.alternatives = m.alternatives[i-1], nil
	return &c
}

// readRendering reads one rendering m into res: m is the mail outer
// forwarded, or outer itself. Its body is read by the template that fits
// best and built into the order, or, with no template, read and built by
// its labels; then the mail is classified.
func (p *Parser) readRendering(outer, m *mailText, res *Result) {
	setHeaders(res, outer, m)
	// Every Qoo10 notification names Qoo10 (its sender, its greeting): a
	// mail that never does is not one, and no template needs trying. It is
	// still read for labels, and reported as unrecognized.
	res.LooksQoo10 = mentionsQoo10(m.subject, m.from, m.body)
	qoo10 := p.operatorRules || res.LooksQoo10
	ml := splitLines(m.body)
	b := &builder{order: &res.Order, problems: &res.Problems}
	var t *template
	if qoo10 {
		var st *matchState
		var subjectVals []string
		t, st, subjectVals = p.readTemplate(m.subject, ml)
		if t != nil {
			p.buildFromTemplate(b, t, st, subjectVals, ml, res)
		}
	}
	if t == nil {
		p.readLabels(b, m.subject, ml, res)
	}
	if len(res.Order.Fields) > 0 || len(res.Order.Items) > 0 {
		res.Order.Currency = "JPY"
	}
	p.classifyRendering(m, t, qoo10, b, res)
}

// setHeaders gives res the headers of m and the problems of reading it,
// and of reading outer, the mail that forwarded it (or m itself).
func setHeaders(res *Result, outer, m *mailText) {
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
}

// buildFromTemplate builds the order from what template t read: the values
// of its body lines (st) and of its subject line. Lines it did not expect
// still fill, by their labels, what it left empty, and their fields take
// their place in mail order.
func (p *Parser) buildFromTemplate(b *builder, t *template, st *matchState, subjectVals []string, ml *mailLines, res *Result) {
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
	var extra []event.Field
	r := newLabelReader(p.labels, b, &extra)
	r.fillOnly = true
	r.sectionAt = st.sectionAt
	r.read(ml, st.extras)
	res.Order.Fields = mergeFields(st, extra, r.at)
}

// mergeFields returns the fields of the lines a template read (st) and of
// the lines it left over (extra, read from the non-blank lines at), in
// mail order.
func mergeFields(st *matchState, extra []event.Field, at []int) []event.Field {
	if len(extra) == 0 {
		return st.fields
	}
	fields := make([]event.Field, 0, len(st.vals)+len(extra))
	j := 0
	for i, v := range st.vals {
		for ; j < len(extra) && at[j] < v.at; j++ {
			fields = append(fields, extra[j])
		}
		fields = append(fields, st.fields[i])
	}
	return append(fields, extra[j:]...)
}

// readLabels is the fallback, for a mail no template reads: every line is
// read by its label, and the order built as it goes.
func (p *Parser) readLabels(b *builder, subject string, ml *mailLines, res *Result) {
	r := newLabelReader(p.labels, b, &res.Order.Fields)
	all := make([]int, len(ml.nb))
	for i := range all {
		all[i] = i
	}
	r.read(ml, all)
	if len(res.Order.Fields) > 0 {
		res.Parser = parserFallback
		p.orderNoFromSubject(subject, b)
	}
}

// readTemplate returns the template that reads the mail best, with its
// match and the values of its subject line; nil when none fits.
func (p *Parser) readTemplate(subject string, ml *mailLines) (*template, *matchState, []string) {
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
