package engine

import (
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/wire"
)

// The grader's answer is read strictly: exactly the JSON object its prompt
// asks for (alone or fenced), a known result, an explanation.
func TestParseVerdict(t *testing.T) {
	for _, tc := range []struct {
		name, in, result, err string
	}{
		{"plain", `{"result":"satisfied","explanation":"all met"}`, "satisfied", ""},
		{"fenced", "```json\n{\"result\":\"needs_revision\",\"explanation\":\"fix 2\"}\n```", "needs_revision", ""},
		{"failed", ` {"result":"failed","explanation":"rubric does not fit"} `, "failed", ""},
		{"prose", `I think it is satisfied.`, "", "not the JSON object"},
		{"unknown field", `{"result":"satisfied","explanation":"x","score":3}`, "", "unknown field"},
		{"trailing text", `{"result":"satisfied","explanation":"x"} done`, "", "text after"},
		{"server-only result", `{"result":"max_iterations_reached","explanation":"x"}`, "", "is not satisfied"},
		{"interrupted", `{"result":"interrupted","explanation":"x"}`, "", "is not satisfied"},
		{"no explanation", `{"result":"satisfied","explanation":"  "}`, "", "no explanation"},
	} {
		v, err := parseVerdict(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || v.Result != tc.result {
			t.Errorf("%s: %+v, %v", tc.name, v, err)
		}
	}
}

// The artifact's message part is the agent's text since its last input
// (task, feedback or message), tool traffic and placeholders aside.
func TestFinalMessages(t *testing.T) {
	c := &conversation{history: []model.Message{
		{Role: model.RoleUser, Content: []model.Block{model.Text("task")}},
		{Role: model.RoleAssistant, Content: []model.Block{model.Text("old draft")}},
		{Role: model.RoleUser, Content: []model.Block{model.Text("feedback")}},
		{Role: model.RoleAssistant, Content: []model.Block{model.Text("working"), model.ToolUse("t1", "bash", []byte(`{}`))}},
		{Role: model.RoleUser, Content: []model.Block{model.ToolResult("t1", "ok", false)}},
		{Role: model.RoleAssistant, Content: []model.Block{model.Text("new draft")}},
	}}
	if got := c.finalMessages(); got != "working\n\nnew draft" {
		t.Fatalf("finalMessages = %q", got)
	}
}

// The session's entry follows the logged events: evaluating at a start,
// the verdict at an end (terminal ones complete it). The grader's usage is
// counted as its requests end, not from the logged span.
func TestOutcomeDoc(t *testing.T) {
	var doc wire.Session
	at := wire.Now()
	outcomeDoc(&doc, wire.NewEvent(&wire.UserDefineOutcomeEvent{OutcomeID: "outc_1", Description: "d"}), at)
	if len(doc.OutcomeEvaluations) != 1 || doc.OutcomeEvaluations[0].Result != wire.OutcomePending {
		t.Fatalf("after define: %+v", doc.OutcomeEvaluations)
	}
	outcomeDoc(&doc, wire.NewEvent(&wire.SpanOutcomeEvaluationStartEvent{OutcomeID: "outc_1", Iteration: 0}), at)
	if doc.OutcomeEvaluations[0].Result != wire.OutcomeEvaluating {
		t.Fatalf("after start: %+v", doc.OutcomeEvaluations)
	}
	outcomeDoc(&doc, wire.NewEvent(&wire.SpanOutcomeEvaluationEndEvent{OutcomeID: "outc_1", Result: wire.OutcomeNeedsRevision, Explanation: "e", Usage: wire.SpanModelUsage{InputTokens: 5}}), at)
	if o := doc.OutcomeEvaluations[0]; o.Result != wire.OutcomeNeedsRevision || o.CompletedAt != nil || *o.Explanation != "e" || doc.Usage.InputTokens != 0 {
		t.Fatalf("after needs_revision: %+v", o)
	}
	outcomeDoc(&doc, wire.NewEvent(&wire.SpanOutcomeEvaluationEndEvent{OutcomeID: "outc_1", Iteration: 1, Result: wire.OutcomeSatisfied, Explanation: "ok", Usage: wire.SpanModelUsage{InputTokens: 5}}), at)
	if o := doc.OutcomeEvaluations[0]; o.Result != wire.OutcomeSatisfied || o.CompletedAt == nil || o.Iteration != 1 || doc.Usage.InputTokens != 0 {
		t.Fatalf("after satisfied: %+v", o)
	}
}
