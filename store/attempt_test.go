package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestParkAndWake: a delivery whose predecessor is pending is parked (its
// running job snoozed, until the fallback), the predecessor's last attempt
// makes the parked job available again in the transaction that records
// it, and a delivery whose predecessor has ended is not parked.
func TestParkAndWake(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			ctx := t.Context()
			add := func(n int, keys ...string) (*Delivery, Job) {
				in := mail(n, fmt.Sprintf("evt_p%d", n))
				nd := NewDelivery{Endpoint: "e", OrderKey: "cart1"}
				if len(keys) == 2 {
					nd.OrderKey, nd.SecondKey = keys[0], keys[1]
				}
				in.Events[0].Deliveries = []NewDelivery{nd}
				if _, err := s.Ingest(ctx, in); err != nil {
					t.Fatal(err)
				}
				var id, job int64
				if err := s.db.QueryRowContext(ctx, `SELECT id, job_id FROM delivery WHERE event_id = $1`,
					fmt.Sprintf("evt_p%d", n)).Scan(&id, &job); err != nil {
					t.Fatal(err)
				}
				// As River's producer does when it takes the job.
				if _, err := s.db.ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1 WHERE id = $1`, job); err != nil {
					t.Fatal(err)
				}
				d, _, _, err := s.DeliveryForWork(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return d, Job{ID: job, Attempt: 1}
			}
			state := func(job Job) string {
				var st string
				if err := s.db.QueryRowContext(ctx, `SELECT state FROM river_job WHERE id = $1`, job.ID).Scan(&st); err != nil {
					t.Fatal(err)
				}
				return st
			}
			p, _ := add(1)
			sd, sj := add(2)
			parked, err := s.ParkDelivery(ctx, sd, sj, time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if !parked || state(sj) != "scheduled" {
				t.Fatalf("parked = %v, job %s; want parked, scheduled", parked, state(sj))
			}
			if _, err := s.RecordAttempt(ctx, p, Attempt{Number: 1, StartedAt: time.Now(), StatusCode: 200},
				Outcome{Status: DeliveryDelivered}); err != nil {
				t.Fatal(err)
			}
			if got := state(sj); got != "available" {
				t.Errorf("the parked job is %s after its predecessor was delivered, want available", got)
			}
			td, tj := add(3)
			if _, err := s.RecordAttempt(ctx, sd, Attempt{Number: 1, StartedAt: time.Now(), StatusCode: 410},
				Outcome{Status: DeliveryFailed}); err != nil {
				t.Fatal(err)
			}
			if parked, err := s.ParkDelivery(ctx, td, tj, time.Now().Add(time.Hour)); err != nil || parked {
				t.Errorf("parked = %v (%v) with no pending predecessor, want false", parked, err)
			}
			if got := state(tj); got != "running" {
				t.Errorf("the job not parked is %s, want running", got)
			}

			// A delivery following cart1 (a stock adjustment) parks behind
			// td and is woken by it; cart1's next delivery passes it.
			ud, uj := add(4, "sku:X", "cart1")
			if parked, err := s.ParkDelivery(ctx, ud, uj, time.Now().Add(time.Hour)); err != nil || !parked {
				t.Fatalf("follower parked = %v (%v), want parked behind td", parked, err)
			}
			if _, err := s.RecordAttempt(ctx, td, Attempt{Number: 1, StartedAt: time.Now(), StatusCode: 200},
				Outcome{Status: DeliveryDelivered}); err != nil {
				t.Fatal(err)
			}
			if got := state(uj); got != "available" {
				t.Errorf("the parked follower is %s after the cart's delivery, want available", got)
			}
			vd, vj := add(5)
			if parked, err := s.ParkDelivery(ctx, vd, vj, time.Now().Add(time.Hour)); err != nil || parked {
				t.Errorf("cart1's next delivery parked = %v (%v) behind a follower of cart1, want not parked", parked, err)
			}
		})
	}
}
