package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSandboxPool(t *testing.T) {
	for _, c := range []struct {
		env  string
		args []string
		want int
		err  string
	}{
		{"", nil, 2, ""},
		{"0", nil, 0, ""},
		{"8", []string{"--sandbox-pool", "3"}, 3, ""},
		{"x", nil, 0, `--sandbox-pool (HANGAR_SANDBOX_POOL): "x" is not a whole number`},
		{"x", []string{"--sandbox-pool", "1"}, 1, ""}, // the flag overrides the variable
		{"", []string{"--sandbox-pool", "-1"}, -1, "--sandbox-pool (HANGAR_SANDBOX_POOL): -1 is not between 0 and 64"},
		{"65", nil, 65, "--sandbox-pool (HANGAR_SANDBOX_POOL): 65 is not between 0 and 64"},
	} {
		t.Setenv("HANGAR_SANDBOX_POOL", c.env)
		var cfg Config
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		cfg.Register(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		err := cfg.Validate()
		if cfg.SandboxPool != c.want && c.err == "" || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("env %q args %v: pool %d, err %v; want %d, %q", c.env, c.args, cfg.SandboxPool, err, c.want, c.err)
		}
	}
}

func TestPermissionSettings(t *testing.T) {
	for _, c := range []struct {
		env, modelEnv string
		args          []string
		want          time.Duration
		model         string
		err           string
	}{
		{"", "", nil, DefaultPermissionTimeout, "", ""},
		{"3s", "claude-haiku-4-5", nil, 3 * time.Second, "claude-haiku-4-5", ""},
		{"3s", "x", []string{"--permission-timeout", "500ms", "--permission-model", "y"}, 500 * time.Millisecond, "y", ""},
		{"soon", "", nil, 0, "", `--permission-timeout (HANGAR_PERMISSION_TIMEOUT): "soon" is not a duration`},
		{"soon", "", []string{"--permission-timeout", "2s"}, 2 * time.Second, "", ""}, // the flag overrides the variable
		{"0s", "", nil, 0, "", "--permission-timeout (HANGAR_PERMISSION_TIMEOUT): 0s is not positive"},
	} {
		t.Setenv("HANGAR_PERMISSION_TIMEOUT", c.env)
		t.Setenv("HANGAR_PERMISSION_MODEL", c.modelEnv)
		var cfg Config
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		cfg.Register(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		err := cfg.Validate()
		if c.err == "" && (cfg.PermissionTimeout != c.want || cfg.PermissionModel != c.model) || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("env %q args %v: timeout %s model %q err %v; want %s %q %q", c.env, c.args, cfg.PermissionTimeout, cfg.PermissionModel, err, c.want, c.model, c.err)
		}
	}
}

// A prices file is checked with the other settings: a bad one stops the
// start with an error naming the setting, the file and the field.
func TestPrices(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(`{"models": {"llama3": {"input": "0.10", "output": "0.20"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"models": {"llama3": {"input": "0.10"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env    string
		args   []string
		priced bool
		err    string
	}{
		{"", nil, false, ""},
		{good, nil, true, ""},
		{"", []string{"--prices", good}, true, ""},
		{bad, []string{"--prices", good}, true, ""}, // the flag overrides the variable
		{bad, nil, false, `--prices (HANGAR_PRICES): prices file ` + bad + `: models["llama3"].output: required`},
		{"", []string{"--prices", filepath.Join(dir, "none.json")}, false, "--prices (HANGAR_PRICES): prices file: open "},
	} {
		t.Setenv("HANGAR_PRICES", c.env)
		var cfg Config
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		cfg.Register(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		err := cfg.Validate()
		if (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("env %q args %v: err %v, want %q", c.env, c.args, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		tab, err := cfg.LoadPrices()
		if err != nil || tab.AllPriced("llama3") != c.priced || !tab.AllPriced("claude-opus-5-5") {
			t.Errorf("env %q args %v: LoadPrices %v, llama3 priced %v, want %v", c.env, c.args, err, tab.AllPriced("llama3"), c.priced)
		}
	}
}
