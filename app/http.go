package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"riverqueue.com/riverui"

	"github.com/qoo10hook/qoo10hook/admin"
	"github.com/qoo10hook/qoo10hook/inventory"
	"github.com/qoo10hook/qoo10hook/orderbook"
	"github.com/qoo10hook/qoo10hook/repair"
	"github.com/qoo10hook/qoo10hook/store"
	"github.com/qoo10hook/qoo10hook/webhook"
)

// pprofPrefix is where Go's profiler is mounted.
const pprofPrefix = "/admin/debug/pprof/"

func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// riverUIPrefix is where River's own UI is mounted, behind the admin
// token like the rest of /admin/.
const riverUIPrefix = "/admin/river"

// routes builds the operators' listener: health and metrics always; the
// admin API, console and River UI only when an admin token is configured.
func (s *Service) routes() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))

	token := s.cfg.HTTP.AdminToken.Reveal()
	if token == "" {
		mux.HandleFunc("GET /{$}", index)
		return mux, nil
	}
	mux.Handle("GET /{$}", http.RedirectHandler(admin.ConsolePrefix, http.StatusFound))
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(s.store.River(), nil),
		Prefix:    riverUIPrefix,
		Logger:    s.log.With("component", "riverui"),
	})
	if err != nil {
		return nil, fmt.Errorf("http: river ui: %w", err)
	}
	s.riverUI = ui
	adm, err := admin.New(admin.Options{
		Store: s.store, Endpoints: adminEndpoints(s.endpoints), Token: token, Sessions: s.store,
		River: ui, RiverPrefix: riverUIPrefix, Log: s.log.With("component", "admin"),
		Repair: &repair.Service{Registry: s.templates, Pipeline: s.pipeline},
		Orders: orderbook.NewBook(s.store, s.store.Kind() == store.Postgres), Inventory: s.inventory,
	})
	if err != nil {
		return nil, err
	}
	s.admin = adm
	inv := s.InventoryHandler()
	for _, p := range inventory.Patterns {
		adm.Handle(p, streaming(inv))
	}
	// Go's profiler, for an operator chasing a slow instance; behind the
	// same token as the rest.
	adm.Handle("GET "+pprofPrefix, streaming(http.StripPrefix("/admin", pprofHandler())))
	mux.Handle(admin.APIPrefix, adm)
	mux.Handle(admin.ConsolePrefix, adm)
	mux.Handle("GET /admin", http.RedirectHandler(admin.ConsolePrefix, http.StatusMovedPermanently))
	return mux, nil
}

// Admin is the admin surface, nil when no admin token is configured. Its
// Handle adds routes behind the same authentication.
func (s *Service) Admin() *admin.Handler { return s.admin }

// adminEndpoints lists the endpoints by name, with their URLs cut to
// scheme, host and path: credentials and query strings stay secret.
func adminEndpoints(eps map[string]*webhook.Endpoint) []admin.Endpoint {
	var out []admin.Endpoint
	for _, e := range eps {
		u := url.URL{Scheme: e.URL.Scheme, Host: e.URL.Host, Path: e.URL.Path}
		var events []string
		for t := range e.Events {
			events = append(events, t)
		}
		slices.Sort(events)
		out = append(out, admin.Endpoint{Name: e.Name, URL: u.String(), Events: events, Concurrency: e.Concurrency})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// startOperators starts what serves operators in the background: River
// UI's caches. They stop when ctx ends.
func (s *Service) startOperators(ctx context.Context) error {
	if s.riverUI == nil {
		return nil
	}
	if err := s.riverUI.Start(ctx); err != nil {
		return fmt.Errorf("http: start river ui: %w", err)
	}
	return nil
}

// registerOperatorMetrics adds the metrics computed on scrape: the
// delivery queue read from the store, and readiness.
func (s *Service) registerOperatorMetrics() {
	s.reg.MustRegister(store.NewStatsCollector(s.store, 2*time.Second, s.log.With("component", "metrics")))
	s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qoo10hook_ready",
		Help: "1 when /readyz answers 200: the store takes writes, the delivery workers run and the SMTP listener is up.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if len(s.notReady(ctx)) > 0 {
			return 0
		}
		return 1
	}))
}

// notReady names what keeps the service from being ready; empty when it
// is.
func (s *Service) notReady(ctx context.Context) []string {
	var reasons []string
	if err := s.store.Ping(ctx); err != nil {
		reasons = append(reasons, "store: "+err.Error())
	}
	if !s.workersUp.Load() {
		reasons = append(reasons, "workers: not running")
	} else if len(s.endpoints) > 0 {
		select {
		case <-s.store.River().Stopped():
			reasons = append(reasons, "workers: stopped")
		default:
		}
	}
	if !s.smtpUp.Load() {
		reasons = append(reasons, "smtp: not listening")
	}
	return reasons
}

// readyz answers 200 when the store takes writes, the workers run and the
// SMTP listener is up; 503 otherwise. What is not ready goes to the log,
// and to a caller with the admin token: the store's errors name its
// database, user and host, which are nobody else's business.
func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	reasons := s.notReady(ctx)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	detail := strings.Join(reasons, "\n")
	if old := s.readyDetail.Swap(&detail); old == nil || *old != detail {
		if len(reasons) > 0 {
			s.log.Warn("not ready", "reasons", detail)
		} else if old != nil {
			s.log.Info("ready again")
		}
	}
	if len(reasons) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		if s.admin != nil && s.admin.Authenticated(r) {
			w.Write([]byte(detail + "\n"))
			return
		}
		w.Write([]byte("not ready; the service log says why\n"))
		return
	}
	w.Write([]byte("ready\n"))
}
