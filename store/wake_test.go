package store

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// pollingListener stands for River's SQLite listener: it returns what is
// put in it, and otherwise waits until its context ends.
type pollingListener struct {
	riverdriver.Listener
	mu  sync.Mutex
	out []*riverdriver.Notification
	// asks counts the waits asked of it: each starts with a query of the
	// outbox in River's listener.
	asks atomic.Int64
}

func (l *pollingListener) put(n *riverdriver.Notification) {
	l.mu.Lock()
	l.out = append(l.out, n)
	l.mu.Unlock()
}

func (l *pollingListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	l.asks.Add(1)
	for {
		l.mu.Lock()
		if len(l.out) > 0 {
			n := l.out[0]
			l.out = l.out[1:]
			l.mu.Unlock()
			return n, nil
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestWakingListener: a local wake-up ends a wait the wrapped listener
// would not end, a burst of wake-ups of one queue gives one notification,
// and what the wrapped listener returns is handed over too.
func TestWakingListener(t *testing.T) {
	inner := &pollingListener{}
	l := &wakingListener{Listener: inner, signal: make(chan struct{}, 1), queues: map[string]bool{}}

	got := make(chan *riverdriver.Notification)
	go func() {
		n, err := l.WaitForNotification(t.Context())
		if err != nil {
			t.Error(err)
		}
		got <- n
	}()
	l.wake([]string{"ep_a"})
	select {
	case n := <-got:
		if n.Topic != insertTopic || n.Payload != `{"queue":"ep_a"}` {
			t.Errorf("got %+v", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a wake-up did not end the wait")
	}

	for range 100 {
		l.wake([]string{"ep_b", "ep_b"})
	}
	inner.put(&riverdriver.Notification{Topic: "river_control", Payload: "{}"})
	seen := map[string]int{}
	for range 2 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		n, err := l.WaitForNotification(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		seen[n.Topic+" "+n.Payload]++
	}
	if seen[`river_insert {"queue":"ep_b"}`] != 1 || seen["river_control {}"] != 1 {
		t.Errorf("got %v, want one wake-up of ep_b and the wrapped listener's notification", seen)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if n, err := l.WaitForNotification(ctx); err == nil {
		t.Errorf("a third notification: %+v", n)
	}
}

// TestWakingListenerPollsAtItsInterval: wake-ups, one per commit, do not
// make the wrapped listener query its outbox more often than every
// listenerPollInterval, and notifications it has read come without delay.
func TestWakingListenerPollsAtItsInterval(t *testing.T) {
	inner := &pollingListener{}
	l := &wakingListener{Listener: inner, signal: make(chan struct{}, 1), queues: map[string]bool{}}
	const wakes = 200
	start := time.Now()
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				l.wake([]string{"ep_a"})
			}
		}
	}()
	for range wakes {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err := l.WaitForNotification(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	elapsed := time.Since(start)
	if asks, most := inner.asks.Load(), int64(elapsed/listenerPollInterval)+2; asks > most {
		t.Errorf("%d wake-ups in %v asked the wrapped listener %d times; want at most %d", wakes, elapsed, asks, most)
	}

	for range 10 {
		inner.put(&riverdriver.Notification{Topic: "river_control", Payload: "{}"})
	}
	start = time.Now()
	for range 10 {
		if _, err := l.WaitForNotification(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 8*listenerPollInterval {
		t.Errorf("10 notifications read already took %v", d)
	}
}

// TestIsScript: only a semicolon between statements makes a script; one in
// a comment, a string or at the end does not.
func TestIsScript(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1":                                  false,
		"SELECT 1;":                                 false,
		"SELECT 1; SELECT 2":                        true,
		"-- once; not twice\nSELECT 1":              false,
		"/* a; b */ SELECT 1":                       false,
		"SELECT ';' FROM t":                         false,
		`SELECT "a;b" FROM t; DELETE FROM t`:        true,
		"SELECT 1 -- trailing; comment":             false,
		"UPDATE t SET a = 1; -- done\nUPDATE t SET": true,
	} {
		if got := isScript(q); got != want {
			t.Errorf("isScript(%q) = %v, want %v", q, got, want)
		}
	}
}

// TestRiverFetchKeepsItsPlan: River's fetch statement, as the SQLite
// driver runs it now, is prepared with its LIMIT as an expression, so that
// fetches taking different numbers of jobs do not each prepare it again.
func TestRiverFetchKeepsItsPlan(t *testing.T) {
	s := open(t, testenv.SQLite(t), Options{})
	exec := s.river.Driver().GetExecutor()
	for n := range 3 {
		if _, err := exec.JobGetAvailable(t.Context(), &riverdriver.JobGetAvailableParams{
			ClientID: "test", MaxAttemptedBy: 100, MaxToLock: n + 1, Queue: "ep_test"}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := s.db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	found := false
	err = conn.Raw(func(dc any) error {
		for q := range dc.(*cachingConn).stmts {
			if !strings.HasPrefix(q, riverFetch) {
				continue
			}
			found = true
			if preparedText(q) == q {
				t.Errorf("River's fetch statement has no %q any more; it is prepared as written:\n%s", riverFetchLimit, q)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Errorf("no cached statement begins %q: River's fetch statement changed", riverFetch)
	}
}
