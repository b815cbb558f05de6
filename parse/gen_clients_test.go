package parse

import (
	"strings"

	"github.com/qoo10hook/qoo10hook/internal/mailgen"
)

// sgTransport are StockGear 配送要請 values: a receiver, a zip with 〒, a
// mobile number in full width.
func sgTransport() mailgen.Values {
	v := sgOrder()
	for k, x := range fields("PAYMENT_TIME", "2026/12/04 10:58:12", "RECEIVER_NM", "髙橋 一郎",
		"RECEIVER_NM_JA", "タカハシ イチロウ", "ZIP_CODE", "〒150-0001", "ADDRESS", "東京都渋谷区神宮前1-2-3 ㈱サンプル商事内",
		"RECEIVER_TEL_NO", "03-1234-5678", "RECEIVER_MOBILE_NO", "０９０－１１１１－２２２２",
		"DEL_HOPE_DATE", "2026/12/08", "DEL_HOPE_TIME_ZONE", "14時〜16時") {
		v.Fields[k] = x
	}
	return v
}

// forwarded renders a built-in template as Qoo10 sent it, then forwards
// it inline as client writes it, in the charset and transfer encoding the
// seller's client sends.
func forwarded(client mailgen.Client, template string, v mailgen.Values, id, charset, cte string) mailgen.Mail {
	inner := render(template, v, id)
	subject, body := mailgen.ForwardInline(client, original(inner), "いつもお世話になっております。下記の注文を転送します。")
	m := sellerMail(inner, subject, body)
	m.Charset, m.Encoding = charset, cte
	return m
}

// clientMails are one order each, wrapped as mail clients, mailing lists
// and Qoo10's HTML mailer hand it on. The wrappers follow the clients'
// own formats (see mailgen.ForwardInline) and RFC 2046 (message/rfc822,
// multipart/alternative), RFC 3676 (format=flowed) and HTML as written
// by mailers, never this parser's output.
func clientMails() []genMail {
	var out []genMail
	add := func(name string, m mailgen.Mail) { out = append(out, genMail{name: "client-" + name, mail: m}) }

	// Gmail: text and HTML alternatives, UTF-8.
	m := forwarded(mailgen.GmailEN, "stockgear-order-unit", sgOrder(), "gm-en", "utf-8", "base64")
	m.Alternative = mailgen.HTMLParagraphs(m.Body)
	add("gmail-en-utf8-base64", m)
	m = forwarded(mailgen.GmailJA, "stockgear-transport-unit", sgTransport(), "gm-ja", "utf-8", "quoted-printable")
	m.Alternative = mailgen.HTMLParagraphs(m.Body)
	add("gmail-ja-utf8-qp", m)

	// Outlook desktop: ISO-2022-JP or Shift_JIS, as its Japanese setup sends.
	add("outlook-en-sjis-qp", forwarded(mailgen.OutlookEN, "stockgear-order-unit", sgOrder(), "ol-en", "shift_jis", "quoted-printable"))
	add("outlook-ja-iso2022jp-7bit", forwarded(mailgen.OutlookJA, "stockgear-order-unit", sgOrder(), "ol-ja", "iso-2022-jp", "7bit"))
	add("outlook-ja-sjis-base64", forwarded(mailgen.OutlookJA, "stockgear-transport-unit", sgTransport(), "ol-ja-tr", "shift_jis", "base64"))

	// Outlook for Mac: the header block without a marker line.
	add("outlook-mac-en-utf8-qp", forwarded(mailgen.OutlookMacEN, "basic-trade-complete", claimValues(), "olmac-en", "utf-8", "quoted-printable"))
	add("outlook-mac-ja-iso2022jp-base64", forwarded(mailgen.OutlookMacJA, "stockgear-order-unit", sgOrder(), "olmac-ja", "iso-2022-jp", "base64"))

	// Outlook on the web: a rule of underscores; text and HTML, UTF-8.
	m = forwarded(mailgen.OutlookWebEN, "crossmall-order-group", cmGroup(3, "ギフト包装希望\nのし：御歳暮"), "owa-en", "utf-8", "quoted-printable")
	m.Alternative = mailgen.HTMLParagraphs(m.Body)
	add("outlook-web-en-utf8-qp", m)
	m = forwarded(mailgen.OutlookWebJA, "basic-claim-cancel-request", claimValues(), "owa-ja", "utf-8", "base64")
	m.Alternative = mailgen.HTMLParagraphs(m.Body)
	add("outlook-web-ja-utf8-base64", m)

	// Apple Mail: format=flowed with DelSp=yes; ISO-2022-JP for Japanese.
	m = forwarded(mailgen.AppleMailEN, "stockgear-order-unit", sgOrder(), "am-en", "utf-8", "quoted-printable")
	m.Flowed, m.DelSp, m.FlowWidth = true, true, 24
	add("apple-mail-en-flowed-utf8-qp", m)
	m = forwarded(mailgen.AppleMailJA, "stockgear-transport-unit", sgTransport(), "am-ja", "iso-2022-jp", "7bit")
	m.Flowed, m.DelSp, m.FlowWidth = true, true, 18
	add("apple-mail-ja-flowed-iso2022jp", m)

	// iPhone: the header block and the mail quoted with "> ".
	add("iphone-en-utf8-qp", forwarded(mailgen.IPhoneEN, "basic-claim-complete", claimValues(), "ip-en", "utf-8", "quoted-printable"))
	add("iphone-ja-utf8-base64", forwarded(mailgen.IPhoneJA, "stockgear-order-unit", sgOrder(), "ip-ja", "utf-8", "base64"))

	// Thunderbird: flowed, DelSp=no for English text, DelSp=yes for Japanese.
	m = forwarded(mailgen.ThunderbirdEN, "basic-trade-complete", claimValues(), "tb-en", "utf-8", "8bit")
	m.Flowed, m.FlowWidth = true, 20
	add("thunderbird-en-flowed-utf8", m)
	m = forwarded(mailgen.ThunderbirdJA, "stockgear-order-unit", sgOrder(), "tb-ja", "iso-2022-jp", "7bit")
	m.Flowed, m.DelSp, m.FlowWidth = true, true, 16
	add("thunderbird-ja-flowed-iso2022jp", m)
	add("thunderbird-noday-sjis-base64", forwarded(mailgen.ThunderbirdNoDay, "crossmall-order-group", cmGroup(2, ""), "tb-noday", "shift_jis", "base64"))

	// Forwarded as an attachment: once from Outlook, then that forward
	// forwarded again as an attachment from Thunderbird.
	inner := render("stockgear-transport-unit", sgTransport(), "att-inner")
	innerRaw, _ := inner.Bytes()
	att := sellerMail(inner, "FW: "+inner.Subject, "添付ファイルで転送します。\n")
	att.Charset, att.Encoding, att.MessageID, att.Attached = "shift_jis", "quoted-printable", "att-outlook@mail.example.jp", innerRaw
	add("attachment-outlook-sjis-qp", att)
	attRaw, _ := att.Bytes()
	nested := sellerMail(inner, "Fwd: FW: "+inner.Subject, "経理に回します。\n")
	nested.Charset, nested.Encoding, nested.MessageID, nested.Attached = "utf-8", "base64", "att-tb@mail.example.jp", attRaw
	add("attachment-nested-utf8-base64", nested)
	// An attached Qoo10 mail that is HTML with a stub text part.
	htmlInner := render("stockgear-order-unit", sgOrder(), "att-html-inner")
	htmlInner.Charset, htmlInner.Encoding = "utf-8", "base64"
	htmlInner.Alternative = mailgen.HTMLTable(htmlInner.Body)
	htmlInner.Body = "このメールはHTML形式で送信されています。\n"
	htmlRaw, _ := htmlInner.Bytes()
	attHTML := sellerMail(htmlInner, "Fwd: "+htmlInner.Subject, "転送します。\n")
	attHTML.Charset, attHTML.Encoding, attHTML.MessageID, attHTML.Attached = "iso-2022-jp", "7bit", "att-html@mail.example.jp", htmlRaw
	add("attachment-html-inner-iso2022jp", attHTML)

	// A forward quoted once more in a reply: a BOM, trailing blanks,
	// CRLF and LF mixed.
	out = append(out, genMail{name: "client-quoted-bom-mixed-line-ends", raw: quotedForward()})

	// Qoo10's HTML mailer: a table layout whose <meta charset> says UTF-8
	// in an ISO-2022-JP part (the MIME label wins); a stub text part.
	m = render("stockgear-transport-unit", sgTransport(), "html-table")
	m.Body, m.HTML, m.Encoding = mailgen.HTMLTable(m.Body), true, "base64"
	add("qoo10-html-table-meta-charset-iso2022jp", m)
	m = render("stockgear-order-unit", sgOrder(), "html-stub")
	m.Alternative = mailgen.HTMLParagraphs(m.Body)
	m.Body = "このメールはHTML形式です。HTML表示に対応したメールソフトでご覧ください。\n"
	m.Charset, m.Encoding = "shift_jis", "quoted-printable"
	add("qoo10-html-stub-text-sjis-qp", m)
	m = plainMail("html-dl", "Qoo10の注文のお知らせです。(注文番号: 987654321)", qoo10HTMLLayouts)
	m.HTML, m.Encoding = true, "quoted-printable"
	add("qoo10-html-dl-nested-entities-utf8-qp", m)

	// The Qoo10 mail itself in format=flowed, with and without DelSp.
	m = render("basic-claim-cancel-request", claimValues(), "flowed-delsp")
	m.Flowed, m.DelSp, m.FlowWidth, m.Charset, m.Encoding = true, true, 12, "shift_jis", "base64"
	add("flowed-delsp-sjis-base64", m)
	m = render("stockgear-order-unit", sgOrder(), "flowed-nodelsp")
	m.Flowed, m.FlowWidth, m.Charset, m.Encoding = true, 14, "utf-8", "quoted-printable"
	add("flowed-utf8-qp", m)

	// A mailing list (Google Groups) that tags the subject and appends
	// its footer after the cancellation reason.
	m = render("basic-claim-cancel-request", claimValues(), "list")
	m.Subject = "[qoo10-orders] " + m.Subject
	m.Body += "\n-- \nYou received this message because you are subscribed to the Google Groups \"qoo10-orders\" group.\n" +
		"To unsubscribe from this group and stop receiving emails from it, send an email to qoo10-orders+unsubscribe@example.jp.\n"
	m.ExtraHeaders = []string{"List-Id: <qoo10-orders.example.jp>", "Mailing-list: list qoo10-orders@example.jp; contact qoo10-orders+owners@example.jp"}
	m.Charset, m.Encoding = "utf-8", "base64"
	add("google-groups-footer-utf8-base64", m)

	out = append(out, editedTemplateMails()...)
	return out
}

// qoo10HTMLLayouts is HTML as mailers lay an order out: a <dl>, nested
// tables, a colspan heading, a label in a <td> followed by its value, a
// <div> per line, and named and numeric entities.
const qoo10HTMLLayouts = `<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>Qoo10</title>
<style>th { text-align: left }</style></head>
<body>
<div>いつもQoo10をご利用いただきまして誠にありがとうございます。</div>
<div>お客様から下記の注文が入りましたのでお知らせいたします。</div>
<dl>
<dt>販売者ID</dt><dd>shop_alpha</dd>
<dt>カート番号</dt><dd>612345678</dd>
<dt>送料</dt><dd>&yen;&nbsp;800</dd>
<dt>注文日時</dt><dd>2026/12/4 9:05</dd>
</dl>
<table width="100%"><tr><td>
  <table border="1">
    <tr><td colspan="2">&#x25A0;注文者の情報</td></tr>
    <tr><td>氏名</td><td>髙橋&#x3000;花子</td></tr>
    <tr><td>電話番号</td><td>03&#8209;1234&#8209;5678</td></tr>
    <tr><td>Eメールアドレス</td><td>hanako&#64;example.jp</td></tr>
  </table>
</td></tr>
<tr><td>
  <table border="1">
    <caption>&#x25A0;注文商品の情報</caption>
    <thead><tr><th>注文番号</th><th>商品名</th><th>数量</th><th>販売価格</th></tr></thead>
    <tbody><tr><td>987654321</td><td>㈱ミナト製 ステンレスボトル&#9312;号（500ml）(BTL-001)</td><td>2</td><td>&#xFFE5;1,980</td></tr></tbody>
  </table>
</td></tr></table>
<p>&#x25A0;支払方法<br>クレジットカード</p>
<p>※このメールは送信専用のアドレスから送信しています。<br>Qoo10 <a href="https://www.qoo10.jp/">https://www.qoo10.jp/</a></p>
</body></html>
`

// quotedForward is a reply that quotes a Thunderbird forward of a Qoo10
// mail: written by hand as a client writes it, with a BOM before the
// text, blanks after some quoted lines and CRLF line ends on some lines.
func quotedForward() string {
	inner := render("stockgear-order-unit", sgOrder(), "quoted")
	_, fwd := mailgen.ForwardInline(mailgen.ThunderbirdEN, original(inner), "")
	var b strings.Builder
	b.WriteString("From: 店長 <tencho@example.jp>\r\nTo: orders@in.example.test\r\n" +
		"Subject: =?UTF-8?B?UmU6IEZ3ZDog?= " + mustWord(inner.Subject) + "\r\n" +
		"Date: Fri, 04 Dec 2026 13:15:00 +0900\r\nMessage-ID: <quoted-reply@mail.example.jp>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		"\uFEFF確認しました。\n\nOn 2026/12/04 12:02, 店長 wrote:\r\n")
	for i, l := range strings.Split(mailgen.Quote(fwd), "\n") {
		end := "\n"
		if i%3 == 0 {
			end = "\r\n"
		}
		if i%4 == 1 {
			l += "  "
		}
		b.WriteString(l + end)
	}
	return b.String()
}

// editedTemplateMails are Qoo10 mails from templates sellers edited in
// J·QSM: values laid out over lines, unpadded dates, boilerplate after a
// multi-line value, full-width and yen-suffixed amounts, cut values.
func editedTemplateMails() []genMail {
	subject := "Qoo10の発注のお知らせです。(注文番号: 987654321)"
	edited := `いつもQoo10をご利用いただきまして誠にありがとうございます。
下記の注文の決済が確認されました。商品の発送をお願いいたします。

販売者ID: shop_alpha
カート番号: 612345678
注文番号: 987654321
注文日時: 2026/12/4 9:05
入金日時: 2026/12/4 9:07
送料: ￥ 880

■お届け先
氏名: 髙橋 一郎
住所:
〒150-0001
東京都渋谷区神宮前1-2-3
サンプルビル４Ｆ
電話番号: 03-1234-5678

■注文商品の情報
商品名: ㈱ミナト製 ステンレスボトル①号（500ml）(BTL-001)
数量: 2
販売価格: 1,980円
注文金額の合計: 3,960円

■配送情報
配送方法: 宅配便
配送希望日: 2026/12/8
備考: 不在時は宅配ボックスへ
インターホンは鳴らさないでください

※このメールは送信専用のアドレスから送信しています。
Qoo10 https://www.qoo10.jp/
`
	m := plainMail("edited", subject, edited)
	m.Charset, m.Encoding = "iso-2022-jp", "base64"
	out := []genMail{{name: "edited-address-lines-unpadded-dates-iso2022jp", mail: m}}

	// A cancellation reason over lines, then Qoo10's footer after a blank
	// line: the footer is not the buyer's reason.
	v := claimValues()
	v.Fields["CLAIM_REASON"] = "サイズを間違えて注文しました。\n大変申し訳ありません。"
	m = render("basic-claim-cancel-request", v, "reason-footer")
	m.Body += "\n※本メールは送信専用です。ご返信いただいてもお答えできません。\nQoo10 https://www.qoo10.jp/\n"
	m.Charset, m.Encoding = "shift_jis", "base64"
	out = append(out, genMail{name: "edited-reason-then-footer-sjis-base64", mail: m})

	// Values a mailer or a list cut: a code whose parenthesis never
	// closes, a memo that ends in an ellipsis, a title wrapped onto an
	// unlabelled line.
	cut := sgOrder()
	cut.Fields["ITEM_NM"] = "㈱ミナト製 ステンレスボトル①号（500ml）(BTL-0"
	cut.Fields["OPTION_INFO"] = "サイズ:S〜M\n(SZ-SM)"
	cut.Fields["DEL_MEMO"] = "不在時は宅配…"
	m = render("stockgear-order-unit", cut, "cut-values")
	m.Charset, m.Encoding = "iso-2022-jp", "quoted-printable"
	out = append(out, genMail{name: "edited-cut-values-iso2022jp-qp", mail: m})
	return out
}
