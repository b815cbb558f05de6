package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/qoo10hook/qoo10hook/store"
)

func (h *Handler) routesAPI() {
	h.mux.HandleFunc("GET /api/v1/messages", h.apiMessages)
	h.mux.HandleFunc("GET /api/v1/messages/{id}", h.apiMessage)
	h.mux.HandleFunc("GET /api/v1/messages/{id}/raw", h.apiMessageRaw)
	h.mux.HandleFunc("POST /api/v1/messages/{id}/release", h.apiRelease)
	h.mux.HandleFunc("GET /api/v1/deliveries", h.apiDeliveries)
	h.mux.HandleFunc("GET /api/v1/deliveries/{id}", h.apiDelivery)
	h.mux.HandleFunc("POST /api/v1/deliveries/{id}/retry", h.apiRetry)
	h.mux.HandleFunc("POST /api/v1/deliveries/{id}/resend", h.apiResend)
	h.mux.HandleFunc("POST /api/v1/deliveries/retry-all-failed", h.apiRetryAll)
	h.mux.HandleFunc("GET /api/v1/endpoints", h.apiEndpoints)
	h.mux.HandleFunc("POST /api/v1/endpoints/{name}/disable", h.apiDisable)
	h.mux.HandleFunc("POST /api/v1/endpoints/{name}/enable", h.apiEnable)
	h.mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such API: see docs/operating.md"})
	})
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// fail answers an error: 404 for what does not exist, 409 for a change
// the object's state does not allow, 400 for a bad request, else 500
// (whose cause goes to the log, not to the client).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		h.log.Error("admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error; see the service log"
	}
	writeJSON(w, code, errorBody{Error: msg})
}

type badRequest struct{ error }

func statusOf(err error) int {
	var br badRequest
	switch {
	case errors.As(err, &br):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrNotRetryable), errors.Is(err, store.ErrNotQuarantined), errors.Is(err, store.ErrNotResendable):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func intParam(q url.Values, name string, def, lo, hi int64) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, badRequest{fmt.Errorf("%s=%q: want a whole number from %d to %d", name, v, lo, hi)}
	}
	return n, nil
}

func mailFilter(q url.Values) (store.MailFilter, error) {
	f := store.MailFilter{OrderNo: q.Get("order_no"), PackNo: q.Get("pack_no"), SellerID: q.Get("seller_id"), Status: q.Get("status")}
	var err error
	if f.BeforeID, err = intParam(q, "before", 0, 0, 1<<62); err != nil {
		return f, err
	}
	limit, err := intParam(q, "limit", 50, 1, 1000)
	f.Limit = int(limit)
	return f, err
}

func deliveryFilter(q url.Values) (store.DeliveryFilter, error) {
	f := store.DeliveryFilter{Status: q.Get("status"), Endpoint: q.Get("endpoint"), EventID: q.Get("event_id")}
	var err error
	if f.BeforeID, err = intParam(q, "before", 0, 0, 1<<62); err != nil {
		return f, err
	}
	limit, err := intParam(q, "limit", 50, 1, 1000)
	f.Limit = int(limit)
	return f, err
}

type messagesPage struct {
	Messages []*store.MailSummary `json:"messages"`
	// NextBefore is the before= value of the next (older) page; absent on
	// the last page.
	NextBefore int64 `json:"next_before,omitempty"`
}

func (h *Handler) apiMessages(w http.ResponseWriter, r *http.Request) {
	f, err := mailFilter(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ms, err := h.store.ListMails(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page := messagesPage{Messages: ms}
	if page.Messages == nil {
		page.Messages = []*store.MailSummary{}
	}
	page.NextBefore = nextBefore(ms, f.Limit, func(m *store.MailSummary) int64 { return m.ID })
	writeJSON(w, http.StatusOK, page)
}

func (h *Handler) apiMessage(w http.ResponseWriter, r *http.Request) {
	m, err := h.store.GetMail(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (h *Handler) apiMessageRaw(w http.ResponseWriter, r *http.Request) {
	raw, err := h.store.MailRaw(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// A download, never a page: the mail is whatever the sender wrote.
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": r.PathValue("id") + ".eml"}))
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	w.Write(raw)
}

type releaseResult struct {
	Released   string `json:"released"`
	Deliveries int    `json:"deliveries"`
}

func (h *Handler) apiRelease(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := h.store.ReleaseMail(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("admin: quarantined mail released", "mail", id, "deliveries", n, "by", actor(r))
	writeJSON(w, http.StatusOK, releaseResult{Released: id, Deliveries: n})
}

type deliveriesPage struct {
	Deliveries []*store.Delivery `json:"deliveries"`
	NextBefore int64             `json:"next_before,omitempty"`
}

func (h *Handler) apiDeliveries(w http.ResponseWriter, r *http.Request) {
	f, err := deliveryFilter(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ds, err := h.store.ListDeliveries(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page := deliveriesPage{Deliveries: ds}
	if page.Deliveries == nil {
		page.Deliveries = []*store.Delivery{}
	}
	page.NextBefore = nextBefore(ds, f.Limit, func(d *store.Delivery) int64 { return d.ID })
	writeJSON(w, http.StatusOK, page)
}

// DeliveryDetail is a delivery with its attempts, oldest first, and its
// event: what GET /api/v1/deliveries/{id} answers and `qoo10hook
// deliveries show` prints.
type DeliveryDetail struct {
	*store.Delivery
	AttemptLog []store.Attempt `json:"attempt_log"`
	Event      json.RawMessage `json:"event"`
}

// GetDeliveryDetail reads delivery id's detail from st. A delivery not
// yet attempted has a nil AttemptLog.
func GetDeliveryDetail(ctx context.Context, st Store, id int64) (*DeliveryDetail, error) {
	d, attempts, err := st.GetDelivery(ctx, id)
	if err != nil {
		return nil, err
	}
	payload, err := st.EventPayload(ctx, d.EventID)
	if err != nil {
		return nil, err
	}
	return &DeliveryDetail{Delivery: d, AttemptLog: attempts, Event: payload}, nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest{fmt.Errorf("%q is not a delivery id", r.PathValue("id"))}
	}
	return id, nil
}

func (h *Handler) apiDelivery(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d, err := GetDeliveryDetail(r.Context(), h.store, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if d.AttemptLog == nil {
		d.AttemptLog = []store.Attempt{} // the API answers a list
	}
	writeJSON(w, http.StatusOK, d)
}

type retryResult struct {
	Retried []int64 `json:"retried"`
	Count   int     `json:"count"`
}

func (h *Handler) retry(r *http.Request, id int64) error {
	if err := h.store.RetryDelivery(r.Context(), id); err != nil {
		return err
	}
	h.log.Info("admin: delivery queued for retry", "delivery", id, "by", actor(r))
	return nil
}

func (h *Handler) apiRetry(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err == nil {
		err = h.retry(r, id)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, retryResult{Retried: []int64{id}, Count: 1})
}

type resendResult struct {
	Resent []int64 `json:"resent"`
	Count  int     `json:"count"`
}

// resend delivers a delivered delivery's event again, under the same
// webhook-id: for a receiver that lost what it had received.
func (h *Handler) resend(r *http.Request, id int64) error {
	if err := h.store.ResendDelivery(r.Context(), id); err != nil {
		return err
	}
	h.log.Info("admin: delivered delivery queued to be sent again", "delivery", id, "by", actor(r))
	return nil
}

func (h *Handler) apiResend(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err == nil {
		err = h.resend(r, id)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resendResult{Resent: []int64{id}, Count: 1})
}

func (h *Handler) retryAll(r *http.Request, endpoint string) (int, error) {
	if endpoint != "" {
		if _, ok := h.byName[endpoint]; !ok {
			return 0, fmt.Errorf("endpoint %q: %w", endpoint, store.ErrNotFound)
		}
	}
	n, err := h.store.RetryAllFailed(r.Context(), endpoint)
	h.log.Info("admin: failed and dead deliveries queued for retry", "count", n, "endpoint", endpoint, "by", actor(r))
	return n, err
}

func (h *Handler) apiRetryAll(w http.ResponseWriter, r *http.Request) {
	n, err := h.retryAll(r, r.URL.Query().Get("endpoint"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, retryResult{Retried: []int64{}, Count: n})
}

// nextBefore is the before= value of the page after items, the page of
// at most limit items newest first: the last item's id when the page is
// full, 0 when it is the last page.
func nextBefore[T any](items []T, limit int, id func(T) int64) int64 {
	if len(items) == 0 || len(items) < limit {
		return 0
	}
	return id(items[len(items)-1])
}
