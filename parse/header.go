package parse

import (
	"encoding/base64"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// decodeHeader decodes the RFC 2047 encoded-words of a header value.
// Adjacent words of one charset are joined as bytes before decoding, so a
// character split across two words (which ISO-2022-JP and UTF-8 encoders
// do) comes out whole. Raw 8-bit or ISO-2022-JP text outside encoded-words,
// which some Japanese mailers send, is decoded as well.
func decodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return decodeRawHeader(v)
	}
	var out strings.Builder
	var pending []byte // decoded bytes of the current run of words
	var pendingCharset string
	flush := func() {
		if pending != nil {
			s, _ := decodeCharset(pendingCharset, pending)
			out.WriteString(s)
			pending, pendingCharset = nil, ""
		}
	}
	rest := v
	for rest != "" {
		start := strings.Index(rest, "=?")
		if start < 0 {
			flush()
			out.WriteString(decodeRawHeader(rest))
			break
		}
		charset, raw, end, ok := encodedWord(rest[start:])
		if !ok {
			flush()
			out.WriteString(decodeRawHeader(rest[:start+2]))
			rest = rest[start+2:]
			continue
		}
		between := rest[:start]
		// Whitespace between two encoded-words is not part of the text.
		if pending == nil || strings.TrimSpace(between) != "" {
			flush()
			out.WriteString(decodeRawHeader(between))
		}
		charset = normalizeCharset(charset)
		if pending != nil && charset != pendingCharset {
			flush()
		}
		pending = append(pending, raw...)
		pendingCharset = charset
		rest = rest[start+end:]
	}
	flush()
	return out.String()
}

// encodedWord reads one "=?charset?enc?text?=" at the start of s and returns
// its charset, decoded bytes and length.
func encodedWord(s string) (charset string, raw []byte, n int, ok bool) {
	q1 := strings.IndexByte(s[2:], '?')
	if q1 < 0 {
		return "", nil, 0, false
	}
	q1 += 2
	if q1+2 >= len(s) || s[q1+2] != '?' {
		return "", nil, 0, false
	}
	enc := s[q1+1]
	endText := strings.Index(s[q1+3:], "?=")
	if endText < 0 {
		return "", nil, 0, false
	}
	text := s[q1+3 : q1+3+endText]
	if strings.ContainsAny(text, " \t") {
		return "", nil, 0, false
	}
	charset = s[2:q1]
	switch enc {
	case 'B', 'b':
		text = strings.TrimRight(text, "=")
		b, err := base64.RawStdEncoding.DecodeString(text)
		if err != nil {
			return "", nil, 0, false
		}
		raw = b
	case 'Q', 'q':
		raw = decodeQ(text)
	default:
		return "", nil, 0, false
	}
	return charset, raw, q1 + 3 + endText + 2, true
}

func decodeQ(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '_':
			b = append(b, ' ')
		case c == '=' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return b
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// decodeRawHeader decodes header text sent without encoded-words.
func decodeRawHeader(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x1b") {
		return s
	}
	d, _ := decodeCharset(charsetUndeclared, []byte(s))
	return d
}

// formatAddress renders a decoded address as "Name <addr>" or addr.
func formatAddress(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	if !strings.ContainsAny(v, "\"(),;\\") {
		// No quoting or comments: "Name <addr>" or addr as it stands.
		if lt := strings.IndexByte(v, '<'); lt >= 0 && strings.HasSuffix(v, ">") && strings.Count(v, "<") == 1 {
			name, addr := strings.TrimSpace(v[:lt]), strings.TrimSpace(v[lt+1:len(v)-1])
			if name == "" {
				return addr
			}
			return name + " <" + addr + ">"
		}
		if !strings.ContainsAny(v, "<> \t") {
			return v
		}
	}
	if a, err := mail.ParseAddress(v); err == nil {
		if a.Name == "" {
			return a.Address
		}
		return a.Name + " <" + a.Address + ">"
	}
	lt, gt := strings.LastIndexByte(v, '<'), strings.LastIndexByte(v, '>')
	if lt >= 0 && gt > lt {
		addr := strings.TrimSpace(v[lt+1 : gt])
		name := strings.Trim(strings.TrimSpace(v[:lt]), `"`)
		if name == "" {
			return addr
		}
		return name + " <" + addr + ">"
	}
	return v
}

// splitAddressList splits a decoded address list at commas outside quotes
// and angle brackets.
func splitAddressList(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case '<':
			depth++
		case '>':
			if depth > 0 {
				depth--
			}
		case ',':
			if !quoted && depth == 0 {
				if a := formatAddress(v[start:i]); a != "" {
					out = append(out, a)
				}
				start = i + 1
			}
		}
	}
	if a := formatAddress(v[start:]); a != "" {
		out = append(out, a)
	}
	return out
}

// messageID strips the angle brackets and anything after the first id.
func messageID(v string) string {
	v = strings.ToValidUTF8(strings.TrimSpace(v), "\uFFFD")
	if i := strings.IndexByte(v, '>'); i >= 0 && strings.HasPrefix(v, "<") {
		return v[1:i]
	}
	if f := strings.Fields(v); len(f) > 0 {
		return strings.Trim(f[0], "<>")
	}
	return ""
}

var jst = time.FixedZone("JST", 9*60*60)

// dateLayouts are the Date forms seen in mail headers and in the header
// blocks of hand-forwarded mail (Gmail, Thunderbird, Outlook, in English
// and Japanese).
var dateLayouts = []string{
	"Mon, Jan 2, 2006 at 3:04 PM",
	"Mon, Jan 2, 2006 at 15:04",
	"Monday, January 2, 2006 3:04 PM",
	"Monday, January 2, 2006 at 3:04 PM",
	"Monday, January 2, 2006 at 15:04",
	"Monday, January 2, 2006 15:04",
	"January 2, 2006 at 15:04:05 -0700",
	"January 2, 2006 at 3:04:05 PM -0700",
	"January 2, 2006 at 15:04:05",
	"January 2, 2006 at 15:04",
	"2006年1月2日 15:04:05 -0700",
	"2006年1月2日 15:04:05",
	"2006年1月2日 15:04",
	"2006/1/2 15:04:05",
	"2006/1/2 15:04",
	"2006/01/02 15:04:05",
	"2006/01/02 15:04",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 -0700",
}

// parseMailDate reads a header date; forwarded-block dates without a zone
// are taken as Japan time.
func parseMailDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	// The usual RFC 5322 form first, without the errors net/mail makes
	// while trying its layouts one by one.
	if i := strings.LastIndexByte(v, '('); i > 0 && strings.HasSuffix(v, ")") {
		v = strings.TrimSpace(v[:i]) // a trailing "(JST)" comment
	}
	if len(v) > 5 && v[3] == ',' {
		if t, err := time.Parse("Mon, 2 Jan 2006 15:04:05 -0700", v); err == nil {
			return t
		}
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t
	}
	v = clientDate(v)
	for _, l := range dateLayouts {
		if t, err := time.ParseInLocation(l, v, jst); err == nil {
			return t
		}
	}
	return time.Time{}
}

// japaneseWeekdays drops the weekday of a Japanese date, as Gmail
// ("2026年12月4日(金) 11:02") and Outlook ("2026年12月4日 金曜日 11:02")
// write it; the date says which day it is.
var japaneseWeekdays = strings.NewReplacer(
	"(月)", "", "(火)", "", "(水)", "", "(木)", "", "(金)", "", "(土)", "", "(日)", "",
	"（月）", "", "（火）", "", "（水）", "", "（木）", "", "（金）", "", "（土）", "", "（日）", "",
	"月曜日", "", "火曜日", "", "水曜日", "", "木曜日", "", "金曜日", "", "土曜日", "", "日曜日", "")

// gmtOffset matches the zone Apple Mail writes, "GMT+9" or "GMT+09:00".
var gmtOffset = regexp.MustCompile(`\s(?:GMT|UTC)([+-])(\d{1,2})(?::?(\d{2}))?$`)

// clientDate rewrites the date of a forward's header block into a form
// dateLayouts has: no Japanese weekday, one space between words, "JST"
// and "GMT+9" as numeric zones.
func clientDate(v string) string {
	v = strings.Join(strings.Fields(japaneseWeekdays.Replace(v)), " ")
	if strings.HasSuffix(v, " JST") {
		v = strings.TrimSuffix(v, " JST") + " +0900"
	}
	if m := gmtOffset.FindStringSubmatch(v); m != nil {
		h, min := m[2], m[3]
		if len(h) == 1 {
			h = "0" + h
		}
		if min == "" {
			min = "00"
		}
		v = v[:len(v)-len(m[0])] + " " + m[1] + h + min
	}
	return v
}
