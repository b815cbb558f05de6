package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"

	"github.com/qoo10hook/qoo10hook/store"
)

// Eraser finds and erases one buyer's data; *store.Store has it.
type Eraser interface {
	FindBuyer(ctx context.Context, b store.Buyer) (*store.ErasureReport, error)
	Erase(ctx context.Context, b store.Buyer, actor string) (*store.ErasureReport, error)
}

// routesErasure adds POST /api/v1/erasures when the store can erase.
func (h *Handler) routesErasure() {
	if e, ok := h.store.(Eraser); ok {
		h.mux.HandleFunc("POST /api/v1/erasures", func(w http.ResponseWriter, r *http.Request) { h.apiErase(w, r, e) })
	}
}

// erasureRequest names the buyer by exactly one of its fields.
type erasureRequest struct {
	Email  string `json:"email"`
	Tel    string `json:"tel"`
	Name   string `json:"name"`
	DryRun bool   `json:"dry_run"`
}

func (q erasureRequest) buyer() (store.Buyer, error) {
	set := 0
	for _, v := range []string{q.Email, q.Tel, q.Name} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return store.Buyer{}, badRequest{errors.New(`send exactly one of "email", "tel" or "name" (and "dry_run": true to only look)`)}
	}
	return store.Buyer{Email: q.Email, Tel: q.Tel, Name: q.Name}, nil
}

// apiErase finds the buyer's mails, events and rows and, unless it is a
// dry run, erases them; the answer lists what was found and the endpoints
// that already received those events.
func (h *Handler) apiErase(w http.ResponseWriter, r *http.Request, e Eraser) {
	var q erasureRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		h.fail(w, r, badRequest{errors.New("the body must be JSON: {\"email\"|\"tel\"|\"name\": \"…\", \"dry_run\": false}")})
		return
	}
	b, err := q.buyer()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var rep *store.ErasureReport
	if q.DryRun {
		rep, err = e.FindBuyer(r.Context(), b)
	} else {
		rep, err = e.Erase(r.Context(), b, erasureActor(r))
	}
	if errors.Is(err, store.ErrBadBuyer) {
		err = badRequest{err}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// erasureActor names who asked, for the audit record: how they
// authenticated and from where.
func erasureActor(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return actor(r) + "@" + host
}
