package sessionres

// A read_write memory mount is an overlay when the server may mount one
// (it runs as root on Linux): the store's shared snapshot is the lower
// layer and a per-session directory the upper one, so a session's start
// mounts instead of copying every memory, and what the agent writes lands
// in its own upper layer only. The overlay is mounted in the server's
// mount namespace, where the sandbox binds it and the sync reads it; it
// outlives the server like the sandbox does, and is unmounted when the
// session's sandbox is made anew or the session is destroyed.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// errNoOverlay: this server cannot mount overlays here; the caller copies.
var errNoOverlay = errors.New("overlay mounts are not available")

// upperDir and workDir are the overlay's own directories beside its mount
// point dir, on the same file system as overlayfs requires.
func upperDir(dir string) string { return dir + ".upper" }
func workDir(dir string) string  { return dir + ".work" }

// mountOverlay mounts at dir the overlay of lower under a new, empty upper
// layer. The upper layer's root is the mount's root: world-writable like
// the snapshot's directories (writableTree), so whoever runs in the
// sandbox may create files there without the tree being chowned, which on
// an overlay would copy every file up.
func mountOverlay(lower, dir string) error {
	// overlayfs's option string separates with ',' and ':' and escapes
	// with '\': a path holding one would be misread.
	for _, p := range []string{lower, dir} {
		if strings.ContainsAny(p, ",:\\") {
			return fmt.Errorf("%w: %s holds a character overlayfs options cannot carry", errNoOverlay, p)
		}
	}
	upper, work := upperDir(dir), workDir(dir)
	for _, d := range []string{upper, work, dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := os.Chmod(upper, 0o777); err != nil {
		return err
	}
	// The sync reads the upper layer alone (syncStore), which holds every
	// change only when a renamed directory is copied up whole (no
	// redirect_dir) and a copied-up file holds its data (no metacopy).
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work + ",redirect_dir=off,metacopy=off"
	if err := unix.Mount("overlay", dir, "overlay", unix.MS_NODEV|unix.MS_NOSUID, opts); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%w: %v", errNoOverlay, err)
		}
		return fmt.Errorf("mount overlay at %s: %w", dir, err)
	}
	return nil
}

// isWhiteout reports whether the upper layer's entry p is a whiteout: a
// character device 0/0 that hides the lower layer's file or directory.
func isWhiteout(p string, d fs.DirEntry) bool {
	if d.Type()&fs.ModeCharDevice == 0 {
		return false
	}
	var st unix.Stat_t
	return unix.Lstat(p, &st) == nil && st.Rdev == 0
}

// isOpaque reports whether the upper layer's directory p is opaque: it
// hides everything below it in the lower layer (a directory removed and
// made again).
func isOpaque(p string) bool {
	var v [1]byte
	n, err := unix.Lgetxattr(p, "trusted.overlay.opaque", v[:])
	return err == nil && n == 1 && v[0] == 'y'
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// isMounted reports whether a file system is mounted at dir: its device
// differs from its parent's.
func isMounted(dir string) bool {
	var st, parent unix.Stat_t
	return unix.Lstat(dir, &st) == nil && unix.Lstat(filepath.Dir(dir), &parent) == nil && st.Dev != parent.Dev
}

// removeOverlay unmounts the overlay at dir, if it is mounted, and removes
// it with its layers. A sandbox that still binds it keeps its own view
// until it ends: the unmount is lazy.
func removeOverlay(dir string) error {
	if isMounted(dir) {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	return errors.Join(os.RemoveAll(dir), os.RemoveAll(upperDir(dir)), os.RemoveAll(workDir(dir)))
}

// UnmountAll lazily unmounts every memory overlay under the data dir: for
// a data dir about to be deleted (a test's, or after the sessions'
// sandboxes are gone), which a mounted overlay would keep from being so.
func UnmountAll(dataDir string) {
	dirs, _ := filepath.Glob(filepath.Join(dataDir, "memory", "*", "*"))
	for _, d := range dirs {
		if isMounted(d) {
			_ = unix.Unmount(d, unix.MNT_DETACH)
		}
	}
}
