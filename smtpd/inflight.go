package smtpd

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

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
// all sessions together. A session reserves what its buffer holds before
// it grows it, and gives it back once the sink has the mail.
type budget struct {
	max  int64
	used atomic.Int64
	// gauge shows used; nil for none.
	gauge interface{ Set(float64) }
}

// take reserves n bytes and reports whether they fit.
func (b *budget) take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	b.show()
	return true
}

// room tells whether a message of declared bytes would fit now.
func (b *budget) room(declared int64) bool {
	return b.used.Load()+declared+sizeSlack <= b.max
}

func (b *budget) give(n int64) {
	b.used.Add(-n)
	b.show()
}

func (b *budget) show() {
	if b.gauge != nil {
		b.gauge.Set(float64(b.used.Load()))
	}
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
)

var bufferPool = sync.Pool{New: func() any { return make([]byte, 0, minBuffer) }}

// mailBuffer is one message's bytes, within the budget.
type mailBuffer struct {
	b        []byte
	budget   *budget
	reserved int64
	max      int64 // the message size limit: never grow past it (+1, to see it passed)
}

// newMailBuffer reserves room for a message of declared bytes (0 when the
// client did not say) and returns its buffer, or nil when the budget has
// no room.
func newMailBuffer(bg *budget, declared, max int64) *mailBuffer {
	var b []byte
	if declared > 0 && declared+sizeSlack > minBuffer {
		b = make([]byte, 0, min(declared+sizeSlack, max+1))
	} else {
		b = bufferPool.Get().([]byte)[:0]
	}
	if !bg.take(int64(cap(b))) {
		return nil
	}
	return &mailBuffer{b: b, budget: bg, reserved: int64(cap(b)), max: max}
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
	// Both buffers live while the bytes are copied.
	if !m.budget.take(next) {
		return errNoRoom
	}
	nb := make([]byte, len(m.b), next)
	copy(nb, m.b)
	m.release()
	m.b, m.reserved = nb, next
	return nil
}

func (m *mailBuffer) bytes() []byte { return m.b }

// reserveForStoring reserves, beside the buffer, as much again for the
// copies storing the message makes (its decoded parts, the driver's copy
// of the blob), and reports whether the budget had room.
func (m *mailBuffer) reserveForStoring() bool {
	n := int64(len(m.b))
	if !m.budget.take(n) {
		return false
	}
	m.reserved += n
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
