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
// the data), so refusing at RCPT is what keeps a flood of large messages
// cheap. The buffer then grows within that room (by a quarter at a time),
// and anything past it is taken as the bytes arrive.
//
// Large messages (largeMail and up) are stored one at a time: parsing one
// and the store's copies of it take several times its size for a moment,
// which the memory headroom beside the budget covers once, not once per
// message; and a group commit then never writes more than one of them.
// Small ones reserve their size again for being stored.
type budget struct {
	max int64
	// msgMax is the message size limit: what a message without a
	// declared SIZE may grow to.
	msgMax int64
	// smallShare is the part of max that large messages leave to small
	// ones, so that the mail of a normal sender still gets in while large
	// ones fill the budget.
	smallShare int64
	used       atomic.Int64
	// storing is the turn of the large message being stored.
	storing chan struct{}
	// gauge shows used; nil for none.
	gauge interface{ Set(float64) }
}

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
	// largeMail is the size from which a message is large: stored one at
	// a time, and kept out of the small messages' share of the budget.
	largeMail = 1 << 20
)

func newBudget(total, msgMax int64, gauge interface{ Set(float64) }) *budget {
	// Large messages leave a sixteenth of the budget to small ones, as
	// long as the largest message still fits in the rest.
	share := min(total/16, total-min(msgMax+1, total))
	return &budget{max: total, msgMax: msgMax, smallShare: share, storing: make(chan struct{}, 1), gauge: gauge}
}

// limit is how far reservations may fill the budget for a message of
// size bytes.
func (b *budget) limit(size int64) int64 {
	if size >= largeMail {
		return b.max - b.smallShare
	}
	return b.max
}

// take reserves n bytes for a message of size bytes and reports whether
// they fit.
func (b *budget) take(n, size int64) bool {
	if b.used.Add(n) > b.limit(size) {
		b.used.Add(-n)
		return false
	}
	b.show()
	return true
}

func (b *budget) give(n int64) {
	if n == 0 {
		return
	}
	b.used.Add(-n)
	b.show()
}

func (b *budget) show() {
	if b.gauge != nil {
		b.gauge.Set(float64(b.used.Load()))
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
	if !b.take(n, n) {
		return 0
	}
	return n
}

// awaitStoring waits for the turn to store a large message, until ctx
// ends or deadline passes; it reports whether it got the turn, which
// doneStoring gives back.
func (b *budget) awaitStoring(ctx context.Context, deadline time.Time) bool {
	select {
	case b.storing <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case b.storing <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

func (b *budget) doneStoring() { <-b.storing }

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
	if !m.budget.take(n-m.reserved, max(m.size, int64(len(m.b)))) {
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

// large tells whether the message is stored in its turn (awaitStoring).
func (m *mailBuffer) large() bool { return int64(len(m.b)) >= largeMail }

// reserveForStoring makes the reservation what storing the message
// takes, and reports whether the budget had room: a small message holds
// its buffer and as much again for the copies storing makes (its decoded
// parts, the driver's copy of the blob); a large one its buffer alone,
// as it is stored in its turn. What the transaction reserved beyond that
// goes back.
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

// release gives the buffer's room back; the buffer must not be used after.
func (m *mailBuffer) release() {
	if m.b != nil && cap(m.b) <= maxPoolCap {
		bufferPool.Put(m.b[:0])
	}
	m.budget.give(m.reserved)
	m.b, m.reserved = nil, 0
}

// reserveRoom reserves the room of the transaction's message at its first
// recipient (see budget), and answers 452 4.3.1 when there is none.
func (s *session) reserveRoom() error {
	if s.reserved.Load() > 0 {
		return nil
	}
	n := s.s.inflight.reserve(s.declared)
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
