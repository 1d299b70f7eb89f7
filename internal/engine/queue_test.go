package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/wire"
)

// crashable is a store whose writes stop landing once dead is set: the
// state a killed process leaves on disk is what it wrote before.
type crashable struct {
	store.Store
	dead atomic.Bool
}

var errCrashed = errors.New("the process is gone")

func (c *crashable) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	if c.dead.Load() {
		return errCrashed
	}
	return c.Store.InTx(ctx, fn)
}

func (c *crashable) SetEventsProcessed(ctx context.Context, sessionID string, evs []store.Event) error {
	if c.dead.Load() {
		return errCrashed
	}
	return c.Store.SetEventsProcessed(ctx, sessionID, evs)
}

// A message the engine accepted is processed after a crash right after
// Send returned, without further input: when Send returns, the session is
// logged running with the message, so the next start resumes it. Round
// after round, the first engine "dies" the moment Send returns.
func TestAcceptedInputSurvivesCrash(t *testing.T) {
	for round := range 20 {
		h := newHarness(t, modeltest.EchoRule)
		st, err := sqlite.Open(context.Background(), h.dbPath)
		if err != nil {
			t.Fatal(err)
		}
		crash := &crashable{Store: st}
		broker := events.NewLocal(slog.Default())
		first := engine.New(engine.Deps{Store: crash, Models: h.router, Broker: broker}, h.opts)
		if err := first.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.st = st
		id := h.session()
		if _, err := first.Send(context.Background(), ws, id, []wire.EventPayload{text("survive")}, "", false); err != nil {
			t.Fatal(err)
		}
		crash.dead.Store(true)
		if doc, err := first.Get(context.Background(), ws, id); err != nil || doc.Status != store.SessionRunning {
			t.Fatalf("round %d: status right after the send: %q %v", round, doc.Status, err)
		}

		h.open()
		evs := h.waitIdle(id, "end_turn", 0)
		if evs[0].Type != wire.EventTypeUserMessage || evs[0].ProcessedAt == nil || !strings.Contains(typesOf(evs), "agent.message") {
			dumpLog(t, h.st, id)
			t.Fatalf("round %d: log after the restart: %s", round, typesOf(evs))
		}
		h.close()
		first.Close()
		broker.Close()
		st.Close()
	}
}

// A message sent while a worker runs a tool call waits for the call's
// result, and a restarted engine rebuilds the conversation as it happened:
// the call's result, then the message, in one user turn.
func TestMessageWaitsForWorkerCall(t *testing.T) {
	h := newHarness(t, modeltest.EchoRule, modeltest.ToolCall("", "bash", map[string]any{"command": "echo hi"}))
	h.sandboxWorkers = &recordingWorkers{}
	h.open()
	id := h.session(bashTool)
	h.send(id, text("first"))
	use := h.waitLogged(id, wire.EventTypeAgentToolUse)
	second := h.send(id, text("second"))
	if st, _ := h.eng.Status(context.Background(), ws, id); st != store.SessionRunning {
		t.Fatalf("status with the message queued behind the call: %s", st)
	}
	result := &wire.UserToolResultEvent{ToolUseID: use.ID, Content: []wire.ContentBlock{wire.NewTextBlock("hi")}}
	if _, err := h.eng.Send(engine.WithSandboxWorker(context.Background()), ws, id, []wire.EventPayload{result}, "", false); err != nil {
		t.Fatalf("the worker's result: %v", err)
	}
	evs := h.waitIdle(id, "end_turn", 0)
	var results int
	for _, e := range evs {
		if e.Type == wire.EventTypeAgentToolResult {
			results++
		}
		if e.ID == second[0].ID && e.ProcessedAt == nil {
			t.Fatal("the second message was left unprocessed")
		}
	}
	if results != 1 {
		dumpLog(t, h.st, id)
		t.Fatalf("%d results for one call", results)
	}
	want := func(msgs []model.Message) {
		t.Helper()
		if len(msgs) < 3 {
			t.Fatalf("conversation: %+v", msgs)
		}
		turn := msgs[2].Content
		if len(turn) != 2 || turn[0].Type != model.BlockToolResult || turn[0].ToolUseID != use.ID || turn[0].IsError || turn[1].Text != "second" {
			t.Fatalf("the user turn after the call: %+v", turn)
		}
	}
	req, _ := h.fake.LastRequest()
	want(req.Input.Messages)

	h.close()
	h.open()
	h.send(id, text("third"))
	h.waitIdle(id, "end_turn", 1)
	req, _ = h.fake.LastRequest()
	want(req.Input.Messages)
}

// A message sent while the session waits on the client (requires_action)
// waits too: the session stays blocked until the call is answered, then the
// model gets the answer and the message together.
func TestMessageWaitsForGate(t *testing.T) {
	h := newHarness(t, modeltest.EchoRule, modeltest.ToolCall("", "lookup", map[string]any{}))
	h.open()
	id := h.session(wire.AgentTool{Custom: &wire.CustomTool{Type: wire.ToolTypeCustom, Name: "lookup", Description: "Look up.", InputSchema: json.RawMessage(`{"type":"object"}`)}})
	h.send(id, text("first"))
	use := h.waitLogged(id, wire.EventTypeAgentCustomToolUse)
	h.waitIdle(id, "requires_action", 0)
	second := h.send(id, text("second"))
	doc, err := h.eng.Get(context.Background(), ws, id)
	if err != nil || doc.Status != store.SessionIdle || doc.StopReason == nil || doc.StopReason.Type != wire.StopRequiresAction {
		t.Fatalf("session with a message behind the gate: %+v %v", doc.StopReason, err)
	}
	h.send(id, &wire.UserCustomToolResultEvent{CustomToolUseID: use.ID, Content: []wire.ContentBlock{wire.NewTextBlock("found")}})
	evs := h.waitIdle(id, "end_turn", 0)
	for _, e := range evs {
		if e.ID == second[0].ID && e.ProcessedAt == nil {
			t.Fatal("the message was left unprocessed")
		}
	}
	req, _ := h.fake.LastRequest()
	last, _ := req.Input.Last()
	if len(last.Content) != 2 || last.Content[0].ToolUseID != use.ID || last.Content[0].IsError || last.Content[1].Text != "second" {
		t.Fatalf("the user turn after the answer: %+v", last.Content)
	}
}
