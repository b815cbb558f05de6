// Command exhaust drives a running qoo10hook toward exhaustion (a huge catalog import, a flood of large mails, idle HTTP connections, pipelined refused commands) and reports how it holds.
//
// Each scenario (-scenario import|inflight|http|errors) prints its figures
// and fails when the service does not hold: every normal mail sent during
// the attack must get 250 within -max-wait. scripts/abuse-exhaustion.sh
// runs each against a freshly started service.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/tools/rawsmtp"
)

type options struct {
	smtp, http, token, rcpt string
	pid                     int
	maxWait                 time.Duration
}

func main() {
	var o options
	scenario := flag.String("scenario", "", "import, inflight, http or errors")
	flag.StringVar(&o.smtp, "smtp", "127.0.0.1:2525", "SMTP `host:port`")
	flag.StringVar(&o.http, "http", "127.0.0.1:8080", "HTTP `host:port`")
	flag.StringVar(&o.token, "token", "", "the admin token (import)")
	flag.StringVar(&o.rcpt, "rcpt", "orders@in.example.test", "a routed recipient")
	flag.IntVar(&o.pid, "pid", 0, "the server's `PID`, for its peak RSS and open files")
	flag.DurationVar(&o.maxWait, "max-wait", 5*time.Second, "longest a normal mail may wait for 250 during an attack")
	importMB := flag.Int("import-mb", 60, "size of the generated catalog (import)")
	hookAddr := flag.String("hook", "", "`host:port` to receive the service's webhooks on (import)")
	clients := flag.Int("clients", 200, "concurrent clients (inflight)")
	mailMB := flag.Int("mail-mb", 12, "size of each client's mail (inflight)")
	budgetMiB := flag.Int("budget-mib", 256, "the service's smtp.max_inflight_bytes, for the RSS bound (inflight)")
	idle := flag.Int("idle", 1000, "idle keep-alive connections (http)")
	rcpts := flag.Int("rcpts", 10000, "pipelined RCPT to unknown addresses (errors)")
	flag.Parse()

	var ok bool
	switch *scenario {
	case "import":
		ok = runImport(o, *importMB, *hookAddr)
	case "inflight":
		ok = runInflight(o, *clients, *mailMB, *budgetMiB)
	case "http":
		ok = runHTTP(o, *idle)
	case "errors":
		ok = runErrors(o, *rcpts)
	default:
		fmt.Fprintln(os.Stderr, "exhaust: say -scenario import, inflight, http or errors")
		os.Exit(2)
	}
	if o.pid > 0 {
		hwm, rss := rawsmtp.ProcMem(o.pid)
		fmt.Printf("server: VmHWM %.0f MiB, VmRSS %.0f MiB, %d open files\n", float64(hwm)/1024, float64(rss)/1024, openFiles(o.pid))
	}
	if !ok {
		fmt.Println("FAIL")
		os.Exit(1)
	}
	fmt.Println("PASS")
}

// mailer sends a normal mail every interval until stop, each on a
// connection of its own, and keeps their outcomes. With anyAnswer, a
// temporary failure in time is an answer too (the service is saturated
// by design); otherwise only 250 is. With declare, the mail declares its
// SIZE, as MTAs do.
type mailer struct {
	mu        sync.Mutex
	latencies []time.Duration
	failures  []string
	codes     map[string]int
	anyAnswer bool
	declare   bool
	wg        sync.WaitGroup
}

func (m *mailer) run(o options, every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			m.wg.Wait()
			return
		case <-t.C:
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			start := time.Now()
			size := 0
			if m.declare {
				size = 512
			}
			code, err := rawsmtp.Send(o.smtp, "127.0.0.3", o.rcpt, nil, size, 5*time.Minute)
			took := time.Since(start)
			m.mu.Lock()
			defer m.mu.Unlock()
			m.latencies = append(m.latencies, took)
			if m.codes == nil {
				m.codes = map[string]int{}
			}
			m.codes[code[:min(3, len(code))]]++
			answered := strings.HasPrefix(code, "250") || m.anyAnswer && strings.HasPrefix(code, "4")
			if err != nil || !answered || took > o.maxWait {
				m.failures = append(m.failures, fmt.Sprintf("%q after %s (%v)", code, took.Round(time.Millisecond), err))
			}
		}()
	}
}

func (m *mailer) report(o options) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := slices.Clone(m.latencies)
	slices.Sort(l)
	if len(l) == 0 {
		fmt.Println("normal mails: none sent")
		return false
	}
	q := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))].Round(time.Millisecond) }
	want := "250"
	if m.anyAnswer {
		want = "an answer"
	}
	fmt.Printf("normal mails during the attack: %d sent, %d got %s within %s (replies %v); latency p50 %s, p99 %s, max %s\n",
		len(l), len(l)-len(m.failures), want, o.maxWait, m.codes, q(0.5), q(0.99), l[len(l)-1].Round(time.Millisecond))
	for i, f := range m.failures {
		if i == 5 {
			fmt.Printf("  ... %d more\n", len(m.failures)-5)
			break
		}
		fmt.Println("  failed:", f)
	}
	return len(m.failures) == 0
}

// runImport uploads a generated GoodsList.csv of sizeMB while mail comes
// in at 10/s and webhooks go out.
func runImport(o options, sizeMB int, hookAddr string) bool {
	var delivered atomic.Int64
	if hookAddr != "" {
		ln, err := net.Listen("tcp", hookAddr)
		if err != nil {
			fmt.Println("webhook receiver:", err)
			return false
		}
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			delivered.Add(1)
		}))
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("exhaust-goods-%d.csv", os.Getpid()))
	rows := writeCatalog(path, int64(sizeMB)<<20)
	defer os.Remove(path)
	fi, _ := os.Stat(path)
	fmt.Printf("catalog: %d rows, %.1f MB\n", rows, float64(fi.Size())/1e6)

	stop := make(chan struct{})
	var m mailer
	go m.run(o, 100*time.Millisecond, stop)
	before := delivered.Load()
	start := time.Now()
	f, _ := os.Open(path)
	req, _ := http.NewRequest("POST", "http://"+o.http+"/api/v1/catalog?seller_id=exhaust&filename=GoodsList.csv", f)
	req.Header.Set("Authorization", "Bearer "+o.token)
	resp, err := http.DefaultClient.Do(req)
	took := time.Since(start)
	close(stop)
	f.Close()
	ok := m.report(o)
	if err != nil {
		fmt.Println("import:", err)
		return false
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	resp.Body.Close()
	fmt.Printf("import: %d in %s: %s\n", resp.StatusCode, took.Round(time.Millisecond), strings.TrimSpace(string(body)))
	if hookAddr != "" {
		n := delivered.Load() - before
		fmt.Printf("webhooks delivered during the import: %d (%.1f/s)\n", n, float64(n)/took.Seconds())
	}
	return ok && resp.StatusCode == 200
}

func writeCatalog(path string, size int64) int {
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	cw := &countWriter{w: w}
	fmt.Fprintln(cw, "商品番号,販売者商品コード,商品名,販売価格,在庫数,販売状態")
	n := 0
	for cw.n < size {
		fmt.Fprintf(cw, "%d,SKU-%08d,綿100％ 長袖Tシャツ（メンズ） カラー:ネイビー サイズ:L 第%d弾,1980,%d,販売中\n", 1000000000+n, n, n, n%50)
		n++
	}
	w.Flush()
	return n
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// runInflight has clients send a mailMB mail each at once, half of them
// declaring its SIZE, while a normal mail (declaring its SIZE) is sent
// every second.
func runInflight(o options, clients, mailMB, budgetMiB int) bool {
	body := bytes.Repeat([]byte(strings.Repeat("x", 998)+"\r\n"), mailMB<<20/1000)
	var mu sync.Mutex
	codes := map[string]int{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	m := mailer{anyAnswer: true, declare: true}
	go m.run(o, time.Second, stop)
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			size := 0
			if i%2 == 0 {
				size = len(body) + 200
			}
			from := fmt.Sprintf("127.2.%d.%d", i/250, i%250+1)
			code, err := rawsmtp.Send(o.smtp, from, o.rcpt, body, size, 5*time.Minute)
			if err != nil && code == "" {
				code = "error"
			}
			if len(code) > 9 {
				code = code[:9]
			}
			if err != nil {
				// Refused before the data: say at which command.
				if cmd, _, ok := strings.Cut(err.Error(), " "); ok && cmd != "greeting" {
					code += " at " + strings.TrimSuffix(cmd, ":")
				}
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	ok := m.report(o)
	fmt.Printf("%d clients x %d MB in %s: replies %v\n", clients, mailMB, took.Round(time.Millisecond), codes)
	if o.pid > 0 {
		hwm, _ := rawsmtp.ProcMem(o.pid)
		limit := (budgetMiB + 100) << 10
		fmt.Printf("peak RSS %.0f MiB, bound %d MiB (budget + 100 MiB)\n", float64(hwm)/1024, budgetMiB+100)
		if hwm > limit {
			ok = false
		}
	}
	return ok
}

// runHTTP opens idle keep-alive connections to /healthz, then sends mail.
func runHTTP(o options, n int) bool {
	var conns []net.Conn
	served, refused := 0, 0
	for range n {
		c, err := net.DialTimeout("tcp", o.http, 5*time.Second)
		if err != nil {
			refused++
			continue
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil && resp.StatusCode == 200 {
			served++
			conns = append(conns, c)
			continue
		}
		refused++
		c.Close()
	}
	fmt.Printf("http: %d idle keep-alive connections asked: %d served and kept open, %d refused (503 or closed)\n", n, served, refused)
	if o.pid > 0 {
		fmt.Printf("server during the attack: %d open files\n", openFiles(o.pid))
	}
	var m mailer
	stop := make(chan struct{})
	go m.run(o, 100*time.Millisecond, stop)
	time.Sleep(3 * time.Second)
	close(stop)
	ok := m.report(o)
	for _, c := range conns {
		c.Close()
	}
	return ok
}

// runErrors pipelines n RCPT to unknown addresses in one session.
func runErrors(o options, n int) bool {
	c, r, err := rawsmtp.Dial(o.smtp, "127.0.0.6")
	if err != nil {
		fmt.Println(err)
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	rawsmtp.Reply(r)
	fmt.Fprintf(c, "EHLO harvester.example\r\n")
	rawsmtp.Reply(r)
	fmt.Fprintf(c, "MAIL FROM:<x@harvester.example>\r\n")
	rawsmtp.Reply(r)
	start := time.Now()
	var cmds bytes.Buffer
	for i := range n {
		fmt.Fprintf(&cmds, "RCPT TO:<guess%d@elsewhere.example>\r\n", i)
	}
	go c.Write(cmds.Bytes())
	counts := map[string]int{}
	last := ""
	for {
		line := rawsmtp.Reply(r)
		if line == "" {
			break
		}
		counts[line[:3]]++
		last = line
	}
	fmt.Printf("errors: %d pipelined RCPT to unknown addresses: replies %v in %s, last %q, then the connection closed\n",
		n, counts, time.Since(start).Round(time.Millisecond), last)
	var m mailer
	stop := make(chan struct{})
	go m.run(o, 100*time.Millisecond, stop)
	time.Sleep(time.Second)
	close(stop)
	return m.report(o) && strings.HasPrefix(last, "421 4.7.0") && counts["550"] < n
}

func openFiles(pid int) int {
	es, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(es)
}
