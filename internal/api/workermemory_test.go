package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/hangarhq/hangar/internal/api"
	"github.com/hangarhq/hangar/internal/keys"
	"github.com/hangarhq/hangar/internal/workqueue"
)

// A work item's sessions token reaches, of the memory endpoints, exactly
// what the SDK worker's sync calls, on exactly the stores attached to its
// session: list and read them all, write only those attached read_write,
// each write recorded as the session's. An environment key, a token on a
// store its session does not have, and an in-sandbox worker's token reach
// nothing.
func TestWorkerMemoryAccess(t *testing.T) {
	ctx := context.Background()
	x := newHarness(t)
	st, q, h := x.st, x.q, x.h
	const admin = testAdminKey
	client := func(url string, opt option.RequestOption) anthropic.Client {
		return anthropic.NewClient(option.WithBaseURL(url), opt, option.WithMaxRetries(0))
	}
	c := client(x.url, option.WithAPIKey(admin))

	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "self-hosted",
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}}})
	if err != nil {
		t.Fatal(err)
	}
	ag, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{Name: "a", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"}})
	if err != nil {
		t.Fatal(err)
	}
	newStore := func(name string) string {
		ms, err := c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Beta.MemoryStores.Memories.New(ctx, ms.ID, anthropic.BetaMemoryStoreMemoryNewParams{
			Path: "/notes.md", Content: param.NewOpt("seed")}); err != nil {
			t.Fatal(err)
		}
		return ms.ID
	}
	rw, ro, other := newStore("rw"), newStore("ro"), newStore("other")
	// newSession makes a session with rw attached read_write and ro
	// attached read_only. The resources are written into the stored
	// document as the session API records them, so that this checks the
	// authorization apart from how resources are accepted.
	newSession := func() string {
		s, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: param.NewOpt(ag.ID)}, EnvironmentID: env.ID})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := st.GetSession(ctx, api.DefaultWorkspace, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(rec.Data, &doc); err != nil {
			t.Fatal(err)
		}
		doc["resources"] = []map[string]any{
			{"type": "memory_store", "memory_store_id": rw, "access": "read_write", "name": "rw", "mount_path": "/mnt/memory/rw"},
			{"type": "memory_store", "memory_store_id": ro, "access": "read_only", "name": "ro", "mount_path": "/mnt/memory/ro"},
		}
		if rec.Data, err = json.Marshal(doc); err != nil {
			t.Fatal(err)
		}
		rec.MemoryStoreIDs = []string{rw, ro}
		if err := st.UpdateSession(ctx, &rec); err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	claim := func(sid string) (workID, token string) {
		t.Helper()
		if _, err := q.Enqueue(ctx, api.DefaultWorkspace, env.ID, sid); err != nil {
			t.Fatal(err)
		}
		cl, err := q.Poll(ctx, api.DefaultWorkspace, env.ID, workqueue.PollParams{WorkerID: "test"})
		if err != nil || cl == nil || cl.Item.DataID != sid {
			t.Fatalf("claim: %+v, %v", cl, err)
		}
		tok, err := workqueue.DecodeSecret(cl.Secret)
		if err != nil {
			t.Fatal(err)
		}
		return cl.Item.ID, tok
	}
	status := func(err error) int {
		t.Helper()
		var ae *anthropic.Error
		switch {
		case err == nil:
			return 200
		case errors.As(err, &ae):
			return ae.StatusCode
		}
		t.Fatalf("request: %v", err)
		return 0
	}

	sid := newSession()
	_, tok := claim(sid)
	w := client(x.url, option.WithAuthToken(tok))
	list := func(w anthropic.Client, storeID string) (ids map[string]string, code int) {
		page, err := w.Beta.MemoryStores.Memories.List(ctx, storeID, anthropic.BetaMemoryStoreMemoryListParams{})
		if code = status(err); code != 200 {
			return nil, code
		}
		ids = map[string]string{}
		for _, it := range page.Data {
			ids[it.Path] = it.ID
		}
		return ids, code
	}
	rwMems, code := list(w, rw)
	if code != 200 || rwMems["/notes.md"] == "" {
		t.Fatalf("token lists its read_write store: HTTP %d, %v", code, rwMems)
	}
	roMems, code := list(w, ro)
	if code != 200 || roMems["/notes.md"] == "" {
		t.Fatalf("token lists its read_only store: HTTP %d, %v", code, roMems)
	}
	got, err := w.Beta.MemoryStores.Memories.Get(ctx, roMems["/notes.md"], anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: ro})
	if err != nil || got.Content != "seed" {
		t.Fatalf("token reads a memory of its read_only store: %v, %+v", err, got)
	}

	// Writes to the read_write store, as the SDK's sync sends them, are
	// the session's.
	made, err := w.Beta.MemoryStores.Memories.New(ctx, rw, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/new.md", Content: param.NewOpt("from the worker")})
	if err != nil {
		t.Fatalf("token creates in its read_write store: %v", err)
	}
	seed, err := c.Beta.MemoryStores.Memories.Get(ctx, rwMems["/notes.md"], anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: rw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Beta.MemoryStores.Memories.Update(ctx, seed.ID, anthropic.BetaMemoryStoreMemoryUpdateParams{MemoryStoreID: rw,
		Content:      param.NewOpt("edited"),
		Precondition: anthropic.BetaManagedAgentsPreconditionParam{ContentSha256: param.NewOpt(seed.ContentSha256)}}); err != nil {
		t.Fatalf("token updates in its read_write store: %v", err)
	}
	if _, err := w.Beta.MemoryStores.Memories.Delete(ctx, made.ID, anthropic.BetaMemoryStoreMemoryDeleteParams{MemoryStoreID: rw,
		ExpectedContentSha256: param.NewOpt(made.ContentSha256)}); err != nil {
		t.Fatalf("token deletes in its read_write store: %v", err)
	}
	versions, err := c.Beta.MemoryStores.MemoryVersions.List(ctx, rw, anthropic.BetaMemoryStoreMemoryVersionListParams{})
	if err != nil {
		t.Fatal(err)
	}
	bySession := 0
	for _, v := range versions.Data {
		switch v.CreatedBy.Type {
		case "session_actor":
			if v.CreatedBy.SessionID != sid {
				t.Errorf("version %s: session_actor %q, want %q", v.ID, v.CreatedBy.SessionID, sid)
			}
			bySession++
		case "api_actor":
			if v.Operation != "created" || v.Path != "/notes.md" {
				t.Errorf("version %s (%s %s) is an api_actor's, want the session's", v.ID, v.Operation, v.Path)
			}
		}
	}
	if bySession != 3 {
		t.Errorf("%d versions by the session, want 3 (create, update, delete): %s", bySession, versions.RawJSON())
	}

	// What the token may not do.
	roSeed := roMems["/notes.md"]
	for _, c := range []struct {
		name string
		err  error
	}{
		{"create in the read_only store", func() error {
			_, err := w.Beta.MemoryStores.Memories.New(ctx, ro, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/x.md", Content: param.NewOpt("x")})
			return err
		}()},
		{"update in the read_only store", func() error {
			_, err := w.Beta.MemoryStores.Memories.Update(ctx, roSeed, anthropic.BetaMemoryStoreMemoryUpdateParams{MemoryStoreID: ro, Content: param.NewOpt("x")})
			return err
		}()},
		{"delete in the read_only store", func() error {
			_, err := w.Beta.MemoryStores.Memories.Delete(ctx, roSeed, anthropic.BetaMemoryStoreMemoryDeleteParams{MemoryStoreID: ro})
			return err
		}()},
		{"list a store not attached", func() error { _, code := list(w, other); return httpErr(code) }()},
		{"create in a store not attached", func() error {
			_, err := w.Beta.MemoryStores.Memories.New(ctx, other, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/x.md", Content: param.NewOpt("x")})
			return err
		}()},
		{"get an attached store itself", func() error {
			_, err := w.Beta.MemoryStores.Get(ctx, rw, anthropic.BetaMemoryStoreGetParams{})
			return err
		}()},
		{"list the memory versions", func() error {
			_, err := w.Beta.MemoryStores.MemoryVersions.List(ctx, rw, anthropic.BetaMemoryStoreMemoryVersionListParams{})
			return err
		}()},
	} {
		if code := status(c.err); code != http.StatusForbidden {
			t.Errorf("token may not %s: HTTP %d, want 403", c.name, code)
		}
	}
	if got, err := c.Beta.MemoryStores.Memories.Get(ctx, roSeed, anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: ro}); err != nil || got.Content != "seed" {
		t.Errorf("the read_only store changed: %v, %+v", err, got)
	}

	// The environment key serves every session of the environment, so it
	// reaches no store.
	key, _, err := keys.Mint(ctx, st, keys.Spec{Name: "worker", Workspace: api.DefaultWorkspace, EnvironmentID: env.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, code := list(client(x.url, option.WithAuthToken(key)), rw); code != http.StatusForbidden {
		t.Errorf("environment key lists a store: HTTP %d, want 403", code)
	}

	// A cloud session's worker runs in its sandbox, whose stores the
	// server mounts and syncs: its token reaches none of them.
	cloud := newSession()
	workID, cloudTok := claim(cloud)
	x.claimForSandbox(workID, cloud)
	sock := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(rw, r.WithContext(api.WithSandboxSocket(r.Context(), cloud)))
	}))
	t.Cleanup(sock.Close)
	inSandbox := client(sock.URL, option.WithAuthToken(cloudTok))
	if _, err := inSandbox.Beta.Sessions.Get(ctx, cloud, anthropic.BetaSessionGetParams{}); err != nil {
		t.Fatalf("in-sandbox token reads its session: %v", err)
	}
	if _, code := list(inSandbox, rw); code != http.StatusForbidden {
		t.Errorf("in-sandbox token lists its session's store: HTTP %d, want 403", code)
	}
}

// httpErr is a non-200 status as an error, for the table above.
func httpErr(code int) error {
	if code == 200 {
		return nil
	}
	return &anthropic.Error{StatusCode: code}
}
