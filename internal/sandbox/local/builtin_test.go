package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/agent"
)

// Builtins of this test binary, which is also the sandbox's agent
// (TestMain): registered in both roles, used in the agent's.
func init() {
	// echo: "<arg>:<stdin>:<SANDBOX_TEST_VAR of its env>" on stdout, then
	// the shell's view of the same variable, and exit 3.
	agent.RegisterBuiltin("test-echo", func(ctx context.Context, p agent.Process) int {
		in, _ := io.ReadAll(p.Stdin)
		v := ""
		for _, kv := range p.Env {
			if s, ok := strings.CutPrefix(kv, "SANDBOX_TEST_VAR="); ok {
				v = s
			}
		}
		fmt.Fprintf(p.Stdout, "%s:%s:%s\n", strings.Join(p.Args, ","), in, v)
		if p.Shell == nil {
			fmt.Fprintln(p.Stderr, "no shell")
			return 1
		}
		blocks, err := p.Shell.Execute(ctx, json.RawMessage(`{"command":"echo shell:$SANDBOX_TEST_VAR; pwd"}`))
		if err != nil {
			fmt.Fprintln(p.Stderr, err)
			return 1
		}
		for _, b := range blocks {
			if b.OfText != nil {
				fmt.Fprint(p.Stdout, b.OfText.Text)
			}
		}
		_ = p.Shell.(io.Closer).Close() // the agent's own: stays open
		return 3
	})
	// block: waits to be signalled.
	agent.RegisterBuiltin("test-block", func(ctx context.Context, p agent.Process) int {
		fmt.Fprintln(p.Stdout, "waiting")
		<-ctx.Done()
		return 0
	})
}

// TestBuiltinExec: `AgentBinaryPath <builtin>` runs in the agent's process
// with a process's stdin, stdout, environment, exit code and signals, and
// the agent's persistent shell; any other argv[0] is exec'd.
func TestBuiltinExec(t *testing.T) {
	b := newBackend(t)
	ctx := context.Background()
	spec := sandbox.Spec{SessionID: "sesn_builtin", WorkspaceDir: filepath.Join(t.TempDir(), "ws"), Network: sandbox.NetworkNone,
		Limits: sandbox.Limits{MemoryBytes: 256 << 20, Pids: 128},
		Env:    map[string]string{"SANDBOX_TEST_VAR": "v1", "PATH": "/usr/bin:/bin"}}
	sb, err := b.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy(ctx)

	var out, errb bytes.Buffer
	p, err := sb.Exec(ctx, sandbox.ExecRequest{Argv: []string{sandbox.AgentBinaryPath, "test-echo", "a", "b"},
		Stdin: strings.NewReader("in"), Stdout: &out, Stderr: &errb, Timeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "a,b:in:v1\nshell:v1\n" + sandbox.WorkspacePath + "\n"
	if st.Code != 3 || strings.TrimRight(out.String(), "\n") != strings.TrimRight(want, "\n") {
		t.Fatalf("exit %+v, stdout %q (want %q), stderr %q", st, out.String(), want, errb.String())
	}
	// The shared shell stayed open for the agent's own calls.
	res, err := sb.RunTool(ctx, "bash", json.RawMessage(`{"command":"echo again"}`))
	if err != nil || res.IsError || !strings.Contains(res.Text, "again") {
		t.Fatalf("agent's bash after the builtin: %+v %v", res, err)
	}

	// Read while the process writes it: a locked buffer.
	var blockOut lockedBuffer
	p, err = sb.Exec(ctx, sandbox.ExecRequest{Argv: []string{sandbox.AgentBinaryPath, "test-block"}, Stdout: &blockOut, Timeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(blockOut.String(), "waiting"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("block builtin did not start")
		}
	}
	if err := p.Signal(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(ctx); err != nil || st.Signal == "" || st.Code != 128+int(syscall.SIGKILL) {
		t.Fatalf("signalled builtin: %+v %v", st, err)
	}

	p, err = sb.Exec(ctx, sandbox.ExecRequest{Argv: []string{sandbox.AgentBinaryPath, "test-block"}, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(ctx); err != nil || !st.TimedOut {
		t.Fatalf("timed-out builtin: %+v %v", st, err)
	}

	// Another path to the same binary is a process of its own: this test
	// binary, without its control channel, fails as an agent.
	errb.Reset()
	p, err = sb.Exec(ctx, sandbox.ExecRequest{Argv: []string{"/run/hangar//agent", "sandbox-tool"}, Stderr: &errb, Timeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(ctx); err != nil || st.Code == 0 || !strings.Contains(errb.String(), "sandbox-tool") {
		t.Fatalf("exec'd agent binary: %+v %v %q", st, err, errb.String())
	}
}

// TestSpareCgroup: sandboxes created one after another start in the cgroup
// made ahead for them, and each gets a cgroup of its own; closing the
// backend removes the spare.
func TestSpareCgroup(t *testing.T) {
	b := newBackend(t)
	if b.CgroupVersion() == 0 {
		t.Skip("no cgroups")
	}
	ctx := context.Background()
	root := t.TempDir()
	seen := map[string]bool{}
	for i := range 3 {
		spec := sandbox.Spec{SessionID: fmt.Sprintf("sesn_%d", i), WorkspaceDir: filepath.Join(root, fmt.Sprint(i)), Network: sandbox.NetworkNone,
			Limits: sandbox.Limits{MemoryBytes: 256 << 20, Pids: 128, CPUs: 1}}
		sb, err := b.Create(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		pids := sb.(interface{ Pids() []int }).Pids()
		if len(pids) == 0 {
			t.Fatalf("sandbox %d: no process in its cgroup", i)
		}
		for _, p := range pids {
			if p == os.Getpid() {
				t.Fatalf("sandbox %d: the test process is listed in its cgroup after the start", i)
			}
		}
		if seen[sb.ID()] {
			t.Fatalf("sandbox id %s reused", sb.ID())
		}
		seen[sb.ID()] = true
		if err := sb.Destroy(ctx); err != nil {
			t.Fatalf("destroy %d: %v", i, err)
		}
		time.Sleep(50 * time.Millisecond) // the next spare is made meanwhile
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
