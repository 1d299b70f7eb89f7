package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/model/modeltest"
)

// firstToolResult waits for the session's first agent.tool_result and
// returns its processed_at with the tool_use's.
func firstToolResult(b *testing.B, c anthropic.Client, sid string, n int) (use, res time.Time) {
	b.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("no tool result within 60s")
		}
		page, err := c.Beta.Sessions.Events.List(context.Background(), sid, anthropic.BetaSessionEventListParams{
			Types: []anthropic.BetaManagedAgentsSessionEventType{"agent.tool_use", "agent.tool_result"}})
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Data) >= 2*n {
			return page.Data[2*n-2].ProcessedAt, page.Data[2*n-1].ProcessedAt
		}
	}
}

// BenchmarkMemoryMount measures memory store mounts in the local
// (bubblewrap) sandbox, no pool (every sandbox starts cold):
//   - ColdStart: from session create to its first bash tool result (a
//     read through the mount), with no store and with a 1,000-memory store
//     attached read_write and read_only; the difference of the p50s is
//     what the mount adds. The first start makes the store version's
//     shared snapshot, the others reuse it. -writing: every session writes
//     a memory instead (the sync saves a version inside the call, and the
//     next start writes the version its snapshot lacks on top).
//   - WriteVisible: an agent's write under a read_write mount, from its
//     agent.tool_result to the new content read through the API.
func BenchmarkMemoryMount(b *testing.B) {
	var n atomic.Int64
	rule := func(in modeltest.Input) modeltest.Turn {
		if len(in.ToolResults()) > 0 {
			return modeltest.Text("done")
		}
		// "read" reads a memory through the mount (and fails harmlessly
		// without one); "write" writes one, which the sync saves.
		if in.LastUserText() == "write" {
			return modeltest.ToolCall("", "bash", map[string]any{"command": fmt.Sprintf("printf %d > /mnt/memory/bench/n.md", n.Add(1))})
		}
		return modeltest.ToolCall("", "bash", map[string]any{"command": "cat /mnt/memory/bench/topic-0/note-0.md > /dev/null 2>&1; true"})
	}
	_, c, agentID, envID := benchServer(b, benchFake(b, rule), true, "--sandbox", "local", "--sandbox-pool", "0")
	ctx := context.Background()
	big, err := c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := c.Beta.MemoryStores.Memories.New(ctx, big.ID, anthropic.BetaMemoryStoreMemoryNewParams{
			Path: fmt.Sprintf("/topic-%d/note-%d.md", i%20, i), Content: anthropic.String("a short note an agent keeps between sessions, about one line long."),
		}); err != nil {
			b.Fatal(err)
		}
	}
	create := func(rs ...anthropic.BetaSessionNewParamsResourceUnion) string {
		s, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
			Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agentID)}, EnvironmentID: envID, Resources: rs})
		if err != nil {
			b.Fatal(err)
		}
		return s.ID
	}
	send := func(sid, what string) {
		if _, err := c.Beta.Sessions.Events.Send(ctx, sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage(what)}}); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, what string
		rs         []anthropic.BetaSessionNewParamsResourceUnion
	}{
		{"none", "read", nil},
		{"1000-memories", "read", []anthropic.BetaSessionNewParamsResourceUnion{memResource(big.ID, "", "")}},
		{"1000-memories-read_only", "read", []anthropic.BetaSessionNewParamsResourceUnion{memResource(big.ID, "read_only", "")}},
		// Every session writes a memory: its sync saves a version, and the
		// next start writes what the snapshot lacks into its upper layer.
		{"1000-memories-writing", "write", []anthropic.BetaSessionNewParamsResourceUnion{memResource(big.ID, "", "")}},
	} {
		b.Run("ColdStart/"+tc.name, func(b *testing.B) {
			l := make(latencies, 0, b.N)
			for range b.N {
				t0 := time.Now()
				sid := create(tc.rs...)
				send(sid, tc.what)
				_, res := firstToolResult(b, c, sid, 1)
				l = append(l, res.Sub(t0))
				waitIdle(b, c, sid)
				if _, err := c.Beta.Sessions.Delete(ctx, sid, anthropic.BetaSessionDeleteParams{}); err != nil {
					b.Fatal(err)
				}
			}
			l.report(b)
		})
	}
	b.Run("WriteVisible", func(b *testing.B) {
		sid := create(memResource(big.ID, "", ""))
		l := make(latencies, 0, b.N)
		for i := range b.N {
			want := fmt.Sprint(n.Load() + 1)
			send(sid, "write")
			var seen time.Time
			for deadline := time.Now().Add(20 * time.Second); seen.IsZero(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatal("write not visible within 20s")
				}
				page, err := c.Beta.MemoryStores.Memories.List(ctx, big.ID, anthropic.BetaMemoryStoreMemoryListParams{PathPrefix: anthropic.String("/n.md"), View: "full"})
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Data) == 1 && page.Data[0].Content == want {
					seen = time.Now()
				}
			}
			_, res := firstToolResult(b, c, sid, i+1)
			l = append(l, max(0, seen.Sub(res)))
			waitIdle(b, c, sid)
		}
		l.report(b)
	})
}

// waitIdle waits for the session to be idle again.
func waitIdle(b *testing.B, c anthropic.Client, sid string) {
	b.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("session not idle within 20s")
		}
		s, err := c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{})
		if err != nil {
			b.Fatal(err)
		}
		if s.Status == "idle" {
			return
		}
	}
}
