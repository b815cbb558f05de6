package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// testConfig is a configuration on loopback ports with a fast retry
// schedule, delivering to hookURL (if not empty).
func testConfig(t *testing.T, storeURL, hookURL string) *config.Config {
	return testConfigB(t, storeURL, hookURL)
}

func testConfigB(t testing.TB, storeURL string, hookURL ...string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.SMTP.Addr = "127.0.0.1:0"
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Store.URL = storeURL
	cfg.Domains = []string{"in.example.test"}
	// Test mails come from 127.0.0.1 without signatures: the sender
	// authentication tests (frontdoor_test.go) set their own policies.
	cfg.Sender.Policy = config.PolicyOff
	cfg.Delivery.RetrySchedule = []config.Duration{0, config.Duration(50 * time.Millisecond),
		config.Duration(100 * time.Millisecond), config.Duration(200 * time.Millisecond)}
	cfg.Delivery.Jitter = 0
	cfg.Delivery.Timeout = config.Duration(5 * time.Second)
	cfg.Delivery.ShutdownTimeout = config.Duration(2 * time.Second)
	if len(hookURL) > 0 && hookURL[0] != "" {
		cfg.Webhook = config.Webhook{URL: hookURL[0], Secret: testSecret}
	}
	// These tests follow the one order event a mail makes; the inventory
	// events the catch-all endpoint also receives have their own tests,
	// which turn inventory back on.
	cfg.Inventory.ReserveOn, cfg.Inventory.ReleaseOn = config.InventoryNone, config.InventoryNone
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// quickRetries is a retry schedule for tests: at once, then n retries
// every interval, so that a refused delivery is tried again while the
// test watches.
func quickRetries(n int, every time.Duration) []config.Duration {
	schedule := []config.Duration{0}
	for range n {
		schedule = append(schedule, config.Duration(every))
	}
	return schedule
}

type running struct {
	svc    *Service
	cancel context.CancelFunc
	done   chan error
	logs   *testenv.LogBuffer
}

// start runs the service in-process until the test ends (or stop).
func start(t *testing.T, cfg *config.Config, opts ...Option) *running {
	t.Helper()
	logs := &testenv.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := New(t.Context(), cfg, log, prometheus.NewRegistry(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{svc: svc, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { r.done <- svc.Run(ctx) }()
	waitReady(t, svc.HTTPAddr())
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		panic("service did not stop in 30s")
	}
}

func waitReady(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("service on %s not ready in 10s", addr)
}

// send delivers raw with go-smtp's client and returns the final reply's
// error (nil for 250).
func send(t *testing.T, addr string, rcpts []string, raw []byte) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("sender.example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("qoo10info@qoo10.jp", rcpts, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

func replyCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	if err == nil {
		return 250
	}
	return -1
}

func fixture(t *testing.T, name string) []byte { return fixtureB(t, name) }

func fixtureB(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// receiver is a webhook endpoint whose answers are scripted.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	requests []request
	arrived  chan request
}

type request struct {
	Header http.Header
	Body   []byte
	Status int
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rx := &receiver{statuses: statuses, arrived: make(chan request, 1000)}
	rx.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rx.mu.Lock()
		code := 200
		if len(rx.statuses) > 0 {
			code, rx.statuses = rx.statuses[0], rx.statuses[1:]
		}
		req := request{Header: r.Header.Clone(), Body: body, Status: code}
		rx.requests = append(rx.requests, req)
		rx.mu.Unlock()
		w.WriteHeader(code)
		rx.arrived <- req
	}))
	t.Cleanup(rx.Close)
	return rx
}

// next waits for the next request.
func (rx *receiver) next(t *testing.T, within time.Duration) request {
	t.Helper()
	select {
	case r := <-rx.arrived:
		return r
	case <-time.After(within):
		t.Fatalf("no webhook request within %s", within)
		return request{}
	}
}

// nextDelivered waits for the next request answered 2xx.
func (rx *receiver) nextDelivered(t *testing.T, within time.Duration) request {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case r := <-rx.arrived:
			if r.Status < 300 {
				return r
			}
		case <-deadline:
			t.Fatalf("no 2xx webhook delivery within %s", within)
			return request{}
		}
	}
}

// quiet asserts that no request arrives for d.
func (rx *receiver) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case r := <-rx.arrived:
		t.Fatalf("unexpected webhook request: %s", r.Body)
	case <-time.After(d):
	}
}

func verify(t *testing.T, r request) map[string]any {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.Body, r.Header); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	var ev map[string]any
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// get reads a value from decoded JSON by a dotted path with [i] indexes.
func get(v any, path string) any {
	for _, part := range strings.Split(path, ".") {
		name, idx, hasIdx := strings.Cut(part, "[")
		if m, ok := v.(map[string]any); ok {
			v = m[name]
		} else {
			return nil
		}
		if hasIdx {
			a, ok := v.([]any)
			i := int(idx[0] - '0')
			if !ok || i >= len(a) {
				return nil
			}
			v = a[i]
		}
	}
	return v
}

// startB runs the service for a benchmark, quietly.
func startB(b *testing.B, cfg *config.Config) (*Service, *prometheus.Registry) {
	b.Helper()
	reg := prometheus.NewRegistry()
	svc, err := New(b.Context(), cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	waitReady(b, svc.HTTPAddr())
	b.Cleanup(func() { cancel(); <-done })
	return svc, reg
}
