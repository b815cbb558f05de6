package store

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// personalTable is a table whose rows hold a buyer's or receiver's values
// beside the mail's raw bytes. Retention and erasure go through this list,
// so a new table holding personal data is one entry here: no other code
// changes.
type personalTable struct {
	Table string
	// Key is the column that names a row in erasure reports.
	Key string
	// Payload, when set, is a BLOB column of JSON (an event payload or an order
	// record) holding "buyer" and "receiver" objects and label/value
	// "fields" at any depth: matched and scrubbed in Go (see scrubJSON).
	Payload string
	// PayloadText says Payload is a TEXT column rather than a BLOB.
	PayloadText bool
	// Email, Tel and Name are text columns that hold one value each, matched
	// by erase --email, --tel and --name; they and Other are blanked when
	// the row is erased or purged.
	Email, Tel, Name, Other []string
	// MailID, when set, is the column referring to mail (id): the row is
	// purged with its mail.
	MailID string
	// Age and Purged are for rows not tied to one mail: a row whose Age
	// (microseconds since the epoch) is older than retention.mail is purged,
	// and Purged (a nullable BIGINT) records when.
	Age, Purged string
	// EventID, when set, is the column naming the event the row belongs
	// to: an erasure lists the endpoints that received it.
	EventID string
}

// personalTables lists every table holding buyer or receiver values but
// mail (whose raw bytes are erased as a whole) and delivery_attempt
// (whose response bodies are blanked with their events).
//
// A table with one value a column would be an entry like
//
//	{Table: "orders", Key: "id", Email: []string{"buyer_email"}, Tel: []string{"buyer_tel", "receiver_tel"},
//		Name: []string{"buyer_name", "receiver_name"}, Other: []string{"receiver_address", "receiver_zip"},
//		Age: "updated_at", Purged: "purged_at"}
var personalTables = []personalTable{
	{Table: "event", Key: "id", Payload: "payload", MailID: "mail_id", EventID: "id"},
	// The merged order records (package orderbook): buyer, receiver and
	// the conflicts between their values, as JSON.
	{Table: "order_body", Key: "order_id", Payload: "record", PayloadText: true, Age: "updated_at", Purged: "purged_at"},
}

// columns are the text columns the table blanks.
func (t personalTable) columns() []string {
	var out []string
	for _, cs := range [][]string{t.Email, t.Tel, t.Name, t.Other} {
		out = append(out, cs...)
	}
	return out
}

// Buyer names the person an erasure looks for: one of its fields is set.
type Buyer struct {
	Email string `json:"email,omitempty"`
	Tel   string `json:"tel,omitempty"`
	Name  string `json:"name,omitempty"`
}

// By tells which field the buyer is searched by ("email", "tel", "name"),
// for logs and audit records that must not hold the value itself.
func (b Buyer) By() string {
	switch {
	case b.Email != "":
		return "email"
	case b.Tel != "":
		return "tel"
	default:
		return "name"
	}
}

// matcher compares values the way erasure does: e-mail addresses without
// case, phone numbers by their digits, names without spaces, all after
// NFKC (full-width digits and letters are the same as half-width).
type matcher struct {
	by, want string
}

func newMatcher(b Buyer) (matcher, bool) {
	m := matcher{by: b.By()}
	switch m.by {
	case "email":
		m.want = normEmail(b.Email)
	case "tel":
		m.want = normTel(b.Tel)
		if len(m.want) < 6 {
			return m, false // too short to name one person
		}
	default:
		m.want = normName(b.Name)
	}
	return m, m.want != ""
}

func (m matcher) match(v string) bool {
	switch m.by {
	case "email":
		return normEmail(v) == m.want
	case "tel":
		return normTel(v) == m.want
	default:
		return normName(v) == m.want
	}
}

func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(norm.NFKC.String(s))) }

func normTel(s string) string {
	var b strings.Builder
	for _, r := range norm.NFKC.String(s) {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func normName(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, norm.NFKC.String(s))
}

// personKeys are the JSON keys whose objects are a buyer's or receiver's
// values; personFields are the keys of those values.
var (
	personKeys = map[string]bool{"buyer": true, "receiver": true}
	// freeText keys hold what a buyer wrote: dropped with the persons.
	freeText     = map[string]bool{"shipping_message": true}
	personFields = map[string]string{"email": "email", "tel": "tel", "mobile": "tel", "name": "name", "kana": "name"}
)

// matchJSON reports whether the JSON document holds the value m looks for,
// in a buyer or receiver object or in a label/value field.
func matchJSON(doc []byte, m matcher) bool {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return false
	}
	return matchValue(v, m, false)
}

func matchValue(v any, m matcher, inPerson bool) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			switch {
			case personKeys[k]:
				if matchValue(sub, m, true) {
					return true
				}
			case inPerson:
				if s, ok := sub.(string); ok && personFields[k] == m.by && m.match(s) {
					return true
				}
			case k == "fields":
				if matchFields(sub, m) {
					return true
				}
			case k == "conflicts":
				if matchConflicts(sub, m) {
					return true
				}
			default:
				if matchValue(sub, m, false) {
					return true
				}
			}
		}
	case []any:
		for _, sub := range x {
			if matchValue(sub, m, inPerson) {
				return true
			}
		}
	}
	return false
}

// matchFields looks at the values of label/value fields: any of them may
// be the buyer's, whatever the label.
func matchFields(v any, m matcher) bool {
	list, _ := v.([]any)
	for _, f := range list {
		if obj, ok := f.(map[string]any); ok {
			if s, ok := obj["value"].(string); ok && m.match(s) {
				return true
			}
		}
	}
	return false
}

// personalConflicts returns the conflicts of an order record (package
// order) between values of a buyer or receiver, which hold those values,
// and the others.
func personalConflicts(v any) (personal, other []any) {
	list, _ := v.([]any)
	for _, c := range list {
		obj, _ := c.(map[string]any)
		field, _ := obj["field"].(string)
		head, _, _ := strings.Cut(field, ".")
		head, _, _ = strings.Cut(head, "[")
		if personKeys[head] || freeText[head] {
			personal = append(personal, c)
		} else {
			other = append(other, c)
		}
	}
	return personal, other
}

// matchConflicts looks at the values that mails disagreed on for a
// buyer's or receiver's field of the kind m looks for.
func matchConflicts(v any, m matcher) bool {
	personal, _ := personalConflicts(v)
	for _, c := range personal {
		obj := c.(map[string]any)
		field, _ := obj["field"].(string)
		if personFields[field[strings.LastIndex(field, ".")+1:]] != m.by {
			continue
		}
		if s, ok := obj["kept"].(string); ok && m.match(s) {
			return true
		}
		vals, _ := obj["values"].([]any)
		for _, val := range vals {
			if o, ok := val.(map[string]any); ok {
				if s, ok := o["value"].(string); ok && m.match(s) {
					return true
				}
			}
		}
	}
	return false
}

// scrubJSON returns the document without buyer and receiver objects, the
// buyer's free text, an order record's conflicts between their values and
// the label/value fields (which repeat them as the
// mail had them); order numbers, items, amounts and dates stay. A
// document that is not JSON becomes "{}": it cannot be scrubbed selectively.
func scrubJSON(doc []byte) []byte {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return []byte("{}")
	}
	v = scrubValue(v)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return []byte("{}")
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

func scrubValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			switch {
			case personKeys[k] || freeText[k]:
				delete(x, k)
			case k == "fields":
				if _, ok := sub.([]any); ok {
					x[k] = []any{}
				}
			case k == "conflicts":
				if _, other := personalConflicts(sub); other != nil {
					x[k] = other
				} else {
					delete(x, k)
				}
			default:
				x[k] = scrubValue(sub)
			}
		}
	case []any:
		for i := range x {
			x[i] = scrubValue(x[i])
		}
	}
	return v
}
