package docker_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/agent"
	"github.com/hangarhq/hangar/internal/sandbox/docker"
	"github.com/hangarhq/hangar/internal/sandbox/sandboxtest"
)

// TestMain doubles as the in-sandbox agent: the backend runs this test
// binary with "sandbox-tool", as it runs `hangar sandbox-tool` in the server.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "sandbox-tool" {
		os.Exit(agent.Main())
	}
	os.Exit(m.Run())
}

// newBackend returns a docker backend, skipping when no daemon or image is
// there outside CI (in CI, where scripts/start-docker runs first, that fails
// the tests).
func newBackend(tb testing.TB) *docker.Backend {
	tb.Helper()
	b, err := docker.New(context.Background(), docker.Config{StateDir: tb.TempDir()})
	if errors.Is(err, sandbox.ErrUnavailable) && os.Getenv("CI") != "true" {
		tb.Skipf("docker sandbox backend unavailable (run scripts/install-deps and scripts/start-docker): %v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T) sandbox.Backend { return newBackend(t) })
}

// Docker can do what bubblewrap cannot: a container outlives the server, so
// Recover of a live sandbox keeps its /tmp and its background processes.
func TestReattach(t *testing.T) {
	b := newBackend(t)
	if !b.Capabilities().Reattach {
		t.Fatal("Reattach capability not reported")
	}
	ctx := context.Background()
	sb := sandboxtest.Create(t, b, sandboxtest.NewSpec(t))
	if o, _, st, err := sandbox.Output(ctx, sb, "/bin/bash", "-c", "echo kept > /tmp/scratch; setsid tail -f /dev/null >/dev/null 2>&1 < /dev/null & echo ok"); err != nil || st.Code != 0 || o != "ok\n" {
		t.Fatalf("setup: %q %+v %v", o, st, err)
	}
	raw, _ := json.Marshal(sb.Handle())
	var h sandbox.Handle
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	// A new backend, as after a server restart.
	b2 := newBackend(t)
	rb, err := b2.Recover(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rb.Destroy(ctx) })
	o, _, st, err := sandbox.Output(ctx, rb, "/bin/bash", "-c", "cat /tmp/scratch; pgrep -c -x tail")
	if err != nil || st.Code != 0 || o != "kept\n2\n" { // pid 1's idler and the setsid one
		t.Fatalf("after reattach: %q %+v %v", o, st, err)
	}
	res, err := rb.RunTool(ctx, "bash", json.RawMessage(`{"command":"cat /tmp/scratch"}`))
	if err != nil || res.Text != "kept" {
		t.Fatalf("tool after reattach: %+v %v", res, err)
	}
	// The handle names the spec: a changed one gets a new container.
	h2 := rb.Handle()
	h2.Spec.Env = map[string]string{"CHANGED": "1"}
	rb2, err := b2.Recover(ctx, h2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rb2.Destroy(ctx) })
	o, _, _, err = sandbox.Output(ctx, rb2, "/bin/bash", "-c", "cat /tmp/scratch 2>/dev/null || echo fresh; echo $CHANGED")
	if err != nil || o != "fresh\n1\n" {
		t.Fatalf("after spec change: %q %v", o, err)
	}
}

func TestCapabilities(t *testing.T) {
	b := newBackend(t)
	c := b.Capabilities()
	if c.Backend != docker.Name || !slices.Contains(c.NetworkModes, sandbox.NetworkHost) || len(c.Limits) != 3 {
		t.Fatalf("%+v", c)
	}
}

// The two root entries Docker itself adds, beyond the layout the suite
// allows: they carry nothing of the host. /sys is an empty
// read-only tmpfs over the host's sysfs, /.dockerenv an empty marker file.
func TestDockerRootEntries(t *testing.T) {
	b := newBackend(t)
	ctx := context.Background()
	sb := sandboxtest.Create(t, b, sandboxtest.NewSpec(t))
	o, _, st, err := sandbox.Output(ctx, sb, "/bin/bash", "-c",
		"ls -A / | tr '\\n' ' '; echo; ls -A /sys | wc -l; stat -c %s /.dockerenv; (: > /sys/x) 2>/dev/null && echo SYS-WRITABLE; grep ' /sys ' /proc/mounts | cut -d' ' -f3")
	if err != nil || st.Code != 0 {
		t.Fatalf("%q %+v %v", o, st, err)
	}
	want := ".dockerenv bin dev etc lib lib64 mnt proc run sbin sys tmp usr var workspace \n0\n0\ntmpfs\n"
	if o != want {
		t.Fatalf("root: got %q, want %q", o, want)
	}
}

// A detached sandbox (the server shutting down gracefully) keeps running: a
// new backend reattaches and finds /tmp and a process the bash tool started
// in the background with setsid (outside the shell's process group, which
// dies with the agent) alive; the old tool shell is gone.
func TestDetachKeepsSandbox(t *testing.T) {
	b := newBackend(t)
	ctx := context.Background()
	sb := sandboxtest.Create(t, b, sandboxtest.NewSpec(t))
	res, err := sb.RunTool(ctx, "bash", json.RawMessage(`{"command":"echo kept > /tmp/marker; setsid bash -c 'exec -a hangar-bg sleep 1000' >/dev/null 2>&1 < /dev/null & for i in $(seq 100); do pgrep -f '^hangar-bg' >/dev/null && break; sleep 0.02; done; echo started"}`))
	// Waiting until the job runs as sleep: a job still between fork and
	// setsid when the shell's group is killed would die with it.
	if err != nil || res.IsError {
		t.Fatalf("setup: %+v %v", res, err)
	}
	h := sb.Handle()
	if err := sb.(sandbox.Detacher).Detach(); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.RunTool(ctx, "bash", json.RawMessage(`{"command":"true"}`)); !errors.Is(err, sandbox.ErrClosed) {
		t.Fatalf("tool after Detach: %v, want ErrClosed", err)
	}
	rb, err := newBackend(t).Recover(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rb.Destroy(ctx) })
	res, err = rb.RunTool(ctx, "bash", json.RawMessage(`{"command":"cat /tmp/marker; pgrep -c -f hangar-bg; pgrep -c -f -x '/bin/bash --noprofile --norc'"}`))
	// One tool shell: the new one; the old one died with its agent.
	if err != nil || res.Text != "kept\n1\n1" {
		t.Fatalf("after reattach: %+v %v", res, err)
	}
}

// Discard removes a sandbox from its handle alone; Sweep removes the
// backend's own containers that keep refuses, and only those.
func TestDiscardAndSweep(t *testing.T) {
	b := newBackend(t)
	ctx := context.Background()
	kept := sandboxtest.Create(t, b, sandboxtest.NewSpec(t))
	swept := sandboxtest.Create(t, b, sandboxtest.NewSpec(t))
	discarded, err := b.Create(ctx, sandboxtest.NewSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	// Another server's container on the same daemon: never swept.
	other := newBackend(t)
	foreign := sandboxtest.Create(t, other, sandboxtest.NewSpec(t))

	h := discarded.Handle()
	if err := b.Discard(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h.Spec.WorkspaceDir); !os.IsNotExist(err) {
		t.Fatalf("workspace after Discard: %v", err)
	}
	if err := b.Discard(ctx, h); err != nil {
		t.Fatalf("second Discard: %v", err)
	}
	if err := b.Sweep(ctx, func(id string) bool { return id == kept.ID() }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sb    sandbox.Sandbox
		alive bool
	}{{kept, true}, {swept, false}, {discarded, false}, {foreign, true}} {
		_, _, st, err := sandbox.Output(ctx, c.sb, "/bin/true")
		if alive := err == nil && st.Code == 0; alive != c.alive {
			t.Errorf("sandbox %s alive = %v, want %v (%v)", c.sb.ID(), alive, c.alive, err)
		}
	}
}
