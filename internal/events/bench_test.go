package events

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFanout1000 measures publish→all-delivered latency for one
// session with 1000 subscribers, each a goroutine reading its channel (as a
// stream handler does). burst is how many events are published back to back
// before waiting for all of them to arrive: 1 is the pure latency, larger
// bursts show queueing (a model streaming deltas). Reported metrics:
// p50-ms / p99-ms / max-ms of publish→delivered-to-all, and publish-p99-us,
// the time Publish itself holds the caller (the agent loop).
//
//	go test ./internal/events -run '^$' -bench Fanout1000 -benchtime 2000x
func BenchmarkFanout1000(b *testing.B) {
	for _, burst := range []int{1, 32} {
		b.Run("burst="+strconv.Itoa(burst), func(b *testing.B) { benchFanout(b, 1000, burst) })
	}
}

func benchFanout(b *testing.B, subs, burst int) {
	br := quiet()
	n := b.N * burst
	starts := make([]time.Time, n+1)
	counts := make([]atomic.Int32, n+1)
	lat := make([]time.Duration, n+1)
	pub := make([]time.Duration, 0, n)
	delivered := make(chan struct{}, n)
	var wg sync.WaitGroup
	for range subs {
		sub := br.Subscribe("sesn_bench", SubscribeOptions{Buffer: DefaultBuffer, Previews: []string{"agent.message"}})
		wg.Go(func() {
			for m := range sub.C() {
				// starts[m.Seq] was written before Publish sent m: the channel
				// send orders it before this read.
				if counts[m.Seq].Add(1) == int32(subs) {
					lat[m.Seq] = time.Since(starts[m.Seq])
					delivered <- struct{}{}
				}
			}
			if sub.Err() != ErrSessionEnded {
				b.Errorf("subscriber ended with %v", sub.Err())
			}
		})
	}
	data := []byte(`{"type":"agent.message","id":"sevt_01JBENCH","processed_at":"2026-01-02T03:04:05.123456Z","content":[{"type":"text","text":"a typical short assistant reply of a hundred or so bytes of text."}]}`)
	b.ResetTimer()
	seq := int64(0)
	for range b.N {
		for range burst {
			seq++
			t0 := time.Now()
			starts[seq] = t0
			br.Publish("sesn_bench", Message{Seq: seq, ID: "sevt_" + strconv.FormatInt(seq, 10), Type: "agent.message", Data: data})
			pub = append(pub, time.Since(t0))
		}
		for range burst {
			<-delivered
		}
	}
	b.StopTimer()
	br.End("sesn_bench")
	wg.Wait()
	l := slices.Clone(lat[1:])
	slices.Sort(l)
	slices.Sort(pub)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(pct(l, 50)), "p50-ms")
	b.ReportMetric(ms(pct(l, 99)), "p99-ms")
	b.ReportMetric(ms(l[len(l)-1]), "max-ms")
	b.ReportMetric(float64(pct(pub, 99))/float64(time.Microsecond), "publish-p99-us")
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)]
}
