package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/model/modeltest"
)

// gitHost is the loopback address the fake git servers listen on: not
// 127.0.0.1, which the sandbox's NO_PROXY exempts, so git inside the
// sandbox reaches it only through its egress proxy, as it would github.com.
const gitHost = "127.0.0.2"

// gitRepoServer serves the bare repositories under root over git's smart
// HTTP protocol (git http-backend as CGI, pushes enabled), requiring the
// current token as the Basic password; every other path answers 200 and
// is recorded with the Authorization it came with.
type gitRepoServer struct {
	srv   *httptest.Server
	token atomic.Value // string
	mu    sync.Mutex
	log   []string // "path auth"
	cert  []byte   // PEM of the TLS certificate, for https
}

func (g *gitRepoServer) requests() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Join(g.log, "\n")
}

func basicAuth(token string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
}

func newGitRepoServer(t *testing.T, root, token string, https bool) *gitRepoServer {
	t.Helper()
	g := &gitRepoServer{}
	g.token.Store(token)
	backend := filepath.Join(gitExecPath(t), "git-http-backend")
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.log = append(g.log, r.URL.Path+" auth="+r.Header.Get("Authorization"))
		g.mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, "/repo.git/") {
			_, _ = w.Write([]byte("NOT-A-REPO-PATH\n"))
			return
		}
		if r.Header.Get("Authorization") != basicAuth(g.token.Load().(string)) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	ln, err := net.Listen("tcp", gitHost+":0")
	if err != nil {
		t.Fatalf("listen on %s: %v", gitHost, err)
	}
	g.srv.Listener = ln
	if https {
		cert, certPEM := selfSignedIP(t, gitHost)
		g.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		g.cert = certPEM
		g.srv.StartTLS()
	} else {
		g.srv.Start()
	}
	t.Cleanup(g.srv.Close)
	return g
}

// selfSignedIP is a self-signed certificate for one IP address.
func selfSignedIP(t *testing.T, ip string) (tls.Certificate, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: ip},
		IPAddresses: []net.IP{net.ParseIP(ip)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func gitExecPath(t *testing.T) string {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git not available: %v", err)
		}
		t.Skipf("git not available: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitFixture is a bare repository (root/repo.git, pushes allowed) with a
// main branch of two commits and a feature branch, and a host working
// copy of it.
type gitFixture struct {
	root, work, bare string
	first            string // the first commit of main
}

func newGitFixture(t *testing.T) gitFixture {
	t.Helper()
	f := gitFixture{root: t.TempDir(), work: filepath.Join(t.TempDir(), "w")}
	git(t, "", "init", "-q", "-b", "main", f.work)
	os.WriteFile(filepath.Join(f.work, "README"), []byte("MAIN-README\n"), 0o644)
	git(t, f.work, "add", ".")
	git(t, f.work, "commit", "-q", "-m", "first")
	f.first = git(t, f.work, "rev-parse", "HEAD")
	os.WriteFile(filepath.Join(f.work, "README"), []byte("MAIN-README-2\n"), 0o644)
	git(t, f.work, "commit", "-q", "-am", "second")
	git(t, f.work, "checkout", "-q", "-b", "feature")
	os.WriteFile(filepath.Join(f.work, "feature.txt"), []byte("FEATURE-BRANCH\n"), 0o644)
	git(t, f.work, "add", ".")
	git(t, f.work, "commit", "-q", "-m", "feature")
	f.bare = filepath.Join(f.root, "repo.git")
	git(t, "", "clone", "-q", "--bare", f.work, f.bare)
	git(t, f.bare, "config", "http.receivepack", "true")
	// The CGI runs as root on a tree the test made: fine, but git checks
	// ownership of repositories it serves.
	git(t, f.bare, "config", "safe.directory", "*")
	return f
}

// reversed spells s backwards: a command that looks for a secret in the
// sandbox must not carry the secret itself into the tool_use event.
func reversed(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// A repository's git traffic leaves
// through the session's egress proxy, which adds the token: the clone
// (inside the sandbox for /workspace, on the host through a private proxy
// listener for a read-only mount elsewhere), and git pull / fetch / push
// from bash in the sandbox, over HTTP and HTTPS, on both backends. The
// token is nowhere in the sandbox (workspace, .git/config, environment,
// /proc), the event log, a response, the logs or the data dir; another
// path of the same host gets no Authorization and, under limited
// networking, is refused; a token rotated through the resource update API
// is used by the next git request of the running sandbox.
func TestGitThroughEgressProxy(t *testing.T) {
	for _, sb := range []string{"local", "docker"} {
		for _, scheme := range []string{"http", "https"} {
			t.Run(sb+"/"+scheme, func(t *testing.T) { testGitThroughEgressProxy(t, sb, scheme == "https") })
		}
	}
}

func testGitThroughEgressProxy(t *testing.T, backend string, https bool) {
	const token = "ghs_SECRET-TOKEN-6f1d2c"
	const rotated = "ghs_ROTATED-TOKEN-93ab"
	f := newGitFixture(t)
	gs := newGitRepoServer(t, f.root, token, https)
	repoURL := gs.srv.URL + "/repo.git"

	env := []string{"HANGAR_EGRESS_ALLOW_INTERNAL=127.0.0.0/8"}
	if https {
		// The server verifies intercepted upstreams against the system
		// roots, which it takes from SSL_CERT_FILE.
		bundle := filepath.Join(t.TempDir(), "roots.pem")
		if err := os.WriteFile(bundle, append(systemBundle(t), gs.cert...), 0o644); err != nil {
			t.Fatal(err)
		}
		env = append(env, "SSL_CERT_FILE="+bundle)
	}
	l := startLoop(t, modeltest.NewAnthropic(t, modeltest.Options{APIKey: "upstream-key"}), env, "--sandbox", backend)
	ctx := context.Background()
	// Limited networking that does not list the git host: the repository's
	// own paths are allowed anyway, the host's other paths are not.
	l.envID = l.environment("git-limited", map[string]any{"type": "cloud",
		"networking": map[string]any{"type": "limited", "allowed_hosts": []string{"allowed.example"}}})
	agent := l.agent(toolset)
	sess := l.sessionWith(agent,
		anthropic.BetaSessionNewParamsResourceUnion{OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{
			URL: repoURL, AuthorizationToken: token,
			Checkout: anthropic.BetaManagedAgentsGitHubRepositoryResourceParamsCheckoutUnion{OfBranch: &anthropic.BetaManagedAgentsBranchCheckoutParam{Name: "feature"}},
		}},
		anthropic.BetaSessionNewParamsResourceUnion{OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{
			URL: repoURL, AuthorizationToken: token, MountPath: anthropic.String("/repos/pinned"),
			Checkout: anthropic.BetaManagedAgentsGitHubRepositoryResourceParamsCheckoutUnion{OfCommit: &anthropic.BetaManagedAgentsCommitCheckoutParam{Sha: f.first}},
		}},
	)
	sid := sess.ID
	if len(sess.Resources) != 2 || sess.Resources[0].MountPath != "/workspace/repo" || sess.Resources[0].URL != repoURL || sess.Resources[0].Checkout.Name != "feature" || sess.Resources[1].Checkout.Sha != f.first {
		t.Fatalf("resources = %s", sess.RawJSON())
	}
	var seen []string // everything the token must not appear in
	run := func(cmd string) string {
		t.Helper()
		raw := l.bash(sid, cmd)
		seen = append(seen, raw)
		return toolText(t, raw)
	}

	// The clones: the branch under /workspace, writable; the
	// commit elsewhere, read-only.
	out := run("cat /workspace/repo/feature.txt /workspace/repo/README /repos/pinned/README /repos/pinned/.git/HEAD; touch /workspace/repo/.w && echo WS-WRITABLE; touch /repos/pinned/x 2>/dev/null || echo PINNED-READONLY")
	for _, want := range []string{"FEATURE-BRANCH", "MAIN-README-2", "MAIN-README\n", f.first, "WS-WRITABLE", "PINNED-READONLY"} {
		if !strings.Contains(out, want) {
			t.Fatalf("clone result lacks %q: %s", want, out)
		}
	}
	if !strings.Contains(gs.requests(), "/repo.git/info/refs auth="+basicAuth(token)) {
		t.Fatalf("the git server saw no authenticated request: %s", gs.requests())
	}

	// git pull and push from bash: a commit made on the host is
	// pulled; a commit made in the sandbox is pushed.
	os.WriteFile(filepath.Join(f.work, "pulled.txt"), []byte("PULLED-FROM-UPSTREAM\n"), 0o644)
	git(t, f.work, "add", ".")
	git(t, f.work, "commit", "-q", "-m", "upstream change")
	git(t, f.work, "push", "-q", f.bare, "feature")
	out = run("cd /workspace/repo && git pull -q 2>&1 && cat pulled.txt && echo x > pushed.txt && git add pushed.txt && git -c user.name=agent -c user.email=agent@example.com commit -qm 'from the sandbox' && git push -q origin feature 2>&1 && echo PUSHED")
	if !strings.Contains(out, "PULLED-FROM-UPSTREAM") || !strings.Contains(out, "PUSHED") {
		t.Fatalf("pull/push: %s", out)
	}
	if msg := git(t, f.bare, "log", "-1", "--format=%s", "feature"); msg != "from the sandbox" {
		t.Fatalf("upstream feature head = %q", msg)
	}
	if !strings.Contains(gs.requests(), "/repo.git/git-receive-pack auth="+basicAuth(token)) {
		t.Fatalf("no authenticated push: %s", gs.requests())
	}

	// Another path of the same host: refused under limited networking,
	// never reaching the server.
	before := gs.requests()
	out = run("git ls-remote " + gs.srv.URL + "/other.git 2>&1; echo END")
	if !strings.Contains(out, "END") || gs.requests() != before {
		t.Fatalf("another path under limited networking: %s\nserver saw: %s", out, strings.TrimPrefix(gs.requests(), before))
	}
	if !https && !strings.Contains(out, "403") {
		t.Fatalf("another path under limited networking was not refused: %s", out)
	}

	// The server now takes only the rotated token; the running
	// sandbox's next fetch fails until the resource is updated, then
	// succeeds with no restart.
	gs.token.Store(rotated)
	if out := run("cd /workspace/repo && GIT_TERMINAL_PROMPT=0 git fetch -q 2>&1 && echo FETCHED; echo END"); strings.Contains(out, "FETCHED") {
		t.Fatalf("fetch with the old token: %s", out)
	}
	upd, err := l.c.Beta.Sessions.Resources.Update(ctx, sess.Resources[0].ID, anthropic.BetaSessionResourceUpdateParams{SessionID: sid, AuthorizationToken: rotated})
	if err != nil || upd.ID != sess.Resources[0].ID || !upd.UpdatedAt.After(sess.Resources[0].UpdatedAt) {
		t.Fatalf("update = %v, %v", upd, err)
	}
	seen = append(seen, upd.RawJSON())
	if out := run("cd /workspace/repo && git fetch -q 2>&1 && echo FETCHED"); !strings.Contains(out, "FETCHED") {
		t.Fatalf("fetch after rotation: %s", out)
	}
	if !strings.Contains(gs.requests(), "auth="+basicAuth(rotated)) {
		t.Fatalf("the rotated token was not used: %s", gs.requests())
	}

	// No token in the sandbox: the workspace (.git/config included), the
	// environment, every process's environment. The command spells the
	// tokens backwards so that it does not carry them itself.
	var pats []string
	for _, tok := range []string{token, rotated, "x-access-token"} {
		pats = append(pats, "-e \"$(echo '"+reversed(tok)+"' | rev)\"")
	}
	// (/run/hangar/agent, the hangar binary, holds the word x-access-token
	// as code; /run/hangar/egress is what the server shares.)
	out = run("echo FILES:$(grep -rlF " + strings.Join(pats, " ") + " /workspace /repos /proc/[0-9]*/environ /run/hangar/egress /tmp 2>/dev/null):END; env | grep -cF " + strings.Join(pats, " ") + "; cat /workspace/repo/.git/config; echo SCANNED")
	if !strings.Contains(out, "SCANNED") || !strings.Contains(out, "FILES::END\n0\n") {
		t.Fatalf("token material in the sandbox: %s", out)
	}
	if strings.Contains(out, "extraheader") || strings.Contains(out, "Authorization") {
		t.Fatalf(".git/config carries a credential: %s", out)
	}

	// Unrestricted networking: another path of the host is reached, with
	// no Authorization added.
	l.envID = l.environment("git-open", map[string]any{"type": "cloud", "networking": map[string]any{"type": "unrestricted"}})
	open := l.sessionWith(agent, anthropic.BetaSessionNewParamsResourceUnion{OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{
		URL: repoURL, AuthorizationToken: rotated,
	}})
	sid = open.ID
	before = gs.requests()
	out = run("git ls-remote " + gs.srv.URL + "/other.git 2>&1; cat /workspace/repo/feature.txt")
	got := strings.TrimPrefix(gs.requests(), before)
	if !strings.Contains(out, "FEATURE-BRANCH") || !strings.Contains(got, "/other.git/info/refs auth=\n") && !strings.HasSuffix(got, "/other.git/info/refs auth=") {
		t.Fatalf("another path under unrestricted networking: %s\nserver saw: %s", out, got)
	}

	// Nothing else shows the token: responses, the event logs, the
	// server's logs, the data dir (the store keeps it sealed).
	for _, id := range []string{sess.ID, open.ID} {
		for _, e := range l.history(id) {
			seen = append(seen, e.RawJSON())
		}
		got, _ := l.c.Beta.Sessions.Get(ctx, id, anthropic.BetaSessionGetParams{})
		page, _ := l.c.Beta.Sessions.Resources.List(ctx, id, anthropic.BetaSessionResourceListParams{})
		seen = append(seen, got.RawJSON(), page.RawJSON())
	}
	seen = append(seen, sess.RawJSON(), open.RawJSON(), l.s.Logs())
	noToken(t, l.s.DataDir, seen, token, rotated)
}

// noToken fails if a token (or its Basic form) is in any of texts or in a
// file under dataDir.
func noToken(t *testing.T, dataDir string, texts []string, tokens ...string) {
	t.Helper()
	var needles []string
	for _, tok := range tokens {
		needles = append(needles, tok, base64.StdEncoding.EncodeToString([]byte("x-access-token:"+tok)))
	}
	for i, text := range texts {
		for _, n := range needles {
			if strings.Contains(text, n) {
				t.Fatalf("token visible in item %d: %s", i, text)
			}
		}
	}
	err := filepath.WalkDir(dataDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, n := range append(needles, "x-access-token") {
			if strings.Contains(string(b), n) {
				t.Errorf("token material %q found in %s", n, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A clone the repository
// refuses is a repository_authentication_error session.error (retrying,
// naming the repository, no token in it) in the session's log and stream;
// the session goes on without the repository (bash works). Each update of
// the resource retries the clone at the session's next input: a second
// wrong token is reported again, the right one produces the repository.
func TestGitCloneFailureAndRotation(t *testing.T) {
	const token = "ghs_GOOD-TOKEN-1b2c"
	const wrong = "ghs_WRONG-TOKEN-77aa"
	const wrong2 = "ghs_WRONG-TOKEN-2-88bb"
	f := newGitFixture(t)
	gs := newGitRepoServer(t, f.root, token, false)
	l := startLoop(t, modeltest.NewAnthropic(t, modeltest.Options{APIKey: "upstream-key"}), []string{"HANGAR_EGRESS_ALLOW_INTERNAL=127.0.0.0/8"})
	l.envID = l.environment("git", map[string]any{"type": "cloud", "networking": map[string]any{"type": "unrestricted"}})
	repoURL := gs.srv.URL + "/repo.git"
	bad := l.sessionWith(l.agent(toolset), anthropic.BetaSessionNewParamsResourceUnion{OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{
		URL: repoURL, AuthorizationToken: wrong,
	}})
	badOut := l.bash(bad.ID, "echo STILL-WORKS; ls -A /workspace")
	if strings.Contains(badOut, `"is_error":true`) || !strings.Contains(badOut, "STILL-WORKS") || slices.Contains(strings.Fields(toolText(t, badOut)), "repo") {
		t.Fatalf("bash in a session whose clone failed: %s", badOut)
	}
	first := waitRepoError(t, l, bad.ID, 1)
	checkRepoError(t, first, "repository_authentication_error", repoURL)

	// A second wrong token: retried at the next input, reported again, on
	// the stream too.
	update := func(tok string) {
		t.Helper()
		if _, err := l.c.Beta.Sessions.Resources.Update(context.Background(), bad.Resources[0].ID, anthropic.BetaSessionResourceUpdateParams{SessionID: bad.ID, AuthorizationToken: tok}); err != nil {
			t.Fatal(err)
		}
	}
	update(wrong2)
	col := l.stream(bad.ID)
	again := l.bash(bad.ID, "echo AGAIN")
	if !strings.Contains(again, "AGAIN") || strings.Contains(again, `"is_error":true`) {
		t.Fatalf("bash after a failed retry: %s", again)
	}
	se, _ := col.waitType(t, 0, "session.error")
	col.cancel()
	if e := se.AsSessionError(); e.Error.Type != "repository_authentication_error" || e.Error.AsRepositoryAuthenticationError().RepositoryURL != repoURL {
		t.Fatalf("streamed session.error = %s", se.RawJSON())
	}

	update(token)
	out := toolText(t, l.bash(bad.ID, "cat /workspace/repo/README"))
	if !strings.Contains(out, "MAIN-README-2") {
		t.Fatalf("clone after rotation: %s", out)
	}
	var seen []string
	for _, e := range l.history(bad.ID) {
		seen = append(seen, e.RawJSON())
	}
	noToken(t, l.s.DataDir, append(seen, badOut, again, out, l.s.Logs()), token, wrong, wrong2)
}

// A repository mounted outside /workspace (cloned
// on the host) whose branch does not exist is a repository_checkout_error;
// the session's tools work, the mount path stays absent.
func TestGitHostCloneCheckoutError(t *testing.T) {
	const token = "ghs_HOST-TOKEN-4d4d"
	f := newGitFixture(t)
	gs := newGitRepoServer(t, f.root, token, false)
	l := startLoop(t, modeltest.NewAnthropic(t, modeltest.Options{APIKey: "upstream-key"}), []string{"HANGAR_EGRESS_ALLOW_INTERNAL=127.0.0.0/8"})
	l.envID = l.environment("git", map[string]any{"type": "cloud", "networking": map[string]any{"type": "limited"}})
	repoURL := gs.srv.URL + "/repo.git"
	sess := l.sessionWith(l.agent(toolset), anthropic.BetaSessionNewParamsResourceUnion{OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{
		URL: repoURL, AuthorizationToken: token, MountPath: anthropic.String("/repos/missing"),
		Checkout: anthropic.BetaManagedAgentsGitHubRepositoryResourceParamsCheckoutUnion{OfBranch: &anthropic.BetaManagedAgentsBranchCheckoutParam{Name: "no-such-branch"}},
	}})
	out := l.bash(sess.ID, "echo ALIVE; ls /repos/missing 2>&1; true")
	if strings.Contains(out, `"is_error":true`) || !strings.Contains(out, "ALIVE") || !strings.Contains(out, "No such file") {
		t.Fatalf("bash in a session whose host clone failed: %s", out)
	}
	e := waitRepoError(t, l, sess.ID, 1)
	checkRepoError(t, e, "repository_checkout_error", repoURL)
	if msg := e.Error.Message; !strings.Contains(msg, "no-such-branch") || strings.Contains(msg, l.s.DataDir) {
		t.Fatalf("message = %q", msg)
	}
}

// waitRepoError waits until the session's log holds n session.error
// events and returns the last (reports are committed in the background).
func waitRepoError(t *testing.T, l *loop, sessionID string, n int) anthropic.BetaManagedAgentsSessionErrorEvent {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		errs := l.history(sessionID, "session.error")
		if len(errs) >= n {
			return errs[len(errs)-1].AsSessionError()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session.error in the log after 20s (%d of %d)", len(errs), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkRepoError checks a repository_* error object through the SDK's
// union: its type, repository_url, retry_status retrying, a message.
func checkRepoError(t *testing.T, e anthropic.BetaManagedAgentsSessionErrorEvent, typ, repoURL string) {
	t.Helper()
	var m struct {
		Type          string  `json:"type"`
		Message       string  `json:"message"`
		RepositoryURL *string `json:"repository_url"`
		RetryStatus   struct {
			Type string `json:"type"`
		} `json:"retry_status"`
	}
	if err := json.Unmarshal([]byte(e.Error.RawJSON()), &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != typ || m.RepositoryURL == nil || *m.RepositoryURL != repoURL || m.RetryStatus.Type != "retrying" || m.Message == "" {
		t.Fatalf("session.error = %s, want %s for %s, retrying", e.RawJSON(), typ, repoURL)
	}
	if e.Error.Type != typ {
		t.Fatalf("SDK union type = %q", e.Error.Type)
	}
	var url string
	switch typ {
	case "repository_authentication_error":
		url = e.Error.AsRepositoryAuthenticationError().RepositoryURL
	case "repository_checkout_error":
		url = e.Error.AsRepositoryCheckoutError().RepositoryURL
	case "repository_not_found_error":
		url = e.Error.AsRepositoryNotFoundError().RepositoryURL
	case "repository_forbidden_error":
		url = e.Error.AsRepositoryForbiddenError().RepositoryURL
	default:
		url = e.Error.AsRepositoryCloneError().RepositoryURL
	}
	if url != repoURL {
		t.Fatalf("SDK repository_url = %q", url)
	}
}

// A session whose repository is cloned into /workspace
// adopts a pooled sandbox (the clone runs inside it after adoption).
func TestGitRepositoryFromPooledSandbox(t *testing.T) {
	const token = "ghs_POOL-TOKEN-0c0c"
	f := newGitFixture(t)
	gs := newGitRepoServer(t, f.root, token, false)
	l := startLoop(t, modeltest.NewAnthropic(t, modeltest.Options{APIKey: "upstream-key"}),
		[]string{"HANGAR_EGRESS_ALLOW_INTERNAL=127.0.0.0/8", "HANGAR_LOG_LEVEL=debug"}, "--sandbox-pool", "1")
	l.envID = l.environment("git", map[string]any{"type": "cloud", "networking": map[string]any{"type": "limited"}})
	agent := l.agent(toolset)
	time.Sleep(2 * time.Second) // let the pool start its sandbox
	sess := l.sessionWith(agent, anthropic.BetaSessionNewParamsResourceUnion{OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{
		URL: gs.srv.URL + "/repo.git", AuthorizationToken: token,
	}})
	out := toolText(t, l.bash(sess.ID, "cat /workspace/repo/README"))
	if !strings.Contains(out, "MAIN-README-2") {
		t.Fatalf("clone in a pooled sandbox: %s", out)
	}
	if !strings.Contains(l.s.Logs(), "sandbox pool: adopted") {
		t.Fatalf("the session did not adopt the pooled sandbox; logs:\n%s", l.s.Logs())
	}
}
