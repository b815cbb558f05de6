package parse

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/qoo10hook/qoo10hook/event"
)

var datePattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}\+09:00)?$`)

// FuzzParse feeds arbitrary bytes to Parse: it must not panic (a recovered
// panic surfaces as an error wrapping neither sentinel), and what it
// returns must keep the invariants the event relies on.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	p, err := New(testOptions())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := p.Parse(raw)
		if r.Err != nil {
			if !errors.Is(r.Err, ErrNotMessage) && !errors.Is(r.Err, ErrTooComplex) {
				t.Fatalf("unexpected error: %v", r.Err)
			}
			return
		}
		checkInvariants(t, r)
	})
}

func checkInvariants(t *testing.T, r *Result) {
	t.Helper()
	o := r.Order
	if o.Items == nil || o.Fields == nil {
		t.Fatal("nil items or fields")
	}
	if r.Type != event.MailUnrecognized && !r.Type.IsOrder() {
		t.Fatalf("type %q", r.Type)
	}
	switch r.Parser {
	case parserTemplate, parserFallback, parserNone:
	default:
		t.Fatalf("parser %q", r.Parser)
	}
	if (r.Template != "") != (r.Parser == parserTemplate) {
		t.Fatalf("template %q with parser %q", r.Template, r.Parser)
	}
	if (len(o.Fields) > 0 || len(o.Items) > 0) != (o.Currency == "JPY") {
		t.Fatalf("currency %q with %d fields", o.Currency, len(o.Fields))
	}
	for _, d := range []string{o.OrderDate, o.PaymentDate, o.DesiredDeliveryDate, o.CancelRequestedAt, o.CancelledAt, o.CompletedAt} {
		if d != "" && !datePattern.MatchString(d) {
			t.Fatalf("date %q", d)
		}
	}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(b) {
		t.Fatal("invalid UTF-8 in JSON")
	}
	for _, s := range append([]string{r.Subject, r.From, r.MessageID}, r.Problems...) {
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q", s)
		}
	}
}

// FuzzTemplate compiles arbitrary template text: New must return a
// template or an error, never panic, and a compiled template must read
// mails without panicking.
func FuzzTemplate(f *testing.F) {
	for _, s := range builtinTemplates() {
		f.Add(s.Subject, s.Body)
	}
	f.Add("[$_A_$]", "##ISLOOP_X_ISLOOP##\n[$_A_$] [$_B_$]\n##ISLOOP_END##")
	f.Fuzz(func(t *testing.T, subject, body string) {
		p, err := New(Options{Templates: []TemplateSource{{Name: "fuzz", Subject: subject, Body: body}}})
		if err != nil {
			return
		}
		r := p.Parse([]byte("Subject: " + subject + "\n\n" + body))
		if r.Err != nil && !errors.Is(r.Err, ErrNotMessage) {
			t.Fatalf("unexpected error: %v", r.Err)
		}
	})
}
