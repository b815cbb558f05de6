package smtpd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// transaction opens a session and starts a transaction to one recipient.
func transaction(t *testing.T, addr string) *dialog {
	d := dial(t, addr).greet()
	d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
	d.expect("RCPT TO:<orders@in.example.test>", "250 ")
	return d
}

// TestMessageLimits: each limit on a message answers with its own code.
func TestMessageLimits(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{MaxMessageBytes: 4096, MaxRecipients: 2, MaxLineLength: 1000, MaxHeaderBytes: 1024, MaxReceived: 3})
	addr := srv.Addr().String()
	data := func(t *testing.T, msg, want string) *dialog {
		d := transaction(t, addr)
		d.expect("DATA", "354 ")
		d.send(msg + ".\r\n")
		d.expect("", want)
		return d
	}
	received := func(n int) string {
		return strings.Repeat("Received: from a.example by b.example; Wed, 26 Nov 2025 10:00:00 +0900\r\n", n)
	}

	t.Run("SIZE above the limit", func(t *testing.T) {
		d := dial(t, addr).greet()
		if got := d.expect("EHLO again.example", "250"); !strings.Contains(got, "SIZE 4096") {
			t.Errorf("EHLO does not advertise SIZE 4096: %q", got)
		}
		d.expect("MAIL FROM:<qoo10info@qoo10.jp> SIZE=5000", "552 5.3.4")
	})
	t.Run("message above the limit", func(t *testing.T) {
		d := data(t, mail("big")+strings.Repeat("0123456789abcdef\r\n", 300), "552 5.3.4")
		// The session goes on.
		d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
	})
	t.Run("too many recipients", func(t *testing.T) {
		d := transaction(t, addr)
		d.expect("RCPT TO:<b@in.example.test>", "250 ")
		d.expect("RCPT TO:<c@in.example.test>", "452 4.5.3")
	})
	t.Run("command line too long", func(t *testing.T) {
		d := dial(t, addr).greet()
		d.expect("MAIL FROM:<"+strings.Repeat("a", 1200)+"@qoo10.jp>", "500 5.4.0")
		d.eof()
	})
	t.Run("data line too long", func(t *testing.T) {
		d := data(t, mail("long")+strings.Repeat("x", 1200)+"\r\n", "500 5.4.0")
		d.expect("", "500 5.4.0")
		d.eof()
	})
	t.Run("header too big", func(t *testing.T) {
		filler := "X-Filler: " + strings.Repeat("y", 600) + "\r\n"
		data(t, filler+filler+mail("header"), "552 5.3.4 Message header too big")
	})
	t.Run("received loop", func(t *testing.T) {
		data(t, received(4)+mail("loop"), "554 5.4.6")
	})
	t.Run("received at the limit", func(t *testing.T) {
		data(t, received(3)+mail("hops"), "250 ")
	})
	t.Run("received in the body does not count", func(t *testing.T) {
		data(t, mail("body")+received(5), "250 ")
	})
	t.Run("MIME too complex", func(t *testing.T) {
		srv.sink.mu.Lock()
		srv.sink.err = fmt.Errorf("ingest: %w", ErrTooComplex)
		srv.sink.mu.Unlock()
		defer func() {
			srv.sink.mu.Lock()
			srv.sink.err = nil
			srv.sink.mu.Unlock()
		}()
		data(t, mail("complex"), "554 5.6.0")
	})
	for _, m := range srv.sink.all() {
		if s := string(m.raw); strings.Contains(s, "Subject: big") || strings.Contains(s, "Subject: loop") || strings.Contains(s, "Subject: header") {
			t.Errorf("a refused mail was stored: %.60q", s)
		}
	}
}

// TestTimeouts: an idle client is dropped with 421 4.4.2 (go-smtp), a DATA
// transfer that outlasts data_timeout gets 451 4.4.2.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{IdleTimeout: 300 * time.Millisecond, DataTimeout: 500 * time.Millisecond})
	d := dial(t, srv.Addr().String())
	d.expect("", "220 ")
	d.expect("", "421 4.4.2")
	d.eof()

	d = dial(t, srv.Addr().String()).greet()
	d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
	d.expect("RCPT TO:<orders@in.example.test>", "250 ")
	d.expect("DATA", "354 ")
	start := time.Now()
	d.send("Subject: slow\r\n") // and nothing more
	d.expect("", "451 4.4.2")
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("DATA timeout took %s", el)
	}
}

// TestConnectionLimits: over the per-client or the total limit a client
// gets 421 4.7.0 at connect and is closed; a slot is free again as soon
// as its connection ends.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{MaxConnections: 3, MaxConnectionsPerIP: 2})
	addr := srv.Addr().String()
	a1 := dialFrom(t, addr, "127.0.0.1")
	a1.expect("", "220 ")
	a2 := dialFrom(t, addr, "127.0.0.1")
	a2.expect("", "220 ")
	a3 := dialFrom(t, addr, "127.0.0.1")
	a3.expect("", "421 4.7.0")
	a3.eof()
	b1 := dialFrom(t, addr, "127.0.0.2")
	b1.expect("", "220 ")
	c1 := dialFrom(t, addr, "127.0.0.3")
	c1.expect("", "421 4.7.0")
	c1.eof()
	if got := testutil.ToFloat64(srv.metrics.connRefused.WithLabelValues("per_ip")); got != 1 {
		t.Errorf("per_ip refusals = %v, want 1", got)
	}
	if got := testutil.ToFloat64(srv.metrics.connRefused.WithLabelValues("total")); got != 1 {
		t.Errorf("total refusals = %v, want 1", got)
	}
	// QUIT; the server closes, which frees the slot before the client
	// sees EOF.
	a1.expect("EHLO a.example", "250")
	a1.expect("QUIT", "221 ")
	a1.eof()
	a4 := dialFrom(t, addr, "127.0.0.1").greet()
	a4.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
}

// TestTransactionRate: beyond max_transactions_per_minute a client's MAIL
// gets 451 4.7.0; another client is not affected.
func TestTransactionRate(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{MaxTransactionsPerMinute: 3})
	d := dialFrom(t, srv.Addr().String(), "127.0.0.4").greet()
	for range 3 {
		d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
		d.expect("RSET", "250 ")
	}
	d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "451 4.7.0")
	other := dialFrom(t, srv.Addr().String(), "127.0.0.5").greet()
	other.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
}

func TestRateLimiterRefills(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	r := newRateLimiter(60)
	r.now = func() time.Time { return now }
	key := clientKey(dummyAddr("192.0.2.1:25"))
	for range 60 {
		if !r.allow(key) {
			t.Fatal("refused within the burst")
		}
	}
	if r.allow(key) {
		t.Fatal("allowed beyond the burst")
	}
	now = now.Add(time.Second)
	if !r.allow(key) || r.allow(key) {
		t.Fatal("one second should refill exactly one token at 60/min")
	}
	// IPv6 clients count by /64.
	if clientKey(dummyAddr("[2001:db8::1]:25")) != clientKey(dummyAddr("[2001:db8::ffff]:25")) {
		t.Error("two addresses of one /64 count apart")
	}
}

type dummyAddr string

func (a dummyAddr) Network() string { return "tcp" }
func (a dummyAddr) String() string  { return string(a) }

// TestSmugglingNeverSplits sends, inside one DATA, a fake end of data with
// bare line endings followed by a second transaction. go-smtp's reader
// ends DATA only at CRLF.CRLF, so exactly one mail is stored, the bytes
// after each fake end are inside it, and the attempt is counted.
func TestSmugglingNeverSplits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, end, kind string
	}{
		{"LF.LF", "\n.\n", "fake_end"},
		{"LF.CRLF", "\n.\r\n", "fake_end"},
		{"CR.CR", "\r.\r", "fake_end"},
		{"CRLF.LF", "\r\n.\n", "lf"},
		// go-smtp's reader drops a "." and a CR after CRLF when no LF
		// follows: nothing of the attempt is left in the message to count.
		{"CRLF.CR", "\r\n.\r", ""},
		{"CR.CRLF", "\r.\r\n", "fake_end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := start(t, Config{})
			d := dial(t, srv.Addr().String()).greet()
			d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
			d.expect("RCPT TO:<orders@in.example.test>", "250 ")
			d.expect("DATA", "354 ")
			smuggled := "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<orders@in.example.test>\r\nDATA\r\n" +
				"Subject: smuggled order\r\n\r\nforged\r\n"
			d.send("Subject: first\r\n\r\nhello" + tc.end + smuggled + ".\r\n")
			d.expect("", "250 ")
			d.expect("QUIT", "221 ")
			d.eof()
			m := srv.sink.all()
			if len(m) != 1 {
				t.Fatalf("%d mails stored, want 1", len(m))
			}
			if !bytes.Contains(m[0].raw, []byte(smuggled)) {
				t.Errorf("the bytes after the fake end are not in the mail: %q", m[0].raw)
			}
			if tc.kind == "" {
				return
			}
			if got := testutil.ToFloat64(srv.metrics.lineEndings.WithLabelValues(tc.kind)); got != 1 {
				t.Errorf("bare line endings{kind=%s} = %v, want 1", tc.kind, got)
			}
		})
	}
}

func TestScanLineEndings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw  string
		want lineEndings
	}{
		{"a\r\nb\r\n", lineEndings{longest: 1}},
		{"a\r\n.\r\nb\r\n", lineEndings{longest: 1}}, // a dot-stuffed "." line
		{"a\nb", lineEndings{bareLF: true, longest: 1}},
		{"a\rb", lineEndings{bareCR: true, longest: 3}}, // a bare CR ends no line
		{"a\n.\nb", lineEndings{bareLF: true, fakeEnd: true, longest: 1}},
		{"a\r\n.\rb", lineEndings{bareCR: true, fakeEnd: true, longest: 3}},
		{"abc\r\nabcdef\r\nab", lineEndings{longest: 6}},
		{"abc\r\nabcdefg\r", lineEndings{bareCR: true, longest: 7}},
		{"", lineEndings{}},
	} {
		if got := scanLineEndings([]byte(tc.raw)); got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.raw, got, tc.want)
		}
	}
}

// TestBDATLimits: a message sent in BDAT chunks meets the same whole-
// transfer time limit and line limit as one sent with DATA, although
// go-smtp re-arms its idle timeout at every chunk and does not limit lines
// inside them.
func TestBDATLimits(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{IdleTimeout: time.Second, DataTimeout: 1500 * time.Millisecond, MaxLineLength: 1000})
	addr := srv.Addr().String()
	bdat := func(d *dialog, chunk string, last bool) string {
		cmd := fmt.Sprintf("BDAT %d", len(chunk))
		if last {
			cmd += " LAST"
		}
		d.send(cmd + "\r\n")
		// Apart from the command, as go-smtp reads a chunk that came in
		// with it under the command's line limit.
		time.Sleep(50 * time.Millisecond)
		d.send(chunk)
		return d.reply()
	}

	t.Run("trickled past the DATA timeout", func(t *testing.T) {
		t.Parallel()
		d := transaction(t, addr)
		if got := bdat(d, "Subject: bdat-slow\r\n", false); !strings.HasPrefix(got, "250 ") {
			t.Fatalf("first chunk: %q", got)
		}
		start := time.Now()
		got := ""
		// Each chunk comes within the idle timeout, the whole transfer
		// does not come within the DATA timeout.
		for i := 0; i < 10 && time.Since(start) < 5*time.Second; i++ {
			time.Sleep(400 * time.Millisecond)
			if got = bdat(d, "X-Pad: 0123456789\r\n", false); !strings.HasPrefix(got, "250 ") {
				break
			}
		}
		if !strings.HasPrefix(got, "451 4.4.2") {
			t.Errorf("a BDAT transfer past the DATA timeout: last reply %q, want 451 4.4.2", got)
		}
	})
	t.Run("line too long", func(t *testing.T) {
		t.Parallel()
		d := transaction(t, addr)
		got := bdat(d, mail("bdat-long")+strings.Repeat("x", 1200)+"\r\n", true)
		if !strings.HasPrefix(got, "500 5.4.0") {
			t.Errorf("a BDAT chunk with a 1,200-character line: %q, want 500 5.4.0", got)
		}
	})
	t.Run("within the limits", func(t *testing.T) {
		t.Parallel()
		d := transaction(t, addr)
		if got := bdat(d, mail("bdat-ok")+strings.Repeat("x", 900)+"\r\n", true); !strings.HasPrefix(got, "250 ") {
			t.Errorf("a BDAT mail within the limits: %q", got)
		}
	})
	t.Cleanup(func() {
		for _, m := range srv.sink.all() {
			if s := string(m.raw); strings.Contains(s, "bdat-slow") || strings.Contains(s, "bdat-long") {
				t.Errorf("a refused BDAT mail was stored: %.60q", s)
			}
		}
	})
}
