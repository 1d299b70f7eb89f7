// Package live owns the live egress configuration of sessions: each
// session's side of the egress proxy (its Unix socket and CA bundle in a
// directory mounted into its sandbox), the policy and credentials loaded
// into it from the session, its environment and its vaults, and the
// reloads that keep a running session's proxy in step with committed
// changes to them. The proxy itself is internal/egress.
package live

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/hangarhq/hangar/internal/egress"
	"github.com/hangarhq/hangar/internal/netpolicy"
	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/agent"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

// EnvAllowInternal lists internal addresses (CIDR prefixes or single
// IPs, comma-separated) the egress proxy may connect to. For tests and
// operators with a deliberate internal destination only: by default the
// proxy refuses loopback, private and link-local addresses whatever the
// policy says, which keeps sandboxes off the server's own ports and the
// cloud metadata service.
const EnvAllowInternal = "HANGAR_EGRESS_ALLOW_INTERNAL"

// parseAllowInternal reads EnvAllowInternal.
func parseAllowInternal(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is neither an address nor a prefix", EnvAllowInternal, f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Egress runs the per-session side of the egress proxy: a Unix socket and
// CA bundle in a directory per session, shown to the sandbox as
// Spec.EgressDir.
type Egress struct {
	proxy *egress.Proxy
	// root holds the per-session directories; short, since a socket path
	// must fit in about 108 bytes.
	root  string
	roots []byte // system CA bundle the session CA is appended to
	st    store.Store
	creds *vault.Credentials
	log   *slog.Logger
	// live tracks what each live proxy session's policy came from, for
	// reloads after changes (reload.go).
	live liveSessions
}

// New starts the egress proxy of the sandboxes, with the per-session
// directories under dataDir; st is read for each session's policy and
// creds for its secrets. EnvAllowInternal, when set, lets the proxy reach
// the internal addresses it lists.
func New(dataDir string, st store.Store, creds *vault.Credentials, log *slog.Logger) (*Egress, error) {
	allow, err := parseAllowInternal(os.Getenv(EnvAllowInternal))
	if err != nil {
		return nil, err
	}
	if len(allow) > 0 {
		log.Warn("egress proxy may reach internal addresses", "allow_internal", os.Getenv(EnvAllowInternal))
	}
	root := filepath.Join(dataDir, "egress")
	// <root>/<16 hex>/egress.sock must fit a sockaddr_un.
	if len(root)+1+16+1+len(sandbox.EgressSocketName) >= 104 {
		if root, err = os.MkdirTemp("", "hangar-egress-"); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, err
	}
	// What the previous run left is not removed here: a docker sandbox
	// that outlived it has its session's directory bind-mounted and is
	// reattached to it (sweep removes the directories no sandbox will).
	e := &Egress{
		proxy: egress.New(egress.Options{AllowInternal: allow, Logger: log}),
		root:  root, roots: systemRoots(), st: st, creds: creds, log: log,
	}
	return e, nil
}

// systemRoots is the host's CA bundle (Debian, Fedora, Alpine, SUSE paths).
func systemRoots() []byte {
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		if b, err := os.ReadFile(f); err == nil {
			return b
		}
	}
	for _, f := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
		"/etc/ssl/cert.pem", "/etc/ssl/ca-bundle.pem", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"} {
		if b, err := os.ReadFile(f); err == nil {
			return b
		}
	}
	return nil
}

// Sweep removes, at start, the directories of sessions other than keep's:
// no sandbox will be reattached to them (keep lists the sessions with a
// persisted sandbox handle; the others get a new directory when they
// start).
func (e *Egress) Sweep(keep []string) {
	want := map[string]bool{}
	for _, id := range keep {
		want[e.Dir(id)] = true
	}
	old, _ := filepath.Glob(filepath.Join(e.root, "*"))
	for _, d := range old {
		if !want[d] {
			_ = os.RemoveAll(d)
		}
	}
}

// Dir is the session's egress directory, mounted into its sandbox.
func (e *Egress) Dir(sessionID string) string {
	h := sha256.Sum256([]byte(sessionID))
	return filepath.Join(e.root, hex.EncodeToString(h[:8]))
}

// Prepare makes the session's proxy current (policy and credentials as
// they are now) and points spec at it: network none, the egress
// directory, the proxy variables and one placeholder per credential. It
// returns the session's resources, as the same read of the session has
// them.
func (e *Egress) Prepare(ctx context.Context, ws, sessionID string, spec *sandbox.Spec) ([]wire.SessionResource, error) {
	// Loaded, or started, the way later changes reload it (reload.go).
	s, doc, err := e.sync(ctx, ws, sessionID, true)
	if err != nil {
		return nil, err
	}
	// Repository tokens: read per request, so a rotation needs no update
	// here.
	if err := e.setRepositories(ws, s, doc.Resources); err != nil {
		return nil, err
	}
	dir := e.Dir(sessionID)
	bundle := append(append([]byte{}, e.roots...), '\n')
	bundle = append(bundle, s.CAPEM()...)
	tmp := filepath.Join(dir, sandbox.EgressCABundleName+".tmp")
	if err := os.WriteFile(tmp, bundle, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, sandbox.EgressCABundleName)); err != nil {
		return nil, err
	}
	spec.Network = sandbox.NetworkNone
	spec.EgressDir = dir
	// Credentials first: a secret_name never overrides the sandbox's own
	// variables (PATH, HOME, the proxy settings).
	env := agent.EnvMap(s.Env())
	for k, v := range spec.Env {
		env[k] = v
	}
	for k, v := range sandbox.EgressEnv() {
		env[k] = v
	}
	spec.Env = env
	return doc.Resources, nil
}

func (e *Egress) listen(sessionID string, pol egress.Policy, creds []egress.Credential) (*egress.Session, error) {
	dir := e.Dir(sessionID)
	// A directory left by the previous run is reused, not re-made: a
	// sandbox that outlived the server (docker) has it bind-mounted, and a
	// new directory under the same name is not the one it would see.
	if fi, err := os.Lstat(dir); err == nil && !fi.IsDir() {
		_ = os.RemoveAll(dir)
	}
	// 0755: the docker backend's uid 1000 must search it; the sandbox sees
	// it read-only, and it holds only the socket and public certificates.
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	_ = os.Chmod(dir, 0o755) // past the umask
	s, err := e.proxy.NewSession(sessionID, pol, creds)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, sandbox.EgressSocketName)
	_ = os.Remove(path) // the previous run's socket
	ln, err := net.Listen("unix", path)
	if err == nil {
		// Whatever uid the sandbox runs as; the directory, mounted only
		// into this sandbox, is what guards it.
		err = os.Chmod(path, 0o666)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("egress: listen for session %s: %w", sessionID, err)
	}
	s.Serve(ln)
	return s, nil
}

// Session is the session's proxy session, nil when it has none: the
// server's own host-side clone of a repository goes through it.
func (e *Egress) Session(sessionID string) *egress.Session {
	return e.proxy.Session(sessionID)
}

// Release closes a session's proxy and removes its directory.
func (e *Egress) Release(sessionID string) {
	e.live.drop(sessionID)
	if s := e.proxy.Session(sessionID); s != nil {
		s.Close()
	}
	_ = os.RemoveAll(e.Dir(sessionID))
}

// Close stops the proxy.
func (e *Egress) Close() {
	_ = e.proxy.Close()
}

// load reads a session's egress policy (its environment's networking and
// its agent's MCP server hosts) and the environment_variable credentials
// of its vaults, secrets opened; doc is the session they came from.
func (e *Egress) load(ctx context.Context, ws, sessionID string) (pol egress.Policy, creds []egress.Credential, doc wire.Session, err error) {
	sess, err := e.st.GetSession(ctx, ws, sessionID)
	if err != nil {
		return pol, nil, doc, err
	}
	if err := json.Unmarshal(sess.Data, &doc); err != nil {
		return pol, nil, doc, err
	}
	env, err := e.st.Get(ctx, sess.Workspace, store.KindEnvironment, doc.EnvironmentID)
	if err != nil {
		return pol, nil, doc, err
	}
	var en wire.Environment
	if err := json.Unmarshal(env.Data, &en); err != nil {
		return pol, nil, doc, err
	}
	pol.Networking = netpolicy.Effective(en.Config)
	for _, m := range doc.Agent.MCPServers {
		if u, err := url.Parse(m.URL); err == nil && u.Hostname() != "" {
			pol.MCPHosts = append(pol.MCPHosts, u.Hostname())
		}
	}
	creds, err = e.credentials(ctx, sess.Workspace, doc.VaultIDs)
	return pol, creds, doc, err
}

// credentials are the active environment_variable credentials of the
// vaults, in vault order; the first of a secret_name wins. One that cannot
// be opened is left out (its variable is then absent) and logged without
// its value.
func (e *Egress) credentials(ctx context.Context, ws string, vaultIDs []string) ([]egress.Credential, error) {
	var out []egress.Credential
	seen := map[string]bool{}
	for f, err := range e.creds.Find(ctx, ws, vaultIDs, func(c wire.Credential) bool {
		return c.Auth.Type == wire.CredentialEnvironmentVariable && c.Auth.SecretName != "" && !seen[c.Auth.SecretName]
	}) {
		if err != nil {
			return nil, err
		}
		if f.SecretErr != nil {
			e.log.Warn("environment_variable credential unreadable", "credential_id", f.ID, "vault_id", f.VaultID, "err", f.SecretErr)
			continue
		}
		a := f.Credential.Auth
		seen[a.SecretName] = true
		out = append(out, egress.Credential{
			ID: f.ID, SecretName: a.SecretName, Secret: f.Secret.Value,
			Networking: a.Networking, Injection: a.InjectionLocation,
		})
	}
	return out, nil
}

// setRepositories gives the session's proxy its repositories: their
// requests get the repository's token. Each token is read from the store
// at every request, so a token rotated through the resource update API
// applies to the next git request of a running sandbox.
func (e *Egress) setRepositories(ws string, s *egress.Session, rs []wire.SessionResource) error {
	var repos []egress.Repository
	for _, r := range rs {
		if r.Type != wire.ResourceGitHubRepository {
			continue
		}
		id := r.ID
		repos = append(repos, egress.Repository{URL: r.URL, Token: func(ctx context.Context) (string, error) {
			return e.creds.ResourceToken(ctx, ws, id)
		}})
	}
	return s.SetRepositories(repos)
}
