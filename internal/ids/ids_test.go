package ids

import (
	"strings"
	"sync"
	"testing"
)

// Ids minted one after another sort in the order they were minted, also
// the many minted within one millisecond.
func TestNewIncreases(t *testing.T) {
	prev := New(Event)
	for i := 0; i < 100000; i++ {
		id := New(Event)
		if id <= prev {
			t.Fatalf("id %d: %s does not sort after %s", i, id, prev)
		}
		if len(id) != len(prev) || !strings.HasPrefix(id, Event+"01") {
			t.Fatalf("id %q is not a prefixed 24-character id", id)
		}
		prev = id
	}
}

// Ids minted concurrently are distinct and each goroutine sees its own
// ids increase.
func TestNewConcurrent(t *testing.T) {
	const workers, each = 8, 5000
	out := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				out[w] = append(out[w], New(Session))
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ids := range out {
		for i, id := range ids {
			if seen[id] {
				t.Fatalf("id %s minted twice", id)
			}
			seen[id] = true
			if i > 0 && id <= ids[i-1] {
				t.Fatalf("%s does not sort after %s", id, ids[i-1])
			}
		}
	}
}
