package app

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/route"
)

// TestTenantEndpointsFollowRoutes: the inventory events of a tenant go to
// the endpoints its mail is routed to, catch-all included.
func TestTenantEndpointsFollowRoutes(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{nil, {"QOO10HOOK_WEBHOOK_URL": "https://hook.example/all", "QOO10HOOK_WEBHOOK_SECRET": testSecret}} {
		cfg, err := config.Load("../config/testdata/good.yaml", func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		table := route.New(routeOptions(cfg, nil))
		for _, r := range cfg.Routes {
			for _, rcpt := range r.Recipients {
				if !strings.Contains(rcpt, "@") || strings.HasPrefix(rcpt, "@") {
					rcpt = "someone@" + strings.TrimPrefix(rcpt, "@")
				}
				m := table.Match(rcpt)
				if m == nil || m.Tenant != r.Tenant || !slices.Equal(m.Endpoints, table.TenantEndpoints(r.Tenant)) {
					t.Errorf("%s: route %+v, inventory endpoints %v", rcpt, m, table.TenantEndpoints(r.Tenant))
				}
			}
		}
	}
	cfg := config.Default()
	cfg.Webhook = config.Webhook{URL: "https://hook.example/all", Secret: testSecret}
	if got := route.New(routeOptions(cfg, nil)).TenantEndpoints(""); !slices.Equal(got, []string{config.DefaultEndpoint}) {
		t.Errorf("without routes the catch-all takes the inventory events, got %v", got)
	}
}

// TestCatalogCommands: import both kinds (a bad row reported with file,
// line and column), list the stock, export it back as it was imported.
func TestCatalogCommands(t *testing.T) {
	t.Parallel()
	env := map[string]string{"QOO10HOOK_STORE": existingStore(t)}
	goods, options := "../testdata/GoodsList-cm_shop-cp932.csv", "../testdata/InventoryManagement_gridInventory-cm_shop.csv"

	// Without --partial the bad row refuses the import, and says where.
	code, _, errs := runCLI(t, env, "catalog", "import", "--seller", "cm_shop", goods, options)
	if code != 1 || !strings.Contains(errs, goods+`:5:5 (在庫数): qty "在庫なし" is not a number`) ||
		!strings.Contains(errs, "nothing was changed") {
		t.Fatalf("import with a bad row: exit %d: %s", code, errs)
	}
	code, out, errs := runCLI(t, env, "catalog", "import", "--partial", "--seller", "cm_shop", goods, options)
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, goods+`:5:5 (在庫数): qty "在庫なし" is not a number`) {
		t.Errorf("import did not report the bad row: %q", errs)
	}
	if !strings.Contains(out, "goods file (cp932): 3 SKUs imported for seller cm_shop (replacing 0), 1 bad rows left out") ||
		!strings.Contains(out, "options file (utf-8-bom): 2 SKUs imported") {
		t.Errorf("import output: %s", out)
	}

	code, out, errs = runCLI(t, env, "catalog", "stock", "--below", "5")
	if code != 0 {
		t.Fatalf("stock: exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SELLER") || !strings.Contains(lines[1], "HT-002-RD") ||
		!strings.Contains(lines[2], "HT-003") || !strings.Contains(lines[2], "ハンドタオル 第3弾") {
		t.Errorf("stock below 5:\n%s", out)
	}
	code, out, _ = runCLI(t, env, "catalog", "stock", "--json", "--seller", "cm_shop")
	if code != 0 || strings.Count(out, "\n") != 5 || !strings.Contains(out, `"sku":"HT-001","kind":"goods"`) {
		t.Errorf("stock --json: exit %d\n%s", code, out)
	}

	code, _, errs = runCLI(t, env, "catalog", "export")
	if code != 1 || !strings.Contains(errs, "choose one") {
		t.Errorf("export without --kind: exit %d, %s", code, errs)
	}
	dst := filepath.Join(t.TempDir(), "GoodsList.csv")
	code, _, errs = runCLI(t, env, "catalog", "export", "--kind", "goods", "--out", dst)
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errs)
	}
	got, _ := os.ReadFile(dst)
	want, _ := os.ReadFile(goods)
	if !bytes.Equal(got, want) {
		t.Errorf("export of an untouched catalog is not the imported file")
	}
	code, out, _ = runCLI(t, env, "catalog", "export", "--seller", "cm_shop", "--kind", "options")
	if want, _ := os.ReadFile(options); code != 0 || out != string(want) {
		t.Errorf("options export to stdout: exit %d\n%q", code, out)
	}

	for _, args := range [][]string{
		{"catalog"}, {"catalog", "count"}, {"catalog", "import", goods}, {"catalog", "import", "--seller", "x"},
		{"catalog", "stock", "--below", "few"}, {"catalog", "stock", "extra"},
	} {
		if code, _, errs := runCLI(t, env, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage): %s", args, code, errs)
		}
	}
	if code, _, errs := runCLI(t, env, "catalog", "import", "--seller", "x", "../testdata/stockgear-order-utf8.eml"); code != 1 ||
		!strings.Contains(errs, "not a QSM catalog") {
		t.Errorf("import of a mail: exit %d: %s", code, errs)
	}
}
