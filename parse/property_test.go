package parse

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/internal/mailgen"
)

// TestPropertyRoundTrip renders every built-in template with random values
// (Japanese names with CP932 extras, codes in parentheses, empty optional
// fields, 1 to 20 cart lines) in a random charset and transfer encoding,
// and checks that Parse reads back every rendered value.
func TestPropertyRoundTrip(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	fallbackOnly := fallbackOnlyParser(t)
	rounds := 60
	if testing.Short() {
		rounds = 10
	}
	for _, src := range builtinTemplates() {
		for i := range rounds {
			g := newValueGen(rng)
			v := g.values(src)
			charset := []string{"iso-2022-jp", "shift_jis", "euc-jp", "utf-8", "cp50220"}[rng.IntN(5)]
			cte := []string{"7bit", "base64", "quoted-printable"}[rng.IntN(3)]
			if cte == "7bit" && charset != "iso-2022-jp" && charset != "cp50220" {
				cte = "8bit"
			}
			m := mailgen.Mail{From: qoo10From, To: "o@example.test", MessageID: "p@x", Charset: charset, Encoding: cte,
				Subject: mailgen.Render(src.Subject, v), Body: mailgen.Render(src.Body, v) + "\n",
				CRLF: rng.IntN(2) == 0, SubjectChunk: rng.IntN(12)}
			if charset == "cp50220" {
				m.SubjectCharset = "iso-2022-jp"
			}
			raw, err := m.Bytes()
			if err != nil {
				t.Fatalf("%s #%d: %v", src.Name, i, err)
			}
			r := p.Parse(raw)
			where := fmt.Sprintf("%s #%d (%s/%s, seed %d)", src.Name, i, charset, cte, seed)
			if r.Parser != parserTemplate || r.Template != src.Name || r.Type != builtinTypes[src.Name] {
				t.Fatalf("%s: parser %q template %q type %q; body:\n%s", where, r.Parser, r.Template, r.Type, m.Body)
			}
			for _, w := range g.want {
				if w.value == "" {
					continue
				}
				got := fieldValue(&r.Order, w.path, w.item)
				if charset != "utf-8" {
					w.value = strings.ReplaceAll(w.value, "〜", "～") // JIS 0x2141 decodes as U+FF5E
				}
				if got != w.value {
					t.Errorf("%s: %s[%d] = %q, want %q", where, w.path, w.item, got, w.value)
				}
			}
			if wantItems := g.items; len(r.Order.Items) != wantItems {
				t.Errorf("%s: %d items, want %d", where, len(r.Order.Items), wantItems)
			}
			if len(r.Problems) > 0 {
				t.Errorf("%s: problems %q", where, r.Problems)
			}
			// The fallback, which reads real mails that differ from the
			// templates, must find the same order.
			if f := fallbackOnly.Parse(raw); orderData(f.Order) != orderData(r.Order) || f.Type != r.Type {
				t.Errorf("%s: fallback read %s (%s)\ntemplate read %s (%s)\nbody:\n%s", where,
					orderData(f.Order), f.Type, orderData(r.Order), r.Type, m.Body)
			}
		}
	}
}

type wantValue struct {
	path  string
	item  int
	value string // normalized, as fieldValue prints it
}

// valueGen makes random values for one rendering and records what Parse
// must read back.
type valueGen struct {
	rng   *rand.Rand
	want  []wantValue
	items int
}

func newValueGen(rng *rand.Rand) *valueGen { return &valueGen{rng: rng} }

func (g *valueGen) values(src TemplateSource) mailgen.Values {
	v := mailgen.Values{Fields: map[string]string{}, Loops: map[string][]map[string]string{}}
	names := placeholderPattern.FindAllStringSubmatch(src.Subject+"\n"+src.Body, -1)
	loopBody := ""
	if i := strings.Index(src.Body, "##ISLOOP_S_ORDER_ITEM_S_ISLOOP##"); i >= 0 {
		loopBody = src.Body[i:strings.Index(src.Body, "##ISLOOP_END##")]
	}
	shared := map[string]bool{}
	for _, m := range names {
		name := m[1] + m[2]
		if shared[name] || (loopBody != "" && strings.Contains(loopBody, m[0])) {
			continue
		}
		shared[name] = true
		raw, wantV := g.value(name, src)
		v.Fields[name] = raw
		path := builtinPlaceholders[name]
		if loopBody != "" && cartLevel[path] != "" {
			path = cartLevel[path]
		}
		g.expect(path, 0, name, raw, wantV)
	}
	g.items = 1
	if loopBody != "" {
		g.items = 1 + g.rng.IntN(20)
		for it := range g.items {
			line := map[string]string{}
			for _, m := range placeholderPattern.FindAllStringSubmatch(loopBody, -1) {
				name := m[1] + m[2]
				raw, wantV := g.value(name, src)
				line[name] = raw
				g.expect(builtinPlaceholders[name], it, name, raw, wantV)
			}
			v.Loops["ORDER_ITEM"] = append(v.Loops["ORDER_ITEM"], line)
		}
	}
	// Also memo lines of the CROSS MALL inline loop.
	if strings.Contains(src.Body, "ISLOOP_S_DEL_MEMO_S_ISLOOP") {
		raw, wantV := g.value("DEL_MEMO", src)
		v.Fields["DEL_MEMO"] = raw
		g.expect("shipping_message", 0, "DEL_MEMO", raw, wantV)
	}
	return v
}

func (g *valueGen) expect(path string, item int, name, raw, want string) {
	switch path {
	case "items.title":
		text, code := splitCodeForTest(raw)
		g.want = append(g.want, wantValue{path, item, text}, wantValue{"items.seller_item_code", item, code})
	case "items.option":
		text, code := splitCodeForTest(raw)
		g.want = append(g.want, wantValue{path, item, text}, wantValue{"items.option_code", item, code})
	default:
		g.want = append(g.want, wantValue{path, item, want})
	}
}

// splitCodeForTest knows how the generator built a title: "text(code)".
func splitCodeForTest(s string) (string, string) {
	if i := strings.LastIndex(s, "("); i > 0 && strings.HasSuffix(s, ")") {
		return s[:i], s[i+1 : len(s)-1]
	}
	return s, ""
}

var (
	familyNames = []string{"髙橋", "渡邊", "佐藤", "山﨑", "齋藤", "鈴木", "ｻﾄｳ", "Smith"}
	givenNames  = []string{"花子", "一郎", "①子", "ジロウ", "美咲", "太郎"}
	words       = []string{"ステンレスボトル", "㈱ミナト製", "長袖Tシャツ", "りんご", "タオル", "ノート", "Ｔシャツ", "〜限定〜"}
)

func (g *valueGen) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *valueGen) code() string {
	const alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
	var b strings.Builder
	for i := range 3 + g.rng.IntN(8) {
		if i > 1 && g.rng.IntN(6) == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(alnum[g.rng.IntN(len(alnum))])
	}
	return b.String()
}

func (g *valueGen) digits(n int) string {
	var b strings.Builder
	b.WriteByte(byte('1' + g.rng.IntN(9)))
	for range n - 1 {
		b.WriteByte(byte('0' + g.rng.IntN(10)))
	}
	return b.String()
}

// value returns the rendered text of a placeholder and what Parse must
// read from it.
func (g *valueGen) value(name string, src TemplateSource) (raw, want string) {
	optional := g.rng.IntN(4) == 0
	switch name {
	case "SELLER_ID":
		s := strings.ToLower(g.code())
		return s, s
	case "PACK_NO", "ORDER_NO", "ITEM_NO":
		s := g.digits(6 + g.rng.IntN(4))
		return s, s
	case "BUYER_NM", "RECEIVER_NM":
		s := g.pick(familyNames) + " " + g.pick(givenNames)
		return s, s
	case "BUYER_NM_JA", "RECEIVER_NM_JA":
		return "タカハシ ハナコ", "タカハシ ハナコ"
	case "BUYER_TEL_NO", "RECEIVER_TEL_NO":
		s := "0" + g.digits(2) + "-" + g.digits(4) + "-" + g.digits(4)
		return s, s
	case "RECEIVER_MOBILE_NO":
		if optional {
			return "", ""
		}
		return "０９０－１２３４－５６７８", "090-1234-5678"
	case "BUYER_EMAIL":
		s := strings.ToLower(g.code()) + "@example.jp"
		return s, s
	case "ZIP_CODE":
		s := g.digits(3) + "-" + g.digits(4)
		return "〒" + s, s
	case "ADDRESS":
		s := "東京都渋谷区神宮前1-2-3 " + g.pick(words) + "ビル"
		return s, s
	case "ITEM_NM":
		s := g.pick(words) + g.pick([]string{"", "（大）", " 第2弾", "(赤)"})
		if g.rng.IntN(3) > 0 {
			s += "(" + g.code() + ")"
		}
		return s, s
	case "OPTION_INFO":
		if optional {
			return "", ""
		}
		s := "色:" + g.pick([]string{"赤", "白", "S〜M", "ネイビー（濃）"})
		if g.rng.IntN(2) == 0 {
			s += "(" + g.code() + ")"
		}
		return s, s
	case "ORDER_QTY":
		n := 1 + g.rng.IntN(99)
		return strconv.Itoa(n), strconv.Itoa(n)
	case "ORDER_PRICE", "TOTAL_PRICE", "DELIVERY_FEE", "DISCOUNT":
		if name == "DISCOUNT" && optional {
			return "", ""
		}
		n := g.rng.IntN(2_000_000)
		return commas(n), strconv.Itoa(n)
	case "ORDER_TIME", "ORDER_DATE", "PAYMENT_TIME", "REQUEST_TIME", "CLAIM_COMPLETE_TIME", "COMPLETE_TIME":
		return g.dateTime()
	case "DEL_HOPE_DATE", "DEL_HOPE_DATE_YYYYMMDD":
		if optional {
			return "", ""
		}
		raw, want = g.dateTime()
		return raw, want[:10]
	case "DEL_HOPE_TIME_ZONE", "DEL_HOPE_DATE_TIME_ZONE":
		if optional {
			return "", ""
		}
		s := g.pick([]string{"午前中", "14時〜16時", "18:00-20:00"})
		return s, s
	case "DEL_MEMO":
		if optional {
			return "", ""
		}
		lines := []string{"置き配希望", "不在時は宅配ボックスへ", "のし：御歳暮", "ギフト包装"}[:1+g.rng.IntN(4)]
		s := strings.Join(lines, "\n")
		return s, s
	case "PAYMENT_METHOD":
		s := g.pick([]string{"クレジットカード", "コンビニ決済", "Qoo10ポイント", "楽天ペイ（オンライン決済）"})
		return s, s
	case "DELIVERY_OPTION", "DEL_OPTION":
		s := g.pick([]string{"宅配便", "ゆうパケット", "ネコポス(メール便)"})
		return s, s
	case "CLAIM_REASON":
		s := g.pick([]string{"購入者都合（サイズ違い）", "在庫切れ", "配送遅延のため"})
		return s, s
	}
	panic("no generator for placeholder " + name + " of " + src.Name)
}

// dateTime renders a random time in one of the four forms Qoo10 uses.
func (g *valueGen) dateTime() (raw, want string) {
	t := time.Date(2020+g.rng.IntN(10), time.Month(1+g.rng.IntN(12)), 1+g.rng.IntN(28),
		g.rng.IntN(24), g.rng.IntN(60), g.rng.IntN(60), 0, jst)
	switch g.rng.IntN(4) {
	case 0:
		return t.Format("2006/01/02 15:04:05"), t.Format(time.RFC3339)
	case 1:
		t = t.Truncate(time.Minute)
		return t.Format("2006-01-02 15:04"), t.Format(time.RFC3339)
	case 2:
		return t.Format("20060102"), t.Format(time.DateOnly)
	}
	return t.Format("2006年01月02日"), t.Format(time.DateOnly)
}

func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// fieldValue prints the value of a field path of o, "" when unset.
func fieldValue(o *event.Order, path string, item int) string {
	num := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	group, name, _ := strings.Cut(path, ".")
	switch group {
	case "items":
		if item >= len(o.Items) {
			return ""
		}
		it := o.Items[item]
		return map[string]string{"order_no": it.OrderNo, "item_no": it.ItemNo, "title": it.Title,
			"seller_item_code": it.SellerItemCode, "option": it.Option, "option_code": it.OptionCode,
			"qty": num(it.Qty), "price": num(it.Price), "discount": num(it.Discount), "total": num(it.Total)}[name]
	case "buyer", "receiver":
		p := o.Buyer
		if group == "receiver" {
			p = o.Receiver
		}
		if p == nil {
			return ""
		}
		return *personString(p, name)
	}
	switch path {
	case "shipping_rate":
		return num(o.ShippingRate)
	case "total_price":
		return num(o.TotalPrice)
	case "settle_price":
		return num(o.SettlePrice)
	}
	return *orderString(o, path)
}
