package docker_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/sandboxtest"
)

// reportPercentiles adds p50/p99 of the samples, in ms.
func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, "p99-ms")
}

// Session created → sandbox ready for its first tool call, cold: container
// create and start, agent exec, first reply.
func BenchmarkCreate(b *testing.B) {
	be := newBackend(b)
	var lat []time.Duration
	for b.Loop() {
		spec := sandboxtest.NewSpec(b)
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
	reportPercentiles(b, lat)
}

// A `bash` tool call of `true` in the persistent shell.
func BenchmarkBashTrue(b *testing.B) {
	be := newBackend(b)
	sb, err := be.Create(context.Background(), sandboxtest.NewSpec(b))
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
	reportPercentiles(b, lat)
}

// A fresh `true` process (Exec) in a running sandbox.
func BenchmarkExecTrue(b *testing.B) {
	be := newBackend(b)
	sb, err := be.Create(context.Background(), sandboxtest.NewSpec(b))
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
	reportPercentiles(b, lat)
}
