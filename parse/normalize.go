package parse

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// nfkc normalizes s to NFKC; ASCII, the common case, is already.
func nfkc(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return nfkcWide(s, i)
		}
	}
	return s
}

// nfkcWide normalizes s, not ASCII from byte i on. Full-width ASCII and the
// ideographic space, which phone numbers and codes typed on Japanese
// keyboards are made of, map rune for rune to ASCII under NFKC (nothing in
// ASCII composes), so such text skips the general normalizer.
func nfkcWide(s string, i int) string {
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		switch {
		case r < utf8.RuneSelf:
			b.WriteByte(byte(r))
		case r >= 0xFF01 && r <= 0xFF5E:
			b.WriteByte(byte(r - 0xFEE0))
		case r == 0x3000:
			b.WriteByte(' ')
		default:
			return norm.NFKC.String(s)
		}
	}
	return b.String()
}

// splitTrailingCode splits "長袖Tシャツ(TS-001)" into the text and the code
// in its trailing HALF-width parentheses. Full-width （…） belong to the
// text and stay.
func splitTrailingCode(s string) (text, code string) {
	s = trimSpace(s)
	if !strings.HasSuffix(s, ")") {
		return s, ""
	}
	depth := 0
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				text, code = trimSpace(s[:i]), trimSpace(nfkc(s[i+1:len(s)-1]))
				if text == "" || code == "" {
					return s, ""
				}
				return text, code
			}
		}
	}
	return s, ""
}

// parseYen reads "¥ 1,980", "￥1,980", "1,980円" or "\1,980" as yen.
func parseYen(s string) (int64, bool) {
	if v, ok := parseASCIIYen(s); ok {
		return v, true
	}
	s = nfkc(s)
	s = strings.TrimSuffix(trimSpace(s), "(税込)")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '¥' || r == '\\' || r == '円' || r == ',' || isSpace(r):
		case r == '−' || r == '▲':
			b.WriteByte('-')
		default:
			b.WriteRune(r)
		}
	}
	v, err := strconv.ParseInt(b.String(), 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// parseASCIIYen reads the plain "1,980" form without allocating.
func parseASCIIYen(s string) (int64, bool) {
	var v int64
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if v > (1<<62)/10 {
				return 0, false
			}
			v = v*10 + int64(c-'0')
			digits++
		case c == ',' || c == ' ':
		default:
			return 0, false
		}
	}
	return v, digits > 0
}

// parseQty reads a quantity, allowing a counter word after the number.
func parseQty(s string) (int64, bool) {
	s = trimSpace(nfkc(s))
	for _, suffix := range []string{"個", "点", "枚", "本", "つ", "pcs", "件"} {
		s = trimSpace(strings.TrimSuffix(s, suffix))
	}
	s = strings.ReplaceAll(s, ",", "")
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v >= 0
}

// isNoneWord reports whether s says "not specified".
func isNoneWord(s string) bool {
	switch foldString(s) {
	case "指定なし", "指定無し", "なし", "無し", "未指定", "-", "ー", "--", "なし(指定なし)":
		return true
	}
	return false
}

// parseDate reads 2026/11/20 21:04:55, 2026-11-20 21:04, 20261125 or
// 2026年11月25日 (also with a weekday in parentheses) as RFC 3339 in Japan
// time, or as YYYY-MM-DD when there is no time or dateOnly is set.
func parseDate(s string, dateOnly bool) (string, bool) {
	s = nfkc(trimSpace(s))
	var numbuf [8]string
	nums := numbuf[:0]
	start := -1
	for i, r := range s + " " {
		isDigit := r >= '0' && r <= '9'
		if isDigit {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			nums = append(nums, s[start:i])
			start = -1
		}
		if i < len(s) && !strings.ContainsRune("/-.年月日 T:時分秒()月火水木金土日", r) && !isSpace(r) {
			if !isWeekdayLetter(r) {
				return "", false
			}
		}
	}
	if len(nums) == 1 {
		n := nums[0]
		switch len(n) {
		case 8:
			nums = []string{n[:4], n[4:6], n[6:8]}
		case 12:
			nums = []string{n[:4], n[4:6], n[6:8], n[8:10], n[10:12]}
		case 14:
			nums = []string{n[:4], n[4:6], n[6:8], n[8:10], n[10:12], n[12:14]}
		}
	}
	if len(nums) < 3 || len(nums) > 6 || len(nums[0]) != 4 {
		return "", false
	}
	v := make([]int, 6)
	for i, n := range nums {
		if len(n) > 4 {
			return "", false
		}
		v[i], _ = strconv.Atoi(n)
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, jst)
	if t.Year() != v[0] || int(t.Month()) != v[1] || t.Day() != v[2] || v[3] > 23 || v[4] > 59 || v[5] > 59 {
		return "", false
	}
	if dateOnly || len(nums) == 3 {
		return t.Format(time.DateOnly), true
	}
	return t.Format(time.RFC3339), true
}

func isWeekdayLetter(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// trimBlankLines trims each line and drops blank lines at both ends.
// Values usually come already trimmed (a multi-line value is trimmed when
// it is read, then again when it is stored), so that case is checked first
// and costs no allocation.
func trimBlankLines(s string) string {
	if isTrimmedText(s) {
		return s
	}
	lines := strings.Split(s, "\n")
	return joinTrimmed(lines[0], lines[1:])
}

// isTrimmedText reports whether trimBlankLines would return s unchanged.
func isTrimmedText(s string) bool {
	for first := true; ; first = false {
		line, rest, more := strings.Cut(s, "\n")
		if len(trimSpace(line)) != len(line) || (line == "" && (first || !more)) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// joinTrimmed is trimBlankLines of first and the lines rest joined by
// newlines, none of which contains a newline, built in one allocation.
func joinTrimmed(first string, rest []string) string {
	line := func(i int) string {
		if i == 0 {
			return trimSpace(first)
		}
		return trimSpace(rest[i-1])
	}
	lo, hi := 0, len(rest)+1
	for lo < hi && line(lo) == "" {
		lo++
	}
	for hi > lo && line(hi-1) == "" {
		hi--
	}
	switch hi - lo {
	case 0:
		return ""
	case 1:
		return line(lo)
	}
	size := hi - lo - 1
	for i := lo; i < hi; i++ {
		size += len(line(i))
	}
	var b strings.Builder
	b.Grow(size)
	for i := lo; i < hi; i++ {
		if i > lo {
			b.WriteByte('\n')
		}
		b.WriteString(line(i))
	}
	return b.String()
}
