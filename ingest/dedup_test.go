package ingest

import (
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/parse"
)

func TestDedupKey(t *testing.T) {
	t.Parallel()
	p, err := parse.New(parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mail := func(headers, body string) []byte {
		return []byte(strings.ReplaceAll(headers+"\n"+body, "\n", "\r\n"))
	}
	key := func(raw []byte, rcpts ...string) string { return DedupKey(p.Parse(raw), raw, rcpts) }
	const head = "From: Qoo10 <qoo10info@qoo10.jp>\nTo: orders@in.example.test\nSubject: Qoo10の注文のお知らせ\nDate: Thu, 26 Nov 2026 21:04:55 +0900\n"
	withID := mail(head+"Message-ID: <m1@qoo10.jp>\n", "注文番号: 1001\n")
	noID := mail(head, "注文番号: 1001\n")
	rcpt := "orders@in.example.test"

	same := []struct {
		name string
		a, b string
	}{
		{"the same Message-ID, another route of the mail", key(withID, rcpt),
			key(mail("Received: from relay.example\n"+head+"Message-ID: <m1@qoo10.jp>\n", "注文番号: 1001\n"), rcpt)},
		{"recipients in another order and case", key(withID, rcpt, "b@in.example.test"), key(withID, "B@in.example.test", "ORDERS@in.example.test")},
		{"no Message-ID: same Date, From, Subject and body", key(noID, rcpt),
			key(mail("Received: from relay.example\n"+head, "注文番号: 1001\n"), rcpt)},
		{"no Message-ID: the same Date written in another zone", key(noID, rcpt),
			key(mail(strings.Replace(head, "Thu, 26 Nov 2026 21:04:55 +0900", "Thu, 26 Nov 2026 12:04:55 +0000", 1), "注文番号: 1001\n"), rcpt)},
	}
	for _, c := range same {
		if c.a != c.b {
			t.Errorf("%s: keys differ", c.name)
		}
	}
	differ := []struct {
		name string
		a, b string
	}{
		{"another Message-ID", key(withID, rcpt), key(mail(head+"Message-ID: <m2@qoo10.jp>\n", "注文番号: 1001\n"), rcpt)},
		{"the same Message-ID to another recipient", key(withID, rcpt), key(withID, "other@in.example.test")},
		{"no Message-ID: another body", key(noID, rcpt), key(mail(head, "注文番号: 1002\n"), rcpt)},
		{"no Message-ID: another Date", key(noID, rcpt),
			key(mail(strings.Replace(head, "21:04:55", "21:04:56", 1), "注文番号: 1001\n"), rcpt)},
		{"no Message-ID: another Subject", key(noID, rcpt),
			key(mail(strings.Replace(head, "Subject: Qoo10の注文のお知らせ", "Subject: Qoo10の発注のお知らせ", 1), "注文番号: 1001\n"), rcpt)},
		{"no Message-ID: another From", key(noID, rcpt),
			key(mail(strings.Replace(head, "qoo10info@qoo10.jp", "other@qoo10.jp", 1), "注文番号: 1001\n"), rcpt)},
		{"a Message-ID or none", key(withID, rcpt), key(noID, rcpt)},
	}
	for _, c := range differ {
		if c.a == c.b {
			t.Errorf("%s: same key", c.name)
		}
	}
}
