package parse

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/qoo10hook/qoo10hook/event"
)

// builtinLabels maps the labels of Qoo10's vocabulary (its seller API, the
// QSM order CSV header and the notification templates) to field paths.
// "person.*" paths go to the buyer or the receiver by the section they
// stand in.
var builtinLabels = map[string]string{
	"販売者ID": "seller_id", "ショップID": "seller_id", "販売者": "seller_id",
	"カート番号": "pack_no",
	"注文番号":  "items.order_no", "注文明細番号": "items.order_no",
	"注文日": "order_date", "注文日時": "order_date", "ご注文日": "order_date", "ご注文日時": "order_date",
	"入金日": "payment_date", "入金日時": "payment_date", "決済日": "payment_date", "決済日時": "payment_date",
	"支払方法": "payment_method", "お支払方法": "payment_method", "お支払い方法": "payment_method", "決済方法": "payment_method", "決済サイト": "payment_method",
	"配送方法": "shipping_way", "配送方式": "shipping_way",
	"配送希望日": "desired_delivery_date", "お届け希望日": "desired_delivery_date", "配達希望日": "desired_delivery_date", "お届け日": "desired_delivery_date",
	"配送時間帯": "desired_time_slot", "お届け希望時間帯": "desired_time_slot", "配達時間帯": "desired_time_slot",
	"お届け時間帯": "desired_time_slot", "配送希望時間帯": "desired_time_slot", "配送希望時間": "desired_time_slot", "お届け希望時間": "desired_time_slot",
	"備考": "shipping_message", "配送要請事項": "shipping_message", "配送メモ": "shipping_message", "通信欄": "shipping_message", "配送メッセージ": "shipping_message",
	"送料": "shipping_rate", "配送料": "shipping_rate",
	"合計金額": "total_price", "合計": "total_price", "総合計": "total_price", "カート合計": "total_price",
	"購入者決済金額": "settle_price", "決済金額": "settle_price", "お支払金額": "settle_price", "お支払い金額": "settle_price",
	"キャンセル理由": "cancel_reason", "キャンセル事由": "cancel_reason", "理由": "cancel_reason",
	"要求日時": "cancel_requested_at", "キャンセル要求日時": "cancel_requested_at", "キャンセル申請日時": "cancel_requested_at", "要求日": "cancel_requested_at",
	"キャンセル完了日時": "cancelled_at", "キャンセル完了日": "cancelled_at", "キャンセル日時": "cancelled_at",
	"取引完了日時": "completed_at", "取引完了日": "completed_at", "配送完了日": "completed_at", "受取確認日": "completed_at",
	"購入者名": "buyer.name", "注文者名": "buyer.name", "ご注文者名": "buyer.name",
	"購入者名(フリガナ)": "buyer.kana", "注文者名(フリガナ)": "buyer.kana", "購入者フリガナ": "buyer.kana",
	"購入者電話番号": "buyer.tel", "購入者携帯電話番号": "buyer.mobile", "購入者Eメールアドレス": "buyer.email", "購入者メールアドレス": "buyer.email",
	"受取人名": "receiver.name", "受取人名(フリガナ)": "receiver.kana", "受取人フリガナ": "receiver.kana",
	"受取人電話番号": "receiver.tel", "受取人携帯電話番号": "receiver.mobile", "受取人住所": "receiver.address",
	"お届け先住所": "receiver.address", "お届け先名": "receiver.name", "お届け先氏名": "receiver.name",
	"氏名": "person.name", "名前": "person.name", "お名前": "person.name",
	"氏名(フリガナ)": "person.kana", "フリガナ": "person.kana", "お名前(フリガナ)": "person.kana", "カナ": "person.kana", "氏名(カナ)": "person.kana",
	"電話番号": "person.tel", "TEL": "person.tel", "電話": "person.tel",
	"携帯電話番号": "person.mobile", "携帯番号": "person.mobile", "携帯電話": "person.mobile",
	"Eメールアドレス": "person.email", "メールアドレス": "person.email", "Eメール": "person.email", "E-mail": "person.email", "Email": "person.email", "メール": "person.email",
	"郵便番号": "person.zip", "〒": "person.zip", "住所": "person.address", "ご住所": "person.address",
	"商品番号": "items.item_no", "商品コード": "items.seller_item_code", "販売者商品コード": "items.seller_item_code",
	"商品名": "items.title", "オプション": "items.option", "オプション情報": "items.option", "オプション名": "items.option",
	"オプションコード": "items.option_code", "数量": "items.qty", "注文数量": "items.qty", "個数": "items.qty",
	"販売価格": "items.price", "単価": "items.price", "商品価格": "items.price", "価格": "items.price",
	"割引額": "items.discount", "割引": "items.discount", "割引金額": "items.discount",
	"注文金額の合計": "items.total", "注文金額": "items.total", "小計": "items.total",
	"配送状態": "fields", "配送会社": "fields", "送り状番号": "fields", "発送日": "fields", "発送予定日": "fields",
	"国家": "fields", "送料の決済": "fields", "通貨": "fields", "供給原価の合計": "fields", "おまけ": "fields",
	"JANコード": "fields", "規格番号": "fields", "プレゼント贈り主": "fields", "外部広告": "fields", "素材": "fields", "ギフト注文": "fields",
}

// CROSS MALL mails call the cart 注文番号 and number its lines 注文明細番号.
var (
	cartNoKey = labelKey("注文番号")
	lineNoKey = labelKey("注文明細番号")
)

// labelKey is the form labels are looked up in.
func labelKey(label string) string {
	return strings.TrimRight(foldString(label), ":")
}

func labelTable(extra map[string]string) (map[string]string, error) {
	t := make(map[string]string, len(builtinLabels)+len(extra))
	for k, v := range builtinLabels {
		t[labelKey(k)] = v
	}
	for _, k := range sortedKeys(extra) {
		path := strings.TrimSpace(extra[k])
		if _, ok := fieldKinds[path]; !ok {
			return nil, fmt.Errorf("parse: label %q: unknown field path %q", k, extra[k])
		}
		key := labelKey(k)
		if key == "" {
			return nil, fmt.Errorf("parse: label %q: empty", k)
		}
		t[key] = path
	}
	return t, nil
}

// labelReader reads `label: value`, `label：value` and `[label] value`
// lines under `■section` / `[<section]` headings, in any order.
type labelReader struct {
	labels  map[string]string
	b       *builder
	fields  *[]event.Field
	section string
	role    string // "buyer" or "receiver", from the section
	item    int    // current item, -1 before the first
	// fillOnly sets only fields still empty, for lines a template left over.
	fillOnly bool
	// cartNo is set when 注文番号 names the cart, as in CROSS MALL mails,
	// which number their lines 注文明細番号.
	cartNo bool
	// lastValue is the non-blank line of the last one-line value read and
	// lastPath its path, to report a value whose rest a mailer wrapped
	// onto an unlabelled line.
	lastValue int
	lastPath  string
	open      *event.Field // a value that continues on the following lines
	more      []string     // the following lines of open
	path      string       // of open
	// at holds, per field appended, the non-blank line it was read from.
	at     []int
	k      int // the line being read
	openAt int
	// sectionAt, when set, gives the section of a line from elsewhere: a
	// template took the headings.
	sectionAt func(k int) string
}

func newLabelReader(labels map[string]string, b *builder, fields *[]event.Field) *labelReader {
	return &labelReader{labels: labels, b: b, fields: fields, item: -1, lastValue: -2}
}

// read reads the non-blank lines ks (indexes into ml.nb) and the blank
// lines between them.
func (r *labelReader) read(ml *mailLines, ks []int) {
	for _, k := range ks {
		if labelKey(splitLabelOnly(ml.line(k))) == lineNoKey {
			r.cartNo = true
		}
	}
	prev := -2
	for _, k := range ks {
		if k != prev+1 || ml.nb[k] != ml.nb[max(k-1, 0)]+1 {
			r.close()
			r.lastValue = -2
		}
		prev = k
		r.k = k
		if r.sectionAt != nil {
			r.setSection(r.sectionAt(k))
		}
		r.line(ml.line(k))
	}
	r.close()
}

func (r *labelReader) line(line string) {
	t := trimSpace(line)
	if sec := sectionName(t); sec != "" {
		r.close()
		r.setSection(sec)
		if path, ok := r.labels[labelKey(sec)]; ok {
			r.start(sec, "", path) // "■支払方法" followed by the value
		}
		return
	}
	label, value, ok := splitLabel(t)
	var path string
	var known bool
	if ok {
		key := labelKey(label)
		path, known = r.labels[key]
		if r.cartNo && key == cartNoKey && r.item < 0 {
			path = "pack_no"
		}
	}
	// A value over several lines (a memo, an address) runs on through
	// lines that merely contain a colon, such as "のし：御歳暮".
	if !known && r.open != nil {
		r.more = append(r.more, line)
		return
	}
	if !ok {
		if r.lastValue == r.k-1 && mayWrap(r.resolve(r.lastPath)) && isUnlabelledText(t) {
			r.b.problem("%s: value may go on over a line that was not read", r.resolve(r.lastPath))
		}
		return
	}
	r.close()
	if value == "" && known && strings.HasPrefix(t, "[") {
		r.start(label, "", path) // "[備考]" followed by the value
		return
	}
	if value == "" && !known && strings.HasPrefix(t, "[") {
		r.setSection(label)
		return
	}
	if !known {
		r.addField(event.Field{Section: r.section, Label: label, Value: value}, r.k)
		return
	}
	if kind := fieldKinds[r.resolve(path)]; kind == kindMemo {
		r.start(label, value, path)
		return
	}
	r.addField(event.Field{Section: r.section, Label: label, Value: value}, r.k)
	r.set(path, value)
	r.lastValue, r.lastPath = r.k, path
}

func (r *labelReader) addField(f event.Field, at int) {
	*r.fields = append(*r.fields, f)
	r.at = append(r.at, at)
}

func (r *labelReader) start(label, value, path string) {
	r.open = &event.Field{Section: r.section, Label: label, Value: value}
	r.more = r.more[:0]
	r.path = path
	r.openAt = r.k
}

func (r *labelReader) close() {
	if r.open == nil {
		return
	}
	if len(r.more) > 0 {
		r.open.Value += "\n" + strings.Join(r.more, "\n")
	}
	r.open.Value = trimBlankLines(r.open.Value)
	if r.open.Value != "" {
		r.addField(*r.open, r.openAt)
		r.set(r.path, r.open.Value)
	}
	r.open = nil
}

func (r *labelReader) setSection(sec string) {
	r.section = sec
	f := foldString(sec)
	switch {
	case containsAny(f, "お届け", "届け先", "受取人", "配送先", "送付先", "送り先"):
		r.role = "receiver"
	case containsAny(f, "注文者", "購入者", "お客様", "ご依頼主"):
		r.role = "buyer"
	default:
		r.role = ""
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// resolve turns a person.* path into buyer.* or receiver.*.
func (r *labelReader) resolve(path string) string {
	name, ok := strings.CutPrefix(path, "person.")
	if !ok {
		return path
	}
	role := r.role
	if role == "" {
		role = "buyer"
		if name == "zip" || name == "address" {
			role = "receiver"
		}
	}
	return role + "." + name
}

func (r *labelReader) set(path, value string) {
	path = r.resolve(path)
	name, isItem := strings.CutPrefix(path, "items.")
	if !isItem {
		if r.fillOnly && r.b.isSet(path) {
			return
		}
		r.b.set(path, value, 0)
		return
	}
	if r.fillOnly {
		if len(r.b.order.Items) == 1 && !r.b.hasItemField(0, name) {
			r.b.set(path, value, 0)
		}
		return
	}
	// A label the current item already has starts the next item.
	if r.item < 0 || r.b.hasItemField(r.item, name) {
		r.item++
	}
	r.b.set(path, value, r.item)
}

// splitLabel splits "label: value", "label：value" and "[label] value".
func splitLabel(t string) (label, value string, ok bool) {
	for _, br := range [][2]string{{"[", "]"}, {"［", "］"}, {"【", "】"}} {
		if strings.HasPrefix(t, br[0]) {
			end := strings.Index(t, br[1])
			if end < 0 {
				return "", "", false
			}
			label = trimSpace(t[len(br[0]):end])
			if label == "" || strings.HasPrefix(label, "<") || strings.HasPrefix(label, "$_") || strings.HasPrefix(label, "S_") {
				return "", "", false
			}
			return label, trimSpace(t[end+len(br[1]):]), plausibleLabel(label)
		}
	}
	// Two single searches: IndexAny with a non-ASCII set walks the line
	// rune by rune, and most lines have neither colon.
	i := strings.IndexByte(t, ':')
	if j := strings.Index(t, "："); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i <= 0 {
		return "", "", false
	}
	label = trimSpace(t[:i])
	_, n := utf8.DecodeRuneInString(t[i:])
	value = trimSpace(t[i+n:])
	if strings.HasPrefix(value, "//") {
		return "", "", false // a URL
	}
	return label, value, plausibleLabel(label)
}

// splitLabelOnly returns the label of a line, or "".
func splitLabelOnly(line string) string {
	l, _, ok := splitLabel(trimSpace(line))
	if !ok {
		return ""
	}
	return l
}

// plausibleLabel rejects text that only looks like a label because it has
// a colon: sentences, times, long text.
func plausibleLabel(l string) bool {
	n := utf8.RuneCountInString(l)
	if n == 0 || n > 30 || strings.ContainsAny(l, "。、") {
		return false
	}
	for _, r := range l {
		if !(r >= '0' && r <= '9') && !isSpace(r) && r != '-' && r != '/' {
			return true
		}
	}
	return false
}
