package modeltest_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
)

func post(t *testing.T, url, body string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode(t *testing.T, r io.Reader) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The raw wire of the Anthropic fake, as a client other than our provider
// would see it.
func TestAnthropicFakeWire(t *testing.T) {
	turn := modeltest.Turn{Content: []model.Block{
		{Type: model.BlockThinking, Thinking: "hm"},
		model.Text("hi"),
	}, StopSequence: "END", StopReason: model.StopSequence}
	s := modeltest.NewAnthropic(t, modeltest.Options{APIKey: "k-123456789"}, turn, modeltest.Text("plain"))
	msg := `{"model":"claude-x","max_tokens":50,"stream":true,"system":"sys","messages":[{"role":"user","content":"yo"}]}`

	if resp := post(t, s.URL+"/v1/messages", msg, nil); resp.StatusCode != 401 {
		t.Fatalf("no key: status %d", resp.StatusCode)
	}
	resp := post(t, s.URL+"/v1/messages", msg, map[string]string{"x-api-key": "k-123456789"})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Request-Id") == "" {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
	}
	var names []string
	var last map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			names = append(names, name)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			_ = json.Unmarshal([]byte(data), &last)
			if last["type"] == "message_delta" {
				d := last["delta"].(map[string]any)
				if d["stop_reason"] != "stop_sequence" || d["stop_sequence"] != "END" {
					t.Fatalf("message_delta = %v", last)
				}
			}
		}
	}
	want := "message_start ping content_block_start content_block_delta content_block_delta content_block_stop " +
		"content_block_start content_block_delta content_block_stop message_delta message_stop"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("events:\n%s\nwant\n%s", got, want)
	}

	// Non-streaming.
	resp = post(t, s.URL+"/v1/messages", strings.Replace(msg, `"stream":true`, `"stream":false`, 1), map[string]string{"authorization": "Bearer k-123456789"})
	body := decode(t, resp.Body)
	if body["type"] != "message" || body["content"].([]any)[0].(map[string]any)["text"] != "plain" || body["stop_reason"] != "end_turn" {
		t.Fatalf("message = %v", body)
	}

	// Script exhausted, no rule: a visible 500.
	resp = post(t, s.URL+"/v1/messages", msg, map[string]string{"x-api-key": "k-123456789"})
	if resp.StatusCode != 500 {
		t.Fatalf("exhausted: status %d", resp.StatusCode)
	}
	reqs := s.Requests()
	if len(reqs) != 4 || reqs[1].Input.System != "sys" || reqs[1].Input.Messages[0].Content[0].Text != "yo" {
		t.Fatalf("recorded %d requests: %+v", len(reqs), reqs)
	}
}

// The fake rejects what the real API rejects, so provider bugs show up.
func TestAnthropicFakeValidates(t *testing.T) {
	s := modeltest.NewAnthropic(t, modeltest.Options{Rule: modeltest.EchoRule})
	cases := []struct{ body, want string }{
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":"r"}]}]}`, "Each `tool_result` block must have a corresponding `tool_use`"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"n","input":{}}]},{"role":"user","content":"b"}]}`, "without `tool_result` blocks"},
		{`{"model":"m","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":2000},"messages":[{"role":"user","content":"a"}]}`, "max_tokens"},
		{`{"model":"m","messages":[{"role":"user","content":"a"}]}`, "max_tokens: Field required"},
		{`{not json`, "not valid JSON"},
	}
	for _, c := range cases {
		resp := post(t, s.URL+"/v1/messages", c.body, nil)
		body := decode(t, resp.Body)
		e := body["error"].(map[string]any)
		if resp.StatusCode != 400 || e["type"] != "invalid_request_error" || !strings.Contains(e["message"].(string), c.want) {
			t.Errorf("%s: %d %v", c.body, resp.StatusCode, body)
		}
	}
	if resp := post(t, s.URL+"/v1/nope", `{}`, nil); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}

func TestOpenAIFakeWire(t *testing.T) {
	turn := modeltest.Turn{Content: []model.Block{model.Text("ab"), model.ToolUse("call_1", "f", json.RawMessage(`{"x":1}`))},
		Usage: model.Usage{InputTokens: 5, OutputTokens: 2, CacheReadInputTokens: 3}}
	s := modeltest.NewOpenAI(t, modeltest.Options{}, turn, turn, modeltest.Text("sync"))
	base := `{"model":"m","stream":true,"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"q"}]}]`

	read := func(resp *http.Response) (chunks []map[string]any, done bool) {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			if data == "[DONE]" {
				done = true
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				t.Fatal(err)
			}
			chunks = append(chunks, m)
		}
		return chunks, done
	}
	chunks, done := read(post(t, s.URL+"/chat/completions", base+`,"stream_options":{"include_usage":true}}`, nil))
	last := chunks[len(chunks)-1]
	u, _ := last["usage"].(map[string]any)
	if !done || u == nil || u["prompt_tokens"] != float64(8) || u["prompt_tokens_details"].(map[string]any)["cached_tokens"] != float64(3) {
		t.Fatalf("usage chunk = %v (done %v)", last, done)
	}
	finish := chunks[len(chunks)-2]["choices"].([]any)[0].(map[string]any)["finish_reason"]
	if finish != "tool_calls" {
		t.Fatalf("finish_reason = %v", finish)
	}
	chunks, _ = read(post(t, s.URL+"/chat/completions", base+`}`, nil))
	if _, ok := chunks[len(chunks)-1]["usage"]; ok {
		t.Fatal("usage chunk sent without include_usage")
	}
	resp := post(t, s.URL+"/chat/completions", strings.Replace(base, `"stream":true`, `"stream":false`, 1)+`}`, nil)
	body := decode(t, resp.Body)
	msg := body["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	if body["object"] != "chat.completion" || msg["content"] != "sync" {
		t.Fatalf("completion = %v", body)
	}
	rec := s.Requests()[0]
	if rec.Input.System != "s" || rec.Input.Messages[0].Content[0].Text != "q" {
		t.Fatalf("input = %+v", rec.Input)
	}

	bad := post(t, s.URL+"/chat/completions", `{"model":"m","messages":[{"role":"tool","tool_call_id":"x","content":"r"}]}`, nil)
	if bad.StatusCode != 400 {
		t.Fatalf("orphan tool message: %d", bad.StatusCode)
	}
}

func TestRetryAfterHeaders(t *testing.T) {
	s := modeltest.NewOpenAI(t, modeltest.Options{},
		modeltest.Turn{Error: &modeltest.UpstreamError{Status: 429, RetryAfter: 1500 * time.Millisecond}},
		modeltest.Turn{Error: &modeltest.UpstreamError{Status: 503, RetryAfter: 3 * time.Second}},
	)
	msg := `{"model":"m","messages":[{"role":"user","content":"x"}]}`
	r1 := post(t, s.URL+"/chat/completions", msg, nil)
	if r1.StatusCode != 429 || r1.Header.Get("Retry-After") != "2" || r1.Header.Get("Retry-After-Ms") != "1500" {
		t.Fatalf("429 headers %v", r1.Header)
	}
	r2 := post(t, s.URL+"/chat/completions", msg, nil)
	if r2.StatusCode != 503 || r2.Header.Get("Retry-After") != "3" || r2.Header.Get("Retry-After-Ms") != "" {
		t.Fatalf("503 headers %v", r2.Header)
	}
	body := decode(t, r2.Body)
	if body["error"].(map[string]any)["type"] != "api_error" {
		t.Fatalf("body = %v", body)
	}
}

func TestDemoRule(t *testing.T) {
	in := modeltest.Input{
		Tools:    []model.Tool{{Name: "bash"}, {Name: "read"}},
		Thinking: true,
		Messages: []model.Message{{Role: model.RoleUser, Content: []model.Block{model.Text(
			"do two things\ntool: bash {\"command\":\"ls\"}\n tool: read\ntool: nope {}")}}},
	}
	turn := modeltest.DemoRule(in)
	if turn.Content[0].Type != model.BlockThinking {
		t.Fatalf("no thinking: %+v", turn.Content)
	}
	var calls []string
	for _, b := range turn.Content {
		if b.Type == model.BlockToolUse {
			calls = append(calls, b.Name+string(b.Input))
		}
	}
	if strings.Join(calls, " ") != `bash{"command":"ls"} read{}` {
		t.Fatalf("calls = %v", calls)
	}

	in.Messages = []model.Message{{Role: model.RoleUser, Content: []model.Block{model.Text("tool: nope")}}}
	if got := modeltest.DemoRule(in).Content[1].Text; got != "No such tool: nope" {
		t.Fatalf("unknown tool answer = %q", got)
	}
	in.Messages = []model.Message{{Role: model.RoleUser, Content: []model.Block{model.ToolResult("toolu_9", "out", true)}}}
	if got := modeltest.DemoRule(in).Content[1].Text; got != "Tool results:\n- toolu_9 (error): out" {
		t.Fatalf("results answer = %q", got)
	}
}

func TestMaxRecorded(t *testing.T) {
	s := modeltest.NewOpenAI(t, modeltest.Options{Rule: modeltest.EchoRule, MaxRecorded: 2})
	for _, q := range []string{"a", "b", "c"} {
		resp := post(t, s.URL+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"`+q+`"}]}`, nil)
		io.Copy(io.Discard, resp.Body)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Input.LastUserText() != "b" || reqs[1].Input.LastUserText() != "c" {
		t.Fatalf("kept %d: %+v", len(reqs), reqs)
	}
}

// A negative MaxRecorded keeps no request (the demo mode's setting) and
// still answers every one.
func TestMaxRecordedNone(t *testing.T) {
	s := modeltest.NewOpenAI(t, modeltest.Options{Rule: modeltest.EchoRule, MaxRecorded: -1})
	resp := post(t, s.URL+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hello"}]}`, nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "hello") {
		t.Fatalf("answer %d: %s", resp.StatusCode, body)
	}
	if reqs := s.Requests(); len(reqs) != 0 {
		t.Fatalf("kept %d requests", len(reqs))
	}
}
