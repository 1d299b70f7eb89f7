package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// BenchmarkIdleSessionMemory: N sessions (HANGAR_BENCH_SESSIONS, default
// 200) each run one bash call through their in-sandbox worker and go idle;
// then the memory charged to each live sandbox's cgroup (the agent, its
// worker, the shell) is read. Run it on an otherwise quiet host: it counts
// every Hangar sandbox cgroup created during the run.
func BenchmarkIdleSessionMemory(b *testing.B) {
	n := 200
	if s := os.Getenv("HANGAR_BENCH_SESSIONS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	parents, err := sandboxCgroupParents()
	if err != nil {
		b.Fatal(err)
	}
	fake := benchFake(b, bashTrueRule)
	for b.Loop() {
		before := cgroupSet(parents)
		s, c, agentID, envID := benchServer(b, fake, true, "--sandbox", "local", "--sandbox-pool", "0")
		ctx := context.Background()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		sem := make(chan struct{}, 16)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				errs <- runOneBash(ctx, c, agentID, envID)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(time.Since(start).Seconds(), "all-idle-s")
		time.Sleep(2 * time.Second) // idle
		var total int64
		count := 0
		for _, dir := range cgroupSet(parents) {
			if before[dir] != "" {
				continue
			}
			procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			if len(strings.TrimSpace(string(procs))) == 0 {
				continue // the spare cgroup kept ready for the next start
			}
			total += cgroupMemory(dir)
			count++
		}
		if count < n {
			b.Fatalf("found %d live sandbox cgroups, want %d", count, n)
		}
		b.ReportMetric(float64(total)/float64(count)/(1<<20), "MB/idle-sandbox")
		s.Stop(b)
	}
}

// runOneBash creates a session and runs one turn with a bash call in it.
func runOneBash(ctx context.Context, c anthropic.Client, agentID, envID string) error {
	s, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agentID)}, EnvironmentID: envID})
	if err != nil {
		return err
	}
	if _, err := c.Beta.Sessions.Events.Send(ctx, s.ID, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("run")}}); err != nil {
		return err
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		page, err := c.Beta.Sessions.Events.List(ctx, s.ID, anthropic.BetaSessionEventListParams{
			Types: []anthropic.BetaManagedAgentsSessionEventType{"agent.tool_result", "session.status_idle"}})
		if err != nil {
			return err
		}
		if len(page.Data) >= 2 {
			return nil
		}
	}
	return fmt.Errorf("session %s: no tool result and idle within 60s", s.ID)
}

// sandboxCgroupParents are the directories the local backend creates
// sandbox cgroups under, for this process's cgroups (v2, or v1 memory).
func sandboxCgroupParents() ([]string, error) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup/hangar"}, nil
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && parts[1] == "memory" {
			return []string{filepath.Join("/sys/fs/cgroup/memory", parts[2], "hangar")}, nil
		}
	}
	return nil, fmt.Errorf("no memory cgroup in /proc/self/cgroup")
}

func cgroupSet(parents []string) map[string]string {
	out := map[string]string{}
	for _, p := range parents {
		ents, _ := os.ReadDir(p)
		for _, e := range ents {
			if e.IsDir() {
				d := filepath.Join(p, e.Name())
				out[d] = d
			}
		}
	}
	return out
}

func cgroupMemory(dir string) int64 {
	for _, f := range []string{"memory.current", "memory.usage_in_bytes"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			return v
		}
	}
	return 0
}
