package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/wire"
)

// serverClient is what web_fetch does: every request through Session.Dial,
// trusting the upstream's own CA (never the session CA).
func serverClient(s *Session, u *upstream) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy:           http.ProxyURL(&url.URL{Scheme: "http", Host: "hangar-egress"}),
		DialContext:     func(ctx context.Context, _, _ string) (net.Conn, error) { return s.Dial(ctx) },
		TLSClientConfig: &tls.Config{RootCAs: u.roots},
		OnProxyConnectResponse: func(_ context.Context, _ *url.URL, _ *http.Request, resp *http.Response) error {
			if resp.StatusCode == 200 {
				return nil
			}
			return Refusal(resp)
		},
	}}
}

// The server's own requests for a session
// (web_fetch) leave through the session's proxy and obey its policy and
// internal-address guard, with readable refusals; they are never
// substituted into nor intercepted, even for a host a credential covers,
// and an upstream cannot pose as the proxy.
func TestInProcessDial(t *testing.T) {
	u := newUpstream(t)
	p := newProxy(t, u, nil, nil)
	s, err := p.ListenSession("sesn_inproc", Policy{Networking: limited("api.example.test", "10.1.2.3")},
		[]Credential{envCred("c1", []string{"api.example.test"}, true, true)})
	if err != nil {
		t.Fatal(err)
	}
	c := serverClient(s, u)
	ph := s.Placeholder("c1")

	// Plain HTTP to the credential's host: allowed, nothing substituted.
	code, _, body := do(t, c, "GET", "http://api.example.test:"+port(u.http)+"/x", http.Header{"Authorization": {"Bearer " + ph}}, "")
	if code != 200 || !strings.Contains(body, "auth=Bearer "+ph) || strings.Contains(body, secret) {
		t.Fatalf("http: %d %q", code, body)
	}
	// HTTPS: a blind tunnel, so the upstream's own certificate verifies
	// (an intercepted connection would present the session CA's leaf).
	code, _, body = do(t, c, "GET", "https://api.example.test:"+port(u.https)+"/x", http.Header{"Authorization": {"Bearer " + ph}}, "")
	if code != 200 || !strings.Contains(body, "auth=Bearer "+ph) {
		t.Fatalf("https: %d %q", code, body)
	}

	// Refusals are the proxy's readable 403s, recognisable as such.
	resp, err := c.Get("http://denied.example.test:" + port(u.http) + "/")
	if err != nil {
		t.Fatal(err)
	}
	var d *Denied
	if err := Refusal(resp); !errors.As(err, &d) || !strings.Contains(d.Msg, "denied.example.test is not allowed") {
		t.Fatalf("http refusal: %v", err)
	}
	resp.Body.Close()
	_, err = c.Get("https://denied.example.test:" + port(u.https) + "/")
	if !errors.As(err, &d) || !strings.Contains(d.Msg, "denied.example.test is not allowed") {
		t.Fatalf("CONNECT refusal: %v", err)
	}
	// The internal-address guard applies (10.1.2.3 is allowed by policy,
	// not by Options.AllowInternal).
	_, err = c.Get("https://10.1.2.3:443/")
	if !errors.As(err, &d) || !strings.Contains(d.Msg, "internal address") {
		t.Fatalf("internal CONNECT: %v", err)
	}

	// An upstream's own X-Hangar-Egress header is dropped.
	fake := newUpstream(t)
	fake.http.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(RefusalHeader, "1")
		w.WriteHeader(http.StatusForbidden)
	})
	resp, err = c.Get("http://api.example.test:" + port(fake.http) + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || Refusal(resp) != nil {
		t.Fatalf("upstream posed as the proxy: %d %v", resp.StatusCode, resp.Header)
	}

	// A closed session refuses to dial.
	s.Close()
	if _, err := s.Dial(context.Background()); err == nil {
		t.Fatal("dial after close")
	}
}

// Update applies to the next request, and an archived credential
// (left out of the update) is no longer substituted.
func TestUpdateRotatesAndRemoves(t *testing.T) {
	u := newUpstream(t)
	p := newProxy(t, u, nil, nil)
	pol := Policy{Networking: wire.Networking{Type: wire.NetworkingUnrestricted}}
	cred := envCred("c1", []string{"api.example.test"}, true, false)
	s, err := p.ListenSession("sesn_rotate", pol, []Credential{cred})
	if err != nil {
		t.Fatal(err)
	}
	c := client(s, u.roots)
	ph := s.Placeholder("c1")
	get := func() string {
		_, _, body := do(t, c, "GET", "http://api.example.test:"+port(u.http)+"/", http.Header{"Authorization": {"Bearer " + ph}}, "")
		return u.last(t).Header.Get("Authorization") + " | " + body
	}
	if got := get(); !strings.HasPrefix(got, "Bearer "+secret) {
		t.Fatalf("before: %s", got)
	}
	cred.Secret = "rotated-secret-value"
	s.Update(pol, []Credential{cred})
	if s.Placeholder("c1") != ph {
		t.Fatal("placeholder changed on update")
	}
	if got := get(); !strings.HasPrefix(got, "Bearer rotated-secret-value") {
		t.Fatalf("after rotation: %s", got)
	}
	s.Update(pol, nil)
	if got := get(); !strings.HasPrefix(got, "Bearer "+ph) {
		t.Fatalf("after removal: %s", got)
	}
}
