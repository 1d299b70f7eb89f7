package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/docker"
	"github.com/hangarhq/hangar/internal/sandbox/local"
	"github.com/hangarhq/hangar/internal/wire"
)

// Default limits of a session sandbox.
var sandboxLimits = sandbox.Limits{MemoryBytes: 2 << 30, Pids: 512, CPUs: 1}

// sandboxTools runs built-in tools in per-session sandboxes: it adapts the
// sandbox Toolbox to the engine's ToolExecutor and sandbox lifecycle.
type sandboxTools struct {
	tb *sandbox.Toolbox
	// workspaces remembers each session's workspace for specFor, which the
	// toolbox calls with the session id alone.
	workspaces sync.Map
	// res mounts resources and captures outputs (resources.go); mounted
	// maps a session to the mount key its sandbox was started with.
	res     *sessionResources
	mounted sync.Map
	// egress is the proxy every sandbox's traffic leaves through (issue 5).
	egress *sessionEgress
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
	eg, err := newSessionEgress(dataDir, st, data.Sealer, log)
	if err != nil {
		return nil, err
	}
	s := &sandboxTools{res: &sessionResources{dataDir: dataDir, st: st, blobs: data.Blobs, sealer: data.Sealer, log: log}, egress: eg}
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
		spec.EgressDir = eg.dir(id)
		_ = os.RemoveAll(spec.EgressDir)
		_ = os.Mkdir(spec.EgressDir, 0o755)
		_ = os.Chmod(spec.EgressDir, 0o755) // past the umask: see sessionEgress.listen
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
			if err := s.egress.prepare(ctx, wsID, sessionID, &spec); err != nil {
				return spec, err
			}
			// RES-05/RES-12: resources are in place before the first tool
			// call, which waits for this.
			key, err := s.res.prepare(ctx, wsID, &spec)
			if err != nil {
				return spec, err
			}
			s.mounted.Store(sessionID, key)
		}
		return spec, nil
	}
	s.tb = sandbox.NewToolbox(backend, specFor, sandbox.WithPool(poolSize, poolSpec))
	return s, nil
}

func (s *sandboxTools) Execute(ctx context.Context, call engine.ToolCall) (engine.ToolResult, error) {
	s.workspaces.Store(call.SessionID, call.Workspace)
	s.remountIfChanged(ctx, call.Workspace, call.SessionID)
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
	s.workspaces.Delete(sessionID)
	s.mounted.Delete(sessionID)
	err := s.tb.Release(ctx, sessionID, destroy)
	if destroy {
		s.res.remove(sessionID)
		// Kept across a restart of the sandbox (same placeholders); gone
		// with the session.
		s.egress.release(sessionID)
	}
	return err
}

// remountIfChanged restarts a session's sandbox (around the same
// workspace) when its file resources changed since it started, since a
// live sandbox's mounts cannot change.
func (s *sandboxTools) remountIfChanged(ctx context.Context, ws, sessionID string) {
	started, ok := s.mounted.Load(sessionID)
	if !ok {
		return
	}
	rs, err := loadResources(ctx, s.res.st, ws, sessionID)
	if err != nil || mountKey(rs) == started.(string) {
		return
	}
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
	s.egress.close()
}
