package app

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// startedLine waits for the log line that says the service is up and
// returns its attributes.
func startedLine(t *testing.T, r *running) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(r.logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "qoo10hook started" {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no startup line in the log:\n%s", r.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStartupLogAndIndex: the startup line names the listeners, the
// store's location, the sender policy, the domains taken and the
// console's URL or that it is off; / leads to the console when it is on
// and answers a small index when it is off.
func TestStartupLogAndIndex(t *testing.T) {
	t.Parallel()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (*http.Response, string) {
		t.Helper()
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	storeURL := testenv.SQLite(t)
	on := start(t, adminConfig(t, storeURL, ""))
	line := startedLine(t, on)
	want := map[string]any{
		"store": storeURL, "sender_policy": "off", "domains": "in.example.test",
		"console": "http://" + on.svc.HTTPAddr() + "/admin/", "smtp": on.svc.SMTPAddr(), "http": on.svc.HTTPAddr(),
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("startup line %s = %v, want %v", k, line[k], v)
		}
	}
	resp, _ := get("http://" + on.svc.HTTPAddr() + "/")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/admin/" {
		t.Errorf("/ with the console on: %d to %q, want 302 to /admin/", resp.StatusCode, resp.Header.Get("Location"))
	}

	off := start(t, testConfig(t, testenv.SQLite(t), ""))
	if c := startedLine(t, off)["console"]; c != "off (set QOO10HOOK_ADMIN_TOKEN to turn it on)" {
		t.Errorf("startup line console = %v with the console off", c)
	}
	resp, body := get("http://" + off.svc.HTTPAddr() + "/")
	if resp.StatusCode != 200 || !strings.Contains(body, `href="/readyz"`) || !strings.Contains(body, "QOO10HOOK_ADMIN_TOKEN") {
		t.Errorf("/ with the console off: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := get("http://" + off.svc.HTTPAddr() + "/nothing"); resp.StatusCode != 404 {
		t.Errorf("/nothing: %d, want 404", resp.StatusCode)
	}
}

func TestStoreLocation(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"sqlite:/var/lib/qoo10hook/store.db":                         "sqlite:/var/lib/qoo10hook/store.db",
		"postgres://qoo10hook:secret@db.internal:5432/qoo10hook?x=y": "postgres://db.internal:5432/qoo10hook",
	} {
		if got := storeLocation(in); got != want {
			t.Errorf("storeLocation(%q) = %q, want %q", in, got, want)
		}
	}
}
