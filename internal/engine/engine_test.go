package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/model/providers"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/wire"
)

const ws = "wrkspc_test"

type harness struct {
	t      testing.TB
	st     store.Store
	broker *events.Local
	eng    *engine.Engine
	fake   *modeltest.Server
	dbPath string
	router model.Provider
	opts   engine.Options
	// sandboxWorkers, when set, serves cloud sessions through a worker.
	sandboxWorkers engine.Workers
	// sandboxes and outputs, when set, are the engine's sandbox lifecycle
	// and output capture.
	sandboxes engine.Sandboxes
	outputs   engine.OutputCapturer
}

func newHarness(t testing.TB, rule modeltest.Rule, turns ...modeltest.Turn) *harness {
	t.Helper()
	return newHarnessOn(t, modeltest.NewAnthropic(t, modeltest.Options{Rule: rule}, turns...))
}

// newHarnessOn is newHarness on the given fake upstream.
func newHarnessOn(t testing.TB, fake *modeltest.Server) *harness {
	t.Helper()
	mc, err := model.Settings{Models: "*=anthropic:" + fake.URL}.Resolve(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	router, err := providers.NewRouter(mc, providers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, fake: fake, dbPath: filepath.Join(t.TempDir(), "hangar.db"), router: router}
	return h
}

// open starts (or restarts) the store, broker and engine on the same file.
func (h *harness) open() {
	h.t.Helper()
	st, err := sqlite.Open(context.Background(), h.dbPath)
	if err != nil {
		h.t.Fatal(err)
	}
	h.st = st
	h.broker = events.NewLocal(slog.Default())
	h.eng = engine.New(engine.Deps{Store: st, Models: h.router, Broker: h.broker, SandboxWorkers: h.sandboxWorkers, Sandboxes: h.sandboxes, Outputs: h.outputs}, h.opts)
	if err := h.eng.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(h.close)
}

func (h *harness) close() {
	if h.eng != nil {
		h.eng.Close()
		h.broker.Close()
		h.st.Close()
		h.eng = nil
	}
}

func (h *harness) session(tools ...wire.AgentTool) string {
	h.t.Helper()
	return h.sessionNamed(h.t.Name(), tools...)
}

// sessionNamed is session with an id made of name, for tests of several.
func (h *harness) sessionNamed(name string, tools ...wire.AgentTool) string {
	h.t.Helper()
	now := wire.Now()
	id := "sesn_" + strings.ReplaceAll(name, "/", "_")
	doc := wire.Session{ID: id, Status: store.SessionIdle, CreatedAt: now, UpdatedAt: now, EnvironmentID: "env_x",
		Agent: wire.SessionAgent{ID: "agent_x", Name: "a", Model: wire.ModelConfig{ID: "claude-test"}, Tools: tools}}
	data, _ := json.Marshal(doc)
	if err := h.st.InsertSession(context.Background(), &store.Session{ID: id, Workspace: ws, AgentID: "agent_x", AgentVersion: 1, EnvironmentID: "env_x", Status: store.SessionIdle, Data: data}); err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *harness) send(id string, evs ...wire.EventPayload) []wire.Event {
	h.t.Helper()
	out, err := h.eng.Send(context.Background(), ws, id, evs, "", false)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func text(s string) *wire.UserMessageEvent {
	return &wire.UserMessageEvent{Content: []wire.ContentBlock{wire.NewTextBlock(s)}}
}

// waitIdle waits until the session is idle with the given stop reason,
// reading the log (the source of truth), and returns the log.
func (h *harness) waitIdle(id, reason string, after int) []store.Event {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := h.st.EventsSince(context.Background(), id, 0, 10000)
		if err != nil {
			h.t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			if e.Type == wire.EventTypeSessionStatusIdle {
				n++
				if n > after && strings.Contains(string(e.Data), `"`+reason+`"`) {
					return evs
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	dumpLog(h.t, h.st, id)
	h.t.Fatalf("session did not go idle (%s)", reason)
	return nil
}

// typesOf lists the event types of a log, without the session.usage
// snapshot sent at every turn end (the usage tests check those).
func typesOf(evs []store.Event) string {
	var out []string
	for _, e := range evs {
		if e.Type == wire.EventTypeSessionUsage {
			continue
		}
		out = append(out, e.Type)
	}
	return strings.Join(out, ",")
}

// The order of a normal turn in the log.
func TestTurnOrder(t *testing.T) {
	h := newHarness(t, nil, modeltest.Text("hello"))
	h.open()
	id := h.session()
	h.send(id, text("hi"))
	evs := h.waitIdle(id, "end_turn", 0)
	want := "user.message,session.status_running,span.model_request_start,agent.message,span.model_request_end,session.status_idle"
	if got := typesOf(evs); got != want {
		t.Fatalf("log:\n got %s\nwant %s", got, want)
	}
	if evs[0].ProcessedAt == nil {
		t.Fatal("user.message not stamped processed")
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("seq %d at %d", e.Seq, i)
		}
	}
}

// A restarted engine rebuilds the conversation from the log, so
// the next turn sends the whole history to the model.
func TestConversationRebuiltAfterRestart(t *testing.T) {
	h := newHarness(t, modeltest.EchoRule)
	h.open()
	id := h.session()
	h.send(id, text("first"))
	h.waitIdle(id, "end_turn", 0)
	h.close()
	h.open()
	h.send(id, text("second"))
	h.waitIdle(id, "end_turn", 1)
	req, _ := h.fake.LastRequest()
	msgs := req.Input.Messages
	if len(msgs) != 3 || msgs[0].Role != model.RoleUser || msgs[1].Role != model.RoleAssistant || !strings.Contains(msgs[1].Content[0].Text, "echo: first") {
		t.Fatalf("history after restart = %+v", msgs)
	}
}

// Crash recovery: a session left running (its model request open)
// is rescheduled and finished on start, without losing or repeating events.
func TestRecoveryResumesRunningSession(t *testing.T) {
	h := newHarness(t, modeltest.EchoRule, modeltest.Turn{Content: []model.Block{model.Text("x")}, Stall: true})
	h.open()
	id := h.session()
	h.send(id, text("work"))
	// Wait until the upstream holds the request (the stalled turn is then
	// used up, and the resumed request gets an answer).
	deadline := time.Now().Add(5 * time.Second)
	for len(h.fake.Requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("model request never reached the upstream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Engine.Close leaves running sessions "running", as a crash would.
	h.close()
	h.open()
	evs := h.waitIdle(id, "end_turn", 0)
	got := typesOf(evs)
	want := "user.message,session.status_running,span.model_request_start,span.model_request_end,session.status_rescheduled,session.status_running,span.model_request_start,agent.message,span.model_request_end,session.status_idle"
	if got != want {
		t.Fatalf("log after recovery:\n got %s\nwant %s", got, want)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if seen[e.ID] {
			t.Fatalf("duplicate event %s", e.ID)
		}
		seen[e.ID] = true
	}
}

func dumpLog(t testing.TB, st store.Store, id string) {
	evs, _ := st.EventsSince(context.Background(), id, 0, 1000)
	for _, e := range evs {
		t.Logf("%d %s %s", e.Seq, e.Type, e.Data)
	}
}

// BenchmarkTurn is one whole message turn inside the engine (store, model
// provider against the fake upstream over loopback), without the API.
func BenchmarkTurn(b *testing.B) {
	t := &testing.T{}
	_ = t
	fake, err := modeltest.StartAnthropic(modeltest.Options{Rule: modeltest.EchoRule, MaxRecorded: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()
	mc, _ := model.Settings{Models: "*=anthropic:" + fake.URL}.Resolve(func(string) (string, bool) { return "", false })
	router, _ := providers.NewRouter(mc, providers.Options{})
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "h.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	broker := events.NewLocal(slog.Default())
	eng := engine.New(engine.Deps{Store: st, Models: router, Broker: broker}, engine.Options{})
	defer eng.Close()
	now := wire.Now()
	doc := wire.Session{ID: "sesn_b", Status: store.SessionIdle, CreatedAt: now, UpdatedAt: now, Agent: wire.SessionAgent{ID: "agent_x", Model: wire.ModelConfig{ID: "claude-b"}}}
	data, _ := json.Marshal(doc)
	if err := st.InsertSession(context.Background(), &store.Session{ID: "sesn_b", Workspace: ws, Status: store.SessionIdle, Data: data}); err != nil {
		b.Fatal(err)
	}
	sub := broker.Subscribe("sesn_b", events.SubscribeOptions{Buffer: 4096})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := eng.Send(context.Background(), ws, "sesn_b", []wire.EventPayload{text("hi")}, "", false); err != nil {
			b.Fatal(err)
		}
		for m := range sub.C() {
			if m.Type == wire.EventTypeSessionStatusIdle {
				break
			}
		}
	}
}

// Issue item 4: near the context limit the conversation is compacted (the
// model summarizes it, agent.thread_context_compacted is logged) and the
// next request carries the summary and the new input; the compaction
// survives a restart.
func TestCompaction(t *testing.T) {
	h := newHarness(t, modeltest.EchoRule,
		modeltest.Turn{Content: []model.Block{model.Text("first answer")}, Usage: model.Usage{InputTokens: 900, OutputTokens: 10}},
		modeltest.Text("SUMMARY: the user said first."),
		modeltest.Text("second answer"))
	h.opts = engine.Options{ContextWindow: 1000, CompactAt: 80}
	h.open()
	id := h.session()
	h.send(id, text("first"))
	h.waitIdle(id, "end_turn", 0)
	h.send(id, text("second"))
	evs := h.waitIdle(id, "end_turn", 1)
	if got := typesOf(evs); !strings.Contains(got, "session.status_running,agent.thread_context_compacted,span.model_request_start,agent.message") {
		t.Fatalf("log = %s", got)
	}
	reqs := h.fake.Requests()
	summaryReq, turnReq := reqs[1].Input, reqs[2].Input
	if len(summaryReq.Tools) != 0 || !strings.Contains(summaryReq.LastUserText(), "summary") {
		t.Fatalf("summary request = %+v", summaryReq)
	}
	first := turnReq.Messages[0]
	if first.Role != model.RoleUser || !strings.Contains(first.Content[0].Text, "SUMMARY: the user said first.") || turnReq.LastUserText() != "second" && !strings.Contains(fmt.Sprint(first.Content), "second") {
		t.Fatalf("request after compaction = %+v", turnReq.Messages)
	}
	h.close()
	h.open()
	h.send(id, text("third"))
	h.waitIdle(id, "end_turn", 2)
	last, _ := h.fake.LastRequest()
	if !strings.Contains(last.Input.Messages[0].Content[0].Text, "SUMMARY") {
		t.Fatalf("compaction lost across restart: %+v", last.Input.Messages)
	}
}
