package config

import (
	"flag"
	"strings"
	"testing"
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
