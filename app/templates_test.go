package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"go.yaml.in/yaml/v3"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// withTemplates makes the service look at the stored templates every
// poll and report each parser rebuild on changed.
func withTemplates(poll time.Duration, changed chan struct{}) Option {
	return func(o *options) {
		o.templatesPoll = poll
		o.templatesChanged = func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
}

// withParseReloaded reports each SIGHUP reload of the templates on ch.
func withParseReloaded(ch chan error) Option {
	return func(o *options) { o.parseReloaded = func(err error) { ch <- err } }
}

// drain forgets a rebuild already reported.
func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

func waitSignal(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(15 * time.Second):
		t.Fatalf("no %s within 15s", what)
	}
}

// TestTemplatesSharedByInstances: two instances on one PostgreSQL both
// read mail with a template PUT through either of them, within seconds.
func TestTemplatesSharedByInstances(t *testing.T) {
	url := testenv.Postgres(t)
	rx := newReceiver(t)
	changed := [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)}
	var svcs [2]*running
	for i := range svcs {
		svcs[i] = start(t, reparseConfig(t, url, rx.URL), withTemplates(100*time.Millisecond, changed[i]))
	}
	rcpt := []string{"orders@in.example.test"}
	for i, via := range []int{0, 1} {
		other := 1 - via
		name := []string{"acme", "acme-b"}[i]
		tmpl := acmeTemplate(setCountLine, "数量≫ [$_ORDER_QTY_$]")
		if i == 1 {
			// The second template reads 注文数: only it can read the mail.
			tmpl = acmeTemplate(setCountLine, "注文数≫ [$_ORDER_QTY_$]")
		}
		drain(changed[other])
		if code, put := api(t, "PUT", "http://"+svcs[via].svc.HTTPAddr()+"/api/v1/templates/"+name, tmpl); code != 200 {
			t.Fatalf("PUT via instance %d: %d %v", via, code, put)
		}
		waitSignal(t, changed[other], "parser rebuild on the other instance")
		qty := []string{"数量≫ 4", "注文数≫ 5"}[i]
		if err := send(t, svcs[other].svc.SMTPAddr(), rcpt, acmeMail("shared"+name, "93000000"+string(rune('1'+i)), qty)); err != nil {
			t.Fatal(err)
		}
		got := expectEvents(t, rx, 2)
		if p := got["order.placed"]; len(p) != 1 || get(p[0], "mail.template") != name || get(p[0], "data.items[0].qty") != float64(4+i) {
			t.Fatalf("mail to instance %d after a PUT through %d: %v", other, via, got)
		}
	}
	// Either instance lists the stored templates.
	code, list := api(t, "GET", "http://"+svcs[0].svc.HTTPAddr()+"/api/v1/templates", nil)
	if code != 200 || !hasTemplate(list, "acme", "stored") || !hasTemplate(list, "acme-b", "stored") {
		t.Fatalf("GET /templates: %d %v", code, list)
	}
	// DELETE through one: the other stops reading with it.
	drain(changed[0])
	if code, del := api(t, "DELETE", "http://"+svcs[1].svc.HTTPAddr()+"/api/v1/templates/acme-b", nil); code != 200 {
		t.Fatalf("DELETE: %d %v", code, del)
	}
	waitSignal(t, changed[0], "parser rebuild after DELETE")
	if code, _ := api(t, "DELETE", "http://"+svcs[0].svc.HTTPAddr()+"/api/v1/templates/acme-b", nil); code != 404 {
		t.Fatalf("second DELETE: %d, want 404", code)
	}
	if code, e := api(t, "DELETE", "http://"+svcs[0].svc.HTTPAddr()+"/api/v1/templates/stockgear-order-unit", nil); code != 404 ||
		!strings.Contains(e["error"].(string), "built in") {
		t.Fatalf("DELETE of a built-in template: %d %v", code, e)
	}
	if err := send(t, svcs[0].svc.SMTPAddr(), rcpt, acmeMail("shared-after-delete", "930000009", "注文数≫ 5")); err != nil {
		t.Fatal(err)
	}
	if got := expectEvents(t, rx, 1); len(got["mail.unrecognized"]) != 1 {
		t.Fatalf("after DELETE: %v, want mail.unrecognized", got)
	}
}

// writeParseConfig writes a config file whose parse section has the
// given templates.
func writeParseConfig(t *testing.T, path string, templates ...map[string]any) {
	t.Helper()
	doc := map[string]any{"parse": map[string]any{"templates": templates}}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSIGHUPReloadsTemplates: a template edited in the config file is
// used after SIGHUP, by the mail of a session that was in the middle of
// its DATA when the signal came; the session is not dropped. A file
// template of a stored template's name wins, and the API says so.
func TestSIGHUPReloadsTemplates(t *testing.T) {
	rx := newReceiver(t)
	path := filepath.Join(t.TempDir(), "qoo10hook.yaml")
	writeParseConfig(t, path)
	cfg := reparseConfig(t, testenv.SQLite(t), rx.URL)
	cfg.File = path
	reloaded := make(chan error, 1)
	svc := start(t, cfg, withParseReloaded(reloaded))
	base := "http://" + svc.svc.HTTPAddr() + "/api/v1"

	c, err := smtp.Dial(svc.svc.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("sender.example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("qoo10info@qoo10.jp", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("orders@in.example.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	raw := acmeMail("hup1", "940000001", "数量≫ 6")
	half := bytes.Index(raw, []byte("受注No"))
	if _, err := w.Write(raw[:half]); err != nil {
		t.Fatal(err)
	}

	tmpl := acmeTemplate(setCountLine, "数量≫ [$_ORDER_QTY_$]")
	tmpl["name"] = "acme"
	writeParseConfig(t, path, tmpl)
	if err := hup(t, reloaded); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if _, err := w.Write(raw[half:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("the session in DATA across SIGHUP: %v", err)
	}
	got := expectEvents(t, rx, 2)
	if p := got["order.placed"]; len(p) != 1 || get(p[0], "mail.template") != "acme" || get(p[0], "data.items[0].qty") != 6.0 {
		t.Fatalf("mail finished after SIGHUP: %v", got)
	}

	// A stored template of the file template's name: stored, but the
	// file's is used, and the answer says so.
	code, put := api(t, "PUT", base+"/templates/acme", acmeTemplate(setCountLine, "注文数≫ [$_ORDER_QTY_$]"))
	if code != 200 || get(put, "template.overridden_by") != "file" || !strings.Contains(put["warning"].(string), "config file") {
		t.Fatalf("PUT over a file template: %d %v", code, put)
	}
	code, list := api(t, "GET", base+"/templates", nil)
	if code != 200 || !hasTemplate(list, "acme", "file") || !hasTemplate(list, "acme", "stored") {
		t.Fatalf("GET /templates: %d %v", code, list)
	}

	// A broken file leaves the parser in use.
	if err := os.WriteFile(path, []byte("parse: {templates: [{name: x, body: ''}]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := hup(t, reloaded); err == nil || !strings.Contains(err.Error(), "parse.templates[0].body") {
		t.Fatalf("reload of a broken file: %v, want the field at fault", err)
	}
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, acmeMail("hup2", "940000002", "数量≫ 7")); err != nil {
		t.Fatal(err)
	}
	if p := expectEvents(t, rx, 2)["order.placed"]; len(p) != 1 || get(p[0], "mail.template") != "acme" {
		t.Fatalf("after a failed reload: %v", p)
	}
}

// TestTryTemplate: trying a template on the mails that need attention
// tells which it reads and what they would give, changing nothing.
func TestTryTemplate(t *testing.T) {
	rx := newReceiver(t)
	svc := start(t, reparseConfig(t, testenv.SQLite(t), rx.URL))
	base := "http://" + svc.svc.HTTPAddr() + "/api/v1"
	rcpt := []string{"orders@in.example.test"}
	for i, qty := range []string{"数量≫ 1", "注文数≫ 2"} {
		if err := send(t, svc.svc.SMTPAddr(), rcpt, acmeMail("try"+qty, "95000000"+string(rune('1'+i)), qty)); err != nil {
			t.Fatal(err)
		}
		expectEvents(t, rx, 1)
	}
	body := acmeTemplate(setCountLine, "数量≫ [$_ORDER_QTY_$]")
	body["name"] = "acme"
	code, rep := api(t, "POST", base+"/templates/try", body)
	if code != 200 || rep["mails"] != 2.0 || rep["matched"] != 1.0 || rep["changed"] != 1.0 {
		t.Fatalf("try: %d %v", code, rep)
	}
	body["body"] = strings.Replace(body["body"].(string), "[$_ORDER_QTY_$]", "[$_ORDER_QTY_", 1)
	if code, e := api(t, "POST", base+"/templates/try", body); code != 400 || e["line"] != 8.0 {
		t.Fatalf("try of a broken template: %d %v", code, e)
	}
	code, page := api(t, "GET", base+"/messages?status=unrecognized", nil)
	if code != 200 || len(page["messages"].([]any)) != 2 {
		t.Fatalf("after try: %d %v, want both mails still unrecognized", code, page)
	}
	if code, e := api(t, "POST", base+"/messages/reparse", map[string]any{}); code != 400 {
		t.Fatalf("reparse without a selection: %d %v, want 400", code, e)
	}
	rx.quiet(t, 200*time.Millisecond)
}

// TestReparseOnTwoInstancesAtOnce: the same re-parse run at the same time
// through two instances on one PostgreSQL delivers each change once.
func TestReparseOnTwoInstancesAtOnce(t *testing.T) {
	url := testenv.Postgres(t)
	rx := newReceiver(t)
	changed := make(chan struct{}, 1)
	a := start(t, reparseConfig(t, url, rx.URL))
	b := start(t, reparseConfig(t, url, rx.URL), withTemplates(50*time.Millisecond, changed))
	if err := send(t, a.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "seller-custom-order.eml")); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, rx, 1)
	tmpl := map[string]any{"type": "order.placed", "body": string(fixture(t, "seller-custom-order.template.txt"))}
	drain(changed)
	if code, put := api(t, "PUT", "http://"+a.svc.HTTPAddr()+"/api/v1/templates/acme", tmpl); code != 200 {
		t.Fatalf("PUT: %d %v", code, put)
	}
	waitSignal(t, changed, "parser rebuild on the second instance")
	results := make(chan string, 2)
	for _, s := range []*running{a, b} {
		go func() {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", "http://"+s.svc.HTTPAddr()+"/api/v1/messages/reparse",
				strings.NewReader(`{"status": ["unrecognized"]}`))
			req.Header.Set("Authorization", "Bearer "+testAdminToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			results <- string(b)
		}()
	}
	changes := 0
	for range 2 {
		var rep struct {
			Changed *int `json:"changed"`
		}
		body := <-results
		if err := json.Unmarshal([]byte(body), &rep); err != nil || rep.Changed == nil {
			t.Fatalf("reparse: %s", body)
		}
		changes += *rep.Changed
	}
	got := expectEvents(t, rx, 2)
	if len(got["order.placed"]) != 1 || len(got["inventory.adjusted"]) != 1 {
		t.Fatalf("after two re-parses at once: %v", got)
	}
	rx.quiet(t, 500*time.Millisecond)
	if changes != 1 {
		t.Errorf("the two runs report %d changes, want 1", changes)
	}
}
