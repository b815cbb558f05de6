package store

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestEraseBuyerSeenInThreeMails: a buyer's order mail, its payment mail
// and a re-sent copy of the first are found by e-mail, by phone and by
// name however written; a dry run changes nothing; the erasure leaves no
// value of theirs in any table, keeps another buyer's, names the endpoint
// that received their events, and records itself without personal data.
func TestEraseBuyerSeenInThreeMails(t *testing.T) {
	const email, tel = "Hanako.Erase@Example.jp", "03-5555-1234"
	const other = "taro.other@example.jp"
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			logs := &testenv.LogBuffer{}
			s := open(t, st.URL, Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
			ctx := t.Context()
			at := time.Now()
			resent := buyerMail(1, email, tel, at)
			resent.Mail.QueueID, resent.Mail.DedupKey = "q-resent", "dedup-resent"
			paid := buyerMail(2, email, tel, at)
			paid.Events[0].Type = "order.paid"
			otherMail := buyerMail(3, other, "090-2222-3333", at)
			otherMail.Events[0].Payload = bytes.ReplaceAll(otherMail.Events[0].Payload, []byte("佐藤 花子"), []byte("鈴木 太郎"))
			for _, in := range []*Ingest{buyerMail(1, email, tel, at), paid, resent, otherMail} {
				if _, err := s.Ingest(ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			deliver(t, s, 1, DeliveryDelivered, "")

			for _, b := range []Buyer{{Email: "hanako.erase@example.JP"}, {Tel: "０３５５５５１２３４"}, {Name: "佐藤花子"}} {
				rep, err := s.FindBuyer(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Mails) != 3 || len(rep.Events) != 2 || !slices.Equal(rep.DeliveredTo, []string{"vendor"}) {
					t.Errorf("find by %s: %d mails, %d events, delivered to %v; want 3, 2, [vendor]",
						b.By(), len(rep.Mails), len(rep.Events), rep.DeliveredTo)
				}
			}
			if found := findInTables(t, s, email, tel); len(found) == 0 {
				t.Fatal("a dry run erased the buyer's values")
			}

			rep, err := s.Erase(ctx, Buyer{Email: email}, "cli:alice")
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Mails) != 3 || rep.DryRun || rep.Events[0].DeliveredTo[0] != "vendor" {
				t.Errorf("erasure report %+v", rep)
			}
			if found := findInTables(t, s, email, strings.ToLower(email), tel, "佐藤"); len(found) > 0 {
				t.Errorf("after the erasure the buyer's values are in %v", found)
			}
			if st.Name == "sqlite" {
				if found := findInFiles(t, st.URL, email, strings.ToLower(email), tel); len(found) > 0 {
					t.Errorf("after the erasure the buyer's values are in %v", found)
				}
			}
			if found := findInTables(t, s, other, "鈴木"); len(found) == 0 {
				t.Error("the erasure took another buyer's values")
			}
			if n := count(t, s, `SELECT count(*) FROM erasure WHERE actor = 'cli:alice' AND matched_by = 'email' AND mails = 3`); n != 1 {
				t.Errorf("erasure records: %d", n)
			}
			if log := logs.String(); !strings.Contains(log, `"msg":"erasure"`) || strings.Contains(strings.ToLower(log), strings.ToLower(email)) {
				t.Errorf("audit log line missing or holding the address: %s", log)
			}
			again, err := s.FindBuyer(ctx, Buyer{Tel: tel})
			if err != nil || len(again.Mails) != 0 {
				t.Errorf("after the erasure the buyer is still found: %+v, %v", again, err)
			}
			if _, err := s.FindBuyer(ctx, Buyer{Tel: "12-34"}); !errors.Is(err, ErrBadBuyer) {
				t.Errorf("a 4-digit phone: %v", err)
			}
		})
	}
}
