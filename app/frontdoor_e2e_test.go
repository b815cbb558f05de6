package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// withTLSReloaded reports each SIGHUP reload's outcome on ch.
func withTLSReloaded(ch chan error) Option {
	return func(o *options) { o.tlsReloaded = func(err error) { ch <- err } }
}

// issuer makes certificates for mx.test signed by a test CA.
type issuer struct {
	t      *testing.T
	ca     *x509.Certificate
	key    *ecdsa.PrivateKey
	pool   *x509.CertPool
	serial int64
}

func newIssuer(t *testing.T) *issuer {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &issuer{t: t, ca: ca, key: key, pool: pool, serial: 10}
}

// issue writes a new certificate and key (each by rename, as certbot
// does) and returns the certificate's serial number.
func (is *issuer) issue(certFile, keyFile string) string {
	is.serial++
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(is.serial), Subject: pkix.Name{CommonName: "mx.test"},
		DNSNames: []string{"mx.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, is.ca, &key.PublicKey, is.key)
	if err != nil {
		is.t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	for name, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	} {
		if err := os.WriteFile(name+".new", b, 0o600); err != nil {
			is.t.Fatal(err)
		}
		if err := os.Rename(name+".new", name); err != nil {
			is.t.Fatal(err)
		}
	}
	return tmpl.SerialNumber.String()
}

func peerSerial(t *testing.T, c *smtp.Client) string {
	t.Helper()
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	st, ok := c.TLSConnectionState()
	if !ok || len(st.PeerCertificates) == 0 {
		t.Fatal("no TLS")
	}
	return st.PeerCertificates[0].SerialNumber.String()
}

// TestSIGHUPReloadsCertificate: the service rereads its certificate on
// SIGHUP; a new connection gets the new one while a session from before
// stays up and delivers its mail.
func TestSIGHUPReloadsCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	is := newIssuer(t)
	first := is.issue(certFile, keyFile)
	cfg := testConfig(t, testenv.SQLite(t), "")
	cfg.SMTP.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	reloaded := make(chan error, 1)
	svc := start(t, cfg, withTLSReloaded(reloaded))
	tc := &tls.Config{RootCAs: is.pool, ServerName: "mx.test"}

	old, err := smtp.DialStartTLS(svc.svc.SMTPAddr(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if got := peerSerial(t, old); got != first {
		t.Fatalf("serial %s, want %s", got, first)
	}

	second := is.issue(certFile, keyFile)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reload within 10s of SIGHUP")
	}
	fresh, err := smtp.DialStartTLS(svc.svc.SMTPAddr(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got := peerSerial(t, fresh); got != second {
		t.Fatalf("after SIGHUP a new connection got serial %s, want %s", got, second)
	}
	if err := old.SendMail("bounce@qoo10.jp", []string{"orders@in.example.test"}, bytes.NewReader(fixture(t, "stockgear-order-utf8.eml"))); err != nil {
		t.Fatalf("the session from before SIGHUP: %v", err)
	}
}

// TestVendorModeEndToEnd: the address the address command prints is
// accepted, and its events carry the seller as tenant; a wrong token is
// an unknown user.
func TestVendorModeEndToEnd(t *testing.T) {
	rx := newReceiver(t)
	cfg := testConfig(t, testenv.SQLite(t), rx.URL)
	cfg.Vendor = config.Vendor{Domains: []string{"v.example.test"}, Key: "vendor-key-0123456789abcdef", TokenLength: 10,
		SenderPolicy: config.PolicyOff}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, map[string]string{"QOO10HOOK_VENDOR_DOMAINS": "v.example.test",
		"QOO10HOOK_VENDOR_KEY": "vendor-key-0123456789abcdef"}, "address", "Shop_E2E")
	if code != 0 {
		t.Fatalf("address: exit %d: %s", code, errs)
	}
	addr := strings.TrimSpace(out)
	if !strings.HasPrefix(addr, "shop_e2e.") || !strings.HasSuffix(addr, "@v.example.test") {
		t.Fatalf("address %q", addr)
	}
	svc := start(t, cfg)
	if got := smtpCode(sendFrom(t, svc.svc.SMTPAddr(), "bounce@qoo10.jp", addr, fixture(t, "stockgear-order-utf8.eml"))); got != "250" {
		t.Fatalf("vendor address: %s", got)
	}
	ev := verify(t, rx.nextDelivered(t, 10*time.Second))
	if ev["tenant"] != "shop_e2e" {
		t.Errorf("tenant = %v, want shop_e2e", ev["tenant"])
	}
	wrong := strings.Replace(addr, addr[len("shop_e2e."):len("shop_e2e.")+3], "zzz", 1)
	if got := smtpCode(sendFrom(t, svc.svc.SMTPAddr(), "bounce@qoo10.jp", wrong, fixture(t, "stockgear-order-utf8.eml"))); got != "550 5.1.1" {
		t.Errorf("wrong token %s: %s, want 550 5.1.1", wrong, got)
	}
}

// complexMail is a multipart mail with n text parts.
func complexMail(n int) []byte {
	var b strings.Builder
	b.WriteString("From: <qoo10info@qoo10.jp>\r\nSubject: parts\r\nMessage-ID: <parts@qoo10.jp>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n")
	for i := range n {
		b.WriteString("--b\r\nContent-Type: text/plain\r\n\r\npart " + string(rune('a'+i)) + "\r\n")
	}
	b.WriteString("--b--\r\n")
	return []byte(b.String())
}

// TestMIMETooComplexRefused: a mail beyond the MIME limits is refused
// with 554 5.6.0 and not stored; one within them is stored.
func TestMIMETooComplexRefused(t *testing.T) {
	storeURL := testenv.SQLite(t)
	cfg := testConfig(t, storeURL, "")
	cfg.SMTP.MaxMIMEParts = 4
	svc := start(t, cfg)
	if got := smtpCode(sendFrom(t, svc.svc.SMTPAddr(), "bounce@qoo10.jp", "orders@in.example.test", complexMail(8))); got != "554 5.6.0" {
		t.Fatalf("8 parts: %s, want 554 5.6.0", got)
	}
	db := openSQLite(t, storeURL)
	var n int
	db.QueryRow(`SELECT count(*) FROM mail`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d mails stored after a refusal", n)
	}
	if got := smtpCode(sendFrom(t, svc.svc.SMTPAddr(), "bounce@qoo10.jp", "orders@in.example.test", complexMail(2))); got != "250" {
		t.Fatalf("2 parts: %s", got)
	}
}

// TestSwaksSenderRefusals: what swaks sees of the sender policy and the
// MIME limits.
func TestSwaksSenderRefusals(t *testing.T) {
	if _, err := exec.LookPath("swaks"); err != nil {
		t.Skip("swaks is not installed (apt-get install -y swaks); CI installs it")
	}
	cfg := policyConfig(t, testenv.SQLite(t), "")
	cfg.SMTP.MaxMIMEParts = 4
	svc := start(t, cfg, WithResolver(newWorld()))
	dir := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return "@" + p
	}
	for _, tc := range []struct {
		name, from, to, data, want string
	}{
		{"not authenticated", "bounce@qoo10.jp", "req@in.example.test", file("a.eml", qoo10Mail("s1", "<qoo10info@qoo10.jp>")), "550 5.7.1"},
		{"DNS failed", "bounce@temp.qoo10.jp", "req@in.example.test", file("b.eml", qoo10Mail("s2", "<qoo10info@qoo10.jp>")), "451 4.7.0"},
		{"authenticated by DKIM", "bounce@qoo10.jp", "req@in.example.test",
			file("c.eml", dkimSign(t, qoo10Mail("s3", "<qoo10info@qoo10.jp>"), "qoo10.jp", qoo10Key)), "250 2.0.0"},
		{"quarantined", "bounce@qoo10.jp", "quar@in.example.test", file("d.eml", qoo10Mail("s4", "<qoo10info@qoo10.jp>")), "250 2.0.0"},
		{"MIME too complex", "bounce@mail.qoo10.jp", "tag@in.example.test", file("e.eml", complexMail(8)), "554 5.6.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			out, _ := exec.CommandContext(ctx, "swaks", "--server", svc.svc.SMTPAddr(), "--helo", "mta.qoo10.jp",
				"--from", tc.from, "--to", tc.to, "--data", tc.data).CombinedOutput()
			if !strings.Contains(string(out), " "+tc.want) {
				t.Errorf("no %q in:\n%s", tc.want, out)
			}
		})
	}
}
