package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/qoo10hook/qoo10hook/event"
)

// Mail statuses.
const (
	MailParsed         = "parsed"          // an order event was read whole and routed
	MailPartial        = "partial"         // an order event was read and routed, with problems (fields missing or unreadable)
	MailUnrecognized   = "unrecognized"    // no order event; reported as mail.unrecognized
	MailDuplicateEvent = "duplicate_event" // every event it carried was already known from another mail
	MailQuarantined    = "quarantined"     // stored, not delivered until released
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"   // queued or waiting for its next attempt
	DeliveryDelivered = "delivered" // the endpoint answered 2xx
	DeliveryFailed    = "failed"    // the endpoint refused it for good (4xx); kept, visible
	DeliveryDead      = "dead"      // the retry schedule ran out: a dead letter
	DeliveryHeld      = "held"      // its mail is quarantined
)

// Errors Ingest returns; the SMTP session maps them to reply codes.
var (
	ErrBusy   = errors.New("store: backlog full")
	ErrClosed = errors.New("store: closed")
)

// Mail is one accepted SMTP transaction, as stored.
type Mail struct {
	QueueID    string
	ReceivedAt time.Time
	RemoteAddr string
	Helo       string
	MailFrom   string
	Rcpts      []string
	Tenant     string
	MessageID  string
	// DedupKey identifies the mail across re-sends: its Message-ID, or a
	// digest of Date, From, Subject and body where it has none.
	DedupKey  string
	Subject   string
	Raw       []byte
	Status    string
	EventType string
	Template  string
	Parser    string
	Problems  []string
	SellerID  string
	PackNo    string
}

// Event is an event read from a mail, with the endpoints it goes to.
type Event struct {
	ID        string
	Type      string
	Tenant    string
	SellerID  string
	PackNo    string
	OrderNos  []string
	CreatedAt time.Time
	// Payload is the webhook body, signed and sent as is on every attempt.
	Payload    []byte
	Deliveries []NewDelivery

	// order is decodedFrom, the Payload it was decoded from, decoded as an
	// order event's, once for every deriver (OrderPayload); decodeErr is
	// why it could not be.
	order       *event.OrderPayload
	decodedFrom []byte
	decodeErr   error
}

// OrderPayload returns the event's payload decoded as an order event's.
// It is decoded once and shared by every caller, who must not modify it:
// Ingest decodes it before the mail waits for the store's writer, so that
// the derivers running there do not each decode it again. A Payload
// replaced since (a re-parse's) is decoded anew.
func (e *Event) OrderPayload() (*event.OrderPayload, error) {
	if (e.order == nil && e.decodeErr == nil) || !sameBytes(e.decodedFrom, e.Payload) {
		e.order, e.decodedFrom = new(event.OrderPayload), e.Payload
		if e.decodeErr = json.Unmarshal(e.Payload, e.order); e.decodeErr != nil {
			e.order = nil
		}
	}
	return e.order, e.decodeErr
}

// SetOrderPayload gives the event its decoded payload, for one who built
// the Payload and holds what decoding it gives (event.Event.Payload).
func (e *Event) SetOrderPayload(p *event.OrderPayload) {
	e.order, e.decodedFrom, e.decodeErr = p, e.Payload, nil
}

// sameBytes tells whether a and b are the same slice, not equal contents.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// NewDelivery is a delivery to create with an event.
type NewDelivery struct {
	Endpoint string
	// OrderKey groups deliveries that must reach the endpoint in the order
	// their mails were received (one cart: seller_id + pack_no).
	OrderKey string
	// SecondKey, when set, is another group the delivery follows without
	// holding it up: it also waits for the earlier pending deliveries of
	// that group and for the earlier ones following it, while the group's
	// later deliveries do not wait for it. (A cart's stock adjustments
	// follow its order events, in the cart's order, and the cart's next
	// events do not wait for a SKU's chain of adjustments.)
	SecondKey string
	// KeyShared marks an OrderKey that many carts share (a SKU's). On
	// PostgreSQL the store locks every other OrderKey while it stores the
	// delivery (lockOrderKeys), and not this one: every mail of a flash
	// sale would wait for the one before it to commit.
	KeyShared bool
}

// Ingest is what one mail adds to the store, in one transaction.
type Ingest struct {
	Mail   Mail
	Events []Event
	// Hold stores deliveries as held (quarantine) instead of queueing them.
	Hold bool
}

// Receipt tells what Ingest did.
type Receipt struct {
	MailID int64
	// DuplicateMail is set when the same mail was already stored: nothing
	// was written but its duplicate count.
	DuplicateMail bool
	// NewEvents and DuplicateEvents split the mail's events by whether an
	// earlier mail already carried them.
	NewEvents       []string
	DuplicateEvents []string
	// DerivedEvents are the new events the store's Deriver added, and
	// DerivedTypes their types, in the same order.
	DerivedEvents []string
	DerivedTypes  []string
	Deliveries    int
}

// Deriver returns events derived from a new event (inventory adjustments
// from an order event), computed and stored in the transaction that
// stores the event: what it reads and writes through tx is exactly as
// durable as the event. It is not called for duplicate events, nor for
// the events it returns.
type Deriver func(ctx context.Context, tx *sql.Tx, ev *Event) ([]Event, error)

// Derivers chains derivers into one: each is called with every new event,
// in the order given, and their events are stored in that order. Nil
// derivers are skipped.
func Derivers(ds ...Deriver) Deriver {
	return func(ctx context.Context, tx *sql.Tx, ev *Event) ([]Event, error) {
		var out []Event
		for _, d := range ds {
			if d == nil {
				continue
			}
			evs, err := d(ctx, tx, ev)
			if err != nil {
				return nil, err
			}
			out = append(out, evs...)
		}
		return out, nil
	}
}

// DeliveryArgs is the River job that delivers one delivery row.
type DeliveryArgs struct {
	DeliveryID int64 `json:"delivery_id"`
}

// Kind names the job in River.
func (DeliveryArgs) Kind() string { return "delivery" }

// QueueName is the River queue of an endpoint's deliveries: one queue per
// endpoint bounds its concurrency and lets it be paused alone.
func QueueName(endpoint string) string { return "ep_" + endpoint }

// Ingest stores the mail, its events and their deliveries durably: it
// returns after the transaction that holds them has committed, with other
// mails' (group commit). It returns ErrBusy when too many mails are
// already waiting.
func (s *Store) Ingest(ctx context.Context, in *Ingest) (Receipt, error) {
	r, err := s.queue(ctx, in)
	if err != nil {
		return Receipt{}, err
	}
	return s.commit.wait(r)
}

// Pending is a mail Submit queued, until its transaction commits.
type Pending struct {
	c *committer
	r *commitRequest
}

// Submit queues the mail for a group commit, as Ingest does, and returns
// without waiting for it (Pending.Wait does): a caller with several mails
// submits each, then waits, so that they can share transactions. Mails
// submitted before the store starts wait, queued, for it. It returns
// ErrBusy when too many mails are already waiting.
func (s *Store) Submit(ctx context.Context, in *Ingest) (*Pending, error) {
	r, err := s.queue(ctx, in)
	if err != nil {
		return nil, err
	}
	return &Pending{c: s.commit, r: r}, nil
}

// queue queues in for the committer.
func (s *Store) queue(ctx context.Context, in *Ingest) (*commitRequest, error) {
	if s.derive != nil {
		for i := range in.Events {
			if ev := &in.Events[i]; event.Type(ev.Type).IsOrder() {
				ev.OrderPayload() // decoded here, in the caller's goroutine, not in the writer
			}
		}
	}
	return s.commit.queue(ctx, in)
}

// Wait returns the mail's receipt once its transaction has committed, or
// why it was not stored.
func (p *Pending) Wait() (Receipt, error) { return p.c.wait(p.r) }

// pendingJob is a River job to insert once the batch's rows exist.
type pendingJob struct {
	deliveryID int64
	endpoint   string
	// orderKey and secondKey are the delivery's (NewDelivery): one
	// without either follows nothing (parkedBehind).
	orderKey, secondKey string
	// delivery is the new delivery as stored, for a Dispatcher to attempt
	// without reading it back; nil without a Dispatcher, or where it is
	// not at hand.
	delivery *Delivery
}

// ingestTx writes one mail into tx and returns the jobs its deliveries
// need. row, when not nil, is the mail's row as a pipeline stored it
// already (PostgreSQL: insertMailsPostgres).
func (s *Store) ingestTx(ctx context.Context, b *batchTx, in *Ingest, row *mailRow) (Receipt, []pendingJob, error) {
	var rc Receipt
	m := &in.Mail
	var err error
	if row == nil {
		row = &mailRow{}
		row.id, row.inserted, err = b.insert(ctx, insertMail, mailArgs(in)...)
	}
	id, inserted, firstStored := row.id, row.inserted, row.firstStored
	rc.MailID = id
	if err == nil && !inserted {
		rc.DuplicateMail = true
		err = b.exec(ctx, `UPDATE mail SET duplicates = duplicates + 1 WHERE dedup_key = $1`, m.DedupKey)
		return rc, nil, err
	}
	if err != nil {
		return rc, nil, fmt.Errorf("insert mail: %w", err)
	}

	var jobs []pendingJob
	status := DeliveryPending
	if in.Hold {
		status = DeliveryHeld
	}
	// A quarantined mail derives nothing (it must not move stock) until
	// an operator releases it.
	var derive func(*Event) ([]Event, error)
	if s.derive != nil && !in.Hold {
		derive = func(ev *Event) ([]Event, error) { return s.derived(ctx, b.tx, ev) }
	}
	for i := range in.Events {
		ev := &in.Events[i]
		stored := firstStored
		if i > 0 {
			stored = nil
		}
		isNew, evJobs, err := s.insertEvent(ctx, b, rc.MailID, m.ReceivedAt, ev, status, &rc, derive, stored)
		if err != nil {
			return rc, nil, err
		}
		if !isNew {
			rc.DuplicateEvents = append(rc.DuplicateEvents, ev.ID)
			continue
		}
		rc.NewEvents = append(rc.NewEvents, ev.ID)
		jobs = append(jobs, evJobs...)
	}
	if len(in.Events) > 0 && len(rc.NewEvents) == 0 && (m.Status == MailParsed || m.Status == MailPartial) {
		if err := b.exec(ctx, `UPDATE mail SET status = $1 WHERE id = $2`, MailDuplicateEvent, rc.MailID); err != nil {
			return rc, nil, fmt.Errorf("mark duplicate event: %w", err)
		}
	}
	return rc, jobs, nil
}

// deriveFrom stores the events the Deriver derives from ev, a new event
// of mail mailID, with their deliveries in status, and returns their jobs.
func (s *Store) deriveFrom(ctx context.Context, b *batchTx, mailID int64, received time.Time, ev *Event, status string, rc *Receipt) ([]pendingJob, error) {
	derived, err := s.derived(ctx, b.tx, ev)
	if err != nil {
		return nil, err
	}
	return s.insertDerived(ctx, b, mailID, received, derived, status, rc, nil)
}

// derived returns the events the Deriver derives from ev.
func (s *Store) derived(ctx context.Context, tx *sql.Tx, ev *Event) ([]Event, error) {
	derived, err := s.derive(ctx, tx, ev)
	if err != nil {
		return nil, fmt.Errorf("derive from %s: %w", ev.ID, err)
	}
	return derived, nil
}

// insertDerived stores derived events of mail mailID with their
// deliveries in status, notes the new ones in rc, and returns their jobs.
// stored, when not nil, tells that the events' rows were written already,
// and for each whether they went in (insertEvent).
func (s *Store) insertDerived(ctx context.Context, b *batchTx, mailID int64, received time.Time, derived []Event, status string, rc *Receipt,
	stored []bool) ([]pendingJob, error) {
	var jobs []pendingJob
	for j := range derived {
		d := &derived[j]
		var rowsStored *bool
		if stored != nil {
			rowsStored = &stored[j]
		}
		isNew, dJobs, err := s.insertEvent(ctx, b, mailID, received, d, status, rc, nil, rowsStored)
		if err != nil {
			return nil, err
		}
		if isNew {
			rc.DerivedEvents = append(rc.DerivedEvents, d.ID)
			rc.DerivedTypes = append(rc.DerivedTypes, d.Type)
			jobs = append(jobs, dJobs...)
		}
	}
	return jobs, nil
}

// insertEvent stores an event and its order numbers, then its deliveries
// in status and the events derive (if not nil) derives from it, with
// theirs, and returns the jobs of all those deliveries. It reports false,
// and writes nothing, for an event id already stored.
//
// It derives before it stores a delivery: the derivers lock the cart's
// record and a catalog SKU's stock row, so that on PostgreSQL two writers
// storing mails of one cart or SKU give their deliveries ids in the order
// they took those locks, each seeing the other's when it looks for
// deliveries to wait for (insertJobs). Numbered first, the later-locked
// mail's deliveries could have the lower ids, follow nothing, and go
// beside the earlier one's.
//
// stored, when not nil, tells that the event's rows were written already,
// by a statement that wrote more (on PostgreSQL, to spare a round trip),
// and whether they went in.
func (s *Store) insertEvent(ctx context.Context, b *batchTx, mailID int64, received time.Time, ev *Event, status string, rc *Receipt,
	derive func(*Event) ([]Event, error), stored *bool) (bool, []pendingJob, error) {
	if stored == nil {
		inserted, err := insertEventRows(ctx, b, mailID, ev)
		if err != nil {
			return false, nil, err
		}
		stored = &inserted
	}
	if !*stored {
		return false, nil, nil
	}
	var derived []Event
	if derive != nil {
		var err error
		if derived, err = derive(ev); err != nil {
			return false, nil, err
		}
	}
	// On PostgreSQL the derived events' rows go in the statement of the
	// event's last delivery.
	var carried []Event
	if s.kind == Postgres {
		carried = derived
	}
	jobs, carriedStored, err := s.insertDeliveries(ctx, b, mailID, received, ev, status, rc, carried)
	if err != nil {
		return false, nil, err
	}
	dJobs, err := s.insertDerived(ctx, b, mailID, received, derived, status, rc, carriedStored)
	if err != nil {
		return false, nil, err
	}
	return true, append(jobs, dJobs...), nil
}

// insertDeliveries stores the deliveries of ev, a new event of mail
// mailID, in status, and returns the jobs they need. On PostgreSQL, with
// events carried and ev routed somewhere, the statement of its last
// delivery also writes their rows (insertDeliveryPostgres); carriedStored
// then tells for each whether they went in, or it is nil.
func (s *Store) insertDeliveries(ctx context.Context, b *batchTx, mailID int64, received time.Time, ev *Event, status string, rc *Receipt,
	carried []Event) (jobs []pendingJob, carriedStored []bool, err error) {
	created := now()
	// As DeliveryForWork would read them back, for a Dispatcher.
	receivedAt, createdAt := fromMicros(received.UnixMicro()), fromMicros(created)
	for i, d := range ev.Deliveries {
		if d.OrderKey != "" && !d.KeyShared {
			if err := b.lockOrderKeys(ctx, []string{d.OrderKey}); err != nil {
				return nil, nil, err
			}
		}
		args := []any{ev.ID, d.Endpoint, d.OrderKey, d.SecondKey, status, received.UnixMicro(), created, s.leaseKey()}
		var did int64
		if len(carried) > 0 && i == len(ev.Deliveries)-1 {
			did, carriedStored, err = insertDeliveryPostgres(ctx, b, args, mailID, carried)
		} else {
			did, _, err = b.insert(ctx, insertDelivery, args...)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("insert delivery: %w", err)
		}
		rc.Deliveries++
		if status == DeliveryPending {
			j := pendingJob{deliveryID: did, endpoint: d.Endpoint, orderKey: d.OrderKey, secondKey: d.SecondKey}
			if s.dispatch != nil {
				j.delivery = &Delivery{ID: did, EventID: ev.ID, EventType: ev.Type, Endpoint: d.Endpoint, OrderKey: d.OrderKey, SecondKey: d.SecondKey,
					Status: status, ReceivedAt: receivedAt, CreatedAt: createdAt, UpdatedAt: createdAt, Payload: ev.Payload,
					Ordered: b.kind == Postgres && d.SecondKey == "" && (d.OrderKey == "" || !d.KeyShared && s.peersLockOrderKeys())}
			}
			jobs = append(jobs, j)
		}
	}
	return jobs, carriedStored, nil
}

const insertDelivery = `INSERT INTO delivery (event_id, endpoint, order_key, order_key2, status, received_at,
	created_at, updated_at, stored_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)`

// insertDeliveryPostgres inserts a delivery (insertDelivery's arguments)
// and the rows of events, of mail mailID, in one statement: on PostgreSQL
// each statement is a round trip. It returns the delivery's id and, for
// each event, whether it went in (an event of its id may be stored
// already).
func insertDeliveryPostgres(ctx context.Context, b *batchTx, deliveryArgs []any, mailID int64, events []Event) (id int64, stored []bool, err error) {
	rows := newEventRows(mailID, events)
	var inserted string
	if err := b.tx.QueryRowContext(ctx, insertDeliveryWithEvents, append(textArgs(deliveryArgs), rows.args...)...).Scan(&id, &inserted); err != nil {
		return 0, nil, err
	}
	stored, err = rows.stored(inserted)
	return id, stored, err
}

// insertDeliveryWithEvents is insertDeliveryPostgres's statement: the
// events' arguments follow the delivery's 8.
var insertDeliveryWithEvents = `WITH new_delivery AS (` + insertDelivery + ` RETURNING id), ` + eventRowsFrom(9) + `
	SELECT id, ` + storedEvents + ` FROM new_delivery`

// insertEvents is eventRowsFrom's events alone, in one statement.
var insertEvents = `WITH ` + eventRowsFrom(1) + ` SELECT ` + storedEvents

// eventRowsFrom is, for PostgreSQL, data-modifying WITH queries that
// insert events and their order numbers from arrays (eventRows), their
// parameters numbered from p on: new_event returns the ids that went in.
func eventRowsFrom(p int) string {
	return fmt.Sprintf(`new_event AS (INSERT INTO event (id, mail_id, type, tenant, seller_id, pack_no, created_at, payload)
		SELECT e.id, $%d::bigint, e.type, e.tenant, e.seller_id, e.pack_no, e.created_at, e.payload
		FROM unnest($%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::bigint[], $%d::bytea[])
			AS e (id, type, tenant, seller_id, pack_no, created_at, payload)
		ON CONFLICT (id) DO NOTHING RETURNING id),
	new_order AS (INSERT INTO event_order (order_no, event_id)
		SELECT o.no, o.event_id FROM unnest($%d::text[], $%d::text[]) AS o (no, event_id)
		JOIN new_event ON new_event.id = o.event_id ON CONFLICT DO NOTHING)`,
		p, p+1, p+2, p+3, p+4, p+5, p+6, p+7, p+8, p+9)
}

// storedEvents reads, after eventRowsFrom, the ids that went in.
const storedEvents = `(SELECT COALESCE(json_agg(id), '[]')::text FROM new_event)`

// eventRows are eventRowsFrom's arguments for events of mail mailID: the
// mail, a column each, and the order numbers, each beside its event's id.
type eventRows struct {
	ids  []string
	args []any
}

func newEventRows(mailID int64, events []Event) eventRows {
	n := len(events)
	ids, types, tenants, sellers, packs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created, payloads := make([]int64, n), make([][]byte, n)
	var nos, noEvents []string
	for i := range events {
		ev := &events[i]
		ids[i], types[i], tenants[i] = Text(ev.ID), Text(ev.Type), Text(ev.Tenant)
		sellers[i], packs[i], created[i], payloads[i] = Text(ev.SellerID), Text(ev.PackNo), ev.CreatedAt.UnixMicro(), ev.Payload
		for _, no := range ev.OrderNos {
			nos, noEvents = append(nos, Text(no)), append(noEvents, ids[i])
		}
	}
	return eventRows{ids: ids, args: []any{mailID, ids, types, tenants, sellers, packs, created, payloads, nos, noEvents}}
}

// stored tells, for each event, whether it went in, from storedEvents'
// answer; an id given twice went in once, as the first.
func (r eventRows) stored(inserted string) ([]bool, error) {
	var went []string
	if err := json.Unmarshal([]byte(inserted), &went); err != nil {
		return nil, fmt.Errorf("read the events stored: %w", err)
	}
	fresh := make(map[string]bool, len(went))
	for _, id := range went {
		fresh[id] = true
	}
	stored := make([]bool, len(r.ids))
	for i, id := range r.ids {
		stored[i], fresh[id] = fresh[id], false
	}
	return stored, nil
}

const (
	insertMail = `INSERT INTO mail (queue_id, received_at, remote_addr, helo, mail_from, rcpt_to, tenant,
		message_id, dedup_key, subject, size, raw, status, event_id, event_type, template, parser, problems,
		seller_id, pack_no)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
		ON CONFLICT (dedup_key) DO NOTHING`
	insertEvent = `INSERT INTO event (id, mail_id, type, tenant, seller_id, pack_no, created_at, payload)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`
)

// mailArgs are insertMail's arguments for in's mail.
func mailArgs(in *Ingest) []any {
	m := &in.Mail
	problems := ""
	if len(m.Problems) > 0 {
		pj, _ := json.Marshal(m.Problems)
		problems = string(pj)
	}
	eventID := ""
	if len(in.Events) > 0 {
		eventID = in.Events[0].ID
	}
	return []any{m.QueueID, m.ReceivedAt.UnixMicro(), m.RemoteAddr, m.Helo, m.MailFrom, strings.Join(m.Rcpts, ","),
		m.Tenant, m.MessageID, m.DedupKey, m.Subject, len(m.Raw), m.Raw, m.Status, eventID, m.EventType,
		m.Template, m.Parser, problems, m.SellerID, m.PackNo}
}

// mailRow is what storing a mail's row told: its id, or inserted false
// when a mail of its dedup key is stored already; and, when not nil,
// whether the same statement stored its first event.
type mailRow struct {
	id          int64
	inserted    bool
	firstStored *bool
}

// insertMailWithEvent inserts the mail (insertMail's arguments) and, if
// it went in, its first event with its order numbers, in one statement
// (PostgreSQL's); it returns the new mail's id and how many events went
// in (0 or 1), and no row for a duplicate mail. The event's arguments
// follow the mail's 20, its mail id the new mail's.
const insertMailWithEvent = `WITH new_mail AS (` + insertMail + ` RETURNING id),
	new_event AS (INSERT INTO event (id, mail_id, type, tenant, seller_id, pack_no, created_at, payload)
		SELECT $21::text, id, $22::text, $23::text, $24::text, $25::text, $26::bigint, $27::bytea FROM new_mail
		ON CONFLICT (id) DO NOTHING RETURNING id),
	new_order AS (INSERT INTO event_order (order_no, event_id)
		SELECT no, new_event.id FROM new_event, unnest($28::text[]) AS no ON CONFLICT DO NOTHING)
	SELECT id, (SELECT count(*) FROM new_event) FROM new_mail`

// insertMailsPostgres stores the rows of a batch's mails, each with its
// first event (insertMailWithEvent), as one pipeline on the transaction's
// connection: on PostgreSQL each statement is a round trip, and these
// depend on nothing the batch writes after them. The server runs them in
// order, so a mail given twice is stored by the first statement and a
// duplicate to the second, as one by one. The pipeline first takes
// orderLocks, the locks of the order keys the mails name (orderlock.go).
func insertMailsPostgres(ctx context.Context, conn *sql.Conn, batch []*commitRequest, orderLocks []int64) ([]mailRow, error) {
	rows := make([]mailRow, len(batch))
	pipeline := &pgx.Batch{}
	if len(orderLocks) > 0 {
		pipeline.Queue(lockOrderKeysStatement, orderLocks)
	}
	for i, r := range batch {
		in, row := r.in, &rows[i]
		args := textArgs(mailArgs(in))
		if len(in.Events) == 0 {
			pipeline.Queue(insertMail+` RETURNING id`, args...).QueryRow(func(r pgx.Row) error {
				return scanMailRow(r.Scan(&row.id), row)
			})
			continue
		}
		ev := &in.Events[0]
		args = append(args, textArgs([]any{ev.ID, ev.Type, ev.Tenant, ev.SellerID, ev.PackNo, ev.CreatedAt.UnixMicro(), ev.Payload})...)
		var n int
		pipeline.Queue(insertMailWithEvent, append(args, orderNos(ev))...).QueryRow(func(r pgx.Row) error {
			if err := scanMailRow(r.Scan(&row.id, &n), row); err != nil {
				return err
			}
			stored := n > 0
			row.firstStored = &stored
			return nil
		})
	}
	if err := sendPipeline(ctx, conn, pipeline); err != nil {
		return nil, fmt.Errorf("insert mails: %w", err)
	}
	return rows, nil
}

// scanMailRow notes in row whether its mail went in, from the error of the
// scan of its statement's row: none for a duplicate.
func scanMailRow(err error, row *mailRow) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	row.inserted = err == nil
	return err
}

// orderNos are ev's order numbers as a text column keeps them.
func orderNos(ev *Event) []string {
	nos := make([]string, len(ev.OrderNos))
	for i, no := range ev.OrderNos {
		nos[i] = Text(no)
	}
	return nos
}

// insertEventRows inserts the event and its order numbers, unless an
// event of its id is stored already, and reports whether it did. On
// PostgreSQL, where each statement is a round trip, in one statement.
func insertEventRows(ctx context.Context, b *batchTx, mailID int64, ev *Event) (bool, error) {
	if b.kind == Postgres {
		rows := newEventRows(mailID, []Event{*ev})
		var inserted string
		if err := b.tx.QueryRowContext(ctx, insertEvents, rows.args...).Scan(&inserted); err != nil {
			return false, fmt.Errorf("insert event: %w", err)
		}
		stored, err := rows.stored(inserted)
		return err == nil && stored[0], err
	}
	inserted, err := b.insertNew(ctx, insertEvent, ev.ID, mailID, ev.Type, ev.Tenant, ev.SellerID, ev.PackNo,
		ev.CreatedAt.UnixMicro(), ev.Payload)
	if err != nil {
		return false, fmt.Errorf("insert event: %w", err)
	}
	if !inserted {
		return false, nil
	}
	for _, no := range ev.OrderNos {
		if err := b.exec(ctx, `INSERT INTO event_order (order_no, event_id) VALUES ($1, $2)
			ON CONFLICT DO NOTHING`, no, ev.ID); err != nil {
			return false, fmt.Errorf("insert event order: %w", err)
		}
	}
	return true, nil
}

// queuedBehindFallback is when a delivery queued behind a pending one
// goes anyway, should the wake-up that one's last attempt gives be lost:
// the fallback a worker parks a delivery with (webhook.Worker).
const queuedBehindFallback = time.Minute

// queuedBehind tells whether delivery id, new or about to get a job, must
// wait for an earlier pending delivery it follows (predecessorLookups),
// and which is the first of them, so that it is parked (insertJobs) or its
// job queued parked (QueueDelivery), to be woken by that one's last
// attempt (wakeSuccessors), instead of being fetched and loaded only for
// its worker to park it. On SQLite only: the transaction holds the one
// writer, so the predecessor's last attempt, which must see this delivery
// to wake it, comes after it. (On PostgreSQL, see parkedBehind.)
func (s *Store) queuedBehind(ctx context.Context, tx *sql.Tx, id int64) (first sql.NullInt64, err error) {
	if s.kind == Postgres {
		return first, nil
	}
	return firstPredecessor(ctx, tx, id)
}

// parkedBehind returns, by delivery id, the first predecessor of each of
// jobs' deliveries that must wait for one, so that it is parked (insertJobs).
// A delivery without an order key follows nothing.
//
// On SQLite that is queuedBehind. On PostgreSQL the predecessors are read
// in one statement (firstPredecessors) and, if any delivery waits, read
// again under the chain lock of the endpoints, which the transaction then
// holds until it commits. The predecessor's last attempt takes that lock
// before it looks for deliveries to wake: one that ended before is not
// pending in this second reading, and one that ends after sees the new
// delivery and wakes it. The lock is taken last in the transaction: after
// it come only River's new jobs and the links to them, rows that no other
// transaction waits for, so a transaction that holds it never waits for
// one waiting for it.
//
// A delivery that follows another of the same batch waits for it whatever
// the first reading says (both are pending until the batch commits), so a
// batch with such deliveries takes the locks of every endpoint of its keyed
// deliveries at once, and reads only under them: the lock and the reading
// are then one round trip, not three.
func (s *Store) parkedBehind(ctx context.Context, b *batchTx, jobs []pendingJob) (map[int64]int64, error) {
	keyed := make([]pendingJob, 0, len(jobs))
	for _, j := range jobs {
		if j.orderKey != "" || j.secondKey != "" {
			keyed = append(keyed, j)
		}
	}
	if len(keyed) == 0 {
		return nil, nil
	}
	if s.kind != Postgres {
		firsts := map[int64]int64{}
		for _, j := range keyed {
			first, err := s.queuedBehind(ctx, b.tx, j.deliveryID)
			if err != nil {
				return nil, err
			}
			if first.Valid {
				firsts[j.deliveryID] = first.Int64
			}
		}
		return firsts, nil
	}
	var endpoints []string
	if followsInBatch(keyed) {
		for _, j := range keyed {
			endpoints = append(endpoints, j.endpoint)
		}
	} else {
		firsts, err := firstPredecessors(ctx, b.tx, keyed)
		if err != nil || len(firsts) == 0 {
			return firsts, err
		}
		for _, j := range keyed {
			if _, ok := firsts[j.deliveryID]; ok {
				endpoints = append(endpoints, j.endpoint)
			}
		}
	}
	return s.lockedPredecessors(ctx, b, endpoints, keyed)
}

// followsInBatch tells whether one of jobs follows another of them.
func followsInBatch(jobs []pendingJob) bool {
	for i := range jobs {
		for k := range i {
			if jobs[i].follows(&jobs[k]) {
				return true
			}
		}
	}
	return false
}

// lockedPredecessors takes the chain locks of endpoints (lockChains) and
// then reads jobs' first predecessors (firstPredecessors), as one pipeline
// where b has its connection.
func (s *Store) lockedPredecessors(ctx context.Context, b *batchTx, endpoints []string, jobs []pendingJob) (map[int64]int64, error) {
	if b.conn == nil {
		if err := s.lockChains(ctx, b.tx, endpoints); err != nil {
			return nil, err
		}
		return firstPredecessors(ctx, b.tx, jobs)
	}
	pipeline := &pgx.Batch{}
	for _, k := range chainLockKeys(endpoints) {
		pipeline.Queue(lockChain, k)
	}
	firsts := map[int64]int64{}
	for chunk := range slices.Chunk(jobs, predecessorsMost) {
		query, args := predecessorsQuery(chunk)
		pipeline.Queue(query, args...).Query(func(rows pgx.Rows) error { return scanFirstPredecessors(rows, firsts) })
	}
	if err := sendPipeline(ctx, b.conn, pipeline); err != nil {
		return nil, fmt.Errorf("store: lock delivery chains and read predecessors: %w", err)
	}
	return firsts, nil
}

// firstPredecessors returns, by delivery id, the first predecessor of
// each of jobs' deliveries that waits for one (firstPredecessor), in one
// statement per predecessorsMost: on PostgreSQL each is a round trip.
func firstPredecessors(ctx context.Context, tx querier, jobs []pendingJob) (map[int64]int64, error) {
	firsts := map[int64]int64{}
	for chunk := range slices.Chunk(jobs, predecessorsMost) {
		if err := readFirstPredecessors(ctx, tx, chunk, firsts); err != nil {
			return nil, err
		}
	}
	return firsts, nil
}

// predecessorsMost is how many deliveries' predecessors one statement
// reads at most: predecessorsQueries' largest size.
const predecessorsMost = 1 << (len(predecessorsQueries) - 1)

// predecessorsQueries[k] reads the first predecessors of 1<<k deliveries,
// each given as its id, endpoint and keys (predecessorLookups reads them
// as d's). Bound as one array of ids, PostgreSQL planned the statement
// anew at every execution: it costs a generic plan for an array of ten, a
// custom one for the one or two ids a batch holds, so it kept choosing
// custom plans, and planning the three lookups took eight times as long as
// running them (0.58 against 0.07 ms). With parameters for each delivery
// the two plans cost the same and the generic one is kept. The deliveries
// are not read back from the table: a connection keeps the plan it made
// while the table was new, and that plan scanned it whole. Their count is
// rounded up to a power of two, the first repeated, so that a connection
// prepares only a few statements.
var predecessorsQueries = func() (qs [7]string) {
	for k := range qs {
		rows := make([]string, 1<<k)
		for i := range rows {
			rows[i] = fmt.Sprintf("($%d::bigint, $%d::text, $%d::text, $%d::text)", 4*i+1, 4*i+2, 4*i+3, 4*i+4)
		}
		qs[k] = `SELECT d.id, (SELECT min(m.id) FROM (` + predecessorLookups + `) m)
		FROM (VALUES ` + strings.Join(rows, ", ") + `) d (id, endpoint, order_key, order_key2)`
	}
	return qs
}()

// readFirstPredecessors adds to firsts the first predecessors of jobs, at
// most predecessorsMost, in one statement.
func readFirstPredecessors(ctx context.Context, tx querier, jobs []pendingJob, firsts map[int64]int64) error {
	query, args := predecessorsQuery(jobs)
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("predecessors: %w", err)
	}
	defer rows.Close()
	if err := scanFirstPredecessors(rows, firsts); err != nil {
		return fmt.Errorf("predecessors: %w", err)
	}
	return nil
}

// scanFirstPredecessors adds to firsts the rows of a predecessorsQueries
// statement, read through database/sql or a pgx pipeline.
func scanFirstPredecessors(rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}, firsts map[int64]int64) error {
	for rows.Next() {
		var id int64
		var first sql.NullInt64
		if err := rows.Scan(&id, &first); err != nil {
			return err
		}
		if first.Valid {
			firsts[id] = first.Int64
		}
	}
	return rows.Err()
}

// predecessorsQuery returns the statement of predecessorsQueries that
// reads jobs' first predecessors, at most predecessorsMost, and its
// arguments.
func predecessorsQuery(jobs []pendingJob) (string, []any) {
	k := bits.Len(uint(len(jobs) - 1))
	args := make([]any, 0, 4<<k)
	for i := range 1 << k {
		j := jobs[0]
		if i < len(jobs) {
			j = jobs[i]
		}
		args = append(args, j.deliveryID, j.endpoint, j.orderKey, j.secondKey)
	}
	return predecessorsQueries[k], args
}

// follows tells whether delivery j waits for delivery p, stored before it
// at the same endpoint and pending: the relation predecessorLookups finds.
func (j *pendingJob) follows(p *pendingJob) bool {
	return p.endpoint == j.endpoint && p.deliveryID < j.deliveryID &&
		((j.orderKey != "" && p.orderKey == j.orderKey) ||
			(j.secondKey != "" && (p.orderKey == j.secondKey || p.secondKey == j.secondKey)))
}

// followsDispatched returns the deliveries of batch that j follows, if the
// Dispatcher took every one of them (dispatched): then j can follow them
// there, attempted once they have ended, instead of being queued behind
// them. batch holds, in id order, the deliveries its transaction stored
// (each with its delivery set): on SQLite every delivery from the first
// of them on is one of them, so with first (j's first predecessor) among
// them they are all j waits for.
func followsDispatched(j *pendingJob, batch []pendingJob, dispatched map[int64]bool, first int64) ([]int64, bool) {
	if len(batch) == 0 || first < batch[0].deliveryID {
		return nil, false // it waits for one stored earlier
	}
	var after []int64
	for i := range batch {
		p := &batch[i]
		if p.deliveryID >= j.deliveryID {
			break
		}
		if j.follows(p) {
			if !dispatched[p.deliveryID] {
				return nil, false
			}
			after = append(after, p.deliveryID)
		}
	}
	return after, len(after) > 0
}

// insertJobs queues the River jobs of a batch and links them to their
// deliveries, in the batch's transaction; a delivery the Dispatcher takes
// gets none.
func (s *Store) insertJobs(ctx context.Context, b *batchTx, jobs []pendingJob) error {
	if len(jobs) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, 0, len(jobs))
	queued := jobs[:0:0]
	// The deliveries a Dispatcher takes, handed over together once the
	// transaction commits; those of the batch it took.
	var handOver []*Delivery
	taken := map[int64]bool{}
	// Deliveries that follow others are taken only from a transaction
	// that stored every one of its deliveries (not a release's), which
	// has each one's snapshot (so only with a Dispatcher).
	fresh := !slices.ContainsFunc(jobs, func(j pendingJob) bool { return j.delivery == nil })
	firsts, err := s.parkedBehind(ctx, b, jobs)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		opts := &river.InsertOpts{Queue: QueueName(j.endpoint)}
		first, waits := firsts[j.deliveryID]
		var after []int64
		follows := false
		if waits && fresh {
			after, follows = followsDispatched(&j, jobs, taken, first)
		}
		switch {
		case (!waits || follows) && s.dispatches(ctx, j):
			// Waits for nothing, or only for deliveries the Dispatcher
			// takes with it: it attempts this one once those have ended.
			j.delivery.Follows = after
			handOver = append(handOver, j.delivery)
			taken[j.deliveryID] = true
			continue
		case waits && s.kind != Postgres:
			// Parked without a River job: no other process works a
			// SQLite store, so nothing but the predecessor's last attempt
			// (wakeSuccessors), or the Dispatcher's sweep a minute on,
			// needs to find it, and a job would be an insert and a delete
			// on the one writer for each link of a flash sale's chain.
			if err := b.exec(ctx, `UPDATE delivery SET parked = 1 WHERE id = $1`, j.deliveryID); err != nil {
				return fmt.Errorf("park delivery %d: %w", j.deliveryID, err)
			}
			AfterCommit(ctx, s.metric.queuedBehind.WithLabelValues(j.endpoint).Inc)
			continue
		case waits:
			opts.ScheduledAt = time.Now().Add(queuedBehindFallback)
			AfterCommit(ctx, s.metric.queuedBehind.WithLabelValues(j.endpoint).Inc)
		}
		params = append(params, river.InsertManyParams{Args: DeliveryArgs{DeliveryID: j.deliveryID}, InsertOpts: opts})
		queued = append(queued, j)
	}
	if len(handOver) > 0 {
		AfterCommit(ctx, func() { s.dispatch.Dispatch(handOver) })
	}
	if len(params) == 0 {
		return nil
	}
	res, err := s.river.InsertManyTx(ctx, b.tx, params)
	if err != nil {
		return fmt.Errorf("insert jobs: %w", err)
	}
	queues := make([]string, len(params))
	for i, p := range params {
		queues[i] = p.InsertOpts.Queue
	}
	s.wakeAfterCommit(ctx, queues)
	if err := linkJobs(ctx, b, queued, res); err != nil {
		return fmt.Errorf("link jobs: %w", err)
	}
	return nil
}

// linkJobs makes each job of res its delivery's (jobs, in the same order):
// a statement per delivery, by its key. On PostgreSQL, where each
// statement is a round trip, they go as one pipeline where the batch has
// its connection. (One statement joining the ids given with the delivery
// table would be planned, and the plan kept, while the table is new: a
// scan of the whole table, from then on.)
func linkJobs(ctx context.Context, b *batchTx, jobs []pendingJob, res []*rivertype.JobInsertResult) error {
	if b.kind == Postgres && b.conn != nil && len(res) > 1 {
		pipeline := &pgx.Batch{}
		for i, r := range res {
			pipeline.Queue(linkJob, r.Job.ID, jobs[i].deliveryID)
		}
		return sendPipeline(ctx, b.conn, pipeline)
	}
	for i, r := range res {
		if err := b.exec(ctx, linkJob, r.Job.ID, jobs[i].deliveryID); err != nil {
			return err
		}
	}
	return nil
}

const linkJob = `UPDATE delivery SET job_id = $1 WHERE id = $2`
