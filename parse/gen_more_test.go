package parse

import (
	"fmt"
	"strings"

	"github.com/qoo10hook/qoo10hook/internal/mailgen"
)

// cmGroup are CROSS MALL group values with n order lines.
func cmGroup(n int, memo string) mailgen.Values {
	v := mailgen.Values{Fields: fields(
		"PACK_NO", "700100200", "ORDER_DATE", "2026-11-20 21:04", "PAYMENT_METHOD", "コンビニ決済",
		"DEL_OPTION", "ゆうパケット", "DEL_HOPE_DATE_YYYYMMDD", "", "DEL_HOPE_DATE_TIME_ZONE", "",
		"DEL_MEMO", memo, "SELLER_ID", "cm_shop", "BUYER_NM", "渡邊 ㈱太郎", "BUYER_NM_JA", "ワタナベ タロウ",
		"BUYER_TEL_NO", "０８０-２２２２-３３３３", "BUYER_EMAIL", "taro@example.com", "DELIVERY_FEE", "0"),
		Loops: map[string][]map[string]string{}}
	total := 0
	for i := 1; i <= n; i++ {
		price := 100 * i
		line := fields("ORDER_NO", fmt.Sprintf("80000%04d", i), "ITEM_NO", fmt.Sprintf("5550%03d", i),
			"ITEM_NM", fmt.Sprintf("ハンドタオル 第%d弾(HT-%03d)", i, i), "ORDER_QTY", fmt.Sprint(i%3+1),
			"ORDER_PRICE", fmt.Sprintf("%d", price))
		if i%2 == 0 {
			line["OPTION_INFO"] = fmt.Sprintf("色:青(HT-%03d-BL)", i)
		}
		total += price * (i%3 + 1)
		v.Loops["ORDER_ITEM"] = append(v.Loops["ORDER_ITEM"], line)
	}
	v.Fields["TOTAL_PRICE"] = fmt.Sprintf("%d", total)
	return v
}

func claimValues() mailgen.Values {
	return mailgen.Values{Fields: fields(
		"SELLER_ID", "shop_alpha", "PACK_NO", "612345678", "ORDER_NO", "987654321",
		"ITEM_NM", "㈱ミナト製 ステンレスボトル①号（500ml）(BTL-001)", "OPTION_INFO", "サイズ:S〜M(SZ-SM)",
		"ORDER_QTY", "2", "REQUEST_TIME", "2026/11/21 10:00:00", "CLAIM_COMPLETE_TIME", "2026/11/22 11:30:00",
		"COMPLETE_TIME", "2026/12/01", "CLAIM_REASON", "購入者都合（サイズ違い）")}
}

func otherTemplateMails() []genMail {
	one := render("crossmall-order-group", cmGroup(1, ""), "cm-1")
	twenty := render("crossmall-order-group", cmGroup(20, "ギフト包装希望\nのし：御歳暮"), "cm-20")
	twenty.Charset, twenty.Encoding = "utf-8", "base64"
	cancel := render("basic-claim-cancel-request", claimValues(), "claim-request")
	cancel.Charset, cancel.Encoding = "shift_jis", "quoted-printable"
	complete := render("basic-claim-complete", claimValues(), "claim-complete")
	complete.Charset, complete.Encoding = "euc-jp", "base64"
	trade := render("basic-trade-complete", claimValues(), "trade-complete")
	return []genMail{
		{name: "crossmall-group-1-line", mail: one},
		{name: "crossmall-group-20-lines", mail: twenty},
		{name: "claim-cancel-request", mail: cancel},
		{name: "claim-complete", mail: complete},
		{name: "trade-complete", mail: trade},
	}
}

// wrappedMails are mails inside other mails: forwarded by hand, HTML.
func wrappedMails() []genMail {
	var out []genMail
	inner := render("stockgear-order-unit", sgOrder(), "")
	subject := inner.Subject

	gmail := mailgen.Mail{From: "店長 <tencho@example.jp>", To: "orders@in.example.test", Date: genDate.Add(3600e9),
		MessageID: "fwd-gmail@mail.example.jp", Subject: "Fwd: " + subject, Charset: "utf-8", Encoding: "base64",
		Body: "転送します。\n\n---------- Forwarded message ---------\nFrom: Qoo10 <qoo10info@qoo10.jp>\n" +
			"Date: 2026年11月20日(金) 21:05\nSubject: " + subject + "\nTo: <tencho@example.jp>\n\n\n" + inner.Body}
	out = append(out, genMail{name: "forwarded-gmail", mail: gmail})

	tv := sgOrder()
	for k, x := range fields("PAYMENT_TIME", "2026/11/21 09:15:00", "RECEIVER_NM", "髙橋 一郎", "RECEIVER_NM_JA", "タカハシ イチロウ",
		"ZIP_CODE", "1500001", "ADDRESS", "東京都渋谷区神宮前1-2-3", "RECEIVER_TEL_NO", "03-1234-5678") {
		tv.Fields[k] = x
	}
	transport := render("stockgear-transport-unit", tv, "")
	thunder := mailgen.Mail{From: "店長 <tencho@example.jp>", To: "orders@in.example.test", Date: genDate.Add(7200e9),
		MessageID: "fwd-tb@mail.example.jp", Subject: "転送: " + transport.Subject, Charset: "iso-2022-jp", Encoding: "7bit",
		Body: "\n\n\n-------- 転送メッセージ --------\n件名: \t" + transport.Subject + "\n日付: \tSat, 21 Nov 2026 09:16:00 +0900\n" +
			"差出人: \tQoo10 <qoo10info@qoo10.jp>\n宛先: \ttencho@example.jp\n\n" + transport.Body}
	out = append(out, genMail{name: "forwarded-thunderbird-ja", mail: thunder})

	var quoted strings.Builder
	quoted.WriteString("ご確認ください。\n\n> -------- Original Message --------\n> Subject: " + subject +
		"\n> Date: Fri, 20 Nov 2026 21:05:00 +0900\n> From: qoo10info@qoo10.jp\n> To: tencho@example.jp\n>\n")
	for _, l := range strings.Split(strings.TrimRight(inner.Body, "\n"), "\n") {
		quoted.WriteString(strings.TrimRight("> "+l, " ") + "\n")
	}
	outlook := mailgen.Mail{From: "tencho@example.jp", To: "orders@in.example.test", Date: genDate.Add(3600e9),
		MessageID: "fwd-quoted@mail.example.jp", Subject: "FW: " + subject, Charset: "shift_jis", Encoding: "quoted-printable",
		Body: quoted.String()}
	out = append(out, genMail{name: "forwarded-quoted", mail: outlook})

	innerMail := render("stockgear-order-unit", sgOrder(), "attached-inner")
	innerRaw, _ := innerMail.Bytes()
	attached := "From: tencho@example.jp\nTo: orders@in.example.test\nSubject: Fwd: " + mustWord(subject) +
		"\nDate: Fri, 20 Nov 2026 22:00:00 +0900\nMessage-ID: <fwd-attached@mail.example.jp>\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"outer\"\n\n--outer\nContent-Type: text/plain; charset=utf-8\n\n" +
		"添付で転送します。\n\n--outer\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=\"order.eml\"\n\n" +
		string(innerRaw) + "\n--outer--\n"
	out = append(out, genMail{name: "forwarded-as-attachment", raw: attached})

	htmlOnly := render("stockgear-order-unit", sgOrder(), "html-only")
	htmlOnly.Body, htmlOnly.HTML, htmlOnly.Charset, htmlOnly.Encoding = mailgen.HTMLParagraphs(htmlOnly.Body), true, "utf-8", "quoted-printable"
	out = append(out, genMail{name: "html-only", mail: htmlOnly})

	alt := render("stockgear-order-unit", sgOrder(), "alternative")
	alt.Alternative = "<html><body><p>HTML版: 販売者ID: html_shop<br>数量: 99</p></body></html>"
	alt.Encoding = "base64"
	out = append(out, genMail{name: "multipart-alternative", mail: alt})
	return out
}

func mustWord(s string) string {
	w, err := mailgen.EncodeWord(s, "utf-8", 'B', 0)
	if err != nil {
		panic(err)
	}
	return w
}
