package parse

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/text/encoding/japanese"

	"github.com/qoo10hook/qoo10hook/event"
)

func TestParseDate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		dateOnly bool
		want     string
		ok       bool
	}{
		{"2026/11/20 21:04:55", false, "2026-11-20T21:04:55+09:00", true},
		{"2026-11-20 21:04", false, "2026-11-20T21:04:00+09:00", true},
		{"20261125", false, "2026-11-25", true},
		{"2026年11月25日", false, "2026-11-25", true},
		{"２０２６年１１月２５日（水）", false, "2026-11-25", true},
		{"2026/1/5 9:03", false, "2026-01-05T09:03:00+09:00", true},
		{"2026/11/20 21:04:55", true, "2026-11-20", true},
		{"20261125210455", false, "2026-11-25T21:04:55+09:00", true},
		{"2026/02/30", false, "", false},
		{"2026/11/20 25:00", false, "", false},
		{"来週", false, "", false},
		{"11/20", false, "", false},
		{"", false, "", false},
	}
	for _, tt := range tests {
		got, ok := parseDate(tt.in, tt.dateOnly)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseDate(%q, %v) = %q, %v; want %q, %v", tt.in, tt.dateOnly, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseYen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"¥ 1,980", 1980, true},
		{"￥1,980", 1980, true},
		{"1,980円", 1980, true},
		{"\\1,980", 1980, true}, // JIS X 0201 yen decoded as a backslash
		{"１，９８０円", 1980, true},
		{"1 980", 1980, true},
		{"-200", -200, true},
		{"1,980円(税込)", 1980, true},
		{"要確認", 0, false},
		{"", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseYen(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseYen(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSplitTrailingCode(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, text, code string }{
		{"長袖Tシャツ(TS-001)", "長袖Tシャツ", "TS-001"},
		{"長袖Tシャツ（白）", "長袖Tシャツ（白）", ""},
		{"長袖Tシャツ（白）(TS-001)", "長袖Tシャツ（白）", "TS-001"},
		{"箱(大)(BOX-(L))", "箱(大)", "BOX-(L)"},
		{"色:白(ＳＭＫ－１)", "色:白", "SMK-1"},
		{"(TS-001)", "(TS-001)", ""},
		{"商品()", "商品()", ""},
		{"商品 (A1) ", "商品", "A1"},
		{"))((", "))((", ""},
	}
	for _, tt := range tests {
		text, code := splitTrailingCode(tt.in)
		if text != tt.text || code != tt.code {
			t.Errorf("splitTrailingCode(%q) = %q, %q; want %q, %q", tt.in, text, code, tt.text, tt.code)
		}
	}
}

func TestDecodeHeader(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		// One character's bytes split across two words.
		{"=?UTF-8?B?44GT44KT?= =?UTF-8?B?44Gr?= =?UTF-8?B?44Gh44Gv?=", "こんにちは"},
		{"=?utf-8?B?4w==?=\n =?utf-8?B?gZPjgpPjgavjgaHjga8=?=", "こんにちは"},
		{"=?ISO-2022-JP?B?GyRCJDMkcxsoQg==?= =?ISO-2022-JP?B?GyRCJEskQSRPGyhC?=", "こんにちは"},
		{"=?ISO-2022-JP-MS?B?GyRCLSEtahsoQg==?=", "①㈱"},
		{"=?CP50220?Q?=1B$B|b=1B(B?=", "髙"},
		{"=?shift_jis?B?g1eDg4Nwg5M=?=", "ジャパン"},
		{"Re: =?utf-8?q?caf=C3=A9?= ok", "Re: café ok"},
		{"=?unknown?B?YWJj?=", "abc"},
		{"=?utf-8?B?broken", "=?utf-8?B?broken"},
		{"\x1b$B$3$s\x1b(B", "こん"}, // raw ISO-2022-JP outside encoded-words
	}
	for _, tt := range tests {
		if got := decodeHeader(tt.in); got != tt.want {
			t.Errorf("decodeHeader(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFoldedLiteralMatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		template, line string
		want           []string
	}{
		{"送料: ¥ [$_DELIVERY_FEE_$]", "送料：￥８００", []string{"８００"}},
		{"送料: ¥ [$_DELIVERY_FEE_$]", "送料: 800", []string{"800"}},
		{"送料: ¥ [$_DELIVERY_FEE_$]", "送料: \\ 800  ", []string{"800"}},
		{"[販売価格] [S_ORDER_PRICE_S]円", "[販売価格] 1,980", []string{"1,980"}},
		{"[販売価格] [S_ORDER_PRICE_S]円", "［販売価格］１，９８０円", []string{"１，９８０"}},
		{"氏名 (フリガナ): [$_BUYER_NM_JA_$]", "氏名（フリガナ）：ヤマダ タロウ", []string{"ヤマダ タロウ"}},
		{"受注番号〜[$_ORDER_NO_$]", "受注番号～A-1", []string{"A-1"}},
		{"〒[$_ZIP_$] [$_ADDR_$]", "〒150-0001 東京都 渋谷区", []string{"150-0001", "東京都 渋谷区"}},
		{"[$_A_$] / [$_B_$]", "x y / z", []string{"x y", "z"}},
	}
	for _, tt := range tests {
		l, err := compileLine(tt.template, 1, builtinPlaceholders)
		if err != nil {
			t.Fatal(err)
		}
		got, _, ok := extractLine(l, tt.line)
		if !ok || !slices.Equal(got, tt.want) {
			t.Errorf("%q on %q = %q, %v; want %q", tt.template, tt.line, got, ok, tt.want)
		}
	}
	l, _ := compileLine("販売者ID: [$_SELLER_ID_$]", 1, nil)
	if _, _, ok := extractLine(l, "販売者名: x"); ok {
		t.Error("matched a different label")
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"unterminated", Options{Templates: []TemplateSource{{Name: "t1", Body: "a\n氏名: [$_BUYER_NM"}}}, `template "t1" line 2 column 5: unterminated placeholder`},
		{"loop end alone", Options{Templates: []TemplateSource{{Name: "t2", Body: "x: [$_A_$]\n##ISLOOP_END##"}}}, `template "t2" line 2: ##ISLOOP_END## without a loop`},
		{"nested loops", Options{Templates: []TemplateSource{{Name: "t3", Body: "##ISLOOP_X_ISLOOP##\n##ISLOOP_Y_ISLOOP##\nx: [$_A_$]\n##ISLOOP_END##\n##ISLOOP_END##"}}}, `template "t3" line 5: ##ISLOOP_END## without a loop`},
		{"adjacent", Options{Templates: []TemplateSource{{Name: "t4", Body: "x\n\ny: [$_A_$][$_B_$]"}}}, `template "t4" line 3 column 4: placeholders A and B need text`},
		{"no placeholder", Options{Templates: []TemplateSource{{Name: "t5", Body: "hello"}}}, `template "t5": body has no placeholder`},
		{"bad type", Options{Templates: []TemplateSource{{Name: "t6", Type: "order.shipped", Body: "x: [$_A_$]"}}}, `template "t6": type "order.shipped"`},
		{"twice", Options{Templates: []TemplateSource{{Name: "t", Body: "x: [$_A_$]"}, {Name: "t", Body: "x: [$_A_$]"}}}, `template "t": defined twice`},
		{"label path", Options{Labels: map[string]string{"お名前": "buyer.nam"}}, `label "お名前": unknown field path "buyer.nam"`},
		{"placeholder path", Options{Placeholders: map[string]string{"X": "items.sku"}}, `placeholder "X": unknown field path "items.sku"`},
		{"class type", Options{Classes: []ClassRule{{Type: event.InventoryAdjusted, Subject: "x"}}}, `class rule 1: type "inventory.adjusted"`},
		{"class empty", Options{Classes: []ClassRule{{Type: event.OrderPaid}}}, `class rule 1 (order.paid): needs a subject or a body`},
	}
	for _, tt := range tests {
		_, err := New(tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestFieldPaths(t *testing.T) {
	t.Parallel()
	paths := FieldPaths()
	for _, want := range []string{"buyer.name", "receiver.zip", "items.seller_item_code", "shipping_rate", "fields"} {
		if !slices.Contains(paths, want) {
			t.Errorf("FieldPaths lacks %q", want)
		}
	}
	if !slices.IsSorted(paths) {
		t.Error("FieldPaths not sorted")
	}
	for name, path := range builtinPlaceholders {
		if !slices.Contains(paths, path) {
			t.Errorf("placeholder %s maps to unknown path %q", name, path)
		}
	}
	for label, path := range builtinLabels {
		if _, ok := strings.CutPrefix(path, "person."); !ok && !slices.Contains(paths, path) {
			t.Errorf("label %s maps to unknown path %q", label, path)
		}
	}
}

func TestOperatorReplacesBuiltin(t *testing.T) {
	t.Parallel()
	p, err := New(Options{Templates: []TemplateSource{{Name: "stockgear-order-unit", Type: event.OrderPaid,
		Body: "ショップ: [$_SELLER_ID_$]\n受注: [$_ORDER_NO_$]"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Parse([]byte("Subject: x\n\nショップ: s1\n受注: 42\n"))
	if r.Template != "stockgear-order-unit" || r.Type != event.OrderPaid || r.Order.SellerID != "s1" || r.Order.Items[0].OrderNo != "42" {
		t.Errorf("got %+v", r)
	}
	if n := len(p.templates); n != len(builtinTemplates()) {
		t.Errorf("%d templates, want the replaced built-in gone", n)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	p, err := New(Options{MaxParts: 3})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]error{
		"":                 ErrNotMessage,
		"\r\n\r\n":         ErrNotMessage,
		"no header here\n": ErrNotMessage,
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b\n\ny\n--b\n\nz\n--b--\n": ErrTooComplex,
	} {
		r := p.Parse([]byte(in))
		if !errors.Is(r.Err, want) {
			t.Errorf("Parse(%q).Err = %v, want %v", in, r.Err, want)
		}
		if r.Order.Items == nil || r.Order.Fields == nil || r.Type != event.MailUnrecognized {
			t.Errorf("Parse(%q) = %+v", in, r)
		}
	}
}

// A panic inside Parse is recovered and reported, never raised.
func TestParseRecovers(t *testing.T) {
	t.Parallel()
	var p Parser // no MIME parser: reading panics
	r := p.Parse([]byte("Subject: x\n\nbody\n"))
	var ie *InternalError
	if !errors.As(r.Err, &ie) || len(ie.Stack) == 0 || !strings.Contains(r.Err.Error(), "internal error") {
		t.Fatalf("Err = %v", r.Err)
	}
	if r.Order.Items == nil || r.Order.Fields == nil {
		t.Error("nil items or fields")
	}
}

func TestParseConcurrent(t *testing.T) {
	t.Parallel()
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := benchMail(t, "crossmall-order-group")
	want := p.Parse(raw)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if got := p.Parse(raw); len(got.Order.Items) != len(want.Order.Items) || got.Order.PackNo != want.Order.PackNo {
					t.Error("concurrent parse differs")
				}
			}
		})
	}
	wg.Wait()
}

func TestClassify(t *testing.T) {
	t.Parallel()
	p, err := New(testOptions())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		subject, body string
		want          event.Type
	}{
		{"Qoo10の注文のお知らせです。", "注文番号: 1", event.OrderPlaced},
		{"ＱＯＯ１０の発注のお知らせです。", "注文番号: 1", event.OrderPaid},
		{"Qoo10のキャンセル要求のお知らせです。(注文番号: 1)", "注文番号: 1", event.OrderCancelRequested},
		{"Qoo10のキャンセル完了のお知らせです。", "注文番号: 1", event.OrderCancelled},
		{"Qoo10の取引完了のお知らせです。", "注文番号: 1", event.OrderCompleted},
		{"お知らせ", "Qoo10より\n取引が完了しました。\n注文番号: 1", event.OrderCompleted},
		{"Qoo10 受取確認", "注文番号: 1", event.OrderCompleted},             // operator rule
		{"ご注文のお知らせ", "注文番号: 1", event.MailUnrecognized},             // not Qoo10
		{"Qoo10の注文のお知らせです。", "ありがとうございます。", event.MailUnrecognized}, // no data
	}
	for _, tt := range tests {
		r := p.Parse([]byte("From: shop@example.test\nSubject: " + tt.subject + "\nContent-Type: text/plain; charset=utf-8\n\n" + tt.body + "\n"))
		if r.Type != tt.want {
			t.Errorf("%q / %q: type %q, want %q (problems %q)", tt.subject, tt.body, r.Type, tt.want, r.Problems)
		}
	}
}

// The quick ISO-2022-JP decoder must agree with x/text wherever it
// decodes at all.
func TestDecodeISO2022JPAgrees(t *testing.T) {
	t.Parallel()
	pieces := []string{"\x1b$B", "\x1b(B", "\x1b(J", "\x1b(I", "\x1b$@", "\x1b$(D", "\x1b", "!A", "-!", "|b", "$3",
		"\x7f\x7f", "1", "\\~", "abc ", "\n", "\r\n", "\x0e", "\x80", "\xff", "\x21", "\x7e\x7e", "\x22\x2f"}
	dec := japanese.ISO2022JP.NewDecoder()
	rng := rand.New(rand.NewPCG(1, 2))
	agreed := 0
	for range 20000 {
		var b strings.Builder
		for range 1 + rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		in := []byte(b.String())
		fast, ok := decodeISO2022JP(in)
		if !ok {
			continue
		}
		agreed++
		want, err := dec.Bytes(in)
		if err != nil || fast != string(want) {
			t.Fatalf("%q: quick %q, x/text %q (%v)", in, fast, want, err)
		}
	}
	if agreed < 1000 {
		t.Errorf("quick decoder took only %d inputs", agreed)
	}
	for r := byte(0x21); r <= 0x7e; r++ {
		for c := byte(0x21); c <= 0x7e; c++ {
			in := []byte{0x1b, '$', 'B', r, c, 0x1b, '(', 'B'}
			if fast, ok := decodeISO2022JP(in); ok {
				if want, _ := dec.Bytes(in); fast != string(want) {
					t.Fatalf("%x%x: quick %q, x/text %q", r, c, fast, want)
				}
			}
		}
	}
}

func TestHTMLToText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"送料: &yen; 800<br>数量: 2<BR/>合計: &#165;1,600", "送料: ¥ 800\n数量: 2\n合計: ¥1,600\n"},
		{"<p>a</p><p>b</p>", "a\n\nb\n"},
		{"<head><title>t</title><style>p{}</style></head><body>x<script>var y;</script></body>", "x\n"},
		{"<table><tr><td>販売者ID</td><td>shop</td></tr><tr><td>数量</td><td>2</td></tr></table>", "販売者ID: shop\n数量: 2\n"},
		{"line\n  wrapped   in source<br>next&nbsp;x", "line wrapped in source\nnext x\n"},
		{"<pre>a\n  b</pre>", "a\n  b\n"},
		{"<p>unclosed <b>bold", "unclosed bold\n"},
		// A label in a <th>, a colon in the label cell, a heading row over
		// two columns, a row of two pairs, a value over lines.
		{`<table><tr><td colspan="2">■注文者の情報</td></tr><tr><th>氏名：</th><td>髙橋 花子</td></tr>` +
			`<tr><th>電話番号</th><td>03-1234-5678</td><th>Eメール</th><td>h@example.jp</td></tr>` +
			`<tr><th>住所</th><td>東京都渋谷区<br>サンプルビル</td></tr></table>`,
			"■注文者の情報\n氏名: 髙橋 花子\n電話番号: 03-1234-5678\nEメール: h@example.jp\n住所: 東京都渋谷区\nサンプルビル\n"},
		// Nested tables: the inner rows are lines of their own.
		{`<table><tr><td><table><tbody><tr><td>カート番号</td><td>612345678</td></tr></tbody></table></td></tr>` +
			`<tr><td>送料</td><td>&yen;&#x20;800</td></tr></table>`, "カート番号: 612345678\n送料: ¥ 800\n"},
		// A table whose first row heads the columns.
		{`<table><tr><th>商品名</th><th>数量</th><th>販売価格</th></tr><tr><td>ボトル(B-1)</td><td>2</td><td>&#65509;1,980</td></tr></table>`,
			"商品名: ボトル(B-1)\n数量: 2\n販売価格: ￥1,980\n"},
		{"<dl><dt>カート番号</dt><dd>612345678</dd><div><dt>送料</dt><dd>&yen;800</dd></div></dl>", "カート番号: 612345678\n送料: ¥800\n"},
		{"<div>注文番号: 1</div><div>数量&#xFF1A;&#50;</div>", "注文番号: 1\n数量：2\n"},
	}
	for _, tt := range tests {
		if got := htmlToText(tt.in); got != tt.want {
			t.Errorf("htmlToText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestFoldStringFastPath: the ASCII fast path folds exactly as foldRune.
func TestFoldStringFastPath(t *testing.T) {
	for _, s := range []string{"", "ABC def\t\r\n", "Ａｂｃ　１２３", "¥\\1,980円", "ｶﾀｶﾅ〜～", "mixed A\\Ｂ ｃ\u00a0d", "\xff\xfeabc"} {
		var want []rune
		for _, r := range s {
			if !isSpace(r) {
				want = append(want, foldRune(r))
			}
		}
		if got := foldString(s); got != string(want) {
			t.Errorf("foldString(%q) = %q, want %q", s, got, string(want))
		}
	}
}

// One rule says whether a mail names Qoo10: the subjects, senders and
// bodies the parser, the classifier and the forward unwrapper all took as
// Qoo10's, and the folded comparison agrees with foldString.
func TestMentionsQoo10(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"Qoo10の注文", "qoo10info@qoo10.jp", "QOO10", "ＱＯＯ１０の発注", "ｑｏｏ１０",
		"Ｑｏｏ１０", "qOO10", "Ｑoo10", "Qoo 10", "from: ＱＯＯ１０ <x@y>"} {
		if !mentionsQoo10("", s) {
			t.Errorf("mentionsQoo10(%q) = false", s)
		}
	}
	for _, s := range []string{"", "Qoo", "Q0010", "qoo1", "ご注文のお知らせ", "qqoo1O"} {
		if mentionsQoo10(s) {
			t.Errorf("mentionsQoo10(%q) = true", s)
		}
	}
	pieces := []string{"q", "Q", "o", "O", "0", "1", "ｑ", "Ｑ", "ｏ", "Ｏ", "１", "０", " ", "\u3000", "\u00a0", "\t",
		"\n", "\\", "x", "注", "\xff", "\xe3"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		var b strings.Builder
		for range 1 + rng.IntN(10) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		if got, want := mentionsQoo10(s), strings.Contains(foldString(s), "qoo10"); got != want {
			t.Fatalf("mentionsQoo10(%q) = %v, foldString says %v", s, got, want)
		}
	}
}
