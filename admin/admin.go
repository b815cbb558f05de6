// Package admin is the operators' HTTP surface: the bearer-token JSON API under /api/v1/ and the web console under /admin/.
package admin

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/qoo10hook/qoo10hook/repair"
	"github.com/qoo10hook/qoo10hook/store"
)

// Store is what the admin surface reads and changes; *store.Store has it.
type Store interface {
	ListMails(ctx context.Context, f store.MailFilter) ([]*store.MailSummary, error)
	GetMail(ctx context.Context, ref string) (*store.MailDetail, error)
	MailRaw(ctx context.Context, ref string) ([]byte, error)
	ReleaseMail(ctx context.Context, ref string) (int, error)
	ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error)
	GetDelivery(ctx context.Context, id int64) (*store.Delivery, []store.Attempt, error)
	EventPayload(ctx context.Context, id string) ([]byte, error)
	RetryDelivery(ctx context.Context, id int64) error
	ResendDelivery(ctx context.Context, id int64) error
	RetryAllFailed(ctx context.Context, endpoint string) (int, error)
	EndpointStates(ctx context.Context) (map[string]store.EndpointState, error)
	EndpointQueues(ctx context.Context) (map[string]map[string]int, error)
	DisableEndpoint(ctx context.Context, name, reason string) error
	EnableEndpoint(ctx context.Context, name string) error
}

// Endpoint is a configured webhook endpoint as operators see it: its URL
// without credentials, query or fragment.
type Endpoint struct {
	Name        string   `json:"name"`
	URL         string   `json:"url"`
	Events      []string `json:"events,omitempty"`
	Concurrency int      `json:"concurrency,omitempty"`
}

// Options configure the admin surface.
type Options struct {
	Store     Store
	Endpoints []Endpoint
	// Token is the admin token: API clients send it as a bearer token,
	// browsers log in with it. It must not be empty.
	Token string
	// River, when set, serves River's own UI under RiverPrefix behind
	// the same authentication.
	River       http.Handler
	RiverPrefix string
	Log         *slog.Logger
	// SessionTTL is how long a browser login lasts (default 12h).
	SessionTTL time.Duration
	// Sessions keeps the sessions ended by logout; nil keeps them in
	// memory, for this instance only.
	Sessions SessionRevoker
	// Now is the clock, for tests.
	Now func() time.Time
	// Repair, when set, serves the templates and re-parse API.
	Repair *repair.Service
	// Orders, when set, serves the orders API and console pages.
	Orders Orders
	// Inventory, when set, serves the Stock and Catalog console pages.
	Inventory Inventory
}

// Handler serves /api/v1/ and /admin/. Every request but the login
// page's must carry the token or a session made from it, or it gets 401
// and nothing else.
type Handler struct {
	store     Store
	endpoints []Endpoint
	byName    map[string]Endpoint
	log       *slog.Logger
	auth      *auth
	mux       *http.ServeMux
	csrf      *http.CrossOriginProtection
	river     string
	tmpl      *template.Template
	repair    *repair.Service
	orders    Orders
	inventory Inventory
}

// Prefixes the handler serves; the caller mounts it on both.
const (
	APIPrefix     = "/api/v1/"
	ConsolePrefix = "/admin/"
)

// New builds the admin handler.
func New(o Options) (*Handler, error) {
	if o.Store == nil {
		return nil, errors.New("admin: no store")
	}
	if o.Token == "" {
		return nil, errors.New("admin: no token: the admin surface stays off without one")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handler{store: o.Store, endpoints: o.Endpoints, byName: map[string]Endpoint{}, log: o.Log,
		auth: newAuth(o.Token, o.SessionTTL, o.Now), mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection()}
	if o.Sessions != nil {
		h.auth.revoked = o.Sessions
	}
	for _, e := range o.Endpoints {
		h.byName[e.Name] = e
	}
	h.repair = o.Repair
	h.routesAPI()
	h.routesRepair()
	h.routesErasure()
	if h.orders, h.inventory = o.Orders, o.Inventory; h.orders != nil {
		h.routesOrders()
	}
	if h.inventory != nil {
		h.routesStock()
	}
	if err := h.routesConsole(); err != nil {
		return nil, err
	}
	if o.River != nil {
		p := strings.TrimSuffix(o.RiverPrefix, "/")
		if !strings.HasPrefix(p+"/", ConsolePrefix) || p+"/" == ConsolePrefix {
			return nil, fmt.Errorf("admin: River UI prefix %q is not under %s", o.RiverPrefix, ConsolePrefix)
		}
		h.river = p + "/"
		h.mux.Handle(p+"/", o.River)
		h.mux.Handle(p, o.River)
	}
	return h, nil
}

// Handle adds a route behind the same authentication, for handlers that
// live in other packages (stock, catalog upload). The pattern's path must
// be under /api/v1/ or /admin/, the prefixes the handler is mounted on.
// Requests reaching it are authenticated, and a browser's unsafe ones
// come from the console's own origin.
func (h *Handler) Handle(pattern string, handler http.Handler) {
	path := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		path = strings.TrimSpace(p)
	}
	if !strings.HasPrefix(path, APIPrefix) && !strings.HasPrefix(path, ConsolePrefix) {
		panic(fmt.Sprintf("admin: Handle(%q): the path must be under %s or %s", pattern, APIPrefix, ConsolePrefix))
	}
	h.mux.Handle(pattern, handler)
}

// ServeHTTP authenticates the request and routes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("X-Frame-Options", "DENY")
	switch r.URL.Path {
	case loginPath:
		h.login(w, r)
		return
	case logoutPath:
		h.logout(w, r)
		return
	}
	kind, ok := h.auth.authenticate(r)
	if !ok {
		h.unauthorized(w, r)
		return
	}
	if kind == bySession && !safeMethod(r.Method) {
		// A browser's change must come from the console's own pages.
		if err := h.csrf.Check(r); err != nil {
			h.log.Warn("admin: cross-origin request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
	}
	h.mux.ServeHTTP(w, r.WithContext(contextWithKind(r, kind)))
}

// Authenticated tells whether r carries the admin token or a live
// console session: for pages outside the admin surface (/readyz) that
// show more to operators than to anyone.
func (h *Handler) Authenticated(r *http.Request) bool {
	_, ok := h.auth.authenticate(r)
	return ok
}

// unauthorized answers 401 with no data: JSON for the API, the login
// form for the console.
func (h *Handler) unauthorized(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, APIPrefix) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="qoo10hook"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "unauthorized: send Authorization: Bearer <admin token>"})
		return
	}
	h.renderLogin(w, r, http.StatusUnauthorized, "", r.URL.RequestURI())
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

type authKindKey struct{}

func contextWithKind(r *http.Request, k authKind) context.Context {
	return context.WithValue(r.Context(), authKindKey{}, k)
}

// actor names who made a change, for the log: the bearer token (a
// script) or a browser session.
func actor(r *http.Request) string {
	if k, _ := r.Context().Value(authKindKey{}).(authKind); k == bySession {
		return "console"
	}
	return "api"
}
