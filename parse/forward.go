package parse

import (
	"regexp"
	"strings"
)

// forwardPrefix matches the subject prefixes webmail and mail clients add
// when a mail is forwarded by hand, repeated as in "Fwd: FW: …".
var forwardPrefix = regexp.MustCompile(`^(?i:\s*(?:fwd?|fw|転送|tr|wg)\s*[:：]\s*)+`)

// forwardMarkers start the header block of an inline-forwarded mail, in
// the words of Gmail ("---------- Forwarded message ---------"), Outlook
// ("-----Original Message-----", "-----元のメッセージ-----"), Thunderbird
// ("-------- Forwarded Message --------", "-------- 転送メッセージ --------")
// and Apple Mail and iPhone ("Begin forwarded message:",
// "転送されたメッセージ:"), folded.
var forwardMarkers = []string{
	"forwardedmessage", "originalmessage", "転送メッセージ", "beginforwardedmessage",
	"元のメッセージ", "転送されたメッセージ", "forwardedmail",
}

// forwardHeaders maps the header names of such blocks to their role;
// "other" headers belong to the block but are not read.
var forwardHeaders = map[string]string{
	"from": "from", "差出人": "from", "送信者": "from", "送信元": "from",
	"date": "date", "sent": "date", "日付": "date", "送信日時": "date", "日時": "date",
	"subject": "subject", "件名": "subject", "題名": "subject",
	"to": "to", "宛先": "to", "message-id": "message-id",
	"cc": "other", "bcc": "other", "reply-to": "other", "返信先": "other", "importance": "other",
	"重要度": "other", "attachments": "other", "添付ファイル": "other",
}

// unwrapForward returns the mail forwarded by hand inside m, or nil when m
// is not such a forward. Forwards nest up to depth deep.
func unwrapForward(m *mailText, depth int) *mailText {
	var inner *mailText
	for range depth {
		next := unwrapOnce(m)
		if next == nil {
			break
		}
		inner, m = next, next
	}
	return inner
}

func unwrapOnce(m *mailText) *mailText {
	prefixed := forwardPrefix.MatchString(m.subject)
	if m.attached != nil && (prefixed || mentionsQoo10(m.attached.subject)) {
		inner := *m.attached
		if inner.messageID == "" {
			inner.messageID = m.messageID
		}
		return &inner
	}
	if !prefixed && !mayHaveMarker(m.body) {
		return nil
	}
	lines := strings.Split(m.body, "\n")
	marker := -1
	for i, l := range lines {
		if isForwardMarker(dequote(l)) || (isOutlookRule(dequote(l)) && headerFollows(lines[i+1:])) {
			marker = i
			break
		}
	}
	if marker < 0 && !prefixed {
		return nil
	}
	if marker < 0 {
		// A forward's subject, no marker line: a client that writes the
		// header block alone (some Outlook versions), after the note.
		marker = headerBlockAt(lines) - 1
	}
	region := lines[marker+1:]
	region = dequoteAll(region)
	inner := &mailText{
		subject:   trimSpace(forwardPrefix.ReplaceAllString(m.subject, "")),
		messageID: m.messageID,
		to:        m.to,
		problems:  m.problems,
	}
	// The header block: "Key: value" lines after the marker, up to a blank
	// line or the first line that is not a header.
	i := 0
	for i < len(region) && trimSpace(region[i]) == "" {
		i++
	}
	end, block := readForwardHeader(region[i:])
	seen := block != nil
	if seen {
		i += end
		inner.setForwardHeader(block)
	}
	if marker < 0 && !seen {
		// A prefixed subject without a header block: the body is the
		// forwarded text itself, perhaps quoted.
		i = 0
	}
	inner.body = strings.Join(region[i:], "\n")
	return inner
}

// headerBlockAt returns the first line of lines that starts a forward's
// header block without a marker: a From line and at least one more of
// the block's headers (Date, Subject, To); 0 when there is none.
func headerBlockAt(lines []string) int {
	for i, l := range lines {
		if !strings.ContainsAny(l, ":：") {
			continue
		}
		_, block := readForwardHeader(dequoteAll(lines[i:min(i+8, len(lines))]))
		if len(block) >= 2 && block[0].role == "from" {
			return i
		}
	}
	return 0
}

// forwardField is one header line of a forward's header block.
type forwardField struct{ role, value string }

// readForwardHeader reads the "Key: value" lines at the start of lines, up
// to a blank line or the first line that is no such header; a line that
// starts with white space continues the one before, as clients fold long
// To and Subject lines. It returns the index after the block and its
// fields, nil when lines do not start with a header.
func readForwardHeader(lines []string) (int, []forwardField) {
	var block []forwardField
	i := 0
	for ; i < len(lines); i++ {
		raw := lines[i]
		l := trimSpace(raw)
		if l == "" {
			break
		}
		if len(block) > 0 && (raw[0] == ' ' || raw[0] == '\t' || strings.HasPrefix(raw, "\u3000")) {
			last := &block[len(block)-1]
			last.value = trimSpace(last.value + " " + l)
			continue
		}
		k, v, ok := cutHeader(l)
		role := forwardHeaders[strings.ToLower(strings.Trim(k, "*"))]
		if !ok || role == "" {
			break
		}
		block = append(block, forwardField{role, v})
	}
	if block == nil {
		return 0, nil
	}
	return i, block
}

// setForwardHeader takes the headers of a forward's header block.
func (inner *mailText) setForwardHeader(block []forwardField) {
	for _, f := range block {
		v := f.value
		switch f.role {
		case "from":
			inner.from = formatAddress(stripMailto(v))
		case "date":
			inner.date = parseMailDate(v)
		case "subject":
			inner.subject = trimSpace(forwardPrefix.ReplaceAllString(v, ""))
		case "to":
			inner.to = splitAddressList(stripMailto(v))
		case "message-id":
			inner.messageID = messageID(v)
		}
	}
}

// isOutlookRule reports whether l is the rule of underscores Outlook on
// the web (and the new Outlook) writes above a forward's header block.
func isOutlookRule(l string) bool {
	l = trimSpace(l)
	return len(l) >= 10 && strings.Trim(l, "_") == ""
}

// headerFollows reports whether the first non-blank line of lines is a
// forward header line.
func headerFollows(lines []string) bool {
	for _, l := range lines {
		if l = trimSpace(dequote(l)); l != "" {
			k, _, ok := cutHeader(l)
			return ok && forwardHeaders[strings.ToLower(strings.Trim(k, "*"))] != ""
		}
	}
	return false
}

// mayHaveMarker is a cheap test that body may hold a forward marker line.
func mayHaveMarker(body string) bool {
	for _, w := range []string{"orward", "riginal", "転送", "元のメッセージ", "ORWARD", "RIGINAL", "__________"} {
		if strings.Contains(body, w) {
			return true
		}
	}
	return false
}

func isForwardMarker(l string) bool {
	if !strings.Contains(l, "--") && !strings.Contains(l, "orward") && !strings.Contains(l, "－") && !strings.Contains(l, "―") &&
		!strings.Contains(l, "転送されたメッセージ") {
		return false
	}
	f := foldString(l)
	dashed := strings.Contains(f, "--")
	f = strings.Trim(f, "-:")
	if !dashed {
		// Apple Mail's and iPhone's marker is a line of its own, without
		// dashes: "Begin forwarded message:", "転送されたメッセージ:".
		return f == "beginforwardedmessage" || f == "転送されたメッセージ"
	}
	for _, m := range forwardMarkers {
		if strings.Contains(f, m) {
			return true
		}
	}
	return false
}

func cutHeader(l string) (key, value string, ok bool) {
	i := strings.IndexAny(l, ":：")
	if i <= 0 {
		return "", "", false
	}
	key = trimSpace(l[:i])
	value = l[i+1:]
	if strings.HasPrefix(l[i:], "：") {
		value = l[i+len("："):]
	}
	return key, trimSpace(strings.Trim(value, "*")), true
}

// stripMailto removes the "[mailto:…]" that Outlook adds after addresses.
func stripMailto(v string) string {
	if i := strings.Index(v, "[mailto:"); i >= 0 {
		if j := strings.IndexByte(v[i:], ']'); j >= 0 {
			return v[:i] + v[i+j+1:]
		}
	}
	return v
}

// dequote strips one level of "> " quoting from a line.
func dequote(l string) string {
	t := strings.TrimLeft(l, " ")
	if strings.HasPrefix(t, ">") {
		t = t[1:]
		return strings.TrimPrefix(t, " ")
	}
	return l
}

// dequoteAll strips one level of quoting when most non-blank lines have it.
func dequoteAll(lines []string) []string {
	quoted, total := 0, 0
	for _, l := range lines {
		t := strings.TrimLeft(l, " ")
		if t == "" {
			continue
		}
		total++
		if strings.HasPrefix(t, ">") {
			quoted++
		}
	}
	if total == 0 || quoted*2 < total {
		return lines
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = dequote(l)
	}
	return out
}
