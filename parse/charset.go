package parse

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/japanese"
)

// japaneseCharsets maps the labels Japanese mail is declared with to a
// decoder. golang.org/x/text follows the WHATWG tables, which are CP932's:
// NEC row 13 (①, ㈱) and the IBM extensions (髙) decode in ISO-2022-JP,
// Shift_JIS and EUC-JP alike, and JIS 0x2141 decodes as U+FF5E FULLWIDTH
// TILDE, as Windows (and so Qoo10's own CSV downloads) have it. The
// Microsoft variants (CP50220, ISO-2022-JP-MS) are the same tables.
var japaneseCharsets = map[string]encoding.Encoding{
	"iso-2022-jp":         japanese.ISO2022JP,
	"csiso2022jp":         japanese.ISO2022JP,
	"iso-2022-jp-ms":      japanese.ISO2022JP,
	"iso-2022-jp-1":       japanese.ISO2022JP,
	"iso-2022-jp-2":       japanese.ISO2022JP,
	"iso-2022-jp-3":       japanese.ISO2022JP,
	"iso-2022-jp-2004":    japanese.ISO2022JP,
	"csiso2022jp2":        japanese.ISO2022JP,
	"cp50220":             japanese.ISO2022JP,
	"cp50221":             japanese.ISO2022JP,
	"cp50222":             japanese.ISO2022JP,
	"x-cp50220":           japanese.ISO2022JP,
	"x-cp50221":           japanese.ISO2022JP,
	"jis":                 japanese.ISO2022JP,
	"shift_jis":           japanese.ShiftJIS,
	"shift-jis":           japanese.ShiftJIS,
	"sjis":                japanese.ShiftJIS,
	"x-sjis":              japanese.ShiftJIS,
	"ms_kanji":            japanese.ShiftJIS,
	"csshiftjis":          japanese.ShiftJIS,
	"windows-31j":         japanese.ShiftJIS,
	"cswindows31j":        japanese.ShiftJIS,
	"cp932":               japanese.ShiftJIS,
	"ms932":               japanese.ShiftJIS,
	"x-ms-cp932":          japanese.ShiftJIS,
	"windows-932":         japanese.ShiftJIS,
	"ibm-943":             japanese.ShiftJIS,
	"shift_jis-2004":      japanese.ShiftJIS,
	"shift_jisx0213":      japanese.ShiftJIS,
	"euc-jp":              japanese.EUCJP,
	"x-euc-jp":            japanese.EUCJP,
	"eucjp":               japanese.EUCJP,
	"eucjp-ms":            japanese.EUCJP,
	"euc-jp-ms":           japanese.EUCJP,
	"cp51932":             japanese.EUCJP,
	"euc-jisx0213":        japanese.EUCJP,
	"cseucpkdfmtjapanese": japanese.EUCJP,
}

// charsetUndeclared stands for "no charset, or one that only claims ASCII".
const charsetUndeclared = ""

// normalizeCharset lower-cases a charset label and strips quotes, an
// RFC 2231 language suffix and spaces; ASCII labels count as undeclared,
// since Japanese mail mislabelled as ASCII is common and ASCII is UTF-8.
func normalizeCharset(label string) string {
	label = strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	if i := strings.IndexByte(label, '*'); i >= 0 {
		label = label[:i]
	}
	switch label {
	case "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us":
		return charsetUndeclared
	case "utf8", "utf-8", "unicode-1-1-utf-8", "utf8mb4", "x-unicode20utf8":
		return "utf-8"
	}
	return label
}

// decodeCharset converts b, declared in label, to UTF-8. Undeclared text is
// taken as UTF-8 when it is valid UTF-8, else its Japanese encoding is
// detected. A label nobody knows is detected the same way and reported.
func decodeCharset(label string, b []byte) (s string, problem string) {
	label = normalizeCharset(label)
	if label == "utf-8" {
		return toValidUTF8(b), ""
	}
	if label == charsetUndeclared {
		if isISO2022JP(b) {
			return decodeWith(japanese.ISO2022JP, b), ""
		}
		if utf8.Valid(b) {
			return string(b), ""
		}
		return decodeWith(detectJapanese(b), b), ""
	}
	enc, ok := japaneseCharsets[label]
	if !ok {
		var err error
		enc, err = htmlindex.Get(label)
		if err != nil {
			if utf8.Valid(b) {
				return string(b), "unknown charset " + quoteLabel(label) + ", read as UTF-8"
			}
			return decodeWith(detectJapanese(b), b), "unknown charset " + quoteLabel(label) + ", detected"
		}
	}
	return decodeWith(enc, b), ""
}

func quoteLabel(label string) string {
	if len(label) > 40 {
		label = label[:40]
	}
	return "\"" + strings.ToValidUTF8(label, "?") + "\""
}

func decodeWith(enc encoding.Encoding, b []byte) string {
	if enc == nil {
		return toValidUTF8(b)
	}
	if enc == japanese.ISO2022JP {
		if s, ok := decodeISO2022JP(b); ok {
			return s
		}
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		// The x/text decoders replace bad bytes instead of failing; an
		// error here is a transformer limit, so keep what is readable.
		return toValidUTF8(b)
	}
	return string(out)
}

func toValidUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
}

// detectJapanese guesses the Japanese encoding of b, which is not valid
// UTF-8: ISO-2022-JP is 7-bit with escapes; otherwise the one of Shift_JIS
// and EUC-JP under which b has fewer invalid sequences wins, ties going to
// Shift_JIS (far more common in mail from Windows systems). Being cheap, it
// replaces enmime's statistical detection, which costs most of a parse.
func detectJapanese(b []byte) encoding.Encoding {
	if isISO2022JP(b) {
		return japanese.ISO2022JP
	}
	if sjisErrors(b) <= eucErrors(b) {
		return japanese.ShiftJIS
	}
	return japanese.EUCJP
}

// isISO2022JP reports whether b switches to JIS X 0208 with an escape
// sequence; such text is 7-bit and so also valid UTF-8.
func isISO2022JP(b []byte) bool {
	return bytes.Contains(b, []byte("\x1b$B")) || bytes.Contains(b, []byte("\x1b$@"))
}

func sjisErrors(b []byte) int {
	n := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c < 0x80, c >= 0xA1 && c <= 0xDF:
		case (c >= 0x81 && c <= 0x9F) || (c >= 0xE0 && c <= 0xFC):
			if i+1 < len(b) && b[i+1] >= 0x40 && b[i+1] <= 0xFC && b[i+1] != 0x7F {
				i++
			} else {
				n++
			}
		default:
			n++
		}
	}
	return n
}

func eucErrors(b []byte) int {
	n := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c < 0x80:
		case c == 0x8E: // half-width katakana
			if i+1 < len(b) && b[i+1] >= 0xA1 && b[i+1] <= 0xDF {
				i++
			} else {
				n++
			}
		case c == 0x8F: // JIS X 0212
			if i+2 < len(b) && b[i+1] >= 0xA1 && b[i+2] >= 0xA1 && b[i+1] != 0xFF && b[i+2] != 0xFF {
				i += 2
			} else {
				n++
			}
		case c >= 0xA1 && c <= 0xFE:
			if i+1 < len(b) && b[i+1] >= 0xA1 && b[i+1] <= 0xFE {
				i++
			} else {
				n++
			}
		default:
			n++
		}
	}
	return n
}
