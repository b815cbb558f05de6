package parse

import (
	"encoding/base64"
	"strings"

	"github.com/qoo10hook/qoo10hook/internal/mailgen"
)

func plainMail(id, subject, body string) mailgen.Mail {
	return mailgen.Mail{From: qoo10From, To: "orders@in.example.test", Date: genDate, MessageID: id + "@qoo10.jp",
		Subject: subject, Body: body, Charset: "utf-8", Encoding: "8bit"}
}

// oddMails are mails no template reads, or that cannot be read at all.
func oddMails() []genMail {
	var out []genMail
	subject := "Qoo10の注文のお知らせです。(注文番号: 987654321)"

	// The StockGear order's lines in another order, one missing, two
	// unknown ones added: the fallback reads them.
	shuffled := `お客様から下記の注文が入りましたのでお知らせいたします。

■注文商品の情報
商品名: ㈱ミナト製 ステンレスボトル①号（500ml）(BTL-001)
数量: 2
注文番号: 987654321
販売価格: ¥ 1,980
オプション: サイズ:S〜M(SZ-SM)
ポイント利用: 120
商品番号: 1122334455

■注文者の情報
Eメールアドレス: hanako@example.jp
氏名 (フリガナ): タカハシ ハナコ
氏名: 髙橋 花子

カート番号: 612345678
注文日時: 2026/11/20 21:04:55
送料: ¥ 800
販売者ID: shop_alpha
クーポン: 秋の感謝祭

■支払方法
クレジットカード
`
	out = append(out, genMail{name: "fallback-shuffled", mail: plainMail("shuffled", subject, shuffled)})

	// Generic label lines of every form, sections of every form, three
	// items by repeated labels, a continued address, operator labels.
	labels := `[<注文者]
[氏名] 佐藤 一郎
[電話番号] 080-1111-2222

【お届け先】
お名前：佐藤 花子
郵便番号：〒150-0001
住所：東京都渋谷区神宮前1-2-3
　　　サンプルビル４Ｆ
電話番号：03-9999-0000

■商品
商品名：りんご（青森産）(APL-1)
数量：3
販売価格：1,200円
商品名：みかん(ORG-2)
品番：ORG-2X
数量：1
販売価格：800円
商品名：ぶどう
数量：２個
販売価格：\2,000

お客様番号：C-778
ポイント：120
`
	out = append(out, genMail{name: "fallback-labels", mail: plainMail("labels", "Qoo10の発注のお知らせです。", labels)})

	// Values that are not numbers or dates: left unset, reported.
	v := sgOrder()
	v.Fields["ORDER_QTY"] = "二"
	v.Fields["ORDER_PRICE"] = "要確認"
	v.Fields["ORDER_TIME"] = "来週のどこか"
	v.Fields["DEL_HOPE_DATE"] = "指定なし"
	out = append(out, genMail{name: "stockgear-order-bad-numbers", mail: render("stockgear-order-unit", v, "bad-numbers")})

	// A subject the seller changed: classified by the body's wording.
	m := render("stockgear-order-unit", sgOrder(), "changed-subject")
	m.Subject = "新しい注文 987654321"
	out = append(out, genMail{name: "stockgear-order-changed-subject", mail: m})

	// Neither a template nor the subject tells the type: the body does.
	out = append(out, genMail{name: "fallback-body-classified", mail: plainMail("body-classified", "お知らせ (987654321)",
		"Qoo10をご利用いただきありがとうございます。\n下記の注文のキャンセル要求がありました。\n\n"+
			"カート番号：612345678\n注文番号：987654321\n商品名：ボトル(BTL-001)\nキャンセル理由：お届け日の都合\n"+
			"要求日時：2026-11-21 10:00\n")})

	// An operator template: wave dash in its literal text, placeholders
	// named in the config, two values separated by a space.
	acme := plainMail("acme", "【ACME】発送依頼 A-5001", "【ACMEショップ】発送依頼\n受注番号～A-5001\nお客様：中村 美咲 様\n"+
		"お届け先：〒530-0001 大阪府大阪市北区梅田1-1-1\n品番：ACME-77\n数量：3個\n担当：山田\n")
	acme.From = "ACME <noreply@acme.example>"
	acme.Charset = "iso-2022-jp"
	acme.Encoding = "7bit"
	out = append(out, genMail{name: "operator-template", mail: acme})

	// An operator class rule: the subject names a category no built-in
	// rule knows.
	out = append(out, genMail{name: "operator-class-rule", mail: plainMail("class", "Qoo10 受取確認のお知らせ",
		"販売者ID: shop_alpha\nカート番号: 612345678\n注文番号: 987654321\n受取確認日: 2026/12/01 08:00\n")})

	// Not from Qoo10, though it speaks of an order: unrecognized.
	other := plainMail("other", "【ABCショップ】ご注文のお知らせ", "ABCショップをご利用いただきありがとうございます。\n\n"+
		"ご注文番号: A-1001\n商品名: 特選 緑茶ティーバッグ\n数量: 1\n合計: 1,080円\n")
	other.From, other.MessageID = "ABC <shop@abc.example>", "other@abc.example"
	out = append(out, genMail{name: "non-qoo10", mail: other})

	// No Content-Type at all, UTF-8 body.
	out = append(out, genMail{name: "no-content-type-utf8", raw: "From: qoo10info@qoo10.jp\nTo: orders@in.example.test\n" +
		"Subject: =?UTF-8?B?UW9vMTDjga7nmbrms6jjga7jgYrnn6XjgonjgZvjgafjgZnjgII=?=\nMessage-ID: <noct@qoo10.jp>\n\n" +
		"販売者ID: shop_alpha\n注文番号: 987654321\n商品名: ボトル(BTL-001)\n数量: 1\n"})

	// Broken MIME: a bad base64 part and a boundary never closed.
	out = append(out, genMail{name: "broken-mime", raw: "From: Qoo10 <qoo10info@qoo10.jp>\nTo: orders@in.example.test\n" +
		"Subject: =?ISO-2022-JP?B?UW9vMTAbJEIkTkNtSjgkTiQqQ04kaSQ7JEckOSEjGyhC?=\nMessage-ID: <broken@qoo10.jp>\n" +
		"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n" +
		"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" +
		mustBase64("販売者ID: shop_alpha\nカート番号: 612345678\n注文番号: 987654321\n数量: 1\n") + "\n!!!not base64***\n" +
		"--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAA\n"})

	// A Content-Type enmime rejects: the header is read and the body taken
	// as the text it declares, after its transfer encoding.
	jis, _ := mailgen.Encode("iso-2022-jp", "販売者ID: shop_alpha\nカート番号: 612345678\n注文番号: 987654321\n商品名: ボトル(BTL-001)\n数量: 1\n")
	out = append(out, genMail{name: "broken-content-type", raw: "From: Qoo10 <qoo10info@qoo10.jp>\nTo: orders@in.example.test\n" +
		"Subject: =?ISO-2022-JP?B?UW9vMTAbJEIkTkNtSjgkTiQqQ04kaSQ7JEckOSEjGyhC?=\nMessage-ID: <broken-ct@qoo10.jp>\n" +
		"Content-Type: te xt/plain; charset=\"ISO-2022-JP\"\nContent-Transfer-Encoding: base64\n\n" + base64.StdEncoding.EncodeToString(jis) + "\n"})

	out = append(out, genMail{name: "not-a-message", raw: "ご注文ありがとうございます\nthis has no header\n"})

	var nested strings.Builder
	nested.WriteString("From: a@example.test\nSubject: deep\nMIME-Version: 1.0\n")
	for i := range 12 {
		nested.WriteString("Content-Type: multipart/mixed; boundary=\"n" + string(rune('a'+i)) + "\"\n\n--n" + string(rune('a'+i)) + "\n")
	}
	nested.WriteString("Content-Type: text/plain\n\ndeep\n")
	out = append(out, genMail{name: "too-complex", raw: nested.String()})
	return out
}

func mustBase64(s string) string {
	w, err := mailgen.EncodeWord(s, "utf-8", 'B', 1000)
	if err != nil {
		panic(err)
	}
	return strings.TrimSuffix(strings.TrimPrefix(w, "=?utf-8?B?"), "?=")
}
