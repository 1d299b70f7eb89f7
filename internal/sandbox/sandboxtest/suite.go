// Package sandboxtest is the one conformance suite every sandbox backend
// passes: lifecycle, exec (streaming, stdin, signals, timeouts), files,
// persistence, Recover, Destroy, the built-in tools against the SDK's
// reference implementation, and the attacks an agent could try from inside
// a sandbox. Each attack is a subtest that fails if the attack works.
package sandboxtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2/tools/agenttoolset"

	"github.com/hangarhq/hangar/internal/sandbox"
)

// Optional introspection a backend's sandboxes may offer the suite.
type (
	// Pidser lists the host pids of a sandbox's processes.
	Pidser interface{ Pids() []int }
	// OOMKiller counts processes the memory limit killed.
	OOMKiller interface{ OOMKills() int64 }
)

// Run runs the suite against the backend newBackend returns.
func Run(t *testing.T, newBackend func(t *testing.T) sandbox.Backend) {
	b := newBackend(t)
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, b) })
	t.Run("RefusedWhenClosed", func(t *testing.T) { testRefusedWhenClosed(t, b) })
	t.Run("Exec", func(t *testing.T) { testExec(t, b) })
	t.Run("Files", func(t *testing.T) { testFiles(t, b) })
	t.Run("Tools", func(t *testing.T) { testTools(t, b) })
	t.Run("Recover", func(t *testing.T) { testRecover(t, b) })
	// A backend of its own: Sweep removes every sandbox of its backend
	// that keep refuses.
	t.Run("DiscardAndSweep", func(t *testing.T) { testDiscardAndSweep(t, newBackend(t)) })
	t.Run("SpecValidation", func(t *testing.T) { testSpecValidation(t, b) })
	t.Run("Attack", func(t *testing.T) {
		t.Run("HostFiles", func(t *testing.T) { attackHostFiles(t, b) })
		t.Run("OtherSandbox", func(t *testing.T) { attackOtherSandbox(t, b) })
		t.Run("EnvLeak", func(t *testing.T) { attackEnv(t, b) })
		t.Run("Network", func(t *testing.T) { attackNetwork(t, b) })
		t.Run("Egress", func(t *testing.T) { testEgress(t, b) })
		t.Run("ForkBomb", func(t *testing.T) { attackForkBomb(t, b) })
		t.Run("MemoryHog", func(t *testing.T) { attackMemory(t, b) })
		t.Run("SurviveDestroy", func(t *testing.T) { attackSurviveDestroy(t, b) })
		t.Run("SymlinkMounts", func(t *testing.T) { attackSymlinkMounts(t, b) })
		t.Run("SymlinkPaths", func(t *testing.T) { attackSymlinkPaths(t, b) })
		t.Run("Privileges", func(t *testing.T) { attackPrivileges(t, b) })
	})
}

// NewSpec returns a minimal valid spec with a fresh workspace.
func NewSpec(t testing.TB) sandbox.Spec {
	dir := t.TempDir()
	return sandbox.Spec{
		SessionID:    "sesn_" + randHex(6),
		WorkspaceDir: filepath.Join(dir, "workspace"),
		OutputDir:    filepath.Join(dir, "outputs"),
		Network:      sandbox.NetworkNone,
		Limits:       sandbox.Limits{MemoryBytes: 256 << 20, Pids: 256, CPUs: 1},
		Timeout:      30 * time.Second,
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Create creates a sandbox of spec on b, failing the test on an error, and
// destroys it when the test ends.
func Create(t testing.TB, b sandbox.Backend, spec sandbox.Spec) sandbox.Sandbox {
	t.Helper()
	sb, err := b.Create(context.Background(), spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = sb.Destroy(context.Background()) })
	return sb
}

// sh runs a shell command and returns stdout, failing the test on a
// transport error (not on a non-zero exit).
func sh(t testing.TB, sb sandbox.Sandbox, script string) (string, sandbox.ExitStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, errOut, st, err := sandbox.Output(ctx, sb, "/bin/bash", "-c", script)
	if err != nil {
		t.Fatalf("exec %q: %v", script, err)
	}
	return out + errOut, st
}

func mustSh(t testing.TB, sb sandbox.Sandbox, script string) string {
	t.Helper()
	out, st := sh(t, sb, script)
	if st.Code != 0 {
		t.Fatalf("%q: exit %+v: %s", script, st, out)
	}
	return out
}

func testLifecycle(t *testing.T, b sandbox.Backend) {
	spec := NewSpec(t)
	sb := Create(t, b, spec)
	if sb.ID() == "" {
		t.Fatal("empty id")
	}
	h := sb.Handle()
	raw, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back sandbox.Handle
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Version != sandbox.HandleVersion || back.ID != sb.ID() || back.Backend != b.Capabilities().Backend || back.Spec.WorkspaceDir != spec.WorkspaceDir {
		t.Fatalf("handle round trip: %+v", back)
	}
	// The fixed layout.
	got := mustSh(t, sb, "pwd; test -d /workspace -a -w /workspace && echo ws; test -d /mnt/session/outputs -a -w /mnt/session/outputs && echo out; test -w /usr || echo usr-ro; id -u")
	if got != "/workspace\nws\nout\nusr-ro\n1000\n" {
		t.Fatalf("layout: %q", got)
	}
	mustSh(t, sb, "echo hello > /workspace/a.txt; echo result > /mnt/session/outputs/r.txt")
	if b, err := os.ReadFile(filepath.Join(spec.WorkspaceDir, "a.txt")); err != nil || string(b) != "hello\n" {
		t.Fatalf("workspace file on host: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(spec.OutputDir, "r.txt")); err != nil || string(b) != "result\n" {
		t.Fatalf("output file on host: %q %v", b, err)
	}

	// Stop keeps the workspace; the sandbox no longer runs anything.
	if err := sb.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := sandbox.Run(context.Background(), sb, sandbox.ExecRequest{Argv: []string{"true"}}); !errors.Is(err, sandbox.ErrClosed) {
		t.Fatalf("exec after Stop: %v, want ErrClosed", err)
	}
	if _, err := os.Stat(filepath.Join(spec.WorkspaceDir, "a.txt")); err != nil {
		t.Fatalf("workspace after Stop: %v", err)
	}
	if err := sb.Destroy(context.Background()); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if _, err := os.Stat(spec.WorkspaceDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("workspace after Destroy: %v", err)
	}
	if err := sb.Destroy(context.Background()); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
}

// testRefusedWhenClosed: once a sandbox is stopped or destroyed, every call
// that would run something in it fails with exactly ErrClosed on every
// backend, so callers can tell "gone" from a failure inside the sandbox.
func testRefusedWhenClosed(t *testing.T, b sandbox.Backend) {
	ctx := context.Background()
	calls := []struct {
		name string
		call func(sandbox.Sandbox) error
	}{
		{"Exec", func(sb sandbox.Sandbox) error {
			_, err := sb.Exec(ctx, sandbox.ExecRequest{Argv: []string{"true"}})
			return err
		}},
		{"PutFile", func(sb sandbox.Sandbox) error {
			return sb.PutFile(ctx, "/workspace/x.txt", strings.NewReader("x"), 0o644)
		}},
		{"GetFile", func(sb sandbox.Sandbox) error { return sb.GetFile(ctx, "/workspace/x.txt", io.Discard) }},
		{"RunTool", func(sb sandbox.Sandbox) error {
			_, err := sb.RunTool(ctx, "bash", json.RawMessage(`{"command":"true"}`))
			return err
		}},
	}
	for _, end := range []struct {
		name string
		end  func(sandbox.Sandbox) error
	}{
		{"Stop", func(sb sandbox.Sandbox) error { return sb.Stop(ctx) }},
		{"Destroy", func(sb sandbox.Sandbox) error { return sb.Destroy(ctx) }},
	} {
		t.Run(end.name, func(t *testing.T) {
			sb := Create(t, b, NewSpec(t))
			if err := end.end(sb); err != nil {
				t.Fatalf("%s: %v", end.name, err)
			}
			for _, c := range calls {
				if err := c.call(sb); err != sandbox.ErrClosed {
					t.Errorf("%s after %s: %v, want exactly sandbox.ErrClosed", c.name, end.name, err)
				}
			}
		})
	}
}

// chanWriter reports each write, so a test can see output before exit.
type chanWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan string
}

func (w *chanWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	select {
	case w.ch <- string(p):
	default:
	}
	return len(p), nil
}

func testExec(t *testing.T, b sandbox.Backend) {
	spec := NewSpec(t)
	spec.Env = map[string]string{"GREETING": "hi there"}
	sb := Create(t, b, spec)
	ctx := context.Background()

	cases := []struct {
		name, script, stdout, stderr string
		code                         int
	}{
		{"stdout", "echo out", "out\n", "", 0},
		{"stderr", "echo err >&2", "", "err\n", 0},
		{"exit code", "exit 7", "", "", 7},
		{"env", `echo "$GREETING"`, "hi there\n", "", 0},
		{"cwd", "pwd", "/workspace\n", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, e, st, err := sandbox.Output(ctx, sb, "/bin/bash", "-c", c.script)
			if err != nil || o != c.stdout || e != c.stderr || st.Code != c.code {
				t.Fatalf("got %q %q %+v %v", o, e, st, err)
			}
		})
	}
	t.Run("dir and env override", func(t *testing.T) {
		var o strings.Builder
		st, err := sandbox.Run(ctx, sb, sandbox.ExecRequest{Argv: []string{"/bin/sh", "-c", "pwd; echo ${GREETING:-unset} $ONLY"}, Dir: "/tmp", Env: map[string]string{"ONLY": "1"}, Stdout: &o})
		if err != nil || st.Code != 0 || o.String() != "/tmp\nunset 1\n" {
			t.Fatalf("got %q %+v %v", o.String(), st, err)
		}
	})
	t.Run("missing binary", func(t *testing.T) {
		if _, err := sb.Exec(ctx, sandbox.ExecRequest{Argv: []string{"/no/such/binary"}}); err == nil {
			t.Fatal("want error")
		}
		if _, err := sb.Exec(ctx, sandbox.ExecRequest{}); err == nil {
			t.Fatal("want error for empty argv")
		}
	})
	t.Run("stdin", func(t *testing.T) {
		var o strings.Builder
		st, err := sandbox.Run(ctx, sb, sandbox.ExecRequest{Argv: []string{"tr", "a-z", "A-Z"}, Stdin: strings.NewReader("shout\n"), Stdout: &o})
		if err != nil || st.Code != 0 || o.String() != "SHOUT\n" {
			t.Fatalf("got %q %+v %v", o.String(), st, err)
		}
	})
	t.Run("streaming", func(t *testing.T) {
		w := &chanWriter{ch: make(chan string, 16)}
		p, err := sb.Exec(ctx, sandbox.ExecRequest{Argv: []string{"/bin/bash", "-c", "echo first; sleep 10; echo second"}, Stdout: w})
		if err == nil {
			select {
			case got := <-w.ch:
				if got != "first\n" {
					t.Errorf("first chunk %q", got)
				}
			case <-time.After(10 * time.Second):
				t.Error("no output before the command ended")
			}
			_ = p.Signal(ctx, syscall.SIGKILL)
			_, _ = p.Wait(ctx)
		} else {
			t.Fatal(err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		st, err := sandbox.Run(ctx, sb, sandbox.ExecRequest{Argv: []string{"/bin/bash", "-c", "sleep 30 & sleep 30"}, Timeout: 200 * time.Millisecond})
		if err != nil || !st.TimedOut || st.Code == 0 {
			t.Fatalf("got %+v %v", st, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("timeout took %v", d)
		}
		// The whole process group went, the background sleep included.
		if out := mustSh(t, sb, "pgrep -x sleep || true"); out != "" {
			t.Fatalf("sleeps survived the timeout: %q", out)
		}
	})
	t.Run("signal", func(t *testing.T) {
		p, err := sb.Exec(ctx, sandbox.ExecRequest{Argv: []string{"sleep", "30"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Signal(ctx, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		st, err := p.Wait(ctx)
		if err != nil || st.Signal != syscall.SIGTERM.String() {
			t.Fatalf("got %+v %v", st, err)
		}
	})
	t.Run("context cancel kills", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		p, err := sb.Exec(cctx, sandbox.ExecRequest{Argv: []string{"sleep", "30"}})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		defer wcancel()
		st, err := p.Wait(wctx)
		if err != nil || st.Signal == "" {
			t.Fatalf("got %+v %v", st, err)
		}
	})
	t.Run("large output", func(t *testing.T) {
		o, _, st, err := sandbox.Output(ctx, sb, "/bin/bash", "-c", "head -c 3000000 /dev/zero | tr '\\0' x")
		if err != nil || st.Code != 0 || len(o) != 3000000 {
			t.Fatalf("got %d bytes %+v %v", len(o), st, err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, _, _, err := sandbox.Output(ctx, sb, "echo", strconv.Itoa(i))
				if err == nil && o != strconv.Itoa(i)+"\n" {
					err = fmt.Errorf("got %q", o)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

func testFiles(t *testing.T, b sandbox.Backend) {
	spec := NewSpec(t)
	sb := Create(t, b, spec)
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 50000) // several chunks
	if err := sb.PutFile(ctx, "/workspace/dir/big.bin", bytes.NewReader(big), 0o600); err == nil {
		t.Fatal("PutFile into a missing directory succeeded")
	}
	mustSh(t, sb, "mkdir -p /workspace/dir")
	if err := sb.PutFile(ctx, "/workspace/dir/big.bin", bytes.NewReader(big), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := mustSh(t, sb, "stat -c %a /workspace/dir/big.bin; wc -c < /workspace/dir/big.bin"); got != "600\n800000\n" {
		t.Fatalf("in sandbox: %q", got)
	}
	var back bytes.Buffer
	if err := sb.GetFile(ctx, "/workspace/dir/big.bin", &back); err != nil || !bytes.Equal(back.Bytes(), big) {
		t.Fatalf("GetFile: %d bytes, %v", back.Len(), err)
	}
	if err := sb.GetFile(ctx, "/workspace/nope", &back); err == nil {
		t.Fatal("GetFile of a missing file succeeded")
	}
	if err := sb.GetFile(ctx, "/workspace", &back); err == nil {
		t.Fatal("GetFile of a directory succeeded")
	}
	if err := sb.PutFile(ctx, "/usr/evil", strings.NewReader("x"), 0o644); err == nil {
		t.Fatal("PutFile into read-only /usr succeeded")
	}
	// Read-only file mounts.
	src := filepath.Join(t.TempDir(), "resource.txt")
	if err := os.WriteFile(src, []byte("resource\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec2 := NewSpec(t)
	spec2.Mounts = []sandbox.Mount{{Source: src, Target: "/mnt/session/uploads/resource.txt"}}
	sb2 := Create(t, b, spec2)
	if got := mustSh(t, sb2, "cat /mnt/session/uploads/resource.txt; (echo x > /mnt/session/uploads/resource.txt) 2>/dev/null || echo ro"); got != "resource\nro\n" {
		t.Fatalf("mount: %q", got)
	}
	if b, _ := os.ReadFile(src); string(b) != "resource\n" {
		t.Fatalf("resource changed on the host: %q", b)
	}
}

// toolCalls is a scripted session compared against the SDK's agenttoolset
// run on the host: results must be identical.
var toolCalls = []struct{ name, input string }{
	{"bash", `{"command":"echo hi; echo err >&2"}`},
	{"bash", `{"command":"cd /tmp && export FOO=bar"}`},
	{"bash", `{"command":"echo $FOO; false"}`},
	{"bash", `{"command":"cd - >/dev/null; pwd"}`},
	{"bash", `{"command":""}`},
	{"bash", `{"restart":true}`},
	{"bash", `{"command":"echo ${FOO:-gone}"}`},
	{"bash", `{"command":"sleep 5","timeout_ms":100}`},
	{"write", `{"file_path":"notes/a.txt","content":"alpha\nbeta\ngamma\n"}`},
	{"read", `{"file_path":"notes/a.txt"}`},
	{"read", `{"file_path":"notes/a.txt","view_range":[2,3]}`},
	{"read", `{"file_path":"notes/missing.txt"}`},
	{"read", `{"file_path":"../../etc/passwd"}`},
	{"edit", `{"file_path":"notes/a.txt","old_string":"beta","new_string":"BETA"}`},
	{"edit", `{"file_path":"notes/a.txt","old_string":"nope","new_string":"x"}`},
	{"write", `{"file_path":"notes/b.go","content":"package b\n// beta too\n"}`},
	{"glob", `{"pattern":"**/*.txt"}`},
	{"glob", `{"pattern":"*.go","path":"notes"}`},
	{"glob", `{"pattern":"/etc/*"}`},
	{"grep", `{"pattern":"BETA|beta"}`},
	{"grep", `{"pattern":"(unclosed"}`},
	{"read", `{"bad":1}`},
	{"bash", `{"command":"ls notes"}`},
}

func testTools(t *testing.T, b sandbox.Backend) {
	sb := Create(t, b, NewSpec(t))
	ref := t.TempDir()
	env := &agenttoolset.AgentToolContext{Workdir: ref, Env: map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": ref}}
	set := agenttoolset.BetaAgentToolset20260401(env)
	defer agenttoolset.CloseAll(set)
	byName := map[string]int{}
	for i, tl := range set {
		byName[tl.Name()] = i
	}
	ctx := context.Background()
	for i, c := range toolCalls {
		got, err := sb.RunTool(ctx, c.name, json.RawMessage(c.input))
		if err != nil {
			t.Fatalf("call %d %s: %v", i, c.name, err)
		}
		blocks, rerr := set[byName[c.name]].Execute(ctx, json.RawMessage(c.input))
		want := sandbox.ToolResult{}
		var te *agenttoolset.ToolError
		switch {
		case errors.As(rerr, &te):
			want = sandbox.ToolResult{Text: te.Content, IsError: true}
		case rerr != nil:
			want = sandbox.ToolResult{Text: rerr.Error(), IsError: true}
		default:
			for _, bl := range blocks {
				if bl.OfText != nil {
					want.Text += bl.OfText.Text
				}
			}
		}
		want.Text = strings.ReplaceAll(want.Text, ref, sandbox.WorkspacePath)
		if got != want {
			t.Errorf("call %d %s %s:\n got %+v\nwant %+v", i, c.name, c.input, got, want)
		}
	}
	if _, err := sb.RunTool(ctx, "teleport", json.RawMessage(`{}`)); err == nil {
		t.Error("unknown tool: want error")
	}
}

func testRecover(t *testing.T, b sandbox.Backend) {
	spec := NewSpec(t)
	sb := Create(t, b, spec)
	mustSh(t, sb, "echo kept > /workspace/state.txt; echo gone > /tmp/scratch")
	raw, _ := json.Marshal(sb.Handle())
	var h sandbox.Handle
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	// Simulates the server going away: the old sandbox stops, then a new
	// server recovers it from the persisted handle.
	if err := sb.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	rb, err := b.Recover(context.Background(), h)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	t.Cleanup(func() { _ = rb.Destroy(context.Background()) })
	if rb.ID() != sb.ID() {
		t.Fatalf("recovered id %s, want %s", rb.ID(), sb.ID())
	}
	if got := mustSh(t, rb, "cat /workspace/state.txt; cat /tmp/scratch 2>/dev/null || echo fresh-tmp"); got != "kept\nfresh-tmp\n" {
		t.Fatalf("after Recover: %q", got)
	}
	// Recover of a still-running sandbox replaces it.
	rb2, err := b.Recover(context.Background(), rb.Handle())
	if err != nil {
		t.Fatalf("Recover of a live sandbox: %v", err)
	}
	t.Cleanup(func() { _ = rb2.Destroy(context.Background()) })
	if got := mustSh(t, rb2, "cat /workspace/state.txt"); got != "kept\n" {
		t.Fatalf("after second Recover: %q", got)
	}
	for _, bad := range []func(h *sandbox.Handle){
		func(h *sandbox.Handle) { h.Version = 99 },
		func(h *sandbox.Handle) { h.Backend = "nope" },
		func(h *sandbox.Handle) { h.ID = "../../etc" },
		func(h *sandbox.Handle) { h.Spec.WorkspaceDir = "relative" },
	} {
		hh := rb2.Handle()
		bad(&hh)
		if _, err := b.Recover(context.Background(), hh); err == nil {
			t.Errorf("Recover accepted a bad handle %+v", hh)
		}
	}
}

// testDiscardAndSweep: a backend that can remove a sandbox from its handle
// alone (a session deleted while the server was down) leaves neither its
// processes nor its workspace; one that sweeps its own sandboxes at start
// removes those keep refuses and leaves the others running.
func testDiscardAndSweep(t *testing.T, b sandbox.Backend) {
	ctx := context.Background()
	if d, ok := b.(sandbox.Discarder); ok {
		spec := NewSpec(t)
		sb := Create(t, b, spec)
		mustSh(t, sb, "echo x > /workspace/f")
		h := sb.Handle()
		if err := d.Discard(ctx, h); err != nil {
			t.Fatalf("Discard: %v", err)
		}
		if _, err := os.Stat(spec.WorkspaceDir); !os.IsNotExist(err) {
			t.Errorf("workspace after Discard: %v", err)
		}
		if _, _, st, err := sandbox.Output(ctx, sb, "/bin/true"); err == nil && st.Code == 0 {
			t.Error("a discarded sandbox still runs commands")
		}
		if err := d.Discard(ctx, h); err != nil {
			t.Errorf("Discard of a discarded sandbox: %v", err)
		}
	}
	sw, ok := b.(sandbox.Sweeper)
	if !ok {
		return
	}
	kept := Create(t, b, NewSpec(t))
	swept := Create(t, b, NewSpec(t))
	keptWS := kept.Handle().Spec.WorkspaceDir
	mustSh(t, kept, "echo x > /workspace/f")
	if err := sw.Sweep(ctx, func(id string) bool { return id == kept.ID() }); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if got := mustSh(t, kept, "cat /workspace/f"); got != "x\n" {
		t.Fatalf("kept sandbox after Sweep: %q", got)
	}
	if _, err := os.Stat(filepath.Join(keptWS, "f")); err != nil {
		t.Fatalf("kept workspace after Sweep: %v", err)
	}
	// Processes of a swept sandbox are gone where the backend can find
	// them (docker: the container; local: its cgroup).
	if slices.Contains(b.Capabilities().Limits, "pids") {
		if _, _, st, err := sandbox.Output(ctx, swept, "/bin/true"); err == nil && st.Code == 0 {
			t.Error("a swept sandbox still runs commands")
		}
	}
}

func testSpecValidation(t *testing.T, b sandbox.Backend) {
	for name, mut := range map[string]func(s *sandbox.Spec){
		"no session":       func(s *sandbox.Spec) { s.SessionID = "" },
		"relative ws":      func(s *sandbox.Spec) { s.WorkspaceDir = "ws" },
		"bad network":      func(s *sandbox.Spec) { s.Network = "wifi" },
		"negative limit":   func(s *sandbox.Spec) { s.Limits.Pids = -1 },
		"mount on usr":     func(s *sandbox.Spec) { s.Mounts = []sandbox.Mount{{Source: "/tmp", Target: "/usr/x"}} },
		"mount in ws":      func(s *sandbox.Spec) { s.Mounts = []sandbox.Mount{{Source: "/tmp", Target: "/workspace/x"}} },
		"mount over mnt":   func(s *sandbox.Spec) { s.Mounts = []sandbox.Mount{{Source: "/tmp", Target: "/mnt"}} },
		"unclean target":   func(s *sandbox.Spec) { s.Mounts = []sandbox.Mount{{Source: "/tmp", Target: "/data/../usr"}} },
		"missing source":   func(s *sandbox.Spec) { s.Mounts = []sandbox.Mount{{Source: "/no/such/file", Target: "/data/x"}} },
		"bad env name":     func(s *sandbox.Spec) { s.Env = map[string]string{"A=B": "c"} },
		"relative outputs": func(s *sandbox.Spec) { s.OutputDir = "out" },
		"relative egress":  func(s *sandbox.Spec) { s.EgressDir = "egress" },
		"egress with host": func(s *sandbox.Spec) { s.EgressDir = "/tmp"; s.Network = sandbox.NetworkHost },
	} {
		t.Run(name, func(t *testing.T) {
			s := NewSpec(t)
			mut(&s)
			if sb, err := b.Create(context.Background(), s); err == nil {
				_ = sb.Destroy(context.Background())
				t.Fatal("Create accepted it")
			}
		})
	}
}

// canaries plants secret files where a sandbox must never reach: in a fake
// server data dir and in /root (when writable).
func canaries(t *testing.T) (value string, paths []string) {
	value = "CANARY-" + randHex(12)
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dataDir, "hangar.db")
	if err := os.WriteFile(p, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, p)
	rp := filepath.Join("/root", "hangar-canary-"+randHex(4))
	if err := os.WriteFile(rp, []byte(value), 0o600); err == nil {
		paths = append(paths, rp)
		t.Cleanup(func() { os.Remove(rp) })
	} else {
		t.Logf("no canary in /root: %v", err)
	}
	return value, paths
}

func attackHostFiles(t *testing.T, b sandbox.Backend) {
	value, paths := canaries(t)
	sb := Create(t, b, NewSpec(t))
	for _, p := range paths {
		out, _ := sh(t, sb, "cat "+p+" 2>&1; test -e "+p+" && echo EXISTS; ls -A "+filepath.Dir(p)+" 2>/dev/null")
		if strings.Contains(out, value) || strings.Contains(out, "EXISTS") || strings.Contains(out, filepath.Base(p)+"\n") {
			t.Errorf("host file %s visible from the sandbox: %q", p, out)
		}
	}
	// Nothing of the host beyond the system directories: the root holds
	// only the fixed layout, /etc only the allowed few, and /tmp, /root,
	// /home and /var are not the host's.
	out := mustSh(t, sb, "ls -A / | tr '\\n' ' '; echo; ls -A /root /home /var 2>&1 | tr '\\n' ' '; echo; ls -A /tmp | wc -l; test -e /etc/shadow && echo SHADOW; test -e /etc/ssh && echo SSH; cat /proc/1/cmdline | tr '\\0' ' '; echo")
	lines := strings.Split(out, "\n")
	for _, name := range strings.Fields(lines[0]) {
		switch name {
		case "bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "dev", "tmp", "var", "workspace", "mnt", "run":
		case "sys", ".dockerenv":
			// A container runtime always adds these; allowed only empty
			// (sys: an empty tmpfs over the host's sysfs).
			if got := mustSh(t, sb, "if [ -d /"+name+" ]; then ls -A /"+name+"; elif [ -s /"+name+" ]; then echo NONEMPTY; fi"); got != "" {
				t.Errorf("/%s in the sandbox root is not empty: %q", name, got)
			}
		default:
			t.Errorf("unexpected /%s in the sandbox root", name)
		}
	}
	if strings.Contains(out, "SHADOW") || strings.Contains(out, "SSH") {
		t.Errorf("host /etc secrets visible: %q", out)
	}
	if strings.TrimSpace(lines[2]) != "0" {
		t.Errorf("sandbox /tmp is not empty: %q", lines[2])
	}
	if strings.Contains(lines[3], "hangar serve") || strings.Contains(lines[3], "systemd") || strings.Contains(lines[3], "init") && !strings.Contains(lines[3], "bwrap") && !strings.Contains(lines[3], "agent") {
		t.Errorf("host pid 1 visible: %q", lines[3])
	}
	// Host processes are invisible: only the sandbox's own few are listed.
	if n, _ := strconv.Atoi(strings.TrimSpace(mustSh(t, sb, "ls /proc | grep -c '^[0-9]'"))); n > 10 {
		t.Errorf("%d processes visible in the sandbox's /proc", n)
	}
}

func attackOtherSandbox(t *testing.T, b sandbox.Backend) {
	specA, specB := NewSpec(t), NewSpec(t)
	a, bb := Create(t, b, specA), Create(t, b, specB)
	secret := "A-ONLY-" + randHex(8)
	mustSh(t, a, "echo "+secret+" > /workspace/private.txt; sleep 300 >/dev/null 2>&1 & echo started")
	out, _ := sh(t, bb, fmt.Sprintf("cat /workspace/private.txt %s/private.txt 2>&1; ls %s 2>&1; ps -eo args 2>/dev/null || ls /proc", specA.WorkspaceDir, filepath.Dir(specA.WorkspaceDir)))
	if strings.Contains(out, secret) || strings.Contains(out, "sleep 300") {
		t.Errorf("sandbox B sees sandbox A: %q", out)
	}
	// Signals cannot cross either: B cannot even name A's processes.
	if out, _ := sh(t, bb, "pkill -9 sleep; echo $?"); strings.TrimSpace(out) != "1" {
		t.Errorf("pkill in B found something: %q", out)
	}
	if got := mustSh(t, a, "pgrep -c -x sleep"); strings.TrimSpace(got) != "1" {
		t.Errorf("A's sleep is gone: %q", got)
	}
}

func attackEnv(t *testing.T, b sandbox.Backend) {
	secret := "sk-ant-" + randHex(16)
	t.Setenv("HANGAR_TEST_SECRET", secret)
	t.Setenv("ANTHROPIC_API_KEY", secret)
	spec := NewSpec(t)
	spec.Env = map[string]string{"VISIBLE": "yes"}
	sb := Create(t, b, spec)
	out := mustSh(t, sb, "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'")
	if strings.Contains(out, secret) || strings.Contains(out, "HANGAR_TEST_SECRET") || strings.Contains(out, "ANTHROPIC_API_KEY") {
		t.Fatalf("server environment leaked into the sandbox: %q", out)
	}
	if !strings.Contains(out, "VISIBLE=yes") {
		t.Fatalf("spec env missing: %q", out)
	}
	res, err := sb.RunTool(context.Background(), "bash", json.RawMessage(`{"command":"env"}`))
	if err != nil || strings.Contains(res.Text, secret) || !strings.Contains(res.Text, "VISIBLE=yes") {
		t.Fatalf("bash tool env: %+v %v", res, err)
	}
}

func attackNetwork(t *testing.T, b sandbox.Backend) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HOST-LISTENER\n"))
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	probe := fmt.Sprintf("timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d && cat <&3' 2>&1; ip -o link 2>/dev/null | grep -v ' lo:' | wc -l; cat /proc/net/dev | grep -c ':'", port)

	none := Create(t, b, NewSpec(t))
	out, _ := sh(t, none, probe)
	if strings.Contains(out, "HOST-LISTENER") {
		t.Fatalf("network none reached the host: %q", out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != "1" {
		t.Errorf("network none has interfaces besides lo: %q", out)
	}
	// The same probe with host networking works, so the check above is real.
	spec := NewSpec(t)
	spec.Network = sandbox.NetworkHost
	host := Create(t, b, spec)
	if out, _ := sh(t, host, probe); !strings.Contains(out, "HOST-LISTENER") {
		t.Errorf("network host did not reach the listener: %q", out)
	}
}

func attackForkBomb(t *testing.T, b sandbox.Backend) {
	spec := NewSpec(t)
	spec.Limits = sandbox.Limits{MemoryBytes: 256 << 20, Pids: 64, CPUs: 0.5}
	bomb := Create(t, b, spec)
	other := Create(t, b, NewSpec(t))
	ctx := context.Background()
	p, err := bomb.Exec(ctx, sandbox.ExecRequest{Argv: []string{"/bin/bash", "-c", "f(){ f | f & }; f; sleep 5"}, Timeout: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if pp, ok := bomb.(Pidser); ok {
		if n := len(pp.Pids()); n > 64 {
			t.Errorf("%d processes, over the pids limit of 64", n)
		}
	}
	// The host (and its other sandboxes) stay responsive.
	for range 5 {
		start := time.Now()
		mustSh(t, other, "true")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("exec in another sandbox took %v during the fork bomb", d)
		}
	}
	st, err := p.Wait(ctx)
	if err != nil || !st.TimedOut {
		t.Fatalf("fork bomb: %+v %v", st, err)
	}
	// Once the bomb is gone the sandbox works again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, st := sh(t, bomb, "echo alive")
		if st.Code == 0 && out == "alive\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox unusable after the fork bomb: %q %+v", out, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func attackMemory(t *testing.T, b sandbox.Backend) {
	spec := NewSpec(t)
	spec.Limits = sandbox.Limits{MemoryBytes: 64 << 20, Pids: 64, CPUs: 1}
	sb := Create(t, b, spec)
	start := time.Now()
	// tail buffers /dev/zero looking for a newline that never comes.
	out, st := sh(t, sb, "tail /dev/zero; echo status=$?")
	if !strings.Contains(out, "status=137") {
		t.Fatalf("memory hog was not killed: %q %+v", out, st)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("OOM kill took %v", d)
	}
	if ok, isOOM := sb.(OOMKiller); isOOM && ok.OOMKills() == 0 {
		t.Error("no OOM kill recorded by the memory limit")
	}
	if got := mustSh(t, sb, "echo alive"); got != "alive\n" {
		t.Fatalf("sandbox after OOM: %q", got)
	}
}

func attackSurviveDestroy(t *testing.T, b sandbox.Backend) {
	spec := NewSpec(t)
	sb := Create(t, b, spec)
	marker := "4" + strconv.Itoa(int(time.Now().UnixNano()%1000000)) + ".5"
	// Daemonised every way a shell can: background, nohup, setsid, a
	// double fork, ignoring SIGTERM and SIGHUP.
	mustSh(t, sb, fmt.Sprintf("(trap '' TERM HUP; sleep %[1]s &) ; nohup sleep %[1]s >/dev/null 2>&1 & setsid sleep %[1]s >/dev/null 2>&1 < /dev/null & disown -a; echo ok", marker))
	if _, err := sb.RunTool(context.Background(), "bash", json.RawMessage(`{"command":"sleep `+marker+` &"}`)); err != nil {
		t.Fatal(err)
	}
	var pids []int
	if pp, ok := sb.(Pidser); ok {
		pids = pp.Pids()
		if len(pids) == 0 {
			t.Fatal("backend reports no processes for a running sandbox")
		}
	}
	// The daemons exec sleep a moment after the shell returns: wait for
	// them to show up under their own command lines.
	n := countHostProcs(marker)
	for deadline := time.Now().Add(10 * time.Second); n < 4 && time.Now().Before(deadline); n = countHostProcs(marker) {
		time.Sleep(10 * time.Millisecond)
	}
	if n < 4 {
		t.Fatalf("found %d marker processes on the host before Destroy, want >= 4", n)
	}
	if err := sb.Destroy(context.Background()); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if n := countHostProcs(marker); n != 0 {
		t.Fatalf("%d sandbox processes survived Destroy", n)
	}
	for _, p := range pids {
		if err := syscall.Kill(p, 0); err == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); !strings.Contains(string(b), ") Z ") {
				t.Errorf("pid %d still alive after Destroy", p)
			}
		}
	}
}

// countHostProcs counts host processes whose command line mentions marker.
func countHostProcs(marker string) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), marker) {
			n++
		}
	}
	return n
}

func attackSymlinkMounts(t *testing.T, b sandbox.Backend) {
	value, paths := canaries(t)
	dir := t.TempDir()
	// A resource that is itself a symlink to a host secret is refused.
	link := filepath.Join(dir, "resource-link")
	if err := os.Symlink(paths[0], link); err != nil {
		t.Fatal(err)
	}
	spec := NewSpec(t)
	spec.Mounts = []sandbox.Mount{{Source: link, Target: "/mnt/session/uploads/r.txt"}}
	if sb, err := b.Create(context.Background(), spec); err == nil {
		defer sb.Destroy(context.Background())
		if out, _ := sh(t, sb, "cat /mnt/session/uploads/r.txt 2>&1"); strings.Contains(out, value) {
			t.Fatalf("symlinked resource exposed the host file: %q", out)
		}
	}
	// A mounted directory holding symlinks out of it: they resolve inside
	// the sandbox, where the host paths do not exist.
	rdir := filepath.Join(dir, "repo")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		_ = os.Symlink(p, filepath.Join(rdir, "abs"+strconv.Itoa(i)))
		_ = os.Symlink(strings.Repeat("../", 12)+strings.TrimPrefix(p, "/"), filepath.Join(rdir, "rel"+strconv.Itoa(i)))
	}
	spec = NewSpec(t)
	spec.Mounts = []sandbox.Mount{{Source: rdir, Target: "/mnt/session/repo"}}
	sb := Create(t, b, spec)
	out, _ := sh(t, sb, "cat /mnt/session/repo/* 2>&1; ls -la /mnt/session/repo")
	if strings.Contains(out, value) {
		t.Fatalf("symlink in a mounted directory exposed a host file: %q", out)
	}
	if !strings.Contains(out, "abs0") {
		t.Fatalf("mounted directory not visible: %q", out)
	}
}

func attackSymlinkPaths(t *testing.T, b sandbox.Backend) {
	value, paths := canaries(t)
	spec := NewSpec(t)
	sb := Create(t, b, spec)
	ctx := context.Background()
	var script strings.Builder
	for i, p := range paths {
		fmt.Fprintf(&script, "ln -s %s /workspace/abs%d; ln -s %s /workspace/rel%d; ln -s %s /workspace/dir%d; ", p, i, strings.Repeat("../", 12)+strings.TrimPrefix(p, "/"), i, filepath.Dir(p), i)
	}
	mustSh(t, sb, script.String())
	for i := range paths {
		for _, name := range []string{"abs", "rel", "dir"} {
			link := fmt.Sprintf("%s%d", name, i)
			target := link
			if name == "dir" {
				target = link + "/" + filepath.Base(paths[i])
			}
			for _, call := range []struct{ tool, input string }{
				{"read", fmt.Sprintf(`{"file_path":%q}`, target)},
				{"read", fmt.Sprintf(`{"file_path":%q}`, "/workspace/"+target)},
				{"edit", fmt.Sprintf(`{"file_path":%q,"old_string":"CANARY","new_string":"PWNED"}`, target)},
				{"write", fmt.Sprintf(`{"file_path":%q,"content":"PWNED"}`, target)},
				{"grep", fmt.Sprintf(`{"pattern":"CANARY","path":%q}`, link)},
				{"glob", fmt.Sprintf(`{"pattern":"*","path":%q}`, link)},
				{"bash", fmt.Sprintf(`{"command":"cat %s; cat %s"}`, target, paths[i])},
			} {
				res, err := sb.RunTool(ctx, call.tool, json.RawMessage(call.input))
				if err != nil {
					t.Fatalf("%s %s: %v", call.tool, call.input, err)
				}
				if strings.Contains(res.Text, value) || strings.Contains(res.Text, filepath.Base(paths[i])) && call.tool == "glob" {
					t.Errorf("%s %s escaped: %q", call.tool, call.input, res.Text)
				}
			}
			var buf bytes.Buffer
			_ = sb.GetFile(ctx, "/workspace/"+target, &buf)
			if strings.Contains(buf.String(), value) {
				t.Errorf("GetFile through %s escaped", target)
			}
			_ = sb.PutFile(ctx, "/workspace/"+target, strings.NewReader("PWNED"), 0o644)
		}
	}
	// Host files behind the links are untouched, also after Destroy (which
	// must delete the links, not what they point at).
	if err := sb.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err != nil || string(b) != value {
			t.Errorf("host canary %s changed: %q %v", p, b, err)
		}
	}
}

func attackPrivileges(t *testing.T, b sandbox.Backend) {
	sb := Create(t, b, NewSpec(t))
	out := mustSh(t, sb, strings.Join([]string{
		"grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status | awk '{print $2}' | sort -u",
		"grep NoNewPrivs /proc/self/status | awk '{print $2}'",
		"unshare -U true 2>/dev/null && echo USERNS",
		"mount -t tmpfs x /tmp 2>/dev/null && echo MOUNT",
		"(echo x > /usr/pwned) 2>/dev/null && echo WROTE-USR",
		"(echo x > /proc/sysrq-trigger) 2>/dev/null && echo SYSRQ",
		"ls /sys 2>/dev/null | head -1",
	}, "; "))
	if out != "0000000000000000\n1\n" {
		t.Fatalf("privileges inside the sandbox: %q", out)
	}
}

// testEgress: with Spec.EgressDir, the agent relays EgressProxyAddr inside
// the sandbox to the Unix socket in that directory (the egress proxy's in
// production, an echo server here), which is read-only, and the agent's own
// variables stay out of commands' environment.
func testEgress(t *testing.T, b sandbox.Backend) {
	// Short: Unix socket paths are limited to about 108 bytes.
	dir, err := os.MkdirTemp("", "hgeg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, sandbox.EgressSocketName)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_ = os.Chmod(sock, 0o666)
	if err := os.WriteFile(filepath.Join(dir, sandbox.EgressCABundleName), []byte("BUNDLE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				_, _ = io.WriteString(c, "EGRESS:"+line)
			}()
		}
	}()
	spec := NewSpec(t)
	spec.EgressDir = dir
	sb := Create(t, b, spec)
	host, port, _ := net.SplitHostPort(sandbox.EgressProxyAddr)
	out, _ := sh(t, sb, fmt.Sprintf("exec 3<>/dev/tcp/%s/%s && echo hello >&3 && timeout 5 cat <&3", host, port))
	if !strings.Contains(out, "EGRESS:hello") {
		t.Fatalf("relay to the egress socket: %q", out)
	}
	// Many at once, each its own connection.
	out, _ = sh(t, sb, fmt.Sprintf("for i in $(seq 8); do (exec 3<>/dev/tcp/%s/%s; echo n$i >&3; timeout 5 cat <&3) & done; wait", host, port))
	if n := strings.Count(out, "EGRESS:n"); n != 8 {
		t.Errorf("%d of 8 concurrent relays answered: %q", n, out)
	}
	if out := mustSh(t, sb, "cat "+sandbox.EgressCABundlePath); out != "BUNDLE\n" {
		t.Errorf("ca bundle: %q", out)
	}
	if out, st := sh(t, sb, "echo x > "+sandbox.EgressCABundlePath+" || rm -f "+sandbox.EgressSocketPath); st.Code == 0 {
		t.Errorf("egress dir is writable from inside: %q", out)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Errorf("socket gone: %v", err)
	}
	if out := mustSh(t, sb, "env"); strings.Contains(out, "HANGAR_EGRESS") {
		t.Errorf("agent variables leak into commands: %q", out)
	}
}
