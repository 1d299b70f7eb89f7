package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/egress"
	"github.com/hangarhq/hangar/internal/wire"
)

// With Policy.Via a fetch leaves through the
// session's egress proxy, whose policy and internal-address guard decide
// (this package's own SSRF rule and networking check step aside), and a
// refusal is a *PolicyError carrying the proxy's readable message.
func TestFetchViaEgress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://elsewhere.test/", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "hello through the proxy")
	}))
	defer srv.Close()
	p := egress.New(egress.Options{AllowInternal: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	defer p.Close()
	s, err := p.NewSession("sesn_fetch", egress.Policy{Networking: wire.Networking{Type: wire.NetworkingLimited, AllowedHosts: []string{"127.0.0.1", "127.0.0.2"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFetcher(FetchOptions{})
	pol := Policy{Networking: wire.Networking{Type: wire.NetworkingLimited}, Via: s}

	page, err := f.Fetch(context.Background(), pol, srv.URL+"/ok")
	if err != nil || page.Status != 200 || page.Text != "hello through the proxy" {
		t.Fatalf("allowed: %+v %v", page, err)
	}
	for _, tc := range []struct{ url, want string }{
		{"http://denied.test/", "hangar egress: denied.test is not allowed by this environment's networking policy"},
		{"https://denied.test/", "hangar egress: denied.test is not allowed by this environment's networking policy"},
		{srv.URL + "/redirect", "elsewhere.test is not allowed"},
		// Allowed by the policy, not by the proxy's internal allowlist.
		{strings.Replace(srv.URL, "127.0.0.1", "127.0.0.2", 1), "internal address"},
	} {
		_, err := f.Fetch(context.Background(), pol, tc.url)
		var pe *PolicyError
		if !errors.As(err, &pe) || !strings.Contains(pe.Reason, tc.want) {
			t.Errorf("%s: %v, want a PolicyError with %q", tc.url, err, tc.want)
		}
	}
	// The tool's own domain lists still apply before anything is sent.
	pol.Fetch.BlockedDomains = []string{"127.0.0.1"}
	if _, err := f.Fetch(context.Background(), pol, srv.URL+"/ok"); err == nil || !strings.Contains(err.Error(), "blocked_domains") {
		t.Fatalf("blocked_domains: %v", err)
	}
}
