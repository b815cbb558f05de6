package config

import (
	"strings"
	"testing"
)

func TestLoadFrontDoor(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/good-frontdoor.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.MaxHeaderBytes != 64<<10 || cfg.SMTP.MaxConnectionsPerIP != 10 || cfg.SMTP.TLS.ImplicitAddr != ":465" {
		t.Errorf("smtp = %+v", cfg.SMTP)
	}
	if cfg.Routes[0].SenderPolicy != PolicyQuarantine || cfg.Vendor.SenderPolicy != PolicyTag {
		t.Errorf("policies: route %q vendor %q", cfg.Routes[0].SenderPolicy, cfg.Vendor.SenderPolicy)
	}
	if p := cfg.Forwarders[0].Prefixes(); len(p) != 2 || p[0].String() != "209.85.128.0/17" {
		t.Errorf("forwarder networks = %v", p)
	}
	var out strings.Builder
	if err := cfg.Write(&out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.Contains(s, "vendor-hmac-key") || strings.Contains(s, "$2a$10$") {
		t.Errorf("a secret was printed:\n%s", s)
	}
}

func TestFrontDoorDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load("", env(map[string]string{
		"QOO10HOOK_SENDER_POLICY":                    "Tag",
		"QOO10HOOK_SMTP_MAX_TRANSACTIONS_PER_MINUTE": "30",
		"QOO10HOOK_VENDOR_DOMAINS":                   "V.example.com",
		"QOO10HOOK_VENDOR_KEY":                       "0123456789abcdef0123",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sender.Policy != PolicyTag || cfg.SMTP.MaxTransactionsPerMinute != 30 || cfg.Vendor.Domains[0] != "v.example.com" {
		t.Errorf("env not applied: %+v %+v %+v", cfg.Sender, cfg.SMTP, cfg.Vendor)
	}
	if cfg.Vendor.TokenLength != DefaultTokenLength || cfg.SMTP.MaxReceived != DefaultMaxReceived || cfg.Sender.AllowedDomains[0] != "qoo10.jp" {
		t.Errorf("defaults lost: %+v", cfg)
	}
	def, _ := Load("", env(nil))
	if def.Sender.Policy != PolicyRequire {
		t.Errorf("default sender policy %q, want require", def.Sender.Policy)
	}
}

func TestLoadBadFrontDoor(t *testing.T) {
	t.Parallel()
	_, err := Load("testdata/bad-frontdoor.yaml", env(nil))
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		"smtp.max_header_bytes (QOO10HOOK_SMTP_MAX_HEADER_BYTES)",
		"smtp.max_connections_per_ip (QOO10HOOK_SMTP_MAX_CONNECTIONS_PER_IP)",
		"smtp.tls.cert_file / smtp.tls.key_file", "set both or neither",
		"smtp.tls.implicit_addr", `"465" is not host:port`,
		"smtp.auth.users[0].password_hash", "not a bcrypt hash",
		"smtp.auth.users", "only over TLS",
		"sender.policy (QOO10HOOK_SENDER_POLICY)", `"strict" is not one of require, quarantine, tag, off`,
		"routes[0].sender_policy", `"maybe"`,
		"forwarders[0].authserv_id", "forwarders[0].networks[0]", `"not-a-network"`,
		"vendor.domains[0]", "also a whole-domain route",
		"vendor.key (QOO10HOOK_VENDOR_KEY)", "vendor.token_length", "vendor.endpoints[0]", `"nowhere" is not a defined endpoint`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}
