package smtpd

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
)

func TestContinuesReply(t *testing.T) {
	for in, want := range map[string]bool{
		"250-mx.test Hello\r\n":            true,
		"250-PIPELINING\r\n":               true,
		"250 2.0.0 OK\r\n":                 false,
		"250-A\r\n250 B\r\n":               false,
		"250 A\r\n250-B\r\n":               true,
		"250-PIPELINING":                   false,
		"\x16\x03\x03\x00\x10250-X\r\n":    false, // a TLS record
		"\x17\x03\x03\x00\x10\r\n250-\r\n": false,
		"25-X\r\n":                         false,
		"":                                 false,
	} {
		if got := continuesReply([]byte(in)); got != want {
			t.Errorf("continuesReply(%q) = %v, want %v", in, got, want)
		}
	}
}

// writeLog records every write on the connections beneath the server's.
type writeLog struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeLog) all() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]byte(nil), w.writes...)
}

type recordingListener struct {
	net.Listener
	log *writeLog
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return recordingConn{c, l.log}, nil
}

type recordingConn struct {
	net.Conn
	log *writeLog
}

func (c recordingConn) Write(p []byte) (int, error) {
	c.log.mu.Lock()
	c.log.writes = append(c.log.writes, bytes.Clone(p))
	c.log.mu.Unlock()
	return c.Conn.Write(p)
}

// TestReplyInOneWrite: a multi-line reply leaves in one write (one system
// call, one segment) and every write is whole replies; after STARTTLS the
// TLS records pass through, and the session goes on to deliver its mail.
func TestReplyInOneWrite(t *testing.T) {
	cert, pool, _ := testCertificate(t)
	log := &writeLog{}
	srv := startWrapped(t, Config{Certificate: cert}, func(l net.Listener) net.Listener {
		return recordingListener{l, log}
	})

	c := rcDialTLS(t, srv.Addr().String(), tlsClient(pool))
	if err := c.SendMail("shop@qoo10.jp", []string{"orders@in.example.test"}, strings.NewReader(mail("one write"))); err != nil {
		t.Fatalf("send: %v", err)
	}
	c.Quit()
	if got := len(srv.sink.all()); got != 1 {
		t.Fatalf("stored %d mails, want 1", got)
	}

	writes := log.all()
	var plain []string
	for _, w := range writes {
		if len(w) > 0 && isDigit(w[0]) {
			plain = append(plain, string(w))
		}
	}
	// Before TLS: the greeting, the EHLO reply, the 220 to STARTTLS.
	if len(plain) != 3 {
		t.Fatalf("plain writes %q, want greeting, EHLO reply and STARTTLS reply", plain)
	}
	ehlo := plain[1]
	lines := strings.Split(strings.TrimSuffix(ehlo, "\r\n"), "\r\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "250-") || !strings.Contains(ehlo, "250-STARTTLS\r\n") ||
		!strings.HasPrefix(lines[len(lines)-1], "250 ") {
		t.Errorf("EHLO reply not in one write: %q", ehlo)
	}
	for _, w := range plain {
		if continuesReply([]byte(w)) {
			t.Errorf("write %q ends inside a reply", w)
		}
	}
	if len(writes) <= len(plain) {
		t.Errorf("no TLS records written: %d writes", len(writes))
	}
}
