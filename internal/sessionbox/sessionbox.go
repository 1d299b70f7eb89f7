// Package sessionbox runs each session's sandbox: it adapts the sandbox
// Toolbox to the engine (tool execution, provisioning, release, output
// capture), builds each session's sandbox spec around its egress proxy and
// resources, keeps the sandboxes' handles in the store, and sweeps at
// start what a previous run left.
package sessionbox

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

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sessionres"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// Default limits of a session sandbox.
var sandboxLimits = sandbox.Limits{MemoryBytes: 2 << 30, Pids: 512, CPUs: 1}

// Egress is the per-session side of the egress proxy every sandbox's
// traffic leaves through.
type Egress interface {
	// Dir is the session's egress directory (Spec.EgressDir).
	Dir(sessionID string) string
	// Prepare makes the session's proxy current, points spec at it and
	// returns the session's resources.
	Prepare(ctx context.Context, ws, sessionID string, spec *sandbox.Spec) ([]wire.SessionResource, error)
	// Sweep removes the directories of sessions other than keep's.
	Sweep(keep []string)
	// Release closes a session's proxy and removes its directory.
	Release(sessionID string)
}

// Config is what Sandboxes need.
type Config struct {
	// Backend starts the sandboxes; Close closes it after the toolbox.
	Backend   sandbox.Backend
	Store     store.Store
	Egress    Egress
	Resources *sessionres.Resources
	// DataDir holds the sessions' workspaces and outputs.
	DataDir string
	// PoolSize sandboxes are kept started for new sessions where the
	// backend can hand them over; PoolStart, if set, readies each once
	// it was created (in place of the default warm-up).
	PoolSize  int
	PoolStart func(ctx context.Context, sb sandbox.Sandbox) error
	Logger    *slog.Logger
}

// Sandboxes runs built-in tools in per-session sandboxes: it adapts the
// sandbox Toolbox to the engine's ToolExecutor and sandbox lifecycle.
type Sandboxes struct {
	tb *sandbox.Toolbox
	// backend is closed after the toolbox (local: the cgroup it made
	// ahead for the next sandbox).
	backend sandbox.Backend
	log     *slog.Logger
	// workspaces remembers each session's workspace for specFor, which the
	// toolbox calls with the session id alone.
	workspaces sync.Map
	// res mounts resources and captures outputs; mounted maps a session
	// to the mount key its sandbox was started with.
	res     *sessionres.Resources
	mounted sync.Map
	// egress is the proxy every sandbox's traffic leaves through.
	egress Egress
	// wsRoot holds the sessions' workspace directories.
	wsRoot string
}

// New sweeps what a previous run left and returns the sessions'
// sandboxes; a pool starts filling now.
func New(ctx context.Context, cfg Config) *Sandboxes {
	st, eg, log := cfg.Store, cfg.Egress, cfg.Logger
	workspaces := filepath.Join(cfg.DataDir, "workspaces")
	s := &Sandboxes{backend: cfg.Backend, log: log, res: cfg.Resources, egress: eg, wsRoot: workspaces}
	outputs := filepath.Join(cfg.DataDir, "outputs")
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
		_ = os.Chmod(spec.EgressDir, 0o755) // past the umask, as the egress proxy's own directories
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
			// Resources are in place before the first tool call, which
			// waits for this.
			key, err := s.res.Prepare(ctx, wsID, &spec, rs)
			if err != nil {
				return spec, err
			}
			s.mounted.Store(sessionID, key)
		}
		return spec, nil
	}
	// Repositories under /workspace are cloned inside the started
	// sandbox, through its egress proxy (sessionres SetupRepos).
	setup := func(ctx context.Context, sessionID string, sb sandbox.Sandbox) error {
		ws, ok := s.workspaces.Load(sessionID)
		if !ok {
			return nil
		}
		return s.res.SetupRepos(ctx, ws.(string), sessionID, sb)
	}
	// Before any sandbox starts: what a previous run left that no session
	// will recover is removed.
	s.sweep(ctx, st, cfg.Backend, log)
	handles := &sandboxHandles{st: st, log: log, workspace: func(sessionID string) (string, bool) {
		ws, ok := s.workspaces.Load(sessionID)
		w, _ := ws.(string)
		return w, ok && w != ""
	}}
	opts := []sandbox.ToolboxOption{sandbox.WithPool(cfg.PoolSize, poolSpec), sandbox.WithSetup(setup), sandbox.WithHandles(handles), sandbox.WithLogger(log)}
	if cfg.PoolStart != nil {
		opts = append(opts, sandbox.WithPoolStart(cfg.PoolStart))
	}
	s.tb = sandbox.NewToolbox(cfg.Backend, specFor, opts...)
	return s
}

// sweep runs once at start, before any sandbox starts. A handle whose
// session is gone (deleted while the server crashed before destroying its
// sandbox) has its sandbox discarded and its record removed; then the
// backend removes every sandbox of its own that no remaining handle names
// (containers of a previous run's pool, sandboxes whose handle was never
// saved or was replaced). Handles of live sessions are kept, whatever their
// backend, for the toolbox to recover on first use.
func (s *Sandboxes) sweep(ctx context.Context, st store.Store, backend sandbox.Backend, log *slog.Logger) {
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
		if err == nil || !errors.Is(err, errdefs.ErrNotFound) {
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
		if err := st.Delete(ctx, r.Workspace, store.KindSandbox, r.ID); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
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
func (s *Sandboxes) forget(sessionID string) {
	s.res.Remove(sessionID)
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
	st  store.Store
	log *slog.Logger
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
		if errors.Is(err, errdefs.ErrNotFound) {
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
		x.log.Warn("sandbox handle unreadable", "session", sessionID, "err", err)
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
// come here (their worker runs them, internal/sandboxworker); the server
// does, to write an oversized MCP result into the workspace exactly as the
// agent's write tool would.
func (s *Sandboxes) Execute(ctx context.Context, call tool.Call) (tool.Result, error) {
	s.workspaces.Store(call.SessionID, call.Workspace)
	res, err := s.tb.Execute(ctx, call.SessionID, call.Name, call.Input)
	if err != nil {
		return tool.Result{}, err
	}
	text := res.Text
	if text == "" {
		text = "(no output)"
	}
	return tool.Result{Content: []wire.ContentBlock{wire.NewTextBlock(text)}, IsError: res.IsError}, nil
}

// Provision starts a session's sandbox in the background, so the first
// tool call rarely waits for it.
func (s *Sandboxes) Provision(ws, sessionID string) {
	s.workspaces.Store(sessionID, ws)
	s.tb.Provision(sessionID)
}

// Release stops a session's sandbox; destroy also removes its workspace.
func (s *Sandboxes) Release(ctx context.Context, sessionID string, destroy bool) error {
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
	}
	return err
}

// NeedsRemount reports whether the session's file resources changed since
// its sandbox started: a live sandbox's mounts cannot change, so it must
// be restarted (Remount).
func (s *Sandboxes) NeedsRemount(ctx context.Context, ws, sessionID string) bool {
	started, ok := s.mounted.Load(sessionID)
	if !ok {
		return false
	}
	key, err := s.res.CurrentKey(ctx, ws, sessionID)
	return err == nil && key != started.(string)
}

// Remount restarts a session's sandbox around the same workspace, so its
// next start mounts the current file resources (NeedsRemount).
func (s *Sandboxes) Remount(ctx context.Context, sessionID string) {
	s.mounted.Delete(sessionID)
	if err := s.tb.Release(ctx, sessionID, false); err != nil {
		s.log.Warn("restart sandbox for changed resources", "session", sessionID, "err", err)
	}
}

// Sandbox waits for a session's sandbox, provisioning it if needed.
func (s *Sandboxes) Sandbox(ctx context.Context, ws, sessionID string) (sandbox.Sandbox, error) {
	// Provisioning needs the workspace for the session's egress policy
	// and resources (after a restart too).
	s.workspaces.Store(sessionID, ws)
	return s.tb.Sandbox(ctx, sessionID)
}

// Capture files the session's outputs into the Files API, read through its
// sandbox. A session whose outputs directory is empty needs no sandbox for
// it.
func (s *Sandboxes) Capture(ctx context.Context, ws, sessionID string) error {
	// Memory mounts are synced at every tool result; this catches anything
	// left before the session reports idle. There is no tool result left
	// to tell the agent in, so problems are logged.
	if notes := s.res.SyncMemory(ctx, ws, sessionID); len(notes) > 0 {
		s.log.Warn("memory changes not saved at the end of a turn", "session", sessionID, "problems", strings.Join(notes, "; "))
	}
	return s.res.Capture(ctx, ws, sessionID, func(ctx context.Context, p string, w io.Writer) error {
		// After a restart the sandbox may have to be provisioned again,
		// which needs the workspace for its resources and outputs.
		sb, err := s.Sandbox(ctx, ws, sessionID)
		if err != nil {
			return err
		}
		return sb.GetFile(ctx, p, w)
	})
}

// SyncMemory saves what the agent changed in the session's memory mounts
// (sessionres SyncMemory), read from the host directories behind them.
func (s *Sandboxes) SyncMemory(ctx context.Context, ws, sessionID string) []string {
	return s.res.SyncMemory(ctx, ws, sessionID)
}

// Close stops (or, where they outlive the server, detaches from) the
// sandboxes, then closes the backend.
func (s *Sandboxes) Close() {
	_ = s.tb.Close(context.Background())
	if c, ok := s.backend.(io.Closer); ok {
		_ = c.Close()
	}
}
