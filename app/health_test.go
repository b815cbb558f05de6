package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

func getText(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// getReady reads /readyz with the admin token, which shows what is not
// ready.
func getReady(t *testing.T, base string) (int, string) {
	t.Helper()
	code, body := call(t, "GET", base+"/readyz", testAdminToken)
	return code, string(body)
}

// TestReadyz: ready while everything runs; 503 naming the reason when
// the delivery workers stop, and when the store is closed (to a caller
// with the admin token only: the store's errors name its database, user
// and host); /healthz stays 200 throughout, and qoo10hook_ready follows.
func TestReadyz(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t)
			cfg := testConfig(t, st.URL, rx.URL)
			cfg.HTTP.AdminToken = testAdminToken
			svc := start(t, cfg)
			base := "http://" + svc.svc.HTTPAddr()
			if code, body := getText(t, base+"/readyz"); code != 200 || body != "ready\n" {
				t.Fatalf("readyz: %d %q", code, body)
			}

			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := svc.svc.Store().StopWorkers(ctx); err != nil {
				t.Fatal(err)
			}
			if code, body := getReady(t, base); code != 503 || !strings.Contains(body, "workers: stopped") {
				t.Errorf("readyz with workers stopped: %d %q", code, body)
			}
			if v, _ := value(scrape(t, svc.svc.HTTPAddr()), "qoo10hook_ready"); v != 0 {
				t.Errorf("qoo10hook_ready = %v with workers stopped", v)
			}

			svc.svc.Store().Close()
			code, body := getReady(t, base)
			if code != 503 || !strings.Contains(body, "store: ") {
				t.Errorf("readyz with the store closed: %d %q", code, body)
			}
			for _, tok := range []string{"", "wrong-token-0123456789abcdef"} {
				code, b := call(t, "GET", base+"/readyz", tok)
				if body := string(b); code != 503 || strings.Contains(body, "store") || strings.Contains(body, "workers") ||
					strings.Contains(body, "postgres") || strings.Contains(body, "127.0.0.1") {
					t.Errorf("readyz without the admin token (%q): %d %q, want 503 without detail", tok, code, body)
				}
			}
			if !strings.Contains(svc.logs.String(), "not ready") {
				t.Errorf("the log does not say why the service is not ready")
			}
			if code, _ := getText(t, base+"/healthz"); code != 200 {
				t.Errorf("healthz: %d", code)
			}
		})
	}
}

// TestReadyzSMTPDown: the SMTP listener going away makes the service
// not ready.
func TestReadyzSMTPDown(t *testing.T) {
	cfg := testConfig(t, testenv.SQLite(t), "")
	cfg.HTTP.AdminToken = testAdminToken
	svc := start(t, cfg)
	svc.svc.smtpUp.Store(false)
	if code, body := getReady(t, "http://"+svc.svc.HTTPAddr()); code != 503 || body != "smtp: not listening\n" {
		t.Errorf("readyz: %d %q", code, body)
	}
}

// TestHealthcheckCommand runs `qoo10hook healthcheck` against a running
// service: exit 0 while ready, 1 with the reason when not, and 1 when
// nothing listens.
func TestHealthcheckCommand(t *testing.T) {
	cfg := testConfig(t, testenv.SQLite(t), "")
	cfg.HTTP.AdminToken = testAdminToken
	svc := start(t, cfg)
	env := map[string]string{"QOO10HOOK_HTTP_ADDR": svc.svc.HTTPAddr(), "QOO10HOOK_ADMIN_TOKEN": testAdminToken}
	if code, out, errs := runCLI(t, env, "healthcheck"); code != 0 || out != "ready\n" {
		t.Errorf("healthcheck: exit %d, %q %q", code, out, errs)
	}
	_, port, _ := net.SplitHostPort(svc.svc.HTTPAddr())
	if code, _, errs := runCLI(t, map[string]string{"QOO10HOOK_HTTP_ADDR": ":" + port}, "healthcheck"); code != 0 {
		t.Errorf("healthcheck on :PORT: exit %d %q", code, errs)
	}
	svc.svc.Store().Close()
	if code, _, errs := runCLI(t, env, "healthcheck"); code != 1 || !strings.Contains(errs, "not ready: store: ") {
		t.Errorf("healthcheck with the store closed: exit %d, %q", code, errs)
	}
	svc.stop()
	if code, _, errs := runCLI(t, env, "healthcheck"); code != 1 || !strings.Contains(errs, "not ready") {
		t.Errorf("healthcheck with nothing listening: exit %d, %q", code, errs)
	}
}
