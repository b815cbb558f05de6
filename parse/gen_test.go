package parse

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/mailgen"
)

var generate = flag.Bool("generate", false, "re-render the generated mails in testdata")

// genMail is one golden mail: rendered by mailgen, or written out as raw.
type genMail struct {
	name string
	mail mailgen.Mail
	raw  string
}

var genDate = time.Date(2026, 11, 20, 21, 5, 0, 0, time.FixedZone("", 9*3600))

const qoo10From = "Qoo10 <qoo10info@qoo10.jp>"

// TestGenerateTestdata writes the generated mails; it only runs with
// -generate. The .eml files are committed, so that the golden tests read
// exactly the bytes a reviewer can look at.
func TestGenerateTestdata(t *testing.T) {
	if !*generate {
		t.Skip("run with -generate to re-render testdata/*.eml")
	}
	var all []genMail
	all = append(all, stockgearMails()...)
	all = append(all, otherTemplateMails()...)
	all = append(all, wrappedMails()...)
	all = append(all, oddMails()...)
	all = append(all, clientMails()...)
	for _, g := range all {
		raw := []byte(g.raw)
		if g.raw == "" {
			var err error
			if raw, err = g.mail.Bytes(); err != nil {
				t.Fatalf("%s: %v", g.name, err)
			}
		}
		if err := os.WriteFile(filepath.Join("testdata", g.name+".eml"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// builtinSource returns the built-in template of that name.
func builtinSource(name string) TemplateSource {
	for _, s := range builtinTemplates() {
		if s.Name == name {
			return s
		}
	}
	panic("no built-in template " + name)
}

// render renders a built-in template into a mail with the usual headers.
func render(name string, v mailgen.Values, id string) mailgen.Mail {
	src := builtinSource(name)
	return mailgen.Mail{
		From: qoo10From, To: "orders@in.example.test", Date: genDate,
		MessageID: id + "@qoo10.jp",
		Subject:   mailgen.Render(src.Subject, v),
		Body:      mailgen.Render(src.Body, v) + "\n",
		Charset:   "iso-2022-jp", Encoding: "7bit",
	}
}

func fields(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// sgOrder are StockGear order values with the characters that go wrong:
// CP932 extras (①, ㈱, 髙), a wave dash, full-width parentheses in a title.
func sgOrder() mailgen.Values {
	return mailgen.Values{Fields: fields(
		"SELLER_ID", "shop_alpha", "PACK_NO", "612345678", "DELIVERY_FEE", "800",
		"ORDER_TIME", "2026/11/20 21:04:55", "BUYER_NM", "髙橋 花子", "BUYER_NM_JA", "タカハシ ハナコ",
		"BUYER_TEL_NO", "03-1234-5678", "BUYER_EMAIL", "hanako@example.jp", "PAYMENT_METHOD", "クレジットカード",
		"ORDER_NO", "987654321", "ITEM_NO", "1122334455",
		"ITEM_NM", "㈱ミナト製 ステンレスボトル①号（500ml）(BTL-001)",
		"OPTION_INFO", "サイズ:S〜M(SZ-SM)", "ORDER_QTY", "2", "ORDER_PRICE", "1,980",
		"TOTAL_PRICE", "3,960", "DELIVERY_OPTION", "宅配便")}
}

func stockgearMails() []genMail {
	var out []genMail
	// Every charset with every transfer encoding it can travel in.
	for _, c := range []struct{ charset, cte, short string }{
		{"iso-2022-jp", "7bit", "iso2022jp-7bit"},
		{"iso-2022-jp", "base64", "iso2022jp-base64"},
		{"iso-2022-jp", "quoted-printable", "iso2022jp-qp"},
		{"utf-8", "8bit", "utf8-8bit"},
		{"utf-8", "base64", "utf8-base64"},
		{"utf-8", "quoted-printable", "utf8-qp"},
		{"shift_jis", "8bit", "sjis-8bit"},
		{"shift_jis", "base64", "sjis-base64"},
		{"shift_jis", "quoted-printable", "sjis-qp"},
		{"euc-jp", "8bit", "eucjp-8bit"},
		{"euc-jp", "base64", "eucjp-base64"},
		{"euc-jp", "quoted-printable", "eucjp-qp"},
	} {
		m := render("stockgear-order-unit", sgOrder(), "sg-"+c.short)
		m.Charset, m.Encoding = c.charset, c.cte
		if c.charset == "utf-8" && c.cte == "quoted-printable" {
			m.SubjectEncoding = 'Q'
		}
		out = append(out, genMail{name: "stockgear-order-" + c.short, mail: m})
	}

	// Microsoft labels for ISO-2022-JP in the body and the subject.
	m := render("stockgear-order-unit", sgOrder(), "sg-cp50220")
	m.Charset, m.SubjectCharset = "CP50220", "ISO-2022-JP-MS"
	out = append(out, genMail{name: "stockgear-order-cp50220", mail: m})

	// A subject whose encoded-words cut characters in two.
	m = render("stockgear-order-unit", sgOrder(), "sg-split")
	m.Charset, m.Encoding, m.SubjectCharset, m.SubjectChunk = "utf-8", "base64", "utf-8", 7
	out = append(out, genMail{name: "stockgear-order-subject-split-utf8", mail: m})
	m = render("stockgear-order-unit", sgOrder(), "sg-split-jis")
	m.SubjectChunk = 5
	out = append(out, genMail{name: "stockgear-order-subject-split-iso2022jp", mail: m})

	// Shift_JIS without a declared charset: detected.
	m = render("stockgear-order-unit", sgOrder(), "sg-nocharset")
	m.Charset, m.Encoding = "", "8bit"
	body, _ := mailgen.Encode("shift_jis", m.Body)
	m.Body = ""
	raw, _ := m.Bytes()
	out = append(out, genMail{name: "stockgear-order-undeclared-sjis", raw: string(raw) + string(body)})

	// CRLF line ends, optional rows present, a memo over two lines.
	v := sgOrder()
	v.Fields["DISCOUNT"] = "-200"
	v.Fields["TOTAL_PRICE"] = "3,760"
	v.Fields["DEL_HOPE_DATE"] = "2026年11月25日"
	v.Fields["DEL_MEMO"] = "置き配希望\n不在時は宅配ボックスへ"
	m = render("stockgear-order-unit", v, "sg-optional")
	m.CRLF = true
	out = append(out, genMail{name: "stockgear-order-optional-rows-crlf", mail: m})

	// Full-width labels, colons and digits, as a mailer converting to
	// full width would render them; trailing spaces and extra blank lines.
	m = render("stockgear-order-unit", sgOrder(), "sg-fullwidth")
	m.Body = strings.NewReplacer(": ", "：", "販売者ID", "販売者ＩＤ", "Eメール", "Ｅメール",
		"612345678", "６１２３４５６７８", "1,980", "１，９８０", "(フリガナ)", "（フリガナ）",
		"数量: 2", "数量：２", "\n\n", "\n\n\n", "宅配便", "宅配便   ").Replace(m.Body)
	m.Body = strings.ReplaceAll(m.Body, "¥ ", "￥")
	m.Charset, m.Encoding = "utf-8", "quoted-printable"
	out = append(out, genMail{name: "stockgear-order-fullwidth", mail: m})

	// Lines the template does not have, a greeting line missing, more
	// blank lines: still read by the template; the extra lines land in
	// fields, and fill the fields the template left empty.
	m = render("stockgear-order-unit", sgOrder(), "sg-extra")
	m.Body = strings.NewReplacer(
		"いつもQoo10をご利用いただきまして誠にありがとうございます。\n", "",
		"送料: ¥ 800\n", "送料: ¥ 800\nポイント利用: 120\n入金日時: 2026/11/20 21:10:00\n\n",
		"販売価格: ¥ 1,980\n", "販売価格: ¥ 1,980\nクーポン割引: ¥ 100\n",
		"配送方法: 宅配便\n", "配送方法: 宅配便\n配送会社: ヤマト運輸\n\n\n").Replace(m.Body)
	out = append(out, genMail{name: "stockgear-order-extra-lines", mail: m})

	// The transport (配送要請) template: receiver, zip with 〒, mobile.
	tv := sgOrder()
	for k, x := range fields("PAYMENT_TIME", "2026-11-21 09:15", "RECEIVER_NM", "髙橋 一郎",
		"RECEIVER_NM_JA", "タカハシ イチロウ", "ZIP_CODE", "〒150-0001", "ADDRESS", "東京都渋谷区神宮前１－２－３ ㈱サンプル商事内",
		"RECEIVER_TEL_NO", "03-1234-5678", "RECEIVER_MOBILE_NO", "０９０－１１１１－２２２２",
		"DEL_HOPE_DATE", "20261125", "DEL_HOPE_TIME_ZONE", "14時〜16時") {
		tv.Fields[k] = x
	}
	m = render("stockgear-transport-unit", tv, "sg-transport")
	out = append(out, genMail{name: "stockgear-transport-iso2022jp", mail: m})
	m = render("stockgear-transport-unit", tv, "sg-transport-sjis")
	m.Charset, m.Encoding = "shift_jis", "base64"
	out = append(out, genMail{name: "stockgear-transport-sjis-base64", mail: m})
	return out
}
