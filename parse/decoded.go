package parse

import (
	"bytes"

	"github.com/jhillyerd/enmime/v2"
)

// Decoded is a mail's text as the parser reads it, for operators to
// compare with the raw message and to write templates from.
type Decoded struct {
	Subject string
	// Text is the text the parser reads: the plain part, or the HTML
	// part as text when there is no plain one (the forwarded mail's, when
	// forwarded by hand).
	Text string
	// HTML is the HTML part rendered as text, "" when there is none.
	HTML string
}

// Decode returns the decoded text of raw. Its error is the one Parse
// reports in Result.Err.
func (p *Parser) Decode(raw []byte) (d *Decoded, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, &InternalError{Value: r}
		}
	}()
	m, err := p.decodeMail(raw, 0)
	if err != nil {
		return nil, err
	}
	shown := m
	if inner := unwrapForward(m, p.maxDepth); inner != nil {
		shown = inner
	}
	d = &Decoded{Subject: shown.subject, Text: shown.body}
	root, err := p.mime.ReadParts(bytes.NewReader(bytes.TrimLeft(raw, "\r\n\t ")))
	if err != nil {
		return d, nil
	}
	if html := firstPart(root, "text/html", 0); html != nil {
		d.HTML = normalizeNewlines(htmlToText(partText(html, &mailText{})))
	}
	return d, nil
}

// firstPart returns the first part of content type ct, not an attachment.
func firstPart(pt *enmime.Part, ct string, n int) *enmime.Part {
	for ; pt != nil && n < DefaultMaxParts; pt = pt.NextSibling {
		n++
		if pt.FirstChild != nil {
			if f := firstPart(pt.FirstChild, ct, n); f != nil {
				return f
			}
			continue
		}
		if pt.ContentType == ct && pt.Disposition != "attachment" {
			return pt
		}
	}
	return nil
}
