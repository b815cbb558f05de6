package smtpd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/qoo10hook/qoo10hook/route"
)

// Replies. go-smtp sends a plain error's text to the client, so sessions
// return only these, and the cause goes to the log with the session id.
var (
	replyNoSuchUser     = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	replyPolicyMismatch = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Recipient has another sender policy; send it in a transaction of its own"}
	replyTempFail       = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, please try again later"}
	replyBusy           = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "System busy, please try again later"}
	replyTooBig         = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	replyHeaderTooBig   = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message header too big"}
	replyLineTooLong    = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 4, 0}, Message: "Line too long"}
	replyTooComplex     = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "MIME structure too complex"}
	replyLoop           = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 4, 6}, Message: "Too many Received headers: mail loop"}
	replyTimeout        = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Timeout waiting for data"}
	replyBadSender      = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Malformed sender address"}
	replyRateLimited    = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many transactions from your address, please try again later"}
	replyTLSRequired    = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	replyTooManyErrors  = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many errors, closing connection"}
)

type session struct {
	s      *Server
	id     string
	conn   *smtp.Conn
	lc     *conn
	ip     netip.Addr
	key    netip.Prefix
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger

	env Envelope
	// policy is the sender policy of the transaction's recipients: every
	// recipient of one transaction has the same.
	policy       route.Policy
	user         *User
	authFailures int
	loggedLimit  bool
	// declared is the message size the client gave with MAIL (SIZE=), 0
	// for none.
	declared int64
	// reserved is the in-flight room the transaction took at its first
	// recipient, until Data takes it over (see reserveRoom).
	reserved atomic.Int64
	// inTransaction is set from MAIL until the transaction's reply has been
	// written (go-smtp calls Reset after it): shutdown closes only
	// connections without one.
	inTransaction atomic.Bool
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	id := strconv.FormatUint(s.nextID.Add(1), 36) + "-" + strconv.FormatInt(time.Now().Unix()%100000, 36)
	ctx, cancel := context.WithCancel(context.Background())
	key := clientKey(c.Conn().RemoteAddr())
	sess := &session{s: s, id: id, conn: c, ctx: ctx, cancel: cancel, key: key, lc: connOf(c.Conn()),
		log: s.log.With("session", id, "remote", remoteIP(c.Conn().RemoteAddr()))}
	if ta, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		sess.ip, _ = netip.AddrFromSlice(ta.IP)
		sess.ip = sess.ip.Unmap()
	}
	_, tlsOn := c.TLSConnectionState()
	sess.env = Envelope{SessionID: id, RemoteAddr: c.Conn().RemoteAddr().String(), TLS: tlsOn}
	if sess.lc != nil {
		sess.lc.sess.Store(sess)
	}
	s.metrics.sessions.Inc()
	return sess, nil
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return a.String()
}

func (s *session) refuse(reason string, reply *smtp.SMTPError) error {
	if reply.Code/100 == 5 && s.lc != nil && s.lc.errLimit.refused() {
		return s.closing()
	}
	if reply.Code/100 == 4 {
		s.s.metrics.tempfailed(reason)
	} else {
		s.s.metrics.rejected(reason)
	}
	s.s.metrics.reply(reply)
	return reply
}

// closing answers every command once the session is past its error
// limit: go-smtp may still hand it commands the client pipelined.
func (s *session) closing() error {
	if !s.loggedLimit {
		s.loggedLimit = true
		s.log.Info("session closed", "reason", "too many errors", "errors", s.lc.errLimit.count)
	}
	s.s.metrics.reply(replyTooManyErrors)
	return replyTooManyErrors
}

// pastErrorLimit tells whether the session is closing for its errors.
func (s *session) pastErrorLimit() bool { return s.lc != nil && s.lc.errLimit.closing }

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.pastErrorLimit() {
		return s.closing()
	}
	if !wellFormedSender(from) {
		return s.refuse("bad_sender", replyBadSender)
	}
	if s.s.cfg.RequireTLS && !s.env.TLS {
		s.log.Info("mail refused", "reason", "tls required")
		return s.refuse("tls_required", replyTLSRequired)
	}
	if !s.s.rate.allow(s.key) {
		s.log.Info("mail deferred", "reason", "transaction rate")
		return s.refuse("rate_limited", replyRateLimited)
	}
	s.declared = 0
	if opts != nil {
		s.declared = opts.Size
	}
	if s.declared > 0 && !s.s.inflight.fits(s.declared) {
		// RFC 1870: a size the server cannot take now is 452 at MAIL, and
		// the client does not send the message at all.
		s.log.Info("mail deferred: in-flight budget full", "declared", s.declared)
		return s.refuse("no_room", replyNoRoom)
	}
	s.inTransaction.Store(true)
	s.env.Helo = s.conn.Hostname()
	s.env.MailFrom = from
	s.env.Rcpts = s.env.Rcpts[:0]
	s.policy = ""
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.pastErrorLimit() {
		return s.closing()
	}
	policy, ok := s.s.rcpts.Lookup(to)
	if !ok {
		s.log.Info("recipient refused", "reason", "no route")
		return s.refuse("unknown_recipient", replyNoSuchUser)
	}
	if len(s.env.Rcpts) > 0 && policy != s.policy {
		s.log.Info("recipient deferred", "reason", "another sender policy", "policy", string(policy), "transaction_policy", string(s.policy))
		return s.refuse("policy_mismatch", replyPolicyMismatch)
	}
	if err := s.reserveRoom(); err != nil {
		return err
	}
	s.policy = policy
	s.env.Rcpts = append(s.env.Rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	if s.pastErrorLimit() {
		return s.closing()
	}
	start := time.Now()
	// go-smtp's idle deadline does not move while DATA streams in: set one
	// for the whole transfer.
	s.conn.Conn().SetReadDeadline(start.Add(s.s.cfg.DataTimeout))
	reserved := s.reserved.Swap(0)
	if b, ok := s.s.sink.(Busier); ok && b.Busy() {
		// go-smtp reads the message to its end and drops it.
		s.s.inflight.give(reserved)
		s.log.Warn("mail deferred: busy", "reason", "store backlog full or stalled")
		return s.refuse("busy", replyBusy)
	}
	buf := newMailBuffer(s.s.inflight, reserved, s.declared, s.s.cfg.MaxMessageBytes)
	if buf == nil {
		s.log.Warn("mail deferred: in-flight budget full", "declared", s.declared)
		return s.refuse("no_room", replyNoRoom)
	}
	// The sink returns once the mail is stored, and nothing keeps the raw
	// bytes after that: the buffer serves the next mail.
	defer buf.release()
	n, err := buf.readFrom(&deadlineReader{r: r, deadline: start.Add(s.s.cfg.DataTimeout)})
	s.s.metrics.bytes.Add(float64(n))
	if errors.Is(err, errNoRoom) {
		s.log.Warn("mail deferred: in-flight budget full", "bytes", n)
		return s.refuse("no_room", replyNoRoom)
	}
	if err != nil {
		var se *smtp.SMTPError
		var ne net.Error
		s.log.Info("data refused", "err", err, "bytes", n)
		switch {
		case errors.As(err, &se) && se.Code == smtp.ErrDataTooLarge.Code:
			return s.refuse("too_big", replyTooBig)
		case errors.Is(err, smtp.ErrTooLongLine):
			return s.refuse("line_too_long", replyLineTooLong)
		case errors.As(err, &ne) && ne.Timeout():
			return s.refuse("data_timeout", replyTimeout)
		default:
			return s.refuse("read_error", replyTempFail)
		}
	}
	raw := buf.bytes()
	if reply, reason := s.checkContent(raw); reply != nil {
		s.log.Info("mail refused", "reason", reason, "bytes", n)
		return s.refuse(reason, reply)
	}
	auth, hold, reply := s.authenticate(raw)
	if reply != nil {
		return s.refuse("sender_auth", reply)
	}

	if !buf.reserveForStoring() {
		s.log.Warn("mail deferred: in-flight budget full", "bytes", n)
		return s.refuse("no_room", replyNoRoom)
	}
	if buf.large() && !buf.awaitTurn(s.ctx, start.Add(s.s.cfg.DataTimeout)) {
		s.log.Warn("mail deferred: busy", "reason", "no turn to store a large message", "bytes", n)
		return s.refuse("busy", replyBusy)
	}
	env := s.env
	env.Rcpts = append([]string(nil), s.env.Rcpts...)
	env.ReceivedAt = time.Now()
	env.Auth, env.Hold = auth, hold
	err = s.s.sink.Deliver(s.ctx, &env, raw)
	s.s.metrics.dataSeconds.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		if hold {
			s.s.metrics.quarantined.Inc()
		}
		s.s.metrics.accepted()
		s.s.metrics.replyCode(250)
		return nil
	case errors.Is(err, ErrTooComplex):
		s.log.Info("mail refused", "reason", "mime structure", "err", err)
		return s.refuse("too_complex", replyTooComplex)
	case errors.Is(err, ErrBusy):
		s.log.Warn("mail deferred: busy", "err", err)
		return s.refuse("busy", replyBusy)
	default:
		s.log.Error("mail deferred: store failed", "err", err)
		return s.refuse("store", replyTempFail)
	}
}

// checkContent applies the limits on the message itself and counts its
// irregular line endings.
func (s *session) checkContent(raw []byte) (*smtp.SMTPError, string) {
	scan := scanLineEndings(raw)
	for _, k := range scan.kinds() {
		s.s.metrics.lineEndings.WithLabelValues(k).Inc()
		s.log.Debug("irregular line ending", "kind", k)
	}
	if scan.longest > s.s.cfg.MaxLineLength {
		return replyLineTooLong, "line_too_long"
	}
	h := headerLen(raw)
	if int64(h) > s.s.cfg.MaxHeaderBytes {
		return replyHeaderTooBig, "header_too_big"
	}
	if countReceived(raw[:h]) > s.s.cfg.MaxReceived {
		return replyLoop, "loop"
	}
	return nil, ""
}

func (s *session) Reset() {
	s.releaseRoom()
	s.env.MailFrom = ""
	s.env.Rcpts = s.env.Rcpts[:0]
	s.policy = ""
	s.inTransaction.Store(false)
}

func (s *session) Logout() error {
	s.releaseRoom()
	s.cancel()
	if s.lc != nil {
		s.lc.sess.CompareAndSwap(s, nil)
	}
	s.s.metrics.sessions.Dec()
	return nil
}

// deadlineReader ends a message transfer that outlasts its deadline. The
// connection's read deadline does that for DATA, but go-smtp moves it at
// every BDAT command: without this a sender could trickle chunks forever.
type deadlineReader struct {
	r        io.Reader
	deadline time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if time.Now().After(d.deadline) {
		return 0, os.ErrDeadlineExceeded
	}
	return d.r.Read(p)
}

// wellFormedSender rejects what go-smtp lets through in a reverse-path but
// RFC 5321 does not: spaces, angle brackets and control characters (a
// quoted local part allows printable ASCII only; UTF-8 is SMTPUTF8's).
func wellFormedSender(from string) bool {
	for i := 0; i < len(from); i++ {
		if c := from[i]; c <= ' ' || c == 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return true
}
