package local

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// What programs need from the host's /etc, never the whole of it (shadow,
// ssh keys, the server's configuration): etcFiles are copied into the
// sandbox's /etc, etcDirs bound over it (they are many files; a bind shows
// them as they are now).
var (
	etcFiles = []string{"ld.so.cache", "ld.so.conf", "nsswitch.conf", "localtime", "mime.types",
		"protocols", "services", "inputrc", "bash.bashrc", "profile"}
	etcDirs = []string{"ld.so.conf.d", "alternatives", "ssl/certs", "ca-certificates"}
)

// sandboxEtc is the sandbox's own: its users, its name, its loopback-only
// hosts file, and an empty resolv.conf (a sandbox on the host's network
// gets the host's bound over it).
var sandboxEtc = map[string]string{
	"passwd":      "root:x:0:0:root:/root:/usr/sbin/nologin\nagent:x:1000:1000:agent:/workspace:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	"group":       "root:x:0:\nagent:x:1000:\nnogroup:x:65534:\n",
	"hosts":       "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
	"hostname":    "sandbox\n",
	"resolv.conf": "",
}

// etcCopy is the directory every sandbox has read-only at /etc: a copy of
// etcFiles beside sandboxEtc, with an empty directory for each of etcDirs
// to be bound on, so that a sandbox's start binds five directories where it
// used to bind eighteen files and directories (every mount is a noticeable
// part of bubblewrap's start: about 2 ms for those on a small machine).
//
// The copy is made in the background when the backend starts, and made
// again, in the background too, when one of the host's files changed since
// (its modification time, size, inode or kind, looked at each start: a
// package install replaces files), or one of etcDirs came or went;
// sandboxes started meanwhile get the copy before. The copies sandboxes
// still have stay until the backend starts again.
type etcCopy struct {
	root string // the backend's state directory
	src  string // the host's /etc

	mu  sync.Mutex
	dir string // the latest copy ("" until the first is made)
	// made is the host's stamps dir was made from.
	made map[string]stamp
	// seen is the host's stamps the latest copy, or the one being made,
	// was made from.
	seen map[string]stamp
	// making is closed when the copy being made is done; nil when none is.
	making chan struct{}
	err    error // why the last copy failed
	gen    int
}

type stamp struct {
	mod  time.Time
	size int64
	ino  uint64
	mode fs.FileMode
}

// stampOf is what tells a file's change; of a directory (etcDirs), only
// that it is one.
func stampOf(path string, dir bool) (stamp, bool) {
	fi, err := os.Lstat(path)
	if err != nil {
		return stamp{}, false
	}
	if dir {
		return stamp{mode: fi.Mode().Type()}, true
	}
	st := stamp{mod: fi.ModTime(), size: fi.Size(), mode: fi.Mode().Type()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st, true
}

func newEtcCopy(stateDir string) *etcCopy {
	// What earlier runs left: no sandbox of theirs is alive (local
	// sandboxes die with the server).
	old, _ := filepath.Glob(filepath.Join(stateDir, "etc-*"))
	for _, d := range old {
		_ = os.RemoveAll(d)
	}
	return &etcCopy{root: stateDir, src: "/etc"}
}

// refresh starts making a copy if the host's files changed since the
// latest (or there is none) and none is being made.
func (e *etcCopy) refresh() {
	now := map[string]stamp{}
	for _, p := range etcFiles {
		if st, ok := stampOf(filepath.Join(e.src, p), false); ok {
			now[p] = st
		}
	}
	for _, p := range etcDirs {
		if st, ok := stampOf(filepath.Join(e.src, p), true); ok {
			now[p] = st
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.making != nil || (e.seen != nil && maps.Equal(e.seen, now)) {
		return
	}
	e.gen++
	dir := filepath.Join(e.root, "etc-"+strconv.Itoa(e.gen))
	done := make(chan struct{})
	e.making, e.seen = done, now
	go func() {
		err := makeEtc(e.src, dir, now)
		if err != nil {
			_ = os.RemoveAll(dir)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if err != nil {
			// The next start tries again.
			e.err, e.seen = fmt.Errorf("sandbox /etc: %w", err), nil
		} else {
			e.dir, e.made, e.err = dir, now, nil
		}
		e.making = nil
		close(done)
	}()
}

// current returns the directory to bind at /etc, the latest copy (waiting
// only for the first), and the etcDirs to bind on it.
func (e *etcCopy) current() (string, []string, error) {
	e.refresh()
	e.mu.Lock()
	defer e.mu.Unlock()
	for e.dir == "" {
		making := e.making
		if making == nil {
			return "", nil, e.err
		}
		e.mu.Unlock()
		<-making
		e.mu.Lock()
	}
	var dirs []string
	for _, d := range etcDirs {
		if st, ok := e.made[d]; ok && st.mode.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return e.dir, dirs, nil
}

// makeEtc writes a sandbox /etc into dir: etcFiles under src copied, with
// their permissions (symlinks as symlinks: theirs point into /usr, which
// the sandbox has), an empty directory for each of etcDirs src has, then
// sandboxEtc. have is what src has.
func makeEtc(src, dir string, have map[string]stamp) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o711); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for _, p := range etcFiles {
		if _, ok := have[p]; ok {
			if err := copyFile(filepath.Join(src, p), filepath.Join(dir, p)); err != nil {
				return err
			}
		}
	}
	for _, p := range etcDirs {
		if st, ok := have[p]; ok && st.mode.IsDir() {
			if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
				return err
			}
		}
	}
	for name, content := range sandboxEtc {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies a regular file with its permissions (what the sandbox's
// uid could not read in the host's copy it cannot read in this one), or a
// symlink as a symlink.
func copyFile(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(t, dst)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		return err
	}
	// Past the umask, as the host has it.
	return os.Chmod(dst, fi.Mode().Perm())
}
