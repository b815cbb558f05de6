package parse

import (
	"strings"
	"unicode/utf8"
)

// splitAddress reads an address as sellers' edited templates lay it out:
// "〒150-0001" on a line of its own or before the address, then the
// address, then the building on the next line. It returns the zip code
// (without 〒, "" when there is none) and the address on one line, its
// lines joined by a space.
func splitAddress(raw string) (zip, address string) {
	lines := strings.Split(raw, "\n")
	kept := lines[:0]
	for _, l := range lines {
		l = trimSpace(l)
		if l == "" {
			continue
		}
		if zip == "" && len(kept) == 0 {
			if z, rest, ok := cutZip(l); ok {
				zip = z
				if rest == "" {
					continue
				}
				l = rest
			}
		}
		kept = append(kept, l)
	}
	return zip, strings.Join(kept, " ")
}

// cutZip splits a leading Japanese postal code off l: "〒150-0001 東京都…",
// "〒1500001", "150-0001" alone. Without 〒 only a line that is nothing
// but the code counts, so that an address starting with a number stays.
func cutZip(l string) (zip, rest string, ok bool) {
	s := nfkc(l)
	marked := false
	for _, mark := range []string{"〒", "\u3036"} {
		if strings.HasPrefix(s, mark) {
			s, marked = trimSpace(s[len(mark):]), true
		}
	}
	n := 0
	digits := 0
	for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == '-' && digits == 3) {
		if s[n] != '-' {
			digits++
		}
		n++
	}
	if digits != 7 || (n < len(s) && s[n] >= '0' && s[n] <= '9') {
		return "", "", false
	}
	rest = trimSpace(s[n:])
	if !marked && rest != "" {
		return "", "", false
	}
	if rest != "" {
		// Keep the address as written, not in NFKC: cut the same number
		// of runes off the original line.
		rest = trimSpace(cutRunes(l, utf8.RuneCountInString(l)-utf8.RuneCountInString(rest)))
	}
	return s[:n], rest, true
}

// cutRunes returns s without its first n runes.
func cutRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[i:]
		}
		n--
	}
	return ""
}

// unclosedCode reports whether a title or option ends in a code whose
// half-width parenthesis was opened and never closed: "ボトル(BTL-0".
func unclosedCode(s string) bool {
	open := strings.LastIndexByte(s, '(')
	return open >= 0 && open > strings.LastIndexByte(s, ')')
}

// looksTruncated reports whether a text value ends the way cut text does:
// with an ellipsis a mailer or a list put in place of the rest.
func looksTruncated(s string) bool {
	for _, end := range []string{"…", "...", "‥", "．．．"} {
		if strings.HasSuffix(s, end) {
			return true
		}
	}
	return false
}

// boilerplateStarts are how Qoo10's footers and mailers' additions begin,
// folded: a multi-line value (備考, キャンセル理由) that reaches one after
// a blank line ends there.
var boilerplateStarts = []string{
	"※", "*", "--", "===", "━", "─", "__", "qoo10", "http", "このメール", "本メール",
	"今後とも", "引き続き", "お問い合わせ", "お問合せ", "ご不明", "配信停止", "sentfrom", "iphoneから送信",
}

// isBoilerplate reports whether line begins the mail's own boilerplate.
func isBoilerplate(line string) bool {
	f := foldString(line)
	for _, b := range boilerplateStarts {
		if strings.HasPrefix(f, b) {
			return true
		}
	}
	return false
}
