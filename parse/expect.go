package parse

import (
	"fmt"
	"strings"

	"github.com/qoo10hook/qoo10hook/event"
)

// MissingPrefix starts the problem that names an expected field the mail
// did not give: a result with one is read only in part.
const MissingPrefix = "missing: "

// Partial reports whether r is an order event read only in part: some
// field that its template or the fallback expects is missing or could not
// be read (its problems say which).
func (r *Result) Partial() bool {
	return r.Type != event.MailUnrecognized && r.Err == nil && len(r.Problems) > 0
}

// checkExpected adds a "missing: …" problem for each field an order event
// of res.Type needs and the mail did not give: an order line, each line's
// order number, and the quantity of what is ordered or shipped. A
// template's own lines need no check here: a template whose required line
// is not in the mail does not match it at all.
func checkExpected(res *Result, b *builder) {
	if res.Type == event.MailUnrecognized {
		return
	}
	o := &res.Order
	if len(o.Items) == 0 {
		b.problem(MissingPrefix + "items (no order line read)")
	}
	needQty := res.Type == event.OrderPlaced || res.Type == event.OrderPaid
	for i := range o.Items {
		if o.Items[i].OrderNo == "" {
			b.problem("%sitems[%d].order_no", MissingPrefix, i)
		}
		if needQty && o.Items[i].Qty == nil {
			b.problem("%sitems[%d].qty", MissingPrefix, i)
		}
	}
}

// TemplateError is a template that does not compile, with where: Line and
// Column are 1-based in the body (Line 0 for the subject line or the
// template as a whole), Column 0 when no one column is at fault.
type TemplateError struct {
	Template string
	Part     string // "body", "subject" or "type"
	Line     int
	Column   int
	Msg      string
}

func (e *TemplateError) Error() string {
	switch {
	case e.Part == "subject" && e.Column > 0:
		return fmt.Sprintf("parse: template %q subject column %d: %s", e.Template, e.Column, e.Msg)
	case e.Part == "subject":
		return fmt.Sprintf("parse: template %q subject: %s", e.Template, e.Msg)
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("parse: template %q line %d column %d: %s", e.Template, e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("parse: template %q line %d: %s", e.Template, e.Line, e.Msg)
	}
	return fmt.Sprintf("parse: template %q: %s", e.Template, e.Msg)
}

// lineError is a compileLine error, with the text at fault.
type lineError struct {
	text string // the text at fault, to find it in the line as written
	msg  string
}

func (e *lineError) Error() string { return e.msg }

// columnOf returns the 1-based column (in characters) of the text at
// fault in line as written, or 0 when it cannot be found.
func columnOf(line string, e *lineError) int {
	i := -1
	if e.text != "" {
		i = strings.Index(line, e.text)
	}
	if i < 0 {
		return 0
	}
	return len([]rune(line[:i])) + 1
}

// TemplateSummary is what a compiled template reads, as operators see it.
type TemplateSummary struct {
	Name    string     `json:"name"`
	Type    event.Type `json:"type,omitempty"`
	Subject bool       `json:"subject"` // whether a subject line is matched
	// Lines counts the body's template lines; Placeholders lists each
	// placeholder with the field path it fills ("" = kept in fields).
	Lines        int                  `json:"lines"`
	Loops        int                  `json:"loops"`
	Placeholders []PlaceholderSummary `json:"placeholders"`
}

// PlaceholderSummary is one placeholder of a template.
type PlaceholderSummary struct {
	Name     string `json:"name"`
	Path     string `json:"path,omitempty"`
	Line     int    `json:"line"`
	Optional bool   `json:"optional,omitempty"`
}

// Compile compiles one template as p would (with p's placeholders) and
// summarizes it; its error is a *TemplateError saying where.
func (p *Parser) Compile(src TemplateSource) (*TemplateSummary, error) {
	t, err := compileTemplate(src, p.placeholders)
	if err != nil {
		return nil, err
	}
	s := &TemplateSummary{Name: t.name, Type: t.typ, Subject: t.subject != nil, Placeholders: []PlaceholderSummary{}}
	var walk func([]node)
	walk = func(nodes []node) {
		for _, n := range nodes {
			if n.loop != nil {
				s.Loops++
				walk(n.loop.body)
				continue
			}
			s.Lines++
			for _, h := range n.line.holes {
				s.Placeholders = append(s.Placeholders, PlaceholderSummary{Name: h.name, Path: h.path,
					Line: n.line.no, Optional: n.line.optional})
			}
		}
	}
	walk(t.body)
	return s, nil
}
