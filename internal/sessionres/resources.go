// Package sessionres owns a session's resources and outputs on the host
// side of its sandbox: file mounts, repository clones (inside the sandbox
// or on the host), the classification of failed clones into session errors
// scrubbed of secrets, and the capture of what the agent writes under
// /mnt/session/outputs into the Files API.
//
//   - file resources are mounted read-only from the bytes of their
//     session-scoped copy (the blob file), at their mount_path. A mount_path
//     under /workspace cannot be a mount (the workspace is the agent's), so
//     the file is copied there once, mode 0444, which the agent could chmod:
//     only mounts outside /workspace are truly read-only.
//   - github_repository resources: the token never reaches the sandbox or
//     any git process. The session's egress proxy (internal/egress, repo.go)
//     adds it to requests under the repository's path on its origin, over
//     HTTP and HTTPS (intercepted with the session CA), and reads it from
//     the store at every request, so a token rotated through the resource
//     update API applies to the next git request of a running sandbox. Git
//     from bash in the sandbox (pull, fetch, push) therefore just works.
//     The repository's paths are allowed whatever the environment's
//     networking; its host's other paths obey it.
//     A mount_path under /workspace is cloned once, inside the started
//     sandbox before it serves its first tool call (sandbox.WithSetup): git
//     runs as the sandbox's user with its limits and its proxy variables,
//     the files are the agent's on every backend, and such a session can
//     adopt a pooled sandbox (its workspace is still empty when it starts).
//     Elsewhere the clone is made on the host before the sandbox starts, by
//     a git process pointed at the session's proxy through a private
//     loopback listener with its own one-time proxy credentials (egress
//     PrivateListener), kept under the data dir and mounted read-only. A
//     marker per resource records a finished clone. A failed clone does
//     not fail the sandbox: it is classified from git's output (HTTP 401,
//     403, 404, a branch or commit that cannot be checked out, anything
//     else) into a retrying repository_* session.error with the token and
//     any URL credentials scrubbed from the message, and the session goes
//     on without the repository. It is tried again at the sandbox's next
//     start, and after the resource is updated (a rotated token) at the
//     session's next input, which restarts the sandbox around its
//     workspace (repoRetries, CurrentKey).
//   - resources added or removed while a sandbox runs take effect at the
//     session's next tool call: the sandbox is restarted around the same
//     workspace (the shell's state is reset), since mounts cannot change
//     under a live bubblewrap sandbox.
//   - memory_store resources are directories at /mnt/memory/<name>,
//     synced back into their store after each tool call (memory.go).
//   - outputs: what the agent writes under /mnt/session/outputs is filed
//     into the Files API (scope = the session) before each end_turn idle.
//     A path is filed again only when its content changed (a new file each
//     time; the older one stays); nested paths keep their base name as the
//     filename; deleting from the directory does not delete the file.
package sessionres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hangarhq/hangar/internal/blob"
	"github.com/hangarhq/hangar/internal/egress"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/files"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

const (
	// maxOutputBytes bounds one captured output file.
	maxOutputBytes = 512 << 20
	// maxOutputsPerCapture bounds the files looked at per capture.
	maxOutputsPerCapture = 1000
	cloneTimeout         = 10 * time.Minute
	noFollow             = syscall.O_NOFOLLOW
)

// Egress is the per-session side of the egress proxy, as far as host-side
// clones need it: the directory holding each session's CA bundle.
type Egress interface {
	Dir(sessionID string) string
	// Session is the session's proxy session, nil when it has none.
	Session(sessionID string) *egress.Session
}

// Config is what Resources needs.
type Config struct {
	// DataDir holds the clone markers, host-side clones and outputs.
	DataDir string
	Store   store.Store
	Blobs   *blob.FS
	// Egress is what host-side clones go through; without it such clones
	// fail (and are reported).
	Egress Egress
	// RepoToken returns a repository resource's token ("" when none was
	// given), only to scrub it from the errors of failed clones.
	RepoToken func(ctx context.Context, ws, resourceID string) (string, error)
	Logger    *slog.Logger
}

// Resources prepares a session's resources for its sandbox and captures
// its outputs. Failed clones are queued as session errors for a Reporter.
type Resources struct {
	dataDir string
	st      store.Store
	blobs   *blob.FS
	egress  Egress
	token   func(ctx context.Context, ws, resourceID string) (string, error)
	log     *slog.Logger
	// repos are the failed clones to try again (repoRetries).
	repos repoRetries
	// memLocks serializes each session's memory syncs (memory.go).
	memLocks sync.Map
	// snaps are the memory stores' snapshots (snapshot.go).
	snaps snapshots
	// noOverlay is set once an overlay mount failed for want of the
	// right (overlay.go): read_write memory mounts are then copies.
	noOverlay atomic.Bool
	// failures are the session errors of failed clones, waiting for the
	// Reporter (built after the engine, which needs the sandboxes).
	failures outbox
}

// New returns the resources of the sessions' sandboxes.
func New(cfg Config) *Resources {
	return &Resources{dataDir: cfg.DataDir, st: cfg.Store, blobs: cfg.Blobs, egress: cfg.Egress,
		token: cfg.RepoToken, log: cfg.Logger, failures: outbox{wake: make(chan struct{}, 1)}}
}

// resourceDir is where the server keeps a session's clone markers and
// clones mounted outside /workspace.
func (x *Resources) resourceDir(sessionID string) string {
	return filepath.Join(x.dataDir, "session-resources", sessionID)
}

// outputDir is the host side of a session's /mnt/session/outputs.
func (x *Resources) outputDir(sessionID string) string {
	return filepath.Join(x.dataDir, "outputs", sessionID)
}

// CurrentKey is the mount key of the session's resources as they are now:
// one that differs from the key its sandbox started with (Prepare's) means
// the sandbox must restart to mount them.
func (x *Resources) CurrentKey(ctx context.Context, ws, sessionID string) (string, error) {
	rs, err := loadResources(ctx, x.st, ws, sessionID)
	if err != nil {
		return "", err
	}
	return x.mountKey(rs), nil
}

// Remove deletes what the server kept for a destroyed session.
func (x *Resources) Remove(sessionID string) {
	x.repos.forget(sessionID)
	x.releaseMemory(sessionID)
	x.memLocks.Delete(sessionID)
	for _, d := range []string{x.resourceDir(sessionID), x.outputDir(sessionID), x.memoryRoot(sessionID)} {
		if err := os.RemoveAll(d); err != nil {
			x.log.Warn("remove session directory", "dir", d, "err", err)
		}
	}
}

func loadResources(ctx context.Context, st store.Store, ws, sessionID string) ([]wire.SessionResource, error) {
	sess, err := st.GetSession(ctx, ws, sessionID)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Resources []wire.SessionResource `json:"resources"`
	}
	if err := json.Unmarshal(sess.Data, &doc); err != nil {
		return nil, err
	}
	return doc.Resources, nil
}

// mountKey identifies the file mounts a sandbox was started with, and the
// repositories that failed to clone and were updated since (repoRetries):
// a key that differs from the one the sandbox started with restarts it at
// the session's next input, around the same workspace, which mounts the
// new files and tries those clones again.
func (x *Resources) mountKey(rs []wire.SessionResource) string {
	var parts []string
	for _, r := range rs {
		switch r.Type {
		case wire.ResourceFile:
			parts = append(parts, r.FileID+"@"+r.MountPath)
		case wire.ResourceGitHubRepository:
			if x.repos.updatedSinceFailure(r) {
				parts = append(parts, "retry "+r.ID+"@"+r.UpdatedAt.UTC().Format(time.RFC3339Nano))
			}
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "\n")
}

// underWorkspace returns the path below /workspace, or ok false.
func underWorkspace(target string) (string, bool) {
	rel, ok := strings.CutPrefix(target, sandbox.WorkspacePath+"/")
	return rel, ok && rel != ""
}

// Prepare adds the session's resources rs to spec (mounts, clones, copies)
// and returns the mount key of what it mounted.
func (x *Resources) Prepare(ctx context.Context, ws string, spec *sandbox.Spec, rs []wire.SessionResource) (string, error) {
	spec.OutputDir = x.outputDir(spec.SessionID)
	for _, r := range rs {
		switch r.Type {
		case wire.ResourceFile:
			if err := x.prepareFile(spec, r); err != nil {
				return "", fmt.Errorf("file resource %s: %w", r.ID, err)
			}
		case wire.ResourceGitHubRepository:
			// This start tries every repository not cloned yet, so a
			// failure recorded before is no longer news to mountKey.
			x.repos.attempt(spec.SessionID, r)
			if err := x.prepareRepo(ctx, spec, r); err != nil {
				// The session goes on without it.
				x.cloneFailed(ctx, ws, spec.SessionID, r, err)
			}
		case wire.ResourceMemoryStore:
			if err := x.prepareMemory(ctx, ws, spec, r); err != nil {
				return "", fmt.Errorf("memory store resource %s: %w", r.ID, err)
			}
		}
	}
	return x.mountKey(rs), nil
}

func (x *Resources) prepareFile(spec *sandbox.Spec, r wire.SessionResource) error {
	src, err := x.blobs.Path(files.BlobKey(r.FileID))
	if err != nil {
		return err
	}
	if _, err := os.Stat(src); err != nil {
		// The copy was deleted through the Files API: the session goes on
		// without it rather than not at all.
		x.log.Warn("file resource content missing; not mounted", "session", spec.SessionID, "resource", r.ID, "file_id", r.FileID)
		return nil
	}
	rel, inWS := underWorkspace(r.MountPath)
	if !inWS {
		spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: src, Target: r.MountPath})
		return nil
	}
	marker := filepath.Join(x.resourceDir(spec.SessionID), r.ID+".placed")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	dst, err := safeWorkspacePath(spec.WorkspaceDir, rel)
	if err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	// O_EXCL|O_NOFOLLOW: never through a link the agent planted.
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o444)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return writeMarker(marker)
}

// safeWorkspacePath joins rel under the workspace, refusing symlinks on
// the way: the workspace is written by the agent, and the server must not
// follow its links out of it.
func safeWorkspacePath(wsDir, rel string) (string, error) {
	cur := wsDir
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		if p == "" || p == "." || p == ".." {
			return "", fmt.Errorf("mount_path: invalid segment %q", p)
		}
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if i == len(parts)-1 {
			return "", fmt.Errorf("mount_path: %s already exists in the workspace", path.Join(sandbox.WorkspacePath, rel))
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("mount_path: %s is not a directory in the workspace", path.Join(sandbox.WorkspacePath, path.Join(parts[:i+1]...)))
		}
	}
	return cur, nil
}

func writeMarker(p string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return os.WriteFile(p, nil, 0o600)
}

// prepareRepo handles a repository at sandbox-spec time. One under
// /workspace is cloned later, inside the started sandbox (SetupRepos); one
// elsewhere is cloned now on the host, through the session's proxy, into a
// directory mounted read-only at its mount_path.
func (x *Resources) prepareRepo(ctx context.Context, spec *sandbox.Spec, r wire.SessionResource) error {
	if _, inWS := underWorkspace(r.MountPath); inWS {
		return nil
	}
	dir := x.resourceDir(spec.SessionID)
	kept := filepath.Join(dir, r.ID)
	marker := filepath.Join(dir, r.ID+".cloned")
	if _, err := os.Stat(marker); err == nil {
		spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: kept, Target: r.MountPath})
		return nil
	}
	if x.egress == nil {
		return errors.New("no egress proxy to clone through")
	}
	s := x.egress.Session(spec.SessionID)
	if s == nil {
		return errors.New("the session has no egress proxy")
	}
	pl, err := s.ListenPrivate()
	if err != nil {
		return err
	}
	defer pl.Close()
	tmp := filepath.Join(dir, r.ID+".tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	home, err := os.MkdirTemp("", "hangar-git-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	cctx, cancel := context.WithTimeout(ctx, cloneTimeout)
	defer cancel()
	caFile := filepath.Join(x.egress.Dir(spec.SessionID), sandbox.EgressCABundleName)
	if err := gitClone(cctx, hostGit(gitEnv(pl.URL(), caFile, home), home), r.URL, r.Checkout, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		// Git names the directory it cloned into: the session knows it by
		// its mount path, not by the server's.
		var ge *gitError
		if errors.As(err, &ge) {
			ge.out = strings.ReplaceAll(ge.out, tmp, r.MountPath)
		}
		return err
	}
	if err := os.Rename(tmp, kept); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: kept, Target: r.MountPath})
	x.repos.cloned(r.ID)
	return writeMarker(marker)
}

// SetupRepos clones the session's repositories under /workspace inside its
// started sandbox (sandbox.WithSetup), before its first tool call: git runs
// as the sandbox's user, with the sandbox's limits, and reaches the
// repository through the session's egress proxy, which adds the token. The
// files belong to the sandbox's user on every backend, and since the
// workspace is still empty when the sandbox starts, such sessions can
// adopt a pooled sandbox. A marker on the host records a finished clone,
// so a re-provisioned sandbox does not clone again.
func (x *Resources) SetupRepos(ctx context.Context, ws, sessionID string, sb sandbox.Sandbox) error {
	rs, err := loadResources(ctx, x.st, ws, sessionID)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Type != wire.ResourceGitHubRepository {
			continue
		}
		if _, inWS := underWorkspace(r.MountPath); !inWS {
			continue
		}
		marker := filepath.Join(x.resourceDir(sessionID), r.ID+".cloned")
		if _, err := os.Stat(marker); err == nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, cloneTimeout)
		err := gitClone(cctx, sandboxGit(sb), r.URL, r.Checkout, r.MountPath)
		var ce *checkoutError
		if errors.As(err, &ce) {
			// A clone whose checkout failed is complete otherwise: it must
			// not pass for the repository, nor stand in the way of the next
			// attempt. (Only then: a failed clone removes what it made, and
			// a directory that was there before is the agent's.)
			_, _ = sandbox.Run(cctx, sb, sandbox.ExecRequest{Argv: []string{"rm", "-rf", "--", r.MountPath}, Dir: sandbox.WorkspacePath, Stdout: io.Discard, Stderr: io.Discard, Timeout: time.Minute})
		}
		cancel()
		if err != nil {
			// The sandbox serves without the repository; the error is the
			// session's to see, not its tool calls'.
			x.cloneFailed(ctx, ws, sessionID, r, err)
			continue
		}
		x.repos.cloned(r.ID)
		if err := writeMarker(marker); err != nil {
			return err
		}
	}
	return nil
}

// cloneFailed reports a repository that could not be cloned as a
// repository_* session.error (retrying: the session continues without it)
// and remembers it for a retry once the resource is updated. Neither the
// event nor the log line carries the token or URL credentials.
func (x *Resources) cloneFailed(ctx context.Context, ws, sessionID string, r wire.SessionResource, err error) {
	x.repos.failed(sessionID, r)
	var secrets []string
	if x.token != nil {
		if tok, terr := x.token(ctx, ws, r.ID); terr == nil && tok != "" {
			secrets = append(secrets, tok)
		}
	}
	se := repoSessionError(r, err, secrets...)
	x.log.Warn("repository clone failed; the session continues without it", "session", sessionID, "resource", r.ID, "type", se.Type, "err", se.Message)
	// Not reported under the caller: the setup runs while tool calls wait
	// for the sandbox, and the session's lock must never wait on that.
	x.failures.put(failure{ws: ws, sessionID: sessionID, resourceID: r.ID, err: se})
}

// repoSessionError is the session.error of a failed clone of r, retrying
// (the session goes on without the repository): classified from git's
// output, with secrets and any credentials in URLs scrubbed from the
// message.
func repoSessionError(r wire.SessionResource, err error, secrets ...string) wire.SessionError {
	typ := classifyClone(err)
	what := map[string]string{
		wire.ErrRepositoryAuthentication: "the repository refused its authorization_token",
		wire.ErrRepositoryForbidden:      "access to the repository is forbidden",
		wire.ErrRepositoryNotFound:       "the repository was not found",
		wire.ErrRepositoryCheckout:       "the requested checkout failed",
		wire.ErrRepositoryClone:          "the clone failed",
	}[typ]
	url := scrubURLCredentials(r.URL)
	msg := fmt.Sprintf("could not clone github_repository resource %s (%s) into %s: %s; the session continues without it (%v)", r.ID, url, r.MountPath, what, err)
	msg = scrubSecrets(msg, secrets...)
	se := wire.NewSessionError(typ, wire.RetryRetrying, msg)
	se.RepositoryURL = &url
	return se
}

// classifyClone names the repository_* error type of a failed clone from
// what git printed (its HTTP status or message).
func classifyClone(err error) string {
	var ce *checkoutError
	if errors.As(err, &ce) {
		return wire.ErrRepositoryCheckout
	}
	var ge *gitError
	if !errors.As(err, &ge) {
		return wire.ErrRepositoryClone
	}
	out := strings.ToLower(ge.out)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(out, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("remote branch") && has("not found"), has("couldn't find remote ref"), has("reference is not a tree"), has("did not match any"):
		// `--branch` naming a branch the repository does not have.
		return wire.ErrRepositoryCheckout
	case has("error: 401", "http code 401", "authentication failed", "could not read username", "could not read password", "access denied"):
		// 401: git then wants a username it may not prompt for.
		return wire.ErrRepositoryAuthentication
	case has("error: 403", "http code 403"):
		return wire.ErrRepositoryForbidden
	case has("error: 404", "http code 404", "not found", "does not appear to be a git repository"):
		return wire.ErrRepositoryNotFound
	}
	return wire.ErrRepositoryClone
}

// urlCredentials matches the userinfo of URLs in git's output.
var urlCredentials = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'"]*@`)

// scrubURLCredentials removes user:password@ from the URLs in s.
func scrubURLCredentials(s string) string { return urlCredentials.ReplaceAllString(s, "$1") }

// scrubSecrets removes URL credentials and every secret from s.
func scrubSecrets(s string, secrets ...string) string {
	s = scrubURLCredentials(s)
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// repoRetries remembers repositories whose clone failed, with the
// resource's updated_at at the failed attempt, so that mountKey can tell
// when such a resource was updated since (its token rotated): the
// dispatcher then restarts the sandbox at the session's next input, and
// the new sandbox's start clones it again. Resource ids are unique across
// workspaces, so one table serves the server.
type repoRetries struct {
	mu sync.Mutex
	m  map[string]repoFailure // resource id →
}

type repoFailure struct {
	session   string
	updatedAt time.Time
}

// failed records a failed clone of r.
func (p *repoRetries) failed(sessionID string, r wire.SessionResource) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]repoFailure{}
	}
	p.m[r.ID] = repoFailure{session: sessionID, updatedAt: r.UpdatedAt}
}

// attempt records that a sandbox start tries r again as it is now: an
// earlier failure is then no reason for another restart.
func (p *repoRetries) attempt(sessionID string, r wire.SessionResource) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[r.ID]; ok {
		p.m[r.ID] = repoFailure{session: sessionID, updatedAt: r.UpdatedAt}
	}
}

// cloned forgets a repository that is now in place.
func (p *repoRetries) cloned(resourceID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, resourceID)
}

// updatedSinceFailure reports whether r failed to clone and was updated
// after that attempt.
func (p *repoRetries) updatedSinceFailure(r wire.SessionResource) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.m[r.ID]
	return ok && !f.updatedAt.Equal(r.UpdatedAt)
}

// forget drops a deleted session's entries.
func (p *repoRetries) forget(sessionID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, f := range p.m {
		if f.session == sessionID {
			delete(p.m, id)
		}
	}
}

// gitOutputLimit bounds what is kept of a git command's output (its error
// quotes the first 2,000 bytes of it).
const gitOutputLimit = 64 << 10

// headBuffer keeps the first n bytes written to it and drops the rest,
// without failing the writer: a command that prints more runs on.
type headBuffer struct {
	bytes.Buffer
	n int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.n - h.Len(); room > 0 {
		h.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// gitRunner runs one git command; its error carries git's output.
type gitRunner func(ctx context.Context, args ...string) error

// gitError is a failed git command: its subcommand, how it ended and
// what it printed, bounded.
type gitError struct {
	sub string
	err error
	out string
}

func (e *gitError) Error() string { return fmt.Sprintf("git %s: %v: %s", e.sub, e.err, e.out) }
func (e *gitError) Unwrap() error { return e.err }

// checkoutError is a clone that succeeded but could not check out the
// requested commit.
type checkoutError struct{ err error }

func (e *checkoutError) Error() string { return e.err.Error() }
func (e *checkoutError) Unwrap() error { return e.err }

// gitErr is the error of a failed git command.
func gitErr(args []string, err error, out string) error {
	sub := ""
	for i := 0; i < len(args); i++ {
		if args[i] == "-C" || args[i] == "-c" {
			i++
			continue
		}
		sub = args[i]
		break
	}
	msg := strings.TrimSpace(out)
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	return &gitError{sub: sub, err: err, out: msg}
}

// gitEnv is the environment of a host git process: nothing of the user's
// or system's git configuration, no prompts, only the web transports, and
// the session's proxy (a private listener with its own credentials) with
// the session CA, set through GIT_CONFIG_* so nothing is written to a file.
// The repository's token is not in it: the proxy adds it.
func gitEnv(proxyURL, caFile, home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=C",
		"GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		// Only the web transports, even on a redirect.
		"GIT_ALLOW_PROTOCOL=http:https",
		"GIT_SSL_CAINFO=" + caFile,
		"GIT_CONFIG_COUNT=2",
		"GIT_CONFIG_KEY_0=http.proxy", "GIT_CONFIG_VALUE_0=" + proxyURL,
		"GIT_CONFIG_KEY_1=http.proxyAuthMethod", "GIT_CONFIG_VALUE_1=basic",
	}
}

// hostGit runs git on the host with env.
func hostGit(env []string, dir string) gitRunner {
	return func(ctx context.Context, args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Env = env
		cmd.Dir = dir
		out := &headBuffer{n: gitOutputLimit}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return gitErr(args, err, out.String())
		}
		return nil
	}
}

// sandboxGit runs git inside sb with the sandbox's environment (its proxy
// variables and CA bundle), without prompts and only over the web
// transports.
func sandboxGit(sb sandbox.Sandbox) gitRunner {
	return func(ctx context.Context, args ...string) error {
		out := &headBuffer{n: gitOutputLimit}
		argv := append([]string{"env", "GIT_TERMINAL_PROMPT=0", "GIT_ALLOW_PROTOCOL=http:https", "git"}, args...)
		st, err := sandbox.Run(ctx, sb, sandbox.ExecRequest{Argv: argv, Dir: sandbox.WorkspacePath, Stdout: out, Stderr: out, Timeout: cloneTimeout})
		text := out.String()
		switch {
		case err != nil:
			return gitErr(args, err, text)
		case st.TimedOut:
			return gitErr(args, errors.New("timed out"), text)
		case st.Signal != "":
			return gitErr(args, fmt.Errorf("killed by %s", st.Signal), text)
		case st.Code != 0:
			return gitErr(args, fmt.Errorf("exit status %d", st.Code), text)
		}
		return nil
	}
}

// gitClone clones repoURL into dst with run and checks out c (nil: the
// default branch).
func gitClone(ctx context.Context, run gitRunner, repoURL string, c *wire.Checkout, dst string) error {
	args := []string{"clone", "--quiet"}
	switch {
	case c != nil && c.Type == wire.CheckoutBranch:
		args = append(args, "--branch", c.Name)
	case c != nil && c.Type == wire.CheckoutCommit:
		args = append(args, "--no-checkout")
	}
	if err := run(ctx, append(args, "--", repoURL, dst)...); err != nil {
		return err
	}
	if c != nil && c.Type == wire.CheckoutCommit {
		if err := run(ctx, "-C", dst, "checkout", "--quiet", "--detach", c.SHA); err != nil {
			// Not on any branch the clone fetched: ask for the commit.
			if ferr := run(ctx, "-C", dst, "fetch", "--quiet", "origin", c.SHA); ferr != nil {
				return &checkoutError{ferr}
			}
			if err := run(ctx, "-C", dst, "checkout", "--quiet", "--detach", c.SHA); err != nil {
				return &checkoutError{err}
			}
		}
	}
	return nil
}

// ---- outputs ---------------------------------------------------------------

// outputRecord is what is remembered of a captured output path.
type outputRecord struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	SHA256  string `json:"sha256"`
	FileID  string `json:"file_id"`
}

// Capture files the session's new or changed outputs. read copies a path
// out of the sandbox (so symlinks resolve inside it); it is only called
// when there is something to read.
func (x *Resources) Capture(ctx context.Context, ws, sessionID string, read func(ctx context.Context, p string, w io.Writer) error) error {
	root := x.outputDir(sessionID)
	type entry struct {
		rel string
		fi  fs.FileInfo
	}
	var found []entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		if len(found) >= maxOutputsPerCapture {
			return filepath.SkipAll
		}
		if d.IsDir() || !(d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		found = append(found, entry{filepath.ToSlash(rel), fi})
		return nil
	})
	if err != nil || len(found) == 0 {
		return err
	}
	var errs []error
	for _, e := range found {
		if err := x.captureOne(ctx, ws, sessionID, e.rel, e.fi, read); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.rel, err))
		}
	}
	return errors.Join(errs...)
}

func (x *Resources) captureOne(ctx context.Context, ws, sessionID, rel string, fi fs.FileInfo, read func(ctx context.Context, p string, w io.Writer) error) error {
	rec, err := x.st.GetByName(ctx, ws, store.KindSessionOutput, sessionID, rel)
	exists := err == nil
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	var prev outputRecord
	if exists {
		_ = json.Unmarshal(rec.Data, &prev)
		// A link's own size and time say nothing of its target.
		if fi.Mode().IsRegular() && prev.Size == fi.Size() && prev.ModTime == fi.ModTime().UnixNano() {
			return nil
		}
	}
	if fi.Mode().IsRegular() && fi.Size() > maxOutputBytes {
		x.log.Warn("session output too large to capture", "session", sessionID, "path", rel, "size", fi.Size())
		return nil
	}
	tmp, err := os.CreateTemp("", "hangar-output-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	lw := &limitWriter{w: io.MultiWriter(tmp, h), n: maxOutputBytes}
	if err := read(ctx, path.Join(sandbox.OutputsPath, rel), lw); err != nil {
		if lw.over {
			x.log.Warn("session output too large to capture", "session", sessionID, "path", rel)
			return nil
		}
		return err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	next := outputRecord{Path: rel, Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), SHA256: sum, FileID: prev.FileID}
	if !exists || prev.SHA256 != sum {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		meta, err := files.Create(ctx, x.st, x.blobs, files.NewFile{Workspace: ws, ScopeID: sessionID, Filename: path.Base(rel), Content: tmp})
		if err != nil {
			return err
		}
		next.FileID = meta.ID
	}
	data, err := json.Marshal(next)
	if err != nil {
		return err
	}
	if !exists {
		return x.st.Insert(ctx, &store.Record{Kind: store.KindSessionOutput, ID: ids.New("sesout_"), Workspace: ws, Parent: sessionID, Name: rel, Data: data})
	}
	rec.Data, rec.UpdatedAt = data, wire.Now()
	return x.st.Update(ctx, &rec)
}

// limitWriter fails once more than n bytes were written.
type limitWriter struct {
	w    io.Writer
	n    int64
	over bool
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		l.over = true
		return 0, errors.New("output exceeds the capture limit")
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}
