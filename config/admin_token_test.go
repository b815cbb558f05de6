package config

import (
	"strings"
	"testing"
)

// TestAdminToken: the token is off by default, comes from its env twin,
// must be long enough, and never prints.
func TestAdminToken(t *testing.T) {
	t.Parallel()
	cfg, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.AdminToken != "" {
		t.Errorf("admin token on by default")
	}
	const tok = "0123456789abcdef0123456789abcdef"
	cfg, err = Load("", env(map[string]string{"QOO10HOOK_ADMIN_TOKEN": tok}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.AdminToken.Reveal() != tok {
		t.Errorf("admin token = %q", cfg.HTTP.AdminToken.Reveal())
	}
	if out := written(t, cfg); strings.Contains(out, tok) || !strings.Contains(out, "admin_token: <secret>") {
		t.Errorf("check-config output shows the token or omits it:\n%s", out)
	}
	_, err = Load("", env(map[string]string{"QOO10HOOK_ADMIN_TOKEN": "short"}))
	if err == nil || !strings.Contains(err.Error(), "http.admin_token (QOO10HOOK_ADMIN_TOKEN)") {
		t.Errorf("a short token: error %v", err)
	}
}
