package engine_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// advisorSession inserts a session whose agent has the given multiagent
// configuration (raw JSON, "" for none).
func (h *harness) advisorSession(name, multiagent string) string {
	h.t.Helper()
	now := wire.Now()
	id := "sesn_" + strings.ReplaceAll(name, "/", "_")
	agent := wire.SessionAgent{ID: "agent_x", Name: "a", Model: wire.ModelConfig{ID: "claude-test"}}
	if multiagent != "" {
		agent.Multiagent = json.RawMessage(multiagent)
	}
	doc := wire.Session{ID: id, Status: store.SessionIdle, CreatedAt: now, UpdatedAt: now, EnvironmentID: "env_x", Agent: agent}
	data, _ := json.Marshal(doc)
	if err := h.st.InsertSession(context.Background(), &store.Session{ID: id, Workspace: ws, AgentID: "agent_x", AgentVersion: 1, EnvironmentID: "env_x", Status: store.SessionIdle, Data: data}); err != nil {
		h.t.Fatal(err)
	}
	return id
}

const advisorOn = `{"type":"multiagent_20261001","advisor":{"type":"enabled","model":"claude-advisor"},"subagents":{"type":"disabled"},"workflows":{"type":"disabled"}}`

// The advisor tool is offered to the primary model only when the agent
// enables the advisor.
func TestAdvisorToolOfferedOnlyWhenEnabled(t *testing.T) {
	h := newHarness(t, modeltest.EchoRule)
	h.open()
	for _, tc := range []struct {
		name, multiagent string
		want             bool
	}{
		{"none", "", false},
		{"disabled", `{"type":"multiagent_20261001","advisor":{"type":"disabled"},"subagents":{"type":"disabled"},"workflows":{"type":"disabled"}}`, false},
		{"enabled", advisorOn, true},
		{"roster", `{"type":"coordinator","agents":[{"type":"advisor","model":"claude-advisor"}]}`, true},
	} {
		id := h.advisorSession(t.Name()+"_"+tc.name, tc.multiagent)
		h.send(id, text("hi"))
		h.waitIdle(id, "end_turn", 0)
		req, _ := h.fake.LastRequest()
		if got := req.Input.HasTool("advisor"); got != tc.want {
			t.Errorf("%s: advisor offered = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A call consults the advisor's model with the conversation so far; its
// answer is the call's result, the consultation is logged as a thread of
// its own (no agent.tool_use), and its usage counts toward the session's.
// A restarted engine rebuilds the call and its result.
func TestAdvisorConsultation(t *testing.T) {
	h := newHarness(t, modeltest.EchoRule,
		modeltest.Turn{Content: []model.Block{model.Text("Let me ask."), model.ToolUse("", "advisor", json.RawMessage(`{}`))}, Usage: model.Usage{InputTokens: 10, OutputTokens: 5}},
		modeltest.Turn{Content: []model.Block{model.Text("ADVICE: check the tests first.")}, Usage: model.Usage{InputTokens: 1000, OutputTokens: 200}},
		modeltest.Turn{Content: []model.Block{model.Text("done")}, Usage: model.Usage{InputTokens: 20, OutputTokens: 3}},
	)
	h.open()
	id := h.advisorSession(t.Name(), advisorOn)
	h.send(id, text("fix the build"))
	evs := h.waitIdle(id, "end_turn", 0)
	want := "user.message,session.status_running,span.model_request_start,agent.message,session.thread_created,span.model_request_end," +
		"session.thread_status_running,span.model_request_start,span.model_request_end,agent.thread_message_received,session.thread_status_terminated," +
		"span.model_request_start,agent.message,span.model_request_end,session.status_idle"
	if got := typesOf(evs); got != want {
		t.Fatalf("log:\n got %s\nwant %s", got, want)
	}
	var created wire.SessionThreadCreatedEvent
	var received wire.AgentThreadMessageReceivedEvent
	for _, e := range evs {
		switch e.Type {
		case wire.EventTypeSessionThreadCreated:
			_ = json.Unmarshal(e.Data, &created)
		case wire.EventTypeAgentThreadMessageReceived:
			_ = json.Unmarshal(e.Data, &received)
		}
	}
	if created.AgentName != "advisor" || !strings.HasPrefix(created.SessionThreadID, "sthr_") {
		t.Fatalf("thread_created = %+v", created)
	}
	if received.FromSessionThreadID != created.SessionThreadID || len(received.Content) != 1 || received.Content[0].Text != "ADVICE: check the tests first." {
		t.Fatalf("thread_message_received = %+v", received)
	}

	reqs := h.fake.Requests()
	adv := reqs[1].Input
	if adv.Model != "claude-advisor" || len(adv.Tools) != 0 || !strings.Contains(adv.System, "advisor") {
		t.Fatalf("advisor request: model %q, %d tools, system %q", adv.Model, len(adv.Tools), adv.System)
	}
	if !strings.Contains(adv.LastUserText(), "fix the build") || !strings.Contains(adv.LastUserText(), "Let me ask.") {
		t.Fatalf("advisor did not get the conversation: %q", adv.LastUserText())
	}
	res := reqs[2].Input.ToolResults()
	if len(res) != 1 || res[0].IsError || !strings.Contains(res[0].Content[0].Text, "ADVICE: check the tests first.") {
		t.Fatalf("tool results after the consultation = %+v", res)
	}

	sess, err := h.st.GetSession(context.Background(), ws, id)
	if err != nil {
		t.Fatal(err)
	}
	var doc wire.Session
	_ = json.Unmarshal(sess.Data, &doc)
	if doc.Usage.InputTokens != 1030 || doc.Usage.OutputTokens != 208 {
		t.Fatalf("session usage = %d in, %d out; want the advisor's counted (1030, 208)", doc.Usage.InputTokens, doc.Usage.OutputTokens)
	}

	// The rebuilt conversation has the call and its answer.
	h.close()
	h.open()
	h.send(id, text("thanks"))
	h.waitIdle(id, "end_turn", 1)
	last, _ := h.fake.LastRequest()
	msgs := last.Input.Messages
	if len(msgs) != 5 {
		t.Fatalf("history after restart: %d messages: %+v", len(msgs), msgs)
	}
	if msgs[1].Content[1].Type != model.BlockToolUse || msgs[1].Content[1].Name != "advisor" ||
		msgs[2].Content[0].Type != model.BlockToolResult || !strings.Contains(msgs[2].Content[0].Content[0].Text, "ADVICE") {
		t.Fatalf("history after restart = %+v", msgs)
	}
}

// A failed advisor request is an error result for the primary model,
// which goes on; the session reports no error and ends its turn.
func TestAdvisorFailureIsToolError(t *testing.T) {
	h := newHarness(t, modeltest.EchoRule,
		modeltest.ToolCall("", "advisor", map[string]any{}),
		modeltest.Fail(400, "invalid_request_error", "no such model: claude-advisor"),
		modeltest.Text("carrying on"),
	)
	h.open()
	id := h.advisorSession(t.Name(), advisorOn)
	h.send(id, text("go"))
	evs := h.waitIdle(id, "end_turn", 0)
	got := typesOf(evs)
	want := "user.message,session.status_running,span.model_request_start,session.thread_created,span.model_request_end," +
		"session.thread_status_running,span.model_request_start,span.model_request_end,session.thread_status_terminated," +
		"span.model_request_start,agent.message,span.model_request_end,session.status_idle"
	if got != want {
		t.Fatalf("log:\n got %s\nwant %s", got, want)
	}
	var end wire.SpanModelRequestEndEvent
	_ = json.Unmarshal(evs[7].Data, &end)
	if end.IsError == nil || !*end.IsError {
		t.Fatalf("advisor span end = %s", evs[7].Data)
	}
	res := h.fake.Requests()[2].Input.ToolResults()
	if len(res) != 1 || !res[0].IsError || !strings.Contains(res[0].Content[0].Text, "advisor could not be consulted") {
		t.Fatalf("tool results after the failure = %+v", res)
	}
}

// An interrupt during the consultation cancels the advisor's request and
// ends its thread, which answers the call (no agent.tool_result is logged
// for it); the session takes new input, and the model sees the call
// answered with an error.
func TestAdvisorInterrupted(t *testing.T) {
	h := newHarness(t, modeltest.EchoRule,
		modeltest.ToolCall("", "advisor", map[string]any{}),
		modeltest.Turn{Content: []model.Block{model.Text("never finished")}, Stall: true},
	)
	h.open()
	id := h.advisorSession(t.Name(), advisorOn)
	h.send(id, text("go"))
	for deadline := time.Now().Add(10 * time.Second); len(h.fake.Requests()) < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the advisor request never reached the upstream")
		}
	}
	h.send(id, &wire.UserInterruptEvent{})
	evs := h.waitIdle(id, "end_turn", 0)
	if got := typesOf(evs); !strings.HasSuffix(got, "session.thread_status_running,span.model_request_start,user.interrupt,span.model_request_end,session.thread_status_terminated,session.status_idle") {
		t.Fatalf("log = %s", got)
	}
	h.send(id, text("again"))
	h.waitIdle(id, "end_turn", 1)
	last, _ := h.fake.LastRequest()
	msgs := last.Input.Messages
	if len(msgs) < 3 || msgs[1].Content[0].Name != "advisor" || msgs[2].Content[0].Type != model.BlockToolResult || !msgs[2].Content[0].IsError {
		t.Fatalf("conversation after the interrupt = %+v", msgs)
	}
}
