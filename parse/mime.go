package parse

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/mediatype"
)

// mailText is what decode makes of one mail, for interpret.
type mailText struct {
	subject   string
	from      string
	to        []string
	messageID string
	date      time.Time
	body      string // text of the first rendering, LF line ends
	// alternatives are the other renderings of the body (the HTML part
	// next to a text part): interpret reads each and keeps the one that
	// yields the most order data.
	alternatives []string
	attached     *mailText
	problems     []string
}

// charsetStash prefixes every declared text charset so that enmime, not
// knowing it, leaves the bytes alone: we decode them ourselves with the
// Japanese tables above, and no part ever reaches enmime's statistical
// detection, which it runs on parts without a charset even when detection
// is disabled.
const charsetStash = "x-qoo10hook-"

func newMIMEParser() *enmime.Parser {
	return enmime.NewParser(
		enmime.DisableCharacterDetection(true),
		enmime.DisableTextConversion(true),
		enmime.SkipMalformedParts(true),
		enmime.MultipartWOBoundaryAsSinglePart(true),
		enmime.SetReadPartErrorPolicy(enmime.AllowCorruptTextPartErrorPolicy),
		enmime.SetCustomParseMediaType(stashCharset),
	)
}

func stashCharset(ctype string) (string, map[string]string, []string, error) {
	if ctype == "" {
		// What mediatype.Parse returns for no media type, without building
		// and dropping its error: most parts have no Content-Disposition.
		return "", nil, nil, nil
	}
	if c, ok := stashCache.Load(ctype); ok {
		st := c.(*stashed)
		return st.mtype, maps.Clone(st.params), nil, nil
	}
	mtype, params, invalid, err := mediatype.Parse(ctype)
	if err == nil && strings.HasPrefix(mtype, "text/") {
		if params == nil {
			params = map[string]string{}
		}
		params["charset"] = charsetStash + params["charset"]
	}
	if err == nil && len(invalid) == 0 && params["boundary"] == "" && len(ctype) <= 200 &&
		stashCacheLen.Load() < stashCacheMax {
		if _, loaded := stashCache.LoadOrStore(ctype, &stashed{mtype, maps.Clone(params)}); !loaded {
			stashCacheLen.Add(1)
		}
	}
	return mtype, params, invalid, err
}

// stashCache memoizes stashCharset for the few Content-Type values that
// recur from mail to mail ("text/plain; charset=ISO-2022-JP"): parsing
// one costs a dozen allocations, and enmime asks for each part's more than
// once. Values with a boundary, unique to a mail, are not kept, and the
// cache stops growing at stashCacheMax entries. Callers get their own
// copy of the parameters.
var (
	stashCache    sync.Map // string -> *stashed
	stashCacheLen atomic.Int32
)

const stashCacheMax = 64

type stashed struct {
	mtype  string
	params map[string]string
}

// decodeMail is the decode stage: it reads raw as a mail, its header
// fields, text and HTML parts decoded and an attached message/rfc822
// decoded in turn; depth counts that nesting.
func (p *Parser) decodeMail(raw []byte, depth int) (*mailText, error) {
	raw = bytes.TrimLeft(raw, "\r\n\t ")
	if bytes.HasPrefix(raw, []byte("From ")) { // mbox separator line
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("parse: read mail: empty input: %w", ErrNotMessage)
	}
	if !startsWithHeader(raw) {
		return nil, fmt.Errorf("parse: read mail: no header: %w", ErrNotMessage)
	}
	if err := checkStructure(raw, p.maxParts, p.maxDepth-depth); err != nil {
		return nil, err
	}
	m := &mailText{}
	root, err := p.mime.ReadParts(bytes.NewReader(raw))
	if err != nil {
		// enmime gave up; read the header and take the rest as plain text.
		m.problems = append(m.problems, "MIME structure unreadable, body read as plain text")
		return p.readPlain(raw, m), nil
	}
	m.setHeader(root.Header)
	var plain, html *enmime.Part
	parts := 0
	var walk func(*enmime.Part)
	walk = func(pt *enmime.Part) {
		for ; pt != nil; pt = pt.NextSibling {
			parts++
			if parts > p.maxParts {
				return
			}
			ct := pt.ContentType
			switch {
			case pt.FirstChild != nil:
				walk(pt.FirstChild)
				continue
			case pt.Disposition == "attachment" && ct != "message/rfc822":
			case ct == "text/plain" || ct == "":
				if plain == nil && len(bytes.TrimSpace(pt.Content)) > 0 {
					plain = pt
				}
			case ct == "text/html":
				if html == nil {
					html = pt
				}
			case ct == "message/rfc822" && m.attached == nil && depth+1 < p.maxDepth:
				if inner, err := p.decodeMail(pt.Content, depth+1); err == nil {
					m.attached = inner
				}
			}
			for _, e := range pt.Errors {
				if e.Name != enmime.ErrorCharsetConversion && e.Name != enmime.ErrorMissingContentType {
					m.addPartProblem(e)
				}
			}
		}
	}
	walk(root)
	if parts > p.maxParts {
		return nil, fmt.Errorf("parse: read mail: more than %d parts: %w", p.maxParts, ErrTooComplex)
	}
	m.chooseRenderings(plain, html)
	return m, nil
}

// chooseRenderings decodes the text and HTML parts of the mail: the text
// part is the body, the HTML part an alternative, read as well, since a
// text part may be a stub ("this mail is HTML") or carry less.
func (m *mailText) chooseRenderings(plain, html *enmime.Part) {
	if plain != nil {
		m.body = plainText(plain, m)
	}
	if html == nil {
		return
	}
	rendered := normalizeNewlines(htmlToText(partText(html, m)))
	if plain == nil {
		m.body = rendered
		return
	}
	m.alternatives = append(m.alternatives, rendered)
}

// plainText decodes a text/plain part: its charset, its line ends, and
// RFC 3676 format=flowed soft line breaks.
func plainText(pt *enmime.Part, m *mailText) string {
	s := normalizeNewlines(partText(pt, m))
	if flowed, delSp := isFlowed(pt.Header.Get("Content-Type")); flowed {
		s = unflow(s, delSp)
	}
	return s
}

func (m *mailText) addPartProblem(e *enmime.Error) {
	msg := "MIME: " + e.Name
	for _, q := range m.problems {
		if q == msg {
			return
		}
	}
	m.problems = append(m.problems, msg)
}

// partText decodes the charset of a text part.
func partText(pt *enmime.Part, m *mailText) string {
	label := strings.TrimPrefix(pt.Charset, charsetStash)
	if pt.ContentType == "text/html" && normalizeCharset(label) == charsetUndeclared {
		label = metaCharset(pt.Content)
	}
	s, problem := decodeCharset(label, pt.Content)
	if problem != "" {
		m.problems = append(m.problems, problem)
	}
	return dropBOM(s)
}

// dropBOM removes byte order marks, which some clients write at the start
// of a part and which survive in text quoted or pasted from it.
func dropBOM(s string) string {
	if !strings.Contains(s, "\uFEFF") {
		return s
	}
	return strings.ReplaceAll(s, "\uFEFF", "")
}

func (m *mailText) setHeader(h textproto.MIMEHeader) {
	m.subject = strings.TrimSpace(decodeHeader(h.Get("Subject")))
	m.from = formatAddress(decodeHeader(h.Get("From")))
	for _, v := range h.Values("To") {
		m.to = append(m.to, splitAddressList(decodeHeader(v))...)
	}
	m.messageID = messageID(h.Get("Message-Id"))
	m.date = parseMailDate(h.Get("Date"))
}

// readPlain is the last resort for mail enmime cannot read: split header
// and body at the first blank line and take the body as undeclared text.
func (p *Parser) readPlain(raw []byte, m *mailText) *mailText {
	text := normalizeNewlines(string(raw))
	head, body, _ := strings.Cut(text, "\n\n")
	h := textproto.MIMEHeader{}
	var last string
	for _, line := range strings.Split(head, "\n") {
		if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && last != "" {
			vs := h[last]
			vs[len(vs)-1] += " " + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		last = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k))
		h[last] = append(h[last], strings.TrimSpace(v))
	}
	m.setHeader(h)
	content := []byte(body)
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		if b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, strings.NewReader(stripSpace(body)))); err == nil {
			content = b
		}
	case "quoted-printable":
		if b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body))); err == nil {
			content = b
		}
	}
	label := charsetUndeclared
	if _, v, ok := strings.Cut(strings.ToLower(h.Get("Content-Type")), "charset="); ok {
		if f := strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ' ' }); len(f) > 0 {
			label = strings.Trim(f[0], `"'`)
		}
	}
	decoded, _ := decodeCharset(label, content)
	m.body = normalizeNewlines(dropBOM(decoded))
	return m
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, s)
}

// startsWithHeader reports whether raw begins with a header field line.
func startsWithHeader(raw []byte) bool {
	line := raw
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		line = raw[:i]
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	for _, c := range bytes.TrimRight(line[:colon], " \t") {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// checkStructure bounds the MIME tree before enmime builds it (enmime
// itself recurses without limit): it follows the boundaries declared in
// part headers and counts parts and nesting.
func checkStructure(raw []byte, maxParts, maxDepth int) error {
	if !bytes.Contains(raw, []byte("--")) {
		return nil
	}
	var stack []string // open boundaries, innermost last
	parts := 1
	inHeader := true
	var ctype []byte
	endHeader := func() error {
		inHeader = false
		if len(ctype) == 0 {
			return nil
		}
		mtype, params, _, err := mediatype.Parse(string(ctype))
		ctype = ctype[:0]
		if err != nil || !strings.HasPrefix(mtype, "multipart/") || params["boundary"] == "" {
			return nil
		}
		stack = append(stack, params["boundary"])
		if len(stack) > maxDepth {
			return fmt.Errorf("parse: read mail: multipart nesting deeper than %d: %w", maxDepth, ErrTooComplex)
		}
		return nil
	}
	inCtype := false
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		line = bytes.TrimRight(line, "\r")
		if inHeader {
			switch {
			case len(line) == 0:
				if err := endHeader(); err != nil {
					return err
				}
			case line[0] == ' ' || line[0] == '\t':
				if inCtype {
					ctype = append(ctype, line...)
				}
			default:
				inCtype = len(line) > 13 && strings.EqualFold(string(line[:13]), "content-type:")
				if inCtype {
					ctype = append(ctype[:0], line[13:]...)
				}
			}
			continue
		}
		if len(stack) == 0 || !bytes.HasPrefix(line, []byte("--")) {
			continue
		}
		for i := len(stack) - 1; i >= 0; i-- {
			b := stack[i]
			if !bytes.HasPrefix(line[2:], []byte(b)) {
				continue
			}
			rest := line[2+len(b):]
			stack = stack[:i+1]
			if bytes.HasPrefix(rest, []byte("--")) {
				stack = stack[:i]
				break
			}
			parts++
			if parts > maxParts {
				return fmt.Errorf("parse: read mail: more than %d parts: %w", maxParts, ErrTooComplex)
			}
			inHeader, inCtype = true, false
			break
		}
	}
	return nil
}
