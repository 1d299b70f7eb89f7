package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
)

// runSessions is the part of the suite that covers sessions and their event
// logs (store.SessionTx). Run calls it; it follows the same rules.
func runSessions(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st store.Store)
	}{
		{"Session/InsertAndGet", testSessionInsertAndGet},
		{"Session/InsertDuplicate", testSessionInsertDuplicate},
		{"Session/InsertBadStatus", testSessionInsertBadStatus},
		{"Session/Update", testSessionUpdate},
		{"Session/UpdateStaleRev", testSessionUpdateStaleRev},
		{"Session/WorkspaceIsolation", testSessionWorkspaceIsolation},
		{"Session/DeleteRemovesEvents", testSessionDeleteRemovesEvents},
		{"Session/ListFilters", testSessionListFilters},
		{"Session/Paging60", testSessionPaging60},
		{"Session/PagingEdges", testSessionPagingEdges},
		{"Session/ListByStatus", testSessionListByStatus},
		{"Event/Append", testEventAppend},
		{"Event/AppendLargeBatch", testEventAppendLargeBatch},
		{"Event/AppendConflicts", testEventAppendConflicts},
		{"Event/ConcurrentAppend", testEventConcurrentAppend},
		{"Event/ListFilters", testEventListFilters},
		{"Event/ListPaging", testEventListPaging},
		{"Event/SetProcessed", testEventSetProcessed},
		{"Event/InTxWithStatus", testEventInTxWithStatus},
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

// newSession builds a session whose Data names it.
func newSession(ws, id, status string) *store.Session {
	return &store.Session{
		ID: id, Workspace: ws, AgentID: "agent_1", AgentVersion: 1, EnvironmentID: "env_1", Status: status,
		Data: json.RawMessage(fmt.Sprintf(`{"id":%q,"type":"session","status":%q}`, id, status)),
	}
}

func mustInsertSession(t *testing.T, tx store.Tx, s *store.Session) *store.Session {
	t.Helper()
	if err := tx.InsertSession(ctxT(t), s); err != nil {
		t.Fatalf("InsertSession %s: %v", s.ID, err)
	}
	return s
}

func mustGetSession(t *testing.T, tx store.Tx, ws, id string) store.Session {
	t.Helper()
	s, err := tx.GetSession(ctxT(t), ws, id)
	if err != nil {
		t.Fatalf("GetSession %s: %v", id, err)
	}
	return s
}

// sameSession fails unless got equals want in every field the contract keeps.
func sameSession(t *testing.T, what string, got, want store.Session) {
	t.Helper()
	var diffs []string
	cmp := func(field string, eq bool, g, w any) {
		if !eq {
			diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", field, g, w))
		}
	}
	cmp("ID", got.ID == want.ID, got.ID, want.ID)
	cmp("Workspace", got.Workspace == want.Workspace, got.Workspace, want.Workspace)
	cmp("AgentID", got.AgentID == want.AgentID, got.AgentID, want.AgentID)
	cmp("AgentVersion", got.AgentVersion == want.AgentVersion, got.AgentVersion, want.AgentVersion)
	cmp("EnvironmentID", got.EnvironmentID == want.EnvironmentID, got.EnvironmentID, want.EnvironmentID)
	cmp("DeploymentID", got.DeploymentID == want.DeploymentID, got.DeploymentID, want.DeploymentID)
	cmp("Status", got.Status == want.Status, got.Status, want.Status)
	cmp("MemoryStoreIDs", slices.Equal(got.MemoryStoreIDs, want.MemoryStoreIDs) && (got.MemoryStoreIDs == nil) == (want.MemoryStoreIDs == nil),
		got.MemoryStoreIDs, want.MemoryStoreIDs)
	cmp("Data", jsonEqual(got.Data, want.Data), string(got.Data), string(want.Data))
	cmp("CreatedAt", got.CreatedAt.Equal(want.CreatedAt), got.CreatedAt, want.CreatedAt)
	cmp("UpdatedAt", got.UpdatedAt.Equal(want.UpdatedAt), got.UpdatedAt, want.UpdatedAt)
	cmp("ArchivedAt", timePtrEqual(got.ArchivedAt, want.ArchivedAt), got.ArchivedAt, want.ArchivedAt)
	cmp("Rev", got.Rev == want.Rev, got.Rev, want.Rev)
	cmp("Seq", got.Seq == want.Seq, got.Seq, want.Seq)
	cmp("Owner", got.Owner == want.Owner, got.Owner, want.Owner)
	cmp("LeaseUntil", timePtrEqual(got.LeaseUntil, want.LeaseUntil), got.LeaseUntil, want.LeaseUntil)
	if len(diffs) > 0 {
		t.Fatalf("%s: sessions differ:\n  %s", what, joinLines(diffs))
	}
	checkUTC(t, what+" CreatedAt", got.CreatedAt)
	checkUTC(t, what+" UpdatedAt", got.UpdatedAt)
	for _, p := range []*time.Time{got.ArchivedAt, got.LeaseUntil} {
		if p != nil {
			checkUTC(t, what+" optional time", *p)
		}
	}
}

func sessionIDs(ss []store.Session) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func listSessions(t *testing.T, tx store.Tx, q store.SessionQuery) store.SessionPage {
	t.Helper()
	p, err := tx.ListSessions(ctxT(t), q)
	if err != nil {
		t.Fatalf("ListSessions %+v: %v", q, err)
	}
	return p
}

func testSessionInsertAndGet(t *testing.T, st store.Store) {
	cases := []struct {
		name string
		mod  func(s *store.Session)
	}{
		{"defaults", func(s *store.Session) {}},
		{"every field", func(s *store.Session) {
			created := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("x", 3600))
			s.CreatedAt, s.UpdatedAt = created, created.Add(time.Minute)
			s.ArchivedAt, s.LeaseUntil = tp(created.Add(time.Hour)), tp(created.Add(2*time.Hour))
			s.DeploymentID, s.Owner = "depl_1", "node-a"
			s.MemoryStoreIDs = []string{"memstore_b", "memstore_a"}
			s.Status = store.SessionRescheduling
		}},
		{"empty memory store list reads back nil", func(s *store.Session) { s.MemoryStoreIDs = []string{} }},
		{"duplicate memory store ids kept as given", func(s *store.Session) { s.MemoryStoreIDs = []string{"m1", "m1"} }},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := time.Now().Truncate(time.Microsecond)
			s := newSession(wsA, fmt.Sprintf("sesn_%d", i), store.SessionIdle)
			c.mod(s)
			given := s.CreatedAt
			mustInsertSession(t, st, s)
			if s.Seq <= 0 || s.Rev != 1 {
				t.Fatalf("Seq %d Rev %d after insert, want > 0 and 1", s.Seq, s.Rev)
			}
			if given.IsZero() && (s.CreatedAt.Before(before) || !s.UpdatedAt.Equal(s.CreatedAt)) {
				t.Fatalf("CreatedAt %v UpdatedAt %v, want now and equal", s.CreatedAt, s.UpdatedAt)
			}
			if !given.IsZero() && !s.CreatedAt.Equal(given.Truncate(time.Microsecond)) {
				t.Fatalf("CreatedAt %v, want the given %v", s.CreatedAt, given)
			}
			// What InsertSession left in the struct is what reads return.
			sameSession(t, "GetSession after InsertSession", mustGetSession(t, st, wsA, s.ID), *s)
			if n, err := st.LastEventSeq(ctxT(t), s.ID); err != nil || n != 0 {
				t.Fatalf("LastEventSeq of a new session = %d %v, want 0", n, err)
			}
		})
	}
}

func testSessionInsertDuplicate(t *testing.T, st store.Store) {
	mustInsertSession(t, st, newSession(wsA, "sesn_dup", store.SessionIdle))
	// Session ids are global: the same id in another workspace clashes too.
	for _, ws := range []string{wsA, wsB} {
		dup := newSession(ws, "sesn_dup", store.SessionRunning)
		dup.MemoryStoreIDs = []string{"memstore_x"}
		wantConflict(t, st.InsertSession(ctxT(t), dup), "InsertSession duplicate in "+ws)
	}
	got := mustGetSession(t, st, wsA, "sesn_dup")
	if got.Status != store.SessionIdle || got.MemoryStoreIDs != nil {
		t.Fatalf("duplicate insert changed the session: %+v", got)
	}
	p := listSessions(t, st, store.SessionQuery{Workspace: wsA, MemoryStoreID: "memstore_x"})
	if len(p.Sessions) != 0 {
		t.Fatal("a failed insert left its memory-store index behind")
	}
}

func testSessionInsertBadStatus(t *testing.T, st store.Store) {
	for _, status := range []string{"", "paused", "IDLE"} {
		s := newSession(wsA, "sesn_bad", status)
		if err := st.InsertSession(ctxT(t), s); err == nil {
			t.Fatalf("InsertSession with status %q succeeded", status)
		}
	}
	_, err := st.GetSession(ctxT(t), wsA, "sesn_bad")
	wantNotFound(t, err, "session with a bad status")
	s := mustInsertSession(t, st, newSession(wsA, "sesn_ok", store.SessionIdle))
	u := *s
	u.Status = "sleeping"
	if err := st.UpdateSession(ctxT(t), &u); err == nil {
		t.Fatal("UpdateSession to an unknown status succeeded")
	}
	sameSession(t, "after rejected update", mustGetSession(t, st, wsA, "sesn_ok"), *s)
}

func testSessionUpdate(t *testing.T, st store.Store) {
	s := newSession(wsA, "sesn_1", store.SessionIdle)
	s.MemoryStoreIDs = []string{"memstore_old"}
	mustInsertSession(t, st, s)
	u := *s
	u.Status = store.SessionRunning
	u.Data = json.RawMessage(`{"id":"sesn_1","title":"new"}`)
	u.UpdatedAt = s.CreatedAt.Add(time.Second + 999)
	u.ArchivedAt = tp(s.CreatedAt.Add(time.Hour))
	u.Owner, u.LeaseUntil = "node-b", tp(s.CreatedAt.Add(time.Minute))
	u.MemoryStoreIDs = []string{"memstore_new"}
	// Fields fixed at creation are not written by an update.
	u.AgentID, u.AgentVersion, u.EnvironmentID, u.DeploymentID = "agent_other", 9, "env_other", "depl_other"
	if err := st.UpdateSession(ctxT(t), &u); err != nil {
		t.Fatal(err)
	}
	if u.Rev != 2 {
		t.Fatalf("Rev after update = %d, want 2", u.Rev)
	}
	want := u
	want.AgentID, want.AgentVersion, want.EnvironmentID, want.DeploymentID = s.AgentID, s.AgentVersion, s.EnvironmentID, s.DeploymentID
	sameSession(t, "after update", mustGetSession(t, st, wsA, "sesn_1"), want)
	// The memory-store filter follows the update.
	for mem, wantIDs := range map[string][]string{"memstore_old": nil, "memstore_new": {"sesn_1"}} {
		p := listSessions(t, st, store.SessionQuery{Workspace: wsA, MemoryStoreID: mem, IncludeArchived: true})
		sameIDs(t, "memory_store_id "+mem, sessionIDs(p.Sessions), wantIDs)
	}
	// Clearing optional fields.
	u.ArchivedAt, u.LeaseUntil, u.Owner, u.MemoryStoreIDs = nil, nil, "", nil
	if err := st.UpdateSession(ctxT(t), &u); err != nil {
		t.Fatal(err)
	}
	want = u
	want.AgentID, want.AgentVersion, want.EnvironmentID, want.DeploymentID = s.AgentID, s.AgentVersion, s.EnvironmentID, s.DeploymentID
	sameSession(t, "after clearing", mustGetSession(t, st, wsA, "sesn_1"), want)
}

func testSessionUpdateStaleRev(t *testing.T, st store.Store) {
	s := mustInsertSession(t, st, newSession(wsA, "sesn_1", store.SessionIdle))
	a, b := *s, *s
	a.Status = store.SessionRunning
	if err := st.UpdateSession(ctxT(t), &a); err != nil {
		t.Fatal(err)
	}
	b.Status = store.SessionTerminated
	b.MemoryStoreIDs = []string{"memstore_stale"}
	wantConflict(t, st.UpdateSession(ctxT(t), &b), "UpdateSession with a stale Rev")
	if b.Rev != s.Rev {
		t.Fatalf("failed update changed the caller's Rev to %d", b.Rev)
	}
	sameSession(t, "after stale update", mustGetSession(t, st, wsA, "sesn_1"), a)
	if p := listSessions(t, st, store.SessionQuery{Workspace: wsA, MemoryStoreID: "memstore_stale"}); len(p.Sessions) != 0 {
		t.Fatal("stale update wrote the memory-store index")
	}
	// Appending events leaves Rev alone, so the holder of a is not stale.
	appendEvents(t, st, "sesn_1", newEvent("sevt_1", "user.message", ""))
	a.Status = store.SessionIdle
	if err := st.UpdateSession(ctxT(t), &a); err != nil {
		t.Fatalf("update after an append: %v", err)
	}
	missing := newSession(wsA, "sesn_missing", store.SessionIdle)
	missing.Rev = 1
	wantNotFound(t, st.UpdateSession(ctxT(t), missing), "UpdateSession of a missing session")
}

func testSessionWorkspaceIsolation(t *testing.T, st store.Store) {
	s := mustInsertSession(t, st, newSession(wsA, "sesn_a", store.SessionIdle))
	mustInsertSession(t, st, newSession(wsB, "sesn_b", store.SessionIdle))
	_, err := st.GetSession(ctxT(t), wsB, "sesn_a")
	wantNotFound(t, err, "GetSession from another workspace")
	u := *s
	u.Workspace, u.Status = wsB, store.SessionTerminated
	wantNotFound(t, st.UpdateSession(ctxT(t), &u), "UpdateSession from another workspace")
	wantNotFound(t, st.DeleteSession(ctxT(t), wsB, "sesn_a"), "DeleteSession from another workspace")
	sameSession(t, "untouched", mustGetSession(t, st, wsA, "sesn_a"), *s)
	for ws, want := range map[string][]string{wsA: {"sesn_a"}, wsB: {"sesn_b"}, "wrkspc_none": nil} {
		p := listSessions(t, st, store.SessionQuery{Workspace: ws, IncludeArchived: true})
		sameIDs(t, "ListSessions "+ws, sessionIDs(p.Sessions), want)
	}
}

func testSessionDeleteRemovesEvents(t *testing.T, st store.Store) {
	s := newSession(wsA, "sesn_del", store.SessionIdle)
	s.MemoryStoreIDs = []string{"memstore_1"}
	mustInsertSession(t, st, s)
	keep := newSession(wsA, "sesn_keep", store.SessionIdle)
	keep.MemoryStoreIDs = []string{"memstore_1"}
	mustInsertSession(t, st, keep)
	appendEvents(t, st, "sesn_del", newEvent("sevt_d1", "user.message", ""), newEvent("sevt_d2", "agent.message", ""))
	kept := appendEvents(t, st, "sesn_keep", newEvent("sevt_k1", "user.message", ""))

	if err := st.DeleteSession(ctxT(t), wsA, "sesn_del"); err != nil {
		t.Fatal(err)
	}
	_, err := st.GetSession(ctxT(t), wsA, "sesn_del")
	wantNotFound(t, err, "GetSession after delete")
	_, err = st.GetEvent(ctxT(t), "sesn_del", "sevt_d1")
	wantNotFound(t, err, "GetEvent after delete")
	_, err = st.LastEventSeq(ctxT(t), "sesn_del")
	wantNotFound(t, err, "LastEventSeq after delete")
	wantNotFound(t, st.AppendEvents(ctxT(t), "sesn_del", []*store.Event{newEvent("sevt_d3", "user.message", "")}), "AppendEvents after delete")
	p := listEvents(t, st, store.EventQuery{SessionID: "sesn_del"})
	if len(p.Events) != 0 {
		t.Fatalf("%d events remain after delete", len(p.Events))
	}
	if evs, err := st.EventsSince(ctxT(t), "sesn_del", 0, 0); err != nil || len(evs) != 0 {
		t.Fatalf("EventsSince after delete = %d events, %v", len(evs), err)
	}
	sp := listSessions(t, st, store.SessionQuery{Workspace: wsA, MemoryStoreID: "memstore_1"})
	sameIDs(t, "memory_store_id after delete", sessionIDs(sp.Sessions), []string{"sesn_keep"})
	// The other session's log is untouched.
	sameEvents(t, "other session", listEvents(t, st, store.EventQuery{SessionID: "sesn_keep"}).Events, derefEvents(kept))
	wantNotFound(t, st.DeleteSession(ctxT(t), wsA, "sesn_del"), "second DeleteSession")
	// The deleted events' ids are free again.
	mustInsertSession(t, st, newSession(wsA, "sesn_new", store.SessionIdle))
	appendEvents(t, st, "sesn_new", newEvent("sevt_d1", "user.message", ""))
}

func testSessionListFilters(t *testing.T, st store.Store) {
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	mk := func(i int, id, agent string, version int64, depl, status string, mem []string, archived bool) {
		s := newSession(wsA, id, status)
		s.AgentID, s.AgentVersion, s.DeploymentID, s.MemoryStoreIDs = agent, version, depl, mem
		s.CreatedAt = base.Add(time.Duration(i) * time.Second)
		if archived {
			s.ArchivedAt = tp(base.Add(time.Hour))
		}
		mustInsertSession(t, st, s)
	}
	mk(0, "s0", "agent_a", 1, "", store.SessionIdle, nil, false)
	mk(1, "s1", "agent_a", 2, "depl_1", store.SessionRunning, []string{"mem_1"}, false)
	mk(2, "s2", "agent_b", 1, "depl_1", store.SessionRescheduling, []string{"mem_1", "mem_2"}, false)
	mk(3, "s3", "agent_a", 2, "", store.SessionTerminated, []string{"mem_2"}, true)
	mk(4, "s4", "agent_b", 3, "depl_2", store.SessionIdle, nil, false)
	// Another tenant with matching fields must never show.
	other := newSession(wsB, "x0", store.SessionIdle)
	other.AgentID, other.MemoryStoreIDs, other.DeploymentID = "agent_a", []string{"mem_1"}, "depl_1"
	mustInsertSession(t, st, other)

	at := func(sec int) *time.Time { return tp(base.Add(time.Duration(sec) * time.Second)) }
	cases := []struct {
		name string
		q    store.SessionQuery
		want []string
	}{
		{"all live", store.SessionQuery{}, []string{"s0", "s1", "s2", "s4"}},
		{"include archived", store.SessionQuery{IncludeArchived: true}, []string{"s0", "s1", "s2", "s3", "s4"}},
		{"desc", store.SessionQuery{Desc: true}, []string{"s4", "s2", "s1", "s0"}},
		{"agent_id", store.SessionQuery{AgentID: "agent_a", IncludeArchived: true}, []string{"s0", "s1", "s3"}},
		{"agent_id and version", store.SessionQuery{AgentID: "agent_a", AgentVersion: 2, IncludeArchived: true}, []string{"s1", "s3"}},
		{"agent_version alone", store.SessionQuery{AgentVersion: 1}, []string{"s0", "s2"}},
		{"deployment_id", store.SessionQuery{DeploymentID: "depl_1"}, []string{"s1", "s2"}},
		{"memory_store_id", store.SessionQuery{MemoryStoreID: "mem_2", IncludeArchived: true}, []string{"s2", "s3"}},
		{"memory_store_id live", store.SessionQuery{MemoryStoreID: "mem_2"}, []string{"s2"}},
		{"memory_store_id unknown", store.SessionQuery{MemoryStoreID: "mem_9"}, nil},
		{"one status", store.SessionQuery{Statuses: []string{store.SessionIdle}}, []string{"s0", "s4"}},
		{"statuses any of", store.SessionQuery{Statuses: []string{store.SessionRunning, store.SessionTerminated}, IncludeArchived: true}, []string{"s1", "s3"}},
		{"created gt", store.SessionQuery{CreatedGT: at(2)}, []string{"s4"}},
		{"created gte", store.SessionQuery{CreatedGTE: at(2)}, []string{"s2", "s4"}},
		{"created lt", store.SessionQuery{CreatedLT: at(1)}, []string{"s0"}},
		{"created lte", store.SessionQuery{CreatedLTE: at(1)}, []string{"s0", "s1"}},
		{"created sub-microsecond gte", store.SessionQuery{CreatedGTE: tp(at(1).Add(500))}, []string{"s2", "s4"}},
		{"created sub-microsecond lt", store.SessionQuery{CreatedLT: tp(at(1).Add(500))}, []string{"s0", "s1"}},
		{"combined", store.SessionQuery{AgentID: "agent_b", MemoryStoreID: "mem_1", Statuses: []string{store.SessionRescheduling}, CreatedGTE: at(0)}, []string{"s2"}},
		{"limit", store.SessionQuery{Limit: 2}, []string{"s0", "s1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.q.Workspace = wsA
			p := listSessions(t, st, c.q)
			sameIDs(t, "ListSessions", sessionIDs(p.Sessions), c.want)
			if p.HasPrev {
				t.Error("first page has HasPrev")
			}
			if wantNext := c.q.Limit > 0 && len(c.want) == c.q.Limit; p.HasNext != wantNext {
				t.Errorf("HasNext = %v, want %v", p.HasNext, wantNext)
			}
			for _, s := range p.Sessions {
				if s.Workspace != wsA {
					t.Errorf("session %s of workspace %s listed", s.ID, s.Workspace)
				}
			}
		})
	}
}

// testSessionPaging60 walks 60 sessions in pages of 7 forward to the end,
// then backward to the start, in both orders and with a filter, as a client
// following next_page and prev_page does.
func testSessionPaging60(t *testing.T, st store.Store) {
	const n, pageSize = 60, 7
	var all, running []string
	err := st.InTx(ctxT(t), func(ctx context.Context, tx store.Tx) error {
		for i := 0; i < n; i++ {
			status := store.SessionIdle
			if i%3 == 0 {
				status = store.SessionRunning
				running = append(running, fmt.Sprintf("s%02d", i))
			}
			all = append(all, fmt.Sprintf("s%02d", i))
			noise := []*store.Session{newSession(wsA, fmt.Sprintf("s%02d", i), status), newSession(wsB, fmt.Sprintf("x%02d", i), status)}
			if i%10 == 0 {
				a := newSession(wsA, fmt.Sprintf("z%02d", i), status)
				a.ArchivedAt = tp(time.Now())
				noise = append(noise, a)
			}
			for _, s := range noise {
				if err := tx.InsertSession(ctx, s); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		statuses []string
		want     []string
	}{{"all", nil, all}, {"running", []string{store.SessionRunning}, running}} {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s desc=%v", c.name, desc), func(t *testing.T) {
				exp := slices.Clone(c.want)
				if desc {
					slices.Reverse(exp)
				}
				var wantPages [][]string
				for i := 0; i < len(exp); i += pageSize {
					wantPages = append(wantPages, exp[i:min(i+pageSize, len(exp))])
				}
				q := store.SessionQuery{Workspace: wsA, Statuses: c.statuses, Desc: desc, Limit: pageSize}
				// Forward.
				var pages []store.SessionPage
				var got []string
				for p := listSessions(t, st, q); ; {
					pages = append(pages, p)
					got = append(got, sessionIDs(p.Sessions)...)
					if len(pages) > len(exp) {
						t.Fatal("forward paging does not terminate")
					}
					if wantPrev := len(pages) > 1; p.HasPrev != wantPrev || (p.PrevBefore != 0) != wantPrev {
						t.Fatalf("page %d: HasPrev %v PrevBefore %d, want %v", len(pages), p.HasPrev, p.PrevBefore, wantPrev)
					}
					if !p.HasNext {
						if p.NextAfter != 0 {
							t.Fatalf("last page: NextAfter %d without HasNext", p.NextAfter)
						}
						break
					}
					if p.NextAfter != p.Sessions[len(p.Sessions)-1].Seq {
						t.Fatalf("page %d: NextAfter %d, want the last session's Seq", len(pages), p.NextAfter)
					}
					qq := q
					qq.After = p.NextAfter
					p = listSessions(t, st, qq)
				}
				sameIDs(t, "forward walk", got, exp)
				if len(pages) != len(wantPages) {
					t.Fatalf("%d pages forward, want %d", len(pages), len(wantPages))
				}
				for i, p := range pages {
					sameIDs(t, fmt.Sprintf("forward page %d", i+1), sessionIDs(p.Sessions), wantPages[i])
				}
				// Backward from the last page: each prev page is the
				// page that came before it on the way forward.
				p := pages[len(pages)-1]
				for i := len(pages) - 2; i >= 0; i-- {
					if !p.HasPrev {
						t.Fatalf("page %d has no previous page", i+2)
					}
					qq := q
					qq.Before = p.PrevBefore
					p = listSessions(t, st, qq)
					sameIDs(t, fmt.Sprintf("backward page %d", i+1), sessionIDs(p.Sessions), wantPages[i])
					if !p.HasNext || p.NextAfter != pages[i].NextAfter {
						t.Fatalf("backward page %d: HasNext %v NextAfter %d, want true %d", i+1, p.HasNext, p.NextAfter, pages[i].NextAfter)
					}
					if wantPrev := i > 0; p.HasPrev != wantPrev {
						t.Fatalf("backward page %d: HasPrev %v, want %v", i+1, p.HasPrev, wantPrev)
					}
				}
			})
		}
	}
}

// testSessionPagingEdges covers cursors whose neighbourhood changed between
// requests: sessions deleted or created, and pages left empty.
func testSessionPagingEdges(t *testing.T, st store.Store) {
	// A session of another tenant first, so that no session below has Seq
	// 1 whatever the engine starts counting at.
	mustInsertSession(t, st, newSession(wsB, "x0", store.SessionIdle))
	var ss []*store.Session
	for i := 0; i < 6; i++ {
		ss = append(ss, mustInsertSession(t, st, newSession(wsA, fmt.Sprintf("s%d", i), store.SessionIdle)))
	}
	seq := func(i int) int64 { return ss[i].Seq }
	cases := []struct {
		name          string
		desc          bool
		after, before int64
		limit         int
		want          []string
		next, prev    bool
	}{
		{name: "asc after s2", after: seq(2), limit: 2, want: []string{"s3", "s4"}, next: true, prev: true},
		{name: "asc before s4", before: seq(4), limit: 2, want: []string{"s2", "s3"}, next: true, prev: true},
		{name: "asc before s2 short", before: seq(2), limit: 3, want: []string{"s0", "s1"}, next: true, prev: false},
		{name: "desc after s4", desc: true, after: seq(4), limit: 2, want: []string{"s3", "s2"}, next: true, prev: true},
		{name: "desc before s1", desc: true, before: seq(1), limit: 2, want: []string{"s3", "s2"}, next: true, prev: true},
		{name: "desc before s4 short", desc: true, before: seq(4), limit: 5, want: []string{"s5"}, next: true, prev: false},
		{name: "no limit before", before: seq(3), want: []string{"s0", "s1", "s2"}, next: true, prev: false},
		{name: "asc empty after the end", after: seq(5), limit: 2, want: nil, next: false, prev: true},
		{name: "desc empty after the end", desc: true, after: seq(0), limit: 2, want: nil, next: false, prev: true},
		{name: "asc empty before the start", before: seq(0), limit: 2, want: nil, next: true, prev: false},
		{name: "desc empty before the start", desc: true, before: seq(5), limit: 2, want: nil, next: true, prev: false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := store.SessionQuery{Workspace: wsA, Desc: c.desc, After: c.after, Before: c.before, Limit: c.limit}
			p := listSessions(t, st, q)
			sameIDs(t, "page", sessionIDs(p.Sessions), c.want)
			if p.HasNext != c.next || p.HasPrev != c.prev {
				t.Fatalf("HasNext %v HasPrev %v, want %v %v", p.HasNext, p.HasPrev, c.next, c.prev)
			}
			// Following a link from an empty page lands next to the
			// cursor, with nothing skipped.
			if len(c.want) == 0 && p.HasPrev {
				qq := q
				qq.After, qq.Before = 0, p.PrevBefore
				pp := listSessions(t, st, qq)
				last := "s5"
				if c.desc {
					last = "s0"
				}
				if len(pp.Sessions) != c.limit || pp.Sessions[len(pp.Sessions)-1].ID != last {
					t.Fatalf("prev of an empty page: %v, want %d sessions ending with %s", sessionIDs(pp.Sessions), c.limit, last)
				}
			}
			if len(c.want) == 0 && p.HasNext {
				qq := q
				qq.After, qq.Before = p.NextAfter, 0
				pp := listSessions(t, st, qq)
				first := "s0"
				if c.desc {
					first = "s5"
				}
				if len(pp.Sessions) != c.limit || pp.Sessions[0].ID != first {
					t.Fatalf("next of an empty page: %v, want %d sessions starting with %s", sessionIDs(pp.Sessions), c.limit, first)
				}
			}
		})
	}
	// A page whose cursor session vanished still joins up with its
	// neighbours.
	p := listSessions(t, st, store.SessionQuery{Workspace: wsA, Limit: 3})
	if err := st.DeleteSession(ctxT(t), wsA, "s2"); err != nil {
		t.Fatal(err)
	}
	next := listSessions(t, st, store.SessionQuery{Workspace: wsA, Limit: 3, After: p.NextAfter})
	sameIDs(t, "next after a deleted cursor", sessionIDs(next.Sessions), []string{"s3", "s4", "s5"})
	prev := listSessions(t, st, store.SessionQuery{Workspace: wsA, Limit: 3, Before: next.PrevBefore})
	sameIDs(t, "prev of that", sessionIDs(prev.Sessions), []string{"s0", "s1"})
	if prev.HasPrev {
		t.Fatal("first page reached backward has HasPrev")
	}
	// Sessions created after the walk began show up on the way back.
	mustInsertSession(t, st, newSession(wsA, "s6", store.SessionIdle))
	d := listSessions(t, st, store.SessionQuery{Workspace: wsA, Desc: true, Limit: 2, After: seq(4)})
	sameIDs(t, "desc page", sessionIDs(d.Sessions), []string{"s3", "s1"})
	back := listSessions(t, st, store.SessionQuery{Workspace: wsA, Desc: true, Limit: 2, Before: d.PrevBefore})
	sameIDs(t, "desc back", sessionIDs(back.Sessions), []string{"s5", "s4"})
	if !back.HasPrev {
		t.Fatal("newer session not reachable backward")
	}
	// Both cursors at once is a programming error.
	if _, err := st.ListSessions(ctxT(t), store.SessionQuery{Workspace: wsA, After: 1, Before: 2}); err == nil {
		t.Fatal("ListSessions with After and Before succeeded")
	}
}

func testSessionListByStatus(t *testing.T, st store.Store) {
	var want []string
	for i := 0; i < 9; i++ {
		status := store.SessionStatuses[i%4]
		ws := []string{wsA, wsB}[i%2]
		id := fmt.Sprintf("s%d", i)
		s := newSession(ws, id, status)
		if i == 8 {
			s.ArchivedAt = tp(time.Now())
		}
		mustInsertSession(t, st, s)
		if status == store.SessionRunning || status == store.SessionRescheduling {
			want = append(want, id)
		}
	}
	statuses := []string{store.SessionRunning, store.SessionRescheduling}
	all, err := st.ListSessionsByStatus(ctxT(t), statuses, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "all workspaces", sessionIDs(all), want)
	// Paged by Seq, as recovery walks a large set.
	var got []string
	var after int64
	for {
		page, err := st.ListSessionsByStatus(ctxT(t), statuses, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, sessionIDs(page)...)
		after = page[len(page)-1].Seq
	}
	sameIDs(t, "paged", got, want)
	if none, err := st.ListSessionsByStatus(ctxT(t), []string{"no-such-status"}, 0, 0); err != nil || len(none) != 0 {
		t.Fatalf("unknown status: %v %v", sessionIDs(none), err)
	}
	every, err := st.ListSessionsByStatus(ctxT(t), nil, 0, 0)
	if err != nil || len(every) != 9 {
		t.Fatalf("no statuses: %d sessions %v, want all 9", len(every), err)
	}
}

// Events.

func newEvent(id, typ, thread string) *store.Event {
	return &store.Event{ID: id, Type: typ, ThreadID: thread,
		Data: json.RawMessage(fmt.Sprintf(`{"id":%q,"type":%q,"processed_at":null}`, id, typ))}
}

func appendEvents(t *testing.T, tx store.Tx, sessionID string, evs ...*store.Event) []*store.Event {
	t.Helper()
	if err := tx.AppendEvents(ctxT(t), sessionID, evs); err != nil {
		t.Fatalf("AppendEvents to %s: %v", sessionID, err)
	}
	return evs
}

func listEvents(t *testing.T, tx store.Tx, q store.EventQuery) store.EventPage {
	t.Helper()
	p, err := tx.ListEvents(ctxT(t), q)
	if err != nil {
		t.Fatalf("ListEvents %+v: %v", q, err)
	}
	return p
}

func derefEvents(evs []*store.Event) []store.Event {
	out := make([]store.Event, len(evs))
	for i, e := range evs {
		out[i] = *e
	}
	return out
}

func eventIDs(evs []store.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func sameEvent(t *testing.T, what string, got, want store.Event) {
	t.Helper()
	if got.SessionID != want.SessionID || got.Seq != want.Seq || got.ID != want.ID || got.Type != want.Type ||
		got.ThreadID != want.ThreadID || !got.CreatedAt.Equal(want.CreatedAt) || !timePtrEqual(got.ProcessedAt, want.ProcessedAt) ||
		!jsonEqual(got.Data, want.Data) || string(got.Private) != string(want.Private) {
		t.Fatalf("%s: events differ:\n got %+v data %s\nwant %+v data %s", what, got, got.Data, want, want.Data)
	}
	checkUTC(t, what+" CreatedAt", got.CreatedAt)
	if got.ProcessedAt != nil {
		checkUTC(t, what+" ProcessedAt", *got.ProcessedAt)
	}
}

func sameEvents(t *testing.T, what string, got, want []store.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events %v, want %d %v", what, len(got), eventIDs(got), len(want), eventIDs(want))
	}
	for i := range got {
		sameEvent(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
	}
}

func testEventAppend(t *testing.T, st store.Store) {
	mustInsertSession(t, st, newSession(wsA, "sesn_1", store.SessionIdle))
	mustInsertSession(t, st, newSession(wsA, "sesn_2", store.SessionIdle))
	before := time.Now().Truncate(time.Microsecond)
	given := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("x", -3600))
	processed := given.Add(time.Second)
	e2 := newEvent("sevt_2", "agent.message", "sthr_1")
	e2.CreatedAt, e2.ProcessedAt = given, &processed
	e2.Private = json.RawMessage(`{"thinking":"t","signature":"s"}`)
	batch := appendEvents(t, st, "sesn_1", newEvent("sevt_1", "user.message", ""), e2)
	for i, e := range batch {
		if e.Seq != int64(i+1) || e.SessionID != "sesn_1" {
			t.Fatalf("event %d: Seq %d SessionID %q, want %d sesn_1", i, e.Seq, e.SessionID, i+1)
		}
	}
	if batch[0].CreatedAt.Before(before) || batch[0].CreatedAt.After(time.Now()) {
		t.Fatalf("CreatedAt %v not filled with now", batch[0].CreatedAt)
	}
	if !e2.CreatedAt.Equal(given.Truncate(time.Microsecond)) || !e2.ProcessedAt.Equal(processed.Truncate(time.Microsecond)) {
		t.Fatalf("given times not kept: %v %v", e2.CreatedAt, e2.ProcessedAt)
	}
	// Seqs are per session: another session starts at 1.
	other := appendEvents(t, st, "sesn_2", newEvent("sevt_x", "user.message", ""))
	if other[0].Seq != 1 {
		t.Fatalf("first event of another session has Seq %d", other[0].Seq)
	}
	batch = append(batch, appendEvents(t, st, "sesn_1", newEvent("sevt_3", "session.status_running", ""))...)
	if batch[2].Seq != 3 {
		t.Fatalf("third event Seq %d, want 3", batch[2].Seq)
	}
	for _, e := range batch {
		got, err := st.GetEvent(ctxT(t), "sesn_1", e.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameEvent(t, "GetEvent "+e.ID, got, *e)
	}
	_, err := st.GetEvent(ctxT(t), "sesn_2", "sevt_1")
	wantNotFound(t, err, "GetEvent through another session")
	_, err = st.GetEvent(ctxT(t), "sesn_1", "sevt_none")
	wantNotFound(t, err, "GetEvent of a missing id")
	if n, err := st.LastEventSeq(ctxT(t), "sesn_1"); err != nil || n != 3 {
		t.Fatalf("LastEventSeq = %d %v, want 3", n, err)
	}
	_, err = st.LastEventSeq(ctxT(t), "sesn_none")
	wantNotFound(t, err, "LastEventSeq of a missing session")
	for _, c := range []struct {
		after int64
		limit int
		want  []store.Event
	}{
		{0, 0, derefEvents(batch)},
		{1, 0, derefEvents(batch[1:])},
		{0, 2, derefEvents(batch[:2])},
		{3, 0, nil},
	} {
		got, err := st.EventsSince(ctxT(t), "sesn_1", c.after, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		sameEvents(t, fmt.Sprintf("EventsSince(%d, %d)", c.after, c.limit), got, c.want)
	}
	// An empty append changes nothing but still needs the session.
	if err := st.AppendEvents(ctxT(t), "sesn_1", nil); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, st.AppendEvents(ctxT(t), "sesn_none", nil), "empty append to a missing session")
	if n, _ := st.LastEventSeq(ctxT(t), "sesn_1"); n != 3 {
		t.Fatalf("LastEventSeq after an empty append = %d", n)
	}
}

func testEventAppendLargeBatch(t *testing.T, st store.Store) {
	mustInsertSession(t, st, newSession(wsA, "sesn_1", store.SessionIdle))
	appendEvents(t, st, "sesn_1", newEvent("sevt_first", "user.message", ""))
	var evs []*store.Event
	for i := 0; i < 250; i++ {
		evs = append(evs, newEvent(fmt.Sprintf("sevt_%03d", i), "agent.message", ""))
	}
	appendEvents(t, st, "sesn_1", evs...)
	got, err := st.EventsSince(ctxT(t), "sesn_1", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "large batch", got, derefEvents(evs))
	if evs[249].Seq != 251 {
		t.Fatalf("last Seq %d, want 251", evs[249].Seq)
	}
}

func testEventAppendConflicts(t *testing.T, st store.Store) {
	mustInsertSession(t, st, newSession(wsA, "sesn_1", store.SessionIdle))
	mustInsertSession(t, st, newSession(wsA, "sesn_2", store.SessionIdle))
	appendEvents(t, st, "sesn_1", newEvent("sevt_1", "user.message", ""))
	cases := []struct {
		name    string
		session string
		evs     []*store.Event
		check   func(error, string)
	}{
		{"id taken in the same session", "sesn_1", []*store.Event{newEvent("sevt_new", "user.message", ""), newEvent("sevt_1", "user.message", "")},
			func(err error, w string) { wantConflict(t, err, w) }},
		{"id taken in another session", "sesn_2", []*store.Event{newEvent("sevt_1", "user.message", "")},
			func(err error, w string) { wantConflict(t, err, w) }},
		{"id twice in one batch", "sesn_1", []*store.Event{newEvent("sevt_twice", "user.message", ""), newEvent("sevt_twice", "user.message", "")},
			func(err error, w string) { wantConflict(t, err, w) }},
		{"missing session", "sesn_none", []*store.Event{newEvent("sevt_orphan", "user.message", "")},
			func(err error, w string) { wantNotFound(t, err, w) }},
		{"event without an id", "sesn_1", []*store.Event{{Type: "user.message", Data: json.RawMessage(`{}`)}},
			func(err error, w string) {
				if err == nil {
					t.Fatalf("%s: succeeded", w)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.check(st.AppendEvents(ctxT(t), c.session, c.evs), "AppendEvents")
			// Nothing was appended, and the next append continues
			// without a gap.
			for _, s := range []string{"sesn_1", "sesn_2"} {
				evs, err := st.EventsSince(ctxT(t), s, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				if n, _ := st.LastEventSeq(ctxT(t), s); n != int64(len(evs)) {
					t.Fatalf("%s: LastEventSeq %d with %d events", s, n, len(evs))
				}
			}
		})
	}
	// Inside a transaction the caller goes on with, a rejected append
	// leaves no trace either.
	err := st.InTx(ctxT(t), func(ctx context.Context, tx store.Tx) error {
		if err := tx.AppendEvents(ctx, "sesn_1", []*store.Event{newEvent("sevt_1", "user.message", "")}); !errors.Is(err, errdefs.ErrConflict) {
			return fmt.Errorf("duplicate append in tx: %v", err)
		}
		return tx.AppendEvents(ctx, "sesn_1", []*store.Event{newEvent("sevt_2", "user.message", "")})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.EventsSince(ctxT(t), "sesn_1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ids := eventIDs(got); !slices.Equal(ids, []string{"sevt_1", "sevt_2"}) || got[1].Seq != 2 {
		t.Fatalf("events after a rejected append in a tx: %v", got)
	}
}

// testEventConcurrentAppend appends from several goroutines, each in its own
// transactions, to one session: Seqs must come out 1..N with no gap and no
// duplicate, and each batch contiguous. As in
// InTx/ConcurrentIncrements, a driver may answer a serialization failure
// with a conflict, which the caller retries.
func testEventConcurrentAppend(t *testing.T, st store.Store) {
	const workers, perWorker = 8, 25
	mustInsertSession(t, st, newSession(wsA, "sesn_1", store.SessionRunning))
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	var mu sync.Mutex
	batches := map[string][]int64{}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				size := 1 + (w+i)%3
				for attempt := 0; ; attempt++ {
					var evs []*store.Event
					for k := 0; k < size; k++ {
						evs = append(evs, newEvent(fmt.Sprintf("sevt_%d_%d_%d", w, i, k), "agent.message", ""))
					}
					err := st.InTx(ctxT(t), func(ctx context.Context, tx store.Tx) error {
						return tx.AppendEvents(ctx, "sesn_1", evs)
					})
					if errors.Is(err, errdefs.ErrConflict) && attempt < 100 {
						continue
					}
					if err != nil {
						errc <- err
						return
					}
					mu.Lock()
					for _, e := range evs {
						batches[fmt.Sprintf("%d_%d", w, i)] = append(batches[fmt.Sprintf("%d_%d", w, i)], e.Seq)
					}
					mu.Unlock()
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("append: %v", err)
	}
	evs, err := st.EventsSince(ctxT(t), "sesn_1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, seqs := range batches {
		total += len(seqs)
		for k := 1; k < len(seqs); k++ {
			if seqs[k] != seqs[k-1]+1 {
				t.Fatalf("batch not contiguous: %v", seqs)
			}
		}
	}
	if len(evs) != total {
		t.Fatalf("%d events stored, %d appended", len(evs), total)
	}
	ids := map[string]bool{}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has Seq %d: gap or duplicate", i, e.Seq)
		}
		if ids[e.ID] {
			t.Fatalf("event %s stored twice", e.ID)
		}
		ids[e.ID] = true
	}
	if n, err := st.LastEventSeq(ctxT(t), "sesn_1"); err != nil || n != int64(total) {
		t.Fatalf("LastEventSeq = %d %v, want %d", n, err, total)
	}
}

func testEventListFilters(t *testing.T, st store.Store) {
	mustInsertSession(t, st, newSession(wsA, "sesn_1", store.SessionIdle))
	mustInsertSession(t, st, newSession(wsA, "sesn_2", store.SessionIdle))
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(sec int) *time.Time { return tp(base.Add(time.Duration(sec) * time.Second)) }
	// e0..e5; e1 and e4 are not processed yet. ProcessedAt runs against
	// Seq order for e2/e3, so a time filter cannot be a Seq range.
	specs := []struct {
		typ, thread string
		processed   *time.Time
	}{
		{"user.message", "", at(0)},
		{"user.message", "", nil},
		{"agent.message", "sthr_1", at(3)},
		{"agent.tool_use", "", at(2)},
		{"agent.message", "", nil},
		{"session.status_idle", "sthr_1", at(5)},
	}
	for i, s := range specs {
		e := newEvent(fmt.Sprintf("e%d", i), s.typ, s.thread)
		e.ProcessedAt = s.processed
		appendEvents(t, st, "sesn_1", e)
	}
	appendEvents(t, st, "sesn_2", newEvent("other", "user.message", ""))
	cases := []struct {
		name string
		q    store.EventQuery
		want []string
		more bool
	}{
		{name: "all", want: []string{"e0", "e1", "e2", "e3", "e4", "e5"}},
		{name: "desc", q: store.EventQuery{Desc: true}, want: []string{"e5", "e4", "e3", "e2", "e1", "e0"}},
		{name: "one type", q: store.EventQuery{Types: []string{"agent.message"}}, want: []string{"e2", "e4"}},
		{name: "types any of", q: store.EventQuery{Types: []string{"user.message", "session.status_idle"}}, want: []string{"e0", "e1", "e5"}},
		{name: "unknown type", q: store.EventQuery{Types: []string{"nope"}}, want: nil},
		{name: "primary thread", q: store.EventQuery{ThreadSet: true}, want: []string{"e0", "e1", "e3", "e4"}},
		{name: "one thread", q: store.EventQuery{ThreadSet: true, ThreadID: "sthr_1"}, want: []string{"e2", "e5"}},
		{name: "processed gt", q: store.EventQuery{ProcessedGT: at(2)}, want: []string{"e2", "e5"}},
		{name: "processed gte", q: store.EventQuery{ProcessedGTE: at(2)}, want: []string{"e2", "e3", "e5"}},
		{name: "processed lt", q: store.EventQuery{ProcessedLT: at(3)}, want: []string{"e0", "e3"}},
		{name: "processed lte", q: store.EventQuery{ProcessedLTE: at(3)}, want: []string{"e0", "e2", "e3"}},
		{name: "processed range excludes unprocessed", q: store.EventQuery{ProcessedGTE: at(0), ProcessedLTE: at(9)}, want: []string{"e0", "e2", "e3", "e5"}},
		{name: "processed sub-microsecond gte", q: store.EventQuery{ProcessedGTE: tp(at(2).Add(500))}, want: []string{"e2", "e5"}},
		{name: "processed sub-microsecond lt", q: store.EventQuery{ProcessedLT: tp(at(2).Add(500))}, want: []string{"e0", "e3"}},
		{name: "combined", q: store.EventQuery{Types: []string{"agent.message", "session.status_idle"}, ThreadSet: true, ThreadID: "sthr_1", ProcessedLT: at(4)}, want: []string{"e2"}},
		{name: "limit", q: store.EventQuery{Limit: 2}, want: []string{"e0", "e1"}, more: true},
		{name: "limit exact", q: store.EventQuery{Limit: 6}, want: []string{"e0", "e1", "e2", "e3", "e4", "e5"}},
		{name: "after", q: store.EventQuery{After: 4}, want: []string{"e4", "e5"}},
		{name: "desc after", q: store.EventQuery{Desc: true, After: 4, Limit: 2}, want: []string{"e2", "e1"}, more: true},
		{name: "filter with cursor", q: store.EventQuery{Types: []string{"user.message"}, After: 1}, want: []string{"e1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.q.SessionID = "sesn_1"
			p := listEvents(t, st, c.q)
			sameIDs(t, "ListEvents", eventIDs(p.Events), c.want)
			if p.More != c.more {
				t.Errorf("More = %v, want %v", p.More, c.more)
			}
		})
	}
	if p := listEvents(t, st, store.EventQuery{SessionID: "sesn_none"}); len(p.Events) != 0 || p.More {
		t.Fatal("events listed for a missing session")
	}
}

// testEventListPaging walks a log of 1000+ events the way the worker does
// (limit 1000, asc) and in small pages in both orders.
func testEventListPaging(t *testing.T, st store.Store) {
	const n = 1003
	mustInsertSession(t, st, newSession(wsA, "sesn_1", store.SessionIdle))
	var evs []*store.Event
	for i := 0; i < n; i++ {
		evs = append(evs, newEvent(fmt.Sprintf("sevt_%04d", i), "agent.message", ""))
	}
	appendEvents(t, st, "sesn_1", evs...)
	for _, c := range []struct {
		limit int
		desc  bool
	}{{1000, false}, {7, false}, {7, true}} {
		t.Run(fmt.Sprintf("limit %d desc=%v", c.limit, c.desc), func(t *testing.T) {
			var got []string
			var after int64
			for pages := 0; ; pages++ {
				if pages > n {
					t.Fatal("paging does not terminate")
				}
				p := listEvents(t, st, store.EventQuery{SessionID: "sesn_1", Desc: c.desc, After: after, Limit: c.limit})
				got = append(got, eventIDs(p.Events)...)
				if !p.More {
					break
				}
				after = p.Events[len(p.Events)-1].Seq
			}
			want := eventIDs(derefEvents(evs))
			if c.desc {
				slices.Reverse(want)
			}
			sameIDs(t, "paged", got, want)
		})
	}
}

func testEventSetProcessed(t *testing.T, st store.Store) {
	mustInsertSession(t, st, newSession(wsA, "sesn_1", store.SessionIdle))
	mustInsertSession(t, st, newSession(wsA, "sesn_2", store.SessionIdle))
	evs := appendEvents(t, st, "sesn_1", newEvent("sevt_1", "user.message", ""), newEvent("sevt_2", "user.message", "sthr_1"), newEvent("sevt_3", "user.interrupt", ""))
	appendEvents(t, st, "sesn_2", newEvent("sevt_other", "user.message", ""))
	when := time.Date(2026, 7, 1, 0, 0, 0, 123456789, time.UTC)
	updates := []store.Event{
		{ID: "sevt_1", ProcessedAt: &when, Data: json.RawMessage(`{"id":"sevt_1","type":"user.message","processed_at":"2026-07-01T00:00:00.123456Z"}`)},
		// No Data: the document stays as stored.
		{ID: "sevt_2", ProcessedAt: &when},
	}
	if err := st.SetEventsProcessed(ctxT(t), "sesn_1", updates); err != nil {
		t.Fatal(err)
	}
	want1, want2 := *evs[0], *evs[1]
	want1.ProcessedAt, want1.Data = tp(when.Truncate(time.Microsecond)), updates[0].Data
	want2.ProcessedAt = tp(when.Truncate(time.Microsecond))
	// The updates come back complete, equal to what reads return.
	sameEvents(t, "updates", updates, []store.Event{want1, want2})
	got, err := st.EventsSince(ctxT(t), "sesn_1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "after SetEventsProcessed", got, []store.Event{want1, want2, *evs[2]})
	// Processed events now match time filters; the unprocessed one does not.
	p := listEvents(t, st, store.EventQuery{SessionID: "sesn_1", ProcessedGTE: tp(when.Truncate(time.Microsecond))})
	sameIDs(t, "processed filter", eventIDs(p.Events), []string{"sevt_1", "sevt_2"})

	// An unknown id, or one of another session, changes nothing.
	later := when.Add(time.Hour)
	for _, bad := range [][]store.Event{
		{{ID: "sevt_3", ProcessedAt: &later}, {ID: "sevt_none", ProcessedAt: &later}},
		{{ID: "sevt_3", ProcessedAt: &later}, {ID: "sevt_other", ProcessedAt: &later}},
	} {
		wantNotFound(t, st.SetEventsProcessed(ctxT(t), "sesn_1", bad), "SetEventsProcessed with an unknown id")
		got, err := st.GetEvent(ctxT(t), "sesn_1", "sevt_3")
		if err != nil {
			t.Fatal(err)
		}
		sameEvent(t, "after a rejected update", got, *evs[2])
	}
	// Clearing ProcessedAt is allowed (a requeue), and an empty update is a no-op.
	clear := []store.Event{{ID: "sevt_1"}}
	if err := st.SetEventsProcessed(ctxT(t), "sesn_1", clear); err != nil {
		t.Fatal(err)
	}
	if clear[0].ProcessedAt != nil || !jsonEqual(clear[0].Data, want1.Data) {
		t.Fatalf("after clearing: %+v", clear[0])
	}
	if err := st.SetEventsProcessed(ctxT(t), "sesn_1", nil); err != nil {
		t.Fatal(err)
	}
}

// testEventInTxWithStatus checks that a status change and the events that
// announce it commit or roll back together.
func testEventInTxWithStatus(t *testing.T, st store.Store) {
	s := mustInsertSession(t, st, newSession(wsA, "sesn_1", store.SessionIdle))
	appendEvents(t, st, "sesn_1", newEvent("sevt_0", "user.message", ""))
	transition := func(ctx context.Context, tx store.Tx, id string) error {
		cur, err := tx.GetSession(ctx, wsA, "sesn_1")
		if err != nil {
			return err
		}
		cur.Status = store.SessionRunning
		if err := tx.UpdateSession(ctx, &cur); err != nil {
			return err
		}
		if err := tx.AppendEvents(ctx, "sesn_1", []*store.Event{newEvent(id, "session.status_running", "")}); err != nil {
			return err
		}
		// Reads inside the transaction see its own writes.
		if n, err := tx.LastEventSeq(ctx, "sesn_1"); err != nil || n != 2 {
			return fmt.Errorf("LastEventSeq inside tx = %d %v, want 2", n, err)
		}
		if _, err := tx.GetEvent(ctx, "sesn_1", id); err != nil {
			return err
		}
		return nil
	}
	sentinel := errors.New("fail late")
	err := st.InTx(ctxT(t), func(ctx context.Context, tx store.Tx) error {
		if err := transition(ctx, tx, "sevt_rolled_back"); err != nil {
			return err
		}
		return sentinel
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("InTx = %v", err)
	}
	sameSession(t, "after rollback", mustGetSession(t, st, wsA, "sesn_1"), *s)
	if n, _ := st.LastEventSeq(ctxT(t), "sesn_1"); n != 1 {
		t.Fatalf("LastEventSeq after rollback = %d, want 1", n)
	}
	_, err = st.GetEvent(ctxT(t), "sesn_1", "sevt_rolled_back")
	wantNotFound(t, err, "event of a rolled-back tx")

	if err := st.InTx(ctxT(t), func(ctx context.Context, tx store.Tx) error { return transition(ctx, tx, "sevt_1") }); err != nil {
		t.Fatal(err)
	}
	if got := mustGetSession(t, st, wsA, "sesn_1"); got.Status != store.SessionRunning || got.Rev != 2 {
		t.Fatalf("after commit: status %s rev %d", got.Status, got.Rev)
	}
	e, err := st.GetEvent(ctxT(t), "sesn_1", "sevt_1")
	if err != nil || e.Seq != 2 {
		t.Fatalf("committed event: %+v %v, want Seq 2 (the rolled-back number reused, no gap)", e, err)
	}
}
