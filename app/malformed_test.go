package app

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

// malformedCorpus is mail whose headers or body carry what a text column
// cannot hold as such: NUL, raw or encoded, and bytes that are not UTF-8.
func malformedCorpus(t *testing.T) map[string][]byte {
	head := "From: Qoo10 <qoo10info@qoo10.jp>\r\nTo: orders@in.example.test\r\nDate: Fri, 20 Nov 2026 21:05:00 +0900\r\n"
	plain := func(name, headers string) []byte {
		return []byte(head + headers + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + name + "\r\n")
	}
	c := map[string][]byte{
		"raw NUL in Subject":           plain("1", "Subject: a\x00b\r\nMessage-ID: <nul-subject@qoo10.jp>"),
		"encoded NUL in Subject":       plain("2", "Subject: =?UTF-8?B?YQBi?=\r\nMessage-ID: <nul-encoded@qoo10.jp>"),
		"NUL in Message-ID":            plain("3", "Subject: id\r\nMessage-ID: <a\x00b@qoo10.jp>"),
		"encoded NUL in Message-ID":    plain("4", "Subject: id\r\nMessage-ID: =?UTF-8?B?PGEAYkBxb28xMC5qcD4=?="),
		"raw invalid UTF-8 in Subject": plain("5", "Subject: \xff\xfe\x80\r\nMessage-ID: <bad-utf8@qoo10.jp>"),
		"encoded invalid UTF-8":        plain("6", "Subject: =?UTF-8?B?//6A?=\r\nMessage-ID: <bad-utf8-encoded@qoo10.jp>"),
		"NUL in From and To":           []byte("From: a\x00b <x@qoo10.jp>\r\nTo: o\x00@in.example.test\r\nSubject: x\r\nMessage-ID: <nul-from@qoo10.jp>\r\n\r\nbody\r\n"),
	}
	// A Qoo10 order whose order number and option code carry a NUL: it
	// parses, and its event and inventory adjustment are stored.
	order := fixture(t, "stockgear-order-utf8.eml")
	i := bytes.Index(order, []byte("\r\n\r\n"))
	body, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(order[i+4:])))
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.ReplaceAll(body, []byte("920000456"), []byte("9200\x0000456"))
	body = bytes.ReplaceAll(body, []byte("TS-001-NV-L"), []byte("TS-001\x00-NV-L"))
	c["NUL in the order body"] = append(bytes.Replace(order[:i+4], []byte("e2e.utf-8@"), []byte("nul-body@"), 1),
		[]byte(base64.StdEncoding.EncodeToString(body)+"\r\n")...)
	return c
}

// TestMalformedMailOnEveryStore: the same malformed corpus, sent to each
// store, gets 250 for every mail, and each is stored with its raw bytes
// as they came.
func TestMalformedMailOnEveryStore(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, st.URL, "")
			cfg.Inventory = config.DefaultInventory()
			svc := start(t, cfg)
			corpus := malformedCorpus(t)
			for name, raw := range corpus {
				if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, raw); err != nil {
					t.Errorf("%s: %v, want 250", name, err)
				}
			}
			mails, err := svc.svc.Store().ListMails(t.Context(), store.MailFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(mails) != len(corpus) {
				t.Fatalf("%d mails stored, want %d", len(mails), len(corpus))
			}
			stored := map[string]bool{}
			for _, m := range mails {
				raw, err := svc.svc.Store().MailRaw(t.Context(), fmt.Sprint(m.ID))
				if err != nil {
					t.Fatal(err)
				}
				for name, sent := range corpus {
					if bytes.HasSuffix(raw, sent) {
						stored[name] = true
					}
				}
				if _, err := svc.svc.Store().GetMail(t.Context(), fmt.Sprint(m.ID)); err != nil {
					t.Errorf("mail %d: %v", m.ID, err)
				}
			}
			for name := range corpus {
				if !stored[name] {
					t.Errorf("%s: raw bytes not stored as sent", name)
				}
			}
		})
	}
}
