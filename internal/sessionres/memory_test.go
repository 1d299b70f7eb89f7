package sessionres

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/changes"
	"github.com/hangarhq/hangar/internal/memory"
	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/wire"
)

const memWS = "wrkspc_memtest"

// memFixture is a Resources on a real store holding one memory store.
type memFixture struct {
	x       *Resources
	storeID string
	ids     map[string]string
}

func newMemFixture(t testing.TB, files map[string]string) *memFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	t.Cleanup(func() { UnmountAll(dir) })
	st, err := sqlite.Open(ctx, filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &memFixture{x: New(Config{DataDir: dir, Store: st, Logger: slog.New(slog.DiscardHandler)}), ids: map[string]string{}}
	f.tx(t, func(ctx context.Context, tx store.Tx) error {
		ms, err := memory.InsertStore(ctx, tx, memWS, "notes", "")
		f.storeID = ms.ID
		return err
	})
	for p, c := range files {
		f.create(t, p, c)
	}
	return f
}

func (f *memFixture) tx(t testing.TB, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	if err := f.x.st.InTx(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func (f *memFixture) create(t testing.TB, p, content string) {
	f.tx(t, func(ctx context.Context, tx store.Tx) error {
		m, err := memory.CreateMemory(ctx, tx, memWS, f.storeID, p, content, nil)
		f.ids[p] = m.ID
		return err
	})
}

// prepare starts a sandbox of the session with the store attached and
// returns the mount's host directory.
func (f *memFixture) prepare(t testing.TB, sessionID string, access string) string {
	t.Helper()
	spec := &sandbox.Spec{SessionID: sessionID}
	r := wire.SessionResource{ID: "sesrsc_" + sessionID, Type: wire.ResourceMemoryStore, MemoryStoreID: f.storeID, MountPath: "/mnt/memory/notes", Access: &access}
	if err := f.x.prepareMemory(context.Background(), memWS, spec, r); err != nil {
		t.Fatal(err)
	}
	if len(spec.Mounts) != 1 || spec.Mounts[0].Writable != (access == wire.AccessReadWrite) {
		t.Fatalf("mounts = %+v", spec.Mounts)
	}
	return spec.Mounts[0].Source
}

// tree lists the regular files under dir with their contents, and fails
// on anything else but directories.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			t.Errorf("%s is no regular file", p)
			return nil
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got["/"+filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sameTree(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	got := tree(t, dir)
	if len(got) != len(want) {
		t.Fatalf("tree = %v, want %v", got, want)
	}
	for p, c := range want {
		if got[p] != c {
			t.Fatalf("tree = %v, want %v", got, want)
		}
	}
}

// needOverlay fails the test where overlays cannot be mounted (not
// root) on CI, and skips it elsewhere.
func needOverlay(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("overlay memory mounts need root; CI runs as root")
		}
		t.Skip("overlay memory mounts need root")
	}
}

// Without overlays, a read_write mount's directory stays across the
// session's sandbox starts: a later start rewrites only what the store
// changed, removes what it no longer has and what the agent left that
// could not be saved, and keeps the agent's saved edits.
func TestMemoryRefillOnlyChanges(t *testing.T) {
	f := newMemFixture(t, map[string]string{"/a.md": "alpha", "/d/b.md": "beta", "/d/c.md": "gamma", "/old/x.md": "x"})
	f.x.noOverlay.Store(true)
	dir := f.prepare(t, "sesn_rw", wire.AccessReadWrite)
	sameTree(t, dir, map[string]string{"/a.md": "alpha", "/d/b.md": "beta", "/d/c.md": "gamma", "/old/x.md": "x"})
	// An mtime no write leaves shows that a file was not rewritten.
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "d/b.md"), old, old); err != nil {
		t.Fatal(err)
	}

	// The agent edits a file (saved by the sync before the refill) and
	// leaves a link and an oversized file (never saved).
	for p, c := range map[string]string{"d/c.md": "agent's", "big.md": strings.Repeat("x", maxMemoryBytes+1)} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link.md")); err != nil {
		t.Fatal(err)
	}
	// The API changes the store meanwhile.
	f.tx(t, func(ctx context.Context, tx store.Tx) error {
		content := "from the API"
		if _, err := memory.UpdateMemory(ctx, tx, memWS, f.storeID, f.ids["/a.md"], memory.Change{Content: &content}, "", nil); err != nil {
			return err
		}
		return memory.DeleteMemory(ctx, tx, memWS, f.storeID, f.ids["/old/x.md"], "", nil)
	})
	f.create(t, "/old", "a file where a directory was")

	dir2 := f.prepare(t, "sesn_rw", wire.AccessReadWrite)
	if dir2 != dir {
		t.Fatalf("mount moved from %s to %s", dir, dir2)
	}
	sameTree(t, dir, map[string]string{"/a.md": "from the API", "/d/b.md": "beta", "/d/c.md": "agent's", "/old": "a file where a directory was"})
	if fi, err := os.Stat(filepath.Join(dir, "d/b.md")); err != nil || !fi.ModTime().Equal(old) {
		t.Fatal("an unchanged memory was rewritten")
	}
	b, err := f.x.readBase(filepath.Join(f.x.memoryRoot("sesn_rw"), "sesrsc_sesn_rw.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Files) != 4 || b.Files["/d/c.md"] != sha256Hex("agent's") || b.Files["/old"] != sha256Hex("a file where a directory was") {
		t.Fatalf("base = %v", b.Files)
	}
}

// A read_write mount is an overlay over the store's snapshot: the agent's
// writes land in the session's upper layer only, never in the snapshot
// other sessions share; a later start syncs them and mounts anew, with
// what the store changed since written on top of the older snapshot.
func TestMemoryOverlay(t *testing.T) {
	needOverlay(t)
	f := newMemFixture(t, map[string]string{"/a.md": "alpha", "/d/b.md": "beta", "/old/x.md": "x"})
	dir := f.prepare(t, "sesn_rw", wire.AccessReadWrite)
	if !isMounted(dir) {
		t.Fatal("read_write mount is no overlay")
	}
	ro := f.prepare(t, "sesn_ro", wire.AccessReadOnly)
	sameTree(t, dir, map[string]string{"/a.md": "alpha", "/d/b.md": "beta", "/old/x.md": "x"})

	// The agent edits, creates and deletes.
	if err := os.WriteFile(filepath.Join(dir, "d/b.md"), []byte("agent's"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "new.md"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "a.md")); err != nil {
		t.Fatal(err)
	}
	sameTree(t, ro, map[string]string{"/a.md": "alpha", "/d/b.md": "beta", "/old/x.md": "x"})
	if notes := f.x.SyncMemory(context.Background(), memWS, "sesn_rw"); len(notes) > 0 {
		t.Fatal(notes)
	}
	// The API changes the store too.
	f.tx(t, func(ctx context.Context, tx store.Tx) error {
		return memory.DeleteMemory(ctx, tx, memWS, f.storeID, f.ids["/old/x.md"], "", nil)
	})
	f.create(t, "/old", "a file where a directory was")

	want := map[string]string{"/d/b.md": "agent's", "/new.md": "new", "/old": "a file where a directory was"}
	dir2 := f.prepare(t, "sesn_rw", wire.AccessReadWrite)
	if dir2 != dir || !isMounted(dir) {
		t.Fatalf("mount %s, was %s", dir2, dir)
	}
	sameTree(t, dir, want)
	b, err := f.x.readBase(filepath.Join(f.x.memoryRoot("sesn_rw"), "sesrsc_sesn_rw.json"))
	if err != nil || b.Lower != ro || len(b.Files) != 3 || b.Files["/d/b.md"] != sha256Hex("agent's") {
		t.Fatalf("base = %+v, %v; the snapshot shown read-only is %s", b, err, ro)
	}
	// A new session's start mounts the same snapshot with the changes on
	// top, copying nothing else.
	other := f.prepare(t, "sesn_other", wire.AccessReadWrite)
	sameTree(t, other, want)
	var upper []string
	_ = filepath.WalkDir(upperDir(other), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			upper = append(upper, p)
		}
		return err
	})
	if len(upper) != 3 {
		t.Fatalf("upper layer = %v, want only the three changed memories", upper)
	}

	// A directory removed and made again is opaque in the upper layer:
	// what it held in the snapshot is deleted.
	if err := os.RemoveAll(filepath.Join(other, "d")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(other, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "d/z.md"), []byte("zed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if notes := f.x.SyncMemory(context.Background(), memWS, "sesn_other"); len(notes) > 0 {
		t.Fatal(notes)
	}
	sameTree(t, f.prepare(t, "sesn_check", wire.AccessReadWrite), map[string]string{"/d/z.md": "zed", "/new.md": "new", "/old": "a file where a directory was"})

	// Destroyed, a session's overlay is unmounted and gone.
	f.x.Remove("sesn_rw")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("overlay left after the session was removed: %v", err)
	}
}

// read_only mounts of one store version share one snapshot directory,
// made once; a change of the store gives the next start a new one.
func TestMemoryReadOnlySnapshot(t *testing.T) {
	f := newMemFixture(t, map[string]string{"/a.md": "alpha", "/d/b.md": "beta"})
	one := f.prepare(t, "sesn_one", wire.AccessReadOnly)
	two := f.prepare(t, "sesn_two", wire.AccessReadOnly)
	if one != two || strings.Contains(one, "sesn_") {
		t.Fatalf("read-only mounts not shared: %s, %s", one, two)
	}
	sameTree(t, one, map[string]string{"/a.md": "alpha", "/d/b.md": "beta"})

	f.create(t, "/c.md", "gamma")
	three := f.prepare(t, "sesn_one", wire.AccessReadOnly)
	if three == one {
		t.Fatal("a changed store kept its old snapshot")
	}
	sameTree(t, three, map[string]string{"/a.md": "alpha", "/d/b.md": "beta", "/c.md": "gamma"})
	sameTree(t, one, map[string]string{"/a.md": "alpha", "/d/b.md": "beta"})
}

// BenchmarkPrepareMemory measures what mounting a 1,000-memory store adds
// on the server's side of a sandbox start, without the sandbox:
//   - read_only: the store version's snapshot already made;
//   - read_write-first: a session's first start (an overlay over the
//     snapshot), and -changed the same one version after the snapshot
//     (that version written on top);
//   - read_write-restart: a later start of the same session, nothing
//     changed (the sync of what the agent left, then a fresh overlay);
//   - copy-*: the same without overlays, a directory of the session's own.
func BenchmarkPrepareMemory(b *testing.B) {
	files := map[string]string{}
	for i := range 1000 {
		files[fmt.Sprintf("/topic-%d/note-%d.md", i%20, i)] = "a short note an agent keeps between sessions, about one line long."
	}
	for _, c := range []struct {
		name   string
		access string
		fresh  bool
		change bool
		noOvl  bool
	}{
		{name: "read_only", access: wire.AccessReadOnly, fresh: true},
		{name: "read_write-first", access: wire.AccessReadWrite, fresh: true},
		{name: "read_write-first-changed", access: wire.AccessReadWrite, fresh: true, change: true},
		{name: "read_write-restart", access: wire.AccessReadWrite},
		{name: "copy-first", access: wire.AccessReadWrite, fresh: true, noOvl: true},
		{name: "copy-restart", access: wire.AccessReadWrite, noOvl: true},
	} {
		b.Run(c.name, func(b *testing.B) {
			if !c.noOvl {
				needOverlay(b)
			}
			f := newMemFixture(b, files)
			f.x.noOverlay.Store(c.noOvl)
			f.prepare(b, "sesn_bench", c.access)
			if c.change {
				f.create(b, "/changed.md", "one memory written after the snapshot was made")
			}
			for i := 0; b.Loop(); i++ {
				sid := "sesn_bench"
				if c.fresh {
					sid = fmt.Sprintf("sesn_bench_%d", i)
				}
				f.prepare(b, sid, c.access)
			}
		})
	}
}

// BenchmarkSyncMemory measures the sync after a tool call that changed
// one file of a 1,000-memory read_write mount: an overlay's upper layer
// against a whole copy's walk.
func BenchmarkSyncMemory(b *testing.B) {
	files := map[string]string{}
	for i := range 1000 {
		files[fmt.Sprintf("/topic-%d/note-%d.md", i%20, i)] = "a short note an agent keeps between sessions, about one line long."
	}
	for _, noOvl := range []bool{false, true} {
		name := "overlay"
		if noOvl {
			name = "copy"
		}
		b.Run(name, func(b *testing.B) {
			if !noOvl {
				needOverlay(b)
			}
			f := newMemFixture(b, files)
			f.x.noOverlay.Store(noOvl)
			dir := f.prepare(b, "sesn_bench", wire.AccessReadWrite)
			for i := 0; b.Loop(); i++ {
				if err := os.WriteFile(filepath.Join(dir, "topic-1/note-1.md"), []byte(fmt.Sprint("edit ", i)), 0o644); err != nil {
					b.Fatal(err)
				}
				if notes := f.x.SyncMemory(context.Background(), memWS, "sesn_bench"); len(notes) > 0 {
					b.Fatal(notes)
				}
			}
		})
	}
}

// Snapshots are removed once no mount holds them: when a newer one of the
// store is made, and at once when the store is deleted or a version of it
// redacted, so no copy of its content outlives the database's.
func TestMemorySnapshotsForgotten(t *testing.T) {
	f := newMemFixture(t, map[string]string{"/a.md": "alpha"})
	one := f.prepare(t, "sesn_one", wire.AccessReadOnly)
	f.create(t, "/b.md", "beta")
	two := f.prepare(t, "sesn_two", wire.AccessReadOnly)
	if one == two {
		t.Fatal("a changed store kept its snapshot")
	}
	f.x.Remove("sesn_one")
	if _, err := os.Stat(one); err != nil {
		t.Fatalf("an unreferenced snapshot went before anything asked: %v", err)
	}
	f.x.Changed(context.Background(), changes.Change{Workspace: memWS, Kind: store.KindMemoryStore, ID: f.storeID})
	if _, err := os.Stat(one); !os.IsNotExist(err) {
		t.Fatalf("unreferenced snapshot kept after a redaction: %v", err)
	}
	sameTree(t, two, map[string]string{"/a.md": "alpha", "/b.md": "beta"})
	f.x.Remove("sesn_two")
	f.x.Changed(context.Background(), changes.Change{Workspace: memWS, Kind: store.KindMemoryStore, ID: f.storeID})
	if _, err := os.Stat(f.x.snapshotParent(f.storeID)); !os.IsNotExist(err) {
		t.Fatalf("snapshots of a store left after its last mount went: %v", err)
	}
}
