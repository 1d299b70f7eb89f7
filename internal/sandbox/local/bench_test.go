package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/local"
	"github.com/hangarhq/hangar/internal/sandbox/sandboxtest"
)

type memoryUser interface{ MemoryUsage() (int64, error) }

// The benchmarks' sandboxes run hangar-agent, the agent program an
// installation has (the tests' run this test binary as `sandbox-tool`).
func BenchmarkSandbox(b *testing.B) {
	sandboxtest.Bench(b, func(tb testing.TB) sandbox.Backend { return benchBackend(tb) })
}

var (
	agentOnce sync.Once
	agentPath string
	agentErr  error
)

func benchBackend(tb testing.TB) *local.Backend {
	tb.Helper()
	agentOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hangar-agent-")
		if err != nil {
			agentErr = err
			return
		}
		agentPath = filepath.Join(dir, sandbox.AgentProgram)
		if out, err := exec.Command("go", "build", "-o", agentPath, "github.com/hangarhq/hangar/cmd/hangar-agent").CombinedOutput(); err != nil {
			agentErr = fmt.Errorf("go build hangar-agent: %v\n%s", err, out)
		}
	})
	if agentErr != nil {
		tb.Fatal(agentErr)
	}
	return newBackendWith(tb, local.Config{AgentPath: agentPath, AgentArgs: []string{}})
}

// N concurrent idle sandboxes (persistent shell started): start time, idle
// memory per sandbox (cgroup charge and RSS), and a bash call in each.
func BenchmarkConcurrent(b *testing.B) {
	n := 200
	if s := os.Getenv("HANGAR_BENCH_SANDBOXES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	be := benchBackend(b)
	for b.Loop() {
		sbs := make([]sandbox.Sandbox, n)
		errs := make([]error, n)
		start := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				sbs[i], errs[i] = be.Create(context.Background(), sandboxtest.NewSpec(b))
				if errs[i] == nil {
					_, errs[i] = sbs[i].RunTool(context.Background(), "bash", json.RawMessage(`{"command":"true"}`))
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(time.Since(start).Seconds(), "start-all-s")
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(time.Second) // idle
		var mem, r int64
		for _, sb := range sbs {
			m, _ := sb.(memoryUser).MemoryUsage()
			mem += m
			r += rss(sb.(sandboxtest.Pidser).Pids())
		}
		b.ReportMetric(float64(mem)/float64(n)/(1<<20), "cgroup-MB/sandbox")
		b.ReportMetric(float64(r)/float64(n)/(1<<20), "rss-MB/sandbox")
		var lat []time.Duration
		for _, sb := range sbs {
			t0 := time.Now()
			if _, err := sb.RunTool(context.Background(), "bash", json.RawMessage(`{"command":"true"}`)); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		sandboxtest.ReportPercentiles(b, lat)
		for _, sb := range sbs {
			wg.Add(1)
			go func() { defer wg.Done(); _ = sb.Destroy(context.Background()) }()
		}
		wg.Wait()
	}
}

// rss sums VmRSS over pids (shared pages counted once per process).
func rss(pids []int) int64 {
	var total int64
	for _, p := range pids {
		bs, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "status"))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(bs), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				total += kb << 10
			}
		}
	}
	return total
}
