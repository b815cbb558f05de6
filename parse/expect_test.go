package parse

import (
	"errors"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/event"
)

// TestCompileErrorsSayWhere: a template that does not compile names its
// line and column, as the admin API answers them.
func TestCompileErrorsSayWhere(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		src        TemplateSource
		part       string
		line, col  int
		msgContain string
	}{
		{"unterminated", TemplateSource{Name: "t", Body: "注文\n  お名前：[$_BUYER_NM 様"}, "body", 2, 7, "unterminated placeholder"},
		{"adjacent", TemplateSource{Name: "t", Body: "##DELETE_BLANK_ROW##数量：[$_ORDER_QTY_$][$_ORDER_NO_$]"}, "body", 1, 24, "need text"},
		{"loop end", TemplateSource{Name: "t", Body: "注文番号：[$_ORDER_NO_$]\n\n##ISLOOP_END##\n"}, "body", 3, 0, "without a loop"},
		{"subject", TemplateSource{Name: "t", Subject: "注文 [$_ORDER_NO", Body: "注文番号：[$_ORDER_NO_$]"}, "subject", 0, 4, "unterminated"},
		{"type", TemplateSource{Name: "t", Type: "order.shipped", Body: "注文番号：[$_ORDER_NO_$]"}, "type", 0, 0, "not an order type"},
		{"no placeholder", TemplateSource{Name: "t", Body: "ありがとうございます"}, "body", 0, 0, "no placeholder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Compile(tc.src)
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a *TemplateError", err)
			}
			if te.Part != tc.part || te.Line != tc.line || te.Column != tc.col || !strings.Contains(te.Msg, tc.msgContain) {
				t.Fatalf("got part %q line %d column %d %q, want %q line %d column %d containing %q",
					te.Part, te.Line, te.Column, te.Msg, tc.part, tc.line, tc.col, tc.msgContain)
			}
		})
	}
	sum, err := p.Compile(TemplateSource{Name: "ok", Type: event.OrderPlaced, Subject: "注文 [$_ORDER_NO_$]",
		Body: "注文番号：[$_ORDER_NO_$]\n##DELETE_BLANK_ROW##数量：[$_ORDER_QTY_$]\n"})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Subject || sum.Lines != 2 || len(sum.Placeholders) != 2 || sum.Placeholders[1].Path != "items.qty" || !sum.Placeholders[1].Optional {
		t.Fatalf("summary = %+v", sum)
	}
}

// TestPartial: an order event that lacks what it needs says so in its
// problems, and is partial; a complete one is not.
func TestPartial(t *testing.T) {
	p, err := New(Options{Templates: []TemplateSource{{Name: "short", Type: event.OrderPlaced,
		Body: "Qoo10 注文\n注文番号：[$_ORDER_NO_$]\n##DELETE_BLANK_ROW##数量：[$_ORDER_QTY_$]\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	mail := func(body string) []byte {
		return []byte("From: Qoo10 <a@qoo10.jp>\r\nSubject: 注文情報\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body)
	}
	full := p.Parse(mail("Qoo10 注文\r\n注文番号：123\r\n数量：2\r\n"))
	if full.Type != event.OrderPlaced || full.Partial() {
		t.Fatalf("complete mail: type %s, problems %q", full.Type, full.Problems)
	}
	part := p.Parse(mail("Qoo10 注文\r\n注文番号：123\r\n"))
	if part.Type != event.OrderPlaced || !part.Partial() || !strings.Contains(strings.Join(part.Problems, ";"), "missing: items[0].qty") {
		t.Fatalf("mail without quantity: type %s, problems %q", part.Type, part.Problems)
	}
}

// TestDecode: the decoded text is what the parser reads; the HTML part
// is shown as text beside it.
func TestDecode(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := "From: Qoo10 <a@qoo10.jp>\r\nSubject: =?UTF-8?B?5rOo5paH5oOF5aCx?=\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$BCmJ8HV9f\x1b(B: 1\r\n" +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>注文番号<br>2</p>\r\n--b--\r\n"
	d, err := p.Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if d.Subject != "注文情報" || !strings.Contains(d.Text, "注文番号: 1") || !strings.Contains(d.HTML, "注文番号\n2") {
		t.Fatalf("decoded %+v", d)
	}
	if _, err := p.Decode([]byte("")); !errors.Is(err, ErrNotMessage) {
		t.Fatalf("empty mail: %v", err)
	}
}
