// Package smtpd is qoo10hook's SMTP front door: it admits mail for known recipients and hands it to a sink.
package smtpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
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
}

// Sink takes a mail from a session and returns once it is durable. An
// error wrapping ErrBusy asks the client to come back later; any other
// error is our failure.
type Sink interface {
	Deliver(ctx context.Context, env *Envelope, raw []byte) error
}

// Recipients decides at RCPT whether an address is ours.
type Recipients interface {
	Accepts(rcpt string) bool
}

// ErrBusy is wrapped by a Sink that cannot take more mail right now.
var ErrBusy = errors.New("smtpd: busy")

// Config bounds the server. Zero values take the defaults in parentheses.
type Config struct {
	Addr     string
	Hostname string
	// MaxMessageBytes is advertised with SIZE and enforced (10 MiB).
	MaxMessageBytes int64
	MaxRecipients   int // per transaction (50)
	MaxLineLength   int // (16 KiB)
	// IdleTimeout bounds the wait for each command (5m); DataTimeout the
	// whole DATA transfer (10m).
	IdleTimeout time.Duration
	DataTimeout time.Duration
}

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
	live    sessions
}

// New returns a server; Serve starts it.
func New(cfg Config, sink Sink, rcpts Recipients, m *Metrics, log *slog.Logger) *Server {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 10 << 20
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = 50
	}
	if cfg.MaxLineLength <= 0 {
		cfg.MaxLineLength = 16 << 10
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.DataTimeout <= 0 {
		cfg.DataTimeout = 10 * time.Minute
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	s := &Server{cfg: cfg, sink: sink, rcpts: rcpts, log: log, metrics: m}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = cfg.MaxLineLength
	srv.ReadTimeout = cfg.IdleTimeout
	srv.WriteTimeout = time.Minute
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = slogAdapter{log}
	s.srv = srv
	return s
}

// Listen binds the configured address; Addr then tells the bound address.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtpd: listen %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until Shutdown or Close.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets transactions in progress finish until
// ctx ends, and closes sessions as soon as they are between transactions.
// When ctx ends, it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.srv.Shutdown(ctx) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, smtp.ErrServerClosed) {
				s.closeAll()
				return err
			}
			return nil
		case <-tick.C:
		}
	}
}

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) { a.log.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Println(v ...any)               { a.log.Warn(fmt.Sprint(v...)) }
