package memory

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/wire"
)

// A store refuses a memory past its memory limit and a change past its
// version limit, with a 400 saying so; deleting still works in a full store.
func TestStoreLimits(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	defer func(m, v int) { maxMemories, maxVersions = m, v }(maxMemories, maxVersions)
	maxMemories, maxVersions = 3, 5
	const ws = "wrkspc_test"
	in := func(fn func(ctx context.Context, tx store.Tx) error) error { return st.InTx(ctx, fn) }
	var storeID string
	var mems []wire.Memory
	if err := in(func(ctx context.Context, tx store.Tx) error {
		ms, err := InsertStore(ctx, tx, ws, "limits", "")
		storeID = ms.ID
		for _, p := range []string{"/a", "/b", "/c"} {
			m, err := CreateMemory(ctx, tx, ws, storeID, p, "x", nil)
			if err != nil {
				return err
			}
			mems = append(mems, m)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	full := func(err error, what string) {
		t.Helper()
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), what) {
			t.Fatalf("past the limit: %v, want a 400 about %s", err, what)
		}
	}
	full(in(func(ctx context.Context, tx store.Tx) error {
		_, err := CreateMemory(ctx, tx, ws, storeID, "/d", "x", nil)
		return err
	}), "memories")
	// Three created versions; two changes fill the versions, a third is refused.
	for i, c := range []string{"y", "z", "w"} {
		err := in(func(ctx context.Context, tx store.Tx) error {
			_, err := UpdateMemory(ctx, tx, ws, storeID, mems[0].ID, Change{Content: &c}, "", nil)
			return err
		})
		if i < 2 && err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			full(err, "versions")
		}
	}
	if err := in(func(ctx context.Context, tx store.Tx) error {
		return DeleteMemory(ctx, tx, ws, storeID, mems[1].ID, "", nil)
	}); err != nil {
		t.Fatalf("delete in a full store: %v", err)
	}
}
