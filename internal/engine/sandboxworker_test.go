package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// recordingWorkers is a Workers that remembers what was queued.
type recordingWorkers struct {
	mu  sync.Mutex
	ids []string
}

func (w *recordingWorkers) Enqueue(_ context.Context, _, _, sessionID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ids = append(w.ids, sessionID)
	return nil
}

func (w *recordingWorkers) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ids)
}

var bashTool = wire.AgentTool{Toolset: &wire.AgentToolset{Type: wire.ToolTypeAgentToolset, Configs: []wire.AgentToolConfig{
	{Name: "bash", Type: "bash", Enabled: true, PermissionPolicy: wire.PermissionPolicy{Type: "always_allow"}}}}}

// waitLogged waits until the log holds an event of typ and returns it.
func (h *harness) waitLogged(id, typ string) store.Event {
	h.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		evs, err := h.st.EventsSince(context.Background(), id, 0, 10000)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, e := range evs {
			if e.Type == typ {
				return e
			}
		}
	}
	dumpLog(h.t, h.st, id)
	h.t.Fatalf("no %s logged", typ)
	return store.Event{}
}

// With SandboxWorkers, a cloud session is queued for its
// in-sandbox worker when created; its bash call waits for that worker
// (the session stays running); a user.tool_result is refused from anyone
// but the worker, and the worker's is logged as agent.tool_result and
// continues the turn.
func TestCloudSessionServedByWorker(t *testing.T) {
	h := newHarness(t, nil, modeltest.ToolCall("", "bash", map[string]any{"command": "echo hi"}), modeltest.Text("done"))
	w := &recordingWorkers{}
	h.sandboxWorkers = w
	h.open()
	id := h.session(bashTool)
	if err := h.eng.Created(context.Background(), ws, id); err != nil {
		t.Fatal(err)
	}
	if w.count() != 1 {
		t.Fatalf("queued %d times at creation", w.count())
	}
	h.send(id, text("go"))
	use := h.waitLogged(id, wire.EventTypeAgentToolUse)
	time.Sleep(50 * time.Millisecond)
	if st, _ := h.eng.Status(context.Background(), ws, id); st != store.SessionRunning {
		t.Fatalf("status while the worker runs the call: %s", st)
	}
	result := &wire.UserToolResultEvent{ToolUseID: use.ID, Content: []wire.ContentBlock{wire.NewTextBlock("hi")}}
	if _, err := h.eng.Send(context.Background(), ws, id, []wire.EventPayload{result}, "", false); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("a client's user.tool_result for a cloud session: %v", err)
	}
	echo, err := h.eng.Send(engine.WithSandboxWorker(context.Background()), ws, id, []wire.EventPayload{result}, "", false)
	if err != nil || len(echo) != 1 || echo[0].EventType() != wire.EventTypeAgentToolResult {
		t.Fatalf("the worker's result: %v %v", echo, err)
	}
	// The same result again (an SDK retry) is the first one's echo.
	again, err := h.eng.Send(engine.WithSandboxWorker(context.Background()), ws, id, []wire.EventPayload{result}, "", false)
	if err != nil || len(again) != 1 || again[0].ID != echo[0].ID {
		t.Fatalf("a repeated result: %v %v", again, err)
	}
	evs := h.waitIdle(id, "end_turn", 0)
	if got := typesOf(evs); strings.Contains(got, "user.tool_result") || !strings.Contains(got, "span.model_request_end,agent.tool_result") {
		t.Fatalf("log: %s", got)
	}
	req, _ := h.fake.LastRequest()
	if res := req.Input.ToolResults(); len(res) != 1 || res[0].ToolUseID != use.ID {
		t.Fatalf("tool results upstream: %+v", res)
	}
}

// A worker that died (or a sandbox that could not start) answers the calls
// it left with an error, so the turn goes on; one that ended cleanly gets
// them queued again.
func TestCloudWorkerGone(t *testing.T) {
	h := newHarness(t, nil, modeltest.ToolCall("", "bash", map[string]any{"command": "echo hi"}), modeltest.Text("done"))
	w := &recordingWorkers{}
	h.sandboxWorkers = w
	h.open()
	id := h.session(bashTool)
	h.send(id, text("go"))
	h.waitLogged(id, wire.EventTypeAgentToolUse)
	n := w.count()
	h.eng.WorkerGone(context.Background(), ws, id, nil)
	if w.count() != n+1 {
		t.Fatalf("a clean exit with open calls queued %d times", w.count()-n)
	}
	h.eng.WorkerGone(context.Background(), ws, id, errors.New("sandbox exploded"))
	res := h.waitLogged(id, wire.EventTypeAgentToolResult)
	if !strings.Contains(string(res.Data), "sandbox exploded") || !strings.Contains(string(res.Data), `"is_error":true`) {
		t.Fatalf("result: %s", res.Data)
	}
	h.waitIdle(id, "end_turn", 0)
}
