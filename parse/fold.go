package parse

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// foldRune maps a rune to the form in which literal template text and
// labels are compared, absorbing the noise of rendering and re-encoding:
// full-width ASCII as ASCII, half-width katakana as full-width, the wave
// dash family as '~', every yen sign (and the JIS X 0201 yen read as a
// backslash) as '¥', dashes and minus signs as '-', ASCII in lower case.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		switch {
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		case r == '\\':
			return '¥'
		}
		return r
	}
	switch {
	case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII
		return foldRune(r - 0xFEE0)
	case r >= 0xFF61 && r <= 0xFF9F: // half-width katakana
		if f := width.LookupRune(r).Folded(); f != 0 {
			return f
		}
	}
	switch r {
	case 0x301C, 0x223C, 0x2053, 0x02DC: // wave dash, tilde operator, swung dash, small tilde
		return '~'
	case 0xFFE5: // full-width yen
		return '¥'
	case 0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0xFE63, 0xFE58:
		return '-'
	case 0x2018, 0x2019:
		return '\''
	case 0x201C, 0x201D:
		return '"'
	}
	return r
}

// isSpace reports whether r is white space in mail text, including the
// ideographic space and no-break space.
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\n', 0x3000, 0xA0:
		return true
	}
	// No rune above U+3000 is white space: kana, kanji and full-width
	// forms, most of Japanese text, skip the table lookup.
	return r >= 0x80 && r < 0x3000 && unicode.IsSpace(r)
}

// leadingSpaceLen returns the length of the white space rune (isSpace)
// that s, starting with a non-ASCII byte, starts with, or 0. It matches
// the UTF-8 bytes of the few non-ASCII space runes instead of decoding:
// most of what it sees is Japanese text, none of it space.
func leadingSpaceLen(s string) int {
	switch {
	case len(s) >= 2 && s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0): // U+0085, U+00A0
		return 2
	case len(s) < 3:
		return 0
	}
	if isSpace3(s[0], s[1], s[2]) {
		return 3
	}
	return 0
}

// trailingSpaceLen is leadingSpaceLen at the end of s, which ends with a
// non-ASCII byte.
func trailingSpaceLen(s string) int {
	n := len(s)
	switch {
	case n >= 2 && s[n-2] == 0xC2 && (s[n-1] == 0x85 || s[n-1] == 0xA0):
		return 2
	case n < 3:
		return 0
	}
	if isSpace3(s[n-3], s[n-2], s[n-1]) {
		return 3
	}
	return 0
}

// isSpace3 reports whether the three bytes encode one of the three-byte
// white space runes: U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
// U+205F and U+3000.
func isSpace3(a, b, c byte) bool {
	switch a {
	case 0xE1:
		return b == 0x9A && c == 0x80
	case 0xE2:
		return b == 0x80 && (c >= 0x80 && c <= 0x8A || c == 0xA8 || c == 0xA9 || c == 0xAF) ||
			b == 0x81 && c == 0x9F
	case 0xE3:
		return b == 0x80 && c == 0x80
	}
	return false
}

// trimSpace trims white space as isSpace defines it.
func trimSpace(s string) string {
	for len(s) > 0 {
		c := s[0]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			s = s[1:]
			continue
		}
		if c < utf8.RuneSelf {
			break
		}
		n := leadingSpaceLen(s)
		if n == 0 {
			break
		}
		s = s[n:]
	}
	return trimRightSpace(s)
}

// trimRightSpace is strings.TrimRightFunc(s, isSpace), without decoding
// runes (see trailingSpaceLen).
func trimRightSpace(s string) string {
	for len(s) > 0 {
		c := s[len(s)-1]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			s = s[:len(s)-1]
			continue
		}
		if c < utf8.RuneSelf {
			break
		}
		n := trailingSpaceLen(s)
		if n == 0 {
			break
		}
		s = s[:len(s)-n]
	}
	return s
}

// foldString folds s and drops its white space, for substring tests. ASCII,
// most of any mail, takes a fast path.
func foldString(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			case 'A' <= c && c <= 'Z':
				b.WriteByte(c + 'a' - 'A')
			case c == '\\':
				b.WriteRune('¥')
			default:
				b.WriteByte(c)
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if !isSpace(r) {
			b.WriteRune(foldRune(r))
		}
	}
	return b.String()
}

// isYenMark reports whether r marks money next to a number and may be
// missing or different in a rendered mail ("¥ 1,980", "1,980円").
func isYenMark(r rune) bool {
	return r == '¥' || r == '円'
}

// litRune is one rune of a folded literal. An optional rune (a yen mark next
// to a placeholder) may be absent from the mail.
type litRune struct {
	r   rune
	opt bool
}

// literal is template text, folded, without white space.
type literal []litRune

func newLiteral(s string, optLeading, optTrailing bool) literal {
	var l literal
	for _, r := range s {
		if !isSpace(r) {
			l = append(l, litRune{r: foldRune(r)})
		}
	}
	if optTrailing {
		for i := len(l) - 1; i >= 0 && isYenMark(l[i].r); i-- {
			l[i].opt = true
		}
	}
	if optLeading {
		for i := 0; i < len(l) && isYenMark(l[i].r); i++ {
			l[i].opt = true
		}
	}
	return l
}

// required reports whether l has a rune that must be present.
func (l literal) required() bool {
	for _, c := range l {
		if !c.opt {
			return true
		}
	}
	return false
}

// matchPrefix matches l at s[i:], ignoring white space, and returns the
// index just past the match.
func (l literal) matchPrefix(s string, i int) (int, bool) {
	for j := 0; j < len(l); {
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !isSpace(r) {
				break
			}
			i += n
		}
		if i >= len(s) {
			for ; j < len(l); j++ {
				if !l[j].opt {
					return 0, false
				}
			}
			break
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if foldRune(r) == l[j].r {
			i += n
			j++
			continue
		}
		if l[j].opt {
			j++
			continue
		}
		return 0, false
	}
	return i, true
}

// matchSuffix matches l at the end of s[from:], ignoring white space, and
// returns the index where the match starts.
func (l literal) matchSuffix(s string, from int) (int, bool) {
	i := len(s)
	for j := len(l) - 1; j >= 0; {
		for i > from {
			r, n := utf8.DecodeLastRuneInString(s[from:i])
			if !isSpace(r) {
				break
			}
			i -= n
		}
		if i <= from {
			for ; j >= 0; j-- {
				if !l[j].opt {
					return 0, false
				}
			}
			break
		}
		r, n := utf8.DecodeLastRuneInString(s[from:i])
		if foldRune(r) == l[j].r {
			i -= n
			j--
			continue
		}
		if l[j].opt {
			j--
			continue
		}
		return 0, false
	}
	return i, true
}

// index finds the first match of l in s[from:] and returns where it starts
// and ends.
func (l literal) index(s string, from int) (start, end int, ok bool) {
	for k := from; k < len(s); {
		if e, ok := l.matchPrefix(s, k); ok {
			return k, e, true
		}
		_, n := utf8.DecodeRuneInString(s[k:])
		k += n
	}
	return 0, 0, false
}
