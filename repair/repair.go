// Package repair fixes at run time what the parser got wrong: it keeps the parser's templates current and reads stored mails again.
package repair

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/ingest"
	"github.com/qoo10hook/qoo10hook/parse"
	"github.com/qoo10hook/qoo10hook/store"
)

// Sources of a template.
const (
	SourceBuiltin = "builtin"
	SourceFile    = "file"
	SourceStored  = "stored"
)

// DefaultPollInterval is how often an instance looks for templates that
// another instance stored.
const DefaultPollInterval = 2 * time.Second

// Registry holds the current parser: the built-in templates, the config
// file's parse section and the stored templates, rebuilt whenever the
// file is reloaded or the stored set changes. It is an ingest.Parser.
type Registry struct {
	cur   atomic.Pointer[parse.Parser]
	store *store.Store
	log   *slog.Logger

	mu      sync.Mutex // serializes rebuilds
	file    parse.Options
	stored  []store.Template
	version int64 // of stored, -1 before the first read
	broken  map[string]string
	// changed, when set, is told of every rebuild (tests wait on it).
	changed func()
}

// Options configure a Registry.
type Options struct {
	// File is the parse section of the configuration file, with the MIME
	// limits; its templates win over stored ones of the same name.
	File  parse.Options
	Store *store.Store
	Log   *slog.Logger
	// Changed, when set, is called after each rebuild.
	Changed func()
}

// New builds the registry from the file's section and the stored
// templates.
func New(ctx context.Context, o Options) (*Registry, error) {
	r := &Registry{store: o.Store, log: o.Log, file: o.File, version: -1, changed: o.Changed}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	p, err := parse.New(o.File)
	if err != nil {
		return nil, err
	}
	r.cur.Store(p)
	if err := r.Refresh(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Parse reads a mail with the current parser.
func (r *Registry) Parse(raw []byte) *parse.Result { return r.cur.Load().Parse(raw) }

// Parser returns the current parser.
func (r *Registry) Parser() *parse.Parser { return r.cur.Load() }

// Reload replaces the file's section (on SIGHUP). On error the parser in
// use stays.
func (r *Registry) Reload(file parse.Options) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.rebuild(file, r.stored); err != nil {
		return err
	}
	r.file = file
	return nil
}

// Refresh reads the stored templates again if their version moved.
func (r *Registry) Refresh(ctx context.Context) error {
	if r.store == nil {
		return nil
	}
	v, err := r.store.TemplatesVersion(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if v == r.version {
		return nil
	}
	ts, v, err := r.store.Templates(ctx)
	if err != nil {
		return err
	}
	if err := r.rebuild(r.file, ts); err != nil {
		return err
	}
	r.stored, r.version = ts, v
	return nil
}

// Poll refreshes every interval until ctx ends, so that templates stored
// through another instance are used within seconds.
func (r *Registry) Poll(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("templates: reading the stored templates failed; the parser in use stays", "err", err)
			}
		}
	}
}

// rebuild builds the parser from file and stored and makes it current. A
// stored template that no longer compiles (the file's placeholders
// changed) is left out and reported; a file template of the same name
// wins over a stored one.
func (r *Registry) rebuild(file parse.Options, stored []store.Template) error {
	base, err := parse.New(file)
	if err != nil {
		return err
	}
	opts := file
	opts.Templates = slices.Clone(file.Templates)
	broken := map[string]string{}
	for _, t := range stored {
		if fileHas(file, t.Name) {
			continue
		}
		src := sourceOf(t)
		if _, err := base.Compile(src); err != nil {
			broken[t.Name] = err.Error()
			r.log.Warn("templates: stored template does not compile, left out", "template", t.Name, "err", err)
			continue
		}
		opts.Templates = append(opts.Templates, src)
	}
	p, err := parse.New(opts)
	if err != nil {
		return err
	}
	r.cur.Store(p)
	r.broken = broken
	r.log.Info("templates: parser rebuilt", "file_templates", len(file.Templates), "stored_templates", len(stored)-len(broken))
	if r.changed != nil {
		r.changed()
	}
	return nil
}

func fileHas(file parse.Options, name string) bool {
	for _, t := range file.Templates {
		if t.Name == name {
			return true
		}
	}
	return false
}

func sourceOf(t store.Template) parse.TemplateSource {
	return parse.TemplateSource{Name: t.Name, Type: event.Type(t.Type), Subject: t.Subject, Body: t.Body}
}

// Info is a template as operators list it.
type Info struct {
	Name    string `json:"name"`
	Type    string `json:"type,omitempty"`
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body"`
	// Source is builtin, file or stored.
	Source string `json:"source"`
	// OverriddenBy names the source of a template of the same name that
	// is used instead of this one (file over stored and built-in; stored
	// over built-in).
	OverriddenBy string     `json:"overridden_by,omitempty"`
	UpdatedAt    *time.Time `json:"updated_at,omitempty"`
	// Error says why a stored template is not used.
	Error   string                 `json:"error,omitempty"`
	Summary *parse.TemplateSummary `json:"summary,omitempty"`
}

// List returns every template: file, stored, then built-in ones.
func (r *Registry) List(ctx context.Context) ([]Info, error) {
	if err := r.Refresh(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	file, stored, broken := r.file, r.stored, r.broken
	r.mu.Unlock()
	p := r.Parser()
	storedHas := map[string]bool{}
	var out []Info
	for _, t := range file.Templates {
		out = append(out, r.info(p, t, SourceFile, ""))
	}
	for _, t := range stored {
		storedHas[t.Name] = true
		over := ""
		if fileHas(file, t.Name) {
			over = SourceFile
		}
		i := r.info(p, sourceOf(t), SourceStored, over)
		at := t.UpdatedAt
		i.UpdatedAt = &at
		if e, ok := broken[t.Name]; ok {
			i.Error, i.Summary = e, nil
		}
		out = append(out, i)
	}
	for _, t := range parse.BuiltinTemplates() {
		over := ""
		switch {
		case fileHas(file, t.Name):
			over = SourceFile
		case storedHas[t.Name] && broken[t.Name] == "":
			over = SourceStored
		}
		out = append(out, r.info(p, t, SourceBuiltin, over))
	}
	return out, nil
}

func (r *Registry) info(p *parse.Parser, t parse.TemplateSource, source, over string) Info {
	i := Info{Name: t.Name, Type: string(t.Type), Subject: t.Subject, Body: t.Body, Source: source, OverriddenBy: over}
	if sum, err := p.Compile(t); err == nil {
		i.Summary = sum
	} else {
		i.Error = err.Error()
	}
	return i
}

// ErrBadTemplate wraps what is wrong with a template put or tried.
var ErrBadTemplate = errors.New("bad template")

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// Check compiles t with the current parser's placeholders: nil, a
// *parse.TemplateError saying where, or an ErrBadTemplate.
func (r *Registry) Check(t parse.TemplateSource) (*parse.TemplateSummary, error) {
	if !namePattern.MatchString(t.Name) {
		return nil, fmt.Errorf("%w: name %q: use letters, digits, '.', '_' and '-' (at most 100)", ErrBadTemplate, t.Name)
	}
	if t.Type != "" && !slices.Contains(event.OrderTypes, t.Type) {
		return nil, fmt.Errorf("%w: type %q is not an order event type", ErrBadTemplate, t.Type)
	}
	return r.Parser().Compile(t)
}

// Put stores t, after checking it compiles, and rebuilds the parser. It
// returns the template as listed: OverriddenBy says when a file template
// of the same name is used instead.
func (r *Registry) Put(ctx context.Context, t parse.TemplateSource) (*Info, bool, error) {
	if _, err := r.Check(t); err != nil {
		return nil, false, err
	}
	created, err := r.store.PutTemplate(ctx, store.Template{Name: t.Name, Type: string(t.Type), Subject: t.Subject, Body: t.Body})
	if err != nil {
		return nil, false, err
	}
	if err := r.Refresh(ctx); err != nil {
		return nil, false, err
	}
	info, err := r.find(ctx, t.Name, SourceStored)
	return info, created, err
}

// Delete removes a stored template and rebuilds the parser. A file or
// built-in template is not stored: it is changed in the config file.
func (r *Registry) Delete(ctx context.Context, name string) error {
	err := r.store.DeleteTemplate(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		r.mu.Lock()
		inFile := fileHas(r.file, name)
		r.mu.Unlock()
		builtin := slices.ContainsFunc(parse.BuiltinTemplates(), func(t parse.TemplateSource) bool { return t.Name == name })
		where := "built in"
		if inFile {
			where = "in the config file"
		}
		if inFile || builtin {
			return fmt.Errorf("template %s is not stored but %s: change it in the config file's parse.templates (and send SIGHUP): %w",
				name, where, store.ErrNotFound)
		}
		return fmt.Errorf("no stored template %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return r.Refresh(ctx)
}

func (r *Registry) find(ctx context.Context, name, source string) (*Info, error) {
	all, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].Name == name && all[i].Source == source {
			return &all[i], nil
		}
	}
	return nil, fmt.Errorf("template %s: %w", name, store.ErrNotFound)
}

// With returns a parser that has t besides the current templates (in
// place of one of the same name), to try t without storing it.
func (r *Registry) With(t parse.TemplateSource) (*parse.Parser, error) {
	if _, err := r.Check(t); err != nil {
		return nil, err
	}
	r.mu.Lock()
	file, stored := r.file, r.stored
	r.mu.Unlock()
	opts := file
	opts.Templates = []parse.TemplateSource{t}
	for _, f := range file.Templates {
		if f.Name != t.Name {
			opts.Templates = append(opts.Templates, f)
		}
	}
	for _, s := range stored {
		if s.Name != t.Name && !fileHas(file, s.Name) {
			if _, err := r.Parser().Compile(sourceOf(s)); err == nil {
				opts.Templates = append(opts.Templates, sourceOf(s))
			}
		}
	}
	return parse.New(opts)
}

// TryReport is what a template would do to the mails it was tried on.
type TryReport struct {
	Template string                 `json:"template"`
	Summary  *parse.TemplateSummary `json:"summary"`
	Mails    int                    `json:"mails"`
	// Matched counts the mails the template reads; Changed, those whose
	// events a re-parse would change.
	Matched int                    `json:"matched"`
	Changed int                    `json:"changed"`
	Results []ingest.ReparseResult `json:"results"`
}

// Try reads the mails f selects with t added, changing nothing: which
// of them t reads, and the events they would give.
func (r *Registry) Try(ctx context.Context, p *ingest.Pipeline, t parse.TemplateSource, f store.MailFilter) (*TryReport, error) {
	sum, err := r.Check(t)
	if err != nil {
		return nil, err
	}
	parser, err := r.With(t)
	if err != nil {
		return nil, err
	}
	rep, err := p.WithParser(parser).Reparse(ctx, f, true)
	if err != nil {
		return nil, err
	}
	out := &TryReport{Template: t.Name, Summary: sum, Mails: rep.Mails, Changed: rep.Changed, Results: rep.Results}
	for _, res := range rep.Results {
		if res.Template == t.Name {
			out.Matched++
		}
	}
	return out, nil
}

// Service is what the admin API runs on: the registry and the pipeline
// that re-parses with it.
type Service struct {
	*Registry
	Pipeline *ingest.Pipeline
}

// Reparse reads the mails f selects again; see ingest.Pipeline.Reparse.
func (s *Service) Reparse(ctx context.Context, f store.MailFilter, dryRun bool) (*ingest.ReparseReport, error) {
	return s.Pipeline.Reparse(ctx, f, dryRun)
}

// TryTemplate tries t on the mails f selects, changing nothing.
func (s *Service) TryTemplate(ctx context.Context, t parse.TemplateSource, f store.MailFilter) (*TryReport, error) {
	return s.Try(ctx, s.Pipeline, t, f)
}
