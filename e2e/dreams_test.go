package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/dream"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
)

// dreamAnswer is the scripted model's reorganisation of every dream: the
// tea preference learned in the session, and the alpha note kept as is
// (the beta note is dropped).
const dreamAnswer = `{"memories": [{"path": "/prefs/tea.md", "content": "The user drinks green tea."}, {"path": "/a.md", "content": "alpha"}]}`

// dreamRule answers the dream prompt by its instructions (a stall, a
// model failure, an unparseable answer, or the fixed reorganisation) and
// any session turn with a short text.
func dreamRule(in modeltest.Input) modeltest.Turn {
	if in.System != dream.SystemPrompt {
		return modeltest.Text("noted")
	}
	prompt := in.LastUserText()
	switch {
	case strings.Contains(prompt, "<instructions>\nSTALL"):
		return modeltest.Turn{Content: []model.Block{model.Text("{")}, Stall: true}
	case strings.Contains(prompt, "<instructions>\nFAIL"):
		return modeltest.Fail(400, "invalid_request_error", "the dream upstream refused")
	case strings.Contains(prompt, "<instructions>\nGARBAGE"):
		return modeltest.Text("I reorganised them nicely.")
	case strings.Contains(prompt, "<instructions>\nESCAPE"):
		return modeltest.Text(`{"memories": [{"path": "/../etc/passwd", "content": "x"}]}`)
	}
	return modeltest.Turn{Content: []model.Block{model.Text(dreamAnswer)}, Usage: model.Usage{InputTokens: 120, OutputTokens: 30}}
}

// dreamWorld is a server on the scripted model with a memory store of two
// memories and one past session that taught something.
type dreamWorld struct {
	*loop
	storeID, sessionID string
}

func newDreamWorld(t *testing.T) *dreamWorld {
	t.Helper()
	l := startLoop(t, modeltest.NewAnthropic(t, modeltest.Options{APIKey: "upstream-key", Rule: dreamRule}), nil, "--sandbox", "none")
	env, err := l.c.Beta.Environments.New(context.Background(), anthropic.BetaEnvironmentNewParams{Name: "dreams"})
	if err != nil {
		t.Fatal(err)
	}
	l.envID = env.ID
	st := newMemStore(t, l.c, "notes")
	newMemory(t, l.c, st.ID, "/a.md", "alpha")
	newMemory(t, l.c, st.ID, "/b.md", "beta, said twice; beta")
	sid := l.session(l.agent(map[string]any{}))
	col := l.stream(sid)
	l.send(sid, userMessage("Remember: I only drink green tea."))
	col.waitType(t, 0, "session.status_idle")
	return &dreamWorld{loop: l, storeID: st.ID, sessionID: sid}
}

func (w *dreamWorld) params(instructions string, sessions ...string) anthropic.BetaDreamNewParams {
	if sessions == nil {
		sessions = []string{w.sessionID}
	}
	p := anthropic.BetaDreamNewParams{
		Inputs: []anthropic.BetaDreamInputUnionParam{
			anthropic.BetaDreamInputParamOfMemoryStore(w.storeID),
			anthropic.BetaDreamInputParamOfSessions(sessions),
		},
		Model: anthropic.BetaDreamNewParamsModelUnion{OfString: anthropic.String("claude-test-1")},
	}
	if instructions != "" {
		p.Instructions = anthropic.String(instructions)
	}
	return p
}

func (w *dreamWorld) create(p anthropic.BetaDreamNewParams) *anthropic.BetaDream {
	w.t.Helper()
	d, err := w.c.Beta.Dreams.New(context.Background(), p)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// await polls dream id until its status is one of want.
func (w *dreamWorld) await(id string, want ...anthropic.BetaDreamStatus) *anthropic.BetaDream {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := w.c.Beta.Dreams.Get(context.Background(), id, anthropic.BetaDreamGetParams{})
		if err != nil {
			w.t.Fatal(err)
		}
		for _, s := range want {
			if d.Status == s {
				return d
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("dream %s is still %s, want %v: %s", id, d.Status, want, d.RawJSON())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stalled waits until a STALL dream's request reached the model.
func (w *dreamWorld) stalled() {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, r := range w.fake.Requests() {
			if r.Input.System == dream.SystemPrompt && strings.Contains(r.Input.LastUserText(), "<instructions>\nSTALL") {
				return
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatal("the stalled dream's request never reached the model")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// memories returns a store's memories as path → content.
func (w *dreamWorld) memories(storeID string) map[string]string {
	w.t.Helper()
	page, err := w.c.Beta.MemoryStores.Memories.List(context.Background(), storeID, anthropic.BetaMemoryStoreMemoryListParams{View: anthropic.BetaManagedAgentsMemoryViewFull})
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range page.Data {
		out[m.Path] = m.Content
	}
	return out
}

func sameMemories(a, b map[string]string) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// A create_new dream reads the store and the session, asks the model with
// Hangar's prompt, and writes the answer to a new store; the input store
// is not touched.
func TestDreamCreateNew(t *testing.T) {
	w := newDreamWorld(t)
	before := w.memories(w.storeID)
	d := w.create(w.params("Group preferences under /prefs."))
	if d.Type != "dream" || !strings.HasPrefix(d.ID, "drm_") || d.Status != "pending" || len(d.Outputs) != 0 ||
		d.Model.ID != "claude-test-1" || d.Model.Speed != "standard" || d.OutputBehavior.Type != "create_new" ||
		d.Instructions != "Group preferences under /prefs." || len(d.Inputs) != 2 || d.Inputs[1].SessionIDs[0] != w.sessionID {
		t.Fatalf("created dream = %s", d.RawJSON())
	}
	if r := raw(d); r["ended_at"] != nil || r["error"] != nil || r["archived_at"] != nil || r["session_id"] != nil {
		t.Fatalf("created dream = %s", d.RawJSON())
	}
	done := w.await(d.ID, "completed")
	if len(done.Outputs) != 1 || done.Outputs[0].MemoryStoreID == w.storeID || done.EndedAt.IsZero() ||
		done.Usage.InputTokens != 120 || done.Usage.OutputTokens != 30 {
		t.Fatalf("completed dream = %s", done.RawJSON())
	}
	out := done.Outputs[0].MemoryStoreID
	want := map[string]string{"/a.md": "alpha", "/prefs/tea.md": "The user drinks green tea."}
	if got := w.memories(out); !sameMemories(got, want) {
		t.Fatalf("output store = %v, want %v", got, want)
	}
	if got := w.memories(w.storeID); !sameMemories(got, before) {
		t.Fatalf("input store changed: %v, was %v", got, before)
	}
	// The output's versions name the API key that created the dream.
	vers, err := w.c.Beta.MemoryStores.MemoryVersions.List(context.Background(), out, anthropic.BetaMemoryStoreMemoryVersionListParams{})
	if err != nil || len(vers.Data) == 0 {
		t.Fatalf("output versions: %v, %v", vers, err)
	}
	for _, v := range vers.Data {
		if v.CreatedBy.Type != "api_actor" {
			t.Fatalf("version actor = %s", v.RawJSON())
		}
	}
	// The model saw the memories, the session's transcript and the
	// instructions.
	req, _ := w.fake.LastRequest()
	prompt := req.Input.LastUserText()
	for _, s := range []string{`<memory path="/b.md">`, "beta, said twice", "user: Remember: I only drink green tea.", "agent: noted", "Group preferences under /prefs.", w.sessionID} {
		if !strings.Contains(prompt, s) {
			t.Fatalf("dream prompt lacks %q:\n%s", s, prompt)
		}
	}
}

// An update_existing dream rewrites the input store, each change a new
// version, and a second one on the same store is refused while it runs.
func TestDreamUpdateExisting(t *testing.T) {
	w := newDreamWorld(t)
	p := w.params("")
	p.OutputBehavior = anthropic.BetaOutputBehaviorParamOfUpdateExisting(w.storeID)
	d := w.await(w.create(p).ID, "completed")
	if d.OutputBehavior.Type != "update_existing" || d.OutputBehavior.MemoryStoreID != w.storeID || len(d.Outputs) != 1 || d.Outputs[0].MemoryStoreID != w.storeID {
		t.Fatalf("dream = %s", d.RawJSON())
	}
	want := map[string]string{"/a.md": "alpha", "/prefs/tea.md": "The user drinks green tea."}
	if got := w.memories(w.storeID); !sameMemories(got, want) {
		t.Fatalf("store = %v, want %v", got, want)
	}
	vers, err := w.c.Beta.MemoryStores.MemoryVersions.List(context.Background(), w.storeID, anthropic.BetaMemoryStoreMemoryVersionListParams{})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, v := range vers.Data {
		ops[string(v.Operation)]++
	}
	// Two created by the test, then the dream's deletion of /b.md and
	// creation of /prefs/tea.md; /a.md is unchanged and gets no version.
	if ops["created"] != 3 || ops["deleted"] != 1 || len(vers.Data) != 4 {
		t.Fatalf("versions by operation = %v", ops)
	}

	// While a stalled update_existing dream runs, another is a 409.
	p = w.params("STALL")
	p.OutputBehavior = anthropic.BetaOutputBehaviorParamOfUpdateExisting(w.storeID)
	stalled := w.create(p)
	_, err = w.c.Beta.Dreams.New(context.Background(), p)
	if e := apiErr(t, err, 409, "invalid_request_error"); !strings.Contains(e.RawJSON(), stalled.ID) {
		t.Fatalf("409 does not name the running dream: %s", e.RawJSON())
	}
	if _, err := w.c.Beta.Dreams.Cancel(context.Background(), stalled.ID, anthropic.BetaDreamCancelParams{}); err != nil {
		t.Fatal(err)
	}
	w.create(p)
}

// Cancel stops a stalled dream for good; archive refuses a live dream
// and hides a final one from the default list.
func TestDreamCancelArchive(t *testing.T) {
	w := newDreamWorld(t)
	ctx := context.Background()
	d := w.create(w.params("STALL"))
	w.await(d.ID, "running")
	w.stalled()
	_, err := w.c.Beta.Dreams.Archive(ctx, d.ID, anthropic.BetaDreamArchiveParams{})
	wantMemInvalid(t, err, "cancel it before archiving")
	c, err := w.c.Beta.Dreams.Cancel(ctx, d.ID, anthropic.BetaDreamCancelParams{})
	if err != nil || c.Status != "canceled" || c.EndedAt.IsZero() {
		t.Fatalf("cancel = %v, %v", c, err)
	}
	// The stalled model request is abandoned.
	select {
	case <-w.fake.Aborted():
	case <-time.After(20 * time.Second):
		t.Fatal("cancel left the dream's model request open")
	}
	again, err := w.c.Beta.Dreams.Cancel(ctx, d.ID, anthropic.BetaDreamCancelParams{})
	if err != nil || again.Status != "canceled" || !again.EndedAt.Equal(c.EndedAt) {
		t.Fatalf("second cancel = %v, %v", again, err)
	}
	if got := w.await(d.ID, "canceled", "failed", "completed"); got.Status != "canceled" {
		t.Fatalf("after cancel = %s", got.RawJSON())
	}
	// The input store is untouched; the output copy keeps the input's memories.
	if len(c.Outputs) == 1 {
		if got := w.memories(c.Outputs[0].MemoryStoreID); len(got) != 2 {
			t.Fatalf("canceled output store = %v", got)
		}
	}

	done := w.await(w.create(w.params("")).ID, "completed")
	_, err = w.c.Beta.Dreams.Cancel(ctx, done.ID, anthropic.BetaDreamCancelParams{})
	wantMemInvalid(t, err, "already completed")
	arch, err := w.c.Beta.Dreams.Archive(ctx, done.ID, anthropic.BetaDreamArchiveParams{})
	if err != nil || arch.ArchivedAt.IsZero() {
		t.Fatalf("archive = %v, %v", arch, err)
	}
	again2, err := w.c.Beta.Dreams.Archive(ctx, done.ID, anthropic.BetaDreamArchiveParams{})
	if err != nil || !again2.ArchivedAt.Equal(arch.ArchivedAt) {
		t.Fatalf("second archive = %v, %v", again2, err)
	}
	if got, err := w.c.Beta.Dreams.Get(ctx, done.ID, anthropic.BetaDreamGetParams{}); err != nil || got.ArchivedAt.IsZero() {
		t.Fatalf("get archived = %v, %v", got, err)
	}

	ids := func(p anthropic.BetaDreamListParams) []string {
		t.Helper()
		page, err := w.c.Beta.Dreams.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range page.Data {
			out = append(out, d.ID)
		}
		return out
	}
	if got := ids(anthropic.BetaDreamListParams{}); len(got) != 1 || got[0] != d.ID {
		t.Fatalf("default list = %v (archived %s left out)", got, done.ID)
	}
	if got := ids(anthropic.BetaDreamListParams{IncludeArchived: anthropic.Bool(true)}); len(got) != 2 || got[0] != done.ID || got[1] != d.ID {
		t.Fatalf("list with archived = %v, want newest first", got)
	}
	if got := ids(anthropic.BetaDreamListParams{IncludeArchived: anthropic.Bool(true), Statuses: []anthropic.BetaDreamStatus{"completed"}}); len(got) != 1 || got[0] != done.ID {
		t.Fatalf("completed = %v", got)
	}
	if got := ids(anthropic.BetaDreamListParams{IncludeArchived: anthropic.Bool(true), Statuses: []anthropic.BetaDreamStatus{"canceled", "failed"}}); len(got) != 1 || got[0] != d.ID {
		t.Fatalf("canceled or failed = %v", got)
	}
	if got := ids(anthropic.BetaDreamListParams{IncludeArchived: anthropic.Bool(true), CreatedAtGt: anthropic.Time(d.CreatedAt)}); len(got) != 1 || got[0] != done.ID {
		t.Fatalf("created after the first = %v", got)
	}
	if got := ids(anthropic.BetaDreamListParams{IncludeArchived: anthropic.Bool(true), Limit: anthropic.Int(1), Statuses: []anthropic.BetaDreamStatus{"canceled"}}); len(got) != 1 || got[0] != d.ID {
		t.Fatalf("one canceled = %v", got)
	}
	_, err = w.c.Beta.Dreams.List(ctx, anthropic.BetaDreamListParams{Statuses: []anthropic.BetaDreamStatus{"sleeping"}})
	wantMemInvalid(t, err, "statuses")
}

// A model failure, an unparseable answer and a path that escapes the
// store each fail the dream with a typed error and write nothing.
func TestDreamFailures(t *testing.T) {
	w := newDreamWorld(t)
	before := w.memories(w.storeID)
	for _, tc := range []struct{ instructions, typ, msg string }{
		{"FAIL", "model_request_failed_error", "the dream upstream refused"},
		{"GARBAGE", "invalid_output", "not the JSON object"},
		{"ESCAPE", "invalid_output", "memories[0].path"},
	} {
		p := w.params(tc.instructions)
		p.OutputBehavior = anthropic.BetaOutputBehaviorParamOfUpdateExisting(w.storeID)
		d := w.await(w.create(p).ID, "failed", "completed")
		if d.Status != "failed" || d.Error.Type != tc.typ || !strings.Contains(d.Error.Message, tc.msg) || d.EndedAt.IsZero() {
			t.Fatalf("%s: dream = %s", tc.instructions, d.RawJSON())
		}
	}
	if got := w.memories(w.storeID); !sameMemories(got, before) {
		t.Fatalf("failed dreams changed the store: %v", got)
	}
}

// Bad input is a 400 or 404 naming the field, and nothing is created.
func TestDreamBadInput(t *testing.T) {
	w := newDreamWorld(t)
	ctx := context.Background()
	p := w.params("")
	p.Inputs[1] = anthropic.BetaDreamInputParamOfSessions([]string{})
	_, err := w.c.Beta.Dreams.New(ctx, p)
	wantMemInvalid(t, err, "inputs[1].session_ids")
	many := make([]string, 101)
	for i := range many {
		many[i] = w.sessionID + strings.Repeat("x", i)
	}
	_, err = w.c.Beta.Dreams.New(ctx, w.params("", many...))
	wantMemInvalid(t, err, "inputs[1].session_ids")
	_, err = w.c.Beta.Dreams.New(ctx, w.params("", w.sessionID, w.sessionID))
	wantMemInvalid(t, err, "listed twice")
	p = w.params("")
	p.Inputs = p.Inputs[1:]
	_, err = w.c.Beta.Dreams.New(ctx, p)
	wantMemInvalid(t, err, "memory_store")
	p = w.params("")
	p.Inputs[0] = anthropic.BetaDreamInputParamOfMemoryStore("memstore_nope")
	_, err = w.c.Beta.Dreams.New(ctx, p)
	if e := apiErr(t, err, 404, "not_found_error"); !strings.Contains(e.RawJSON(), "inputs.memory_store_id") {
		t.Fatalf("404 does not name the field: %s", e.RawJSON())
	}
	_, err = w.c.Beta.Dreams.New(ctx, w.params("", "sesn_nope"))
	if e := apiErr(t, err, 404, "not_found_error"); !strings.Contains(e.RawJSON(), "inputs.session_ids") {
		t.Fatalf("404 does not name the field: %s", e.RawJSON())
	}
	p = w.params("")
	p.OutputBehavior = anthropic.BetaOutputBehaviorParamOfUpdateExisting("memstore_other")
	_, err = w.c.Beta.Dreams.New(ctx, p)
	wantMemInvalid(t, err, "output_behavior.memory_store_id")
	p = w.params("")
	p.Model = anthropic.BetaDreamNewParamsModelUnion{OfBetaDreamModelConfig: &anthropic.BetaDreamModelConfigParam{ID: "claude-test-1", Speed: "fast"}}
	_, err = w.c.Beta.Dreams.New(ctx, p)
	wantMemInvalid(t, err, "model.speed")
	p = w.params(strings.Repeat("x", 4097))
	_, err = w.c.Beta.Dreams.New(ctx, p)
	wantMemInvalid(t, err, "instructions")

	// Another workspace sees none of it: its dreams, stores, sessions.
	other := w.s.Client(w.s.CreateKey(t, "wrkspc_other"))
	d := w.await(w.create(w.params("")).ID, "completed")
	_, err = other.Beta.Dreams.Get(ctx, d.ID, anthropic.BetaDreamGetParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Dreams.Cancel(ctx, d.ID, anthropic.BetaDreamCancelParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Dreams.New(ctx, w.params(""))
	apiErr(t, err, 404, "not_found_error")
	if page, err := other.Beta.Dreams.List(ctx, anthropic.BetaDreamListParams{}); err != nil || len(page.Data) != 0 {
		t.Fatalf("other workspace lists %v, %v", page, err)
	}
	if page, err := w.c.Beta.Dreams.List(ctx, anthropic.BetaDreamListParams{}); err != nil || len(page.Data) != 1 {
		t.Fatalf("bad requests created dreams: %v, %v", page, err)
	}

	// The dream endpoints want the dreams beta the SDK sends.
	h := http.Header{}
	testserver.SDKHeaders(h)
	h.Set("anthropic-beta", "managed-agents-2026-04-01")
	resp := w.s.Do(t, "GET", "/v1/dreams", nil, h)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("without the dreams beta: %d", resp.StatusCode)
	}
}

// A dream running when the server dies is failed when it starts again.
func TestDreamCrash(t *testing.T) {
	w := newDreamWorld(t)
	d := w.create(w.params("STALL"))
	w.await(d.ID, "running")
	w.s.Kill()
	s2 := testserver.Start(t, testserver.WithDataDir(w.s.DataDir), testserver.WithArgs("--sandbox", "none"),
		testserver.WithEnv("HANGAR_ANTHROPIC_BASE_URL="+w.fake.URL, "HANGAR_ANTHROPIC_API_KEY=upstream-key"))
	w.s, w.c = s2, s2.Client("")
	got := w.await(d.ID, "failed", "completed", "canceled")
	if got.Status != "failed" || got.Error.Type != "internal_error" || !strings.Contains(got.Error.Message, "server stopped") {
		t.Fatalf("after restart = %s", got.RawJSON())
	}
}
