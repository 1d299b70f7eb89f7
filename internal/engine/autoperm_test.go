package engine_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

var autoBash = wire.AgentTool{Toolset: &wire.AgentToolset{Type: wire.ToolTypeAgentToolset, Configs: []wire.AgentToolConfig{
	{Name: "bash", Type: "bash", Enabled: true, PermissionPolicy: wire.PermissionPolicy{Type: "auto"}}}}}

func verdictTurn(decision string) modeltest.Turn {
	return modeltest.ToolCall("", "record_verdict", map[string]any{"decision": decision, "reason": "because"})
}

// toolUses are the logged agent.tool_use events.
func toolUses(t *testing.T, evs []store.Event) []wire.AgentToolUseEvent {
	t.Helper()
	var out []wire.AgentToolUseEvent
	for _, e := range evs {
		if e.Type == wire.EventTypeAgentToolUse {
			var u wire.AgentToolUseEvent
			if err := json.Unmarshal(e.Data, &u); err != nil {
				t.Fatal(err)
			}
			out = append(out, u)
		}
	}
	return out
}

// A server stopped while a call is being judged logs no unjudged call: on
// restart the model request is made again and its call judged again; the
// denied call never runs.
func TestAutoJudgedAgainAfterRestart(t *testing.T) {
	h := newHarness(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "touch x"}),
		modeltest.Turn{Content: []model.Block{model.Text("x")}, Stall: true},
		modeltest.ToolCall("", "bash", map[string]any{"command": "touch x"}),
		verdictTurn("deny"),
		modeltest.Text("Understood."))
	h.open()
	id := h.session(autoBash)
	h.send(id, text("work"))
	for deadline := time.Now().Add(10 * time.Second); len(h.fake.Requests()) < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the classifier's request never reached the upstream")
		}
	}
	h.close()
	h.open()
	evs := h.waitIdle(id, "end_turn", 0)
	// One call in the log: the one judged after the restart (the first
	// was never logged without its verdict).
	uses := toolUses(t, evs)
	if len(uses) != 1 || uses[0].EvaluatedPermission != wire.PermissionDeny || uses[0].Evaluation.ReasonCode != wire.ReasonHighRisk {
		dumpLog(t, h.st, id)
		t.Fatalf("calls after restart: %+v", uses)
	}
	var results []string
	for _, e := range evs {
		if e.Type == wire.EventTypeAgentToolResult {
			results = append(results, string(e.Data))
		}
	}
	if len(results) != 1 || !strings.Contains(results[0], "high risk") {
		t.Fatalf("results: %v", results)
	}
}

// A classifier that does not answer in time leaves the call held.
func TestAutoTimeoutHolds(t *testing.T) {
	h := newHarness(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "echo hi"}),
		modeltest.Turn{Content: []model.Block{model.Text("x")}, Stall: true})
	h.opts.AutoTimeout = 50 * time.Millisecond
	h.open()
	id := h.session(autoBash)
	h.send(id, text("work"))
	evs := h.waitIdle(id, "requires_action", 0)
	uses := toolUses(t, evs)
	if len(uses) != 1 || uses[0].EvaluatedPermission != wire.PermissionAsk || uses[0].Evaluation.Type != wire.PolicyAuto || uses[0].Evaluation.ReasonCode != wire.ReasonIndeterminate {
		t.Fatalf("calls: %+v", uses)
	}
}

// A denied call stays denied when the session is rebuilt from its log: it
// is closed by its logged error result, never run.
func TestAutoDenialSurvivesRestart(t *testing.T) {
	h := newHarness(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "touch x"}),
		verdictTurn("deny"),
		modeltest.Text("Understood."),
		modeltest.Text("Again."))
	h.opts.AutoModel = "claude-judge"
	h.open()
	id := h.session(autoBash)
	h.send(id, text("work"))
	h.waitIdle(id, "end_turn", 0)
	if reqs := h.fake.Requests(); len(reqs) != 3 || reqs[1].Input.Model != "claude-judge" {
		t.Fatalf("the classifier did not use the configured model")
	}
	h.close()
	h.open()
	h.send(id, text("more"))
	evs := h.waitIdle(id, "end_turn", 1)
	req, _ := h.fake.LastRequest()
	var denial string
	for _, m := range req.Input.Messages {
		for _, b := range m.Content {
			if b.Type == model.BlockToolResult {
				denial = b.Content[0].Text
			}
		}
	}
	if !strings.Contains(denial, "high risk") {
		t.Fatalf("history after restart lacks the denial: %+v", req.Input.Messages)
	}
	n := 0
	for _, e := range evs {
		if e.Type == wire.EventTypeAgentToolResult {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d tool results after restart", n)
	}
}

// BenchmarkAutoTurn is one whole turn with one bash call inside the engine
// (store, provider against the fake upstream over loopback), under
// always_allow and under auto with an instant classifier that allows: the
// difference of the medians is what the judgement adds, its model request
// over loopback included. Without a sandbox, the call's result is an
// error at once, so the tool adds no time of its own.
func BenchmarkAutoTurn(b *testing.B) {
	for _, policy := range []string{"always_allow", "auto"} {
		b.Run(policy, func(b *testing.B) {
			h := newHarnessOn(b, modeltest.NewAnthropic(b, modeltest.Options{MaxRecorded: 1, Rule: func(in modeltest.Input) modeltest.Turn {
				switch {
				case strings.Contains(in.System, "You are the permission classifier"):
					return verdictTurn("allow")
				case len(in.ToolResults()) > 0:
					return modeltest.Text("done")
				}
				return modeltest.ToolCall("", "bash", map[string]any{"command": "make"})
			}}))
			h.open()
			tool := wire.AgentTool{Toolset: &wire.AgentToolset{Type: wire.ToolTypeAgentToolset, Configs: []wire.AgentToolConfig{
				{Name: "bash", Type: "bash", Enabled: true, PermissionPolicy: wire.PermissionPolicy{Type: policy}}}}}
			id := h.session(tool)
			sub := h.broker.Subscribe(id, events.SubscribeOptions{Buffer: 4096})
			ds := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				h.send(id, text("build it"))
				for m := range sub.C() {
					if m.Type == wire.EventTypeSessionStatusIdle {
						break
					}
				}
				ds = append(ds, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
		})
	}
}

// Several auto calls of one response are judged each on its own, and each
// verdict goes to its call.
func TestAutoSeveralCalls(t *testing.T) {
	h := newHarness(t, func(in modeltest.Input) modeltest.Turn {
		switch {
		case strings.Contains(in.System, "You are the permission classifier"):
			if strings.Contains(in.LastUserText(), "rm -rf") {
				return verdictTurn("deny")
			}
			return verdictTurn("allow")
		case len(in.ToolResults()) > 0:
			return modeltest.Text("done")
		}
		return modeltest.Turn{Content: []model.Block{
			model.ToolUse("", "bash", json.RawMessage(`{"command":"echo one"}`)),
			model.ToolUse("", "bash", json.RawMessage(`{"command":"rm -rf /"}`)),
			model.ToolUse("", "bash", json.RawMessage(`{"command":"echo three"}`)),
		}}
	})
	h.open()
	id := h.session(autoBash)
	h.send(id, text("work"))
	evs := h.waitIdle(id, "end_turn", 0)
	uses := toolUses(t, evs)
	if len(uses) != 3 {
		t.Fatalf("%d calls", len(uses))
	}
	for i, want := range []string{wire.PermissionAllow, wire.PermissionDeny, wire.PermissionAllow} {
		if uses[i].EvaluatedPermission != want || uses[i].Evaluation.Permission != want {
			t.Fatalf("call %d (%s): %s", i, uses[i].Input, uses[i].EvaluatedPermission)
		}
	}
	req, _ := h.fake.LastRequest()
	results := req.Input.ToolResults()
	if len(results) != 3 || !strings.Contains(results[1].Content[0].Text, "high risk") || strings.Contains(results[0].Content[0].Text, "high risk") {
		t.Fatalf("results given to the model: %+v", results)
	}
}
