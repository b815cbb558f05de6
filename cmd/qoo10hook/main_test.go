package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// These tests run the built binary, as operators do, and kill it with
// SIGKILL mid-stream.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "qoo10hook-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "qoo10hook")
	// Built as the Dockerfile builds it, version and revision given.
	build := exec.Command("go", "build", "-o", binary, "-ldflags",
		"-X github.com/qoo10hook/qoo10hook/app.version="+testVersion+" -X github.com/qoo10hook/qoo10hook/app.revision="+testRevision, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("build: " + err.Error())
	}
	code := testenv.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	testVersion  = "v0.0.0-test"
	testRevision = "0123456789abcdef"
)

// TestVersion: the version and revision given at link time are what the
// binary reports.
func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "qoo10hook "+testVersion+" ("+testRevision+")"; got != want {
		t.Errorf("version printed %q, want %q", got, want)
	}
}

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// sink is a webhook endpoint that records, per order number, the webhook
// ids it received, after checking each signature.
type sink struct {
	*httptest.Server
	mu  sync.Mutex
	ids map[string]map[string]int // order_no -> webhook-id -> count
	bad []string
}

func newSink(t *testing.T) *sink {
	s := &sink{ids: map[string]map[string]int{}}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Type string `json:"type"`
			Data struct {
				Items []struct {
					OrderNo string `json:"order_no"`
				} `json:"items"`
			} `json:"data"`
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := wh.Verify(body, r.Header); err != nil {
			s.bad = append(s.bad, "signature: "+err.Error())
		} else if json.Unmarshal(body, &ev) != nil {
			s.bad = append(s.bad, "body: "+string(body))
		} else if !strings.HasPrefix(ev.Type, "order.") {
			// Inventory adjustments derived from the orders come too.
		} else if len(ev.Data.Items) != 1 {
			s.bad = append(s.bad, "body: "+string(body))
		} else {
			no := ev.Data.Items[0].OrderNo
			if s.ids[no] == nil {
				s.ids[no] = map[string]int{}
			}
			s.ids[no][r.Header.Get("webhook-id")]++
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// missing returns the accepted order numbers not yet delivered.
func (s *sink) missing(accepted []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, no := range accepted {
		if len(s.ids[no]) == 0 {
			out = append(out, no)
		}
	}
	return out
}

// waitAll waits until every accepted order is delivered and returns those
// still missing when it gives up.
func (s *sink) waitAll(accepted []string, within time.Duration) []string {
	deadline := time.Now().Add(within)
	for {
		missing := s.missing(accepted)
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// instance is one running qoo10hook process.
type instance struct {
	t          *testing.T
	cmd        *exec.Cmd
	smtp, http string
	env        []string
	log        *os.File
	// exit is closed when the process has exited; waitErr is then what
	// Wait returned.
	exit    chan struct{}
	waitErr error
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startInstance(t *testing.T, storeURL, hookURL, name string, env ...string) *instance {
	t.Helper()
	for try := 1; ; try++ {
		in := &instance{t: t, smtp: freeAddr(t), http: freeAddr(t)}
		in.env = append(os.Environ(),
			"QOO10HOOK_SMTP_ADDR="+in.smtp, "QOO10HOOK_HTTP_ADDR="+in.http, "QOO10HOOK_STORE="+storeURL,
			"QOO10HOOK_DOMAINS=in.example.test", "QOO10HOOK_WEBHOOK_URL="+hookURL, "QOO10HOOK_WEBHOOK_SECRET="+secret,
			"QOO10HOOK_DELIVERY_RETRY_SCHEDULE=0s,200ms,500ms,1s,1s,1s,1s,1s,1s,1s,1s,1s",
			"QOO10HOOK_DELIVERY_TIMEOUT=2s", "QOO10HOOK_DELIVERY_RESCUE_AFTER=8s",
			"QOO10HOOK_LOG_FORMAT=json", "QOO10HOOK_LOG_LEVEL=warn", "QOO10HOOK_SENDER_POLICY=off")
		in.env = append(in.env, env...)
		// freeAddr's ports are free when it returns, not always when the
		// process binds them: another test's connection may take one
		// meanwhile. Then the process exits at once; it starts again on
		// other ports.
		if !in.start(name) || try == 3 {
			return in
		}
	}
}

// run starts the process and waits until it is ready.
func (in *instance) run(name string) {
	if in.start(name) {
		in.t.Fatalf("%s: its ports were taken; log: %s", name, tail(in.log.Name()))
	}
}

// start starts the process and waits until it is ready; it reports true
// if the process exited at once because one of its ports was taken.
func (in *instance) start(name string) (portTaken bool) {
	t := in.t
	logf, err := os.OpenFile(filepath.Join(t.TempDir(), name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	in.log = logf
	in.cmd = exec.Command(binary, "serve")
	in.cmd.Env = in.env
	in.cmd.Stdout, in.cmd.Stderr = logf, logf
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.exit = make(chan struct{})
	go func() { in.waitErr = in.cmd.Wait(); close(in.exit) }()
	t.Cleanup(func() { in.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + in.http + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return false
			}
		}
		select {
		case <-in.exit:
			if strings.Contains(tail(logf.Name()), "address already in use") {
				return true
			}
			t.Fatalf("%s exited before it was ready; log: %s", name, tail(logf.Name()))
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s not ready in 30s; log: %s", name, tail(logf.Name()))
	return false
}

func (in *instance) kill() {
	if in.cmd == nil {
		return
	}
	in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.exit
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// mail renders a StockGear order mail for one order number.
func mail(orderNo string) []byte {
	body := strings.ReplaceAll(fmt.Sprintf(`いつもQoo10をご利用いただきまして誠にありがとうございます。
お客様から下記の注文が入りましたのでお知らせいたします。

販売者ID: crash_shop
カート番号: C%s
送料: ¥ 0
注文日時: 2026/11/20 21:04:55

■注文者の情報
氏名: 試験 太郎
氏名 (フリガナ): シケン タロウ
電話番号: 090-0000-0000
Eメールアドレス: test@example.jp

■支払方法
クレジットカード

■注文商品の情報
注文番号: %s
商品番号: 100
商品名: 商品(SKU-1)
オプション: なし
数量: 1
販売価格: ¥ 100
注文金額の合計: ¥ 100

■配送情報
配送方法: 宅配便
`, orderNo, orderNo), "\n", "\r\n")
	return []byte("From: Qoo10 <qoo10info@qoo10.jp>\r\nTo: orders@in.example.test\r\n" +
		"Subject: Qoo10 order " + orderNo + "\r\nMessage-ID: <" + orderNo + "@crash.qoo10.jp>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body)
}

// sender sends mails on one connection after another, reconnecting when
// one drops, and records the order numbers that got 250.
type sender struct {
	mu       sync.Mutex
	accepted []string
}

func (s *sender) add(no string) {
	s.mu.Lock()
	s.accepted = append(s.accepted, no)
	s.mu.Unlock()
}

func (s *sender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.accepted)
}

// sendOn sends the mails on one connection to addr; it stops at the first
// failure (the server died) and returns how far it got.
func (s *sender) sendOn(addr string, nos []string) int {
	c, err := smtp.Dial(addr)
	if err != nil {
		return 0
	}
	defer c.Close()
	if c.Hello("crash.example") != nil {
		return 0
	}
	for i, no := range nos {
		if c.Mail("qoo10info@qoo10.jp", nil) != nil || c.Rcpt("orders@in.example.test", nil) != nil {
			return i
		}
		w, err := c.Data()
		if err != nil {
			return i
		}
		w.Write(mail(no))
		if w.Close() != nil {
			return i // no 250: not counted
		}
		s.add(no)
	}
	c.Quit()
	return len(nos)
}

// TestCrashLosesNoAcceptedMail sends 2,000 mails over 8 connections, kills
// the server with SIGKILL mid-stream and restarts it: every mail that got
// 250 is delivered, each with one webhook-id.
func TestCrashLosesNoAcceptedMail(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test in -short mode")
	}
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			hook := newSink(t)
			srv := startInstance(t, st.URL, hook.URL, "first")
			var snd sender
			var wg sync.WaitGroup
			const conns, perConn = 8, 250
			killed := make(chan struct{})
			for c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var nos []string
					for i := range perConn {
						nos = append(nos, fmt.Sprintf("%d%04d", c+1, i))
					}
					for len(nos) > 0 {
						n := snd.sendOn(srv.smtp, nos)
						nos = nos[n:]
						if len(nos) > 0 {
							// The server died; the mail in flight is the
							// sender's to retry, as an MTA would.
							<-killed
							time.Sleep(100 * time.Millisecond)
						}
					}
				}()
			}
			for snd.count() < 600 {
				time.Sleep(5 * time.Millisecond)
			}
			srv.kill()
			atKill := snd.count()
			srv.run("second") // same store, same ports
			close(killed)
			wg.Wait()
			t.Logf("%d mails accepted before the kill, %d in all", atKill, snd.count())

			if missing := hook.waitAll(snd.accepted, 90*time.Second); len(missing) > 0 {
				t.Fatalf("%d accepted mails never delivered, e.g. %v; log: %s", len(missing), missing[:min(5, len(missing))], tail(srv.log.Name()))
			}
			hook.mu.Lock()
			defer hook.mu.Unlock()
			dups := 0
			for no, ids := range hook.ids {
				if len(ids) != 1 {
					t.Errorf("order %s delivered under %d webhook-ids", no, len(ids))
				}
				for _, n := range ids {
					dups += n - 1
				}
			}
			if len(hook.bad) > 0 {
				t.Errorf("bad deliveries: %v", hook.bad[:min(3, len(hook.bad))])
			}
			t.Logf("%d orders delivered, %d redeliveries of the same webhook-id", len(hook.ids), dups)
		})
	}
}

// TestTwoInstancesOneKilled runs two instances on one PostgreSQL database,
// sends to both and kills one mid-stream: the survivor delivers every mail
// either accepted.
func TestTwoInstancesOneKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test in -short mode")
	}
	url := testenv.Postgres(t)
	hook := newSink(t)
	// The survivor takes over what the dead one held without a job once
	// two sweeps, the delivery timeout (2s here) plus store.LeaseLapse
	// apart, found its lease gone.
	a := startInstance(t, url, hook.URL, "a")
	b := startInstance(t, url, hook.URL, "b")
	var snd sender
	var wg sync.WaitGroup
	for c := range 8 {
		target := a
		if c%2 == 1 {
			target = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var nos []string
			for i := range 150 {
				nos = append(nos, fmt.Sprintf("%d%04d", c+1, i))
			}
			for len(nos) > 0 {
				n := snd.sendOn(target.smtp, nos)
				nos = nos[n:]
				if len(nos) > 0 {
					target = b // a died: the sender's MTA tries the next MX
				}
			}
		}()
	}
	for snd.count() < 400 {
		time.Sleep(5 * time.Millisecond)
	}
	a.kill()
	wg.Wait()
	if missing := hook.waitAll(snd.accepted, 90*time.Second); len(missing) > 0 {
		t.Fatalf("%d accepted mails never delivered, e.g. %v; survivor log: %s", len(missing), missing[:min(5, len(missing))], tail(b.log.Name()))
	}
	t.Logf("%d mails accepted by two instances, all delivered", snd.count())
}
