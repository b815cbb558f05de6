package ingest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/parse"
)

// TestPayloadAsDecoded: for every mail of the parser's fixtures, the order
// payload the derivers are handed without decoding (event.Event.Payload)
// is what decoding the stored event gives.
func TestPayloadAsDecoded(t *testing.T) {
	t.Parallel()
	p, err := parse.New(parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../parse/testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	orders := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res := p.Parse(raw)
		ev := BuildEvent(res, Meta{QueueID: "q1", ReceivedAt: time.Now(), DedupKey: "k", To: []string{"orders@in.example.test"},
			Auth: &event.Auth{SPF: event.Verdict{Result: "pass", Domain: "qoo10.jp"}}})
		se, err := storeEvent(ev, res)
		if err != nil {
			t.Fatal(err)
		}
		got, err := se.OrderPayload()
		if err != nil {
			t.Fatal(err)
		}
		var want event.OrderPayload
		if err := json.Unmarshal(se.Payload, &want); err != nil {
			t.Fatal(err)
		}
		if ev.Type.IsOrder() {
			orders++
			if _, ok := ev.Payload(); !ok {
				t.Errorf("%s: no payload without decoding", filepath.Base(f))
			}
		}
		if !samePayload(t, got, &want) {
			t.Errorf("%s: the payload handed over differs from the decoded one", filepath.Base(f))
		}
	}
	if orders == 0 {
		t.Fatal("no order mail among the fixtures")
	}
}

func samePayload(t *testing.T, a, b *event.OrderPayload) bool {
	t.Helper()
	for _, p := range []*event.OrderPayload{a, b} {
		if strings.Contains(p.CreatedAt.String(), "m=") || (p.Mail != nil && strings.Contains(p.Mail.ReceivedAt.String(), "m=")) {
			t.Errorf("a time keeps a monotonic clock reading: %v", p.CreatedAt)
		}
	}
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return false
	}
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}
