package app

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestHTTPConnectionLimit: idle keep-alive connections to /healthz take
// at most http.max_connections; the ones past it get 503 and are closed,
// SMTP keeps taking mail, and a slot closed is a slot free again. The
// server bounds each request (timeouts, header size).
func TestHTTPConnectionLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, testenv.SQLite(t), "")
	cfg.HTTP.MaxConnections = 5
	svc := start(t, cfg)
	addr := svc.svc.HTTPAddr()

	get := func(c net.Conn) (int, error) {
		if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c
	}
	// waitReady took one connection, which the server may still hold idle:
	// fill every slot with idle keep-alives of our own.
	var idle []net.Conn
	for len(idle) < cfg.HTTP.MaxConnections {
		c := dial()
		if code, err := get(c); err != nil || code != 200 {
			c.Close()
			continue // the slot waitReady's connection holds is not free yet
		}
		idle = append(idle, c)
	}
	for i := range 50 {
		if code, err := get(dial()); err == nil && code != http.StatusServiceUnavailable {
			t.Fatalf("connection %d past the limit: %d, want 503 or closed", i+1, code)
		}
	}
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml")); err != nil {
		t.Errorf("mail while HTTP is full: %v, want 250", err)
	}
	idle[0].Close()
	for {
		c := dial()
		code, err := get(c)
		c.Close()
		if err == nil && code == 200 {
			break
		}
	}

	for _, c := range idle {
		c.Close()
	}
	for {
		long := dial()
		long.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 2*HTTPMaxHeaderBytes) + "\r\n\r\n"))
		resp, err := http.ReadResponse(bufio.NewReader(long), nil)
		long.Close()
		if err == nil && resp.StatusCode == http.StatusServiceUnavailable {
			continue // the slots closed above are not all free yet
		}
		if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("a 128 KiB header: %v %v, want 431", resp, err)
		}
		break
	}
	srv := svc.svc.http
	if srv.ReadTimeout != HTTPReadTimeout || srv.WriteTimeout != HTTPWriteTimeout || srv.IdleTimeout != HTTPIdleTimeout {
		t.Errorf("http server timeouts: read %v, write %v, idle %v", srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
}
