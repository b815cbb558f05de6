// Package mailgen renders test mails in the charsets and encodings Qoo10 mail arrives in.
package mailgen

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"mime/quotedprintable"
	"strings"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
)

// Mail describes one mail to render.
type Mail struct {
	From, To, Subject, MessageID string
	Date                         time.Time
	Body                         string // text, LF line ends
	// Charset of the body: "iso-2022-jp", "shift_jis", "euc-jp", "utf-8",
	// another label of those (e.g. "cp50220"), or "" for none declared.
	Charset string
	// Encoding is the Content-Transfer-Encoding: "7bit", "8bit", "base64"
	// or "quoted-printable".
	Encoding string
	// SubjectCharset and SubjectEncoding ('B' or 'Q') encode the subject;
	// defaults: the body charset (utf-8 when none) and 'B'.
	SubjectCharset  string
	SubjectEncoding byte
	// SubjectChunk, when positive, splits the encoded subject bytes into
	// encoded-words of that many bytes, cutting characters in two.
	SubjectChunk int
	// HTML sends Body as an HTML-only mail; Alternative adds an HTML part
	// after the text part in a multipart/alternative.
	HTML        bool
	Alternative string
	// Flowed sends the text part as RFC 3676 format=flowed (see Flow),
	// lines soft-broken at FlowWidth runes (default 30); DelSp adds
	// DelSp=yes.
	Flowed    bool
	DelSp     bool
	FlowWidth int
	// Attached, when set, is a message sent as a message/rfc822 part
	// after the text part, in a multipart/mixed: a forward as attachment.
	Attached []byte
	CRLF     bool
	// ExtraHeaders are written as given, after the standard ones.
	ExtraHeaders []string
}

// Bytes renders m as a raw message.
func (m Mail) Bytes() ([]byte, error) {
	var b bytes.Buffer
	subject, err := EncodeWord(m.Subject, m.subjectCharset(), m.SubjectEncoding, m.SubjectChunk)
	if err != nil {
		return nil, fmt.Errorf("mailgen: subject: %w", err)
	}
	fmt.Fprintf(&b, "From: %s\n", m.From)
	fmt.Fprintf(&b, "To: %s\n", m.To)
	fmt.Fprintf(&b, "Subject: %s\n", subject)
	if !m.Date.IsZero() {
		fmt.Fprintf(&b, "Date: %s\n", m.Date.Format(time.RFC1123Z))
	}
	if m.MessageID != "" {
		fmt.Fprintf(&b, "Message-ID: <%s>\n", m.MessageID)
	}
	b.WriteString("MIME-Version: 1.0\n")
	for _, h := range m.ExtraHeaders {
		b.WriteString(h + "\n")
	}
	switch {
	case m.Attached != nil:
		// Unique per mail: a forward of a forward nests one in the other.
		boundary := fmt.Sprintf("=_qoo10hook_mixed_%08x", crc32.ChecksumIEEE([]byte(m.MessageID+m.Subject)))
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\n\n", boundary)
		fmt.Fprintf(&b, "--%s\n", boundary)
		if err := m.writePart(&b, "text/plain", m.Body); err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "--%s\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=\"forwarded.eml\"\n\n", boundary)
		b.Write(bytes.ReplaceAll(m.Attached, []byte("\r\n"), []byte("\n")))
		if !bytes.HasSuffix(m.Attached, []byte("\n")) {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "--%s--\n", boundary)
	case m.Alternative != "":
		boundary := "=_qoo10hook_alt_0001"
		fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\n\n", boundary)
		b.WriteString("This is a multi-part message in MIME format.\n\n")
		for _, part := range []struct{ ctype, body string }{{"text/plain", m.Body}, {"text/html", m.Alternative}} {
			fmt.Fprintf(&b, "--%s\n", boundary)
			if err := m.writePart(&b, part.ctype, part.body); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(&b, "--%s--\n", boundary)
	case m.HTML:
		if err := m.writePart(&b, "text/html", m.Body); err != nil {
			return nil, err
		}
	default:
		if err := m.writePart(&b, "text/plain", m.Body); err != nil {
			return nil, err
		}
	}
	// The quoted-printable writer ends lines with CRLF; write one kind.
	out := bytes.ReplaceAll(b.Bytes(), []byte("\r\n"), []byte("\n"))
	if m.CRLF {
		out = bytes.ReplaceAll(out, []byte("\n"), []byte("\r\n"))
	}
	return out, nil
}

func (m Mail) subjectCharset() string {
	switch {
	case m.SubjectCharset != "":
		return m.SubjectCharset
	case m.Charset != "":
		return m.Charset
	}
	return "utf-8"
}

func (m Mail) writePart(b *bytes.Buffer, ctype, text string) error {
	params := ""
	if ctype == "text/plain" && m.Flowed {
		width := m.FlowWidth
		if width <= 0 {
			width = 30
		}
		text = Flow(text, width, m.DelSp)
		params = "; format=flowed"
		if m.DelSp {
			params += "; delsp=yes"
		}
	}
	body, err := Encode(m.Charset, text)
	if err != nil {
		return fmt.Errorf("mailgen: body: %w", err)
	}
	if m.Charset != "" {
		fmt.Fprintf(b, "Content-Type: %s; charset=%s%s\n", ctype, m.Charset, params)
	} else {
		fmt.Fprintf(b, "Content-Type: %s%s\n", ctype, params)
	}
	cte := m.Encoding
	if cte == "" {
		cte = "7bit"
	}
	fmt.Fprintf(b, "Content-Transfer-Encoding: %s\n\n", cte)
	switch cte {
	case "base64":
		enc := base64.StdEncoding.EncodeToString(body)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\n")
	case "quoted-printable":
		w := quotedprintable.NewWriter(b)
		if _, err := w.Write(body); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		b.WriteString("\n")
	default:
		b.Write(body)
		if !bytes.HasSuffix(body, []byte("\n")) {
			b.WriteString("\n")
		}
	}
	return nil
}

// jisVariants maps characters the WHATWG JIS encoders lack to the CP932
// ones they share a code with, as Japanese mailers do.
var jisVariants = strings.NewReplacer("\u301C", "\uFF5E", "\u2016", "\u2225", "\u2212", "\uFF0D",
	"\u00A2", "\uFFE0", "\u00A3", "\uFFE1", "\u00AC", "\uFFE2")

// Encode converts text to the bytes of charset.
func Encode(charset, text string) ([]byte, error) {
	var enc encoding.Encoding
	switch strings.ToLower(charset) {
	case "", "utf-8":
		return []byte(text), nil
	case "iso-2022-jp", "iso-2022-jp-ms", "cp50220", "cp50221":
		enc = japanese.ISO2022JP
	case "shift_jis", "cp932", "windows-31j", "sjis":
		enc = japanese.ShiftJIS
	case "euc-jp":
		enc = japanese.EUCJP
	default:
		return nil, fmt.Errorf("charset %q not supported", charset)
	}
	// The yen sign is JIS X 0201 Roman 0x5C, as Python's and most Japanese
	// mailers' encoders write it; decoders read it back as a backslash.
	var out []byte
	for i, seg := range strings.Split(jisVariants.Replace(text), "\u00A5") {
		if i > 0 {
			if enc == japanese.ISO2022JP {
				out = append(out, "\x1b(J\x5c\x1b(B"...)
			} else {
				out = append(out, 0x5c)
			}
		}
		b, err := enc.NewEncoder().Bytes([]byte(seg))
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// EncodeWord encodes s as RFC 2047 encoded-words. chunk > 0 splits the
// encoded bytes every chunk bytes, regardless of character boundaries.
func EncodeWord(s, charset string, enc byte, chunk int) (string, error) {
	if isASCII(s) {
		return s, nil
	}
	raw, err := Encode(charset, s)
	if err != nil {
		return "", err
	}
	if enc == 0 {
		enc = 'B'
	}
	if chunk <= 0 {
		chunk = 45
	}
	var words []string
	for len(raw) > 0 {
		n := min(chunk, len(raw))
		part := raw[:n]
		raw = raw[n:]
		var text string
		if enc == 'Q' {
			text = qEncode(part)
		} else {
			text = base64.StdEncoding.EncodeToString(part)
		}
		words = append(words, fmt.Sprintf("=?%s?%c?%s?=", charset, enc, text))
	}
	return strings.Join(words, "\n "), nil
}

func qEncode(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		switch {
		case c == ' ':
			sb.WriteByte('_')
		case c > ' ' && c < 0x7f && c != '=' && c != '?' && c != '_':
			sb.WriteByte(c)
		default:
			fmt.Fprintf(&sb, "=%02X", c)
		}
	}
	return sb.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
