package smtpd

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/route"
)

// vendorKey is the vendor-mode key of the test routes.
const vendorKey = "test-vendor-key-0123456789"

// testRoutes is the routing of most tests: a whole domain, an exact
// address with another sender policy, and a vendor domain.
func testRoutes() *route.Table {
	return route.New(route.Options{
		Policy: route.PolicyOff,
		Routes: []route.Spec{
			{Tenant: "shop", Recipients: []string{"@in.example.test"}},
			{Tenant: "strict", Recipients: []string{"orders@strict.example.test"}, SenderPolicy: route.PolicyTag},
		},
		Vendor: route.Vendor{Domains: []string{"v.example.test"}, Key: []byte(vendorKey), TokenLength: 10},
	})
}

// stored is a mail the fake sink took.
type stored struct {
	env Envelope
	raw []byte
}

// fakeSink keeps what it is given; err, when set, is returned instead.
// With hold set (holdMails), Deliver says so on entered and waits for hold
// to close: the mail stays in flight.
type fakeSink struct {
	mu      sync.Mutex
	mails   []stored
	err     error
	got     chan struct{}
	hold    chan struct{}
	entered chan struct{}
}

// holdMails keeps every mail in Deliver until release is called.
func (f *fakeSink) holdMails() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold, f.entered = make(chan struct{}), make(chan struct{}, 1000)
	return sync.OnceFunc(func() { close(f.hold) })
}

func newSink() *fakeSink { return &fakeSink{got: make(chan struct{}, 1000)} }

func (f *fakeSink) Deliver(_ context.Context, env *Envelope, raw []byte) error {
	f.mu.Lock()
	hold, entered := f.hold, f.entered
	f.mu.Unlock()
	if hold != nil {
		entered <- struct{}{}
		<-hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.mails = append(f.mails, stored{*env, append([]byte(nil), raw...)})
	f.got <- struct{}{}
	return nil
}

func (f *fakeSink) all() []stored {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]stored(nil), f.mails...)
}

// testServer is a running server on 127.0.0.1:0.
type testServer struct {
	*Server
	sink *fakeSink
	logs *testenv.LogBuffer
	reg  *prometheus.Registry
}

func start(t testing.TB, cfg Config) *testServer {
	t.Helper()
	return startWrapped(t, cfg, nil)
}

// startWrapped starts a server whose plain listener accepts through
// wrap(listener), when wrap is not nil: to see the connections beneath
// the server's own wrapping.
func startWrapped(t testing.TB, cfg Config, wrap func(net.Listener) net.Listener) *testServer {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "mx.test"
	}
	logs := &testenv.LogBuffer{}
	reg := prometheus.NewRegistry()
	sink := newSink()
	s := New(cfg, sink, testRoutes(), NewMetrics(reg),
		slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		l := s.ln.(*listener)
		l.Listener = wrap(l.Listener)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &testServer{Server: s, sink: sink, logs: logs, reg: reg}
}

// dialog is a raw SMTP client, to see replies exactly as sent.
type dialog struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dial(t testing.TB, addr string) *dialog {
	t.Helper()
	return dialFrom(t, addr, "")
}

// dialFrom connects from a loopback address of its own (127.0.0.0/8 is
// all loopback on Linux), as a different client would.
func dialFrom(t testing.TB, addr, local string) *dialog {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &dialog{t: t, conn: c, r: bufio.NewReader(c)}
}

// reply reads one reply, its continuation lines joined; "" at EOF.
func (d *dialog) reply() string {
	d.t.Helper()
	var lines []string
	for {
		line, err := d.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && len(lines) == 0 && line == "" {
				return ""
			}
			d.t.Fatalf("reading reply: %v (got %q)", err, lines)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// expect sends cmd (unless empty) and checks that the reply starts with
// want, e.g. "550 5.1.1".
func (d *dialog) expect(cmd, want string) string {
	d.t.Helper()
	if cmd != "" {
		d.send(cmd + "\r\n")
	}
	got := d.reply()
	last := got[strings.LastIndexByte(got, '\n')+1:]
	if !strings.HasPrefix(last, want) {
		d.t.Fatalf("%q: got %q, want %q", cmd, got, want)
	}
	return got
}

func (d *dialog) send(s string) {
	d.t.Helper()
	if _, err := io.WriteString(d.conn, s); err != nil {
		d.t.Fatalf("write: %v", err)
	}
}

// greet reads the greeting and says EHLO.
func (d *dialog) greet() *dialog {
	d.t.Helper()
	d.expect("", "220 ")
	d.expect("EHLO client.example", "250")
	return d
}

// eof waits for the server to close the connection.
func (d *dialog) eof() {
	d.t.Helper()
	if b, err := io.ReadAll(d.r); err != nil || len(b) != 0 {
		d.t.Fatalf("expected the connection closed, read %q, %v", b, err)
	}
}

// mail is a small valid message.
func mail(subject string) string {
	return "From: Qoo10 <qoo10info@qoo10.jp>\r\nTo: orders@in.example.test\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@qoo10.jp>\r\n\r\nbody\r\n"
}

// testCertificate issues the server a certificate from a test CA, in files
// it loads, and returns it with the CA's pool and a function that issues a
// new one into the same files.
func testCertificate(t testing.TB) (cert *Certificate, pool *x509.CertPool, reissue func() *big.Int) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool, issue := testCA(t, dir)
	issue(certFile, keyFile)
	cert, err := LoadCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pool, func() *big.Int { return issue(certFile, keyFile) }
}

// testCA makes a CA and a certificate for mx.test it signed, written to
// certFile and keyFile. It returns the pool that trusts the CA and the
// leaf's serial number.
func testCA(t testing.TB, dir string) (pool *x509.CertPool, issue func(certFile, keyFile string) *big.Int) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "qoo10hook test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	writeFile(t, filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	serial := int64(100)
	issue = func(certFile, keyFile string) *big.Int {
		t.Helper()
		serial++
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "mx.test"}, DNSNames: []string{"mx.test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Duration(serial) * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		// Write both, then rename, as a certificate manager does.
		writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
		return tmpl.SerialNumber
	}
	return pool, issue
}

func writeFile(t testing.TB, name string, b []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(name), ".tmp-"+filepath.Base(name))
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// vendorAddr is the vendor address of seller in the test routes.
func vendorAddr(seller string) string {
	a, err := route.NewSigner([]byte(vendorKey), 10).Address(seller, "v.example.test")
	if err != nil {
		panic(err)
	}
	return a
}

func tlsClient(pool *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: pool, ServerName: "mx.test"}
}
