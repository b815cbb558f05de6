package smtpd

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// listener admits connections within the connection limits. Over a limit
// it answers 421 4.7.0 and closes at once, without a session; on the
// implicit TLS port, where a plain reply would be garbage, it only closes.
type listener struct {
	net.Listener
	s     *Server
	greet bool
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		lc := &conn{Conn: c, key: key, table: l.s.conns}
		if reason := l.s.conns.admit(lc); reason != "" {
			l.s.metrics.connRefused.WithLabelValues(reason).Inc()
			l.s.log.Debug("connection refused", "reason", reason, "remote", key.Addr().String())
			l.s.refuse(c, l.greet)
			continue
		}
		l.s.metrics.connections.Inc()
		lc.onClose = l.s.metrics.connections.Dec
		lc.errLimit = errorLimit{max: l.s.cfg.MaxErrors, hostname: l.s.cfg.Hostname, reached: l.s.metrics.errorLimit.Inc}
		return lc, nil
	}
}

// refuse tells the client to come back later and closes the connection.
// At most cap(s.refusing) such replies are written at once; beyond that a
// flood is closed without a word.
func (s *Server) refuse(c net.Conn, greet bool) {
	if !greet {
		c.Close()
		return
	}
	select {
	case s.refusing <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-s.refusing }()
		c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(c, "421 4.7.0 "+s.cfg.Hostname+" Too many connections, try again later\r\n")
		c.Close()
	}()
}

// clientKey is what the per-client limits count by: the IPv4 address, or
// the /64 of an IPv6 one (one client's usual allocation).
func clientKey(a net.Addr) netip.Prefix {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, ip.BitLen())
}

// conn is an admitted connection; closing it gives its slot back.
type conn struct {
	net.Conn
	key     netip.Prefix
	table   *connTable
	onClose func()
	once    sync.Once
	// sess is the session on the connection, nil before EHLO and after
	// Logout: shutdown closes connections whose session is not in a
	// transaction.
	sess atomic.Pointer[session]
	// held is the start of a multi-line reply, written with its last line
	// (see Write).
	held []byte
	// errLimit counts the connection's error replies.
	errLimit errorLimit
}

// maxHeldReply bounds the lines of one reply held back: an EHLO reply is
// well under it.
const maxHeldReply = 4 << 10

// Write sends what go-smtp writes. go-smtp flushes every line of a
// multi-line reply on its own; a line that announces more ("250-") is held
// and sent with the reply's last line, in one write: one system call
// instead of one per EHLO keyword, and one segment, which some clients
// need to read the reply whole. A TLS record never begins with a digit, so
// what crypto/tls writes goes straight through.
//
// Write also counts the error replies it sees (see errorLimit): the one
// past the limit is replaced by 421 4.7.0, and the connection closes.
func (c *conn) Write(p []byte) (int, error) {
	if continuesReply(p) && len(c.held)+len(p) <= maxHeldReply {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	out := p
	if c.errLimit.written(p) {
		out = c.errLimit.reply()
	}
	closing := c.errLimit.closing
	if len(c.held) == 0 {
		n, err := c.Conn.Write(out)
		if closing {
			c.Close()
			return len(p), err
		}
		return n, err
	}
	held := len(c.held)
	reply := append(c.held, out...)
	c.held = c.held[:0]
	n, err := c.Conn.Write(reply)
	if closing {
		c.Close()
		return len(p), err
	}
	return max(n-held, 0), err
}

// errorLimit ends a session that keeps failing: address harvesting with
// RCPT, token guessing, garbage commands. Every 5xx reply counts: those
// of our session (refused, which counts them itself, since under TLS the
// connection carries only ciphertext) and those go-smtp writes on its own
// (bad sequence, bad arguments), seen in plaintext by conn.Write. The
// reply past max is 421 4.7.0, and the connection closes after it.
type errorLimit struct {
	max      int
	hostname string
	reached  func()
	count    int
	// counted is set when the session counted the reply being written.
	counted bool
	// closing is set once the limit is passed.
	closing bool
}

// refused counts an error reply of the session and reports whether it is
// past the limit, and must become 421 4.7.0.
func (e *errorLimit) refused() bool {
	if e.max <= 0 || e.closing {
		return e.closing
	}
	e.counted = true
	return e.count1()
}

// written counts a final reply line go-smtp writes, unless the session
// counted it, and reports whether it must be replaced by reply().
func (e *errorLimit) written(p []byte) bool {
	if e.max <= 0 || e.closing || len(p) < 4 || p[0] != '5' || !isDigit(p[1]) || !isDigit(p[2]) || p[3] != ' ' {
		return false
	}
	if e.counted {
		e.counted = false
		return false
	}
	return e.count1()
}

// count1 counts one error and reports whether it is past the limit.
func (e *errorLimit) count1() bool {
	e.count++
	if e.count > e.max {
		e.closing = true
		if e.reached != nil {
			e.reached()
		}
	}
	return e.closing
}

func (e *errorLimit) reply() []byte {
	return []byte("421 4.7.0 " + e.hostname + " Too many errors, closing connection\r\n")
}

// continuesReply tells whether p is reply lines whose last one has more
// to follow: "250-PIPELINING\r\n", not "250 2.0.0 OK\r\n".
func continuesReply(p []byte) bool {
	if len(p) < 6 || p[len(p)-2] != '\r' || p[len(p)-1] != '\n' {
		return false
	}
	line := p[bytes.LastIndexByte(p[:len(p)-2], '\n')+1:]
	return len(line) >= 6 && isDigit(p[0]) && isDigit(line[0]) && isDigit(line[1]) && isDigit(line[2]) && line[3] == '-'
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func (c *conn) Close() error {
	c.once.Do(func() {
		c.table.release(c)
		if c.onClose != nil {
			c.onClose()
		}
	})
	return c.Conn.Close()
}

// connOf finds our conn under a go-smtp connection, TLS or not.
func connOf(c net.Conn) *conn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, _ := c.(*conn)
	return lc
}

// connTable counts the open connections, in total and per client.
type connTable struct {
	mu       sync.Mutex
	maxTotal int
	maxPerIP int
	perIP    map[netip.Prefix]int
	set      map[*conn]struct{}
}

func newConnTable(total, perIP int) *connTable {
	return &connTable{maxTotal: total, maxPerIP: perIP, perIP: map[netip.Prefix]int{}, set: map[*conn]struct{}{}}
}

// admit takes a slot for c, or returns why there is none: "total" or
// "per_ip".
func (t *connTable) admit(c *conn) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.set) >= t.maxTotal {
		return "total"
	}
	if t.perIP[c.key] >= t.maxPerIP {
		return "per_ip"
	}
	t.perIP[c.key]++
	t.set[c] = struct{}{}
	return ""
}

func (t *connTable) release(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.set[c]; !ok {
		return
	}
	delete(t.set, c)
	if t.perIP[c.key]--; t.perIP[c.key] <= 0 {
		delete(t.perIP, c.key)
	}
}

func (t *connTable) snapshot() []*conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*conn, 0, len(t.set))
	for c := range t.set {
		out = append(out, c)
	}
	return out
}

// closeIdle closes the connections that are not in a transaction. Closing
// the network connection, not go-smtp's, lets its own loop end the session.
func (t *connTable) closeIdle() {
	for _, c := range t.snapshot() {
		if s := c.sess.Load(); s == nil || !s.inTransaction.Load() {
			c.Close()
		}
	}
}

// closeAll closes every connection, in a transaction or not.
func (t *connTable) closeAll() {
	for _, c := range t.snapshot() {
		c.Close()
	}
}

// rateLimiter is a token bucket per client: perMinute transactions a
// minute, in bursts of up to perMinute. Its memory is bounded: when it
// tracks maxBuckets clients it forgets those whose bucket has refilled,
// and if that is not enough, all of them (failing open, not closed).
type rateLimiter struct {
	mu        sync.Mutex
	perMinute float64
	buckets   map[netip.Prefix]*bucket
	now       func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

const maxBuckets = 100_000

func newRateLimiter(perMinute int) *rateLimiter {
	return &rateLimiter{perMinute: float64(perMinute), buckets: map[netip.Prefix]*bucket{}, now: time.Now}
}

// allow takes a token for key and reports whether there was one.
func (r *rateLimiter) allow(key netip.Prefix) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	b := r.buckets[key]
	if b == nil {
		if len(r.buckets) >= maxBuckets {
			r.sweep(now)
		}
		b = &bucket{tokens: r.perMinute, last: now}
		r.buckets[key] = b
	}
	b.tokens = min(r.perMinute, b.tokens+now.Sub(b.last).Minutes()*r.perMinute)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (r *rateLimiter) sweep(now time.Time) {
	for k, b := range r.buckets {
		if b.tokens+now.Sub(b.last).Minutes()*r.perMinute >= r.perMinute {
			delete(r.buckets, k)
		}
	}
	if len(r.buckets) >= maxBuckets {
		clear(r.buckets)
	}
}
