package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/egress/live"
	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/docker"
	"github.com/hangarhq/hangar/internal/sandbox/local"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

// Default limits of a session sandbox.
var sandboxLimits = sandbox.Limits{MemoryBytes: 2 << 30, Pids: 512, CPUs: 1}

// sandboxTools runs built-in tools in per-session sandboxes: it adapts the
// sandbox Toolbox to the engine's ToolExecutor and sandbox lifecycle.
type sandboxTools struct {
	tb *sandbox.Toolbox
	// backend is closed after the toolbox (local: the cgroup it made
	// ahead for the next sandbox).
	backend sandbox.Backend
	// workspaces remembers each session's workspace for specFor, which the
	// toolbox calls with the session id alone.
	workspaces sync.Map
	// res mounts resources and captures outputs (resources.go); mounted
	// maps a session to the mount key its sandbox was started with.
	res     *sessionResources
	mounted sync.Map
	// egress is the proxy every sandbox's traffic leaves through (issue 5).
	egress *live.Egress
	// apiSocket serves the API to the session's in-sandbox worker from a
	// socket in its egress directory; closeAPISocket ends it (dispatch.go).
	apiSocket      func(sessionID, dir string) error
	closeAPISocket func(sessionID string)
	// prestart starts a worker in a pooled sandbox (dispatch.go); set
	// once hooked (hooked closes), which pooled starts wait for.
	prestart func(ctx context.Context, sb sandbox.Sandbox) error
	hooked   chan struct{}
	// wsRoot holds the sessions' workspace directories.
	wsRoot string
}

// sandboxRemedy says what brings the named backend up when it could not
// start, for the log and for the tool results of a server without one; the
// backend's error names the cause.
func sandboxRemedy(kind string) string {
	if kind == "docker" {
		return "Fix that on the server's host and restart the server (scripts/start-docker starts Docker and builds the sandbox image), or start it with --sandbox local"
	}
	return "Fix that on the server's host and restart the server (scripts/serve installs bubblewrap and starts it), or start it with --sandbox docker"
}

// newSandboxes builds the sandbox backend the configuration names (local:
// bubblewrap, docker: the Docker Engine), with poolSize sandboxes kept
// started for new sessions where the backend can hand them over; it reports
// an error when the backend is unavailable, and the caller runs without
// sandboxes then.
func newSandboxes(ctx context.Context, kind, dataDir string, poolSize int, data *Data, log *slog.Logger) (*sandboxTools, error) {
	st := data.Store
	var backend sandbox.Backend
	var err error
	switch kind {
	case "docker":
		backend, err = docker.New(ctx, docker.Config{StateDir: filepath.Join(dataDir, "sandboxes"), Logger: log})
	default:
		backend, err = local.New(local.Config{StateDir: filepath.Join(dataDir, "sandboxes"), Logger: log})
	}
	if err != nil {
		return nil, err
	}
	workspaces := filepath.Join(dataDir, "workspaces")
	creds := vault.NewCredentials(st, data.Sealer)
	eg, err := live.New(dataDir, st, creds, log)
	if err != nil {
		return nil, err
	}
	s := &sandboxTools{backend: backend, hooked: make(chan struct{}), res: &sessionResources{dataDir: dataDir, st: st, blobs: data.Blobs, creds: creds, log: log, egress: eg}, egress: eg, wsRoot: workspaces}
	outputs := filepath.Join(dataDir, "outputs")
	// A pooled sandbox is started as a session with neither resources nor
	// network would be, under a placeholder id; what differs per session
	// (its workspace and outputs directories) it takes over when claimed.
	baseSpec := func(id string) sandbox.Spec {
		return sandbox.Spec{
			SessionID:    id,
			WorkspaceDir: filepath.Join(workspaces, id),
			Network:      sandbox.NetworkNone,
			Limits:       sandboxLimits,
			Env:          map[string]string{"HOME": sandbox.WorkspacePath, "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
		}
	}
	// Pooled sandboxes get an empty egress directory and the proxy
	// variables; a session without credentials (whose environment is then
	// the same) moves its proxy socket and CA bundle in when it adopts one.
	poolSpec := func(id string) sandbox.Spec {
		spec := baseSpec(id)
		spec.OutputDir = filepath.Join(outputs, id)
		spec.EgressDir = eg.Dir(id)
		_ = os.RemoveAll(spec.EgressDir)
		_ = os.Mkdir(spec.EgressDir, 0o755)
		_ = os.Chmod(spec.EgressDir, 0o755) // past the umask, like the directories live.Egress makes
		env := map[string]string{}
		for k, v := range spec.Env {
			env[k] = v
		}
		for k, v := range sandbox.EgressEnv() {
			env[k] = v
		}
		spec.Env = env
		return spec
	}
	// What a crash left of an earlier pool: nobody else will remove it.
	for _, dir := range []string{workspaces, outputs} {
		stale, _ := filepath.Glob(filepath.Join(dir, sandbox.PoolIDPrefix+"*"))
		for _, d := range stale {
			_ = os.RemoveAll(d)
		}
	}
	specFor := func(ctx context.Context, sessionID string) (sandbox.Spec, error) {
		spec := baseSpec(sessionID)
		if err := os.MkdirAll(spec.WorkspaceDir, 0o700); err != nil {
			return spec, err
		}
		// Every sandbox has network none; its traffic leaves through its
		// session's egress proxy, which applies the environment's policy
		// (unrestricted or limited) and the vaults' credentials. Without
		// a known session there is no policy, and no way out.
		ws, _ := s.workspaces.Load(sessionID)
		if wsID, ok := ws.(string); ok {
			rs, err := s.egress.Prepare(ctx, wsID, sessionID, &spec)
			if err != nil {
				return spec, err
			}
			if s.apiSocket != nil {
				if err := s.apiSocket(sessionID, spec.EgressDir); err != nil {
					return spec, err
				}
			}
			// RES-05/RES-12: resources are in place before the first tool
			// call, which waits for this.
			key, err := s.res.prepare(ctx, wsID, &spec, rs)
			if err != nil {
				return spec, err
			}
			s.mounted.Store(sessionID, key)
		}
		return spec, nil
	}
	// RES-12: repositories under /workspace are cloned inside the started
	// sandbox, through its egress proxy (resources.go setupRepos).
	setup := func(ctx context.Context, sessionID string, sb sandbox.Sandbox) error {
		ws, ok := s.workspaces.Load(sessionID)
		if !ok {
			return nil
		}
		return s.res.setupRepos(ctx, ws.(string), sessionID, sb)
	}
	// Before any sandbox starts: what a previous run left that no session
	// will recover is removed.
	s.sweep(ctx, st, backend, log)
	handles := &sandboxHandles{st: st, workspace: func(sessionID string) (string, bool) {
		ws, ok := s.workspaces.Load(sessionID)
		w, _ := ws.(string)
		return w, ok && w != ""
	}}
	s.tb = sandbox.NewToolbox(backend, specFor, sandbox.WithPool(poolSize, poolSpec), sandbox.WithPoolStart(s.startPooled), sandbox.WithSetup(setup), sandbox.WithHandles(handles))
	return s, nil
}

// sweep runs once at start, before any sandbox starts. A handle whose
// session is gone (deleted while the server crashed before destroying its
// sandbox) has its sandbox discarded and its record removed; then the
// backend removes every sandbox of its own that no remaining handle names
// (containers of a previous run's pool, sandboxes whose handle was never
// saved or was replaced). Handles of live sessions are kept, whatever their
// backend, for the toolbox to recover on first use.
func (s *sandboxTools) sweep(ctx context.Context, st store.Store, backend sandbox.Backend, log *slog.Logger) {
	page, err := st.List(ctx, store.ListOptions{AllWorkspaces: true, Kind: store.KindSandbox, IncludeArchived: true})
	if err != nil {
		// Without the handles nothing can be told apart from an orphan.
		log.Error("sandbox sweep: list handles", "err", err)
		return
	}
	name := backend.Capabilities().Backend
	keep := map[string]bool{}
	var sessions []string
	defer func() { s.egress.Sweep(sessions) }()
	for _, r := range page.Records {
		sessionID := r.Parent
		var h sandbox.Handle
		if err := json.Unmarshal(r.Data, &h); err != nil {
			log.Error("sandbox sweep: unreadable handle", "session", sessionID, "err", err)
		}
		_, err := st.GetSession(ctx, r.Workspace, sessionID)
		if err == nil || errdefs.ClassOf(err) != errdefs.ClassNotFound {
			if err != nil {
				log.Error("sandbox sweep: look up session", "session", sessionID, "err", err)
			}
			keep[h.ID] = true
			sessions = append(sessions, sessionID)
			continue
		}
		log.Info("sandbox sweep: removing the sandbox of a deleted session", "session", sessionID, "sandbox", h.ID, "backend", h.Backend)
		var derr error
		if d, ok := backend.(sandbox.Discarder); ok && h.Backend == name {
			derr = d.Discard(ctx, h)
		} else if h.Backend != "" && h.Backend != name {
			// Out of reach from here; that backend's own sweep removes it
			// once no handle names it.
			log.Warn("sandbox sweep: sandbox of another backend left to that backend", "session", sessionID, "sandbox", h.ID, "backend", h.Backend)
		}
		s.forget(sessionID)
		if derr != nil {
			log.Error("sandbox sweep: discard", "session", sessionID, "err", derr)
			keep[h.ID] = true // tried again at the next start
			continue
		}
		if err := st.Delete(ctx, r.Workspace, store.KindSandbox, r.ID); err != nil && errdefs.ClassOf(err) != errdefs.ClassNotFound {
			log.Error("sandbox sweep: delete handle", "session", sessionID, "err", err)
		}
	}
	if sw, ok := backend.(sandbox.Sweeper); ok {
		if err := sw.Sweep(ctx, func(id string) bool { return keep[id] }); err != nil {
			log.Error("sandbox sweep", "err", err)
		}
	}
}

// forget removes what the server keeps for a session beside its sandbox:
// resource copies, the egress directory, the workspace.
func (s *sandboxTools) forget(sessionID string) {
	s.res.remove(sessionID)
	s.egress.Release(sessionID)
	if sessionID != "" && !strings.ContainsAny(sessionID, "/\x00") && sessionID != "." && sessionID != ".." {
		_ = os.RemoveAll(filepath.Join(s.wsRoot, sessionID))
	}
}

// sandboxHandles keeps each session's sandbox handle as a store.KindSandbox
// record in the session's workspace (sandbox.HandleStore). A handle holds
// paths, limits and the sandbox environment, whose credential variables
// are placeholders the egress proxy substitutes (never the secrets).
type sandboxHandles struct {
	st store.Store
	// workspace names a session's workspace, needed for the first save.
	workspace func(sessionID string) (string, bool)
}

// record finds a session's handle record: by key in the session's
// workspace when the server knows it (every start: provisioning, tool
// calls and capture name it), else — a session deleted before anything
// touched it since a restart — across workspaces, session ids being
// global. The second is a scan of the kind, not an index lookup.
func (x *sandboxHandles) record(ctx context.Context, tx store.Tx, sessionID string) (store.Record, bool, error) {
	id := store.SandboxRecordID(sessionID)
	if ws, ok := x.workspace(sessionID); ok {
		r, err := tx.Get(ctx, ws, store.KindSandbox, id)
		if errdefs.ClassOf(err) == errdefs.ClassNotFound {
			return store.Record{}, false, nil
		}
		return r, err == nil, err
	}
	p, err := tx.List(ctx, store.ListOptions{AllWorkspaces: true, Kind: store.KindSandbox, IDs: []string{id}, IncludeArchived: true})
	if err != nil || len(p.Records) == 0 {
		return store.Record{}, false, err
	}
	return p.Records[0], true, nil
}

func (x *sandboxHandles) LoadHandle(ctx context.Context, sessionID string) (sandbox.Handle, bool, error) {
	r, ok, err := x.record(ctx, x.st, sessionID)
	if err != nil || !ok {
		return sandbox.Handle{}, false, err
	}
	var h sandbox.Handle
	if err := json.Unmarshal(r.Data, &h); err != nil {
		// Unreadable is as good as none: the session gets a new sandbox
		// and the record is replaced by its handle.
		slog.Warn("sandbox handle unreadable", "session", sessionID, "err", err)
		return sandbox.Handle{}, false, nil
	}
	return h, true, nil
}

func (x *sandboxHandles) SaveHandle(ctx context.Context, sessionID string, h sandbox.Handle) error {
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return x.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		r, ok, err := x.record(ctx, tx, sessionID)
		if err != nil {
			return err
		}
		if ok {
			r.Data, r.UpdatedAt = data, time.Now()
			return tx.Update(ctx, &r)
		}
		ws, known := x.workspace(sessionID)
		if !known {
			return errors.New("the session's workspace is unknown")
		}
		return tx.Insert(ctx, &store.Record{Kind: store.KindSandbox, ID: store.SandboxRecordID(sessionID), Workspace: ws, Parent: sessionID, Data: data})
	})
}

func (x *sandboxHandles) DeleteHandle(ctx context.Context, sessionID string) error {
	return x.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		r, ok, err := x.record(ctx, tx, sessionID)
		if err != nil || !ok {
			return err
		}
		return tx.Delete(ctx, r.Workspace, store.KindSandbox, r.ID)
	})
}

// Execute runs a built-in tool in the session's sandbox through the
// agent's copy of the reference toolset. Sessions' own tool calls do not
// come here (their worker runs them, dispatch.go); the server does, to
// write an oversized MCP result into the workspace exactly as the agent's
// write tool would (mcp.go spill).
func (s *sandboxTools) Execute(ctx context.Context, call engine.ToolCall) (engine.ToolResult, error) {
	s.workspaces.Store(call.SessionID, call.Workspace)
	res, err := s.tb.Execute(ctx, call.SessionID, call.Name, call.Input)
	if err != nil {
		return engine.ToolResult{}, err
	}
	text := res.Text
	if text == "" {
		text = "(no output)"
	}
	return engine.ToolResult{Content: []wire.ContentBlock{wire.NewTextBlock(text)}, IsError: res.IsError}, nil
}

// Provision starts a session's sandbox in the background, so the first
// tool call rarely waits for it (DESIGN §2).
func (s *sandboxTools) Provision(ws, sessionID string) {
	s.workspaces.Store(sessionID, ws)
	s.tb.Provision(sessionID)
}

// Release stops a session's sandbox; destroy also removes its workspace.
func (s *sandboxTools) Release(ctx context.Context, sessionID string, destroy bool) error {
	s.mounted.Delete(sessionID)
	// After the toolbox: a start it waits for still saves its handle (in
	// the session's workspace) before the destroy deletes it.
	err := s.tb.Release(ctx, sessionID, destroy)
	s.workspaces.Delete(sessionID)
	if destroy {
		// Resource copies, the egress directory (kept across a restart of
		// the sandbox, same placeholders) and the workspace of a session
		// whose sandbox never started go with the session.
		s.forget(sessionID)
		if s.closeAPISocket != nil {
			s.closeAPISocket(sessionID)
		}
	}
	return err
}

// needsRemount reports whether the session's file resources changed since
// its sandbox started: a live sandbox's mounts cannot change, so it must
// be restarted (remount).
func (s *sandboxTools) needsRemount(ctx context.Context, ws, sessionID string) bool {
	started, ok := s.mounted.Load(sessionID)
	if !ok {
		return false
	}
	rs, err := loadResources(ctx, s.res.st, ws, sessionID)
	return err == nil && s.res.mountKey(rs) != started.(string)
}

// remount restarts a session's sandbox around the same workspace, so its
// next start mounts the current file resources (needsRemount).
func (s *sandboxTools) remount(ctx context.Context, sessionID string) {
	s.mounted.Delete(sessionID)
	if err := s.tb.Release(ctx, sessionID, false); err != nil {
		slog.Warn("restart sandbox for changed resources", "session", sessionID, "err", err)
	}
}

// Capture files the session's outputs (OUT-01), read through its sandbox.
// A session whose outputs directory is empty needs no sandbox for it.
func (s *sandboxTools) Capture(ctx context.Context, ws, sessionID string) error {
	return s.res.capture(ctx, ws, sessionID, func(ctx context.Context, p string, w io.Writer) error {
		// After a restart the sandbox may have to be provisioned again,
		// which needs the workspace for its resources and outputs.
		s.workspaces.Store(sessionID, ws)
		sb, err := s.tb.Sandbox(ctx, sessionID)
		if err != nil {
			return err
		}
		return sb.GetFile(ctx, p, w)
	})
}

func (s *sandboxTools) Close() {
	_ = s.tb.Close(context.Background())
	if c, ok := s.backend.(io.Closer); ok {
		_ = c.Close()
	}
	s.egress.Close()
}
