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
