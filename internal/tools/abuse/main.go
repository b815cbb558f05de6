// Command abuse attacks a running qoo10hook SMTP listener the way an MX gets attacked and checks that it keeps serving.
//
// It opens -flood idle connections from one client address, -spread idle
// connections spread over many client addresses, a slowloris DATA and a
// slowloris command line, then sends one normal mail from yet another
// address and times its 250. With -pid it reads the server's peak RSS
// (VmHWM) from /proc. Loopback is 127.0.0.0/8 on Linux, so each "client"
// is a source address of its own. scripts/abuse.sh runs it against a
// freshly built service.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/tools/rawsmtp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2525", "SMTP `host:port` to attack")
	flood := flag.Int("flood", 1000, "idle connections from one client address (127.0.0.2)")
	spread := flag.Int("spread", 1000, "idle connections spread over client addresses 127.1.x.y, -per-ip each")
	perIP := flag.Int("per-ip", 10, "connections per address in the spread attack")
	rcpt := flag.String("rcpt", "orders@in.example.test", "a routed recipient")
	pid := flag.Int("pid", 0, "server `PID` whose VmHWM and VmRSS to report")
	maxRSS := flag.Int("max-rss-mib", 150, "fail if the server's VmHWM exceeds this many MiB")
	maxWait := flag.Duration("max-wait", 10*time.Second, "fail if the normal mail takes longer to get 250")
	metricsURL := flag.String("metrics", "", "the service's /metrics `URL`, to report its connection gauges during the attack")
	flag.Parse()

	fail := false
	report := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }

	// 1. One client opens -flood idle connections.
	start := time.Now()
	fa, fr, fconns := open(*addr, *flood, func(int) string { return "127.0.0.2" })
	report("flood: %d connections from 127.0.0.2: %d accepted (220), %d refused (421 4.7.0), %s",
		*flood, fa, fr, time.Since(start).Round(time.Millisecond))

	// 2. Many clients open -spread idle connections between them.
	start = time.Now()
	sa, sr, sconns := open(*addr, *spread, func(i int) string {
		n := i / *perIP
		return fmt.Sprintf("127.1.%d.%d", n/250, n%250+1)
	})
	report("spread: %d connections from %d addresses: %d accepted, %d refused, %s",
		*spread, (*spread+*perIP-1) / *perIP, sa, sr, time.Since(start).Round(time.Millisecond))

	// 3. Slowloris: a DATA that trickles one byte a second, and a command
	// line that never ends.
	stop := make(chan struct{})
	go slowData(*addr, *rcpt, stop)
	go slowCommand(*addr, stop)
	time.Sleep(2 * time.Second) // let the trickles start

	// 4. A normal mail from another client.
	start = time.Now()
	code, err := rawsmtp.Send(*addr, "127.0.0.3", *rcpt, nil, 0, time.Minute)
	took := time.Since(start)
	report("normal mail from 127.0.0.3 during the attack: %s in %s", code, took.Round(time.Millisecond))
	if err != nil || !strings.HasPrefix(code, "250") || took > *maxWait {
		report("FAIL: the normal mail did not get 250 within %s (%v)", *maxWait, err)
		fail = true
	}

	if *pid > 0 {
		hwm, rss := rawsmtp.ProcMem(*pid)
		report("server pid %d: VmHWM %.1f MiB, VmRSS %.1f MiB (limit %d MiB)", *pid, float64(hwm)/1024, float64(rss)/1024, *maxRSS)
		if hwm > *maxRSS*1024 {
			report("FAIL: peak RSS above %d MiB", *maxRSS)
			fail = true
		}
	}
	if *metricsURL != "" {
		report("during the attack: %s", gauges(*metricsURL))
	}
	close(stop)
	for _, c := range append(fconns, sconns...) {
		c.Close()
	}
	if fail {
		os.Exit(1)
	}
	report("PASS")
}

// open dials n connections, from the address from(i) for the i-th, reads
// each greeting and keeps the accepted connections open.
func open(addr string, n int, from func(int) string) (accepted, refused int, conns []net.Conn) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from(i))}}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				mu.Lock()
				refused++
				mu.Unlock()
				return
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.SetReadDeadline(time.Time{})
			mu.Lock()
			defer mu.Unlock()
			if strings.HasPrefix(line, "220") {
				accepted++
				conns = append(conns, c)
				return
			}
			refused++
			c.Close()
		}()
	}
	wg.Wait()
	return accepted, refused, conns
}

// slowData starts a transaction and sends its DATA one byte a second
// until stop; it returns the server's last reply.
func slowData(addr, rcpt string, stop chan struct{}) string {
	c, r, err := rawsmtp.Dial(addr, "127.0.0.4")
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	rawsmtp.Reply(r)
	for _, cmd := range []string{"EHLO loris.example", "MAIL FROM:<loris@example.com>", "RCPT TO:<" + rcpt + ">", "DATA"} {
		fmt.Fprintf(c, "%s\r\n", cmd)
		rawsmtp.Reply(r)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return ""
		case <-t.C:
			if _, err := c.Write([]byte("x")); err != nil {
				return err.Error()
			}
		}
	}
}

// slowCommand sends a command line one byte a second until stop.
func slowCommand(addr string, stop chan struct{}) {
	c, r, err := rawsmtp.Dial(addr, "127.0.0.5")
	if err != nil {
		return
	}
	defer c.Close()
	rawsmtp.Reply(r)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := c.Write([]byte("E")); err != nil {
				return
			}
		}
	}
}

// gauges returns the SMTP connection metrics of the service.
func gauges(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "qoo10hook_smtp_connections_") || strings.HasPrefix(l, "qoo10hook_smtp_sessions_open") {
			out = append(out, l)
		}
	}
	return strings.Join(out, ", ")
}
