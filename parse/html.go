package parse

import (
	"bytes"
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

// blockTags end a line of text when they open or close.
var blockTags = map[string]bool{
	"br": true, "p": true, "div": true, "tr": true, "li": true, "table": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"hr": true, "pre": true, "blockquote": true, "ul": true, "ol": true,
	"dt": true, "dd": true, "title": true,
}

// htmlToText renders HTML as the text a reader sees, line by line: <br> and
// block elements break lines, cells are separated by a space, entities such
// as &yen; are decoded, and script, style and head are dropped.
func htmlToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0 // depth inside script/style
	pre := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return strings.TrimLeft(b.String(), "\n")
		case html.TextToken:
			if skip > 0 {
				continue
			}
			text := string(z.Text()) // entities decoded
			if pre == 0 {
				text = collapseSpace(text)
			}
			b.WriteString(text)
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch tag {
			case "script", "style", "head":
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
				continue
			case "pre":
				if tt == html.StartTagToken {
					pre++
				} else if tt == html.EndTagToken && pre > 0 {
					pre--
				}
			case "td", "th":
				if tt == html.EndTagToken {
					b.WriteByte(' ')
				}
			}
			if blockTags[tag] && (tag == "br" || !endsWithNewline(&b)) {
				b.WriteByte('\n')
			}
		}
	}
}

func endsWithNewline(b *strings.Builder) bool {
	s := b.String()
	return s == "" || s[len(s)-1] == '\n'
}

// collapseSpace turns runs of HTML whitespace (including source line
// breaks) into one space, as a browser does outside <pre>.
func collapseSpace(s string) string {
	if !strings.ContainsAny(s, "\n\r\t") && !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' || r == '\f' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

var metaCharsetPattern = regexp.MustCompile(`(?i)<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)`)

// metaCharset returns the charset an HTML part declares in a meta tag.
func metaCharset(b []byte) string {
	head := b
	if len(head) > 2048 {
		head = head[:2048]
	}
	if !bytes.Contains(bytes.ToLower(head), []byte("charset")) {
		return ""
	}
	if m := metaCharsetPattern.FindSubmatch(head); m != nil {
		return string(m[1])
	}
	return ""
}
