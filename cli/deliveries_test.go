package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

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
