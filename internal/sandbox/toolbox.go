package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
)

// Toolbox runs the built-in tools of many sessions, one sandbox each. A
// sandbox is provisioned in the background when a session asks for it
// (Provision) and waited for only by the first tool call (lazy-blocking);
// results are the SDK agenttoolset's own, run inside the sandbox.
//
// It maps onto engine.ToolExecutor as
//
//	res, err := tb.Execute(ctx, call.SessionID, call.Name, call.Input)
//	// → engine.ToolResult{Content: text block res.Text, IsError: res.IsError}
type Toolbox struct {
	backend Backend
	specFor func(ctx context.Context, sessionID string) (Spec, error)

	pool *pool // nil: every sandbox starts on demand

	mu    sync.Mutex
	boxes map[string]*box
}

type box struct {
	ready chan struct{}
	sb    Sandbox
	err   error
}

// NewToolbox returns a toolbox creating sandboxes on backend with the spec
// specFor gives for a session. A pool (WithPool) starts filling now.
func NewToolbox(backend Backend, specFor func(ctx context.Context, sessionID string) (Spec, error), opts ...ToolboxOption) *Toolbox {
	t := &Toolbox{backend: backend, specFor: specFor, boxes: map[string]*box{}}
	for _, o := range opts {
		o(t)
	}
	t.pool.fill()
	return t
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
	b := &box{ready: make(chan struct{})}
	t.boxes[sessionID] = b
	go func() {
		defer close(b.ready)
		// Not the caller's context: provisioning outlives the request that
		// triggered it.
		ctx := context.Background()
		spec, err := t.specFor(ctx, sessionID)
		if err == nil {
			if b.sb = t.pool.claim(ctx, spec); b.sb == nil {
				b.sb, b.err = t.backend.Create(ctx, spec)
			}
		} else {
			b.err = err
		}
	}()
	return b
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

func (t *Toolbox) forget(sessionID string, b *box) {
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
		if b := t.boxes[sessionID]; b != nil && b.sb == sb {
			delete(t.boxes, sessionID)
		}
		t.mu.Unlock()
		_ = sb.Stop(context.Background())
	}
	return res, err
}

// Release stops the session's sandbox; destroy also removes its workspace.
func (t *Toolbox) Release(ctx context.Context, sessionID string, destroy bool) error {
	t.mu.Lock()
	b := t.boxes[sessionID]
	delete(t.boxes, sessionID)
	t.mu.Unlock()
	if b == nil {
		return nil
	}
	select {
	case <-b.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	if b.sb == nil {
		return nil
	}
	if destroy {
		return b.sb.Destroy(ctx)
	}
	return b.sb.Stop(ctx)
}

// Close stops every session's sandbox (workspaces stay) and destroys the
// pool's.
func (t *Toolbox) Close(ctx context.Context) error {
	perr := t.pool.close(ctx)
	t.mu.Lock()
	ids := make([]string, 0, len(t.boxes))
	for id := range t.boxes {
		ids = append(ids, id)
	}
	t.mu.Unlock()
	errs := []error{perr}
	for _, id := range ids {
		errs = append(errs, t.Release(ctx, id, false))
	}
	return errors.Join(errs...)
}
