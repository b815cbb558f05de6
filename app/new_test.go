package app

import (
	"log/slog"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestNewReleasesListenersOnError: when New fails at its last step (the
// HTTP port is taken), the SMTP port it had already bound is free again.
func TestNewReleasesListenersOnError(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	smtpAddr := free.Addr().String()
	free.Close()

	cfg := testConfig(t, testenv.SQLite(t), "")
	cfg.SMTP.Addr, cfg.HTTP.Addr = smtpAddr, taken.Addr().String()
	if _, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry()); err == nil {
		t.Fatal("New succeeded with the HTTP port taken")
	}
	ln, err := net.Listen("tcp", smtpAddr)
	if err != nil {
		t.Fatalf("the SMTP port is still bound after New failed: %v", err)
	}
	ln.Close()
}
