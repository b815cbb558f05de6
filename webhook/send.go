// Package webhook signs events per Standard Webhooks and delivers them to endpoints, with retries.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/qoo10hook/qoo10hook/event"
)

// Endpoint is a configured webhook receiver.
type Endpoint struct {
	Name string
	URL  *url.URL
	// Events the endpoint takes; nil takes all.
	Events      map[string]bool
	Concurrency int
	signer      *standardwebhooks.Webhook
}

// NewEndpoint validates the URL and the whsec_ secret.
func NewEndpoint(name, rawURL, secret string, events []string, concurrency int) (*Endpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook: endpoint %s: not an http(s) URL", name)
	}
	if !strings.HasPrefix(secret, "whsec_") {
		return nil, fmt.Errorf("webhook: endpoint %s: secret must start with whsec_", name)
	}
	signer, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("webhook: endpoint %s: secret: %w", name, err)
	}
	e := &Endpoint{Name: name, URL: u, Concurrency: concurrency, signer: signer}
	if len(events) > 0 {
		e.Events = map[string]bool{}
		for _, t := range events {
			e.Events[t] = true
		}
	}
	return e, nil
}

// Wants reports whether the endpoint takes events of type t: those its
// filter names, or without a filter every type but the opt-in ones.
func (e *Endpoint) Wants(t string) bool {
	if e.Events == nil {
		return !event.Type(t).OptIn()
	}
	return e.Events[t]
}

// Result is what one attempt found out.
type Result struct {
	StatusCode int
	Duration   time.Duration
	// Err is the failure: a network error, or the non-2xx status.
	Err error
	// Retry is set for failures worth trying again: network errors and
	// 408, 425, 429 and 5xx answers.
	Retry bool
	// Gone is set when the endpoint answered 410: it asks to be disabled.
	Gone bool
	// RetryAfter is the wait the endpoint asked for, or 0.
	RetryAfter time.Duration
	// Response is the start of the response body, valid UTF-8.
	Response string
}

// responseExcerpt bounds what is kept of a response body.
const responseExcerpt = 1024

// maxDrain bounds how much of a response is read so that the connection
// can be reused; a larger body closes it.
const maxDrain = 64 << 10

// Send makes one signed POST of payload, with msgID as webhook-id.
func Send(ctx context.Context, client *http.Client, e *Endpoint, msgID string, payload []byte, userAgent string) Result {
	start := time.Now()
	ts := start
	sig, err := e.signer.Sign(msgID, ts, payload)
	if err != nil {
		return Result{Err: fmt.Errorf("sign: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL.String(), bytes.NewReader(payload))
	if err != nil {
		return Result{Err: fmt.Errorf("request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(standardwebhooks.HeaderWebhookID, msgID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)

	resp, err := client.Do(req)
	if err != nil {
		return Result{Duration: time.Since(start), Err: redactErr(err), Retry: true}
	}
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, responseExcerpt))
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	r := Result{StatusCode: resp.StatusCode, Duration: time.Since(start), Response: cleanExcerpt(excerpt)}
	classify(&r, resp)
	return r
}

// classify sets Err, Retry, Gone and RetryAfter from the status code.
func classify(r *Result, resp *http.Response) {
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return
	case code == http.StatusGone:
		r.Gone = true
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		r.Retry = true
		r.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case code >= 300 && code < 400:
		r.Err = fmt.Errorf("endpoint answered %d (redirects are not followed: configure the final URL)", code)
		return
	}
	r.Err = fmt.Errorf("endpoint answered %d %s", code, http.StatusText(code))
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redactErr keeps the URL, which may carry a token, out of the error.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("timed out")
	}
	return err
}

// cleanExcerpt makes a response excerpt safe to store and log as text: a
// rune the excerpt's limit cut in two becomes U+FFFD.
func cleanExcerpt(b []byte) string {
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// requestWriteBuffer is the size of a delivery connection's write buffer.
const requestWriteBuffer = 32 << 10

// NewClient returns the HTTP client for deliveries: bounded timeouts, no
// redirects (a signed body must not land somewhere else), proxies from
// the environment.
func NewClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.ResponseHeaderTimeout = timeout
	// A request of up to 32 KiB goes out in one write: order events run
	// to 7 KiB and more, and the default 4 KiB buffer wrote them in two.
	tr.WriteBufferSize = requestWriteBuffer
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
