package model

import (
	"encoding/json"
	"errors"
	"iter"
	"strings"
	"testing"
	"time"
)

func validReq() *Request {
	return &Request{
		Model:     "m",
		MaxTokens: 10,
		Messages: []Message{
			{Role: RoleUser, Content: []Block{Text("hi")}},
			{Role: RoleAssistant, Content: []Block{{Type: BlockThinking, Thinking: "t", Signature: "s"}, ToolUse("toolu_1", "bash", json.RawMessage(`{}`))}},
			{Role: RoleUser, Content: []Block{ToolResult("toolu_1", "ok", false)}},
		},
		Tools: []Tool{{Name: "bash"}},
	}
}

func TestRequestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Request)
		want   string
	}{
		{"valid", func(*Request) {}, ""},
		{"no model", func(r *Request) { r.Model = " " }, "model: must not be empty"},
		{"no max tokens", func(r *Request) { r.MaxTokens = 0 }, "max_tokens: must be positive"},
		{"no messages", func(r *Request) { r.Messages = nil }, "messages: must not be empty"},
		{"system image", func(r *Request) { r.System = []Block{{Type: BlockImage}} }, "system[0].type: must be text"},
		{"bad role", func(r *Request) { r.Messages[0].Role = "tool" }, `messages[0].role: unknown role "tool"`},
		{"unknown block", func(r *Request) { r.Messages[0].Content[0].Type = "video" }, `messages[0].content[0].type: unknown block type "video"`},
		{"image without source", func(r *Request) { r.Messages[0].Content[0] = Block{Type: BlockImage} }, "messages[0].content[0].source: required"},
		{"tool_use from user", func(r *Request) { r.Messages[0].Content[0] = ToolUse("a", "b", nil) }, "tool_use only in assistant messages"},
		{"tool_use bad input", func(r *Request) { r.Messages[1].Content[1].Input = json.RawMessage(`{`) }, "messages[1].content[1].input: not valid JSON"},
		{"tool_result from assistant", func(r *Request) { r.Messages[1].Content[0] = ToolResult("x", "", false) }, "tool_result only in user messages"},
		{"tool_result without id", func(r *Request) { r.Messages[2].Content[0].ToolUseID = "" }, "messages[2].content[0].tool_use_id: must not be empty"},
		{"tool_result with thinking", func(r *Request) {
			r.Messages[2].Content[0].Content = []Block{{Type: BlockThinking}}
		}, `content[0].type: "thinking" not allowed in a tool_result`},
		{"thinking from user", func(r *Request) { r.Messages[0].Content[0] = Block{Type: BlockThinking} }, "thinking only in assistant messages"},
		{"tool without name", func(r *Request) { r.Tools = []Tool{{}} }, "tools[0].name: must not be empty"},
		{"duplicate tool", func(r *Request) { r.Tools = []Tool{{Name: "a"}, {Name: "a"}} }, `tools[1].name: duplicate tool "a"`},
		{"bad schema", func(r *Request) { r.Tools[0].InputSchema = json.RawMessage(`{`) }, "tools[0].input_schema: not valid JSON"},
		{"tool choice unknown tool", func(r *Request) { r.ToolChoice = &ToolChoice{Type: "tool", Name: "nope"} }, `tool_choice.name: no tool named "nope"`},
		{"tool choice bad type", func(r *Request) { r.ToolChoice = &ToolChoice{Type: "required"} }, `tool_choice.type: unknown type "required"`},
		{"thinking without budget", func(r *Request) { r.Thinking = &Thinking{Type: ThinkingEnabled} }, "thinking.budget_tokens: must be positive"},
		{"thinking bad type", func(r *Request) { r.Thinking = &Thinking{Type: "on"} }, `thinking.type: unknown type "on"`},
		{"thinking bad display", func(r *Request) { r.Thinking = &Thinking{Type: ThinkingAdaptive, Display: "full"} }, `thinking.display: unknown value "full"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := validReq()
			c.mutate(r)
			err := r.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e, ok := AsError(err)
			if !ok || e.Kind != KindInvalidRequest || e.Retryable() || !strings.Contains(e.Message, c.want) {
				t.Fatalf("err = %v, want invalid request containing %q", err, c.want)
			}
		})
	}
	var nilReq *Request
	if err := nilReq.Validate(); err == nil {
		t.Fatal("nil request accepted")
	}
}

func TestBlockJSONMatchesMessagesAPI(t *testing.T) {
	var m Message
	err := json.Unmarshal([]byte(`{"role":"user","content":[
		{"type":"tool_result","tool_use_id":"toolu_1","content":"plain string","is_error":true},
		{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"t"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]},
		{"type":"document","title":"T","source":{"type":"text","media_type":"text/plain","data":"doc"}}]}`), &m)
	if err != nil {
		t.Fatal(err)
	}
	if m.Content[0].Content[0].Text != "plain string" || !m.Content[0].IsError {
		t.Fatalf("string content = %+v", m.Content[0])
	}
	if m.Content[1].Content[1].Source.MediaType != "image/png" {
		t.Fatalf("image in tool result = %+v", m.Content[1])
	}
	var s Message
	if err := json.Unmarshal([]byte(`{"role":"user","content":"just text"}`), &s); err != nil || s.Content[0].Text != "just text" {
		t.Fatalf("string message = %+v (%v)", s, err)
	}
	out, _ := json.Marshal(ToolUse("toolu_1", "bash", json.RawMessage(`{"a":1}`)))
	if string(out) != `{"type":"tool_use","id":"toolu_1","name":"bash","input":{"a":1}}` {
		t.Fatalf("tool_use JSON = %s", out)
	}
	if err := json.Unmarshal([]byte(`{"type":"tool_result","content":5}`), new(Block)); err == nil {
		t.Fatal("numeric content accepted")
	}
}

func seq(events ...Event) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for _, ev := range events {
			if !yield(ev, nil) {
				return
			}
		}
	}
}

func TestAccumulator(t *testing.T) {
	events := []Event{
		{Type: EventMessageStart, MessageID: "msg_1", Model: "m", Usage: Usage{InputTokens: 100, CacheReadInputTokens: 50, OutputTokens: 1}},
		{Type: EventBlockStart, Index: 0, Block: &Block{Type: BlockThinking}},
		{Type: EventBlockDelta, Index: 0, DeltaType: DeltaThinking, Delta: "hmm "},
		{Type: EventBlockDelta, Index: 0, DeltaType: DeltaThinking, Delta: "ok"},
		{Type: EventBlockDelta, Index: 0, DeltaType: DeltaSignature, Delta: "sig"},
		{Type: EventBlockStop, Index: 0},
		{Type: EventBlockStart, Index: 1, Block: &Block{Type: BlockText}},
		{Type: EventBlockDelta, Index: 1, DeltaType: DeltaText, Delta: "Hello"},
		// Two tool calls open at once, deltas interleaved (OpenAI style).
		{Type: EventBlockStart, Index: 2, Block: &Block{Type: BlockToolUse, ID: "a", Name: "x"}},
		{Type: EventBlockStart, Index: 3, Block: &Block{Type: BlockToolUse, ID: "b", Name: "y"}},
		{Type: EventBlockDelta, Index: 2, DeltaType: DeltaInputJSON, Delta: `{"k":`},
		{Type: EventBlockDelta, Index: 3, DeltaType: DeltaInputJSON, Delta: `{broken`},
		{Type: EventBlockDelta, Index: 2, DeltaType: DeltaInputJSON, Delta: `"v"}`},
		{Type: EventBlockStop, Index: 1},
		{Type: EventBlockStop, Index: 2},
		{Type: EventBlockStop, Index: 3},
		{Type: EventBlockStart, Index: 4, Block: &Block{Type: BlockToolUse, ID: "c", Name: "z"}},
		{Type: EventBlockStop, Index: 4},
		{Type: EventMessageDelta, StopReason: StopToolUse, Usage: Usage{OutputTokens: 42}},
		{Type: EventMessageStop},
	}
	resp, err := Collect(seq(events...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != "msg_1" || resp.StopReason != StopToolUse {
		t.Fatalf("resp = %+v", resp)
	}
	if want := (Usage{InputTokens: 100, OutputTokens: 42, CacheReadInputTokens: 50}); resp.Usage != want {
		t.Fatalf("usage = %+v", resp.Usage)
	}
	if b := resp.Content[0]; b.Thinking != "hmm ok" || b.Signature != "sig" {
		t.Fatalf("thinking = %+v", b)
	}
	if resp.Text() != "Hello" {
		t.Fatalf("text = %q", resp.Text())
	}
	uses := resp.ToolUses()
	if string(uses[0].Input) != `{"k":"v"}` || string(uses[1].Input) != `"{broken"` || string(uses[2].Input) != `{}` {
		t.Fatalf("inputs = %s %s %s", uses[0].Input, uses[1].Input, uses[2].Input)
	}
	if m := resp.Message(); m.Role != RoleAssistant || len(m.Content) != 5 {
		t.Fatalf("message = %+v", m)
	}

	bad := []struct {
		name   string
		events []Event
	}{
		{"delta before start", []Event{{Type: EventBlockDelta, Index: 0, DeltaType: DeltaText}}},
		{"delta after stop", []Event{{Type: EventBlockStart, Block: &Block{Type: BlockText}}, {Type: EventBlockStop}, {Type: EventBlockDelta, DeltaType: DeltaText}}},
		{"wrong delta kind", []Event{{Type: EventBlockStart, Block: &Block{Type: BlockText}}, {Type: EventBlockDelta, DeltaType: DeltaInputJSON}}},
		{"start twice", []Event{{Type: EventBlockStart, Block: &Block{Type: BlockText}}, {Type: EventBlockStart, Block: &Block{Type: BlockText}}}},
		{"start without block", []Event{{Type: EventBlockStart}}},
		{"stop unknown", []Event{{Type: EventBlockStop, Index: 3}}},
		{"unknown type", []Event{{Type: 99}}},
	}
	for _, c := range bad {
		_, err := Collect(seq(c.events...), nil)
		if e, ok := AsError(err); !ok || e.Kind != KindServer {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
	_, err = Collect(seq(Event{Type: EventMessageStart}), nil)
	if e, ok := AsError(err); !ok || e.Kind != KindNetwork || !e.Retryable() {
		t.Errorf("truncated stream: err = %v", err)
	}
}

func TestErrorClassification(t *testing.T) {
	e := &Error{Kind: KindRateLimited, Provider: "anthropic", Status: 429, Type: "rate_limit_error", Message: "slow down", Err: errors.New("cause")}
	if e.Error() != "anthropic: rate_limited (429 rate_limit_error): slow down" {
		t.Fatalf("Error() = %q", e.Error())
	}
	wrapped := errors.Join(errors.New("ctx"), e)
	if !IsRetryable(wrapped) {
		t.Fatal("wrapped rate limit not retryable")
	}
	if IsRetryable(errors.New("plain")) {
		t.Fatal("plain error retryable")
	}
	retryable := map[Kind]bool{
		KindRateLimited: true, KindOverloaded: true, KindServer: true, KindNetwork: true,
		KindInvalidRequest: false, KindContextTooLong: false, KindAuth: false, KindBilling: false, KindNotConfigured: false,
	}
	for k, want := range retryable {
		if got := (&Error{Kind: k}).Retryable(); got != want {
			t.Errorf("%v.Retryable() = %v", k, got)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Attempts: 5, Base: 100 * time.Millisecond, Max: time.Second, MaxRetryAfter: 3 * time.Second}
	server := &Error{Kind: KindServer}
	for attempt, base := range []time.Duration{100, 200, 400, 800, 1000} {
		base *= time.Millisecond
		d, ok := b.Delay(attempt, server)
		if !ok || d < base/2 || d > base {
			t.Errorf("attempt %d: delay %v, want in [%v, %v]", attempt, d, base/2, base)
		}
	}
	if _, ok := b.Delay(5, server); ok {
		t.Error("retried past Attempts")
	}
	if d, ok := b.Delay(0, &Error{Kind: KindRateLimited, RetryAfter: 2 * time.Second}); !ok || d != 2*time.Second {
		t.Errorf("retry-after not honoured: %v", d)
	}
	if d, _ := b.Delay(0, &Error{Kind: KindOverloaded, RetryAfter: time.Hour}); d != 3*time.Second {
		t.Errorf("retry-after not capped: %v", d)
	}
	if _, ok := b.Delay(0, &Error{Kind: KindContextTooLong}); ok {
		t.Error("fatal error retried")
	}
	if _, ok := b.Delay(0, errors.New("context canceled")); ok {
		t.Error("non-model error retried")
	}
}

// FuzzMessageJSON: decoding untrusted conversation JSON (event payloads,
// fake upstream requests) never panics, and a decoded request either
// validates or fails with an invalid-request error naming a field.
func FuzzMessageJSON(f *testing.F) {
	for _, s := range []string{
		`{"role":"user","content":"hi"}`,
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"x"}]}`,
		`{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":{"a":[1,2]}},{"type":"thinking","thinking":"x","signature":"s"}]}`,
		`{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}`,
		`{"role":"user","content":[{"type":"tool_result","content":[{"type":"tool_result","content":"deep"}]}]}`,
		`{"role":"system","content":null}`,
		`{"content":7}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var m Message
		if json.Unmarshal([]byte(s), &m) != nil {
			return
		}
		req := &Request{Model: "m", MaxTokens: 1, Messages: []Message{m}}
		err := req.Validate()
		if err == nil {
			if _, err := json.Marshal(m); err != nil {
				t.Fatalf("valid message does not marshal: %v", err)
			}
			return
		}
		e, ok := AsError(err)
		if !ok || e.Kind != KindInvalidRequest || !strings.Contains(e.Message, ":") {
			t.Fatalf("err = %v", err)
		}
	})
}

// BenchmarkAccumulateLongText folds a 1 MiB answer streamed in 16-byte
// deltas (what a model's echo of a large message looks like): the cost of
// a long text must grow with its length, not its square.
func BenchmarkAccumulateLongText(b *testing.B) {
	delta := strings.Repeat("x", 16)
	const n = 1 << 20 / 16
	for b.Loop() {
		var acc Accumulator
		_ = acc.Add(Event{Type: EventMessageStart})
		_ = acc.Add(Event{Type: EventBlockStart, Block: &Block{Type: BlockText}})
		for range n {
			_ = acc.Add(Event{Type: EventBlockDelta, DeltaType: DeltaText, Delta: delta})
		}
		_ = acc.Add(Event{Type: EventBlockStop})
		_ = acc.Add(Event{Type: EventMessageStop})
		if got := len(acc.Response().Content[0].Text); got != 1<<20 {
			b.Fatalf("text of %d bytes", got)
		}
	}
}
