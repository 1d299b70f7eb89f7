// Package storetest is the conformance suite of the store contract
// (internal/store). Every driver runs the same Run against its own engine, so
// what the API handlers rely on — tenant isolation, unique names, optimistic
// concurrency, cascading deletes, stable cursors, atomic transactions and
// microsecond UTC timestamps — holds whichever engine is configured.
//
// The suite uses only the store.Store interface and errdefs classes: nothing
// in it may depend on one engine's SQL, error codes or file layout.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
)

// Run runs every conformance test against stores made by open, which must
// return a new, empty store each time it is called (one per subtest; they
// run in parallel). The suite closes each store when its subtest ends; open
// may register further cleanup (dropping a schema, say) with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st store.Store)
	}{
		{"Insert/FillsFields", testInsertFillsFields},
		{"Insert/KeepsGivenTimes", testInsertKeepsGivenTimes},
		{"Insert/DuplicateID", testInsertDuplicateID},
		{"Insert/SeqIncreases", testSeqIncreases},
		{"RoundTrip/Timestamps", testTimestampRoundTrip},
		{"RoundTrip/DataAndSecret", testDataAndSecretRoundTrip},
		{"Get/WorkspaceIsolation", testGetWorkspaceIsolation},
		{"Get/NotFound", testGetNotFound},
		{"GetByName", testGetByName},
		{"Name/UniquePerScope", testNameUniquePerScope},
		{"Name/FreedWhenCleared", testNameFreedWhenCleared},
		{"Name/ConflictOnUpdate", testNameConflictOnUpdate},
		{"Update/ReplacesFields", testUpdateReplacesFields},
		{"Update/StaleRev", testUpdateStaleRev},
		{"Update/Missing", testUpdateMissing},
		{"Delete/Cascade", testDeleteCascade},
		{"Delete/NotFound", testDeleteNotFound},
		{"List/Filters", testListFilters},
		{"List/CreatedRange", testListCreatedRange},
		{"List/OrderAndCursor", testListOrderAndCursor},
		{"List/LimitMore", testListLimitMore},
		{"List/Paging250", testListPaging250},
		{"List/CursorSurvivesDelete", testListCursorSurvivesDelete},
		{"List/ByNameRange", testListByNameRange},
		{"Count", testCount},
		{"InTx/Commit", testInTxCommit},
		{"InTx/Rollback", testInTxRollback},
		{"InTx/PanicRollsBack", testInTxPanicRollsBack},
		{"InTx/ConcurrentIncrements", testInTxConcurrentIncrements},
		{"Concurrent/InsertSameName", testConcurrentInsertSameName},
		{"Concurrent/StaleUpdates", testConcurrentStaleUpdates},
		{"Concurrent/ScheduleClaimOnce", testScheduleClaimOnce},
		{"Keys/CreateAndLookup", testKeysCreateAndLookup},
		{"Keys/Duplicate", testKeysDuplicate},
		{"Keys/List", testKeysList},
		{"Keys/Revoke", testKeysRevoke},
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
	runSessions(t, open)
	runWork(t, open)
}

const (
	wsA = "wrkspc_a"
	wsB = "wrkspc_b"
)

// newRec builds a record whose Data names it, so a mix-up between records
// shows in the Data comparison too.
func newRec(ws, kind, id, parent, name string) *store.Record {
	return &store.Record{
		Kind: kind, ID: id, Workspace: ws, Parent: parent, Name: name,
		Data: json.RawMessage(fmt.Sprintf(`{"id":%q,"type":%q}`, id, kind)),
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustInsert(t *testing.T, tx store.Tx, r *store.Record) *store.Record {
	t.Helper()
	if err := tx.Insert(ctxT(t), r); err != nil {
		t.Fatalf("Insert %s %s: %v", r.Kind, r.ID, err)
	}
	return r
}

func mustGet(t *testing.T, tx store.Tx, ws, kind, id string) store.Record {
	t.Helper()
	r, err := tx.Get(ctxT(t), ws, kind, id)
	if err != nil {
		t.Fatalf("Get %s %s: %v", kind, id, err)
	}
	return r
}

func wantClass(t *testing.T, err, class error, what string) {
	t.Helper()
	if !errors.Is(err, class) {
		t.Fatalf("%s: got error %v, want class %v", what, err, errdefs.ClassOf(class))
	}
}

func wantNotFound(t *testing.T, err error, what string) {
	t.Helper()
	wantClass(t, err, errdefs.ErrNotFound, what)
}

func wantConflict(t *testing.T, err error, what string) {
	t.Helper()
	wantClass(t, err, errdefs.ErrConflict, what)
}

// jsonEqual compares documents by value: an engine may store JSON in a
// normalized form (PostgreSQL jsonb), which the contract allows.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

func timePtrEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func checkUTC(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.Location() != time.UTC {
		t.Errorf("%s: location %v, want UTC", what, tm.Location())
	}
	if tm.Nanosecond()%1000 != 0 {
		t.Errorf("%s: %v has sub-microsecond precision", what, tm)
	}
}

// sameRecord fails unless got equals want in every field the contract keeps.
func sameRecord(t *testing.T, what string, got, want store.Record) {
	t.Helper()
	var diffs []string
	cmp := func(field string, eq bool, g, w any) {
		if !eq {
			diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", field, g, w))
		}
	}
	cmp("Kind", got.Kind == want.Kind, got.Kind, want.Kind)
	cmp("ID", got.ID == want.ID, got.ID, want.ID)
	cmp("Workspace", got.Workspace == want.Workspace, got.Workspace, want.Workspace)
	cmp("Parent", got.Parent == want.Parent, got.Parent, want.Parent)
	cmp("Name", got.Name == want.Name, got.Name, want.Name)
	cmp("Data", jsonEqual(got.Data, want.Data), string(got.Data), string(want.Data))
	cmp("Secret", bytes.Equal(got.Secret, want.Secret), got.Secret, want.Secret)
	cmp("CreatedAt", got.CreatedAt.Equal(want.CreatedAt), got.CreatedAt, want.CreatedAt)
	cmp("UpdatedAt", got.UpdatedAt.Equal(want.UpdatedAt), got.UpdatedAt, want.UpdatedAt)
	cmp("ArchivedAt", timePtrEqual(got.ArchivedAt, want.ArchivedAt), got.ArchivedAt, want.ArchivedAt)
	cmp("Rev", got.Rev == want.Rev, got.Rev, want.Rev)
	cmp("Seq", got.Seq == want.Seq, got.Seq, want.Seq)
	if len(diffs) > 0 {
		t.Fatalf("%s: records differ:\n  %s", what, joinLines(diffs))
	}
	checkUTC(t, what+" CreatedAt", got.CreatedAt)
	checkUTC(t, what+" UpdatedAt", got.UpdatedAt)
	if got.ArchivedAt != nil {
		checkUTC(t, what+" ArchivedAt", *got.ArchivedAt)
	}
}

func joinLines(ss []string) string {
	var b bytes.Buffer
	for i, s := range ss {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(s)
	}
	return b.String()
}

func ids(p store.Page) []string {
	out := make([]string, 0, len(p.Records))
	for _, r := range p.Records {
		out = append(out, r.ID)
	}
	return out
}

func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: ids\n got %v\nwant %v", what, got, want)
	}
}

func list(t *testing.T, tx store.Tx, o store.ListOptions) store.Page {
	t.Helper()
	p, err := tx.List(ctxT(t), o)
	if err != nil {
		t.Fatalf("List %+v: %v", o, err)
	}
	return p
}

func tp(t time.Time) *time.Time { return &t }

// Insert.

func testInsertFillsFields(t *testing.T, st store.Store) {
	before := time.Now().Truncate(time.Microsecond)
	r := newRec(wsA, store.KindAgent, "agent_1", "", "first")
	r.Secret = []byte("ciphertext")
	mustInsert(t, st, r)
	after := time.Now()
	if r.Seq <= 0 {
		t.Errorf("Seq = %d, want > 0", r.Seq)
	}
	if r.Rev != 1 {
		t.Errorf("Rev = %d, want 1", r.Rev)
	}
	if r.CreatedAt.Before(before) || r.CreatedAt.After(after) {
		t.Errorf("CreatedAt = %v, want between %v and %v", r.CreatedAt, before, after)
	}
	if !r.UpdatedAt.Equal(r.CreatedAt) {
		t.Errorf("UpdatedAt = %v, want CreatedAt %v", r.UpdatedAt, r.CreatedAt)
	}
	if r.ArchivedAt != nil {
		t.Errorf("ArchivedAt = %v, want nil", r.ArchivedAt)
	}
	// What Insert left in the struct is exactly what reads return, so a
	// handler may render the inserted record without reading it back.
	sameRecord(t, "Get after Insert", mustGet(t, st, wsA, store.KindAgent, "agent_1"), *r)
}

func testInsertKeepsGivenTimes(t *testing.T, st store.Store) {
	created := time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)
	updated := created.Add(time.Hour)
	archived := created.Add(2 * time.Hour)
	r := newRec(wsA, store.KindVault, "vlt_1", "", "")
	r.CreatedAt, r.UpdatedAt, r.ArchivedAt = created, updated, &archived
	mustInsert(t, st, r)
	got := mustGet(t, st, wsA, store.KindVault, "vlt_1")
	if !got.CreatedAt.Equal(created) || !got.UpdatedAt.Equal(updated) || got.ArchivedAt == nil || !got.ArchivedAt.Equal(archived) {
		t.Fatalf("times not kept: %v %v %v", got.CreatedAt, got.UpdatedAt, got.ArchivedAt)
	}
	sameRecord(t, "Get", got, *r)

	// UpdatedAt defaults to CreatedAt, not to now.
	r2 := newRec(wsA, store.KindVault, "vlt_2", "", "")
	r2.CreatedAt = created
	mustInsert(t, st, r2)
	if got := mustGet(t, st, wsA, store.KindVault, "vlt_2"); !got.UpdatedAt.Equal(created) {
		t.Fatalf("UpdatedAt = %v, want CreatedAt %v", got.UpdatedAt, created)
	}
}

func testInsertDuplicateID(t *testing.T, st store.Store) {
	mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_dup", "", ""))
	dup := newRec(wsA, store.KindAgent, "agent_dup", "", "")
	dup.Data = json.RawMessage(`{"second":true}`)
	wantConflict(t, st.Insert(ctxT(t), dup), "Insert duplicate id")
	got := mustGet(t, st, wsA, store.KindAgent, "agent_dup")
	if jsonEqual(got.Data, dup.Data) {
		t.Fatal("duplicate insert overwrote the record")
	}
	p := list(t, st, store.ListOptions{Workspace: wsA, Kind: store.KindAgent})
	if len(p.Records) != 1 {
		t.Fatalf("%d records after a failed duplicate insert, want 1", len(p.Records))
	}
}

func testSeqIncreases(t *testing.T, st store.Store) {
	var last int64
	seen := map[int64]bool{}
	for i := 0; i < 30; i++ {
		ws := []string{wsA, wsB}[i%2]
		kind := []string{store.KindAgent, store.KindFile, store.KindVault}[i%3]
		r := mustInsert(t, st, newRec(ws, kind, fmt.Sprintf("id_%02d", i), "", ""))
		if r.Seq <= last || seen[r.Seq] {
			t.Fatalf("insert %d: Seq %d after %d; want strictly increasing across kinds and workspaces", i, r.Seq, last)
		}
		seen[r.Seq] = true
		last = r.Seq
	}
}

// Round trips.

func testTimestampRoundTrip(t *testing.T, st store.Store) {
	zone := time.FixedZone("UTC+05:30", 5*3600+1800)
	cases := []struct {
		name string
		in   time.Time
	}{
		{"nanoseconds are truncated", time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC)},
		{"other zone becomes UTC", time.Date(2026, 1, 2, 8, 34, 5, 123456789, zone)},
		{"whole second", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)},
		{"before 1970", time.Date(1969, 12, 31, 23, 59, 59, 999999500, time.UTC)},
		{"far future", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"local time", time.Date(2026, 2, 3, 4, 5, 6, 7000, time.Local)},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := c.in.Truncate(time.Microsecond).UTC()
			r := newRec(wsA, store.KindFile, fmt.Sprintf("file_%d", i), "", "")
			r.CreatedAt, r.UpdatedAt, r.ArchivedAt = c.in, c.in, tp(c.in)
			mustInsert(t, st, r)
			for what, got := range map[string]time.Time{"Insert CreatedAt": r.CreatedAt, "Insert UpdatedAt": r.UpdatedAt, "Insert ArchivedAt": *r.ArchivedAt} {
				if !got.Equal(want) {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
				checkUTC(t, what, got)
			}
			got := mustGet(t, st, wsA, store.KindFile, r.ID)
			if !got.CreatedAt.Equal(want) || got.CreatedAt.String() != want.String() {
				t.Errorf("Get CreatedAt = %v, want %v", got.CreatedAt, want)
			}
			sameRecord(t, "Get", got, *r)

			// Update keeps the same precision rules.
			up := c.in.Add(time.Second)
			got.UpdatedAt, got.ArchivedAt = up, tp(up)
			if err := st.Update(ctxT(t), &got); err != nil {
				t.Fatal(err)
			}
			again := mustGet(t, st, wsA, store.KindFile, r.ID)
			wantUp := up.Truncate(time.Microsecond).UTC()
			if !again.UpdatedAt.Equal(wantUp) || !again.ArchivedAt.Equal(wantUp) {
				t.Errorf("after Update: UpdatedAt %v ArchivedAt %v, want %v", again.UpdatedAt, again.ArchivedAt, wantUp)
			}
			sameRecord(t, "Get after Update", again, got)
		})
	}
}

func testDataAndSecretRoundTrip(t *testing.T, st store.Store) {
	cases := []struct {
		name   string
		data   string
		secret []byte
	}{
		{"nil secret", `{"a":1}`, nil},
		{"binary secret", `{"b":[1,2,3]}`, []byte{0, 1, 2, 0xff, 0, 0xfe}},
		{"unicode and escapes", `{"name":"héllo 世界 \u2028 \"q\" \\","nested":{"x":null,"y":[true,false]}}`, []byte("s")},
		{"large", `{"text":"` + string(bytes.Repeat([]byte("x"), 1<<20)) + `"}`, bytes.Repeat([]byte{7}, 4096)},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRec(wsA, store.KindCredential, fmt.Sprintf("vcrd_%d", i), "vlt_p", "")
			r.Data, r.Secret = json.RawMessage(c.data), c.secret
			mustInsert(t, st, r)
			got := mustGet(t, st, wsA, store.KindCredential, r.ID)
			if !jsonEqual(got.Data, []byte(c.data)) {
				t.Fatalf("Data = %.200s, want %.200s", got.Data, c.data)
			}
			if !bytes.Equal(got.Secret, c.secret) {
				t.Fatalf("Secret = %x, want %x", got.Secret, c.secret)
			}
			p := list(t, st, store.ListOptions{Workspace: wsA, Kind: store.KindCredential, IDs: []string{r.ID}})
			if len(p.Records) != 1 {
				t.Fatalf("List found %d records", len(p.Records))
			}
			sameRecord(t, "List", p.Records[0], got)
		})
	}
}

// Get.

func testGetWorkspaceIsolation(t *testing.T, st store.Store) {
	mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_a", "", "shared"))
	mustInsert(t, st, newRec(wsB, store.KindAgent, "agent_b", "", "shared"))
	mustGet(t, st, wsA, store.KindAgent, "agent_a")
	_, err := st.Get(ctxT(t), wsB, store.KindAgent, "agent_a")
	wantNotFound(t, err, "Get from another workspace")
	_, err = st.GetByName(ctxT(t), wsB, store.KindAgent, "", "missing")
	wantNotFound(t, err, "GetByName missing")
	got, err := st.GetByName(ctxT(t), wsB, store.KindAgent, "", "shared")
	if err != nil || got.ID != "agent_b" {
		t.Fatalf("GetByName in B = %v %v, want agent_b", got.ID, err)
	}
	p := list(t, st, store.ListOptions{Workspace: wsB, Kind: store.KindAgent, IDs: []string{"agent_a", "agent_b"}})
	sameIDs(t, "List ids across workspaces", ids(p), []string{"agent_b"})
}

func testGetNotFound(t *testing.T, st store.Store) {
	mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_1", "", ""))
	for _, c := range []struct{ name, ws, kind, id string }{
		{"unknown id", wsA, store.KindAgent, "agent_2"},
		{"wrong kind", wsA, store.KindEnvironment, "agent_1"},
		{"other workspace", wsB, store.KindAgent, "agent_1"},
		{"empty id", wsA, store.KindAgent, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := st.Get(ctxT(t), c.ws, c.kind, c.id)
			wantNotFound(t, err, "Get")
		})
	}
}

func testGetByName(t *testing.T, st store.Store) {
	mustInsert(t, st, newRec(wsA, store.KindSkillVersion, "skillver_1", "skill_1", "v1"))
	mustInsert(t, st, newRec(wsA, store.KindSkillVersion, "skillver_2", "skill_2", "v1"))
	mustInsert(t, st, newRec(wsA, store.KindSkillVersion, "skillver_3", "skill_1", ""))
	got, err := st.GetByName(ctxT(t), wsA, store.KindSkillVersion, "skill_2", "v1")
	if err != nil || got.ID != "skillver_2" {
		t.Fatalf("GetByName = %q, %v; want skillver_2", got.ID, err)
	}
	sameRecord(t, "GetByName", got, mustGet(t, st, wsA, store.KindSkillVersion, "skillver_2"))
	for _, c := range []struct{ name, ws, kind, parent, nm string }{
		{"empty name never matches", wsA, store.KindSkillVersion, "skill_1", ""},
		{"other parent", wsA, store.KindSkillVersion, "skill_3", "v1"},
		{"no parent", wsA, store.KindSkillVersion, "", "v1"},
		{"other kind", wsA, store.KindSkill, "skill_1", "v1"},
		{"other workspace", wsB, store.KindSkillVersion, "skill_1", "v1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := st.GetByName(ctxT(t), c.ws, c.kind, c.parent, c.nm)
			wantNotFound(t, err, "GetByName")
		})
	}
}

// Names.

func testNameUniquePerScope(t *testing.T, st store.Store) {
	mustInsert(t, st, newRec(wsA, store.KindCredential, "vcrd_0", "vlt_1", "github"))
	cases := []struct {
		name    string
		rec     *store.Record
		allowed bool
	}{
		{"same workspace kind parent", newRec(wsA, store.KindCredential, "vcrd_1", "vlt_1", "github"), false},
		{"other parent", newRec(wsA, store.KindCredential, "vcrd_2", "vlt_2", "github"), true},
		{"no parent", newRec(wsA, store.KindCredential, "vcrd_3", "", "github"), true},
		{"other workspace", newRec(wsB, store.KindCredential, "vcrd_4", "vlt_1", "github"), true},
		{"other kind", newRec(wsA, store.KindFile, "file_1", "vlt_1", "github"), true},
		{"case differs", newRec(wsA, store.KindCredential, "vcrd_5", "vlt_1", "GitHub"), true},
		{"empty names never clash 1", newRec(wsA, store.KindCredential, "vcrd_6", "vlt_1", ""), true},
		{"empty names never clash 2", newRec(wsA, store.KindCredential, "vcrd_7", "vlt_1", ""), true},
	}
	for _, c := range cases {
		err := st.Insert(ctxT(t), c.rec)
		if c.allowed && err != nil {
			t.Errorf("%s: Insert: %v", c.name, err)
		}
		if !c.allowed {
			if !errors.Is(err, errdefs.ErrConflict) {
				t.Errorf("%s: Insert err = %v, want conflict", c.name, err)
			}
			if _, err := st.Get(ctxT(t), c.rec.Workspace, c.rec.Kind, c.rec.ID); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("%s: rejected record was written (Get err %v)", c.name, err)
			}
		}
	}
}

func testNameFreedWhenCleared(t *testing.T, st store.Store) {
	r := mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_1", "", "n"))
	wantConflict(t, st.Insert(ctxT(t), newRec(wsA, store.KindAgent, "agent_2", "", "n")), "Insert taken name")

	// Archiving clears the name, which frees it.
	r.Name, r.ArchivedAt = "", tp(time.Now())
	if err := st.Update(ctxT(t), r); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_2", "", "n"))
	_, err := st.GetByName(ctxT(t), wsA, store.KindAgent, "", "n")
	if err != nil {
		t.Fatal(err)
	}

	// Deleting frees it too.
	if err := st.Delete(ctxT(t), wsA, store.KindAgent, "agent_2"); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_3", "", "n"))
	got, err := st.GetByName(ctxT(t), wsA, store.KindAgent, "", "n")
	if err != nil || got.ID != "agent_3" {
		t.Fatalf("GetByName = %q %v, want agent_3", got.ID, err)
	}
}

func testNameConflictOnUpdate(t *testing.T, st store.Store) {
	mustInsert(t, st, newRec(wsA, store.KindEnvironment, "env_1", "", "x"))
	b := mustInsert(t, st, newRec(wsA, store.KindEnvironment, "env_2", "", "y"))
	before := *b
	upd := *b
	upd.Name, upd.Data = "x", json.RawMessage(`{"changed":true}`)
	wantConflict(t, st.Update(ctxT(t), &upd), "Update to a taken name")
	sameRecord(t, "record after rejected Update", mustGet(t, st, wsA, store.KindEnvironment, "env_2"), before)

	// Keeping one's own name is not a clash.
	same := before
	same.Data = json.RawMessage(`{"v":2}`)
	if err := st.Update(ctxT(t), &same); err != nil {
		t.Fatalf("Update keeping own name: %v", err)
	}
}

// Update.

func testUpdateReplacesFields(t *testing.T, st store.Store) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newRec(wsA, store.KindCredential, "vcrd_1", "vlt_1", "old")
	r.CreatedAt, r.Secret = created, []byte("s1")
	mustInsert(t, st, r)
	orig := *r

	updated := created.Add(time.Minute)
	archived := created.Add(2 * time.Minute)
	r.Data = json.RawMessage(`{"id":"vcrd_1","v":2}`)
	r.Secret = []byte("s2")
	r.Name = "new"
	r.UpdatedAt = updated
	r.ArchivedAt = &archived
	// Fields outside the documented set are not changed by Update.
	r.Parent = "vlt_other"
	r.CreatedAt = created.Add(time.Hour)
	if err := st.Update(ctxT(t), r); err != nil {
		t.Fatal(err)
	}
	if r.Rev != 2 {
		t.Fatalf("Rev after Update = %d, want 2", r.Rev)
	}
	got := mustGet(t, st, wsA, store.KindCredential, "vcrd_1")
	want := orig
	want.Data, want.Secret, want.Name, want.UpdatedAt, want.ArchivedAt, want.Rev = r.Data, r.Secret, "new", updated, &archived, 2
	sameRecord(t, "Get after Update", got, want)

	// A zero UpdatedAt is filled with the current time.
	got.UpdatedAt = time.Time{}
	before := time.Now().Truncate(time.Microsecond)
	got.Secret = nil
	got.ArchivedAt = nil // the store replaces; refusing to unarchive is the API's job
	if err := st.Update(ctxT(t), &got); err != nil {
		t.Fatal(err)
	}
	if got.UpdatedAt.Before(before) || got.UpdatedAt.After(time.Now()) {
		t.Fatalf("UpdatedAt = %v, want about now", got.UpdatedAt)
	}
	again := mustGet(t, st, wsA, store.KindCredential, "vcrd_1")
	if again.Rev != 3 || len(again.Secret) != 0 || again.ArchivedAt != nil {
		t.Fatalf("after second Update: rev %d secret %x archived %v", again.Rev, again.Secret, again.ArchivedAt)
	}
	sameRecord(t, "Get after second Update", again, got)
}

func testUpdateStaleRev(t *testing.T, st store.Store) {
	mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_1", "", ""))
	first := mustGet(t, st, wsA, store.KindAgent, "agent_1")
	stale := first
	first.Data = json.RawMessage(`{"by":"first"}`)
	if err := st.Update(ctxT(t), &first); err != nil {
		t.Fatal(err)
	}
	stale.Data = json.RawMessage(`{"by":"stale"}`)
	wantConflict(t, st.Update(ctxT(t), &stale), "Update with stale Rev")
	if stale.Rev != 1 {
		t.Errorf("a failed Update changed r.Rev to %d", stale.Rev)
	}
	sameRecord(t, "after stale Update", mustGet(t, st, wsA, store.KindAgent, "agent_1"), first)

	// A Rev from the future is just as stale.
	future := first
	future.Rev = 99
	wantConflict(t, st.Update(ctxT(t), &future), "Update with a future Rev")
}

func testUpdateMissing(t *testing.T, st store.Store) {
	mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_1", "", ""))
	for _, c := range []struct{ name, ws, kind, id string }{
		{"unknown id", wsA, store.KindAgent, "agent_2"},
		{"other workspace", wsB, store.KindAgent, "agent_1"},
		{"wrong kind", wsA, store.KindVault, "agent_1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRec(c.ws, c.kind, c.id, "", "")
			r.Rev = 1
			wantNotFound(t, st.Update(ctxT(t), r), "Update")
		})
	}
	got := mustGet(t, st, wsA, store.KindAgent, "agent_1")
	if got.Rev != 1 {
		t.Fatalf("record changed by updates aimed elsewhere: rev %d", got.Rev)
	}
}

// Delete.

func testDeleteCascade(t *testing.T, st store.Store) {
	mustInsert(t, st, newRec(wsA, store.KindVault, "vlt_p", "", "parent"))
	mustInsert(t, st, newRec(wsA, store.KindVault, "vlt_q", "", "other"))
	mustInsert(t, st, newRec(wsA, store.KindCredential, "vcrd_p1", "vlt_p", "c1"))
	mustInsert(t, st, newRec(wsA, store.KindCredential, "vcrd_p2", "vlt_p", "c2"))
	archivedChild := newRec(wsA, store.KindCredential, "vcrd_p3", "vlt_p", "")
	archivedChild.ArchivedAt = tp(time.Now())
	mustInsert(t, st, archivedChild)
	mustInsert(t, st, newRec(wsA, store.KindFile, "file_p", "vlt_p", ""))
	mustInsert(t, st, newRec(wsA, store.KindCredential, "vcrd_q1", "vlt_q", "c1"))
	mustInsert(t, st, newRec(wsA, store.KindCredential, "vcrd_top", "", ""))
	// A record in another workspace naming the same parent id is not a
	// child: deletes never reach across tenants.
	mustInsert(t, st, newRec(wsB, store.KindCredential, "vcrd_b", "vlt_p", "c1"))

	// Deleting a child leaves its parent and siblings.
	if err := st.Delete(ctxT(t), wsA, store.KindCredential, "vcrd_p2"); err != nil {
		t.Fatal(err)
	}
	mustGet(t, st, wsA, store.KindVault, "vlt_p")
	mustGet(t, st, wsA, store.KindCredential, "vcrd_p1")

	if err := st.Delete(ctxT(t), wsA, store.KindVault, "vlt_p"); err != nil {
		t.Fatal(err)
	}
	gone := []struct{ ws, kind, id string }{
		{wsA, store.KindVault, "vlt_p"},
		{wsA, store.KindCredential, "vcrd_p1"},
		{wsA, store.KindCredential, "vcrd_p2"},
		{wsA, store.KindCredential, "vcrd_p3"},
		{wsA, store.KindFile, "file_p"},
	}
	for _, g := range gone {
		_, err := st.Get(ctxT(t), g.ws, g.kind, g.id)
		wantNotFound(t, err, "Get "+g.id+" after parent delete")
	}
	kept := []struct{ ws, kind, id string }{
		{wsA, store.KindVault, "vlt_q"},
		{wsA, store.KindCredential, "vcrd_q1"},
		{wsA, store.KindCredential, "vcrd_top"},
		{wsB, store.KindCredential, "vcrd_b"},
	}
	for _, k := range kept {
		mustGet(t, st, k.ws, k.kind, k.id)
	}
	for _, c := range []struct {
		parent string
		want   int
	}{{"vlt_p", 0}, {"vlt_q", 1}, {"", 1}} {
		n, err := st.Count(ctxT(t), wsA, store.KindCredential, c.parent, true)
		if err != nil || n != c.want {
			t.Errorf("Count(parent %q) = %d %v, want %d", c.parent, n, err, c.want)
		}
	}
	// The children's names are free again.
	mustInsert(t, st, newRec(wsA, store.KindCredential, "vcrd_new", "vlt_p", "c1"))
}

func testDeleteNotFound(t *testing.T, st store.Store) {
	mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_1", "", ""))
	mustInsert(t, st, newRec(wsA, store.KindAgentVersion, "agent_1_v1", "agent_1", ""))
	for _, c := range []struct{ name, ws, kind, id string }{
		{"unknown id", wsA, store.KindAgent, "agent_2"},
		{"other workspace", wsB, store.KindAgent, "agent_1"},
		{"wrong kind", wsA, store.KindEnvironment, "agent_1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantNotFound(t, st.Delete(ctxT(t), c.ws, c.kind, c.id), "Delete")
		})
	}
	// A failed delete removes nothing, children included.
	mustGet(t, st, wsA, store.KindAgent, "agent_1")
	mustGet(t, st, wsA, store.KindAgentVersion, "agent_1_v1")
	if err := st.Delete(ctxT(t), wsA, store.KindAgent, "agent_1"); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, st.Delete(ctxT(t), wsA, store.KindAgent, "agent_1"), "second Delete")
}

// List.

func testListFilters(t *testing.T, st store.Store) {
	now := time.Now()
	for _, r := range []*store.Record{
		newRec(wsA, store.KindFile, "f1", "", ""),
		newRec(wsA, store.KindFile, "f2", "sesn_1", ""),
		newRec(wsA, store.KindFile, "f3", "sesn_1", ""),
		newRec(wsA, store.KindFile, "f4", "sesn_2", ""),
		newRec(wsA, store.KindAgent, "agent_x", "", ""),
		newRec(wsB, store.KindFile, "fb", "", ""),
		newRec(wsB, store.KindFile, "fb2", "sesn_1", ""),
	} {
		mustInsert(t, st, r)
	}
	arch := newRec(wsA, store.KindFile, "f5", "sesn_1", "")
	arch.ArchivedAt = &now
	mustInsert(t, st, arch)
	arch2 := newRec(wsA, store.KindFile, "f6", "", "")
	arch2.ArchivedAt = &now
	mustInsert(t, st, arch2)

	cases := []struct {
		name string
		o    store.ListOptions
		want []string
	}{
		{"kind and workspace", store.ListOptions{Workspace: wsA, Kind: store.KindFile}, []string{"f1", "f2", "f3", "f4"}},
		{"other workspace", store.ListOptions{Workspace: wsB, Kind: store.KindFile}, []string{"fb", "fb2"}},
		{"unknown workspace", store.ListOptions{Workspace: "wrkspc_none", Kind: store.KindFile}, nil},
		{"other kind", store.ListOptions{Workspace: wsA, Kind: store.KindAgent}, []string{"agent_x"}},
		{"include archived", store.ListOptions{Workspace: wsA, Kind: store.KindFile, IncludeArchived: true}, []string{"f1", "f2", "f3", "f4", "f5", "f6"}},
		{"parent", store.ListOptions{Workspace: wsA, Kind: store.KindFile, Parent: "sesn_1", ParentSet: true}, []string{"f2", "f3"}},
		{"parent with archived", store.ListOptions{Workspace: wsA, Kind: store.KindFile, Parent: "sesn_1", ParentSet: true, IncludeArchived: true}, []string{"f2", "f3", "f5"}},
		{"empty parent means top level", store.ListOptions{Workspace: wsA, Kind: store.KindFile, ParentSet: true}, []string{"f1"}},
		{"parent ignored unless set", store.ListOptions{Workspace: wsA, Kind: store.KindFile, Parent: "sesn_2"}, []string{"f1", "f2", "f3", "f4"}},
		{"ids", store.ListOptions{Workspace: wsA, Kind: store.KindFile, IDs: []string{"f4", "f2", "nope", "fb", "agent_x"}}, []string{"f2", "f4"}},
		{"ids exclude archived", store.ListOptions{Workspace: wsA, Kind: store.KindFile, IDs: []string{"f5", "f1"}}, []string{"f1"}},
		{"ids and parent", store.ListOptions{Workspace: wsA, Kind: store.KindFile, IDs: []string{"f1", "f2", "f4"}, Parent: "sesn_1", ParentSet: true}, []string{"f2"}},
		{"desc", store.ListOptions{Workspace: wsA, Kind: store.KindFile, Desc: true}, []string{"f4", "f3", "f2", "f1"}},
		{"limit without more", store.ListOptions{Workspace: wsA, Kind: store.KindFile, Limit: 4}, []string{"f1", "f2", "f3", "f4"}},
		// The server's own sweeps (sandbox handles at start) see every
		// workspace; Workspace is ignored then, the other filters are not.
		{"all workspaces", store.ListOptions{AllWorkspaces: true, Workspace: "wrkspc_none", Kind: store.KindFile}, []string{"f1", "f2", "f3", "f4", "fb", "fb2"}},
		{"all workspaces ids", store.ListOptions{AllWorkspaces: true, Kind: store.KindFile, IDs: []string{"fb2", "f3", "f6"}}, []string{"f3", "fb2"}},
		{"all workspaces parent", store.ListOptions{AllWorkspaces: true, Kind: store.KindFile, Parent: "sesn_1", ParentSet: true, IncludeArchived: true}, []string{"f2", "f3", "fb2", "f5"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := list(t, st, c.o)
			sameIDs(t, "List", ids(p), c.want)
			if p.More {
				t.Errorf("More = true on a complete listing")
			}
			for _, r := range p.Records {
				sameRecord(t, "listed "+r.ID, r, mustGet(t, st, r.Workspace, r.Kind, r.ID))
			}
		})
	}
}

func testListCreatedRange(t *testing.T, st store.Store) {
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		r := newRec(wsA, store.KindSkill, fmt.Sprintf("s%d", i), "", "")
		r.CreatedAt = base.Add(time.Duration(i) * time.Second)
		mustInsert(t, st, r)
	}
	at := func(sec int, ns int) *time.Time {
		return tp(base.Add(time.Duration(sec)*time.Second + time.Duration(ns)))
	}
	zone := time.FixedZone("UTC-07", -7*3600)
	cases := []struct {
		name             string
		gt, gte, lt, lte *time.Time
		want             []string
		desc             bool
		limit            int
		wantMore         bool
	}{
		{name: "gt", gt: at(2, 0), want: []string{"s3", "s4"}},
		{name: "gte", gte: at(2, 0), want: []string{"s2", "s3", "s4"}},
		{name: "lt", lt: at(2, 0), want: []string{"s0", "s1"}},
		{name: "lte", lte: at(2, 0), want: []string{"s0", "s1", "s2"}},
		{name: "gte and lt", gte: at(1, 0), lt: at(3, 0), want: []string{"s1", "s2"}},
		{name: "gt and lte desc", gt: at(1, 0), lte: at(3, 0), want: []string{"s3", "s2"}, desc: true},
		{name: "empty range", gt: at(3, 0), lt: at(3, 0), want: nil},
		{name: "gt sub-microsecond", gt: at(2, 500), want: []string{"s3", "s4"}},
		{name: "gte sub-microsecond", gte: at(2, 500), want: []string{"s3", "s4"}},
		{name: "lt sub-microsecond", lt: at(2, 500), want: []string{"s0", "s1", "s2"}},
		{name: "lte sub-microsecond", lte: at(2, 500), want: []string{"s0", "s1", "s2"}},
		{name: "gte just below", gte: at(2, -1), want: []string{"s2", "s3", "s4"}},
		{name: "lt just below", lt: at(2, -1), want: []string{"s0", "s1"}},
		{name: "bounds in another zone", gte: tp(at(1, 0).In(zone)), lte: tp(at(2, 0).In(zone)), want: []string{"s1", "s2"}},
		{name: "range with limit", gte: at(1, 0), limit: 2, want: []string{"s1", "s2"}, wantMore: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := list(t, st, store.ListOptions{Workspace: wsA, Kind: store.KindSkill,
				CreatedGT: c.gt, CreatedGTE: c.gte, CreatedLT: c.lt, CreatedLTE: c.lte, Desc: c.desc, Limit: c.limit})
			sameIDs(t, "List", ids(p), c.want)
			if p.More != c.wantMore {
				t.Errorf("More = %v, want %v", p.More, c.wantMore)
			}
		})
	}
}

func testListOrderAndCursor(t *testing.T, st store.Store) {
	var recs []*store.Record
	for i := 0; i < 6; i++ {
		recs = append(recs, mustInsert(t, st, newRec(wsA, store.KindAgent, fmt.Sprintf("a%d", i), "", "")))
		// Interleave other kinds and tenants so Seq has gaps.
		mustInsert(t, st, newRec(wsB, store.KindAgent, fmt.Sprintf("b%d", i), "", ""))
	}
	// CreatedAt does not decide the order: Seq does.
	seq := func(i int) int64 { return recs[i].Seq }
	cases := []struct {
		name  string
		desc  bool
		after int64
		limit int
		want  []string
		more  bool
	}{
		{"asc from start", false, 0, 0, []string{"a0", "a1", "a2", "a3", "a4", "a5"}, false},
		{"desc from start", true, 0, 0, []string{"a5", "a4", "a3", "a2", "a1", "a0"}, false},
		{"asc after a2", false, seq(2), 0, []string{"a3", "a4", "a5"}, false},
		{"desc after a2", true, seq(2), 0, []string{"a1", "a0"}, false},
		{"asc after a2 limit 2", false, seq(2), 2, []string{"a3", "a4"}, true},
		{"desc after a4 limit 2", true, seq(4), 2, []string{"a3", "a2"}, true},
		{"asc after last", false, seq(5), 3, nil, false},
		{"desc after first", true, seq(0), 3, nil, false},
		{"asc after a gap seq", false, seq(2) + 1, 0, []string{"a3", "a4", "a5"}, false},
		{"desc after a seq beyond the end", true, seq(5) + 1000, 2, []string{"a5", "a4"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := list(t, st, store.ListOptions{Workspace: wsA, Kind: store.KindAgent, Desc: c.desc, After: c.after, Limit: c.limit})
			sameIDs(t, "List", ids(p), c.want)
			if p.More != c.more {
				t.Errorf("More = %v, want %v", p.More, c.more)
			}
		})
	}
}

func testListLimitMore(t *testing.T, st store.Store) {
	for i := 0; i < 5; i++ {
		mustInsert(t, st, newRec(wsA, store.KindVault, fmt.Sprintf("v%d", i), "", ""))
	}
	for _, c := range []struct {
		limit int
		n     int
		more  bool
	}{{0, 5, false}, {1, 1, true}, {4, 4, true}, {5, 5, false}, {6, 5, false}, {1000, 5, false}} {
		t.Run(fmt.Sprintf("limit %d", c.limit), func(t *testing.T) {
			for _, desc := range []bool{false, true} {
				p := list(t, st, store.ListOptions{Workspace: wsA, Kind: store.KindVault, Limit: c.limit, Desc: desc})
				if len(p.Records) != c.n || p.More != c.more {
					t.Fatalf("desc=%v: %d records, More %v; want %d, %v", desc, len(p.Records), p.More, c.n, c.more)
				}
			}
		})
	}
	p := list(t, st, store.ListOptions{Workspace: wsA, Kind: store.KindSkill, Limit: 3})
	if len(p.Records) != 0 || p.More {
		t.Fatalf("empty listing: %d records, More %v", len(p.Records), p.More)
	}
}

// testListPaging250 walks a listing in pages of 7 in both directions, as a
// client following next_page does, and checks nothing is lost or repeated.
func testListPaging250(t *testing.T, st store.Store) {
	const n, pageSize = 250, 7
	var want []string
	err := st.InTx(ctxT(t), func(ctx context.Context, tx store.Tx) error {
		for i := 0; i < n; i++ {
			r := newRec(wsA, store.KindAgentVersion, fmt.Sprintf("v%03d", i), "agent_1", "")
			if err := tx.Insert(ctx, r); err != nil {
				return err
			}
			want = append(want, r.ID)
			// Noise the filters must skip: other parents, tenants, archived.
			noise := []*store.Record{
				newRec(wsA, store.KindAgentVersion, fmt.Sprintf("w%03d", i), "agent_2", ""),
				newRec(wsB, store.KindAgentVersion, fmt.Sprintf("x%03d", i), "agent_1", ""),
			}
			if i%10 == 0 {
				a := newRec(wsA, store.KindAgentVersion, fmt.Sprintf("z%03d", i), "agent_1", "")
				a.ArchivedAt = tp(time.Now())
				noise = append(noise, a)
			}
			for _, r := range noise {
				if err := tx.Insert(ctx, r); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, desc := range []bool{false, true} {
		t.Run(fmt.Sprintf("desc=%v", desc), func(t *testing.T) {
			var got []string
			var after int64
			pages := 0
			for {
				p := list(t, st, store.ListOptions{Workspace: wsA, Kind: store.KindAgentVersion, Parent: "agent_1", ParentSet: true,
					Desc: desc, After: after, Limit: pageSize})
				pages++
				if pages > n {
					t.Fatal("paging does not terminate")
				}
				got = append(got, ids(p)...)
				if !p.More {
					if len(p.Records) != n%pageSize {
						t.Errorf("last page has %d records, want %d", len(p.Records), n%pageSize)
					}
					break
				}
				if len(p.Records) != pageSize {
					t.Fatalf("page %d has %d records with More set, want %d", pages, len(p.Records), pageSize)
				}
				after = p.Records[len(p.Records)-1].Seq
			}
			exp := append([]string(nil), want...)
			if desc {
				for i, j := 0, len(exp)-1; i < j; i, j = i+1, j-1 {
					exp[i], exp[j] = exp[j], exp[i]
				}
			}
			sameIDs(t, "paged ids", got, exp)
			if wantPages := (n + pageSize - 1) / pageSize; pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
		})
	}
}

func testListCursorSurvivesDelete(t *testing.T, st store.Store) {
	var recs []*store.Record
	for i := 0; i < 6; i++ {
		recs = append(recs, mustInsert(t, st, newRec(wsA, store.KindEnvironment, fmt.Sprintf("e%d", i), "", "")))
	}
	p := list(t, st, store.ListOptions{Workspace: wsA, Kind: store.KindEnvironment, Limit: 3})
	cursor := p.Records[2].Seq
	// The record the cursor points at disappears between pages.
	if err := st.Delete(ctxT(t), wsA, store.KindEnvironment, "e2"); err != nil {
		t.Fatal(err)
	}
	p = list(t, st, store.ListOptions{Workspace: wsA, Kind: store.KindEnvironment, Limit: 3, After: cursor})
	sameIDs(t, "next page", ids(p), []string{"e3", "e4", "e5"})
	// Records inserted after the walk began appear at its end.
	mustInsert(t, st, newRec(wsA, store.KindEnvironment, "e6", "", ""))
	p = list(t, st, store.ListOptions{Workspace: wsA, Kind: store.KindEnvironment, After: recs[5].Seq})
	sameIDs(t, "page after the end", ids(p), []string{"e6"})
}

func testCount(t *testing.T, st store.Store) {
	now := time.Now()
	for i := 0; i < 4; i++ {
		mustInsert(t, st, newRec(wsA, store.KindAgentVersion, fmt.Sprintf("v%d", i), "agent_1", ""))
	}
	a := newRec(wsA, store.KindAgentVersion, "v_arch", "agent_1", "")
	a.ArchivedAt = &now
	mustInsert(t, st, a)
	mustInsert(t, st, newRec(wsA, store.KindAgentVersion, "v_other", "agent_2", ""))
	mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_1", "", ""))
	mustInsert(t, st, newRec(wsB, store.KindAgentVersion, "v_b", "agent_1", ""))
	for _, c := range []struct {
		name, ws, kind, parent string
		archived               bool
		want                   int
	}{
		{"live children", wsA, store.KindAgentVersion, "agent_1", false, 4},
		{"with archived", wsA, store.KindAgentVersion, "agent_1", true, 5},
		{"other parent", wsA, store.KindAgentVersion, "agent_2", false, 1},
		{"top level", wsA, store.KindAgent, "", false, 1},
		{"no top-level versions", wsA, store.KindAgentVersion, "", true, 0},
		{"other workspace", wsB, store.KindAgentVersion, "agent_1", false, 1},
		{"nothing", wsB, store.KindVault, "", true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, err := st.Count(ctxT(t), c.ws, c.kind, c.parent, c.archived)
			if err != nil || n != c.want {
				t.Fatalf("Count = %d, %v; want %d", n, err, c.want)
			}
		})
	}
}

// Transactions.

func testInTxCommit(t *testing.T, st store.Store) {
	mustInsert(t, st, newRec(wsA, store.KindVault, "vlt_old", "", "old"))
	err := st.InTx(ctxT(t), func(ctx context.Context, tx store.Tx) error {
		r := newRec(wsA, store.KindVault, "vlt_1", "", "v")
		if err := tx.Insert(ctx, r); err != nil {
			return err
		}
		// A transaction reads its own writes.
		got, err := tx.Get(ctx, wsA, store.KindVault, "vlt_1")
		if err != nil {
			return fmt.Errorf("Get own insert: %w", err)
		}
		got.Data = json.RawMessage(`{"v":2}`)
		if err := tx.Update(ctx, &got); err != nil {
			return err
		}
		if _, err := tx.GetByName(ctx, wsA, store.KindVault, "", "v"); err != nil {
			return fmt.Errorf("GetByName own insert: %w", err)
		}
		if n, err := tx.Count(ctx, wsA, store.KindVault, "", false); err != nil || n != 2 {
			return fmt.Errorf("Count in tx = %d %v, want 2", n, err)
		}
		p, err := tx.List(ctx, store.ListOptions{Workspace: wsA, Kind: store.KindVault})
		if err != nil || len(p.Records) != 2 {
			return fmt.Errorf("List in tx = %d %v, want 2", len(p.Records), err)
		}
		return tx.Delete(ctx, wsA, store.KindVault, "vlt_old")
	})
	if err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, st, wsA, store.KindVault, "vlt_1")
	if got.Rev != 2 || !jsonEqual(got.Data, []byte(`{"v":2}`)) {
		t.Fatalf("committed record: rev %d data %s", got.Rev, got.Data)
	}
	_, err = st.Get(ctxT(t), wsA, store.KindVault, "vlt_old")
	wantNotFound(t, err, "deleted in committed tx")
}

func testInTxRollback(t *testing.T, st store.Store) {
	keep := mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_keep", "", "keep"))
	mustInsert(t, st, newRec(wsA, store.KindAgentVersion, "agent_keep_v1", "agent_keep", ""))
	del := mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_del", "", "del"))
	mustInsert(t, st, newRec(wsA, store.KindAgentVersion, "agent_del_v1", "agent_del", ""))
	sentinel := errors.New("handler failed late")
	err := st.InTx(ctxT(t), func(ctx context.Context, tx store.Tx) error {
		if err := tx.Insert(ctx, newRec(wsA, store.KindAgent, "agent_new", "", "new")); err != nil {
			return err
		}
		u := *keep
		u.Data, u.Name = json.RawMessage(`{"changed":true}`), "renamed"
		if err := tx.Update(ctx, &u); err != nil {
			return err
		}
		if err := tx.Delete(ctx, wsA, store.KindAgent, del.ID); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", sentinel)
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("InTx returned %v, want the callback's error", err)
	}
	_, err = st.Get(ctxT(t), wsA, store.KindAgent, "agent_new")
	wantNotFound(t, err, "insert of rolled-back tx")
	sameRecord(t, "updated in rolled-back tx", mustGet(t, st, wsA, store.KindAgent, "agent_keep"), *keep)
	sameRecord(t, "deleted in rolled-back tx", mustGet(t, st, wsA, store.KindAgent, "agent_del"), *del)
	mustGet(t, st, wsA, store.KindAgentVersion, "agent_del_v1")
	mustGet(t, st, wsA, store.KindAgentVersion, "agent_keep_v1")
	// Names touched by the rolled-back tx are as before.
	if _, err := st.GetByName(ctxT(t), wsA, store.KindAgent, "", "renamed"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("rolled-back rename visible: %v", err)
	}
	mustInsert(t, st, newRec(wsA, store.KindAgent, "agent_new", "", "new"))

	// A classified error comes back with its class intact.
	err = st.InTx(ctxT(t), func(ctx context.Context, tx store.Tx) error {
		return errdefs.Invalid("name: must not be empty")
	})
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("InTx returned %v, want the invalid error", err)
	}
}

func testInTxPanicRollsBack(t *testing.T, st store.Store) {
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want the callback's panic to propagate", p)
			}
		}()
		_ = st.InTx(ctxT(t), func(ctx context.Context, tx store.Tx) error {
			if err := tx.Insert(ctx, newRec(wsA, store.KindAgent, "agent_p", "", "p")); err != nil {
				return err
			}
			panic("boom")
		})
		t.Fatal("InTx returned after its callback panicked")
	}()
	_, err := st.Get(ctxT(t), wsA, store.KindAgent, "agent_p")
	wantNotFound(t, err, "insert of panicked tx")
	// The store still takes writes: a transaction left open by the panic
	// would block them.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.Insert(ctx, newRec(wsA, store.KindAgent, "agent_p", "", "p"))
	}); err != nil {
		t.Fatalf("write after a panicked tx: %v", err)
	}
}

// testInTxConcurrentIncrements runs read-modify-write transactions from many
// goroutines and checks that every increment lands. A driver may surface a
// serialization failure as an errdefs conflict (the caller's cue to retry,
// as optimistic concurrency asks); it may never lose an update.
func testInTxConcurrentIncrements(t *testing.T, st store.Store) {
	const workers = 20
	mustInsert(t, st, &store.Record{Kind: store.KindAgent, ID: "counter", Workspace: wsA, Data: json.RawMessage(`{"n":0}`)})
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	var mu sync.Mutex
	retries := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; ; attempt++ {
				err := st.InTx(ctxT(t), func(ctx context.Context, tx store.Tx) error {
					r, err := tx.Get(ctx, wsA, store.KindAgent, "counter")
					if err != nil {
						return err
					}
					var v struct{ N int }
					if err := json.Unmarshal(r.Data, &v); err != nil {
						return err
					}
					r.Data = json.RawMessage(fmt.Sprintf(`{"n":%d}`, v.N+1))
					return tx.Update(ctx, &r)
				})
				if errors.Is(err, errdefs.ErrConflict) && attempt < 100 {
					mu.Lock()
					retries++
					mu.Unlock()
					continue
				}
				errc <- err
				return
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatalf("increment: %v", err)
		}
	}
	got := mustGet(t, st, wsA, store.KindAgent, "counter")
	var v struct{ N int }
	_ = json.Unmarshal(got.Data, &v)
	if v.N != workers || got.Rev != workers+1 {
		t.Fatalf("counter = %d (rev %d) after %d increments, want %d (rev %d)", v.N, got.Rev, workers, workers, workers+1)
	}
	if retries > 0 {
		t.Logf("%d conflict retries", retries)
	}
}

func testConcurrentInsertSameName(t *testing.T, st store.Store) {
	const workers = 12
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.Insert(ctxT(t), newRec(wsA, store.KindEnvironment, fmt.Sprintf("env_%d", i), "", "same"))
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, errdefs.ErrConflict):
			t.Errorf("insert %d: %v, want success or conflict", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d inserts of one name succeeded, want exactly 1", ok)
	}
	if n, err := st.Count(ctxT(t), wsA, store.KindEnvironment, "", true); err != nil || n != 1 {
		t.Fatalf("Count = %d %v, want 1", n, err)
	}
}

func testConcurrentStaleUpdates(t *testing.T, st store.Store) {
	const workers = 10
	mustInsert(t, st, newRec(wsA, store.KindVault, "vlt_1", "", ""))
	base := mustGet(t, st, wsA, store.KindVault, "vlt_1")
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := base
			r.Data = json.RawMessage(fmt.Sprintf(`{"writer":%d}`, i))
			errs[i] = st.Update(ctxT(t), &r)
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("writers %d and %d both updated from rev %d", winner, i, base.Rev)
			}
			winner = i
		case !errors.Is(err, errdefs.ErrConflict):
			t.Errorf("writer %d: %v, want success or conflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer succeeded")
	}
	got := mustGet(t, st, wsA, store.KindVault, "vlt_1")
	if got.Rev != 2 || !jsonEqual(got.Data, []byte(fmt.Sprintf(`{"writer":%d}`, winner))) {
		t.Fatalf("record = rev %d %s, want rev 2 written by %d", got.Rev, got.Data, winner)
	}
}

// Keys.

func newKey(id, ws string, hash byte) *store.APIKey {
	return &store.APIKey{ID: id, Workspace: ws, Name: "key " + id, Hash: bytes.Repeat([]byte{hash}, 32), Hint: fmt.Sprintf("%04d", hash)}
}

func sameKey(t *testing.T, what string, got, want store.APIKey) {
	t.Helper()
	if got.ID != want.ID || got.Workspace != want.Workspace || got.Name != want.Name || !bytes.Equal(got.Hash, want.Hash) ||
		got.Hint != want.Hint || got.Admin != want.Admin || got.EnvironmentID != want.EnvironmentID ||
		!got.CreatedAt.Equal(want.CreatedAt) || !timePtrEqual(got.RevokedAt, want.RevokedAt) {
		t.Fatalf("%s: key\n got %+v\nwant %+v", what, got, want)
	}
	checkUTC(t, what+" CreatedAt", got.CreatedAt)
	if got.RevokedAt != nil {
		checkUTC(t, what+" RevokedAt", *got.RevokedAt)
	}
}

func testKeysCreateAndLookup(t *testing.T, st store.Store) {
	before := time.Now().Truncate(time.Microsecond)
	plain := newKey("apikey_1", wsA, 1)
	admin := newKey("apikey_2", wsA, 2)
	admin.Admin = true
	env := newKey("apikey_3", wsB, 3)
	env.EnvironmentID = "env_1"
	given := newKey("apikey_4", wsB, 4)
	given.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("x", 3600))
	for _, k := range []*store.APIKey{plain, admin, env, given} {
		if err := st.CreateKey(ctxT(t), k); err != nil {
			t.Fatalf("CreateKey %s: %v", k.ID, err)
		}
	}
	if plain.CreatedAt.Before(before) || plain.CreatedAt.After(time.Now()) {
		t.Errorf("CreatedAt = %v, want about now", plain.CreatedAt)
	}
	if want := time.Date(2026, 1, 2, 2, 4, 5, 678901000, time.UTC); !given.CreatedAt.Equal(want) {
		t.Errorf("given CreatedAt kept as %v, want %v", given.CreatedAt, want)
	}
	for _, k := range []*store.APIKey{plain, admin, env, given} {
		got, err := st.KeyByHash(ctxT(t), k.Hash)
		if err != nil {
			t.Fatalf("KeyByHash %s: %v", k.ID, err)
		}
		sameKey(t, "KeyByHash "+k.ID, got, *k)
	}
	_, err := st.KeyByHash(ctxT(t), bytes.Repeat([]byte{9}, 32))
	wantNotFound(t, err, "KeyByHash unknown")
	_, err = st.KeyByHash(ctxT(t), nil)
	wantNotFound(t, err, "KeyByHash nil")
	_, err = st.KeyByHash(ctxT(t), plain.Hash[:16])
	wantNotFound(t, err, "KeyByHash prefix")
}

func testKeysDuplicate(t *testing.T, st store.Store) {
	if err := st.CreateKey(ctxT(t), newKey("apikey_1", wsA, 1)); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, st.CreateKey(ctxT(t), newKey("apikey_2", wsA, 1)), "CreateKey duplicate hash")
	wantConflict(t, st.CreateKey(ctxT(t), newKey("apikey_1", wsA, 2)), "CreateKey duplicate id")
	keys, err := st.ListKeys(ctxT(t))
	if err != nil || len(keys) != 1 {
		t.Fatalf("ListKeys = %d keys %v, want 1", len(keys), err)
	}
}

func testKeysList(t *testing.T, st store.Store) {
	keys, err := st.ListKeys(ctxT(t))
	if err != nil || len(keys) != 0 {
		t.Fatalf("ListKeys on an empty store = %v %v", keys, err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []store.APIKey
	for i, ws := range []string{wsB, wsA, wsB} {
		k := newKey(fmt.Sprintf("apikey_%d", i), ws, byte(i+1))
		k.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		if err := st.CreateKey(ctxT(t), k); err != nil {
			t.Fatal(err)
		}
		want = append(want, *k)
	}
	keys, err = st.ListKeys(ctxT(t))
	if err != nil || len(keys) != len(want) {
		t.Fatalf("ListKeys = %d keys %v, want %d", len(keys), err, len(want))
	}
	for i := range want {
		sameKey(t, fmt.Sprintf("ListKeys[%d]", i), keys[i], want[i])
	}
}

func testKeysRevoke(t *testing.T, st store.Store) {
	k := newKey("apikey_1", wsA, 1)
	other := newKey("apikey_2", wsA, 2)
	for _, key := range []*store.APIKey{k, other} {
		if err := st.CreateKey(ctxT(t), key); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now().Truncate(time.Microsecond)
	rev, err := st.RevokeKey(ctxT(t), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rev.RevokedAt == nil || rev.RevokedAt.Before(before) || rev.RevokedAt.After(time.Now()) {
		t.Fatalf("RevokedAt = %v, want about now", rev.RevokedAt)
	}
	want := *k
	want.RevokedAt = rev.RevokedAt
	sameKey(t, "RevokeKey result", rev, want)
	// A revoked key is still found by hash, so auth can tell revoked from
	// unknown.
	got, err := st.KeyByHash(ctxT(t), k.Hash)
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, "KeyByHash revoked", got, want)

	// Revoking again is idempotent: the first revocation time stays.
	time.Sleep(2 * time.Millisecond)
	again, err := st.RevokeKey(ctxT(t), k.ID)
	if err != nil {
		t.Fatalf("second RevokeKey: %v", err)
	}
	sameKey(t, "second RevokeKey", again, want)

	_, err = st.RevokeKey(ctxT(t), "apikey_missing")
	wantNotFound(t, err, "RevokeKey unknown")

	o, err := st.KeyByHash(ctxT(t), other.Hash)
	if err != nil || o.RevokedAt != nil {
		t.Fatalf("revoking one key touched another: %+v %v", o, err)
	}
	keys, err := st.ListKeys(ctxT(t))
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListKeys = %d %v", len(keys), err)
	}
	for _, lk := range keys {
		if (lk.ID == k.ID) != (lk.RevokedAt != nil) {
			t.Fatalf("ListKeys: %s revoked_at %v", lk.ID, lk.RevokedAt)
		}
	}
}

// testListByNameRange: a name-ordered listing is bytewise (so a path prefix
// is one contiguous range), skips unnamed records, honours the bounds in
// either direction and reports More.
func testListByNameRange(t *testing.T, st store.Store) {
	ctx := ctxT(t)
	for i, name := range []string{"/b", "/a/y", "/a-z", "/a/x", "", "/a/x/deep", "/é"} {
		mustInsert(t, st, newRec("ws", "kind", fmt.Sprintf("id%d", i), "p", name))
	}
	mustInsert(t, st, newRec("ws", "kind", "other-parent", "q", "/a/w"))
	names := func(p store.Page) []string {
		var out []string
		for _, r := range p.Records {
			out = append(out, r.Name)
		}
		return out
	}
	base := store.ListOptions{Workspace: "ws", Kind: "kind", Parent: "p", ParentSet: true, ByName: true}
	sameIDs(t, "all by name", names(list(t, st, base)), []string{"/a-z", "/a/x", "/a/x/deep", "/a/y", "/b", "/é"})
	o := base
	o.NameGTE, o.NameLT = "/a/", "/a0"
	sameIDs(t, "prefix /a/", names(list(t, st, o)), []string{"/a/x", "/a/x/deep", "/a/y"})
	o.Desc = true
	sameIDs(t, "prefix /a/ desc", names(list(t, st, o)), []string{"/a/y", "/a/x/deep", "/a/x"})
	o.Limit = 2
	p, err := st.List(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !p.More || len(p.Records) != 2 {
		t.Fatalf("limited page: %d records, more=%v; want 2, true", len(p.Records), p.More)
	}
	o = base
	o.NameGTE = "/a/x\x00"
	sameIDs(t, "after /a/x", names(list(t, st, o)), []string{"/a/x/deep", "/a/y", "/b", "/é"})
}

// testScheduleClaimOnce: of many concurrent transactions claiming the same
// scheduled time of a deployment (each inserting its run and moving the
// deployment's position, as a fire does), exactly one commits; another
// time, or another deployment, is a claim of its own.
func testScheduleClaimOnce(t *testing.T, st store.Store) {
	ctx := ctxT(t)
	mustInsert(t, st, newRec(wsA, store.KindDeployment, "depl_1", "", ""))
	mustInsert(t, st, newRec(wsA, store.KindDeployment, "depl_2", "", ""))
	at := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	claim := func(depl, run string, at time.Time) error {
		return st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			d, err := tx.Get(ctx, wsA, store.KindDeployment, depl)
			if err != nil {
				return err
			}
			if err := tx.Insert(ctx, newRec(wsA, store.KindDeploymentRun, run, depl, store.ScheduleClaimName(at))); err != nil {
				return err
			}
			return tx.Update(ctx, &d)
		})
	}
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- claim("depl_1", fmt.Sprintf("drun_%d", i), at) }()
	}
	won := 0
	for range n {
		err := <-errs
		if err == nil {
			won++
			continue
		}
		wantConflict(t, err, "second claim of a scheduled time")
	}
	if won != 1 {
		t.Fatalf("%d claims of one scheduled time committed, want 1", won)
	}
	if c, err := st.Count(ctx, wsA, store.KindDeploymentRun, "depl_1", true); err != nil || c != 1 {
		t.Fatalf("runs of depl_1 = %d, %v; want 1", c, err)
	}
	if err := claim("depl_1", "drun_next", at.Add(time.Minute)); err != nil {
		t.Fatalf("claim of the next time: %v", err)
	}
	if err := claim("depl_2", "drun_other", at); err != nil {
		t.Fatalf("claim of the same time by another deployment: %v", err)
	}
}
