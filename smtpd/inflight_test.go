package smtpd

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestInflightBudget: the messages held in memory by all sessions stay
// within smtp.max_inflight_bytes: a SIZE the budget cannot hold now gets
// 452 4.3.1 at MAIL (RFC 1870), a transaction without SIZE 452 4.3.1 at
// RCPT when the budget has no room for the largest message, a DATA whose
// bytes outgrow what was declared 452 4.3.1 after the message; once the
// mails in flight are stored, the room is back.
func TestInflightBudget(t *testing.T) {
	t.Parallel()
	const size = 900_000
	// Each small mail stored takes its size twice (its buffer, and the
	// copies storing makes): three fit in the 6 MiB that the turn to store
	// a large one (four times the largest, at most a quarter) leaves of
	// 8 MiB, not four.
	srv := start(t, Config{MaxMessageBytes: 1 << 20, MaxInflightBytes: 8 << 20})
	release := srv.sink.holdMails()
	defer release()
	addr := srv.Addr().String()
	body := mail("big") + strings.Repeat(strings.Repeat("x", 998)+"\r\n", size/1000)

	open := func(sizeParam string) *dialog { return sendData(t, addr, sizeParam, body) }
	// Three mails that declared their size are held in flight.
	held := []*dialog{open(" SIZE=900000"), open(" SIZE=900000"), open(" SIZE=900000")}
	for range held {
		<-srv.sink.entered
	}
	if used := testutil.ToFloat64(srv.metrics.inflight); used < 6*size || used > 6<<20 {
		t.Errorf("in flight: %v bytes, want three mails' worth within what small mails may take", used)
	}
	// A fourth does not fit: refused at MAIL when it declares its size,
	// at RCPT when it does not (it may be as large as the limit), after
	// its bytes when it declared less than it sends.
	dial(t, addr).greet().expect("MAIL FROM:<qoo10info@qoo10.jp> SIZE=900000", "452 4.3.1")
	d := dial(t, addr).greet()
	d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
	d.expect("RCPT TO:<orders@in.example.test>", "452 4.3.1")
	open(" SIZE=1000").expect("", "452 4.3.1")
	if used := testutil.ToFloat64(srv.metrics.inflight); used > 6<<20 {
		t.Errorf("in flight: %v bytes, over the budget", used)
	}

	release()
	for _, d := range held {
		d.expect("", "250 ")
	}
	// The room is back, for a mail that declares its size and one that
	// does not.
	open(" SIZE=900000").expect("", "250 ")
	open("").expect("", "250 ")
	if used := testutil.ToFloat64(srv.metrics.inflight); used != 0 {
		t.Errorf("in flight after the mails were stored: %v bytes, want 0", used)
	}
}

// TestMailBufferGrowth: a message without SIZE gets a buffer at most a
// quarter larger than itself (bytes.Buffer doubles), and its reservation
// is what the buffer holds.
func TestMailBufferGrowth(t *testing.T) {
	t.Parallel()
	bg := &budget{max: 64 << 20}
	for _, n := range []int{1, 16 << 10, 100_000, 1 << 20, 5_000_000} {
		m := newMailBuffer(bg, 0, 0, 10<<20)
		// A buffer from the pool may start larger than the mail needs
		// (another session grew it): it is not grown past that.
		start := cap(m.bytes())
		if _, err := m.readFrom(bytes.NewReader(make([]byte, n))); err != nil {
			t.Fatal(err)
		}
		if c := cap(m.bytes()); c > max(start, max(n+n/4, minBuffer)+growMin) || int64(c) != m.reserved || bg.used.Load() != int64(c) {
			t.Errorf("%d bytes: buffer of %d, %d reserved, %d used", n, c, m.reserved, bg.used.Load())
		}
		m.release()
		if bg.used.Load() != 0 {
			t.Errorf("%d bytes: %d still reserved after release", n, bg.used.Load())
		}
	}
}

// TestInflightLargeMails: large messages (a MiB and up) fill the budget
// only up to the share they leave to small ones, so a small mail that
// declares its SIZE still gets in while they fill it, and they are stored
// one at a time.
func TestInflightLargeMails(t *testing.T) {
	t.Parallel()
	// Of 24 MiB, the turn to store a large message keeps 6 (four times
	// the largest, at most a quarter), small messages 1.5: large ones may
	// fill 16.5, eight of 2 MB.
	srv := start(t, Config{MaxMessageBytes: 2 << 20, MaxInflightBytes: 24 << 20})
	release := srv.sink.holdMails()
	defer release()
	addr := srv.Addr().String()
	big := mail("big") + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 1_900)

	open := func(sizeParam, body string) *dialog { return sendData(t, addr, sizeParam, body) }
	var held []*dialog
	for range 8 {
		held = append(held, open(" SIZE=2000000", big))
	}
	<-srv.sink.entered
	dial(t, addr).greet().expect("MAIL FROM:<qoo10info@qoo10.jp> SIZE=2000000", "452 4.3.1")
	d := dial(t, addr).greet()
	d.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
	d.expect("RCPT TO:<orders@in.example.test>", "452 4.3.1")

	small := open(" SIZE=300", mail("small"))
	<-srv.sink.entered
	// The other large mails wait for their turn to be stored.
	select {
	case <-srv.sink.entered:
		t.Fatal("a second large mail is being stored at the same time")
	case <-time.After(300 * time.Millisecond):
	}
	if used := testutil.ToFloat64(srv.metrics.inflight); used > 24<<20 {
		t.Errorf("in flight: %v bytes, over the budget", used)
	}

	release()
	for _, d := range append(held, small) {
		d.expect("", "250 ")
	}
	if n := len(srv.sink.all()); n != 9 {
		t.Errorf("%d mails stored, want 9", n)
	}
	if used := testutil.ToFloat64(srv.metrics.inflight); used != 0 {
		t.Errorf("in flight after the mails were stored: %v bytes, want 0", used)
	}
}

// TestInflightReservedAtRcpt: a transaction reserves its message's room at
// its first recipient, before the client sends a byte of it (the SIZE it
// declared, or the largest message), and gives it back when it ends
// without data.
func TestInflightReservedAtRcpt(t *testing.T) {
	t.Parallel()
	srv := start(t, Config{MaxMessageBytes: 1 << 20, MaxInflightBytes: 4 << 20})
	d := dial(t, srv.Addr().String()).greet()
	for _, c := range []struct {
		mail string
		want float64
	}{
		{"MAIL FROM:<qoo10info@qoo10.jp>", 1<<20 + 1},
		{"MAIL FROM:<qoo10info@qoo10.jp> SIZE=5000", 5000 + sizeSlack},
	} {
		d.expect(c.mail, "250 ")
		if used := testutil.ToFloat64(srv.metrics.inflight); used != 0 {
			t.Errorf("%s: %v bytes in flight before RCPT, want 0", c.mail, used)
		}
		d.expect("RCPT TO:<orders@in.example.test>", "250 ")
		d.expect("RCPT TO:<other@in.example.test>", "250 ")
		if used := testutil.ToFloat64(srv.metrics.inflight); used != c.want {
			t.Errorf("%s: %v bytes in flight after RCPT, want %v", c.mail, used, c.want)
		}
		d.expect("RSET", "250 ")
		if used := testutil.ToFloat64(srv.metrics.inflight); used != 0 {
			t.Errorf("%s: %v bytes in flight after RSET, want 0", c.mail, used)
		}
	}
}

// TestInflightDefaultShares: with the defaults (a 256 MiB budget, 10 MiB
// messages) the turn to store a large message keeps 40 MiB, small
// messages 16, and 19 transactions without SIZE can be sending at once,
// as front-door.md says.
func TestInflightDefaultShares(t *testing.T) {
	t.Parallel()
	bg := newBudget(DefaultMaxInflightBytes, 10<<20, nil)
	if bg.storeShare>>20 != 40 || bg.smallShare != 16<<20 {
		t.Errorf("shares: turn %d, small %d; want 40 MiB and 16 MiB", bg.storeShare, bg.smallShare)
	}
	n := 0
	for bg.reserve(0) > 0 {
		n++
	}
	if n != 19 {
		t.Errorf("%d transactions without SIZE fit, want 19", n)
	}
	if bg.reserve(100) == 0 {
		t.Error("no room left for a small mail that declares its SIZE")
	}
}

// TestInflightWaitsForRoom: a recipient whose message finds the budget
// full waits for room instead of failing at once: when the transaction
// holding the budget ends, the waiting one gets its 250.
func TestInflightWaitsForRoom(t *testing.T) {
	t.Parallel()
	// Room for one message without SIZE, and not for two.
	srv := start(t, Config{MaxMessageBytes: 1 << 20, MaxInflightBytes: 2 << 20})
	first := dial(t, srv.Addr().String()).greet()
	first.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
	first.expect("RCPT TO:<orders@in.example.test>", "250 ")
	second := dial(t, srv.Addr().String()).greet()
	second.expect("MAIL FROM:<qoo10info@qoo10.jp>", "250 ")
	second.send("RCPT TO:<orders@in.example.test>\r\n")
	got := make(chan string, 1)
	go func() {
		line, _ := second.r.ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		t.Fatalf("the second recipient was answered %q while the budget was full", line)
	case <-time.After(100 * time.Millisecond):
	}
	first.expect("RSET", "250 ")
	if line := <-got; !strings.HasPrefix(line, "250 ") {
		t.Fatalf("the second recipient got %q once room was given back, want 250", line)
	}
}

// sendData opens a session that sends body as its message (MAIL with
// sizeParam, RCPT, DATA) and leaves it waiting for the reply to its data.
func sendData(t *testing.T, addr, sizeParam, body string) *dialog {
	t.Helper()
	d := dial(t, addr).greet()
	d.expect("MAIL FROM:<qoo10info@qoo10.jp>"+sizeParam, "250 ")
	d.expect("RCPT TO:<orders@in.example.test>", "250 ")
	d.expect("DATA", "354 ")
	d.send(body + ".\r\n")
	return d
}
