package smtpd

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// rebind checks that addr can be bound again, and frees it. The tests
// that call it do not run in parallel: the other tests' listeners and
// client connections take ports from the same range, and one of them
// could take the port just freed before rebind binds it.
func rebind(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("%s is still bound: %v", addr, err)
	}
	ln.Close()
}

// TestCloseBeforeServe: Close frees the ports Listen bound, the implicit
// TLS one included, when Serve never ran.
func TestCloseBeforeServe(t *testing.T) {
	cert, _, _ := testCertificate(t)
	s := New(Config{Addr: "127.0.0.1:0", ImplicitTLSAddr: "127.0.0.1:0", Certificate: cert, Hostname: "mx.test"},
		newSink(), testRoutes(), NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	addr, tlsAddr := s.Addr().String(), s.ImplicitTLSAddr().String()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	rebind(t, addr)
	rebind(t, tlsAddr)
}

// TestCloseWhileServing: Close cuts the sessions in progress, Serve
// returns without an error, and the port is free.
func TestCloseWhileServing(t *testing.T) {
	s := New(Config{Addr: "127.0.0.1:0", Hostname: "mx.test"},
		newSink(), testRoutes(), NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	addr := s.Addr().String()
	d := dial(t, addr).greet()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	d.eof()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	rebind(t, addr)
	if err := s.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}
