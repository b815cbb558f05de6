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
)

// TestConsoleTemplateEditor: the mail page decodes the mail beside the
// raw one; its editor says where a template does not compile (and stores
// nothing), saves a good one, and re-parses the mail; the list of mails
// that need attention re-parses them all, once.
func TestConsoleTemplateEditor(t *testing.T) {
	rx := newReceiver(t)
	svc := start(t, reparseConfig(t, testenv.SQLite(t), rx.URL))
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "seller-custom-order.eml")); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, rx, 1)
	base := "http://" + svc.svc.HTTPAddr()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	do := func(method, p string, form url.Values) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequestWithContext(t.Context(), method, base+p, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	if resp, _ := do("POST", "/admin/login", url.Values{"token": {testAdminToken}}); resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	resp, page := do("GET", "/admin/messages/1", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `data-testid="decoded-text">Qoo10 ACMEショップ`) ||
		!strings.Contains(page, "Content-Transfer-Encoding: 8bit") {
		t.Fatalf("mail page: %d\n%s", resp.StatusCode, page)
	}
	csrf := csrfRE.FindStringSubmatch(page)[1]
	tmpl := string(fixture(t, "seller-custom-order.template.txt"))
	form := url.Values{"csrf": {csrf}, "name": {"acme"}, "type": {"order.placed"}, "action": {"save"},
		"body": {strings.Replace(tmpl, "[$_ORDER_QTY_$]", "[$_ORDER_QTY_", 1)}}
	resp, page = do("POST", "/admin/messages/1/template", form)
	if resp.StatusCode != 400 || !strings.Contains(page, "(line 8, column 5)") || !strings.Contains(page, "[$_ORDER_QTY_") {
		t.Fatalf("broken template: %d\n%s", resp.StatusCode, page)
	}
	if code, list := api(t, "GET", base+"/api/v1/templates", nil); code != 200 || hasTemplate(list, "acme", "stored") {
		t.Fatalf("a broken template was stored: %v", list)
	}
	form.Set("body", tmpl)
	form.Set("action", "try")
	if resp, page = do("POST", "/admin/messages/1/template", form); resp.StatusCode != 200 || !strings.Contains(page, "The template reads this mail.") {
		t.Fatalf("try: %d\n%s", resp.StatusCode, page)
	}
	form.Set("action", "save")
	if resp, page = do("POST", "/admin/messages/1/template", form); resp.StatusCode != 200 || !strings.Contains(page, "Template acme saved") {
		t.Fatalf("save: %d\n%s", resp.StatusCode, page)
	}
	resp, page = do("POST", "/admin/messages/1/reparse", url.Values{"csrf": {csrf}})
	if resp.StatusCode != 200 || !strings.Contains(page, "Re-parsed: what changed is stored") {
		t.Fatalf("reparse: %d\n%s", resp.StatusCode, page)
	}
	if got := expectEvents(t, rx, 2); len(got["order.placed"]) != 1 {
		t.Fatalf("after reparse: %v", got)
	}
	resp, page = do("GET", "/admin/messages?status=partial", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "Re-parse every partial mail") {
		t.Fatalf("list: %d\n%s", resp.StatusCode, page)
	}
	resp, page = do("POST", "/admin/messages/reparse", url.Values{"csrf": {csrf}, "status": {"partial"}, "back": {"/admin/messages?status=partial"}})
	if resp.StatusCode != 200 || !strings.Contains(page, "Re-parsed: nothing changed") {
		t.Fatalf("reparse all: %d\n%s", resp.StatusCode, page)
	}
	rx.quiet(t, 200*time.Millisecond)
}
