package parse

import (
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
)

// jis0208UTF8 maps JIS X 0208 row/cell pairs (0x21-0x7E each) to the
// UTF-8 bytes of their runes, as golang.org/x/text decodes them in
// ISO-2022-JP (with the NEC and IBM extensions of CP932); the last byte is
// the length, 0 for unmapped codes. It is built from x/text itself on
// first use, so the two decoders cannot disagree.
var (
	jis0208UTF8 [94 * 94][4]byte
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
			if ch != utf8.RuneError && utf8.RuneLen(ch) <= 3 {
				u := &jis0208UTF8[r*94+c]
				u[3] = byte(utf8.EncodeRune(u[:3], ch))
			}
		}
	}
}

// decodeISO2022JP decodes well-formed ISO-2022-JP quickly; ok is false
// for anything else (8-bit bytes, unknown escapes, broken pairs, unmapped
// codes), which the x/text decoder then handles. A mail body goes through
// here once per parse, and the x/text transformer machinery costs about
// as much as all of the template matching. ASCII runs are copied whole and
// JIS X 0208 pairs from their UTF-8 bytes in jis0208UTF8.
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
	for i := 0; i < len(b); {
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
			i += 3
			continue
		}
		if c >= 0x80 || c == 0x0e || c == 0x0f {
			return "", false
		}
		switch state {
		case ascii, roman:
			// JIS X 0201 Roman differs in 0x5C and 0x7E only as glyphs;
			// x/text keeps the bytes.
			j := i + 1
			for j < len(b) && b[j] != 0x1b && b[j] < 0x80 && b[j] != 0x0e && b[j] != 0x0f {
				j++
			}
			out.Write(b[i:j])
			i = j
		case katakana:
			if c < 0x21 || c > 0x5f {
				return "", false
			}
			out.WriteRune(0xff61 + rune(c-0x21))
			i++
		case twoByte:
			var ok bool
			if i, ok = writeJIS0208(&out, b, i); !ok {
				return "", false
			}
		}
	}
	return out.String(), true
}

// writeJIS0208 decodes the JIS X 0208 pairs of b from i up to the next
// escape into out, and returns where it stopped. Anything but a pair of
// 0x21-0x7E (a line end, a broken pair) or an unmapped pair is malformed
// and left to x/text: ok is false.
func writeJIS0208(out *strings.Builder, b []byte, i int) (int, bool) {
	// The pairs are gathered in chunk: one Write per run rather than per
	// character.
	var chunk [192]byte
	n := 0
	for ; i < len(b) && b[i] != 0x1b; i += 2 {
		c := b[i]
		if i+1 >= len(b) || c < 0x21 || c > 0x7e || b[i+1] < 0x21 || b[i+1] > 0x7e {
			return i, false
		}
		u := &jis0208UTF8[int(c-0x21)*94+int(b[i+1]-0x21)]
		if u[3] == 0 {
			return i, false // unmapped
		}
		if n+3 > len(chunk) {
			out.Write(chunk[:n])
			n = 0
		}
		// Three bytes always fit; a two-byte rune's third is overwritten
		// next or cut off.
		chunk[n], chunk[n+1], chunk[n+2] = u[0], u[1], u[2]
		n += int(u[3])
	}
	out.Write(chunk[:n])
	return i, true
}
