package mcp

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkCall compares one tools/call of a trivial tool on a loopback
// streamable server made through Conn (auth transport, typed results)
// with the same call made directly with the go-sdk client. Each reports
// p50-ns besides the mean; the budget is ≤ 3 ms of added p50.
func BenchmarkCall(b *testing.B) {
	const token = "bench-token"
	srv, _ := staticServer(b, token)
	args := json.RawMessage(`{"msg":"hello"}`)
	ctx := context.Background()

	run := func(b *testing.B, call func() error) {
		lat := make([]time.Duration, 0, 1024)
		for b.Loop() {
			t0 := time.Now()
			if err := call(); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	}

	b.Run("hangar", func(b *testing.B) {
		c := mustConnect(b, ServerConfig{URL: srv.URL}, Credential{Type: "static_bearer", Token: token})
		run(b, func() error { _, err := c.Call(ctx, "echo", args); return err })
	})
	b.Run("direct", func(b *testing.B) {
		hc := &http.Client{Transport: headerRT{token}}
		cs, err := sdk.NewClient(clientInfo, nil).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: hc, DisableStandaloneSSE: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		run(b, func() error {
			_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: args})
			return err
		})
	})
}

// headerRT is the least a direct client needs to pass the server's auth.
type headerRT struct{ tok string }

func (h headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+h.tok)
	return http.DefaultTransport.RoundTrip(r)
}
