package admin

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/parse"
	"github.com/qoo10hook/qoo10hook/repair"
	"github.com/qoo10hook/qoo10hook/store"
)

// mailPage is the mail page's data: the mail, and what the template
// editor shows beside it.
type mailPage struct {
	*store.MailDetail
	Repair *mailRepair
}

// mailRepair is the decoded mail and the editor's state.
type mailRepair struct {
	Decoded   *parse.Decoded
	DecodeErr string
	Raw       string
	Form      templateBody
	Try       *repair.TryReport
	Saved     *repair.Info
	Warning   string
	Problem   *templateError
	Reparsed  string
}

// Types lists the types the editor offers.
func (*mailRepair) Types() []string {
	out := make([]string, len(event.OrderTypes))
	for i, t := range event.OrderTypes {
		out[i] = string(t)
	}
	return out
}

// maxShownRaw bounds the raw message shown beside the decoded text.
const maxShownRaw = 256 << 10

// mailPageData builds the mail page's data for m; rp, when set, carries
// the editor's state after a form.
func (h *Handler) mailPageData(r *http.Request, m *store.MailDetail, rp *mailRepair) (mailPage, error) {
	if h.repair == nil {
		return mailPage{MailDetail: m}, nil
	}
	if rp == nil {
		rp = &mailRepair{Form: templateBody{Name: m.Template}}
		if rp.Form.Name == "" {
			rp.Form.Name = "seller-" + m.SellerID
			if m.SellerID == "" {
				rp.Form.Name = "seller-template"
			}
		}
	}
	raw, err := h.store.MailRaw(r.Context(), m.QueueID)
	if err != nil {
		return mailPage{}, err
	}
	if len(raw) > maxShownRaw {
		rp.Raw = string(raw[:maxShownRaw]) + "\n…"
	} else {
		rp.Raw = string(raw)
	}
	if d, err := h.repair.Parser().Decode(raw); err != nil {
		rp.DecodeErr = err.Error()
	} else {
		rp.Decoded = d
	}
	return mailPage{MailDetail: m, Repair: rp}, nil
}

// formTemplate tries or saves the editor's template (action "try" or
// "save") and shows the mail page with the outcome.
func (h *Handler) formTemplate(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	m, err := h.store.GetMail(r.Context(), r.PathValue("id"))
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	rp := &mailRepair{Form: templateBody{Name: strings.TrimSpace(r.PostFormValue("name")),
		Type: r.PostFormValue("type"), Subject: r.PostFormValue("subject"), Body: r.PostFormValue("body")}}
	src := rp.Form.source()
	code := http.StatusOK
	switch r.PostFormValue("action") {
	case "save":
		info, _, err := h.repair.Put(r.Context(), src)
		if err == nil {
			rp.Saved = info
			if info.OverriddenBy == repair.SourceFile {
				rp.Warning = "The config file has a template of this name, which is used instead."
			}
			h.log.Info("admin: template stored", "template", src.Name, "by", actor(r))
			break
		}
		code = h.templateProblem(rp, err)
	default:
		rep, err := h.repair.TryTemplate(r.Context(), src, store.MailFilter{IDs: []string{m.QueueID}, Limit: 1})
		if err == nil {
			rp.Try = rep
			break
		}
		code = h.templateProblem(rp, err)
	}
	if code == http.StatusInternalServerError {
		h.renderErr(w, r, errors.New("template: internal error"))
		return
	}
	data, err := h.mailPageData(r, m, rp)
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	h.render(w, r, code, "mail", page{Title: "Mail " + m.QueueID, Nav: "mails", Data: data})
}

// templateProblem puts a template's error into the editor; it returns
// the status to answer with.
func (h *Handler) templateProblem(rp *mailRepair, err error) int {
	var te *parse.TemplateError
	switch {
	case errors.As(err, &te):
		rp.Problem = &templateError{Error: te.Error(), Part: te.Part, Line: te.Line, Column: te.Column}
	case errors.Is(err, repair.ErrBadTemplate):
		rp.Problem = &templateError{Error: err.Error()}
	default:
		h.log.Error("admin: template", "err", err)
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// formReparseMail re-parses one mail and shows it.
func (h *Handler) formReparseMail(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	id := r.PathValue("id")
	if done, ok := h.reparse(w, r, store.MailFilter{IDs: []string{id}, Limit: 1}); ok {
		http.Redirect(w, r, "/admin/messages/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
	}
}

// reparse re-parses the mails f selects for a console form; it returns
// the flash to show, or false after answering an error.
func (h *Handler) reparse(w http.ResponseWriter, r *http.Request, f store.MailFilter) (string, bool) {
	rep, err := h.repair.Reparse(r.Context(), f, false)
	if err != nil {
		h.renderErr(w, r, err)
		return "", false
	}
	h.log.Info("admin: mails re-parsed", "mails", rep.Mails, "changed", rep.Changed, "by", actor(r))
	if rep.Changed > 0 {
		return "reparsed", true
	}
	return "reparsed-none", true
}

// formReparseAll re-parses the mails that need attention (unrecognized
// and partial, or the status the list shows).
func (h *Handler) formReparseAll(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	statuses := []string{store.MailUnrecognized, store.MailPartial}
	if st := r.PostFormValue("status"); st == store.MailUnrecognized || st == store.MailPartial {
		statuses = []string{st}
	}
	if done, ok := h.reparse(w, r, store.MailFilter{Statuses: statuses, Limit: 1000}); ok {
		back(w, r, "/admin/messages", done)
	}
}
