package parse

import (
	"fmt"
	"slices"
	"strings"
)

// kind says how a field's text is normalized.
type kind uint8

const (
	kindText     kind = iota // kept as written, trimmed
	kindMemo                 // text that may run over several lines
	kindCode                 // identifiers: NFKC
	kindPhone                // NFKC
	kindZip                  // NFKC, 〒 dropped
	kindEmail                // NFKC
	kindMoney                // integer yen
	kindQty                  // integer
	kindDateTime             // RFC 3339 in Japan time, or YYYY-MM-DD when only a date is given
	kindDate                 // YYYY-MM-DD
	kindTitle                // text; a trailing half-width (…) is the seller item code
	kindOption               // text; a trailing half-width (…) is the option code
	kindNone                 // kept in fields only
)

// pathFields is the field path of "kept in fields only".
const pathFields = "fields"

// fieldKinds lists every field path a label or placeholder can fill.
var fieldKinds = map[string]kind{
	"seller_id":              kindCode,
	"pack_no":                kindCode,
	"order_date":             kindDateTime,
	"payment_date":           kindDateTime,
	"payment_method":         kindText,
	"shipping_way":           kindText,
	"desired_delivery_date":  kindDate,
	"desired_time_slot":      kindText,
	"shipping_message":       kindMemo,
	"shipping_rate":          kindMoney,
	"total_price":            kindMoney,
	"settle_price":           kindMoney,
	"cancel_reason":          kindMemo,
	"cancel_requested_at":    kindDateTime,
	"cancelled_at":           kindDateTime,
	"completed_at":           kindDateTime,
	"items.order_no":         kindCode,
	"items.item_no":          kindCode,
	"items.title":            kindTitle,
	"items.seller_item_code": kindCode,
	"items.option":           kindOption,
	"items.option_code":      kindCode,
	"items.qty":              kindQty,
	"items.price":            kindMoney,
	"items.discount":         kindMoney,
	"items.total":            kindMoney,
	pathFields:               kindNone,
}

var personKinds = map[string]kind{
	"name": kindText, "kana": kindText, "tel": kindPhone, "mobile": kindPhone,
	"email": kindEmail, "zip": kindZip, "address": kindMemo,
}

func init() {
	for f, k := range personKinds {
		fieldKinds["buyer."+f] = k
		fieldKinds["receiver."+f] = k
	}
}

// FieldPaths returns the field paths that Options.Labels and
// Options.Placeholders may map to, sorted. "fields" keeps a value in the
// event's fields only.
func FieldPaths() []string {
	paths := make([]string, 0, len(fieldKinds))
	for p := range fieldKinds {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// builtinPlaceholders maps the J·QSM placeholder names seen in the
// templates (without their [$_ _$] / [S_ _S] brackets) to field paths.
var builtinPlaceholders = map[string]string{
	"SELLER_ID":               "seller_id",
	"PACK_NO":                 "pack_no",
	"CART_NO":                 "pack_no",
	"ORDER_NO":                "items.order_no",
	"ORDER_TIME":              "order_date",
	"ORDER_DATE":              "order_date",
	"PAYMENT_TIME":            "payment_date",
	"PAYMENT_DATE":            "payment_date",
	"PAYMENT_METHOD":          "payment_method",
	"DELIVERY_OPTION":         "shipping_way",
	"DEL_OPTION":              "shipping_way",
	"DEL_HOPE_DATE":           "desired_delivery_date",
	"DEL_HOPE_DATE_YYYYMMDD":  "desired_delivery_date",
	"DEL_HOPE_TIME_ZONE":      "desired_time_slot",
	"DEL_HOPE_DATE_TIME_ZONE": "desired_time_slot",
	"DEL_MEMO":                "shipping_message",
	"DELIVERY_FEE":            "shipping_rate",
	"SETTLE_PRICE":            "settle_price",
	"BUYER_NM":                "buyer.name",
	"BUYER_NM_JA":             "buyer.kana",
	"BUYER_TEL_NO":            "buyer.tel",
	"BUYER_MOBILE_NO":         "buyer.mobile",
	"BUYER_HP_NO":             "buyer.mobile",
	"BUYER_EMAIL":             "buyer.email",
	"RECEIVER_NM":             "receiver.name",
	"RECEIVER_NM_JA":          "receiver.kana",
	"RECEIVER_TEL_NO":         "receiver.tel",
	"RECEIVER_MOBILE_NO":      "receiver.mobile",
	"RECEIVER_HP_NO":          "receiver.mobile",
	"ZIP_CODE":                "receiver.zip",
	"ADDRESS":                 "receiver.address",
	"ITEM_NO":                 "items.item_no",
	"ITEM_NM":                 "items.title",
	"SELLER_ITEM_CODE":        "items.seller_item_code",
	"SELLER_CODE":             "items.seller_item_code",
	"OPTION_INFO":             "items.option",
	"OPTION_CODE":             "items.option_code",
	"ORDER_QTY":               "items.qty",
	"ORDER_PRICE":             "items.price",
	"DISCOUNT":                "items.discount",
	"TOTAL_PRICE":             "items.total",
	"REQUEST_TIME":            "cancel_requested_at",
	"CLAIM_COMPLETE_TIME":     "cancelled_at",
	"COMPLETE_TIME":           "completed_at",
	"CLAIM_REASON":            "cancel_reason",
}

// cartLevel maps an item path to the cart-level path it stands for when a
// group template places it outside its item loop: TOTAL_PRICE is one
// line's total in a unit mail but the cart's total after a group's loop.
var cartLevel = map[string]string{"items.total": "total_price"}

// placeholderName strips the brackets an operator may have copied with a
// placeholder name and upper-cases it.
func placeholderName(s string) string {
	s = strings.TrimSpace(s)
	for _, w := range [][2]string{{"[$_", "_$]"}, {"[S_", "_S]"}, {"$_", "_$"}, {"S_", "_S"}} {
		if strings.HasPrefix(s, w[0]) && strings.HasSuffix(s, w[1]) && len(s) > len(w[0])+len(w[1]) {
			s = s[len(w[0]) : len(s)-len(w[1])]
			break
		}
	}
	return strings.ToUpper(s)
}

func placeholderTable(extra map[string]string) (map[string]string, error) {
	t := make(map[string]string, len(builtinPlaceholders)+len(extra))
	for k, v := range builtinPlaceholders {
		t[k] = v
	}
	for _, k := range sortedKeys(extra) {
		path := strings.TrimSpace(extra[k])
		if _, ok := fieldKinds[path]; !ok {
			return nil, fmt.Errorf("parse: placeholder %q: unknown field path %q", k, extra[k])
		}
		name := placeholderName(k)
		if name == "" {
			return nil, fmt.Errorf("parse: placeholder %q: empty name", k)
		}
		t[name] = path
	}
	return t, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
