package smtpd

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// swaks runs the swaks SMTP client (Debian package swaks) and returns its
// transcript. Without swaks the test is skipped; CI installs it.
func swaks(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("swaks"); err != nil {
		t.Skip("swaks is not installed (apt-get install -y swaks); CI installs it")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "swaks", append([]string{"--timeout", "20", "--helo", "client.example"}, args...)...).CombinedOutput()
	return string(out)
}

// wantReply checks that the transcript has a reply from the server
// starting with want ("550 5.1.1"): swaks marks them "<-", "<~" (TLS),
// with "*" for errors.
func wantReply(t *testing.T, out, want string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "<") && strings.HasPrefix(strings.TrimSpace(strings.TrimLeft(l, "<-~*")), want) {
			return
		}
	}
	t.Errorf("swaks: no %q reply in:\n%s", want, out)
}

func dataFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mail.eml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return "@" + p
}

// TestSwaksRefusals: every refusal the front door makes by itself, with
// its exact code and enhanced code, as a real third-party client sees it.
func TestSwaksRefusals(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{MaxMessageBytes: 4096, MaxRecipients: 2, MaxLineLength: 1000, MaxHeaderBytes: 1024, MaxReceived: 2})
	server := []string{"--server", srv.Addr().String(), "--from", "qoo10info@qoo10.jp"}
	run := func(args ...string) string { return swaks(t, append(append([]string(nil), server...), args...)...) }
	good := vendorAddr("shop42")
	seller, _, _ := strings.Cut(good, ".")
	received := strings.Repeat("Received: from a.example by b.example; Wed, 26 Nov 2025 10:00:00 +0900\r\n", 3)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"routed", []string{"--to", "orders@in.example.test"}, "250 2.0.0"},
		{"vendor address", []string{"--to", good}, "250 2.0.0"},
		{"unknown domain", []string{"--to", "x@elsewhere.example"}, "550 5.1.1"},
		{"source route to a foreign mailbox", []string{"--to", "@relay.example:x@elsewhere.example"}, "550 5.1.1"},
		{"percent hack", []string{"--to", "x%elsewhere.example@in.example.test"}, "550 5.1.1"},
		{"bang path", []string{"--to", "elsewhere.example!x@in.example.test"}, "550 5.1.1"},
		{"quoted local part with @", []string{"--to", `"x@elsewhere.example"@in.example.test`}, "550 5.1.1"},
		{"IP literal", []string{"--to", "postmaster@[127.0.0.1]"}, "550 5.1.1"},
		{"wrong vendor token", []string{"--to", seller + ".abcdefghij@v.example.test"}, "550 5.1.1"},
		{"too many recipients", []string{"--to", "a@in.example.test,b@in.example.test,c@in.example.test"}, "452 4.5.3"},
		{"message too big", []string{"--to", "orders@in.example.test", "--data", dataFile(t, mail("big")+strings.Repeat("0123456789abcdef\r\n", 300))}, "552 5.3.4"},
		{"header too big", []string{"--to", "orders@in.example.test",
			"--data", dataFile(t, "X-A: "+strings.Repeat("a", 600)+"\r\nX-B: "+strings.Repeat("b", 600)+"\r\n"+mail("hdr"))}, "552 5.3.4"},
		{"mail loop", []string{"--to", "orders@in.example.test", "--data", dataFile(t, received+mail("loop"))}, "554 5.4.6"},
		{"line too long", []string{"--to", "orders@in.example.test", "--data", dataFile(t, mail("long")+strings.Repeat("x", 1200)+"\r\n")}, "500 5.4.0"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantReply(t, run(tc.args...), tc.want) })
	}
	for _, m := range srv.sink.all() {
		for _, r := range m.env.Rcpts {
			if r != "orders@in.example.test" && r != good && r != "a@in.example.test" && r != "b@in.example.test" {
				t.Errorf("stored a mail for %q", r)
			}
		}
	}
}

// TestSwaksConnectionAndRateLimits: 421 4.7.0 at connect over the
// per-client limit, 451 4.7.0 at MAIL over the transaction rate.
func TestSwaksConnectionAndRateLimits(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{MaxConnectionsPerIP: 1, MaxTransactionsPerMinute: 1})
	held := dialFrom(t, srv.Addr().String(), "127.0.0.21")
	held.expect("", "220 ")
	base := []string{"--server", srv.Addr().String(), "--from", "qoo10info@qoo10.jp", "--to", "orders@in.example.test"}
	wantReply(t, swaks(t, append(base, "--local-interface", "127.0.0.21")...), "421 4.7.0")
	wantReply(t, swaks(t, append(base, "--local-interface", "127.0.0.22")...), "250 2.0.0")
	wantReply(t, swaks(t, append(base, "--local-interface", "127.0.0.22")...), "451 4.7.0")
}

// TestSwaksTLSAndAuth: STARTTLS with a verified certificate, AUTH PLAIN
// and LOGIN, wrong passwords and require_tls, from swaks.
func TestSwaksTLSAndAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_, issue := testCA(t, dir)
	issue(certFile, keyFile)
	caFile := filepath.Join(dir, "ca.pem")
	cert, err := LoadCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte(relayPassword), bcrypt.MinCost)
	srv := start(t, Config{Certificate: cert, RequireTLS: true, Users: []User{{Name: "relay", Hash: hash}}})
	base := []string{"--server", srv.Addr().String(), "--from", "bounce@qoo10.jp", "--to", "orders@in.example.test"}
	run := func(args ...string) string { return swaks(t, append(append([]string(nil), base...), args...)...) }

	wantReply(t, run(), "530 5.7.0")
	// Before STARTTLS AUTH is not offered, so swaks does not try it (a
	// client that does gets 523 5.7.10: TestSTARTTLSAndAuth).
	if out := run("--auth", "PLAIN", "--auth-user", "relay", "--auth-password", relayPassword); !strings.Contains(out, "did not advertise authentication") {
		t.Errorf("AUTH offered before TLS:\n%s", out)
	}
	out := run("--tls", "--tls-verify", "--tls-ca-path", caFile, "--tls-sni", "mx.test")
	wantReply(t, out, "220 2.0.0")
	if !strings.Contains(out, "TLS started") {
		t.Errorf("no TLS:\n%s", out)
	}
	wantReply(t, out, "250 2.0.0")
	wantReply(t, run("--tls", "--auth", "PLAIN", "--auth-user", "relay", "--auth-password", "wrong"), "535 5.7.8")
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		out := run("--tls", "--auth", mech, "--auth-user", "relay", "--auth-password", relayPassword)
		wantReply(t, out, "235 2.0.0")
		wantReply(t, out, "250 2.0.0")
	}
	var authed int
	for _, m := range srv.sink.all() {
		if m.env.AuthUser == "relay" && m.env.TLS {
			authed++
		}
	}
	if authed != 2 {
		t.Errorf("%d authenticated TLS mails stored, want 2", authed)
	}
}
