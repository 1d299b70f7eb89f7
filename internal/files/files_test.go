package files

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/blob"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
)

func newStores(t *testing.T) (store.Store, *blob.FS, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := blob.NewFS(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return st, blobs, filepath.Join(dir, "blobs")
}

// A created file can be read back under its key and decoded from its
// record; an unnamed one is named after its type.
func TestCreateAndDecode(t *testing.T) {
	ctx := context.Background()
	st, blobs, _ := newStores(t)
	meta, err := Create(ctx, st, blobs, NewFile{Workspace: "wrkspc_t", ScopeID: "sesn_1", Filename: "dir/", Content: strings.NewReader("# hi")})
	if err != nil {
		t.Fatal(err)
	}
	if meta.Filename != "unnamed.txt" || meta.MimeType != "text/plain" || meta.Scope == nil || meta.Scope.ID != "sesn_1" {
		t.Fatalf("metadata: %+v", meta)
	}
	rec, err := st.Get(ctx, "wrkspc_t", store.KindFile, meta.ID)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(rec)
	if err != nil || back.ID != meta.ID || rec.Parent != "sesn_1" {
		t.Fatalf("decode: %+v %v (parent %q)", back, err, rec.Parent)
	}
	f, err := blobs.Open(BlobKey(meta.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if b, _ := io.ReadAll(f); string(b) != "# hi" {
		t.Fatalf("content %q", b)
	}
}

// Content over the limit is refused and leaves no bytes behind.
func TestCreateOverLimitLeavesNothing(t *testing.T) {
	st, blobs, dir := newStores(t)
	_, err := Create(context.Background(), st, blobs, NewFile{Workspace: "wrkspc_t", Filename: "x", Content: strings.NewReader("toolong"), Limit: 3})
	if !errors.Is(err, errdefs.ErrTooLarge) {
		t.Fatalf("err = %v, want too large", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "files"))
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
}
