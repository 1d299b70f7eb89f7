package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPricesFlag: hangar serve builds its list-price table at start, the
// built-in Anthropic prices with the --prices file on top, and says so; a
// bad prices file stops the start naming the setting, the file and the
// field.
func TestPricesFlag(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "prices.json")
	if err := os.WriteFile(good, []byte(`{"models": {
		"llama3": {"input": "0.10", "output": "0.20"},
		"claude-opus-4-1": null
	}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := fndEnv("HANGAR_API_KEY=k")

	p := fndServe(t, env, "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "a"), "--demo-model")
	p.stop(t, syscall.SIGTERM)
	if !strings.Contains(p.stderr.String(), "prices: ") || !strings.Contains(p.stderr.String(), "built-in list prices only") {
		t.Errorf("no prices line without a prices file:\n%s", p.stderr)
	}

	p = fndServe(t, append(env, "HANGAR_PRICES="+good), "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "b"), "--demo-model")
	p.stop(t, syscall.SIGTERM)
	if !strings.Contains(p.stderr.String(), "2 from "+good) {
		t.Errorf("no prices line naming the file:\n%s", p.stderr)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"models": {"llama3": {"input": "0,10", "output": "0.20"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := fndRun(t, env, "serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "c"), "--prices", bad)
	if code != 2 || !strings.Contains(errOut, "--prices (HANGAR_PRICES)") || !strings.Contains(errOut, bad) || !strings.Contains(errOut, `models["llama3"].input: "0,10" is not a decimal`) {
		t.Errorf("bad prices file: exit %d, stderr %q", code, errOut)
	}
}
