package mailauth

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// dnsCache puts a bounded TTL cache, coalescing of identical lookups and a
// per-lookup timeout in front of a Resolver. It is itself a Resolver, and
// the one the SPF, DKIM and DMARC code is given.
//
// It also shapes errors for those libraries: they tell a temporary failure
// from a permanent one with plain type assertions on *net.DNSError, so
// every error it returns is a bare *net.DNSError, and anything that is not
// NXDOMAIN (timeouts, SERVFAIL, a context error from a custom resolver)
// is marked temporary. Otherwise a dead resolver would turn into permerror
// verdicts, which blame the sender for our outage (RFC 7208 section 4.4).
type dnsCache struct {
	r             Resolver
	lookupTimeout time.Duration
	ttl, errTTL   time.Duration // <= 0: not cached
	size          int
	now           func() time.Time

	flights singleflight.Group

	mu      sync.Mutex
	entries map[string]*list.Element // of *cacheEntry
	order   *list.List               // oldest written at the front
}

type cacheEntry struct {
	key     string
	val     any
	err     error
	expires time.Time
}

func newDNSCache(r Resolver, lookupTimeout, ttl, errTTL time.Duration, size int) *dnsCache {
	return &dnsCache{
		r:             r,
		lookupTimeout: lookupTimeout,
		ttl:           ttl,
		errTTL:        errTTL,
		size:          size,
		now:           time.Now,
		entries:       make(map[string]*list.Element),
		order:         list.New(),
	}
}

func (d *dnsCache) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return lookup(ctx, d, "txt", name, d.r.LookupTXT)
}

func (d *dnsCache) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return lookup(ctx, d, "ip", host, d.r.LookupIPAddr)
}

func (d *dnsCache) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return lookup(ctx, d, "mx", name, d.r.LookupMX)
}

func (d *dnsCache) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return lookup(ctx, d, "ptr", addr, d.r.LookupAddr)
}

// lookup answers from the cache, or joins or starts the one flight for
// key. It returns when the answer arrives, when ctx (the mail's budget)
// ends, or after lookupTimeout, whichever is first, even if the resolver
// never returns. Answers are shared and must not be modified.
func lookup[T any](ctx context.Context, d *dnsCache, kind, name string, fn func(context.Context, string) (T, error)) (T, error) {
	var zero T
	key := kind + " " + strings.ToLower(strings.TrimSuffix(name, "."))
	if e, ok := d.get(key); ok {
		t, _ := e.val.(T)
		return t, e.err
	}
	if ctx.Err() != nil {
		return zero, budgetError(name)
	}
	ch := d.flights.DoChan(key, func() (any, error) {
		// The flight outlives the caller that started it: other mails
		// may be waiting for it, and its answer is worth caching. Its
		// own timeout bounds it.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.lookupTimeout)
		defer cancel()
		v, err := safeLookup(lctx, name, fn)
		err = dnsError(name, err)
		d.put(key, v, err)
		return v, err
	})
	wait := time.NewTimer(d.lookupTimeout)
	defer wait.Stop()
	select {
	case r := <-ch:
		t, _ := r.Val.(T)
		return t, r.Err
	case <-ctx.Done():
		return zero, budgetError(name)
	case <-wait.C:
		// The flight has outrun its own timeout, so the resolver ignores
		// its context. Let later callers start afresh rather than join a
		// lookup that may never end, but only after the failure has been
		// cached for errTTL: each fresh start may strand one more
		// goroutine in such a resolver.
		err := &net.DNSError{Err: "lookup timed out", Name: name, IsTimeout: true, IsTemporary: true}
		d.put(key, nil, err)
		d.flights.Forget(key)
		return zero, err
	}
}

// safeLookup calls fn, turning a panic of an injected resolver into an
// error: singleflight re-raises a panic where nothing can recover it.
func safeLookup[T any](ctx context.Context, name string, fn func(context.Context, string) (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("resolver panicked: %v", p)
		}
	}()
	return fn(ctx, name)
}

func budgetError(name string) error {
	return &net.DNSError{Err: ErrBudget.Error(), Name: name, IsTimeout: true, IsTemporary: true, UnwrapErr: ErrBudget}
}

// dnsError makes err a bare *net.DNSError that is either IsNotFound or
// temporary; see dnsCache.
func dnsError(name string, err error) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound || de.Temporary() {
			return de
		}
		c := *de
		c.IsTemporary = true
		return &c
	}
	return &net.DNSError{
		Err:         err.Error(),
		Name:        name,
		IsTimeout:   errors.Is(err, context.DeadlineExceeded),
		IsTemporary: true,
		UnwrapErr:   err,
	}
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// get returns the live entry for key. Entries are never modified after
// put, so the caller may read it without the lock.
func (d *dnsCache) get(key string) (*cacheEntry, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	el, ok := d.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !d.now().Before(e.expires) {
		d.order.Remove(el)
		delete(d.entries, key)
		return nil, false
	}
	return e, true
}

// put caches an answer. NXDOMAIN and empty answers are as stable as
// records and live as long; other failures only for errTTL, so that a
// burst of mails during an outage does not wait the full budget each,
// while a recovered DNS is used again soon.
func (d *dnsCache) put(key string, val any, err error) {
	ttl := d.ttl
	if err != nil && !isNotFound(err) {
		ttl = d.errTTL
	}
	if ttl <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.entries[key]; ok {
		d.order.Remove(el)
		delete(d.entries, key)
	}
	// Evicting the oldest written is evicting, near enough, the soonest
	// to expire, without a heap.
	for d.order.Len() >= d.size {
		old := d.order.Remove(d.order.Front()).(*cacheEntry)
		delete(d.entries, old.key)
	}
	e := &cacheEntry{key: key, val: val, err: err, expires: d.now().Add(ttl)}
	d.entries[key] = d.order.PushBack(e)
}
