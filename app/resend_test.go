package app

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

// TestResend: a delivered event is delivered again, under the same
// webhook-id and signed anew, by the API, the CLI and the console's
// button, each time recorded as one more attempt; a delivery that is not
// delivered (here: failed) is refused with 409.
func TestResend(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t)
			svc := start(t, adminConfig(t, st.URL, rx.URL))
			if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml")); err != nil {
				t.Fatal(err)
			}
			first := rx.nextDelivered(t, 10*time.Second)
			verify(t, first)
			d := waitDelivery(t, svc.svc.Store(), store.DeliveryDelivered)
			base := "http://" + svc.svc.HTTPAddr()
			again := func(how string, attempts int) {
				t.Helper()
				r := rx.nextDelivered(t, 10*time.Second)
				verify(t, r)
				if id := r.Header.Get("webhook-id"); id != first.Header.Get("webhook-id") || string(r.Body) != string(first.Body) {
					t.Errorf("%s: sent %s %s, want the first delivery's id %s and body", how, id, r.Body, first.Header.Get("webhook-id"))
				}
				waitAttempts(t, svc.svc.Store(), d.ID, store.DeliveryDelivered, attempts)
			}

			code, body := call(t, "POST", base+"/api/v1/deliveries/"+itoa(d.ID)+"/resend", testAdminToken)
			if code != 200 || get(decode(t, body), "count") != 1.0 {
				t.Fatalf("API resend: %d %s", code, body)
			}
			again("API", 2)

			code, out, errs := runCLI(t, map[string]string{"QOO10HOOK_STORE": st.URL}, "deliveries", "resend", itoa(d.ID))
			if code != 0 || !strings.Contains(out, "queued to be sent again") {
				t.Fatalf("CLI resend: exit %d, %q, %q", code, out, errs)
			}
			again("CLI", 3)

			browser := consoleLogin(t, base)
			page := browser.get(t, "/admin/deliveries?status=delivered")
			action := "/admin/deliveries/" + itoa(d.ID) + "/resend"
			if !strings.Contains(page, `action="`+action+`"`) {
				t.Fatalf("no Resend button for the delivered delivery:\n%s", page)
			}
			resp, page := browser.post(t, action, url.Values{"back": {"/admin/deliveries?status=delivered"}})
			if resp.StatusCode != 200 || !strings.Contains(page, "sent again, under the same webhook-id") {
				t.Errorf("console resend: %d %s", resp.StatusCode, resp.Request.URL)
			}
			again("console", 4)
			// Four deliveries that ended delivered, one end-to-end time: a
			// resend says nothing of the pipeline's latency.
			// The worker counts an attempt just after recording it: wait
			// for the count.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				mfs := scrape(t, svc.svc.HTTPAddr())
				delivered, _ := value(mfs, "qoo10hook_webhook_deliveries_total", "endpoint", "default", "outcome", "delivered")
				observed, _ := value(mfs, "qoo10hook_webhook_end_to_end_seconds", "endpoint", "default")
				if delivered == 4 && observed == 1 {
					break
				}
				if delivered > 4 || observed > 1 || time.Now().After(deadline) {
					t.Fatalf("deliveries_total{outcome=delivered} = %v, end_to_end_seconds observed %v times; want 4 and 1", delivered, observed)
				}
			}

			// Not delivered: a delivery that failed is retried, not resent.
			rx.mu.Lock()
			rx.statuses = []int{400}
			rx.mu.Unlock()
			o := order{MessageID: "resend-failed@qoo10.jp", Seller: "shop", Pack: "70", OrderNo: "700"}
			if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, renderMail("placed", o)); err != nil {
				t.Fatal(err)
			}
			waitStatusCount(t, svc.svc.Store(), store.DeliveryFailed, 1)
			failed, err := svc.svc.Store().ListDeliveries(t.Context(), store.DeliveryFilter{Status: store.DeliveryFailed})
			if err != nil {
				t.Fatal(err)
			}
			if code, body := call(t, "POST", base+"/api/v1/deliveries/"+itoa(failed[0].ID)+"/resend", testAdminToken); code != 409 ||
				!strings.Contains(string(body), "retry") {
				t.Errorf("resend of a failed delivery: %d %s, want 409", code, body)
			}
			if code, _, errs := runCLI(t, map[string]string{"QOO10HOOK_STORE": st.URL}, "deliveries", "resend", itoa(failed[0].ID)); code != 1 ||
				!strings.Contains(errs, "not delivered") {
				t.Errorf("CLI resend of a failed delivery: exit %d, %q", code, errs)
			}
			if code, _ := call(t, "POST", base+"/api/v1/deliveries/999999/resend", testAdminToken); code != 404 {
				t.Errorf("resend of no delivery: %d, want 404", code)
			}
			if code, _ := call(t, "POST", base+"/api/v1/deliveries/x/resend", testAdminToken); code != 400 {
				t.Errorf("resend of a bad id: %d, want 400", code)
			}
			waitAttempts(t, svc.svc.Store(), d.ID, store.DeliveryDelivered, 4)
			_, attempts, err := svc.svc.Store().GetDelivery(t.Context(), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range attempts {
				if a.Number != i+1 || a.StatusCode != 200 {
					t.Errorf("attempt %d recorded as %+v", i+1, a)
				}
			}
		})
	}
}

// waitAttempts waits for delivery id to have status after n attempts.
func waitAttempts(t *testing.T, st *store.Store, id int64, status string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, attempts, err := st.GetDelivery(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == status && d.Attempts == n && len(attempts) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %d: %s after %d attempts (%d recorded), want %s after %d", id, d.Status, d.Attempts, len(attempts), status, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// browser is a logged-in console session.
type browser struct {
	base   string
	client *http.Client
	csrf   string
}

func consoleLogin(t *testing.T, base string) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{base: base, client: &http.Client{Jar: jar}}
	resp, err := b.client.PostForm(base+"/admin/login", url.Values{"token": {testAdminToken}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindStringSubmatch(string(page))
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("login: %d, no CSRF token", resp.StatusCode)
	}
	b.csrf = m[1]
	return b
}

func (b *browser) get(t *testing.T, p string) string {
	t.Helper()
	resp, err := b.client.Get(b.base + p)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d\n%s", p, resp.StatusCode, page)
	}
	return string(page)
}

// post submits a console form from the console's own origin.
func (b *browser) post(t *testing.T, p string, form url.Values) (*http.Response, string) {
	t.Helper()
	form.Set("csrf", b.csrf)
	req, _ := http.NewRequestWithContext(t.Context(), "POST", b.base+p, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp, string(page)
}
