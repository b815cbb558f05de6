package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/mailgen"
	"github.com/qoo10hook/qoo10hook/parse"
)

// generator renders mails from the built-in templates with varied values,
// charsets and transfer encodings, as Qoo10 and forwarders send them.
type generator struct {
	rng       *rand.Rand
	size      int
	templates []parse.TemplateSource
	// hotSKU makes every mail order the same item and option, as in a
	// flash sale: one SKU whose stock adjustments are delivered in order.
	hotSKU bool
}

type generated struct {
	orderNo string
	raw     []byte
}

func newGenerator(seed uint64, size int, hotSKU bool) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, 2)), size: size, templates: parse.BuiltinTemplates(), hotSKU: hotSKU}
}

var (
	names       = []string{"佐藤 花子", "髙橋 一郎", "山田 太郎", "渡邉 美咲", "鈴木 ①子"}
	kana        = []string{"サトウ ハナコ", "タカハシ イチロウ", "ヤマダ タロウ", "ワタナベ ミサキ"}
	titles      = []string{"綿100％ 長袖Tシャツ（メンズ）(TS-%03d)", "ステンレス水筒 500ml(BT-%03d)", "㈱テスト 収納ボックス(BX-%03d)"}
	optionTexts = []string{"カラー:ネイビー/サイズ:L(OP-%03d-NV)", "容量:500ml(OP-%03d)", ""}
	charsets    = []string{"iso-2022-jp", "iso-2022-jp", "utf-8", "shift_jis", "euc-jp"}
	encodings   = map[string][]string{"iso-2022-jp": {"7bit", "base64"}, "utf-8": {"8bit", "base64", "quoted-printable"},
		"shift_jis": {"8bit", "base64"}, "euc-jp": {"8bit", "quoted-printable"}}
)

// mail renders mail number i; its first order number identifies it.
func (g *generator) mail(i int) (generated, error) {
	src := g.templates[i%len(g.templates)]
	orderNo := fmt.Sprintf("9%08d", i)
	pick := func(s []string) string { return s[g.rng.IntN(len(s))] }
	n := g.rng.IntN(900) + 100
	option := fmt.Sprintf(pick(optionTexts), n)
	if g.hotSKU {
		n, option = 777, "カラー:ネイビー/サイズ:L(OP-777-NV)"
	}
	f := map[string]string{
		"SELLER_ID": "load_shop", "PACK_NO": fmt.Sprintf("7%08d", i), "ORDER_NO": orderNo,
		"ITEM_NO": fmt.Sprint(1000000000 + n), "ITEM_NM": fmt.Sprintf(pick(titles), n),
		"OPTION_INFO": option, "ORDER_QTY": fmt.Sprint(1 + g.rng.IntN(3)),
		"ORDER_PRICE": "1,980", "TOTAL_PRICE": "3,960", "DISCOUNT": "", "DELIVERY_FEE": "550", "DEL_OPTION": "宅配便",
		"DELIVERY_OPTION": "宅配便", "ORDER_TIME": "2026/11/20 21:04:55", "ORDER_DATE": "2026/11/20 21:04:55",
		"PAYMENT_TIME": "2026/11/20 21:10:00", "REQUEST_TIME": "2026/11/21 09:00:00", "CLAIM_COMPLETE_TIME": "2026/11/21 10:00:00",
		"COMPLETE_TIME": "2026/11/28 10:00:00", "CLAIM_REASON": "お客様都合", "PAYMENT_METHOD": "クレジットカード",
		"BUYER_NM": pick(names), "BUYER_NM_JA": pick(kana), "BUYER_TEL_NO": "090-1234-5678", "BUYER_EMAIL": "buyer@example.jp",
		"RECEIVER_NM": pick(names), "RECEIVER_NM_JA": pick(kana), "RECEIVER_TEL_NO": "03-1234-5678", "RECEIVER_MOBILE_NO": "",
		"ZIP_CODE": "100-0001", "ADDRESS": "東京都千代田区千代田1-1", "DEL_HOPE_DATE": "2026/11/25", "DEL_HOPE_DATE_YYYYMMDD": "20261125",
		"DEL_HOPE_TIME_ZONE": "", "DEL_HOPE_DATE_TIME_ZONE": "", "DEL_MEMO": g.memo(),
	}
	v := mailgen.Values{Fields: f, Loops: map[string][]map[string]string{
		"ORDER_ITEM": {{"ORDER_NO": orderNo, "ITEM_NO": f["ITEM_NO"], "ITEM_NM": f["ITEM_NM"], "OPTION_INFO": f["OPTION_INFO"],
			"ORDER_QTY": f["ORDER_QTY"], "ORDER_PRICE": f["ORDER_PRICE"]}},
	}}
	// A cart mail's first order number is its order line's.
	if strings.Contains(src.Subject, "S_PACK_NO_S") {
		f["PACK_NO"] = orderNo
	}
	cs := pick(charsets)
	m := mailgen.Mail{From: "Qoo10 <qoo10info@qoo10.jp>", To: "orders@localhost", MessageID: "load." + orderNo + "@qoo10.jp",
		Date: time.Date(2026, 11, 20, 21, 5, 0, 0, time.FixedZone("JST", 9*3600)), Subject: mailgen.Render(src.Subject, v),
		Body: mailgen.Render(src.Body, v) + "\n", Charset: cs, Encoding: pick(encodings[cs]), CRLF: true}
	raw, err := m.Bytes()
	return generated{orderNo: orderNo, raw: raw}, err
}

// memo is a shipping note that brings the mail near the wanted size.
func (g *generator) memo() string {
	if g.size <= 0 {
		return "不在時は宅配ボックスへ"
	}
	line := "不在時は宅配ボックスへお願いします。"
	return strings.Repeat(line, max(1, (g.size-1500)/(len(line)+4)))
}
