package mailgen

import (
	"regexp"
	"strings"
)

var (
	placeholder = regexp.MustCompile(`\[\$_([A-Za-z0-9_]+?)_\$\]|\[S_([A-Za-z0-9_]+?)_S\]`)
	deleteBlank = regexp.MustCompile(`#{0,2}DELETE_BLANK_ROW_?#{0,2}`)
	loopEnd     = regexp.MustCompile(`#{0,2}ISLOOP_END#{0,2}`)
	loopStart   = regexp.MustCompile(`#{0,2}ISLOOP_([A-Za-z0-9_$]+?)_ISLOOP#{0,2}`)
)

// Values are the placeholder values of one rendering. Loops holds, per
// block loop name (e.g. ORDER_ITEM), the values of each repetition; an
// inline loop (e.g. DEL_MEMO) repeats its line per line of its value.
type Values struct {
	Fields map[string]string
	Loops  map[string][]map[string]string
}

// Render renders template text the way J·QSM does, as far as it is known:
// placeholders replaced, ##DELETE_BLANK_ROW## lines whose placeholders are
// all empty dropped, loops repeated.
func Render(text string, v Values) string {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if loopEnd.MatchString(line) {
			continue
		}
		optional := deleteBlank.MatchString(line)
		line = deleteBlank.ReplaceAllLiteralString(line, "")
		if m := loopStart.FindStringSubmatch(line); m != nil {
			name := loopName(m[1])
			rest := strings.TrimSpace(loopStart.ReplaceAllLiteralString(line, ""))
			if rest == "" && !optional && blockFollows(lines[i+1:]) {
				end := i + 1
				for end < len(lines) && !loopEnd.MatchString(lines[end]) {
					end++
				}
				block := strings.Join(lines[i+1:end], "\n")
				for _, rep := range v.Loops[name] {
					merged := Values{Fields: map[string]string{}}
					for k, x := range v.Fields {
						merged.Fields[k] = x
					}
					for k, x := range rep {
						merged.Fields[k] = x
					}
					out = append(out, Render(block, merged))
				}
				i = end
				continue
			}
			value := v.Fields[name]
			if value == "" && optional {
				continue
			}
			for _, l := range strings.Split(value, "\n") {
				out = append(out, loopStart.ReplaceAllLiteralString(line, l))
			}
			continue
		}
		empty := true
		rendered := placeholder.ReplaceAllStringFunc(line, func(ph string) string {
			m := placeholder.FindStringSubmatch(ph)
			name := m[1]
			if name == "" {
				name = m[2]
			}
			if v.Fields[name] != "" {
				empty = false
			}
			return v.Fields[name]
		})
		if optional && empty {
			continue
		}
		out = append(out, rendered)
	}
	return strings.Join(out, "\n")
}

func blockFollows(lines []string) bool {
	for _, l := range lines {
		if loopEnd.MatchString(l) {
			return true
		}
		if loopStart.MatchString(l) {
			return false
		}
	}
	return false
}

func loopName(s string) string {
	for _, w := range [][2]string{{"S_", "_S"}, {"$_", "_$"}} {
		if strings.HasPrefix(s, w[0]) && strings.HasSuffix(s, w[1]) && len(s) > 4 {
			return s[2 : len(s)-2]
		}
	}
	return s
}
