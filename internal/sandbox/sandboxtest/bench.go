package sandboxtest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/sandbox"
)

// ReportPercentiles adds p50/p99 of the samples, in ms.
func ReportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, "p99-ms")
}

// Bench runs the benchmarks every backend shares: Create (cold: session
// created → sandbox ready for its first tool call), BashTrue (a `bash` tool
// call of `true` in the persistent shell) and ExecTrue (a fresh `true`
// process in a running sandbox).
func Bench(b *testing.B, newBackend func(testing.TB) sandbox.Backend) {
	b.Run("Create", func(b *testing.B) { benchCreate(b, newBackend(b)) })
	b.Run("BashTrue", func(b *testing.B) { benchBashTrue(b, newBackend(b)) })
	b.Run("ExecTrue", func(b *testing.B) { benchExecTrue(b, newBackend(b)) })
}

func benchCreate(b *testing.B, be sandbox.Backend) {
	var lat []time.Duration
	for b.Loop() {
		spec := NewSpec(b)
		start := time.Now()
		sb, err := be.Create(context.Background(), spec)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		_ = sb.Destroy(context.Background())
		b.StartTimer()
	}
	ReportPercentiles(b, lat)
}

func benchBashTrue(b *testing.B, be sandbox.Backend) {
	sb, err := be.Create(context.Background(), NewSpec(b))
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Destroy(context.Background())
	in := json.RawMessage(`{"command":"true"}`)
	if _, err := sb.RunTool(context.Background(), "bash", in); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		res, err := sb.RunTool(context.Background(), "bash", in)
		if err != nil || res.IsError {
			b.Fatal(res, err)
		}
		lat = append(lat, time.Since(start))
	}
	ReportPercentiles(b, lat)
}

func benchExecTrue(b *testing.B, be sandbox.Backend) {
	sb, err := be.Create(context.Background(), NewSpec(b))
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Destroy(context.Background())
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		st, err := sandbox.Run(context.Background(), sb, sandbox.ExecRequest{Argv: []string{"true"}})
		if err != nil || st.Code != 0 {
			b.Fatal(st, err)
		}
		lat = append(lat, time.Since(start))
	}
	ReportPercentiles(b, lat)
}
