package parse

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/jhillyerd/enmime/v2"

	"github.com/qoo10hook/qoo10hook/event"
)

// Default limits on the MIME structure of one mail.
const (
	DefaultMaxParts = 100
	DefaultMaxDepth = 10
)

// Sentinel errors reported in Result.Err.
var (
	// ErrNotMessage means the bytes are not a mail: empty, or no header.
	ErrNotMessage = errors.New("not a mail message")
	// ErrTooComplex means the MIME structure exceeds Options.MaxParts or
	// Options.MaxDepth.
	ErrTooComplex = errors.New("mail structure too complex")
)

// InternalError reports a panic inside Parse, recovered: a bug to fix,
// never the mail's fault. The stack is kept for the log, out of Error.
type InternalError struct {
	Value any
	Stack []byte
}

func (e *InternalError) Error() string { return fmt.Sprintf("parse: internal error: %v", e.Value) }

// Options configure a Parser. The zero value gives the built-in behaviour.
type Options struct {
	// Templates are operator templates: added, or replacing a built-in of
	// the same Name. They are tried before the built-in ones.
	Templates []TemplateSource
	// Classes are operator classification rules, tried before the built-in
	// ones.
	Classes []ClassRule
	// Labels maps extra fallback labels to field paths (see FieldPaths),
	// e.g. "お名前" -> "buyer.name".
	Labels map[string]string
	// Placeholders maps extra placeholder names to field paths, e.g.
	// "BUYER_NM" -> "buyer.name". A name is written without its [$_ _$] or
	// [S_ _S] brackets.
	Placeholders map[string]string
	// MaxParts limits the number of MIME parts (0 = DefaultMaxParts).
	MaxParts int
	// MaxDepth limits multipart nesting (0 = DefaultMaxDepth).
	MaxDepth int
}

// TemplateSource is one J·QSM notification template as an operator pastes it.
type TemplateSource struct {
	Name    string     // e.g. "stockgear-order-unit"
	Type    event.Type // the type of mails of this template; empty = classify
	Subject string     // the J·QSM 件名 line, with placeholders
	Body    string     // the J·QSM テンプレート詳細 text, with placeholders
}

// ClassRule classifies a mail whose subject and body contain the given
// substrings. Both are compared after width folding (full-width ASCII as
// half-width, half-width katakana as full-width, ASCII case ignored).
type ClassRule struct {
	Type    event.Type
	Subject string // substring of the decoded subject; empty = any
	Body    string // substring of the body text; empty = any
}

// Result is what Parse read from one mail.
type Result struct {
	Type     event.Type  // one of the five order types, or event.MailUnrecognized
	Order    event.Order // Currency "JPY" when anything was read; Items and Fields never nil
	Template string      // name of the template that matched; "" otherwise
	Parser   string      // "template", "fallback" or "none"
	Problems []string    // non-fatal problems; they never quote buyer data
	// LooksQoo10 is set when the mail names Qoo10 (its sender, subject or
	// body): a Qoo10 notice, whether or not it could be read.
	LooksQoo10 bool

	// Headers of the mail, of the inner mail when it was forwarded by hand.
	// MessageID falls back to the outer mail's when the forward lacks one.
	MessageID string // without <>
	Subject   string // decoded
	From      string // "Name <addr>" or addr
	To        []string
	Date      time.Time // zero when absent or unreadable
	Forwarded bool

	// Err is non-nil when raw cannot be read as a message at all; it wraps
	// ErrNotMessage or ErrTooComplex, or is an *InternalError when Parse
	// recovered from a panic.
	Err error
}

// Parser reads mails. It is safe for concurrent use.
type Parser struct {
	templates []*template // operator templates first, then built-ins
	// operatorRules is set when operators added templates or rules: those
	// may read mails that never mention Qoo10.
	operatorRules bool
	classes       []ClassRule // operator rules, folded
	labels        map[string]string
	placeholders  map[string]string // placeholder name -> field path
	maxParts      int
	maxDepth      int
	mime          *enmime.Parser
}

// New compiles the templates and rules of opts. Its errors name the
// template and line, or the label and field path, at fault.
func New(opts Options) (*Parser, error) {
	p := &Parser{maxParts: opts.MaxParts, maxDepth: opts.MaxDepth,
		operatorRules: len(opts.Templates) > 0 || len(opts.Classes) > 0}
	if p.maxParts <= 0 {
		p.maxParts = DefaultMaxParts
	}
	if p.maxDepth <= 0 {
		p.maxDepth = DefaultMaxDepth
	}
	placeholders, err := placeholderTable(opts.Placeholders)
	if err != nil {
		return nil, err
	}
	labels, err := labelTable(opts.Labels)
	if err != nil {
		return nil, err
	}
	p.labels, p.placeholders = labels, placeholders
	for i, c := range opts.Classes {
		if !c.Type.IsOrder() {
			return nil, fmt.Errorf("parse: class rule %d: type %q is not an order type", i+1, c.Type)
		}
		if c.Subject == "" && c.Body == "" {
			return nil, fmt.Errorf("parse: class rule %d (%s): needs a subject or a body substring", i+1, c.Type)
		}
		p.classes = append(p.classes, ClassRule{Type: c.Type, Subject: foldString(c.Subject), Body: foldString(c.Body)})
	}
	seen := map[string]bool{}
	for _, src := range opts.Templates {
		if src.Name == "" {
			return nil, errors.New("parse: template without a name")
		}
		if seen[src.Name] {
			return nil, fmt.Errorf("parse: template %q: defined twice", src.Name)
		}
		seen[src.Name] = true
		t, err := compileTemplate(src, placeholders)
		if err != nil {
			return nil, err
		}
		p.templates = append(p.templates, t)
	}
	for _, src := range builtinTemplates() {
		if seen[src.Name] {
			continue // replaced by the operator
		}
		t, err := compileTemplate(src, placeholders)
		if err != nil {
			return nil, fmt.Errorf("parse: built-in %w", err)
		}
		p.templates = append(p.templates, t)
	}
	p.mime = newMIMEParser()
	return p, nil
}

// Parse reads one raw mail (header and body, as received over SMTP).
// It never panics: a failure inside is reported in Err.
func (p *Parser) Parse(raw []byte) (res *Result) {
	res = &Result{Type: event.MailUnrecognized, Parser: parserNone}
	defer func() {
		if r := recover(); r != nil {
			*res = Result{Type: event.MailUnrecognized, Parser: parserNone,
				Err: &InternalError{Value: r, Stack: debug.Stack()}}
		}
		if res.Order.Items == nil {
			res.Order.Items = []event.Item{}
		}
		if res.Order.Fields == nil {
			res.Order.Fields = []event.Field{}
		}
	}()
	m, err := p.decodeMail(raw, 0)
	if err != nil {
		res.Err = err
		return res
	}
	p.interpret(m, res)
	return res
}

// MailInfo returns the part of an event's mail that the mail itself gives:
// ids, headers, template, parser and problems. The caller adds the queue id,
// the received time and the authentication results.
func (r *Result) MailInfo() *event.Mail {
	m := &event.Mail{
		MessageID: r.MessageID,
		Subject:   r.Subject,
		From:      r.From,
		To:        r.To,
		Template:  r.Template,
		Parser:    r.Parser,
		Problems:  r.Problems,
		Forwarded: r.Forwarded,
	}
	if m.To == nil {
		m.To = []string{}
	}
	if !r.Date.IsZero() {
		d := r.Date
		m.Date = &d
	}
	return m
}
