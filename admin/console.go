package admin

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// consoleCSP lets the console's pages load nothing but their own inline
// style and post forms only to themselves.
const consoleCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

var funcs = template.FuncMap{
	// ts shows a time in Japan time, as the events write it, with its
	// zone: operators elsewhere must not take it for their own.
	"ts": func(t time.Time) template.HTML {
		if t.IsZero() {
			return ""
		}
		t = t.In(event.JST)
		// Digits, dashes, colons and a plus sign only: nothing to escape.
		return template.HTML(`<time datetime="` + t.Format(time.RFC3339) + `">` + t.Format("2006-01-02 15:04:05 -07:00") + `</time>`)
	},
	"pretty": func(raw json.RawMessage) string {
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			return string(raw)
		}
		return b.String()
	},
	"counts": func(m map[string]int) string {
		keys := make([]string, 0, len(m))
		for k, n := range m {
			if n > 0 {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %d", k, m[k])
		}
		return strings.Join(parts, ", ")
	},
	"statusLabel": func(status string) string {
		switch status {
		case "":
			return "any"
		case Problems:
			return "problems (failed, dead)"
		}
		return status
	},
	"retryable": func(status string) bool {
		return status == store.DeliveryFailed || status == store.DeliveryDead || status == store.DeliveryPending
	},
	"ms": func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) },
}

// page is what every console template gets.
type page struct {
	Title  string
	Nav    string
	CSRF   string
	Flash  string
	Error  string
	River  string
	Here   string
	Data   any
	Filter url.Values
}

func (h *Handler) routesConsole() error {
	t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return fmt.Errorf("admin: templates: %w", err)
	}
	h.tmpl = t
	h.mux.HandleFunc("GET /admin/{$}", h.pageMails)
	h.mux.HandleFunc("GET /admin/messages", h.pageMails)
	h.mux.HandleFunc("GET /admin/messages/{id}", h.pageMail)
	h.mux.HandleFunc("GET /admin/messages/{id}/raw", h.pageRaw)
	h.mux.HandleFunc("GET /admin/deliveries", h.pageDeliveries)
	h.mux.HandleFunc("GET /admin/quarantine", h.pageQuarantine)
	h.mux.HandleFunc("GET /admin/endpoints", h.pageEndpoints)
	h.mux.HandleFunc("POST /admin/deliveries/{id}/retry", h.formRetry)
	h.mux.HandleFunc("POST /admin/deliveries/{id}/resend", h.formResend)
	h.mux.HandleFunc("POST /admin/deliveries/retry-all-failed", h.formRetryAll)
	h.mux.HandleFunc("POST /admin/messages/{id}/release", h.formRelease)
	h.mux.HandleFunc("POST /admin/endpoints/{name}/disable", h.formEndpoint(false))
	h.mux.HandleFunc("POST /admin/endpoints/{name}/enable", h.formEndpoint(true))
	h.mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, http.StatusNotFound, "error", page{Title: "Not found", Error: "There is no such page."})
	})
	return nil
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	p.CSRF = h.auth.csrfToken(r)
	p.River = h.river
	p.Here = r.URL.RequestURI()
	if p.Flash == "" {
		p.Flash = flashes[r.URL.Query().Get("done")]
	}
	var b bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&b, name, p); err != nil {
		h.log.Error("admin: render", "page", name, "err", err)
		http.Error(w, "internal error; see the service log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", consoleCSP)
	w.WriteHeader(code)
	w.Write(b.Bytes())
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, code int, msg, next string) {
	h.render(w, r, code, "login", page{Title: "Log in", Error: msg, Data: localPath(next)})
}

// renderErr shows an error page with the status the API would answer.
func (h *Handler) renderErr(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		h.log.Error("admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "Internal error; see the service log."
	}
	h.render(w, r, code, "error", page{Title: http.StatusText(code), Error: msg})
}

// flashes are the messages a redirect after a change may show; only
// these, so a link cannot make the console say anything else.
var flashes = map[string]string{
	"retried":  "Delivery queued for retry.",
	"resent":   "Delivery queued to be sent again, under the same webhook-id.",
	"retryall": "Failed and dead deliveries queued for retry.",
	"released": "Mail released: its deliveries are queued.",
	"disabled": "Endpoint disabled: its deliveries wait until it is enabled.",
	"enabled":  "Endpoint enabled.",
	"nothing":  "Nothing to retry.",

	"reparsed":      "Re-parsed: what changed is stored and queued for delivery.",
	"reparsed-none": "Re-parsed: nothing changed, nothing was delivered again.",
}

func (h *Handler) pageMails(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := mailFilter(q)
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	ms, err := h.store.ListMails(r.Context(), f)
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	data := mailsData{Mails: ms, CanReparse: h.repair != nil, Statuses: []string{store.MailParsed, store.MailPartial, store.MailUnrecognized, store.MailDuplicateEvent, store.MailQuarantined}}
	data.Older = olderLink("/admin/messages", q, nextBefore(ms, f.Limit, func(m *store.MailSummary) int64 { return m.ID }))
	h.render(w, r, http.StatusOK, "mails", page{Title: "Mails", Nav: "mails", Data: data, Filter: q})
}

type mailsData struct {
	Mails    []*store.MailSummary
	Statuses []string
	Older    string
	// CanReparse shows the re-parse button on lists of mails that need
	// attention.
	CanReparse bool
}

// olderLink is the link to the next, older page of a list at path with
// the filter q: "" when before is 0 (the list ended).
func olderLink(path string, q url.Values, before int64) string {
	if before == 0 {
		return ""
	}
	next := url.Values{}
	for k, vs := range q {
		if k != "done" { // the notice of the action that led here
			next[k] = append([]string(nil), vs...)
		}
	}
	next.Set("before", fmt.Sprint(before))
	return path + "?" + next.Encode()
}

func (h *Handler) pageMail(w http.ResponseWriter, r *http.Request) {
	m, err := h.store.GetMail(r.Context(), r.PathValue("id"))
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	data, err := h.mailPageData(r, m, nil)
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "mail", page{Title: "Mail " + m.QueueID, Nav: "mails", Data: data})
}

// pageRaw shows the message as received, as text: the browser shows it
// rather than saving it (the API serves message/rfc822).
func (h *Handler) pageRaw(w http.ResponseWriter, r *http.Request) {
	raw, err := h.store.MailRaw(r.Context(), r.PathValue("id"))
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Write(raw)
}

func (h *Handler) pageDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("status") {
		q.Set("status", Problems)
	}
	f, err := deliveryFilter(q)
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	ds, err := h.store.ListDeliveries(r.Context(), f)
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	data := deliveriesData{Deliveries: ds, Endpoints: h.endpoints,
		Statuses: []string{Problems, store.DeliveryDead, store.DeliveryFailed, store.DeliveryPending, store.DeliveryHeld, store.DeliveryDelivered, ""}}
	data.Older = olderLink("/admin/deliveries", q, nextBefore(ds, f.Limit, func(d *store.Delivery) int64 { return d.ID }))
	title := "Deliveries"
	switch f.Status {
	case Problems:
		title = "Problems"
	case store.DeliveryDead:
		title = "Dead letters"
	}
	h.render(w, r, http.StatusOK, "deliveries", page{Title: title, Nav: "deliveries", Data: data, Filter: q})
}

// Problems is the status filter of the deliveries that need an operator:
// failed for good (a 4xx) and dead-lettered (retries exhausted).
const Problems = store.DeliveryFailed + "," + store.DeliveryDead

type deliveriesData struct {
	Deliveries []*store.Delivery
	Endpoints  []Endpoint
	Statuses   []string
	Older      string
}

func (h *Handler) pageQuarantine(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	q.Set("status", store.MailQuarantined)
	f, err := mailFilter(q)
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	ms, err := h.store.ListMails(r.Context(), f)
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	data := mailsData{Mails: ms}
	data.Older = olderLink("/admin/quarantine", q, nextBefore(ms, f.Limit, func(m *store.MailSummary) int64 { return m.ID }))
	h.render(w, r, http.StatusOK, "quarantine", page{Title: "Quarantine", Nav: "quarantine", Data: data})
}

func (h *Handler) pageEndpoints(w http.ResponseWriter, r *http.Request) {
	eps, err := h.endpointStatuses(r)
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "endpoints", page{Title: "Endpoints", Nav: "endpoints", Data: eps})
}

// form checks a console form's CSRF token; on failure it answers 403.
func (h *Handler) form(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !h.auth.checkCSRF(r) {
		h.log.Warn("admin: form without its CSRF token refused", "path", r.URL.Path, "remote", r.RemoteAddr)
		h.render(w, r, http.StatusForbidden, "error", page{Title: "Forbidden",
			Error: "The form's security token is missing or stale: reload the page and try again."})
		return false
	}
	return true
}

// back redirects to the page the form was on, with a flash message.
func back(w http.ResponseWriter, r *http.Request, fallback, done string) {
	to := localPath(r.PostFormValue("back"))
	if to == ConsolePrefix && fallback != "" {
		to = fallback
	}
	u, err := url.Parse(to)
	if err != nil {
		u = &url.URL{Path: ConsolePrefix}
	}
	q := u.Query()
	q.Set("done", done)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func (h *Handler) formRetry(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	id, err := pathID(r)
	if err == nil {
		err = h.retry(r, id)
	}
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	back(w, r, "/admin/deliveries", "retried")
}

func (h *Handler) formResend(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	id, err := pathID(r)
	if err == nil {
		err = h.resend(r, id)
	}
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	back(w, r, "/admin/deliveries", "resent")
}

func (h *Handler) formRetryAll(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	n, err := h.retryAll(r, r.PostFormValue("endpoint"))
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	done := "retryall"
	if n == 0 {
		done = "nothing"
	}
	back(w, r, "/admin/deliveries", done)
}

func (h *Handler) formRelease(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	id := r.PathValue("id")
	n, err := h.store.ReleaseMail(r.Context(), id)
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	h.log.Info("admin: quarantined mail released", "mail", id, "deliveries", n, "by", actor(r))
	back(w, r, "/admin/quarantine", "released")
}

func (h *Handler) formEndpoint(enable bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.form(w, r) {
			return
		}
		if err := h.setEndpoint(r, r.PathValue("name"), enable, strings.TrimSpace(r.PostFormValue("reason"))); err != nil {
			h.renderErr(w, r, err)
			return
		}
		done := "disabled"
		if enable {
			done = "enabled"
		}
		back(w, r, "/admin/endpoints", done)
	}
}
