package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadGood(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/good.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.SMTP.MaxMessageBytes; got != 20<<20 {
		t.Errorf("max_message_bytes = %d, want 20MiB", got)
	}
	if got := cfg.SMTP.MaxRecipients; got != 50 {
		t.Errorf("max_recipients = %d, want the default 50", got)
	}
	if got := len(cfg.Delivery.RetrySchedule); got != 5 {
		t.Errorf("retry_schedule has %d entries, want 5", got)
	}
	if got := cfg.Routes[1].Recipients[0]; got != "@wholesale.example.com" {
		t.Errorf("recipient = %q", got)
	}
	if got := cfg.Parse.Templates[0].Body; !strings.Contains(got, "[$_SELLER_ID_$]") {
		t.Errorf("template body = %q", got)
	}
}

func TestEnvOverridesFile(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/good.yaml", env(map[string]string{
		"QOO10HOOK_SMTP_ADDR":                 "127.0.0.1:2626",
		"QOO10HOOK_STORE":                     "postgres://localhost/test",
		"QOO10HOOK_DOMAINS":                   "A.example.com, b.example.com",
		"QOO10HOOK_DELIVERY_RETRY_SCHEDULE":   "0s,1s",
		"QOO10HOOK_SMTP_MAX_MESSAGE_BYTES":    "1MiB",
		"QOO10HOOK_DELIVERY_JITTER":           "0",
		"QOO10HOOK_WEBHOOK_URL":               "http://127.0.0.1:9/hook",
		"QOO10HOOK_WEBHOOK_SECRET":            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"QOO10HOOK_DELIVERY_SHUTDOWN_TIMEOUT": "",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.Addr != "127.0.0.1:2626" || cfg.Store.URL != "postgres://localhost/test" {
		t.Errorf("env not applied: %+v %+v", cfg.SMTP, cfg.Store)
	}
	if want := []string{"a.example.com", "b.example.com"}; strings.Join(cfg.Domains, ",") != strings.Join(want, ",") {
		t.Errorf("domains = %v, want %v", cfg.Domains, want)
	}
	if s := cfg.Delivery.RetrySchedule; len(s) != 2 || s[1].D() != time.Second {
		t.Errorf("retry schedule = %v", s)
	}
	if cfg.SMTP.MaxMessageBytes != 1<<20 || cfg.Delivery.Jitter != 0 {
		t.Errorf("size/jitter = %d %v", cfg.SMTP.MaxMessageBytes, cfg.Delivery.Jitter)
	}
	if cfg.Delivery.ShutdownTimeout.D() != 10*time.Second {
		t.Errorf("an empty variable must leave the setting alone, got %v", cfg.Delivery.ShutdownTimeout)
	}
}

func TestLoadNoFileDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Domains) != 1 || cfg.Domains[0] != "localhost" {
		t.Errorf("domains = %v, want [localhost]", cfg.Domains)
	}
	if cfg.Store.URL != "sqlite:qoo10hook.db" {
		t.Errorf("store = %q", cfg.Store.URL)
	}
}

func TestLoadBad(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file string
		env  map[string]string
		want []string // every one must appear in the error
	}{
		{file: "testdata/bad-unknown-key.yaml", want: []string{"line 3", `unknown key "max_mesage_bytes" in smtp`, "max_message_bytes"}},
		{file: "testdata/bad-secret.yaml", want: []string{"endpoints[0].secret", `must start with "whsec_"`, "qoo10hook secret"}},
		{file: "testdata/bad-route.yaml", want: []string{
			"endpoints[0].url", "not an http:// or https:// URL",
			"endpoints[0].events[0]", `"order.shipped" is not an event type`,
			"routes[0].tenant", "routes[0].recipients[0]", "routes[0].endpoints[0]", `"nowhere" is not a defined endpoint`}},
		{file: "testdata/bad-duration.yaml", want: []string{"thirty seconds", "not a duration"}},
		{file: "testdata/bad-store.yaml", want: []string{"store.url (QOO10HOOK_STORE)", "neither sqlite:PATH nor a postgres:// URL"}},
		{env: map[string]string{"QOO10HOOK_WEBHOOK_URL": "http://x.example/h"}, want: []string{"webhook.secret (QOO10HOOK_WEBHOOK_SECRET)", "is required"}},
		{env: map[string]string{"QOO10HOOK_SMTP_MAX_RECIPIENTS": "many"}, want: []string{"QOO10HOOK_SMTP_MAX_RECIPIENTS", "not a whole number"}},
		{env: map[string]string{"QOO10HOOK_WEBHOOK_URL": "http://x.example/h", "QOO10HOOK_WEBHOOK_SECRET": "whsec_c2hvcnQ="}, want: []string{"the key is 5 bytes"}},
		{env: map[string]string{"QOO10HOOK_LOG_LEVEL": "loud"}, want: []string{"log.level (QOO10HOOK_LOG_LEVEL)", `"loud"`}},
	} {
		_, err := Load(tc.file, env(tc.env))
		if err == nil {
			t.Errorf("%s %v: no error", tc.file, tc.env)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %v: error %q lacks %q", tc.file, tc.env, err, w)
			}
		}
	}
}

// written is cfg as Write prints it.
func written(t *testing.T, cfg *Config) string {
	t.Helper()
	var buf bytes.Buffer
	if err := cfg.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestWriteHidesSecrets(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/good.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	out := written(t, cfg)
	if strings.Contains(out, "MfKQ9r8") || strings.Contains(out, "cXVvMTBob29r") {
		t.Errorf("secret printed:\n%s", out)
	}
	if !strings.Contains(out, "secret: <secret>") || !strings.Contains(out, "max_message_bytes: 20MiB") {
		t.Errorf("unexpected output:\n%s", out)
	}
}

func TestEnvVarsIncludeContract(t *testing.T) {
	t.Parallel()
	have := map[string]bool{}
	for _, v := range EnvVars() {
		have[v.Name] = true
	}
	for _, name := range []string{"QOO10HOOK_SMTP_ADDR", "QOO10HOOK_HTTP_ADDR", "QOO10HOOK_STORE",
		"QOO10HOOK_DOMAINS", "QOO10HOOK_WEBHOOK_URL", "QOO10HOOK_WEBHOOK_SECRET"} {
		if !have[name] {
			t.Errorf("%s is not an environment twin", name)
		}
	}
}

func TestWriteHidesURLCredentials(t *testing.T) {
	t.Parallel()
	cfg, err := Load("", env(map[string]string{
		"QOO10HOOK_STORE":          "postgres://qh:pgpass@db.example:5432/qh?sslmode=require",
		"QOO10HOOK_WEBHOOK_URL":    "https://u:hookpass@hook.example/in?token=tok123",
		"QOO10HOOK_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}))
	if err != nil {
		t.Fatal(err)
	}
	out := written(t, cfg)
	for _, leak := range []string{"pgpass", "hookpass", "tok123"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q printed:\n%s", leak, out)
		}
	}
	for _, want := range []string{
		"url: postgres://qh:<secret>@db.example:5432/qh?sslmode=<secret>",
		"url: https://u:<secret>@hook.example/in?token=<secret>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestRecipientsRoutesCanMatch: a route recipient whose local part no
// mail could reach is refused with the reason, not accepted to match
// nothing.
func TestRecipientsRoutesCanMatch(t *testing.T) {
	t.Parallel()
	for rcpt, ok := range map[string]bool{
		"orders@in.example.com": true, "orders+shop42@in.example.com": true, "@in.example.com": true,
		"in.example.com": true, "a%b@in.example.com": false, "a!b@in.example.com": false,
		`"a b"@in.example.com`: false, strings.Repeat("x", 65) + "@in.example.com": false,
	} {
		cfg := Default()
		cfg.Webhook = Webhook{URL: "https://hook.example/x", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
		cfg.Routes = []Route{{Tenant: "shop", Recipients: []string{rcpt}}}
		err := cfg.Validate()
		if ok && err != nil {
			t.Errorf("%s refused: %v", rcpt, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "no mail could reach it")) {
			t.Errorf("%s: %v, want it refused as unreachable", rcpt, err)
		}
	}
}
