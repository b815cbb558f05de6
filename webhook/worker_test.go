package webhook

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/store"
)

// TestGoneHoldsBackAtOnce: from an endpoint's 410 on, no delivery leaves
// for it, even while the store cannot be written yet to disable it.
func TestGoneHoldsBackAtOnce(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			u, err := store.ParseURL(st.URL)
			if err != nil {
				t.Fatal(err)
			}
			s, err := store.Open(t.Context(), store.Options{URL: u})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			ep := endpoint(t, "http://127.0.0.1:1/")
			w := NewWorker(s, []*Endpoint{ep}, Policy{Timeout: time.Second}, NewMetrics(prometheus.NewRegistry()),
				slog.New(slog.DiscardHandler), "test")
			ctx := t.Context()

			unlock := testenv.LockTable(t, st.URL, "endpoint_state")
			done := make(chan struct{})
			go func() {
				defer close(done)
				w.disable(ctx, w.log, ep.Name, "endpoint answered 410 Gone")
			}()
			deadline := time.Now().Add(time.Second)
			for !w.isDisabled(ctx, ep.Name) {
				if time.Now().After(deadline) {
					unlock()
					<-done
					t.Fatal("deliveries not held back while the store is being told of the 410")
				}
				time.Sleep(5 * time.Millisecond)
			}
			select {
			case <-done:
				t.Fatal("the endpoint was disabled in the store while it was locked: the test proves nothing")
			default:
			}
			unlock()
			<-done

			if !w.isDisabled(ctx, ep.Name) {
				t.Error("endpoint not held back once disabled in the store")
			}
			states, err := s.EndpointStates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !states[ep.Name].Disabled {
				t.Errorf("endpoint not disabled in the store: %+v", states[ep.Name])
			}
		})
	}
}
