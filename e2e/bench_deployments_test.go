package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/model/modeltest"
)

// BenchmarkDeploymentFires: 1,000 deployments on an every-minute schedule
// all come due on the same minute. It reports how late each fire started
// (its run's created_at minus the scheduled minute: the run is recorded
// when the fire claims its time, before the session is created) as p50,
// p99 and max, and how long until every run had its session linked.
// BENCH_DEPLOYMENTS changes the count.
func BenchmarkDeploymentFires(b *testing.B) {
	n := 1000
	if v := envOr("BENCH_DEPLOYMENTS", ""); v != "" {
		fmt.Sscan(v, &n)
	}
	_, c, agentID, envID := benchServer(b, benchFake(b, modeltest.EchoRule), false, "--sandbox", "none")
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make(chan struct{}, n)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ids {
				_, err := c.Beta.Deployments.New(ctx, anthropic.BetaDeploymentNewParams{
					Name:          "bench",
					Agent:         anthropic.BetaDeploymentNewParamsAgentUnion{OfString: anthropic.String(agentID)},
					EnvironmentID: envID,
					InitialEvents: []anthropic.BetaManagedAgentsDeploymentInitialEventParamsUnion{deplMessage("tick")},
					Schedule:      anthropic.BetaManagedAgentsScheduleParams{Expression: "* * * * *", Timezone: "UTC"},
				})
				if err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for range n {
		ids <- struct{}{}
	}
	close(ids)
	wg.Wait()
	if b.Failed() {
		return
	}
	b.ResetTimer()
	var lags []time.Duration
	var drain time.Duration
	for range b.N {
		// The first minute boundary after every deployment exists.
		minute := time.Now().UTC().Add(time.Second).Truncate(time.Minute).Add(time.Minute)
		for {
			time.Sleep(250 * time.Millisecond)
			lags = lags[:0]
			linked := 0
			pager := c.Beta.DeploymentRuns.ListAutoPaging(ctx, anthropic.BetaDeploymentRunListParams{
				Limit: anthropic.Int(1000), CreatedAtGte: anthropic.Time(minute.Add(-time.Second)),
			})
			for pager.Next() {
				r := pager.Current()
				if !r.TriggerContext.ScheduledAt.Equal(minute) {
					continue
				}
				lags = append(lags, r.CreatedAt.Sub(minute))
				if r.SessionID != "" {
					linked++
				}
			}
			if err := pager.Err(); err != nil {
				b.Fatal(err)
			}
			if linked == n {
				drain = time.Since(minute)
				break
			}
			if time.Since(minute) > 5*time.Minute {
				b.Fatalf("only %d of %d fires of %s linked a session", linked, n, minute)
			}
		}
	}
	b.StopTimer()
	slices.Sort(lags)
	q := func(p float64) time.Duration { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	b.ReportMetric(float64(q(0.50).Microseconds())/1000, "p50-fire-lag-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-fire-lag-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "max-fire-lag-ms")
	b.ReportMetric(drain.Seconds(), "all-sessions-linked-s")
}
