package parse

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/qoo10hook/qoo10hook/event"
)

// TestFallbackAgreesWithTemplates reads every golden mail that a built-in
// template reads a second time with the built-ins disabled: the tolerant
// fallback must find the same order. Real mails will not match the
// reconstructed templates exactly, so the fallback is what reads them.
func TestFallbackAgreesWithTemplates(t *testing.T) {
	t.Parallel()
	withTemplates, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	fallbackOnly := fallbackOnlyParser(t)
	files, _ := filepath.Glob("testdata/*.eml")
	compared := 0
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want := withTemplates.Parse(raw)
		if want.Parser != parserTemplate {
			continue
		}
		got := fallbackOnly.Parse(raw)
		if got.Parser != parserFallback {
			t.Errorf("%s: parser %q", file, got.Parser)
			continue
		}
		compared++
		if got.Type != want.Type {
			t.Errorf("%s: type %q, template read %q", file, got.Type, want.Type)
		}
		g, w := orderData(got.Order), orderData(want.Order)
		if g != w {
			t.Errorf("%s: fallback read\n%s\ntemplate read\n%s", file, g, w)
		}
	}
	if compared < 20 {
		t.Errorf("compared only %d mails", compared)
	}
}

// fallbackOnlyParser replaces every built-in template with one no mail
// matches, leaving the fallback to read everything.
func fallbackOnlyParser(t *testing.T) *Parser {
	t.Helper()
	var disabled []TemplateSource
	for _, s := range builtinTemplates() {
		disabled = append(disabled, TemplateSource{Name: s.Name, Body: "never: [$_NEVER_$]\nmatches: [$_NEVER_$]"})
	}
	p, err := New(Options{Templates: disabled})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// orderData is the order without its fields, as JSON.
func orderData(o event.Order) string {
	o.Fields = nil
	b, _ := json.MarshalIndent(o, "", " ")
	return string(b)
}
