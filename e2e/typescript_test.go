package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hangarhq/hangar/internal/testserver"
)

// TestTypeScriptSDK runs the Node suite in e2e/ts against a real `hangar
// serve --demo-model`: the official TypeScript SDK (@anthropic-ai/sdk, the
// version pinned in e2e/ts/package-lock.json) runs a cloud session turn with
// the agent toolset, and its own EnvironmentWorker serves a self_hosted
// session. The second reference client catches what the Go SDK tolerates
// and another client would not (headers, event decoding, the worker's
// calls).
func TestTypeScriptSDK(t *testing.T) {
	node := nodeTool(t, "node")
	dir, err := filepath.Abs("ts")
	if err != nil {
		t.Fatal(err)
	}
	if want, got := sdkVersion(t, dir); got != want {
		// A fresh clone has no node_modules, and a bumped lockfile leaves a
		// stale one: either way the suite must run on the pinned SDK.
		t.Logf("@anthropic-ai/sdk %q installed, %q pinned: npm ci", got, want)
		cmd := exec.CommandContext(t.Context(), nodeTool(t, "npm"), "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			// Without the registry (offline) the suite cannot run; as for
			// a missing node, that is an error only on CI.
			if os.Getenv("CI") == "true" {
				t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
			}
			t.Skipf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}

	s := testserver.Start(t, testserver.WithArgs("--demo-model"))
	cmd := exec.CommandContext(t.Context(), node, "--test", "--test-reporter=spec")
	cmd.Dir = dir
	cmd.Env = append(testserver.CleanEnv(),
		"ANTHROPIC_BASE_URL="+s.URL,
		"ANTHROPIC_API_KEY="+testserver.AdminKey,
		"HANGAR_BIN="+testserver.Binary(t),
		"HANGAR_DATA_DIR="+s.DataDir,
		"NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test in %s: %v\n%s", dir, err, out)
	}
	t.Logf("node --test:\n%s", out)
}

// nodeTool finds node or npm on PATH. CI installs both (scripts/install-deps),
// so there a missing one is a failure; elsewhere the test is skipped.
func nodeTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not available: %v", name, err)
		}
		t.Skipf("%s not available (scripts/install-deps installs it): %v", name, err)
	}
	return path
}

// sdkVersion returns the SDK version the lockfile pins and the one installed
// in node_modules ("" when none is).
func sdkVersion(t *testing.T, dir string) (pinned, installed string) {
	t.Helper()
	var lock struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err == nil {
		err = json.Unmarshal(b, &lock)
	}
	if err != nil {
		t.Fatalf("package-lock.json: %v", err)
	}
	pinned = lock.Packages["node_modules/@anthropic-ai/sdk"].Version
	if pinned == "" {
		t.Fatal("package-lock.json pins no @anthropic-ai/sdk")
	}
	var pkg struct{ Version string }
	if b, err := os.ReadFile(filepath.Join(dir, "node_modules", "@anthropic-ai", "sdk", "package.json")); err == nil {
		_ = json.Unmarshal(b, &pkg)
	}
	return pinned, pkg.Version
}
