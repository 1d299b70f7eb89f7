package sessionres

// Memory store mounts. Each memory_store resource of a session is a host
// directory (under the data dir, one per resource) holding one file per
// memory at its path, bound at the resource's mount path: read-only, or
// writable for read_write. Beside it a base file records, for every path
// the directory was materialised or last synced with, the content hash it
// had then. Sync compares the directory with the base and writes what the
// agent changed as memory versions with the session as actor, through the
// memory stores' own write path (memory.CreateMemory, UpdateMemory,
// DeleteMemory), each change preconditioned on the base's hash. When the
// store changed in between (an API write raced the agent's) the API wins:
// the file is put back as the store has it, and the agent is told. What
// cannot be a memory (a symlink, a special file, a file over the content
// limit, a name that is no valid memory path or that collides with another
// after normalisation) is reported and never followed or saved.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/memory"
	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// maxMemoryBytes is a memory's content limit, as the API enforces it.
const maxMemoryBytes = 100 * 1024

// memoryBase is what a mount directory was last made equal to.
type memoryBase struct {
	StoreID   string `json:"store_id"`
	MountPath string `json:"mount_path"`
	Writable  bool   `json:"writable"`
	// Overlay: the mount is an overlay (overlay.go) over the snapshot
	// Lower; a read_only mount binds Lower itself.
	Overlay bool   `json:"overlay,omitempty"`
	Lower   string `json:"lower,omitempty"`
	// Files maps each memory path to its content hash.
	Files map[string]string `json:"files,omitempty"`
}

// memoryRoot holds a session's memory mount directories and their bases.
func (x *Resources) memoryRoot(sessionID string) string {
	return filepath.Join(x.dataDir, "memory", sessionID)
}

// memoryLock serializes the syncs of one session.
func (x *Resources) memoryLock(sessionID string) *sync.Mutex {
	mu, _ := x.memLocks.LoadOrStore(sessionID, &sync.Mutex{})
	return mu.(*sync.Mutex)
}

// prepareMemory mounts the store of r. A read_only attachment binds the
// store's shared snapshot of its latest version: no copy per session. A
// read_write one is an overlay over the newest snapshot (overlay.go), with
// the versions that snapshot lacks written into the session's own layer;
// where the server cannot mount one, it is a directory of the session's
// own, refilled incrementally (refillMemory). Either persists across the
// session's sandbox starts, and what the agent left unsynced in it is
// synced first, so a restart loses none.
func (x *Resources) prepareMemory(ctx context.Context, ws string, spec *sandbox.Spec, r wire.SessionResource) error {
	root := x.memoryRoot(spec.SessionID)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	mu := x.memoryLock(spec.SessionID)
	mu.Lock()
	defer mu.Unlock()
	dir, basePath := filepath.Join(root, r.ID), filepath.Join(root, r.ID+".json")
	ref := spec.SessionID + "." + r.ID
	prev, err := x.readBase(basePath)
	if err == nil && prev.Writable {
		if prev.Overlay && !isMounted(dir) {
			// The host restarted: the upper layer is still on disk.
			if err := mountOverlay(prev.Lower, dir); err != nil {
				return fmt.Errorf("remount memory overlay: %w", err)
			}
		}
		if notes := x.syncStore(ctx, ws, spec.SessionID, dir, basePath, prev); len(notes) > 0 {
			x.log.Warn("memory changes not saved before the sandbox restarted", "session", spec.SessionID, "resource", r.ID, "problems", strings.Join(notes, "; "))
		}
	}
	// release drops what the previous start mounted, when this one does
	// not refill it in place.
	release := func() error {
		dropSnapshot(prev.Lower, ref)
		return errors.Join(removeOverlay(dir), os.RemoveAll(basePath))
	}
	if r.Access != nil && *r.Access == wire.AccessReadOnly {
		if err := release(); err != nil {
			return err
		}
		snap, _, err := x.takeSnapshot(ctx, ws, r.MemoryStoreID, ref, 0)
		if err != nil {
			return err
		}
		if err := x.writeBase(basePath, memoryBase{StoreID: r.MemoryStoreID, MountPath: r.MountPath, Lower: snap.Dir}); err != nil {
			return err
		}
		spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: snap.Dir, Target: r.MountPath})
		return nil
	}
	if !x.noOverlay.Load() {
		if err := release(); err != nil {
			return err
		}
		b, err := x.overlayMemory(ctx, ws, dir, ref, r)
		if err == nil {
			if err := x.writeBase(basePath, b); err != nil {
				return err
			}
			spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: dir, Target: r.MountPath, Writable: true, KeepOwners: true})
			return nil
		}
		if !errors.Is(err, errNoOverlay) {
			return err
		}
		x.noOverlay.Store(true)
		x.log.Info("read_write memory mounts are copies: this server cannot mount overlays", "err", err)
		prev = memoryBase{}
	} else if prev.Overlay || prev.Lower != "" {
		if err := release(); err != nil {
			return err
		}
	}
	b, err := x.refillMemory(ctx, ws, spec.SessionID, dir, basePath, r)
	if err != nil {
		return err
	}
	if err := x.writeBase(basePath, b); err != nil {
		return err
	}
	spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: dir, Target: r.MountPath, Writable: true})
	return nil
}

// overlayMemory mounts at dir an overlay showing the store of r and
// returns its base. On errNoOverlay nothing is left behind.
func (x *Resources) overlayMemory(ctx context.Context, ws, dir, ref string, r wire.SessionResource) (memoryBase, error) {
	b := memoryBase{StoreID: r.MemoryStoreID, MountPath: r.MountPath, Writable: true, Overlay: true}
	snap, delta, err := x.takeSnapshot(ctx, ws, r.MemoryStoreID, ref, maxSnapshotDelta)
	if err != nil {
		return b, err
	}
	if err := mountOverlay(snap.Dir, dir); err != nil {
		dropSnapshot(snap.Dir, ref)
		return b, errors.Join(err, removeOverlay(dir))
	}
	b.Lower = snap.Dir
	if b.Files, err = applyDelta(dir, snap, delta); err != nil {
		dropSnapshot(snap.Dir, ref)
		return b, errors.Join(err, removeOverlay(dir))
	}
	return b, nil
}

// refillMemory makes dir hold the store of r and returns its new base.
// A directory filled before for the same store keeps every file whose
// content is the store's: just synced, the tree is its base apart from
// what could not be saved, which a fresh copy would not hold either and is
// removed first. Only the memories that differ are written.
func (x *Resources) refillMemory(ctx context.Context, ws, sessionID, dir, basePath string, r wire.SessionResource) (memoryBase, error) {
	b := memoryBase{StoreID: r.MemoryStoreID, MountPath: r.MountPath, Writable: true, Files: map[string]string{}}
	prev, err := x.readBase(basePath)
	if err != nil || prev.StoreID != r.MemoryStoreID {
		prev.Files = map[string]string{}
		if err := os.RemoveAll(dir); err != nil {
			return b, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return b, err
	}
	if err := pruneMemoryDir(dir, prev.Files); err != nil {
		return b, err
	}
	// Writes wait for the listing's end, as a memory can need a directory
	// where a file of a deleted one still is.
	var writes []wire.Memory
	listed := map[string]bool{}
	err = x.eachMemory(ctx, ws, r.MemoryStoreID, func(m wire.Memory) error {
		listed[m.Path] = true
		if prev.Files[m.Path] == m.ContentSHA256 {
			b.Files[m.Path] = m.ContentSHA256
		} else {
			writes = append(writes, m)
		}
		return nil
	})
	if err != nil {
		return b, err
	}
	for p := range prev.Files {
		if !listed[p] {
			removeMemoryFile(dir, p)
		}
	}
	for _, m := range writes {
		if err := writeMemoryFile(dir, m.Path, *m.Content); err != nil {
			// Left out of the base too, so a sync cannot take it for a deletion.
			x.log.Warn("memory not materialised", "session", sessionID, "store", r.MemoryStoreID, "path", m.Path, "err", err)
			continue
		}
		b.Files[m.Path] = m.ContentSHA256
	}
	return b, nil
}

// pruneMemoryDir removes from dir everything that is not a regular file at
// a path of files holding that path's content, and from files every path
// dir does not hold so, so that the two then agree.
func pruneMemoryDir(dir string, files map[string]string) error {
	seen := map[string]bool{}
	defer func() {
		for p := range files {
			if !seen[p] {
				delete(files, p)
			}
		}
	}()
	parents := map[string]bool{}
	for p := range files {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			parents[d] = true
		}
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		mp := "/" + filepath.ToSlash(rel)
		if d.IsDir() && parents[mp] {
			return nil
		}
		if want, ok := files[mp]; ok && d.Type().IsRegular() {
			if content, err := readMemoryFile(p); err == nil && sha256Hex(content) == want {
				seen[mp] = true
				return nil
			}
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
}

// removeMemoryFile removes the file at memory path p under dir and the
// directories it leaves empty, as a fresh copy would not have them.
func removeMemoryFile(dir, p string) {
	full, err := safeMemoryPath(dir, p)
	if err != nil {
		return
	}
	_ = os.Remove(full)
	for d := filepath.Dir(full); d != dir && os.Remove(d) == nil; d = filepath.Dir(d) {
	}
}

// eachMemory calls fn with every memory of the store, content included.
func (x *Resources) eachMemory(ctx context.Context, ws, storeID string, fn func(wire.Memory) error) error {
	o := store.ListOptions{Workspace: ws, Kind: store.KindMemory, Parent: storeID, ParentSet: true, ByName: true, Limit: 500}
	for {
		page, err := x.st.List(ctx, o)
		if err != nil {
			return err
		}
		for _, rec := range page.Records {
			var m wire.Memory
			if err := json.Unmarshal(rec.Data, &m); err != nil || m.Content == nil {
				return fmt.Errorf("decode memory %s: %w", rec.ID, err)
			}
			if err := fn(m); err != nil {
				return err
			}
		}
		if !page.More || len(page.Records) == 0 {
			return nil
		}
		o.NameGTE = page.Records[len(page.Records)-1].Name + "\x00"
	}
}

// releaseMemory unmounts the session's memory overlays and drops its
// snapshot references, before its directories are removed.
func (x *Resources) releaseMemory(sessionID string) {
	root := x.memoryRoot(sessionID)
	bases, _ := filepath.Glob(filepath.Join(root, "*.json"))
	for _, bp := range bases {
		b, err := x.readBase(bp)
		if err != nil {
			continue
		}
		id := strings.TrimSuffix(filepath.Base(bp), ".json")
		dropSnapshot(b.Lower, sessionID+"."+id)
		if err := removeOverlay(strings.TrimSuffix(bp, ".json")); err != nil {
			x.log.Warn("remove memory overlay", "session", sessionID, "err", err)
		}
	}
}

// SyncMemory saves what the agent changed in the session's writable memory
// mounts and returns what it must be told: conflicts the API won and files
// that cannot be memories. A session without memory mounts costs one stat.
func (x *Resources) SyncMemory(ctx context.Context, ws, sessionID string) []string {
	root := x.memoryRoot(sessionID)
	bases, err := filepath.Glob(filepath.Join(root, "*.json"))
	if err != nil || len(bases) == 0 {
		return nil
	}
	mu := x.memoryLock(sessionID)
	mu.Lock()
	defer mu.Unlock()
	var notes []string
	for _, bp := range bases {
		b, err := x.readBase(bp)
		if err != nil {
			x.log.Error("read memory mount base", "session", sessionID, "file", bp, "err", err)
			continue
		}
		if b.Writable {
			notes = append(notes, x.syncStore(ctx, ws, sessionID, strings.TrimSuffix(bp, ".json"), bp, b)...)
		}
	}
	return notes
}

// syncStore syncs one mount directory against its base and saves the new
// base. mu is held.
func (x *Resources) syncStore(ctx context.Context, ws, sessionID, dir, basePath string, b memoryBase) []string {
	var notes []string
	say := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	shown := func(p string) string { return path.Join(b.MountPath, p) }
	seen := map[string]bool{}
	// kept are base paths whose file is there but was not saved: they are
	// no deletion.
	kept := map[string]bool{}
	type write struct{ path, content, sum string }
	var writes []write
	// An overlay's changes are its upper layer: the sync reads that alone,
	// where a deletion is a whiteout (a 0/0 character device) or an opaque
	// directory hiding everything below it in the snapshot.
	root := dir
	var whiteouts, opaque []string
	if b.Overlay {
		root = upperDir(dir)
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		raw := "/" + filepath.ToSlash(rel)
		if d.IsDir() {
			if b.Overlay && isOpaque(p) {
				opaque = append(opaque, raw)
			}
			return nil
		}
		if b.Overlay && isWhiteout(p, d) {
			whiteouts = append(whiteouts, raw)
			return nil
		}
		if !d.Type().IsRegular() {
			what := "a special file"
			if d.Type()&fs.ModeSymlink != 0 {
				what = "a symbolic link"
			}
			say("%s is %s, which a memory store cannot hold; it was not followed or saved", shown(raw), what)
			kept[raw] = true
			return nil
		}
		mp, err := memory.CleanPath("path", raw)
		if err != nil {
			say("%s was not saved: its name is no valid memory path (%v)", shown(raw), errMessage(err))
			return nil
		}
		if seen[mp] || b.Overlay && mp != raw && exists(filepath.Join(dir, mp)) {
			say("%s was not saved: its name is the same as another file's once normalised (%s)", shown(raw), shown(mp))
			kept[mp] = true
			return nil
		}
		seen[mp] = true
		content, err := readMemoryFile(p)
		if err != nil {
			say("%s was not saved: %v", shown(raw), err)
			kept[mp] = true
			return nil
		}
		sum := sha256Hex(content)
		if b.Files[mp] != sum {
			writes = append(writes, write{mp, content, sum})
		}
		return nil
	})
	if err != nil {
		say("the memory mount %s could not be read: %v", b.MountPath, err)
		return notes
	}
	// deleted says whether base path p is no longer in the mount.
	deleted := func(p string) bool {
		if seen[p] || kept[p] {
			return false
		}
		if !b.Overlay {
			return true
		}
		for _, w := range whiteouts {
			if p == w || strings.HasPrefix(p, w+"/") {
				return true
			}
		}
		for _, o := range opaque {
			if strings.HasPrefix(p, o+"/") {
				return true
			}
		}
		return false
	}
	actor := &wire.Actor{Type: wire.ActorSession, SessionID: sessionID}
	// save runs one change in its own transaction and reports whether it
	// was saved. On a conflict restore records the store's state in b;
	// on any other failure b keeps what it had, so the next sync tries
	// again.
	save := func(p string, fn func(ctx context.Context, tx store.Tx) error) bool {
		err := x.st.InTx(ctx, fn)
		switch {
		case err == nil:
			return true
		case errdefs.ClassOf(err) == errdefs.ClassConflict || errdefs.ClassOf(err) == errdefs.ClassNotFound:
			// The store changed since the mount was made (or refuses
			// changes): the API's version wins and is put back.
			if rerr := x.restore(ctx, ws, dir, b, p); rerr != nil {
				x.log.Error("restore memory file after a conflict", "session", sessionID, "path", p, "err", rerr)
			}
			say("%s was not saved: %s; the file now holds the memory store's version", shown(p), errMessage(err))
		default:
			say("%s was not saved: %s", shown(p), errMessage(err))
		}
		return false
	}
	for _, w := range writes {
		var ok bool
		if want, had := b.Files[w.path]; had {
			ok = save(w.path, func(ctx context.Context, tx store.Tx) error {
				rec, err := tx.GetByName(ctx, ws, store.KindMemory, b.StoreID, w.path)
				if err != nil {
					return err
				}
				_, err = memory.UpdateMemory(ctx, tx, ws, b.StoreID, rec.ID, memory.Change{Content: &w.content}, want, actor)
				return err
			})
		} else {
			ok = save(w.path, func(ctx context.Context, tx store.Tx) error {
				_, err := memory.CreateMemory(ctx, tx, ws, b.StoreID, w.path, w.content, actor)
				return err
			})
		}
		if ok {
			b.Files[w.path] = w.sum
		}
	}
	var gone []string
	for p := range b.Files {
		if deleted(p) {
			gone = append(gone, p)
		}
	}
	slices.Sort(gone)
	for _, p := range gone {
		want := b.Files[p]
		ok := save(p, func(ctx context.Context, tx store.Tx) error {
			rec, err := tx.GetByName(ctx, ws, store.KindMemory, b.StoreID, p)
			if errors.Is(err, errdefs.ErrNotFound) {
				return nil // deleted on both sides
			}
			if err != nil {
				return err
			}
			return memory.DeleteMemory(ctx, tx, ws, b.StoreID, rec.ID, want, actor)
		})
		if ok {
			delete(b.Files, p)
		}
	}
	if err := x.writeBase(basePath, b); err != nil {
		say("the memory mount %s could not be recorded: %v", b.MountPath, err)
	}
	return notes
}

// restore puts path p of the mount back as the store has it (or removes
// it when the store has none) and records that in b.
func (x *Resources) restore(ctx context.Context, ws, dir string, b memoryBase, p string) error {
	rec, err := x.st.GetByName(ctx, ws, store.KindMemory, b.StoreID, p)
	if errors.Is(err, errdefs.ErrNotFound) {
		delete(b.Files, p)
		full, err := safeMemoryPath(dir, p)
		if err != nil {
			return err
		}
		if err := os.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err != nil {
		return err
	}
	var m wire.Memory
	if err := json.Unmarshal(rec.Data, &m); err != nil || m.Content == nil {
		return fmt.Errorf("decode memory %s: %w", rec.ID, err)
	}
	if err := writeMemoryFile(dir, p, *m.Content); err != nil {
		return err
	}
	b.Files[p] = m.ContentSHA256
	return nil
}

// safeMemoryPath joins memory path p under dir, refusing a symlink or a
// non-directory on the way: the agent writes this tree, and the server must
// not follow its links out of it.
func safeMemoryPath(dir, p string) (string, error) {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := dir
	for i, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("invalid path segment %q", s)
		}
		cur = filepath.Join(cur, s)
		if i == len(segs)-1 {
			break
		}
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(cur, 0o777); err != nil {
				return "", err
			}
			if err := os.Chmod(cur, 0o777); err != nil { // past the umask
				return "", err
			}
			chownLike(dir, cur)
			continue
		}
		if err != nil {
			return "", err
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("%s is not a directory", path.Join(segs[:i+1]...))
		}
	}
	return cur, nil
}

// writeMemoryFile writes content at memory path p under dir, replacing a
// file there but never writing through a link. Memory trees are writable
// by anyone (files 0666, directories 0777): they are shown in sandboxes
// whose identity differs by backend, and a tree shared by many mounts (a
// snapshot) or under an overlay cannot be chowned to each. The server's
// own directories above them are private to it.
func writeMemoryFile(dir, p, content string) error {
	full, err := safeMemoryPath(dir, p)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(full); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p)
	}
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, content)
	if cerr := f.Chmod(0o666); err == nil { // past the umask
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	chownLike(dir, full)
	return err
}

// chownLike gives p the owner of the mount directory dir: a backend hands
// a writable mount to the sandbox identity, and what the server puts back
// in it must stay the agent's to change.
func chownLike(dir, p string) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		_ = os.Lchown(p, int(st.Uid), int(st.Gid))
	}
}

// readMemoryFile reads a memory's content from a file the agent wrote,
// within the content limit and as text.
func readMemoryFile(p string) (string, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMemoryBytes+1))
	if err != nil {
		return "", err
	}
	if len(data) > maxMemoryBytes {
		return "", fmt.Errorf("it is larger than the memory content limit of %d bytes", maxMemoryBytes)
	}
	if !utf8.Valid(data) {
		return "", errors.New("its content is not UTF-8 text")
	}
	return string(data), nil
}

func (x *Resources) readBase(p string) (memoryBase, error) {
	var d diskBase
	data, err := os.ReadFile(p)
	if err != nil {
		return d.memoryBase, err
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return d.memoryBase, err
	}
	b := d.memoryBase
	if b.Overlay {
		snap, err := x.snaps.load(b.Lower)
		if err != nil {
			return b, fmt.Errorf("the snapshot under %s: %w", p, err)
		}
		b.Files = snap.files()
		for f, sum := range d.Changed {
			if sum == "" {
				delete(b.Files, f)
			} else {
				b.Files[f] = sum
			}
		}
	}
	if b.Files == nil {
		b.Files = map[string]string{}
	}
	return b, nil
}

// diskBase is a memoryBase as its file holds it: an overlay's files as
// what differs from its snapshot ("" for a path it no longer has), most
// often a few, where a copy's base lists them all.
type diskBase struct {
	memoryBase
	Changed map[string]string `json:"changed,omitempty"`
}

// writeBase replaces the base file atomically, so a crash leaves the old
// one or the new one.
func (x *Resources) writeBase(p string, b memoryBase) error {
	d := diskBase{memoryBase: b}
	if b.Overlay {
		snap, err := x.snaps.load(b.Lower)
		if err != nil {
			return err
		}
		d.Files, d.Changed = nil, map[string]string{}
		for f := range snap.paths {
			if _, ok := b.Files[f]; !ok {
				d.Changed[f] = ""
			}
		}
		for f, sum := range b.Files {
			if snap.paths[f] != sum {
				d.Changed[f] = sum
			}
		}
	}
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return writeAtomic(p, data)
}

func writeAtomic(p string, data []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// errMessage is an error as the agent is shown it: the API's message.
func errMessage(err error) string {
	if e, ok := errdefs.As(err); ok {
		return e.Message
	}
	return err.Error()
}
