package parse

import (
	"embed"
	"fmt"
	"regexp"
	"strings"

	"github.com/qoo10hook/qoo10hook/event"
)

// template is a J·QSM template compiled for matching.
type template struct {
	name    string
	typ     event.Type
	subject *lineSpec // nil when the template has no subject
	body    []node
	holes   int // lines with placeholders
}

// node is a line of a template or a block repeated per element.
type node struct {
	line *lineSpec
	loop *loopSpec
}

type loopSpec struct {
	name string
	body []node
}

// lineSpec is one template line: literal text around placeholders.
type lineSpec struct {
	no        int       // line number in the template body, for errors
	lits      []literal // len(holes)+1: before, between and after the holes
	raws      []string  // the same text as written, for a quick exact test first
	label     string    // cleanLabel(raws[0]): the label of a mail line that starts exactly as written
	holes     []hole
	optional  bool   // ##DELETE_BLANK_ROW##: absent when its values are empty
	multiline bool   // the value runs until the next template line
	section   string // for literal lines that head a section (■…, [<…])
}

type hole struct {
	name string // placeholder name, e.g. BUYER_NM
	path string // field path, or "" for fields only
}

// anchored reports whether the line has literal text to recognize it by.
func (l *lineSpec) anchored() bool {
	for _, lit := range l.lits {
		if lit.required() {
			return true
		}
	}
	return false
}

var (
	placeholderPattern = regexp.MustCompile(`\[\$_([A-Za-z0-9_]+?)_\$\]|\[S_([A-Za-z0-9_]+?)_S\]`)
	deleteBlankPattern = regexp.MustCompile(`#{0,2}DELETE_BLANK_ROW_?#{0,2}`)
	loopEndPattern     = regexp.MustCompile(`#{0,2}ISLOOP_END#{0,2}`)
	loopPattern        = regexp.MustCompile(`#{0,2}ISLOOP_([A-Za-z0-9_$]+?)_ISLOOP#{0,2}`)
)

// compileTemplate compiles one template; errors name it and the line.
func compileTemplate(src TemplateSource, placeholders map[string]string) (*template, error) {
	t := &template{name: src.Name, typ: src.Type}
	if src.Type != "" && !src.Type.IsOrder() {
		return nil, &TemplateError{Template: src.Name, Part: "type", Msg: fmt.Sprintf("type %q is not an order type", src.Type)}
	}
	if subj := trimSpace(src.Subject); subj != "" {
		l, err := compileLine(subj, 0, placeholders)
		if err != nil {
			te := &TemplateError{Template: src.Name, Part: "subject", Msg: err.Error()}
			if le, ok := err.(*lineError); ok {
				te.Column = columnOf(src.Subject, le)
			}
			return nil, te
		}
		t.subject = l
	}
	lines := strings.Split(normalizeNewlines(src.Body), "\n")
	body, next, err := t.compileNodes(lines, 0, "", placeholders)
	if err != nil {
		return nil, err
	}
	if next < len(lines) {
		return nil, t.lineError(next+1, 0, "##ISLOOP_END## without a loop")
	}
	t.body = body
	if t.holes == 0 {
		return nil, &TemplateError{Template: src.Name, Part: "body", Msg: "body has no placeholder"}
	}
	t.placeCartLevel(t.body, false, t.hasLoop(t.body))
	return t, nil
}

// compileNodes compiles lines from i until the end or ##ISLOOP_END##, whose
// index it returns.
func (t *template) compileNodes(lines []string, i int, loop string, placeholders map[string]string) ([]node, int, error) {
	var nodes []node
	start := i // the line after the loop's start, for an unclosed loop
	for ; i < len(lines); i++ {
		text := strings.TrimRightFunc(lines[i], isSpace)
		if trimSpace(text) == "" {
			continue
		}
		if loopEndPattern.MatchString(text) {
			if loop == "" {
				return nil, i, nil
			}
			return nodes, i, nil
		}
		optional := false
		if deleteBlankPattern.MatchString(text) {
			optional = true
			text = deleteBlankPattern.ReplaceAllLiteralString(text, "")
		}
		multiline := false
		if m := loopPattern.FindStringSubmatch(text); m != nil {
			name := placeholderName(m[1])
			rest := trimSpace(loopPattern.ReplaceAllLiteralString(text, ""))
			if rest == "" && !optional && hasLoopEnd(lines[i+1:]) {
				if loop != "" {
					return nil, 0, t.lineError(i+1, 0, fmt.Sprintf("loop %s inside loop %s", name, loop))
				}
				body, end, err := t.compileNodes(lines, i+1, name, placeholders)
				if err != nil {
					return nil, 0, err
				}
				nodes = append(nodes, node{loop: &loopSpec{name: name, body: body}})
				i = end
				continue
			}
			// An inline loop: the line repeats per element, as one value
			// of several lines.
			text = loopPattern.ReplaceAllLiteralString(text, "[$_"+name+"_$]")
			multiline = true
		}
		l, err := compileLine(text, i+1, placeholders)
		if err != nil {
			col := 0
			if le, ok := err.(*lineError); ok {
				col = columnOf(lines[i], le)
			}
			return nil, 0, t.lineError(i+1, col, err.Error())
		}
		l.optional = optional
		l.multiline = multiline
		for _, h := range l.holes {
			if fieldKinds[h.path] == kindMemo && len(l.holes) == 1 {
				l.multiline = true // a memo or address may continue on the next lines
			}
		}
		if len(l.holes) > 0 {
			t.holes++
		}
		nodes = append(nodes, node{line: l})
	}
	if loop != "" {
		return nil, 0, t.lineError(start, 0, fmt.Sprintf("loop %s has no ##ISLOOP_END##", loop))
	}
	return nodes, i, nil
}

// lineError reports a body line of t that does not compile.
func (t *template) lineError(line, column int, msg string) *TemplateError {
	return &TemplateError{Template: t.name, Part: "body", Line: line, Column: column, Msg: msg}
}

// hasLoopEnd reports whether ##ISLOOP_END## closes a loop started just
// before lines, before any other loop starts.
func hasLoopEnd(lines []string) bool {
	for _, l := range lines {
		if loopEndPattern.MatchString(l) {
			return true
		}
		if loopPattern.MatchString(l) {
			return false
		}
	}
	return false
}

// compileLine splits a line into literals and placeholders.
func compileLine(text string, no int, placeholders map[string]string) (*lineSpec, error) {
	l := &lineSpec{no: no}
	if open := strings.Index(text, "[$_"); open >= 0 && !strings.Contains(text[open:], "_$]") {
		return nil, &lineError{text: text[open:], msg: fmt.Sprintf("unterminated placeholder %q", clip(text[open:]))}
	}
	locs := placeholderPattern.FindAllStringSubmatchIndex(text, -1)
	prev := 0
	var raws []string
	for _, m := range locs {
		raws = append(raws, text[prev:m[0]])
		name := ""
		if m[2] >= 0 {
			name = text[m[2]:m[3]]
		} else {
			name = text[m[4]:m[5]]
		}
		name = strings.ToUpper(name)
		l.holes = append(l.holes, hole{name: name, path: placeholders[name]})
		prev = m[1]
	}
	raws = append(raws, text[prev:])
	for i, r := range raws {
		optLeading := i > 0            // after a placeholder: "円"
		optTrailing := i < len(raws)-1 // before a placeholder: "¥ "
		l.lits = append(l.lits, newLiteral(r, optLeading, optTrailing))
		switch {
		case len(raws) == 1:
			r = trimSpace(r)
		case i == 0:
			r = strings.TrimLeftFunc(r, isSpace)
		case i == len(raws)-1:
			r = strings.TrimRightFunc(r, isSpace)
		}
		l.raws = append(l.raws, r)
		if i > 0 && i < len(raws)-1 && r == "" {
			return nil, &lineError{text: text[locs[i-1][0]:locs[i][1]],
				msg: fmt.Sprintf("placeholders %s and %s need text or a space between them", l.holes[i-1].name, l.holes[i].name)}
		}
	}
	l.label = cleanLabel(l.raws[0])
	if len(l.holes) == 0 {
		l.section = sectionName(text)
	}
	return l, nil
}

func clip(s string) string {
	if len(s) > 30 {
		return s[:30] + "…"
	}
	return s
}

// sectionName returns the name of a section heading such as "■注文者の情報"
// or "[<注文者]", or "".
func sectionName(line string) string {
	s := trimSpace(line)
	for _, mark := range []string{"■", "□", "◆", "◇", "●", "○", "▼", "▽", "★", "☆", "◎"} {
		if strings.HasPrefix(s, mark) {
			return trimSpace(strings.TrimLeft(s, mark))
		}
	}
	switch {
	case strings.HasPrefix(s, "[<") && strings.HasSuffix(s, "]"):
		return trimSpace(s[2 : len(s)-1])
	case strings.HasPrefix(s, "［＜") && strings.HasSuffix(s, "］"):
		return trimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "［＜"), "］"))
	case strings.HasPrefix(s, "【") && strings.HasSuffix(s, "】"):
		return trimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "【"), "】"))
	}
	return ""
}

func (t *template) hasLoop(nodes []node) bool {
	for _, n := range nodes {
		if n.loop != nil {
			return true
		}
	}
	return false
}

// placeCartLevel maps item paths outside the item loop of a group template
// to their cart-level twins.
func (t *template) placeCartLevel(nodes []node, inLoop, grouped bool) {
	for _, n := range nodes {
		if n.loop != nil {
			t.placeCartLevel(n.loop.body, true, grouped)
			continue
		}
		if inLoop || !grouped {
			continue
		}
		for i, h := range n.line.holes {
			if cart, ok := cartLevel[h.path]; ok {
				n.line.holes[i].path = cart
			}
		}
	}
}

//go:embed templates/*.txt
var builtinFS embed.FS

// builtinTypes gives the type of the mails of each built-in template.
var builtinTypes = map[string]event.Type{
	"stockgear-order-unit":       event.OrderPlaced,
	"crossmall-order-group":      event.OrderPlaced,
	"stockgear-transport-unit":   event.OrderPaid,
	"basic-claim-cancel-request": event.OrderCancelRequested,
	"basic-claim-complete":       event.OrderCancelled,
	"basic-trade-complete":       event.OrderCompleted,
}

// builtinTemplates returns the embedded templates, in a fixed order. Each
// file is a "Subject: …" line, a blank line and the body.
func builtinTemplates() []TemplateSource {
	entries, err := builtinFS.ReadDir("templates")
	if err != nil {
		panic(err) // embedded at build time
	}
	var out []TemplateSource
	for _, e := range entries {
		b, err := builtinFS.ReadFile("templates/" + e.Name())
		if err != nil {
			panic(err)
		}
		name := strings.TrimSuffix(e.Name(), ".txt")
		out = append(out, splitTemplateFile(name, builtinTypes[name], string(b)))
	}
	return out
}

// splitTemplateFile splits a "Subject: …" line off a template file.
func splitTemplateFile(name string, typ event.Type, text string) TemplateSource {
	text = normalizeNewlines(text)
	src := TemplateSource{Name: name, Type: typ, Body: text}
	if first, rest, ok := strings.Cut(text, "\n"); ok && strings.HasPrefix(first, "Subject:") {
		src.Subject = trimSpace(strings.TrimPrefix(first, "Subject:"))
		src.Body = rest
	}
	return src
}

// BuiltinTemplates returns the built-in templates as sources, for
// operators to start from and for tests that render mails.
func BuiltinTemplates() []TemplateSource {
	return builtinTemplates()
}
