package mailgen

import (
	"fmt"
	"html"
	"strings"
	"time"
)

// Client names a mail client whose way of forwarding a mail inline
// ForwardInline writes, with the language of its user interface.
type Client string

// The clients and languages ForwardInline knows. Their header blocks are
// written as each client documents or shows them: the marker line, the
// header names and order, the date format.
const (
	GmailEN          Client = "gmail-en"          // "---------- Forwarded message ---------", "Fri, Dec 4, 2026 at 11:02 AM"
	GmailJA          Client = "gmail-ja"          // the same marker, "2026年12月4日(金) 11:02"
	OutlookEN        Client = "outlook-en"        // desktop: "-----Original Message-----", Sent: "Friday, December 4, 2026 11:02 AM"
	OutlookJA        Client = "outlook-ja"        // desktop: "-----元のメッセージ-----", 送信日時: "2026年12月4日 金曜日 11:02"
	OutlookMacEN     Client = "outlook-mac-en"    // no marker: From/Date/To/Subject, "Friday, December 4, 2026 at 11:02"
	OutlookMacJA     Client = "outlook-mac-ja"    // no marker: 差出人/日付/宛先/件名, "2026年12月4日 金曜日 11:02"
	OutlookWebEN     Client = "outlook-web-en"    // a rule of underscores, From/Sent/To/Subject
	OutlookWebJA     Client = "outlook-web-ja"    // a rule of underscores, 差出人/送信日時/宛先/件名
	AppleMailEN      Client = "apple-mail-en"     // "Begin forwarded message:", "December 4, 2026 at 11:02:41 GMT+9"
	AppleMailJA      Client = "apple-mail-ja"     // "転送されたメッセージ:", "2026年12月4日 11:02:41 JST"
	IPhoneEN         Client = "iphone-en"         // Apple's block, quoted with "> ", after "Sent from my iPhone"
	IPhoneJA         Client = "iphone-ja"         // the same in Japanese, after "iPhoneから送信"
	ThunderbirdEN    Client = "thunderbird-en"    // "-------- Forwarded Message --------", RFC 5322 dates
	ThunderbirdJA    Client = "thunderbird-ja"    // "-------- 転送メッセージ --------"
	ThunderbirdNoDay Client = "thunderbird-noday" // an RFC 5322 date without the weekday
)

// Clients lists every Client.
var Clients = []Client{GmailEN, GmailJA, OutlookEN, OutlookJA, OutlookMacEN, OutlookMacJA, OutlookWebEN, OutlookWebJA,
	AppleMailEN, AppleMailJA, IPhoneEN, IPhoneJA, ThunderbirdEN, ThunderbirdJA, ThunderbirdNoDay}

// Original is the mail being forwarded, as a client shows it.
type Original struct {
	From, To, Subject string
	Date              time.Time
	Body              string // text, LF line ends
}

var (
	enWeekdays = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	jaWeekdays = []string{"日", "月", "火", "水", "木", "金", "土"}
)

// ForwardInline returns the subject and text body client writes when its
// user forwards o inline, with note typed above it.
func ForwardInline(client Client, o Original, note string) (subject, body string) {
	d := o.Date
	ja := fmt.Sprintf("%d年%d月%d日", d.Year(), d.Month(), d.Day())
	var head string
	prefix := "Fwd: "
	switch client {
	case GmailEN, GmailJA:
		date := d.Format("Mon, Jan 2, 2006 at 3:04 PM")
		if client == GmailJA {
			date = fmt.Sprintf("%s(%s) %s", ja, jaWeekdays[d.Weekday()], d.Format("15:04"))
		}
		head = "---------- Forwarded message ---------\nFrom: " + o.From + "\nDate: " + date +
			"\nSubject: " + o.Subject + "\nTo: <" + o.To + ">\n\n\n"
	case OutlookEN:
		prefix = "FW: "
		head = "-----Original Message-----\nFrom: " + o.From + " \nSent: " + d.Format("Monday, January 2, 2006 3:04 PM") +
			"\nTo: " + o.To + "\nSubject: " + o.Subject + "\n\n"
	case OutlookJA:
		prefix = "FW: "
		head = "-----元のメッセージ-----\n差出人: " + o.From + " \n送信日時: " + ja + " " + jaWeekdays[d.Weekday()] + "曜日 " +
			d.Format("15:04") + "\n宛先: " + o.To + "\n件名: " + o.Subject + "\n\n"
	case OutlookMacEN:
		prefix = "FW: "
		head = "From: " + o.From + "\nDate: " + d.Format("Monday, January 2, 2006 at 15:04") +
			"\nTo: " + o.To + "\nSubject: " + o.Subject + "\n\n"
	case OutlookMacJA:
		prefix = "FW: "
		head = "差出人: " + o.From + "\n日付: " + ja + " " + jaWeekdays[d.Weekday()] + "曜日 " + d.Format("15:04") +
			"\n宛先: " + o.To + "\n件名: " + o.Subject + "\n\n"
	case OutlookWebEN:
		prefix = "Fw: "
		head = strings.Repeat("_", 32) + "\nFrom: " + o.From + "\nSent: " + d.Format("Monday, January 2, 2006 3:04 PM") +
			"\nTo: " + o.To + "\nSubject: " + o.Subject + "\n\n"
	case OutlookWebJA:
		prefix = "Fw: "
		head = strings.Repeat("_", 32) + "\n差出人: " + o.From + "\n送信日時: " + ja + " " + d.Format("15:04") +
			"\n宛先: " + o.To + "\n件名: " + o.Subject + "\n\n"
	case AppleMailEN:
		head = "Begin forwarded message:\n\nFrom: " + o.From + "\nSubject: " + o.Subject + "\nDate: " + appleDate(d) +
			"\nTo: " + o.To + "\n\n"
	case AppleMailJA:
		head = "転送されたメッセージ:\n\n差出人: " + o.From + "\n件名: " + o.Subject + "\n日付: " + ja + " " +
			d.Format("15:04:05") + " JST\n宛先: " + o.To + "\n\n"
	case IPhoneEN, IPhoneJA:
		sent, marker, block := "Sent from my iPhone", "Begin forwarded message:",
			"From: "+o.From+"\nDate: "+appleDate(d)+"\nTo: "+o.To+"\nSubject: "+o.Subject
		if client == IPhoneJA {
			sent, marker = "iPhoneから送信", "転送されたメッセージ:"
			block = "差出人: " + o.From + "\n日付: " + ja + " " + d.Format("15:04:05") + " JST\n宛先: " + o.To + "\n件名: " + o.Subject
		}
		return prefix + o.Subject, note + "\n\n" + sent + "\n\n" + marker + "\n\n" + Quote(block+"\n\n"+o.Body)
	case ThunderbirdEN, ThunderbirdNoDay:
		date := d.Format("Mon, 2 Jan 2006 15:04:05 -0700")
		if client == ThunderbirdNoDay {
			date = d.Format("2 Jan 2006 15:04:05 -0700")
		}
		head = "-------- Forwarded Message --------\nSubject: \t" + o.Subject + "\nDate: \t" + date +
			"\nFrom: \t" + o.From + "\nTo: \t" + o.To + "\n\n\n\n"
	case ThunderbirdJA:
		prefix = "転送: "
		head = "-------- 転送メッセージ --------\n件名: \t" + o.Subject + "\n日付: \t" + d.Format("Mon, 2 Jan 2006 15:04:05 -0700") +
			"\n差出人: \t" + o.From + "\n宛先: \t" + o.To + "\n\n\n\n"
	default:
		panic("mailgen: unknown client " + string(client))
	}
	return prefix + o.Subject, note + "\n\n" + head + o.Body
}

// appleDate is Apple Mail's date: "December 4, 2026 at 11:02:41 GMT+9".
func appleDate(d time.Time) string {
	_, off := d.Zone()
	return d.Format("January 2, 2006 at 15:04:05") + fmt.Sprintf(" GMT%+d", off/3600)
}

// Quote prefixes every line of text with "> ", and an empty line with ">",
// as a client quotes a mail it forwards or answers.
func Quote(text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		if l == "" {
			lines[i] = ">"
		} else {
			lines[i] = "> " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// Flow encodes text as RFC 3676 format=flowed, soft-breaking lines longer
// than width runes: with delSp anywhere, adding a space that the reader
// deletes (DelSp=yes, how Apple Mail and Thunderbird wrap Japanese), else
// only after a space, which stays (DelSp=no). Quoted lines keep their
// quote marks on every piece; trailing spaces of lines are trimmed and
// lines that start with a space, ">" or "From " are space-stuffed.
func Flow(text string, width int, delSp bool) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, " ")
		quote := ""
		for strings.HasPrefix(line, ">") {
			quote += ">"
			line = line[1:]
		}
		if quote != "" {
			line = strings.TrimPrefix(line, " ")
			quote += " "
		}
		pieces := flowPieces(line, width, delSp)
		for i, p := range pieces {
			if quote == "" && (strings.HasPrefix(p, " ") || strings.HasPrefix(p, ">") || strings.HasPrefix(p, "From ")) {
				p = " " + p
			}
			if i < len(pieces)-1 && delSp {
				p += " "
			}
			if p == "" {
				out = append(out, strings.TrimSuffix(quote, " ")) // ">" alone: not a soft break
				continue
			}
			out = append(out, quote+p)
		}
	}
	return strings.Join(out, "\n")
}

// flowPieces cuts a line into soft-broken pieces; with DelSp=no a piece
// ends with the space it was cut after.
func flowPieces(line string, width int, delSp bool) []string {
	runes := []rune(line)
	var pieces []string
	for len(runes) > width {
		cut := width
		if !delSp {
			cut = -1
			for i := width; i > 0; i-- {
				if runes[i-1] == ' ' && i < len(runes) {
					cut = i
					break
				}
			}
			if cut < 0 {
				break // no space to break at: the line stays long
			}
		}
		pieces = append(pieces, string(runes[:cut]))
		runes = runes[cut:]
	}
	return append(pieces, string(runes))
}

// HTMLParagraphs turns text into the HTML a mailer sends for it: a
// paragraph per block of lines, a <br> per line, the yen sign as &yen;.
func HTMLParagraphs(text string) string {
	var b strings.Builder
	b.WriteString("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n" +
		"<style>p { margin: 0 }</style><title>Qoo10</title></head>\n<body>\n<p>")
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if l == "" {
			b.WriteString("</p>\n<p>")
			continue
		}
		b.WriteString(strings.ReplaceAll(html.EscapeString(l), "¥", "&yen;") + "<br>\n")
	}
	b.WriteString("</p>\n</body></html>\n")
	return b.String()
}

// HTMLTable turns text into the table layout HTML mailers use: a table
// per block of lines, a row per line; a "label: value" line as a <th>
// label cell and a <td> value cell, any other line as one cell across
// both columns. Entities stand for the yen sign (named) and the
// full-width colon (numeric).
func HTMLTable(text string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body>\n")
	for _, block := range strings.Split(strings.TrimRight(text, "\n"), "\n\n") {
		if strings.Trim(block, "\n") == "" {
			continue
		}
		b.WriteString("<table border=\"0\" cellpadding=\"2\">\n<tbody>\n")
		for _, l := range strings.Split(strings.Trim(block, "\n"), "\n") {
			label, value, ok := strings.Cut(l, ": ")
			if ok && isLabel(label) {
				fmt.Fprintf(&b, "<tr><th align=\"left\">%s</th>\n<td>%s</td></tr>\n", htmlText(label), htmlText(value))
				continue
			}
			fmt.Fprintf(&b, "<tr><td colspan=\"2\">%s</td></tr>\n", htmlText(l))
		}
		b.WriteString("</tbody>\n</table>\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

// isLabel reports whether text before ": " is a label a table would put
// in a cell of its own: short, not a sentence, not a URL scheme.
func isLabel(s string) bool {
	n := len([]rune(s))
	return n > 0 && n <= 20 && !strings.ContainsAny(s, "。、:：") && !strings.HasPrefix(s, "■")
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\"", "&#34;", "¥", "&yen;", "：", "&#xFF1A;")

func htmlText(s string) string { return htmlEscaper.Replace(s) }
