package mailauth

import (
	"bytes"
	"crypto"
	"testing"
)

// BenchmarkCheck is one mail of about 8 KiB from Qoo10's IP, SPF through
// an include, one DKIM signature, DMARC, with every answer already cached:
// the steady state of a busy MX. The cost is the public-key operation and
// hashing, plus the record parsing the libraries redo per mail.
func BenchmarkCheck(b *testing.B) {
	for _, bc := range []struct {
		name, selector string
		key            crypto.Signer
	}{
		{"rsa2048", "s1", rsaKey()},
		{"ed25519", "ed1", edKey},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dns := newWorld(b)
			c := checker(dns)
			body := bytes.Repeat([]byte("明細: サンプル商品 オプション: 赤/M 数量: 1 価格: 1,980円\r\n"), 110)
			msg := sign(b, append(testMail(`"Qoo10" <no-reply@qoo10.jp>`), body...), "qoo10.jp", bc.selector, bc.key)
			in := Input{RemoteIP: qoo10IP, Helo: "mta.qoo10.jp", MailFrom: "bounce@qoo10.jp", Message: msg}
			ctx := b.Context()
			if r := c.Check(ctx, in); !r.Aligned([]string{"qoo10.jp"}) || r.DMARC.Result != Pass || r.Err != nil {
				b.Fatalf("warm-up: %+v", r)
			}
			lookups := dns.total()
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				c.Check(ctx, in)
			}
			if n := dns.total() - lookups; n != 0 {
				b.Fatalf("%d lookups while cached", n)
			}
		})
	}
}
