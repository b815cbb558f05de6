package smtpd

import (
	"bytes"
)

// headerLen is the length of raw's header block, the blank line that ends
// it included; all of raw when it has no body.
func headerLen(raw []byte) int {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return len(raw)
		}
		line := raw[i : i+j]
		i += j + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i
		}
	}
	return len(raw)
}

// countReceived counts the Received: fields of a header block.
func countReceived(header []byte) int {
	n := 0
	for line := range bytes.Lines(header) {
		if len(line) < 9 || !bytes.EqualFold(line[:8], []byte("received")) {
			continue
		}
		rest := bytes.TrimLeft(line[8:], " \t")
		if len(rest) > 0 && rest[0] == ':' {
			n++
		}
	}
	return n
}

// lineEndings tells which irregular line endings a message has. The data
// reader of go-smtp ends DATA only at CRLF.CRLF, so none of these can
// split a message; they are counted because each is a smuggling attempt
// against a receiver that would end it elsewhere, or a broken sender.
type lineEndings struct {
	bareLF  bool // LF without CR
	bareCR  bool // CR without LF
	fakeEnd bool // a "." line with a bare CR or LF on either side
	// longest is the length of the longest line, without its ending:
	// go-smtp limits lines in DATA but not in BDAT chunks.
	longest int
}

func scanLineEndings(raw []byte) lineEndings {
	var e lineEndings
	isEOL := func(i int) bool { return i >= 0 && i < len(raw) && (raw[i] == '\n' || raw[i] == '\r') }
	lineStart := 0
	for i, c := range raw {
		switch c {
		case '\n':
			n := i - lineStart
			if i == 0 || raw[i-1] != '\r' {
				e.bareLF = true
			} else {
				n--
			}
			e.longest = max(e.longest, n)
			lineStart = i + 1
		case '\r':
			if i+1 >= len(raw) || raw[i+1] != '\n' {
				e.bareCR = true
			}
		case '.':
			if !isEOL(i-1) || !isEOL(i+1) {
				continue
			}
			// A "." line that arrived as CRLF ".." CRLF is legitimate
			// dot-stuffing; anything else around the dot is bare.
			crlfBefore := i >= 2 && raw[i-2] == '\r' && raw[i-1] == '\n'
			crlfAfter := i+2 < len(raw) && raw[i+1] == '\r' && raw[i+2] == '\n'
			if !crlfBefore || !crlfAfter {
				e.fakeEnd = true
			}
		}
	}
	last := len(raw) - lineStart
	if last > 0 && raw[len(raw)-1] == '\r' {
		last--
	}
	e.longest = max(e.longest, last)
	return e
}

func (e lineEndings) kinds() []string {
	var k []string
	if e.bareLF {
		k = append(k, "lf")
	}
	if e.bareCR {
		k = append(k, "cr")
	}
	if e.fakeEnd {
		k = append(k, "fake_end")
	}
	return k
}
