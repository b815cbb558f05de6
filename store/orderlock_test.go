package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestOrderKeysLockedWhileStored: on PostgreSQL a transaction that stores
// a delivery of a cart's key, or makes one pending again, holds the key's
// lock until it commits, so that another transaction's delivery of the
// key is stored either before it (and seen by its look for predecessors)
// or after it. A delivery so stored, with no other key, comes to the
// Dispatcher Ordered; a SKU's key is not locked, and its deliveries are
// not Ordered.
func TestOrderKeysLockedWhileStored(t *testing.T) {
	url := testenv.Postgres(t)
	ctx := t.Context()
	// Advisory locks are the database's, whatever the schema: keys of
	// this run's own, apart from other tests'.
	seller := fmt.Sprintf("lock%d", time.Now().UnixNano())
	cart1, cart2, cart3 := seller+"|1", seller+"|2", seller+"|3"
	skuA, skuB := "sku:"+seller+"|A", "sku:"+seller+"|B"
	cartMail := func(n int, eventID string) *Ingest {
		in := mail(n, eventID, "e")
		in.Events[0].Deliveries[0].OrderKey = cart1
		return in
	}
	// Each order placed derives an order.updated of another cart (as for
	// a mail without カート番号), and a stock adjustment of a SKU that
	// follows the mail's cart.
	derive := func(_ context.Context, _ *sql.Tx, ev *Event) ([]Event, error) {
		if ev.Type != "order.placed" {
			return nil, nil
		}
		return []Event{
			{ID: ev.ID + "_cart", Type: "order.updated", CreatedAt: time.Now(), Payload: []byte(`{}`),
				Deliveries: []NewDelivery{{Endpoint: "e", OrderKey: cart2}}},
			{ID: ev.ID + "_sku", Type: "inventory.adjusted", CreatedAt: time.Now(), Payload: []byte(`{}`),
				Deliveries: []NewDelivery{{Endpoint: "e", OrderKey: skuA, SecondKey: cart1, KeyShared: true}}},
			// And, not Ordered either: an adjustment alone at its endpoint,
			// and an order.updated that also follows the mail's cart.
			{ID: ev.ID + "_sku_alone", Type: "inventory.adjusted", CreatedAt: time.Now(), Payload: []byte(`{}`),
				Deliveries: []NewDelivery{{Endpoint: "e", OrderKey: skuB, KeyShared: true}}},
			{ID: ev.ID + "_cart_following", Type: "order.updated", CreatedAt: time.Now(), Payload: []byte(`{}`),
				Deliveries: []NewDelivery{{Endpoint: "e", OrderKey: cart3, SecondKey: cart1}}},
		}, nil
	}
	s, d := openTaking(t, url, derive)

	other, err := sql.Open("pgx", testURL(t, url).DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// hold takes key's lock on a connection of its own, as another
	// transaction that stores a delivery of it would.
	hold := func(key string) (release func()) {
		t.Helper()
		conn, err := other.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, orderLockKey(key)); err != nil {
			t.Fatal(err)
		}
		return func() {
			conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, orderLockKey(key))
			conn.Close()
		}
	}
	// waitsFor runs f while key's lock is held elsewhere: f must not end
	// before the lock is released, and must end after.
	waitsFor := func(key, what string, f func() error) {
		t.Helper()
		release := hold(key)
		done := make(chan error, 1)
		go func() { done <- f() }()
		select {
		case err := <-done:
			release()
			t.Fatalf("%s while another transaction held the lock of %s (%v)", what, key, err)
		case <-time.After(300 * time.Millisecond):
		}
		release()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: not done once the lock of %s was released", what, key)
		}
	}
	ingest := func(in *Ingest) func() error {
		return func() error { _, err := s.Ingest(ctx, in); return err }
	}

	// The mail's own cart: locked before anything is stored, so that two
	// batches never wait for each other's locks crosswise. Its transaction
	// is seen waiting for the lock, without a transaction id (one that has
	// written has one).
	release := hold(cart1)
	done := make(chan error, 1)
	go func() { done <- ingest(cartMail(1, "evt_a"))() }()
	var waiting, writing bool
	for deadline := time.Now().Add(10 * time.Second); !waiting && time.Now().Before(deadline); {
		if err := other.QueryRowContext(ctx, `SELECT count(*) > 0, COALESCE(bool_or(a.backend_xid IS NOT NULL), false)
			FROM pg_locks w JOIN pg_stat_activity a ON a.pid = w.pid
			WHERE w.locktype = 'advisory' AND NOT w.granted AND w.objsubid = 1 AND w.objid::bigint = ($1::bigint & 4294967295)`,
			orderLockKey(cart1)).Scan(&waiting, &writing); err != nil {
			t.Fatal(err)
		}
		if !waiting {
			select {
			case err := <-done:
				release()
				t.Fatalf("a mail of its cart was stored while another transaction held the lock (%v)", err)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	release()
	if !waiting || writing {
		t.Fatalf("the mail's transaction: waiting for its cart's lock %v, having written meanwhile %v; want waiting, not written", waiting, writing)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A cart that comes up as the deriver runs: locked as its delivery is
	// stored.
	waitsFor(cart2, "an order.updated of the cart that came up was stored", ingest(cartMail(2, "evt_b")))
	// A SKU's: not locked.
	release = hold(skuA)
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = s.Ingest(short, cartMail(3, "evt_c"))
	cancel()
	release()
	if err != nil {
		t.Fatalf("a mail with a stock adjustment while its SKU's key was locked elsewhere: %v", err)
	}
	// An operator's retry makes a delivery pending again: it locks the
	// delivery's cart first.
	first, err := s.ListDeliveries(ctx, DeliveryFilter{EventID: "evt_a"})
	if err != nil || len(first) != 1 {
		t.Fatalf("deliveries of evt_a: %v, %v", first, err)
	}
	waitsFor(cart1, "a delivery of the cart was retried", func() error { return s.RetryDelivery(ctx, first[0].ID) })

	// So does the release of a quarantined mail.
	held := cartMail(4, "evt_d")
	held.Hold, held.Mail.Status = true, MailQuarantined
	if _, err := s.Ingest(ctx, held); err != nil {
		t.Fatal(err)
	}
	waitsFor(cart1, "a quarantined mail of the cart was released", func() error { _, err := s.ReleaseMail(ctx, "q4"); return err })

	// The first mail's deliveries went to the Dispatcher (those that
	// follow its order event, to follow it there).
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, want := range map[string]bool{"evt_a": true, "evt_a_cart": true, "evt_a_sku": false, "evt_a_sku_alone": false, "evt_a_cart_following": false} {
		got, handed := d.ordered[id]
		if !handed || got != want {
			t.Errorf("delivery of %s: handed over %v, Ordered %v; want handed over, Ordered %v", id, handed, got, want)
		}
	}
}

// TestOlderInstanceKeepsTheSecondLook: on PostgreSQL, while an instance of
// a release that stores a cart's deliveries without the key's lock holds a
// lease (the lease's lock without orderLockingClass's), no new delivery of
// a cart comes to the Dispatcher Ordered, and the operators are told;
// once that lease is gone, they are Ordered again. Another instance of
// this release is not taken for an older one, and the store records the
// version that an older release refuses to start on.
func TestOlderInstanceKeepsTheSecondLook(t *testing.T) {
	url := testenv.PostgresDatabase(t) // a lease is seen by every test of its database
	was := leaseCheckEvery
	leaseCheckEvery = 100 * time.Millisecond
	t.Cleanup(func() { leaseCheckEvery = was })
	ctx := t.Context()

	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	older, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer older.Close()
	var client string
	if err := older.QueryRowContext(ctx, `SELECT COALESCE(host(inet_client_addr()), 'a local socket') FROM pg_advisory_lock($1, $2)`,
		int32(leaseLockClass), int32(4242)).Scan(&client); err != nil {
		t.Fatal(err)
	}

	o := workingOptions(t, url)
	var logs testenv.LogBuffer
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	d := &takingDispatcher{accepting: true}
	s := startWorking(t, o, d)
	d.s = s
	beside, _ := openTaking(t, url, nil)
	if !slices.Contains(appliedVersions(t, s), 18) {
		t.Fatal("migration 018, which older releases refuse, not recorded")
	}

	ingestDeliveries(t, s, 1, NewDelivery{Endpoint: "e", OrderKey: "s1|1"})
	ingestDeliveries(t, s, 2, NewDelivery{Endpoint: "e"})
	if d.ordered["evt_w1"] || !d.ordered["evt_w2"] {
		t.Errorf("while an older instance holds a lease: a cart's delivery Ordered %v, one without keys %v; want false, true",
			d.ordered["evt_w1"], d.ordered["evt_w2"])
	}
	if !strings.Contains(logs.String(), "instances of an older release hold leases") || !strings.Contains(logs.String(), client+" (lease 4242)") {
		t.Errorf("the operators were not told of the older instance, with its address and lease; logged:\n%s", logs.String())
	}

	// Its lease ends with its connection.
	older.Close()
	db.Close()
	for _, st := range []*Store{s, beside} {
		select {
		case <-st.lease.peersLock:
		case <-time.After(10 * time.Second):
			t.Fatal("the older instance's lease is gone, and an instance still counts on it")
		}
	}
	ingestDeliveries(t, s, 3, NewDelivery{Endpoint: "e", OrderKey: "s1|2"})
	if !d.ordered["evt_w3"] {
		t.Error("once no older instance holds a lease, a cart's delivery is not Ordered")
	}
	if !strings.Contains(logs.String(), "no instance of an older release holds a lease any more") {
		t.Errorf("the operators were not told the older instances had gone; logged:\n%s", logs.String())
	}
}
