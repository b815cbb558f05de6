package parse

import (
	"strings"
	"testing"
)

func TestUnflow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		delSp bool
		want  string
	}{
		// DelSp=yes: the space before a soft break is deleted (Japanese).
		{"商品名: ㈱ミナト製 ステン \nレスボトル(BTL-001)\n数量: 2", true, "商品名: ㈱ミナト製 ステンレスボトル(BTL-001)\n数量: 2"},
		// DelSp=no: it stays (words).
		{"Subject: a long \nline\nnext", false, "Subject: a long line\nnext"},
		// Quoted flowed lines join at the same depth only.
		{"> 商品名: ボト \n> ル\n>> x \n> y", true, "> 商品名: ボトル\n>> x\n> y"},
		// Space-stuffing is undone; the signature separator never flows.
		{" From here \non\n-- \nsig", false, "From here on\n-- \nsig"},
		// A last line ending in a space is not joined with nothing.
		{"end ", true, "end "},
	}
	for _, tt := range tests {
		if got := unflow(tt.in, tt.delSp); got != tt.want {
			t.Errorf("unflow(%q, %v) = %q, want %q", tt.in, tt.delSp, got, tt.want)
		}
	}
}

func TestSplitAddress(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, zip, address string }{
		{"〒150-0001\n東京都渋谷区神宮前1-2-3\nサンプルビル4F", "150-0001", "東京都渋谷区神宮前1-2-3 サンプルビル4F"},
		{"〒１５００００１　東京都渋谷区神宮前１－２－３", "1500001", "東京都渋谷区神宮前１－２－３"},
		{"150-0001\n東京都渋谷区", "150-0001", "東京都渋谷区"},
		{"1500001 東京都", "", "1500001 東京都"}, // no 〒: a number that starts an address stays
		{"東京都渋谷区神宮前1-2-3", "", "東京都渋谷区神宮前1-2-3"},
		{"〒150-00012", "", "〒150-00012"},
	}
	for _, tt := range tests {
		zip, addr := splitAddress(tt.in)
		if zip != tt.zip || addr != tt.address {
			t.Errorf("splitAddress(%q) = %q, %q, want %q, %q", tt.in, zip, addr, tt.zip, tt.address)
		}
	}
}

func TestValueShapes(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{"ボトル(BTL-0": true, "ボトル(BTL-001)": false, "ボトル（大）": false, "a(b)(c": true} {
		if unclosedCode(s) != want {
			t.Errorf("unclosedCode(%q) != %v", s, want)
		}
	}
	for s, want := range map[string]bool{"不在時は宅配…": true, "置き配...": true, "置き配": false} {
		if looksTruncated(s) != want {
			t.Errorf("looksTruncated(%q) != %v", s, want)
		}
	}
	for s, want := range map[string]bool{"※このメールは送信専用です": true, "Qoo10 https://www.qoo10.jp/": true,
		"サイズが合わなかったため": false, "-- ": true} {
		if isBoilerplate(s) != want {
			t.Errorf("isBoilerplate(%q) != %v", s, want)
		}
	}
}

// TestHTMLDeep: HTML nested far deeper than any mail is still read, its
// text kept, without recursing as deep.
func TestHTMLDeep(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("<div><table><tr><td>", 3000) + "注文番号: 1" + strings.Repeat("</td></tr></table></div>", 3000)
	if got := htmlToText(deep); !strings.Contains(got, "注文番号: 1") {
		t.Errorf("deep HTML read as %q", got)
	}
}

// TestForwardHeaderBlock: a block's folded lines, extra headers, bold
// keys and Outlook's [mailto:] stay in the block; a rule of underscores
// without a header block after it is no forward.
func TestForwardHeaderBlock(t *testing.T) {
	t.Parallel()
	body := "よろしくお願いします。\n\n" + strings.Repeat("_", 32) + "\n*From:* Qoo10 <qoo10info@qoo10.jp[mailto:qoo10info@qoo10.jp]>\n" +
		"*Sent:* Friday, December 4, 2026 11:02 AM\n*To:* tencho@example.jp\nCc: keiri@example.jp,\n  soko@example.jp\n" +
		"*Subject:* Qoo10の注文のお知らせです。\n  (注文番号: 987654321)\nImportance: High\n\n販売者ID: shop_alpha\n"
	inner := unwrapForward(&mailText{subject: "Fw: x", body: body}, 3)
	if inner == nil {
		t.Fatal("not read as a forward")
	}
	if inner.from != "Qoo10 <qoo10info@qoo10.jp>" || inner.subject != "Qoo10の注文のお知らせです。 (注文番号: 987654321)" ||
		inner.date.IsZero() || strings.TrimSpace(inner.body) != "販売者ID: shop_alpha" {
		t.Errorf("from %q subject %q date %v body %q", inner.from, inner.subject, inner.date, inner.body)
	}
	rule := "売上の表です\n" + strings.Repeat("_", 20) + "\n合計: 3,960\n"
	if inner := unwrapForward(&mailText{subject: "売上", body: rule}, 3); inner != nil {
		t.Errorf("a rule without a header block read as a forward: %+v", inner)
	}
}

// TestFieldsVerbatim: a field keeps what the mail writes after the label,
// whichever path reads it; the typed fields carry the numbers.
func TestFieldsVerbatim(t *testing.T) {
	t.Parallel()
	p, err := New(Options{Templates: []TemplateSource{{Name: "shop", Body: "ショップ注文 Qoo10\n" +
		"送料: ¥ [$_DELIVERY_FEE_$]\nお届け先：〒[$_ZIP_CODE_$]\n数量：[$_ORDER_QTY_$]個\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"送料: ￥ 880\nお届け先：〒150-0001\n数量：3個\n", "送料: 880円\nお届け先：〒150-0001\n数量：3個\n"} {
		mail := "From: qoo10info@qoo10.jp\nSubject: x\nContent-Type: text/plain; charset=utf-8\n\nショップ注文 Qoo10\n" + body
		for _, parser := range []*Parser{p, fallbackOnlyParser(t)} {
			r := parser.Parse([]byte(mail))
			got := map[string]string{}
			for _, f := range r.Order.Fields {
				got[f.Label] = f.Value
			}
			want := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
				k, v, _ := strings.Cut(strings.Replace(l, "：", ": ", 1), ": ")
				want[k] = strings.TrimSpace(v)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s read %q as %q, want %q", r.Parser, k, got[k], v)
				}
			}
			if r.Order.ShippingRate == nil || *r.Order.ShippingRate != 880 {
				t.Errorf("%s: shipping rate %v", r.Parser, r.Order.ShippingRate)
			}
			if r.Parser == parserTemplate && (r.Order.Receiver == nil || r.Order.Receiver.Zip != "150-0001") {
				t.Errorf("receiver %+v", r.Order.Receiver)
			}
		}
	}
}
