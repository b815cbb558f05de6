package parse

import (
	"bytes"
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// blockTags end a line of text when they open or close; paragraph tags
// (true) leave a blank line, as a browser leaves a margin: readers end
// multi-line values at blank lines.
var blockTags = map[atom.Atom]bool{
	atom.P: true, atom.Div: false, atom.Li: false, atom.H1: true, atom.H2: true,
	atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true, atom.Hr: false,
	atom.Pre: true, atom.Blockquote: true, atom.Ul: true, atom.Ol: true,
	atom.Section: false, atom.Article: false, atom.Header: false, atom.Footer: false,
	atom.Center: false, atom.Address: false, atom.Caption: false,
}

// htmlToText renders HTML as the lines a reader sees, in the form the
// readers downstream take: <br> and block elements break lines, entities
// (named and numeric) are decoded, script and style are dropped, and the
// label/value layouts of mailers become "label: value" lines: a table row
// of a label cell and a value cell, a table whose first row heads its
// columns, a <dl>. golang.org/x/net/html builds the tree as a browser
// would, closing what the mail left open.
func htmlToText(s string) string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return s // only a failing reader makes Parse fail
	}
	var r htmlRenderer
	r.node(doc)
	return strings.Trim(r.b.String(), "\n") + "\n"
}

// htmlRenderer writes the text of a tree; pre counts enclosing <pre>.
type htmlRenderer struct {
	b     strings.Builder
	pre   int
	depth int // elements entered
}

// maxHTMLDepth bounds the elements the renderer nests into; below it, an
// element's text is written as it comes. Mail HTML nests a few dozen deep.
const maxHTMLDepth = 100

// flat writes the text under n without layout, walking the tree with a
// stack of its own, however deep it nests.
func (r *htmlRenderer) flat(n *html.Node) {
	stack := []*html.Node{n}
	for len(stack) > 0 {
		n, stack = stack[len(stack)-1], stack[:len(stack)-1]
		if n.Type == html.TextNode {
			r.b.WriteString(collapseSpace(n.Data))
			continue
		}
		if n.Type == html.ElementNode && (n.DataAtom == atom.Script || n.DataAtom == atom.Style) {
			continue
		}
		for c := n.LastChild; c != nil; c = c.PrevSibling {
			stack = append(stack, c)
		}
	}
}

func (r *htmlRenderer) newline() {
	s := r.b.String()
	if s != "" && s[len(s)-1] != '\n' {
		r.b.WriteByte('\n')
	}
}

// paragraph ends the line and leaves one blank line.
func (r *htmlRenderer) paragraph() {
	r.newline()
	s := r.b.String()
	if s != "" && !strings.HasSuffix(s, "\n\n") {
		r.b.WriteByte('\n')
	}
}

func (r *htmlRenderer) node(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		text := strings.ReplaceAll(n.Data, "\u00a0", " ")
		if r.pre == 0 {
			text = collapseSpace(text)
			if strings.HasSuffix(r.b.String(), "\n") {
				text = strings.TrimLeft(text, " ")
			}
		}
		r.b.WriteString(text)
		return
	case html.ElementNode:
		if r.depth >= maxHTMLDepth {
			r.flat(n)
			return
		}
		r.depth++
		defer func() { r.depth-- }()
		switch n.DataAtom {
		case atom.Script, atom.Style, atom.Head, atom.Title, atom.Template:
			return
		case atom.Br:
			r.b.WriteByte('\n')
			return
		case atom.Table:
			r.paragraph()
			r.table(n)
			r.paragraph()
			return
		case atom.Dl:
			r.paragraph()
			r.definitions(n)
			r.paragraph()
			return
		case atom.Pre:
			r.pre++
			defer func() { r.pre-- }()
		}
		if para, ok := blockTags[n.DataAtom]; ok {
			end := r.newline
			if para {
				end = r.paragraph
			}
			end()
			defer end()
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		r.node(c)
	}
}

// inner renders the children of n on their own, trimmed line by line.
func (r *htmlRenderer) inner(n *html.Node) string {
	sub := htmlRenderer{pre: r.pre, depth: r.depth}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		sub.node(c)
	}
	lines := strings.Split(sub.b.String(), "\n")
	return joinTrimmed(lines[0], lines[1:])
}

// rows returns the rows of a table, through its thead/tbody/tfoot, not
// those of tables nested in its cells; and its caption, a heading.
func rows(table *html.Node) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch c.DataAtom {
			case atom.Tr, atom.Caption:
				out = append(out, c)
			case atom.Thead, atom.Tbody, atom.Tfoot:
				walk(c)
			}
		}
	}
	walk(table)
	return out
}

// cell is a rendered table cell.
type cell struct {
	text   string
	header bool // a <th>
}

// cells returns the cells of a row that have text. A label cell (a <th>,
// or text ending in a colon) followed by empty cells only is a label
// whose value is empty: it keeps its colon.
func (r *htmlRenderer) cells(tr *html.Node) []cell {
	var out []cell
	empty := 0
	for c := tr.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode || (c.DataAtom != atom.Td && c.DataAtom != atom.Th) {
			continue
		}
		t := r.inner(c)
		if t == "" {
			empty++
			continue
		}
		out = append(out, cell{text: t, header: c.DataAtom == atom.Th})
	}
	if len(out) == 1 && empty > 0 && isLabelCell(out[0].text) &&
		(out[0].header || strings.HasSuffix(out[0].text, ":") || strings.HasSuffix(out[0].text, "：")) {
		out[0].text = strings.TrimRight(out[0].text, ":： ") + ":"
	}
	return out
}

// table writes a table's rows. A row of one cell (a heading, a colspan
// line, a nested table) is written as it is; a row of a label and values
// as "label: value"; and when the first row heads three or more columns
// with <th>, each later row is written as "heading: value" lines.
func (r *htmlRenderer) table(t *html.Node) {
	trs := rows(t)
	var heads []cell
	first := true
	for _, tr := range trs {
		if tr.DataAtom == atom.Caption {
			r.newline()
			r.b.WriteString(r.inner(tr))
			r.newline()
			continue
		}
		cs := r.cells(tr)
		if first && len(cs) >= 3 && allHeaders(cs) {
			heads, first = cs, false
			continue
		}
		first = false
		switch {
		case len(cs) == 0:
		case heads != nil && len(cs) == len(heads):
			for j, c := range cs {
				r.labelled(heads[j].text, c.text)
			}
		case len(cs) == 1 || !isLabelCell(cs[0].text):
			for _, c := range cs {
				r.newline()
				r.b.WriteString(c.text)
			}
		case len(cs)%2 == 0 && allLabelCells(cs):
			for j := 0; j < len(cs); j += 2 {
				r.labelled(cs[j].text, cs[j+1].text)
			}
		default:
			values := make([]string, 0, len(cs)-1)
			for _, c := range cs[1:] {
				values = append(values, c.text)
			}
			r.labelled(cs[0].text, strings.Join(values, " "))
		}
		r.newline()
	}
}

func allHeaders(cs []cell) bool {
	for _, c := range cs {
		if !c.header || strings.Contains(c.text, "\n") {
			return false
		}
	}
	return true
}

// allLabelCells reports whether every other cell, from the first, reads
// as a label: a row of label, value, label, value.
func allLabelCells(cs []cell) bool {
	for j := 0; j < len(cs); j += 2 {
		if !isLabelCell(cs[j].text) {
			return false
		}
	}
	return true
}

// isLabelCell reports whether a cell's text reads as a label: one short
// line, not a sentence, not itself "label: value".
func isLabelCell(s string) bool {
	if strings.Contains(s, "\n") {
		return false
	}
	l := strings.TrimRight(s, ":：")
	if _, _, ok := splitLabel(l); ok {
		return false
	}
	return plausibleLabel(l) && sectionName(l) == ""
}

// labelled writes "label: value"; a value over several lines continues on
// the lines after.
func (r *htmlRenderer) labelled(label, value string) {
	r.newline()
	label = strings.TrimRight(label, ":： ")
	r.b.WriteString(label)
	r.b.WriteString(": ")
	r.b.WriteString(value)
}

// definitions writes a <dl> as "term: description" lines.
func (r *htmlRenderer) definitions(dl *html.Node) {
	var walk func(*html.Node)
	term := ""
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch c.DataAtom {
			case atom.Dt:
				if term != "" {
					r.newline()
					r.b.WriteString(term)
				}
				term = r.inner(c)
			case atom.Dd:
				if term != "" {
					r.labelled(term, r.inner(c))
					term = ""
				} else {
					r.newline()
					r.b.WriteString(r.inner(c))
				}
			case atom.Div: // HTML allows a div around each dt/dd group
				walk(c)
			}
		}
	}
	walk(dl)
	if term != "" {
		r.newline()
		r.b.WriteString(term)
	}
}

// collapseSpace turns runs of HTML whitespace (including source line
// breaks) into one space, as a browser does outside <pre>.
func collapseSpace(s string) string {
	if !strings.ContainsAny(s, "\n\r\t\f") && !strings.Contains(s, "  ") {
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
