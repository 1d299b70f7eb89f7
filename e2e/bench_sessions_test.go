package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
)

// benchLoop is a server whose models are answered at once by the scripted
// upstream (EchoRule), so the figures are Hangar's own overhead.
func benchLoop(b *testing.B, turns ...modeltest.Turn) (*testserver.Server, anthropic.Client, string, string) {
	b.Helper()
	return benchServer(b, benchFake(b, modeltest.EchoRule, turns...), false)
}

// benchFake is the scripted model upstream of a benchmark's servers.
func benchFake(b *testing.B, rule modeltest.Rule, turns ...modeltest.Turn) *modeltest.Server {
	b.Helper()
	fake, err := modeltest.StartAnthropic(modeltest.Options{Rule: rule, MaxRecorded: 1}, turns...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fake.Close() })
	return fake
}

// benchServer starts hangar serve (with args) on fake's models and makes an
// agent — with the built-in toolset when toolset is set — and an
// environment. BENCH_LOG_LEVEL sets the server's log level (warn), and
// BENCH_DEBUG_LISTEN has it serve pprof there.
func benchServer(b *testing.B, fake *modeltest.Server, toolset bool, args ...string) (*testserver.Server, anthropic.Client, string, string) {
	b.Helper()
	s := testserver.Start(b, testserver.WithEnv("HANGAR_ANTHROPIC_BASE_URL="+fake.URL, "HANGAR_ANTHROPIC_API_KEY=k",
		"HANGAR_LOG_LEVEL="+envOr("BENCH_LOG_LEVEL", "warn"), "HANGAR_DEBUG_LISTEN="+os.Getenv("BENCH_DEBUG_LISTEN")),
		testserver.WithArgs(args...))
	c := s.Client("")
	ctx := context.Background()
	body := `{"name":"bench","model":"claude-bench"}`
	if toolset {
		body = `{"name":"bench","model":"claude-bench","tools":[{"type":"agent_toolset_20260401"}]}`
	}
	a, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{}, option.WithRequestBody("application/json", []byte(body)))
	if err != nil {
		b.Fatal(err)
	}
	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: fmt.Sprintf("bench-%d", time.Now().UnixNano())})
	if err != nil {
		b.Fatal(err)
	}
	return s, c, a.ID, env.ID
}

func newSession(b *testing.B, c anthropic.Client, agentID, envID string) string {
	s, err := c.Beta.Sessions.New(context.Background(), anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agentID)}, EnvironmentID: envID})
	if err != nil {
		b.Fatal(err)
	}
	return s.ID
}

// BenchmarkSessions measures the session hot paths through the HTTP stack
// with the official SDK: create, the send acknowledgement, and a whole turn
// from send to session.status_idle on the stream.
func BenchmarkSessions(b *testing.B) {
	_, c, agentID, envID := benchLoop(b)
	ctx := context.Background()
	b.Run("CreateSession", func(b *testing.B) {
		timeOps(b, func(int) error {
			_, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
				Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agentID)}, EnvironmentID: envID})
			return err
		})
	})
	b.Run("SendAck", func(b *testing.B) {
		// A session that is already running queues the messages: the
		// figure is the acknowledgement alone.
		sid := newSession(b, c, agentID, envID)
		timeOps(b, func(int) error {
			_, err := c.Beta.Sessions.Events.Send(ctx, sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("hi")}})
			return err
		})
	})
	b.Run("MessageToIdle", func(b *testing.B) {
		// A fresh session per op, so every op is one model request on a
		// one-message conversation; setup is outside the measured span.
		l := make(latencies, 0, b.N)
		for i := 0; i < b.N; i++ {
			sid := newSession(b, c, agentID, envID)
			sctx, cancel := context.WithCancel(ctx)
			st := c.Beta.Sessions.Events.StreamEvents(sctx, sid, anthropic.BetaSessionEventStreamParams{})
			idle := make(chan struct{}, 1)
			go func() {
				for st.Next() {
					if st.Current().Type == "session.status_idle" {
						idle <- struct{}{}
					}
				}
			}()
			t0 := time.Now()
			if _, err := c.Beta.Sessions.Events.Send(ctx, sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("hi")}}); err != nil {
				b.Fatal(err)
			}
			select {
			case <-idle:
			case <-time.After(10 * time.Second):
				b.Fatal("no idle within 10s")
			}
			l = append(l, time.Since(t0))
			cancel()
		}
		l.report(b)
	})
}

// BenchmarkStreamFanout: 1000 SSE connections on one session; each op
// publishes one event (a queued user.message echo) and waits until every
// connection has read it. Reported p50/p99 are publish → all delivered.
func BenchmarkStreamFanout(b *testing.B) {
	// The first model request stalls after its first delta (a turn with
	// no content would end at once), so the session stays running and
	// each send publishes exactly one event: its queued echo.
	stall := modeltest.Text("thinking it over")
	stall.Stall = true
	s, c, agentID, envID := benchLoop(b, stall)
	sid := newSession(b, c, agentID, envID)
	const subscribers = 1000
	// seen counts deliveries; the reader whose delivery reaches want
	// signals all, so the measuring goroutine sleeps instead of polling
	// (a polling loop would take CPU from the server on a 2-core host).
	var seen, want atomic.Int64
	all := make(chan struct{}, 1)
	var ready sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: subscribers}}
	for i := 0; i < subscribers; i++ {
		ready.Add(1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/v1/sessions/"+sid+"/events/stream", nil)
			req.Header.Set("x-api-key", testserver.AdminKey)
			testserver.SDKHeaders(req.Header)
			resp, err := hc.Do(req)
			ready.Done()
			if err != nil {
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if bytes.HasPrefix(sc.Bytes(), []byte("id: ")) && seen.Add(1) == want.Load() {
					all <- struct{}{}
				}
			}
		}()
	}
	ready.Wait()
	send := func() {
		if _, err := c.Beta.Sessions.Events.Send(context.Background(), sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("fan")}}); err != nil {
			b.Fatal(err)
		}
	}
	// The first message starts the (stalling) turn: status and span events
	// go out once; wait for them to settle before measuring.
	send()
	time.Sleep(500 * time.Millisecond)
	l := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		target := seen.Load() + subscribers
		want.Store(target)
		t0 := time.Now()
		send()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			b.Fatalf("only %d of %d deliveries", seen.Load()-(target-subscribers), subscribers)
		}
		l = append(l, time.Since(t0))
	}
	b.StopTimer()
	// Each op must have published exactly one event: anything more (a turn
	// that ran instead of stalling) would be measured as part of the op.
	time.Sleep(200 * time.Millisecond)
	if got, want := seen.Load(), want.Load(); got != want {
		b.Fatalf("%d deliveries, want exactly %d: ops published more than one event", got, want)
	}
	l.report(b)
}

// BenchmarkConcurrentSessions: N sessions each send a message at once; the
// op ends when every one of them is idle again. None may stall.
func BenchmarkConcurrentSessions(b *testing.B) {
	_, c, agentID, envID := benchLoop(b)
	const n = 500
	sids := make([]string, n)
	for i := range sids {
		sids[i] = newSession(b, c, agentID, envID)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, sid := range sids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Beta.Sessions.Events.Send(ctx, sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("go")}}); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		// Done when every session has answered this round and is idle.
		deadline := time.Now().Add(60 * time.Second)
		for _, sid := range sids {
			for {
				page, err := c.Beta.Sessions.Events.List(ctx, sid, anthropic.BetaSessionEventListParams{Types: []anthropic.BetaManagedAgentsSessionEventType{"agent.message", "session.status_idle"}})
				if err != nil {
					b.Fatal(err)
				}
				var replies int
				for _, e := range page.Data {
					if e.Type == "agent.message" {
						replies++
					}
				}
				if replies == i+1 && page.Data[len(page.Data)-1].Type == "session.status_idle" {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("session %s stalled: %d replies after round %d", sid, replies, i+1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	b.ReportMetric(float64(n), "sessions")
}

// bashTrueRule has the model call bash `true` once, then end its turn.
func bashTrueRule(in modeltest.Input) modeltest.Turn {
	if len(in.ToolResults()) > 0 {
		return modeltest.Text("done")
	}
	return modeltest.ToolCall("", "bash", map[string]any{"command": "true"})
}

// BenchmarkBashTool measures a bash call of `true` in the session's local
// (bubblewrap) sandbox: from agent.tool_use to agent.tool_result in the log,
// by their processed_at stamps. The sandbox is warm after the first op.
func BenchmarkBashTool(b *testing.B) {
	_, c, agentID, envID := benchServer(b, benchFake(b, bashTrueRule), true)
	ctx := context.Background()
	sid := newSession(b, c, agentID, envID)
	l := make(latencies, 0, b.N)
	for i := 0; i < b.N; i++ {
		if _, err := c.Beta.Sessions.Events.Send(ctx, sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("run")}}); err != nil {
			b.Fatal(err)
		}
		var use, res time.Time
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("turn did not finish within 20s")
			}
			page, err := c.Beta.Sessions.Events.List(ctx, sid, anthropic.BetaSessionEventListParams{
				Types: []anthropic.BetaManagedAgentsSessionEventType{"agent.tool_use", "agent.tool_result", "agent.message"}})
			if err != nil {
				b.Fatal(err)
			}
			// Each op adds tool_use, tool_result, message: wait for this
			// op's message, then read its pair.
			if len(page.Data) < 3*(i+1) {
				continue
			}
			op := page.Data[3*i : 3*i+3]
			use, res = op[0].ProcessedAt, op[1].ProcessedAt
			break
		}
		if i > 0 || b.N == 1 { // the first op includes the sandbox's cold start
			l = append(l, res.Sub(use))
		}
	}
	l.report(b)
}
