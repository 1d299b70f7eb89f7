package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/local"
	"github.com/hangarhq/hangar/internal/sandbox/sandboxtest"
)

// recorder remembers every sandbox the toolbox creates, pooled or not.
type recorder struct {
	*local.Backend
	mu      sync.Mutex
	created []sandbox.Sandbox
	// startedAs is each one's session when created (adoption changes it).
	startedAs []string
}

func (r *recorder) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	sb, err := r.Backend.Create(ctx, spec)
	if err == nil {
		r.mu.Lock()
		r.created = append(r.created, sb)
		r.startedAs = append(r.startedAs, spec.SessionID)
		r.mu.Unlock()
	}
	return sb, err
}

// createdFor lists the sandboxes started with session id (not adopted).
func (r *recorder) createdFor(session string) []sandbox.Sandbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sandbox.Sandbox
	for i, sb := range r.created {
		if r.startedAs[i] == session {
			out = append(out, sb)
		}
	}
	return out
}

func waitPooled(tb testing.TB, t *sandbox.Toolbox, n int) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for t.Pooled() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("pool has %d sandboxes after 30s, want %d", t.Pooled(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func poolToolbox(tb testing.TB, be sandbox.Backend, root string, size int, mounts map[string][]sandbox.Mount) *sandbox.Toolbox {
	spec := func(id string) sandbox.Spec {
		return sandbox.Spec{SessionID: id, WorkspaceDir: filepath.Join(root, "ws", id), OutputDir: filepath.Join(root, "out", id),
			Network: sandbox.NetworkNone, Limits: sandbox.Limits{MemoryBytes: 256 << 20, Pids: 128}, Env: map[string]string{"LANG": "C.UTF-8"}}
	}
	return sandbox.NewToolbox(be, func(ctx context.Context, sessionID string) (sandbox.Spec, error) {
		s := spec(sessionID)
		s.Mounts = mounts[sessionID]
		return s, os.MkdirAll(s.WorkspaceDir, 0o700)
	}, sandbox.WithPool(size, spec))
}

func TestToolboxPool(t *testing.T) {
	rec := &recorder{Backend: newBackend(t)}
	root := t.TempDir()
	src := filepath.Join(root, "resource.txt")
	if err := os.WriteFile(src, []byte("mounted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := poolToolbox(t, rec, root, 2, map[string][]sandbox.Mount{"sesn_m": {{Source: src, Target: "/mnt/session/uploads/r.txt"}}})
	closed := false
	defer func() {
		if !closed {
			tb.Close(context.Background())
		}
	}()
	ctx := context.Background()
	bash := func(session, cmd string) string {
		t.Helper()
		in, _ := json.Marshal(map[string]string{"command": cmd})
		res, err := tb.Execute(ctx, session, "bash", in)
		if err != nil || res.IsError {
			t.Fatalf("%s: %q: %+v %v", session, cmd, res, err)
		}
		return res.Text
	}
	waitPooled(t, tb, 2)

	// A claimed sandbox works in the session's own workspace and outputs.
	if got := bash("sesn_a", "echo a > f; echo o > /mnt/session/outputs/o; pwd"); got != "/workspace" {
		t.Fatalf("pwd: %q", got)
	}
	if n := len(rec.createdFor("sesn_a")); n != 0 {
		t.Fatalf("sesn_a: %d sandboxes created for it, want it served from the pool", n)
	}
	for p, want := range map[string]string{filepath.Join(root, "ws", "sesn_a", "f"): "a\n", filepath.Join(root, "out", "sesn_a", "o"): "o\n"} {
		if b, err := os.ReadFile(p); err != nil || string(b) != want {
			t.Fatalf("%s on the host: %q %v", p, b, err)
		}
	}
	sa, _ := tb.Sandbox(ctx, "sesn_a")
	if h := sa.Handle(); h.Spec.SessionID != "sesn_a" || h.Spec.WorkspaceDir != filepath.Join(root, "ws", "sesn_a") || h.Spec.OutputDir != filepath.Join(root, "out", "sesn_a") {
		t.Fatalf("handle of the claimed sandbox: %+v", h.Spec)
	}

	// Another pooled sandbox: a different sandbox, seeing none of sesn_a's files.
	waitPooled(t, tb, 2)
	if got := bash("sesn_b", "ls -A /workspace /mnt/session/outputs; cat f 2>&1 || true"); got != "/mnt/session/outputs:\n\n/workspace:\ncat: f: No such file or directory" {
		t.Fatalf("sesn_b sees: %q", got)
	}
	sbB, _ := tb.Sandbox(ctx, "sesn_b")
	if sbB.ID() == sa.ID() || len(rec.createdFor("sesn_b")) != 0 {
		t.Fatalf("sesn_b: sandbox %s (sesn_a's %s), created %d", sbB.ID(), sa.ID(), len(rec.createdFor("sesn_b")))
	}

	// A spec with mounts bypasses the pool: its resources must be there.
	waitPooled(t, tb, 2)
	if got := bash("sesn_m", "cat /mnt/session/uploads/r.txt"); got != "mounted" {
		t.Fatalf("sesn_m: %q", got)
	}
	if n := len(rec.createdFor("sesn_m")); n != 1 {
		t.Fatalf("sesn_m: %d sandboxes created for it, want 1 (not from the pool)", n)
	}
	if tb.Pooled() != 2 {
		t.Fatalf("pool used for a session with mounts: %d left", tb.Pooled())
	}

	// A workspace with files already (a resumed session, files copied in)
	// is never replaced by a pooled one.
	if err := os.MkdirAll(filepath.Join(root, "ws", "sesn_c"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "ws", "sesn_c", "keep"), []byte("k\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := bash("sesn_c", "cat keep"); got != "k" || len(rec.createdFor("sesn_c")) != 1 {
		t.Fatalf("sesn_c: %q, created %d", got, len(rec.createdFor("sesn_c")))
	}

	// A pooled sandbox that died is not handed out.
	rec.mu.Lock()
	var pooled []sandbox.Sandbox
	for _, sb := range rec.created {
		if strings.HasPrefix(sb.Handle().Spec.SessionID, sandbox.PoolIDPrefix) {
			pooled = append(pooled, sb)
		}
	}
	rec.mu.Unlock()
	if len(pooled) != 2 {
		t.Fatalf("%d unclaimed pooled sandboxes, want 2", len(pooled))
	}
	for _, sb := range pooled {
		_ = sb.Stop(ctx)
	}
	if got := bash("sesn_d", "echo d"); got != "d" || len(rec.createdFor("sesn_d")) != 1 {
		t.Fatalf("sesn_d after the pool died: %q, created %d", got, len(rec.createdFor("sesn_d")))
	}

	// Release destroys the session's workspace, not the pool's.
	if err := tb.Release(ctx, "sesn_a", true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "ws", "sesn_a")); !os.IsNotExist(err) {
		t.Fatalf("sesn_a workspace after release: %v", err)
	}

	// Close destroys the pool: no process and no pool directory is left.
	waitPooled(t, tb, 2)
	var pids []int
	rec.mu.Lock()
	for _, sb := range rec.created {
		pids = append(pids, sb.(sandboxtest.Pidser).Pids()...)
	}
	rec.mu.Unlock()
	closed = true
	if err := tb.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range pids {
		// A zombie is dead, only not yet reaped by the host's init.
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat"); syscall.Kill(p, 0) == nil && !strings.Contains(string(st), ") Z ") {
			t.Errorf("pid %d alive after Close: %s", p, st)
		}
	}
	for _, d := range []string{"ws", "out"} {
		if left, _ := filepath.Glob(filepath.Join(root, d, sandbox.PoolIDPrefix+"*")); len(left) != 0 {
			t.Errorf("pool directories left after Close: %v", left)
		}
	}
}

// Session created → its first `bash true` answered: from the pool, and cold
// (pool size 0) for comparison.
func BenchmarkPoolClaim(b *testing.B) {
	for _, c := range []struct {
		name string
		size int
	}{{"pool", 2}, {"cold", 0}} {
		b.Run(c.name, func(b *testing.B) {
			be := benchBackend(b)
			tb := poolToolbox(b, be, b.TempDir(), c.size, nil)
			defer tb.Close(context.Background())
			ctx := context.Background()
			in := json.RawMessage(`{"command":"true"}`)
			var lat []time.Duration
			i := 0
			for b.Loop() {
				b.StopTimer()
				waitPooled(b, tb, c.size)
				session := "sesn_" + strconv.Itoa(i)
				i++
				b.StartTimer()
				start := time.Now()
				res, err := tb.Execute(ctx, session, "bash", in)
				if err != nil || res.IsError {
					b.Fatal(res, err)
				}
				lat = append(lat, time.Since(start))
				b.StopTimer()
				_ = tb.Release(ctx, session, true)
				b.StartTimer()
			}
			sandboxtest.ReportPercentiles(b, lat)
		})
	}
}
