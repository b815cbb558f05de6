package parse

import (
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/internal/mailgen"
)

// smokeBody is the StockGear order mail that the contract smoke check
// sends; it must parse to exactly the values that check asserts.
const smokeBody = `いつもQoo10をご利用いただきまして誠にありがとうございます。
お客様から下記の注文が入りましたのでお知らせいたします。

販売者ID: smoke_shop
カート番号: 500100200
送料: ¥ 770
注文日時: 2026/10/01 12:34:56

■注文者の情報
氏名: 山本 次郎
氏名 (フリガナ): ヤマモト ジロウ
電話番号: 090-0000-1111
Eメールアドレス: jiro@example.com

■支払方法
クレジットカード

■注文商品の情報
注文番号: 800900100
商品番号: 123456789
商品名: テスト商品(SMK-1)
オプション: 色:白(SMK-1-WH)
数量: 2
販売価格: ¥ 1,500
注文金額の合計: ¥ 3,000

■配送情報
配送方法: 宅配便
`

func TestContractSmoke(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range []string{"iso-2022-jp", "utf-8"} {
		t.Run(cs, func(t *testing.T) {
			raw, err := mailgen.Mail{
				From: "Qoo10 <qoo10info@qoo10.jp>", To: "orders@in.example.test",
				Subject: "Qoo10の注文のお知らせです。(注文番号: 800900100)", MessageID: "smoke.1@qoo10.jp",
				Date: time.Date(2026, 10, 1, 12, 35, 0, 0, time.FixedZone("", 9*3600)),
				Body: smokeBody, Charset: cs, Encoding: "7bit",
			}.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if cs == "utf-8" {
				raw, _ = mailgen.Mail{From: "Qoo10 <qoo10info@qoo10.jp>", To: "orders@in.example.test",
					Subject: "Qoo10の注文のお知らせです。(注文番号: 800900100)", MessageID: "smoke.1@qoo10.jp",
					Body: smokeBody, Charset: cs, Encoding: "base64"}.Bytes()
			}
			r := p.Parse(raw)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			o := r.Order
			if r.Type != event.OrderPlaced || r.Parser != "template" || r.Template != "stockgear-order-unit" {
				t.Errorf("type %q parser %q template %q", r.Type, r.Parser, r.Template)
			}
			if len(o.Items) != 1 {
				t.Fatalf("items = %+v", o.Items)
			}
			it := o.Items[0]
			check := func(name string, got, want any) {
				t.Helper()
				if got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			check("seller_id", o.SellerID, "smoke_shop")
			check("pack_no", o.PackNo, "500100200")
			check("shipping_rate", deref(o.ShippingRate), int64(770))
			check("buyer.kana", o.Buyer.Kana, "ヤマモト ジロウ")
			check("buyer.name", o.Buyer.Name, "山本 次郎")
			check("order_no", it.OrderNo, "800900100")
			check("title", it.Title, "テスト商品")
			check("seller_item_code", it.SellerItemCode, "SMK-1")
			check("option", it.Option, "色:白")
			check("option_code", it.OptionCode, "SMK-1-WH")
			check("qty", deref(it.Qty), int64(2))
			check("price", deref(it.Price), int64(1500))
			check("total", deref(it.Total), int64(3000))
			check("order_date", o.OrderDate, "2026-10-01T12:34:56+09:00")
			check("payment_method", o.PaymentMethod, "クレジットカード")
			check("shipping_way", o.ShippingWay, "宅配便")
			check("currency", o.Currency, "JPY")
			check("message_id", r.MessageID, "smoke.1@qoo10.jp")
			check("subject", r.Subject, "Qoo10の注文のお知らせです。(注文番号: 800900100)")
			check("from", r.From, "Qoo10 <qoo10info@qoo10.jp>")
			if len(r.Problems) != 0 {
				t.Errorf("problems: %q", r.Problems)
			}
		})
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
