package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/mailauth"
	"github.com/qoo10hook/qoo10hook/repair"
	"github.com/qoo10hook/qoo10hook/route"
	"github.com/qoo10hook/qoo10hook/smtpd"
)

// Option changes how New builds the service.
type Option func(*options)

type options struct {
	resolver mailauth.Resolver
	// tlsReloaded, when set, learns the outcome of each SIGHUP reload.
	tlsReloaded func(error)
	// parseReloaded, when set, learns the outcome of each SIGHUP reload
	// of the config file's templates.
	parseReloaded func(error)
	// templatesChanged, when set, is called after each parser rebuild.
	templatesChanged func()
	// templatesPoll is how often the stored templates are looked at
	// (default repair.DefaultPollInterval).
	templatesPoll time.Duration
	// directSweep, when set, is how often Direct's sweep runs and how
	// long a delivery it hands over must have been unchanged.
	directSweep time.Duration
}

func (o options) templatePoll() time.Duration {
	if o.templatesPoll > 0 {
		return o.templatesPoll
	}
	return repair.DefaultPollInterval
}

// WithResolver makes sender authentication use r for DNS instead of the
// system resolver: tests serve SPF, DKIM and DMARC records from it.
func WithResolver(r mailauth.Resolver) Option {
	return func(o *options) { o.resolver = r }
}

// smtpConfig turns the smtp, sender and forwarders settings into the SMTP
// server's configuration: it reads the TLS certificate and builds the one
// sender checker (and DNS cache) every session shares.
func smtpConfig(cfg *config.Config, o options) (smtpd.Config, error) {
	c := cfg.SMTP
	sc := smtpd.Config{
		Addr: c.Addr, Hostname: c.Hostname, MaxMessageBytes: int64(c.MaxMessageBytes),
		MaxRecipients: c.MaxRecipients, MaxLineLength: c.MaxLineLength, MaxHeaderBytes: int64(c.MaxHeaderBytes),
		MaxReceived: c.MaxReceived, IdleTimeout: c.IdleTimeout.D(), DataTimeout: c.DataTimeout.D(),
		MaxConnections: c.MaxConnections, MaxConnectionsPerIP: c.MaxConnectionsPerIP,
		MaxTransactionsPerMinute: c.MaxTransactionsPerMinute,
		MaxErrors:                c.MaxErrors, MaxInflightBytes: int64(c.MaxInflightBytes),
		ImplicitTLSAddr: c.TLS.ImplicitAddr, RequireTLS: c.TLS.Require,
		AllowedSenders: cfg.Sender.AllowedDomains,
	}
	if c.TLS.CertFile != "" {
		cert, err := smtpd.LoadCertificate(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			return sc, fmt.Errorf("config: smtp.tls: %w", err)
		}
		sc.Certificate = cert
	}
	for _, u := range c.Auth.Users {
		sc.Users = append(sc.Users, smtpd.User{Name: u.Username, Hash: []byte(u.PasswordHash.Reveal()), AuthServID: u.AuthServID})
	}
	mo := mailauth.Options{
		Resolver: o.resolver, Timeout: cfg.Sender.Timeout.D(), LookupTimeout: cfg.Sender.LookupTimeout.D(),
		CacheTTL: cfg.Sender.CacheTTL.D(), CacheSize: cfg.Sender.CacheSize, MaxSignatures: cfg.Sender.MaxSignatures,
	}
	for _, f := range cfg.Forwarders {
		mo.Forwarders = append(mo.Forwarders, mailauth.Forwarder{Name: f.Name, Networks: f.Prefixes(),
			Domains: f.Domains, AuthServID: f.AuthServID})
	}
	if err := mo.Validate(); err != nil {
		return sc, fmt.Errorf("config: forwarders: %w", err)
	}
	sc.Checker = mailauth.New(mo)
	return sc, nil
}

// RouteOptions are the routing settings of the configuration: its routes,
// or its domains, the catch-all webhook, the sender policies and vendor
// mode. filter tells which event types each endpoint takes (nil: all).
func RouteOptions(cfg *config.Config, filter route.Filter) route.Options {
	o := route.Options{Domains: cfg.Domains, Policy: route.Policy(cfg.Sender.Policy), Filter: filter}
	if cfg.Webhook.URL != "" {
		o.CatchAll = config.DefaultEndpoint
	}
	for _, r := range cfg.Routes {
		o.Routes = append(o.Routes, route.Spec{Tenant: r.Tenant, Recipients: r.Recipients, Endpoints: r.Endpoints,
			SenderPolicy: route.Policy(r.SenderPolicy)})
	}
	v := cfg.Vendor
	o.Vendor = route.Vendor{Domains: v.Domains, Key: []byte(v.Key.Reveal()), TokenLength: v.TokenLength,
		TenantPrefix: v.TenantPrefix, Endpoints: v.Endpoints, SenderPolicy: route.Policy(v.SenderPolicy)}
	return o
}

// watchReload reloads the config file's templates, classes and labels,
// and the TLS certificate, on each SIGHUP until ctx ends. Sessions
// already up keep their connection and certificate.
func (s *Service) watchReload(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				s.reloadTemplates()
				if s.cfg.SMTP.TLS.CertFile == "" {
					s.log.Info("SIGHUP: no TLS certificate to reload")
					continue
				}
				err := s.smtp.ReloadTLS()
				if s.opts.tlsReloaded != nil {
					s.opts.tlsReloaded(err)
				}
			}
		}
	}()
}

// reloadTemplates reads the config file again and rebuilds the parser
// from its parse section: mails read from now on use it, sessions go on.
// A file that no longer loads leaves the parser in use.
func (s *Service) reloadTemplates() {
	if s.cfg.File == "" {
		s.log.Info("SIGHUP: no config file to reload templates from")
		return
	}
	cfg, err := config.Load(s.cfg.File, os.Getenv)
	if err == nil {
		err = s.templates.Reload(parseOptions(cfg))
	}
	if err != nil {
		s.log.Error("SIGHUP: templates not reloaded; the parser in use stays", "file", s.cfg.File, "err", err)
	} else {
		s.log.Info("SIGHUP: templates reloaded", "file", s.cfg.File, "templates", len(cfg.Parse.Templates))
	}
	if s.opts.parseReloaded != nil {
		s.opts.parseReloaded(err)
	}
}
