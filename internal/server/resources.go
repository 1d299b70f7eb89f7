package server

// Session resources and outputs on the host side of a sandbox (RES-*,
// OUT-*):
//   - file resources are mounted read-only from the bytes of their
//     session-scoped copy (the blob file), at their mount_path. A mount_path
//     under /workspace cannot be a mount (the workspace is the agent's), so
//     the file is copied there once, mode 0444, which the agent could chmod:
//     only mounts outside /workspace are truly read-only.
//   - github_repository resources are cloned once, before the sandbox first
//     starts, by a git process the server runs on the host. The token reaches
//     that one process through its environment (GIT_CONFIG_* setting an
//     http.<origin>.extraHeader), so it is never in .git/config, the
//     sandbox, the event log or a response. A mount_path under /workspace is
//     cloned into the workspace (writable); elsewhere the clone is kept
//     under the data dir and mounted read-only. Git from inside the sandbox
//     with a credential path the server controls (RES-16) is a later step:
//     today the sandbox's git has no token.
//   - resources added or removed while a sandbox runs take effect at the
//     session's next tool call: the sandbox is restarted around the same
//     workspace (the shell's state is reset), since mounts cannot change
//     under a live bubblewrap sandbox.
//   - outputs: what the agent writes under /mnt/session/outputs is filed
//     into the Files API (scope = the session) before each end_turn idle.
//     A path is filed again only when its content changed (a new file each
//     time; the older one stays); nested paths keep their base name as the
//     filename; deleting from the directory does not delete the file.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hangarhq/hangar/internal/api/files"
	"github.com/hangarhq/hangar/internal/blob"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
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

// sessionResources prepares a session's resources for its sandbox and
// captures its outputs.
type sessionResources struct {
	dataDir string
	st      store.Store
	blobs   *blob.FS
	sealer  *vault.Sealer
	log     *slog.Logger
}

// resourceDir is where the server keeps a session's clone markers and
// clones mounted outside /workspace.
func (x *sessionResources) resourceDir(sessionID string) string {
	return filepath.Join(x.dataDir, "session-resources", sessionID)
}

// outputDir is the host side of a session's /mnt/session/outputs.
func (x *sessionResources) outputDir(sessionID string) string {
	return filepath.Join(x.dataDir, "outputs", sessionID)
}

// remove deletes what the server kept for a destroyed session.
func (x *sessionResources) remove(sessionID string) {
	for _, d := range []string{x.resourceDir(sessionID), x.outputDir(sessionID)} {
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

// mountKey identifies the file mounts a sandbox was started with.
func mountKey(rs []wire.SessionResource) string {
	var parts []string
	for _, r := range rs {
		if r.Type == wire.ResourceFile {
			parts = append(parts, r.FileID+"@"+r.MountPath)
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

// prepare adds the session's resources to spec (mounts, clones, copies) and
// returns the mount key of what it mounted.
func (x *sessionResources) prepare(ctx context.Context, ws string, spec *sandbox.Spec) (string, error) {
	spec.OutputDir = x.outputDir(spec.SessionID)
	rs, err := loadResources(ctx, x.st, ws, spec.SessionID)
	if err != nil {
		return "", err
	}
	for _, r := range rs {
		switch r.Type {
		case wire.ResourceFile:
			if err := x.prepareFile(spec, r); err != nil {
				return "", fmt.Errorf("file resource %s: %w", r.ID, err)
			}
		case wire.ResourceGitHubRepository:
			if err := x.prepareRepo(ctx, ws, spec, r); err != nil {
				return "", fmt.Errorf("github_repository resource %s (%s): %w", r.ID, r.URL, err)
			}
		}
	}
	return mountKey(rs), nil
}

func (x *sessionResources) prepareFile(spec *sandbox.Spec, r wire.SessionResource) error {
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

func (x *sessionResources) prepareRepo(ctx context.Context, ws string, spec *sandbox.Spec, r wire.SessionResource) error {
	dir := x.resourceDir(spec.SessionID)
	rel, inWS := underWorkspace(r.MountPath)
	kept := filepath.Join(dir, r.ID)
	marker := filepath.Join(dir, r.ID+".cloned")
	if _, err := os.Stat(marker); err == nil {
		if !inWS {
			spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: kept, Target: r.MountPath})
		}
		return nil
	}
	token, err := x.token(ctx, ws, r.ID)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, r.ID+".tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, cloneTimeout)
	defer cancel()
	if err := gitClone(cctx, r.URL, token, r.Checkout, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	dst := kept
	if inWS {
		if dst, err = safeWorkspacePath(spec.WorkspaceDir, rel); err != nil {
			_ = os.RemoveAll(tmp)
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if !inWS {
		spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: kept, Target: r.MountPath})
	}
	return writeMarker(marker)
}

// token unseals a repository's token; "" when none was given.
func (x *sessionResources) token(ctx context.Context, ws, resourceID string) (string, error) {
	rec, err := x.st.Get(ctx, ws, store.KindSessionSecret, resourceID)
	if errdefs.ClassOf(err) == errdefs.ClassNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if x.sealer == nil {
		return "", errors.New("no master key to open the repository token with")
	}
	b, err := x.sealer.Open(rec.Secret, store.SessionSecretAAD(resourceID))
	if err != nil {
		return "", fmt.Errorf("open repository token: %w", err)
	}
	return string(b), nil
}

// gitEnv is the environment of a host git process: nothing of the user's
// or system's git configuration (a credential helper could store the
// token), no prompts, and the token as an extra header for the
// repository's origin only, set through GIT_CONFIG_* so it is neither on
// the command line nor written to any file.
func gitEnv(repoURL, token, home string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=C",
		"GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		// Only the web transports, even on a redirect.
		"GIT_ALLOW_PROTOCOL=http:https",
	}
	if token == "" {
		return env
	}
	origin := repoURL
	if u, err := url.Parse(repoURL); err == nil {
		origin = u.Scheme + "://" + u.Host + "/"
	}
	basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
	return append(env, "GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=http."+origin+".extraHeader",
		"GIT_CONFIG_VALUE_0=Authorization: Basic "+basic)
}

// gitClone clones repoURL into dst and checks out c (nil: the default
// branch).
func gitClone(ctx context.Context, repoURL, token string, c *wire.Checkout, dst string) error {
	home, err := os.MkdirTemp("", "hangar-git-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	env := gitEnv(repoURL, token, home)
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Env = env
		cmd.Dir = home
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(out.String())
			if len(msg) > 2000 {
				msg = msg[:2000]
			}
			if token != "" {
				msg = strings.ReplaceAll(msg, token, "***")
			}
			return fmt.Errorf("git %s: %v: %s", args[0], err, msg)
		}
		return nil
	}
	args := []string{"clone", "--quiet"}
	switch {
	case c != nil && c.Type == wire.CheckoutBranch:
		args = append(args, "--branch", c.Name)
	case c != nil && c.Type == wire.CheckoutCommit:
		args = append(args, "--no-checkout")
	}
	if err := run(append(args, "--", repoURL, dst)...); err != nil {
		return err
	}
	if c != nil && c.Type == wire.CheckoutCommit {
		if err := run("-C", dst, "checkout", "--quiet", "--detach", c.SHA); err != nil {
			// Not on any branch the clone fetched: ask for the commit.
			if ferr := run("-C", dst, "fetch", "--quiet", "origin", c.SHA); ferr != nil {
				return ferr
			}
			return run("-C", dst, "checkout", "--quiet", "--detach", c.SHA)
		}
	}
	return nil
}

// ---- outputs (OUT-*) ------------------------------------------------------

// outputRecord is what is remembered of a captured output path.
type outputRecord struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	SHA256  string `json:"sha256"`
	FileID  string `json:"file_id"`
}

// capture files the session's new or changed outputs. read copies a path
// out of the sandbox (so symlinks resolve inside it); it is only called
// when there is something to read.
func (x *sessionResources) capture(ctx context.Context, ws, sessionID string, read func(ctx context.Context, p string, w io.Writer) error) error {
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

func (x *sessionResources) captureOne(ctx context.Context, ws, sessionID, rel string, fi fs.FileInfo, read func(ctx context.Context, p string, w io.Writer) error) error {
	rec, err := x.st.GetByName(ctx, ws, store.KindSessionOutput, sessionID, rel)
	exists := err == nil
	if err != nil && errdefs.ClassOf(err) != errdefs.ClassNotFound {
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
