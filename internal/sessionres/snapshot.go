package sessionres

// Memory store snapshots: a directory per store version holding the
// store's memories as of that version, made once and shared by every mount
// that needs it (bound read-only, or the lower layer of a read_write
// overlay). A store's memories change only with a new version, so the
// version id names the content. Each mount holds a reference (a file in
// the snapshot's refs directory), and a snapshot no mount references is
// removed when a newer one of its store is made.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hangarhq/hangar/internal/changes"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// maxSnapshotDelta is how many versions a read_write mount may apply on
// top of the store's newest snapshot instead of making a new one: writing a
// few changed memories into the session's upper layer is cheaper than
// copying the whole store, up to about this many.
const maxSnapshotDelta = 64

// snapshot is one store version's directory and what it holds.
type snapshot struct {
	Dir string `json:"-"`
	// Seq is the store position of the version it was made at: versions
	// after it are what it may lack.
	Seq int64 `json:"seq"`
	// Memories maps each memory id to its path and content hash.
	Memories map[string]snapMemory `json:"memories"`
	// paths maps each path to its content hash.
	paths map[string]string
}

type snapMemory struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

func (s *snapshot) index() *snapshot {
	s.paths = make(map[string]string, len(s.Memories))
	for _, m := range s.Memories {
		s.paths[m.Path] = m.SHA256
	}
	return s
}

// files is the snapshot as a mount base's path → hash, the caller's own.
func (s *snapshot) files() map[string]string { return maps.Clone(s.paths) }

// snapshots caches the manifests read, by directory (they never change),
// and serializes each store's snapshots.
type snapshots struct {
	mu    sync.Mutex
	byDir map[string]*snapshot
	locks map[string]*sync.Mutex
}

func (c *snapshots) storeLock(storeID string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.locks == nil {
		c.locks = map[string]*sync.Mutex{}
	}
	if c.locks[storeID] == nil {
		c.locks[storeID] = &sync.Mutex{}
	}
	return c.locks[storeID]
}

// load returns the snapshot at dir, or an error when there is none.
func (c *snapshots) load(dir string) (*snapshot, error) {
	c.mu.Lock()
	s := c.byDir[dir]
	c.mu.Unlock()
	if s != nil {
		return s, nil
	}
	data, err := os.ReadFile(dir + ".json")
	if err != nil {
		return nil, err
	}
	s = &snapshot{}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, err
	}
	s.Dir = dir
	s.index()
	c.mu.Lock()
	if c.byDir == nil {
		c.byDir = map[string]*snapshot{}
	}
	c.byDir[dir] = s
	c.mu.Unlock()
	return s, nil
}

func (c *snapshots) forget(dir string) {
	c.mu.Lock()
	delete(c.byDir, dir)
	c.mu.Unlock()
}

func (x *Resources) snapshotParent(storeID string) string {
	return filepath.Join(x.dataDir, "memory-snapshots", storeID)
}

// takeSnapshot returns a snapshot of the store for a mount named ref and
// records the reference. With maxDelta zero it is the store's latest
// version; otherwise it may be an older snapshot with the (at most
// maxDelta) versions it lacks, oldest first, for the caller to apply.
func (x *Resources) takeSnapshot(ctx context.Context, ws, storeID, ref string, maxDelta int) (*snapshot, []wire.MemoryVersion, error) {
	page, err := x.st.List(ctx, store.ListOptions{Workspace: ws, Kind: store.KindMemoryVersion, Parent: storeID, ParentSet: true, Desc: true, Limit: 1})
	if err != nil {
		return nil, nil, err
	}
	key, seq := "empty", int64(0)
	if len(page.Records) > 0 {
		key, seq = page.Records[0].ID, page.Records[0].Seq
	}
	mu := x.snaps.storeLock(storeID)
	mu.Lock()
	defer mu.Unlock()
	parent := x.snapshotParent(storeID)
	snap, err := x.snaps.load(filepath.Join(parent, key))
	var delta []wire.MemoryVersion
	if err != nil && maxDelta > 0 {
		snap, delta = x.newestWithDelta(ctx, ws, storeID, maxDelta)
	}
	if snap == nil {
		if snap, err = x.makeSnapshot(ctx, ws, storeID, key, seq); err != nil {
			return nil, nil, err
		}
	}
	refs := snap.Dir + ".refs"
	if err := os.MkdirAll(refs, 0o700); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(refs, ref), nil, 0o600); err != nil {
		return nil, nil, err
	}
	return snap, delta, nil
}

// dropSnapshot releases the mount ref's reference to the snapshot at dir.
func dropSnapshot(dir, ref string) {
	if dir != "" {
		_ = os.Remove(filepath.Join(dir+".refs", ref))
	}
}

// newestWithDelta returns the store's newest snapshot and the versions
// after it, or nil when there is none or it lacks too much (or a version
// it lacks was redacted, so its content is gone). The store lock is held.
func (x *Resources) newestWithDelta(ctx context.Context, ws, storeID string, maxDelta int) (*snapshot, []wire.MemoryVersion) {
	key, err := os.ReadFile(filepath.Join(x.snapshotParent(storeID), "newest"))
	if err != nil {
		return nil, nil
	}
	snap, err := x.snaps.load(filepath.Join(x.snapshotParent(storeID), string(key)))
	if err != nil {
		return nil, nil
	}
	page, err := x.st.List(ctx, store.ListOptions{Workspace: ws, Kind: store.KindMemoryVersion, Parent: storeID, ParentSet: true, After: snap.Seq, Limit: maxDelta + 1})
	if err != nil || len(page.Records) > maxDelta {
		return nil, nil
	}
	delta := make([]wire.MemoryVersion, 0, len(page.Records))
	for _, rec := range page.Records {
		var v wire.MemoryVersion
		if err := json.Unmarshal(rec.Data, &v); err != nil || v.Operation != wire.MemoryDeleted && (v.Content == nil || v.Path == nil) {
			return nil, nil
		}
		delta = append(delta, v)
	}
	return snap, delta
}

// makeSnapshot fills the snapshot of version key beside its final name
// and renames it into place, so no mount sees it half made, then removes
// the store's snapshots no mount references. The store lock is held.
func (x *Resources) makeSnapshot(ctx context.Context, ws, storeID, key string, seq int64) (*snapshot, error) {
	parent := x.snapshotParent(storeID)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, ".new-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o777); err != nil {
		return nil, err
	}
	snap := &snapshot{Dir: filepath.Join(parent, key), Seq: seq, Memories: map[string]snapMemory{}}
	// Listed after the version was read, the content is that version's or
	// newer, never older; a newer one is re-applied harmlessly by a
	// delta, which sets each memory to its latest state.
	err = x.eachMemory(ctx, ws, storeID, func(m wire.Memory) error {
		if err := writeMemoryFile(tmp, m.Path, *m.Content); err != nil {
			x.log.Warn("memory not materialised", "store", storeID, "path", m.Path, "err", err)
			return nil
		}
		snap.Memories[m.ID] = snapMemory{Path: m.Path, SHA256: m.ContentSHA256}
		return nil
	})
	if err != nil {
		return nil, err
	}
	manifest, err := json.Marshal(snap)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(snap.Dir+".json", manifest, 0o600); err != nil {
		return nil, err
	}
	// A directory there without a manifest is from an older server.
	if err := os.RemoveAll(snap.Dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, snap.Dir); err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(parent, "newest"), []byte(key)); err != nil {
		return nil, err
	}
	snap.index()
	x.pruneSnapshots(parent, key)
	return snap, nil
}

// Changed removes the snapshots of a memory store that was deleted or had
// a version redacted, except those a mount still holds (changes.Notifier):
// their content must not outlive the database's. A held one goes when its
// last mount does (the session's sandbox restarts or the session ends) and
// a newer snapshot is made, or the store changes so again.
func (x *Resources) Changed(_ context.Context, c changes.Change) {
	if c.Kind != store.KindMemoryStore {
		return
	}
	mu := x.snaps.storeLock(c.ID)
	mu.Lock()
	defer mu.Unlock()
	parent := x.snapshotParent(c.ID)
	_ = os.Remove(filepath.Join(parent, "newest"))
	x.pruneSnapshots(parent, "")
	_ = os.Remove(parent) // when empty
}

// pruneSnapshots removes the snapshots under parent other than keep that
// no mount references. The store lock is held.
func (x *Resources) pruneSnapshots(parent, keep string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || name == keep || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".refs") {
			continue
		}
		dir := filepath.Join(parent, name)
		if refs, err := os.ReadDir(dir + ".refs"); err == nil && len(refs) > 0 || err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		x.snaps.forget(dir)
		if err := errors.Join(os.RemoveAll(dir), os.RemoveAll(dir+".refs"), os.Remove(dir+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			x.log.Warn("remove memory snapshot", "dir", dir, "err", err)
		}
	}
}

// applyDelta makes the overlay at dir, which shows snap, show the store
// after the versions of delta as well, and returns the mount's base files.
// Each version sets its memory to its whole new state, so one already in
// the snapshot is applied again harmlessly.
func applyDelta(dir string, snap *snapshot, delta []wire.MemoryVersion) (map[string]string, error) {
	files := snap.files()
	if len(delta) == 0 {
		return files, nil
	}
	type state struct{ path, sum, content string }
	now := map[string]*state{}
	for id, m := range snap.Memories {
		now[id] = &state{path: m.Path, sum: m.SHA256}
	}
	for _, v := range delta {
		if v.Operation == wire.MemoryDeleted {
			delete(now, v.MemoryID)
			continue
		}
		now[v.MemoryID] = &state{path: *v.Path, sum: sha256Hex(*v.Content), content: *v.Content}
	}
	want := map[string]*state{}
	for _, s := range now {
		want[s.path] = s
	}
	for p := range files {
		if want[p] == nil {
			removeMemoryFile(dir, p)
			delete(files, p)
		}
	}
	for p, s := range want {
		if files[p] == s.sum {
			continue
		}
		if err := writeMemoryFile(dir, p, s.content); err != nil {
			return nil, fmt.Errorf("memory %s: %w", p, err)
		}
		files[p] = s.sum
	}
	return files, nil
}
