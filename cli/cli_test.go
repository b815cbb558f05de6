package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/app"
	"github.com/qoo10hook/qoo10hook/config"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// runCLI runs the command line with env as its environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &CLI{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code = c.Run(t.Context(), args)
	return code, out.String(), errb.String()
}

func TestCheckConfigCommand(t *testing.T) {
	t.Parallel()
	code, out, errs := runCLI(t, map[string]string{"QOO10HOOK_WEBHOOK_URL": "https://hook.example/x",
		"QOO10HOOK_WEBHOOK_SECRET": testSecret}, "check-config", "--config", "../config/testdata/good.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Contains(out, "MfKQ9r8") || !strings.Contains(out, "<secret>") || !strings.Contains(out, "https://hook.example/x") {
		t.Errorf("output:\n%s", out)
	}
	code, _, errs = runCLI(t, nil, "check-config", "--config", "../config/testdata/bad-secret.yaml")
	if code != 1 || !strings.Contains(errs, "endpoints[0].secret") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

func TestSecretCommand(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, nil, "secret")
	if code != 0 || !strings.HasPrefix(out, "whsec_") {
		t.Fatalf("exit %d: %q", code, out)
	}
	if _, err := endpointsWithSecret(strings.TrimSpace(out)); err != nil {
		t.Errorf("generated secret is refused: %v", err)
	}
}

func endpointsWithSecret(secret string) (any, error) {
	cfg := config.Default()
	cfg.Webhook = config.Webhook{URL: "https://hook.example/x", Secret: config.Secret(secret)}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return app.Endpoints(cfg)
}
