package egress

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

func basicToken(tok string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+tok))
}

// Requests under a repository's path get its current token
// (replacing the client's Authorization), over HTTPS (intercepted) and
// plain HTTP; its paths are allowed whatever a limited policy says, while
// other paths of the host obey the policy and get nothing added.
func TestEgressRepositoryCredential(t *testing.T) {
	u := newUpstream(t)
	p := newProxy(t, u, nil, nil)
	var tok atomic.Value
	tok.Store("tok-1")
	token := func(context.Context) (string, error) { return tok.Load().(string), nil }
	for _, pol := range []struct {
		name    string
		pol     Policy
		allowed bool // other paths of the host reach it
	}{
		{"limited", Policy{Networking: limited("elsewhere.test")}, false},
		{"unrestricted", Policy{Networking: limited()}, true},
	} {
		if pol.allowed {
			pol.pol.Networking.Type = "unrestricted"
		}
		for _, scheme := range []string{"https", "http"} {
			t.Run(pol.name+"/"+scheme, func(t *testing.T) {
				srv := u.http
				if scheme == "https" {
					srv = u.https
				}
				origin := scheme + "://git.example.test:" + port(srv)
				s, err := p.ListenSession("sesn_repo_"+pol.name+"_"+scheme, pol.pol, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if err := s.SetRepositories([]Repository{{URL: origin + "/owner/repo.git", Token: token}}); err != nil {
					t.Fatal(err)
				}
				c := client(s, sessionRoots(t, s))
				tok.Store("tok-1")
				for _, path := range []string{"/owner/repo.git/info/refs?service=git-upload-pack", "/owner/repo/info/refs", "/owner/repo.git", "/owner/repo/git-receive-pack"} {
					code, _, body := do(t, c, "GET", origin+path, http.Header{"Authorization": {"Basic c2FuZGJveA=="}}, "")
					if code != 200 || u.last(t).Header.Get("Authorization") != basicToken("tok-1") {
						t.Fatalf("%s: %d %q, upstream auth %q", path, code, body, u.last(t).Header.Get("Authorization"))
					}
				}
				// Rotation applies to the next request.
				tok.Store("tok-2")
				if code, _, _ := do(t, c, "GET", origin+"/owner/repo.git/info/refs", nil, ""); code != 200 || u.last(t).Header.Get("Authorization") != basicToken("tok-2") {
					t.Fatalf("after rotation: %d, upstream auth %q", code, u.last(t).Header.Get("Authorization"))
				}
				// Other paths of the same host: policy, and no token.
				for _, path := range []string{"/owner/other.git/info/refs", "/owner/repository/info/refs", "/owner", "/"} {
					n := u.count()
					code, _, body := do(t, c, "GET", origin+path, nil, "")
					if !pol.allowed {
						if code != 403 || u.count() != n {
							t.Fatalf("%s under limited: %d %q", path, code, body)
						}
						continue
					}
					if code != 200 || u.last(t).Header.Get("Authorization") != "" {
						t.Fatalf("%s: %d, upstream auth %q", path, code, u.last(t).Header.Get("Authorization"))
					}
				}
			})
		}
	}
}

// A path the upstream would normalise into another one never matches.
func TestEgressRepositoryPathMatching(t *testing.T) {
	routes, err := repoRoutes(Repository{URL: "https://GitHub.com/owner/repo"})
	if err != nil {
		t.Fatal(err)
	}
	set := &repoSet{routes: routes}
	for _, tc := range []struct {
		scheme, hostport, raw string
		match                 bool
	}{
		{"https", "github.com:443", "/owner/repo.git/info/refs", true},
		{"https", "github.com:443", "/owner/repo", true},
		{"https", "github.com:443", "/owner/repo/", false}, // not clean
		{"https", "github.com:443", "/owner/repo/../other/info/refs", false},
		{"https", "github.com:443", "/owner/repo/%2e%2e/other/info/refs", false},
		{"https", "github.com:443", "/owner/repo%2F..%2Fother/info/refs", false},
		{"https", "github.com:443", "//owner/repo/info/refs", false},
		{"https", "github.com:443", "/owner/repo2/info/refs", false},
		{"http", "github.com:80", "/owner/repo/info/refs", false},
		{"https", "github.com:8443", "/owner/repo/info/refs", false},
		{"https", "api.github.com:443", "/repos/owner/repo/pulls", true},
		{"https", "api.github.com:443", "/repos/owner/repo", true},
		{"https", "api.github.com:443", "/repos/owner/other", false},
		{"https", "api.github.com:443", "/owner/repo", false},
	} {
		u, err := url.Parse(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := set.match(tc.scheme, tc.hostport, u) != nil; got != tc.match {
			t.Errorf("%s://%s%s: match %v, want %v", tc.scheme, tc.hostport, tc.raw, got, tc.match)
		}
	}
	for _, bad := range []string{"ssh://github.com/a/b", "https://github.com", "https://github.com/", "https://u:p@github.com/a/b", "file:///tmp/x", "https://github.com/a/../b"} {
		if _, err := repoRoutes(Repository{URL: bad}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// The REST route carries Bearer.
	r := set.match("https", "api.github.com:443", &url.URL{Path: "/repos/owner/repo"})
	r.token = func(context.Context) (string, error) { return "t", nil }
	req, _ := http.NewRequest("GET", "https://api.github.com/repos/owner/repo", nil)
	s := &Session{}
	if !s.authorizeRepository(nil, req, r) || req.Header.Get("Authorization") != "Bearer t" {
		t.Fatalf("REST auth %q", req.Header.Get("Authorization"))
	}
}

// A token that cannot be read fails the request with 502 and sends nothing.
func TestEgressRepositoryTokenError(t *testing.T) {
	u := newUpstream(t)
	p := newProxy(t, u, nil, nil)
	s, err := p.ListenSession("sesn_repo_tokerr", Policy{Networking: limited()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://git.example.test:" + port(u.http)
	s.SetRepositories([]Repository{{URL: origin + "/o/r", Token: func(context.Context) (string, error) { return "", errors.New("sealed") }}})
	n := u.count()
	code, _, body := do(t, client(s, nil), "GET", origin+"/o/r/info/refs", nil, "")
	if code != 502 || u.count() != n || strings.Contains(body, "sealed") {
		t.Fatalf("%d %q", code, body)
	}
}

// The private listener (host-side clones) demands its own proxy
// credentials and then serves as the session.
func TestEgressPrivateListener(t *testing.T) {
	u := newUpstream(t)
	p := newProxy(t, u, nil, nil)
	s, err := p.ListenSession("sesn_repo_private", Policy{Networking: limited()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://git.example.test:" + port(u.http)
	s.SetRepositories([]Repository{{URL: origin + "/o/r", Token: func(context.Context) (string, error) { return "tk", nil }}})
	pl, err := s.ListenPrivate()
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	pu, _ := url.Parse(pl.URL())
	withCreds := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	noCreds := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: pu.Host})}}
	if code, h, _ := do(t, noCreds, "GET", origin+"/o/r/info/refs", nil, ""); code != 407 || h.Get("Proxy-Authenticate") == "" {
		t.Fatalf("without credentials: %d", code)
	}
	if code, _, _ := do(t, withCreds, "GET", origin+"/o/r/info/refs", nil, ""); code != 200 || u.last(t).Header.Get("Authorization") != basicToken("tk") || u.last(t).Header.Get("Proxy-Authorization") != "" {
		t.Fatalf("with credentials: %d %v", code, u.last(t).Header)
	}
	if code, _, _ := do(t, withCreds, "GET", origin+"/o/other", nil, ""); code != 403 {
		t.Fatalf("other path under limited: %d", code)
	}
	pl.Close()
	if _, err := withCreds.Get(origin + "/o/r/info/refs"); err == nil {
		t.Fatal("closed private listener still serves")
	}
}
