// Package smtpd is qoo10hook's SMTP front door: it admits mail for known recipients and hands it to a sink.
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/mailauth"
	"github.com/qoo10hook/qoo10hook/route"
)

// Envelope is what the SMTP dialogue told about a mail.
type Envelope struct {
	SessionID  string
	RemoteAddr string
	Helo       string
	MailFrom   string
	Rcpts      []string
	ReceivedAt time.Time
	TLS        bool
	// AuthUser is the SMTP AUTH account of the session, "" for none.
	AuthUser string
	// Auth is the sender-authentication verdict; nil when the policy is off.
	Auth *event.Auth
	// Hold quarantines the mail: store it, deliver nothing.
	Hold bool
}

// Sink takes a mail from a session and returns once it is durable. An
// error wrapping ErrBusy asks the client to come back later; one wrapping
// ErrTooComplex refuses the mail for good; any other error is our failure.
type Sink interface {
	Deliver(ctx context.Context, env *Envelope, raw []byte) error
}

// Busier is a Sink that can tell it would turn a mail away: DATA is then
// refused with 451 4.3.2 before the message is read into memory.
type Busier interface {
	Busy() bool
}

// Recipients decides at RCPT whether an address is ours; *route.Table is
// one.
type Recipients interface {
	// Lookup returns the sender policy of the route rcpt belongs to, and
	// false when rcpt is not ours.
	Lookup(rcpt string) (route.Policy, bool)
}

// SenderChecker authenticates a mail's sender; *mailauth.Checker is one.
type SenderChecker interface {
	Check(ctx context.Context, in mailauth.Input) mailauth.Result
}

var (
	// ErrBusy is wrapped by a Sink that cannot take more mail right now.
	ErrBusy = errors.New("smtpd: busy")
	// ErrTooComplex is wrapped by a Sink refusing a mail whose MIME
	// structure is beyond its limits: abusive rather than malformed.
	ErrTooComplex = errors.New("smtpd: message structure too complex")
)

// Defaults of the Config fields left zero.
const (
	DefaultHostname = "localhost"
	// DefaultMaxMessageBytes is advertised with SIZE and enforced.
	DefaultMaxMessageBytes = 10 << 20
	// DefaultMaxRecipients bounds the recipients of one transaction.
	DefaultMaxRecipients = 50
	DefaultMaxLineLength = 16 << 10
	// DefaultMaxHeaderBytes bounds the header block of one message. Qoo10's
	// mails carry a few KiB; 128 KiB leaves room for long trace and
	// signature fields.
	DefaultMaxHeaderBytes = 128 << 10
	// DefaultMaxReceived is the Received: count taken for a mail loop; RFC
	// 5321 section 6.3 asks for a large threshold, "normally at least 100".
	DefaultMaxReceived = 100
	// DefaultIdleTimeout bounds the wait for each command;
	// DefaultDataTimeout the whole DATA transfer.
	DefaultIdleTimeout = 5 * time.Minute
	DefaultDataTimeout = 10 * time.Minute
	// DefaultMaxConnections and DefaultMaxConnectionsPerIP bound the open
	// SMTP connections, in total and from one client address.
	DefaultMaxConnections      = 2000
	DefaultMaxConnectionsPerIP = 50
	// DefaultMaxTransactionsPerMinute bounds the MAIL commands one client
	// address may give per minute. Qoo10's few sending servers carry every
	// seller's mail (thousands in vendor mode), so a sale day's peak from one
	// of them must stay below it: 100 a second.
	DefaultMaxTransactionsPerMinute = 6000
)

// DefaultAllowedSenders are the From domains mail must be aligned with
// when Config.AllowedSenders is empty.
var DefaultAllowedSenders = []string{"qoo10.jp"}

// Config bounds the server. Zero values take the defaults (DefaultHostname
// and the others).
type Config struct {
	Addr     string
	Hostname string
	// MaxMessageBytes is advertised with SIZE and enforced.
	MaxMessageBytes int64
	MaxRecipients   int   // per transaction
	MaxLineLength   int   // of one line
	MaxHeaderBytes  int64 // the header block
	MaxReceived     int   // Received: fields before a mail is a loop
	// IdleTimeout bounds the wait for each command; DataTimeout the whole
	// DATA transfer.
	IdleTimeout time.Duration
	DataTimeout time.Duration
	// MaxConnections and MaxConnectionsPerIP bound the open connections;
	// an IPv6 client counts by its /64.
	MaxConnections      int
	MaxConnectionsPerIP int
	// MaxTransactionsPerMinute bounds the MAIL commands of one client
	// address.
	MaxTransactionsPerMinute int
	// MaxErrors is how many error replies (5xx: refused recipients, bad
	// commands) a connection gets; the next one is 421 4.7.0 and the
	// connection closes (DefaultMaxErrors).
	MaxErrors int
	// MaxInflightBytes bounds the memory all sessions together hold for
	// messages being received and stored (DefaultMaxInflightBytes); a
	// message that would pass it gets 452 4.3.1.
	MaxInflightBytes int64

	// Certificate enables STARTTLS; nil for none.
	Certificate *Certificate
	// ImplicitTLSAddr, when set, is a second listener speaking TLS from
	// the first byte. It needs Certificate.
	ImplicitTLSAddr string
	// RequireTLS refuses MAIL before STARTTLS.
	RequireTLS bool
	// Users enables AUTH PLAIN and LOGIN, offered over TLS only.
	Users []User

	// Checker authenticates senders for every policy but off; nil makes
	// no check at all, as if every route's policy were off.
	Checker SenderChecker
	// AllowedSenders are the From domains mail must be aligned with
	// (DefaultAllowedSenders).
	AllowedSenders []string
}

// DefaultMaxErrors is Config.MaxErrors' default: a real sender makes one
// or two mistakes, not ten (Postfix and chasquid stop near there too).
const DefaultMaxErrors = 10

// Server is the SMTP server.
type Server struct {
	srv     *smtp.Server
	cfg     Config
	sink    Sink
	rcpts   Recipients
	log     *slog.Logger
	metrics *Metrics
	nextID  atomic.Uint64
	ln      net.Listener
	tlsLn   net.Listener
	conns   *connTable
	rate    *rateLimiter
	users   map[string]*User
	// decoyHash is what a password for an unknown user is compared
	// against (see login).
	decoyHash func() []byte
	// refusing bounds the goroutines writing 421 to refused connections.
	refusing chan struct{}
	// inflight bounds the memory of messages in flight.
	inflight *budget
}

// New returns a server; Listen binds it and Serve starts it.
func New(cfg Config, sink Sink, rcpts Recipients, m *Metrics, log *slog.Logger) *Server {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	def(&cfg.MaxRecipients, DefaultMaxRecipients)
	def(&cfg.MaxLineLength, DefaultMaxLineLength)
	def(&cfg.MaxReceived, DefaultMaxReceived)
	def(&cfg.MaxConnections, DefaultMaxConnections)
	def(&cfg.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	def(&cfg.MaxTransactionsPerMinute, DefaultMaxTransactionsPerMinute)
	def(&cfg.MaxErrors, DefaultMaxErrors)
	if cfg.MaxInflightBytes <= 0 {
		cfg.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.DataTimeout <= 0 {
		cfg.DataTimeout = DefaultDataTimeout
	}
	if cfg.Hostname == "" {
		cfg.Hostname = DefaultHostname
	}
	if len(cfg.AllowedSenders) == 0 {
		cfg.AllowedSenders = slices.Clone(DefaultAllowedSenders)
	}
	s := &Server{cfg: cfg, sink: sink, rcpts: rcpts, log: log, metrics: m,
		conns:    newConnTable(cfg.MaxConnections, cfg.MaxConnectionsPerIP),
		rate:     newRateLimiter(cfg.MaxTransactionsPerMinute),
		users:    map[string]*User{},
		refusing: make(chan struct{}, 64),
		inflight: newBudget(cfg.MaxInflightBytes, cfg.MaxMessageBytes, m.inflight),
	}
	for i := range cfg.Users {
		s.users[cfg.Users[i].Name] = &cfg.Users[i]
	}
	s.decoyHash = sync.OnceValue(func() []byte { return decoyHash(cfg.Users) })
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = cfg.MaxLineLength
	srv.ReadTimeout = cfg.IdleTimeout
	srv.WriteTimeout = time.Minute
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = slogAdapter{log}
	if cfg.Certificate != nil {
		srv.TLSConfig = s.tlsConfig()
		m.certExpiry.Set(float64(cfg.Certificate.NotAfter().Unix()))
	}
	s.srv = srv
	return s
}

// tlsConfig serves the current certificate: a reload is seen by the next
// handshake, and sessions already up keep theirs. Session tickets are off:
// some Microsoft senders fail STARTTLS when they are offered.
func (s *Server) tlsConfig() *tls.Config {
	return &tls.Config{
		GetCertificate:         s.cfg.Certificate.GetCertificate,
		SessionTicketsDisabled: true,
		MinVersion:             tls.VersionTLS12,
	}
}

// listenConfig turns TCP keep-alive off: sessions have idle and DATA
// timeouts of their own, and the keep-alive settings cost each accepted
// connection four system calls.
var listenConfig = net.ListenConfig{KeepAlive: -1}

// Listen binds the configured addresses; Addr and ImplicitTLSAddr then
// tell the bound addresses.
func (s *Server) Listen() error {
	ln, err := listenConfig.Listen(context.Background(), "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtpd: listen %s: %w", s.cfg.Addr, err)
	}
	s.ln = &listener{Listener: ln, s: s, greet: true}
	if s.cfg.ImplicitTLSAddr != "" && s.cfg.Certificate != nil {
		tln, err := listenConfig.Listen(context.Background(), "tcp", s.cfg.ImplicitTLSAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("smtpd: listen %s: %w", s.cfg.ImplicitTLSAddr, err)
		}
		s.tlsLn = tls.NewListener(&listener{Listener: tln, s: s}, s.tlsConfig())
	}
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// ImplicitTLSAddr is the implicit TLS listener's address, nil without one.
func (s *Server) ImplicitTLSAddr() net.Addr {
	if s.tlsLn == nil {
		return nil
	}
	return s.tlsLn.Addr()
}

// Serve accepts connections until Shutdown or Close.
func (s *Server) Serve() error {
	errc := make(chan error, 2)
	n := 1
	go func() { errc <- s.srv.Serve(s.ln) }()
	if s.tlsLn != nil {
		n++
		go func() { errc <- s.srv.Serve(s.tlsLn) }()
	}
	var first error
	for range n {
		if err := <-errc; err != nil && !errors.Is(err, smtp.ErrServerClosed) && first == nil {
			first = err
			s.srv.Close()
		}
	}
	return first
}

// ReloadTLS reads the certificate and key files again. New handshakes use
// the new certificate; sessions already up keep theirs. On error the old
// certificate stays.
func (s *Server) ReloadTLS() error {
	c := s.cfg.Certificate
	if c == nil {
		return nil
	}
	if err := c.Reload(); err != nil {
		s.metrics.tlsReloads.WithLabelValues("error").Inc()
		s.log.Error("tls certificate reload failed; keeping the old one", "err", err)
		return err
	}
	s.metrics.tlsReloads.WithLabelValues("ok").Inc()
	s.metrics.certExpiry.Set(float64(c.NotAfter().Unix()))
	s.log.Info("tls certificate reloaded", "not_after", c.NotAfter())
	return nil
}

// Shutdown stops accepting, lets transactions in progress finish until
// ctx ends, and closes connections as soon as they are between
// transactions. When ctx ends, it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.srv.Shutdown(ctx) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.conns.closeIdle()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, smtp.ErrServerClosed) {
				s.conns.closeAll()
				return err
			}
			return nil
		case <-tick.C:
		}
	}
}

// Close stops the server at once: it closes its listeners, bound or
// serving, and every connection; transactions in progress are cut (see
// Shutdown for the graceful way). Serve then returns.
func (s *Server) Close() error {
	err := s.srv.Close()
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	// go-smtp closes the listeners Serve was given; these may never have
	// been.
	for _, ln := range []net.Listener{s.ln, s.tlsLn} {
		if ln == nil {
			continue
		}
		if lerr := ln.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) && err == nil {
			err = lerr
		}
	}
	if err != nil {
		return fmt.Errorf("smtpd: close: %w", err)
	}
	return nil
}

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) { a.log.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Println(v ...any)               { a.log.Warn(fmt.Sprint(v...)) }
