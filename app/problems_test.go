package app

import (
	"regexp"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

// TestProblemsAndTimeZones: the console's Problems page lists failed
// and dead deliveries together (the API takes the same comma list), and
// every time the API and the console show carries Japan's zone, as the
// events do.
func TestProblemsAndTimeZones(t *testing.T) {
	t.Parallel()
	rx := newReceiver(t, 400, 500, 500, 500, 500)
	svc := start(t, adminConfig(t, testenv.SQLite(t), rx.URL))
	for i, want := range []string{store.DeliveryFailed, store.DeliveryDead} {
		o := order{MessageID: "problem" + itoa(int64(i)) + "@qoo10.jp", Seller: "shop", Pack: itoa(int64(60 + i)), OrderNo: itoa(int64(600 + i))}
		if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, renderMail("placed", o)); err != nil {
			t.Fatal(err)
		}
		waitStatusCount(t, svc.svc.Store(), want, 1)
	}
	base := "http://" + svc.svc.HTTPAddr()

	code, body := call(t, "GET", base+"/api/v1/deliveries?status=failed,dead", testAdminToken)
	ds, _ := decode(t, body)["deliveries"].([]any)
	if code != 200 || len(ds) != 2 || get(ds[0], "status") != "dead" || get(ds[1], "status") != "failed" {
		t.Fatalf("failed and dead deliveries: %d %s", code, body)
	}
	rfc3339JST := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+09:00$`)
	for _, d := range ds {
		for _, k := range []string{"received_at", "created_at", "updated_at"} {
			if v, _ := get(d, k).(string); !rfc3339JST.MatchString(v) {
				t.Errorf("delivery %s = %q, want RFC 3339 in +09:00", k, v)
			}
		}
	}
	code, body = call(t, "GET", base+"/api/v1/deliveries/"+itoa(int64(get(ds[0], "id").(float64))), testAdminToken)
	if v, _ := get(decode(t, body), "attempt_log[0].started_at").(string); code != 200 || !rfc3339JST.MatchString(v) {
		t.Errorf("attempt started_at = %q (%d)", v, code)
	}
	code, body = call(t, "GET", base+"/api/v1/messages", testAdminToken)
	if v, _ := get(decode(t, body), "messages[0].received_at").(string); code != 200 || !rfc3339JST.MatchString(v) {
		t.Errorf("message received_at = %q (%d)", v, code)
	}

	b := consoleLogin(t, base)
	page := b.get(t, "/admin/deliveries")
	if !strings.Contains(page, "<h1>Problems</h1>") || strings.Count(page, `class="status s-dead"`) != 1 ||
		strings.Count(page, `class="status s-failed"`) != 1 || !strings.Contains(page, `selected>problems (failed, dead)</option>`) {
		t.Errorf("Problems page:\n%s", page)
	}
	if !regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+09:00`).MatchString(page) {
		t.Errorf("Problems page shows no time with its zone:\n%s", page)
	}
	if page := b.get(t, "/admin/deliveries?status=dead"); !strings.Contains(page, "<h1>Dead letters</h1>") || strings.Contains(page, `class="status s-failed"`) {
		t.Errorf("dead letters page:\n%s", page)
	}
}
