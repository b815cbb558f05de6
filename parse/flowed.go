package parse

import (
	"strings"

	"github.com/jhillyerd/enmime/v2/mediatype"
)

// unflow decodes RFC 3676 format=flowed text (LF line ends): a line that
// ends in a space is soft-broken and joins the next one of the same quote
// depth. With delSp (DelSp=yes, how Apple Mail and Thunderbird send text
// without spaces between words, such as Japanese) that space is deleted
// (section 4.2); without it, it stays. Quote marks (section 4.5) are
// counted per line and written back as "> " per level, space-stuffing
// (4.4) is undone, and the signature separator "-- " is never flowed.
func unflow(text string, delSp bool) string {
	lines := strings.Split(text, "\n")
	var b strings.Builder
	b.Grow(len(text))
	open := false // the paragraph being joined continues on the next line
	openDepth := 0
	for i, line := range lines {
		depth := 0
		for depth < len(line) && line[depth] == '>' {
			depth++
		}
		content := strings.TrimPrefix(line[depth:], " ") // space-stuffing, or the space after ">"
		if open && depth != openDepth {
			// RFC 3676 4.5: a soft break never spans quote depths; the
			// paragraph ended where the depth changed.
			b.WriteByte('\n')
			open = false
		}
		if !open {
			b.WriteString(strings.Repeat(">", depth))
			if depth > 0 && content != "" {
				b.WriteByte(' ')
			}
		}
		flowed := strings.HasSuffix(content, " ") && content != "-- " && i < len(lines)-1
		if flowed && delSp {
			content = content[:len(content)-1]
		}
		b.WriteString(content)
		if flowed {
			open, openDepth = true, depth
			continue
		}
		open = false
		if i < len(lines)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// isFlowed reports whether a text part's Content-Type declares
// format=flowed, and whether DelSp=yes.
func isFlowed(ctype string) (flowed, delSp bool) {
	if !strings.Contains(strings.ToLower(ctype), "flowed") {
		return false, false // the common case, without parsing
	}
	_, params, _, err := mediatype.Parse(ctype)
	if err != nil {
		return false, false
	}
	return strings.EqualFold(strings.TrimSpace(params["format"]), "flowed"),
		strings.EqualFold(strings.TrimSpace(params["delsp"]), "yes")
}
