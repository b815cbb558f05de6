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
	if !strings.Contains(raw, "\n") && !mayStartWithZip(raw) {
		return "", raw // the common one-line address, without a copy
	}
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

// mayStartWithZip reports whether s starts with 〒 or a digit.
func mayStartWithZip(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == '〒' || r == '\u3036' || r >= '0' && r <= '9' || r >= '０' && r <= '９'
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

// reportCutValues adds a problem for each value the template read on one
// line that a line it did not read follows directly, without a label: the
// rest of a value a mailer wrapped, which reading would otherwise cut
// silently.
func (s *matchState) reportCutValues(b *builder) {
	j := 0
	for _, k := range s.extras {
		if k == 0 || s.ml.nb[k] != s.ml.nb[k-1]+1 || !isUnlabelledText(s.ml.line(k)) {
			continue
		}
		for j < len(s.vals) && s.vals[j].at < k-1 {
			j++
		}
		if j < len(s.vals) && s.vals[j].at == k-1 && mayWrap(s.vals[j].path) {
			v := s.vals[j]
			if name, ok := strings.CutPrefix(v.path, "items."); ok {
				b.problem("%s: value may go on over a line that was not read", itemPath(v.item, name))
			} else {
				b.problem("%s: value may go on over a line that was not read", v.path)
			}
		}
	}
}

// mayWrap reports whether a value of path is text a mailer may wrap onto
// the next line: a title, a name, a code; not a number or a date.
func mayWrap(path string) bool {
	switch fieldKinds[path] {
	case kindText, kindTitle, kindOption, kindCode:
		return true
	}
	return false
}

// isUnlabelledText reports whether a line is text without a label, a
// section heading or boilerplate: what the rest of a wrapped value is.
func isUnlabelledText(line string) bool {
	return splitLabelOnly(line) == "" && sectionName(line) == "" && !isBoilerplate(line)
}

// labelSeparatorEnd returns where the value starts after a label as
// splitLabel sees it: after the closing bracket of "[label]", or after the
// first colon.
func labelSeparatorEnd(prefix string) (int, bool) {
	for _, br := range [][2]string{{"[", "]"}, {"［", "］"}, {"【", "】"}} {
		if strings.HasPrefix(prefix, br[0]) {
			if end := strings.Index(prefix, br[1]); end >= 0 {
				return end + len(br[1]), true
			}
			return 0, false
		}
	}
	i := strings.IndexByte(prefix, ':')
	if j := strings.Index(prefix, "："); j >= 0 && (i < 0 || j < i) {
		return j + len("："), true
	}
	return i + 1, i >= 0
}

func isYenOrSpace(r rune) bool { return isSpace(r) || isYenMark(foldRune(r)) }

// verbatim returns the value of a one-placeholder line as the mail writes
// it, for the event's fields: with the yen mark before it and the text
// after it ("¥ 880", "880円", "3個") that the template has as literal text,
// and the lines it continues on. value is what the placeholder read; the
// typed field takes that.
func (l *lineSpec) verbatim(line string, labelEnd int, value string) string {
	start := labelEnd
	if i, ok := labelSeparatorEnd(line[:labelEnd]); ok {
		// Where the fallback would start the value: after the colon or
		// the bracket, so "お届け先：〒150-0001" keeps its 〒.
		start = i
	} else if labelRaw := strings.TrimRightFunc(l.raws[0], isYenOrSpace); strings.HasPrefix(line, labelRaw) {
		// The label without the yen mark that may stand before the value.
		start = len(labelRaw)
	} else if e, ok := newLiteral(labelRaw, false, false).matchPrefix(line, 0); ok && e <= labelEnd {
		start = e
	}
	head := trimSpace(line[start:])
	first, rest, multi := strings.Cut(value, "\n")
	if head == first {
		return value // the common case: nothing around the value
	}
	end, ok := l.matchSuffix(line, labelEnd)
	onLine := ok && end >= labelEnd && trimSpace(line[labelEnd:end]) != ""
	switch {
	case !onLine && head == "":
		return value
	case !onLine:
		return head + "\n" + value // the value starts on the next line
	}
	if multi {
		return head + "\n" + rest
	}
	return head
}

// asciiDashes writes the dashes and minus signs that phone numbers and
// zip codes are typed or rendered with ("03‑1234", "150−0001") as "-".
func asciiDashes(s string) string {
	if isASCII(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r >= 0x80 && foldRune(r) == '-' {
			return '-'
		}
		return r
	}, s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
