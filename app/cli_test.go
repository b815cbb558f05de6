package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// RunCommandLine runs the qoo10hook command line (cli.CLI.Run). Package
// cli imports app, so these tests cannot import it: cli_link_test.go, in
// package app_test, sets this for them.
var RunCommandLine func(ctx context.Context, stdout, stderr io.Writer, getenv func(string) string, args []string) int

// runCLI runs the command line with env as its environment, against the
// tests' running services and stores.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = RunCommandLine(t.Context(), &out, &errb, func(k string) string { return env[k] }, args)
	return code, out.String(), errb.String()
}

// TestParseCommand: one JSON line per mail, the same event the service
// builds; a file that is not a mail fails with its name.
func TestParseCommand(t *testing.T) {
	t.Parallel()
	code, out, errs := runCLI(t, nil, "parse", "../testdata/stockgear-order-iso2022jp.eml", "../testdata/stockgear-order-utf8.eml")
	for _, ev := range cliEvents(t, code, out, errs, 2) {
		if get(ev, "type") != "order.placed" || get(ev, "data.items[0].option_code") != "TS-001-NV-L" {
			t.Errorf("event %v", ev)
		}
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "empty.eml")
	os.WriteFile(bad, nil, 0o600)
	other := filepath.Join(dir, "note.eml")
	os.WriteFile(other, []byte("Subject: hello\r\nFrom: a@example.com\r\n\r\nhi\r\n"), 0o600)
	code, out, errs = runCLI(t, nil, "parse", other, bad, filepath.Join(dir, "missing.eml"))
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errs, "empty.eml") || !strings.Contains(errs, "missing.eml") {
		t.Errorf("stderr does not name the bad files: %s", errs)
	}
	if !strings.Contains(out, `"type":"mail.unrecognized"`) {
		t.Errorf("an unrecognized mail must still print its event: %s", out)
	}
}

// TestParseCommandMatchesService: `qoo10hook parse` prints the event the
// service posts for the same mail, but for what only the service knows
// (its queue id, the time it got the mail, the envelope recipients).
func TestParseCommandMatchesService(t *testing.T) {
	rx := newReceiver(t)
	cfg := testConfig(t, testenv.SQLite(t), rx.URL)
	cfg.Inventory.ReserveOn = "none"
	svc := start(t, cfg)
	for _, file := range []string{"stockgear-order-iso2022jp.eml", "crossmall-group-3-lines.eml"} {
		raw := fixture(t, file)
		if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, raw); err != nil {
			t.Fatal(err)
		}
		var posted map[string]any
		if err := json.Unmarshal(rx.nextDelivered(t, 10*time.Second).Body, &posted); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runCLI(t, nil, "parse", "../testdata/"+file)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", file, code, errs)
		}
		var printed map[string]any
		if err := json.Unmarshal([]byte(out), &printed); err != nil {
			t.Fatal(err)
		}
		for _, ev := range []map[string]any{posted, printed} {
			delete(ev, "created_at")
			m := ev["mail"].(map[string]any)
			delete(m, "queue_id")
			delete(m, "received_at")
			delete(m, "to")
		}
		a, _ := json.Marshal(posted)
		b, _ := json.Marshal(printed)
		if string(a) != string(b) {
			t.Errorf("%s:\nservice posted %s\nparse printed  %s", file, a, b)
		}
	}
}

// TestParseCommandWithRecipients: with --to, `qoo10hook parse` prints the
// events the service posts for a mail sent to those addresses: one per
// route, with its tenant; an address no route takes is an error.
func TestParseCommandWithRecipients(t *testing.T) {
	rx := newReceiver(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "qoo10hook.yaml")
	yaml := fmt.Sprintf(`store:
  url: sqlite:%s
endpoints:
  - name: vendor
    url: %s
    secret: %s
routes:
  - tenant: shop42
    recipients: ["orders+shop42@in.example.test"]
    endpoints: [vendor]
    sender_policy: "off"
  - tenant: wholesale
    recipients: ["@in.example.test"]
    endpoints: [vendor]
    sender_policy: "off"
inventory:
  reserve_on: none
`, filepath.Join(dir, "store.db"), rx.URL, testSecret)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.SMTP.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	svc := start(t, cfg)
	rcpts := []string{"orders+shop42@in.example.test", "orders@in.example.test"}
	if err := send(t, svc.svc.SMTPAddr(), rcpts, fixture(t, "stockgear-order-iso2022jp.eml")); err != nil {
		t.Fatal(err)
	}
	posted := map[string]string{}
	for range 2 {
		var ev map[string]any
		if err := json.Unmarshal(rx.nextDelivered(t, 10*time.Second).Body, &ev); err != nil {
			t.Fatal(err)
		}
		posted[ev["tenant"].(string)] = withoutServiceFields(ev)
	}

	code, out, errs := runCLI(t, nil, "parse", "--config", file, "--to", strings.Join(rcpts, ","), "../testdata/stockgear-order-iso2022jp.eml")
	// One event per route.
	for _, ev := range cliEvents(t, code, out, errs, 2) {
		tenant, _ := ev["tenant"].(string)
		if got := withoutServiceFields(ev); got != posted[tenant] {
			t.Errorf("tenant %q:\nservice posted %s\nparse printed  %s", tenant, posted[tenant], got)
		}
	}

	code, _, errs = runCLI(t, nil, "parse", "--config", file, "--to", "someone@elsewhere.example", "../testdata/stockgear-order-iso2022jp.eml")
	if code != 1 || !strings.Contains(errs, "someone@elsewhere.example is not routed") {
		t.Errorf("an unrouted --to: exit %d, %q", code, errs)
	}
}

// cliEvents checks that a parse command exited 0 and printed n events, one
// JSON object per line, and decodes them.
func cliEvents(t *testing.T, code int, out, errs string, n int) []map[string]any {
	t.Helper()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), n, out)
	}
	evs := make([]map[string]any, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return evs
}

// withoutServiceFields is an event as JSON without what only the service knows: its
// queue id and when it got the mail.
func withoutServiceFields(ev map[string]any) string {
	delete(ev, "created_at")
	m := ev["mail"].(map[string]any)
	delete(m, "queue_id")
	delete(m, "received_at")
	b, _ := json.Marshal(ev)
	return string(b)
}
