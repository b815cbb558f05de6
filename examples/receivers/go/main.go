// Command receiver is an example qoo10hook webhook receiver: it verifies
// each delivery's signature on the raw body, answers at once, drops
// deliveries it has seen (same webhook-id), and processes the rest after
// answering.
//
//	QOO10HOOK_WEBHOOK_SECRET=whsec_… go run ./examples/receivers/go
//
// It listens on 127.0.0.1:$PORT (default 9000) and prints one line per
// event it processes.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// event is the part of qoo10hook's event v1 this receiver reads; see
// event/schema/v1.json for all of it.
type event struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		SellerID string `json:"seller_id"`
		PackNo   string `json:"pack_no"`
		Items    []struct {
			OrderNo string `json:"order_no"`
			Qty     int    `json:"qty"`
		} `json:"items"`
	} `json:"data"`
}

// seen remembers the webhook-ids already taken. A real receiver keeps
// them where it keeps the orders, in the same transaction: qoo10hook
// delivers at least once, and sends an event again when asked to.
type seen struct {
	mu  sync.Mutex
	ids map[string]bool
}

// first records id and reports whether it is new.
func (s *seen) first(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[id] {
		return false
	}
	s.ids[id] = true
	return true
}

func main() {
	wh, err := standardwebhooks.NewWebhook(os.Getenv("QOO10HOOK_WEBHOOK_SECRET"))
	if err != nil {
		log.Fatalf("QOO10HOOK_WEBHOOK_SECRET: %v", err)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "9000"
	}
	ids := &seen{ids: map[string]bool{}}
	work := make(chan event, 1000)
	go func() {
		for ev := range work {
			process(ev)
		}
	}()

	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		// The signature covers the exact bytes sent: verify them before
		// any decoding.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "not an event", http.StatusBadRequest)
			return
		}
		id := r.Header.Get("webhook-id")
		if !ids.first(id) {
			fmt.Println("duplicate", id)
			w.WriteHeader(http.StatusOK)
			return
		}
		// Answer now; the work happens after (qoo10hook waits at most
		// delivery.timeout, and retries what it does not see answered).
		work <- ev
		w.WriteHeader(http.StatusNoContent)
	})
	log.Printf("receiving webhooks on http://127.0.0.1:%s/", port)
	if err := http.ListenAndServe("127.0.0.1:"+port, nil); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// process is where the receiver's own work goes: store the order,
// reserve stock, print a label.
func process(ev event) {
	var orders []string
	for _, it := range ev.Data.Items {
		orders = append(orders, it.OrderNo)
	}
	fmt.Println("processed", ev.ID, ev.Type, "seller", ev.Data.SellerID, "cart", ev.Data.PackNo, "orders", orders)
}
