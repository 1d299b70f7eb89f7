package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/wire"
)

// turn sends msg to session id as the API does (with a replay key, the
// hash of the request) and waits, on the live stream, until the session is
// idle again.
func (h *harness) turn(id, msg string) {
	h.t.Helper()
	sub := h.broker.Subscribe(id, events.SubscribeOptions{Buffer: 64})
	defer sub.Close()
	sum := sha256.Sum256([]byte(msg))
	if _, err := h.eng.Send(context.Background(), ws, id, []wire.EventPayload{text(msg)}, hex.EncodeToString(sum[:]), false); err != nil {
		h.t.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-sub.C():
			if !ok {
				h.t.Fatalf("stream of %s ended: %v", id, sub.Err())
			}
			if m.Type == wire.EventTypeSessionStatusIdle {
				return
			}
		case <-timeout:
			h.t.Fatalf("session %s did not go idle", id)
		}
	}
}

// heapInUse is the live heap after full collections: two, so that buffers
// pooled in sync.Pools (JSON encoders keep large ones) are freed too.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// largeHarness is an engine whose model echoes every message (so a turn
// holds the message twice) in deltas of 64K characters and records at most
// maxRecorded requests (modeltest.Options), with no compaction, so that the
// conversation keeps everything sent.
func largeHarness(tb testing.TB, cacheBytes int64, maxRecorded int) *harness {
	echo := func(in modeltest.Input) modeltest.Turn {
		t := modeltest.EchoRule(in)
		t.ChunkSize = 64 << 10
		return t
	}
	h := newHarnessOn(tb, modeltest.NewAnthropic(tb, modeltest.Options{Rule: echo, MaxRecorded: maxRecorded}))
	h.opts = engine.Options{CacheBytes: cacheBytes, ContextWindow: 1 << 40}
	h.open()
	return h
}

// A session whose conversation outgrows the cache's byte budget is not
// kept in memory once idle (it is rebuilt from its log for its next turn,
// whole); a small one used since stays. The heap shows it too.
func TestIdleSessionReleased(t *testing.T) {
	const budget, msgSize, msgs = 1 << 20, 2 << 20, 5
	h := largeHarness(t, budget, 1)
	before := heapInUse()
	big := h.sessionNamed("big")
	for i := range msgs {
		h.turn(big, strings.Repeat(string(rune('a'+i)), msgSize))
	}
	small := h.sessionNamed("small")
	h.turn(small, "hi")
	retained := int64(heapInUse()) - int64(before)
	if engine.Cached(h.eng, big) {
		t.Fatal("the large idle session is still held in memory")
	}
	if !engine.Cached(h.eng, small) {
		t.Fatal("the small idle session was dropped too")
	}
	if runs, bytes := engine.CacheStats(h.eng); runs != 1 || bytes > budget {
		t.Fatalf("cache holds %d sessions, %d bytes; want the small one, under its budget of %d", runs, bytes, budget)
	}
	// The conversation held msgs*2*msgSize (20 MiB), the messages sent
	// half of it (what a cache of send responses kept); what stays now is
	// noise by comparison.
	if limit := int64(4 << 20); retained > limit {
		t.Fatalf("%d bytes stay on the heap after %d messages of %d bytes; want under %d", retained, msgs, msgSize, limit)
	}

	// The next turn sees the whole conversation, rebuilt from the log.
	h.turn(big, "again")
	req, _ := h.fake.LastRequest()
	if n := len(req.Input.Messages); n != 2*msgs+1 {
		t.Fatalf("the model got %d messages after a rebuild, want %d", n, 2*msgs+1)
	}
	if got := req.Input.Messages[2*msgs-2].Content; len(got) != 1 || len(got[0].Text) != msgSize {
		t.Fatalf("the last large message came back as %d blocks", len(got))
	}
}

// BenchmarkIdleSessionHeap sends several large messages to each of several
// sessions (the model echoes each, so a turn holds it twice) and reports
// the heap that stays in use per idle session, the bytes the engine's
// runtime cache accounts for and the sessions it keeps: with the default
// cache budget, and with none for comparison.
func BenchmarkIdleSessionHeap(b *testing.B) {
	const sessions, msgs, msgSize = 4, 6, 2 << 20
	for _, bc := range []struct {
		name  string
		bytes int64
	}{{"budget=default", 0}, {"budget=none", 1 << 62}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				h := largeHarness(b, bc.bytes, -1)
				before := heapInUse()
				for s := range sessions {
					id := h.sessionNamed(string(rune('a' + s)))
					for i := range msgs {
						h.turn(id, strings.Repeat(string(rune('a'+i)), msgSize))
					}
				}
				retained := int64(heapInUse()) - int64(before)
				runs, bytes := engine.CacheStats(h.eng)
				b.ReportMetric(float64(retained)/sessions/(1<<20), "MiB/idle-session")
				b.ReportMetric(float64(bytes)/(1<<20), "cache-MiB")
				b.ReportMetric(float64(runs), "cached-sessions")
				h.close()
			}
		})
	}
}
