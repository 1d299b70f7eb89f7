package local

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// On local, the sandbox's /etc is one copied directory of the
// allowed host files, the sandbox's own, and empty directories for the
// host directories bound over it; it is the same from one start to the
// next until a host file changes or such a directory appears, then it is
// made anew, with the host's permissions and symlinks kept and nothing else
// of the host's /etc.
func TestEtcCopy(t *testing.T) {
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(src, "protocols"), []byte("tcp 6\n"), 0o644))
	must(os.WriteFile(filepath.Join(src, "nsswitch.conf"), []byte("private\n"), 0o600))
	must(os.WriteFile(filepath.Join(src, "shadow"), []byte("root:secret\n"), 0o600))
	must(os.MkdirAll(filepath.Join(src, "ssl", "certs"), 0o755))
	must(os.WriteFile(filepath.Join(src, "ssl", "certs", "ca.pem"), []byte("x"), 0o644))
	must(os.Symlink("/usr/share/zoneinfo/UTC", filepath.Join(src, "localtime")))

	e := newEtcCopy(t.TempDir())
	e.src = src
	first, dirs, err := e.current()
	must(err)
	if again, _, _ := e.current(); again != first {
		t.Fatalf("made anew without a change: %s then %s", first, again)
	}
	if b, _ := os.ReadFile(filepath.Join(first, "protocols")); string(b) != "tcp 6\n" {
		t.Errorf("protocols = %q", b)
	}
	if _, err := os.Lstat(filepath.Join(first, "shadow")); err == nil {
		t.Error("a host file outside the allowed list was copied")
	}
	if fi, err := os.Stat(filepath.Join(first, "nsswitch.conf")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("permissions not kept: %v %v", fi, err)
	}
	if l, _ := os.Readlink(filepath.Join(first, "localtime")); l != "/usr/share/zoneinfo/UTC" {
		t.Errorf("localtime link = %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(first, "passwd")); string(b) != sandboxEtc["passwd"] {
		t.Errorf("passwd = %q", b)
	}
	// ssl/certs is bound, not copied: its mount point is there, empty.
	if len(dirs) != 1 || dirs[0] != "ssl/certs" {
		t.Errorf("directories to bind = %q", dirs)
	}
	if ents, err := os.ReadDir(filepath.Join(first, "ssl", "certs")); err != nil || len(ents) != 0 {
		t.Errorf("ssl/certs mount point: %v %v", ents, err)
	}

	// A replaced file (as a package upgrade does) makes a new copy, in
	// the background: starts meanwhile get the one before.
	must(os.WriteFile(filepath.Join(src, "protocols.new"), []byte("udp 17\n"), 0o644))
	must(os.Rename(filepath.Join(src, "protocols.new"), filepath.Join(src, "protocols")))
	second := next(t, e, first)
	if b, _ := os.ReadFile(filepath.Join(second, "protocols")); string(b) != "udp 17\n" {
		t.Errorf("protocols after the change = %q", b)
	}
	// A directory to bind that appears gets its mount point.
	must(os.Mkdir(filepath.Join(src, "alternatives"), 0o755))
	third := next(t, e, second)
	if _, dirs, _ := e.current(); len(dirs) != 2 {
		t.Errorf("directories to bind = %q", dirs)
	}
	if _, err := os.Stat(filepath.Join(third, "alternatives")); err != nil {
		t.Error(err)
	}
}

// next waits for a copy other than prev.
func next(t *testing.T, e *etcCopy, prev string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		dir, _, err := e.current()
		if err != nil {
			t.Fatal(err)
		}
		if dir != prev {
			return dir
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("not made anew after a host file changed")
	return ""
}
