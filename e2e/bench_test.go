package e2e

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/testserver"
)

// latencies records per-operation wall times and reports percentiles, since
// the issue targets are p50s rather than the mean that ns/op gives.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	pct := func(p float64) float64 { return float64(l[int(p*float64(len(l)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

func timeOps(b *testing.B, op func(i int) error) {
	b.Helper()
	l := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		l = append(l, time.Since(t0))
	}
	b.StopTimer()
	l.report(b)
}

// BenchmarkControlPlane measures create and get through the whole HTTP
// stack of a real hangar serve, with the official SDK as the client.
func BenchmarkControlPlane(b *testing.B) {
	s := testserver.Start(b)
	c := s.Client("")
	ctx := context.Background()
	agentParams := func(i int) anthropic.BetaAgentNewParams {
		return anthropic.BetaAgentNewParams{
			Name:  fmt.Sprintf("bench-%d", i),
			Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
		}
	}

	b.Run("CreateAgent", func(b *testing.B) {
		timeOps(b, func(i int) error { _, err := c.Beta.Agents.New(ctx, agentParams(i)); return err })
	})
	b.Run("CreateEnvironment", func(b *testing.B) {
		// Environment names are unique per workspace, and -count reruns this
		// against the same server.
		run := time.Now().UnixNano()
		timeOps(b, func(i int) error {
			_, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: fmt.Sprintf("bench-%d-%d", run, i)})
			return err
		})
	})
	b.Run("GetAgent", func(b *testing.B) {
		a, err := c.Beta.Agents.New(ctx, agentParams(-1))
		if err != nil {
			b.Fatal(err)
		}
		timeOps(b, func(int) error { _, err := c.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{}); return err })
	})
}
