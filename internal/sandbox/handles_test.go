package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"sync"
	"testing"
)

// fakeBackend records what the toolbox asks of a backend.
type fakeBackend struct {
	name     string
	reattach bool
	mu       sync.Mutex
	calls    []string
	specs    []Spec // the spec of each Create / Recover
	n        int
}

func (b *fakeBackend) record(call string, spec Spec) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, call)
	b.specs = append(b.specs, spec)
}

func (b *fakeBackend) Create(_ context.Context, spec Spec) (Sandbox, error) {
	b.record("create", spec)
	b.mu.Lock()
	b.n++
	id := "sbx_new" + string(rune('0'+b.n))
	b.mu.Unlock()
	return &fakeSandbox{b: b, h: Handle{Version: HandleVersion, Backend: b.name, ID: id, Spec: spec}}, nil
}

func (b *fakeBackend) Recover(_ context.Context, h Handle) (Sandbox, error) {
	b.record("recover", h.Spec)
	return &fakeSandbox{b: b, h: h}, nil
}

func (b *fakeBackend) Discard(_ context.Context, h Handle) error {
	b.record("discard "+h.ID, h.Spec)
	return nil
}

func (b *fakeBackend) Capabilities() Capabilities {
	return Capabilities{Backend: b.name, Reattach: b.reattach}
}

type fakeSandbox struct {
	b *fakeBackend
	h Handle
}

func (s *fakeSandbox) ID() string     { return s.h.ID }
func (s *fakeSandbox) Handle() Handle { return s.h }
func (s *fakeSandbox) Exec(context.Context, ExecRequest) (Process, error) {
	return nil, ErrClosed
}
func (s *fakeSandbox) PutFile(context.Context, string, io.Reader, fs.FileMode) error { return nil }
func (s *fakeSandbox) GetFile(context.Context, string, io.Writer) error              { return nil }
func (s *fakeSandbox) RunTool(context.Context, string, json.RawMessage) (ToolResult, error) {
	return ToolResult{Text: "ok"}, nil
}
func (s *fakeSandbox) Stop(context.Context) error { s.b.record("stop "+s.h.ID, s.h.Spec); return nil }
func (s *fakeSandbox) Destroy(context.Context) error {
	s.b.record("destroy "+s.h.ID, s.h.Spec)
	return nil
}
func (s *fakeSandbox) Detach() error { s.b.record("detach "+s.h.ID, s.h.Spec); return nil }

type memHandles struct {
	mu sync.Mutex
	m  map[string]Handle
}

func (m *memHandles) LoadHandle(_ context.Context, id string) (Handle, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.m[id]
	return h, ok, nil
}

func (m *memHandles) SaveHandle(_ context.Context, id string, h Handle) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[id] = h
	return nil
}

func (m *memHandles) DeleteHandle(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, id)
	return nil
}

func specOf(id string, cpus float64) Spec {
	return Spec{SessionID: id, WorkspaceDir: "/data/ws/" + id, Network: NetworkNone, Limits: Limits{CPUs: cpus}}
}

func (b *fakeBackend) log() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.calls...)
}

func sameCalls(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("calls %q, want %q", got, want)
		}
	}
}

// waitSaved waits for the save of a session's handle, which runs beside the
// sandbox's first use.
func waitSaved(t *testing.T, tb *Toolbox, sessionID string) {
	t.Helper()
	tb.mu.Lock()
	b := tb.boxes[sessionID]
	tb.mu.Unlock()
	if b == nil {
		t.Fatalf("no sandbox for %s", sessionID)
	}
	<-b.saved
}

// The toolbox persists each session's handle and recovers a
// session that has one (with today's spec) instead of creating a sandbox.
func TestToolboxHandles(t *testing.T) {
	ctx := context.Background()
	cpus := 1.0
	specFor := func(_ context.Context, id string) (Spec, error) { return specOf(id, cpus), nil }
	hs := &memHandles{m: map[string]Handle{}}
	be := &fakeBackend{name: "docker", reattach: true}

	tb := NewToolbox(be, specFor, WithHandles(hs))
	if _, err := tb.Sandbox(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	sameCalls(t, be.log(), "create")
	waitSaved(t, tb, "s1")
	if h, ok, _ := hs.LoadHandle(ctx, "s1"); !ok || h.ID != "sbx_new1" {
		t.Fatalf("saved handle %+v %v", h, ok)
	}
	// Graceful shutdown detaches from a sandbox that outlives the server.
	if err := tb.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sameCalls(t, be.log(), "create", "detach sbx_new1")

	// A restarted server recovers it, with the spec as it is now.
	cpus = 2
	be2 := &fakeBackend{name: "docker", reattach: true}
	tb2 := NewToolbox(be2, specFor, WithHandles(hs))
	sb, err := tb2.Sandbox(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	sameCalls(t, be2.log(), "recover")
	if sb.ID() != "sbx_new1" || be2.specs[0].Limits.CPUs != 2 {
		t.Fatalf("recovered %s with %+v", sb.ID(), be2.specs[0])
	}
	waitSaved(t, tb2, "s1")
	if h, _, _ := hs.LoadHandle(ctx, "s1"); h.Spec.Limits.CPUs != 2 {
		t.Fatalf("handle after recover: %+v", h)
	}
	// Destroy removes the sandbox and the handle.
	if err := tb2.Release(ctx, "s1", true); err != nil {
		t.Fatal(err)
	}
	sameCalls(t, be2.log(), "recover", "destroy sbx_new1")
	if _, ok, _ := hs.LoadHandle(ctx, "s1"); ok {
		t.Fatal("handle survived destroy")
	}

	// A session deleted before this server started its sandbox is
	// discarded from its handle.
	_ = hs.SaveHandle(ctx, "s2", Handle{Version: HandleVersion, Backend: "docker", ID: "sbx_old", Spec: specOf("s2", 1)})
	if err := tb2.Release(ctx, "s2", true); err != nil {
		t.Fatal(err)
	}
	sameCalls(t, be2.log(), "recover", "destroy sbx_new1", "discard sbx_old")
	if _, ok, _ := hs.LoadHandle(ctx, "s2"); ok {
		t.Fatal("handle survived discard")
	}

	// A handle of another backend: nothing of it is touched, the session
	// gets a new sandbox, and its handle replaces the old one.
	_ = hs.SaveHandle(ctx, "s3", Handle{Version: HandleVersion, Backend: "local", ID: "sbx_local", Spec: specOf("s3", 1)})
	if sb, err = tb2.Sandbox(ctx, "s3"); err != nil {
		t.Fatal(err)
	}
	sameCalls(t, be2.log(), "recover", "destroy sbx_new1", "discard sbx_old", "create")
	waitSaved(t, tb2, "s3")
	if h, _, _ := hs.LoadHandle(ctx, "s3"); h.Backend != "docker" || h.ID != sb.ID() {
		t.Fatalf("handle after switching backends: %+v", h)
	}

	// Without persisted handles nothing could reattach: Close stops.
	be3 := &fakeBackend{name: "docker", reattach: true}
	tb3 := NewToolbox(be3, specFor)
	if _, err := tb3.Sandbox(ctx, "s4"); err != nil {
		t.Fatal(err)
	}
	_ = tb3.Close(ctx)
	sameCalls(t, be3.log(), "create", "stop sbx_new1")
}
