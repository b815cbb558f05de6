package smtpd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestInflightBudget: the messages held in memory by all sessions stay
// within smtp.max_inflight_bytes: a SIZE the budget cannot hold now gets
// 452 4.3.1 at MAIL (RFC 1870), a DATA whose bytes outgrow it 452 4.3.1
// after the message; once the mails in flight are stored, the room is
// back.
func TestInflightBudget(t *testing.T) {
	t.Parallel()
	const size = 900_000
	// Each mail stored takes its size twice (its buffer, and the copies
	// storing makes): two fit in 4 MiB, not three.
	srv := start(t, Config{MaxMessageBytes: 1 << 20, MaxInflightBytes: 4 << 20})
	release := srv.sink.holdMails()
	defer release()
	addr := srv.Addr().String()
	body := mail("big") + strings.Repeat(strings.Repeat("x", 998)+"\r\n", size/1000)

	open := func(sizeParam string) *dialog {
		d := dial(t, addr).greet()
		d.expect("MAIL FROM:<qoo10info@qoo10.jp>"+sizeParam, "250 ")
		d.expect("RCPT TO:<orders@in.example.test>", "250 ")
		d.expect("DATA", "354 ")
		d.send(body + ".\r\n")
		return d
	}
	// Two mails that declared their size are held in flight.
	held := []*dialog{open(" SIZE=900000"), open(" SIZE=900000")}
	for range held {
		<-srv.sink.entered
	}
	if used := testutil.ToFloat64(srv.metrics.inflight); used < 4*size || used > 4<<20 {
		t.Errorf("in flight: %v bytes, want two mails' worth within the budget", used)
	}
	// A third does not fit: refused at MAIL when it declares its size,
	// after its bytes otherwise.
	dial(t, addr).greet().expect("MAIL FROM:<qoo10info@qoo10.jp> SIZE=900000", "452 4.3.1")
	open("").expect("", "452 4.3.1")
	if used := testutil.ToFloat64(srv.metrics.inflight); used > 4<<20 {
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
		m := newMailBuffer(bg, 0, 10<<20)
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
