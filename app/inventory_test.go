package app

import (
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
		table := route.New(RouteOptions(cfg, nil))
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
	if got := route.New(RouteOptions(cfg, nil)).TenantEndpoints(""); !slices.Equal(got, []string{config.DefaultEndpoint}) {
		t.Errorf("without routes the catch-all takes the inventory events, got %v", got)
	}
}
