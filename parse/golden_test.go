package parse

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testOptions is the configuration the golden mails are read with: the
// built-ins plus one operator template, one class rule, labels and
// placeholders, as an operator's config file would add them.
func testOptions() Options {
	return Options{
		Templates: []TemplateSource{{
			Name:    "acme-transport",
			Type:    event.OrderPaid,
			Subject: "【ACME】発送依頼 [$_ORDER_NO_$]",
			Body: "【ACMEショップ】発送依頼\r\n" +
				"受注番号〜[$_ORDER_NO_$]\r\n" +
				"お客様：[$_BUYER_NM_$] 様\r\n" +
				"お届け先：〒[$_BUYER_ZIP_$] [$_BUYER_ADDR_$]\r\n" +
				"品番：[$_SELLER_ITEM_CODE_$]\r\n" +
				"数量：[$_ORDER_QTY_$]個\r\n" +
				"##DELETE_BLANK_ROW##お届け希望日：[$_DEL_HOPE_DATE_$]\r\n" +
				"担当：[$_STAFF_$]\r\n",
		}},
		Classes:      []ClassRule{{Type: event.OrderCompleted, Subject: "受取確認"}},
		Labels:       map[string]string{"お客様番号": "fields", "品番": "items.seller_item_code"},
		Placeholders: map[string]string{"BUYER_ZIP": "receiver.zip", "[$_BUYER_ADDR_$]": "receiver.address"},
	}
}

var goldenTime = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// goldenEvent wraps a result into the webhook body, with the fields the
// caller sets fixed so that the golden files are stable.
func goldenEvent(r *Result) any {
	if r.Err != nil {
		return map[string]string{"error": r.Err.Error()}
	}
	m := r.MailInfo()
	m.QueueID = "golden"
	m.ReceivedAt = goldenTime
	return event.Event{ID: "evt_golden", Type: r.Type, Version: event.Version, CreatedAt: goldenTime,
		Tenant: "golden", Data: &r.Order, Mail: m}
}

func TestGolden(t *testing.T) {
	p, err := New(testOptions())
	if err != nil {
		t.Fatal(err)
	}
	schema := testenv.EventSchema(t)
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("only %d golden mails", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".eml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			r := p.Parse(raw)
			got, err := json.MarshalIndent(goldenEvent(r), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(file, ".eml") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run with -update to accept):\n%s", golden, lineDiff(string(want), string(got)))
			}
			if r.Err != nil {
				return
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(got))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(inst); err != nil {
				t.Errorf("golden event does not validate against event/schema/v1.json: %v", err)
			}
		})
	}
}

// lineDiff lists the lines that differ, for a readable failure.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}
