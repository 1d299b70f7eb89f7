package config

import (
	"flag"
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
