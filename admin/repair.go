package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/parse"
	"github.com/qoo10hook/qoo10hook/repair"
	"github.com/qoo10hook/qoo10hook/store"
)

// routesRepair adds the templates and re-parse API, and the console's
// template editor and re-parse forms, when the service has the repair
// service.
func (h *Handler) routesRepair() {
	if h.repair == nil {
		return
	}
	h.mux.HandleFunc("GET /api/v1/templates", h.apiTemplates)
	h.mux.HandleFunc("PUT /api/v1/templates/{name}", h.apiPutTemplate)
	h.mux.HandleFunc("DELETE /api/v1/templates/{name}", h.apiDeleteTemplate)
	h.mux.HandleFunc("POST /api/v1/templates/try", h.apiTryTemplate)
	h.mux.HandleFunc("POST /api/v1/messages/reparse", h.apiReparse)
	h.mux.HandleFunc("POST /admin/messages/{id}/template", h.formTemplate)
	h.mux.HandleFunc("POST /admin/messages/{id}/reparse", h.formReparseMail)
	h.mux.HandleFunc("POST /admin/messages/reparse", h.formReparseAll)
}

// maxRequestBody bounds a JSON request (a template is a few kilobytes).
const maxRequestBody = 1 << 20

// templateBody is a template as PUT and tried.
type templateBody struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

func (t templateBody) source() parse.TemplateSource {
	return parse.TemplateSource{Name: t.Name, Type: event.Type(t.Type), Subject: t.Subject, Body: t.Body}
}

// selection picks stored mails: by ids (numeric ids or queue ids), or by
// status, time received and seller.
type selection struct {
	IDs      []json.RawMessage `json:"ids"`
	Status   []string          `json:"status"`
	Since    string            `json:"since"`
	Until    string            `json:"until"`
	SellerID string            `json:"seller_id"`
	Limit    int               `json:"limit"`
}

var mailStatuses = []string{store.MailParsed, store.MailPartial, store.MailUnrecognized, store.MailDuplicateEvent, store.MailQuarantined}

// filter turns the selection into a mail filter; deflt is the statuses
// selected when nothing is said, nil to require a selection.
func (s selection) filter(deflt []string) (store.MailFilter, error) {
	f := store.MailFilter{Statuses: s.Status, SellerID: s.SellerID, Limit: s.Limit}
	for _, raw := range s.IDs {
		var n int64
		var q string
		switch {
		case json.Unmarshal(raw, &n) == nil && n > 0:
			f.IDs = append(f.IDs, strconv.FormatInt(n, 10))
		case json.Unmarshal(raw, &q) == nil && q != "":
			f.IDs = append(f.IDs, q)
		default:
			return f, badRequest{fmt.Errorf("ids: %s is not a mail id or queue id", raw)}
		}
	}
	for _, st := range s.Status {
		if !slices.Contains(mailStatuses, st) {
			return f, badRequest{fmt.Errorf("status %q: want one of %v", st, mailStatuses)}
		}
	}
	for _, t := range []struct {
		name string
		v    string
		dst  *time.Time
	}{{"since", s.Since, &f.Since}, {"until", s.Until, &f.Until}} {
		if t.v == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339, t.v)
		if err != nil {
			return f, badRequest{fmt.Errorf("%s=%q: want an RFC 3339 time such as 2026-12-01T00:00:00+09:00", t.name, t.v)}
		}
		*t.dst = at
	}
	if len(f.IDs) == 0 && len(f.Statuses) == 0 && f.Since.IsZero() && f.Until.IsZero() && f.SellerID == "" {
		if deflt == nil {
			return f, badRequest{errors.New(`select mails: "ids", or a filter ("status", "since", "until", "seller_id")`)}
		}
		f.Statuses = deflt
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	return f, nil
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest{fmt.Errorf("request body: %w", err)}
	}
	return nil
}

// templateError is the 400 answer to a template that does not compile.
type templateError struct {
	Error  string `json:"error"`
	Part   string `json:"part,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// failTemplate answers a template that does not compile with where, or
// any other error as fail does.
func (h *Handler) failTemplate(w http.ResponseWriter, r *http.Request, err error) {
	var te *parse.TemplateError
	switch {
	case errors.As(err, &te):
		writeJSON(w, http.StatusBadRequest, templateError{Error: te.Error(), Part: te.Part, Line: te.Line, Column: te.Column})
	case errors.Is(err, repair.ErrBadTemplate):
		writeJSON(w, http.StatusBadRequest, templateError{Error: err.Error()})
	default:
		h.fail(w, r, err)
	}
}

type templatesPage struct {
	Templates []repair.Info `json:"templates"`
}

func (h *Handler) apiTemplates(w http.ResponseWriter, r *http.Request) {
	ts, err := h.repair.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, templatesPage{Templates: ts})
}

type putResult struct {
	Template *repair.Info `json:"template"`
	Created  bool         `json:"created"`
	Warning  string       `json:"warning,omitempty"`
}

func (h *Handler) apiPutTemplate(w http.ResponseWriter, r *http.Request) {
	var t templateBody
	if err := decodeBody(r, &t); err != nil {
		h.fail(w, r, err)
		return
	}
	if t.Name != "" && t.Name != r.PathValue("name") {
		h.fail(w, r, badRequest{fmt.Errorf("name %q in the body differs from %q in the path", t.Name, r.PathValue("name"))})
		return
	}
	t.Name = r.PathValue("name")
	info, created, err := h.repair.Put(r.Context(), t.source())
	if err != nil {
		h.failTemplate(w, r, err)
		return
	}
	res := putResult{Template: info, Created: created}
	if info.OverriddenBy == repair.SourceFile {
		res.Warning = "the config file has a template of this name, which is used instead: remove it there (and send SIGHUP) for this one to apply"
	}
	h.log.Info("admin: template stored", "template", t.Name, "created", created, "by", actor(r))
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) apiDeleteTemplate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := h.repair.Delete(r.Context(), name); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("admin: template deleted", "template", name, "by", actor(r))
	writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
}

type tryBody struct {
	templateBody
	selection
}

func (h *Handler) apiTryTemplate(w http.ResponseWriter, r *http.Request) {
	var b tryBody
	if err := decodeBody(r, &b); err != nil {
		h.fail(w, r, err)
		return
	}
	if b.Name == "" {
		b.Name = "try"
	}
	f, err := b.filter([]string{store.MailUnrecognized, store.MailPartial})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rep, err := h.repair.TryTemplate(r.Context(), b.source(), f)
	if err != nil {
		h.failTemplate(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

type reparseBody struct {
	selection
	DryRun bool `json:"dry_run"`
}

func (h *Handler) apiReparse(w http.ResponseWriter, r *http.Request) {
	var b reparseBody
	if err := decodeBody(r, &b); err != nil {
		h.fail(w, r, err)
		return
	}
	f, err := b.filter(nil)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rep, err := h.repair.Reparse(r.Context(), f, b.DryRun)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("admin: mails re-parsed", "mails", rep.Mails, "changed", rep.Changed, "dry_run", b.DryRun, "by", actor(r))
	writeJSON(w, http.StatusOK, rep)
}
