package modeltest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/model"
)

// StartOpenAI starts a fake OpenAI-compatible server (POST
// /v1/chat/completions, streaming and not) that answers with turns, then
// with opts.Rule. Its URL ends in /v1, as OpenAI base URLs do.
func StartOpenAI(opts Options, turns ...Turn) (*Server, error) {
	if opts.ReasoningField == "" {
		opts.ReasoningField = "reasoning_content"
	}
	return start(opts, func(s *Server) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /v1/chat/completions", s.openaiChat)
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			openaiError(w, http.StatusNotFound, &UpstreamError{Type: "invalid_request_error",
				Message: "modeltest: no route for " + r.Method + " " + r.URL.Path})
		})
		return mux
	}, "/v1", turns)
}

// NewOpenAI is StartOpenAI for tests: it fails t on error and closes the
// server when t ends.
func NewOpenAI(t TB, opts Options, turns ...Turn) *Server {
	t.Helper()
	s, err := StartOpenAI(opts, turns...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type openaiRequest struct {
	Model         string          `json:"model"`
	Messages      []openaiMessage `json:"messages"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           int    `json:"max_tokens"`
	MaxCompletionTokens int    `json:"max_completion_tokens"`
	ReasoningEffort     string `json:"reasoning_effort"`
	Tools               []struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
}

type openaiMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCallID string          `json:"tool_call_id"`
	ToolCalls  []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// input converts a chat request to the neutral view.
func (req *openaiRequest) input() Input {
	in := Input{Model: req.Model, MaxTokens: req.MaxTokens, Stream: req.Stream, Thinking: req.ReasoningEffort != ""}
	if in.MaxTokens == 0 {
		in.MaxTokens = req.MaxCompletionTokens
	}
	for _, t := range req.Tools {
		in.Tools = append(in.Tools, model.Tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: t.Function.Parameters})
	}
	var sys []string
	for i, m := range req.Messages {
		blocks := openaiContent(m.Content)
		switch m.Role {
		case "system", "developer":
			if i == 0 || len(in.Messages) == 0 {
				for _, b := range blocks {
					sys = append(sys, b.Text)
				}
				continue
			}
			in.Messages = append(in.Messages, model.Message{Role: model.RoleSystem, Content: blocks})
		case "assistant":
			msg := model.Message{Role: model.RoleAssistant, Content: blocks}
			for _, tc := range m.ToolCalls {
				msg.Content = append(msg.Content, model.ToolUse(tc.ID, tc.Function.Name, json.RawMessage(tc.Function.Arguments)))
			}
			in.Messages = append(in.Messages, msg)
		case "tool":
			res := model.Block{Type: model.BlockToolResult, ToolUseID: m.ToolCallID, Content: blocks}
			// Consecutive tool messages answer one assistant turn.
			if n := len(in.Messages); n > 0 && in.Messages[n-1].Role == model.RoleUser && isToolResults(in.Messages[n-1]) {
				in.Messages[n-1].Content = append(in.Messages[n-1].Content, res)
			} else {
				in.Messages = append(in.Messages, model.Message{Role: model.RoleUser, Content: []model.Block{res}})
			}
		default:
			in.Messages = append(in.Messages, model.Message{Role: model.RoleUser, Content: blocks})
		}
	}
	in.System = strings.Join(sys, "\n")
	return in
}

func isToolResults(m model.Message) bool {
	for _, b := range m.Content {
		if b.Type != model.BlockToolResult {
			return false
		}
	}
	return len(m.Content) > 0
}

// openaiContent reads content given as a string or as parts.
func openaiContent(raw json.RawMessage) []model.Block {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil
		}
		return []model.Block{model.Text(s)}
	}
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL struct {
			URL string `json:"url"`
		} `json:"image_url"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return nil
	}
	var out []model.Block
	for _, p := range parts {
		switch p.Type {
		case "text":
			out = append(out, model.Text(p.Text))
		case "image_url":
			out = append(out, model.Block{Type: model.BlockImage, Source: &model.Source{Type: "url", URL: p.ImageURL.URL}})
		}
	}
	return out
}

func (s *Server) openaiChat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	rec := Recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	var req openaiRequest
	parseErr := json.Unmarshal(body, &req)
	if parseErr == nil {
		rec.Input = req.input()
	}
	reject := func(status int, e *UpstreamError) {
		s.reject(rec)
		openaiError(w, status, e)
	}
	switch {
	case !s.authorized(r):
		reject(http.StatusUnauthorized, &UpstreamError{Type: "invalid_request_error", Code: "invalid_api_key",
			Message: "Incorrect API key provided."})
		return
	case parseErr != nil:
		reject(http.StatusBadRequest, &UpstreamError{Type: "invalid_request_error",
			Message: "modeltest: body is not valid JSON: " + parseErr.Error()})
		return
	case req.Model == "":
		reject(http.StatusBadRequest, &UpstreamError{Type: "invalid_request_error", Message: "you must provide a model parameter"})
		return
	case len(req.Messages) == 0:
		reject(http.StatusBadRequest, &UpstreamError{Type: "invalid_request_error", Message: "messages: must not be empty"})
		return
	}
	if msg := validateOpenAI(&req); msg != "" {
		reject(http.StatusBadRequest, &UpstreamError{Type: "invalid_request_error", Message: msg})
		return
	}
	turn, n, ok := s.record(rec)
	if !ok {
		openaiError(w, http.StatusInternalServerError, &UpstreamError{Type: "server_error", Message: "modeltest: script exhausted"})
		return
	}
	turn = turn.normalize(n, estimateTokens(body))
	if !s.wait(r.Context(), turn.Delay) {
		s.noteAbort()
		return
	}
	w.Header().Set("X-Request-Id", fmt.Sprintf("req_fake%03d", n))
	if e := turn.Error; e != nil && !e.MidStream {
		setRetryAfter(w.Header(), e.RetryAfter)
		openaiError(w, e.Status, e)
		return
	}
	id := fmt.Sprintf("chatcmpl-fake%03d", n)
	if !req.Stream {
		writeJSON(w, http.StatusOK, openaiCompletion(id, req.Model, turn))
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	p := &pacer{s: s, ctx: r.Context(), t: turn}
	if !s.streamOpenAI(w, p, id, req.Model, turn, includeUsage) && !p.stalled {
		s.noteAbort()
	}
}

// validateOpenAI enforces what OpenAI does and a provider bug would break:
// every tool message answers a call of the assistant message before it.
func validateOpenAI(req *openaiRequest) string {
	calls := map[string]bool{}
	for i, m := range req.Messages {
		switch m.Role {
		case "assistant":
			calls = map[string]bool{}
			for _, tc := range m.ToolCalls {
				calls[tc.ID] = true
				if !json.Valid([]byte(tc.Function.Arguments)) {
					return fmt.Sprintf("messages[%d].tool_calls: arguments of %s are not valid JSON", i, tc.ID)
				}
			}
		case "tool":
			if !calls[m.ToolCallID] {
				return fmt.Sprintf("messages[%d]: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'", i)
			}
		default:
			calls = map[string]bool{}
		}
	}
	return ""
}

func finishReason(r model.StopReason) string {
	switch r {
	case model.StopToolUse:
		return "tool_calls"
	case model.StopMaxTokens:
		return "length"
	case model.StopRefusal:
		return "content_filter"
	}
	return "stop"
}

func openaiUsage(u model.Usage) map[string]any {
	prompt := u.PromptTokens()
	return map[string]any{
		"prompt_tokens":         prompt,
		"completion_tokens":     u.OutputTokens,
		"total_tokens":          prompt + u.OutputTokens,
		"prompt_tokens_details": map[string]any{"cached_tokens": u.CacheReadInputTokens},
	}
}

// streamOpenAI writes the turn as chat.completion.chunk SSE; false means it
// stopped early.
func (s *Server) streamOpenAI(w http.ResponseWriter, p *pacer, id, modelName string, t Turn, includeUsage bool) bool {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	sse := newSSE(w)
	created := time.Now().Unix()
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": modelName,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
		}
	}
	if !sse.send("", chunk(map[string]any{"role": "assistant", "content": ""}, nil)) {
		return false
	}
	if e := t.Error; e != nil {
		return sse.send("", map[string]any{"error": openaiErrorObject(e)})
	}
	delta := func(d map[string]any) bool {
		return p.before() && sse.send("", chunk(d, nil)) && p.after()
	}
	call := 0
	for _, b := range t.Content {
		switch b.Type {
		case model.BlockText:
			for _, c := range chunks(b.Text, t.ChunkSize) {
				if !delta(map[string]any{"content": c}) {
					return false
				}
			}
		case model.BlockThinking:
			for _, c := range chunks(b.Thinking, t.ChunkSize) {
				if !delta(map[string]any{s.opts.ReasoningField: c}) {
					return false
				}
			}
		case model.BlockToolUse:
			head := map[string]any{"tool_calls": []any{map[string]any{
				"index": call, "id": b.ID, "type": "function",
				"function": map[string]any{"name": b.Name, "arguments": ""},
			}}}
			if !delta(head) {
				return false
			}
			for _, c := range byteChunks(string(b.Input), t.ChunkSize) {
				if !delta(map[string]any{"tool_calls": []any{map[string]any{
					"index": call, "function": map[string]any{"arguments": c},
				}}}) {
					return false
				}
			}
			call++
		}
	}
	if !sse.send("", chunk(map[string]any{}, finishReason(t.StopReason))) {
		return false
	}
	if includeUsage {
		u := map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": modelName,
			"choices": []any{}, "usage": openaiUsage(t.Usage),
		}
		if !sse.send("", u) {
			return false
		}
	}
	return sse.raw("", []byte("[DONE]"))
}

func openaiCompletion(id, modelName string, t Turn) map[string]any {
	var text []string
	var reasoning []string
	var calls []any
	for _, b := range t.Content {
		switch b.Type {
		case model.BlockText:
			text = append(text, b.Text)
		case model.BlockThinking:
			reasoning = append(reasoning, b.Thinking)
		case model.BlockToolUse:
			calls = append(calls, map[string]any{"id": b.ID, "type": "function",
				"function": map[string]any{"name": b.Name, "arguments": string(b.Input)}})
		}
	}
	msg := map[string]any{"role": "assistant", "content": strings.Join(text, "")}
	if len(reasoning) > 0 {
		msg["reasoning_content"] = strings.Join(reasoning, "")
	}
	if len(calls) > 0 {
		msg["tool_calls"] = calls
	}
	return map[string]any{
		"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": modelName,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finishReason(t.StopReason)}},
		"usage":   openaiUsage(t.Usage),
	}
}

func openaiErrorObject(e *UpstreamError) map[string]any {
	typ := e.Type
	if typ == "" {
		typ = defaultType(e.Status)
	}
	var code any
	if e.Code != "" {
		code = e.Code
	}
	return map[string]any{"message": e.Message, "type": typ, "param": nil, "code": code}
}

func openaiError(w http.ResponseWriter, status int, e *UpstreamError) {
	writeJSON(w, status, map[string]any{"error": openaiErrorObject(e)})
}
