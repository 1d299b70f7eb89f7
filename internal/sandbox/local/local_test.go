package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/agent"
	"github.com/hangarhq/hangar/internal/sandbox/local"
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

// newBackend returns a local backend, skipping when bubblewrap is missing
// outside CI (in CI a missing bwrap fails the tests).
func newBackend(tb testing.TB) *local.Backend {
	tb.Helper()
	return newBackendWith(tb, local.Config{})
}

// newBackendWith is newBackend with cfg's agent.
func newBackendWith(tb testing.TB, cfg local.Config) *local.Backend {
	tb.Helper()
	cfg.StateDir, cfg.RequireCgroups = tb.TempDir(), true
	b, err := local.New(cfg)
	if errors.Is(err, sandbox.ErrUnavailable) && os.Getenv("CI") != "true" {
		tb.Skipf("local sandbox backend unavailable (run scripts/install-deps): %v", err)
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

func TestToolbox(t *testing.T) {
	b := newBackend(t)
	root := t.TempDir()
	tb := sandbox.NewToolbox(b, func(ctx context.Context, sessionID string) (sandbox.Spec, error) {
		return sandbox.Spec{SessionID: sessionID, WorkspaceDir: filepath.Join(root, sessionID), Network: sandbox.NetworkNone,
			Limits: sandbox.Limits{MemoryBytes: 256 << 20, Pids: 128}}, nil
	})
	defer tb.Close(context.Background())
	ctx := context.Background()
	tb.Provision("sesn_a")
	for _, c := range []struct{ session, name, input, text string }{
		{"sesn_a", "bash", `{"command":"echo a > f; cat f"}`, "a"},
		{"sesn_b", "bash", `{"command":"cat f 2>&1 || true"}`, "cat: f: No such file or directory"},
		{"sesn_a", "read", `{"file_path":"f"}`, "a\n"},
	} {
		res, err := tb.Execute(ctx, c.session, c.name, json.RawMessage(c.input))
		if err != nil || res.Text != c.text {
			t.Fatalf("%s %s: %+v %v", c.session, c.input, res, err)
		}
	}
	// A sandbox whose processes died is replaced, keeping the workspace.
	sb, _ := tb.Sandbox(ctx, "sesn_a")
	_ = sb.Stop(ctx)
	if _, err := tb.Execute(ctx, "sesn_a", "bash", json.RawMessage(`{"command":"true"}`)); err == nil {
		t.Fatal("call on a stopped sandbox succeeded")
	}
	res, err := tb.Execute(ctx, "sesn_a", "bash", json.RawMessage(`{"command":"cat f"}`))
	if err != nil || res.Text != "a" {
		t.Fatalf("after replacement: %+v %v", res, err)
	}
	if err := tb.Release(ctx, "sesn_a", true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "sesn_a")); !os.IsNotExist(err) {
		t.Fatalf("workspace after release: %v", err)
	}
}
