package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/qoo10hook/qoo10hook/store"
)

// EndpointStatus is an endpoint's configuration, health and queue.
type EndpointStatus struct {
	Endpoint
	Disabled            bool           `json:"disabled"`
	DisabledAt          time.Time      `json:"disabled_at,omitzero"`
	DisabledReason      string         `json:"disabled_reason,omitempty"`
	CircuitOpen         bool           `json:"circuit_open"`
	CircuitOpenUntil    time.Time      `json:"circuit_open_until,omitzero"`
	ConsecutiveFailures int            `json:"consecutive_failures"`
	Queue               map[string]int `json:"queue"`
}

// Health sums the status up in a word: ok, failing, paused or disabled.
func (e EndpointStatus) Health() string {
	switch {
	case e.Disabled:
		return "disabled"
	case e.CircuitOpen:
		return "paused"
	case e.ConsecutiveFailures > 0:
		return "failing"
	}
	return "ok"
}

func (h *Handler) endpointStatuses(r *http.Request) ([]EndpointStatus, error) {
	states, err := h.store.EndpointStates(r.Context())
	if err != nil {
		return nil, err
	}
	queues, err := h.store.EndpointQueues(r.Context())
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := []EndpointStatus{}
	for _, e := range h.endpoints {
		st := states[e.Name]
		q := map[string]int{}
		for _, s := range store.QueueStatuses {
			q[s] = queues[e.Name][s]
		}
		out = append(out, EndpointStatus{Endpoint: e, Disabled: st.Disabled, DisabledAt: st.DisabledAt,
			DisabledReason: st.DisabledReason, CircuitOpen: st.CircuitOpen(now), CircuitOpenUntil: st.CircuitOpenUntil,
			ConsecutiveFailures: st.ConsecutiveFailures, Queue: q})
	}
	return out, nil
}

func (h *Handler) apiEndpoints(w http.ResponseWriter, r *http.Request) {
	eps, err := h.endpointStatuses(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Endpoints []EndpointStatus `json:"endpoints"`
	}{eps})
}

func (h *Handler) setEndpoint(r *http.Request, name string, enable bool, reason string) error {
	if _, ok := h.byName[name]; !ok {
		return fmt.Errorf("endpoint %q is not configured: %w", name, store.ErrNotFound)
	}
	if enable {
		if err := h.store.EnableEndpoint(r.Context(), name); err != nil {
			return err
		}
		h.log.Info("admin: endpoint enabled", "endpoint", name, "by", actor(r))
		return nil
	}
	if reason == "" {
		reason = "disabled by an operator"
	}
	if len(reason) > 200 {
		reason = reason[:200]
	}
	if err := h.store.DisableEndpoint(r.Context(), name, reason); err != nil {
		return err
	}
	h.log.Info("admin: endpoint disabled", "endpoint", name, "by", actor(r))
	return nil
}

func (h *Handler) apiDisable(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
			h.fail(w, r, badRequest{fmt.Errorf("body: want {\"reason\": \"...\"} or nothing: %w", err)})
			return
		}
	}
	h.endpointAction(w, r, false, body.Reason)
}

func (h *Handler) apiEnable(w http.ResponseWriter, r *http.Request) { h.endpointAction(w, r, true, "") }

func (h *Handler) endpointAction(w http.ResponseWriter, r *http.Request, enable bool, reason string) {
	name := r.PathValue("name")
	if err := h.setEndpoint(r, name, enable, reason); err != nil {
		h.fail(w, r, err)
		return
	}
	eps, err := h.endpointStatuses(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, e := range eps {
		if e.Name == name {
			writeJSON(w, http.StatusOK, e)
			return
		}
	}
}
