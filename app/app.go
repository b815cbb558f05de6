// Package app wires qoo10hook's parts into the running service.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/qoo10hook/qoo10hook/admin"
	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/ingest"
	"github.com/qoo10hook/qoo10hook/inventory"
	"github.com/qoo10hook/qoo10hook/parse"
	"github.com/qoo10hook/qoo10hook/repair"
	"github.com/qoo10hook/qoo10hook/route"
	"github.com/qoo10hook/qoo10hook/smtpd"
	"github.com/qoo10hook/qoo10hook/store"
	"github.com/qoo10hook/qoo10hook/webhook"
)

// Service is qoo10hook running: SMTP in, store, webhook workers, HTTP for
// operators.
type Service struct {
	cfg    *config.Config
	log    *slog.Logger
	reg    *prometheus.Registry
	store  *store.Store
	smtp   *smtpd.Server
	http   *http.Server
	httpLn net.Listener
	worker *webhook.Worker
	// direct attempts new deliveries without a River job.
	direct    *webhook.Direct
	endpoints map[string]*webhook.Endpoint
	pipeline  *ingest.Pipeline
	opts      options
	admin     *admin.Handler
	riverUI   *riverui.Handler
	inventory *inventory.Service
	templates *repair.Registry

	smtpUp    atomic.Bool
	workersUp atomic.Bool
	// readyDetail is what /readyz last found not ready ("" when ready),
	// logged when it changes.
	readyDetail atomic.Pointer[string]
}

// New builds the service and binds its listeners; Run serves. When it
// fails, what it had opened (store, listeners) is closed again.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, reg *prometheus.Registry, opts ...Option) (_ *Service, err error) {
	s := &Service{cfg: cfg, log: log, reg: reg, endpoints: map[string]*webhook.Endpoint{}}
	for _, o := range opts {
		o(&s.opts)
	}
	reg.MustRegister(buildInfo())
	smtpCfg, err := smtpConfig(cfg, s.opts)
	if err != nil {
		return nil, err
	}
	// The configuration's templates are checked before anything opens:
	// a bad one is a configuration error.
	if _, err := NewParser(cfg); err != nil {
		return nil, err
	}
	eps, err := Endpoints(cfg)
	if err != nil {
		return nil, err
	}

	defer func() {
		if err != nil {
			s.release()
		}
	}()
	queues := s.addEndpoints(eps)
	routes := route.New(RouteOptions(cfg, endpointSet(s.endpoints)))
	workers := river.NewWorkers()
	if err := s.openStore(ctx, routes, workers, queues); err != nil {
		return nil, err
	}
	if err := s.build(ctx, routes, workers, eps, smtpCfg); err != nil {
		return nil, err
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	return s, nil
}

// release closes what a failed New opened: the listeners, then the store.
func (s *Service) release() {
	if s.httpLn != nil {
		s.httpLn.Close()
	}
	if s.smtp != nil {
		s.smtp.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
}

// addEndpoints keeps the webhook endpoints by name and returns the
// delivery queue of each, as many workers as its concurrency.
func (s *Service) addEndpoints(eps []*webhook.Endpoint) map[string]river.QueueConfig {
	queues := map[string]river.QueueConfig{}
	for _, e := range eps {
		s.endpoints[e.Name] = e
		n := e.Concurrency
		if n == 0 {
			n = s.cfg.Delivery.Concurrency
			e.Concurrency = n
		}
		queues[store.QueueName(e.Name)] = river.QueueConfig{MaxWorkers: webhook.QueueWorkers(n)}
	}
	if len(eps) == 0 {
		s.log.Warn("no webhook endpoint is configured: mail is accepted, stored and parsed, but nothing will be delivered" +
			" (set QOO10HOOK_WEBHOOK_URL and QOO10HOOK_WEBHOOK_SECRET, or endpoints in the config file)")
	}
	return queues
}

// openStore opens the store with the delivery queues and the derivers
// of inventory and order events.
func (s *Service) openStore(ctx context.Context, routes *route.Table, workers *river.Workers, queues map[string]river.QueueConfig) error {
	cfg := s.cfg
	deriver, err := newDeriver(cfg, s.log, s.reg, routes)
	if err != nil {
		return err
	}
	su, err := store.ParseURL(cfg.Store.URL)
	if err != nil {
		return err
	}
	orders := newOrderDeriver(s.log, routes, su.Kind)
	st, err := store.Open(ctx, store.Options{
		URL:    su,
		Logger: s.log, Registerer: s.reg, Workers: workers, Queues: queues,
		JobTimeout: cfg.Delivery.Timeout.D() + webhook.JobTimeoutMargin, RescueAfter: cfg.Delivery.RescueAfter.D(),
		SoftStopTimeout: cfg.Delivery.ShutdownTimeout.D(),
		PollInterval:    cfg.Delivery.PollInterval.D(),
		BatchMax:        cfg.Store.BatchMax, BatchWindow: cfg.Store.BatchWindow.D(), Backlog: cfg.Store.MaxBacklog,
		BacklogBytes: int64(cfg.Store.MaxBacklogBytes),
		Derive:       store.Derivers(deriver.Derive, orders.Derive),
		Correct:      store.Correctors(deriver.Correct, orders.Correct),
		Retention:    retention(cfg),
	})
	if err != nil {
		return err
	}
	s.store = st
	return nil
}

// build makes the parts on top of the store: the template registry,
// inventory, the webhook worker, the ingest pipeline and the SMTP server
// that hands mail to it.
func (s *Service) build(ctx context.Context, routes *route.Table, workers *river.Workers, eps []*webhook.Endpoint, smtpCfg smtpd.Config) error {
	cfg, st, log := s.cfg, s.store, s.log
	var err error
	s.templates, err = repair.New(ctx, repair.Options{File: parseOptions(cfg), Store: st,
		Log: log.With("component", "templates"), Changed: s.opts.templatesChanged})
	if err != nil {
		return fmt.Errorf("templates: %w", err)
	}
	s.registerOperatorMetrics()
	if s.inventory, err = inventory.NewService(st, InventorySettings(cfg)); err != nil {
		return err
	}

	var schedule []time.Duration
	for _, d := range cfg.Delivery.RetrySchedule {
		schedule = append(schedule, d.D())
	}
	s.worker = webhook.NewWorker(st, eps, webhook.Policy{
		Schedule: schedule, Jitter: cfg.Delivery.Jitter, MaxRetryAfter: cfg.Delivery.MaxRetryAfter.D(),
		Timeout:         cfg.Delivery.Timeout.D(),
		BreakerFailures: cfg.Delivery.BreakerFailures, BreakerCooldown: cfg.Delivery.BreakerCooldown.D(),
	}, webhook.NewMetrics(s.reg), log.With("component", "webhook"), "qoo10hook/"+Version())
	if len(eps) > 0 {
		river.AddWorker(workers, s.worker)
		d := webhook.NewDirect(s.worker, log.With("component", "webhook"))
		if s.opts.directSweep > 0 {
			d.SetSweep(s.opts.directSweep, s.opts.directSweep)
		}
		taken, err := st.SetDispatcher(ctx, d)
		if err != nil {
			return err
		}
		if taken {
			s.direct = d
		}
	}

	s.pipeline = &ingest.Pipeline{Parser: s.templates, Routes: routes, Store: st, Log: log, Metrics: ingest.NewMetrics(s.reg)}
	s.smtp = smtpd.New(smtpCfg, s.pipeline, routes, smtpd.NewMetrics(s.reg), log.With("component", "smtp"))
	return nil
}

// listen builds the operators' handler and binds the SMTP and HTTP
// listeners.
func (s *Service) listen() error {
	handler, err := s.routes()
	if err != nil {
		return err
	}
	if err := s.smtp.Listen(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http: listen %s: %w", s.cfg.HTTP.Addr, err)
	}
	refused := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "qoo10hook_http_connections_refused_total",
		Help: "HTTP connections answered 503 and closed at connect: http.max_connections were open.",
	})
	s.reg.MustRegister(refused)
	s.httpLn = newLimitListener(ln, s.cfg.HTTP.MaxConnections, refused)
	s.http = newHTTPServer(handler)
	return nil
}

// SMTPAddr and HTTPAddr are the bound addresses.
func (s *Service) SMTPAddr() string { return s.smtp.Addr().String() }

// HTTPAddr is the operators' listener address.
func (s *Service) HTTPAddr() string { return s.httpLn.Addr().String() }

// Store is the service's store, for tests and tools.
func (s *Service) Store() *store.Store { return s.store }

// Run serves until ctx ends, then shuts down: stop accepting mail, finish
// SMTP transactions in progress, let running deliveries finish within the
// shutdown timeout, then cancel them and close the store.
func (s *Service) Run(ctx context.Context) error {
	if err := s.startOperators(ctx); err != nil {
		return err
	}
	if err := s.store.Start(ctx); err != nil {
		return err
	}
	if s.direct != nil {
		s.direct.Start()
	}
	s.workersUp.Store(true)
	refreshCtx, stopRefresh := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRefresh()
	if len(s.endpoints) > 0 {
		go s.worker.RunRefresh(refreshCtx, 2*time.Second)
	}

	errc := make(chan error, 2)
	go func() {
		if err := s.http.Serve(s.httpLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	s.watchReload(refreshCtx)
	go s.templates.Poll(refreshCtx, s.opts.templatePoll())
	s.smtpUp.Store(true)
	go func() {
		if err := s.smtp.Serve(); err != nil {
			errc <- fmt.Errorf("smtp: %w", err)
		}
	}()
	s.log.Info("qoo10hook started", s.startupAttrs()...)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.log.Info("shutting down")
	s.smtpUp.Store(false)
	smtpCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if err := s.smtp.Shutdown(smtpCtx); err != nil {
		s.log.Warn("smtp sessions cut at shutdown", "err", err)
	}
	cancel()
	workCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Delivery.ShutdownTimeout.D())
	if s.direct != nil {
		s.direct.Stop(workCtx)
	}
	if err := s.store.StopWorkers(workCtx); err != nil {
		s.log.Warn("stopping workers", "err", err)
	}
	cancel()
	s.workersUp.Store(false)
	stopRefresh()
	httpCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	s.http.Shutdown(httpCtx)
	cancel()
	if err := s.store.Close(); err != nil {
		s.log.Warn("closing store", "err", err)
	}
	s.log.Info("stopped")
	return runErr
}

// NewParser builds the mail parser with the configuration's templates,
// classification rules and dictionaries.
func NewParser(cfg *config.Config) (*parse.Parser, error) {
	p, err := parse.New(parseOptions(cfg))
	if err != nil {
		return nil, fmt.Errorf("config: parse: %w", err)
	}
	return p, nil
}

// parseOptions are the parser options of the configuration.
func parseOptions(cfg *config.Config) parse.Options {
	var o parse.Options
	for _, t := range cfg.Parse.Templates {
		o.Templates = append(o.Templates, parse.TemplateSource{Name: t.Name, Type: event.Type(t.Type), Subject: t.Subject, Body: t.Body})
	}
	for _, c := range cfg.Parse.Classes {
		o.Classes = append(o.Classes, parse.ClassRule{Type: event.Type(c.Type), Subject: c.Subject, Body: c.Body})
	}
	o.Labels, o.Placeholders = cfg.Parse.Labels, cfg.Parse.Placeholders
	o.MaxParts, o.MaxDepth = cfg.SMTP.MaxMIMEParts, cfg.SMTP.MaxMIMEDepth
	return o
}

// Endpoints builds the configured webhook endpoints, the catch-all first.
func Endpoints(cfg *config.Config) ([]*webhook.Endpoint, error) {
	var out []*webhook.Endpoint
	if cfg.Webhook.URL != "" {
		e, err := webhook.NewEndpoint(config.DefaultEndpoint, cfg.Webhook.URL, cfg.Webhook.Secret.Reveal(), nil, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	for _, c := range cfg.Endpoints {
		e, err := webhook.NewEndpoint(c.Name, c.URL, c.Secret.Reveal(), c.Events, c.Concurrency)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

type endpointSet map[string]*webhook.Endpoint

func (e endpointSet) Wants(name, eventType string) bool {
	ep := e[name]
	return ep != nil && ep.Wants(eventType)
}

// version and revision are set at link time where the build has no VCS
// information of its own (the Docker build):
// -ldflags "-X github.com/qoo10hook/qoo10hook/app.version=v1.2.3 -X …app.revision=abc123".
var version, revision string

// Version is the version the binary was built as: the one given at link
// time, else the module's, else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Revision is the VCS revision the binary was built from, if known.
func Revision() string {
	if revision != "" {
		return revision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

func buildInfo() prometheus.Collector {
	revision := Revision()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "qoo10hook_build_info",
		Help:        "Always 1; labels tell the version and revision running.",
		ConstLabels: prometheus.Labels{"version": Version(), "revision": revision},
	})
	g.Set(1)
	return g
}
