package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/testserver"
)

// benchCoordinator starts a server whose scripted model answers the
// coordinator and its researcher at once (multiagentRule), and makes the
// two agents; it returns the coordinator's id and an environment.
func benchCoordinator(b *testing.B) (*testserver.Server, anthropic.Client, string, string) {
	b.Helper()
	s, c, _, envID := benchServer(b, benchFake(b, multiagentRule(nil)), false)
	ctx := context.Background()
	r, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{}, option.WithRequestBody("application/json",
		[]byte(`{"name":"researcher","model":"claude-bench","system":"`+researcherSystem+`"}`)))
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"name": "coordinator", "model": "claude-bench", "system": coordinatorSystem,
		"multiagent": map[string]any{"type": "coordinator", "agents": []any{map[string]any{"type": "agent", "id": r.ID}}}})
	co, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{}, option.WithRequestBody("application/json", body))
	if err != nil {
		b.Fatal(err)
	}
	return s, c, co.ID, envID
}

// sendAndWaitIdle sends text to a session and returns when its stream
// shows session.status_idle (end_turn).
func sendAndWaitIdle(b *testing.B, c anthropic.Client, sid, text string) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := c.Beta.Sessions.Events.StreamEvents(ctx, sid, anthropic.BetaSessionEventStreamParams{})
	idle := make(chan struct{}, 1)
	go func() {
		for st.Next() {
			if e := st.Current(); e.Type == "session.status_idle" && e.StopReason.Type == "end_turn" {
				idle <- struct{}{}
				return
			}
		}
	}()
	if _, err := c.Beta.Sessions.Events.Send(ctx, sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage(text)}}); err != nil {
		b.Fatal(err)
	}
	select {
	case <-idle:
	case <-time.After(30 * time.Second):
		b.Fatal("no idle within 30s")
	}
}

// BenchmarkThreadsFanOut: a coordinator delegates to 10 subagents in one
// turn; the models answer at once. One op is a fresh session's message →
// session.status_idle on its stream, after every thread answered and the
// coordinator read the answers.
func BenchmarkThreadsFanOut(b *testing.B) {
	_, c, coordID, envID := benchCoordinator(b)
	l := make(latencies, 0, b.N)
	for i := 0; i < b.N; i++ {
		sid := newSession(b, c, coordID, envID)
		t0 := time.Now()
		sendAndWaitIdle(b, c, sid, "fan out 10")
		l = append(l, time.Since(t0))
	}
	l.report(b)
}

// BenchmarkThreadStreams: 25 threads (the primary and 24 subagents) each
// streamed on its own /threads/{id}/stream while all 24 subagents work at
// once (a follow-up to each). The latency of an event is from its
// processed_at (stamped when the server makes it, before it is logged) to
// its arrival at the client reading its thread's stream.
func BenchmarkThreadStreams(b *testing.B) {
	s, c, coordID, envID := benchCoordinator(b)
	ctx := context.Background()
	var mu sync.Mutex
	l := make(latencies, 0, b.N*200)
	var events int
	for i := 0; i < b.N; i++ {
		sid := newSession(b, c, coordID, envID)
		sendAndWaitIdle(b, c, sid, "fan out 24")
		var ths []anthropic.BetaManagedAgentsSessionThread
		it := c.Beta.Sessions.Threads.ListAutoPaging(ctx, sid, anthropic.BetaSessionThreadListParams{})
		for it.Next() {
			ths = append(ths, it.Current())
		}
		if it.Err() != nil || len(ths) != 25 {
			b.Fatalf("threads: %v, %d", it.Err(), len(ths))
		}
		sctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, th := range ths {
			wg.Add(1)
			// A plain SSE reader: the SDK's union decoding on 25 streams
			// would take the CPU the server needs on a 2-core host.
			req, _ := http.NewRequestWithContext(sctx, "GET", s.URL+"/v1/sessions/"+sid+"/threads/"+th.ID+"/stream", nil)
			req.Header.Set("x-api-key", testserver.AdminKey)
			testserver.SDKHeaders(req.Header)
			go func() {
				defer wg.Done()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				defer resp.Body.Close()
				sc := bufio.NewScanner(resp.Body)
				sc.Buffer(make([]byte, 64<<10), 1<<20)
				for sc.Scan() {
					line := sc.Bytes()
					if !bytes.HasPrefix(line, []byte("data: ")) {
						continue
					}
					at := time.Now()
					var head struct {
						ProcessedAt *time.Time `json:"processed_at"`
					}
					if json.Unmarshal(line[len("data: "):], &head) != nil || head.ProcessedAt == nil {
						continue
					}
					mu.Lock()
					l = append(l, at.Sub(*head.ProcessedAt))
					events++
					mu.Unlock()
				}
			}()
		}
		// The streams are open once the server answered their requests;
		// a moment lets the last subscriptions land.
		time.Sleep(100 * time.Millisecond)
		sendAndWaitIdle(b, c, sid, "follow up all")
		time.Sleep(50 * time.Millisecond)
		cancel()
		wg.Wait()
	}
	if events < b.N*24*5 {
		b.Fatalf("only %d thread events read", events)
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
	l.report(b)
}
