package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/parse"
	"github.com/qoo10hook/qoo10hook/store"
)

// ReparseReport is what a re-parse did, or would do (dry run).
type ReparseReport struct {
	DryRun  bool            `json:"dry_run"`
	Mails   int             `json:"mails"`
	Changed int             `json:"changed"`
	Results []ReparseResult `json:"results"`
}

// ReparseResult is one mail read again: its events before and after.
type ReparseResult struct {
	ID        int64  `json:"id"`
	QueueID   string `json:"queue_id"`
	OldStatus string `json:"old_status"`
	Status    string `json:"status"`
	Changed   bool   `json:"changed"`
	// Template names the template that read the mail now; "" for none.
	Template string `json:"template,omitempty"`
	// Skipped says why nothing is done for the mail (it repeats events
	// another mail carried).
	Skipped string            `json:"skipped,omitempty"`
	Old     []json.RawMessage `json:"old"`
	New     []json.RawMessage `json:"new"`
	// Delivered lists the events stored and queued for delivery (new or
	// superseding ones); Derived, the inventory events they derived.
	Delivered []string `json:"delivered,omitempty"`
	Derived   []string `json:"derived,omitempty"`
	Problems  []string `json:"problems,omitempty"`
}

// Reparse reads the mails f selects again with the current parser.
// Unless dryRun, it stores each changed result and delivers what
// changed, once: an event the mail did not yield before, routed as at
// ingest; an event whose data changed, under a new id with supersedes.
// Unchanged events are not delivered again. A quarantined mail stays
// held; a mail whose events another mail carried stays a duplicate.
func (p *Pipeline) Reparse(ctx context.Context, f store.MailFilter, dryRun bool) (*ReparseReport, error) {
	mails, err := p.Store.MailsToReparse(ctx, f)
	if err != nil {
		return nil, err
	}
	rep := &ReparseReport{DryRun: dryRun, Mails: len(mails), Results: []ReparseResult{}}
	for _, m := range mails {
		plan, err := p.planReparse(m)
		if err != nil {
			return nil, err
		}
		r := plan.result
		if !dryRun && r.Skipped == "" {
			rc, err := p.Store.ApplyReparse(ctx, &plan.apply)
			if err != nil {
				return nil, err
			}
			p.Metrics.Status(plan.res, "reparse")
			r.Delivered, r.Derived, r.Status = rc.NewEvents, rc.DerivedEvents, rc.Status
			r.Changed = len(rc.NewEvents) > 0 || len(rc.DuplicateEvents) > 0
			p.Log.Info("mail re-parsed", "queue_id", m.QueueID, "event_type", string(plan.res.Type),
				"template", plan.res.Template, "status", rc.Status, "new_events", len(rc.NewEvents),
				"derived", len(rc.DerivedEvents), "already_applied", rc.Skipped)
		}
		if r.Changed {
			rep.Changed++
		}
		rep.Results = append(rep.Results, *r)
	}
	return rep, nil
}

// WithParser returns a copy of p that reads mails with parser.
func (p *Pipeline) WithParser(parser Parser) *Pipeline {
	c := *p
	c.Parser = parser
	return &c
}

type reparsePlan struct {
	res    *parse.Result
	apply  store.Reparse
	result *ReparseResult
}

// planReparse reads m again and works out what changed.
func (p *Pipeline) planReparse(m *store.StoredMail) (*reparsePlan, error) {
	res := p.Parser.Parse(m.Raw)
	r := &ReparseResult{ID: m.ID, QueueID: m.QueueID, OldStatus: m.Status, Status: MailStatus(res), Template: res.Template,
		Old: []json.RawMessage{}, New: []json.RawMessage{}, Problems: Problems(res)}
	for _, e := range m.Events {
		r.Old = append(r.Old, json.RawMessage(e.Payload))
	}
	plan := &reparsePlan{res: res, result: r}
	if m.Status == store.MailDuplicateEvent {
		r.Skipped, r.Status = store.MailDuplicateEvent, store.MailDuplicateEvent
		return plan, nil
	}
	hold := m.Status == store.MailQuarantined
	if hold {
		r.Status = store.MailQuarantined
	}
	meta := Meta{QueueID: m.QueueID, ReceivedAt: m.ReceivedAt, Auth: authOf(m.Events), DedupKey: m.DedupKey}
	events, _, err := p.routeEvents(res, meta, m.Rcpts)
	if err != nil {
		return nil, err
	}
	a := &plan.apply
	a.MailID, a.Hold = m.ID, hold
	a.Mail = store.Mail{Status: MailStatus(res), EventType: string(res.Type), Template: res.Template,
		Parser: res.Parser, Problems: Problems(res), SellerID: res.Order.SellerID, PackNo: res.Order.PackNo}
	known := slices.Clone(m.Replaced)
	for _, e := range m.Events {
		known = append(known, e.ID)
	}
	used := map[string]bool{}
	for _, n := range events {
		old := sameKind(m.Events, n, used)
		if old == nil {
			old = otherKind(m.Events, n, used) // the event it replaces, if any
			c := store.EventChange{Old: old, New: n}
			if slices.Contains(known, n.ID) {
				// Read as it was once before: that event was delivered.
				r.New = append(r.New, json.RawMessage(n.Payload))
				continue
			}
			a.Changes = append(a.Changes, c)
			r.New = append(r.New, json.RawMessage(n.Payload))
			continue
		}
		if sameData(old, &n) {
			r.New = append(r.New, json.RawMessage(old.Payload))
			continue
		}
		sup, err := superseding(res, meta, old, n, known)
		if err != nil {
			return nil, err
		}
		a.Changes = append(a.Changes, store.EventChange{Old: old, Supersede: true, New: sup})
		r.New = append(r.New, json.RawMessage(sup.Payload))
	}
	r.Changed = len(a.Changes) > 0
	return plan, nil
}

// sameKind returns the current event of n's tenant and type not yet
// paired, marking it used.
func sameKind(current []store.Event, n store.Event, used map[string]bool) *store.Event {
	for i := range current {
		c := &current[i]
		if !used[c.ID] && c.Tenant == n.Tenant && c.Type == n.Type {
			used[c.ID] = true
			return c
		}
	}
	return nil
}

// otherKind returns the current event of n's tenant, of another type,
// that n replaces (mail.unrecognized read now as an order event).
func otherKind(current []store.Event, n store.Event, used map[string]bool) *store.Event {
	for i := range current {
		c := &current[i]
		if !used[c.ID] && c.Tenant == n.Tenant {
			used[c.ID] = true
			return c
		}
	}
	return nil
}

// sameData reports whether the new event says what the old one said: the
// same order data. A mail unrecognized before and after has nothing new
// to say.
func sameData(old, n *store.Event) bool {
	if n.Type == string(event.MailUnrecognized) {
		return true
	}
	return bytes.Equal(dataOf(old.Payload), dataOf(n.Payload))
}

func dataOf(payload []byte) []byte {
	var ev struct {
		Data json.RawMessage `json:"data"`
	}
	json.Unmarshal(payload, &ev)
	return ev.Data
}

// superseding builds the event that corrects old: n with supersedes set,
// under its own id unless that id is one the mail yielded before (the
// same order read again), then under an id derived from it and the new
// data, so that the same correction keeps one id however often it runs.
func superseding(res *parse.Result, meta Meta, old *store.Event, n store.Event, known []string) (store.Event, error) {
	var ev event.Event
	if err := json.Unmarshal(n.Payload, &ev); err != nil {
		return n, fmt.Errorf("ingest: reparse: %w", err)
	}
	// Decoded generically, data is re-encoded as read: rebuild it typed.
	built := BuildEvent(res, Meta{Tenant: n.Tenant, QueueID: meta.QueueID, ReceivedAt: meta.ReceivedAt,
		To: ev.Mail.To, Auth: meta.Auth, DedupKey: meta.DedupKey})
	if slices.Contains(known, built.ID) {
		sum := sha256.Sum256(dataOf(n.Payload))
		built.ID = event.ID(built.ID, "supersedes", hex.EncodeToString(sum[:]))
	}
	built.Supersedes = old.ID
	se, err := storeEvent(built, res)
	if err != nil {
		return n, err
	}
	se.Deliveries = n.Deliveries
	return se, nil
}

// authOf returns the sender-authentication verdict the mail's events
// were built with: a re-parse does not check the sender again.
func authOf(events []store.Event) *event.Auth {
	for _, e := range events {
		var ev struct {
			Mail *event.Mail `json:"mail"`
		}
		if json.Unmarshal(e.Payload, &ev) == nil && ev.Mail != nil && ev.Mail.Auth != nil {
			return ev.Mail.Auth
		}
	}
	return nil
}
