package config

import (
	"testing"
	"time"
)

func TestLifetime(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"90d": 90 * Day, "0": 0, "2s": 2 * time.Second, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour, " 7d ": 7 * Day,
	} {
		var l Lifetime
		if err := l.UnmarshalText([]byte(in)); err != nil || l.D() != want {
			t.Errorf("%q = %v, %v; want %v", in, l.D(), err, want)
		}
		out, _ := l.MarshalText()
		var back Lifetime
		if err := back.UnmarshalText(out); err != nil || back != l {
			t.Errorf("%q written as %q reads back as %v, %v", in, out, back.D(), err)
		}
	}
	for _, in := range []string{"", "d", "-1d", "-5s", "90 days", "x"} {
		var l Lifetime
		if err := l.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q accepted as %v", in, l.D())
		}
	}
}

func TestRetentionFromEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{"QOO10HOOK_RETENTION_MAIL": "2s", "QOO10HOOK_RETENTION_DEAD": "0"}
	cfg, err := Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Retention
	if r.Mail.D() != 2*time.Second || r.Deliveries.D() != 30*Day || r.Dead.D() != 0 {
		t.Errorf("retention = %+v", r)
	}
	env["QOO10HOOK_RETENTION_MAIL"] = "ninety days"
	if _, err := Load("", func(k string) string { return env[k] }); err == nil {
		t.Error("a bad period was accepted")
	}
}
