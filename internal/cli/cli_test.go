package cli

import (
	"context"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	code = Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// Each command's -h lists the flags that command takes and none of the
// others': hangar keys does not listen, route models or run sandboxes.
func TestHelpShowsOnlyTheCommandsFlags(t *testing.T) {
	serveOnly := []string{"-listen", "-demo-model", "-anthropic-base-url", "-models", "-sandbox", "-log-level", "-max-upload-bytes"}
	for _, c := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"serve", "-h"}, append([]string{"-data-dir"}, serveOnly...), []string{"-admin", "-workspace"}},
		{[]string{"keys", "create", "--help"}, []string{"-data-dir", "-name", "-workspace", "-admin", "-environment"}, serveOnly},
		{[]string{"keys", "list", "-h"}, []string{"-data-dir"}, append([]string{"-name", "-admin"}, serveOnly...)},
		{[]string{"keys", "revoke", "-h"}, []string{"-data-dir", "KEY_ID"}, append([]string{"-name", "-admin"}, serveOnly...)},
		{[]string{"worker", "-h"}, []string{"-environment", "-server", "-workdir", "-log-level"}, []string{"-data-dir", "-listen", "-demo-model", "-sandbox"}},
	} {
		code, _, help := run(t, c.args...)
		if code != 0 {
			t.Errorf("%v: exit %d, want 0", c.args, code)
		}
		for _, f := range c.want {
			if !strings.Contains(help, f) {
				t.Errorf("%v does not list %s:\n%s", c.args, f, help)
			}
		}
		for _, f := range c.not {
			if strings.Contains(help, f+" ") || strings.Contains(help, f+"\n") {
				t.Errorf("%v lists %s, which it does not take:\n%s", c.args, f, help)
			}
		}
	}
}

// A flag of another command is a usage error (exit 2) naming it, not
// silently accepted.
func TestKeysRejectServeFlags(t *testing.T) {
	code, _, stderr := run(t, "keys", "create", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:1")
	if code != 2 || !strings.Contains(stderr, "-listen") {
		t.Fatalf("keys create --listen: exit %d, stderr %q; want 2 naming -listen", code, stderr)
	}
	code, _, stderr = run(t, "keys", "revoke", "--data-dir", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "usage: hangar keys revoke [flags] KEY_ID") {
		t.Fatalf("keys revoke without KEY_ID: exit %d, stderr %q", code, stderr)
	}
}

// A lost administrator key is replaced by minting another against the
// server's data directory; list shows it and revoke ends it.
func TestKeysCreateListRevoke(t *testing.T) {
	dir := t.TempDir()
	code, key, stderr := run(t, "keys", "create", "--data-dir", dir, "--admin", "--name", "again")
	if code != 0 || !strings.HasPrefix(key, "sk-") {
		t.Fatalf("keys create: exit %d, stdout %q, stderr %q", code, key, stderr)
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(stderr, "created key "), " ")
	code, list, _ := run(t, "keys", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(list, id) || !strings.Contains(list, "admin") || strings.Contains(list, strings.TrimSpace(key)) {
		t.Fatalf("keys list: exit %d:\n%s", code, list)
	}
	if code, out, stderr := run(t, "keys", "revoke", "--data-dir", dir, id); code != 0 || out != "revoked "+id+"\n" {
		t.Fatalf("keys revoke: exit %d, %q %q", code, out, stderr)
	}
}
