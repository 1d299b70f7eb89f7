package egress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangarhq/hangar/internal/netpolicy"
	"github.com/hangarhq/hangar/internal/wire"
)

// Options configure a Proxy.
type Options struct {
	// RootCAs verifies upstream servers of intercepted connections; nil
	// means the system roots. Tests inject their own.
	RootCAs *x509.CertPool
	// AllowInternal lists internal addresses the proxy may connect to
	// (operator's choice; tests use loopback). Everything else internal is
	// refused whatever the session's policy says.
	AllowInternal []netip.Prefix
	// SocketDir, when set, makes ListenSession listen on a Unix socket
	// <SocketDir>/<session id>.sock instead of a TCP loopback port. Keep it
	// short: Unix socket paths are limited to about 108 bytes.
	SocketDir string
	// MaxBufferedBody is the largest request body substituted in memory,
	// keeping an exact Content-Length; larger or unsized bodies are
	// substituted while streaming and sent chunked. Default 16 MiB.
	MaxBufferedBody int64
	// DialTimeout bounds connecting upstream. Default 15 s.
	DialTimeout time.Duration
	Logger      *slog.Logger
	// Resolver resolves upstream names; nil means net.DefaultResolver.
	Resolver Resolver
}

// Resolver is the part of *net.Resolver the proxy uses; tests map names to
// loopback with it.
type Resolver = netpolicy.Resolver

// Policy is a session's networking: the environment's networking and, for
// allow_mcp_servers, the hosts of the agent's MCP servers.
type Policy struct {
	Networking wire.Networking
	MCPHosts   []string
}

// Credential is an environment_variable credential as the proxy needs it.
// Secret is the real value; it never leaves the proxy except towards a host
// Networking allows.
type Credential struct {
	ID         string
	SecretName string
	Secret     string
	Networking wire.CredentialNetworking
	Injection  wire.InjectionLocation
}

// Proxy is the egress proxy of one server: one upstream connection pool
// shared by per-session listeners.
type Proxy struct {
	opt       Options
	log       *slog.Logger
	transport *http.Transport
	rp        *httputil.ReverseProxy

	mu       sync.Mutex
	sessions map[string]*Session
}

// New builds a proxy; it listens only once sessions are added.
func New(opt Options) *Proxy {
	if opt.MaxBufferedBody <= 0 {
		opt.MaxBufferedBody = 16 << 20
	}
	if opt.DialTimeout <= 0 {
		opt.DialTimeout = 15 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Resolver == nil {
		opt.Resolver = net.DefaultResolver
	}
	p := &Proxy{opt: opt, log: opt.Logger.With("component", "egress"), sessions: map[string]*Session{}}
	p.transport = &http.Transport{
		// Never chain to the server's own proxy settings.
		Proxy:                 nil,
		DialContext:           p.dial,
		TLSClientConfig:       &tls.Config{RootCAs: opt.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(targetKey{}).(*target)
			pr.Out.URL.Scheme = t.scheme
			pr.Out.URL.Host = t.authority
			pr.Out.Host = pr.In.Host
		},
		Transport:      p.transport,
		FlushInterval:  -1,
		ModifyResponse: scrubResponse,
		ErrorHandler:   p.upstreamError,
		ErrorLog:       slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	return p
}

// Close closes every session and idle upstream connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	ss := make([]*Session, 0, len(p.sessions))
	for _, s := range p.sessions {
		ss = append(ss, s)
	}
	p.mu.Unlock()
	for _, s := range ss {
		s.Close()
	}
	p.transport.CloseIdleConnections()
	return nil
}

// Session returns the live session with this id, or nil.
func (p *Proxy) Session(id string) *Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions[id]
}

// ListenSession starts serving a session on its own listener (a Unix
// socket under Options.SocketDir, else a TCP loopback port) and returns it:
// Addr to hand to the sandbox, CAPEM for the sandbox's trust store,
// Placeholder for its environment, Close when the session ends.
func (p *Proxy) ListenSession(sessionID string, pol Policy, creds []Credential) (*Session, error) {
	s, err := p.NewSession(sessionID, pol, creds)
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	if p.opt.SocketDir != "" {
		path := filepath.Join(p.opt.SocketDir, sessionID+".sock")
		_ = os.Remove(path) // a stale socket of a crashed run
		ln, err = net.Listen("unix", path)
		if err == nil {
			// The sandbox may run as another uid; the socket's directory,
			// mounted only into this sandbox, is what guards it.
			err = os.Chmod(path, 0o666)
		}
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("egress: listen for session %s: %w", sessionID, err)
	}
	s.Serve(ln)
	return s, nil
}

// NewSession registers a session without a listener; Serve adds any
// number of them (TCP and Unix alike).
func (p *Proxy) NewSession(sessionID string, pol Policy, creds []Credential) (*Session, error) {
	// The id names a socket file: nothing that could leave SocketDir.
	if sessionID == "" || strings.ContainsAny(sessionID, "/\\\x00") || strings.HasPrefix(sessionID, ".") {
		return nil, fmt.Errorf("egress: invalid session id %q", sessionID)
	}
	ca, err := newAuthority(sessionID)
	if err != nil {
		return nil, fmt.Errorf("egress: session CA: %w", err)
	}
	s := &Session{id: sessionID, p: p, ca: ca, placeholders: map[string]string{}, conns: map[net.Conn]struct{}{}}
	s.srv = &http.Server{
		Handler:           s,
		ConnContext:       connContext, // inprocess.go: marks the server's own connections
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	s.Update(pol, creds)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.sessions[sessionID]; dup {
		return nil, fmt.Errorf("egress: session %s already has a proxy", sessionID)
	}
	p.sessions[sessionID] = s
	return s, nil
}

// Session is one session's view of the proxy.
type Session struct {
	id    string
	p     *Proxy
	ca    *authority
	srv   *http.Server
	state atomic.Pointer[state]
	repos atomic.Pointer[repoSet] // repo.go
	mem   memState                // inprocess.go: Dial's listener

	mu           sync.Mutex
	lns          []net.Listener
	placeholders map[string]string
	conns        map[net.Conn]struct{} // hijacked: the http.Server no longer tracks them
	closed       bool
}

// state is what a request is checked against, swapped whole by Update so a
// request sees one consistent version.
type state struct {
	pol   Policy
	creds []boundCredential
}

type boundCredential struct {
	Credential
	placeholder string
}

// Update replaces the policy and credentials; the next request uses them.
// Placeholders stay stable per credential id, since the sandbox's
// environment was fixed when it started.
func (s *Session) Update(pol Policy, creds []Credential) {
	st := &state{pol: pol}
	s.mu.Lock()
	for _, c := range creds {
		ph, ok := s.placeholders[c.ID]
		if !ok {
			ph = newPlaceholder()
			s.placeholders[c.ID] = ph
		}
		st.creds = append(st.creds, boundCredential{c, ph})
	}
	s.mu.Unlock()
	s.state.Store(st)
}

// Placeholder is the value the sandbox sees in place of credID's secret,
// or "" for an unknown credential.
func (s *Session) Placeholder(credID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.placeholders[credID]
}

// Env is the sandbox environment for the current credentials:
// SECRET_NAME=placeholder, one entry per credential.
func (s *Session) Env() []string {
	var env []string
	for _, c := range s.state.Load().creds {
		if c.SecretName != "" {
			env = append(env, c.SecretName+"="+c.placeholder)
		}
	}
	return env
}

// CAPEM is the session CA certificate the sandbox must trust.
func (s *Session) CAPEM() []byte { return s.ca.pem }

// Addr is the address of the first listener: "127.0.0.1:port" or a
// socket path.
func (s *Session) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lns) == 0 {
		return ""
	}
	return s.lns[0].Addr().String()
}

// Network is "tcp" or "unix", the network of Addr.
func (s *Session) Network() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lns) == 0 {
		return ""
	}
	return s.lns[0].Addr().Network()
}

// Serve serves the session on ln in the background until Close.
func (s *Session) Serve(ln net.Listener) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.p.log.Warn("egress listener stopped", "session_id", s.id, "err", err)
		}
	}()
}

// Close stops the listeners and cuts every connection of the session.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := s.conns
	s.conns = nil
	lns := s.lns
	s.mu.Unlock()
	err := s.srv.Close()
	for c := range conns {
		c.Close()
	}
	for _, ln := range lns {
		if ln.Addr().Network() == "unix" {
			_ = os.Remove(ln.Addr().String())
		}
	}
	s.p.mu.Lock()
	if s.p.sessions[s.id] == s {
		delete(s.p.sessions, s.id)
	}
	s.p.mu.Unlock()
	return err
}

func (s *Session) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Session) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// substitutions returns what to replace on a request to host, and the
// reverse for its response; both nil when no credential applies.
func (st *state) substitutions(host string) (hdr, body, scrub *replacements) {
	var h, b, sc map[string]string
	for _, c := range st.creds {
		if c.Secret == "" || !(c.Injection.Header || c.Injection.Body) {
			continue
		}
		if c.Networking.Type != wire.CredentialNetworkingUnrestricted && !netpolicy.MatchAny(c.Networking.AllowedHosts, host) {
			continue
		}
		if c.Injection.Header {
			h = put(h, c.placeholder, c.Secret)
		}
		if c.Injection.Body {
			b = put(b, c.placeholder, c.Secret)
		}
		sc = put(sc, c.Secret, c.placeholder)
	}
	return newReplacements(h), newReplacements(b), newReplacements(sc)
}

func put(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

type targetKey struct{}

type target struct {
	scheme, authority string
	scrub             *replacements
}

// deniedError is a refusal the agent must be able to read: 403, not 502.
type deniedError struct{ msg string }

func (e *deniedError) Error() string { return e.msg }

func deniedHost(host string) error {
	return &deniedError{"hangar egress: " + host + " is not allowed by this environment's networking policy"}
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Connection", "close")
	w.Header().Set(RefusalHeader, "1")
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}

// splitAuthority parses host[:port], defaulting the port.
func splitAuthority(authority, defPort string) (host, hostport string, err error) {
	h, port, err := net.SplitHostPort(authority)
	if err != nil {
		h, port = authority, defPort
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || port == "" {
		return "", "", fmt.Errorf("bad port in %q", authority)
	}
	h = netpolicy.NormHost(h)
	if h == "" {
		return "", "", fmt.Errorf("no host in %q", authority)
	}
	return h, net.JoinHostPort(h, port), nil
}

func (s *Session) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		s.connect(w, r)
	case r.URL.IsAbs() && (r.URL.Scheme == "http" || r.URL.Scheme == "https"):
		def := "80"
		if r.URL.Scheme == "https" {
			def = "443"
		}
		host, hostport, err := splitAuthority(r.URL.Host, def)
		if err != nil {
			plain(w, http.StatusBadRequest, "hangar egress: "+err.Error())
			return
		}
		s.forward(w, r, r.URL.Scheme, host, hostport)
	default:
		plain(w, http.StatusBadRequest, "hangar egress: this is a forward proxy: send absolute-URI requests (http://host/path) or CONNECT host:port")
	}
}

// forward sends one request upstream after policy check and substitution.
func (s *Session) forward(w http.ResponseWriter, r *http.Request, scheme, host, hostport string) {
	st := s.state.Load()
	server := fromServer(r.Context()) // inprocess.go: nothing is added to the server's own requests
	var repo *repoRoute
	if !server {
		repo = s.repository(scheme, hostport, r) // repo.go: its paths bypass the policy
	}
	if repo == nil && !netpolicy.Allowed(st.pol.Networking, host, st.pol.MCPHosts) {
		s.deny(w, host)
		return
	}
	var hdr, body, scrub *replacements
	if !server {
		hdr, body, scrub = st.substitutions(host)
	}
	if hdr != nil {
		substituteHeaders(r.Header, hdr)
	}
	if body != nil && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength >= 0 && r.ContentLength <= s.p.opt.MaxBufferedBody {
			b, err := io.ReadAll(io.LimitReader(r.Body, s.p.opt.MaxBufferedBody+1))
			r.Body.Close()
			if err != nil {
				plain(w, http.StatusBadRequest, "hangar egress: reading the request body failed")
				return
			}
			b = body.apply(b)
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.ContentLength = int64(len(b))
		} else {
			r.Body = newReplacingReader(r.Body, body)
			r.ContentLength = -1
		}
	}
	if scrub != nil {
		// Compressed responses could not be scrubbed; the transport asks
		// for gzip itself and decompresses transparently.
		r.Header.Del("Accept-Encoding")
	}
	if repo != nil && !s.authorizeRepository(w, r, repo) {
		return
	}
	t := &target{scheme: scheme, authority: hostport, scrub: scrub}
	s.p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, t)))
}

// scrubResponse turns any secret a host echoes back into its placeholder,
// so it cannot reach the sandbox through a response.
func scrubResponse(resp *http.Response) error {
	// Only the proxy itself may say it refused (inprocess.go).
	resp.Header.Del(RefusalHeader)
	t, _ := resp.Request.Context().Value(targetKey{}).(*target)
	if t == nil || t.scrub == nil {
		return nil
	}
	substituteHeaders(resp.Header, t.scrub)
	if resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = newReplacingReader(resp.Body, t.scrub)
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
	}
	return nil
}

func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	var d *deniedError
	if errors.As(err, &d) {
		plain(w, http.StatusForbidden, d.msg)
		return
	}
	t, _ := r.Context().Value(targetKey{}).(*target)
	authority := ""
	if t != nil {
		authority = t.authority
	}
	if errors.Is(err, context.Canceled) {
		return // the client left
	}
	p.log.Info("egress upstream failed", "upstream", authority, "err", err)
	plain(w, http.StatusBadGateway, "hangar egress: request to "+authority+" failed: "+err.Error())
}

func (s *Session) deny(w http.ResponseWriter, host string) {
	s.p.log.Info("egress denied", "session_id", s.id, "host", host)
	plain(w, http.StatusForbidden, deniedHost(host).Error())
}

// dial connects to addr, refusing internal addresses at the moment of
// connecting (netpolicy.DialChecked).
func (p *Proxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: p.opt.DialTimeout}
	return netpolicy.DialChecked(ctx, network, addr, p.opt.Resolver, d.DialContext, func(host string, a netip.Addr) error {
		if netpolicy.IsInternal(a) && !p.internalAllowed(a) {
			return &deniedError{fmt.Sprintf("hangar egress: %s resolves to %s, an internal address; the egress proxy does not connect to internal addresses", host, a)}
		}
		return nil
	})
}

func (p *Proxy) internalAllowed(a netip.Addr) bool {
	for _, pf := range p.opt.AllowInternal {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// connect handles CONNECT: refuse, tunnel blindly, or intercept when a
// credential applies to the host.
func (s *Session) connect(w http.ResponseWriter, r *http.Request) {
	host, hostport, err := splitAuthority(r.Host, "")
	if err != nil {
		plain(w, http.StatusBadRequest, "hangar egress: CONNECT needs host:port: "+err.Error())
		return
	}
	st := s.state.Load()
	// A repository's origin is intercepted: each request's path decides
	// between its token and the policy (repo.go).
	server := fromServer(r.Context()) // inprocess.go: never intercepted, nothing added
	repoHost := !server && s.repositoryHost(hostport)
	if !repoHost && !netpolicy.Allowed(st.pol.Networking, host, st.pol.MCPHosts) {
		s.deny(w, host)
		return
	}
	hdr, body, _ := st.substitutions(host)
	intercept := !server && (hdr != nil || body != nil || repoHost)
	var upstream net.Conn
	if !intercept {
		// Dial before answering so a failure is a readable status, not a
		// tunnel that dies.
		ctx, cancel := context.WithTimeout(r.Context(), s.p.opt.DialTimeout)
		upstream, err = s.p.dial(ctx, "tcp", hostport)
		cancel()
		if err != nil {
			var d *deniedError
			if errors.As(err, &d) {
				plain(w, http.StatusForbidden, d.msg)
			} else {
				plain(w, http.StatusBadGateway, "hangar egress: cannot connect to "+hostport+": "+err.Error())
			}
			return
		}
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		if upstream != nil {
			upstream.Close()
		}
		plain(w, http.StatusInternalServerError, "hangar egress: cannot take over the connection")
		return
	}
	client := net.Conn(conn)
	if n := brw.Reader.Buffered(); n > 0 {
		client = &prefixConn{Conn: conn, r: io.MultiReader(bytes.NewReader(mustPeek(brw.Reader, n)), conn)}
	}
	if !s.track(conn) {
		conn.Close()
		if upstream != nil {
			upstream.Close()
		}
		return
	}
	defer s.untrack(conn)
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		conn.Close()
		if upstream != nil {
			upstream.Close()
		}
		return
	}
	if upstream != nil {
		s.tunnel(client, upstream)
		return
	}
	s.intercept(client, host, hostport)
}

func mustPeek(r *bufio.Reader, n int) []byte {
	b, _ := r.Peek(n)
	return bytes.Clone(b)
}

type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

type closeWriter interface{ CloseWrite() error }

// tunnel copies both ways, passing half-closes through, until both sides
// are done.
func (s *Session) tunnel(client, upstream net.Conn) {
	defer client.Close()
	defer upstream.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := unwrap(dst).(closeWriter); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
		done <- struct{}{}
	}
	go cp(upstream, client)
	go cp(client, upstream)
	<-done
	<-done
}

func unwrap(c net.Conn) net.Conn {
	if p, ok := c.(*prefixConn); ok {
		return p.Conn
	}
	return c
}

// intercept terminates the client's TLS with a leaf of the session CA
// and serves its requests as HTTPS to hostport.
func (s *Session) intercept(client net.Conn, host, hostport string) {
	cert, err := s.ca.leaf(host)
	if err != nil {
		s.p.log.Error("egress leaf certificate", "session_id", s.id, "host", host, "err", err)
		client.Close()
		return
	}
	tc := tls.Server(client, &tls.Config{
		// The CONNECT target decides the certificate and the upstream, not
		// the SNI the client sends, so SNI cannot steer a secret elsewhere.
		Certificates: []tls.Certificate{*cert},
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	err = tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.p.log.Info("egress TLS handshake with sandbox failed (does it trust the session CA?)", "session_id", s.id, "host", host, "err", err)
		tc.Close()
		return
	}
	ln := newOneConnListener(tc)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodConnect {
				plain(w, http.StatusBadRequest, "hangar egress: CONNECT inside a tunnel is not supported")
				return
			}
			s.forward(w, r, "https", host, hostport)
		}),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.p.log.Handler(), slog.LevelDebug),
	}
	srv.Serve(ln)
}

// oneConnListener hands one connection to an http.Server and ends Serve
// once that connection closes.
type oneConnListener struct {
	once sync.Once
	conn net.Conn
	done chan struct{}
	used atomic.Bool
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{done: make(chan struct{})}
	l.conn = &notifyConn{Conn: c, close: func() { l.once.Do(func() { close(l.done) }) }}
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if l.used.CompareAndSwap(false, true) {
		return l.conn, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

type notifyConn struct {
	net.Conn
	close func()
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	c.close()
	return err
}
