package smtpd

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// DefaultMaxInflightBytes is Config.MaxInflightBytes' default: the memory
// all sessions together may hold for messages being received and stored.
const DefaultMaxInflightBytes = 256 << 20

// replyNoRoom defers a message that would take the server past its
// in-flight budget: RFC 3463's "mail system full", for now.
var replyNoRoom = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, please try again later"}

// errNoRoom ends the reading of a message the budget has no room for.
var errNoRoom = errors.New("smtpd: in-flight budget exhausted")

// budget bounds the bytes of the messages being received and stored, of
// all sessions together.
//
// A transaction reserves its message's room at its first recipient, before
// the client sends a byte of it: the SIZE it declared, or the largest
// message it may send when it declared none. A message refused once its
// bytes are on the way must still be read to its end (the reply follows
// the data, and go-smtp reads it a byte at a time), so refusing at RCPT is
// what keeps a flood of large messages cheap. The buffer then grows within
// that room (by a quarter at a time), and anything past it is taken as the
// bytes arrive.
//
// Storing a message takes several times its size for a moment: its
// decoded text, its rendering, the store's copy of the blob. A small
// message reserves its size again for that. Large ones (largeMail and up)
// are stored one at a time, in a turn that holds storeFactor times the
// message, from a share of the budget kept for it (storeShare: that of
// the largest message, at most a quarter of the budget); a group
// commit then never writes more than one of them either. Large messages
// also leave smallShare to small ones, so that a normal sender's mail
// still gets in while they fill the budget.
type budget struct {
	max int64
	// msgMax is the message size limit: what a message without a
	// declared SIZE may grow to.
	msgMax     int64
	smallShare int64
	storeShare int64
	// used is what the messages hold, but for the turn: turnUsed.
	used     atomic.Int64
	turnUsed atomic.Int64
	// turn is held by the large message being stored.
	turn chan struct{}
	// gauge shows used and turnUsed; nil for none.
	gauge interface{ Set(float64) }

	// freed is closed when room is given back while someone waits for it
	// (waitRoom); mu guards it.
	mu      sync.Mutex
	freed   chan struct{}
	waiters atomic.Int32
}

// roomWait is how long a recipient waits for room before its 452: a burst
// of senders that declare no SIZE all reserve the largest message at
// once, and each holds it only until its data is in, milliseconds for a
// notification; a flood of large messages keeps the budget full longer.
const roomWait = time.Second

// Growth of a message buffer: a message that declared its SIZE gets a
// buffer of that size at once; one that did not starts small and grows by
// a quarter at a time, so its buffer is never much larger than the
// message (bytes.Buffer doubles: up to twice what is needed, plus the
// copy).
const (
	minBuffer  = 16 << 10
	growMin    = 64 << 10
	sizeSlack  = 4 << 10 // SIZE counts the message as sent; ours is close, not equal
	maxPoolCap = 1 << 20 // larger buffers are left to the collector
	// largeMail is the size from which a message is large.
	largeMail = 1 << 20
	// storeFactor is what storing a large message takes beside its buffer,
	// in times its size: parsing a message of plain text peaks at four
	// times its size (its part, decoded, normalised, cut in lines), and
	// the SQLite driver's copies outside Go's heap are two.
	storeFactor = 4
)

func newBudget(total, msgMax int64, gauge interface{ Set(float64) }) *budget {
	// The turn's share is at most a quarter of the budget, and neither
	// share leaves less than the largest message to the others.
	largest := min(msgMax+1, total)
	store := min(storeFactor*largest, total/4, total-largest)
	small := min(total/16, total-largest-store)
	return &budget{max: total, msgMax: msgMax, smallShare: small, storeShare: store,
		turn: make(chan struct{}, 1), gauge: gauge}
}

// limit is how far reservations may fill the budget for a message of
// size bytes.
func (b *budget) limit(size int64) int64 {
	if size >= largeMail {
		return b.max - b.storeShare - b.smallShare
	}
	return b.max - b.storeShare
}

// take reserves n bytes if used stays within limit, and reports whether
// it did.
func (b *budget) take(n, limit int64) bool {
	if b.used.Add(n) > limit {
		b.used.Add(-n)
		return false
	}
	b.show()
	return true
}

func (b *budget) give(n int64) {
	b.used.Add(-n)
	b.show()
	if b.waiters.Load() > 0 {
		b.mu.Lock()
		if b.freed != nil {
			close(b.freed)
			b.freed = nil
		}
		b.mu.Unlock()
	}
}

func (b *budget) show() {
	if b.gauge != nil {
		b.gauge.Set(float64(b.used.Load() + b.turnUsed.Load()))
	}
}

// room is what a transaction reserves for its message: the size it
// declared (0 for none), else the largest it may send.
func (b *budget) room(declared int64) int64 {
	if declared > 0 {
		return min(declared+sizeSlack, b.msgMax+1, b.max)
	}
	return min(b.msgMax+1, b.max)
}

// fits tells whether a message of declared bytes would fit now (RFC 1870:
// a SIZE the server cannot take now is refused at MAIL).
func (b *budget) fits(declared int64) bool {
	n := b.room(declared)
	return b.used.Load()+n <= b.limit(n)
}

// reserve takes the room of a transaction's message (see room) and
// returns it, or 0 when the budget has none.
func (b *budget) reserve(declared int64) int64 {
	n := b.room(declared)
	if !b.take(n, b.limit(n)) {
		return 0
	}
	return n
}

// reserveWaiting is reserve, waiting up to wait (or until ctx ends) for
// room to be given back.
func (b *budget) reserveWaiting(ctx context.Context, declared int64, wait time.Duration) int64 {
	b.waiters.Add(1)
	defer b.waiters.Add(-1)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		// Taken before trying, so that room given back after a failed
		// try still wakes this waiter.
		b.mu.Lock()
		if b.freed == nil {
			b.freed = make(chan struct{})
		}
		freed := b.freed
		b.mu.Unlock()
		if n := b.reserve(declared); n > 0 {
			return n
		}
		select {
		case <-freed:
		case <-deadline.C:
			return 0
		case <-ctx.Done():
			return 0
		}
	}
}

var bufferPool = sync.Pool{New: func() any { return make([]byte, 0, minBuffer) }}

// mailBuffer is one message's bytes, within the budget.
type mailBuffer struct {
	b      []byte
	budget *budget
	// reserved is what the message holds of the budget: at least what
	// its buffer takes, and at first the room its transaction reserved.
	reserved int64
	// size decides which limit of the budget the message is held to (see
	// budget.limit).
	size int64
	max  int64 // the message size limit: never grow past it (+1, to see it passed)
	// turn is set while the message holds the turn to store a large one.
	turn bool
}

// newMailBuffer returns the buffer of a message of declared bytes (0 when
// the client did not say), holding the reserved bytes its transaction
// took at RCPT (0 for none), or nil when the budget has no room for it.
// On nil, reserved has been given back.
func newMailBuffer(bg *budget, reserved, declared, msgMax int64) *mailBuffer {
	var b []byte
	if declared > 0 && declared+sizeSlack > minBuffer {
		b = make([]byte, 0, min(declared+sizeSlack, msgMax+1))
	} else {
		b = bufferPool.Get().([]byte)[:0]
	}
	m := &mailBuffer{b: b, budget: bg, reserved: reserved, size: max(reserved, int64(cap(b))), max: msgMax}
	if !m.hold(int64(cap(b))) {
		m.release()
		return nil
	}
	return m
}

// hold makes the message's reservation at least n bytes.
func (m *mailBuffer) hold(n int64) bool {
	if n <= m.reserved {
		return true
	}
	if !m.budget.take(n-m.reserved, m.budget.limit(max(m.size, int64(len(m.b))))) {
		return false
	}
	m.reserved = n
	return true
}

// readFrom reads r to its end, growing the buffer within the budget; it
// returns errNoRoom when the budget cannot take the next step.
func (m *mailBuffer) readFrom(r io.Reader) (int64, error) {
	var n int64
	for {
		if len(m.b) == cap(m.b) {
			if err := m.grow(); err != nil {
				return n, err
			}
		}
		k, err := r.Read(m.b[len(m.b):cap(m.b)])
		m.b = m.b[:len(m.b)+k]
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (m *mailBuffer) grow() error {
	old := int64(cap(m.b))
	next := min(old+max(old/4, growMin), m.max+1)
	if next <= old {
		next = old + growMin // past the limit: go-smtp's reader ends it
	}
	// Both buffers live while the bytes are copied; past the copy, what
	// the transaction reserved stays held, the rest goes back.
	keep := max(m.reserved, next)
	if !m.hold(old + next) {
		return errNoRoom
	}
	nb := make([]byte, len(m.b), next)
	copy(nb, m.b)
	if cap(m.b) <= maxPoolCap {
		bufferPool.Put(m.b[:0])
	}
	m.b = nb
	m.budget.give(m.reserved - keep)
	m.reserved = keep
	return nil
}

func (m *mailBuffer) bytes() []byte { return m.b }

// large tells whether the message is stored in its turn (awaitTurn).
func (m *mailBuffer) large() bool { return int64(len(m.b)) >= largeMail }

// reserveForStoring makes the reservation what storing the message
// takes, and reports whether the budget had room: a small message holds
// its buffer and as much again for the copies storing makes; a large one
// its buffer alone until its turn (awaitTurn). What the transaction
// reserved beyond that goes back.
func (m *mailBuffer) reserveForStoring() bool {
	need := int64(cap(m.b))
	if !m.large() {
		need += int64(len(m.b))
	}
	if !m.hold(need) {
		return false
	}
	m.budget.give(m.reserved - need)
	m.reserved = need
	return true
}

// awaitTurn waits for the turn to store a large message, until ctx ends
// or deadline passes, and reserves what storing it takes from the share
// kept for the turn. It reports whether it got the turn; release gives it
// back.
func (m *mailBuffer) awaitTurn(ctx context.Context, deadline time.Time) bool {
	select {
	case m.budget.turn <- struct{}{}:
	default:
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case m.budget.turn <- struct{}{}:
		case <-ctx.Done():
			return false
		case <-t.C:
			return false
		}
	}
	m.turn = true
	m.budget.turnUsed.Store(min(storeFactor*int64(len(m.b)), m.budget.storeShare))
	m.budget.show()
	return true
}

// release gives the buffer's room back, and the turn if it has it; the
// buffer must not be used after.
func (m *mailBuffer) release() {
	if m.b != nil && cap(m.b) <= maxPoolCap {
		bufferPool.Put(m.b[:0])
	}
	if m.turn {
		m.budget.turnUsed.Store(0)
		<-m.budget.turn
	}
	m.budget.give(m.reserved)
	m.b, m.reserved, m.turn = nil, 0, false
}

// reserveRoom reserves the room of the transaction's message at its first
// recipient (see budget), and answers 452 4.3.1 when none comes within
// roomWait.
func (s *session) reserveRoom() error {
	if s.reserved.Load() > 0 {
		return nil
	}
	n := s.s.inflight.reserveWaiting(s.ctx, s.declared, roomWait)
	if n == 0 {
		s.log.Info("recipient deferred: in-flight budget full", "declared", s.declared)
		return s.refuse("no_room", replyNoRoom)
	}
	s.reserved.Store(n)
	return nil
}

// releaseRoom gives back the room of a transaction that ended before its
// data was read. Data takes the room over, and go-smtp may call Reset
// while Data still runs (RSET between two BDAT chunks): hence the swap.
func (s *session) releaseRoom() { s.s.inflight.give(s.reserved.Swap(0)) }
