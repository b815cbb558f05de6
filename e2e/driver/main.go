// Command driver runs the console's browser test against the built qoo10hook binary.
//
// It starts a webhook receiver that succeeds or fails on command, writes a
// configuration (SQLite in a temporary directory, an admin token, a short
// retry schedule), starts `qoo10hook serve`, sends two order mails over
// SMTP (one delivered, one that fails until it is dead-lettered), switches
// the receiver to success and runs the Playwright script, which must log
// in, find the delivered order and send it again, retry the dead letter
// and see it delivered. Then it checks the receiver got those deliveries.
//
//	go run ./e2e/driver -bin /tmp/qoo10hook -script e2e/console.mjs
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func main() {
	bin := flag.String("bin", "", "the qoo10hook binary")
	script := flag.String("script", "e2e/console.mjs", "the Playwright script")
	root := flag.String("root", ".", "the repository root (for the test mails)")
	out := flag.String("out", "", "directory for screenshots and the service log (default: a temporary one)")
	flag.Parse()
	if err := run(*bin, *script, *root, *out); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	fmt.Println("e2e: PASS")
}

// receiver is the webhook endpoint; fail makes it answer 500.
type receiver struct {
	fail      atomic.Bool
	mu        sync.Mutex
	delivered map[string]int // webhook-id -> 2xx answers
	attempts  int
}

func (rx *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	rx.mu.Lock()
	defer rx.mu.Unlock()
	rx.attempts++
	if rx.fail.Load() {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	rx.delivered[r.Header.Get("webhook-id")]++
	w.WriteHeader(http.StatusNoContent)
}

func (rx *receiver) deliveredCount() int {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	n := 0
	for _, c := range rx.delivered {
		n += c
	}
	return n
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func run(bin, script, root, out string) error {
	if bin == "" {
		return errors.New("name the binary with -bin")
	}
	tmp, err := os.MkdirTemp("", "qoo10hook-e2e-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if out == "" {
		out = filepath.Join(tmp, "out")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}

	rx := &receiver{delivered: map[string]int{}}
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(hookLn, rx)

	smtpAddr, err := freeAddr()
	if err != nil {
		return err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return err
	}
	var tok [24]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	cfg := fmt.Sprintf(`smtp:
  addr: %q
http:
  addr: %q
  admin_token: %q
store:
  url: %q
delivery:
  retry_schedule: [0s, 100ms, 200ms]
  jitter: 0
  timeout: 5s
log:
  level: info
  format: json
domains: [in.example.test]
# One webhook per mail keeps the counts below simple.
inventory:
  reserve_on: none
# The test mails are not signed by Qoo10.
sender:
  policy: "off"
webhook:
  url: %q
  secret: %q
`, smtpAddr, httpAddr, token, "sqlite:"+filepath.Join(tmp, "store.db"), "http://"+hookLn.Addr().String()+"/hook", secret)
	cfgPath := filepath.Join(tmp, "qoo10hook.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}

	logFile, err := os.Create(filepath.Join(out, "qoo10hook.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := exec.CommandContext(ctx, bin, "serve", "--config", cfgPath)
	svc.Stdout, svc.Stderr = logFile, logFile
	svc.Env = cleanEnv()
	if err := svc.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	defer func() {
		svc.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { svc.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			svc.Process.Kill()
		}
	}()
	base := "http://" + httpAddr
	if err := waitFor(15*time.Second, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}); err != nil {
		return fmt.Errorf("service not ready (log in %s): %w", out, err)
	}

	// An order that is delivered at once.
	delivered, err := os.ReadFile(filepath.Join(root, "testdata", "stockgear-order-utf8.eml"))
	if err != nil {
		return err
	}
	if err := send(smtpAddr, delivered); err != nil {
		return fmt.Errorf("send the first mail: %w", err)
	}
	if err := waitFor(15*time.Second, func() bool { return rx.deliveredCount() == 1 }); err != nil {
		return fmt.Errorf("first order not delivered: %w", err)
	}

	// An order whose endpoint fails until its delivery is dead.
	rx.fail.Store(true)
	deadMail, err := os.ReadFile(filepath.Join(root, "parse", "testdata", "contract-smoke.eml"))
	if err != nil {
		return err
	}
	if err := send(smtpAddr, deadMail); err != nil {
		return fmt.Errorf("send the second mail: %w", err)
	}
	if err := waitFor(15*time.Second, func() bool { return deadLetters(base, token) == 1 }); err != nil {
		return fmt.Errorf("second order not dead-lettered: %w", err)
	}
	rx.fail.Store(false)

	// A cart of three lines, one of them cancelled: for the orders pages.
	for _, name := range []string{"crossmall-group-3-lines.eml", "claim-complete-crossmall-line-1.eml"} {
		raw, err := os.ReadFile(filepath.Join(root, "testdata", name))
		if err != nil {
			return err
		}
		if err := send(smtpAddr, raw); err != nil {
			return fmt.Errorf("send %s: %w", name, err)
		}
	}
	if err := waitFor(15*time.Second, func() bool { return rx.deliveredCount() == 3 }); err != nil {
		return fmt.Errorf("the cart's mails not delivered: %w", err)
	}
	fmt.Printf("e2e: service on %s, one order delivered, one dead letter; running the browser\n", base)

	node := exec.CommandContext(ctx, "node", script)
	node.Stdout, node.Stderr = os.Stdout, os.Stderr
	node.Env = append(cleanEnv(), "BASE_URL="+base, "ADMIN_TOKEN="+token, "ORDER_DELIVERED=920000456",
		"ORDER_DEAD=800900100", "ORDER_CART=700100200", "ORDER_SELLER=cm_shop", "OUT_DIR="+out)
	if err := node.Run(); err != nil {
		return fmt.Errorf("browser test failed (screenshots and service log in %s): %w", out, err)
	}
	// The first order twice (delivered, then sent again from the
	// console, under the same webhook-id), the retried dead letter and
	// the cart's two mails.
	rx.mu.Lock()
	events := len(rx.delivered)
	rx.mu.Unlock()
	if n := rx.deliveredCount(); n != 5 || events != 4 {
		return fmt.Errorf("the receiver got %d deliveries of %d events, want 5 of 4", n, events)
	}
	if n := deadLetters(base, token); n != 0 {
		return fmt.Errorf("%d dead letters left after the retry", n)
	}
	return runReparse(ctx, rx, smtpAddr, base, token, root, out)
}

// cleanEnv is the environment without QOO10HOOK_ settings, so that only
// the generated configuration counts.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QOO10HOOK_") {
			env = append(env, kv)
		}
	}
	return env
}

func deadLetters(base, token string) int {
	req, _ := http.NewRequest("GET", base+"/api/v1/deliveries?status=dead", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var page struct {
		Deliveries []json.RawMessage `json:"deliveries"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&page) != nil {
		return -1
	}
	return len(page.Deliveries)
}

func send(addr string, raw []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("e2e.example.test"); err != nil {
		return err
	}
	if err := c.SendMail("qoo10info@qoo10.jp", []string{"orders@in.example.test"}, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

func waitFor(d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}
