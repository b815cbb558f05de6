package parse

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/internal/mailgen"
)

// clientShape wraps a Qoo10 mail the way a mail client, a mailer or a
// seller's mailbox hands it on. wrap gets the plain mail and returns the
// wrapped one; charsets are those the shape travels in.
type clientShape struct {
	name      string
	charsets  []string
	forwarded bool      // the result must say Forwarded, with the inner headers
	date      time.Time // mail.date to the minute, when forwarded
	wrap      func(plain mailgen.Mail, rng *rand.Rand) ([]byte, error)
}

// forwardDate is when the seller's client shows the Qoo10 mail was sent.
var forwardDate = time.Date(2026, 12, 4, 11, 2, 41, 0, jst)

const sellerFrom = "店長 <tencho@example.jp>"

// original is the plain mail as a client shows it when forwarding it.
func original(plain mailgen.Mail) mailgen.Original {
	return mailgen.Original{From: plain.From, To: plain.To, Subject: plain.Subject, Date: forwardDate, Body: plain.Body}
}

// sellerMail is the mail a seller's client sends around a Qoo10 mail.
func sellerMail(plain mailgen.Mail, subject, body string) mailgen.Mail {
	return mailgen.Mail{From: sellerFrom, To: "orders@in.example.test", Date: forwardDate.Add(time.Hour),
		MessageID: "fwd-" + plain.MessageID, Subject: subject, Body: body, Charset: plain.Charset, Encoding: plain.Encoding}
}

// inlineShape forwards inline as client does; Apple Mail and Thunderbird
// send flowed text, Gmail and Outlook on the web add an HTML rendering.
func inlineShape(client mailgen.Client) clientShape {
	charsets := []string{"utf-8", "iso-2022-jp", "shift_jis"}
	return clientShape{name: "inline/" + string(client), charsets: charsets, forwarded: true, date: forwardDate,
		wrap: func(plain mailgen.Mail, rng *rand.Rand) ([]byte, error) {
			subject, body := mailgen.ForwardInline(client, original(plain), "ご確認ください。")
			m := sellerMail(plain, subject, body)
			switch {
			case strings.HasPrefix(string(client), "apple-mail"), strings.HasPrefix(string(client), "thunderbird"):
				m.Flowed, m.DelSp, m.FlowWidth = true, true, 20+rng.IntN(40)
			case strings.HasPrefix(string(client), "gmail"), strings.HasPrefix(string(client), "outlook-web"):
				m.Alternative = mailgen.HTMLParagraphs(body)
			}
			return m.Bytes()
		}}
}

func clientShapes() []clientShape {
	var shapes []clientShape
	for _, c := range mailgen.Clients {
		shapes = append(shapes, inlineShape(c))
	}
	all := []string{"utf-8", "iso-2022-jp", "shift_jis"}
	shapes = append(shapes,
		clientShape{name: "attachment", charsets: all, forwarded: true, date: genDate,
			wrap: func(plain mailgen.Mail, _ *rand.Rand) ([]byte, error) {
				raw, err := plain.Bytes()
				if err != nil {
					return nil, err
				}
				m := sellerMail(plain, "Fwd: "+plain.Subject, "添付のとおり転送します。\n")
				m.Attached = raw
				return m.Bytes()
			}},
		clientShape{name: "attachment-in-attachment", charsets: all, forwarded: true, date: genDate,
			wrap: func(plain mailgen.Mail, _ *rand.Rand) ([]byte, error) {
				raw, err := plain.Bytes()
				if err != nil {
					return nil, err
				}
				mid := sellerMail(plain, "FW: "+plain.Subject, "転送します。\n")
				mid.Attached = raw
				if raw, err = mid.Bytes(); err != nil {
					return nil, err
				}
				outer := sellerMail(plain, "Fwd: FW: "+plain.Subject, "転送の転送です。\n")
				outer.MessageID = "outer-" + plain.MessageID
				outer.Attached = raw
				return outer.Bytes()
			}},
		// A forward quoted once more by a reply: "> " on every line, a BOM,
		// trailing blanks, CRLF and LF mixed.
		clientShape{name: "quoted", charsets: []string{"utf-8"}, forwarded: true, date: forwardDate,
			wrap: func(plain mailgen.Mail, rng *rand.Rand) ([]byte, error) {
				_, fwd := mailgen.ForwardInline(mailgen.ThunderbirdJA, original(plain), "")
				var b strings.Builder
				for _, l := range strings.Split(mailgen.Quote(fwd), "\n") {
					b.WriteString(l + strings.Repeat(" ", rng.IntN(3)) + "\n")
				}
				m := sellerMail(plain, "Re: Fwd: "+plain.Subject, "\uFEFF確認しました。\n\n"+b.String())
				m.Encoding = "8bit"
				raw, err := m.Bytes()
				if err != nil {
					return nil, err
				}
				return mixLineEnds(raw, rng), nil
			}},
		clientShape{name: "flowed-delsp", charsets: all,
			wrap: func(plain mailgen.Mail, rng *rand.Rand) ([]byte, error) {
				plain.Flowed, plain.DelSp, plain.FlowWidth = true, true, 5+rng.IntN(40)
				return plain.Bytes()
			}},
		clientShape{name: "flowed", charsets: all,
			wrap: func(plain mailgen.Mail, rng *rand.Rand) ([]byte, error) {
				plain.Flowed, plain.FlowWidth = true, 5+rng.IntN(40)
				return plain.Bytes()
			}},
		clientShape{name: "html-only", charsets: all,
			wrap: func(plain mailgen.Mail, _ *rand.Rand) ([]byte, error) {
				plain.Body, plain.HTML = mailgen.HTMLParagraphs(plain.Body), true
				return plain.Bytes()
			}},
		clientShape{name: "html-stub-text", charsets: all,
			wrap: func(plain mailgen.Mail, _ *rand.Rand) ([]byte, error) {
				plain.Alternative = mailgen.HTMLParagraphs(plain.Body)
				plain.Body = "このメールはHTML形式です。HTML表示に対応したメールソフトでご覧ください。\n"
				return plain.Bytes()
			}},
		clientShape{name: "table", charsets: all,
			wrap: func(plain mailgen.Mail, rng *rand.Rand) ([]byte, error) {
				html := mailgen.HTMLTable(plain.Body)
				if rng.IntN(2) == 0 {
					plain.Body, plain.HTML = html, true
				} else {
					plain.Alternative = html
					plain.Body = "HTMLメールをご覧ください。\n"
				}
				return plain.Bytes()
			}},
	)
	return shapes
}

// mixLineEnds turns some of the LF line ends of raw's body into CRLF.
func mixLineEnds(raw []byte, rng *rand.Rand) []byte {
	head, body, _ := bytes.Cut(raw, []byte("\n\n"))
	var b bytes.Buffer
	b.Write(head)
	b.WriteString("\n\n")
	for _, l := range bytes.SplitAfter(body, []byte("\n")) {
		if bytes.HasSuffix(l, []byte("\n")) && rng.IntN(2) == 0 {
			l = append(l[:len(l)-1:len(l)-1], '\r', '\n')
		}
		b.Write(l)
	}
	return b.Bytes()
}

// TestPropertyClientShapes renders every built-in template with random
// values, plain and wrapped by every client shape, and checks that both
// read to the same order (fields in any order), type and headers: a
// wrapper never changes the data.
func TestPropertyClientShapes(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	fallbackOnly := fallbackOnlyParser(t)
	rounds := 4
	if testing.Short() {
		rounds = 1
	}
	for _, src := range builtinTemplates() {
		for _, shape := range clientShapes() {
			for i := range rounds {
				where := fmt.Sprintf("%s %s #%d (seed %d)", src.Name, shape.name, i, seed)
				charset := shape.charsets[rng.IntN(len(shape.charsets))]
				cte := []string{"base64", "quoted-printable", "8bit"}[rng.IntN(3)]
				if cte == "8bit" && charset == "iso-2022-jp" {
					cte = "7bit"
				}
				v := newValueGen(rng).values(src)
				plain := mailgen.Mail{From: qoo10From, To: "tencho@example.jp", MessageID: fmt.Sprintf("p%d@qoo10.jp", i),
					Date: genDate, Charset: charset, Encoding: cte,
					Subject: mailgen.Render(src.Subject, v), Body: mailgen.Render(src.Body, v) + "\n"}
				plainRaw, err := plain.Bytes()
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				wrapped, err := shape.wrap(plain, rng)
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				want, got := p.Parse(plainRaw), p.Parse(wrapped)
				msg := compareReads(want, got, shape.forwarded)
				if d := got.Date.Truncate(time.Minute); shape.forwarded && !d.Equal(shape.date.Truncate(time.Minute)) {
					msg += fmt.Sprintf("; date %v, want %v", got.Date, shape.date)
				}
				if msg != "" {
					t.Errorf("%s: %s\nmail:\n%s", where, msg, wrapped)
				}
				// The fallback, which reads what no template fits, must
				// see through the wrappers as well.
				if msg := compareReads(fallbackOnly.Parse(plainRaw), fallbackOnly.Parse(wrapped), shape.forwarded); msg != "" {
					t.Errorf("%s, fallback: %s\nmail:\n%s", where, msg, wrapped)
				}
			}
		}
	}
}

// compareReads says how got, the read of a wrapped mail, differs from
// want, the read of the plain one, or "".
func compareReads(want, got *Result, forwarded bool) string {
	var diffs []string
	if got.Type != want.Type || got.Template != want.Template {
		diffs = append(diffs, fmt.Sprintf("type %s by %q, plain %s by %q", got.Type, got.Template, want.Type, want.Template))
	}
	if g, w := orderData(got.Order), orderData(want.Order); g != w {
		diffs = append(diffs, "order\n"+g+"\nplain\n"+w)
	}
	if g, w := sortedFields(got.Order.Fields), sortedFields(want.Order.Fields); !slices.Equal(g, w) {
		diffs = append(diffs, fmt.Sprintf("fields\n%q\nplain\n%q", g, w))
	}
	if !slices.Equal(got.Problems, want.Problems) {
		diffs = append(diffs, fmt.Sprintf("problems %q, plain %q", got.Problems, want.Problems))
	}
	if got.Subject != want.Subject {
		diffs = append(diffs, fmt.Sprintf("subject %q, plain %q", got.Subject, want.Subject))
	}
	if forwarded {
		if !got.Forwarded {
			diffs = append(diffs, "not read as forwarded")
		}
		if got.From != want.From {
			diffs = append(diffs, fmt.Sprintf("from %q, plain %q", got.From, want.From))
		}
	}
	return strings.Join(diffs, "; ")
}

// sortedFields lists fields in a fixed order. The yen sign counts as
// the backslash that JIS X 0201 and Shift_JIS text decodes it to: an
// HTML rendering writes it as &yen;.
func sortedFields(fs []event.Field) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Section+"\x00"+f.Label+"\x00"+strings.ReplaceAll(f.Value, "¥", "\\"))
	}
	slices.Sort(out)
	return out
}

// TestDeepForwards reads an order forwarded as an attachment of an
// attachment, five deep, and forwarded inline four times: any depth
// the limits allow.
func TestDeepForwards(t *testing.T) {
	t.Parallel()
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	plain := render("stockgear-order-unit", sgOrder(), "deep")
	raw, err := plain.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := p.Parse(raw)
	for i := range 5 {
		m := sellerMail(plain, "Fwd: "+plain.Subject, "転送します。\n")
		m.MessageID = fmt.Sprintf("level%d@example.jp", i)
		m.Attached = raw
		if raw, err = m.Bytes(); err != nil {
			t.Fatal(err)
		}
	}
	if msg := compareReads(want, p.Parse(raw), true); msg != "" {
		t.Errorf("five attachments deep: %s", msg)
	}
	text := plain.Body
	subject := plain.Subject
	for _, c := range []mailgen.Client{mailgen.GmailJA, mailgen.OutlookJA, mailgen.AppleMailEN, mailgen.ThunderbirdJA} {
		o := original(plain)
		o.Body, o.Subject = text, subject
		subject, text = mailgen.ForwardInline(c, o, "")
	}
	m := sellerMail(plain, subject, text)
	raw, err = m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if msg := compareReads(want, p.Parse(raw), true); msg != "" {
		t.Errorf("four inline forwards: %s", msg)
	}
}
