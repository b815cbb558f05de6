package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// hangingEndpoint holds every request until released, and reports each
// arrival.
func hangingEndpoint(t *testing.T) (url string, arrived <-chan struct{}, release func()) {
	in := make(chan struct{}, 16)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in <- struct{}{}
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	var once bool
	release = func() {
		if !once {
			once = true
			close(done)
		}
	}
	t.Cleanup(func() { release(); srv.Close() })
	return srv.URL, in, release
}

// waitForLog waits until the instance's log holds want.
func waitForLog(t *testing.T, in *instance, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if b, _ := os.ReadFile(in.log.Name()); strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log does not show %s after %s: %s", want, within, tail(in.log.Name()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exited(t *testing.T, in *instance, within time.Duration) (code int, after time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case <-in.exit:
		var ee *exec.ExitError
		if errors.As(in.waitErr, &ee) {
			return ee.ExitCode(), time.Since(start)
		}
		return 0, time.Since(start)
	case <-time.After(within):
		t.Fatalf("still running %s after the signal; log: %s", within, tail(in.log.Name()))
		return -1, 0
	}
}

// TestShutdownFinishesTransactions: on SIGTERM the listener closes, a mail
// in the middle of DATA still gets its 250, a running delivery gets the
// shutdown timeout to finish, and the process exits 0.
func TestShutdownFinishesTransactions(t *testing.T) {
	hook, arrived, _ := hangingEndpoint(t)
	storeURL := testenv.SQLite(t)
	srv := startInstance(t, storeURL, hook, "shutdown", "QOO10HOOK_DELIVERY_SHUTDOWN_TIMEOUT=1s",
		"QOO10HOOK_DELIVERY_TIMEOUT=20s", "QOO10HOOK_DELIVERY_RESCUE_AFTER=30s")
	var snd sender
	if snd.sendOn(srv.smtp, []string{"70001"}) != 1 {
		t.Fatal("first mail not accepted")
	}
	<-arrived // its delivery is now running, held by the endpoint

	c, err := smtp.Dial(srv.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("shutdown.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("qoo10info@qoo10.jp", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("orders@in.example.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	raw := mail("70002")
	half := len(raw) / 2
	if _, err := w.Write(raw[:half]); err != nil {
		t.Fatal(err)
	}

	srv.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", srv.smtp, 200*time.Millisecond)
		if err != nil {
			break // the listener is closed
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the SMTP listener still accepts 5s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := w.Write(raw[half:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("the transaction in progress at shutdown: %v, want 250", err)
	}
	code, after := exited(t, srv, 15*time.Second)
	if code != 0 {
		t.Errorf("exit code %d, want 0; log: %s", code, tail(srv.log.Name()))
	}
	// The delivery held by the endpoint was given the 1s shutdown timeout,
	// then cancelled: the process did not wait the 20s attempt timeout.
	if after > 10*time.Second {
		t.Errorf("exited %s after the SIGTERM", after)
	}

	// Both mails that got 250 are kept: the delivery cut by the shutdown
	// and the mail accepted during it are delivered after a restart.
	good := newSink(t)
	startInstance(t, storeURL, good.URL, "restarted")
	if missing := good.waitAll([]string{"70001", "70002"}, 30*time.Second); len(missing) > 0 {
		t.Errorf("after the restart, orders %v were not delivered", missing)
	}
}

// crashDuringAttempt runs an instance whose endpoint fails the first
// failFirst requests and holds the next one, kills the instance while it
// holds it, and starts another on the same store delivering to a sink. It
// returns the sink, the time of the kill, the restarted instance and the
// webhook-id of the first request.
func crashDuringAttempt(t *testing.T, failFirst int, env ...string) (good *sink, killed time.Time, restarted *instance, firstID string) {
	t.Helper()
	var first atomic.Value
	var requests atomic.Int32
	held := make(chan struct{}, 16)
	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that the server notices the client go
		first.CompareAndSwap(nil, r.Header.Get("webhook-id"))
		if int(requests.Add(1)) <= failFirst {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		select {
		case held <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(stop) })
	storeURL := testenv.SQLite(t)
	srv := startInstance(t, storeURL, hang.URL, "crashing", env...)
	var snd sender
	if snd.sendOn(srv.smtp, []string{"71001"}) != 1 {
		t.Fatal("mail not accepted")
	}
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the delivery was not attempted")
	}
	srv.kill()
	killed = time.Now()
	good = newSink(t)
	restarted = startInstance(t, storeURL, good.URL, "restarted", env...)
	return good, killed, restarted, first.Load().(string)
}

// TestCrashedAttemptRescued: a delivery whose River job was running an
// attempt when the process was killed is picked up again, under the same
// webhook-id, once delivery.rescue_after has passed, not after River's
// default hour. (Its first attempt failed, so that this one is a River
// job's: a first attempt has none on SQLite, TestCrashedFirstAttemptResent.)
func TestCrashedAttemptRescued(t *testing.T) {
	// The process is killed within the attempt's 3s; a job still running
	// after 10s counts as stuck. Only the order event is delivered.
	good, killed, rescuer, firstID := crashDuringAttempt(t, 1, "QOO10HOOK_DELIVERY_TIMEOUT=3s", "QOO10HOOK_DELIVERY_RESCUE_AFTER=10s",
		"QOO10HOOK_INVENTORY_RESERVE_ON=none", "QOO10HOOK_DELIVERY_RETRY_SCHEDULE=0s,100ms,1h")
	// River looks for stuck jobs every 30s or so.
	if missing := good.waitAll([]string{"71001"}, time.Minute); len(missing) > 0 {
		t.Fatalf("the delivery cut by the crash was not rescued within a minute; log: %s", tail(rescuer.log.Name()))
	}
	if took := time.Since(killed); took < 9*time.Second {
		t.Errorf("redelivered %s after the crash, before rescue_after (10s) had passed", took)
	}
	good.mu.Lock()
	defer good.mu.Unlock()
	if ids := good.ids["71001"]; len(ids) != 1 || ids[firstID] != 1 {
		t.Errorf("webhook ids %v, want the first attempt's %v once", ids, firstID)
	}
}

// TestCrashedFirstAttemptResent: on SQLite a first attempt runs without a
// River job; one the crash cut is sent again, under the same webhook-id,
// as soon as the process is back: one process works a SQLite store, so no
// other can be attempting it.
func TestCrashedFirstAttemptResent(t *testing.T) {
	good, killed, restarted, firstID := crashDuringAttempt(t, 0, "QOO10HOOK_DELIVERY_TIMEOUT=3s", "QOO10HOOK_DELIVERY_RESCUE_AFTER=10m",
		"QOO10HOOK_INVENTORY_RESERVE_ON=none")
	if missing := good.waitAll([]string{"71001"}, 20*time.Second); len(missing) > 0 {
		t.Fatalf("the first attempt cut by the crash was not sent again within 20s of the restart; log: %s", tail(restarted.log.Name()))
	}
	if took := time.Since(killed); took > 15*time.Second {
		t.Errorf("sent again %s after the crash", took)
	}
	good.mu.Lock()
	defer good.mu.Unlock()
	if ids := good.ids["71001"]; len(ids) != 1 || ids[firstID] != 1 {
		t.Errorf("webhook ids %v, want the first attempt's %v once", ids, firstID)
	}
}

// TestSecondSignalExitsAtOnce: a second SIGTERM during a slow shutdown
// ends the process at once, with a failure code.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	hook, arrived, _ := hangingEndpoint(t)
	srv := startInstance(t, testenv.SQLite(t), hook, "twice", "QOO10HOOK_DELIVERY_SHUTDOWN_TIMEOUT=60s",
		"QOO10HOOK_DELIVERY_TIMEOUT=50s", "QOO10HOOK_DELIVERY_RESCUE_AFTER=60s", "QOO10HOOK_LOG_LEVEL=info")
	var snd sender
	if snd.sendOn(srv.smtp, []string{"80001"}) != 1 {
		t.Fatal("mail not accepted")
	}
	<-arrived
	srv.cmd.Process.Signal(syscall.SIGTERM)
	waitForLog(t, srv, `"shutting down"`, 5*time.Second)
	// The first signal's shutdown now waits up to 60s for the delivery
	// the endpoint holds: the process must still be there a while later.
	select {
	case <-srv.exit:
		t.Fatalf("exited on the first signal although a delivery was running; log: %s", tail(srv.log.Name()))
	case <-time.After(time.Second):
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	code, after := exited(t, srv, 5*time.Second)
	if code == 0 || after > 3*time.Second {
		t.Errorf("exit code %d after %s, want a failure code at once", code, after)
	}
	if log := tail(srv.log.Name()); !strings.Contains(log, "second signal") {
		t.Errorf("the log does not say why it stopped: %s", log)
	}
}
