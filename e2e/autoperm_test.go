package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
)

// The auto permission policy: each call is judged by a classifier model
// request, which the fake model tells apart by its system prompt.

// classifierMarker opens the classifier's system prompt.
const classifierMarker = "You are the permission classifier"

// classifierTokens is the input usage every scripted verdict reports, so
// that the session's usage can be checked to include it.
const classifierTokens = 1000

// verdict is the classifier's answer: its record_verdict call.
func verdict(decision, reason string) modeltest.Turn {
	t := modeltest.ToolCall("", "record_verdict", map[string]any{"decision": decision, "reason": reason})
	t.Usage = model.Usage{InputTokens: classifierTokens, OutputTokens: 20}
	return t
}

// isClassifier reports whether a recorded request is the classifier's.
func isClassifier(in modeltest.Input) bool { return strings.Contains(in.System, classifierMarker) }

func autoAgent(l *loop) string {
	return l.agent(map[string]any{"tools": []any{map[string]any{
		"type": "agent_toolset_20260401", "default_config": map[string]any{"permission_policy": map[string]any{"type": "auto"}},
	}}})
}

// checkAuto asserts, through the SDK's types, a tool use's auto verdict.
func checkAuto(t *testing.T, e anthropic.BetaManagedAgentsStreamSessionEventsUnion, perm, reason string) {
	t.Helper()
	auto, ok := e.Evaluation.AsAny().(anthropic.BetaManagedAgentsAgentToolEvaluationAuto)
	if string(e.EvaluatedPermission) != perm || !ok || auto.EvaluatedPermission.Type != perm {
		t.Fatalf("tool use not judged %s by its auto policy: %s", perm, e.RawJSON())
	}
	switch v := auto.EvaluatedPermission.AsAny().(type) {
	case anthropic.BetaManagedAgentsAgentAutoEvaluatedPermissionAllow:
		if _, has := raw(e)["evaluation"].(map[string]any)["evaluated_permission"].(map[string]any)["reason_code"]; has {
			t.Fatalf("allow carries a reason code: %s", e.RawJSON())
		}
	case anthropic.BetaManagedAgentsAgentAutoEvaluatedPermissionDeny:
		if v.ReasonCode != reason {
			t.Fatalf("deny reason = %s", e.RawJSON())
		}
	case anthropic.BetaManagedAgentsAgentAutoEvaluatedPermissionAsk:
		if v.ReasonCode != reason {
			t.Fatalf("ask reason = %s", e.RawJSON())
		}
	default:
		t.Fatalf("evaluation = %s", e.RawJSON())
	}
}

func endTurn(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
	return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
}

// An allowed call runs at once; a denied one never runs (its side effect
// does not happen), the agent gets an error result saying why and carries
// on. The classifier is asked about the call in its context, on the
// agent's model, and its tokens count toward the session's usage.
func TestAutoPermissionAllowAndDeny(t *testing.T) {
	l := newLoop(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "echo auto-run"}),
		verdict("allow", "prints text"),
		modeltest.Text("Done."),
		modeltest.ToolCall("", "bash", map[string]any{"command": "touch denied-marker"}),
		verdict("deny", "creates a file the user did not ask for"),
		modeltest.Text("Understood."),
		modeltest.ToolCall("", "bash", map[string]any{"command": "test -e denied-marker && echo PRESENT || echo ABSENT"}),
		verdict("allow", "read-only check"),
		modeltest.Text("Checked."))
	sid := l.session(autoAgent(l))
	col := l.stream(sid)
	l.send(sid, userMessage("run it"))

	use, _ := col.waitType(t, 0, "agent.tool_use")
	checkAuto(t, use, "allow", "")
	res, _ := col.waitType(t, 0, "agent.tool_result")
	if raw(res)["tool_use_id"] != use.ID || !strings.Contains(res.RawJSON(), "auto-run") || raw(res)["is_error"] == true {
		t.Fatalf("tool_result = %s", res.RawJSON())
	}
	_, at := col.waitFor(t, 0, "end_turn", endTurn)
	for _, e := range col.snapshot()[:at] {
		if e.Type == "session.status_idle" && e.StopReason.Type == "requires_action" {
			t.Fatal("an allowed call waited for confirmation")
		}
	}
	// The classifier's request: Hangar's prompt, the call in its context,
	// the agent's model, and a forced verdict call.
	reqs := l.fake.Requests()
	if len(reqs) != 3 || !isClassifier(reqs[1].Input) || isClassifier(reqs[0].Input) {
		t.Fatalf("requests: %d, classifier second: %v", len(reqs), len(reqs) > 1 && isClassifier(reqs[1].Input))
	}
	cls := reqs[1]
	body := blocksText(cls.Input.Messages[0].Content)
	if cls.Input.Model != "claude-test-1" || !strings.Contains(body, "run it") || !strings.Contains(body, "tool: bash") || !strings.Contains(body, `echo auto-run`) {
		t.Fatalf("classifier request: model %q, body %s", cls.Input.Model, body)
	}
	if tc, _ := cls.JSON()["tool_choice"].(map[string]any); tc["type"] != "tool" || tc["name"] != "record_verdict" {
		t.Fatalf("classifier tool_choice = %v", cls.JSON()["tool_choice"])
	}
	// A forced tool call cannot be combined with extended thinking.
	if th, _ := cls.JSON()["thinking"].(map[string]any); th["type"] != "disabled" {
		t.Fatalf("classifier thinking = %v", cls.JSON()["thinking"])
	}

	l.send(sid, userMessage("now touch a file"))
	use2, _ := col.waitFor(t, at, "second tool_use", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.tool_use" && e.ID != use.ID
	})
	checkAuto(t, use2, "deny", "high_risk")
	res2, _ := col.waitFor(t, at, "the denial", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.tool_result" && raw(e)["tool_use_id"] == use2.ID
	})
	if raw(res2)["is_error"] != true || !strings.Contains(res2.RawJSON(), "high risk") || !strings.Contains(res2.RawJSON(), "creates a file the user did not ask for") {
		t.Fatalf("denial result = %s", res2.RawJSON())
	}
	_, at = col.waitFor(t, at+1, "end_turn after the denial", endTurn)
	req, _ := l.fake.LastRequest()
	results := req.Input.ToolResults()
	if len(results) != 1 || !results[0].IsError || results[0].ToolUseID != use2.ID || !strings.Contains(blocksText(results[0].Content), "high risk") {
		t.Fatalf("the agent was not given the denial: %+v", results)
	}
	for _, e := range col.snapshot() {
		if e.Type == "session.status_idle" && e.StopReason.Type == "requires_action" {
			t.Fatal("a denied call waited for confirmation")
		}
	}

	// The denied command never ran: its file is not there.
	l.send(sid, userMessage("is the file there?"))
	res3, _ := col.waitFor(t, at, "the check's result", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.tool_result" && (strings.Contains(e.RawJSON(), "ABSENT") || strings.Contains(e.RawJSON(), "PRESENT"))
	})
	if !strings.Contains(res3.RawJSON(), "ABSENT") {
		t.Fatalf("the denied command ran: %s", res3.RawJSON())
	}
	col.waitFor(t, at+1, "end_turn after the check", endTurn)

	// The logged events say the same, and the usage counts the three
	// verdicts besides the agent's own requests.
	for _, e := range l.history(sid, "agent.tool_use") {
		if e.ID == use2.ID && e.EvaluatedPermission != "deny" {
			t.Fatalf("logged denial = %s", e.RawJSON())
		}
	}
	var spans int64
	for _, e := range l.history(sid, "span.model_request_end") {
		spans += e.ModelUsage.InputTokens
	}
	sess, err := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if sess.Usage.InputTokens != spans+3*classifierTokens {
		t.Fatalf("session input tokens %d, want the spans' %d + the classifier's %d", sess.Usage.InputTokens, spans, 3*classifierTokens)
	}
}

// An ask verdict holds the call until the user confirms it; so do a
// classifier that fails and one whose answer does not parse: the call is
// held, never run unjudged.
func TestAutoPermissionAskAndClassifierFailures(t *testing.T) {
	garbled := modeltest.Text(`{"decision":"allow"}`)
	l := newLoop(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "echo asked-run"}),
		verdict("ask", "pushes to a remote"),
		modeltest.Text("Done."),
		modeltest.ToolCall("", "bash", map[string]any{"command": "echo outage-run > outage-marker"}),
		modeltest.Fail(529, "overloaded_error", "Overloaded"),
		modeltest.Text("Fine."),
		modeltest.ToolCall("", "bash", map[string]any{"command": "echo garbled-run"}),
		garbled,
		modeltest.Text("Ran it."))
	sid := l.session(autoAgent(l))
	col := l.stream(sid)
	at := 0
	for i, step := range []struct {
		ask, want string
		allow     bool
	}{
		{"run it", "asked-run", true},
		{"again", "", false},
		{"third", "garbled-run", true},
	} {
		l.send(sid, userMessage(step.ask))
		use, _ := col.waitFor(t, at, fmt.Sprintf("tool use %d", i), func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool { return e.Type == "agent.tool_use" })
		checkAuto(t, use, "ask", "indeterminate")
		idle, next := col.waitFor(t, at, "requires_action", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
			return e.Type == "session.status_idle"
		})
		if idle.StopReason.Type != "requires_action" || len(idle.StopReason.EventIDs) != 1 || idle.StopReason.EventIDs[0] != use.ID {
			t.Fatalf("step %d: idle = %s", i, idle.RawJSON())
		}
		for _, e := range col.snapshot()[at:] {
			if e.Type == "agent.tool_result" {
				t.Fatalf("step %d: a held call ran: %s", i, e.RawJSON())
			}
		}
		l.send(sid, confirm(use.ID, step.allow, "not now"))
		if step.allow {
			res, _ := col.waitType(t, next, "agent.tool_result")
			if !strings.Contains(res.RawJSON(), step.want) || raw(res)["is_error"] == true {
				t.Fatalf("step %d: result = %s", i, res.RawJSON())
			}
		}
		_, at = col.waitFor(t, next, "end_turn", endTurn)
		at++
	}
}

// autoMCPSession starts a session whose agent has an MCP weather tool under
// the auto policy, the classifier answering with v, and asks it for the
// weather in Bergen.
func autoMCPSession(t *testing.T, v modeltest.Turn) (*loop, string, *collector) {
	t.Helper()
	const token = "mcp-auto-token"
	url := mcpServer(t, token)
	l := newLoop(t, nil,
		modeltest.ToolCall("", "forecast", map[string]any{"city": "Bergen"}),
		v,
		modeltest.Text("Rain, probably."))
	vaultID, _ := l.vault(map[string]any{"type": "static_bearer", "token": token, "mcp_server_url": url})
	agentID := l.agent(map[string]any{
		"mcp_servers": []any{map[string]any{"type": "url", "name": "weather", "url": url}},
		"tools":       []any{map[string]any{"type": "mcp_toolset", "mcp_server_name": "weather", "default_config": map[string]any{"permission_policy": map[string]any{"type": "auto"}}}},
	})
	sid := l.session(agentID, vaultID)
	col := l.stream(sid)
	l.send(sid, userMessage("weather in Bergen?"))
	return l, sid, col
}

// An MCP tool under auto is judged the same way: allowed, it runs without
// confirmation.
func TestAutoPermissionMCP(t *testing.T) {
	l, _, col := autoMCPSession(t, verdict("allow", "a read-only weather lookup"))
	use, _ := col.waitType(t, 0, "agent.mcp_tool_use")
	checkAuto(t, use, "allow", "")
	res, _ := col.waitType(t, 0, "agent.mcp_tool_result")
	if raw(res)["mcp_tool_use_id"] != use.ID || !strings.Contains(res.RawJSON(), "sunny in Bergen") {
		t.Fatalf("mcp_tool_result = %s", res.RawJSON())
	}
	col.waitFor(t, 0, "end_turn", endTurn)
	reqs := l.fake.Requests()
	if len(reqs) < 2 || !isClassifier(reqs[1].Input) || !strings.Contains(blocksText(reqs[1].Input.Messages[0].Content), "MCP server weather") {
		t.Fatal("the MCP call was not judged by the classifier")
	}
}

// A subagent's auto calls are judged too: a denied one never runs and the
// subagent carries on with the denial; an undecided one is held and
// cross-posted to the primary thread with its auto evaluation.
func TestAutoPermissionThreads(t *testing.T) {
	rule := multiagentRule(func(in modeltest.Input) modeltest.Turn {
		if rs := in.ToolResults(); len(rs) > 0 {
			return modeltest.Text("tool said: " + blocksText(rs))
		}
		if strings.Contains(blocksText(in.Messages[0].Content), "dangerous") {
			return modeltest.ToolCall("", "bash", map[string]any{"command": "touch thread-denied"})
		}
		return modeltest.ToolCall("", "bash", map[string]any{"command": "echo thread-asked"})
	})
	l := newLoop(t, func(in modeltest.Input) modeltest.Turn {
		if isClassifier(in) {
			if strings.Contains(blocksText(in.Messages[0].Content), "touch thread-denied") {
				return verdict("deny", "writes outside the task")
			}
			return verdict("ask", "unclear")
		}
		return rule(in)
	})
	sid := l.session(l.coordinator([]any{map[string]any{
		"type": "agent_toolset_20260401", "default_config": map[string]any{"permission_policy": map[string]any{"type": "auto"}},
	}}))
	col := l.stream(sid)

	l.send(sid, userMessage("something dangerous"))
	final, _ := col.waitFor(t, 0, "the coordinator's answer", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	if !strings.Contains(final.RawJSON(), "high risk") {
		t.Fatalf("the subagent was not told of the denial: %s", final.RawJSON())
	}
	_, at := col.waitFor(t, 0, "end_turn", endTurn)
	ths := l.threads(sid)
	if len(ths) != 2 {
		t.Fatalf("%d threads", len(ths))
	}
	var denied bool
	for _, e := range l.threadEvents(sid, ths[1].ID) {
		switch e.Type {
		case "agent.tool_use":
			if e.EvaluatedPermission != "deny" || e.Evaluation.EvaluatedPermission.ReasonCode != "high_risk" {
				t.Fatalf("thread tool use = %s", e.RawJSON())
			}
			denied = true
		case "agent.tool_result":
			if !strings.Contains(e.RawJSON(), "high risk") || raw(e)["is_error"] != true {
				t.Fatalf("thread tool result = %s", e.RawJSON())
			}
		}
	}
	if !denied {
		t.Fatal("no judged tool use on the subagent's thread")
	}
	// The judgement's tokens count toward the thread's usage.
	var spans int64
	for _, e := range l.threadEvents(sid, ths[1].ID) {
		if e.Type == "span.model_request_end" {
			spans += e.ModelUsage.InputTokens
		}
	}
	if ths[1].Usage.InputTokens != spans+classifierTokens {
		t.Fatalf("thread input tokens %d, want the spans' %d + the classifier's %d", ths[1].Usage.InputTokens, spans, classifierTokens)
	}

	l.send(sid, userMessage("something harmless"))
	idle, _ := col.waitFor(t, at, "requires_action", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "requires_action"
	})
	copyID := idle.StopReason.EventIDs[0]
	for _, e := range col.snapshot() {
		if e.ID == copyID {
			if e.Type != "agent.tool_use" || raw(e)["session_thread_id"] == nil {
				t.Fatalf("cross-posted call = %s", e.RawJSON())
			}
			checkAuto(t, e, "ask", "indeterminate")
		}
	}
	l.send(sid, confirm(copyID, true, ""))
	col.waitFor(t, at, "the second answer", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "thread-asked")
	})
	col.waitFor(t, at+1, "end_turn", endTurn)

	// After a restart the threads' usage, rebuilt from the log, still
	// counts the judgements.
	before := map[string]int64{}
	for _, th := range l.threads(sid) {
		before[th.ID] = th.Usage.InputTokens
	}
	col.cancel()
	l.s.Stop(t)
	l.reopen(testserver.WithArgs("--sandbox", "local"))
	after := l.threads(sid)
	if len(after) != len(before) {
		t.Fatalf("%d threads after restart, %d before", len(after), len(before))
	}
	for _, th := range after {
		if th.Usage.InputTokens != before[th.ID] {
			t.Fatalf("thread %s input tokens %d after restart, %d before", th.ID, th.Usage.InputTokens, before[th.ID])
		}
	}
}

// On a self-hosted environment the SDK's worker runs the allowed calls and
// never a denied one: the denial is the server's result, the worker's
// side effect does not happen.
func TestAutoPermissionSelfHosted(t *testing.T) {
	workdir := t.TempDir()
	marker := filepath.Join(workdir, "denied-marker")
	l := newLoop(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "touch " + marker}),
		verdict("deny", "writes a file nobody asked for"),
		modeltest.Text("Understood."),
		modeltest.ToolCall("", "bash", map[string]any{"command": "echo allowed-run"}),
		verdict("allow", "prints text"),
		modeltest.Text("Done."))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	envID, envKey := l.selfHostedEnv(ctx, "self-hosted-auto")
	sid := l.session(autoAgent(l))
	col := l.stream(sid)
	workerClient := anthropic.NewClient(option.WithBaseURL(l.s.URL), option.WithAPIKey(envKey))
	w := environments.NewEnvironmentWorker(workerClient, environments.EnvironmentWorkerOptions{EnvironmentID: envID, EnvironmentKey: envKey, Workdir: workdir})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	l.send(sid, userMessage("touch the marker"))
	use, _ := col.waitType(t, 0, "agent.tool_use")
	checkAuto(t, use, "deny", "high_risk")
	_, at := col.waitFor(t, 0, "end_turn", endTurn)
	l.send(sid, userMessage("now print"))
	res, _ := col.waitType(t, at, "user.tool_result")
	if !strings.Contains(res.RawJSON(), "allowed-run") {
		t.Fatalf("user.tool_result = %s", res.RawJSON())
	}
	col.waitFor(t, at+1, "end_turn", endTurn)
	for _, e := range col.snapshot() {
		if e.Type == "user.tool_result" && raw(e)["tool_use_id"] == use.ID {
			t.Fatalf("the worker ran a denied call: %s", e.RawJSON())
		}
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the denied command ran: %v", err)
	}
	cancel()
	<-done
}
