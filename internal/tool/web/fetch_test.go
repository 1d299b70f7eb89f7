package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hangarhq/hangar/internal/wire"
)

// fakeDNS maps made-up names to addresses, so tests reach local servers
// under names the policies can tell apart.
type fakeDNS map[string]string

func (d fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	a, ok := d[host]
	if !ok {
		return nil, fmt.Errorf("no such host %s", host)
	}
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}

func unrestricted() Policy {
	return Policy{Networking: wire.Networking{Type: wire.NetworkingUnrestricted}}
}

func limited(hosts ...string) Policy {
	return Policy{Networking: wire.Networking{Type: wire.NetworkingLimited, AllowedHosts: hosts}}
}

// localFetcher resolves every *.test name to 127.0.0.1 and allows loopback
// as the operator exception (unrestricted environments only).
func localFetcher(t *testing.T, o FetchOptions) *Fetcher {
	t.Helper()
	if o.Resolver == nil {
		o.Resolver = fakeDNS{"good.test": "127.0.0.1", "evil.test": "127.0.0.1", "other.test": "127.0.0.1", "meta.test": "169.254.169.254"}
	}
	if o.AllowInternal.Prefixes == nil && o.AllowInternal.Hosts == nil {
		o.AllowInternal, _ = ParseInternalAllowlist("127.0.0.0/8")
	}
	return NewFetcher(o)
}

// publicFetcher resolves names to a public documentation address and sends
// every connection to srv, to exercise rules for public hosts.
func publicFetcher(t *testing.T, srv *httptest.Server) *Fetcher {
	t.Helper()
	addr := srv.Listener.Addr().String()
	return NewFetcher(FetchOptions{
		Resolver: fakeDNS{"good.test": "203.0.113.10", "other.test": "203.0.113.11", "pypi.org": "203.0.113.12"},
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	})
}

func port(srv *httptest.Server) string {
	u, _ := url.Parse(srv.URL)
	return u.Port()
}

func TestFetchHTMLToText(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head><title> The  Page </title>
<style>body{color:red}</style><script>var secret = "do not show";</script></head>
<body><h1>Welcome</h1><p>Hello &amp; <b>good</b>   bye.</p>
<ul><li>one</li><li>two</li></ul><a href="/next">Next page</a><!-- hidden comment --></body></html>`)
	}))
	defer srv.Close()
	f := localFetcher(t, FetchOptions{})
	page, err := f.Fetch(context.Background(), unrestricted(), "http://good.test:"+port(srv)+"/start")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Welcome\n\nHello & good bye.\n\n- one\n- two\nNext page (http://good.test:" + port(srv) + "/next)"
	if page.Text != want || page.Title != "The Page" || page.ContentType != "text/html" || page.Status != 200 {
		t.Fatalf("page = %+v\ntext:\n%s", page, page.Text)
	}
	for _, bad := range []string{"secret", "color", "hidden"} {
		if strings.Contains(page.Text, bad) {
			t.Fatalf("text contains %q: %s", bad, page.Text)
		}
	}
}

func TestFetchContentKinds(t *testing.T) {
	pdf := "%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/doc.pdf":
			w.Header().Set("Content-Type", "application/pdf")
			fmt.Fprint(w, pdf)
		case "/big.pdf":
			w.Header().Set("Content-Type", "application/pdf")
			fmt.Fprint(w, pdf+strings.Repeat(" ", 4096))
		case "/blob":
			w.Header().Set("Content-Type", "application/zip")
			w.Write([]byte{0x50, 0x4b, 0x03, 0x04, 0, 0, 0})
		case "/sniff":
			w.Header()["Content-Type"] = nil
			w.Write([]byte("plain words without a declared type"))
		case "/json":
			w.Header().Set("Content-Type", "application/vnd.api+json")
			fmt.Fprint(w, `{"a":1}`)
		case "/latin1":
			w.Header().Set("Content-Type", "text/plain; charset=ISO-8859-1")
			w.Write([]byte("caf\xe9"))
		case "/missing":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(404)
			fmt.Fprint(w, "no such page")
		}
	}))
	defer srv.Close()
	f := localFetcher(t, FetchOptions{MaxInlineBytes: 1024})
	base := "http://good.test:" + port(srv)
	for _, tc := range []struct {
		path, typ, text, note string
		block                 string
		status                int
	}{
		{"/doc.pdf", "application/pdf", "", "PDF document (", wire.BlockDocument, 200},
		{"/big.pdf", "application/pdf", "", "more than the 1024 bytes", "", 200},
		{"/blob", "application/zip", "", "binary content of type application/zip (7 bytes)", "", 200},
		{"/sniff", "text/plain", "plain words without a declared type", "", "", 200},
		{"/json", "application/vnd.api+json", `{"a":1}`, "", "", 200},
		{"/latin1", "text/plain", "café", "", "", 200},
		{"/missing", "text/plain", "no such page", "", "", 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			page, err := f.Fetch(context.Background(), unrestricted(), base+tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if page.ContentType != tc.typ || page.Text != tc.text || !strings.Contains(page.Note, tc.note) || page.Status != tc.status {
				t.Fatalf("page = %+v", page)
			}
			if (page.Block == nil) != (tc.block == "") || (page.Block != nil && (page.Block.Type != tc.block || page.Block.Source.MediaType != tc.typ || page.Block.Source.Data == "")) {
				t.Fatalf("block = %+v", page.Block)
			}
			res := formatPage(base+tc.path, page)
			if res.IsError != (tc.status >= 400) || !strings.Contains(wire.TextOf(res.Content), fmt.Sprintf("Status: %d", tc.status)) {
				t.Fatalf("result = %+v", res)
			}
		})
	}
}

func TestFetchSizeLimits(t *testing.T) {
	body := strings.Repeat("word ", 2000) // 10,000 bytes
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	u := "http://good.test:" + port(srv) + "/"
	tokens := int64(100)
	p := unrestricted()
	p.Fetch.MaxContentTokens = &tokens

	// max_content_tokens: about 4 bytes a token, cut at a word boundary.
	page, err := localFetcher(t, FetchOptions{}).Fetch(context.Background(), p, u)
	if err != nil {
		t.Fatal(err)
	}
	if !page.Truncated || len(page.Text) > 400 || len(page.Text) < 350 || strings.HasSuffix(page.Text, "wor") {
		t.Fatalf("truncated to %d bytes (truncated=%v): %q", len(page.Text), page.Truncated, page.Text[max(0, len(page.Text)-20):])
	}
	if txt := wire.TextOf(formatPage(u, page).Content); !strings.Contains(txt, "[Content truncated") || !strings.Contains(txt, "100 tokens") {
		t.Fatalf("result does not say it was truncated: %s", txt[len(txt)-200:])
	}

	// MaxBodyBytes: the body read stops at the limit.
	page, err = localFetcher(t, FetchOptions{MaxBodyBytes: 1000}).Fetch(context.Background(), unrestricted(), u)
	if err != nil {
		t.Fatal(err)
	}
	if !page.Truncated || len(page.Text) != 1000 {
		t.Fatalf("body limit: %d bytes, truncated=%v", len(page.Text), page.Truncated)
	}
}

func TestFetchRedirects(t *testing.T) {
	var evilHits atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Host)
		if host == "evil.test" {
			evilHits.Add(1)
			fmt.Fprint(w, "evil content")
			return
		}
		switch r.URL.Path {
		case "/to-evil":
			http.Redirect(w, r, "http://evil.test:"+port(srv)+"/x", http.StatusFound)
		case "/to-other":
			http.Redirect(w, r, "http://other.test:"+port(srv)+"/landing", http.StatusMovedPermanently)
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/to-loopback":
			http.Redirect(w, r, "http://127.0.0.1:"+port(srv)+"/landing", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			fmt.Fprint(w, "landed on "+host)
		}
	}))
	defer srv.Close()
	base := "http://good.test:" + port(srv)
	blockEvil := unrestricted()
	blockEvil.Fetch.BlockedDomains = []string{"evil.test"}
	onlyGood := unrestricted()
	onlyGood.Fetch.AllowedDomains = []string{"good.test"}
	noInternal := localFetcher(t, FetchOptions{AllowInternal: InternalAllowlist{Hosts: []string{"good.test"}}})
	f := localFetcher(t, FetchOptions{})

	for _, tc := range []struct {
		name   string
		f      *Fetcher
		p      Policy
		path   string
		denied string // substring of the policy error, "" for success
		text   string
	}{
		{"followed", f, unrestricted(), "/to-other", "", "landed on other.test"},
		{"to blocked domain", f, blockEvil, "/to-evil", "redirect to http://evil.test", ""},
		{"outside allowed domains", f, onlyGood, "/to-other", "not in the tool's allowed_domains", ""},
		{"to file scheme", f, unrestricted(), "/to-file", "only http and https", ""},
		{"to internal address", noInternal, unrestricted(), "/to-loopback", "internal address", ""},
		{"too many", f, unrestricted(), "/loop", "stopped after 5 redirects", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := tc.f.Fetch(context.Background(), tc.p, base+tc.path)
			if tc.denied == "" {
				if err != nil || page.Text != tc.text || page.URL == base+tc.path {
					t.Fatalf("page = %+v, err = %v", page, err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) || !strings.Contains(pe.Error(), tc.denied) {
				t.Fatalf("err = %v, want policy error containing %q", err, tc.denied)
			}
		})
	}
	if n := evilHits.Load(); n != 0 {
		t.Fatalf("the blocked domain was contacted %d times", n)
	}
}

func TestFetchNetworking(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/to-other" {
			http.Redirect(w, r, "http://other.test/", http.StatusFound)
			return
		}
		fmt.Fprint(w, "reached "+r.Host)
	}))
	defer srv.Close()
	f := publicFetcher(t, srv)
	pm := limited()
	pm.Networking.AllowPackageManagers = true
	for _, tc := range []struct {
		name   string
		p      Policy
		url    string
		denied string
	}{
		{"unrestricted", unrestricted(), "http://other.test/", ""},
		{"limited, listed", limited("good.test"), "http://good.test/", ""},
		{"limited, wildcard", limited("*.test"), "http://other.test/", ""},
		{"limited, not listed", limited("good.test"), "http://other.test/", "networking is limited and other.test is not in its allowed_hosts"},
		{"limited, nothing listed", limited(), "http://good.test/", "networking is limited"},
		{"limited, redirect off the list", limited("good.test"), "http://good.test/to-other", "redirect to http://other.test/ refused"},
		{"package managers", pm, "http://pypi.org/", ""},
		{"package managers, other host", pm, "http://good.test/", "networking is limited"},
		{"no networking type fails closed", Policy{}, "http://good.test/", "networking is limited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			page, err := f.Fetch(context.Background(), tc.p, tc.url)
			if tc.denied == "" {
				if err != nil || !strings.HasPrefix(page.Text, "reached ") {
					t.Fatalf("page = %+v, err = %v", page, err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) || !strings.Contains(pe.Error(), tc.denied) {
				t.Fatalf("err = %v, want %q", err, tc.denied)
			}
			if strings.Contains(tc.name, "redirect") {
				before++ // the first hop was allowed
			}
			if hits.Load() != before {
				t.Fatal("a denied fetch reached the server")
			}
		})
	}
}

func TestFetchSchemesAndSSRF(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "internal data") }))
	defer srv.Close()
	p := port(srv)
	strict := localFetcher(t, FetchOptions{AllowInternal: InternalAllowlist{Hosts: []string{"nothing.test"}}})
	allowing := localFetcher(t, FetchOptions{})
	for _, tc := range []struct {
		name   string
		f      *Fetcher
		pol    Policy
		url    string
		denied string
	}{
		{"file scheme", allowing, unrestricted(), "file:///etc/passwd", "only http and https"},
		{"ftp scheme", allowing, unrestricted(), "ftp://good.test/x", "only http and https"},
		{"gopher scheme", allowing, unrestricted(), "gopher://good.test:70/_x", "only http and https"},
		{"relative URL", allowing, unrestricted(), "/etc/passwd", "not an absolute"},
		{"credentials", allowing, unrestricted(), "http://user:pw@good.test:" + p + "/", "embedded credentials"},
		{"no host", allowing, unrestricted(), "http:///x", "no host"},
		{"loopback literal", strict, unrestricted(), "http://127.0.0.1:" + p + "/", "internal address"},
		{"loopback by name", strict, unrestricted(), "http://good.test:" + p + "/", "good.test resolves to 127.0.0.1"},
		{"ipv6 loopback", strict, unrestricted(), "http://[::1]:" + p + "/", "internal address"},
		{"ipv4-mapped loopback", strict, unrestricted(), "http://[::ffff:127.0.0.1]:" + p + "/", "internal address"},
		{"unspecified", strict, unrestricted(), "http://0.0.0.0:" + p + "/", "internal address"},
		{"metadata", allowing, unrestricted(), "http://meta.test/latest/meta-data/", "169.254.169.254"},
		{"allowlisted, but limited networking", allowing, limited("good.test"), "http://good.test:" + p + "/", "internal address"},
		{"allowlisted and unrestricted", allowing, unrestricted(), "http://good.test:" + p + "/", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := tc.f.Fetch(context.Background(), tc.pol, tc.url)
			if tc.denied == "" {
				if err != nil || page.Text != "internal data" {
					t.Fatalf("page = %+v, err = %v", page, err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) || !strings.Contains(pe.Error(), tc.denied) {
				t.Fatalf("err = %v, want policy error containing %q", err, tc.denied)
			}
		})
	}
}

func TestFetchTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	f := localFetcher(t, FetchOptions{Timeout: 100e6})
	_, err := f.Fetch(context.Background(), unrestricted(), "http://good.test:"+port(srv)+"/")
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v", err)
	}
}
