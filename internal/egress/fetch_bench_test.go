package egress_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/egress"
	"github.com/hangarhq/hangar/internal/tool/web"
	"github.com/hangarhq/hangar/internal/wire"
)

// BenchmarkWebFetch measures one web_fetch of a small HTML page on a
// loopback server, direct (the fetcher dials itself, as for self_hosted
// sessions) and through a session's egress proxy (Policy.Via: an
// in-process connection to the proxy session, then an absolute-URI request
// for http or a CONNECT tunnel for https). Every fetch uses a new client
// connection, as web_fetch does; through the proxy, plain HTTP reuses the
// proxy's warm upstream pool while HTTPS dials the upstream per tunnel.
// p50-µs is reported next to ns/op.
func BenchmarkWebFetch(b *testing.B) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<html><head><title>bench</title></head><body><h1>Notes</h1><p>"+strings.Repeat("The quick brown fox. ", 50)+"</p></body></html>")
	})
	plain := httptest.NewServer(page)
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(page)
	defer tlsSrv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(tlsSrv.Certificate())
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

	allow, _ := web.ParseInternalAllowlist("127.0.0.1")
	f := web.NewFetcher(web.FetchOptions{AllowInternal: allow, RootCAs: roots})
	p := egress.New(egress.Options{AllowInternal: loopback})
	defer p.Close()
	s, err := p.NewSession("sesn_bench_fetch", egress.Policy{Networking: wire.Networking{Type: wire.NetworkingLimited, AllowedHosts: []string{"127.0.0.1"}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	direct := web.Policy{Networking: wire.Networking{Type: wire.NetworkingUnrestricted}}
	via := web.Policy{Networking: wire.Networking{Type: wire.NetworkingLimited}, Via: s}

	run := func(b *testing.B, pol web.Policy, url string) {
		one := func() {
			pg, err := f.Fetch(context.Background(), pol, url)
			if err != nil {
				b.Fatal(err)
			}
			if pg.Status != 200 || pg.Title != "bench" {
				b.Fatalf("page %+v", pg)
			}
		}
		one() // warm the proxy's upstream pool
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			one()
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	b.Run("http/direct", func(b *testing.B) { run(b, direct, plain.URL+"/p") })
	b.Run("http/proxy", func(b *testing.B) { run(b, via, plain.URL+"/p") })
	b.Run("https/direct", func(b *testing.B) { run(b, direct, tlsSrv.URL+"/p") })
	b.Run("https/proxy", func(b *testing.B) { run(b, via, tlsSrv.URL+"/p") })
}
