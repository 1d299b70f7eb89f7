package modeltest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hangarhq/hangar/internal/model"
)

// StartAnthropic starts a fake Anthropic Messages API (POST /v1/messages,
// streaming and not) that answers with turns, then with opts.Rule.
func StartAnthropic(opts Options, turns ...Turn) (*Server, error) {
	return start(opts, func(s *Server) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /v1/messages", s.anthropicMessages)
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			anthropicError(w, http.StatusNotFound, "not_found_error", "modeltest: no route for "+r.Method+" "+r.URL.Path, 0)
		})
		return mux
	}, "", turns)
}

// NewAnthropic is StartAnthropic for tests: it fails t on error and closes
// the server when t ends.
func NewAnthropic(t TB, opts Options, turns ...Turn) *Server {
	t.Helper()
	s, err := StartAnthropic(opts, turns...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// anthropicRequest is the part of a Messages request the fake reads.
type anthropicRequest struct {
	Model     string          `json:"model"`
	MaxTokens int             `json:"max_tokens"`
	System    json.RawMessage `json:"system"`
	Messages  []model.Message `json:"messages"`
	Tools     []model.Tool    `json:"tools"`
	Stream    bool            `json:"stream"`
	Thinking  *struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	} `json:"thinking"`
}

func (s *Server) anthropicMessages(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	rec := Recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	var req anthropicRequest
	parseErr := json.Unmarshal(body, &req)
	if parseErr == nil {
		rec.Input = Input{
			Model:     req.Model,
			Messages:  req.Messages,
			Tools:     req.Tools,
			MaxTokens: req.MaxTokens,
			Thinking:  req.Thinking != nil && (req.Thinking.Type == "enabled" || req.Thinking.Type == "adaptive"),
			Stream:    req.Stream,
		}
		if sys, err := systemText(req.System); err == nil {
			rec.Input.System = sys
		}
	}
	if !s.authorized(r) {
		s.reject(rec)
		anthropicError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key", 0)
		return
	}
	if parseErr != nil {
		s.reject(rec)
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", "modeltest: body is not valid JSON: "+parseErr.Error(), 0)
		return
	}
	if msg := validateAnthropic(&req, body); msg != "" {
		s.reject(rec)
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", msg, 0)
		return
	}
	turn, n, ok := s.record(rec)
	if !ok {
		anthropicError(w, http.StatusInternalServerError, "api_error", "modeltest: script exhausted", 0)
		return
	}
	turn = turn.normalize(n, estimateTokens(body))
	if !s.wait(r.Context(), turn.Delay) {
		s.noteAbort()
		return
	}
	w.Header().Set("Request-Id", fmt.Sprintf("req_fake%03d", n))
	if e := turn.Error; e != nil && !e.MidStream {
		typ := e.Type
		if typ == "" {
			typ = defaultType(e.Status)
		}
		setRetryAfter(w.Header(), e.RetryAfter)
		anthropicError(w, e.Status, typ, e.Message, n)
		return
	}
	msgID := fmt.Sprintf("msg_fake%03d", n)
	if !req.Stream {
		writeJSON(w, http.StatusOK, anthropicMessage(msgID, req.Model, turn))
		return
	}
	p := &pacer{s: s, ctx: r.Context(), t: turn}
	if !s.streamAnthropic(w, p, msgID, req.Model, turn) && !p.stalled {
		s.noteAbort()
	}
}

// streamAnthropic writes the turn as Messages SSE; false means it stopped
// early (client gone, or a scripted stall).
func (s *Server) streamAnthropic(w http.ResponseWriter, p *pacer, msgID, modelName string, t Turn) bool {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	sse := newSSE(w)
	u := t.Usage
	start := map[string]any{
		"type": "message_start",
		"message": map[string]any{
			"id": msgID, "type": "message", "role": "assistant", "model": modelName,
			"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
			"usage": map[string]any{
				"input_tokens":                u.InputTokens,
				"cache_creation_input_tokens": u.CacheCreationInputTokens,
				"cache_read_input_tokens":     u.CacheReadInputTokens,
				"output_tokens":               1,
				"cache_creation": map[string]any{
					"ephemeral_1h_input_tokens": u.CacheCreation1hInputTokens,
					"ephemeral_5m_input_tokens": u.CacheCreationInputTokens - u.CacheCreation1hInputTokens,
				},
				"speed": speedOf(u),
			},
		},
	}
	if !sse.send("message_start", start) || !sse.send("ping", map[string]any{"type": "ping"}) {
		return false
	}
	if e := t.Error; e != nil {
		typ := e.Type
		if typ == "" {
			typ = defaultType(e.Status)
		}
		return sse.send("error", map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": e.Message}})
	}
	delta := func(i int, d map[string]any) bool {
		return p.before() &&
			sse.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": d}) &&
			p.after()
	}
	for i, b := range t.Content {
		var cb map[string]any
		switch b.Type {
		case model.BlockText:
			cb = map[string]any{"type": "text", "text": ""}
		case model.BlockThinking:
			cb = map[string]any{"type": "thinking", "thinking": "", "signature": ""}
		case model.BlockRedactedThinking:
			cb = map[string]any{"type": "redacted_thinking", "data": b.Data}
		case model.BlockToolUse:
			cb = map[string]any{"type": "tool_use", "id": b.ID, "name": b.Name, "input": map[string]any{}}
		default:
			continue
		}
		if !sse.send("content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": cb}) {
			return false
		}
		switch b.Type {
		case model.BlockText:
			for _, c := range chunks(b.Text, t.ChunkSize) {
				if !delta(i, map[string]any{"type": "text_delta", "text": c}) {
					return false
				}
			}
		case model.BlockThinking:
			for _, c := range chunks(b.Thinking, t.ChunkSize) {
				if !delta(i, map[string]any{"type": "thinking_delta", "thinking": c}) {
					return false
				}
			}
			if !delta(i, map[string]any{"type": "signature_delta", "signature": b.Signature}) {
				return false
			}
		case model.BlockToolUse:
			for _, c := range byteChunks(string(b.Input), t.ChunkSize) {
				if !delta(i, map[string]any{"type": "input_json_delta", "partial_json": c}) {
					return false
				}
			}
		}
		if !sse.send("content_block_stop", map[string]any{"type": "content_block_stop", "index": i}) {
			return false
		}
	}
	var stopSeq any
	if t.StopSequence != "" {
		stopSeq = t.StopSequence
	}
	md := map[string]any{
		"type":  "message_delta",
		"delta": map[string]any{"stop_reason": t.StopReason, "stop_sequence": stopSeq},
		"usage": map[string]any{
			"input_tokens":                u.InputTokens,
			"output_tokens":               u.OutputTokens,
			"cache_creation_input_tokens": u.CacheCreationInputTokens,
			"cache_read_input_tokens":     u.CacheReadInputTokens,
		},
	}
	return sse.send("message_delta", md) && sse.send("message_stop", map[string]any{"type": "message_stop"})
}

// anthropicMessage is the non-streaming response body.
func anthropicMessage(id, modelName string, t Turn) map[string]any {
	content := make([]any, 0, len(t.Content))
	for _, b := range t.Content {
		switch b.Type {
		case model.BlockText:
			content = append(content, map[string]any{"type": "text", "text": b.Text})
		case model.BlockThinking:
			content = append(content, map[string]any{"type": "thinking", "thinking": b.Thinking, "signature": b.Signature})
		case model.BlockRedactedThinking:
			content = append(content, map[string]any{"type": "redacted_thinking", "data": b.Data})
		case model.BlockToolUse:
			content = append(content, map[string]any{"type": "tool_use", "id": b.ID, "name": b.Name, "input": b.Input})
		}
	}
	var stopSeq any
	if t.StopSequence != "" {
		stopSeq = t.StopSequence
	}
	return map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": modelName,
		"content": content, "stop_reason": t.StopReason, "stop_sequence": stopSeq,
		"usage": map[string]any{
			"input_tokens":                t.Usage.InputTokens,
			"output_tokens":               t.Usage.OutputTokens,
			"cache_creation_input_tokens": t.Usage.CacheCreationInputTokens,
			"cache_read_input_tokens":     t.Usage.CacheReadInputTokens,
			"cache_creation": map[string]any{
				"ephemeral_1h_input_tokens": t.Usage.CacheCreation1hInputTokens,
				"ephemeral_5m_input_tokens": t.Usage.CacheCreationInputTokens - t.Usage.CacheCreation1hInputTokens,
			},
			"speed": speedOf(t.Usage),
		},
	}
}

// speedOf is usage.speed as the Messages API reports it.
func speedOf(u model.Usage) string {
	if u.Fast {
		return "fast"
	}
	return "standard"
}

func anthropicError(w http.ResponseWriter, status int, typ, msg string, n int) {
	writeJSON(w, status, map[string]any{
		"type":       "error",
		"error":      map[string]any{"type": typ, "message": msg},
		"request_id": fmt.Sprintf("req_fake%03d", n),
	})
}

// systemText reads a system field given as a string or as text blocks.
func systemText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var blocks []model.Block
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", err
	}
	var parts []string
	for _, b := range blocks {
		parts = append(parts, b.Text)
	}
	return strings.Join(parts, "\n"), nil
}

// validateAnthropic enforces the rules of the real API that a provider bug
// would break, so such bugs fail tests here rather than in production.
func validateAnthropic(req *anthropicRequest, body []byte) string {
	switch {
	case req.Model == "":
		return "model: Field required"
	case req.MaxTokens <= 0:
		return "max_tokens: Field required"
	case len(req.Messages) == 0:
		return "messages: at least one message is required"
	}
	if n := strings.Count(string(body), `"cache_control"`); n > 4 {
		return fmt.Sprintf("A maximum of 4 blocks with cache_control may be provided. Found %d.", n)
	}
	if th := req.Thinking; th != nil && th.Type == "enabled" {
		if th.BudgetTokens < 1024 {
			return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
		}
		if th.BudgetTokens >= req.MaxTokens {
			return "`max_tokens` must be greater than `thinking.budget_tokens`"
		}
	}
	for i, m := range req.Messages {
		if m.Role != model.RoleUser {
			continue
		}
		var prev map[string]bool
		if i > 0 && req.Messages[i-1].Role == model.RoleAssistant {
			prev = map[string]bool{}
			for _, b := range req.Messages[i-1].Content {
				if b.Type == model.BlockToolUse {
					prev[b.ID] = true
				}
			}
		}
		for j, b := range m.Content {
			if b.Type == model.BlockToolResult && !prev[b.ToolUseID] {
				return fmt.Sprintf("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. "+
					"Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, b.ToolUseID)
			}
		}
	}
	for i, m := range req.Messages {
		if m.Role != model.RoleAssistant {
			continue
		}
		for _, b := range m.Content {
			if b.Type != model.BlockToolUse {
				continue
			}
			answered := false
			if i+1 < len(req.Messages) {
				for _, r := range req.Messages[i+1].Content {
					if r.Type == model.BlockToolResult && r.ToolUseID == b.ID {
						answered = true
					}
				}
			} else {
				answered = true // a trailing assistant turn is a prefill
			}
			if !answered {
				return fmt.Sprintf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s", i, b.ID)
			}
		}
	}
	return ""
}

// byteChunks splits s into pieces of at most n bytes (tool input JSON may
// be cut anywhere, as the real API does).
func byteChunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}
