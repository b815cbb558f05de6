package app

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/orderbook"
)

// TestOrdersThroughSMTP: a cart mail and the cancel mail of one of its
// lines make one order record, sent as order.updated once per change to
// the endpoint that lists the type, never to the catch-all endpoint;
// re-sent mails change nothing. The API lists, shows and exports it, and
// the console's pages show it.
func TestOrdersThroughSMTP(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			all := newReceiver(t)
			sub := newReceiver(t)
			cfg := testConfig(t, st.URL, all.URL)
			cfg.Endpoints = []config.Endpoint{{Name: "sub", URL: sub.URL, Secret: testSecret, Events: []string{"order.updated"}}}
			cfg.Routes = []config.Route{{Tenant: "cm", Recipients: []string{"in.example.test"}, Endpoints: []string{"sub"}}}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			cfg.HTTP.AdminToken = testAdminToken
			svc := start(t, cfg)
			rcpt := []string{"orders@in.example.test"}
			cart, cancel := fixture(t, "crossmall-group-3-lines.eml"), fixture(t, "claim-complete-crossmall-line-1.eml")

			if err := send(t, svc.svc.SMTPAddr(), rcpt, cart); err != nil {
				t.Fatal(err)
			}
			first := verify(t, sub.nextDelivered(t, 20*time.Second))
			if err := send(t, svc.svc.SMTPAddr(), rcpt, cancel); err != nil {
				t.Fatal(err)
			}
			second := verify(t, sub.nextDelivered(t, 20*time.Second))
			for i, ev := range []map[string]any{first, second} {
				if ev["type"] != "order.updated" || ev["tenant"] != "cm" || get(ev, "data.revision") != float64(i+1) ||
					get(ev, "data.pack_no") != "700100200" || get(ev, "data.seller_id") != "cm_shop" {
					t.Errorf("order.updated %d: %v", i+1, ev)
				}
			}
			if get(first, "data.state") != "placed" || get(second, "data.state") != "partially_cancelled" ||
				get(second, "data.items[0].state") != "cancelled" || get(second, "data.items[1].state") != "placed" ||
				get(second, "data.buyer.email") != "taro@example.com" || get(second, "data.cancel_reason") == nil {
				t.Errorf("records: first %v\nsecond %v", first["data"], second["data"])
			}
			var toAll []string
			for range 2 {
				toAll = append(toAll, verify(t, all.nextDelivered(t, 20*time.Second))["type"].(string))
			}
			if strings.Join(toAll, " ") != "order.placed order.cancelled" {
				t.Errorf("catch-all endpoint got %v, want the order events only", toAll)
			}
			for _, raw := range [][]byte{cart, cancel, bytes.Replace(cart, []byte("inv-cart-3@"), []byte("inv-cart-3-resent@"), 1)} {
				if err := send(t, svc.svc.SMTPAddr(), rcpt, raw); err != nil {
					t.Fatal(err)
				}
			}
			sub.quiet(t, 500*time.Millisecond)
			all.quiet(t, 10*time.Millisecond)

			base := "http://" + svc.svc.HTTPAddr()
			code, body := call(t, "GET", base+"/api/v1/orders?state=partially_cancelled&q=800000002", testAdminToken)
			var list struct {
				Orders []map[string]any `json:"orders"`
			}
			if err := json.Unmarshal(body, &list); err != nil || code != 200 || len(list.Orders) != 1 || list.Orders[0]["revision"] != 2.0 {
				t.Fatalf("list: %d %s", code, body)
			}
			code, body = call(t, "GET", base+"/api/v1/orders/cm_shop/700100200", testAdminToken)
			var detail struct {
				State    string           `json:"state"`
				Timeline []map[string]any `json:"timeline"`
			}
			if err := json.Unmarshal(body, &detail); err != nil || code != 200 || detail.State != "partially_cancelled" {
				t.Fatalf("order: %d %s", code, body)
			}
			kinds := map[string]int{}
			for _, e := range detail.Timeline {
				kinds[e["kind"].(string)]++
			}
			// Two mails (the re-sent cart's events were known already),
			// two order events and two order.updated, and their six
			// deliveries: each order event to the catch-all and to nothing
			// else, each order.updated to sub.
			if kinds["mail"] != 2 || kinds["event"] != 4 || kinds["delivery"] != 4 {
				t.Errorf("timeline %v: %s", kinds, body)
			}
			if code, _ := call(t, "GET", base+"/api/v1/orders/cm_shop/nope", testAdminToken); code != 404 {
				t.Errorf("unknown cart: %d, want 404", code)
			}
			if code, body := call(t, "GET", base+"/api/v1/orders?state=shipped", testAdminToken); code != 400 {
				t.Errorf("bad state: %d %s, want 400", code, body)
			}
			resp, err := http.NewRequestWithContext(t.Context(), "GET", base+"/api/v1/orders/export?format=csv&encoding=cp932", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Header.Set("Authorization", "Bearer "+testAdminToken)
			r, err := http.DefaultClient.Do(resp)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			if ct := r.Header.Get("Content-Type"); r.StatusCode != 200 || ct != "text/csv; charset=Shift_JIS" ||
				!strings.Contains(r.Header.Get("Content-Disposition"), "attachment") {
				t.Errorf("export: %d %q %q", r.StatusCode, ct, r.Header.Get("Content-Disposition"))
			}
			for _, page := range []string{"/admin/orders", "/admin/orders/cm_shop/700100200", "/admin/stock", "/admin/catalog"} {
				code, body := call(t, "GET", base+page, testAdminToken)
				if code != 200 || !bytes.Contains(body, []byte("<h1>")) {
					t.Errorf("%s: %d %s", page, code, body)
				}
				if page == "/admin/orders/cm_shop/700100200" && !bytes.Contains(body, []byte("partially_cancelled")) {
					t.Errorf("%s does not show the state: %s", page, body)
				}
			}
		})
	}
}

// TestOrdersExportCommand: `qoo10hook orders export` writes the orders of
// the store as CSV, whole, in the encoding asked for.
func TestOrdersExportCommand(t *testing.T) {
	t.Parallel()
	url := testenv.SQLite(t)
	svc := start(t, testConfig(t, url, ""))
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "crossmall-group-3-lines.eml")); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"QOO10HOOK_STORE": url}
	dst := filepath.Join(t.TempDir(), "orders.csv")
	code, _, errs := runCLI(t, env, "orders", "export", "--encoding", "cp932", "--state", "placed", "--from", "2026-11-20", "--out", dst)
	if code != 0 || !strings.Contains(errs, "3 order lines") {
		t.Fatalf("export: exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	utf, err := japanese.ShiftJIS.NewDecoder().Bytes(b)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(utf)).ReadAll()
	if err != nil || len(rows) != 4 || rows[1][1] != "700100200" || rows[1][2] != "800000001" || rows[1][6] != "ハンドタオル 第1弾" {
		t.Errorf("export: %v %q", err, rows)
	}
	code, out, _ := runCLI(t, env, "orders", "export", "--search", "nothing")
	if code != 0 || out != "\ufeff"+strings.Join(orderbook.ExportHeader, ",")+"\r\n" {
		t.Errorf("empty export: exit %d %q", code, out)
	}
	for _, args := range [][]string{{"orders"}, {"orders", "list"}, {"orders", "export", "--state", "shipped"},
		{"orders", "export", "--from", "yesterday"}, {"orders", "export", "extra"}} {
		if code, _, errs := runCLI(t, env, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage): %s", args, code, errs)
		}
	}
	if code, _, errs := runCLI(t, env, "orders", "export", "--encoding", "latin1"); code != 1 || !strings.Contains(errs, "latin1") {
		t.Errorf("unknown encoding: exit %d: %s", code, errs)
	}
}

// TestCatalogForm: the console's catalog form imports the QSM CSVs and
// shows the import report; a file with a bad row is refused whole, its
// rows listed, unless the form asks for a partial import; a form without
// a file or with a file that is no catalog says why, and imports nothing.
func TestCatalogForm(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, testenv.SQLite(t), "")
	cfg.HTTP.AdminToken = testAdminToken
	svc := start(t, cfg)
	partial := false
	post := func(seller string, files map[string][]byte) (int, string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("seller_id", seller)
		if partial {
			mw.WriteField("partial", "1")
		}
		for name, b := range files {
			w, _ := mw.CreateFormFile("files", name)
			w.Write(b)
		}
		mw.Close()
		req, _ := http.NewRequestWithContext(t.Context(), "POST", "http://"+svc.svc.HTTPAddr()+"/admin/catalog", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, page := post("cm_shop", map[string][]byte{"GoodsList.csv": fixture(t, "GoodsList-cm_shop-cp932.csv")})
	if code != 400 || !strings.Contains(page, "nothing was changed") || !strings.Contains(page, "GoodsList.csv:5:5") {
		t.Errorf("import of a file with a bad row: %d %s", code, page)
	}
	if code, files := call(t, http.MethodGet, "http://"+svc.svc.HTTPAddr()+"/api/v1/catalog", testAdminToken); code != 200 ||
		strings.Contains(string(files), "GoodsList") {
		t.Errorf("files after the refused import: %d %s", code, files)
	}
	partial = true
	code, page = post("cm_shop", map[string][]byte{"GoodsList.csv": fixture(t, "GoodsList-cm_shop-cp932.csv")})
	if code != 200 || !strings.Contains(page, "Import report: cm_shop") || !strings.Contains(page, "GoodsList.csv:5:5") {
		t.Errorf("partial import: %d %s", code, page)
	}
	if code, page := post("cm_shop", nil); code != 400 || !strings.Contains(page, "choose GoodsList.csv") {
		t.Errorf("no file: %d %s", code, page)
	}
	if code, page := post("cm_shop", map[string][]byte{"mail.eml": fixture(t, "stockgear-order-utf8.eml")}); code != 400 ||
		!strings.Contains(page, "not a QSM catalog") {
		t.Errorf("a mail: %d %s", code, page)
	}
	if code, page := post("", map[string][]byte{"GoodsList.csv": fixture(t, "GoodsList-cm_shop-cp932.csv")}); code != 400 ||
		!strings.Contains(page, "seller") {
		t.Errorf("no seller: %d %s", code, page)
	}
}
