package app

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// order is the data a rendered test mail carries.
type order struct {
	MessageID, Seller, Pack, OrderNo string
}

// renderMail renders a Qoo10 notification of the given kind ("placed",
// "paid" or "cancelled") in UTF-8, as the built-in templates read it.
func renderMail(kind string, o order) []byte {
	var subject, body string
	switch kind {
	case "placed":
		subject = "Qoo10の注文のお知らせです。(注文番号: " + o.OrderNo + ")"
		body = `いつもQoo10をご利用いただきまして誠にありがとうございます。
お客様から下記の注文が入りましたのでお知らせいたします。

販売者ID: {SELLER}
カート番号: {PACK}
送料: ¥ 550
注文日時: 2026/11/20 21:04:55

■注文者の情報
氏名: 山田 太郎
氏名 (フリガナ): ヤマダ タロウ
電話番号: 090-1111-2222
Eメールアドレス: taro@example.jp

■支払方法
クレジットカード

■注文商品の情報
注文番号: {ORDER}
商品番号: 1122334455
商品名: テスト商品(TS-001)
オプション: 色:白(TS-001-WH)
数量: 2
販売価格: ¥ 1,000
注文金額の合計: ¥ 2,000

■配送情報
配送方法: 宅配便
`
	case "paid":
		subject = "Qoo10の発注のお知らせです。(注文番号: " + o.OrderNo + ")"
		body = `いつもQoo10をご利用いただきまして誠にありがとうございます。
下記の注文の決済が確認されました。商品の発送をお願いいたします。

販売者ID: {SELLER}
カート番号: {PACK}
注文番号: {ORDER}
注文日時: 2026/11/20 21:04:55
入金日時: 2026/11/20 21:10:00
送料: ¥ 550

■注文者の情報
氏名: 山田 太郎
氏名 (フリガナ): ヤマダ タロウ
電話番号: 090-1111-2222
Eメールアドレス: taro@example.jp

■お届け先
氏名: 山田 花子
氏名 (フリガナ): ヤマダ ハナコ
郵便番号: 100-0001
住所: 東京都千代田区千代田1-1
電話番号: 03-0000-1111

■注文商品の情報
商品番号: 1122334455
商品名: テスト商品(TS-001)
オプション: 色:白(TS-001-WH)
数量: 2
販売価格: ¥ 1,000
注文金額の合計: ¥ 2,000

■支払方法
クレジットカード

■配送情報
配送方法: 宅配便
`
	case "cancelled":
		subject = "Qoo10のキャンセル完了のお知らせです。(注文番号: " + o.OrderNo + ")"
		body = `いつもQoo10をご利用いただきまして誠にありがとうございます。
下記の注文のキャンセルが完了しました。

販売者ID: {SELLER}
カート番号: {PACK}
注文番号: {ORDER}
商品名: テスト商品(TS-001)
オプション: 色:白(TS-001-WH)
数量: 2
キャンセル完了日時: 2026/11/21 09:00:00
キャンセル理由: お客様都合
`
	default:
		panic("unknown mail kind " + kind)
	}
	body = strings.NewReplacer("{SELLER}", o.Seller, "{PACK}", o.Pack, "{ORDER}", o.OrderNo).Replace(body)
	head := fmt.Sprintf("From: Qoo10 <qoo10info@qoo10.jp>\r\nTo: orders@in.example.test\r\n"+
		"Subject: =?UTF-8?B?%s?=\r\nMessage-ID: <%s>\r\nDate: Fri, 20 Nov 2026 21:05:00 +0900\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
		b64(subject), o.MessageID)
	return []byte(head + strings.ReplaceAll(body, "\n", "\r\n"))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
