package catalog

import (
	"strconv"
	"strings"
)

// parseCount reads a stock quantity or a yen price the way QSM, Excel and
// people write them: half- or full-width digits, thousands separators,
// ¥/￥/円, and "\" (a Shift_JIS 0x5C, which Japanese Windows shows as ¥).
// It returns the value, or the reason it is not a count ("is not a number",
// "is negative", ...) to complete a message that starts with the cell.
func parseCount(s string) (int64, string) {
	t := trimBlank(strings.Map(foldNumberRune, s))
	neg := false
	unsign := func() {
		if !neg && strings.HasPrefix(t, "-") {
			neg, t = true, trimBlank(t[1:])
		}
	}
	unsign()
	for _, p := range []string{"¥", "￥", `\`} {
		if strings.HasPrefix(t, p) {
			t = trimBlank(t[len(p):])
			break
		}
	}
	unsign()
	t = trimBlank(strings.TrimSuffix(t, "円"))

	// Spreadsheets sometimes write whole numbers as "12.0".
	if i := strings.IndexByte(t, '.'); i >= 0 {
		frac := t[i+1:]
		if !isDigits(frac) {
			return 0, "is not a number"
		}
		if strings.Trim(frac, "0") != "" {
			return 0, "is not a whole number"
		}
		t = t[:i]
	}
	if strings.Contains(t, ",") {
		if !groupedByThousands(t) {
			return 0, "is not a number"
		}
		t = strings.ReplaceAll(t, ",", "")
	}
	if !isDigits(t) {
		return 0, "is not a number"
	}
	if neg {
		return 0, "is negative"
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, "is out of range"
	}
	return v, ""
}

// foldNumberRune maps the full-width forms of the characters a number may
// contain to ASCII.
func foldNumberRune(r rune) rune {
	switch {
	case r >= '０' && r <= '９':
		return r - '０' + '0'
	case r == '，':
		return ','
	case r == '．':
		return '.'
	case r == '－', r == '−', r == '\u2010', r == '\u2011':
		return '-'
	}
	return r
}

// trimBlank trims spaces and tabs, half- and full-width, but not line breaks:
// a number cell spread over two lines is a mistake worth reporting.
func trimBlank(s string) string {
	return strings.Trim(s, " \t\u3000")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// groupedByThousands reports whether s is digits in groups of three after a
// first group of one to three, as in 1,234,567.
func groupedByThousands(s string) bool {
	groups := strings.Split(s, ",")
	if n := len(groups[0]); n < 1 || n > 3 || !isDigits(groups[0]) {
		return false
	}
	for _, g := range groups[1:] {
		if len(g) != 3 || !isDigits(g) {
			return false
		}
	}
	return true
}
