package smtpd

// Refusals as real clients see them: go-smtp's own client, and swaks where
// noted. Each test checks the exact reply code and enhanced code the client
// reports, not merely that something failed; the raw dialog helper of
// harness_test.go shows what is sent, these show what a client makes of it.

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/qoo10hook/qoo10hook/parse"
)

// rcDial connects go-smtp's client to addr, from the loopback address local
// when it is not "" (127.0.0.0/8 is all loopback on Linux), and says EHLO
// unless hello is false. Its timeouts are short enough for a hung server to
// fail the test rather than the whole run.
func rcDial(t *testing.T, addr, local string, hello bool) *smtp.Client {
	t.Helper()
	var c *smtp.Client
	if local == "" {
		var err error
		if c, err = smtp.Dial(addr); err != nil {
			t.Fatal(err)
		}
	} else {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = 10 * time.Second
	c.SubmissionTimeout = 10 * time.Second
	t.Cleanup(func() { c.Close() })
	if hello {
		if err := c.Hello("client.example"); err != nil {
			t.Fatalf("EHLO: %v", err)
		}
	}
	return c
}

// rcDialTLS connects go-smtp's client to addr and starts TLS with tc, with
// rcDial's timeouts.
func rcDialTLS(t *testing.T, addr string, tc *tls.Config) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, tc)
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	c.CommandTimeout = 10 * time.Second
	c.SubmissionTimeout = 10 * time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

// rcWant checks that err is the reply code with the enhanced code enh, as
// go-smtp's client reports it: an *smtp.SMTPError.
func rcWant(t *testing.T, what string, err error, code int, enh smtp.EnhancedCode) *smtp.SMTPError {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("%s: got %v (%T), want the reply %d %d.%d.%d", what, err, err, code, enh[0], enh[1], enh[2])
	}
	if se.Code != code || se.EnhancedCode != enh {
		t.Fatalf("%s: got %d %d.%d.%d %q, want %d %d.%d.%d", what, se.Code,
			se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message, code, enh[0], enh[1], enh[2])
	}
	return se
}

// rcTransaction starts a transaction from qoo10info@qoo10.jp to rcpts.
func rcTransaction(t *testing.T, c *smtp.Client, rcpts ...string) {
	t.Helper()
	if err := c.Mail("qoo10info@qoo10.jp", nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatalf("RCPT TO:<%s>: %v", r, err)
		}
	}
}

// rcSend sends msg with DATA and returns the error of the final reply.
func rcSend(t *testing.T, c *smtp.Client, msg string) error {
	t.Helper()
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		t.Fatalf("writing the message: %v", err)
	}
	return w.Close()
}

// rcStored reports whether the sink stored a mail whose raw bytes contain s.
func rcStored(srv *testServer, s string) bool {
	for _, m := range srv.sink.all() {
		if strings.Contains(string(m.raw), s) {
			return true
		}
	}
	return false
}

// TestRealClientIdleTimeout: a client that says nothing for IdleTimeout is
// dropped with 421 4.4.2. go-smtp's client cannot read a reply it did not
// ask for: it reports the 421 as the answer to its next command, which is
// how real senders see it.
func TestRealClientIdleTimeout(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	srv := start(t, Config{IdleTimeout: idle})
	addr := srv.Addr().String()
	idle421 := smtp.EnhancedCode{4, 4, 2}

	t.Run("silent after connect", func(t *testing.T) {
		t.Parallel()
		c := rcDial(t, addr, "", false)
		time.Sleep(2 * idle)
		// The greeting came before the timeout; the 421 is the answer
		// the client reads for its EHLO.
		rcWant(t, "EHLO after the idle timeout", c.Hello("client.example"), 421, idle421)
	})
	t.Run("silent after EHLO", func(t *testing.T) {
		t.Parallel()
		c := rcDial(t, addr, "", true)
		time.Sleep(2 * idle)
		rcWant(t, "NOOP after the idle timeout", c.Noop(), 421, idle421)
		// The server has closed the connection.
		if err := c.Noop(); err == nil {
			t.Error("NOOP after the 421: the connection is still open")
		}
	})
	t.Run("silent in a transaction", func(t *testing.T) {
		t.Parallel()
		c := rcDial(t, addr, "", true)
		rcTransaction(t, c)
		time.Sleep(2 * idle)
		rcWant(t, "RCPT after the idle timeout", c.Rcpt("orders@in.example.test", nil), 421, idle421)
	})
	t.Run("active within the timeout", func(t *testing.T) {
		t.Parallel()
		c := rcDial(t, addr, "", true)
		// Commands spaced below the idle timeout keep the session up for
		// longer than the timeout in total.
		for range 4 {
			time.Sleep(idle / 3)
			if err := c.Noop(); err != nil {
				t.Fatalf("NOOP within the idle timeout: %v", err)
			}
		}
	})
}

// TestRealClientDataTimeout: a DATA transfer that outlasts DataTimeout as a
// whole gets 451 4.4.2, although the client keeps sending: each chunk comes
// well within the timeout of the one before, and the idle timeout is far
// away. The message is written through go-smtp's Data() writer, which
// flushes every 4 KiB, then the client stalls and ends DATA only after the
// whole-transfer deadline: a per-read deadline (or none) would accept it.
func TestRealClientDataTimeout(t *testing.T) {
	t.Parallel()
	const dataTimeout = time.Second
	srv := start(t, Config{IdleTimeout: 10 * time.Second, DataTimeout: dataTimeout})
	c := rcDial(t, srv.Addr().String(), "", true)
	rcTransaction(t, c, "orders@in.example.test")
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	begin := time.Now()
	// 64 lines of 64 bytes: one 4 KiB flush of the client's buffer each.
	chunk := []byte(strings.Repeat(strings.Repeat("0123456789abcdef", 4)[:62]+"\r\n", 64))
	if _, err := w.Write([]byte(mail("stalled"))); err != nil {
		t.Fatal(err)
	}
	const chunks = 5
	for i := range chunks {
		// At 0, 150, ..., 600 ms: all within the DATA timeout.
		time.Sleep(time.Until(begin.Add(time.Duration(i) * 150 * time.Millisecond)))
		if _, err := w.Write(chunk); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	if el := time.Since(begin); el > dataTimeout-200*time.Millisecond {
		t.Fatalf("the chunks took %s, too close to the DATA timeout to prove anything", el)
	}
	// Stall past the DATA timeout, but not past the last chunk plus the
	// DATA timeout.
	time.Sleep(time.Until(begin.Add(dataTimeout + 400*time.Millisecond)))
	rcWant(t, "end of DATA after the DATA timeout", w.Close(), 451, smtp.EnhancedCode{4, 4, 2})
	if rcStored(srv, "stalled") {
		t.Error("the timed-out mail was stored")
	}
	// The server was reading the chunks as they came when the deadline
	// ended the transfer.
	m := regexp.MustCompile(`msg="data refused".* bytes=(\d+)`).FindStringSubmatch(srv.logs.String())
	if m == nil {
		t.Fatalf("no data refused log line")
	}
	if n, _ := strconv.Atoi(m[1]); n < (chunks-1)*len(chunk) {
		t.Errorf("the server had read %d bytes at the DATA timeout, want at least %d", n, (chunks-1)*len(chunk))
	}
}

// TestRealClientTotalConnectionLimit: over MaxConnections a client gets
// 421 4.7.0 at connect, although its own address has no connection yet:
// the total limit, not the per-client one. go-smtp's client reports it as
// the greeting's error.
func TestRealClientTotalConnectionLimit(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{MaxConnections: 2, MaxConnectionsPerIP: 10})
	addr := srv.Addr().String()
	// Hold the two slots; EHLO makes sure both were admitted.
	held := []*smtp.Client{rcDial(t, addr, "127.0.0.31", true), rcDial(t, addr, "127.0.0.32", true)}

	c := rcDial(t, addr, "127.0.0.33", false)
	rcWant(t, "greeting over the total limit", c.Hello("client.example"), 421, smtp.EnhancedCode{4, 7, 0})

	t.Run("swaks", func(t *testing.T) {
		out := swaks(t, "--server", addr, "--local-interface", "127.0.0.34",
			"--from", "qoo10info@qoo10.jp", "--to", "orders@in.example.test")
		wantReply(t, out, "421 4.7.0")
		if strings.Contains(out, "250 2.0.0") {
			t.Errorf("swaks got a mail through over the total limit:\n%s", out)
		}
	})

	if got := testutil.ToFloat64(srv.metrics.connRefused.WithLabelValues("per_ip")); got != 0 {
		t.Errorf("per_ip refusals = %v, want 0", got)
	}
	if got := testutil.ToFloat64(srv.metrics.connRefused.WithLabelValues("total")); got < 1 {
		t.Errorf("total refusals = %v, want at least 1", got)
	}
	// The held sessions are unaffected, and a slot given back is free.
	if err := held[0].Quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
	// The server gives the slot back as it closes, just after the 221.
	for deadline := time.Now().Add(5 * time.Second); len(srv.conns.snapshot()) > 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slot of the session that quit was not given back")
		}
	}
	again := rcDial(t, addr, "127.0.0.33", true)
	rcTransaction(t, again, "orders@in.example.test")
	if err := held[1].Noop(); err != nil {
		t.Errorf("a held session: %v", err)
	}
}

// TestRealClientSizeAboveLimit: MAIL FROM with a SIZE= above
// MaxMessageBytes gets 552 5.3.4 before any byte of the message is sent.
func TestRealClientSizeAboveLimit(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{MaxMessageBytes: 4096})
	c := rcDial(t, srv.Addr().String(), "", true)
	// go-smtp's client sends SIZE= only to a server that advertises it.
	if n, ok := c.MaxMessageSize(); !ok || n != 4096 {
		t.Fatalf("advertised SIZE = %d, %v; want 4096", n, ok)
	}
	rcWant(t, "MAIL with SIZE=5000", c.Mail("qoo10info@qoo10.jp", &smtp.MailOptions{Size: 5000}), 552, smtp.EnhancedCode{5, 3, 4})
	// The session goes on, and a size at the limit is accepted.
	if err := c.Mail("qoo10info@qoo10.jp", &smtp.MailOptions{Size: 4096}); err != nil {
		t.Fatalf("MAIL with SIZE=4096: %v", err)
	}
}

// TestRealClientPolicyMismatch: a recipient whose route asks another
// sender policy than the transaction's first recipient is deferred with
// 452 4.5.3; the transaction goes on for the others, and the deferred one
// is taken in a transaction of its own.
func TestRealClientPolicyMismatch(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{})
	c := rcDial(t, srv.Addr().String(), "", true)
	mismatch := smtp.EnhancedCode{4, 5, 3}

	// orders@in.example.test's route has policy off, the strict one tag.
	rcTransaction(t, c, "orders@in.example.test")
	rcWant(t, "RCPT of a tag route after an off one", c.Rcpt("orders@strict.example.test", nil), 452, mismatch)
	vendor := vendorAddr("shop7")
	if err := c.Rcpt(vendor, nil); err != nil {
		t.Fatalf("RCPT of another off route: %v", err)
	}
	if err := rcSend(t, c, mail("mixed-policies")); err != nil {
		t.Fatalf("DATA: %v", err)
	}

	// The other way round.
	rcTransaction(t, c, "orders@strict.example.test")
	rcWant(t, "RCPT of an off route after a tag one", c.Rcpt("orders@in.example.test", nil), 452, mismatch)
	if err := rcSend(t, c, mail("strict-alone")); err != nil {
		t.Fatalf("DATA: %v", err)
	}

	want := map[string]string{"mixed-policies": "orders@in.example.test," + vendor, "strict-alone": "orders@strict.example.test"}
	got := map[string]string{}
	for _, m := range srv.sink.all() {
		for subject := range want {
			if strings.Contains(string(m.raw), "Subject: "+subject+"\r\n") {
				got[subject] = strings.Join(m.env.Rcpts, ",")
			}
		}
	}
	for subject, rcpts := range want {
		if got[subject] != rcpts {
			t.Errorf("mail %q stored for %q, want %q", subject, got[subject], rcpts)
		}
	}
}

// garbageSASL is a SASL client that answers with bytes that are no PLAIN
// response: as its initial response, or, when initial is nil, to the
// server's challenge.
type garbageSASL struct{ initial []byte }

func (g garbageSASL) Start() (string, []byte, error) { return sasl.Plain, g.initial, nil }

func (g garbageSASL) Next([]byte) ([]byte, error) { return []byte("no separators here"), nil }

// TestRealClientAuthRefusals: AUTH before STARTTLS gets 523 5.7.10 (from
// go-smtp, even with the right password); a malformed SASL response gets
// 501 5.5.2 without go-sasl's own text, and the session may authenticate
// afterwards.
func TestRealClientAuthRefusals(t *testing.T) {
	t.Parallel()
	srv, tc, _ := tlsServer(t, nil)
	addr := srv.Addr().String()

	t.Run("before STARTTLS", func(t *testing.T) {
		t.Parallel()
		c := rcDial(t, addr, "", true)
		if ok, _ := c.Extension("AUTH"); ok {
			t.Fatal("AUTH offered before STARTTLS")
		}
		// go-smtp's client tries AUTH whether offered or not.
		for _, a := range []sasl.Client{
			sasl.NewPlainClient("", "relay", relayPassword),
			sasl.NewLoginClient("relay", relayPassword),
		} {
			rcWant(t, "AUTH before STARTTLS", c.Auth(a), 523, smtp.EnhancedCode{5, 7, 10})
		}
		// Not authenticated: nothing changed for the session, which goes on.
		rcTransaction(t, c, "orders@in.example.test")
		if err := rcSend(t, c, mail("plain-after-auth")); err != nil {
			t.Fatalf("DATA: %v", err)
		}
		for _, m := range srv.sink.all() {
			if strings.Contains(string(m.raw), "plain-after-auth") && (m.env.AuthUser != "" || m.env.TLS) {
				t.Errorf("envelope %+v: want no AuthUser and no TLS", m.env)
			}
		}
	})
	for _, tcase := range []struct {
		name   string
		client garbageSASL
	}{
		{"malformed initial response", garbageSASL{initial: []byte("no separators here")}},
		{"malformed response to the challenge", garbageSASL{}},
	} {
		t.Run(tcase.name, func(t *testing.T) {
			t.Parallel()
			c := rcDialTLS(t, addr, tc)
			se := rcWant(t, "malformed AUTH PLAIN", c.Auth(tcase.client), 501, smtp.EnhancedCode{5, 5, 2})
			if strings.Contains(strings.ToLower(se.Message), "sasl") {
				t.Errorf("go-sasl's text reached the client: %q", se.Message)
			}
			if err := c.Auth(sasl.NewPlainClient("", "relay", relayPassword)); err != nil {
				t.Fatalf("AUTH after a malformed one: %v", err)
			}
		})
	}
	// Malformed exchanges count as failed attempts: after three, even the
	// right password is refused.
	t.Run("malformed attempts count towards the limit", func(t *testing.T) {
		t.Parallel()
		c := rcDialTLS(t, addr, tc)
		for range 3 {
			rcWant(t, "malformed AUTH PLAIN", c.Auth(garbageSASL{initial: []byte("no separators here")}), 501, smtp.EnhancedCode{5, 5, 2})
		}
		rcWant(t, "AUTH after three malformed ones", c.Auth(sasl.NewPlainClient("", "relay", relayPassword)), 454, smtp.EnhancedCode{4, 7, 0})
	})
}

// nestedMIME is a mail whose multipart structure nests depth levels deep.
func nestedMIME(subject string, depth int) string {
	var b strings.Builder
	b.WriteString("From: Qoo10 <qoo10info@qoo10.jp>\r\nTo: orders@in.example.test\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@qoo10.jp>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\nbody\r\n", depth-1)
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.String()
}

// TestRealClientMIMETooComplex: a mail nested deeper than the MIME limit
// gets 554 5.6.0 at the end of DATA.
//
// The depth check is not in smtpd: it is package parse's, reached through
// the sink (app's sink turns parse.ErrTooComplex into ErrTooComplex). So,
// as TestMessageLimits does, the fake sink's error hook returns it here,
// but the error is the real parser's verdict on the very mail a real
// client sends, wrapped as app's sink wraps it.
func TestRealClientMIMETooComplex(t *testing.T) {
	t.Parallel()
	p, err := parse.New(parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// One level within the limit, one beyond it.
	if res := p.Parse([]byte(nestedMIME("at-limit", parse.DefaultMaxDepth))); errors.Is(res.Err, parse.ErrTooComplex) {
		t.Fatalf("a mail nested %d deep is refused by the parser: %v", parse.DefaultMaxDepth, res.Err)
	}
	msg := nestedMIME("too-deep", parse.DefaultMaxDepth+1)
	res := p.Parse([]byte(msg))
	if !errors.Is(res.Err, parse.ErrTooComplex) {
		t.Fatalf("a mail nested %d deep: parser error %v, want ErrTooComplex", parse.DefaultMaxDepth+1, res.Err)
	}

	srv := start(t, Config{})
	srv.sink.mu.Lock()
	srv.sink.err = fmt.Errorf("%w: %w", ErrTooComplex, res.Err)
	srv.sink.mu.Unlock()
	c := rcDial(t, srv.Addr().String(), "", true)
	rcTransaction(t, c, "orders@in.example.test")
	rcWant(t, "DATA of a mail nested too deep", rcSend(t, c, msg), 554, smtp.EnhancedCode{5, 6, 0})
	// The session goes on.
	if err := c.Mail("qoo10info@qoo10.jp", nil); err != nil {
		t.Fatalf("MAIL after the refusal: %v", err)
	}
}

// TestRealClientMalformedSender: a reverse-path go-smtp's server parses
// into an address with a space or an angle bracket (a quoted local part
// unquoted, or a domain running on) gets 553 5.1.7 at MAIL.
func TestRealClientMalformedSender(t *testing.T) {
	t.Parallel()
	// One session tries every sender: more errors than smtp.max_errors
	// allows by default (TestErrorLimit).
	srv := start(t, Config{MaxErrors: 100})
	c := rcDial(t, srv.Addr().String(), "", true)
	for _, from := range []string{
		`"john doe"@qoo10.jp`,
		`"a<b"@qoo10.jp`,
		`"a>b"@qoo10.jp`,
		`"<>"@qoo10.jp`,
		`qoo10info@qoo10.jp<evil.example`,
	} {
		rcWant(t, "MAIL FROM:<"+from+">", c.Mail(from, nil), 553, smtp.EnhancedCode{5, 1, 7})
		// No transaction was started.
		rcWant(t, "RCPT after the refused MAIL", c.Rcpt("orders@in.example.test", nil), 502, smtp.EnhancedCode{5, 5, 1})
	}
	// A well-formed sender, and the null sender, are taken.
	for _, from := range []string{"qoo10info@qoo10.jp", ""} {
		if err := c.Mail(from, nil); err != nil {
			t.Errorf("MAIL FROM:<%s>: %v", from, err)
		}
		if err := c.Reset(); err != nil {
			t.Fatal(err)
		}
	}

	// Control characters, inside a quoted local part too, are malformed
	// (RFC 5321 qtextSMTP and quoted-pairSMTP are %d32-126 only).
	t.Run("control characters", func(t *testing.T) {
		for _, from := range []string{"\"a\tb\"@qoo10.jp", "\"a\x00b\"@qoo10.jp", "\"a\x1bb\"@qoo10.jp", "qoo10info@qoo10.jp\x7f"} {
			err := c.Mail(from, nil)
			if err == nil {
				t.Errorf("MAIL FROM:<%q> accepted, want 553 5.1.7", from)
				if err := c.Reset(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			rcWant(t, fmt.Sprintf("MAIL FROM:<%q>", from), err, 553, smtp.EnhancedCode{5, 1, 7})
		}
	})
}

// TestRealClientLongBodyLine: with the default MaxLineLength (16 KiB, not
// go-smtp's own 2,000) a 5,000-character body line is accepted and stored
// whole.
func TestRealClientLongBodyLine(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{})
	c := rcDial(t, srv.Addr().String(), "", true)
	rcTransaction(t, c, "orders@in.example.test")
	line := strings.Repeat("x", 4999) + "y"
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := w.Write([]byte(mail("long-line") + line + "\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatalf("a 5,000-character line: %v, want 250", err)
	}
	if !strings.HasPrefix(resp.StatusText, "2.0.0 ") {
		t.Errorf("reply %q, want 250 2.0.0", resp.StatusText)
	}
	if !rcStored(srv, "\r\n"+line+"\r\n") {
		t.Error("the 5,000-character line is not stored whole")
	}
}
