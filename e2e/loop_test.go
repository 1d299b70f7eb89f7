package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
)

// loop is a real hangar serve whose claude-* models are answered by the
// fake Anthropic upstream, speaking the real Messages protocol.
type loop struct {
	t     *testing.T
	s     *testserver.Server
	c     anthropic.Client
	fake  *modeltest.Server
	envID string
}

func newLoop(t *testing.T, rule modeltest.Rule, turns ...modeltest.Turn) *loop {
	t.Helper()
	// Built-in tools run in the default local (bubblewrap) sandbox.
	return newLoopOn(t, "local", rule, turns...)
}

// startLoop starts hangar serve on fake's models (its key "upstream-key")
// with more environment variables and arguments; the loop's environment is
// the caller's to make.
func startLoop(t *testing.T, fake *modeltest.Server, env []string, args ...string) *loop {
	t.Helper()
	s := testserver.Start(t,
		testserver.WithEnv(append([]string{"HANGAR_ANTHROPIC_BASE_URL=" + fake.URL, "HANGAR_ANTHROPIC_API_KEY=upstream-key"}, env...)...),
		testserver.WithArgs(args...))
	return &loop{t: t, s: s, c: s.Client(""), fake: fake}
}

// newLoopOn is newLoop with built-in tools in the named sandbox backend.
func newLoopOn(t *testing.T, sandbox string, rule modeltest.Rule, turns ...modeltest.Turn) *loop {
	t.Helper()
	l := startLoop(t, modeltest.NewAnthropic(t, modeltest.Options{APIKey: "upstream-key", Rule: rule}, turns...), nil, "--sandbox", sandbox)
	env, err := l.c.Beta.Environments.New(context.Background(), anthropic.BetaEnvironmentNewParams{Name: "loop"})
	if err != nil {
		t.Fatal(err)
	}
	l.envID = env.ID
	return l
}

// agent creates an agent from a raw body (tools are easiest to state as JSON).
func (l *loop) agent(body map[string]any) string {
	l.t.Helper()
	if body["name"] == nil {
		body["name"] = "loop agent"
	}
	if body["model"] == nil {
		body["model"] = "claude-test-1"
	}
	b, _ := json.Marshal(body)
	a, err := l.c.Beta.Agents.New(context.Background(), anthropic.BetaAgentNewParams{}, option.WithRequestBody("application/json", b))
	if err != nil {
		l.t.Fatal(err)
	}
	return a.ID
}

// session creates a session of agentID in the loop's environment, with
// vaultIDs.
func (l *loop) session(agentID string, vaultIDs ...string) string {
	l.t.Helper()
	s, err := l.c.Beta.Sessions.New(context.Background(), anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agentID)},
		EnvironmentID: l.envID, VaultIDs: vaultIDs,
	})
	if err != nil {
		l.t.Fatal(err)
	}
	if s.Status != "idle" {
		l.t.Fatalf("new session status %q, want idle", s.Status)
	}
	return s.ID
}

// vault creates a vault holding one credential whose auth is auth; it
// returns the vault's id and the credential's.
func (l *loop) vault(auth map[string]any) (vaultID, credentialID string) {
	l.t.Helper()
	ctx := context.Background()
	v, err := l.c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "test"})
	if err != nil {
		l.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"auth": auth})
	c, err := l.c.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{}, option.WithRequestBody("application/json", body))
	if err != nil {
		l.t.Fatal(err)
	}
	return v.ID, c.ID
}

func (l *loop) send(sessionID string, evs ...anthropic.BetaManagedAgentsEventParamsUnion) []anthropic.BetaManagedAgentsSendSessionEventsDataUnion {
	l.t.Helper()
	res, err := l.c.Beta.Sessions.Events.Send(context.Background(), sessionID, anthropic.BetaSessionEventSendParams{Events: evs})
	if err != nil {
		l.t.Fatal(err)
	}
	return res.Data
}

func userMessage(text string) anthropic.BetaManagedAgentsEventParamsUnion {
	return anthropic.BetaManagedAgentsEventParamsUnion{OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{
		Content: []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: text}}},
	}}
}

func confirm(toolUseID string, allow bool, msg string) anthropic.BetaManagedAgentsEventParamsUnion {
	p := &anthropic.BetaManagedAgentsUserToolConfirmationEventParams{ToolUseID: toolUseID, Result: "allow"}
	if !allow {
		p.Result = "deny"
		if msg != "" {
			p.DenyMessage = anthropic.String(msg)
		}
	}
	return anthropic.BetaManagedAgentsEventParamsUnion{OfUserToolConfirmation: p}
}

// collector reads a session's stream through the official SDK.
type collector struct {
	mu     sync.Mutex
	events []anthropic.BetaManagedAgentsStreamSessionEventsUnion
	notify chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (l *loop) stream(sessionID string, deltas ...string) *collector {
	l.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	col := &collector{notify: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	var dt []anthropic.BetaManagedAgentsDeltaType
	for _, d := range deltas {
		dt = append(dt, anthropic.BetaManagedAgentsDeltaType(d))
	}
	st := l.c.Beta.Sessions.Events.StreamEvents(ctx, sessionID, anthropic.BetaSessionEventStreamParams{EventDeltas: dt})
	go func() {
		defer close(col.done)
		for st.Next() {
			col.mu.Lock()
			col.events = append(col.events, st.Current())
			col.mu.Unlock()
			select {
			case col.notify <- struct{}{}:
			default:
			}
		}
		col.mu.Lock()
		col.err = st.Err()
		col.mu.Unlock()
	}()
	l.t.Cleanup(func() { cancel(); <-col.done })
	return col
}

func (c *collector) snapshot() []anthropic.BetaManagedAgentsStreamSessionEventsUnion {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]anthropic.BetaManagedAgentsStreamSessionEventsUnion(nil), c.events...)
}

// waitFor waits until an event after position from satisfies ok, and
// returns it with its position.
func (c *collector) waitFor(t *testing.T, from int, what string, ok func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool) (anthropic.BetaManagedAgentsStreamSessionEventsUnion, int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		evs := c.snapshot()
		for i := from; i < len(evs); i++ {
			if ok(evs[i]) {
				return evs[i], i
			}
		}
		select {
		case <-c.notify:
		case <-c.done:
			t.Fatalf("stream ended (%v) while waiting for %s; got %s", c.err, what, types(c.snapshot()))
		case <-deadline:
			t.Fatalf("timed out waiting for %s; got %s", what, types(c.snapshot()))
		}
	}
}

func (c *collector) waitType(t *testing.T, from int, typ string) (anthropic.BetaManagedAgentsStreamSessionEventsUnion, int) {
	t.Helper()
	return c.waitFor(t, from, typ, func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool { return e.Type == typ })
}

// types lists the events' types, without the session.usage snapshot sent
// at every turn end (the usage tests check those).
func types[E interface{ RawJSON() string }](evs []E) string {
	var out []string
	for _, e := range evs {
		var head struct {
			Type        string  `json:"type"`
			ProcessedAt *string `json:"processed_at"`
		}
		_ = json.Unmarshal([]byte(e.RawJSON()), &head)
		if head.Type == "session.usage" {
			continue
		}
		out = append(out, head.Type)
	}
	return strings.Join(out, ", ")
}

// raw decodes an event's JSON for assertions on fields.
func raw(e interface{ RawJSON() string }) map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(e.RawJSON()), &m)
	return m
}

// history lists a session's events through the SDK's auto-pager.
// history lists the session's logged events, only those of types when
// given (the list API's filter).
func (l *loop) history(sessionID string, types ...anthropic.BetaManagedAgentsSessionEventType) []anthropic.BetaManagedAgentsSessionEventUnion {
	l.t.Helper()
	var out []anthropic.BetaManagedAgentsSessionEventUnion
	it := l.c.Beta.Sessions.Events.ListAutoPaging(context.Background(), sessionID, anthropic.BetaSessionEventListParams{Types: types})
	for it.Next() {
		out = append(out, it.Current())
	}
	if err := it.Err(); err != nil {
		l.t.Fatal(err)
	}
	return out
}

// One message turn, in order, on the
// stream and in the list, with usage summed on the session.
func TestLoopMessageTurn(t *testing.T) {
	l := newLoop(t, nil, modeltest.Turn{Content: []model.Block{model.Text("Hello there.")}, Usage: model.Usage{InputTokens: 11, OutputTokens: 7, CacheReadInputTokens: 3}})
	sid := l.session(l.agent(map[string]any{"system": "Be brief."}))
	col := l.stream(sid)
	echo := l.send(sid, userMessage("hi"))
	if len(echo) != 1 || echo[0].Type != "user.message" || !strings.HasPrefix(echo[0].ID, "sevt_") || raw(echo[0])["processed_at"] != nil {
		t.Fatalf("echo = %s", echo[0].RawJSON())
	}
	idle, _ := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("stop_reason = %s", idle.RawJSON())
	}
	got := types(col.snapshot())
	want := "user.message, session.status_running, user.message, span.model_request_start, agent.message, span.model_request_end, session.status_idle"
	if got != want {
		t.Fatalf("stream:\n got %s\nwant %s", got, want)
	}
	evs := col.snapshot()
	if evs[0].ID != echo[0].ID || evs[2].ID != echo[0].ID || raw(evs[2])["processed_at"] == nil {
		t.Fatalf("user.message echoes: %s / %s", evs[0].RawJSON(), evs[2].RawJSON())
	}
	if !strings.Contains(evs[4].RawJSON(), "Hello there.") {
		t.Fatalf("agent.message = %s", evs[4].RawJSON())
	}
	end := raw(evs[5])
	if end["model_request_start_id"] != evs[3].ID || end["is_error"] != false {
		t.Fatalf("span end = %s", evs[5].RawJSON())
	}
	if u := end["model_usage"].(map[string]any); u["input_tokens"] != float64(11) || u["output_tokens"] != float64(7) || u["cache_read_input_tokens"] != float64(3) {
		t.Fatalf("model_usage = %v", u)
	}

	// The list shows the same events with the same ids, in their current
	// state (the user message processed).
	hist := l.history(sid)
	if types(hist) != "user.message, session.status_running, span.model_request_start, agent.message, span.model_request_end, session.status_idle" {
		t.Fatalf("history = %s", types(hist))
	}
	if hist[0].ID != echo[0].ID || raw(hist[0])["processed_at"] == nil || hist[3].ID != evs[4].ID {
		t.Fatalf("history ids differ from stream ids")
	}
	// The model saw the system prompt and the user's text.
	req, _ := l.fake.LastRequest()
	if in := req.Input; in.LastUserText() != "hi" || in.System != "Be brief." {
		t.Fatalf("upstream request = %+v", req.JSON())
	}
	s, err := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "idle" || s.Usage.InputTokens != 11 || s.Usage.OutputTokens != 7 || s.Usage.CacheReadInputTokens != 3 {
		t.Fatalf("session = %s", s.RawJSON())
	}
}

// A custom tool blocks the session with requires_action
// until the client answers; the answer reaches the model.
func TestLoopCustomToolRoundTrip(t *testing.T) {
	l := newLoop(t, nil,
		modeltest.ToolCall("", "lookup", map[string]any{"q": "weather"}),
		modeltest.Text("It is sunny."))
	sid := l.session(l.agent(map[string]any{"tools": []any{map[string]any{
		"type": "custom", "name": "lookup", "description": "Look something up.",
		"input_schema": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}},
	}}}))
	col := l.stream(sid)
	l.send(sid, userMessage("what's the weather?"))
	use, _ := col.waitType(t, 0, "agent.custom_tool_use")
	if use.Name != "lookup" || !strings.Contains(use.RawJSON(), `"q":"weather"`) {
		t.Fatalf("custom_tool_use = %s", use.RawJSON())
	}
	idle, at := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "requires_action" || len(idle.StopReason.EventIDs) != 1 || idle.StopReason.EventIDs[0] != use.ID {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	// The session object names the pending calls while blocked (a Hangar
	// extension field the SDK keeps in its extra fields).
	s, _ := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{})
	if s.Status != "idle" || !strings.Contains(s.RawJSON(), `"stop_reason":{"type":"requires_action","event_ids":["`+use.ID+`"]}`) {
		t.Fatalf("session while blocked = %s", s.RawJSON())
	}
	l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserCustomToolResult: &anthropic.BetaManagedAgentsUserCustomToolResultEventParams{
		CustomToolUseID: use.ID,
		Content:         []anthropic.BetaManagedAgentsUserCustomToolResultEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: "sunny, 21C"}}},
	}})
	idle, _ = col.waitType(t, at+1, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("final idle = %s", idle.RawJSON())
	}
	req, _ := l.fake.LastRequest()
	results := req.Input.ToolResults()
	if len(results) != 1 || results[0].ToolUseID != use.ID || !strings.Contains(fmt.Sprint(results[0].Content), "sunny, 21C") {
		t.Fatalf("tool results sent upstream = %+v", results)
	}

	// Answering again, or answering an unknown call, is refused and
	// changes nothing.
	_, err := l.c.Beta.Sessions.Events.Send(context.Background(), sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{{OfUserCustomToolResult: &anthropic.BetaManagedAgentsUserCustomToolResultEventParams{CustomToolUseID: use.ID}}}})
	apiErr(t, err, 409, "")
	_, err = l.c.Beta.Sessions.Events.Send(context.Background(), sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{confirm("sevt_nope", true, "")}})
	e := apiErr(t, err, 400, "invalid_request_error")
	if !strings.Contains(e.Error(), "tool_use_id") {
		t.Fatalf("error does not name the field: %v", e)
	}
}

// An always_ask built-in tool waits for confirmation;
// allow runs it, deny sends the deny message to the model.
func TestLoopToolConfirmation(t *testing.T) {
	l := newLoop(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "echo confirmed-run"}),
		modeltest.Text("Done."),
		modeltest.ToolCall("", "bash", map[string]any{"command": "rm -rf /tmp/x"}),
		modeltest.Text("Understood."))
	sid := l.session(l.agent(map[string]any{"tools": []any{map[string]any{
		"type": "agent_toolset_20260401", "default_config": map[string]any{"permission_policy": map[string]any{"type": "always_ask"}},
	}}}))
	col := l.stream(sid)
	l.send(sid, userMessage("run it"))
	use, _ := col.waitType(t, 0, "agent.tool_use")
	if raw(use)["evaluated_permission"] != "ask" || use.Name != "bash" {
		t.Fatalf("tool_use = %s", use.RawJSON())
	}
	idle, at := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "requires_action" || idle.StopReason.EventIDs[0] != use.ID {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	l.send(sid, confirm(use.ID, true, ""))
	res, _ := col.waitType(t, at, "agent.tool_result")
	if raw(res)["tool_use_id"] != use.ID || !strings.Contains(res.RawJSON(), "confirmed-run") || raw(res)["is_error"] == true {
		t.Fatalf("tool_result = %s", res.RawJSON())
	}
	idle, at = col.waitType(t, at+1, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle after allow = %s", idle.RawJSON())
	}

	l.send(sid, userMessage("now clean up"))
	use2, _ := col.waitFor(t, at, "second tool_use", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.tool_use" && e.ID != use.ID
	})
	_, at = col.waitFor(t, at+1, "requires_action", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "requires_action"
	})
	// A deny_message is only allowed with deny.
	_, err := l.c.Beta.Sessions.Events.Send(context.Background(), sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{{OfUserToolConfirmation: &anthropic.BetaManagedAgentsUserToolConfirmationEventParams{ToolUseID: use2.ID, Result: "allow", DenyMessage: anthropic.String("x")}}}})
	apiErr(t, err, 400, "invalid_request_error")
	l.send(sid, confirm(use2.ID, false, "never delete files"))
	idle, _ = col.waitType(t, at+1, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle after deny = %s", idle.RawJSON())
	}
	req, _ := l.fake.LastRequest()
	results := req.Input.ToolResults()
	if len(results) == 0 || !results[len(results)-1].IsError || !strings.Contains(fmt.Sprint(results[len(results)-1].Content), "never delete files") {
		t.Fatalf("deny not delivered to the model: %+v", results)
	}
}

// A built-in tool whose permission policy is auto, whose classifier cannot
// decide, is held for confirmation (ask, reason indeterminate), never run
// unasked. Allow runs the call, deny does not.
func TestLoopAutoPolicyAsks(t *testing.T) {
	l := newLoop(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "echo auto-run"}),
		verdict("ask", "unsure"),
		modeltest.Text("Done."),
		modeltest.ToolCall("", "bash", map[string]any{"command": "touch /workspace/denied"}),
		verdict("ask", "unsure"),
		modeltest.Text("Understood."))
	sid := l.session(l.agent(map[string]any{"tools": []any{map[string]any{
		"type": "agent_toolset_20260401", "default_config": map[string]any{"permission_policy": map[string]any{"type": "auto"}},
	}}}))
	col := l.stream(sid)
	l.send(sid, userMessage("run it"))
	use, _ := col.waitType(t, 0, "agent.tool_use")
	checkAutoAsk(t, use.RawJSON(), use.EvaluatedPermission, use.Evaluation)
	idle, at := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "requires_action" || len(idle.StopReason.EventIDs) != 1 || idle.StopReason.EventIDs[0] != use.ID {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	l.send(sid, confirm(use.ID, true, ""))
	res, _ := col.waitType(t, at, "agent.tool_result")
	if raw(res)["tool_use_id"] != use.ID || !strings.Contains(res.RawJSON(), "auto-run") || raw(res)["is_error"] == true {
		t.Fatalf("tool_result = %s", res.RawJSON())
	}
	_, at = col.waitFor(t, at, "end_turn", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
	})

	l.send(sid, userMessage("now touch a file"))
	use2, _ := col.waitFor(t, at, "second tool_use", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.tool_use" && e.ID != use.ID
	})
	checkAutoAsk(t, use2.RawJSON(), use2.EvaluatedPermission, use2.Evaluation)
	_, at = col.waitFor(t, at, "requires_action", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "requires_action"
	})
	l.send(sid, confirm(use2.ID, false, "not now"))
	col.waitFor(t, at, "end_turn after deny", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
	})
	// The denied call never ran: no result of the sandbox for it, only the
	// denial the model was given.
	for _, e := range l.history(sid, "agent.tool_result") {
		if e.ToolUseID == use2.ID {
			t.Fatalf("a denied call ran: %s", e.RawJSON())
		}
	}
	req, _ := l.fake.LastRequest()
	results := req.Input.ToolResults()
	if len(results) == 0 || !results[len(results)-1].IsError || !strings.Contains(fmt.Sprint(results[len(results)-1].Content), "not now") {
		t.Fatalf("deny not delivered to the model: %+v", results)
	}
	// The logged event, read back through the list API, says the same.
	for _, e := range l.history(sid, "agent.tool_use") {
		checkAutoAsk(t, e.RawJSON(), e.EvaluatedPermission, e.Evaluation)
	}
}

// checkAutoAsk asserts, through the SDK's own types, that a tool-use event
// was evaluated by an auto policy that did not decide and asks.
func checkAutoAsk(t *testing.T, rawJSON string, perm anthropic.BetaManagedAgentsAgentEvaluatedPermission, eval anthropic.BetaManagedAgentsAgentToolEvaluationUnion) {
	t.Helper()
	auto, ok := eval.AsAny().(anthropic.BetaManagedAgentsAgentToolEvaluationAuto)
	if perm != "ask" || !ok {
		t.Fatalf("tool use not held by its auto policy: %s", rawJSON)
	}
	ask, ok := auto.EvaluatedPermission.AsAny().(anthropic.BetaManagedAgentsAgentAutoEvaluatedPermissionAsk)
	if !ok || ask.ReasonCode != "indeterminate" {
		t.Fatalf("auto evaluation = %s", rawJSON)
	}
}

// An interrupt cancels the in-flight model request and the
// session goes idle promptly; the model never sees the interrupt.
func TestLoopInterrupt(t *testing.T) {
	l := newLoop(t, modeltest.EchoRule, modeltest.Turn{Content: []model.Block{model.Text("never finished")}, Stall: true})
	sid := l.session(l.agent(map[string]any{}))
	col := l.stream(sid)
	l.send(sid, userMessage("start something long"))
	_, at := col.waitType(t, 0, "span.model_request_start")
	for deadline := time.Now().Add(10 * time.Second); len(l.fake.Requests()) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the model request never reached the upstream")
		}
	}
	echo := l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}})
	idle, _ := col.waitType(t, at, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	select {
	case <-l.fake.Aborted():
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request was not cancelled")
	}
	evs := col.snapshot()
	var sawEnd, sawProcessed bool
	for _, e := range evs[at:] {
		if e.Type == "span.model_request_end" && raw(e)["is_error"] == true {
			sawEnd = true
		}
		if e.Type == "user.interrupt" && e.ID == echo[0].ID && raw(e)["processed_at"] != nil {
			sawProcessed = true
		}
		if e.Type == "agent.message" {
			t.Fatalf("a message was recorded for the interrupted request: %s", e.RawJSON())
		}
	}
	if !sawEnd || !sawProcessed {
		t.Fatalf("stream after interrupt: %s", types(evs[at:]))
	}
	// The session is usable again; the model sees both messages (the
	// interrupted one was never answered).
	l.send(sid, userMessage("again"))
	col.waitType(t, at, "agent.message")
	req, _ := l.fake.LastRequest()
	if last, _ := req.Input.Last(); len(last.Content) != 2 || last.Content[1].Text != "again" {
		t.Fatalf("conversation after interrupt = %+v", req.Input.Messages)
	}
}

// Messages sent while the session runs queue and are handled in
// order; none is lost.
func TestLoopQueuedMessages(t *testing.T) {
	l := newLoop(t, modeltest.EchoRule, modeltest.Turn{Content: []model.Block{model.Text("first reply")}, Delay: 300 * time.Millisecond})
	sid := l.session(l.agent(map[string]any{}))
	col := l.stream(sid)
	l.send(sid, userMessage("one"))
	l.send(sid, userMessage("two"))
	l.send(sid, userMessage("three"))
	_, reply := col.waitFor(t, 0, "reply to three", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "three")
	})
	col.waitType(t, reply, "session.status_idle")
	hist := l.history(sid)
	var users int
	for _, e := range hist {
		if e.Type == "user.message" {
			users++
			if raw(e)["processed_at"] == nil {
				t.Fatalf("user message left unprocessed: %s", e.RawJSON())
			}
		}
	}
	if users != 3 {
		t.Fatalf("history has %d user messages: %s", users, types(hist))
	}
}

// With event_deltas[]=agent.message the stream previews the
// text; the ids match the buffered event; a plain stream gets no previews.
func TestLoopDeltas(t *testing.T) {
	l := newLoop(t, nil, modeltest.Turn{Content: []model.Block{model.Text(strings.Repeat("streaming text ", 8))}, ChunkSize: 10})
	sid := l.session(l.agent(map[string]any{}))
	withDeltas := l.stream(sid, "agent.message")
	plain := l.stream(sid)
	l.send(sid, userMessage("talk"))
	msg, _ := withDeltas.waitType(t, 0, "agent.message")
	var start bool
	var text strings.Builder
	for _, e := range withDeltas.snapshot() {
		switch e.Type {
		case "event_start":
			if e.Event.ID == msg.ID && e.Event.Type == "agent.message" {
				start = true
			}
		case "event_delta":
			if raw(e)["event_id"] != msg.ID {
				t.Fatalf("delta for another id: %s", e.RawJSON())
			}
			text.WriteString(e.Delta.Content.Text)
		}
	}
	if !start || text.String() != strings.Repeat("streaming text ", 8) {
		t.Fatalf("previews: start=%v text=%q (%s)", start, text.String(), types(withDeltas.snapshot()))
	}
	plain.waitType(t, 0, "session.status_idle")
	for _, e := range plain.snapshot() {
		if e.Type == "event_start" || e.Type == "event_delta" {
			t.Fatalf("plain stream got a preview: %s", e.RawJSON())
		}
	}
	// Unknown preview types are refused.
	resp := l.s.Do(t, "GET", "/v1/sessions/"+sid+"/events/stream?event_deltas[]=agent.tool_use", nil, nil)
	if resp.StatusCode != 400 {
		t.Fatalf("event_deltas[]=agent.tool_use: %d", resp.StatusCode)
	}
}

// Retryable model errors reschedule and retry; a fatal one
// ends the turn with retries_exhausted and a typed session.error.
func TestLoopModelErrors(t *testing.T) {
	l := newLoop(t, nil,
		modeltest.Turn{Error: &modeltest.UpstreamError{Status: 529, Type: "overloaded_error", Message: "busy", RetryAfter: 10 * time.Millisecond}},
		modeltest.Text("recovered"),
		modeltest.Turn{Error: &modeltest.UpstreamError{Status: 400, Type: "invalid_request_error", Message: "bad request"}})
	sid := l.session(l.agent(map[string]any{}))
	col := l.stream(sid)
	l.send(sid, userMessage("hello"))
	idle, at := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	got := types(col.snapshot())
	if !strings.Contains(got, "session.error, session.status_rescheduled, session.status_running") || !strings.Contains(got, "agent.message") {
		t.Fatalf("stream = %s", got)
	}
	for _, e := range col.snapshot() {
		if e.Type == "session.error" {
			errObj := raw(e)["error"].(map[string]any)
			if errObj["type"] != "model_overloaded_error" || errObj["retry_status"].(map[string]any)["type"] != "retrying" {
				t.Fatalf("session.error = %s", e.RawJSON())
			}
		}
	}
	l.send(sid, userMessage("fail now"))
	idle, _ = col.waitType(t, at+1, "session.status_idle")
	if idle.StopReason.Type != "retries_exhausted" {
		t.Fatalf("idle after fatal error = %s", idle.RawJSON())
	}
	// The turn is abandoned (exhausted), the session stays
	// usable.
	serr, _ := col.waitFor(t, at+1, "fatal session.error", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.error" && strings.Contains(e.RawJSON(), "exhausted")
	})
	if !strings.Contains(serr.RawJSON(), "bad request") {
		t.Fatalf("session.error = %s", serr.RawJSON())
	}
}

// A terminal error (the provider refuses for
// billing) ends the session for good: session.error with retry_status
// terminal, then session.status_terminated; the session accepts no more
// events and its status stays terminated.
func TestLoopTerminalError(t *testing.T) {
	l := newLoop(t, nil, modeltest.Turn{Error: &modeltest.UpstreamError{Status: 402, Type: "billing_error", Message: "credit balance too low"}})
	sid := l.session(l.agent(map[string]any{}))
	col := l.stream(sid)
	l.send(sid, userMessage("hello"))
	_, at := col.waitType(t, 0, "session.status_terminated")
	var serr map[string]any
	for _, e := range col.snapshot()[:at] {
		if e.Type == "session.error" {
			serr = raw(e)["error"].(map[string]any)
		}
		if e.Type == "session.status_idle" {
			t.Fatalf("idle before terminated: %s", types(col.snapshot()))
		}
	}
	if serr == nil || serr["type"] != "billing_error" || serr["retry_status"].(map[string]any)["type"] != "terminal" || !strings.Contains(serr["message"].(string), "credit balance") {
		t.Fatalf("session.error = %v; stream %s", serr, types(col.snapshot()))
	}
	got, err := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{})
	if err != nil || got.Status != "terminated" {
		t.Fatalf("session = %v, %v", got.Status, err)
	}
	_, err = l.c.Beta.Sessions.Events.Send(context.Background(), sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("again")}})
	apiErr(t, err, 409, "invalid_request_error")
	// The log agrees with the stream, and nothing follows the terminal status.
	h := l.history(sid)
	if last := h[len(h)-1]; last.Type != "session.status_terminated" {
		t.Fatalf("log ends with %s", types(h))
	}
}

// A model nobody serves gets a session.error that says how to configure one.
func TestLoopUnroutedModel(t *testing.T) {
	l := newLoop(t, nil)
	sid := l.session(l.agent(map[string]any{"model": "llama-local-7b"}))
	col := l.stream(sid)
	l.send(sid, userMessage("hi"))
	serr, _ := col.waitType(t, 0, "session.error")
	if !strings.Contains(serr.RawJSON(), "HANGAR_MODELS") {
		t.Fatalf("session.error = %s", serr.RawJSON())
	}
	idle, _ := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "retries_exhausted" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
}

// Replayed POSTs (the SDK retries after 5xx or a timeout) must not queue the
// same events twice.
func TestLoopSendReplay(t *testing.T) {
	l := newLoop(t, modeltest.EchoRule)
	sid := l.session(l.agent(map[string]any{}))
	body := `{"events":[{"type":"user.message","content":[{"type":"text","text":"once"}]}]}`
	send := func(retry string) string {
		h := map[string][]string{"Content-Type": {"application/json"}, "X-Stainless-Retry-Count": {retry}}
		resp := l.s.Do(t, "POST", "/v1/sessions/"+sid+"/events", strings.NewReader(body), h)
		var out struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || len(out.Data) != 1 {
			t.Fatalf("send: %d %v", resp.StatusCode, err)
		}
		return out.Data[0].ID
	}
	first := send("0")
	if again := send("1"); again != first {
		t.Fatalf("a retried send queued a new event %s (first %s)", again, first)
	}
	// Echoes are logged when a send is accepted, so the log shows at once
	// whether the retry queued a second message.
	if users := len(l.history(sid, "user.message")); users != 1 {
		t.Fatalf("%d user messages after a replayed send", users)
	}
}

// Crash recovery: SIGKILL the server in the middle of a turn; on
// restart the session is rescheduled, resumes from its log and finishes,
// and no event is lost or duplicated.
func TestLoopCrashRecovery(t *testing.T) {
	l := newLoop(t, modeltest.EchoRule, modeltest.Turn{Content: []model.Block{model.Text("lost")}, Stall: true})
	sid := l.session(l.agent(map[string]any{}))
	echo := l.send(sid, userMessage("survive this"))
	deadline := time.Now().Add(20 * time.Second)
	for len(l.fake.Requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the model request never reached the upstream")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := l.history(sid)
	l.s.Kill()

	l.reopen()
	hist := waitIdleHistory(t, l, sid)
	got := types(hist)
	if !strings.Contains(got, "session.status_rescheduled, session.status_running, span.model_request_start, agent.message, span.model_request_end, session.status_idle") {
		t.Fatalf("history after restart: %s", got)
	}
	// Everything logged before the crash is still there, in order, and no
	// event appears twice.
	seen := map[string]bool{}
	for i, e := range hist {
		if seen[e.ID] {
			t.Fatalf("event %s appears twice", e.ID)
		}
		seen[e.ID] = true
		if i < len(before) && before[i].ID != e.ID {
			t.Fatalf("event %d changed across the crash: %s vs %s", i, before[i].ID, e.ID)
		}
	}
	if hist[0].ID != echo[0].ID || raw(hist[0])["processed_at"] == nil {
		t.Fatalf("user message after recovery: %s", hist[0].RawJSON())
	}
	// The answer is the last agent.message (a session.usage snapshot
	// comes between it and the idle).
	var answer string
	for _, e := range hist {
		if e.Type == "agent.message" {
			answer = e.RawJSON()
		}
	}
	if !strings.Contains(answer, "echo: survive this") {
		t.Fatalf("the resumed turn did not answer the message: %s", answer)
	}
}

// The reconnect pattern — open a stream, list history, drop
// duplicates by id — loses nothing that happened while disconnected; and
// Last-Event-ID (an extension) resumes a raw stream after a given event.
func TestLoopReconnectConsolidate(t *testing.T) {
	l := newLoop(t, modeltest.EchoRule)
	sid := l.session(l.agent(map[string]any{}))
	first := l.stream(sid)
	l.send(sid, userMessage("one"))
	_, _ = first.waitType(t, 0, "session.status_idle")
	seenLive := first.snapshot()
	first.cancel()
	<-first.done

	// While nobody listens, another turn happens.
	l.send(sid, userMessage("two"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		h := l.history(sid)
		if n := len(h); n > 0 && h[n-1].Type == "session.status_idle" && strings.Count(types(h), "agent.message") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("second turn did not finish")
		}
	}
	// Reconnect: stream first, then list, then merge by id.
	second := l.stream(sid)
	hist := l.history(sid)
	l.send(sid, userMessage("three"))
	_, _ = second.waitFor(t, 0, "third idle", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle"
	})
	ids := map[string]bool{}
	for _, e := range seenLive {
		ids[e.ID] = true
	}
	for _, e := range hist {
		ids[e.ID] = true
	}
	for _, e := range second.snapshot() {
		ids[e.ID] = true
	}
	final := l.history(sid)
	for _, e := range final {
		if !ids[e.ID] {
			t.Fatalf("event %s (%s) was missed by stream+list", e.ID, e.Type)
		}
	}

	// Last-Event-ID replays everything after the named event, then goes live.
	resp := l.s.Do(t, "GET", "/v1/sessions/"+sid+"/events/stream", nil, map[string][]string{"Last-Event-ID": {final[len(final)-3].ID}})
	if resp.StatusCode != 200 {
		t.Fatalf("stream with Last-Event-ID: %d", resp.StatusCode)
	}
	buf := make([]byte, 1<<16)
	var got strings.Builder
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && strings.Count(got.String(), "\nid: ") < 2 {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	for _, e := range final[len(final)-2:] {
		if !strings.Contains(got.String(), "id: "+e.ID) {
			t.Fatalf("replay after Last-Event-ID lacks %s (%s):\n%s", e.ID, e.Type, got.String())
		}
	}
	if strings.Contains(got.String(), "id: "+final[len(final)-3].ID+"\n") {
		t.Fatal("replay repeated the Last-Event-ID event itself")
	}
}

// A model routed to an OpenAI-compatible server (vLLM, Ollama,
// llama.cpp) runs the same loop through the openai provider.
func TestLoopOpenAICompatibleModel(t *testing.T) {
	fake := modeltest.NewOpenAI(t, modeltest.Options{Rule: modeltest.EchoRule})
	s := testserver.Start(t, testserver.WithEnv("HANGAR_MODELS=llama*=openai:"+fake.URL))
	l := &loop{t: t, s: s, c: s.Client(""), fake: fake}
	env, err := l.c.Beta.Environments.New(context.Background(), anthropic.BetaEnvironmentNewParams{Name: "oa"})
	if err != nil {
		t.Fatal(err)
	}
	l.envID = env.ID
	sid := l.session(l.agent(map[string]any{"model": "llama-3.1-8b"}))
	col := l.stream(sid)
	l.send(sid, userMessage("via openai"))
	col.waitType(t, 0, "session.status_idle")
	for _, e := range col.snapshot() {
		if e.Type == "session.error" {
			t.Fatalf("session.error: %s", e.RawJSON())
		}
	}
	msg, _ := col.waitType(t, 0, "agent.message")
	if !strings.Contains(msg.RawJSON(), "echo: via openai") {
		t.Fatalf("agent.message = %s", msg.RawJSON())
	}
	req, _ := fake.LastRequest()
	if req.Path != "/v1/chat/completions" || req.Input.Model != "llama-3.1-8b" {
		t.Fatalf("upstream request %s model %s", req.Path, req.Input.Model)
	}
}

// A built-in tool call runs in the session's
// sandbox, on both backends — it cannot read the server's data dir or
// /root, nor see its environment.
func TestLoopToolsRunSandboxed(t *testing.T) {
	for _, sb := range []string{"local", "docker"} {
		t.Run(sb, func(t *testing.T) { testToolsRunSandboxed(t, sb) })
	}
}

func testToolsRunSandboxed(t *testing.T, sandbox string) {
	l := newLoopOn(t, sandbox, nil)
	canary := filepath.Join(l.s.DataDir, "canary.txt")
	if err := os.WriteFile(canary, []byte("CANARY-DATA-DIR"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := "cat " + canary + " /root/.bashrc 2>&1; echo key=$HANGAR_API_KEY; echo ws=$(pwd); echo done"
	l.fake.Push(modeltest.ToolCall("", "bash", map[string]any{"command": cmd}), modeltest.Text("ok"))
	sid := l.session(l.agent(map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}}))
	col := l.stream(sid)
	l.send(sid, userMessage("probe"))
	res, _ := col.waitType(t, 0, "agent.tool_result")
	out := res.RawJSON()
	if strings.Contains(out, "CANARY") || strings.Contains(out, testserver.AdminKey) || !strings.Contains(out, "key=") || !strings.Contains(out, "ws=/workspace") || !strings.Contains(out, "done") {
		t.Fatalf("sandboxed bash saw too much (or did not run): %s", out)
	}
}

// reopen starts a new server on the loop's data directory and fake
// upstream (the old one was killed or stopped) and points the loop at it.
func (l *loop) reopen(opts ...testserver.Option) {
	l.t.Helper()
	s := testserver.Start(l.t, append([]testserver.Option{testserver.WithDataDir(l.s.DataDir),
		testserver.WithEnv("HANGAR_ANTHROPIC_BASE_URL="+l.fake.URL, "HANGAR_ANTHROPIC_API_KEY=upstream-key")}, opts...)...)
	l.s, l.c = s, s.Client("")
}

// waitIdleHistory waits until the session's log ends with its idle and
// returns the log.
func waitIdleHistory(t *testing.T, l *loop, sid string) []anthropic.BetaManagedAgentsSessionEventUnion {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		hist := l.history(sid)
		if n := len(hist); n > 0 && hist[n-1].Type == "session.status_idle" {
			return hist
		}
		if time.Now().After(deadline) {
			t.Fatalf("session did not go idle: %s", types(hist))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
