package engine

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/workflow"
)

// A run's saves may arrive out of order (it saves from its threads'
// goroutines): the store keeps the state with the most progress, and the
// end of a run is never overwritten by an older open state.
func TestWorkflowStoreKeepsTheLatestState(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	k := &wfStore{st: st, ws: "wrkspc_test", session: "sesn_1", rev: map[string]wfSaved{}}
	base := workflow.Snapshot{ID: "wrun_1", Status: workflow.StatusRunning, Started: true}
	one := base
	one.Threads = []workflow.ThreadRecord{{Index: 0, Prompt: "a"}, {Index: 1, Prompt: "b"}}
	two := base
	two.Threads = []workflow.ThreadRecord{{Index: 0, Prompt: "a", Done: true, Answer: "A"}, {Index: 1, Prompt: "b"}}
	ended := two
	ended.Status = workflow.StatusEnded
	for _, s := range []workflow.Snapshot{base, two, one, ended, two} {
		if err := k.SaveRun(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := loadRuns(ctx, st, "wrkspc_test", "sesn_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Status != workflow.StatusEnded || !runs[0].Threads[0].Done {
		t.Fatalf("saved: %+v", runs)
	}
	// A new store (after a restart) updates the record it finds.
	k2 := &wfStore{st: st, ws: "wrkspc_test", session: "sesn_1", rev: map[string]wfSaved{}}
	later := ended
	later.Log = []string{"again"}
	if err := k2.SaveRun(ctx, later); err != nil {
		t.Fatal(err)
	}
	if runs, _ = loadRuns(ctx, st, "wrkspc_test", "sesn_1"); len(runs) != 1 || len(runs[0].Log) != 1 {
		t.Fatalf("after a restart: %+v", runs)
	}
}
