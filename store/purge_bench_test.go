package store

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// BenchmarkIngestWhilePurging measures the latency of Ingest (one mail of
// 6 KiB with its event and delivery, 16 sessions at once) on a SQLite store
// holding 10,000 mails past their retention, with the purger idle and
// while it purges them. It reports p50 and p99 in milliseconds, and how
// many mails were purged during the measurement.
func BenchmarkIngestWhilePurging(b *testing.B) {
	for _, purging := range []bool{false, true} {
		name := "idle"
		if purging {
			name = "purging"
		}
		b.Run(name, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			o := Options{URL: testURL(b, testenv.SQLite(b)), Registerer: reg}
			s, err := Open(b.Context(), o)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(b.Context()); err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ingestConcurrently(b, s, 10000, 0, time.Now().Add(-time.Hour)) // delivered: due for purging
			if purging {
				s.purge = newPurger(Retention{Mail: time.Minute})
				go s.purge.run(s)
			}
			b.ResetTimer()
			lat := ingestConcurrently(b, s, b.N, 10000, time.Now())
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(testutil.ToFloat64(s.metric.purged.WithLabelValues("mail")), "purged")
			if purging {
				reportHold(b, reg)
			}
		})
	}
}

// ingestConcurrently ingests n buyer mails numbered from first, received
// at, from 16 goroutines, and returns each Ingest's latency.
func ingestConcurrently(b *testing.B, s *Store, n, first int, at time.Time) []time.Duration {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				in := buyerMail(first+i, fmt.Sprintf("b%d@example.jp", i), "03-0000-0000", at)
				if at.Before(time.Now().Add(-time.Minute)) {
					in.Events[0].Deliveries = nil
				}
				start := time.Now()
				if _, err := s.Ingest(b.Context(), in); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(start)
			}
		}()
	}
	wg.Wait()
	return lat
}

// reportHold reports the mean and the slowest bucket of the time purge
// batches held the writer.
func reportHold(b *testing.B, reg *prometheus.Registry) {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "qoo10hook_store_purge_batch_duration_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() == 0 {
			return
		}
		b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount())*1000, "hold-mean-ms")
		var p99 float64
		for _, bk := range h.GetBucket() {
			if float64(bk.GetCumulativeCount()) >= 0.99*float64(h.GetSampleCount()) {
				p99 = bk.GetUpperBound()
				break
			}
		}
		b.ReportMetric(p99*1000, "hold-p99-le-ms")
	}
}
