package store

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestMailQueries: operators find mails by order number (through the
// event it carried, also from a mail that repeated it), cart, seller and
// status, page through them, and read one with its events, deliveries
// and raw message.
func TestMailQueries(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			ctx := t.Context()
			a := mail(1, "evt_a", "vendor")
			a.Mail.SellerID, a.Mail.PackNo = "shop", "1"
			a.Mail.Problems = []string{"送料: not a number"}
			b := mail(2, "evt_b", "vendor")
			b.Events[0].OrderNos = []string{"77"}
			b.Events[0].PackNo, b.Mail.PackNo, b.Mail.SellerID = "2", "2", "other"
			dup := mail(3, "evt_a", "vendor") // the same order event from another mail
			unrec := mail(4, "")
			unrec.Mail.Status = MailUnrecognized
			for _, in := range []*Ingest{a, b, dup, unrec} {
				if _, err := s.Ingest(ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			ids := func(f MailFilter) string {
				t.Helper()
				ms, err := s.ListMails(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				var q []string
				for _, m := range ms {
					q = append(q, m.QueueID)
				}
				return strings.Join(q, " ")
			}
			for _, tc := range []struct {
				f    MailFilter
				want string
			}{
				{MailFilter{}, "q4 q3 q2 q1"},
				{MailFilter{OrderNo: "9"}, "q3 q1"},
				{MailFilter{OrderNo: "77"}, "q2"},
				{MailFilter{OrderNo: "nope"}, ""},
				{MailFilter{PackNo: "2"}, "q2"},
				{MailFilter{SellerID: "shop", PackNo: "1"}, "q1"},
				{MailFilter{Status: MailUnrecognized}, "q4"},
				{MailFilter{Status: MailDuplicateEvent}, "q3"},
				{MailFilter{Limit: 2}, "q4 q3"},
			} {
				if got := ids(tc.f); got != tc.want {
					t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
				}
			}
			all, _ := s.ListMails(ctx, MailFilter{Limit: 2})
			if got := ids(MailFilter{BeforeID: all[1].ID}); got != "q2 q1" {
				t.Errorf("second page: %q", got)
			}
			if all[0].Deliveries == nil || all[1].Deliveries[DeliveryPending] != 0 {
				t.Errorf("delivery counts of a duplicate: %v", all[1].Deliveries)
			}

			d, err := s.GetMail(ctx, "q1")
			if err != nil {
				t.Fatal(err)
			}
			byID, err := s.GetMail(ctx, itoa(d.ID))
			if err != nil || byID.QueueID != "q1" {
				t.Fatalf("by id: %v %v", byID, err)
			}
			if d.Deliveries[DeliveryPending] != 1 || len(d.Events) != 1 || d.Events[0].ID != "evt_a" ||
				len(d.Events[0].Deliveries) != 1 || d.Events[0].Deliveries[0].Endpoint != "vendor" ||
				string(d.Events[0].Payload) != `{"id":"evt_a"}` || len(d.Problems) != 1 || d.Rcpts[0] != "orders@in.example.test" {
				t.Errorf("detail: %+v", d)
			}
			// The mail that repeated the event shows it, stored with the first mail.
			d3, err := s.GetMail(ctx, "q3")
			if err != nil || len(d3.Events) != 1 || d3.Events[0].MailID != d.ID {
				t.Errorf("duplicate's detail: %+v %v", d3, err)
			}
			raw, err := s.MailRaw(ctx, "q2")
			if err != nil || !strings.HasPrefix(string(raw), "Subject: test") {
				t.Errorf("raw: %q %v", raw, err)
			}
			if _, err := s.GetMail(ctx, "999999"); !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown mail: %v", err)
			}
			if _, err := s.MailRaw(ctx, "nosuchqueueid"); !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown raw: %v", err)
			}
		})
	}
}

// TestReleaseMail: a quarantined mail's held deliveries become pending
// with River jobs, in one go, once; other mails cannot be released.
func TestReleaseMail(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			ctx := t.Context()
			in := mail(1, "evt_q", "vendor", "shop")
			in.Mail.Status, in.Hold = MailQuarantined, true
			if _, err := s.Ingest(ctx, in); err != nil {
				t.Fatal(err)
			}
			if n := count(t, s, `SELECT count(*) FROM delivery WHERE status = 'held' AND job_id IS NULL`); n != 2 {
				t.Fatalf("%d held deliveries without a job, want 2", n)
			}
			stats, err := s.Stats(ctx)
			if err != nil || stats.ByStatus[DeliveryHeld] != 2 || !stats.OldestPending.IsZero() {
				t.Errorf("stats before release: %+v %v", stats, err)
			}
			n, err := s.ReleaseMail(ctx, "q1")
			if err != nil || n != 2 {
				t.Fatalf("release: %d %v", n, err)
			}
			if n := count(t, s, `SELECT count(*) FROM delivery d JOIN river_job j ON j.id = d.job_id
				WHERE d.status = 'pending' AND j.kind = 'delivery'`); n != 2 {
				t.Errorf("%d pending deliveries with a job, want 2", n)
			}
			if n := count(t, s, `SELECT count(*) FROM mail WHERE status = 'parsed'`); n != 1 {
				t.Errorf("mail not parsed after release")
			}
			if _, err := s.ReleaseMail(ctx, "q1"); !errors.Is(err, ErrNotQuarantined) {
				t.Errorf("second release: %v", err)
			}
			if _, err := s.ReleaseMail(ctx, "nosuchqueueid"); !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown mail: %v", err)
			}
			stats, err = s.Stats(ctx)
			if err != nil || stats.ByStatus[DeliveryPending] != 2 || stats.ByStatus[DeliveryHeld] != 0 || stats.OldestPending.IsZero() {
				t.Errorf("stats after release: %+v %v", stats, err)
			}
		})
	}
}

// TestStatsCollector: the queue gauges come from the store on scrape;
// a store that does not answer exports stats_up 0 and nothing else.
func TestStatsCollector(t *testing.T) {
	s := open(t, testenv.SQLite(t), Options{})
	for i := range 3 {
		if _, err := s.Ingest(t.Context(), mail(i, "evt_"+itoa(int64(i)), "vendor")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.ExecContext(t.Context(), `UPDATE delivery SET status = 'dead' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewStatsCollector(s, time.Second, nil))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP qoo10hook_store_dead_letters Dead-lettered deliveries: their retry schedule ran out; kept until an operator retries them.
# TYPE qoo10hook_store_dead_letters gauge
qoo10hook_store_dead_letters 1
# HELP qoo10hook_store_deliveries Deliveries in the queue by status (pending, held, failed, dead); delivered ones have left it.
# TYPE qoo10hook_store_deliveries gauge
qoo10hook_store_deliveries{status="dead"} 1
qoo10hook_store_deliveries{status="failed"} 0
qoo10hook_store_deliveries{status="held"} 0
qoo10hook_store_deliveries{status="pending"} 2
# HELP qoo10hook_store_stats_up 1 when the store answered the queue statistics query of this scrape in time, else 0.
# TYPE qoo10hook_store_stats_up gauge
qoo10hook_store_stats_up 1
`), "qoo10hook_store_deliveries", "qoo10hook_store_dead_letters", "qoo10hook_store_stats_up"); err != nil {
		t.Error(err)
	}
	if age := gathered(t, reg, "qoo10hook_store_oldest_pending_delivery_age_seconds"); age <= 0 || age > 60 {
		t.Errorf("oldest pending age %v", age)
	}
	var created int64
	if err := s.db.QueryRowContext(t.Context(), `SELECT created_at FROM delivery WHERE id = 2`).Scan(&created); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stats(t.Context()); err != nil || !st.OldestPending.Equal(fromMicros(created)) {
		t.Errorf("oldest pending created at %v (%v), want delivery 2's, %v", st.OldestPending, err, fromMicros(created))
	}
	s.Close()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP qoo10hook_store_stats_up 1 when the store answered the queue statistics query of this scrape in time, else 0.
# TYPE qoo10hook_store_stats_up gauge
qoo10hook_store_stats_up 0
`)); err != nil {
		t.Error(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// gathered returns the value of an unlabelled gauge.
func gathered(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("%s not gathered", name)
	return 0
}
