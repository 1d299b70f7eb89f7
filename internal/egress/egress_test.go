package egress

import (
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/wire"
)

const secret = "sk-live-REAL-SECRET-0123456789"

func limited(hosts ...string) wire.Networking {
	return wire.Networking{Type: wire.NetworkingLimited, AllowedHosts: hosts}
}

// Limited networking denies by default and allows
// allowed_hosts (wildcards: subdomains only), the registries and MCP hosts.
func TestEgressLimitedPolicy(t *testing.T) {
	u := newUpstream(t)
	p := newProxy(t, u, nil, nil)
	pol := Policy{Networking: limited("api.example.test", "*.wild.test", "127.0.0.1")}
	pol.Networking.AllowPackageManagers = true
	pol.Networking.AllowMCPServers = true
	pol.MCPHosts = []string{"MCP.Tools.test"}
	s, err := p.ListenSession("sesn_policy", pol, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := client(s, u.roots)
	pt := port(u.http)
	for _, tc := range []struct {
		host  string
		allow bool
	}{
		{"api.example.test", true},
		{"API.Example.Test.", true},
		{"www.api.example.test", false}, // bare names match exactly
		{"other.example.test", false},
		{"a.wild.test", true},
		{"a.b.wild.test", true},
		{"wild.test", false}, // *. is subdomains only
		{"evilwild.test", false},
		{"pypi.org", true},           // allow_package_managers
		{"registry.npmjs.org", true}, // allow_package_managers
		{"mcp.tools.test", true},     // allow_mcp_servers
		{"127.0.0.1", true},
		{"localhost", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			n := u.count()
			code, h, body := do(t, c, "GET", "http://"+tc.host+":"+pt+"/x", nil, "")
			if tc.allow {
				if code != 200 || !strings.HasPrefix(body, "upstream ok") {
					t.Fatalf("allowed host: %d %q", code, body)
				}
				return
			}
			want := "hangar egress: " + strings.TrimSuffix(strings.ToLower(tc.host), ".") + " is not allowed by this environment's networking policy\n"
			if code != 403 || body != want || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
				t.Fatalf("denied host: %d %q, want 403 %q", code, body, want)
			}
			if u.count() != n {
				t.Fatal("a denied request reached the upstream")
			}
		})
	}

	// The flags are off by default.
	s2, err := p.ListenSession("sesn_policy_flags_off", Policy{Networking: limited(), MCPHosts: []string{"mcp.tools.test"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"pypi.org", "mcp.tools.test", "api.example.test"} {
		if code, _, _ := do(t, client(s2, u.roots), "GET", "http://"+host+":"+pt+"/", nil, ""); code != 403 {
			t.Errorf("%s with flags off: %d, want 403", host, code)
		}
	}
	// A malformed networking type fails closed.
	s3, _ := p.ListenSession("sesn_policy_bogus", Policy{Networking: wire.Networking{Type: "bogus"}}, nil)
	if code, _, _ := do(t, client(s3, u.roots), "GET", "http://api.example.test:"+pt+"/", nil, ""); code != 403 {
		t.Errorf("unknown networking type: %d, want 403", code)
	}
}

// CONNECT is checked the same way and fails fast with a readable 403; an
// allowed host without credentials is tunnelled blindly (the client
// verifies the real certificate end to end).
func TestEgressConnect(t *testing.T) {
	u := newUpstream(t)
	p := newProxy(t, u, nil, nil)
	s, err := p.ListenSession("sesn_connect", Policy{Networking: limited("*.example.test")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pt := port(u.https)
	for _, tc := range []struct {
		authority string
		code      int
		body      string
	}{
		{"denied.test:" + pt, 403, "hangar egress: denied.test is not allowed by this environment's networking policy\n"},
		{"example.test:443", 403, "hangar egress: example.test is not allowed by this environment's networking policy\n"},
		{"api.example.test:" + pt, 200, ""},
		{"api.example.test", 400, ""},
		{"down.example.test:1", 502, ""},
	} {
		code, body := rawConnect(t, s, tc.authority)
		if code != tc.code || (tc.body != "" && body != tc.body) {
			t.Errorf("CONNECT %s: %d %q, want %d %q", tc.authority, code, body, tc.code, tc.body)
		}
	}
	// Blind tunnel: only the upstream's own CA is trusted by the client.
	code, _, body := do(t, client(s, u.roots), "GET", "https://api.example.test:"+pt+"/", nil, "")
	if code != 200 || !strings.HasPrefix(body, "upstream ok") {
		t.Fatalf("tunnel: %d %q", code, body)
	}
	// The Go client surfaces a denied CONNECT as an error naming the status.
	_, err = client(s, u.roots).Get("https://denied.test:" + pt + "/")
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("denied CONNECT through net/http: %v", err)
	}
}

// Internal addresses are refused whatever the policy, unless the operator
// allows them: a sandbox must not reach the server's own ports.
func TestEgressInternalAddressesRefused(t *testing.T) {
	u := newUpstream(t)
	p := newProxy(t, u, nil, func(o *Options) { o.AllowInternal = nil })
	s, err := p.ListenSession("sesn_internal", Policy{Networking: wire.Networking{Type: wire.NetworkingUnrestricted}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := do(t, client(s, u.roots), "GET", "http://anything.test:"+port(u.http)+"/", nil, "")
	if code != 403 || !strings.Contains(body, "internal address") {
		t.Fatalf("plain HTTP to loopback: %d %q", code, body)
	}
	code, body = rawConnect(t, s, "127.0.0.1:"+port(u.https))
	if code != 403 || !strings.Contains(body, "internal address") {
		t.Fatalf("CONNECT to loopback: %d %q", code, body)
	}
}

func envCred(id string, hosts []string, header, body bool) Credential {
	n := wire.CredentialNetworking{Type: wire.CredentialNetworkingUnrestricted}
	if hosts != nil {
		n = wire.CredentialNetworking{Type: wire.CredentialNetworkingLimited, AllowedHosts: hosts}
	}
	return Credential{ID: id, SecretName: "API_KEY", Secret: secret, Networking: n,
		Injection: wire.InjectionLocation{Header: header, Body: body}}
}

// Substitution over intercepted HTTPS and plain
// HTTP, per injection_location and the credential's allowed_hosts.
func TestEgressSubstitution(t *testing.T) {
	u := newUpstream(t)
	logs := &syncBuffer{}
	p := newProxy(t, u, logs, func(o *Options) { o.MaxBufferedBody = 64 })
	unrestricted := Policy{Networking: wire.Networking{Type: wire.NetworkingUnrestricted}}
	type want struct {
		header, body bool // the upstream got the secret there
	}
	for _, tc := range []struct {
		name       string
		cred       Credential
		scheme     string
		host       string
		bigBody    bool
		want       want
		intercepts bool
	}{
		{"https header and body", envCred("c1", []string{"api.example.test"}, true, true), "https", "api.example.test", false, want{true, true}, true},
		{"https header only", envCred("c1", []string{"api.example.test"}, true, false), "https", "api.example.test", false, want{true, false}, true},
		{"https body only", envCred("c1", []string{"api.example.test"}, false, true), "https", "api.example.test", false, want{false, true}, true},
		{"https wildcard credential host", envCred("c1", []string{"*.example.test"}, true, true), "https", "api.example.test", false, want{true, true}, true},
		{"https streamed large body", envCred("c1", []string{"api.example.test"}, true, true), "https", "api.example.test", true, want{true, true}, true},
		{"https unrestricted credential", envCred("c1", nil, true, true), "https", "x.wild.test", false, want{true, true}, true},
		{"https host not allowed for credential", envCred("c1", []string{"api.example.test"}, true, true), "https", "other.example.test", false, want{false, false}, false},
		{"http header and body", envCred("c1", []string{"api.example.test"}, true, true), "http", "api.example.test", false, want{true, true}, false},
		{"http streamed large body", envCred("c1", []string{"api.example.test"}, false, true), "http", "api.example.test", true, want{false, true}, false},
		{"http host not allowed for credential", envCred("c1", []string{"api.example.test"}, true, true), "http", "evil.test", false, want{false, false}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := p.ListenSession("sesn_"+strings.ReplaceAll(tc.name, " ", "_"), unrestricted, []Credential{tc.cred})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ph := s.Placeholder("c1")
			if !strings.HasPrefix(ph, placeholderPrefix) || len(ph) != len(placeholderPrefix)+32 || strings.Contains(ph, secret) {
				t.Fatalf("placeholder %q", ph)
			}
			if env := s.Env(); len(env) != 1 || env[0] != "API_KEY="+ph {
				t.Fatalf("Env() = %q", env)
			}
			// The sandbox trusts the session CA only, so a blind tunnel to
			// the real server would fail verification, and vice versa.
			roots := sessionRoots(t, s)
			if !tc.intercepts {
				roots = u.roots
			}
			srv := u.http
			if tc.scheme == "https" {
				srv = u.https
			}
			body := `{"key":"` + ph + `"}`
			if tc.bigBody {
				// Placeholders straddle the streaming reader's chunk edges.
				body = strings.Repeat("x", 100) + ph + strings.Repeat(ph[:20]+"y", 3000) + ph + strings.Repeat("z", 40000) + ph
			}
			hdr := http.Header{
				"Authorization": {"Bearer " + ph},
				"X-Api-Key":     {ph},
				"X-Basic":       {"Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+ph))},
			}
			code, rh, rb := do(t, client(s, roots), "POST", tc.scheme+"://"+tc.host+":"+port(srv)+"/v1/thing", hdr, body)
			if code != 200 {
				t.Fatalf("status %d %q", code, rb)
			}
			got := u.last(t)
			if got.Host != tc.host+":"+port(srv) {
				t.Errorf("upstream Host = %q", got.Host)
			}
			check := func(where, value string, subst bool) {
				t.Helper()
				wantV := strings.ReplaceAll(value, ph, secret)
				if !subst {
					wantV = value
				}
				if where == "body" {
					if got.Body != wantV {
						t.Errorf("upstream body: substituted=%v, got %d bytes with %d secrets, %d placeholders", subst, len(got.Body), strings.Count(got.Body, secret), strings.Count(got.Body, ph))
					}
					return
				}
				if g := got.Header.Get(where); g != wantV {
					t.Errorf("upstream %s = %q, want %q", where, g, wantV)
				}
			}
			check("Authorization", "Bearer "+ph, tc.want.header)
			check("X-Api-Key", ph, tc.want.header)
			check("body", body, tc.want.body)
			// Only Authorization is decoded: elsewhere base64 stays as sent.
			if g, w := got.Header.Get("X-Basic"), hdr.Get("X-Basic"); g != w {
				t.Errorf("X-Basic = %q, want it untouched", g)
			}
			if tc.want.header {
				// Basic credentials in Authorization are decoded and replaced.
				h2 := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("git:"+ph))}}
				do(t, client(s, roots), "GET", tc.scheme+"://"+tc.host+":"+port(srv)+"/basic", h2, "")
				if g := u.last(t).Header.Get("Authorization"); g != "Basic "+base64.StdEncoding.EncodeToString([]byte("git:"+secret)) {
					t.Errorf("basic auth not substituted: %q", g)
				}
			}
			// The upstream echoes Authorization: the sandbox must never get
			// the secret back.
			if strings.Contains(rb, secret) || strings.Contains(rh.Get("X-Echo-Auth"), secret) {
				t.Errorf("secret reached the client in the response")
			}
			if tc.want.header && !strings.Contains(rb, "auth=Bearer "+ph) {
				t.Errorf("response not scrubbed back to the placeholder: %.100q", rb)
			}
		})
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatal("the secret appears in the proxy's logs")
	}
}

// An update reaches the next request; placeholders stay stable.
func TestEgressUpdate(t *testing.T) {
	u := newUpstream(t)
	p := newProxy(t, u, nil, nil)
	pol := Policy{Networking: limited("api.example.test")}
	s, err := p.ListenSession("sesn_update", pol, []Credential{envCred("c1", []string{"api.example.test"}, true, true)})
	if err != nil {
		t.Fatal(err)
	}
	ph := s.Placeholder("c1")
	url := "http://api.example.test:" + port(u.http) + "/"
	do(t, client(s, nil), "POST", url, http.Header{"X-K": {ph}}, ph)
	if g := u.last(t); g.Header.Get("X-K") != secret || g.Body != secret {
		t.Fatalf("before update: %+v", g)
	}
	s.Update(pol, []Credential{envCred("c1", []string{"api.example.test"}, false, true), envCred("c2", nil, true, false)})
	if s.Placeholder("c1") != ph || s.Placeholder("c2") == "" || s.Placeholder("c2") == ph {
		t.Fatal("placeholders changed or collide after update")
	}
	do(t, client(s, nil), "POST", url, http.Header{"X-K": {ph}}, ph)
	if g := u.last(t); g.Header.Get("X-K") != ph || g.Body != secret {
		t.Fatalf("after update: header %q body %q", g.Header.Get("X-K"), g.Body)
	}
	if p.Session("sesn_update") != s {
		t.Fatal("Session lookup")
	}
	s.Close()
	if p.Session("sesn_update") != nil {
		t.Fatal("closed session still registered")
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Fatal("closed session still listening")
	}
}

// The Unix socket listener (the path bind-mounted into a sandbox) serves
// plain HTTP, blind tunnels and interception alike.
func TestEgressUnixSocket(t *testing.T) {
	u := newUpstream(t)
	dir := t.TempDir()
	p := newProxy(t, u, nil, func(o *Options) { o.SocketDir = dir })
	s, err := p.ListenSession("sesn_unix", Policy{Networking: limited("api.example.test")}, []Credential{envCred("c1", []string{"api.example.test"}, true, false)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Network() != "unix" || s.Addr() != filepath.Join(dir, "sesn_unix.sock") {
		t.Fatalf("listener %s %s", s.Network(), s.Addr())
	}
	code, _, _ := do(t, client(s, sessionRoots(t, s)), "GET", "https://api.example.test:"+port(u.https)+"/", http.Header{"X-K": {s.Placeholder("c1")}}, "")
	if code != 200 || u.last(t).Header.Get("X-K") != secret {
		t.Fatalf("intercepted over unix socket: %d %q", code, u.last(t).Header.Get("X-K"))
	}
	if code, body := rawConnect(t, s, "denied.test:443"); code != 403 || !strings.Contains(body, "denied.test is not allowed") {
		t.Fatalf("denied over unix socket: %d %q", code, body)
	}
	s.Close()
	if _, err := os.Stat(s.Addr()); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

// An intercepted connection verifies the real server: a bad upstream
// certificate is a 502, never a silent downgrade.
func TestEgressUpstreamVerification(t *testing.T) {
	u := newUpstream(t)
	p := newProxy(t, u, nil, func(o *Options) { o.RootCAs = nil }) // system roots: the test CA is unknown
	s, err := p.ListenSession("sesn_verify", Policy{Networking: wire.Networking{Type: wire.NetworkingUnrestricted}}, []Credential{envCred("c1", nil, true, true)})
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := do(t, client(s, sessionRoots(t, s)), "GET", "https://api.example.test:"+port(u.https)+"/", http.Header{"X-K": {s.Placeholder("c1")}}, "")
	if code != 502 || !strings.Contains(body, "certificate") || strings.Contains(body, secret) {
		t.Fatalf("unverified upstream: %d %q", code, body)
	}
	// A client that does not trust the session CA cannot be intercepted.
	_, err = client(s, u.roots).Get("https://api.example.test:" + port(u.https) + "/")
	if err == nil {
		t.Fatal("client without the session CA accepted the intercepted connection")
	}
}
