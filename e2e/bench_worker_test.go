package e2e

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/model/modeltest"
)

// BenchmarkFirstToolCall measures a new cloud session's first tool call on
// the local backend: the session is created and sent a message at once,
// the fake model answers at once with bash `true`, which runs in the
// session's sandbox through its worker (`worker --item` in the sandbox's
// agent), then once more. Reported: created → first agent.tool_result
// (first-ms); that call's agent.tool_use → agent.tool_result (wait-ms),
// what it waited for the sandbox and its worker beyond running `true`; and
// created → ready for the first call (ready-ms): first less what the
// second call, on a ready sandbox and worker, took from its
// agent.tool_use to its agent.tool_result. pool=N keeps N sandboxes
// started ahead of demand.
func BenchmarkFirstToolCall(b *testing.B) {
	for _, pool := range []int{0, 4} {
		b.Run("pool="+strconv.Itoa(pool), func(b *testing.B) { benchFirstToolCall(b, pool) })
	}
}

func benchFirstToolCall(b *testing.B, pool int) {
	// Two calls of bash `true`, one after the other: the second, on a
	// ready sandbox and worker, is what a call costs once ready.
	twice := func(in modeltest.Input) modeltest.Turn {
		// The message, then a call and its result per call.
		if len(in.Messages) >= 5 {
			return modeltest.Text("done")
		}
		return modeltest.ToolCall("", "bash", map[string]any{"command": "true"})
	}
	s, c, agentID, envID := benchServer(b, benchFake(b, twice), true, "--sandbox", "local", "--sandbox-pool", strconv.Itoa(pool))
	ctx := context.Background()
	first, wait, ready := make(latencies, 0, b.N), make(latencies, 0, b.N), make(latencies, 0, b.N)
	for i := 0; i < b.N; i++ {
		if pool > 0 {
			time.Sleep(300 * time.Millisecond) // let the pool refill
		}
		t0 := time.Now()
		sid := newSession(b, c, agentID, envID)
		// The client follows the session on its stream, as a client does
		// (polling the event list would load the 2-core machine the
		// sandbox starts on); the times are the events' processed_at.
		sctx, cancel := context.WithCancel(ctx)
		st := c.Beta.Sessions.Events.StreamEvents(sctx, sid, anthropic.BetaSessionEventStreamParams{})
		if _, err := c.Beta.Sessions.Events.Send(ctx, sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("run")}}); err != nil {
			b.Fatal(err)
		}
		// agent.tool_use, agent.tool_result twice, then session.status_idle.
		var at []time.Time
		timer := time.AfterFunc(20*time.Second, cancel)
		for len(at) < 5 && st.Next() {
			switch e := st.Current(); e.Type {
			case "agent.tool_use", "agent.tool_result", "session.status_idle":
				at = append(at, e.ProcessedAt)
			}
		}
		timer.Stop()
		cancel()
		if len(at) < 5 {
			b.Fatalf("the session did not run its two calls within 20s (%v)", st.Err())
		}
		first = append(first, at[1].Sub(t0))
		wait = append(wait, at[1].Sub(at[0]))
		ready = append(ready, at[1].Sub(t0)-at[3].Sub(at[2]))
		// Deleted once idle, so its sandbox goes before the next op.
		if _, err := c.Beta.Sessions.Delete(ctx, sid, anthropic.BetaSessionDeleteParams{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if f := os.Getenv("BENCH_LOG_FILE"); f != "" {
		_ = os.WriteFile(f, []byte(s.Logs()), 0o644)
	}
	report := func(l latencies, name string) {
		if len(l) == 0 {
			return
		}
		sortDurations(l)
		b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(l[(len(l)*99)/100].Microseconds())/1000, name+"-p99-ms")
	}
	report(first, "first")
	report(wait, "wait")
	report(ready, "ready")
}

func sortDurations(l latencies) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j] < l[j-1]; j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
