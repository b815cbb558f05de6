package app

import (
	"testing"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestReparseCorrectsOrderRecord: the cart's order record follows a
// re-parse. A mail read partial (its quantity on a line the template does
// not know) leaves the line without a quantity; once the template is
// corrected and the mail re-parsed, the record holds the corrected line,
// once, and not the event it replaced beside it.
func TestReparseCorrectsOrderRecord(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t)
			svc := start(t, reparseConfig(t, st.URL, rx.URL))
			base := "http://" + svc.svc.HTTPAddr() + "/api/v1"
			if code, put := api(t, "PUT", base+"/templates/acme", acmeTemplate(setCountLine, "##DELETE_BLANK_ROW##数量≫ [$_ORDER_QTY_$]")); code != 200 {
				t.Fatalf("PUT template: %d %v", code, put)
			}
			if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, acmeMail("o1", "910000009", "注文数≫ 2")); err != nil {
				t.Fatal(err)
			}
			first := expectEvents(t, rx, 1)["order.placed"]
			if len(first) != 1 {
				t.Fatalf("at ingest: %v, want one order.placed", first)
			}
			orderURL := base + "/orders/acme/77910000009"
			code, rec := api(t, "GET", orderURL, nil)
			if code != 200 || len(rec["items"].([]any)) != 1 || get(rec, "items[0].qty") != nil {
				t.Fatalf("record of the partial mail: %d %v, want one line without a quantity", code, rec)
			}

			if code, put := api(t, "PUT", base+"/templates/acme", acmeTemplate(setCountLine, "##DELETE_BLANK_ROW##数量≫ [$_ORDER_QTY_$]",
				"##DELETE_BLANK_ROW##注文数≫ [$_ORDER_QTY_$]")); code != 200 {
				t.Fatalf("PUT corrected template: %d %v", code, put)
			}
			if code, rep := api(t, "POST", base+"/messages/reparse", map[string]any{"status": []string{"partial"}}); code != 200 || rep["changed"] != 1.0 {
				t.Fatalf("reparse: %d %v", code, rep)
			}
			if fixed := expectEvents(t, rx, 2)["order.placed"]; len(fixed) != 1 || fixed[0]["supersedes"] != first[0]["id"] {
				t.Fatalf("corrected event: %v", fixed)
			}
			code, rec = api(t, "GET", orderURL, nil)
			if code != 200 || len(rec["items"].([]any)) != 1 || get(rec, "items[0].qty") != 2.0 || get(rec, "items[0].order_no") != "910000009" {
				t.Fatalf("record after the re-parse: %d %v, want the one line with quantity 2", code, rec)
			}
		})
	}
}
