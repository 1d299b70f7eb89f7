package itemworker

import (
	"context"
	"maps"
	"testing"
	"time"
)

// TestWorkerWarmUp: the warm-up runs the SDK worker's whole item flow
// against its canned server — the claiming heartbeat, the session, stream,
// session again, list, the tool call and its posted result, the session's
// end, the force-stop — and ends by itself, without error. The
// handshake's requests, sent ahead by handshakePrefetch, reach the server
// once each: the worker's and the runner's own requests took them.
func TestWorkerWarmUp(t *testing.T) {
	for i := range 2 {
		h := &warmHandler{posted: make(chan struct{}, 1), seen: map[string]int{}}
		start := time.Now()
		if err := warmUpWith(context.Background(), t.TempDir(), h); err != nil {
			t.Fatalf("warm-up %d: %v", i, err)
		}
		t.Logf("warm-up %d: %v", i, time.Since(start))
		want := map[string]int{
			"GET " + sessionURI(warmSessionID): 2,
			"POST /v1/environments/" + warmEnvID + "/work/" + warmWorkID + "/heartbeat?expected_last_heartbeat=NO_HEARTBEAT": 1,
			"GET " + streamURI(warmSessionID):                                      1,
			"GET " + listURI(warmSessionID):                                        1,
			"POST /v1/sessions/" + warmSessionID + "/events":                       1,
			"POST /v1/environments/" + warmEnvID + "/work/" + warmWorkID + "/stop": 1,
		}
		h.mu.Lock()
		got := maps.Clone(h.seen)
		h.mu.Unlock()
		if !maps.Equal(got, want) {
			t.Fatalf("warm-up %d: requests %v, want %v", i, got, want)
		}
	}
}
