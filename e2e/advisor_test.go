package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
)

const advisorModel = "claude-advisor-1"

// advisorRule answers the advisor's model with advice (or, when the
// conversation asks for it, a failure), and the agent's model by calling
// the advisor when it is offered, then reporting the call's result.
func advisorRule(in modeltest.Input) modeltest.Turn {
	if in.Model == advisorModel {
		if strings.Contains(in.LastUserText(), "FAIL THE ADVISOR") {
			return modeltest.Fail(400, "invalid_request_error", "the advisor is unavailable")
		}
		return modeltest.Turn{Content: []model.Block{model.Text("ADVICE: read the tests first.")}, Usage: model.Usage{InputTokens: 1000, OutputTokens: 200}}
	}
	if res := in.ToolResults(); len(res) > 0 {
		var sb strings.Builder
		for _, c := range res[0].Content {
			sb.WriteString(c.Text)
		}
		return modeltest.Turn{Content: []model.Block{model.Text(fmt.Sprintf("result (error %v): %s", res[0].IsError, sb.String()))}, Usage: model.Usage{InputTokens: 10, OutputTokens: 2}}
	}
	if in.HasTool("advisor") {
		return modeltest.Turn{Content: []model.Block{model.ToolUse("", "advisor", []byte(`{}`))}, Usage: model.Usage{InputTokens: 10, OutputTokens: 2}}
	}
	return modeltest.Turn{Content: []model.Block{model.Text("no advisor here")}, Usage: model.Usage{InputTokens: 10, OutputTokens: 2}}
}

// An agent whose multiagent configuration enables the advisor gives its
// session's model an advisor tool; a call consults the advisor's model with
// the conversation so far, the advice is the call's result, and the
// consultation shows on the stream as a thread of its own (no
// agent.tool_use): created, running, its model-request span, the advice
// received, terminated. Its usage counts toward the session's. An agent
// without the advisor offers no such tool.
func TestAdvisorConsultation(t *testing.T) {
	l := newLoop(t, advisorRule)
	ctx := context.Background()

	plain := l.session(l.agent(map[string]any{}))
	pcol := l.stream(plain)
	l.send(plain, userMessage("hi"))
	if idle, _ := pcol.waitType(t, 0, "session.status_idle"); idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	if req, _ := l.fake.LastRequest(); req.Input.HasTool("advisor") {
		t.Fatal("the advisor tool is offered to an agent without an advisor")
	}

	agentID := l.agent(map[string]any{"system": "You fix builds.", "multiagent": map[string]any{
		"type": "multiagent_20261001", "advisor": map[string]any{"type": "enabled", "model": advisorModel},
	}})
	sid := l.session(agentID)
	col := l.stream(sid)
	l.send(sid, userMessage("the build is red"))
	idle, _ := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	got := types(col.snapshot())
	want := "session.thread_created, span.model_request_end, session.thread_status_running, span.model_request_start, span.model_request_end, agent.thread_message_received, session.thread_status_terminated, span.model_request_start, agent.message"
	if !strings.Contains(got, want) || strings.Contains(got, "agent.tool_use") || strings.Contains(got, "agent.tool_result") {
		t.Fatalf("stream:\n got %s\nwant it to contain %s and no agent.tool_use/tool_result", got, want)
	}

	var thread string
	for _, e := range col.snapshot() {
		switch e.Type {
		case "session.thread_created":
			thread = e.SessionThreadID
			if e.AgentName != "advisor" || !strings.HasPrefix(thread, "sthr_") {
				t.Fatalf("thread_created = %s", e.RawJSON())
			}
		case "agent.thread_message_received":
			m := e.AsAgentThreadMessageReceived()
			if m.FromSessionThreadID != thread || m.FromAgentName != "advisor" || len(m.Content) != 1 || m.Content[0].Text != "ADVICE: read the tests first." {
				t.Fatalf("thread_message_received = %s", e.RawJSON())
			}
		case "session.thread_status_terminated":
			if e.SessionThreadID != thread {
				t.Fatalf("thread_status_terminated = %s", e.RawJSON())
			}
		case "agent.message":
			if !strings.Contains(e.RawJSON(), "result (error false): ADVICE: read the tests first.") {
				t.Fatalf("the advice did not reach the model as the call's result: %s", e.RawJSON())
			}
		}
	}

	// The consultation is one of the session's threads, ended.
	th, err := l.c.Beta.Sessions.Threads.Get(context.Background(), thread, anthropic.BetaSessionThreadGetParams{SessionID: sid})
	if err != nil {
		t.Fatal(err)
	}
	if th.Status != "terminated" || th.Agent.Type != "advisor" || th.Agent.AsAdvisor().Model != advisorModel || th.ParentThreadID == "" {
		t.Fatalf("advisor thread = %s", th.RawJSON())
	}
	if _, err := l.c.Beta.Sessions.Threads.Archive(context.Background(), thread, anthropic.BetaSessionThreadArchiveParams{SessionID: sid}); err == nil || !strings.Contains(err.Error(), "cannot be archived") {
		t.Fatalf("archiving the advisor's thread: %v", err)
	}
	list, err := l.c.Beta.Sessions.Threads.List(context.Background(), sid, anthropic.BetaSessionThreadListParams{})
	if err != nil || len(list.Data) != 2 || list.Data[1].ID != thread {
		t.Fatalf("threads = %+v, %v", list, err)
	}

	// The advisor's request: its model, no tools, the conversation so far.
	var adv *modeltest.Input
	for _, r := range l.fake.Requests() {
		if r.Input.Model == advisorModel {
			in := r.Input
			adv = &in
		}
	}
	if adv == nil || len(adv.Tools) != 0 || !strings.Contains(adv.LastUserText(), "the build is red") || !strings.Contains(adv.LastUserText(), "You fix builds.") {
		t.Fatalf("advisor request = %+v", adv)
	}

	// The list has the same thread events.
	if h := types(l.history(sid, "session.thread_created", "agent.thread_message_received", "session.thread_status_terminated")); h != "session.thread_created, agent.thread_message_received, session.thread_status_terminated" {
		t.Fatalf("history = %s", h)
	}

	s, err := l.c.Beta.Sessions.Get(ctx, sid, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Usage.InputTokens != 1020 || s.Usage.OutputTokens != 204 {
		t.Fatalf("session usage = %d in, %d out; want the advisor's counted (1020, 204)", s.Usage.InputTokens, s.Usage.OutputTokens)
	}
}

// When the advisor's model fails, the call's result is an error the agent's
// model reads, the consultation's thread still ends, and the turn ends
// normally: no session.error.
func TestAdvisorFailure(t *testing.T) {
	l := newLoop(t, advisorRule)
	sid := l.session(l.agent(map[string]any{"multiagent": map[string]any{
		"type": "multiagent_20261001", "advisor": map[string]any{"type": "enabled", "model": advisorModel},
	}}))
	col := l.stream(sid)
	l.send(sid, userMessage("FAIL THE ADVISOR"))
	idle, _ := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	got := types(col.snapshot())
	want := "session.thread_status_running, span.model_request_start, span.model_request_end, session.thread_status_terminated, span.model_request_start, agent.message"
	if !strings.Contains(got, want) || strings.Contains(got, "session.error") || strings.Contains(got, "agent.thread_message_received") {
		t.Fatalf("stream:\n got %s\nwant it to contain %s and no session.error", got, want)
	}
	for _, e := range col.snapshot() {
		if e.Type == "agent.message" && !strings.Contains(e.RawJSON(), "result (error true): The advisor could not be consulted") {
			t.Fatalf("agent.message = %s", e.RawJSON())
		}
	}
	spans := l.history(sid, "span.model_request_end")
	if len(spans) != 3 || raw(spans[1])["is_error"] != true {
		t.Fatalf("span ends = %s / advisor's %s", types(spans), spans[1].RawJSON())
	}
}
