package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"
	"time"

	"github.com/riverqueue/river/riverdriver"
)

// insertTopic is the topic on which River's producers hear that jobs were
// queued (River's notifier.NotificationTopicInsert).
const insertTopic = "river_insert"

// wakingDriver is River's SQLite driver with a listener that also hears
// this process's own commits. River's SQLite listener polls an outbox table
// (every 50 ms, on the store's one writer connection); a commit that queued
// deliveries wakes their queues' producers at once through wake instead,
// and the outbox stays the path for other processes (the command line).
type wakingDriver struct {
	riverdriver.Driver[*sql.Tx]
	listener *wakingListener
}

func newWakingDriver(d riverdriver.Driver[*sql.Tx]) *wakingDriver {
	return &wakingDriver{Driver: d, listener: &wakingListener{signal: make(chan struct{}, 1), queues: map[string]bool{}}}
}

// GetListener wraps the driver's listener; River asks for it once.
func (d *wakingDriver) GetListener(p *riverdriver.GetListenenerParams) riverdriver.Listener {
	d.listener.Listener = d.Driver.GetListener(p)
	return d.listener
}

// wake tells the producers of the queues that jobs are ready for them.
func (d *wakingDriver) wake(queues []string) { d.listener.wake(queues) }

// wakingListener hands River's notifier the local wake-ups first, and the
// wrapped listener's notifications otherwise.
type wakingListener struct {
	riverdriver.Listener

	mu sync.Mutex
	// queues waiting for a wake-up, so that a burst of commits wakes each
	// producer once rather than flooding the notifier's buffer.
	queues map[string]bool
	// polled holds a notification the wrapped listener returned while a
	// local wake-up was handed over instead.
	polled []*riverdriver.Notification
	signal chan struct{}
	// nextPoll is when the wrapped listener may next be asked to wait
	// after a local wake-up cancelled its wait: it queries the outbox at
	// once when asked, and commits, each waking, would otherwise make that
	// a query per commit on the writer connection instead of one per
	// listenerPollInterval. Only River's notifier goroutine, which calls
	// WaitForNotification, reads and writes it.
	nextPoll time.Time
}

// listenerPollInterval is how often River's SQLite listener queries its
// outbox (riversqlite's own default).
const listenerPollInterval = 50 * time.Millisecond

func (l *wakingListener) wake(queues []string) {
	l.mu.Lock()
	for _, q := range queues {
		l.queues[q] = true
	}
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

// next returns a waiting notification, local or polled, or nil.
func (l *wakingListener) next() *riverdriver.Notification {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.polled) > 0 {
		n := l.polled[0]
		l.polled = l.polled[1:]
		return n
	}
	for q := range l.queues {
		delete(l.queues, q)
		return &riverdriver.Notification{Topic: insertTopic, Payload: queuePayload(q)}
	}
	return nil
}

// WaitForNotification waits for a local wake-up or the wrapped listener's
// next notification, whichever comes first.
func (l *wakingListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	for {
		if n := l.next(); n != nil {
			return n, nil
		}
		if wait := time.Until(l.nextPoll); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-l.signal:
				t.Stop()
				continue
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
		start := time.Now()
		waitCtx, cancel := context.WithCancel(ctx)
		type result struct {
			n   *riverdriver.Notification
			err error
		}
		polled := make(chan result, 1)
		go func() {
			n, err := l.Listener.WaitForNotification(waitCtx)
			polled <- result{n, err}
		}()
		select {
		case r := <-polled:
			cancel()
			return r.n, r.err
		case <-l.signal:
			cancel()
			l.nextPoll = start.Add(listenerPollInterval)
			// The wrapped listener stops at the cancel; what it read
			// meanwhile is kept for the next call.
			if r := <-polled; r.err == nil && r.n != nil {
				l.mu.Lock()
				l.polled = append(l.polled, r.n)
				l.mu.Unlock()
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
}

// wakeAfterCommit wakes this process's producers of the queues once the
// group commit of ctx (see AfterCommit) has committed. River notifies
// other processes itself when it inserts jobs.
func (s *Store) wakeAfterCommit(ctx context.Context, queues []string) {
	if s.waker != nil && len(queues) > 0 {
		AfterCommit(ctx, func() { s.waker.wake(queues) })
	}
}

// wakeQueue tells the queue's producers, once tx commits, that tx made
// jobs ready that River did not insert (a job made available again):
// through River's notification outbox or NOTIFY, which every instance
// hears, and at once in this process.
func (s *Store) wakeQueue(ctx context.Context, tx *sql.Tx, queue string) error {
	s.wakeAfterCommit(ctx, []string{queue})
	return s.river.Driver().UnwrapExecutor(tx).NotifyMany(ctx,
		&riverdriver.NotifyManyParams{Payload: []string{queuePayload(queue)}, Topic: insertTopic})
}

// queuePayload is the payload of an insert notification for queue q.
func queuePayload(q string) string {
	p, _ := json.Marshal(struct {
		Queue string `json:"queue"`
	}{q})
	return string(p)
}
