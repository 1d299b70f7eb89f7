package sandbox

import (
	"os"
	"path"
	"strings"
	"testing"
)

func validSpec() Spec {
	return Spec{SessionID: "sesn_1", WorkspaceDir: "/data/ws", Network: NetworkNone}
}

// FuzzSpecValidate: Validate never panics, and whatever it accepts keeps
// mounts off the backend's own paths and the writable directories.
func FuzzSpecValidate(f *testing.F) {
	for _, s := range [][4]string{
		{"sesn_1", "/data/ws", "/src/a", "/mnt/session/uploads/a"},
		{"sesn_1", "/data/ws", "/src/a", "/workspace/a"},
		{"sesn_1", "/data/ws", "/src/a", "/mnt/session/outputs"},
		{"../x", "/data/ws", "/src", "/data"},
		{"s", "rel", "/src", "/proc/x"},
		{"s", "/ws", "src", "/a/../usr"},
		{"s", "/ws", "/src", "/"},
		{"s", "/ws", "/src", "/run/hangar/agent"},
	} {
		f.Add(s[0], s[1], s[2], s[3], "none")
	}
	f.Fuzz(func(t *testing.T, sess, ws, src, target, network string) {
		s := Spec{SessionID: sess, WorkspaceDir: ws, Network: NetworkMode(network), Mounts: []Mount{{Source: src, Target: target}}}
		if s.Validate() != nil {
			return
		}
		if !path.IsAbs(target) || path.Clean(target) != target {
			t.Fatalf("accepted unclean target %q", target)
		}
		for _, r := range reserved {
			if target == r || strings.HasPrefix(target, strings.TrimSuffix(r, "/")+"/") && r != "/" {
				t.Fatalf("accepted target %q under reserved %q", target, r)
			}
		}
		if strings.Contains(sess, "/") {
			t.Fatalf("accepted session id %q", sess)
		}
	})
}

func TestSpecValidateMessages(t *testing.T) {
	for _, c := range []struct {
		mut  func(*Spec)
		want string
	}{
		{func(s *Spec) {}, ""},
		{func(s *Spec) { s.SessionID = "" }, "session_id:"},
		{func(s *Spec) { s.WorkspaceDir = "x" }, "workspace_dir:"},
		{func(s *Spec) { s.Network = "" }, "network:"},
		{func(s *Spec) { s.Network = "lan" }, "network:"},
		{func(s *Spec) { s.Limits.MemoryBytes = -1 }, "limits:"},
		{func(s *Spec) { s.Mounts = []Mount{{Source: "x", Target: "/a"}} }, "mounts[0].source:"},
		{func(s *Spec) { s.Mounts = []Mount{{Source: "/x", Target: "/mnt"}} }, "mounts[0].target:"},
		{func(s *Spec) { s.Env = map[string]string{"": "x"} }, "env:"},
	} {
		s := validSpec()
		c.mut(&s)
		err := s.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)) {
			t.Errorf("got %v, want prefix %q", err, c.want)
		}
	}
}

// Without a hangar-agent beside it (a test binary has none), the agent is
// the running program as `sandbox-tool`; a program that is not a Go
// binary of the same build is never taken for hangar-agent.
func TestDefaultAgent(t *testing.T) {
	p, args, err := DefaultAgent()
	if err != nil {
		t.Fatal(err)
	}
	if exe, _ := os.Executable(); p != exe || len(args) != 1 || args[0] != "sandbox-tool" {
		t.Errorf("DefaultAgent = %s %q", p, args)
	}
	if sameBuild("/bin/sh") {
		t.Error("/bin/sh taken for a build of this program")
	}
	if exe, _ := os.Executable(); !sameBuild(exe) {
		t.Error("the running program is not of its own build")
	}
}
