package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

// TestDeliveriesCommands replays through the CLI, against the store of a
// running service: list finds the failed delivery, show prints its
// attempts, retry delivers it once the endpoint is fixed, and
// retry-all-failed takes the rest.
func TestDeliveriesCommands(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t, 400, 400)
			svc := start(t, testConfig(t, st.URL, rx.URL))
			for i := range 2 {
				o := order{MessageID: fmt.Sprintf("cli%d@qoo10.jp", i), Seller: "shop", Pack: fmt.Sprint(40 + i), OrderNo: fmt.Sprint(400 + i)}
				if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, renderMail("placed", o)); err != nil {
					t.Fatal(err)
				}
			}
			rx.next(t, 5*time.Second)
			rx.next(t, 5*time.Second)
			waitStatusCount(t, svc.svc.Store(), store.DeliveryFailed, 2)
			env := map[string]string{"QOO10HOOK_STORE": st.URL}

			code, out, errs := runCLI(t, env, "deliveries", "list", "--status", "failed", "--json")
			if code != 0 {
				t.Fatalf("list: exit %d: %s", code, errs)
			}
			var ids []int64
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var d store.Delivery
				if err := json.Unmarshal([]byte(line), &d); err != nil {
					t.Fatalf("%v: %q", err, line)
				}
				if d.Status != store.DeliveryFailed || d.LastStatus != 400 || d.Endpoint != "default" {
					t.Errorf("listed %+v", d)
				}
				ids = append(ids, d.ID)
			}
			if len(ids) != 2 {
				t.Fatalf("listed %d failed deliveries, want 2", len(ids))
			}
			code, out, _ = runCLI(t, env, "deliveries", "list")
			if code != 0 || !strings.Contains(out, "STATUS") || strings.Count(out, "failed") != 2 {
				t.Errorf("table:\n%s", out)
			}

			code, out, errs = runCLI(t, env, "deliveries", "show", fmt.Sprint(ids[0]))
			if code != 0 {
				t.Fatalf("show: exit %d: %s", code, errs)
			}
			var shown struct {
				Status   string          `json:"status"`
				Attempts []store.Attempt `json:"attempt_log"`
				Event    map[string]any  `json:"event"`
			}
			if err := json.Unmarshal([]byte(out), &shown); err != nil {
				t.Fatal(err)
			}
			if len(shown.Attempts) != 1 || shown.Attempts[0].StatusCode != 400 || shown.Event["type"] != "order.placed" {
				t.Errorf("show: %s", out)
			}

			code, out, errs = runCLI(t, env, "deliveries", "retry", fmt.Sprint(ids[0]))
			if code != 0 || !strings.Contains(out, "queued for retry") {
				t.Fatalf("retry: exit %d: %s %s", code, out, errs)
			}
			verify(t, rx.nextDelivered(t, 10*time.Second))
			code, out, _ = runCLI(t, env, "deliveries", "retry-all-failed")
			if code != 0 || !strings.Contains(out, "1 deliveries queued") {
				t.Fatalf("retry-all-failed: exit %d: %s", code, out)
			}
			verify(t, rx.nextDelivered(t, 10*time.Second))
			waitStatusCount(t, svc.svc.Store(), store.DeliveryDelivered, 2)

			if code, _, errs := runCLI(t, env, "deliveries", "retry", "999"); code != 1 || !strings.Contains(errs, "not found") {
				t.Errorf("retry of an unknown id: exit %d, %q", code, errs)
			}
			if code, _, _ := runCLI(t, env, "deliveries", "frobnicate"); code != 2 {
				t.Errorf("unknown subcommand: exit %d, want 2", code)
			}
		})
	}
}

func waitStatusCount(t *testing.T, st *store.Store, status string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ds, err := st.ListDeliveries(t.Context(), store.DeliveryFilter{Status: status})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("never %d deliveries %s", n, status)
}

// existingStore makes an empty SQLite store, as the service would on its
// first start, and returns its URL: the commands refuse to create one.
func existingStore(t *testing.T) string {
	t.Helper()
	u := testenv.SQLite(t)
	su, err := store.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), store.Options{URL: su})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return u
}

// TestCommandsRefuseToCreateStore: a command run where there is no store
// says so and how to name it, and leaves no empty store behind; given the
// service's configuration file it finds the service's store.
func TestCommandsRefuseToCreateStore(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nowhere", "store.db")
	for _, env := range []map[string]string{nil, {"QOO10HOOK_STORE": "sqlite:" + missing}} {
		for _, args := range [][]string{
			{"deliveries", "list"}, {"deliveries", "show", "1"}, {"deliveries", "retry", "1"},
			{"deliveries", "resend", "1"}, {"deliveries", "retry-all-failed"},
			{"catalog", "stock"}, {"catalog", "export"}, {"catalog", "import", "--seller", "s", "x.csv"},
		} {
			code, out, errs := runCLI(t, env, args...)
			want := "no store at ./qoo10hook.db: set QOO10HOOK_STORE or --config"
			if env != nil {
				want = "no store at " + missing + ": set QOO10HOOK_STORE or --config"
			}
			if code != 1 || out != "" || !strings.Contains(errs, want) {
				t.Errorf("%v with %v: exit %d, stdout %q, stderr %q; want exit 1 and %q", args, env, code, out, errs, want)
			}
		}
	}
	for _, p := range []string{"qoo10hook.db", filepath.Dir(missing)} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists after the refused commands (%v)", p, err)
		}
	}

	// The same configuration file as the service: its store is found.
	cfgFile := filepath.Join(t.TempDir(), "qoo10hook.yaml")
	if err := os.WriteFile(cfgFile, []byte("store:\n  url: "+existingStore(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCLI(t, nil, "deliveries", "list", "--config", cfgFile); code != 0 || !strings.Contains(out, "STATUS") {
		t.Errorf("deliveries list --config: exit %d, %q, %q", code, out, errs)
	}
	if code, out, errs := runCLI(t, map[string]string{"QOO10HOOK_CONFIG": cfgFile}, "catalog", "stock"); code != 0 {
		t.Errorf("catalog stock with QOO10HOOK_CONFIG: exit %d, %q, %q", code, out, errs)
	}
}
