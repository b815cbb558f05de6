package smtpd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestErrorLimit: past smtp.max_errors error replies a session gets
// 421 4.7.0 and is closed, whether the errors are refusals of ours
// (pipelined RCPT to unknown addresses), go-smtp's own (commands out of
// sequence), or come over TLS; fewer errors leave it alone.
func TestErrorLimit(t *testing.T) {
	t.Parallel()
	t.Run("pipelined unknown recipients, default limit", func(t *testing.T) {
		t.Parallel()
		srv := start(t, Config{})
		d := dial(t, srv.Addr().String()).greet()
		d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
		d.send(strings.Repeat("RCPT TO:<guess@elsewhere.example>\r\n", 10_000))
		for range DefaultMaxErrors {
			d.expect("", "550 5.1.1")
		}
		d.expect("", "421 4.7.0")
		// Closed with commands unread: a reset rather than an orderly end.
		if b, err := io.ReadAll(d.r); len(b) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
			t.Errorf("after 421: read %q, %v; want the connection closed", b, err)
		}
		if n := testutil.ToFloat64(srv.metrics.errorLimit); n != 1 {
			t.Errorf("qoo10hook_smtp_error_limit_closes_total = %v, want 1", n)
		}
	})
	t.Run("commands out of sequence", func(t *testing.T) {
		t.Parallel()
		srv := start(t, Config{MaxErrors: 3})
		d := dial(t, srv.Addr().String()).greet()
		for range 3 {
			d.expect("RCPT TO:<orders@in.example.test>", "502 ")
		}
		d.expect("RCPT TO:<orders@in.example.test>", "421 4.7.0")
		d.eof()
	})
	t.Run("over TLS", func(t *testing.T) {
		t.Parallel()
		srv, tc, _ := tlsServer(t, func(c *Config) { c.MaxErrors = 3 })
		d := dial(t, srv.Addr().String()).greet()
		d.expect("STARTTLS", "220 ")
		tconn := tls.Client(d.conn, tc)
		if err := tconn.Handshake(); err != nil {
			t.Fatal(err)
		}
		d.conn, d.r = tconn, bufio.NewReader(tconn)
		d.expect("EHLO client.example", "250")
		d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
		for range 3 {
			d.expect("RCPT TO:<guess@elsewhere.example>", "550 5.1.1")
		}
		d.expect("RCPT TO:<guess@elsewhere.example>", "421 4.7.0")
		d.eof()
	})
	t.Run("under the limit", func(t *testing.T) {
		t.Parallel()
		srv := start(t, Config{MaxErrors: 3})
		d := dial(t, srv.Addr().String()).greet()
		d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
		for range 3 {
			d.expect("RCPT TO:<guess@elsewhere.example>", "550 5.1.1")
		}
		d.expect("RCPT TO:<orders@in.example.test>", "250 ")
		d.expect("DATA", "354 ")
		d.send(mail("limit") + ".\r\n")
		d.expect("", "250 ")
	})
}
