package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/model/openai"
)

const testKey = "sk-openai-test-0123456789"

func newProvider(s *modeltest.Server) *openai.Provider {
	return openai.New(openai.Options{BaseURL: s.URL, APIKey: testKey})
}

func userReq(text string) *model.Request {
	return &model.Request{
		Model:     "llama3.1:8b",
		MaxTokens: 512,
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

func TestOpenAITextTurnStreamsDeltas(t *testing.T) {
	turn := modeltest.Text("Streaming from an OpenAI-compatible server.")
	turn.ChunkSize = 4
	turn.Usage = model.Usage{InputTokens: 90, OutputTokens: 11, CacheReadInputTokens: 10}
	s := modeltest.NewOpenAI(t, modeltest.Options{APIKey: testKey}, turn)
	req := userReq("hello")
	req.System = []model.Block{model.Text("be brief"), model.Text("be kind")}
	req.StopSequences = []string{"\n\n"}
	req.Effort = "max"

	resp, events := collect(t, newProvider(s), req)
	if resp.Text() != "Streaming from an OpenAI-compatible server." || resp.StopReason != model.StopEndTurn {
		t.Fatalf("resp = %+v", resp)
	}
	if resp.ID != "chatcmpl-fake001" || resp.Model != "llama3.1:8b" {
		t.Fatalf("id/model = %q/%q", resp.ID, resp.Model)
	}
	// prompt_tokens (100) includes the 10 cached ones; InputTokens does not.
	if want := (model.Usage{InputTokens: 90, OutputTokens: 11, CacheReadInputTokens: 10}); resp.Usage != want {
		t.Fatalf("usage = %+v, want %+v", resp.Usage, want)
	}
	deltas := 0
	for _, ev := range events {
		if ev.DeltaType == model.DeltaText {
			deltas++
		}
	}
	if deltas < 5 {
		t.Fatalf("%d text deltas", deltas)
	}

	rec, _ := s.LastRequest()
	b := rec.JSON()
	if rec.Path != "/v1/chat/completions" || rec.Header.Get("Authorization") != "Bearer "+testKey {
		t.Fatalf("path %q auth %q", rec.Path, rec.Header.Get("Authorization"))
	}
	if b["stream"] != true || b["stream_options"].(map[string]any)["include_usage"] != true || b["max_tokens"] != float64(512) {
		t.Fatalf("body = %s", rec.Body)
	}
	msgs := b["messages"].([]any)
	if sys := msgs[0].(map[string]any); sys["role"] != "system" || sys["content"] != "be brief\n\nbe kind" {
		t.Fatalf("system message = %v", sys)
	}
	if u := msgs[1].(map[string]any); u["role"] != "user" || u["content"] != "hello" {
		t.Fatalf("user message = %v", u)
	}
	if b["stop"].([]any)[0] != "\n\n" || b["reasoning_effort"] != "high" {
		t.Fatalf("stop/effort = %v/%v", b["stop"], b["reasoning_effort"])
	}
}

func TestOpenAIParallelToolCallsRoundTrip(t *testing.T) {
	s := modeltest.NewOpenAI(t, modeltest.Options{},
		modeltest.Turn{Content: []model.Block{
			model.Text("Running two commands."),
			model.ToolUse("call_a", "bash", json.RawMessage(`{"command":"pwd"}`)),
			model.ToolUse("call_b", "read", json.RawMessage(`{"path":"/etc/hostname","limit":10}`)),
		}, ChunkSize: 3},
		modeltest.Text("Both done."),
	)
	p := newProvider(s)
	req := userReq("go")
	req.Tools = []model.Tool{
		{Name: "bash", Description: "shell", InputSchema: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}}}`)},
		{Name: "read"},
	}
	req.ToolChoice = &model.ToolChoice{Type: "tool", Name: "bash", DisableParallel: true}

	resp, _ := collect(t, p, req)
	uses := resp.ToolUses()
	if resp.StopReason != model.StopToolUse || len(uses) != 2 {
		t.Fatalf("resp = %+v", resp)
	}
	if uses[0].ID != "call_a" || uses[0].Name != "bash" || string(uses[0].Input) != `{"command":"pwd"}` {
		t.Fatalf("first call = %+v", uses[0])
	}
	if uses[1].ID != "call_b" || string(uses[1].Input) != `{"path":"/etc/hostname","limit":10}` {
		t.Fatalf("second call = %+v (%s)", uses[1], uses[1].Input)
	}
	if resp.Content[0].Text != "Running two commands." {
		t.Fatalf("content = %+v", resp.Content)
	}

	first, _ := s.LastRequest()
	fb := first.JSON()
	tool := fb["tools"].([]any)[0].(map[string]any)
	fn := tool["function"].(map[string]any)
	if tool["type"] != "function" || fn["name"] != "bash" || fn["description"] != "shell" || fn["parameters"].(map[string]any)["type"] != "object" {
		t.Fatalf("tool = %v", tool)
	}
	if tc := fb["tool_choice"].(map[string]any); tc["function"].(map[string]any)["name"] != "bash" || fb["parallel_tool_calls"] != false {
		t.Fatalf("tool_choice = %v parallel = %v", tc, fb["parallel_tool_calls"])
	}

	req.Messages = append(req.Messages, resp.Message(), model.Message{Role: model.RoleUser, Content: []model.Block{
		model.ToolResult("call_a", "/workspace", false),
		model.ToolResult("call_b", "no such file", true),
		model.Text("and summarise"),
	}})
	resp2, _ := collect(t, p, req)
	if resp2.Text() != "Both done." {
		t.Fatalf("second turn = %+v", resp2)
	}
	second, _ := s.LastRequest()
	msgs := second.JSON()["messages"].([]any)
	roles := make([]string, len(msgs))
	for i, m := range msgs {
		roles[i] = m.(map[string]any)["role"].(string)
	}
	if got := strings.Join(roles, ","); got != "user,assistant,tool,tool,user" {
		t.Fatalf("roles = %s", got)
	}
	asst := msgs[1].(map[string]any)
	calls := asst["tool_calls"].([]any)
	if asst["content"] != "Running two commands." || len(calls) != 2 ||
		calls[1].(map[string]any)["function"].(map[string]any)["arguments"] != `{"path":"/etc/hostname","limit":10}` {
		t.Fatalf("assistant = %v", asst)
	}
	if tm := msgs[3].(map[string]any); tm["tool_call_id"] != "call_b" || tm["content"] != "Error: no such file" {
		t.Fatalf("tool message = %v", tm)
	}
	if um := msgs[4].(map[string]any); um["content"] != "and summarise" {
		t.Fatalf("trailing user message = %v", um)
	}
}

func TestOpenAIReasoningBecomesThinking(t *testing.T) {
	for _, field := range []string{"reasoning_content", "reasoning"} {
		t.Run(field, func(t *testing.T) {
			s := modeltest.NewOpenAI(t, modeltest.Options{ReasoningField: field}, modeltest.Turn{Content: []model.Block{
				{Type: model.BlockThinking, Thinking: "pondering the question at length"},
				model.Text("42"),
			}})
			p := newProvider(s)
			resp, events := collect(t, p, userReq("question"))
			if len(resp.Content) != 2 || resp.Content[0].Type != model.BlockThinking ||
				resp.Content[0].Thinking != "pondering the question at length" || resp.Content[1].Text != "42" {
				t.Fatalf("content = %+v", resp.Content)
			}
			var stops []int
			for _, ev := range events {
				if ev.Type == model.EventBlockStop {
					stops = append(stops, ev.Index)
				}
			}
			if fmt.Sprint(stops) != "[0 1]" {
				t.Fatalf("block stops = %v", stops)
			}
			// Thinking has no place in chat messages: it is not sent back.
			req := userReq("question")
			req.Messages = append(req.Messages, resp.Message(), model.Message{Role: model.RoleUser, Content: []model.Block{model.Text("more")}})
			s.Push(modeltest.Text("ok"))
			collect(t, p, req)
			rec, _ := s.LastRequest()
			if strings.Contains(string(rec.Body), "pondering") {
				t.Fatalf("thinking sent back: %s", rec.Body)
			}
		})
	}
}

func TestOpenAIFinishReasons(t *testing.T) {
	cases := []struct {
		stop model.StopReason
		want model.StopReason
	}{
		{model.StopMaxTokens, model.StopMaxTokens},
		{model.StopRefusal, model.StopRefusal},
		{model.StopEndTurn, model.StopEndTurn},
	}
	s := modeltest.NewOpenAI(t, modeltest.Options{})
	p := newProvider(s)
	for _, c := range cases {
		turn := modeltest.Text("x")
		turn.StopReason = c.stop
		s.Push(turn)
		resp, _ := collect(t, p, userReq("hi"))
		if resp.StopReason != c.want {
			t.Errorf("finish for %q mapped to %q, want %q", c.stop, resp.StopReason, c.want)
		}
	}
}

func TestOpenAIImagesAsDataURLs(t *testing.T) {
	s := modeltest.NewOpenAI(t, modeltest.Options{}, modeltest.Text("a cat"))
	req := userReq("what is this")
	req.Messages[0].Content = append(req.Messages[0].Content,
		model.Block{Type: model.BlockImage, Source: &model.Source{Type: "base64", MediaType: "image/png", Data: "iVBORw0KGgo="}},
		model.Block{Type: model.BlockImage, Source: &model.Source{Type: "url", URL: "https://example.com/cat.jpg"}},
	)
	collect(t, newProvider(s), req)
	rec, _ := s.LastRequest()
	parts := rec.JSON()["messages"].([]any)[0].(map[string]any)["content"].([]any)
	if len(parts) != 3 {
		t.Fatalf("parts = %v", parts)
	}
	img := parts[1].(map[string]any)
	if img["type"] != "image_url" || img["image_url"].(map[string]any)["url"] != "data:image/png;base64,iVBORw0KGgo=" {
		t.Fatalf("image part = %v", img)
	}
	if parts[2].(map[string]any)["image_url"].(map[string]any)["url"] != "https://example.com/cat.jpg" {
		t.Fatalf("url image part = %v", parts[2])
	}
}

func TestOpenAIErrorMapping(t *testing.T) {
	cases := []struct {
		name       string
		err        modeltest.UpstreamError
		kind       model.Kind
		status     int
		retryAfter time.Duration
	}{
		{"rate limited with retry-after-ms", modeltest.UpstreamError{Status: 429, Type: "requests", Code: "rate_limit_exceeded", Message: "Rate limit reached", RetryAfter: 1500 * time.Millisecond},
			model.KindRateLimited, 429, 1500 * time.Millisecond},
		{"quota exhausted is billing", modeltest.UpstreamError{Status: 429, Type: "insufficient_quota", Code: "insufficient_quota", Message: "You exceeded your current quota"},
			model.KindBilling, 429, 0},
		{"context length code", modeltest.UpstreamError{Status: 400, Type: "invalid_request_error", Code: "context_length_exceeded", Message: "too long"},
			model.KindContextTooLong, 400, 0},
		{"vLLM context wording", modeltest.UpstreamError{Status: 400, Type: "BadRequestError", Message: "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens"},
			model.KindContextTooLong, 400, 0},
		{"llama.cpp context type", modeltest.UpstreamError{Status: 400, Type: "exceed_context_size_error", Message: "the request exceeds the available context size"},
			model.KindContextTooLong, 400, 0},
		{"bad request", modeltest.UpstreamError{Status: 400, Type: "invalid_request_error", Message: "unknown model"}, model.KindInvalidRequest, 400, 0},
		{"not found", modeltest.UpstreamError{Status: 404, Type: "NotFoundError", Message: "model not found"}, model.KindInvalidRequest, 404, 0},
		{"unauthorised", modeltest.UpstreamError{Status: 401, Type: "invalid_request_error", Code: "invalid_api_key", Message: "Incorrect API key"}, model.KindAuth, 401, 0},
		{"server", modeltest.UpstreamError{Status: 500, Type: "server_error", Message: "oops"}, model.KindServer, 500, 0},
		{"server calling itself invalid stays retryable", modeltest.UpstreamError{Status: 503, Type: "invalid_request_error", Message: "warming up"}, model.KindServer, 503, 0},
		{"mid-stream error", modeltest.UpstreamError{Type: "server_error", Message: "engine died", MidStream: true}, model.KindServer, 0, 0},
	}
	s := modeltest.NewOpenAI(t, modeltest.Options{})
	p := newProvider(s)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ue := c.err
			s.Push(modeltest.Turn{Error: &ue})
			_, err := model.Collect(p.Stream(context.Background(), userReq("hi")), nil)
			e, ok := model.AsError(err)
			if !ok {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if e.Kind != c.kind || e.Status != c.status || e.RetryAfter != c.retryAfter || e.Provider != "openai" || e.Message == "" {
				t.Fatalf("got %v kind=%v status=%d retry_after=%v", e, e.Kind, e.Status, e.RetryAfter)
			}
		})
	}
}

// Error bodies of the servers that do not follow OpenAI's envelope.
func TestOpenAIErrorBodyShapes(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		kind   model.Kind
		msg    string
	}{
		{"ollama string error", 404, `{"error":"model \"llama9\" not found, try pulling it first"}`, model.KindInvalidRequest, `model "llama9" not found`},
		{"fastapi detail", 422, `{"detail":"Input should be a valid integer"}`, model.KindInvalidRequest, "valid integer"},
		{"vllm numeric code", 400, `{"object":"error","message":"maximum context length is 4096 tokens","type":"BadRequestError","param":null,"code":400}`, model.KindContextTooLong, "maximum context length"},
		{"plain text", 502, `Bad Gateway`, model.KindServer, "Bad Gateway"},
		{"empty body", 503, ``, model.KindServer, "Service Unavailable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				fmt.Fprint(w, c.body)
			}))
			defer srv.Close()
			p := openai.New(openai.Options{BaseURL: srv.URL + "/v1"})
			_, err := model.Collect(p.Stream(context.Background(), userReq("hi")), nil)
			e, ok := model.AsError(err)
			if !ok || e.Kind != c.kind || e.Status != c.status || !strings.Contains(e.Message, c.msg) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// Servers that send no tool call ids, report "stop" for tool calls, and end
// without [DONE] (older Ollama, llama.cpp builds).
func TestOpenAILenientStreams(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": keep-alive\n\n")
		fmt.Fprint(w, `data: {"id":"x","model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"function":{"name":"bash","arguments":"{\"command\":"}}]}}]}`+"\r\n\r\n")
		fmt.Fprint(w, `data: {"id":"x","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"\"ls\"}"}}]}}]}`+"\n\n")
		fmt.Fprint(w, `data: {"id":"x","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n")
	}))
	defer srv.Close()
	p := openai.New(openai.Options{BaseURL: srv.URL})
	req := userReq("hi")
	req.Tools = []model.Tool{{Name: "bash"}}
	resp, _ := collect(t, p, req)
	uses := resp.ToolUses()
	if resp.StopReason != model.StopToolUse || len(uses) != 1 || !strings.HasPrefix(uses[0].ID, "call_") || string(uses[0].Input) != `{"command":"ls"}` {
		t.Fatalf("resp = %+v", resp)
	}
}

func TestOpenAITruncatedStreamIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"id":"x","choices":[{"index":0,"delta":{"content":"partial"}}]}`+"\n\n")
	}))
	defer srv.Close()
	p := openai.New(openai.Options{BaseURL: srv.URL})
	resp, err := model.Collect(p.Stream(context.Background(), userReq("hi")), nil)
	e, ok := model.AsError(err)
	if !ok || e.Kind != model.KindNetwork || !e.Retryable() {
		t.Fatalf("err = %v", err)
	}
	if resp.Text() != "partial" {
		t.Fatalf("partial response = %+v", resp)
	}
}

func TestOpenAIInvalidToolArgumentsKept(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"bash","arguments":"{not json"}}]}}]}`+"\n\n")
		fmt.Fprint(w, `data: {"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`+"\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	p := openai.New(openai.Options{BaseURL: srv.URL})
	resp, _ := collect(t, p, userReq("hi"))
	in := resp.ToolUses()[0].Input
	var s string
	if err := json.Unmarshal(in, &s); err != nil || s != "{not json" {
		t.Fatalf("input = %s", in)
	}
}

func TestOpenAICancelAbortsStream(t *testing.T) {
	turn := modeltest.Text("stalls after the first delta")
	turn.Stall = true
	s := modeltest.NewOpenAI(t, modeltest.Options{}, turn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var gotErr error
	sawDelta := false
	for ev, err := range newProvider(s).Stream(ctx, userReq("hi")) {
		if err != nil {
			gotErr = err
			break
		}
		if ev.Type == model.EventBlockDelta {
			sawDelta = true
			cancel()
		}
	}
	if !sawDelta || !errors.Is(gotErr, context.Canceled) {
		t.Fatalf("sawDelta=%v err=%v", sawDelta, gotErr)
	}
	select {
	case <-s.Aborted():
	case <-time.After(10 * time.Second): // a guard against hanging, not a timing assertion
		t.Fatal("the fake never saw the client go away")
	}
}

func TestOpenAIDemoRuleToolLoop(t *testing.T) {
	s := modeltest.NewOpenAI(t, modeltest.Options{Rule: modeltest.DemoRule})
	p := newProvider(s)
	req := userReq("tool: read {\"path\":\"/x\"}")
	req.Tools = []model.Tool{{Name: "read"}}
	resp, _ := collect(t, p, req)
	uses := resp.ToolUses()
	if len(uses) != 1 || uses[0].Name != "read" {
		t.Fatalf("resp = %+v", resp)
	}
	req.Messages = append(req.Messages, resp.Message(), model.Message{Role: model.RoleUser,
		Content: []model.Block{model.ToolResult(uses[0].ID, "file body", false)}})
	resp, _ = collect(t, p, req)
	if !strings.Contains(resp.Text(), "file body") {
		t.Fatalf("resp = %+v", resp)
	}
}

// rewrite sends every request to the fake, whatever host it names.
type rewrite struct{ target string }

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.Scheme, u.Host = "http", strings.TrimPrefix(strings.TrimSuffix(r.target, "/v1"), "http://")
	req = req.Clone(req.Context())
	req.URL = &u
	return http.DefaultTransport.RoundTrip(req)
}

// OpenAI's own API wants max_completion_tokens; compatible servers get
// max_tokens (checked in TestOpenAITextTurnStreamsDeltas).
func TestOpenAIHostedUsesMaxCompletionTokens(t *testing.T) {
	s := modeltest.NewOpenAI(t, modeltest.Options{}, modeltest.Text("ok"))
	p := openai.New(openai.Options{BaseURL: "https://api.openai.com/v1", APIKey: testKey,
		HTTPClient: &http.Client{Transport: rewrite{s.URL}}})
	collect(t, p, userReq("hi"))
	rec, _ := s.LastRequest()
	b := rec.JSON()
	if b["max_completion_tokens"] != float64(512) || b["max_tokens"] != nil {
		t.Fatalf("body = %s", rec.Body)
	}
}

// A server that ignores stream=true still yields a normal event sequence.
func TestOpenAINonStreamingAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"cmpl-1","object":"chat.completion","model":"m","choices":[{"index":0,"finish_reason":"tool_calls",
			"message":{"role":"assistant","content":"calling","reasoning_content":"why not",
			"tool_calls":[{"id":"call_9","type":"function","function":{"name":"bash","arguments":"{\"command\":\"id\"}"}}]}}],
			"usage":{"prompt_tokens":20,"completion_tokens":5}}`)
	}))
	defer srv.Close()
	p := openai.New(openai.Options{BaseURL: srv.URL})
	resp, _ := collect(t, p, userReq("hi"))
	uses := resp.ToolUses()
	if resp.ID != "cmpl-1" || resp.StopReason != model.StopToolUse || resp.Text() != "calling" ||
		resp.Content[0].Thinking != "why not" || len(uses) != 1 || string(uses[0].Input) != `{"command":"id"}` ||
		resp.Usage.InputTokens != 20 || resp.Usage.OutputTokens != 5 {
		t.Fatalf("resp = %+v", resp)
	}
}
