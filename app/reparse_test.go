package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// acmeMail is an order mail in a seller's own J·QSM wording, which no
// built-in template reads: 受注No≫ instead of 注文番号, and so on.
func acmeMail(msgID, orderNo, qtyLine string) []byte {
	body := "Qoo10 ACMEショップ ご注文受付\r\n\r\n" +
		"受注No≫ " + orderNo + "\r\n" +
		"カートNo≫ 77" + orderNo + "\r\n" +
		"ショップ≫ acme\r\n" +
		"品番≫ ACME-TEE-01\r\n" +
		"セット数≫ 1\r\n" +
		qtyLine + "\r\n" +
		"またのご利用をお待ちしております。\r\n"
	return []byte("From: Qoo10 <qoo10info@qoo10.jp>\r\n" +
		"To: orders@in.example.test\r\n" +
		"Subject: =?UTF-8?B?44CQQUNNReOAkeOBlOazqOaWh+WPl+S7mA==?=\r\n" +
		"Message-ID: <" + msgID + "@qoo10.jp>\r\n" +
		"Date: Tue, 01 Dec 2026 10:00:00 +0900\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\n" + body)
}

// acmeTemplate is the seller's template as pasted into PUT; setLine and
// qtyLines are its set-count and quantity lines.
func acmeTemplate(setLine string, qtyLines ...string) map[string]any {
	body := "Qoo10 ACMEショップ ご注文受付\n\n" +
		"受注No≫ [$_ORDER_NO_$]\n" +
		"カートNo≫ [$_PACK_NO_$]\n" +
		"ショップ≫ [$_SELLER_ID_$]\n" +
		"品番≫ [$_SELLER_ITEM_CODE_$]\n" +
		setLine + "\n" +
		strings.Join(qtyLines, "\n") + "\n" +
		"またのご利用をお待ちしております。\n"
	return map[string]any{"type": "order.placed", "body": body}
}

// api makes a JSON request with the admin token and decodes the answer.
func api(t *testing.T, method, u string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, decode(t, out)
}

// setCountLine reads the set count into the event's fields only.
const setCountLine = "セット数≫ [$_SET_COUNT_$]"

// reparseConfig is an admin-enabled service that reserves stock when an
// order is placed.
func reparseConfig(t *testing.T, storeURL, hookURL string) *config.Config {
	cfg := adminConfig(t, storeURL, hookURL)
	cfg.Inventory.ReserveOn, cfg.Inventory.ReleaseOn = "order.placed", "order.cancelled"
	return cfg
}

// expectEvents waits for n deliveries and returns their events by type.
func expectEvents(t *testing.T, rx *receiver, n int) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for range n {
		ev := verify(t, rx.nextDelivered(t, 20*time.Second))
		typ := ev["type"].(string)
		out[typ] = append(out[typ], ev)
	}
	return out
}

// TestReparseDeliversWhatChanged: a seller-customised order mail that
// the built-ins read as unrecognized becomes, once a template is PUT and
// the mail re-parsed, one delivered order.placed and one inventory
// reservation; a second re-parse delivers nothing. A mail that template
// reads partial (no quantity line), re-parsed once the template is
// corrected, yields one event that supersedes the first and reserves
// its stock once; a re-parse reading another quantity posts only the
// difference.
func TestReparseDeliversWhatChanged(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t)
			svc := start(t, reparseConfig(t, st.URL, rx.URL))
			base := "http://" + svc.svc.HTTPAddr() + "/api/v1"
			rcpt := []string{"orders@in.example.test"}

			// 1. Unrecognized at ingest.
			if err := send(t, svc.svc.SMTPAddr(), rcpt, acmeMail("a1", "910000001", "数量≫ 3")); err != nil {
				t.Fatal(err)
			}
			unrec := expectEvents(t, rx, 1)["mail.unrecognized"]
			if len(unrec) != 1 {
				t.Fatalf("at ingest: %v, want one mail.unrecognized", unrec)
			}
			code, page := api(t, "GET", base+"/messages?status=unrecognized", nil)
			msgs := page["messages"].([]any)
			if code != 200 || len(msgs) != 1 {
				t.Fatalf("GET ?status=unrecognized: %d %v", code, page)
			}
			mailA := msgs[0].(map[string]any)["queue_id"].(string)

			// A template that does not compile: 400 naming line and column.
			bad := acmeTemplate(setCountLine, "数量≫ [$_ORDER_QTY_$")
			if code, e := api(t, "PUT", base+"/templates/acme", bad); code != 400 || e["line"] != 8.0 || e["column"] != 5.0 {
				t.Fatalf("PUT of a broken template: %d %v, want 400 at line 8 column 5", code, e)
			}
			// 2. PUT the template: 200 with its summary.
			code, put := api(t, "PUT", base+"/templates/acme", acmeTemplate(setCountLine, "##DELETE_BLANK_ROW##数量≫ [$_ORDER_QTY_$]"))
			if code != 200 || put["created"] != true || get(put, "template.source") != "stored" || get(put, "template.summary.lines") != 8.0 {
				t.Fatalf("PUT template: %d %v", code, put)
			}
			code, list := api(t, "GET", base+"/templates", nil)
			if code != 200 || !hasTemplate(list, "acme", "stored") || !hasTemplate(list, "stockgear-order-unit", "builtin") {
				t.Fatalf("GET /templates: %d %v", code, list)
			}

			// 3. Dry run: says what would change, changes nothing.
			code, dry := api(t, "POST", base+"/messages/reparse", map[string]any{"ids": []string{mailA}, "dry_run": true})
			if code != 200 || dry["mails"] != 1.0 || dry["changed"] != 1.0 || get(dry, "results[0].new[0].type") != "order.placed" {
				t.Fatalf("dry run: %d %v", code, dry)
			}
			// 4. Apply: one order.placed, one reservation.
			code, rep := api(t, "POST", base+"/messages/reparse", map[string]any{"ids": []string{mailA}})
			if code != 200 || rep["changed"] != 1.0 || get(rep, "results[0].status") != "parsed" {
				t.Fatalf("reparse: %d %v", code, rep)
			}
			got := expectEvents(t, rx, 2)
			placed, adj := got["order.placed"], got["inventory.adjusted"]
			if len(placed) != 1 || len(adj) != 1 || get(placed[0], "data.items[0].qty") != 3.0 || placed[0]["supersedes"] != nil {
				t.Fatalf("after reparse: %v", got)
			}
			if get(adj[0], "data.reason") != "reserve" || get(adj[0], "data.delta") != -3.0 {
				t.Fatalf("reservation: %v", adj[0])
			}
			code, detail := api(t, "GET", base+"/messages/"+mailA, nil)
			replaced := map[any]any{}
			for _, e := range detail["events"].([]any) {
				replaced[get(e, "type")] = get(e, "superseded_by")
			}
			if code != 200 || replaced["mail.unrecognized"] != placed[0]["id"] || replaced["order.placed"] != nil {
				t.Fatalf("mail detail after reparse: %d %v", code, replaced)
			}
			// 5. Again: nothing changes, nothing is delivered.
			code, rep = api(t, "POST", base+"/messages/reparse", map[string]any{"ids": []string{mailA}})
			if code != 200 || rep["changed"] != 0.0 {
				t.Fatalf("second reparse: %d %v", code, rep)
			}

			// 6. A mail the template reads partial: its quantity is on a
			// line the template does not know.
			if err := send(t, svc.svc.SMTPAddr(), rcpt, acmeMail("b1", "910000002", "注文数≫ 2")); err != nil {
				t.Fatal(err)
			}
			first := expectEvents(t, rx, 1)["order.placed"]
			if len(first) != 1 || !strings.Contains(fmt.Sprint(get(first[0], "mail.problems")), "missing: items[0].qty") {
				t.Fatalf("partial mail: %v", first)
			}
			code, page = api(t, "GET", base+"/messages?status=partial", nil)
			if code != 200 || len(page["messages"].([]any)) != 1 {
				t.Fatalf("GET ?status=partial: %d %v", code, page)
			}
			// 7. Correct the template, re-parse what needs attention.
			if code, put := api(t, "PUT", base+"/templates/acme", acmeTemplate(setCountLine, "##DELETE_BLANK_ROW##数量≫ [$_ORDER_QTY_$]",
				"##DELETE_BLANK_ROW##注文数≫ [$_ORDER_QTY_$]")); code != 200 || put["created"] != false {
				t.Fatalf("PUT corrected template: %d %v", code, put)
			}
			code, rep = api(t, "POST", base+"/messages/reparse", map[string]any{"status": []string{"unrecognized", "partial"}})
			if code != 200 || rep["mails"] != 1.0 || rep["changed"] != 1.0 {
				t.Fatalf("reparse partial: %d %v", code, rep)
			}
			got = expectEvents(t, rx, 2)
			fixed := got["order.placed"]
			if len(fixed) != 1 || fixed[0]["supersedes"] != first[0]["id"] || fixed[0]["id"] == first[0]["id"] ||
				get(fixed[0], "data.items[0].qty") != 2.0 || get(fixed[0], "mail.problems") != nil {
				t.Fatalf("corrected event: %v (first %v)", fixed, first[0]["id"])
			}
			if a := got["inventory.adjusted"]; len(a) != 1 || get(a[0], "data.reason") != "reserve" || get(a[0], "data.delta") != -2.0 {
				t.Fatalf("reservation of the corrected line: %v", got)
			}

			// 8. A template that takes the set count for the quantity: both
			// orders are corrected once more, their stock by the difference
			// only (3 -> 1 and 2 -> 1).
			if code, put := api(t, "PUT", base+"/templates/acme", acmeTemplate("セット数≫ [$_ORDER_QTY_$]",
				"##DELETE_BLANK_ROW##数量≫ [$_AMOUNT_$]", "##DELETE_BLANK_ROW##注文数≫ [$_AMOUNT_$]")); code != 200 {
				t.Fatalf("PUT: %d %v", code, put)
			}
			code, rep = api(t, "POST", base+"/messages/reparse", map[string]any{"status": []string{"parsed"}})
			if code != 200 || rep["mails"] != 2.0 || rep["changed"] != 2.0 {
				t.Fatalf("reparse: %d %v", code, rep)
			}
			got = expectEvents(t, rx, 4)
			deltas := map[any]any{}
			for _, a := range got["inventory.adjusted"] {
				if get(a, "data.reason") != "correct" {
					t.Fatalf("correction: %v", a)
				}
				deltas[get(a, "data.order_no")] = get(a, "data.delta")
			}
			if len(got["order.placed"]) != 2 || deltas["910000001"] != 2.0 || deltas["910000002"] != 1.0 {
				t.Fatalf("corrections: %v", got)
			}
			for _, p := range got["order.placed"] {
				if p["supersedes"] == nil || get(p, "data.items[0].qty") != 1.0 {
					t.Fatalf("superseding event: %v", p)
				}
			}
			for range 2 {
				if code, rep := api(t, "POST", base+"/messages/reparse", map[string]any{"status": []string{"parsed", "partial", "unrecognized"}}); code != 200 || rep["changed"] != 0.0 {
					t.Fatalf("re-parse of everything once more: %d %v", code, rep)
				}
			}
			rx.quiet(t, 300*time.Millisecond)
		})
	}
}

func hasTemplate(list map[string]any, name, source string) bool {
	ts, _ := list["templates"].([]any)
	for _, t := range ts {
		m := t.(map[string]any)
		if m["name"] == name && m["source"] == source {
			return true
		}
	}
	return false
}

// TestReparseCommand: qoo10hook reparse asks the running service; a dry
// run changes nothing, a run delivers the change once, and a quarantined
// mail stays held through it.
func TestReparseCommand(t *testing.T) {
	rx := newReceiver(t)
	svc := start(t, reparseConfig(t, testenv.SQLite(t), rx.URL))
	base := "http://" + svc.svc.HTTPAddr()
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, acmeMail("cli1", "960000001", "数量≫ 2")); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, rx, 1)
	if code, put := api(t, "PUT", base+"/api/v1/templates/acme", acmeTemplate(setCountLine, "数量≫ [$_ORDER_QTY_$]")); code != 200 {
		t.Fatalf("PUT: %d %v", code, put)
	}
	env := map[string]string{"QOO10HOOK_ADMIN_TOKEN": testAdminToken}
	if code, _, errs := runCLI(t, env, "reparse", "--url", base); code != 2 || !strings.Contains(errs, "--status") {
		t.Fatalf("reparse without a selection: exit %d, %s", code, errs)
	}
	code, out, errs := runCLI(t, env, "reparse", "--url", base, "--dry-run", "--status", "unrecognized,partial")
	if code != 0 || !strings.Contains(out, "1 mails read again, 1 would change") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errs)
	}
	rx.quiet(t, 200*time.Millisecond)
	code, out, errs = runCLI(t, env, "reparse", "--url", base, "--status", "unrecognized", "--since", "2020-01-01T00:00:00Z")
	if code != 0 || !strings.Contains(out, "1 mails read again, 1 changed") || !strings.Contains(out, "unrecognized     parsed") {
		t.Fatalf("reparse: exit %d\n%s%s", code, out, errs)
	}
	if got := expectEvents(t, rx, 2); len(got["order.placed"]) != 1 || len(got["inventory.adjusted"]) != 1 {
		t.Fatalf("after reparse: %v", got)
	}
	code, out, _ = runCLI(t, env, "reparse", "--url", base, "--status", "parsed")
	if code != 0 || !strings.Contains(out, "1 mails read again, 0 changed") {
		t.Fatalf("second reparse: exit %d\n%s", code, out)
	}
	rx.quiet(t, 200*time.Millisecond)
}

// TestReparseQuarantined: a quarantined mail re-parsed stays held; on
// release the corrected event goes out, once, and the old one never.
func TestReparseQuarantined(t *testing.T) {
	rx := newReceiver(t)
	cfg := reparseConfig(t, testenv.SQLite(t), rx.URL)
	cfg.Sender.Policy = config.PolicyQuarantine
	svc := start(t, cfg)
	base := "http://" + svc.svc.HTTPAddr() + "/api/v1"
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, acmeMail("q1", "970000001", "数量≫ 2")); err != nil {
		t.Fatal(err)
	}
	code, page := api(t, "GET", base+"/messages?status=quarantined", nil)
	if code != 200 || len(page["messages"].([]any)) != 1 {
		t.Fatalf("quarantine: %d %v", code, page)
	}
	id := get(page, "messages[0].queue_id").(string)
	if code, put := api(t, "PUT", base+"/templates/acme", acmeTemplate(setCountLine, "数量≫ [$_ORDER_QTY_$]")); code != 200 {
		t.Fatalf("PUT: %d %v", code, put)
	}
	code, rep := api(t, "POST", base+"/messages/reparse", map[string]any{"ids": []string{id}})
	if code != 200 || rep["changed"] != 1.0 || get(rep, "results[0].status") != "quarantined" {
		t.Fatalf("reparse of a quarantined mail: %d %v", code, rep)
	}
	rx.quiet(t, 300*time.Millisecond)
	if code, r := api(t, "POST", base+"/messages/"+id+"/release", nil); code != 200 {
		t.Fatalf("release: %d %v", code, r)
	}
	got := expectEvents(t, rx, 2)
	if len(got["order.placed"]) != 1 || len(got["inventory.adjusted"]) != 1 {
		t.Fatalf("after release: %v", got)
	}
	rx.quiet(t, 300*time.Millisecond)
}
