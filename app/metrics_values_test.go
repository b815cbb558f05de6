package app

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/bcrypt"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/inventory"
)

// The tests of this file generate the traffic that moves each metric family
// docs/metrics.md documents but TestMetricsAfterTraffic only
// checks for presence, and assert the values /metrics then shows.

// metricWant is the expected value of the one sample of a family whose
// labels include labels.
type metricWant struct {
	name   string
	labels []string
	value  float64
}

func (w metricWant) String() string {
	return w.name + "{" + strings.Join(w.labels, ",") + "}"
}

// expectMetrics scrapes /metrics until every want holds, for up to within
// (gauges that a periodic refresh or a closing connection moves settle a
// little after the traffic; counters the traffic moved synchronously hold
// at the first scrape), then reports each one that does not and returns
// the last scrape.
func expectMetrics(t *testing.T, addr string, within time.Duration, wants []metricWant) map[string]*dto.MetricFamily {
	t.Helper()
	bad := func(mfs map[string]*dto.MetricFamily) []metricWant {
		var out []metricWant
		for _, w := range wants {
			if got, ok := value(mfs, w.name, w.labels...); !ok || got != w.value {
				out = append(out, w)
			}
		}
		return out
	}
	mfs, held := scrapeUntil(t, addr, within, func(mfs map[string]*dto.MetricFamily) bool { return len(bad(mfs)) == 0 })
	if !held {
		for _, w := range bad(mfs) {
			got, ok := value(mfs, w.name, w.labels...)
			t.Errorf("%s = %v (present: %v), want %v", w, got, ok, w.value)
		}
	}
	return mfs
}

// scrapeUntil scrapes /metrics until holds is true of a scrape, for up to
// within, and returns the last scrape and whether it held.
func scrapeUntil(t *testing.T, addr string, within time.Duration, holds func(map[string]*dto.MetricFamily) bool) (map[string]*dto.MetricFamily, bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		mfs := scrape(t, addr)
		if holds(mfs) {
			return mfs, true
		}
		if time.Now().After(deadline) {
			return mfs, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sumOf adds up the samples of family name whose labels include labels.
func sumOf(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	var sum float64
	for _, m := range samples(mfs, name, labels...) {
		sum += sampleValue(m)
	}
	return sum
}

// TestMetricValuesSenderAuth sends mails whose SPF, DKIM and DMARC verdicts
// are known (DNS from the test world, extended), through routes of every
// sender policy, and checks every qoo10hook_mailauth_verdicts_total series,
// the sender-authentication histogram, the policy outcomes, the quarantine
// counter and the transactions the sender policy refused or deferred.
func TestMetricValuesSenderAuth(t *testing.T) {
	rx := newReceiver(t)
	cfg := testConfig(t, testenv.SQLite(t), rx.URL)
	cfg.Sender.Policy = config.PolicyRequire
	cfg.Routes = []config.Route{
		{Tenant: "req", Recipients: []string{"req@in.example.test"}},
		{Tenant: "quar", Recipients: []string{"quar@in.example.test"}, SenderPolicy: config.PolicyQuarantine},
		{Tenant: "tagged", Recipients: []string{"tag@in.example.test"}, SenderPolicy: config.PolicyTag},
		{Tenant: "off", Recipients: []string{"off@in.example.test"}, SenderPolicy: config.PolicyOff},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	dns := newWorld()
	dns.txt["soft.qoo10.jp"] = []string{"v=spf1 ~all"}
	dns.txt["neutral.qoo10.jp"] = []string{"v=spf1 ?all"}
	dns.txt["perm.qoo10.jp"] = []string{"v=spf1 ip4:not-an-address -all"}
	// nospf.qoo10.jp has no record at all: SPF none. The DKIM key of
	// dktemp.qoo10.jp cannot be looked up: DKIM temperror.
	dns.servfail["ed1._domainkey.dktemp.qoo10.jp"] = true
	svc := start(t, cfg, WithResolver(dns))
	addr := svc.svc.SMTPAddr()

	const from = "Qoo10 <qoo10info@qoo10.jp>"
	plain := func(id string) []byte { return qoo10Mail(id, from) }
	signed := func(id, domain string) []byte { return dkimSign(t, qoo10Mail(id, from), domain, qoo10Key) }
	altered := func(id string) []byte {
		return bytes.Replace(signed(id, "qoo10.jp"), []byte("数量: 2"), []byte("数量: 9"), 1)
	}
	// A From domain without a DMARC record: DMARC none.
	shopFrom := func(id string) []byte { return qoo10Mail(id, "Shop <orders@shop.example>") }
	// No From field: no From domain, DMARC permerror.
	noFrom := func(id string) []byte {
		return bytes.Replace(qoo10Mail(id, from), []byte("From: "+from+"\r\n"), nil, 1)
	}

	for _, tc := range []struct {
		name, rcpt, mailFrom string
		raw                  []byte
		want                 string
	}{
		// spf fail, dkim pass, dmarc pass: require, aligned
		{"DKIM pass", "req@in.example.test", "bounce@qoo10.jp", signed("mv1", "qoo10.jp"), "250"},
		// spf pass, dkim none, dmarc pass: require, aligned
		{"SPF pass", "req@in.example.test", "bounce@mail.qoo10.jp", plain("mv2"), "250"},
		// spf fail, dkim none, dmarc fail: require, rejected
		{"nothing passes", "req@in.example.test", "bounce@qoo10.jp", plain("mv3"), "550 5.7.1"},
		// spf temperror, dkim none, dmarc temperror: require, deferred
		{"SPF temperror", "req@in.example.test", "bounce@temp.qoo10.jp", plain("mv4"), "451 4.7.0"},
		// spf fail, dkim none, dmarc fail: quarantine, quarantined
		{"quarantined", "quar@in.example.test", "bounce@qoo10.jp", plain("mv5"), "250"},
		// spf temperror, dkim none, dmarc temperror: quarantine, deferred
		{"quarantine defers", "quar@in.example.test", "bounce@temp.qoo10.jp", plain("mv6"), "451 4.7.0"},
		// The rest are tagged and delivered whatever their verdicts.
		// spf fail, dkim fail, dmarc fail
		{"DKIM fail", "tag@in.example.test", "bounce@qoo10.jp", altered("mv7"), "250"},
		// spf softfail, dkim none, dmarc fail
		{"SPF softfail", "tag@in.example.test", "bounce@soft.qoo10.jp", plain("mv8"), "250"},
		// spf neutral, dkim none, dmarc fail
		{"SPF neutral", "tag@in.example.test", "bounce@neutral.qoo10.jp", plain("mv9"), "250"},
		// spf permerror, dkim none, dmarc fail
		{"SPF permerror", "tag@in.example.test", "bounce@perm.qoo10.jp", plain("mv10"), "250"},
		// spf none, dkim none, dmarc fail
		{"SPF none", "tag@in.example.test", "bounce@nospf.qoo10.jp", plain("mv11"), "250"},
		// spf fail, dkim temperror, dmarc temperror
		{"DKIM temperror", "tag@in.example.test", "bounce@qoo10.jp", signed("mv12", "dktemp.qoo10.jp"), "250"},
		// spf fail, dkim none, dmarc none
		{"DMARC none", "tag@in.example.test", "bounce@qoo10.jp", shopFrom("mv13"), "250"},
		// spf fail, dkim none, dmarc permerror
		{"DMARC permerror", "tag@in.example.test", "bounce@qoo10.jp", noFrom("mv14"), "250"},
		// off: no check at all, no verdicts, no duration observed
		{"off", "off@in.example.test", "x@evil.example", plain("mv15"), "250"},
	} {
		if got := smtpCode(sendFrom(t, addr, tc.mailFrom, tc.rcpt, tc.raw)); got != tc.want {
			t.Errorf("%s: reply %s, want %s", tc.name, got, tc.want)
		}
	}

	// Fourteen mails were checked (all but the one under off).
	verdicts := map[string]map[string]float64{
		"spf":   {"pass": 1, "fail": 7, "softfail": 1, "neutral": 1, "none": 1, "temperror": 2, "permerror": 1},
		"dkim":  {"pass": 1, "fail": 1, "softfail": 0, "neutral": 0, "none": 11, "temperror": 1, "permerror": 0},
		"dmarc": {"pass": 2, "fail": 7, "softfail": 0, "neutral": 0, "none": 1, "temperror": 3, "permerror": 1},
	}
	var wants []metricWant
	for method, results := range verdicts {
		for result, n := range results {
			wants = append(wants, metricWant{"qoo10hook_mailauth_verdicts_total", []string{"method", method, "result", result}, n})
		}
	}
	wants = append(wants,
		metricWant{"qoo10hook_smtp_sender_auth_duration_seconds", nil, 14},
		metricWant{"qoo10hook_smtp_sender_policy_total", []string{"policy", "require", "outcome", "aligned"}, 2},
		metricWant{"qoo10hook_smtp_sender_policy_total", []string{"policy", "require", "outcome", "rejected"}, 1},
		metricWant{"qoo10hook_smtp_sender_policy_total", []string{"policy", "require", "outcome", "deferred"}, 1},
		metricWant{"qoo10hook_smtp_sender_policy_total", []string{"policy", "quarantine", "outcome", "quarantined"}, 1},
		metricWant{"qoo10hook_smtp_sender_policy_total", []string{"policy", "quarantine", "outcome", "deferred"}, 1},
		metricWant{"qoo10hook_smtp_sender_policy_total", []string{"policy", "quarantine", "outcome", "aligned"}, 0},
		metricWant{"qoo10hook_smtp_sender_policy_total", []string{"policy", "tag", "outcome", "tagged"}, 8},
		metricWant{"qoo10hook_smtp_sender_policy_total", []string{"policy", "tag", "outcome", "aligned"}, 0},
		metricWant{"qoo10hook_smtp_sender_policy_total", []string{"policy", "off", "outcome", "unchecked"}, 1},
		metricWant{"qoo10hook_smtp_quarantined_total", nil, 1},
		metricWant{"qoo10hook_smtp_transactions_total", []string{"outcome", "accepted"}, 12},
		metricWant{"qoo10hook_smtp_transactions_total", []string{"outcome", "rejected", "reason", "sender_auth"}, 1},
		metricWant{"qoo10hook_smtp_transactions_total", []string{"outcome", "tempfailed", "reason", "sender_auth"}, 2},
		metricWant{"qoo10hook_smtp_replies_total", []string{"code", "250"}, 12},
		metricWant{"qoo10hook_smtp_replies_total", []string{"code", "550"}, 1},
		metricWant{"qoo10hook_smtp_replies_total", []string{"code", "451"}, 2},
	)
	mfs := expectMetrics(t, svc.svc.HTTPAddr(), 0, wants)
	for _, method := range []string{"spf", "dkim", "dmarc"} {
		if n := sumOf(mfs, "qoo10hook_mailauth_verdicts_total", "method", method); n != 14 {
			t.Errorf("%s verdicts: %v in all, want one per checked mail, 14", method, n)
		}
	}
	if n := sumOf(mfs, "qoo10hook_smtp_transactions_total", "outcome", "tempfailed"); n != 2 {
		t.Errorf("tempfailed transactions: %v in all, want 2", n)
	}
}

// writeCert writes a certificate for mx.test, signed by is, that expires
// at notAfter (whole seconds: X.509 keeps no more), and its key.
func writeCert(t *testing.T, is *issuer, certFile, keyFile string, notAfter time.Time) {
	t.Helper()
	is.serial++
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(is.serial), Subject: pkix.Name{CommonName: "mx.test"},
		DNSNames: []string{"mx.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, is.ca, &key.PublicKey, is.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	} {
		if err := os.WriteFile(name+".new", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(name+".new", name); err != nil {
			t.Fatal(err)
		}
	}
}

// hup sends SIGHUP to the test process and waits for the service's reload
// to report its outcome.
func hup(t *testing.T, reloaded chan error) error {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-reloaded:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no reload within 10s of SIGHUP")
		return nil
	}
}

// TestMetricValuesTLSAndAuth: the certificate expiry gauge follows the
// certificate in use (the first, the one a SIGHUP loaded, and not a broken
// one a later SIGHUP failed to load); the reloads are counted by outcome;
// SMTP AUTH attempts are counted as success, failure (wrong password,
// unknown user, wrong LOGIN) and too_many (an attempt after three
// failures, even with the right password); the sessions gauge comes back
// to 0 once the STARTTLS sessions close.
func TestMetricValuesTLSAndAuth(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	is := newIssuer(t)
	now := time.Now().Truncate(time.Second)
	first, second := now.Add(48*time.Hour), now.Add(72*time.Hour)
	writeCert(t, is, certFile, keyFile, first)

	const user, pass = "relay-user", "relay-pass-0123456789"
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, testenv.SQLite(t), "")
	cfg.SMTP.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	cfg.SMTP.Auth.Users = []config.AuthUser{{Username: user, PasswordHash: config.Secret(hash)}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan error, 1)
	svc := start(t, cfg, withTLSReloaded(reloaded))
	httpAddr := svc.svc.HTTPAddr()
	tc := &tls.Config{RootCAs: is.pool, ServerName: "mx.test"}

	const expiry = "qoo10hook_smtp_tls_certificate_expiry_timestamp_seconds"
	const reloads = "qoo10hook_smtp_tls_reloads_total"
	expectMetrics(t, httpAddr, 0, []metricWant{
		{expiry, nil, float64(first.Unix())},
		{reloads, []string{"outcome", "ok"}, 0},
		{reloads, []string{"outcome", "error"}, 0},
	})

	writeCert(t, is, certFile, keyFile, second)
	if err := hup(t, reloaded); err != nil {
		t.Fatalf("reload: %v", err)
	}
	expectMetrics(t, httpAddr, 0, []metricWant{
		{expiry, nil, float64(second.Unix())},
		{reloads, []string{"outcome", "ok"}, 1},
		{reloads, []string{"outcome", "error"}, 0},
	})

	// A certificate file cut short: the reload fails, the certificate in
	// use (and its expiry) stays.
	if err := os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := hup(t, reloaded); err == nil {
		t.Fatal("reload of a broken certificate succeeded")
	}
	expectMetrics(t, httpAddr, 0, []metricWant{
		{expiry, nil, float64(second.Unix())},
		{reloads, []string{"outcome", "ok"}, 1},
		{reloads, []string{"outcome", "error"}, 1},
	})

	dial := func() *smtp.Client {
		c, err := smtp.DialStartTLS(svc.svc.SMTPAddr(), tc)
		if err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Noop(); err != nil {
			t.Fatal(err)
		}
		if st, ok := c.TLSConnectionState(); !ok || len(st.PeerCertificates) == 0 || st.PeerCertificates[0].NotAfter.Unix() != second.Unix() {
			t.Fatal("not the certificate of the last good reload")
		}
		return c
	}
	ok := dial()
	if err := ok.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Fatalf("AUTH PLAIN with the right password: %v", err)
	}
	bad := dial()
	for i, c := range []sasl.Client{
		sasl.NewPlainClient("", user, "wrong-password"),
		sasl.NewPlainClient("", "no-such-user", pass),
		sasl.NewLoginClient(user, "wrong-password"),
	} {
		if code := replyCode(bad.Auth(c)); code != 535 {
			t.Errorf("failed AUTH %d: reply %d, want 535", i+1, code)
		}
	}
	expectMetrics(t, httpAddr, 0, []metricWant{
		{"qoo10hook_smtp_auth_total", []string{"outcome", "success"}, 1},
		{"qoo10hook_smtp_auth_total", []string{"outcome", "failure"}, 3},
		{"qoo10hook_smtp_auth_total", []string{"outcome", "too_many"}, 0},
		// STARTTLS ends the session of the first EHLO and the second EHLO
		// starts another: one session per connection.
		{"qoo10hook_smtp_sessions_open", nil, 2},
		{"qoo10hook_smtp_connections_open", nil, 2},
	})
	// (go-smtp's client answers each refusal with a "*" line, which the
	// server counts as a protocol error: at the fourth it closes this
	// connection.)
	if code := replyCode(bad.Auth(sasl.NewPlainClient("", user, pass))); code != 454 {
		t.Errorf("AUTH after three failures: reply %d, want 454", code)
	}
	expectMetrics(t, httpAddr, 0, []metricWant{
		{"qoo10hook_smtp_auth_total", []string{"outcome", "success"}, 1},
		{"qoo10hook_smtp_auth_total", []string{"outcome", "failure"}, 3},
		{"qoo10hook_smtp_auth_total", []string{"outcome", "too_many"}, 1},
	})
	ok.Quit()
	bad.Close()
	expectMetrics(t, httpAddr, 5*time.Second, []metricWant{
		{"qoo10hook_smtp_sessions_open", nil, 0},
		{"qoo10hook_smtp_connections_open", nil, 0},
	})
}

// rawConn is an SMTP client that writes the message bytes exactly as
// given: go-smtp's client, like net/textproto's, turns each bare LF into
// CRLF.
type rawConn struct {
	t *testing.T
	c *textproto.Conn
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	r := &rawConn{t: t, c: textproto.NewConn(nc)}
	t.Cleanup(func() { r.c.Close() })
	r.cmd(220, "")
	return r
}

// cmd sends line (none when "") and reads a reply, which must have code.
func (r *rawConn) cmd(code int, line string) string {
	r.t.Helper()
	if line != "" {
		if err := r.c.PrintfLine("%s", line); err != nil {
			r.t.Fatal(err)
		}
	}
	_, msg, err := r.c.ReadResponse(code)
	if err != nil {
		r.t.Fatalf("%q: %v", line, err)
	}
	return msg
}

// sendRaw delivers body as the message, byte for byte, then the
// end-of-data line, and expects 250.
func sendRaw(t *testing.T, addr string, body []byte) {
	t.Helper()
	r := dialRaw(t, addr)
	r.cmd(250, "EHLO raw.example.test")
	r.cmd(250, "MAIL FROM:<qoo10info@qoo10.jp>")
	r.cmd(250, "RCPT TO:<orders@in.example.test>")
	r.cmd(354, "DATA")
	if _, err := r.c.W.Write(body); err != nil {
		t.Fatal(err)
	}
	r.cmd(250, ".")
	r.cmd(221, "QUIT")
}

// dialFromIP opens a TCP connection to addr from the local address ip (any
// of 127.0.0.0/8 is loopback on Linux), reporting false where ip cannot be
// used.
func dialFromIP(t *testing.T, ip, addr string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c, true
}

// readLine reads one reply line of a connection the test keeps raw.
func readLine(t *testing.T, c net.Conn) string {
	t.Helper()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read from %s: %v", c.LocalAddr(), err)
	}
	return line
}

// TestMetricValuesConnections: the connection and session gauges while
// connections are held open (one past EHLO), the refusals at connect by
// limit (per_ip, and total where other loopback addresses can be dialed
// from), and the irregular line endings of mails sent byte for byte.
func TestMetricValuesConnections(t *testing.T) {
	cfg := testConfig(t, testenv.SQLite(t), "")
	cfg.SMTP.MaxConnections = 3
	cfg.SMTP.MaxConnectionsPerIP = 2
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc := start(t, cfg)
	addr, httpAddr := svc.svc.SMTPAddr(), svc.svc.HTTPAddr()

	// Two connections from 127.0.0.1, the first past EHLO.
	var held []io.Closer
	withSession := dialRaw(t, addr)
	withSession.cmd(250, "EHLO held.example.test")
	held = append(held, withSession.c, dialRaw(t, addr).c)
	// The third from 127.0.0.1 is over the per-client limit.
	c, _ := dialFromIP(t, "127.0.0.1", addr)
	if line := readLine(t, c); !strings.HasPrefix(line, "421 4.7.0 ") {
		t.Errorf("third connection from one client: %q, want 421 4.7.0", line)
	}
	// Another client fills the last slot; a third client is over the total.
	wantTotal := 0.0
	if other, ok := dialFromIP(t, "127.0.0.2", addr); ok {
		held = append(held, other)
		if line := readLine(t, other); !strings.HasPrefix(line, "220 ") {
			t.Errorf("first connection of another client: %q, want 220", line)
		}
		c, ok := dialFromIP(t, "127.0.0.3", addr)
		if !ok {
			t.Fatal("127.0.0.2 can be dialed from, 127.0.0.3 not")
		}
		if line := readLine(t, c); !strings.HasPrefix(line, "421 4.7.0 ") {
			t.Errorf("connection over the total limit: %q, want 421 4.7.0", line)
		}
		wantTotal = 1
	} else {
		t.Log("cannot dial from 127.0.0.2 (not Linux?): the total limit is not exercised")
	}
	expectMetrics(t, httpAddr, 5*time.Second, []metricWant{
		{"qoo10hook_smtp_connections_refused_total", []string{"reason", "per_ip"}, 1},
		{"qoo10hook_smtp_connections_refused_total", []string{"reason", "total"}, wantTotal},
		{"qoo10hook_smtp_connections_open", nil, 2 + wantTotal},
		{"qoo10hook_smtp_sessions_open", nil, 1},
	})
	for _, c := range held {
		c.Close()
	}
	expectMetrics(t, httpAddr, 5*time.Second, []metricWant{
		{"qoo10hook_smtp_connections_open", nil, 0},
		{"qoo10hook_smtp_sessions_open", nil, 0},
	})

	head := "From: <qoo10info@qoo10.jp>\r\nTo: orders@in.example.test\r\nMessage-ID: <%s@example.test>\r\nSubject: line endings\r\n\r\n"
	// A bare LF.
	sendRaw(t, addr, []byte(fmt.Sprintf(head, "lf")+"line one\nline two\r\n"))
	// A bare CR.
	sendRaw(t, addr, []byte(fmt.Sprintf(head, "cr")+"line one\rline two\r\n"))
	// A "." line between bare LFs: a fake end of data (and bare LFs); the
	// lines after it stay in the mail, whose DATA ends at CRLF.CRLF only.
	sendRaw(t, addr, []byte(fmt.Sprintf(head, "fake")+"line one\n.\nMAIL FROM:<smuggled@example.test>\r\n"))
	// A "." line sent dot-stuffed between CRLFs is no irregularity.
	if err := send(t, addr, []string{"orders@in.example.test"}, []byte(fmt.Sprintf(head, "dot")+"above\r\n.\r\nbelow\r\n")); err != nil {
		t.Fatal(err)
	}
	expectMetrics(t, httpAddr, 0, []metricWant{
		{"qoo10hook_smtp_bare_line_endings_total", []string{"kind", "lf"}, 2},
		{"qoo10hook_smtp_bare_line_endings_total", []string{"kind", "cr"}, 1},
		{"qoo10hook_smtp_bare_line_endings_total", []string{"kind", "fake_end"}, 1},
		{"qoo10hook_smtp_transactions_total", []string{"outcome", "accepted"}, 4},
	})
}

// TestMetricValuesTempfails: a transaction over the per-client rate and a
// mail sent while the store's commit has stalled are counted as
// tempfailed, each with its reason; the busy one as a busy rejection too.
func TestMetricValuesTempfails(t *testing.T) {
	t.Run("rate limited", func(t *testing.T) {
		cfg := testConfig(t, testenv.SQLite(t), "")
		cfg.SMTP.MaxTransactionsPerMinute = 1
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		svc := start(t, cfg)
		rcpt := []string{"orders@in.example.test"}
		if err := send(t, svc.svc.SMTPAddr(), rcpt, fixture(t, "stockgear-order-utf8.eml")); err != nil {
			t.Fatal(err)
		}
		if got := smtpCode(send(t, svc.svc.SMTPAddr(), rcpt, fixture(t, "stockgear-order-iso2022jp.eml"))); got != "451 4.7.0" {
			t.Fatalf("second transaction within the minute: %s, want 451 4.7.0", got)
		}
		mfs := expectMetrics(t, svc.svc.HTTPAddr(), 0, []metricWant{
			{"qoo10hook_smtp_transactions_total", []string{"outcome", "tempfailed", "reason", "rate_limited"}, 1},
			{"qoo10hook_smtp_transactions_total", []string{"outcome", "accepted"}, 1},
			{"qoo10hook_smtp_replies_total", []string{"code", "451"}, 1},
		})
		if n := sumOf(mfs, "qoo10hook_smtp_transactions_total", "outcome", "tempfailed"); n != 1 {
			t.Errorf("tempfailed transactions: %v in all, want 1", n)
		}
	})

	t.Run("store busy", func(t *testing.T) {
		storeURL := testenv.SQLite(t)
		svc := start(t, testConfig(t, storeURL, ""))
		// Past the store's stall limit the next mail is turned away at DATA.
		unlock, first := stallStore(t, svc, storeURL, "mv-stall0@qoo10.jp")
		o := order{MessageID: "mv-stall1@qoo10.jp", Seller: "s", Pack: "2", OrderNo: "901"}
		if got := smtpCode(sendPlain(svc.svc.SMTPAddr(), "orders@in.example.test", renderMail("placed", o))); got != "451 4.3.2" {
			t.Errorf("a mail sent to the stalled store: %s, want 451 4.3.2", got)
		}
		unlock()
		if err := <-first; err != nil {
			t.Fatalf("the mail whose commit waited: %v", err)
		}
		mfs := expectMetrics(t, svc.svc.HTTPAddr(), 0, []metricWant{
			{"qoo10hook_smtp_transactions_total", []string{"outcome", "tempfailed", "reason", "busy"}, 1},
			{"qoo10hook_smtp_transactions_total", []string{"outcome", "accepted"}, 1},
			{"qoo10hook_store_busy_rejections_total", nil, 1},
			{"qoo10hook_smtp_replies_total", []string{"code", "451"}, 1},
			{"qoo10hook_smtp_replies_total", []string{"code", "250"}, 1},
		})
		if n := sumOf(mfs, "qoo10hook_smtp_transactions_total", "outcome", "tempfailed"); n != 1 {
			t.Errorf("tempfailed transactions: %v in all, want 1", n)
		}
	})
}

// TestMetricValuesParseOutcomes: mails read by the label fallback, a mail
// that is no mail at all, a mail that is not an order and one matching a
// template, counted by outcome and template ("" for none).
func TestMetricValuesParseOutcomes(t *testing.T) {
	svc := start(t, testConfig(t, testenv.SQLite(t), ""))
	rcpt := []string{"orders@in.example.test"}
	for _, f := range []string{
		"stockgear-order-utf8.eml",                // matched: stockgear-order-unit
		"../parse/testdata/fallback-labels.eml",   // fallback (order.paid)
		"../parse/testdata/fallback-shuffled.eml", // fallback (order.placed)
		"../parse/testdata/not-a-message.eml",     // error: no header
		"../parse/testdata/non-qoo10.eml",         // unrecognized
	} {
		if err := send(t, svc.svc.SMTPAddr(), rcpt, fixture(t, f)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	mfs := expectMetrics(t, svc.svc.HTTPAddr(), 0, []metricWant{
		{"qoo10hook_parse_results_total", []string{"template", "stockgear-order-unit", "outcome", "matched"}, 1},
		{"qoo10hook_parse_results_total", []string{"template", "", "outcome", "fallback"}, 2},
		{"qoo10hook_parse_results_total", []string{"template", "", "outcome", "error"}, 1},
		{"qoo10hook_parse_results_total", []string{"template", "", "outcome", "unrecognized"}, 1},
		{"qoo10hook_parse_duration_seconds", nil, 5},
		{"qoo10hook_events_total", []string{"type", "order.paid"}, 1},
		{"qoo10hook_events_total", []string{"type", "order.placed"}, 2},
		{"qoo10hook_events_total", []string{"type", "mail.unrecognized"}, 2},
	})
	if n := sumOf(mfs, "qoo10hook_parse_results_total"); n != 5 {
		t.Errorf("parse results: %v in all, want 5", n)
	}
}

// TestMetricValuesBuildInfo: qoo10hook_build_info is one sample, 1, whose
// only labels are the version and revision the binary reports; without
// TLS the certificate expiry is 0 and nothing was reloaded.
func TestMetricValuesBuildInfo(t *testing.T) {
	svc := start(t, testConfig(t, testenv.SQLite(t), ""))
	mfs := expectMetrics(t, svc.svc.HTTPAddr(), 0, []metricWant{
		{"qoo10hook_build_info", []string{"version", Version(), "revision", Revision()}, 1},
		{"qoo10hook_smtp_tls_certificate_expiry_timestamp_seconds", nil, 0},
		{"qoo10hook_smtp_tls_reloads_total", []string{"outcome", "ok"}, 0},
		{"qoo10hook_smtp_tls_reloads_total", []string{"outcome", "error"}, 0},
	})
	if Version() == "" {
		t.Error("Version() is empty")
	}
	ms := mfs["qoo10hook_build_info"].GetMetric()
	if len(ms) != 1 {
		t.Fatalf("qoo10hook_build_info has %d samples, want 1", len(ms))
	}
	var names []string
	for _, l := range ms[0].GetLabel() {
		names = append(names, l.GetName())
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"revision", "version"}) {
		t.Errorf("qoo10hook_build_info labels %v, want revision and version", names)
	}
}

// TestMetricValuesEndpointStates: an endpoint that answers 410 is
// disabled, and one that keeps failing has its breaker opened
// (breaker_failures 2); the gauges show each, 1 for the endpoint it
// concerns and 0 for the other.
func TestMetricValuesEndpointStates(t *testing.T) {
	failing := newReceiver(t, 503, 503, 503, 503, 503, 503)
	gone := newReceiver(t, 410, 410, 410)
	cfg := testConfig(t, testenv.SQLite(t), failing.URL)
	cfg.Endpoints = []config.Endpoint{{Name: "gone", URL: gone.URL, Secret: testSecret}}
	cfg.Routes = []config.Route{{Tenant: "t", Recipients: []string{"orders@in.example.test"}, Endpoints: []string{"gone"}}}
	cfg.Delivery.BreakerFailures = 2
	cfg.Delivery.BreakerCooldown = config.Duration(10 * time.Minute)
	// The third attempt is far off, whatever the breaker does: the
	// failure count cannot pass 2 within the test.
	cfg.Delivery.RetrySchedule = []config.Duration{0, config.Duration(50 * time.Millisecond), config.Duration(time.Hour)}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc := start(t, cfg)
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml")); err != nil {
		t.Fatal(err)
	}
	if r := gone.next(t, 10*time.Second); r.Status != 410 {
		t.Fatalf("gone answered %d", r.Status)
	}
	for range 2 {
		if r := failing.next(t, 10*time.Second); r.Status != 503 {
			t.Fatalf("failing answered %d", r.Status)
		}
	}
	// The endpoint gauges are refreshed every 2 s.
	expectMetrics(t, svc.svc.HTTPAddr(), 10*time.Second, []metricWant{
		{"qoo10hook_webhook_endpoint_disabled", []string{"endpoint", "gone"}, 1},
		{"qoo10hook_webhook_endpoint_disabled", []string{"endpoint", "default"}, 0},
		{"qoo10hook_webhook_endpoint_circuit_open", []string{"endpoint", "default"}, 1},
		{"qoo10hook_webhook_endpoint_circuit_open", []string{"endpoint", "gone"}, 0},
		{"qoo10hook_webhook_endpoint_consecutive_failures", []string{"endpoint", "default"}, 2},
		{"qoo10hook_webhook_endpoint_consecutive_failures", []string{"endpoint", "gone"}, 1},
		{"qoo10hook_webhook_attempts_total", []string{"endpoint", "gone", "result", "disabled"}, 1},
		{"qoo10hook_webhook_attempts_total", []string{"endpoint", "default", "result", "retry"}, 2},
		{"qoo10hook_webhook_attempt_duration_seconds", []string{"endpoint", "gone"}, 1},
		{"qoo10hook_webhook_attempt_duration_seconds", []string{"endpoint", "default"}, 2},
	})
	// Neither endpoint is tried again while disabled or paused.
	failing.quiet(t, 300*time.Millisecond)
	if n := len(gone.arrived); n != 0 {
		t.Errorf("the disabled endpoint was tried %d more times", n)
	}
}

// TestMetricValuesInventory: with a catalog for cm_shop (threshold 2), a
// cancel that comes before its order, the order's cart, the cancel of a
// reserved line, an order of a seller without a catalog, and order lines
// without quantity, without any SKU code, and without order number move
// each qoo10hook_inventory_* counter by what the derivation did.
func TestMetricValuesInventory(t *testing.T) {
	cfg := testConfig(t, testenv.SQLite(t), "")
	cfg.Inventory = config.DefaultInventory()
	cfg.Inventory.LowStockThreshold = 2
	cfg.Routes = []config.Route{
		{Tenant: "main", Recipients: []string{"orders@in.example.test"}},
		// Its order.paid mails reserve.
		{Tenant: "paid", Recipients: []string{"paid@in.example.test"},
			Inventory: &config.RouteInventory{ReserveOn: "order.paid"}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc := start(t, cfg)
	for _, f := range []string{"GoodsList-cm_shop-cp932.csv", "InventoryManagement_gridInventory-cm_shop.csv"} {
		if _, err := svc.svc.inventory.Import(t.Context(), "cm_shop", []inventory.Upload{{Name: f, Body: bytes.NewReader(fixture(t, f))}}, inventory.ImportOptions{Partial: true}); err != nil {
			t.Fatalf("import %s: %v", f, err)
		}
	}
	addr := svc.svc.SMTPAddr()
	main, paid := []string{"orders@in.example.test"}, []string{"paid@in.example.test"}
	noCodes := renderMail("placed", order{MessageID: "mv-nocodes@qoo10.jp", Seller: "s1", Pack: "1", OrderNo: "920000001"})
	noCodes = bytes.Replace(noCodes, []byte("商品番号: 1122334455\r\n"), []byte("商品番号: \r\n"), 1)
	noCodes = bytes.Replace(noCodes, []byte("テスト商品(TS-001)"), []byte("テスト商品"), 1)
	noCodes = bytes.Replace(noCodes, []byte("色:白(TS-001-WH)"), []byte("色:白"), 1)
	for _, m := range []struct {
		what string
		rcpt []string
		raw  []byte
	}{
		// Cancels line 800000001 before it was reserved: unreserved cancel.
		{"cancel first", main, fixture(t, "claim-complete-crossmall-line-1.eml")},
		// 800000001 was cancelled: skipped (cancelled); 800000002 (HT-002-BL,
		// 5 -> 2) and 800000003 (HT-003, 2 -> 1, below 2: low stock) reserve.
		{"cart", main, fixture(t, "crossmall-group-3-lines.eml")},
		// Releases 800000002's reservation.
		{"cancel reserved", main, renderMail("cancelled", order{MessageID: "mv-cancel2@qoo10.jp", Seller: "cm_shop", Pack: "700100200", OrderNo: "800000002"})},
		// A seller without a catalog: reserves an unknown SKU.
		{"unknown SKU", main, renderMail("placed", order{MessageID: "mv-nocat@qoo10.jp", Seller: "nocat_shop", Pack: "2", OrderNo: "910000001"})},
		// A line without quantity: skipped (no_qty).
		{"no qty", main, fixture(t, "../parse/testdata/stockgear-order-bad-numbers.eml")},
		// A line without item number, seller code or option code: skipped (no_sku).
		{"no SKU", main, noCodes},
		// An order.paid read by the fallback: three lines without order
		// numbers, skipped (no_order_no).
		{"no order no", paid, fixture(t, "../parse/testdata/fallback-labels.eml")},
	} {
		if err := send(t, addr, m.rcpt, m.raw); err != nil {
			t.Fatalf("%s: %v", m.what, err)
		}
	}
	// The counters move when the derivation commits, before the mail's 250.
	expectMetrics(t, svc.svc.HTTPAddr(), 0, []metricWant{
		{"qoo10hook_inventory_adjustments_total", []string{"reason", "reserve"}, 3},
		{"qoo10hook_inventory_adjustments_total", []string{"reason", "release"}, 1},
		{"qoo10hook_inventory_unknown_sku_total", nil, 1},
		{"qoo10hook_inventory_unreserved_cancels_total", nil, 1},
		{"qoo10hook_inventory_low_stock_events_total", nil, 1},
		{"qoo10hook_inventory_skipped_lines_total", []string{"reason", "cancelled"}, 1},
		{"qoo10hook_inventory_skipped_lines_total", []string{"reason", "no_qty"}, 1},
		{"qoo10hook_inventory_skipped_lines_total", []string{"reason", "no_sku"}, 1},
		{"qoo10hook_inventory_skipped_lines_total", []string{"reason", "no_order_no"}, 3},
		{"qoo10hook_events_total", []string{"type", "inventory.adjusted"}, 4},
		{"qoo10hook_events_total", []string{"type", "inventory.low_stock"}, 1},
	})

	// The same mails again: nothing new is derived, nothing counted.
	if err := send(t, addr, main, fixture(t, "crossmall-group-3-lines.eml")); err != nil {
		t.Fatal(err)
	}
	expectMetrics(t, svc.svc.HTTPAddr(), 0, []metricWant{
		{"qoo10hook_inventory_adjustments_total", []string{"reason", "reserve"}, 3},
		{"qoo10hook_inventory_skipped_lines_total", []string{"reason", "cancelled"}, 1},
		{"qoo10hook_inventory_low_stock_events_total", nil, 1},
	})
}
