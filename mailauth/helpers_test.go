package mailauth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/qoo10hook/qoo10hook/event"
)

// Addresses of the test world (RFC 5737 documentation ranges, and one in
// a range configured as the forwarder's).
var (
	qoo10IP    = net.ParseIP("203.0.113.10") // in qoo10.jp's SPF
	attackerIP = net.ParseIP("192.0.2.66")   // in evil.example's SPF only
	softIP     = net.ParseIP("198.51.100.7") // in soft.example's SPF
	gmailIP    = net.ParseIP("209.85.220.41")
)

// rsaKey is generated once: 2048-bit generation is slow under -race.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// otherRSAKey signs for evil.example, so that a key mix-up would show.
var otherRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

var edKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func rsaRecord(k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		panic(err)
	}
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
}

func edRecord(k ed25519.PrivateKey) string {
	return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

// newWorld returns a fake DNS with the domains the tests use:
//
//	qoo10.jp        SPF via include, DMARC p=reject sp=quarantine, DKIM s1 (RSA) and ed1 (ed25519)
//	evil.example    SPF for attackerIP, DKIM s1 (another RSA key), DMARC p=none
//	soft.example    SPF by redirect, ~all
//	nodmarc.example DKIM s1, no DMARC anywhere
//	strict.example  DKIM s1, DMARC adkim=s aspf=s
//	gmail.com       SPF for the forwarder, DKIM s1
//	tempfail.example and _dmarc.tempdmarc.example answer SERVFAIL
func newWorld(t testing.TB) *fakeDNS {
	f := newFakeDNS()
	t.Cleanup(f.release)
	f.addTXT("qoo10.jp", "google-site-verification=abc", "v=spf1 include:_spf.qoo10.jp -all")
	f.addTXT("_spf.qoo10.jp", "v=spf1 ip4:203.0.113.0/24 -all")
	f.addTXT("mail.qoo10.jp", "v=spf1 redirect=qoo10.jp")
	f.addTXT("mta.qoo10.jp", "v=spf1 a -all")
	f.addIP("mta.qoo10.jp", "203.0.113.10")
	f.addTXT("_dmarc.qoo10.jp", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@qoo10.jp")
	f.addTXT("s1._domainkey.qoo10.jp", rsaRecord(rsaKey()))
	f.addTXT("ed1._domainkey.qoo10.jp", edRecord(edKey))

	f.addTXT("evil.example", "v=spf1 ip4:192.0.2.66 -all")
	f.addTXT("s1._domainkey.evil.example", rsaRecord(otherRSAKey()))
	f.addTXT("_dmarc.evil.example", "v=DMARC1; p=none")

	f.addTXT("soft.example", "v=spf1 redirect=_spf.soft.example")
	f.addTXT("_spf.soft.example", "v=spf1 ip4:198.51.100.7 ~all")
	f.addTXT("neutral.example", "v=spf1 ?all")
	f.addTXT("broken.example", "v=spf1 bogus:mechanism -all")
	f.addTXT("incl-missing.example", "v=spf1 include:nowhere.example -all")
	f.addTXT("incl-temp.example", "v=spf1 include:tempfail.example -all")
	f.servfail["tempfail.example"] = true

	f.addTXT("s1._domainkey.nodmarc.example", rsaRecord(rsaKey()))
	f.addTXT("s1._domainkey.strict.example", rsaRecord(rsaKey()))
	f.addTXT("_dmarc.strict.example", "v=DMARC1; p=reject; adkim=s; aspf=s")
	f.servfail["_dmarc.tempdmarc.example"] = true
	f.addTXT("s1._domainkey.tempdmarc.example", rsaRecord(rsaKey()))
	f.servfail["s1._domainkey.tempkey.example"] = true
	f.addTXT("_dmarc.bad.example", "v=DMARC1; p=sometimes")
	f.addTXT("s1._domainkey.bad.example", rsaRecord(rsaKey()))

	f.addTXT("gmail.com", "v=spf1 ip4:209.85.128.0/17 ~all")
	f.addTXT("s1._domainkey.gmail.com", rsaRecord(otherRSAKey()))
	return f
}

// testMail returns a CRLF message with the given From and extra header lines
// (before From) and a Japanese body.
func testMail(from string, extra ...string) []byte {
	var b strings.Builder
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("From: " + from + "\r\n" +
		"To: orders@shop.example\r\n" +
		"Subject: =?UTF-8?B?44CQUW9vMTDjgJHjgZTms6jmlofjgYzlhaXjgorjgb7jgZfjgZ8=?=\r\n" +
		"Date: Wed, 26 Nov 2025 10:00:00 +0900\r\n" +
		"Message-ID: <20251126100000.12345@qoo10.jp>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=UTF-8\r\n" +
		"\r\n" +
		"注文番号: 100200300\r\n" +
		"商品名: テスト商品\r\n" +
		"数量: 2\r\n")
	return []byte(b.String())
}

// sign returns msg with a DKIM-Signature for domain and selector on top.
func sign(t testing.TB, msg []byte, domain, selector string, key crypto.Signer) []byte {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{
		Domain:                 domain,
		Selector:               selector,
		Signer:                 key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"},
	})
	if err != nil {
		t.Fatalf("dkim sign: %v", err)
	}
	return out.Bytes()
}

// alterBody changes one character of the body, as a forwarder's footer
// or a forger's edit would.
func alterBody(msg []byte) []byte {
	return bytes.Replace(msg, []byte("数量: 2"), []byte("数量: 9"), 1)
}

// checker returns a Checker on dns with short test bounds.
func checker(dns Resolver, fw ...Forwarder) *Checker {
	return New(Options{Resolver: dns, Forwarders: fw})
}

func verdict(result, domain string) event.Verdict {
	return event.Verdict{Result: result, Domain: domain}
}
