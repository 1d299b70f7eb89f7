package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/testserver"
)

func memSHA(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// memErrField returns a member of the error object of an API error.
func memErrField(t *testing.T, e *anthropic.Error, field string) any {
	t.Helper()
	var env struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal([]byte(e.RawJSON()), &env); err != nil {
		t.Fatalf("decode error envelope: %v (%s)", err, e.RawJSON())
	}
	return env.Error[field]
}

// wantMemInvalid asserts a 400 whose message names field.
func wantMemInvalid(t *testing.T, err error, field string) {
	t.Helper()
	e := apiErr(t, err, 400, "invalid_request_error")
	if !strings.Contains(e.RawJSON(), field) {
		t.Fatalf("400 does not name %q: %s", field, e.RawJSON())
	}
}

func newMemStore(t *testing.T, c anthropic.Client, name string) *anthropic.BetaManagedAgentsMemoryStore {
	t.Helper()
	ms, err := c.Beta.MemoryStores.New(context.Background(), anthropic.BetaMemoryStoreNewParams{
		Name: name, Description: anthropic.String("notes about " + name), Metadata: map[string]string{"team": "a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func newMemory(t *testing.T, c anthropic.Client, storeID, path, content string) *anthropic.BetaManagedAgentsMemory {
	t.Helper()
	m, err := c.Beta.MemoryStores.Memories.New(context.Background(), storeID, anthropic.BetaMemoryStoreMemoryNewParams{
		Path: path, Content: anthropic.String(content),
	})
	if err != nil {
		t.Fatalf("create memory %s: %v", path, err)
	}
	return m
}

// Memory stores: create, get, update (metadata patch), list with
// include_archived and created_at filters, archive (then read-only) and
// delete, all through the SDK with the beta header it sends.
func TestMemoryStoresCRUD(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()

	a := newMemStore(t, c, "alpha")
	if !strings.HasPrefix(a.ID, "memstore_") || a.Name != "alpha" || a.Description != "notes about alpha" || a.Metadata["team"] != "a" || a.Type != "memory_store" || !a.ArchivedAt.IsZero() {
		t.Fatalf("created store: %+v", a)
	}
	got, err := c.Beta.MemoryStores.Get(ctx, a.ID, anthropic.BetaMemoryStoreGetParams{})
	if err != nil || got.ID != a.ID || got.Name != "alpha" {
		t.Fatalf("get: %+v %v", got, err)
	}
	up, err := c.Beta.MemoryStores.Update(ctx, a.ID, anthropic.BetaMemoryStoreUpdateParams{
		Name: anthropic.String("alpha2"), Metadata: map[string]string{"owner": "me"},
	})
	if err != nil || up.Name != "alpha2" || up.Metadata["team"] != "a" || up.Metadata["owner"] != "me" || up.Description != "notes about alpha" {
		t.Fatalf("update: %+v %v", up, err)
	}

	mid := time.Now()
	time.Sleep(2 * time.Millisecond) // created_at bound between the two stores
	b := newMemStore(t, c, "beta")
	if _, err := c.Beta.MemoryStores.Archive(ctx, b.ID, anthropic.BetaMemoryStoreArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	ids := func(p anthropic.BetaMemoryStoreListParams) []string {
		page, err := c.Beta.MemoryStores.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ms := range page.Data {
			out = append(out, ms.ID)
		}
		return out
	}
	if got := ids(anthropic.BetaMemoryStoreListParams{}); fmt.Sprint(got) != fmt.Sprint([]string{a.ID}) {
		t.Fatalf("default list (archived left out) = %v", got)
	}
	if got := ids(anthropic.BetaMemoryStoreListParams{IncludeArchived: anthropic.Bool(true)}); fmt.Sprint(got) != fmt.Sprint([]string{b.ID, a.ID}) {
		t.Fatalf("include_archived list = %v", got)
	}
	if got := ids(anthropic.BetaMemoryStoreListParams{IncludeArchived: anthropic.Bool(true), CreatedAtGte: anthropic.Time(mid)}); fmt.Sprint(got) != fmt.Sprint([]string{b.ID}) {
		t.Fatalf("created_at[gte] list = %v", got)
	}
	if got := ids(anthropic.BetaMemoryStoreListParams{IncludeArchived: anthropic.Bool(true), CreatedAtLte: anthropic.Time(mid)}); fmt.Sprint(got) != fmt.Sprint([]string{a.ID}) {
		t.Fatalf("created_at[lte] list = %v", got)
	}

	// An archived store is read-only: no new memories, no updates.
	_, err = c.Beta.MemoryStores.Memories.New(ctx, b.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/x.md", Content: anthropic.String("x")})
	apiErr(t, err, 409, "")
	_, err = c.Beta.MemoryStores.Update(ctx, b.ID, anthropic.BetaMemoryStoreUpdateParams{Name: anthropic.String("z")})
	apiErr(t, err, 409, "")

	// Limits are 400s naming the field.
	_, err = c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: strings.Repeat("n", 256)})
	wantMemInvalid(t, err, "name")
	_, err = c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "ok", Description: anthropic.String(strings.Repeat("d", 1025))})
	wantMemInvalid(t, err, "description")
	big := map[string]string{}
	for i := range 17 {
		big[fmt.Sprint(i)] = "v"
	}
	_, err = c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "ok", Metadata: big})
	wantMemInvalid(t, err, "metadata")
	_, err = c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: ""})
	wantMemInvalid(t, err, "name")

	// Deleting a store deletes its memories and versions.
	m := newMemory(t, c, a.ID, "/a.md", "hello")
	del, err := c.Beta.MemoryStores.Delete(ctx, a.ID, anthropic.BetaMemoryStoreDeleteParams{})
	if err != nil || del.ID != a.ID || del.Type != "memory_store_deleted" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	_, err = c.Beta.MemoryStores.Get(ctx, a.ID, anthropic.BetaMemoryStoreGetParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.MemoryStores.Memories.Get(ctx, m.ID, anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: a.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.MemoryStores.MemoryVersions.Get(ctx, m.MemoryVersionID, anthropic.BetaMemoryStoreMemoryVersionGetParams{MemoryStoreID: a.ID})
	apiErr(t, err, 404, "not_found_error")
}

// Memory store endpoints accept the memory beta the SDK sends and the
// Managed Agents beta, and refuse a request with neither.
func TestMemoryStoresBetaHeader(t *testing.T) {
	s := testserver.Start(t)
	do := func(beta string) int {
		h := http.Header{"Anthropic-Beta": nil}
		if beta != "" {
			h.Set("anthropic-beta", beta)
		}
		resp := s.Do(t, "GET", "/v1/memory_stores", nil, h)
		resp.Body.Close()
		return resp.StatusCode
	}
	for beta, want := range map[string]int{"agent-memory-2026-07-22": 200, "managed-agents-2026-04-01": 200, "": 400, "other-beta": 400} {
		if got := do(beta); got != want {
			t.Errorf("anthropic-beta %q: status %d, want %d", beta, got, want)
		}
	}
}

// Memories by path: create (hash, size, basic view by default), get (full
// by default), path conflicts (exact and overlapping) with the conflicting
// memory's id, update of content and path with the content_sha256
// precondition, conditional delete, the content limit, and a version for
// every change with the API key as its actor.
func TestMemoriesLifecycle(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	st := newMemStore(t, c, "notes")

	m := newMemory(t, c, st.ID, "/projects/foo/notes.md", "hello")
	if !strings.HasPrefix(m.ID, "mem_") || !strings.HasPrefix(m.MemoryVersionID, "memver_") || m.MemoryStoreID != st.ID ||
		m.Path != "/projects/foo/notes.md" || m.ContentSha256 != memSHA("hello") || m.ContentSizeBytes != 5 || m.JSON.Content.Valid() {
		t.Fatalf("created memory: %s", m.RawJSON())
	}
	got, err := c.Beta.MemoryStores.Memories.Get(ctx, m.ID, anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: st.ID})
	if err != nil || got.Content != "hello" || got.MemoryVersionID != m.MemoryVersionID {
		t.Fatalf("get: %+v %v", got, err)
	}
	basic, err := c.Beta.MemoryStores.Memories.Get(ctx, m.ID, anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: st.ID, View: anthropic.BetaManagedAgentsMemoryViewBasic})
	if err != nil || basic.JSON.Content.Valid() || basic.ContentSha256 != memSHA("hello") {
		t.Fatalf("get basic: %s %v", basic.RawJSON(), err)
	}

	// Path conflicts: the same path, a path below a memory, a path above one.
	for _, p := range []string{"/projects/foo/notes.md", "/projects/foo/notes.md/deeper.md", "/projects/foo", "/projects"} {
		_, err = c.Beta.MemoryStores.Memories.New(ctx, st.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: p, Content: anthropic.String("x")})
		e := apiErr(t, err, 409, "memory_path_conflict_error")
		if id := memErrField(t, e, "conflicting_memory_id"); id != m.ID {
			t.Fatalf("create %s: conflicting_memory_id = %v, want %s (%s)", p, id, m.ID, e.RawJSON())
		}
	}

	// Update content with a stale precondition: 409 and nothing changes.
	_, err = c.Beta.MemoryStores.Memories.Update(ctx, m.ID, anthropic.BetaMemoryStoreMemoryUpdateParams{
		MemoryStoreID: st.ID, Content: anthropic.String("new"),
		Precondition: anthropic.BetaManagedAgentsPreconditionParam{ContentSha256: anthropic.String(memSHA("stale"))},
	})
	apiErr(t, err, 409, "memory_precondition_failed_error")
	got, _ = c.Beta.MemoryStores.Memories.Get(ctx, m.ID, anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: st.ID})
	if got.Content != "hello" || got.MemoryVersionID != m.MemoryVersionID {
		t.Fatalf("failed precondition changed the memory: %s", got.RawJSON())
	}
	// With the right hash, content and path change together.
	up, err := c.Beta.MemoryStores.Memories.Update(ctx, m.ID, anthropic.BetaMemoryStoreMemoryUpdateParams{
		MemoryStoreID: st.ID, Content: anthropic.String("hello again"), Path: anthropic.String("/projects/bar.md"),
		Precondition: anthropic.BetaManagedAgentsPreconditionParam{ContentSha256: anthropic.String(memSHA("hello"))},
		View:         anthropic.BetaManagedAgentsMemoryViewFull,
	})
	if err != nil || up.Path != "/projects/bar.md" || up.Content != "hello again" || up.ContentSha256 != memSHA("hello again") ||
		up.ContentSizeBytes != 11 || up.MemoryVersionID == m.MemoryVersionID || up.ID != m.ID {
		t.Fatalf("update: %+v %v", up, err)
	}
	// The old path is free again; renaming onto a taken path is a conflict.
	other := newMemory(t, c, st.ID, "/projects/foo/notes.md", "second")
	_, err = c.Beta.MemoryStores.Memories.Update(ctx, other.ID, anthropic.BetaMemoryStoreMemoryUpdateParams{MemoryStoreID: st.ID, Path: anthropic.String("/projects/bar.md")})
	if id := memErrField(t, apiErr(t, err, 409, "memory_path_conflict_error"), "conflicting_memory_id"); id != m.ID {
		t.Fatalf("rename conflict names %v, want %s", id, m.ID)
	}

	// Content limit: 100 KB.
	_, err = c.Beta.MemoryStores.Memories.New(ctx, st.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/big.md", Content: anthropic.String(strings.Repeat("x", 102401))})
	wantMemInvalid(t, err, "content")
	if _, err := c.Beta.MemoryStores.Memories.New(ctx, st.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/max.md", Content: anthropic.String(strings.Repeat("x", 102400))}); err != nil {
		t.Fatalf("content of exactly 100 KB: %v", err)
	}
	_, err = c.Beta.MemoryStores.Memories.Update(ctx, m.ID, anthropic.BetaMemoryStoreMemoryUpdateParams{MemoryStoreID: st.ID, Content: anthropic.String(strings.Repeat("x", 102401))})
	wantMemInvalid(t, err, "content")

	// Conditional delete: a stale hash is refused, the right one deletes.
	_, err = c.Beta.MemoryStores.Memories.Delete(ctx, m.ID, anthropic.BetaMemoryStoreMemoryDeleteParams{MemoryStoreID: st.ID, ExpectedContentSha256: anthropic.String(memSHA("hello"))})
	apiErr(t, err, 409, "memory_precondition_failed_error")
	del, err := c.Beta.MemoryStores.Memories.Delete(ctx, m.ID, anthropic.BetaMemoryStoreMemoryDeleteParams{MemoryStoreID: st.ID, ExpectedContentSha256: anthropic.String(memSHA("hello again"))})
	if err != nil || del.ID != m.ID || del.Type != "memory_deleted" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	_, err = c.Beta.MemoryStores.Memories.Get(ctx, m.ID, anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: st.ID})
	apiErr(t, err, 404, "not_found_error")

	// Versions: created, modified, deleted — newest first, by the API key.
	page, err := c.Beta.MemoryStores.MemoryVersions.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{MemoryID: anthropic.String(m.ID)})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, v := range page.Data {
		ops = append(ops, string(v.Operation))
		if v.CreatedBy.Type != "api_actor" || !strings.HasPrefix(v.CreatedBy.APIKeyID, "apikey_") || v.MemoryID != m.ID || v.JSON.Content.Valid() {
			t.Fatalf("version: %s", v.RawJSON())
		}
	}
	if fmt.Sprint(ops) != "[deleted modified created]" {
		t.Fatalf("versions of %s = %v", m.ID, ops)
	}
	if page.Data[2].ID != m.MemoryVersionID || page.Data[1].ID != up.MemoryVersionID || page.Data[2].Path != "/projects/foo/notes.md" || page.Data[1].Path != "/projects/bar.md" {
		t.Fatalf("version ids/paths: %s", page.RawJSON())
	}
	// Filters: operation, api_key_id, session_id, created_at.
	f, err := c.Beta.MemoryStores.MemoryVersions.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{Operation: anthropic.BetaManagedAgentsMemoryVersionOperationCreated, Limit: anthropic.Int(1)})
	if err != nil || len(f.Data) != 1 || f.Data[0].Operation != "created" || f.NextPage == "" {
		t.Fatalf("operation filter, page of one: %+v %v", f, err)
	}
	f2, err := f.GetNextPage()
	if err != nil || f2 == nil || len(f2.Data) != 1 || f2.Data[0].Operation != "created" || f2.Data[0].ID == f.Data[0].ID {
		t.Fatalf("second page: %+v %v", f2, err)
	}
	keyID := page.Data[0].CreatedBy.APIKeyID
	all, err := c.Beta.MemoryStores.MemoryVersions.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{APIKeyID: anthropic.String(keyID), Limit: anthropic.Int(100)})
	if err != nil || len(all.Data) != 5 {
		t.Fatalf("api_key_id filter: %d versions, %v", len(all.Data), err)
	}
	none, err := c.Beta.MemoryStores.MemoryVersions.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{SessionID: anthropic.String("sesn_nobody")})
	if err != nil || len(none.Data) != 0 {
		t.Fatalf("session_id filter: %+v %v", none.Data, err)
	}
	later, err := c.Beta.MemoryStores.MemoryVersions.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{CreatedAtGte: anthropic.Time(time.Now().Add(time.Hour))})
	if err != nil || len(later.Data) != 0 {
		t.Fatalf("created_at filter: %+v %v", later.Data, err)
	}
	_, err = c.Beta.MemoryStores.MemoryVersions.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{Operation: "renamed"})
	wantMemInvalid(t, err, "operation")
	// Get returns the full content.
	v, err := c.Beta.MemoryStores.MemoryVersions.Get(ctx, m.MemoryVersionID, anthropic.BetaMemoryStoreMemoryVersionGetParams{MemoryStoreID: st.ID})
	if err != nil || v.Content != "hello" || v.ContentSha256 != memSHA("hello") || v.ContentSizeBytes != 5 || v.Operation != "created" {
		t.Fatalf("version get: %+v %v", v, err)
	}
}

// Paths are normalised and confined: traversal, empty segments, relative
// paths, NUL and control characters are refused naming the field; two
// spellings of one name (Unicode NFC) collide.
func TestMemoryPathRules(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	st := newMemStore(t, c, "paths")
	for _, p := range []string{
		"/a/../b.md", "/../etc/passwd", "/a/./b.md", "relative.md", "", "/a//b.md", "/dir/", "/nul\x00.md",
		"/tab\t.md", "/line\u2028sep.md", "/" + strings.Repeat("x", 1024), "/" + strings.Repeat("a/", 20) + "z.md",
	} {
		_, err := c.Beta.MemoryStores.Memories.New(ctx, st.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: p, Content: anthropic.String("x")})
		if err == nil {
			t.Fatalf("path %q accepted", p)
		}
		wantMemInvalid(t, err, "path")
	}
	m := newMemory(t, c, st.ID, "/caf\u00e9.md", "composed")
	_, err := c.Beta.MemoryStores.Memories.New(ctx, st.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/cafe\u0301.md", Content: anthropic.String("decomposed")})
	if id := memErrField(t, apiErr(t, err, 409, "memory_path_conflict_error"), "conflicting_memory_id"); id != m.ID {
		t.Fatalf("NFC collision names %v, want %s", id, m.ID)
	}
	_, err = c.Beta.MemoryStores.Memories.Update(ctx, m.ID, anthropic.BetaMemoryStoreMemoryUpdateParams{MemoryStoreID: st.ID, Path: anthropic.String("/x/../y.md")})
	wantMemInvalid(t, err, "path")

	// Bodies the SDK cannot send: each is a 400 naming the field.
	mem := "/v1/memory_stores/" + st.ID + "/memories"
	hdr := http.Header{"Anthropic-Beta": {"agent-memory-2026-07-22"}}
	for _, tc := range []struct{ path, body, field string }{
		{mem, `{"path":"/a.md"}`, "content"},
		{mem, `{"content":"x"}`, "path"},
		{mem, `{"path":"/a.md","content":"x","extra":1}`, "extra"},
		{mem + "/" + m.ID, `{"content":null}`, "content"},
		{mem + "/" + m.ID, `{"precondition":{"type":"etag","content_sha256":"` + memSHA("") + `"}}`, "precondition.type"},
		{mem + "/" + m.ID, `{"precondition":{"type":"content_sha256"}}`, "precondition.content_sha256"},
		{mem + "/" + m.ID, `{"precondition":{"type":"content_sha256","content_sha256":"abc"}}`, "precondition.content_sha256"},
	} {
		resp := s.Do(t, "POST", tc.path, strings.NewReader(tc.body), http.Header{"Content-Type": {"application/json"}, "Anthropic-Beta": hdr["Anthropic-Beta"]})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), tc.field) {
			t.Errorf("%s: status %d, body %s; want 400 naming %s", tc.body, resp.StatusCode, b, tc.field)
		}
	}
}

// One workspace never sees another's store, memories or versions.
func TestMemoryStoresWorkspaceIsolation(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	other := s.Client(s.CreateKey(t, "wrkspc_other"))
	ctx := context.Background()
	st := newMemStore(t, c, "mine")
	m := newMemory(t, c, st.ID, "/secret.md", "mine")

	_, err := other.Beta.MemoryStores.Get(ctx, st.ID, anthropic.BetaMemoryStoreGetParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.MemoryStores.Memories.Get(ctx, m.ID, anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: st.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.MemoryStores.Memories.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryListParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.MemoryStores.Memories.New(ctx, st.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/x.md", Content: anthropic.String("x")})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.MemoryStores.MemoryVersions.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.MemoryStores.MemoryVersions.Redact(ctx, m.MemoryVersionID, anthropic.BetaMemoryStoreMemoryVersionRedactParams{MemoryStoreID: st.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.MemoryStores.Delete(ctx, st.ID, anthropic.BetaMemoryStoreDeleteParams{})
	apiErr(t, err, 404, "not_found_error")
	page, err := other.Beta.MemoryStores.List(ctx, anthropic.BetaMemoryStoreListParams{})
	if err != nil || len(page.Data) != 0 {
		t.Fatalf("other workspace lists %d stores, %v", len(page.Data), err)
	}
	// A memory addressed through another store of the same workspace is
	// not found either.
	st2 := newMemStore(t, c, "second")
	_, err = c.Beta.MemoryStores.Memories.Get(ctx, m.ID, anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: st2.ID})
	apiErr(t, err, 404, "not_found_error")
}

// The tree listing: path order, path_prefix as a plain string prefix,
// depth rolling deeper memories into memory_prefix entries, order, view,
// and paging that never splits or repeats an entry.
func TestMemoriesTreeListing(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	st := newMemStore(t, c, "tree")
	for _, p := range []string{"/notes/a.md", "/notes/b.md", "/notes/deep/x.md", "/notes/deep/y/z.md", "/notes_backup/old.md", "/top.md"} {
		newMemory(t, c, st.ID, p, "content of "+p)
	}
	list := func(p anthropic.BetaMemoryStoreMemoryListParams, opts ...option.RequestOption) []string {
		t.Helper()
		var out []string
		iter := c.Beta.MemoryStores.Memories.ListAutoPaging(ctx, st.ID, p, opts...)
		for iter.Next() {
			it := iter.Current()
			switch it.Type {
			case "memory":
				if p.View == anthropic.BetaManagedAgentsMemoryViewFull && it.Content != "content of "+it.Path {
					t.Fatalf("full view item without its content: %s", it.RawJSON())
				}
				if p.View != anthropic.BetaManagedAgentsMemoryViewFull && it.JSON.Content.Valid() {
					t.Fatalf("basic view item with content: %s", it.RawJSON())
				}
				out = append(out, it.Path)
			case "memory_prefix":
				out = append(out, "prefix:"+it.Path)
			default:
				t.Fatalf("unknown item %s", it.RawJSON())
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := func(got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("listing = %v, want %v", got, want)
		}
	}
	all := []string{"/notes/a.md", "/notes/b.md", "/notes/deep/x.md", "/notes/deep/y/z.md", "/notes_backup/old.md", "/top.md"}
	want(list(anthropic.BetaMemoryStoreMemoryListParams{}), all...)
	for _, limit := range []int64{1, 2, 3} {
		want(list(anthropic.BetaMemoryStoreMemoryListParams{Limit: anthropic.Int(limit)}), all...)
	}
	want(list(anthropic.BetaMemoryStoreMemoryListParams{View: anthropic.BetaManagedAgentsMemoryViewFull}), all...)
	want(list(anthropic.BetaMemoryStoreMemoryListParams{PathPrefix: anthropic.String("/notes/")}),
		"/notes/a.md", "/notes/b.md", "/notes/deep/x.md", "/notes/deep/y/z.md")
	want(list(anthropic.BetaMemoryStoreMemoryListParams{Depth: anthropic.Int(1)}),
		"prefix:/notes/", "prefix:/notes_backup/", "/top.md")
	for _, limit := range []int64{1, 2} {
		want(list(anthropic.BetaMemoryStoreMemoryListParams{PathPrefix: anthropic.String("/notes/"), Depth: anthropic.Int(1), Limit: anthropic.Int(limit)}),
			"/notes/a.md", "/notes/b.md", "prefix:/notes/deep/")
	}
	want(list(anthropic.BetaMemoryStoreMemoryListParams{PathPrefix: anthropic.String("/notes/"), Depth: anthropic.Int(2)}),
		"/notes/a.md", "/notes/b.md", "/notes/deep/x.md", "prefix:/notes/deep/y/")
	desc := option.WithQuery("order", "desc")
	want(list(anthropic.BetaMemoryStoreMemoryListParams{Depth: anthropic.Int(1), Limit: anthropic.Int(1)}, desc),
		"/top.md", "prefix:/notes_backup/", "prefix:/notes/")
	want(list(anthropic.BetaMemoryStoreMemoryListParams{Limit: anthropic.Int(2)}, desc, option.WithQuery("order_by", "path")),
		"/top.md", "/notes_backup/old.md", "/notes/deep/y/z.md", "/notes/deep/x.md", "/notes/b.md", "/notes/a.md")

	_, err := c.Beta.MemoryStores.Memories.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryListParams{Depth: anthropic.Int(-1)})
	wantMemInvalid(t, err, "depth")
	_, err = c.Beta.MemoryStores.Memories.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryListParams{Limit: anthropic.Int(101)})
	wantMemInvalid(t, err, "limit")
	_, err = c.Beta.MemoryStores.Memories.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryListParams{View: "everything"})
	wantMemInvalid(t, err, "view")
	_, err = c.Beta.MemoryStores.Memories.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryListParams{}, option.WithQuery("order_by", "size"))
	wantMemInvalid(t, err, "order_by")
	// A full-view page holds at most 20 items.
	page, err := c.Beta.MemoryStores.Memories.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryListParams{View: anthropic.BetaManagedAgentsMemoryViewFull, Limit: anthropic.Int(100)})
	if err != nil || len(page.Data) != len(all) {
		t.Fatalf("full view, limit 100: %v", err)
	}
}

// Redaction clears a version's content, hash, size and path, keeps the
// rest, records who redacted it and when, and leaves nothing of the content
// in the database file. The current version of a live memory is refused.
func TestMemoryVersionRedact(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	st := newMemStore(t, c, "redact")
	const secret = "the-launch-code-is-0451-zebra"
	m := newMemory(t, c, st.ID, "/secret.md", secret)

	_, err := c.Beta.MemoryStores.MemoryVersions.Redact(ctx, m.MemoryVersionID, anthropic.BetaMemoryStoreMemoryVersionRedactParams{MemoryStoreID: st.ID})
	apiErr(t, err, 409, "")

	if _, err := c.Beta.MemoryStores.Memories.Update(ctx, m.ID, anthropic.BetaMemoryStoreMemoryUpdateParams{MemoryStoreID: st.ID, Content: anthropic.String("nothing to see")}); err != nil {
		t.Fatal(err)
	}
	v, err := c.Beta.MemoryStores.MemoryVersions.Redact(ctx, m.MemoryVersionID, anthropic.BetaMemoryStoreMemoryVersionRedactParams{MemoryStoreID: st.ID})
	if err != nil {
		t.Fatal(err)
	}
	if v.JSON.Content.Valid() || v.JSON.ContentSha256.Valid() || v.JSON.ContentSizeBytes.Valid() || v.JSON.Path.Valid() ||
		v.RedactedAt.IsZero() || v.RedactedBy.Type != "api_actor" || v.RedactedBy.APIKeyID == "" ||
		v.CreatedBy.Type != "api_actor" || v.Operation != "created" || v.MemoryID != m.ID || v.ID != m.MemoryVersionID {
		t.Fatalf("redacted version: %s", v.RawJSON())
	}
	got, err := c.Beta.MemoryStores.MemoryVersions.Get(ctx, v.ID, anthropic.BetaMemoryStoreMemoryVersionGetParams{MemoryStoreID: st.ID})
	if err != nil || got.JSON.Content.Valid() || got.RedactedAt.IsZero() {
		t.Fatalf("get after redact: %s %v", got.RawJSON(), err)
	}
	again, err := c.Beta.MemoryStores.MemoryVersions.Redact(ctx, v.ID, anthropic.BetaMemoryStoreMemoryVersionRedactParams{MemoryStoreID: st.ID})
	if err != nil || !again.RedactedAt.Equal(v.RedactedAt) {
		t.Fatalf("second redact: %v", err)
	}

	// The content is gone from the database, not only hidden: stop the
	// server and scan every file of its data directory for it.
	s.Stop(t)
	fndNotInDir(t, s.DataDir, secret)
}

// Concurrent creates at one path: exactly one wins, every other gets the
// path conflict naming the winner, and exactly one version is written.
func TestMemoriesConcurrentCreateOnePath(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	st := newMemStore(t, c, "race")
	const n = 8
	type result struct {
		id  string
		err error
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			m, err := c.Beta.MemoryStores.Memories.New(ctx, st.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/same.md", Content: anthropic.String(fmt.Sprint(i))})
			if err != nil {
				results <- result{err: err}
				return
			}
			results <- result{id: m.ID}
		}()
	}
	var winner string
	var losers []error
	for range n {
		r := <-results
		if r.err != nil {
			losers = append(losers, r.err)
			continue
		}
		if winner != "" {
			t.Fatalf("two creates at one path succeeded: %s and %s", winner, r.id)
		}
		winner = r.id
	}
	for _, err := range losers {
		if id := memErrField(t, apiErr(t, err, 409, "memory_path_conflict_error"), "conflicting_memory_id"); id != winner {
			t.Fatalf("conflict names %v, want the winner %s", id, winner)
		}
	}
	vs, err := c.Beta.MemoryStores.MemoryVersions.List(ctx, st.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{})
	if err != nil || len(vs.Data) != 1 || vs.Data[0].MemoryID != winner {
		t.Fatalf("versions after the race: %+v %v", vs, err)
	}
}
