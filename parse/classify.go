package parse

import (
	"strings"
	"unicode/utf8"

	"github.com/qoo10hook/qoo10hook/event"
)

// builtinSubjectRules classify by the wording of Qoo10's subjects, most
// specific first: a cancellation subject also says 注文番号.
var builtinSubjectRules = []ClassRule{
	{Type: event.OrderCancelRequested, Subject: "キャンセル要求"},
	{Type: event.OrderCancelRequested, Subject: "キャンセル申請"},
	{Type: event.OrderCancelRequested, Subject: "キャンセルリクエスト"},
	{Type: event.OrderCancelled, Subject: "キャンセル完了"},
	{Type: event.OrderCancelled, Subject: "キャンセルが完了"},
	{Type: event.OrderCompleted, Subject: "取引完了"},
	{Type: event.OrderCompleted, Subject: "取引が完了"},
	{Type: event.OrderPaid, Subject: "発注のお知らせ"},
	{Type: event.OrderPaid, Subject: "配送要請"},
	{Type: event.OrderPlaced, Subject: "注文のお知らせ"},
	{Type: event.OrderPlaced, Subject: "注文確定"},
	{Type: event.OrderPlaced, Subject: "注文情報"},
}

// builtinBodyRules classify by the body's wording when the subject says
// nothing (a subject changed by the seller or lost in forwarding).
var builtinBodyRules = []ClassRule{
	{Type: event.OrderCancelRequested, Body: "キャンセル要求"},
	{Type: event.OrderCancelled, Body: "キャンセルが完了"},
	{Type: event.OrderCancelled, Body: "キャンセル完了"},
	{Type: event.OrderCompleted, Body: "取引が完了"},
	{Type: event.OrderCompleted, Body: "取引完了"},
	{Type: event.OrderPaid, Body: "決済が確認"},
	{Type: event.OrderPaid, Body: "発送をお願い"},
	{Type: event.OrderPlaced, Body: "注文が入りました"},
	{Type: event.OrderPlaced, Body: "注文内容が届いて"},
}

func init() {
	for _, rules := range [][]ClassRule{builtinSubjectRules, builtinBodyRules} {
		for i := range rules {
			rules[i].Subject = foldString(rules[i].Subject)
			rules[i].Body = foldString(rules[i].Body)
		}
	}
}

// classifyRendering gives res its type (see classify) once the order is
// built, and reports what an order event of that type lacks. Only mail
// that names Qoo10, or any mail when operators added their own templates
// or rules (qoo10), is classified at all.
func (p *Parser) classifyRendering(m *mailText, t *template, qoo10 bool, b *builder, res *Result) {
	res.Type = event.MailUnrecognized
	if qoo10 {
		res.Type = p.classify(m.subject, m.body, t, res.LooksQoo10)
	}
	if res.Parser == parserNone && res.Type != event.MailUnrecognized {
		// An order event without order data helps no one: report the mail
		// as unrecognized, saying what it looked like.
		res.Problems = append(res.Problems, "looks like "+string(res.Type)+" but no order data could be read")
		res.Type = event.MailUnrecognized
	}
	checkExpected(res, b)
}

// classify gives the type of a mail: operator rules first, then the type
// of the template that read it, then Qoo10's wording, which counts only in
// mail that names Qoo10 (a shop's own "注文のお知らせ" is not an order of
// ours).
func (p *Parser) classify(subject, body string, t *template, namesQoo10 bool) event.Type {
	fs := foldString(subject)
	var fb string
	bodyFolded := false
	foldedBody := func() string {
		if !bodyFolded {
			fb, bodyFolded = foldString(body), true
		}
		return fb
	}
	matches := func(c ClassRule) bool {
		if c.Subject != "" && !strings.Contains(fs, c.Subject) {
			return false
		}
		return c.Body == "" || strings.Contains(foldedBody(), c.Body)
	}
	for _, c := range p.classes {
		if matches(c) {
			return c.Type
		}
	}
	if t != nil && t.typ != "" {
		return t.typ
	}
	if t == nil && !namesQoo10 {
		return event.MailUnrecognized
	}
	for _, rules := range [][]ClassRule{builtinSubjectRules, builtinBodyRules} {
		for _, c := range rules {
			if matches(c) {
				return c.Type
			}
		}
	}
	return event.MailUnrecognized
}

// mentionsQoo10 reports whether any of ss names Qoo10, compared as
// foldString compares: in any case or width, white space left out. It is
// the one test of whether a mail, or a mail attached to a forward, is
// Qoo10's.
func mentionsQoo10(ss ...string) bool {
	for _, s := range ss {
		// Most mails write the name as Qoo10 writes it.
		if strings.Contains(s, "Qoo10") || strings.Contains(s, "qoo10") || strings.Contains(s, "QOO10") {
			return true
		}
	}
	for _, s := range ss {
		if mayFoldToQ(s) && foldedContainsQoo10(s) {
			return true
		}
	}
	return false
}

// mayFoldToQ tells whether s holds a rune that folds to 'q' (foldRune):
// 'q' or 'Q' in ASCII or full width. Most text that does not name Qoo10
// has none (Japanese text, most English), and a scan of its bytes is far
// cheaper than decoding and folding every rune.
func mayFoldToQ(s string) bool {
	return strings.IndexByte(s, 'q') >= 0 || strings.IndexByte(s, 'Q') >= 0 || strings.Contains(s, "ｑ") || strings.Contains(s, "Ｑ")
}

// foldedContainsQoo10 reports whether strings.Contains(foldString(s),
// "qoo10"), without building the folded string.
func foldedContainsQoo10(s string) bool {
	const name = "qoo10" // no proper prefix of it recurs inside it
	n := 0               // runes of name matched so far
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' || r >= utf8.RuneSelf && isSpace(r) {
			continue // foldString drops white space
		}
		switch f := foldRune(r); {
		case f == rune(name[n]):
			n++
			if n == len(name) {
				return true
			}
		case f == rune(name[0]):
			n = 1
		default:
			n = 0
		}
	}
	return false
}
