// Command qoo10hook-load sends rendered Qoo10 notification mails to an SMTP server and measures ingest and end-to-end latency.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:2525", "SMTP server `host:port`")
	flag.StringVar(&o.rcpt, "rcpt", "orders@localhost", "recipient `address`")
	flag.IntVar(&o.sessions, "sessions", 20, "concurrent SMTP sessions")
	flag.IntVar(&o.mails, "mails", 5000, "mails to send")
	flag.Float64Var(&o.rate, "rate", 0, "mails per second in all (0: as fast as the server takes them)")
	flag.BoolVar(&o.reuse, "reuse", false, "send many mails per connection instead of one")
	flag.IntVar(&o.size, "size", 4096, "pad each mail's memo to about this many `bytes` (0: no padding)")
	flag.StringVar(&o.hookAddr, "hook", "", "listen on `host:port` for the webhooks and measure end-to-end latency")
	flag.StringVar(&o.secret, "secret", "", "the webhook secret (whsec_…), to verify signatures")
	flag.DurationVar(&o.wait, "wait", 2*time.Minute, "how long to wait for webhooks after sending")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the mail values")
	flag.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	flag.BoolVar(&o.hotSKU, "hot-sku", false, "order one SKU in every mail (a flash sale) instead of many")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to `file`")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "qoo10hook-load: cpuprofile:", err)
			os.Exit(1)
		}
	}
	rep, err := run(o)
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "qoo10hook-load:", err)
		os.Exit(1)
	}
	if o.asJSON {
		json.NewEncoder(os.Stdout).Encode(rep)
	} else {
		rep.print(os.Stdout)
	}
	if rep.Accepted < o.mails || (o.hookAddr != "" && (rep.Delivered < rep.Accepted || rep.RepeatedIDs > 0)) {
		os.Exit(1)
	}
}

type options struct {
	addr, rcpt, hookAddr, secret string
	sessions, mails, size        int
	rate                         float64
	reuse, asJSON, hotSKU        bool
	wait                         time.Duration
	seed                         uint64
}

// report is what a run measured. Latencies are in milliseconds.
type report struct {
	Mails       int                `json:"mails"`
	Accepted    int                `json:"accepted"`
	TempFailed  int                `json:"tempfailed"`
	Rejected    int                `json:"rejected"`
	Seconds     float64            `json:"seconds"`
	MailsPerSec float64            `json:"accepted_per_second"`
	SMTP        map[string]float64 `json:"smtp_ms"`
	Delivered   int                `json:"delivered,omitempty"`
	Duplicates  int                `json:"duplicates,omitempty"`
	BadSigs     int                `json:"bad_signatures,omitempty"`
	EndToEnd    map[string]float64 `json:"end_to_end_ms,omitempty"`
	E2EPerSec   float64            `json:"delivered_per_second,omitempty"`
	// Ratio is order events delivered per second over mails accepted per
	// second: under 1, the backlog grows while mail comes in.
	Ratio float64 `json:"delivered_to_accepted,omitempty"`
	// Other counts the other events (stock adjustments, …) by type, and
	// OtherDone is when the last of them arrived, in seconds from the start.
	Other     map[string]int `json:"other_events,omitempty"`
	OtherDone float64        `json:"other_events_done_seconds,omitempty"`
	// RepeatedIDs counts the webhooks, of any type, whose webhook-id had
	// come before: the same event posted twice.
	RepeatedIDs int `json:"repeated_ids"`
	// Repeated names the first of them, with their event types.
	Repeated []string `json:"repeated,omitempty"`
	// LoadCPU is this tool's own CPU time (user and system) from the
	// first mail sent to the last webhook taken: on one machine, what the
	// measurement took from the server measured.
	LoadCPU float64 `json:"load_cpu_seconds"`
}

func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "sent %d mails in %.2fs: %d accepted (%.0f/s), %d tempfailed, %d rejected\n",
		r.Mails, r.Seconds, r.Accepted, r.MailsPerSec, r.TempFailed, r.Rejected)
	fmt.Fprintf(w, "SMTP transaction ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", r.SMTP["p50"], r.SMTP["p90"], r.SMTP["p99"], r.SMTP["max"])
	if r.EndToEnd != nil {
		fmt.Fprintf(w, "order events delivered %d (%.0f/s, %.2f of accepted/s), %d duplicates, %d bad signatures\n",
			r.Delivered, r.E2EPerSec, r.Ratio, r.Duplicates, r.BadSigs)
		fmt.Fprintf(w, "250 -> webhook ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", r.EndToEnd["p50"], r.EndToEnd["p90"], r.EndToEnd["p99"], r.EndToEnd["max"])
		for _, t := range slices.Sorted(maps.Keys(r.Other)) {
			fmt.Fprintf(w, "other events: %s %d", t, r.Other[t])
			if r.OtherDone > 0 {
				fmt.Fprintf(w, " (last at %.2fs, %.0f/s)", r.OtherDone, float64(r.Other[t])/r.OtherDone)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "webhook-ids posted more than once: %d\n", r.RepeatedIDs)
		for _, id := range r.Repeated {
			fmt.Fprintf(w, "  posted again: %s\n", id)
		}
	}
	if r.Mails > 0 {
		fmt.Fprintf(w, "load tool CPU %.2f s, %.0f µs per mail\n", r.LoadCPU, r.LoadCPU*1e6/float64(r.Mails))
	}
}

func run(o options) (report, error) {
	gen := newGenerator(o.seed, o.size, o.hotSKU)
	mails := make([]generated, o.mails)
	for i := range mails {
		m, err := gen.mail(i)
		if err != nil {
			return report{}, err
		}
		mails[i] = m
	}

	var hook *receiver
	if o.hookAddr != "" {
		var err error
		if hook, err = listen(o.hookAddr, o.secret, len(mails)); err != nil {
			return report{}, err
		}
	}

	var next atomic.Int64
	var mu sync.Mutex
	rep := report{Mails: o.mails}
	var smtpLat []time.Duration
	acceptedAt := make([]time.Time, len(mails))
	var tick <-chan time.Time
	if o.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
		defer t.Stop()
		tick = t.C
	}
	start, cpuStart := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for range o.sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *smtp.Client
			defer func() {
				if c != nil {
					c.Quit()
				}
			}()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(mails) {
					return
				}
				if tick != nil {
					<-tick
				}
				t0 := time.Now()
				var err error
				if c == nil {
					c, err = dial(o.addr)
				}
				if err == nil {
					err = send(c, o.rcpt, mails[i].raw)
				}
				if !o.reuse || err != nil {
					if c != nil {
						c.Close()
					}
					c = nil
				}
				now := time.Now()
				mu.Lock()
				switch code(err) {
				case 250:
					rep.Accepted++
					smtpLat = append(smtpLat, now.Sub(t0))
					acceptedAt[i] = now
					if hook != nil {
						hook.expect(mails[i].orderNo, now)
					}
				case 4:
					rep.TempFailed++
				default:
					rep.Rejected++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	rep.MailsPerSec = float64(rep.Accepted) / rep.Seconds
	rep.SMTP = percentiles(smtpLat)
	if hook != nil {
		hook.wait(rep.Accepted, o.wait)
		rep.Delivered, rep.Duplicates, rep.BadSigs, rep.EndToEnd = hook.results()
		if last := hook.lastAt(); !last.IsZero() {
			rep.E2EPerSec = float64(rep.Delivered) / last.Sub(start).Seconds()
			rep.Ratio = rep.E2EPerSec / rep.MailsPerSec
		}
		// Stock adjustments follow their orders; give them a moment to end.
		hook.settle(2 * time.Second)
		var otherLast time.Time
		rep.Other, otherLast = hook.others()
		rep.RepeatedIDs, rep.Repeated = hook.repeatedIDs()
		if !otherLast.IsZero() {
			rep.OtherDone = otherLast.Sub(start).Seconds()
		}
	}
	rep.LoadCPU = (cpuTime() - cpuStart).Seconds()
	return rep, nil
}

// cpuTime is the CPU time this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dial(addr string) (*smtp.Client, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	if err := c.Hello("load.qoo10hook.test"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func send(c *smtp.Client, rcpt string, raw []byte) error {
	return c.SendMail("qoo10info@qoo10.jp", []string{rcpt}, bytes.NewReader(raw))
}

// code is 250 for success, 4 for a temporary failure, 5 otherwise.
func code(err error) int {
	if err == nil {
		return 250
	}
	if se, ok := err.(*smtp.SMTPError); ok && se.Temporary() {
		return 4
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return 4
	}
	return 5
}

func percentiles(d []time.Duration) map[string]float64 {
	if len(d) == 0 {
		return map[string]float64{}
	}
	slices.Sort(d)
	at := func(p float64) float64 {
		return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
	}
	return map[string]float64{"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1)}
}

// receiver takes the webhooks and times them against the 250 of their mail.
type receiver struct {
	mu        sync.Mutex
	other     map[string]int
	otherLast time.Time
	sentAt    map[string]time.Time
	// early holds when webhooks came whose mail's 250 had not been
	// recorded yet: delivery can beat the sender's bookkeeping.
	early     map[string]time.Time
	seen      map[string]int
	ids       map[string]int // webhook-id → posts
	repeated  int
	again     []string // the first webhook-ids posted again, with their types
	latencies []time.Duration
	bad       int
	last      time.Time
	wh        *standardwebhooks.Webhook
}

func listen(addr, secret string, n int) (*receiver, error) {
	r := &receiver{sentAt: make(map[string]time.Time, n), early: map[string]time.Time{}, seen: make(map[string]int, n),
		ids:   make(map[string]int, n),
		other: map[string]int{}}
	if secret != "" {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		r.wh = wh
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go http.Serve(ln, r)
	return r, nil
}

func (r *receiver) expect(orderNo string, at time.Time) {
	r.mu.Lock()
	r.sentAt[orderNo] = at
	if came, ok := r.early[orderNo]; ok {
		r.latencies = append(r.latencies, max(came.Sub(at), 0))
		delete(r.early, orderNo)
	}
	r.mu.Unlock()
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(req.Body)
	var ev struct {
		Type string `json:"type"`
		Data struct {
			Items []struct {
				OrderNo string `json:"order_no"`
			} `json:"items"`
		} `json:"data"`
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wh != nil && r.wh.Verify(body, req.Header) != nil {
		r.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	id := req.Header.Get("webhook-id")
	r.ids[id]++
	again := r.ids[id] > 1
	if again {
		r.repeated++
	}
	err := json.Unmarshal(body, &ev)
	if again && len(r.again) < 10 {
		r.again = append(r.again, id+" ("+ev.Type+")")
	}
	if err != nil {
		return
	}
	if !strings.HasPrefix(ev.Type, "order.") || ev.Type == "order.updated" {
		r.other[ev.Type]++
		r.otherLast = now
		return
	}
	if len(ev.Data.Items) > 0 {
		no := ev.Data.Items[0].OrderNo
		r.seen[no]++
		if r.seen[no] == 1 {
			if at, ok := r.sentAt[no]; ok {
				r.latencies = append(r.latencies, now.Sub(at))
			} else {
				r.early[no] = now
			}
		}
		r.last = now
	}
}

func (r *receiver) wait(n int, max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		got := len(r.latencies)
		r.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *receiver) results() (delivered, duplicates, bad int, lat map[string]float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.seen {
		delivered++
		duplicates += n - 1
	}
	return delivered, duplicates, r.bad, percentiles(r.latencies)
}

// settle waits until no other event has come for quiet, or a minute.
func (r *receiver) settle(quiet time.Duration) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		last := r.otherLast
		r.mu.Unlock()
		if time.Since(last) > quiet {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *receiver) repeatedIDs() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.repeated, slices.Clone(r.again)
}

func (r *receiver) others() (map[string]int, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.other), r.otherLast
}

func (r *receiver) lastAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}
