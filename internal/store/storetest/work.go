package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
)

// runWork covers the self-hosted work queue (store.WorkTx). Run calls it.
func runWork(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st store.Store)
	}{
		{"Work/InsertAndGet", testWorkInsertAndGet},
		{"Work/UpdateAndStaleRev", testWorkUpdate},
		{"Work/TokenLookup", testWorkTokenLookup},
		{"Work/ListPaging", testWorkListPaging},
		{"Work/ClaimableAndExpired", testWorkClaimable},
		{"Work/Count", testWorkCount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := open(t)
			t.Cleanup(func() {
				if err := st.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, st)
		})
	}
}

var workT0 = time.Date(2026, 5, 11, 12, 0, 0, 123456789, time.UTC)

func newWork(ws, env, id string, queuedAt time.Time) *store.WorkItem {
	return &store.WorkItem{ID: id, Workspace: ws, EnvironmentID: env, DataType: "session", DataID: "sesn_" + id,
		State: store.WorkQueued, CreatedAt: queuedAt, QueuedAt: queuedAt}
}

func mustInsertWork(t *testing.T, st store.Store, w *store.WorkItem) *store.WorkItem {
	t.Helper()
	if err := st.InsertWork(ctxT(t), w); err != nil {
		t.Fatalf("InsertWork %s: %v", w.ID, err)
	}
	return w
}

func testWorkInsertAndGet(t *testing.T, st store.Store) {
	ctx := ctxT(t)
	w := newWork(wsA, "env_1", "work_1", workT0)
	w.Metadata = map[string]string{"k": "v"}
	lease := workT0.Add(time.Minute)
	w.LeaseUntil = &lease
	mustInsertWork(t, st, w)
	if w.Seq == 0 || w.Rev != 1 || w.CreatedAt.Nanosecond()%1000 != 0 || w.LeaseUntil.Nanosecond()%1000 != 0 {
		t.Fatalf("insert did not fill/normalize: %+v", w)
	}
	got, err := st.GetWork(ctx, wsA, "work_1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, *w) {
		t.Fatalf("GetWork = %+v\nwant %+v", got, *w)
	}
	if _, err := st.GetWork(ctx, wsB, "work_1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("other workspace: %v", err)
	}
	if err := st.InsertWork(ctx, newWork(wsB, "env_1", "work_1", workT0)); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("duplicate id: %v", err)
	}
	empty := mustInsertWork(t, st, newWork(wsA, "env_1", "work_2", workT0))
	got, _ = st.GetWork(ctx, wsA, empty.ID)
	if got.Metadata == nil || len(got.Metadata) != 0 || got.TokenHash != nil {
		t.Fatalf("empty metadata/token read back as %#v %#v", got.Metadata, got.TokenHash)
	}
}

func testWorkUpdate(t *testing.T, st store.Store) {
	ctx := ctxT(t)
	w := mustInsertWork(t, st, newWork(wsA, "env_1", "work_1", workT0))
	stale := *w
	now := workT0.Add(time.Second)
	w.State, w.LastHeartbeat, w.TTLSeconds, w.StartedAt, w.UpdatedAt = store.WorkActive, "hb1", 30, &now, now
	w.Metadata = map[string]string{"a": "b"}
	if err := st.UpdateWork(ctx, w); err != nil {
		t.Fatal(err)
	}
	got, _ := st.GetWork(ctx, wsA, w.ID)
	if !reflect.DeepEqual(got, *w) || got.Rev != 2 {
		t.Fatalf("after update %+v\nwant %+v", got, *w)
	}
	if err := st.UpdateWork(ctx, &stale); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("stale rev: %v", err)
	}
	missing := newWork(wsA, "env_1", "work_missing", workT0)
	missing.Rev = 1
	if err := st.UpdateWork(ctx, missing); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

func testWorkTokenLookup(t *testing.T, st store.Store) {
	ctx := ctxT(t)
	a := newWork(wsA, "env_1", "work_a", workT0)
	a.TokenHash = bytes.Repeat([]byte{1}, 32)
	mustInsertWork(t, st, a)
	mustInsertWork(t, st, newWork(wsB, "env_2", "work_b", workT0))
	mustInsertWork(t, st, newWork(wsB, "env_2", "work_c", workT0)) // two NULL tokens coexist
	got, err := st.WorkByTokenHash(ctx, a.TokenHash)
	if err != nil || got.ID != "work_a" || got.Workspace != wsA {
		t.Fatalf("WorkByTokenHash = %+v, %v", got, err)
	}
	if _, err := st.WorkByTokenHash(ctx, bytes.Repeat([]byte{2}, 32)); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	if _, err := st.WorkByTokenHash(ctx, nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("nil hash: %v", err)
	}
	a.TokenHash = bytes.Repeat([]byte{3}, 32)
	if err := st.UpdateWork(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := st.WorkByTokenHash(ctx, bytes.Repeat([]byte{1}, 32)); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("rotated hash still found: %v", err)
	}
}

func testWorkListPaging(t *testing.T, st store.Store) {
	ctx := ctxT(t)
	for i := range 7 {
		mustInsertWork(t, st, newWork(wsA, "env_1", fmt.Sprintf("work_%d", i), workT0.Add(time.Duration(i)*time.Second)))
	}
	mustInsertWork(t, st, newWork(wsA, "env_2", "work_other_env", workT0))
	mustInsertWork(t, st, newWork(wsB, "env_1", "work_other_ws", workT0))
	for _, desc := range []bool{false, true} {
		var ids []string
		after := int64(0)
		for pages := 0; ; pages++ {
			p, err := st.ListWork(ctx, store.WorkQuery{Workspace: wsA, EnvironmentID: "env_1", Desc: desc, After: after, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range p.Items {
				ids = append(ids, w.ID)
			}
			if !p.More {
				break
			}
			after = p.Items[len(p.Items)-1].Seq
		}
		if len(ids) != 7 {
			t.Fatalf("desc=%v: listed %v", desc, ids)
		}
		first := "work_0"
		if desc {
			first = "work_6"
		}
		if ids[0] != first {
			t.Fatalf("desc=%v: order %v", desc, ids)
		}
	}
	p, err := st.ListWork(ctx, store.WorkQuery{Workspace: wsA, EnvironmentID: "env_1", DataID: "sesn_work_3", States: []string{store.WorkQueued}})
	if err != nil || len(p.Items) != 1 || p.Items[0].ID != "work_3" {
		t.Fatalf("DataID filter: %+v %v", p, err)
	}
	p, _ = st.ListWork(ctx, store.WorkQuery{Workspace: wsA, EnvironmentID: "env_1", States: []string{store.WorkActive}})
	if len(p.Items) != 0 {
		t.Fatalf("state filter: %+v", p)
	}
}

func testWorkClaimable(t *testing.T, st store.Store) {
	ctx := ctxT(t)
	older := mustInsertWork(t, st, newWork(wsA, "env_1", "work_new", workT0.Add(2*time.Second)))
	_ = older
	mustInsertWork(t, st, newWork(wsA, "env_1", "work_old", workT0))
	polled := newWork(wsA, "env_1", "work_polled", workT0.Add(-time.Hour))
	pt := workT0.Add(10 * time.Second)
	polled.PolledAt = &pt
	mustInsertWork(t, st, polled)
	active := newWork(wsA, "env_1", "work_active", workT0)
	active.State = store.WorkActive
	lease := workT0.Add(5 * time.Second)
	active.LeaseUntil = &lease
	mustInsertWork(t, st, active)

	ids := func(ws []store.WorkItem) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.ID)
		}
		return out
	}
	got, err := st.ClaimableWork(ctx, wsA, "env_1", workT0, 10)
	if err != nil || !reflect.DeepEqual(ids(got), []string{"work_old", "work_new"}) {
		t.Fatalf("claimable before reclaim: %v %v", ids(got), err)
	}
	got, _ = st.ClaimableWork(ctx, wsA, "env_1", pt, 10)
	if !reflect.DeepEqual(ids(got), []string{"work_polled", "work_old", "work_new"}) {
		t.Fatalf("claimable after reclaim: %v", ids(got))
	}
	got, _ = st.ClaimableWork(ctx, wsA, "env_1", pt, 1)
	if len(got) != 1 {
		t.Fatalf("limit: %v", ids(got))
	}
	if got, _ := st.ClaimableWork(ctx, wsB, "env_1", pt, 10); len(got) != 0 {
		t.Fatalf("other workspace: %v", ids(got))
	}
	if got, _ := st.ExpiredWork(ctx, wsA, "env_1", lease, 10); len(got) != 0 {
		t.Fatalf("expired at the bound: %v", ids(got))
	}
	if got, _ := st.ExpiredWork(ctx, wsA, "env_1", lease.Add(time.Microsecond), 10); !reflect.DeepEqual(ids(got), []string{"work_active"}) {
		t.Fatalf("expired: %v", ids(got))
	}
}

func testWorkCount(t *testing.T, st store.Store) {
	ctx := ctxT(t)
	c, err := st.CountWork(ctx, wsA, "env_1")
	if err != nil || c.Depth != 0 || c.Pending != 0 || c.OldestQueuedAt != nil {
		t.Fatalf("empty count %+v %v", c, err)
	}
	mustInsertWork(t, st, newWork(wsA, "env_1", "work_1", workT0.Add(time.Second)))
	mustInsertWork(t, st, newWork(wsA, "env_1", "work_2", workT0))
	p := newWork(wsA, "env_1", "work_3", workT0.Add(time.Hour))
	p.PolledAt = &workT0
	mustInsertWork(t, st, p)
	s := newWork(wsA, "env_1", "work_4", workT0.Add(-time.Hour))
	s.State = store.WorkStopped
	mustInsertWork(t, st, s)
	c, err = st.CountWork(ctx, wsA, "env_1")
	if err != nil || c.Depth != 2 || c.Pending != 1 || c.OldestQueuedAt == nil || !c.OldestQueuedAt.Equal(workT0.Truncate(time.Microsecond)) {
		t.Fatalf("count %+v %v", c, err)
	}
}
