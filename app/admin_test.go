package app

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/smtpd"
	"github.com/qoo10hook/qoo10hook/store"
)

const testAdminToken = "test-admin-token-0123456789abcdef"

func adminConfig(t *testing.T, storeURL, hookURL string) *config.Config {
	cfg := testConfig(t, storeURL, hookURL)
	cfg.HTTP.AdminToken = testAdminToken
	return cfg
}

// call makes an API request with the token (none when tok is "") and
// returns the status and body.
func call(t *testing.T, method, u, tok string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	return v
}

// TestAdminOffWithoutToken: without a token there is no admin surface.
func TestAdminOffWithoutToken(t *testing.T) {
	svc := start(t, testConfig(t, testenv.SQLite(t), ""))
	base := "http://" + svc.svc.HTTPAddr()
	for _, p := range []string{"/api/v1/messages", "/admin/", "/admin/river/"} {
		if code, _ := call(t, "GET", base+p, testAdminToken); code != http.StatusNotFound {
			t.Errorf("GET %s without an admin token configured: %d, want 404", p, code)
		}
	}
	if svc.svc.Admin() != nil {
		t.Error("Admin() is not nil")
	}
}

// TestAdminUnauthenticated: every admin route answers 401 and no data to
// a request without the token, with a wrong one, or with a forged cookie.
func TestAdminUnauthenticated(t *testing.T) {
	rx := newReceiver(t)
	svc := start(t, adminConfig(t, testenv.SQLite(t), rx.URL))
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml")); err != nil {
		t.Fatal(err)
	}
	rx.nextDelivered(t, 10*time.Second)
	base := "http://" + svc.svc.HTTPAddr()
	routes := []string{
		"GET /api/v1/messages", "GET /api/v1/messages?order_no=920000456", "GET /api/v1/messages/1",
		"GET /api/v1/messages/1/raw", "POST /api/v1/messages/1/release", "GET /api/v1/deliveries",
		"GET /api/v1/deliveries/1", "POST /api/v1/deliveries/1/retry", "POST /api/v1/deliveries/1/resend", "POST /api/v1/deliveries/retry-all-failed",
		"GET /api/v1/endpoints", "POST /api/v1/endpoints/default/disable", "POST /api/v1/endpoints/default/enable",
		"GET /api/v1/nothing-here", "GET /admin/", "GET /admin/messages/1", "GET /admin/messages/1/raw",
		"GET /admin/deliveries", "GET /admin/quarantine", "GET /admin/endpoints", "POST /admin/deliveries/1/retry", "POST /admin/deliveries/1/resend",
		"GET /admin/river/", "GET /admin/river/api/jobs", "GET /admin/river/api/queues", "PUT /admin/river/api/queues/ep_default/pause",
	}
	for _, rt := range routes {
		method, p, _ := strings.Cut(rt, " ")
		for name, set := range map[string]func(*http.Request){
			"no token":      func(*http.Request) {},
			"wrong token":   func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testAdminToken+"x") },
			"basic auth":    func(r *http.Request) { r.SetBasicAuth("admin", testAdminToken) },
			"forged cookie": func(r *http.Request) { r.Header.Set("Cookie", "qoo10hook_admin=v1.AAAAAAAAAAA.AAAA") },
		} {
			req, _ := http.NewRequestWithContext(t.Context(), method, base+p, nil)
			set(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s (%s): %d, want 401", rt, name, resp.StatusCode)
			}
			for _, leak := range []string{"920000456", "710000123", "shop_e2e", "evt_", "佐藤"} {
				if strings.Contains(string(body), leak) {
					t.Errorf("%s (%s): the 401 body holds %q", rt, name, leak)
				}
			}
		}
	}
	if _, _, err := svc.svc.Store().GetDelivery(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if st, _ := svc.svc.Store().EndpointStates(t.Context()); st["default"].Disabled {
		t.Error("an unauthenticated request disabled the endpoint")
	}
}

// TestAdminAPI walks the API on every store: search by order number,
// a mail's detail and raw MIME, deliveries with attempts, a dead letter
// retried, endpoint disable and enable, quarantine release.
func TestAdminAPI(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t, 500, 500, 500, 500)
			svc := start(t, adminConfig(t, st.URL, rx.URL))
			base := "http://" + svc.svc.HTTPAddr() + "/api/v1"
			apiGet := func(p string, want int) map[string]any {
				t.Helper()
				code, body := call(t, "GET", base+p, testAdminToken)
				if code != want {
					t.Fatalf("GET %s: %d, want %d: %s", p, code, want, body)
				}
				return decode(t, body)
			}
			apiPost := func(p string, want int) map[string]any {
				t.Helper()
				code, body := call(t, "POST", base+p, testAdminToken)
				if code != want {
					t.Fatalf("POST %s: %d, want %d: %s", p, code, want, body)
				}
				return decode(t, body)
			}

			raw := fixture(t, "stockgear-order-utf8.eml")
			if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, raw); err != nil {
				t.Fatal(err)
			}
			for range 4 {
				rx.next(t, 10*time.Second)
			}
			dead := waitDelivery(t, svc.svc.Store(), store.DeliveryDead)

			list := apiGet("/messages?order_no=920000456", 200)
			msgs, _ := list["messages"].([]any)
			if len(msgs) != 1 || get(msgs[0], "pack_no") != "710000123" || get(msgs[0], "deliveries.dead") != 1.0 {
				t.Fatalf("search by order number: %v", list)
			}
			id := int64(get(msgs[0], "id").(float64))
			for _, q := range []string{"?order_no=1", "?pack_no=1", "?seller_id=nobody", "?status=quarantined"} {
				if m := apiGet("/messages"+q, 200); len(m["messages"].([]any)) != 0 {
					t.Errorf("%s found %v", q, m)
				}
			}
			for _, q := range []string{"?pack_no=710000123", "?seller_id=shop_e2e&status=parsed", "?limit=1"} {
				if m := apiGet("/messages"+q, 200); len(m["messages"].([]any)) != 1 {
					t.Errorf("%s found %v", q, m)
				}
			}
			apiGet("/messages?limit=0", 400)
			apiGet("/messages?before=x", 400)
			// A full page points to the next, older one; the last page does not.
			if m := apiGet("/messages?limit=1", 200); m["next_before"] != float64(id) {
				t.Errorf("a full page: next_before %v, want %d", m["next_before"], id)
			}
			if m := apiGet("/messages?limit=1&before="+itoa(id), 200); len(m["messages"].([]any)) != 0 || m["next_before"] != nil {
				t.Errorf("the page before the oldest mail: %v", m)
			}
			if code, body := call(t, "GET", "http://"+svc.svc.HTTPAddr()+"/admin/messages?limit=1&status=parsed", testAdminToken); code != 200 ||
				!strings.Contains(string(body), "/admin/messages?before="+itoa(id)+"&amp;limit=1&amp;status=parsed") {
				t.Errorf("console page of one mail: %d, no link to the older page:\n%s", code, body)
			}

			detail := apiGet("/messages/"+itoa(id), 200)
			for path, want := range map[string]any{
				"mail_from":                           "qoo10info@qoo10.jp",
				"rcpt_to[0]":                          "orders@in.example.test",
				"parser":                              "template",
				"template":                            "stockgear-order-unit",
				"events[0].type":                      "order.placed",
				"events[0].event.data.buyer.name":     "佐藤 花子",
				"events[0].deliveries[0].status":      "dead",
				"events[0].deliveries[0].endpoint":    "default",
				"events[0].deliveries[0].attempts":    4.0,
				"events[0].deliveries[0].attempt_log": nil,
			} {
				if path == "events[0].deliveries[0].attempt_log" {
					if a, _ := get(detail, path).([]any); len(a) != 4 || get(a[0], "status_code") != 500.0 {
						t.Errorf("attempt log %v", get(detail, path))
					}
					continue
				}
				if got := get(detail, path); got != want {
					t.Errorf("message %s = %#v, want %#v", path, got, want)
				}
			}
			byQueue := apiGet("/messages/"+get(detail, "queue_id").(string), 200)
			if get(byQueue, "id") != float64(id) {
				t.Errorf("by queue id: %v", byQueue)
			}
			apiGet("/messages/999999", 404)

			code, body := call(t, "GET", base+"/messages/"+itoa(id)+"/raw", testAdminToken)
			if code != 200 || string(body) != string(raw) {
				t.Errorf("raw: %d, %d bytes, want the %d bytes sent", code, len(body), len(raw))
			}

			ds := apiGet("/deliveries?status=dead", 200)
			if l, _ := ds["deliveries"].([]any); len(l) != 1 || get(l[0], "id") != float64(dead.ID) {
				t.Fatalf("dead letters: %v", ds)
			}
			d := apiGet("/deliveries/"+itoa(dead.ID), 200)
			if get(d, "status") != "dead" || len(get(d, "attempt_log").([]any)) != 4 || get(d, "event.data.pack_no") != "710000123" {
				t.Errorf("delivery: %v", d)
			}
			apiGet("/deliveries/999999", 404)
			apiGet("/deliveries/x", 400)

			eps := apiGet("/endpoints", 200)
			if l, _ := eps["endpoints"].([]any); len(l) != 1 || get(l[0], "name") != "default" ||
				get(l[0], "queue.dead") != 1.0 || strings.Contains(string(mustJSON(t, eps)), "whsec_") {
				t.Errorf("endpoints: %v", eps)
			}
			if e := apiPost("/endpoints/default/disable", 200); get(e, "disabled") != true || get(e, "disabled_reason") != "disabled by an operator" {
				t.Errorf("disable: %v", e)
			}
			apiPost("/endpoints/nope/disable", 404)
			if e := apiPost("/endpoints/default/enable", 200); get(e, "disabled") != false {
				t.Errorf("enable: %v", e)
			}

			if r := apiPost("/deliveries/"+itoa(dead.ID)+"/retry", 200); get(r, "count") != 1.0 {
				t.Errorf("retry: %v", r)
			}
			verify(t, rx.nextDelivered(t, 10*time.Second))
			waitDelivery(t, svc.svc.Store(), store.DeliveryDelivered)
			apiPost("/deliveries/"+itoa(dead.ID)+"/retry", 409)
			if r := apiPost("/deliveries/retry-all-failed", 200); get(r, "count") != 0.0 {
				t.Errorf("retry-all-failed with nothing failed: %v", r)
			}
			apiPost("/deliveries/retry-all-failed?endpoint=nope", 404)

			// Quarantine: a mail stored held is released into delivery.
			env := &smtpd.Envelope{RemoteAddr: "192.0.2.1:25", MailFrom: "qoo10info@qoo10.jp",
				Rcpts: []string{"orders@in.example.test"}, ReceivedAt: time.Now(), Hold: true}
			out, err := svc.svc.pipeline.Ingest(t.Context(), env, fixture(t, "../parse/testdata/contract-smoke.eml"))
			if err != nil {
				t.Fatal(err)
			}
			q := apiGet("/messages?status=quarantined", 200)
			if l, _ := q["messages"].([]any); len(l) != 1 || get(l[0], "queue_id") != out.QueueID || get(l[0], "deliveries.held") != 1.0 {
				t.Fatalf("quarantined: %v", q)
			}
			rx.quiet(t, 300*time.Millisecond)
			if r := apiPost("/messages/"+out.QueueID+"/release", 200); get(r, "deliveries") != 1.0 {
				t.Errorf("release: %v", r)
			}
			apiPost("/messages/"+out.QueueID+"/release", 409)
			verify(t, rx.nextDelivered(t, 10*time.Second))
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestAdminExtraRoutes: routes another package adds through Handle sit
// behind the same authentication.
func TestAdminExtraRoutes(t *testing.T) {
	svc := start(t, adminConfig(t, testenv.SQLite(t), ""))
	svc.svc.Admin().Handle("GET /api/v1/extra", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"stock":[]}`))
	}))
	base := "http://" + svc.svc.HTTPAddr()
	if code, _ := call(t, "GET", base+"/api/v1/extra", ""); code != 401 {
		t.Errorf("without token: %d", code)
	}
	if code, body := call(t, "GET", base+"/api/v1/extra", testAdminToken); code != 200 || string(body) != `{"stock":[]}` {
		t.Errorf("with token: %d %s", code, body)
	}
	defer func() {
		if recover() == nil {
			t.Error("Handle outside /api/v1/ and /admin/ did not panic")
		}
	}()
	svc.svc.Admin().Handle("/stock", http.NotFoundHandler())
}
