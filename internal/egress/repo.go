package egress

// Repository credentials: git traffic for a
// session's github_repository resources leaves through the session's proxy,
// which adds the repository's token on the way out. The sandbox never holds
// the token; it sees the repository's plain URL and the proxy (HTTPS is
// intercepted with the session CA for a repository's host, as for
// environment_variable credentials).
//
// What gets the token: requests to the repository's origin (same scheme,
// host and port) whose path is the repository's path or below it —
// /owner/repo and /owner/repo.git, so info/refs, git-upload-pack and
// git-receive-pack — get "Authorization: Basic base64(x-access-token:TOKEN)",
// replacing whatever Authorization the client sent. For a github.com
// repository, GitHub REST calls about it (https://api.github.com/repos/
// owner/repo[/...]) get "Authorization: Bearer TOKEN". Any other path on the
// same host gets nothing added. A path with dot segments, doubled or
// encoded slashes never matches: the upstream would normalise it to a
// path the prefix check did not see.
//
// Policy: a repository's own paths are allowed whatever the environment's
// networking says, since the user attached the repository to the session
// explicitly; everything else on that host obeys the policy (a limited
// environment that does not list the host gets 403 for its other paths).
// The internal-address guard still applies to repositories.
//
// The token is asked for on every matching request (Repository.Token), so a
// token rotated through the resource update API applies to the next git
// request of a running sandbox. Responses are not scrubbed: the token goes
// only to the repository's own paths, which speak the git protocol, and
// rewriting pack data would corrupt it.

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Repository is a github_repository resource as the proxy needs it.
type Repository struct {
	// URL is the repository's clone URL (http or https).
	URL string
	// Token returns the repository's current token, "" for none; it is
	// called for every request to the repository, never cached.
	Token func(ctx context.Context) (string, error)
}

// repoRoute is one origin and path prefix a repository's token applies to.
type repoRoute struct {
	scheme   string // "http" or "https"
	hostport string // normalised host:port, as splitAuthority gives it
	bases    []string
	bearer   bool // GitHub REST: Bearer rather than git's Basic
	token    func(ctx context.Context) (string, error)
}

type repoSet struct{ routes []repoRoute }

// SetRepositories replaces the session's repositories; the next request
// uses them. A URL that is not an absolute http(s) URL with a path is an
// error and nothing is replaced.
func (s *Session) SetRepositories(repos []Repository) error {
	set := &repoSet{}
	for _, r := range repos {
		routes, err := repoRoutes(r)
		if err != nil {
			return err
		}
		set.routes = append(set.routes, routes...)
	}
	s.repos.Store(set)
	return nil
}

func repoRoutes(r Repository) ([]repoRoute, error) {
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("egress: repository URL %q is not an http(s) URL", r.URL)
	}
	def := "80"
	if u.Scheme == "https" {
		def = "443"
	}
	host, hostport, err := splitAuthority(u.Host, def)
	if err != nil {
		return nil, fmt.Errorf("egress: repository URL %q: %v", r.URL, err)
	}
	base := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
	if base == "" || !cleanPath(base) {
		return nil, fmt.Errorf("egress: repository URL %q names no repository path", r.URL)
	}
	routes := []repoRoute{{scheme: u.Scheme, hostport: hostport, bases: []string{base, base + ".git"}, token: r.Token}}
	if host == "github.com" && u.Scheme == "https" {
		routes = append(routes, repoRoute{scheme: "https", hostport: "api.github.com:443", bases: []string{"/repos" + base}, bearer: true, token: r.Token})
	}
	return routes, nil
}

// cleanPath: absolute, no dot segments, no empty segments.
func cleanPath(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p
}

// match returns the route for a request, or nil.
func (set *repoSet) match(scheme, hostport string, u *url.URL) *repoRoute {
	if set == nil || len(set.routes) == 0 || u == nil {
		return nil
	}
	// RawPath is set when the path was escaped unusually (%2F, %2E, ...):
	// the upstream may decode it into something else.
	p := u.Path
	if u.RawPath != "" || !cleanPath(p) {
		return nil
	}
	for i := range set.routes {
		r := &set.routes[i]
		if r.scheme != scheme || r.hostport != hostport {
			continue
		}
		for _, b := range r.bases {
			if p == b || strings.HasPrefix(p, b+"/") {
				return r
			}
		}
	}
	return nil
}

// repository is the repository route a forwarded request belongs to, or
// nil. hostport is the request's normalised target.
func (s *Session) repository(scheme, hostport string, r *http.Request) *repoRoute {
	return s.repos.Load().match(scheme, hostport, r.URL)
}

// repositoryHost reports whether a CONNECT target is a repository's HTTPS
// origin: such a tunnel is intercepted, so each request's path decides
// between the token and the policy.
func (s *Session) repositoryHost(hostport string) bool {
	set := s.repos.Load()
	if set == nil {
		return false
	}
	for _, r := range set.routes {
		if r.scheme == "https" && r.hostport == hostport {
			return true
		}
	}
	return false
}

// authorizeRepository puts the repository's token on r. It answers the
// client itself and returns false when the token cannot be had.
func (s *Session) authorizeRepository(w http.ResponseWriter, r *http.Request, route *repoRoute) bool {
	if route.token == nil {
		return true
	}
	tok, err := route.token(r.Context())
	if err != nil {
		s.p.log.Warn("egress repository token unavailable", "session_id", s.id, "host", route.hostport, "err", err)
		plain(w, http.StatusBadGateway, "hangar egress: the repository's credential is unavailable")
		return false
	}
	if tok == "" {
		return true
	}
	if route.bearer {
		r.Header.Set("Authorization", "Bearer "+tok)
	} else {
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("x-access-token:"+tok)))
	}
	return true
}

// PrivateListener serves a session's proxy on a loopback TCP port for a
// process of the server itself (the host-side clone of a repository mounted
// outside /workspace): the process goes through the same policy and gets
// the same credentials as the sandbox, without ever holding the token. The
// port requires proxy credentials minted for this listener alone, since any
// host process could connect to it.
type PrivateListener struct {
	srv *http.Server
	url string
}

// ListenPrivate starts a PrivateListener for the session.
func (s *Session) ListenPrivate() (*PrivateListener, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	user, pass := "hangar", hex.EncodeToString(b[:])
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("egress: private listener for session %s: %w", s.id, err)
	}
	pl := &PrivateListener{url: (&url.URL{Scheme: "http", User: url.UserPassword(user, pass), Host: ln.Addr().String()}).String()}
	pl.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := r.Header.Get("Proxy-Authorization")
			if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
				w.Header().Set("Proxy-Authenticate", `Basic realm="hangar egress"`)
				plain(w, http.StatusProxyAuthRequired, "hangar egress: proxy credentials required")
				return
			}
			r.Header.Del("Proxy-Authorization")
			s.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() {
		if err := pl.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.p.log.Warn("egress private listener stopped", "session_id", s.id, "err", err)
		}
	}()
	return pl, nil
}

// URL is the proxy URL, credentials included: for the one process that
// uses it, never for a log line.
func (pl *PrivateListener) URL() string { return pl.url }

// Close stops the listener. Tunnels it handed over end with their client.
func (pl *PrivateListener) Close() error { return pl.srv.Close() }
