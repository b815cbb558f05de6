package smtpd

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/qoo10hook/qoo10hook/mailauth"
	"github.com/qoo10hook/qoo10hook/route"
)

// sessionBound is how long one fuzzed session may last once the client
// has sent everything and closed its side.
const sessionBound = 10 * time.Second

// fuzzSink refuses nothing and remembers any mail stored for a recipient
// the routes do not accept.
type fuzzSink struct {
	rcpts  *route.Table
	mu     sync.Mutex
	wrong  []string
	stored atomic.Int64
}

func (f *fuzzSink) Deliver(_ context.Context, env *Envelope, _ []byte) error {
	f.stored.Add(1)
	for _, r := range env.Rcpts {
		if _, ok := f.rcpts.Lookup(r); !ok {
			f.mu.Lock()
			f.wrong = append(f.wrong, r)
			f.mu.Unlock()
		}
	}
	return nil
}

// panicWatch is a log handler that keeps nothing but whether go-smtp
// reported a recovered panic.
type panicWatch struct {
	panics atomic.Int64
	first  atomic.Pointer[string]
	// known counts the one panic go-smtp v0.25.1 has on its own: when a
	// connection ends right after a BDAT command, the goroutine it started
	// for the chunk calls Session().Data after Close set the session to
	// nil. go-smtp recovers it and nothing of ours runs; it is counted,
	// not failed.
	known atomic.Int64
}

func (p *panicWatch) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicWatch) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		if strings.Contains(r.Message, "go-smtp.(*Conn).handleBdat.func1()") && !strings.Contains(r.Message, "qoo10hook") {
			p.known.Add(1)
			return nil
		}
		p.panics.Add(1)
		msg := r.Message
		p.first.CompareAndSwap(nil, &msg)
	}
	return nil
}
func (p *panicWatch) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicWatch) WithGroup(string) slog.Handler      { return p }

// nxResolver answers every name with NXDOMAIN, so the tag route's sender
// checks run without a network.
type nxResolver struct{}

func nx(name string) error                                                 { return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true} }
func (nxResolver) LookupTXT(_ context.Context, n string) ([]string, error) { return nil, nx(n) }
func (nxResolver) LookupIPAddr(_ context.Context, n string) ([]net.IPAddr, error) {
	return nil, nx(n)
}
func (nxResolver) LookupMX(_ context.Context, n string) ([]*net.MX, error) { return nil, nx(n) }
func (nxResolver) LookupAddr(_ context.Context, n string) ([]string, error) {
	return nil, nx(n)
}

// FuzzSMTPSession drives a real session over loopback with the bytes of
// a whole client dialogue, then closes the client's side. The session
// must end within sessionBound, no handler may panic (go-smtp recovers
// and logs them: they are counted), and no mail may be stored for a
// recipient the routes refuse.
func FuzzSMTPSession(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	cert, _, _ := testCertificate(f)
	hash, _ := bcrypt.GenerateFromPassword([]byte(relayPassword), bcrypt.MinCost)
	watch := &panicWatch{}
	sink := &fuzzSink{rcpts: testRoutes()}
	s := New(Config{Addr: "127.0.0.1:0", Hostname: "mx.test", MaxMessageBytes: 64 << 10, MaxLineLength: 2000,
		MaxHeaderBytes: 8 << 10, MaxReceived: 5, IdleTimeout: 2 * time.Second, DataTimeout: 3 * time.Second,
		MaxConnections: 10_000, MaxConnectionsPerIP: 10_000, MaxTransactionsPerMinute: 1 << 30,
		Certificate: cert, Users: []User{{Name: "relay", Hash: hash}},
		Checker: mailauth.New(mailauth.Options{Resolver: nxResolver{}, Timeout: time.Second}),
	}, sink, testRoutes(), NewMetrics(prometheus.NewRegistry()), slog.New(watch))
	if err := s.Listen(); err != nil {
		f.Fatal(err)
	}
	go s.Serve()
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	addr := s.Addr().String()

	f.Fuzz(func(t *testing.T, in []byte) {
		// A source address of its own for each session keeps loopback
		// from running out of ports to TIME_WAIT; closing with linger 0
		// (after the server's EOF) leaves none behind.
		var b [3]byte
		rand.Read(b[:])
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, b[0]|1, b[1], b[2]|1)}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Skipf("dial: %v", err)
		}
		c := conn.(*net.TCPConn)
		defer func() {
			c.SetLinger(0)
			c.Close()
		}()
		c.SetDeadline(time.Now().Add(sessionBound + 5*time.Second))
		done := make(chan struct{})
		go func() {
			io.Copy(io.Discard, c)
			close(done)
		}()
		c.Write(in) // the server may have hung up already
		c.CloseWrite()
		select {
		case <-done:
		case <-time.After(sessionBound):
			t.Fatalf("the session did not end within %s of the client closing its side", sessionBound)
		}
		if n := watch.panics.Load(); n > 0 {
			t.Fatalf("%d panics recovered while serving; the first:\n%s", n, *watch.first.Load())
		}
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if len(sink.wrong) > 0 {
			t.Fatalf("mail stored for unrouted recipients %q", sink.wrong)
		}
	})
}

// fuzzSeeds are dialogues that reach every part of a session; the same
// are committed under testdata/fuzz/FuzzSMTPSession.
func fuzzSeeds() []string {
	msg := "From: Qoo10 <qoo10info@qoo10.jp>\r\nSubject: seed\r\n\r\nbody\r\n"
	v := vendorAddr("shop42")
	return []string{
		"EHLO a\r\nMAIL FROM:<qoo10info@qoo10.jp>\r\nRCPT TO:<orders@in.example.test>\r\nDATA\r\n" + msg + ".\r\nQUIT\r\n",
		"EHLO a\r\nMAIL FROM:<b@qoo10.jp> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<" + v + ">\r\nRCPT TO:<orders@strict.example.test>\r\nDATA\r\n" + msg + ".\r\n",
		"HELO a\r\nMAIL FROM:<>\r\nRCPT TO:<orders@strict.example.test>\r\nDATA\r\n" + msg + ".\r\nRSET\r\nNOOP\r\nVRFY x\r\nHELP\r\n",
		"EHLO a\r\nMAIL FROM:<x@y>\r\nRCPT TO:<@r.example:x@elsewhere.example>\r\nRCPT TO:<x%y@in.example.test>\r\nRCPT TO:<\"a@b\"@in.example.test>\r\nRCPT TO:<p@[127.0.0.1]>\r\nDATA\r\n",
		"EHLO a\r\nMAIL FROM:<x@y>\r\nRCPT TO:<orders@in.example.test>\r\nDATA\r\nSubject: s\r\n\r\nhello\n.\nMAIL FROM:<e@x>\r\nRCPT TO:<orders@in.example.test>\r\nDATA\r\nforged\r\n.\r\n",
		"EHLO a\r\nMAIL FROM:<x@y>\r\nRCPT TO:<orders@in.example.test>\r\nBDAT 10\r\n0123456789BDAT 5 LAST\r\nabcde",
		"EHLO a\r\nAUTH PLAIN AHJlbGF5AHJlbGF5LXBhc3N3b3Jk\r\nAUTH LOGIN\r\ncmVsYXk=\r\n*\r\nSTARTTLS\r\n\x16\x03\x01\x00\x05hello",
		"EHLO a\r\nMAIL FROM:<x@y>\r\nRCPT TO:<orders@in.example.test>\r\nDATA\r\nReceived: a\r\nReceived: b\r\nReceived: c\r\nReceived: d\r\nReceived: e\r\nReceived: f\r\n\r\nx\r\n.\r\n",
		"EHLO a\r\nMAIL FROM:<x@y>\r\nRCPT TO:<orders@in.example.test>\r\nDATA\r\n" + strings.Repeat("X-Long: "+strings.Repeat("y", 100)+"\r\n", 100) + "\r\n.\r\n",
		"\r\n\r\nGARBAGE\r\nMAIL\r\nRCPT\r\nDATA\r\nEHLO\r\nEHLO " + strings.Repeat("z", 3000) + "\r\n",
		"EHLO a\r\nMAIL FROM:<x@y> SMTPUTF8\r\nRCPT TO:<注文@in.example.test>\r\nRCPT TO:<" + strings.ToUpper(v) + ">\r\nDATA\r\n\r\n.\r\n",
	}
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzSMTPSession/seed-* from fuzzSeeds")

// TestFuzzSeedsCommitted keeps the committed corpus in step with
// fuzzSeeds; go test -run TestFuzzSeedsCommitted -update-seeds rewrites it.
func TestFuzzSeedsCommitted(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzSMTPSession")
	for i, s := range fuzzSeeds() {
		name := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
		want := "go test fuzz v1\n[]byte(" + strconv.Quote(s) + ")\n"
		if *updateSeeds {
			os.MkdirAll(dir, 0o755)
			if err := os.WriteFile(name, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (run with -update-seeds): %v", name, err)
		}
	}
}
