package parse

import (
	"strings"

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

// classify gives the type of a mail: operator rules first, then the type
// of the template that read it, then Qoo10's wording, which counts only in
// mail that names Qoo10 (a shop's own "注文のお知らせ" is not an order of
// ours).
func (p *Parser) classify(subject, from, body string, t *template) event.Type {
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
	if t == nil && !strings.Contains(fs, "qoo10") && !strings.Contains(strings.ToLower(from), "qoo10") &&
		!strings.Contains(foldedBody(), "qoo10") {
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
