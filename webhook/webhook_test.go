package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/qoo10hook/qoo10hook/store"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func endpoint(t *testing.T, url string) *Endpoint {
	t.Helper()
	e, err := NewEndpoint("test", url, secret, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestSendClassifies checks each answer's class against the contract:
// 2xx done; 408, 425, 429, 5xx retry; 410 gone; other 3xx/4xx permanent.
func TestSendClassifies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code       int
		retry      bool
		gone, fail bool
		retryAfter string
		wantAfter  time.Duration
	}{
		{code: 200}, {code: 204},
		{code: 408, retry: true, fail: true}, {code: 425, retry: true, fail: true},
		{code: 429, retry: true, fail: true, retryAfter: "7", wantAfter: 7 * time.Second},
		{code: 500, retry: true, fail: true}, {code: 503, retry: true, fail: true, retryAfter: "soon"},
		{code: 410, gone: true, fail: true},
		{code: 400, fail: true}, {code: 401, fail: true}, {code: 404, fail: true}, {code: 422, fail: true},
		{code: 301, fail: true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			if tc.code == 301 {
				w.Header().Set("Location", "https://elsewhere.example/")
			}
			w.WriteHeader(tc.code)
			io.WriteString(w, strings.Repeat("x", 5000))
		}))
		res := Send(t.Context(), NewClient(time.Second), endpoint(t, srv.URL), "evt_1", []byte(`{}`), "test")
		srv.Close()
		if res.StatusCode != tc.code || res.Retry != tc.retry || res.Gone != tc.gone || (res.Err != nil) != tc.fail {
			t.Errorf("%d: %+v", tc.code, res)
		}
		if res.RetryAfter != tc.wantAfter {
			t.Errorf("%d: RetryAfter %s, want %s", tc.code, res.RetryAfter, tc.wantAfter)
		}
		if tc.code != 204 && len(res.Response) != responseExcerpt {
			t.Errorf("%d: excerpt of %d bytes, want %d", tc.code, len(res.Response), responseExcerpt)
		}
	}
}

// TestSendSigns: the request verifies with the reference library, and
// the webhook-id is the one given.
func TestSendSigns(t *testing.T) {
	t.Parallel()
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r, must(io.ReadAll(r.Body))
	}))
	defer srv.Close()
	res := Send(t.Context(), NewClient(time.Second), endpoint(t, srv.URL), "evt_abc", []byte(`{"a":"注文"}`), "qoo10hook/test")
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.Verify(body, got.Header); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if got.Header.Get("webhook-id") != "evt_abc" || got.Header.Get("Content-Type") != "application/json" ||
		got.Header.Get("User-Agent") != "qoo10hook/test" {
		t.Errorf("headers %v", got.Header)
	}
}

// TestSendNetworkErrorRetriesWithoutURL: a refused connection retries, and
// the error does not carry the URL (it may hold a token).
func TestSendNetworkErrorRetriesWithoutURL(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook?token=s3cret"
	srv.Close()
	res := Send(t.Context(), NewClient(time.Second), endpoint(t, url), "evt", nil, "test")
	if !res.Retry || res.Err == nil {
		t.Fatalf("%+v", res)
	}
	if strings.Contains(res.Err.Error(), "s3cret") || strings.Contains(res.Err.Error(), "/hook") {
		t.Errorf("error leaks the URL: %v", res.Err)
	}
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	res := Send(ctx, NewClient(time.Minute), endpoint(t, srv.URL), "evt", nil, "test")
	if !res.Retry || res.Err == nil || res.Err.Error() != "timed out" && !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Errorf("%+v", res)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "120": 2 * time.Minute, "-5": 0, "abc": 0,
		"Fri, 20 Nov 2026 12:01:00 GMT": time.Minute,
		"Fri, 20 Nov 2026 11:59:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

// TestDecide walks a delivery through its schedule.
func TestDecide(t *testing.T) {
	t.Parallel()
	w := &Worker{policy: Policy{Schedule: []time.Duration{0, 5 * time.Second, 5 * time.Minute}, MaxRetryAfter: time.Hour}}
	retry := Result{Err: errors.New("503"), Retry: true}
	for _, tc := range []struct {
		attempts, base int
		res            Result
		status         string
		wait           time.Duration
	}{
		{0, 0, Result{}, store.DeliveryDelivered, 0},
		{0, 0, retry, store.DeliveryPending, 5 * time.Second},
		{1, 0, retry, store.DeliveryPending, 5 * time.Minute},
		{2, 0, retry, store.DeliveryDead, 0},
		{4, 3, retry, store.DeliveryPending, 5 * time.Minute}, // retried by an operator after 3
		{5, 3, retry, store.DeliveryDead, 0},
		{0, 0, Result{Err: errors.New("400")}, store.DeliveryFailed, 0},
		{0, 0, Result{Err: errors.New("429"), Retry: true, RetryAfter: 30 * time.Second}, store.DeliveryPending, 30 * time.Second},
		{0, 0, Result{Err: errors.New("429"), Retry: true, RetryAfter: 48 * time.Hour}, store.DeliveryPending, time.Hour},
		{0, 0, Result{Err: errors.New("429"), Retry: true, RetryAfter: time.Second}, store.DeliveryPending, 5 * time.Second},
	} {
		o, wait := w.decide(&store.Delivery{Attempts: tc.attempts, RetryBase: tc.base}, tc.res)
		if o.Status != tc.status || wait != tc.wait {
			t.Errorf("attempts %d base %d %+v: %s after %s, want %s after %s", tc.attempts, tc.base, tc.res, o.Status, wait, tc.status, tc.wait)
		}
	}
}

func TestJitterStaysInBounds(t *testing.T) {
	t.Parallel()
	for range 1000 {
		d := jitter(10*time.Second, 0.1)
		if d < 9*time.Second || d > 11*time.Second {
			t.Fatalf("jitter gave %s", d)
		}
	}
	if jitter(0, 0.5) != 0 {
		t.Error("an immediate attempt must stay immediate")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// writeCounter counts the writes made on a connection.
type writeCounter struct {
	net.Conn
	writes *atomic.Int32
}

func (c writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestSendWritesARequestAtOnce: an order event's request, headers and
// body, goes to the connection in one write, not one per 4 KiB.
func TestSendWritesARequestAtOnce(t *testing.T) {
	t.Parallel()
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = must(io.ReadAll(r.Body))
	}))
	defer srv.Close()
	client := NewClient(time.Second)
	tr := client.Transport.(*http.Transport)
	var writes atomic.Int32
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return writeCounter{conn, &writes}, err
	}
	payload := []byte(`{"type":"order.placed","data":{"remarks":"` + strings.Repeat("ご注文ありがとうございます。", 400) + `"}}`)
	if len(payload) < 16<<10 {
		t.Fatalf("a payload of %d bytes: want more than 16 KiB", len(payload))
	}
	if res := Send(t.Context(), client, endpoint(t, srv.URL), "evt_big", payload, "test"); res.Err != nil {
		t.Fatal(res.Err)
	}
	if string(got) != string(payload) {
		t.Fatalf("the receiver got %d bytes, want the %d sent", len(got), len(payload))
	}
	if n := writes.Load(); n != 1 {
		t.Errorf("the request took %d writes, want 1", n)
	}
}
