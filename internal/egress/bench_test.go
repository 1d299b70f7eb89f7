package egress

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/wire"
)

// BenchmarkHTTPS measures one warm HTTPS POST (header and body carrying
// the credential) direct to a loopback server, through the proxy with
// interception and substitution, and through a blind tunnel. The
// target: substitution adds ≤ 2 ms at p50 over direct. p50-µs is reported
// next to ns/op.
func BenchmarkHTTPS(b *testing.B) {
	cert, roots := testCert(b, "api.example.test", "plain.example.test")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") == "Bearer "+secret && strings.Contains(string(body), secret) {
			io.WriteString(w, `{"ok":true}`)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	u := &upstream{roots: roots}
	p := newProxy(b, u, nil, nil)
	pt := port(srv)

	run := func(b *testing.B, c *http.Client, url string, auth string) {
		body := `{"input":"hello","key":"` + auth + `"}`
		one := func() {
			req, _ := http.NewRequest("POST", url, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+auth)
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		one() // warm both legs
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

	b.Run("direct", func(b *testing.B) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		run(b, c, "https://127.0.0.1:"+pt+"/v1/x", secret)
	})
	b.Run("proxy_substitution", func(b *testing.B) {
		s, err := p.ListenSession("sesn_bench_sub", Policy{Networking: limited("api.example.test")},
			[]Credential{envCred("c1", []string{"api.example.test"}, true, true)})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, client(s, sessionRoots(b, s)), "https://api.example.test:"+pt+"/v1/x", s.Placeholder("c1"))
	})
	b.Run("proxy_tunnel", func(b *testing.B) {
		s, err := p.ListenSession("sesn_bench_tunnel", Policy{Networking: wire.Networking{Type: wire.NetworkingUnrestricted}}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, client(s, roots), "https://plain.example.test:"+pt+"/v1/x", secret)
	})
}
