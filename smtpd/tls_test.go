package smtpd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"
)

const relayPassword = "relay-password"

// tlsServer starts a server with STARTTLS, an implicit TLS port and one
// AUTH account, "relay".
func tlsServer(t *testing.T, extra func(*Config)) (srv *testServer, tc *tls.Config, reissue func() string) {
	t.Helper()
	cert, pool, issue := testCertificate(t)
	hash, err := bcrypt.GenerateFromPassword([]byte(relayPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Certificate: cert, ImplicitTLSAddr: "127.0.0.1:0",
		Users: []User{{Name: "relay", Hash: hash, AuthServID: "relay.shop.example"}}}
	if extra != nil {
		extra(&cfg)
	}
	srv = start(t, cfg)
	return srv, tlsClient(pool), func() string { return issue().String() }
}

func code(err error) string {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// TestSTARTTLSAndAuth: AUTH is offered only after STARTTLS; wrong
// credentials get 535 5.7.8; PLAIN and LOGIN both work; the mail of an
// authenticated session carries its account and TLS; AUTH does not open
// relaying.
func TestSTARTTLSAndAuth(t *testing.T) {
	t.Parallel()
	srv, tc, _ := tlsServer(t, nil)
	addr := srv.Addr().String()

	d := dial(t, addr).greet()
	caps := d.expect("EHLO client.example", "250")
	if !strings.Contains(caps, "STARTTLS") || strings.Contains(caps, "AUTH") {
		t.Fatalf("before TLS: %q, want STARTTLS and no AUTH", caps)
	}
	d.expect("AUTH PLAIN AHJlbGF5AHJlbGF5LXBhc3N3b3Jk", "523 5.7.10")

	for _, mech := range []string{sasl.Plain, sasl.Login} {
		c, err := smtp.DialStartTLS(addr, tc)
		if err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		if ok, params := c.Extension("AUTH"); !ok || params != "PLAIN LOGIN" {
			t.Fatalf("after TLS AUTH = %v %q, want PLAIN LOGIN", ok, params)
		}
		client := func(pass string) sasl.Client {
			if mech == sasl.Login {
				return sasl.NewLoginClient("relay", pass)
			}
			return sasl.NewPlainClient("", "relay", pass)
		}
		if got := code(c.Auth(client("wrong"))); got != "535 5.7.8" {
			t.Fatalf("%s with a wrong password: %s, want 535 5.7.8", mech, got)
		}
		if err := c.Auth(client(relayPassword)); err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		if err := c.Mail("bounce@qoo10.jp", nil); err != nil {
			t.Fatal(err)
		}
		if got := code(c.Rcpt("x@elsewhere.example", nil)); got != "550 5.1.1" {
			t.Errorf("authenticated RCPT to a foreign domain: %s, want 550 5.1.1", got)
		}
		if err := c.Rcpt("orders@in.example.test", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(mail("relayed-" + mech)))
		if err := w.Close(); err != nil {
			t.Fatalf("DATA: %v", err)
		}
		c.Quit()
	}
	m := srv.sink.all()
	if len(m) != 2 {
		t.Fatalf("%d mails stored, want 2", len(m))
	}
	for _, x := range m {
		if !x.env.TLS || x.env.AuthUser != "relay" {
			t.Errorf("envelope %+v: want TLS and AuthUser relay", x.env)
		}
	}
}

func TestAuthFailuresBounded(t *testing.T) {
	t.Parallel()
	srv, tc, _ := tlsServer(t, nil)
	c, err := smtp.DialStartTLS(srv.Addr().String(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range maxAuthFailures {
		if got := code(c.Auth(sasl.NewPlainClient("", "nobody", "x"))); got != "535 5.7.8" {
			t.Fatalf("unknown user: %s, want 535 5.7.8", got)
		}
	}
	if got := code(c.Auth(sasl.NewPlainClient("", "relay", relayPassword))); got != "454 4.7.0" {
		t.Fatalf("after %d failures: %s, want 454 4.7.0", maxAuthFailures, got)
	}
}

// TestImplicitTLS: the second listener speaks TLS from the first byte,
// with the session ticket extension off.
func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	srv, tc, _ := tlsServer(t, nil)
	c, err := smtp.DialTLS(srv.ImplicitTLSAddr().String(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("relay.shop.example"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered inside TLS")
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		t.Error("AUTH not offered over implicit TLS")
	}
	if err := c.SendMail("bounce@qoo10.jp", []string{"orders@in.example.test"}, strings.NewReader(mail("implicit"))); err != nil {
		t.Fatal(err)
	}
	if !srv.tlsConfig().SessionTicketsDisabled {
		t.Error("session tickets are on")
	}
}

// TestRequireTLS: with require_tls, MAIL before STARTTLS gets 530 5.7.0.
func TestRequireTLS(t *testing.T) {
	t.Parallel()
	srv, tc, _ := tlsServer(t, func(c *Config) { c.RequireTLS = true })
	d := dial(t, srv.Addr().String()).greet()
	d.expect("MAIL FROM:<bounce@qoo10.jp>", "530 5.7.0")
	c, err := smtp.DialStartTLS(srv.Addr().String(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("bounce@qoo10.jp", nil); err != nil {
		t.Fatalf("MAIL after STARTTLS: %v", err)
	}
}

// TestCertificateReload: after the files are replaced and reloaded, a new
// connection sees the new certificate while a session that was up before
// keeps going and sends its mail.
func TestCertificateReload(t *testing.T) {
	t.Parallel()
	srv, tc, reissue := tlsServer(t, nil)
	serial := func(c *smtp.Client) string {
		if err := c.Noop(); err != nil { // completes the handshake
			t.Fatal(err)
		}
		st, ok := c.TLSConnectionState()
		if !ok {
			t.Fatal("no TLS")
		}
		return st.PeerCertificates[0].SerialNumber.String()
	}
	old, err := smtp.DialStartTLS(srv.Addr().String(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	before := serial(old)

	want := reissue()
	if err := srv.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	fresh, err := smtp.DialStartTLS(srv.Addr().String(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got := serial(fresh); got != want || got == before {
		t.Fatalf("new connection got certificate %s, want the new %s (old %s)", got, want, before)
	}
	if err := old.SendMail("bounce@qoo10.jp", []string{"orders@in.example.test"}, strings.NewReader(mail("old-session"))); err != nil {
		t.Fatalf("the session from before the reload: %v", err)
	}
}

// TestAuthMalformed: a malformed PLAIN response gets our 501 5.5.2, not
// go-sasl's error text.
func TestAuthMalformed(t *testing.T) {
	t.Parallel()
	srv, tc, _ := tlsServer(t, nil)
	c, err := tls.Dial("tcp", srv.Addr().String(), tc)
	if err == nil {
		c.Close()
		t.Fatal("the STARTTLS port spoke TLS at connect")
	}
	conn, err := tls.Dial("tcp", srv.ImplicitTLSAddr().String(), tc)
	if err != nil {
		t.Fatal(err)
	}
	d := &dialog{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	d.greet()
	d.expect("AUTH PLAIN bm8tbnVscy1oZXJl", "501 5.5.2") // "no-nuls-here"
}

// TestDecoyHashCost: a password for an unknown user is checked against a
// hash as costly as the dearest account's, so that timing does not tell
// which user names exist.
func TestDecoyHashCost(t *testing.T) {
	t.Parallel()
	cheap, _ := bcrypt.GenerateFromPassword([]byte("a"), bcrypt.MinCost)
	dear, _ := bcrypt.GenerateFromPassword([]byte("b"), bcrypt.DefaultCost+2)
	h := decoyHash([]User{{Name: "a", Hash: cheap}, {Name: "b", Hash: dear}})
	if c, err := bcrypt.Cost(h); err != nil || c != bcrypt.DefaultCost+2 {
		t.Errorf("decoy cost %d (%v), want %d", c, err, bcrypt.DefaultCost+2)
	}
}
