package parse

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"

	"github.com/qoo10hook/qoo10hook/internal/mailgen"
)

// realHeaders are the trace and authentication headers a mail from Qoo10
// carries by the time it reaches us; they are part of what enmime parses.
var realHeaders = []string{
	"Received: from mx.in.example.test (mx.in.example.test [192.0.2.10])\n\tby relay.example.test with ESMTPS id 4Zx1c2d3e4f5\n\tfor <orders@in.example.test>; Fri, 20 Nov 2026 21:05:02 +0900 (JST)",
	"Received: from qoo10.jp (mail.qoo10.jp [198.51.100.25])\n\tby mx.in.example.test with ESMTP id 9a8b7c6d5e\n\tfor <orders@in.example.test>; Fri, 20 Nov 2026 21:05:01 +0900 (JST)",
	"Received: from gmkt-app-12 (unknown [10.20.30.40])\n\tby mail.qoo10.jp with SMTP id 1a2b3c\n\tFri, 20 Nov 2026 21:05:00 +0900 (JST)",
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=qoo10.jp; s=selector1;\n\tt=1795694700; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\n\th=From:To:Subject:Date:Message-ID:MIME-Version:Content-Type;\n\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSwganVzdCBieXRlcyBvZiB0aGUgcmlnaHQgbGVuZ3Ro\n\t IHRoYXQgYSAyMDQ4LWJpdCBSU0Egc2lnbmF0dXJlIHdvdWxkIHRha2UgaW4gYSBoZWFkZXIgbGluZS4=",
	"Authentication-Results: mx.in.example.test; spf=pass smtp.mailfrom=qoo10.jp;\n\tdkim=pass header.d=qoo10.jp header.s=selector1; dmarc=pass header.from=qoo10.jp",
	"ARC-Seal: i=1; a=rsa-sha256; t=1795694702; cv=none; d=in.example.test; s=arc-2026;\n\tb=c2VhbCBieXRlcyBvZiBhIHJlYWxpc3RpYyBsZW5ndGggZm9yIGFuIEFSQyBzZWFsIGhlYWRlciBsaW5l\n\t IHdoaWNoIGlzIGEgMjA0OC1iaXQgUlNBIHNpZ25hdHVyZSBpbiBiYXNlNjQ=",
	"ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=in.example.test; s=arc-2026;\n\th=from:to:subject:date:message-id:mime-version:content-type;\n\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\n\tb=bWVzc2FnZSBzaWduYXR1cmUgYnl0ZXMgb2YgYSByZWFsaXN0aWMgbGVuZ3RoIGZvciBhbiBBUkMg\n\t bWVzc2FnZSBzaWduYXR1cmUgaGVhZGVyIGxpbmU=",
	"ARC-Authentication-Results: i=1; in.example.test; spf=pass smtp.mailfrom=qoo10.jp;\n\tdkim=pass header.d=qoo10.jp; dmarc=pass (p=NONE) header.from=qoo10.jp",
	"Received-SPF: pass (in.example.test: domain of bounce@qoo10.jp designates 198.51.100.25 as permitted sender)",
	"Received: from relay.example.test (relay.example.test [192.0.2.20])\n\tby filter.example.test (Postfix) with ESMTPS id 7F3A2B4C5D\n\tfor <orders@in.example.test>; Fri, 20 Nov 2026 21:05:03 +0900 (JST)",
	"Received: from filter.example.test (localhost [127.0.0.1])\n\tby smtp.in.example.test with LMTP id 6E5D4C3B2A\n\tfor <orders@in.example.test>; Fri, 20 Nov 2026 21:05:04 +0900 (JST)",
	"X-Spam-Status: No, score=-0.1 required=5.0 tests=DKIM_SIGNED,DKIM_VALID,DKIM_VALID_AU,SPF_PASS autolearn=ham",
	"Feedback-ID: order-notice:gmkt:qoo10.jp",
	"Return-Path: <bounce@qoo10.jp>",
	"X-Mailer: GMKT Mailer 2.0",
	"X-Priority: 3",
}

// benchMail renders a built-in template as an ISO-2022-JP mail with real
// headers; the StockGear order with a memo comes to about 4 KiB.
func benchMail(tb testing.TB, name string) []byte {
	tb.Helper()
	src := builtinSource(name)
	v := sgOrder()
	for k, x := range claimValues().Fields {
		if v.Fields[k] == "" {
			v.Fields[k] = x
		}
	}
	for k, x := range fields("PAYMENT_TIME", "2026/11/21 09:15:00", "RECEIVER_NM", "髙橋 一郎",
		"RECEIVER_NM_JA", "タカハシ イチロウ", "ZIP_CODE", "〒150-0001", "ADDRESS", "東京都渋谷区神宮前1-2-3 ㈱サンプル商事内",
		"RECEIVER_TEL_NO", "03-1234-5678", "DEL_HOPE_DATE", "2026/11/25", "DISCOUNT", "-200",
		"DEL_MEMO", "置き配を希望します。\n不在の場合は宅配ボックスへお願いします。\nギフト包装をお願いします（のし不要）。\n"+
			"平日は19時以降の配達でお願いします。\n土日は終日在宅しております。\n領収書を同梱してください（宛名：㈱サンプル商事）。") {
		v.Fields[k] = x
	}
	if name == "crossmall-order-group" {
		v = cmGroup(5, "ギフト包装希望\nのし：御歳暮")
	}
	m := mailgen.Mail{From: qoo10From, To: "orders@in.example.test", Date: genDate, MessageID: "bench@qoo10.jp",
		Subject: mailgen.Render(src.Subject, v), Body: mailgen.Render(src.Body, v) + "\n",
		Charset: "iso-2022-jp", Encoding: "7bit", ExtraHeaders: realHeaders}
	raw, err := m.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func BenchmarkParse(b *testing.B) {
	p, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, src := range builtinTemplates() {
		raw := benchMail(b, src.Name)
		if r := p.Parse(raw); r.Template != src.Name {
			b.Fatalf("%s: read by %q", src.Name, r.Template)
		}
		b.Run(src.Name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				p.Parse(raw)
			}
		})
	}
}

// BenchmarkEnmime is enmime alone on the 4 KiB StockGear order mail:
// "envelope" is its ordinary use (ReadEnvelope, detection off), "parts"
// the exact call Parse makes.
func BenchmarkEnmime(b *testing.B) {
	raw := benchMail(b, "stockgear-order-unit")
	b.Logf("mail size %d bytes", len(raw))
	envelope := enmime.NewParser(enmime.DisableCharacterDetection(true))
	b.Run("envelope", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := envelope.ReadEnvelope(bytes.NewReader(raw)); err != nil {
				b.Fatal(err)
			}
		}
	})
	parts := newMIMEParser()
	b.Run("parts", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parts.ReadParts(bytes.NewReader(raw)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestParseBudget holds Parse to its budget: at most 1.5 times enmime's
// ReadEnvelope (detection off) on the same 4 KiB ISO-2022-JP order mail,
// measured in one run. Timing is noisy on shared machines, so it runs only
// when asked: QOO10HOOK_BENCH_BUDGET=1 go test ./parse -run Budget.
func TestParseBudget(t *testing.T) {
	if testing.Short() || !budgetEnabled() {
		t.Skip("set QOO10HOOK_BENCH_BUDGET=1 to check the speed budget")
	}
	raw := benchMail(t, "stockgear-order-unit")
	if len(raw) < 3800 || len(raw) > 4400 {
		t.Fatalf("bench mail is %d bytes, want about 4 KiB", len(raw))
	}
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	envelope := enmime.NewParser(enmime.DisableCharacterDetection(true))
	best := func(f func()) time.Duration {
		var min time.Duration
		for range 5 {
			r := testing.Benchmark(func(b *testing.B) {
				for b.Loop() {
					f()
				}
			})
			if d := time.Duration(r.NsPerOp()); min == 0 || d < min {
				min = d
			}
		}
		return min
	}
	parse := best(func() { p.Parse(raw) })
	alone := best(func() { _, _ = envelope.ReadEnvelope(bytes.NewReader(raw)) })
	ratio := float64(parse) / float64(alone)
	t.Logf("Parse %v/op, enmime ReadEnvelope %v/op, ratio %.2f", parse, alone, ratio)
	if ratio > 1.5 {
		t.Errorf("Parse takes %.2fx enmime alone, budget 1.5x", ratio)
	}
}

func budgetEnabled() bool {
	return strings.TrimSpace(os.Getenv("QOO10HOOK_BENCH_BUDGET")) == "1"
}
