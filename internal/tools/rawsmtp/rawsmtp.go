// Package rawsmtp speaks SMTP a line at a time from a chosen local address, and reads a process's memory, for the load tools.
package rawsmtp

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Dial connects to addr from the local address from (a 127.0.0.0/8
// address, so that per-IP limits see each role apart).
func Dial(addr, from string) (net.Conn, *bufio.Reader, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	return c, bufio.NewReader(c), nil
}

// Reply reads one reply, all its lines, and returns its last line ("" or
// what was read when the connection ended).
func Reply(r *bufio.Reader) string {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return strings.TrimSpace(line)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}

// Send sends one mail to rcpt from the local address from: a small
// header, then body. size > 0 declares SIZE=size at MAIL. It returns the
// reply to the data, or the refusal that ended the transaction sooner;
// the whole exchange must end within limit.
func Send(addr, from, rcpt string, body []byte, size int, limit time.Duration) (string, error) {
	c, r, err := Dial(addr, from)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(limit))
	if g := Reply(r); !strings.HasPrefix(g, "220") {
		return g, fmt.Errorf("greeting %q", g)
	}
	mailFrom := "MAIL FROM:<qoo10info@qoo10.jp>"
	if size > 0 {
		mailFrom += " SIZE=" + strconv.Itoa(size)
	}
	for _, cmd := range []string{"EHLO load.example", mailFrom, "RCPT TO:<" + rcpt + ">", "DATA"} {
		fmt.Fprintf(c, "%s\r\n", cmd)
		if got := Reply(r); got == "" || got[0] != '2' && got[0] != '3' {
			return got, fmt.Errorf("%s: %q", cmd, got)
		}
	}
	w := bufio.NewWriterSize(c, 256<<10)
	fmt.Fprintf(w, "From: <qoo10info@qoo10.jp>\r\nSubject: load\r\nMessage-ID: <load.%d.%s@qoo10.jp>\r\n\r\nbody\r\n", time.Now().UnixNano(), from)
	w.Write(body)
	w.WriteString(".\r\n")
	if err := w.Flush(); err != nil {
		return "", err
	}
	got := Reply(r)
	fmt.Fprintf(c, "QUIT\r\n")
	return got, nil
}

// ProcMem returns the process's VmHWM and VmRSS in KiB (0 when unknown).
func ProcMem(pid int) (hwm, rss int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			switch f[0] {
			case "VmHWM:":
				hwm, _ = strconv.Atoi(f[1])
			case "VmRSS:":
				rss, _ = strconv.Atoi(f[1])
			}
		}
	}
	return hwm, rss
}
