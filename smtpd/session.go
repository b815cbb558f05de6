package smtpd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// Replies. go-smtp sends a plain error's text to the client, so sessions
// return only these, and the cause goes to the log with the session id.
var (
	replyNoSuchUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	replyTempFail   = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, please try again later"}
	replyBusy       = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "System busy, please try again later"}
	replyTooBig     = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	replyTimeout    = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Timeout waiting for data"}
	replyBadSender  = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Malformed sender address"}
)

type session struct {
	s      *Server
	id     string
	conn   *smtp.Conn
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger

	env Envelope
	// inTransaction is set from MAIL until the transaction's reply has been
	// written (go-smtp calls Reset after it): shutdown closes only
	// sessions without one.
	inTransaction atomic.Bool
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	id := strconv.FormatUint(s.nextID.Add(1), 36) + "-" + strconv.FormatInt(time.Now().Unix()%100000, 36)
	ctx, cancel := context.WithCancel(context.Background())
	sess := &session{s: s, id: id, conn: c, ctx: ctx, cancel: cancel,
		log: s.log.With("session", id, "remote", remoteIP(c.Conn().RemoteAddr()))}
	_, tlsOn := c.TLSConnectionState()
	sess.env = Envelope{SessionID: id, RemoteAddr: c.Conn().RemoteAddr().String(), TLS: tlsOn}
	s.track(sess, true)
	s.metrics.connections.Inc()
	return sess, nil
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return a.String()
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if strings.ContainsAny(from, " <>\r\n") {
		s.s.metrics.reply(replyBadSender)
		return replyBadSender
	}
	s.inTransaction.Store(true)
	s.env.Helo = s.conn.Hostname()
	s.env.MailFrom = from
	s.env.Rcpts = s.env.Rcpts[:0]
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.s.rcpts.Accepts(to) {
		s.s.metrics.rejected("unknown_recipient")
		s.s.metrics.reply(replyNoSuchUser)
		s.log.Info("recipient refused", "reason", "no route")
		return replyNoSuchUser
	}
	s.env.Rcpts = append(s.env.Rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	start := time.Now()
	// go-smtp's idle deadline does not move while DATA streams in: set one
	// for the whole transfer.
	s.conn.Conn().SetReadDeadline(start.Add(s.s.cfg.DataTimeout))
	var buf bytes.Buffer
	n, err := buf.ReadFrom(r)
	s.s.metrics.bytes.Add(float64(n))
	if err != nil {
		reply := replyTempFail
		var se *smtp.SMTPError
		var ne net.Error
		switch {
		case errors.As(err, &se) && se.Code == smtp.ErrDataTooLarge.Code:
			reply = replyTooBig
			s.s.metrics.rejected("too_big")
		case errors.As(err, &ne) && ne.Timeout():
			reply = replyTimeout
			s.s.metrics.tempfailed("data_timeout")
		default:
			s.s.metrics.tempfailed("read_error")
		}
		s.log.Info("data refused", "err", err, "bytes", n)
		s.s.metrics.reply(reply)
		return reply
	}
	env := s.env
	env.Rcpts = append([]string(nil), s.env.Rcpts...)
	env.ReceivedAt = time.Now()
	err = s.s.sink.Deliver(s.ctx, &env, buf.Bytes())
	s.s.metrics.dataSeconds.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		s.s.metrics.accepted()
		s.s.metrics.replyCode(250)
		return nil
	case errors.Is(err, ErrBusy):
		s.log.Warn("mail deferred: busy", "err", err)
		s.s.metrics.tempfailed("busy")
		s.s.metrics.reply(replyBusy)
		return replyBusy
	default:
		s.log.Error("mail deferred: store failed", "err", err)
		s.s.metrics.tempfailed("store")
		s.s.metrics.reply(replyTempFail)
		return replyTempFail
	}
}

func (s *session) Reset() {
	s.env.MailFrom = ""
	s.env.Rcpts = s.env.Rcpts[:0]
	s.inTransaction.Store(false)
}

func (s *session) Logout() error {
	s.cancel()
	s.s.track(s, false)
	s.s.metrics.connections.Dec()
	return nil
}

// sessions is the set of live sessions, for shutdown.
type sessions struct {
	mu  sync.Mutex
	set map[*session]struct{}
}

func (s *Server) track(sess *session, add bool) {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	if s.live.set == nil {
		s.live.set = map[*session]struct{}{}
	}
	if add {
		s.live.set[sess] = struct{}{}
	} else {
		delete(s.live.set, sess)
	}
}

// closeIdle closes the sessions that are between transactions.
func (s *Server) closeIdle() {
	for _, sess := range s.liveSessions() {
		if !sess.inTransaction.Load() {
			sess.conn.Close()
		}
	}
}

// liveSessions copies the set: closing a session calls Logout, which
// takes the lock.
func (s *Server) liveSessions() []*session {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	out := make([]*session, 0, len(s.live.set))
	for sess := range s.live.set {
		out = append(out, sess)
	}
	return out
}

// closeAll closes every session, in a transaction or not.
func (s *Server) closeAll() {
	for _, sess := range s.liveSessions() {
		sess.conn.Close()
	}
}
