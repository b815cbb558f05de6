package mailauth

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
)

// fakeMode switches how every lookup of a fakeDNS behaves.
type fakeMode int32

const (
	modeAnswer    fakeMode = iota // answer from the maps
	modeServfail                  // every lookup fails temporarily
	modeHang                      // block until the lookup's ctx is done (or release), then return ctx.Err()
	modeBlackhole                 // block, ignoring ctx, until release
)

// fakeDNS is a Resolver serving records from maps. The maps are filled
// before use and only read afterwards. It counts lookups per "kind name".
type fakeDNS struct {
	txt      map[string][]string
	ip       map[string][]net.IPAddr
	servfail map[string]bool // names that fail temporarily in modeAnswer

	mode atomic.Int32 // a fakeMode
	// gate, when set before use, holds every lookup until it is closed.
	gate chan struct{}
	// entered receives the name of each lookup when non-nil.
	entered chan string
	// hole is closed by release, releasing modeBlackhole lookups.
	hole     chan struct{}
	holeOnce sync.Once

	mu    sync.Mutex
	calls map[string]int
}

func newFakeDNS() *fakeDNS {
	return &fakeDNS{
		txt:      map[string][]string{},
		ip:       map[string][]net.IPAddr{},
		servfail: map[string]bool{},
		hole:     make(chan struct{}),
		calls:    map[string]int{},
	}
}

// release ends the lookups held by modeHang and modeBlackhole; newWorld
// calls it when the test ends.
func (f *fakeDNS) release() { f.holeOnce.Do(func() { close(f.hole) }) }

func (f *fakeDNS) setMode(m fakeMode) { f.mode.Store(int32(m)) }

func (f *fakeDNS) addTXT(name string, records ...string) {
	f.txt[name] = append(f.txt[name], records...)
}

func (f *fakeDNS) addIP(name string, ips ...string) {
	for _, s := range ips {
		f.ip[name] = append(f.ip[name], net.IPAddr{IP: net.ParseIP(s)})
	}
}

// count returns how often kind ("txt", "ip", "mx", "ptr") was looked up
// for name.
func (f *fakeDNS) count(kind, name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[kind+" "+name]
}

func (f *fakeDNS) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// begin counts the lookup and applies the mode; a nil error means answer
// from the maps.
func (f *fakeDNS) begin(ctx context.Context, kind, name string) error {
	f.mu.Lock()
	f.calls[kind+" "+name]++
	f.mu.Unlock()
	if f.entered != nil {
		f.entered <- name
	}
	switch fakeMode(f.mode.Load()) {
	case modeServfail:
		return &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	case modeHang:
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.hole:
			return &net.DNSError{Err: "i/o timeout", Name: name, IsTimeout: true}
		}
	case modeBlackhole:
		<-f.hole
		return &net.DNSError{Err: "i/o timeout", Name: name, IsTimeout: true}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.servfail[name] {
		return &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	return nil
}

func norm(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func (f *fakeDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	name = norm(name)
	if err := f.begin(ctx, "txt", name); err != nil {
		return nil, err
	}
	r, ok := f.txt[name]
	if !ok {
		return nil, notFound(name)
	}
	return r, nil
}

func (f *fakeDNS) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	host = norm(host)
	if err := f.begin(ctx, "ip", host); err != nil {
		return nil, err
	}
	r, ok := f.ip[host]
	if !ok {
		return nil, notFound(host)
	}
	return r, nil
}

func (f *fakeDNS) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	name = norm(name)
	if err := f.begin(ctx, "mx", name); err != nil {
		return nil, err
	}
	return nil, notFound(name)
}

func (f *fakeDNS) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	if err := f.begin(ctx, "ptr", addr); err != nil {
		return nil, err
	}
	return nil, notFound(addr)
}
