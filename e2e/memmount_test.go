package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/model/modeltest"
)

func memResource(storeID, access string, instructions string) anthropic.BetaSessionNewParamsResourceUnion {
	p := &anthropic.BetaManagedAgentsMemoryStoreResourceParam{MemoryStoreID: storeID}
	if access != "" {
		p.Access = anthropic.BetaManagedAgentsMemoryStoreResourceParamAccess(access)
	}
	if instructions != "" {
		p.Instructions = anthropic.String(instructions)
	}
	return anthropic.BetaSessionNewParamsResourceUnion{OfMemoryStore: p}
}

// A session attaches memory stores at creation: each resource snapshots
// the store's name and description, gets its mount directory from the
// name, defaults to read_write, and the sessions list finds it by store.
// The agent's system prompt carries a note per mount.
func TestMemoryStoreAttach(t *testing.T) {
	l := newLoop(t, nil)
	ctx := context.Background()
	prefs := newMemStore(t, l.c, "User Preferences")
	facts := newMemStore(t, l.c, "user preferences") // same directory name: made unique
	agent := l.agent(map[string]any{"system": "Be brief."})
	s := l.sessionWith(agent, memResource(prefs.ID, "", "Check before answering."), memResource(facts.ID, "read_only", ""))
	if len(s.Resources) != 2 {
		t.Fatalf("resources = %s", s.RawJSON())
	}
	r0, r1 := s.Resources[0].AsMemoryStore(), s.Resources[1].AsMemoryStore()
	if r0.Type != "memory_store" || r0.MemoryStoreID != prefs.ID || r0.Access != "read_write" || r0.Name != "User Preferences" ||
		r0.Description != "notes about User Preferences" || r0.Instructions != "Check before answering." || r0.MountPath != "/mnt/memory/user-preferences" {
		t.Fatalf("resource 0 = %s", r0.RawJSON())
	}
	if r1.Access != "read_only" || r1.MountPath != "/mnt/memory/user-preferences-2" || r1.JSON.Instructions.Valid() {
		t.Fatalf("resource 1 = %s", r1.RawJSON())
	}
	// Renaming the store later does not change the snapshot.
	if _, err := l.c.Beta.MemoryStores.Update(ctx, prefs.ID, anthropic.BetaMemoryStoreUpdateParams{Name: anthropic.String("renamed")}); err != nil {
		t.Fatal(err)
	}
	got, err := l.c.Beta.Sessions.Get(ctx, s.ID, anthropic.BetaSessionGetParams{})
	if err != nil || got.Resources[0].AsMemoryStore().Name != "User Preferences" {
		t.Fatalf("get = %v, %v", got, err)
	}
	page, err := l.c.Beta.Sessions.List(ctx, anthropic.BetaSessionListParams{MemoryStoreID: anthropic.String(facts.ID)})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != s.ID {
		t.Fatalf("list by memory_store_id = %v, %v", page, err)
	}
	// A memory store stays attached for the session's life.
	_, err = l.c.Beta.Sessions.Resources.Delete(ctx, s.Resources[0].ID, anthropic.BetaSessionResourceDeleteParams{SessionID: s.ID})
	wantMemInvalid(t, err, "resource_id")

	// The system prompt names each mount.
	l.fake.Push(modeltest.Text("ok"))
	col := l.stream(s.ID)
	l.send(s.ID, userMessage("hi"))
	col.waitType(t, 0, "session.status_idle")
	col.cancel()
	req, ok := l.fake.LastRequest()
	if !ok {
		t.Fatal("no model request")
	}
	sys := req.Input.System
	for _, want := range []string{"Be brief.", "## User Preferences", "- path: /mnt/memory/user-preferences/", "- access: read_write",
		"- description: notes about User Preferences", "- instructions: Check before answering.", "- path: /mnt/memory/user-preferences-2/", "- access: read_only"} {
		if !strings.Contains(sys, want) {
			t.Fatalf("system prompt lacks %q:\n%s", want, sys)
		}
	}
}

// Attaching refuses what cannot be mounted: a missing or archived store,
// more than eight, a bad access mode, instructions over 4,096 characters,
// and memory stores through the add endpoint.
func TestMemoryStoreAttachInvalid(t *testing.T) {
	l := newLoop(t, nil)
	ctx := context.Background()
	agent := l.agent(map[string]any{})
	ms := newMemStore(t, l.c, "a")
	archived := newMemStore(t, l.c, "old")
	if _, err := l.c.Beta.MemoryStores.Archive(ctx, archived.ID, anthropic.BetaMemoryStoreArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	create := func(rs ...anthropic.BetaSessionNewParamsResourceUnion) error {
		_, err := l.c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
			Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent)}, EnvironmentID: l.envID, Resources: rs,
		})
		return err
	}
	e := apiErr(t, create(memResource("memstore_nope", "", "")), 404, "not_found_error")
	if !strings.Contains(e.RawJSON(), "resources[0].memory_store_id") {
		t.Fatalf("404 does not name the field: %s", e.RawJSON())
	}
	wantMemInvalid(t, create(memResource(ms.ID, "", ""), memResource(archived.ID, "", "")), "resources[1].memory_store_id")
	wantMemInvalid(t, create(memResource(ms.ID, "write_only", "")), "resources[0].access")
	wantMemInvalid(t, create(memResource(ms.ID, "", strings.Repeat("x", 4097))), "resources[0].instructions")
	wantMemInvalid(t, create(memResource(ms.ID, "", ""), memResource(ms.ID, "", "")), "resources[1].memory_store_id")
	var nine []anthropic.BetaSessionNewParamsResourceUnion
	for i := range 9 {
		nine = append(nine, memResource(newMemStore(t, l.c, "s"+string(rune('a'+i))).ID, "", ""))
	}
	wantMemInvalid(t, create(nine...), "resources")
	if err := create(nine[:8]...); err != nil {
		t.Fatalf("eight stores: %v", err)
	}
	if err := create(memResource(ms.ID, "", strings.Repeat("x", 4096))); err != nil {
		t.Fatalf("instructions of 4096 characters: %v", err)
	}
}

// memContents lists a store's memories with their content, by path.
func memContents(t *testing.T, c anthropic.Client, storeID string) map[string]anthropic.BetaManagedAgentsMemoryListItemUnion {
	t.Helper()
	out := map[string]anthropic.BetaManagedAgentsMemoryListItemUnion{}
	it := c.Beta.MemoryStores.Memories.ListAutoPaging(context.Background(), storeID, anthropic.BetaMemoryStoreMemoryListParams{View: "full"})
	for it.Next() {
		out[it.Current().Path] = it.Current()
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	return out
}

// Attached stores are directories in the sandbox, one file per memory, on
// both backends: read_only refuses writes in the kernel; in read_write,
// files the agent creates, changes and deletes are memory versions with
// the session as actor by the time its tool result is logged.
func TestMemoryStoreMount(t *testing.T) {
	for _, backend := range []string{"local", "docker"} {
		t.Run(backend, func(t *testing.T) { testMemoryStoreMount(t, newLoopOn(t, backend, nil)) })
	}
}

func testMemoryStoreMount(t *testing.T, l *loop) {
	ctx := context.Background()
	rw := newMemStore(t, l.c, "notes")
	ro := newMemStore(t, l.c, "policy")
	a := newMemory(t, l.c, rw.ID, "/a.md", "alpha")
	newMemory(t, l.c, rw.ID, "/dir/deep/b.md", "beta")
	newMemory(t, l.c, ro.ID, "/rules.md", "be kind")
	s := l.sessionWith(l.agent(toolset), memResource(rw.ID, "", ""), memResource(ro.ID, "read_only", ""))

	out := l.bash(s.ID, "cat /mnt/memory/notes/a.md /mnt/memory/notes/dir/deep/b.md /mnt/memory/policy/rules.md; echo; echo x > /mnt/memory/policy/new.md; echo y > /mnt/memory/policy/rules.md; cat /mnt/memory/policy/rules.md")
	if !strings.Contains(out, "alphabetabe kind") || strings.Count(out, "Read-only file system") != 2 || !strings.Contains(out, `"is_error":false`) {
		t.Fatalf("reading the mounts: %s", out)
	}
	if got := memContents(t, l.c, ro.ID); len(got) != 1 || got["/rules.md"].Content != "be kind" {
		t.Fatalf("read-only store changed: %v", got)
	}

	out = l.bash(s.ID, "printf changed > /mnt/memory/notes/a.md && mkdir -p /mnt/memory/notes/new && printf fresh > /mnt/memory/notes/new/c.md && rm /mnt/memory/notes/dir/deep/b.md && echo done")
	if !strings.Contains(out, `"is_error":false`) {
		t.Fatalf("writing the mount: %s", out)
	}
	got := memContents(t, l.c, rw.ID)
	if len(got) != 2 || got["/a.md"].Content != "changed" || got["/a.md"].ID != a.ID || got["/new/c.md"].Content != "fresh" {
		t.Fatalf("store after the agent's writes: %v", got)
	}
	vs, err := l.c.Beta.MemoryStores.MemoryVersions.List(ctx, rw.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{SessionID: anthropic.String(s.ID)})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, v := range vs.Data {
		if v.CreatedBy.Type != "session_actor" || v.CreatedBy.SessionID != s.ID {
			t.Fatalf("version actor = %s", v.RawJSON())
		}
		ops[string(v.Operation)]++
	}
	if ops["created"] != 1 || ops["modified"] != 1 || ops["deleted"] != 1 {
		t.Fatalf("versions by the session: %v", ops)
	}

	// A write racing an API change: the API's version wins, the file is
	// put back and the agent is told in its tool result.
	if _, err := l.c.Beta.MemoryStores.Memories.Update(ctx, a.ID, anthropic.BetaMemoryStoreMemoryUpdateParams{MemoryStoreID: rw.ID, Content: anthropic.String("from the API")}); err != nil {
		t.Fatal(err)
	}
	out = l.bash(s.ID, "printf agent > /mnt/memory/notes/a.md")
	if !strings.Contains(out, `"is_error":true`) || !strings.Contains(out, "/mnt/memory/notes/a.md was not saved") || !strings.Contains(out, "memory store's version") {
		t.Fatalf("conflict not told: %s", out)
	}
	if got := memContents(t, l.c, rw.ID); got["/a.md"].Content != "from the API" {
		t.Fatalf("API write lost: %v", got["/a.md"].Content)
	}
	if out := l.bash(s.ID, "cat /mnt/memory/notes/a.md"); !strings.Contains(out, "from the API") || !strings.Contains(out, `"is_error":false`) {
		t.Fatalf("file not put back: %s", out)
	}

	// What cannot be a memory is reported, never followed or saved.
	out = l.bash(s.ID, "ln -s /etc/passwd /mnt/memory/notes/link.md; head -c 102401 /dev/zero | tr '\\0' x > /mnt/memory/notes/big.md; printf 'a\\tb' > \"/mnt/memory/notes/$(printf 'bad\\001name')\"; echo ok")
	for _, want := range []string{"/mnt/memory/notes/link.md is a symbolic link", "/mnt/memory/notes/big.md was not saved", "larger than the memory content limit", "no valid memory path"} {
		if !strings.Contains(out, want) {
			t.Fatalf("tool result lacks %q: %s", want, out)
		}
	}
	if got := memContents(t, l.c, rw.ID); len(got) != 2 {
		t.Fatalf("refused files were saved: %v", got)
	}
	if out := l.bash(s.ID, "rm -f /mnt/memory/notes/link.md /mnt/memory/notes/big.md /mnt/memory/notes/bad*"); !strings.Contains(out, `"is_error":false`) {
		t.Fatalf("cleanup: %s", out)
	}

	// An archived store stays readable to the session; a write is refused
	// and put back, and the agent told.
	if _, err := l.c.Beta.MemoryStores.Archive(ctx, rw.ID, anthropic.BetaMemoryStoreArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	out = l.bash(s.ID, "cat /mnt/memory/notes/new/c.md; printf late > /mnt/memory/notes/new/c.md")
	if !strings.Contains(out, "fresh") || !strings.Contains(out, "archived") || !strings.Contains(out, `"is_error":true`) {
		t.Fatalf("write to an archived store: %s", out)
	}
	if got := memContents(t, l.c, rw.ID); got["/new/c.md"].Content != "fresh" {
		t.Fatalf("archived store changed: %v", got["/new/c.md"].Content)
	}
}
