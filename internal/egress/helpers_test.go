package egress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDNS maps every name to loopback, so tests can use real host names
// (wildcards, registries) against local servers.
type fakeDNS struct{}

func (fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if strings.HasSuffix(host, ".invalid") {
		return nil, fmt.Errorf("no such host %s", host)
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// seen is what an upstream received.
type seen struct {
	Host   string
	Header http.Header
	Body   string
}

// upstream is a loopback server (HTTP and HTTPS on separate ports) that
// records requests and echoes the Authorization header back, in a header
// and in the body, to exercise response scrubbing.
type upstream struct {
	http, https *httptest.Server
	roots       *x509.CertPool
	mu          sync.Mutex
	reqs        []seen
}

func (u *upstream) last(t *testing.T) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream saw no request")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{Host: r.Host, Header: r.Header.Clone(), Body: string(b)})
		u.mu.Unlock()
		w.Header().Set("X-Echo-Auth", r.Header.Get("Authorization"))
		fmt.Fprintf(w, "upstream ok; auth=%s; body=%s", r.Header.Get("Authorization"), b)
	})
	u.http = httptest.NewServer(h)
	t.Cleanup(u.http.Close)
	u.https = httptest.NewUnstartedServer(h)
	cert, roots := testCert(t, "*.example.test", "*.wild.test", "localhost", "pypi.org")
	u.https.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	u.https.StartTLS()
	t.Cleanup(u.https.Close)
	u.roots = roots
	return u
}

// port returns the port of a test server, to address it by any name.
func port(s *httptest.Server) string {
	_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
	return p
}

// testCert mints a self-signed CA and a leaf for names: the "real" upstream
// certificate the proxy must verify.
func testCert(t testing.TB, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "upstream test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caT, caT, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, lt, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// newProxy starts a proxy that trusts the upstream's CA, may reach
// loopback, resolves every name to loopback and logs into logs.
func newProxy(t testing.TB, u *upstream, logs io.Writer, mod func(*Options)) *Proxy {
	if logs == nil {
		logs = io.Discard
	}
	o := Options{
		RootCAs:       u.roots,
		AllowInternal: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver:      fakeDNS{},
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&o)
	}
	p := New(o)
	t.Cleanup(func() { p.Close() })
	return p
}

// client is what a sandbox would run: proxy from the environment, trusting
// the given roots only.
func client(s *Session, roots *x509.CertPool) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		DisableKeepAlives: false,
	}
	if s.Network() == "unix" {
		path := s.Addr()
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: "egress.sock"})
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	} else {
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: s.Addr()})
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func sessionRoots(t testing.TB, s *Session) *x509.CertPool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM()) {
		t.Fatal("session CA PEM does not parse")
	}
	return pool
}

func do(t testing.TB, c *http.Client, method, rawURL string, header http.Header, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// rawConnect sends CONNECT by hand and returns the status line and body,
// which Go's client hides behind an error.
func rawConnect(t *testing.T, s *Session, authority string) (int, string) {
	t.Helper()
	c, err := net.Dial(s.Network(), s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority)
	resp, err := http.ReadResponse(bufioReader(c), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		return 200, ""
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
