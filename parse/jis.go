package parse

import (
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
)

// jis0208 maps JIS X 0208 row/cell pairs (0x21-0x7E each) to runes, as
// golang.org/x/text decodes them in ISO-2022-JP (with the NEC and IBM
// extensions of CP932). It is built from x/text itself on first use, so
// the two decoders cannot disagree.
var (
	jis0208     [94 * 94]rune
	jis0208Once sync.Once
)

func buildJIS0208() {
	dec := japanese.ISO2022JP.NewDecoder()
	buf := []byte("\x1b$B\x21\x21\x1b(B")
	for r := range 94 {
		for c := range 94 {
			buf[3], buf[4] = byte(0x21+r), byte(0x21+c)
			out, err := dec.Bytes(buf)
			ch, n := utf8.DecodeRune(out)
			if err != nil || n != len(out) {
				ch = utf8.RuneError
			}
			jis0208[r*94+c] = ch
		}
	}
}

// decodeISO2022JP decodes well-formed ISO-2022-JP quickly; ok is false
// for anything else (8-bit bytes, unknown escapes, broken pairs, unmapped
// codes), which the x/text decoder then handles. A mail body goes through
// here once per parse, and the x/text transformer machinery costs about
// as much as all of the template matching.
func decodeISO2022JP(b []byte) (string, bool) {
	jis0208Once.Do(buildJIS0208)
	const (
		ascii = iota
		roman
		katakana
		twoByte
	)
	state := ascii
	var out strings.Builder
	out.Grow(len(b) + len(b)/2)
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == 0x1b {
			if i+2 >= len(b) {
				return "", false
			}
			switch string(b[i+1 : i+3]) {
			case "(B":
				state = ascii
			case "(J":
				state = roman
			case "(I":
				state = katakana
			case "$B", "$@":
				state = twoByte
			default:
				return "", false
			}
			i += 2
			continue
		}
		if c >= 0x80 || c == 0x0e || c == 0x0f {
			return "", false
		}
		switch state {
		case ascii, roman:
			out.WriteByte(c) // JIS X 0201 Roman differs in 0x5C and 0x7E only as glyphs; x/text keeps the bytes
		case katakana:
			if c < 0x21 || c > 0x5f {
				return "", false
			}
			out.WriteRune(0xff61 + rune(c-0x21))
		case twoByte:
			if c == '\n' || c == '\r' {
				return "", false // a line end inside JIS X 0208: malformed, leave it to x/text
			}
			if i+1 >= len(b) || c < 0x21 || c > 0x7e || b[i+1] < 0x21 || b[i+1] > 0x7e {
				return "", false
			}
			r := jis0208[int(c-0x21)*94+int(b[i+1]-0x21)]
			if r == utf8.RuneError {
				return "", false
			}
			out.WriteRune(r)
			i++
		}
	}
	return out.String(), true
}
