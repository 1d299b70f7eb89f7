package sandbox

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowBackend creates sandboxes slowly and records how many creations
// overlapped.
type slowBackend struct {
	fakeBackend
	now, peak atomic.Int32
}

func (b *slowBackend) Create(ctx context.Context, spec Spec) (Sandbox, error) {
	n := b.now.Add(1)
	defer b.now.Add(-1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(5 * time.Millisecond)
	return b.fakeBackend.Create(ctx, spec)
}

// A burst of sessions starts at most maxConcurrentStarts sandboxes at once,
// and every one of them gets its sandbox.
func TestToolboxBoundsConcurrentStarts(t *testing.T) {
	b := &slowBackend{fakeBackend: fakeBackend{name: "fake"}}
	tb := NewToolbox(b, func(_ context.Context, id string) (Spec, error) { return specOf(id, 1), nil })
	const sessions = 40
	var wg sync.WaitGroup
	for i := range sessions {
		id := "sesn_" + string(rune('A'+i))
		tb.Provision(id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := tb.Sandbox(context.Background(), id); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	if p := b.peak.Load(); p > maxConcurrentStarts || p < 2 {
		t.Fatalf("peak concurrent creates = %d, want 2..%d", p, maxConcurrentStarts)
	}
	if got := len(b.log()); got != sessions {
		t.Fatalf("%d creates for %d sessions", got, sessions)
	}
}
