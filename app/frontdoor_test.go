package app

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

// Keys of the test world: qoo10.jp's, and an attacker's for evil.example.
var (
	qoo10Key = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	evilKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
)

func keyRecord(k ed25519.PrivateKey) string {
	return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

// fakeDNS serves the test world's records. With t set, any lookup fails
// the test: the "off" policy must make none.
type fakeDNS struct {
	txt      map[string][]string
	servfail map[string]bool
	failT    *testing.T
	mu       sync.Mutex
	lookups  int
}

// newWorld: the service's client is 127.0.0.1.
//
//	qoo10.jp        SPF for 192.0.2.0/24 only (so 127.0.0.1 fails), DKIM ed1, DMARC p=reject
//	mail.qoo10.jp   SPF for 127.0.0.0/8 (MAIL FROM bounce@mail.qoo10.jp passes)
//	temp.qoo10.jp   SERVFAIL
//	evil.example    DKIM ed1 with another key
func newWorld() *fakeDNS {
	return &fakeDNS{
		txt: map[string][]string{
			"qoo10.jp":                    {"v=spf1 ip4:192.0.2.0/24 -all"},
			"mail.qoo10.jp":               {"v=spf1 ip4:127.0.0.0/8 -all"},
			"_dmarc.qoo10.jp":             {"v=DMARC1; p=reject"},
			"ed1._domainkey.qoo10.jp":     {keyRecord(qoo10Key)},
			"ed1._domainkey.evil.example": {keyRecord(evilKey)},
			"evil.example":                {"v=spf1 -all"},
		},
		servfail: map[string]bool{"temp.qoo10.jp": true},
	}
}

func (f *fakeDNS) begin(name string) (string, error) {
	f.mu.Lock()
	f.lookups++
	f.mu.Unlock()
	if f.failT != nil {
		f.failT.Errorf("DNS lookup of %s under the off policy", name)
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if f.servfail[name] {
		return name, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	return name, nil
}

func (f *fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	name, err := f.begin(name)
	if err != nil {
		return nil, err
	}
	if r, ok := f.txt[name]; ok {
		return r, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	host, err := f.begin(host)
	if err != nil {
		return nil, err
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (f *fakeDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	name, err := f.begin(name)
	if err != nil {
		return nil, err
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) LookupAddr(_ context.Context, addr string) ([]string, error) {
	addr, err := f.begin(addr)
	if err != nil {
		return nil, err
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

// qoo10Mail is a notification-like mail with its own Message-ID.
func qoo10Mail(id, from string) []byte {
	return []byte("From: " + from + "\r\n" +
		"To: orders@in.example.test\r\n" +
		"Subject: =?UTF-8?B?UW9vMTDjga7ms6jmlofjga7jgYrnn6XjgonjgZvjgafjgZnjgII=?=\r\n" +
		"Date: Wed, 26 Nov 2025 10:00:00 +0900\r\n" +
		"Message-ID: <" + id + "@qoo10.jp>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=UTF-8\r\n" +
		"\r\n" +
		"販売者ID: shop_auth\r\n注文番号: " + id + "\r\n数量: 2\r\n")
}

func dkimSign(t *testing.T, msg []byte, domain string, key crypto.Signer) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: "ed1", Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"}}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// sendFrom sends raw with an envelope sender of our choice.
func sendFrom(t *testing.T, addr, from, rcpt string, raw []byte) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mta.qoo10.jp"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	w.Write(raw)
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func smtpCode(err error) string {
	if err == nil {
		return "250"
	}
	if se, ok := err.(*smtp.SMTPError); ok {
		return fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return err.Error()
}

// policyConfig has one route per sender policy, all delivering to hookURL.
func policyConfig(t *testing.T, storeURL, hookURL string) *config.Config {
	cfg := testConfig(t, storeURL, hookURL)
	cfg.Sender.Policy = config.PolicyRequire
	cfg.Routes = []config.Route{
		{Tenant: "req", Recipients: []string{"req@in.example.test"}},
		{Tenant: "quar", Recipients: []string{"quar@in.example.test"}, SenderPolicy: config.PolicyQuarantine},
		{Tenant: "tagged", Recipients: []string{"tag@in.example.test"}, SenderPolicy: config.PolicyTag},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestSenderAuthentication: DKIM and SPF verdicts and each policy's
// outcome, through the real SMTP service with DNS from the test world.
func TestSenderAuthentication(t *testing.T) {
	storeURL := testenv.SQLite(t)
	rx := newReceiver(t)
	svc := start(t, policyConfig(t, storeURL, rx.URL), WithResolver(newWorld()))
	addr := svc.svc.SMTPAddr()
	const from = "Qoo10 <qoo10info@qoo10.jp>"
	signed := func(id string) []byte { return dkimSign(t, qoo10Mail(id, from), "qoo10.jp", qoo10Key) }

	for _, tc := range []struct {
		name, mailFrom, rcpt string
		raw                  []byte
		want                 string
		// for delivered mails: mail.auth.* in the event
		spf, dkim, policy string
		dkimDomain        string
	}{
		{"DKIM pass", "bounce@qoo10.jp", "req@in.example.test", signed("a1"), "250", "fail", "pass", "require", "qoo10.jp"},
		{"DKIM fail: body altered", "bounce@qoo10.jp", "req@in.example.test",
			bytes.Replace(signed("a2"), []byte("数量: 2"), []byte("数量: 9"), 1), "550 5.7.1", "", "", "", ""},
		{"DKIM missing, SPF fail", "bounce@qoo10.jp", "req@in.example.test", qoo10Mail("a3", from), "550 5.7.1", "", "", "", ""},
		{"misaligned From: signed by evil.example", "x@evil.example", "req@in.example.test",
			dkimSign(t, qoo10Mail("a4", from), "evil.example", evilKey), "550 5.7.1", "", "", "", ""},
		{"SPF pass for an aligned MAIL FROM", "bounce@mail.qoo10.jp", "req@in.example.test", qoo10Mail("a5", from), "250", "pass", "none", "require", ""},
		{"SPF temperror defers", "bounce@temp.qoo10.jp", "req@in.example.test", qoo10Mail("a6", from), "451 4.7.0", "", "", "", ""},
		{"tag delivers a failed mail with its verdicts", "bounce@qoo10.jp", "tag@in.example.test",
			bytes.Replace(signed("a7"), []byte("数量: 2"), []byte("数量: 9"), 1), "250", "fail", "fail", "tag", "qoo10.jp"},
		{"misaligned From under tag: a good signature of the wrong domain", "x@evil.example", "tag@in.example.test",
			dkimSign(t, qoo10Mail("a8", from), "evil.example", evilKey), "250", "fail", "pass", "tag", "evil.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := smtpCode(sendFrom(t, addr, tc.mailFrom, tc.rcpt, tc.raw))
			if got != tc.want {
				t.Fatalf("reply %s, want %s", got, tc.want)
			}
			if tc.want != "250" {
				return
			}
			ev := verify(t, rx.nextDelivered(t, 10*time.Second))
			for path, want := range map[string]string{"mail.auth.spf.result": tc.spf, "mail.auth.dkim.result": tc.dkim, "mail.auth.policy": tc.policy} {
				if g := get(ev, path); g != want {
					t.Errorf("%s = %v, want %s", path, g, want)
				}
			}
			if tc.dkimDomain != "" && get(ev, "mail.auth.dkim.domain") != tc.dkimDomain {
				t.Errorf("mail.auth.dkim.domain = %v, want %s", get(ev, "mail.auth.dkim.domain"), tc.dkimDomain)
			}
		})
	}

	t.Run("quarantine stores held and delivers nothing", func(t *testing.T) {
		if got := smtpCode(sendFrom(t, addr, "bounce@qoo10.jp", "quar@in.example.test", qoo10Mail("q1", from))); got != "250" {
			t.Fatalf("reply %s, want 250", got)
		}
		db := openSQLite(t, storeURL)
		var status string
		if err := db.QueryRow(`SELECT status FROM mail WHERE message_id = 'q1@qoo10.jp'`).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != store.MailQuarantined {
			t.Errorf("mail status %s, want %s", status, store.MailQuarantined)
		}
		held, err := svc.svc.Store().ListDeliveries(t.Context(), store.DeliveryFilter{Status: store.DeliveryHeld})
		if err != nil || len(held) != 1 {
			t.Fatalf("held deliveries: %v, %v; want one", held, err)
		}
		payload, _ := svc.svc.Store().EventPayload(t.Context(), held[0].EventID)
		if !bytes.Contains(payload, []byte(`"policy":"quarantine"`)) || !bytes.Contains(payload, []byte(`"dkim":{"result":"none"`)) {
			t.Errorf("held event lacks its verdicts: %s", payload)
		}
		rx.quiet(t, 300*time.Millisecond)
		if m := metrics(t, svc); !strings.Contains(m, "qoo10hook_smtp_quarantined_total 1") ||
			!strings.Contains(m, `qoo10hook_smtp_sender_policy_total{outcome="rejected",policy="require"} 3`) {
			t.Errorf("metrics:\n%s", grepLines(m, "qoo10hook_smtp_"))
		}
	})
}

// TestSenderPolicyOffLooksNothingUp: with the off policy the resolver is
// never asked, and the mail is delivered without mail.auth.
func TestSenderPolicyOffLooksNothingUp(t *testing.T) {
	rx := newReceiver(t)
	cfg := testConfig(t, testenv.SQLite(t), rx.URL)
	dns := newWorld()
	dns.failT = t
	svc := start(t, cfg, WithResolver(dns))
	if got := smtpCode(sendFrom(t, svc.svc.SMTPAddr(), "x@evil.example", "orders@in.example.test", qoo10Mail("off1", "<qoo10info@qoo10.jp>"))); got != "250" {
		t.Fatalf("reply %s", got)
	}
	ev := verify(t, rx.nextDelivered(t, 10*time.Second))
	if a := get(ev, "mail.auth"); a != nil {
		t.Errorf("mail.auth = %v under off", a)
	}
	dns.mu.Lock()
	defer dns.mu.Unlock()
	if dns.lookups != 0 {
		t.Errorf("%d lookups", dns.lookups)
	}
}

func metrics(t *testing.T, r *running) string {
	t.Helper()
	resp, err := http.Get("http://" + r.svc.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
