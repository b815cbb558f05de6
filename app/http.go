package app

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	return mux
}

// readyz answers 200 when the store takes writes, the workers run and the
// SMTP listener is up; 503 naming what is not, otherwise.
func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var reasons []string
	if err := s.store.Ping(ctx); err != nil {
		reasons = append(reasons, "store: "+err.Error())
	}
	if !s.workersUp.Load() {
		reasons = append(reasons, "workers: not running")
	}
	if !s.smtpUp.Load() {
		reasons = append(reasons, "smtp: not listening")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(reasons) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, r := range reasons {
			w.Write([]byte(r + "\n"))
		}
		return
	}
	w.Write([]byte("ready\n"))
}
