package app

import (
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// The seller's relay of these tests: an SMTP AUTH account whose relay
// checks Qoo10's mail and writes its own Authentication-Results header
// with relayServID. webmailServID is a configured trusted forwarder's.
const (
	relayUser       = "shop42-relay"
	relayPass       = "relay-pass-0123456789"
	relayServID     = "relay.shop42.example"
	webmailServID   = "mx.webmail.example"
	relayRcpt       = "orders@in.example.test"
	relayMailFrom   = "relay@shop42.example"                         // no SPF record: none
	webmailMailFrom = "orders+caf_=shop=example.com@webmail.example" // no SPF record: none
	relayFrom       = "Qoo10 <qoo10info@qoo10.jp>"
)

// passAR is the body of an Authentication-Results header of authserv-id
// id saying that Qoo10's original mail passed DKIM and SPF for qoo10.jp,
// with DMARC when withDMARC.
func passAR(id string, withDMARC bool) string {
	v := id + ";\r\n\tdkim=pass header.d=qoo10.jp header.s=ed1;\r\n\tspf=pass smtp.mailfrom=bounce@qoo10.jp"
	if withDMARC {
		v += ";\r\n\tdmarc=pass header.from=qoo10.jp"
	}
	return v
}

// withAR puts Authentication-Results headers on top of msg, first
// argument topmost, as hops add them.
func withAR(msg []byte, values ...string) []byte {
	var out []byte
	for _, v := range values {
		out = append(out, "Authentication-Results: "+v+"\r\n"...)
	}
	return append(out, msg...)
}

// relayWorld is a service on the test world's DNS with one route,
// orders@in.example.test, under sender_policy require.
type relayWorld struct {
	svc      *running
	rx       *receiver
	storeURL string
	tc       *tls.Config
}

// startRelayWorld starts it with STARTTLS and the relay's AUTH account
// (when auth) and the given forwarders.
func startRelayWorld(t *testing.T, auth bool, forwarders []config.Forwarder) *relayWorld {
	t.Helper()
	w := &relayWorld{storeURL: testenv.SQLite(t), rx: newReceiver(t)}
	cfg := testConfig(t, w.storeURL, w.rx.URL)
	cfg.Sender.Policy = config.PolicyRequire
	cfg.Routes = []config.Route{{Tenant: "shop42", Recipients: []string{relayRcpt}, SenderPolicy: config.PolicyRequire}}
	if auth {
		dir := t.TempDir()
		certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		is := newIssuer(t)
		is.issue(certFile, keyFile)
		w.tc = &tls.Config{RootCAs: is.pool, ServerName: "mx.test"}
		hash, err := bcrypt.GenerateFromPassword([]byte(relayPass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		cfg.SMTP.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
		cfg.SMTP.Auth.Users = []config.AuthUser{{Username: relayUser, PasswordHash: config.Secret(hash), AuthServID: relayServID}}
	}
	cfg.Forwarders = forwarders
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	w.svc = start(t, cfg, WithResolver(newWorld()))
	return w
}

// dialRelay opens a STARTTLS session and, when auth, authenticates with
// AUTH PLAIN as the relay.
func (w *relayWorld) dialRelay(t *testing.T, auth bool) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(w.svc.svc.SMTPAddr(), w.tc)
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("no TLS after STARTTLS")
	}
	if !c.SupportsAuth(sasl.Plain) {
		t.Fatal("AUTH PLAIN not offered after STARTTLS")
	}
	if auth {
		if err := c.Auth(sasl.NewPlainClient("", relayUser, relayPass)); err != nil {
			t.Fatalf("AUTH PLAIN: %v", err)
		}
	}
	return c
}

// dialFrom opens a plain session from the local address ip (any of
// 127.0.0.0/8 is loopback on Linux).
func (w *relayWorld) dialFrom(t *testing.T, ip string) *smtp.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", w.svc.svc.SMTPAddr())
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		// Not Linux: only 127.0.0.1 is configured on loopback.
		t.Skipf("cannot dial from %s: %v", ip, err)
	}
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	c := smtp.NewClient(conn)
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("mx.webmail.example"); err != nil {
		t.Fatal(err)
	}
	return c
}

// transact sends one mail in the session and returns the first refusal
// (nil for 250 after DATA).
func transact(c *smtp.Client, mailFrom string, raw []byte) error {
	if err := c.Mail(mailFrom, nil); err != nil {
		return err
	}
	if err := c.Rcpt(relayRcpt, nil); err != nil {
		return err
	}
	wc, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := wc.Write(raw); err != nil {
		return err
	}
	if err := wc.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// event waits for the webhook event of the mail with Message-ID id.
func (w *relayWorld) event(t *testing.T, id string) map[string]any {
	t.Helper()
	ev := verify(t, w.rx.nextDelivered(t, 10*time.Second))
	if got := get(ev, "mail.message_id"); got != id+"@qoo10.jp" {
		t.Fatalf("event of mail %v, want %s@qoo10.jp", got, id)
	}
	if ev["tenant"] != "shop42" {
		t.Errorf("tenant = %v, want shop42", ev["tenant"])
	}
	return ev
}

// storedIDs lists the Message-IDs of the mails stored, sorted.
func (w *relayWorld) storedIDs(t *testing.T) []string {
	t.Helper()
	rows, err := openSQLite(t, w.storeURL).Query(`SELECT message_id FROM mail ORDER BY message_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// checkAuth asserts mail.auth fields of ev: want maps a path under
// mail.auth to its value, "" meaning the field must be absent.
func checkAuth(t *testing.T, ev map[string]any, want map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		got := get(ev, "mail.auth."+k)
		switch {
		case want[k] == "" && got != nil:
			t.Errorf("mail.auth.%s = %v, want it absent", k, got)
		case want[k] != "" && got != want[k]:
			t.Errorf("mail.auth.%s = %v, want %s", k, got, want[k])
		}
	}
	if t.Failed() {
		t.Logf("mail.auth = %v", get(ev, "mail.auth"))
	}
}

// TestRelayAuthTrustedAsForwarder: a seller's relay that authenticates
// with AUTH PLAIN after STARTTLS has its own Authentication-Results header
// (authserv-id = its account's authserv_id) stand in for the SPF and DKIM
// results forwarding broke, on a require route; the same header without
// AUTH, and AUTH without the header, are refused with 550 5.7.1, as are
// a header of another authserv-id and a pass planted below the relay's
// own header.
func TestRelayAuthTrustedAsForwarder(t *testing.T) {
	w := startRelayWorld(t, true, nil)

	t.Run("AUTH and the relay's header: delivered with its verdicts", func(t *testing.T) {
		c := w.dialRelay(t, true)
		raw := withAR(qoo10Mail("relay1", relayFrom), passAR(relayServID, true))
		if got := smtpCode(transact(c, relayMailFrom, raw)); got != "250" {
			t.Fatalf("reply %s, want 250", got)
		}
		ev := w.event(t, "relay1")
		checkAuth(t, ev, map[string]string{
			// Our own SPF for relay@shop42.example is none and the mail
			// is unsigned: every pass comes from the relay's header.
			"spf.result": "pass", "spf.domain": "qoo10.jp",
			"dkim.result": "pass", "dkim.domain": "qoo10.jp",
			"dmarc.result": "pass", "dmarc.domain": "qoo10.jp",
			"policy": "require", "via": "auth:" + relayUser,
		})
	})

	for _, tc := range []struct {
		name string
		auth bool
		raw  []byte
	}{
		{"the relay's header without AUTH is ignored", false,
			withAR(qoo10Mail("relay2", relayFrom), passAR(relayServID, true))},
		{"AUTH without the header is not a pass", true, qoo10Mail("relay3", relayFrom)},
		{"AUTH with a header of another authserv-id", true,
			withAR(qoo10Mail("relay4", relayFrom), passAR("mx.google.com", true))},
		{"AUTH: a pass planted below the relay's own failing header", true,
			withAR(qoo10Mail("relay5", relayFrom),
				relayServID+"; dkim=fail header.d=qoo10.jp; spf=fail smtp.mailfrom=bounce@qoo10.jp",
				passAR(relayServID, true))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := w.dialRelay(t, tc.auth)
			if got := smtpCode(transact(c, relayMailFrom, tc.raw)); got != "550 5.7.1" {
				t.Fatalf("reply %s, want 550 5.7.1", got)
			}
		})
	}

	w.rx.quiet(t, 300*time.Millisecond)
	if got := w.storedIDs(t); !slices.Equal(got, []string{"relay1@qoo10.jp"}) {
		t.Errorf("stored %v, want only relay1@qoo10.jp", got)
	}
	m := metrics(t, w.svc)
	for _, line := range []string{
		`qoo10hook_smtp_auth_total{outcome="success"} 4`,
		`qoo10hook_smtp_sender_policy_total{outcome="aligned",policy="require"} 1`,
		`qoo10hook_smtp_sender_policy_total{outcome="rejected",policy="require"} 4`,
	} {
		if !containsLine(m, line) {
			t.Errorf("metrics lack %q:\n%s", line, grepLines(m, "qoo10hook_smtp_"))
		}
	}
}

// TestTrustedForwarderHeader: a configured forwarder, known by the
// network it connects from, has its Authentication-Results header used;
// the same header from another address, and a header of another
// authserv-id from the forwarder, are ignored.
func TestTrustedForwarderHeader(t *testing.T) {
	w := startRelayWorld(t, false, []config.Forwarder{{Name: "webmail", Networks: []string{"127.0.0.1"}, AuthServID: webmailServID}})

	t.Run("forwarder's header from its network: delivered", func(t *testing.T) {
		c := w.dialFrom(t, "127.0.0.1")
		raw := withAR(qoo10Mail("fwd1", relayFrom), passAR(webmailServID, false))
		if got := smtpCode(transact(c, webmailMailFrom, raw)); got != "250" {
			t.Fatalf("reply %s, want 250", got)
		}
		ev := w.event(t, "fwd1")
		checkAuth(t, ev, map[string]string{
			"spf.result": "pass", "spf.domain": "qoo10.jp",
			"dkim.result": "pass", "dkim.domain": "qoo10.jp",
			// The header has no dmarc result: ours, from its SPF and
			// DKIM results against _dmarc.qoo10.jp.
			"dmarc.result": "pass", "dmarc.domain": "qoo10.jp",
			"policy": "require", "via": "webmail",
		})
	})

	t.Run("the same header from an untrusted address is ignored", func(t *testing.T) {
		c := w.dialFrom(t, "127.0.0.2")
		raw := withAR(qoo10Mail("fwd2", relayFrom), passAR(webmailServID, true))
		if got := smtpCode(transact(c, webmailMailFrom, raw)); got != "550 5.7.1" {
			t.Fatalf("reply %s, want 550 5.7.1", got)
		}
	})

	t.Run("a header of another authserv-id from the forwarder is ignored", func(t *testing.T) {
		c := w.dialFrom(t, "127.0.0.1")
		raw := withAR(qoo10Mail("fwd3", relayFrom), passAR("mx.google.com", true))
		if got := smtpCode(transact(c, webmailMailFrom, raw)); got != "550 5.7.1" {
			t.Fatalf("reply %s, want 550 5.7.1", got)
		}
	})

	w.rx.quiet(t, 300*time.Millisecond)
	if got := w.storedIDs(t); !slices.Equal(got, []string{"fwd1@qoo10.jp"}) {
		t.Errorf("stored %v, want only fwd1@qoo10.jp", got)
	}
}

// TestSenderAuthVerdictFields: every field of mail.auth for a mail that
// passes by DKIM and for one that passes by SPF, checked on our own
// (no forwarder): results, the domains they were made for, DMARC, and
// no via.
func TestSenderAuthVerdictFields(t *testing.T) {
	w := startRelayWorld(t, false, nil)
	for _, tc := range []struct {
		name, id, mailFrom string
		raw                []byte
		want               map[string]string
	}{
		{"DKIM pass", "fields1", "bounce@qoo10.jp",
			dkimSign(t, qoo10Mail("fields1", relayFrom), "qoo10.jp", qoo10Key),
			map[string]string{
				// qoo10.jp's SPF allows 192.0.2.0/24 only.
				"spf.result": "fail", "spf.domain": "qoo10.jp",
				"dkim.result": "pass", "dkim.domain": "qoo10.jp",
				"dmarc.result": "pass", "dmarc.domain": "qoo10.jp",
				"policy": "require", "via": "",
			}},
		{"SPF pass", "fields2", "bounce@mail.qoo10.jp", qoo10Mail("fields2", relayFrom),
			map[string]string{
				"spf.result": "pass", "spf.domain": "mail.qoo10.jp",
				"dkim.result": "none", "dkim.domain": "",
				// relaxed alignment: mail.qoo10.jp is under qoo10.jp.
				"dmarc.result": "pass", "dmarc.domain": "qoo10.jp",
				"policy": "require", "via": "",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := smtpCode(sendFrom(t, w.svc.svc.SMTPAddr(), tc.mailFrom, relayRcpt, tc.raw)); got != "250" {
				t.Fatalf("reply %s, want 250", got)
			}
			checkAuth(t, w.event(t, tc.id), tc.want)
		})
	}
}

func containsLine(text, line string) bool {
	return slices.Contains(strings.Split(text, "\n"), line)
}
