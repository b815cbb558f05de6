package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// A resolver that never answers makes Check return within Timeout, with
// temperror verdicts, whether it honours its context or ignores it. The
// bubble's virtual clock makes the bound exact whatever else the machine
// is doing.
func TestDeadResolverWithinTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name          string
		mode          fakeMode
		lookupTimeout time.Duration
		want          time.Duration // how long Check takes
	}{
		{"hangs until ctx is done, budget first", modeHang, time.Minute, timeout},
		{"ignores ctx, budget first", modeBlackhole, time.Minute, timeout},
		{"hangs until ctx is done, lookup timeout first", modeHang, timeout / 3, timeout / 3},
		{"ignores ctx, lookup timeout first", modeBlackhole, timeout / 3, timeout / 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				dns := newWorld(t)
				// A bubble must end with no goroutine blocked for good.
				defer dns.release()
				dns.setMode(tt.mode)
				c := New(Options{Resolver: dns, Timeout: timeout, LookupTimeout: tt.lookupTimeout})
				start := time.Now()
				r := c.Check(t.Context(), deadDNSInput(t))
				if el := time.Since(start); el != tt.want {
					t.Errorf("Check took %v, want %v", el, tt.want)
				}
				assertAllTempError(t, r)
				if got, want := errors.Is(r.Err, ErrBudget), tt.want == timeout; got != want {
					t.Errorf("errors.Is(Err, ErrBudget) = %v, want %v; Err: %v", got, want, r.Err)
				}

				// The next mail asks the dead resolver nothing new: it
				// joins the lookups still stuck, or, once they have timed
				// out, is answered from the cached failure at once.
				lookups := dns.total()
				start = time.Now()
				r = c.Check(t.Context(), deadDNSInput(t))
				assertAllTempError(t, r)
				if n := dns.total() - lookups; n != 0 {
					t.Errorf("second Check made %d lookups", n)
				}
				want := time.Duration(0)
				if tt.want == timeout {
					want = timeout
				}
				if el := time.Since(start); el != want {
					t.Errorf("second Check took %v, want %v", el, want)
				}
			})
		})
	}
}

// The same on the real clock: Check returns within twice the budget, by
// a channel rather than a sleep.
func TestDeadResolverRealClock(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	dns := newWorld(t)
	dns.setMode(modeBlackhole)
	c := New(Options{Resolver: dns, Timeout: timeout})
	in := deadDNSInput(t)
	start := time.Now()
	done := make(chan Result, 1)
	go func() { done <- c.Check(t.Context(), in) }()
	select {
	case r := <-done:
		if el := time.Since(start); el >= 2*timeout {
			t.Errorf("Check took %v", el)
		}
		assertAllTempError(t, r)
	case <-time.After(2 * timeout):
		t.Fatalf("Check still running after %v", 2*timeout)
	}
}

func deadDNSInput(t testing.TB) Input {
	return Input{RemoteIP: qoo10IP, Helo: "mta.qoo10.jp", MailFrom: "bounce@qoo10.jp",
		Message: sign(t, testMail("<no-reply@qoo10.jp>"), "qoo10.jp", "s1", rsaKey())}
}

func assertAllTempError(t *testing.T, r Result) {
	t.Helper()
	for name, v := range map[string]string{"SPF": r.SPF.Result, "DKIM": r.DKIM.Result, "DMARC": r.DMARC.Result} {
		if v != TempError {
			t.Errorf("%s = %s, want temperror", name, v)
		}
	}
	if r.Aligned([]string{"qoo10.jp"}) || !r.Temporary() {
		t.Errorf("aligned %v, temporary %v without DNS", r.Aligned([]string{"qoo10.jp"}), r.Temporary())
	}
}

// The caller's own cancellation (the SMTP session going away) ends Check
// at once too.
func TestCheckHonoursCallerContext(t *testing.T) {
	t.Parallel()
	dns := newWorld(t)
	dns.setMode(modeHang)
	c := New(Options{Resolver: dns, Timeout: time.Hour, LookupTimeout: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	dns.entered = make(chan string, 16)
	done := make(chan Result, 1)
	go func() {
		done <- c.Check(ctx, Input{RemoteIP: qoo10IP, MailFrom: "bounce@qoo10.jp", Message: testMail("<no-reply@qoo10.jp>")})
	}()
	<-dns.entered // a lookup is under way
	cancel()
	r := <-done
	if r.SPF.Result != TempError || !errors.Is(r.Err, context.Canceled) {
		t.Errorf("SPF %+v, Err %v", r.SPF, r.Err)
	}
}

func TestCacheAvoidsSecondLookup(t *testing.T) {
	t.Parallel()
	dns := newWorld(t)
	c := checker(dns)
	in := Input{RemoteIP: qoo10IP, MailFrom: "bounce@qoo10.jp",
		Message: sign(t, testMail("<no-reply@nodmarc.example>"), "qoo10.jp", "s1", rsaKey())}
	first := c.Check(t.Context(), in)
	n := dns.total()
	second := c.Check(t.Context(), in)
	if got := dns.total(); got != n {
		t.Errorf("second Check made %d lookups", got-n)
	}
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("cached result differs:\n%+v\n%+v", first, second)
	}
	for _, name := range []string{"qoo10.jp", "_spf.qoo10.jp", "s1._domainkey.qoo10.jp", "_dmarc.nodmarc.example"} {
		if got := dns.count("txt", name); got != 1 {
			t.Errorf("%s looked up %d times, want 1", name, got)
		}
	}
}

// clock is a settable time source for TTL tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestCacheTTLs(t *testing.T) {
	t.Parallel()
	dns := newWorld(t)
	c := New(Options{Resolver: dns, CacheTTL: time.Minute, TempErrorTTL: 5 * time.Second})
	clk := &clock{t: time.Unix(1e9, 0)}
	c.dns.now = clk.now
	ctx := t.Context()
	lookup := func(name string) {
		t.Helper()
		_, err := c.dns.LookupTXT(ctx, name)
		_ = err
	}
	for _, name := range []string{"qoo10.jp", "nxdomain.example", "tempfail.example"} {
		lookup(name)
		lookup(name)
		if got := dns.count("txt", name); got != 1 {
			t.Errorf("%s: %d lookups, want 1 (cached)", name, got)
		}
	}
	clk.add(6 * time.Second) // past TempErrorTTL
	for name, want := range map[string]int{"qoo10.jp": 1, "nxdomain.example": 1, "tempfail.example": 2} {
		lookup(name)
		if got := dns.count("txt", name); got != want {
			t.Errorf("after 6s, %s: %d lookups, want %d", name, got, want)
		}
	}
	clk.add(time.Minute) // past CacheTTL
	for name, want := range map[string]int{"qoo10.jp": 2, "nxdomain.example": 2} {
		lookup(name)
		if got := dns.count("txt", name); got != want {
			t.Errorf("after 66s, %s: %d lookups, want %d", name, got, want)
		}
	}
}

func TestCacheBounded(t *testing.T) {
	t.Parallel()
	dns := newWorld(t)
	c := New(Options{Resolver: dns, CacheSize: 2})
	ctx := t.Context()
	for _, name := range []string{"a.example", "b.example", "c.example", "c.example", "b.example", "a.example"} {
		c.dns.LookupTXT(ctx, name)
	}
	// Eviction is oldest written first: c evicts a; the hits on c and b
	// do not reorder; a's second lookup evicts b.
	for name, want := range map[string]int{"a.example": 2, "b.example": 1, "c.example": 1} {
		if got := dns.count("txt", name); got != want {
			t.Errorf("%s: %d lookups, want %d", name, got, want)
		}
	}
	if n := c.dns.order.Len(); n != 2 || len(c.dns.entries) != 2 {
		t.Errorf("cache holds %d/%d entries, want 2", n, len(c.dns.entries))
	}
}

func TestCacheDisabled(t *testing.T) {
	t.Parallel()
	dns := newWorld(t)
	c := New(Options{Resolver: dns, CacheTTL: -1, TempErrorTTL: -1})
	for range 2 {
		c.dns.LookupTXT(t.Context(), "qoo10.jp")
	}
	if got := dns.count("txt", "qoo10.jp"); got != 2 {
		t.Errorf("%d lookups, want 2", got)
	}
}

// Concurrent identical lookups share one upstream query.
func TestLookupsCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dns := newWorld(t)
		dns.gate = make(chan struct{})
		c := New(Options{Resolver: dns, CacheTTL: -1, TempErrorTTL: -1})
		var wg sync.WaitGroup
		answers := make([][]string, 10)
		for i := range answers {
			wg.Go(func() { answers[i], _ = c.dns.LookupTXT(t.Context(), "_dmarc.qoo10.jp") })
		}
		synctest.Wait() // all ten are waiting
		close(dns.gate)
		wg.Wait()
		if got := dns.count("txt", "_dmarc.qoo10.jp"); got != 1 {
			t.Errorf("%d upstream lookups, want 1", got)
		}
		for i, a := range answers {
			if len(a) != 1 {
				t.Errorf("caller %d got %q", i, a)
			}
		}
	})
}

// errResolver fails every lookup with err.
type errResolver struct{ err error }

func (r errResolver) LookupTXT(context.Context, string) ([]string, error)        { return nil, r.err }
func (r errResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) { return nil, r.err }
func (r errResolver) LookupMX(context.Context, string) ([]*net.MX, error)        { return nil, r.err }
func (r errResolver) LookupAddr(context.Context, string) ([]string, error)       { return nil, r.err }

// The SPF, DKIM and DMARC packages tell failures apart by asserting
// *net.DNSError; whatever a resolver returns reaches them as one, and
// only NXDOMAIN is permanent.
func TestLookupErrorsShaped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		notFound bool
	}{
		{"NXDOMAIN", &net.DNSError{Err: "no such host", IsNotFound: true}, true},
		{"wrapped NXDOMAIN", fmt.Errorf("x: %w", &net.DNSError{Err: "no such host", IsNotFound: true}), true},
		{"SERVFAIL", &net.DNSError{Err: "server misbehaving", IsTemporary: true}, false},
		{"permanent-looking DNS error", &net.DNSError{Err: "cannot unmarshal DNS message"}, false},
		{"plain context error", context.DeadlineExceeded, false},
		{"other error", errors.New("connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := New(Options{Resolver: errResolver{tt.err}})
			_, err := c.dns.LookupTXT(t.Context(), "x.example")
			de, ok := err.(*net.DNSError)
			if !ok {
				t.Fatalf("error %T %v, want a bare *net.DNSError", err, err)
			}
			if de.IsNotFound != tt.notFound || de.Temporary() == tt.notFound {
				t.Errorf("IsNotFound %v, Temporary %v", de.IsNotFound, de.Temporary())
			}
			r := c.Check(t.Context(), Input{RemoteIP: qoo10IP, MailFrom: "x@x.example", Message: testMail("<a@x.example>")})
			want := TempError
			if tt.notFound {
				want = None
			}
			if r.SPF.Result != want || r.DMARC.Result != want {
				t.Errorf("SPF %s, DMARC %s, want %s", r.SPF.Result, r.DMARC.Result, want)
			}
		})
	}
}

type panicResolver struct{ errResolver }

func (panicResolver) LookupTXT(context.Context, string) ([]string, error) { panic("resolver bug") }

// A panicking resolver costs temperror verdicts, not the process.
func TestResolverPanicContained(t *testing.T) {
	t.Parallel()
	c := New(Options{Resolver: panicResolver{}})
	r := c.Check(t.Context(), Input{RemoteIP: qoo10IP, MailFrom: "bounce@qoo10.jp",
		Message: sign(t, testMail("<no-reply@qoo10.jp>"), "qoo10.jp", "s1", rsaKey())})
	assertAllTempError(t, r)
}

func TestRecoverTo(t *testing.T) {
	t.Parallel()
	var v string
	var err error
	func() {
		defer recoverTo("spf", &err, func() { v = TempError })
		panic("library bug")
	}()
	if v != TempError || err == nil || !strings.Contains(err.Error(), "mailauth: spf: internal error: library bug") {
		t.Errorf("v %q, err %v", v, err)
	}
}
