package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Toolbox runs the built-in tools of many sessions, one sandbox each. A
// sandbox is provisioned in the background when a session asks for it
// (Provision) and waited for only by the first tool call (lazy-blocking);
// results are the SDK agenttoolset's own, run inside the sandbox.
//
// Sessions' own tool calls run in a worker the server starts in the
// sandbox (Sandbox, then Exec); Execute runs one call through the agent's
// copy of the toolset, which the server uses for its own writes into a
// workspace (an oversized MCP result).
type Toolbox struct {
	backend Backend
	log     *slog.Logger
	specFor func(ctx context.Context, sessionID string) (Spec, error)

	pool *pool // nil: every sandbox starts on demand
	// setup runs in every sandbox once it started, before it serves
	// (WithSetup).
	setup func(ctx context.Context, sessionID string, sb Sandbox) error
	// handles persists each session's sandbox handle (nil: none are, and
	// a restarted server starts every sandbox afresh).
	handles HandleStore

	// starts bounds how many sandboxes are created or recovered at once:
	// a burst of sessions (a restart recovering hundreds, a batch job)
	// would otherwise fork hundreds of sandboxes together, each holding an
	// OS thread in blocking cgroup and fork system calls, until the host
	// refuses new threads. A claim from the warm pool never waits on it.
	starts chan struct{}

	mu    sync.Mutex
	boxes map[string]*box
}

// maxConcurrentStarts is the size of Toolbox.starts: enough to keep both
// cores of a small host busy while one start waits on a fork or a daemon.
const maxConcurrentStarts = 4

type box struct {
	ready chan struct{}
	sb    Sandbox
	err   error
	// saved closes once the sandbox's handle is persisted (or will not
	// be): the save runs beside the sandbox's first use, and what must
	// come after it (deleting the handle, detaching) waits for it.
	saved chan struct{}
}

// settled waits until the box's start is over and its handle saved.
func (b *box) settled(ctx context.Context) error {
	for _, c := range []chan struct{}{b.ready, b.saved} {
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// NewToolbox returns a toolbox creating sandboxes on backend with the spec
// specFor gives for a session. A pool (WithPool) starts filling now.
func NewToolbox(backend Backend, specFor func(ctx context.Context, sessionID string) (Spec, error), opts ...ToolboxOption) *Toolbox {
	t := &Toolbox{backend: backend, specFor: specFor, boxes: map[string]*box{}, starts: make(chan struct{}, maxConcurrentStarts)}
	for _, o := range opts {
		o(t)
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.pool != nil {
		t.pool.log = t.log
	}
	t.pool.fill()
	return t
}

// WithLogger is where the toolbox and its pool log.
func WithLogger(log *slog.Logger) ToolboxOption {
	return func(t *Toolbox) { t.log = log }
}

// WithHandles persists each session's sandbox Handle in hs: saved when its
// sandbox starts, is adopted from the pool or is recovered, deleted when it
// is destroyed. A session with a handle is Recovered (reattached where the
// backend can, else re-provisioned around the same workspace) instead of
// Created, and Close detaches from sandboxes that outlive the server
// instead of stopping them.
func WithHandles(hs HandleStore) ToolboxOption {
	return func(t *Toolbox) { t.handles = hs }
}

// Pooled is how many pooled sandboxes are started and unclaimed.
func (t *Toolbox) Pooled() int { return t.pool.ready() }

// Provision starts the session's sandbox in the background if it has none.
func (t *Toolbox) Provision(sessionID string) {
	t.get(sessionID)
}

func (t *Toolbox) get(sessionID string) *box {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b, ok := t.boxes[sessionID]; ok {
		return b
	}
	b := &box{ready: make(chan struct{}), saved: make(chan struct{})}
	t.boxes[sessionID] = b
	go func() {
		defer close(b.ready)
		// Not the caller's context: provisioning outlives the request that
		// triggered it.
		ctx := context.Background()
		spec, err := t.specFor(ctx, sessionID)
		if err != nil {
			close(b.saved)
			b.err = err
			return
		}
		b.sb, b.err = t.start(ctx, sessionID, spec)
		if b.err == nil && t.handles != nil {
			go func(sb Sandbox) {
				defer close(b.saved)
				t.saveHandle(ctx, sessionID, sb)
			}(b.sb)
		} else {
			close(b.saved)
		}
		if b.err == nil && t.setup != nil {
			if err := t.setup(ctx, sessionID, b.sb); err != nil {
				// Not half set up: the next call starts it again (the
				// workspace stays).
				_ = b.sb.Stop(ctx)
				b.sb, b.err = nil, err
			}
		}
	}()
	return b
}

// WithSetup runs setup in each session's sandbox after it starts (created,
// adopted from the pool or recovered) and before any tool call gets it, in
// the background provisioning; an error fails the calls waiting for it and
// the next call starts the sandbox again. Setup must be idempotent.
func WithSetup(setup func(ctx context.Context, sessionID string, sb Sandbox) error) ToolboxOption {
	return func(t *Toolbox) { t.setup = setup }
}

// start recovers the session's sandbox from its persisted handle, or
// starts a new one (from the pool or created).
func (t *Toolbox) start(ctx context.Context, sessionID string, spec Spec) (Sandbox, error) {
	var sb Sandbox
	if t.handles != nil {
		h, ok, err := t.handles.LoadHandle(ctx, sessionID)
		if err != nil {
			// Starting a second sandbox beside one we cannot see would
			// leak it; the next call tries again.
			return nil, fmt.Errorf("load sandbox handle: %w", err)
		}
		if ok {
			t.starts <- struct{}{}
			sb = t.recover(ctx, h, spec)
			<-t.starts
		}
	}
	if sb == nil {
		if sb = t.pool.claim(ctx, spec); sb == nil {
			t.starts <- struct{}{}
			var err error
			sb, err = t.backend.Create(ctx, spec)
			<-t.starts
			if err != nil {
				return nil, err
			}
		}
	}
	return sb, nil
}

// saveHandle persists the handle a started sandbox has now (it changes on
// adoption and on re-provisioning). A sandbox whose handle could not be
// saved still serves this server; after a restart the orphan sweep
// removes it.
func (t *Toolbox) saveHandle(ctx context.Context, sessionID string, sb Sandbox) {
	if err := t.handles.SaveHandle(ctx, sessionID, sb.Handle()); err != nil {
		t.log.Error("sandbox: save handle", "session", sessionID, "sandbox", sb.ID(), "err", err)
	}
}

// recover returns the sandbox a persisted handle names, reattached or
// re-provisioned, or nil when a new one must be created instead.
func (t *Toolbox) recover(ctx context.Context, h Handle, spec Spec) Sandbox {
	caps := t.backend.Capabilities()
	switch {
	case h.Backend != caps.Backend:
		// The server was restarted with another --sandbox. That backend's
		// sandbox is out of reach here (its own sweep removes it when the
		// server runs it again, this handle being replaced); the session
		// gets a new one around the same workspace.
		t.log.Warn("sandbox: handle of another backend; starting a new sandbox around the same workspace",
			"session", spec.SessionID, "handle_backend", h.Backend, "backend", caps.Backend, "sandbox", h.ID)
		return nil
	case h.Version != HandleVersion:
		t.log.Warn("sandbox: handle of an unsupported version; starting a new sandbox", "session", spec.SessionID, "version", h.Version)
		return nil
	}
	// The sandbox is recovered with today's spec: resources, limits or the
	// egress set-up may have changed since it started. A backend
	// reattaches only to a sandbox started with exactly this spec (docker
	// checks a label of its hash) and otherwise re-provisions it, under
	// the same id, around the same workspace.
	if !sameSpec(h.Spec, spec) {
		t.log.Info("sandbox: spec changed since the sandbox started; re-provisioning", "session", spec.SessionID, "sandbox", h.ID)
	}
	h.Spec = spec
	sb, err := t.backend.Recover(ctx, h)
	if err != nil {
		t.log.Warn("sandbox: recover failed; starting a new sandbox", "session", spec.SessionID, "sandbox", h.ID, "err", err)
		return nil
	}
	return sb
}

func sameSpec(a, b Spec) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// Sandbox waits for the session's sandbox, provisioning it if needed. A
// sandbox that failed to start, or died, is forgotten so the next call
// provisions a new one.
func (t *Toolbox) Sandbox(ctx context.Context, sessionID string) (Sandbox, error) {
	b := t.get(sessionID)
	select {
	case <-b.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if b.err != nil {
		t.forget(sessionID, b)
		return nil, b.err
	}
	return b.sb, nil
}

// forget drops the session's box b, once its handle is saved: the next
// start's handle is then saved after it, never overwritten by it.
func (t *Toolbox) forget(sessionID string, b *box) {
	<-b.saved
	t.mu.Lock()
	if t.boxes[sessionID] == b {
		delete(t.boxes, sessionID)
	}
	t.mu.Unlock()
}

// Execute runs one built-in tool call in the session's sandbox.
func (t *Toolbox) Execute(ctx context.Context, sessionID, name string, input json.RawMessage) (ToolResult, error) {
	sb, err := t.Sandbox(ctx, sessionID)
	if err != nil {
		return ToolResult{}, err
	}
	res, err := sb.RunTool(ctx, name, input)
	if errors.Is(err, ErrClosed) {
		// The sandbox died under the call; the next call gets a new one
		// around the same workspace.
		t.mu.Lock()
		b := t.boxes[sessionID]
		t.mu.Unlock()
		if b != nil && b.sb == sb {
			t.forget(sessionID, b)
		}
		_ = sb.Stop(context.Background())
	}
	return res, err
}

// Release stops the session's sandbox; destroy also removes its workspace
// and its persisted handle. A session whose sandbox this server never
// started (it was deleted right after a restart) is destroyed from its
// handle.
func (t *Toolbox) Release(ctx context.Context, sessionID string, destroy bool) error {
	t.mu.Lock()
	b := t.boxes[sessionID]
	delete(t.boxes, sessionID)
	t.mu.Unlock()
	if b != nil {
		// Its handle is deleted after it was saved, never before.
		if err := b.settled(ctx); err != nil {
			return err
		}
	}
	if !destroy {
		if b == nil || b.sb == nil {
			return nil
		}
		return b.sb.Stop(ctx)
	}
	var err error
	if b != nil && b.sb != nil {
		err = b.sb.Destroy(ctx)
	} else {
		err = t.discard(ctx, sessionID)
	}
	if err == nil && t.handles != nil {
		// Kept when the destroy failed, so the sweep at the next start
		// finds the sandbox of a deleted session and removes it.
		err = t.handles.DeleteHandle(ctx, sessionID)
	}
	return err
}

// discard removes the sandbox a session's persisted handle names without
// starting it.
func (t *Toolbox) discard(ctx context.Context, sessionID string) error {
	if t.handles == nil {
		return nil
	}
	h, ok, err := t.handles.LoadHandle(ctx, sessionID)
	if err != nil || !ok {
		return err
	}
	d, can := t.backend.(Discarder)
	if !can || h.Backend != t.backend.Capabilities().Backend {
		t.log.Warn("sandbox: cannot discard the sandbox of a deleted session here", "session", sessionID, "handle_backend", h.Backend, "sandbox", h.ID)
		return nil
	}
	return d.Discard(ctx, h)
}

// Close lets go of every session's sandbox and destroys the pool's. A
// sandbox that outlives the server (docker) and whose handle is persisted is
// detached, so the restarted server reattaches to it with its processes and
// files; the others are stopped (workspaces stay).
func (t *Toolbox) Close(ctx context.Context) error {
	perr := t.pool.close(ctx)
	t.mu.Lock()
	boxes := t.boxes
	t.boxes = map[string]*box{}
	t.mu.Unlock()
	errs := []error{perr}
	detach := t.handles != nil && t.backend.Capabilities().Reattach
	for _, b := range boxes {
		// Detached only once its handle is saved: the restarted server
		// finds it by the handle.
		if err := b.settled(ctx); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if b.sb == nil {
			continue
		}
		if d, ok := b.sb.(Detacher); ok && detach {
			errs = append(errs, d.Detach())
			continue
		}
		errs = append(errs, b.sb.Stop(ctx))
	}
	return errors.Join(errs...)
}
