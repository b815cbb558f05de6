package mailauth

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
)

// field is one header field, its value unfolded (CRLFs removed, the
// folding whitespace kept) and trimmed.
type field struct {
	name, value string
}

// headerOf returns the header block of a message: everything before the
// first empty line, or all of b when there is none.
func headerOf(b []byte) []byte {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return b
		}
		line := b[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return b[:i]
		}
		i += j + 1
	}
	return b
}

// fields returns, in header order, the fields of h named one of names
// (case-insensitively). It is lenient: a line that is neither a field nor
// a continuation is skipped. Only wanted fields are copied out, so a large
// header costs a scan, not an allocation per field.
func fields(h []byte, names ...string) []field {
	var out []field
	keep := false // whether continuation lines belong to a wanted field
	for len(h) > 0 {
		var line []byte
		line, h, _ = bytes.Cut(h, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if keep {
				out[len(out)-1].value += string(line)
			}
			continue
		}
		keep = false
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		for _, n := range names {
			if equalFold(name, n) {
				out = append(out, field{name: n, value: string(value)})
				keep = true
				break
			}
		}
	}
	for i := range out {
		out[i].value = strings.TrimSpace(out[i].value)
	}
	return out
}

// equalFold compares a field name with n, ASCII case-insensitively,
// without converting it to a string.
func equalFold(name []byte, n string) bool {
	if len(name) != len(n) {
		return false
	}
	for i := range len(n) {
		a, b := name[i], n[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// addressParser ignores the charset of encoded display names: only the
// address is needed, and Japanese senders often use ISO-2022-JP or
// Shift_JIS, which net/mail would otherwise refuse.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

// fromDomain returns the domain of the RFC5322.From address, lower case.
// There must be exactly one From field holding exactly one address: with
// two, different readers of the mail could pick different ones, so the
// one authenticated might not be the one shown (RFC 7489 section 6.6.1).
func fromDomain(fs []field) (string, error) {
	var from []string
	for _, f := range fs {
		if f.name == "From" {
			from = append(from, f.value)
		}
	}
	if len(from) != 1 {
		return "", fmt.Errorf("%w: %d From fields", ErrFrom, len(from))
	}
	addrs, err := addressParser.ParseList(from[0])
	if err != nil {
		a, ok := angleAddr(from[0])
		if !ok {
			// net/mail's error quotes the field, and Result carries
			// no addresses.
			return "", fmt.Errorf("%w: unparseable", ErrFrom)
		}
		addrs = []*mail.Address{a}
	}
	if len(addrs) != 1 {
		return "", fmt.Errorf("%w: %d addresses", ErrFrom, len(addrs))
	}
	at := strings.LastIndexByte(addrs[0].Address, '@')
	d := normDomain(addrs[0].Address[at+1:])
	if at < 0 || d == "" {
		return "", fmt.Errorf("%w: no domain", ErrFrom)
	}
	return d, nil
}

// angleAddr reads "display name <addr>" whose display name net/mail
// refuses, such as raw 8-bit text. It accepts only a name free of the
// characters that could make another reader see a different address.
func angleAddr(v string) (*mail.Address, bool) {
	i := strings.LastIndexByte(v, '<')
	if i < 0 || !strings.HasSuffix(v, ">") || strings.ContainsAny(v[:i], `<>,"`) {
		return nil, false
	}
	a, err := mail.ParseAddress(v[i:])
	return a, err == nil
}

// normDomain lower-cases a domain and drops a trailing dot.
func normDomain(d string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
}
