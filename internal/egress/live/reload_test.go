package live

import (
	"slices"
	"testing"

	"github.com/hangarhq/hangar/internal/changes"
	"github.com/hangarhq/hangar/internal/store"
)

// A committed change reloads exactly the live sessions whose
// policy it could alter, plus any whose first load is still in flight
// (which may have read the data before the change).
func TestLiveSessionsAffected(t *testing.T) {
	var l liveSessions
	a := l.entry("ws1", "sesn_a", true)
	b := l.entry("ws1", "sesn_b", true)
	l.entry("ws2", "sesn_c", true).loaded = true
	a.loaded, a.envID, a.vaultIDs = true, "env_1", []string{"vlt_1", "vlt_2"}
	b.loaded, b.envID, b.vaultIDs = true, "env_2", []string{"vlt_2"}
	for _, tc := range []struct {
		c    changes.Change
		want []string
	}{
		{changes.Credential("ws1", "vlt_1", "vcrd_x"), []string{"sesn_a"}},
		{changes.Credential("ws1", "vlt_2", "vcrd_x"), []string{"sesn_a", "sesn_b"}},
		{changes.Credential("ws2", "vlt_2", "vcrd_x"), nil}, // another workspace
		{changes.Change{Workspace: "ws1", Kind: store.KindVault, ID: "vlt_1"}, []string{"sesn_a"}},
		{changes.Change{Workspace: "ws1", Kind: store.KindEnvironment, ID: "env_2"}, []string{"sesn_b"}},
		{changes.Change{Workspace: "ws1", Kind: changes.KindSession, ID: "sesn_a"}, []string{"sesn_a"}},
		{changes.Change{Workspace: "ws1", Kind: store.KindEnvironment, ID: "env_9"}, nil},
	} {
		got := l.affected(tc.c)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v: affected %v, want %v", tc.c, got, tc.want)
		}
	}
	// Not loaded yet: every change of its workspace counts.
	l.entry("ws1", "sesn_new", true)
	if got := l.affected(changes.Change{Workspace: "ws1", Kind: store.KindEnvironment, ID: "env_9"}); !slices.Equal(got, []string{"sesn_new"}) {
		t.Errorf("unloaded entry: affected %v", got)
	}
	l.drop("sesn_a")
	if got := l.affected(changes.Credential("ws1", "vlt_1", "vcrd_x")); !slices.Equal(got, []string{"sesn_new"}) {
		t.Errorf("after drop: affected %v", got)
	}
}
