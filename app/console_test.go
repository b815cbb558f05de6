package app

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/smtpd"
	"github.com/qoo10hook/qoo10hook/store"
)

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestConsoleLoginAndForms: a browser logs in with the token, gets an
// HttpOnly SameSite=Strict cookie, sees the pages, and its forms work
// only with their CSRF token and from the same origin.
func TestConsoleLoginAndForms(t *testing.T) {
	rx := newReceiver(t, 400)
	svc := start(t, adminConfig(t, testenv.SQLite(t), rx.URL))
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml")); err != nil {
		t.Fatal(err)
	}
	failed := waitDelivery(t, svc.svc.Store(), store.DeliveryFailed)
	base := "http://" + svc.svc.HTTPAddr()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	do := func(method, p string, form url.Values, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequestWithContext(t.Context(), method, base+p, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	resp, page := do("GET", "/admin/", nil, nil)
	if resp.StatusCode != 401 || !strings.Contains(page, `name="token"`) || strings.Contains(page, "shop_e2e") {
		t.Fatalf("before login: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := do("POST", "/admin/login", url.Values{"token": {"wrong"}}, nil); resp.StatusCode != 401 {
		t.Errorf("wrong token: %d", resp.StatusCode)
	}
	if resp, _ := do("POST", "/admin/login", url.Values{"token": {testAdminToken}},
		map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); resp.StatusCode != 403 {
		t.Errorf("cross-site login: %d", resp.StatusCode)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/admin/login",
		strings.NewReader(url.Values{"token": {testAdminToken}, "next": {"/admin/endpoints"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	lr, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	lr.Body.Close()
	cookie := lr.Header.Get("Set-Cookie")
	if lr.StatusCode != 303 || lr.Header.Get("Location") != "/admin/endpoints" || !strings.Contains(cookie, "HttpOnly") ||
		!strings.Contains(cookie, "SameSite=Strict") || strings.Contains(cookie, testAdminToken) {
		t.Fatalf("login: %d %s %q", lr.StatusCode, lr.Header.Get("Location"), cookie)
	}
	u, _ := url.Parse(base)
	jar.SetCookies(u, lr.Cookies())

	resp, page = do("GET", "/admin/messages?order_no=920000456", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "710000123") || !strings.Contains(page, "failed 1") {
		t.Fatalf("mails page: %d\n%s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	resp, page = do("GET", "/admin/messages/1", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "佐藤 花子") || !strings.Contains(page, "400 endpoint answered 400") {
		t.Errorf("mail page: %d\n%s", resp.StatusCode, page)
	}
	for _, p := range []string{"/admin/deliveries?status=failed", "/admin/quarantine", "/admin/endpoints", "/admin/river/", "/admin/messages/1/raw"} {
		if resp, _ := do("GET", p, nil, nil); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token in the mail page")
	}
	retry := "/admin/deliveries/" + itoa(failed.ID) + "/retry"
	if resp, _ := do("POST", retry, url.Values{}, nil); resp.StatusCode != 403 {
		t.Errorf("form without CSRF token: %d", resp.StatusCode)
	}
	if resp, _ := do("POST", retry, url.Values{"csrf": {m[1]}}, map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != 403 {
		t.Errorf("cross-origin form: %d", resp.StatusCode)
	}
	if resp, _ := do("PUT", "/admin/river/api/queues/ep_default/pause", nil, map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != 403 {
		t.Errorf("cross-site River UI change: %d", resp.StatusCode)
	}
	// The retry comes within milliseconds of the failed attempt, while
	// River may still be finishing its job: the delivery must run again.
	resp, page = do("POST", retry, url.Values{"csrf": {m[1]}, "back": {"/admin/messages/1"}},
		map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/admin/messages/1" || !strings.Contains(page, "Delivery queued for retry.") {
		t.Errorf("retry form: %d %s", resp.StatusCode, resp.Request.URL)
	}
	verify(t, rx.nextDelivered(t, 10*time.Second))

	resp, page = do("POST", "/admin/logout", url.Values{"csrf": {m[1]}}, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `name="token"`) {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, _ := do("GET", "/admin/", nil, nil); resp.StatusCode != 401 {
		t.Errorf("after logout: %d", resp.StatusCode)
	}
}

// TestConsoleQuarantineAndEndpoints: the console's Release button
// delivers a quarantined mail, and Disable / Enable act on an endpoint.
func TestConsoleQuarantineAndEndpoints(t *testing.T) {
	rx := newReceiver(t)
	svc := start(t, adminConfig(t, testenv.SQLite(t), rx.URL))
	env := &smtpd.Envelope{RemoteAddr: "192.0.2.1:25", MailFrom: "qoo10info@qoo10.jp",
		Rcpts: []string{"orders@in.example.test"}, ReceivedAt: time.Now(), Hold: true}
	out, err := svc.svc.pipeline.Ingest(t.Context(), env, fixture(t, "stockgear-order-utf8.eml"))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + svc.svc.HTTPAddr()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	form := func(p string, v url.Values) (*http.Response, string) {
		t.Helper()
		resp, err := browser.PostForm(base+p, v)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	page := func(p string) string {
		t.Helper()
		resp, err := browser.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
		return string(b)
	}
	if resp, _ := form("/admin/login", url.Values{"token": {testAdminToken}}); resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}

	q := page("/admin/quarantine")
	if !strings.Contains(q, out.QueueID) || !strings.Contains(q, "held 1") || !strings.Contains(q, ">Release<") {
		t.Fatalf("quarantine page:\n%s", q)
	}
	csrf := csrfRE.FindStringSubmatch(q)[1]
	resp, body := form("/admin/messages/"+out.QueueID+"/release", url.Values{"csrf": {csrf}, "back": {"/admin/quarantine"}})
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/admin/quarantine" || !strings.Contains(body, "Mail released") || strings.Contains(body, out.QueueID) {
		t.Errorf("release: %d %s", resp.StatusCode, resp.Request.URL)
	}
	verify(t, rx.nextDelivered(t, 10*time.Second))

	if e := page("/admin/endpoints"); !strings.Contains(e, "default") || !strings.Contains(e, ">ok<") || !strings.Contains(e, ">Disable<") {
		t.Fatalf("endpoints page:\n%s", e)
	}
	resp, body = form("/admin/endpoints/default/disable", url.Values{"csrf": {csrf}, "reason": {"receiver maintenance"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "receiver maintenance") || !strings.Contains(body, ">disabled<") || !strings.Contains(body, ">Enable<") {
		t.Errorf("disable: %d\n%s", resp.StatusCode, body)
	}
	if st, _ := svc.svc.Store().EndpointStates(t.Context()); !st["default"].Disabled {
		t.Error("the endpoint is not disabled in the store")
	}
	resp, body = form("/admin/endpoints/default/enable", url.Values{"csrf": {csrf}})
	if resp.StatusCode != 200 || !strings.Contains(body, "Endpoint enabled.") {
		t.Errorf("enable: %d", resp.StatusCode)
	}
	if resp, _ := form("/admin/endpoints/nope/disable", url.Values{"csrf": {csrf}}); resp.StatusCode != 404 {
		t.Errorf("unknown endpoint: %d", resp.StatusCode)
	}
}

// TestRiverUI: River's UI and every API endpoint it calls work behind
// the admin token, on SQLite as on PostgreSQL.
func TestRiverUI(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			// The first answer fails, so that the delivery's retry is a River
			// job on SQLite too, where a first attempt that succeeds has none.
			rx := newReceiver(t, 500)
			svc := start(t, adminConfig(t, st.URL, rx.URL))
			if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml")); err != nil {
				t.Fatal(err)
			}
			d := waitDelivery(t, svc.svc.Store(), store.DeliveryDelivered)
			base := "http://" + svc.svc.HTTPAddr() + "/admin/river"
			job := itoa(d.JobID)
			// River's completer marks jobs in batches: wait for it.
			completed := func() {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for {
					_, b := call(t, "GET", base+"/api/jobs/"+job, testAdminToken)
					if strings.Contains(string(b), `"state":"completed"`) {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("job %s not completed: %s", job, b)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			completed()
			for _, c := range []struct{ method, path, body, want string }{
				{"GET", "/", "", "<html"},
				{"GET", "/api/features", "", "extensions"},
				{"GET", "/api/version", "", "version"},
				{"GET", "/api/health-checks/complete", "", `"ok"`},
				{"GET", "/api/states", "", `"completed"`},
				{"GET", "/api/queues", "", "ep_default"},
				{"GET", "/api/queues/ep_default", "", "ep_default"},
				{"GET", "/api/jobs?state=completed", "", `delivery_id`},
				{"GET", "/api/jobs/" + job, "", `"kind":"delivery"`},
				{"GET", "/api/autocomplete?facet=job_kind", "", "delivery"},
				{"GET", "/api/autocomplete?facet=queue_name", "", "ep_default"},
				{"PUT", "/api/queues/ep_default/pause", "", "ok"},
				{"PUT", "/api/queues/ep_default/resume", "", "ok"},
				{"PATCH", "/api/queues/ep_default", `{"concurrency":null}`, "ep_default"},
				{"POST", "/api/jobs/retry", `{"ids":["` + job + `"]}`, "ok"},
				{"WAIT", "", "", ""},
				{"POST", "/api/jobs/cancel", `{"ids":["` + job + `"]}`, "ok"},
				{"POST", "/api/jobs/delete", `{"ids":["` + job + `"]}`, "ok"},
			} {
				if c.method == "WAIT" {
					completed() // the retried job ran (and found its delivery delivered)
					continue
				}
				req, _ := http.NewRequestWithContext(t.Context(), c.method, base+c.path, strings.NewReader(c.body))
				req.Header.Set("Authorization", "Bearer "+testAdminToken)
				if c.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), c.want) {
					t.Errorf("%s %s: %d %.300s", c.method, c.path, resp.StatusCode, b)
				}
			}
		})
	}
}
