package parse

import (
	"strings"
	"unicode/utf8"

	"github.com/qoo10hook/qoo10hook/event"
)

// mailLines is a body split into lines; matching works on the non-blank
// ones, so blank-line differences between template and mail do not matter.
type mailLines struct {
	all []string // lines, right-trimmed
	nb  []int    // indexes into all of the non-blank lines
}

func splitLines(body string) *mailLines {
	ml := &mailLines{all: strings.Split(body, "\n")}
	ml.nb = make([]int, 0, len(ml.all))
	for i, l := range ml.all {
		l = trimRightSpace(l)
		ml.all[i] = l
		if l != "" { // right-trimmed, so not blank
			ml.nb = append(ml.nb, i)
		}
	}
	return ml
}

func (ml *mailLines) line(k int) string { return ml.all[ml.nb[k]] }

// extracted says where one placeholder value read from a mail goes; the
// value itself, with its label and section, is the field at the same
// index in matchState.fields.
type extracted struct {
	path string
	raw  string // the placeholder's text, for the typed field
	item int
	at   int // non-blank line number
}

// matchState is one attempt to read a mail with a template.
type matchState struct {
	ml *mailLines
	// fields are the values read, in mail order, as the event's fields
	// (value exact and trimmed), and vals where each goes: a mail the
	// template reads whole gets these fields as they are, without a copy.
	fields  []event.Field
	vals    []extracted
	extras  []int // non-blank line numbers no template line took
	missing int   // literal lines not found
	matched int   // lines with placeholders found
	item    int
	section string
	heading int      // the literal line just matched, labelling a value on the next line; -1 for none
	scratch []string // reused for the values of one line
	// sections lists where each section heading matched, for the lines
	// left over.
	sections []sectionStart
}

type sectionStart struct {
	at   int
	name string
}

// sectionAt returns the section in effect at non-blank line k.
func (s *matchState) sectionAt(k int) string {
	name := ""
	for _, st := range s.sections {
		if st.at > k {
			break
		}
		name = st.name
	}
	return name
}

// matchTemplate reads body with t; ok is false when t does not fit.
func matchTemplate(t *template, ml *mailLines) (*matchState, bool) {
	// vals grows as lines match: most templates tried on a mail fail on
	// their first lines, and should cost nothing.
	s := &matchState{ml: ml, heading: -1}
	pos, ok := s.matchNodes(t.body, nil, 0, len(ml.nb))
	if !ok || s.matched < min(2, t.holes) {
		return nil, false
	}
	s.skip(pos, len(ml.nb))
	return s, true
}

// score ranks a successful match: lines read count, lines left over and
// literal lines missing count against.
func (s *matchState) score() int {
	return 4*s.matched - len(s.extras) - 2*s.missing
}

func (s *matchState) skip(from, to int) {
	for k := from; k < to; k++ {
		s.extras = append(s.extras, k)
	}
}

// matchNodes matches nodes from non-blank line pos up to limit; after are
// the template nodes that follow nodes, which end multi-line values.
func (s *matchState) matchNodes(nodes, after []node, pos, limit int) (int, bool) {
	for ni, n := range nodes {
		next := nodes[ni+1:]
		if n.loop != nil {
			var ok bool
			if pos, ok = s.matchLoop(n.loop, next, pos, limit); !ok {
				return pos, false
			}
			continue
		}
		l := n.line
		var end int
		var found bool
		switch {
		case len(l.holes) == 0:
			end, found = s.matchHeading(l, pos, limit), true
		case l.anchored():
			end, found = s.matchAnchored(l, next, after, pos, limit)
		default:
			end, found = s.matchAt(l, next, after, pos, limit)
		}
		if !found {
			if l.optional {
				continue
			}
			return pos, false
		}
		pos = end
	}
	return pos, true
}

// matchHeading finds literal line l within the next few lines from pos,
// and returns where matching goes on: after it, or at pos when it is
// missing, which costs the match's score but not the match.
func (s *matchState) matchHeading(l *lineSpec, pos, limit int) int {
	found := -1
	for k := pos; k < limit && k < pos+4; k++ {
		if l.matchesWhole(s.ml.line(k)) {
			found = k
			break
		}
	}
	if found < 0 {
		s.missing++
		return pos
	}
	s.skip(pos, found)
	s.heading = found
	if l.section != "" {
		s.section = sectionName(s.ml.line(found))
		s.sections = append(s.sections, sectionStart{found, s.section})
	}
	return found + 1
}

// matchAnchored finds line l, whose literal text anchors it, anywhere in
// [pos, limit): the lines before it are extras. It returns where matching
// goes on; ok is false when l is not there.
func (s *matchState) matchAnchored(l *lineSpec, next, after []node, pos, limit int) (int, bool) {
	for k := pos; k < limit; k++ {
		if vals, labelEnd, ok := extractInto(l, s.ml.line(k), s.scratch); ok {
			s.skip(pos, k)
			return s.take(l, vals, labelEnd, k, next, after, limit), true
		}
	}
	return pos, false
}

// matchAt matches line l, which has no literal text to be searched for
// by, at line pos itself. It returns where matching goes on; ok is false
// when that line does not read as l or starts what follows l.
func (s *matchState) matchAt(l *lineSpec, next, after []node, pos, limit int) (int, bool) {
	if pos >= limit || s.startsNext(next, after, pos) {
		return pos, false
	}
	vals, labelEnd, ok := extractInto(l, s.ml.line(pos), s.scratch)
	if !ok {
		return pos, false
	}
	return s.take(l, vals, labelEnd, pos, next, after, limit), true
}

// take records the values vals that l read at line k, its last value
// running on over the lines that continue it when l is multi-line, and
// returns the line after them.
func (s *matchState) take(l *lineSpec, vals []string, labelEnd, k int, next, after []node, limit int) int {
	end := k + 1
	if l.multiline {
		end = s.continuation(next, after, end, limit)
		vals[len(vals)-1] = s.joinLines(vals[len(vals)-1], k+1, end)
	}
	s.record(l, vals, s.ml.line(k)[:labelEnd], k)
	s.scratch = vals[:0]
	return end
}

// matchLoop matches a block repeated per element: each repetition starts
// at a line that matches the block's first anchored line.
func (s *matchState) matchLoop(loop *loopSpec, after []node, pos, limit int) (int, bool) {
	head := firstAnchored(loop.body)
	if head == nil {
		return pos, false
	}
	count := 0
	for {
		start := s.find(head, pos, limit)
		if start < 0 || (count > 0 && s.anyStartsNext(after, pos, start)) {
			break
		}
		end := s.find(head, start+1, limit)
		if end < 0 {
			end = limit
		}
		s.item = count
		p, ok := s.matchNodes(loop.body, after, pos, end)
		if !ok {
			return pos, false
		}
		pos = p
		count++
	}
	s.item = 0
	return pos, count > 0
}

// find returns the first non-blank line in [from, limit) that l matches.
func (s *matchState) find(l *lineSpec, from, limit int) int {
	for k := from; k < limit; k++ {
		if s.lineMatches(l, k) {
			return k
		}
	}
	return -1
}

func (s *matchState) lineMatches(l *lineSpec, k int) bool {
	line := s.ml.line(k)
	if len(l.holes) == 0 {
		return l.matchesWhole(line)
	}
	i, ok := l.matchPrefix(line)
	if !ok {
		return false
	}
	if len(l.holes) == 1 {
		_, ok = l.matchSuffix(line, i)
		return ok
	}
	_, _, ok = extractLine(l, line)
	return ok
}

// anyStartsNext reports whether a line in [from, to) starts what follows.
func (s *matchState) anyStartsNext(after []node, from, to int) bool {
	for k := from; k < to; k++ {
		if s.startsNext(after, nil, k) {
			return true
		}
	}
	return false
}

// startsNext reports whether non-blank line k matches one of the anchored
// lines that can come next: those of next up to and including the first
// required one, then those of after.
func (s *matchState) startsNext(next, after []node, k int) bool {
	for _, seq := range [2][]node{next, after} {
		for i, n := range seq {
			if i >= 6 {
				break
			}
			l := n.line
			if n.loop != nil {
				l = firstAnchored(n.loop.body)
			}
			if l == nil || !l.anchored() {
				continue
			}
			if s.lineMatches(l, k) {
				return true
			}
			if len(l.holes) > 0 && !l.optional {
				return false
			}
		}
	}
	return false
}

// continuation returns the end of a multi-line value that starts before
// line from: the next line that starts what follows, or limit.
// It also ends where the mail's own boilerplate begins after a blank
// line: Qoo10's footer is never part of a buyer's reason.
func (s *matchState) continuation(next, after []node, from, limit int) int {
	k := from
	for k < limit && !s.startsNext(next, after, k) {
		if s.ml.nb[k] != s.ml.nb[k-1]+1 && isBoilerplate(s.ml.line(k)) {
			break
		}
		k++
	}
	return k
}

// joinLines appends the lines of non-blank lines [from, to), with any blank
// lines between them, to first.
func (s *matchState) joinLines(first string, from, to int) string {
	if to <= from {
		return first
	}
	return joinTrimmed(first, s.ml.all[s.ml.nb[from-1]+1:s.ml.nb[to-1]+1])
}

func (s *matchState) record(l *lineSpec, vals []string, label string, at int) {
	s.matched++
	labelEnd := len(label)
	switch {
	case label == l.raws[0]:
		label = l.label // the common case, cleaned once at compile time
	case label != "":
		label = cleanLabel(label)
	}
	if label == "" && s.heading >= 0 {
		label = sectionName(s.ml.line(s.heading))
		if label == "" {
			label = cleanLabel(s.ml.line(s.heading))
		}
	}
	s.heading = -1
	if s.vals == nil {
		// Values come one or a few per non-blank line: size them for the
		// whole mail at the first value instead of growing line by line.
		n := max(len(s.ml.nb), len(l.holes))
		s.fields = make([]event.Field, 0, n)
		s.vals = make([]extracted, 0, n)
	}
	for i, h := range l.holes {
		lab := label
		if lab == "" {
			lab = h.name
		}
		v := vals[i]
		if len(l.holes) == 1 {
			v = l.verbatim(s.ml.line(at), labelEnd, v)
		}
		s.fields = append(s.fields, event.Field{Section: s.section, Label: lab, Value: v})
		s.vals = append(s.vals, extracted{path: h.path, raw: vals[i], item: s.item, at: at})
	}
}

func firstAnchored(nodes []node) *lineSpec {
	for _, n := range nodes {
		if n.line != nil && n.line.anchored() {
			return n.line
		}
	}
	return nil
}

// extractLine reads the placeholder values of l from line; labelEnd is
// where the first value starts.
func extractLine(l *lineSpec, line string) (vals []string, labelEnd int, ok bool) {
	return extractInto(l, line, nil)
}

// extractInto is extractLine appending the values to dst[:0].
func extractInto(l *lineSpec, line string, dst []string) (vals []string, labelEnd int, ok bool) {
	i, ok := l.matchPrefix(line)
	if !ok {
		return nil, 0, false
	}
	labelEnd = i
	if len(l.holes) == 1 {
		// The common line: a label and one value; no search, no slice
		// until it matched.
		st, ok := l.matchSuffix(line, i)
		if !ok {
			return nil, 0, false
		}
		return append(dst[:0], trimSpace(line[i:st])), labelEnd, true
	}
	vals = append(dst[:0], make([]string, len(l.holes))...)
	last := len(l.holes) - 1
	for h := range l.holes {
		next := l.lits[h+1]
		if h == last {
			st := len(line)
			if len(next) > 0 {
				if st, ok = next.matchSuffix(line, i); !ok {
					return nil, 0, false
				}
			}
			vals[h] = trimSpace(line[i:st])
			break
		}
		if !next.required() {
			// Only white space between two placeholders: the first value
			// is the first word.
			v := strings.TrimLeftFunc(line[i:], isSpace)
			w := strings.IndexFunc(v, isSpace)
			if w < 0 {
				return nil, 0, false
			}
			st := len(line) - len(v) + w
			vals[h] = trimSpace(line[i:st])
			i, _ = next.matchPrefix(line, st)
			continue
		}
		st, e, found := next.index(line, i)
		if !found {
			return nil, 0, false
		}
		vals[h] = trimSpace(line[i:st])
		i = e
	}
	return vals, labelEnd, true
}

// matchPrefix matches the text before the first placeholder: exactly as
// written first, which is how most mails have it, then folded.
func (l *lineSpec) matchPrefix(line string) (int, bool) {
	if strings.HasPrefix(line, l.raws[0]) {
		return len(l.raws[0]), true
	}
	return l.lits[0].matchPrefix(line, 0)
}

// matchSuffix matches the text after the last placeholder at the end of
// line[from:], returning where it starts.
func (l *lineSpec) matchSuffix(line string, from int) (int, bool) {
	last := len(l.lits) - 1
	if len(l.lits[last]) == 0 {
		return len(line), true
	}
	if raw := l.raws[last]; strings.HasSuffix(line[from:], raw) {
		return len(line) - len(raw), true
	}
	return l.lits[last].matchSuffix(line, from)
}

// matchesWhole reports whether line is the literal line l.
func (l *lineSpec) matchesWhole(line string) bool {
	if trimSpace(line) == l.raws[0] {
		return true
	}
	return l.lits[0].matchesWhole(line)
}

// matchesWhole reports whether line is exactly the literal l.
func (l literal) matchesWhole(line string) bool {
	e, ok := l.matchPrefix(line, 0)
	return ok && trimSpace(line[e:]) == ""
}

// isLabelEnd reports whether r separates a label from its value.
func isLabelEnd(r rune) bool {
	switch r {
	case ':', '：', '~', '〜', '～', '〒', '=', '＝', '¥', '￥', '\\':
		return true
	}
	return isSpace(r)
}

// cleanLabel turns the text before a value into a label: "送料: ¥" ->
// "送料", "[注文番号]" -> "注文番号".
func cleanLabel(s string) string {
	s = strings.TrimRightFunc(s, isLabelEnd)
	s = trimSpace(s)
	if (strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]")) ||
		(strings.HasPrefix(s, "［") && strings.HasSuffix(s, "］")) ||
		(strings.HasPrefix(s, "【") && strings.HasSuffix(s, "】")) {
		_, size := utf8.DecodeRuneInString(s)
		_, lastSize := utf8.DecodeLastRuneInString(s)
		if size+lastSize <= len(s) {
			s = trimSpace(s[size : len(s)-lastSize])
		}
	}
	return s
}
