package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/anthropic"
	"github.com/hangarhq/hangar/internal/model/modeltest"
)

const testKey = "sk-ant-test-0123456789"

func newProvider(s *modeltest.Server) *anthropic.Provider {
	return anthropic.New(anthropic.Options{BaseURL: s.URL, APIKey: testKey})
}

func userReq(text string) *model.Request {
	return &model.Request{
		Model:     "claude-sonnet-4-6",
		MaxTokens: 1024,
		Messages:  []model.Message{{Role: model.RoleUser, Content: []model.Block{model.Text(text)}}},
	}
}

func collect(t *testing.T, p model.Provider, req *model.Request) (*model.Response, []model.Event) {
	t.Helper()
	var events []model.Event
	resp, err := model.Collect(p.Stream(context.Background(), req), func(ev model.Event) { events = append(events, ev) })
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	return resp, events
}

func TestAnthropicTextTurnStreamsDeltas(t *testing.T) {
	turn := modeltest.Text("Hello from the fake upstream, in several pieces.")
	turn.ChunkSize = 5
	s := modeltest.NewAnthropic(t, modeltest.Options{APIKey: testKey}, turn)

	resp, events := collect(t, newProvider(s), userReq("hi"))

	if got := resp.Text(); got != "Hello from the fake upstream, in several pieces." {
		t.Fatalf("text = %q", got)
	}
	if resp.StopReason != model.StopEndTurn {
		t.Fatalf("stop_reason = %q", resp.StopReason)
	}
	if resp.ID != "msg_fake001" || resp.Model != "claude-sonnet-4-6" {
		t.Fatalf("id/model = %q/%q", resp.ID, resp.Model)
	}
	if resp.Usage.InputTokens == 0 || resp.Usage.OutputTokens == 0 {
		t.Fatalf("usage not reported: %+v", resp.Usage)
	}
	var deltas int
	for _, ev := range events {
		if ev.Type == model.EventBlockDelta && ev.DeltaType == model.DeltaText {
			deltas++
		}
	}
	if deltas < 5 {
		t.Fatalf("got %d text deltas, want the text streamed in pieces", deltas)
	}
	if first, last := events[0].Type, events[len(events)-1].Type; first != model.EventMessageStart || last != model.EventMessageStop {
		t.Fatalf("events run %v … %v", first, last)
	}

	rec, _ := s.LastRequest()
	body := rec.JSON()
	if body["stream"] != true || body["model"] != "claude-sonnet-4-6" || body["max_tokens"] != float64(1024) {
		t.Fatalf("request body = %s", rec.Body)
	}
	if auth := rec.Header.Get("Authorization") + rec.Header.Get("X-Api-Key"); !strings.Contains(auth, testKey) {
		t.Fatalf("key not sent; headers %v", rec.Header)
	}
	if rec.Header.Get("X-Stainless-Retry-Count") != "" && rec.Header.Get("X-Stainless-Retry-Count") != "0" {
		t.Fatalf("SDK retried: %v", rec.Header.Get("X-Stainless-Retry-Count"))
	}
}

func TestAnthropicToolUseRoundTrip(t *testing.T) {
	s := modeltest.NewAnthropic(t, modeltest.Options{APIKey: testKey},
		modeltest.ToolCall("toolu_01", "bash", map[string]any{"command": "ls -la /workspace"}),
		modeltest.Text("The directory is empty."),
	)
	p := newProvider(s)
	req := userReq("list the files")
	req.System = []model.Block{model.Text("You are terse.")}
	req.Tools = []model.Tool{{
		Name:        "bash",
		Description: "Run a shell command",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}`),
	}}

	resp, _ := collect(t, p, req)
	if resp.StopReason != model.StopToolUse {
		t.Fatalf("stop_reason = %q, want tool_use", resp.StopReason)
	}
	uses := resp.ToolUses()
	if len(uses) != 1 || uses[0].ID != "toolu_01" || uses[0].Name != "bash" {
		t.Fatalf("tool uses = %+v", uses)
	}
	var input map[string]string
	if err := json.Unmarshal(uses[0].Input, &input); err != nil || input["command"] != "ls -la /workspace" {
		t.Fatalf("input = %s (%v)", uses[0].Input, err)
	}

	req.Messages = append(req.Messages, resp.Message(), model.Message{Role: model.RoleUser,
		Content: []model.Block{model.ToolResult("toolu_01", "total 0", false)}})
	resp2, _ := collect(t, p, req)
	if resp2.Text() != "The directory is empty." {
		t.Fatalf("second turn text = %q", resp2.Text())
	}

	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("fake saw %d requests", len(reqs))
	}
	body := reqs[1].JSON()
	tools := body["tools"].([]any)
	tool := tools[0].(map[string]any)
	if tool["name"] != "bash" || tool["description"] != "Run a shell command" {
		t.Fatalf("tool = %v", tool)
	}
	schema := tool["input_schema"].(map[string]any)
	if schema["type"] != "object" || schema["required"].([]any)[0] != "command" {
		t.Fatalf("input_schema = %v", schema)
	}
	msgs := reqs[1].Input.Messages
	if len(msgs) != 3 {
		t.Fatalf("messages = %+v", msgs)
	}
	if tu := msgs[1].Content[0]; tu.Type != model.BlockToolUse || tu.ID != "toolu_01" || !strings.Contains(string(tu.Input), "ls -la") {
		t.Fatalf("assistant tool_use sent back as %+v", tu)
	}
	tr := msgs[2].Content[0]
	if tr.Type != model.BlockToolResult || tr.ToolUseID != "toolu_01" || tr.Content[0].Text != "total 0" {
		t.Fatalf("tool_result sent as %+v", tr)
	}
	if reqs[1].Input.System != "You are terse." {
		t.Fatalf("system = %q", reqs[1].Input.System)
	}
}

func TestAnthropicThinkingSignaturePreserved(t *testing.T) {
	turn := modeltest.Turn{Content: []model.Block{
		{Type: model.BlockThinking, Thinking: "Let me think about the files carefully."},
		{Type: model.BlockRedactedThinking, Data: "EncryptedBlob=="},
		model.ToolUse("toolu_t1", "read", json.RawMessage(`{"path":"/a"}`)),
	}}
	s := modeltest.NewAnthropic(t, modeltest.Options{}, turn, modeltest.Text("done"))
	p := newProvider(s)
	req := userReq("think")
	req.MaxTokens = 4096
	req.Thinking = &model.Thinking{Type: model.ThinkingEnabled, BudgetTokens: 2048}
	req.Tools = []model.Tool{{Name: "read"}}

	resp, events := collect(t, p, req)
	var thinkingDeltas, sigDeltas int
	for _, ev := range events {
		switch ev.DeltaType {
		case model.DeltaThinking:
			thinkingDeltas++
		case model.DeltaSignature:
			sigDeltas++
		}
	}
	if thinkingDeltas < 2 || sigDeltas != 1 {
		t.Fatalf("thinking deltas %d, signature deltas %d", thinkingDeltas, sigDeltas)
	}
	th := resp.Content[0]
	wantSig := modeltest.Signature("Let me think about the files carefully.")
	if th.Type != model.BlockThinking || th.Thinking != "Let me think about the files carefully." || th.Signature != wantSig {
		t.Fatalf("thinking block = %+v", th)
	}
	if rt := resp.Content[1]; rt.Type != model.BlockRedactedThinking || rt.Data != "EncryptedBlob==" {
		t.Fatalf("redacted block = %+v", rt)
	}

	first, _ := s.LastRequest()
	thinking := first.JSON()["thinking"].(map[string]any)
	if thinking["type"] != "enabled" || thinking["budget_tokens"] != float64(2048) {
		t.Fatalf("thinking config sent as %v", thinking)
	}

	req.Messages = append(req.Messages, resp.Message(), model.Message{Role: model.RoleUser,
		Content: []model.Block{model.ToolResult("toolu_t1", "contents", false)}})
	collect(t, p, req)
	second, _ := s.LastRequest()
	sent := second.Input.Messages[1].Content
	if sent[0].Type != model.BlockThinking || sent[0].Signature != wantSig || sent[0].Thinking != th.Thinking {
		t.Fatalf("thinking not sent back unchanged: %+v", sent[0])
	}
	if sent[1].Type != model.BlockRedactedThinking || sent[1].Data != "EncryptedBlob==" {
		t.Fatalf("redacted thinking not sent back: %+v", sent[1])
	}
}

func TestAnthropicAdaptiveThinkingEffortSpeed(t *testing.T) {
	s := modeltest.NewAnthropic(t, modeltest.Options{}, modeltest.Text("ok"))
	req := userReq("hi")
	req.Thinking = &model.Thinking{Type: model.ThinkingAdaptive, Display: "omitted"}
	req.Effort = "high"
	req.Speed = "fast"
	req.StopSequences = []string{"STOP"}
	req.ToolChoice = &model.ToolChoice{Type: "any", DisableParallel: true}
	req.Tools = []model.Tool{{Name: "t"}}
	collect(t, newProvider(s), req)
	rec, _ := s.LastRequest()
	b := rec.JSON()
	th := b["thinking"].(map[string]any)
	if th["type"] != "adaptive" || th["display"] != "omitted" {
		t.Fatalf("thinking = %v", th)
	}
	if b["output_config"].(map[string]any)["effort"] != "high" || b["speed"] != "fast" {
		t.Fatalf("effort/speed = %v / %v", b["output_config"], b["speed"])
	}
	if !strings.Contains(rec.Header.Get("Anthropic-Beta"), "fast-mode") {
		t.Fatalf("anthropic-beta = %q", rec.Header.Get("Anthropic-Beta"))
	}
	tc := b["tool_choice"].(map[string]any)
	if tc["type"] != "any" || tc["disable_parallel_tool_use"] != true {
		t.Fatalf("tool_choice = %v", tc)
	}
	if b["stop_sequences"].([]any)[0] != "STOP" {
		t.Fatalf("stop_sequences = %v", b["stop_sequences"])
	}
	// A tool without a schema still gets the object schema the API requires.
	schema := b["tools"].([]any)[0].(map[string]any)["input_schema"].(map[string]any)
	if schema["type"] != "object" {
		t.Fatalf("input_schema = %v", schema)
	}
}

// Breakpoints on the last tool, the last system block and the last
// two user turns; never more than the API's four.
func TestAnthropicCacheControlPlacement(t *testing.T) {
	conv := func() *model.Request {
		return &model.Request{
			Model: "claude-opus-4-8", MaxTokens: 100,
			System: []model.Block{model.Text("sys one"), model.Text("sys two")},
			Tools:  []model.Tool{{Name: "a"}, {Name: "b"}},
			Messages: []model.Message{
				{Role: model.RoleUser, Content: []model.Block{model.Text("u1")}},
				{Role: model.RoleAssistant, Content: []model.Block{model.ToolUse("toolu_1", "a", nil)}},
				{Role: model.RoleUser, Content: []model.Block{model.ToolResult("toolu_1", "r1", false), model.Text("")}},
				{Role: model.RoleAssistant, Content: []model.Block{model.Text("a2")}},
				{Role: model.RoleUser, Content: []model.Block{model.Text("u3a"), model.Text("u3b")}},
			},
		}
	}
	hasCC := func(v any) bool {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		cc, ok := m["cache_control"].(map[string]any)
		return ok && cc["type"] == "ephemeral"
	}
	s := modeltest.NewAnthropic(t, modeltest.Options{}, modeltest.Text("x"), modeltest.Text("y"))
	p := newProvider(s)

	collect(t, p, conv())
	rec, _ := s.LastRequest()
	b := rec.JSON()
	tools := b["tools"].([]any)
	system := b["system"].([]any)
	msgs := b["messages"].([]any)
	content := func(i int) []any { return msgs[i].(map[string]any)["content"].([]any) }
	checks := []struct {
		name string
		v    any
		want bool
	}{
		{"tools[0]", tools[0], false},
		{"tools[1]", tools[1], true},
		{"system[0]", system[0], false},
		{"system[1]", system[1], true},
		{"messages[0]", content(0)[0], false},
		{"messages[2].tool_result", content(2)[0], true},
		{"messages[2].empty_text", content(2)[1], false},
		{"messages[3]", content(3)[0], false},
		{"messages[4][0]", content(4)[0], false},
		{"messages[4][1]", content(4)[1], true},
	}
	for _, c := range checks {
		if got := hasCC(c.v); got != c.want {
			t.Errorf("%s: cache_control = %v, want %v (%v)", c.name, got, c.want, c.v)
		}
	}
	if n := strings.Count(string(rec.Body), "cache_control"); n != 4 {
		t.Errorf("%d cache_control markers, want 4", n)
	}

	req := conv()
	req.DisableCache = true
	collect(t, p, req)
	rec, _ = s.LastRequest()
	if strings.Contains(string(rec.Body), "cache_control") {
		t.Fatalf("DisableCache still sent cache_control: %s", rec.Body)
	}
}

// Usage including cache tokens reaches the response.
func TestAnthropicUsageWithCacheTokens(t *testing.T) {
	want := model.Usage{InputTokens: 12, OutputTokens: 34, CacheCreationInputTokens: 560, CacheReadInputTokens: 7800}
	turn := modeltest.Text("cached")
	turn.Usage = want
	s := modeltest.NewAnthropic(t, modeltest.Options{}, turn)
	resp, events := collect(t, newProvider(s), userReq("hi"))
	if resp.Usage != want {
		t.Fatalf("usage = %+v, want %+v", resp.Usage, want)
	}
	if events[0].Usage.CacheReadInputTokens != 7800 {
		t.Fatalf("message_start usage = %+v", events[0].Usage)
	}
	if resp.Usage.ContextTokens() != 12+34+560+7800 {
		t.Fatalf("ContextTokens = %d", resp.Usage.ContextTokens())
	}
}

func TestAnthropicErrorMapping(t *testing.T) {
	cases := []struct {
		name       string
		turn       modeltest.Turn
		kind       model.Kind
		status     int
		retryable  bool
		retryAfter time.Duration
		sessionTyp string
	}{
		{"rate limited with retry-after", modeltest.Turn{Error: &modeltest.UpstreamError{Status: 429, Message: "slow down", RetryAfter: 2 * time.Second}},
			model.KindRateLimited, 429, true, 2 * time.Second, "model_rate_limited_error"},
		{"overloaded", modeltest.Fail(529, "overloaded_error", "Overloaded"), model.KindOverloaded, 529, true, 0, "model_overloaded_error"},
		{"server error", modeltest.Fail(500, "api_error", "boom"), model.KindServer, 500, true, 0, "model_request_failed_error"},
		{"invalid request", modeltest.Fail(400, "invalid_request_error", "messages: bad"), model.KindInvalidRequest, 400, false, 0, "model_request_failed_error"},
		{"context too long", modeltest.Fail(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
			model.KindContextTooLong, 400, false, 0, "model_request_failed_error"},
		{"request too large", modeltest.Fail(413, "request_too_large", "Request exceeds the maximum size"), model.KindContextTooLong, 413, false, 0, "model_request_failed_error"},
		{"permission", modeltest.Fail(403, "permission_error", "no access to model"), model.KindAuth, 403, false, 0, "model_request_failed_error"},
		{"billing", modeltest.Fail(402, "billing_error", "credit balance too low"), model.KindBilling, 402, false, 0, "billing_error"},
		{"not found model", modeltest.Fail(404, "not_found_error", "model: claude-nope"), model.KindInvalidRequest, 404, false, 0, "model_request_failed_error"},
		{"overloaded mid-stream", modeltest.Turn{Error: &modeltest.UpstreamError{Type: "overloaded_error", Message: "Overloaded", MidStream: true}},
			model.KindOverloaded, 0, true, 0, "model_overloaded_error"},
		{"api error mid-stream", modeltest.Turn{Error: &modeltest.UpstreamError{Type: "api_error", Message: "Internal", MidStream: true}},
			model.KindServer, 0, true, 0, "model_request_failed_error"},
	}
	s := modeltest.NewAnthropic(t, modeltest.Options{})
	p := newProvider(s)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.Push(c.turn)
			_, err := model.Collect(p.Stream(context.Background(), userReq("hi")), nil)
			e, ok := model.AsError(err)
			if !ok {
				t.Fatalf("error %v (%T) is not a *model.Error", err, err)
			}
			if e.Kind != c.kind || e.Status != c.status || e.Retryable() != c.retryable || e.RetryAfter != c.retryAfter {
				t.Fatalf("got kind=%v status=%d retryable=%v retry_after=%v; want %v %d %v %v (%v)",
					e.Kind, e.Status, e.Retryable(), e.RetryAfter, c.kind, c.status, c.retryable, c.retryAfter, e)
			}
			if e.SessionErrorType() != c.sessionTyp {
				t.Fatalf("session error type = %q, want %q", e.SessionErrorType(), c.sessionTyp)
			}
			if e.Provider != "anthropic" || e.Message == "" {
				t.Fatalf("provider %q message %q", e.Provider, e.Message)
			}
		})
	}
}

func TestAnthropicAuthErrorNeverShowsKey(t *testing.T) {
	s := modeltest.NewAnthropic(t, modeltest.Options{APIKey: "the-right-key-123456"})
	bad := anthropic.New(anthropic.Options{BaseURL: s.URL, APIKey: "sk-ant-wrong-key-987654321"})
	_, err := model.Collect(bad.Stream(context.Background(), userReq("hi")), nil)
	e, ok := model.AsError(err)
	if !ok || e.Kind != model.KindAuth || e.Status != 401 || e.Retryable() {
		t.Fatalf("err = %v", err)
	}

	// An upstream that echoes the key it got must not get it into the message.
	s.Push(modeltest.Fail(400, "invalid_request_error", "bad key "+testKey+" given"))
	_, err = model.Collect(newProviderKeyed(s, testKey).Stream(context.Background(), userReq("hi")), nil)
	if e, _ := model.AsError(err); e == nil || strings.Contains(e.Message, testKey) || strings.Contains(e.Error(), testKey) {
		t.Fatalf("key leaked into error: %v", err)
	}
}

func newProviderKeyed(s *modeltest.Server, key string) *anthropic.Provider {
	return anthropic.New(anthropic.Options{BaseURL: s.URL, APIKey: key})
}

// Interrupts depend on this: cancelling ctx aborts the HTTP request, the
// call returns context.Canceled, and the upstream sees the connection close.
func TestAnthropicCancelAbortsStream(t *testing.T) {
	turn := modeltest.Text("this response stalls after its first delta")
	turn.Stall = true
	s := modeltest.NewAnthropic(t, modeltest.Options{}, turn)
	p := newProvider(s)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sawDelta bool
	var gotErr error
	for ev, err := range p.Stream(ctx, userReq("hi")) {
		if err != nil {
			gotErr = err
			break
		}
		if ev.Type == model.EventBlockDelta {
			sawDelta = true
			cancel()
		}
	}
	if !sawDelta {
		t.Fatal("no delta before the stall")
	}
	if !errors.Is(gotErr, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", gotErr)
	}
	waitAbort(t, s)
}

// Breaking out of the range loop also releases the connection.
func TestAnthropicBreakReleasesConnection(t *testing.T) {
	turn := modeltest.Text("stall")
	turn.Stall = true
	s := modeltest.NewAnthropic(t, modeltest.Options{}, turn)
	for ev, err := range newProvider(s).Stream(context.Background(), userReq("hi")) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == model.EventBlockDelta {
			break
		}
	}
	waitAbort(t, s)
}

func waitAbort(t *testing.T, s *modeltest.Server) {
	t.Helper()
	select {
	case <-s.Aborted():
	case <-time.After(10 * time.Second): // a guard against hanging, not a timing assertion
		t.Fatal("the fake never saw the client go away")
	}
}

func TestAnthropicStallIsRetryableNetworkError(t *testing.T) {
	turn := modeltest.Text("stall")
	turn.Stall = true
	s := modeltest.NewAnthropic(t, modeltest.Options{}, turn)
	p := anthropic.New(anthropic.Options{BaseURL: s.URL, StallTimeout: 50 * time.Millisecond})
	_, err := model.Collect(p.Stream(context.Background(), userReq("hi")), nil)
	e, ok := model.AsError(err)
	if !ok || e.Kind != model.KindNetwork || !e.Retryable() || !strings.Contains(e.Message, "stopped sending") {
		t.Fatalf("err = %v", err)
	}
}

func TestAnthropicConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := anthropic.New(anthropic.Options{BaseURL: "http://" + addr})
	_, err = model.Collect(p.Stream(context.Background(), userReq("hi")), nil)
	e, ok := model.AsError(err)
	if !ok || e.Kind != model.KindNetwork || !e.Retryable() {
		t.Fatalf("err = %v", err)
	}
}

func TestAnthropicInvalidRequestFailsBeforeNetwork(t *testing.T) {
	s := modeltest.NewAnthropic(t, modeltest.Options{})
	req := userReq("hi")
	req.MaxTokens = 0
	_, err := model.Collect(newProvider(s).Stream(context.Background(), req), nil)
	e, ok := model.AsError(err)
	if !ok || e.Kind != model.KindInvalidRequest || !strings.HasPrefix(e.Message, "max_tokens:") {
		t.Fatalf("err = %v", err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("fake saw %d requests", n)
	}
}

// The SDK's own environment defaults must not apply: on a Hangar host
// ANTHROPIC_* variables describe how clients reach Hangar.
func TestAnthropicIgnoresSDKEnvironment(t *testing.T) {
	decoy := modeltest.NewAnthropic(t, modeltest.Options{}, modeltest.Text("decoy"))
	s := modeltest.NewAnthropic(t, modeltest.Options{}, modeltest.Text("real"))
	t.Setenv("ANTHROPIC_BASE_URL", decoy.URL)
	t.Setenv("ANTHROPIC_API_KEY", "sk-env-key-should-not-be-used")
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "env-token-should-not-be-used")
	t.Setenv("ANTHROPIC_CUSTOM_HEADERS", "X-Leak: yes")

	resp, _ := collect(t, newProvider(s), userReq("hi"))
	if resp.Text() != "real" {
		t.Fatalf("text = %q", resp.Text())
	}
	if n := len(decoy.Requests()); n != 0 {
		t.Fatalf("ANTHROPIC_BASE_URL was used: decoy saw %d requests", n)
	}
	rec, _ := s.LastRequest()
	if rec.Header.Get("X-Leak") != "" {
		t.Fatal("ANTHROPIC_CUSTOM_HEADERS was applied")
	}
	all := strings.Join(rec.Header.Values("Authorization"), " ") + rec.Header.Get("X-Api-Key")
	if strings.Contains(all, "should-not-be-used") || !strings.Contains(all, testKey) {
		t.Fatalf("credentials sent: %q", all)
	}
}

// Unscripted requests get the rule's answer; DemoRule calls tools named in
// the text and reports their results.
func TestAnthropicAgainstDemoRule(t *testing.T) {
	s := modeltest.NewAnthropic(t, modeltest.Options{Rule: modeltest.DemoRule})
	p := newProvider(s)
	req := userReq("please\ntool: bash {\"command\":\"echo hi\"}")
	req.Tools = []model.Tool{{Name: "bash"}}
	resp, _ := collect(t, p, req)
	uses := resp.ToolUses()
	if resp.StopReason != model.StopToolUse || len(uses) != 1 || uses[0].Name != "bash" || string(uses[0].Input) != `{"command":"echo hi"}` {
		t.Fatalf("resp = %+v", resp)
	}
	req.Messages = append(req.Messages, resp.Message(), model.Message{Role: model.RoleUser,
		Content: []model.Block{model.ToolResult(uses[0].ID, "hi", false)}})
	resp, _ = collect(t, p, req)
	if resp.StopReason != model.StopEndTurn || !strings.Contains(resp.Text(), "hi") {
		t.Fatalf("resp = %+v", resp)
	}
}

func TestAnthropicImagesAndDocuments(t *testing.T) {
	s := modeltest.NewAnthropic(t, modeltest.Options{}, modeltest.Text("seen"))
	req := userReq("look")
	req.Messages[0].Content = append(req.Messages[0].Content,
		model.Block{Type: model.BlockImage, Source: &model.Source{Type: "base64", MediaType: "image/png", Data: "iVBORw0KGgo="}},
		model.Block{Type: model.BlockDocument, Title: "notes", Source: &model.Source{Type: "text", MediaType: "text/plain", Data: "hello doc"}},
	)
	collect(t, newProvider(s), req)
	rec, _ := s.LastRequest()
	c := rec.Input.Messages[0].Content
	if c[1].Type != model.BlockImage || c[1].Source.Data != "iVBORw0KGgo=" || c[1].Source.MediaType != "image/png" {
		t.Fatalf("image sent as %+v", c[1])
	}
	if c[2].Type != model.BlockDocument || c[2].Title != "notes" || c[2].Source.Type != "text" || c[2].Source.Data != "hello doc" {
		t.Fatalf("document sent as %+v", c[2])
	}
}

// Extended thinking is on by default where the model supports it,
// and a request's own choice wins.
func TestAnthropicDefaultThinking(t *testing.T) {
	for _, c := range []struct {
		model  string
		want   string // thinking.type sent, "" for none
		budget float64
	}{
		{"claude-opus-4-6", "adaptive", 0},
		{"claude-sonnet-4-6-20260101", "adaptive", 0},
		{"claude-opus-5", "adaptive", 0},
		{"claude-sonnet-4-5-20250929", "enabled", 8192},
		{"claude-haiku-4-5", "enabled", 8192},
		{"claude-opus-4-20250514", "enabled", 8192},
		{"claude-3-7-sonnet-20250219", "enabled", 8192},
		{"claude-3-5-haiku-20241022", "", 0},
		{"claude-test-1", "", 0},
		{"my-gateway-model", "", 0},
	} {
		s := modeltest.NewAnthropic(t, modeltest.Options{}, modeltest.Text("ok"))
		req := userReq("hi")
		req.Model, req.MaxTokens = c.model, 16384
		collect(t, newProvider(s), req)
		rec, _ := s.LastRequest()
		th, _ := rec.JSON()["thinking"].(map[string]any)
		if got, _ := th["type"].(string); got != c.want {
			t.Errorf("%s: thinking = %v, want type %q", c.model, th, c.want)
		}
		if c.budget != 0 && th["budget_tokens"] != c.budget {
			t.Errorf("%s: budget = %v", c.model, th["budget_tokens"])
		}
	}
	s := modeltest.NewAnthropic(t, modeltest.Options{}, modeltest.Text("ok"))
	req := userReq("hi")
	req.Model, req.Thinking = "claude-opus-4-6", &model.Thinking{Type: model.ThinkingDisabled}
	collect(t, newProvider(s), req)
	rec, _ := s.LastRequest()
	if th := rec.JSON()["thinking"].(map[string]any); th["type"] != "disabled" {
		t.Fatalf("explicit choice lost: %v", th)
	}
}
