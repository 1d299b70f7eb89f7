package sessionbox

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/store/sqlite"
)

// BenchmarkSandboxHandles measures what persisting handles adds to a
// sandbox start: a new session's LoadHandle (none) + SaveHandle (insert),
// and a recovered session's LoadHandle + SaveHandle (update), on SQLite.
func BenchmarkSandboxHandles(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "hangar.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	hs := &sandboxHandles{st: st, log: slog.New(slog.DiscardHandler), workspace: func(string) (string, bool) { return "wrkspc_default", true }}
	h := sandbox.Handle{Version: sandbox.HandleVersion, Backend: "local", ID: "sbx_0123456789abcdef",
		Spec: sandbox.Spec{SessionID: "sesn_x", WorkspaceDir: "/var/lib/hangar/workspaces/sesn_x", Network: sandbox.NetworkNone,
			EgressDir: "/var/lib/hangar/egress/0123456789abcdef", Limits: sandboxLimits, Env: sandbox.EgressEnv()}}
	n := 0 // b.Run may run the body more than once: ids stay new
	b.Run("new", func(b *testing.B) {
		for b.Loop() {
			n++
			sid := "sesn_new" + strconv.Itoa(n)
			if _, ok, err := hs.LoadHandle(ctx, sid); err != nil || ok {
				b.Fatal(ok, err)
			}
			if err := hs.SaveHandle(ctx, sid, h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("recovered", func(b *testing.B) {
		if err := hs.SaveHandle(ctx, "sesn_rec", h); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, ok, err := hs.LoadHandle(ctx, "sesn_rec"); err != nil || !ok {
				b.Fatal(ok, err)
			}
			if err := hs.SaveHandle(ctx, "sesn_rec", h); err != nil {
				b.Fatal(err)
			}
		}
	})
}
