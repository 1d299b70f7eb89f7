// Package openai is the model.Provider for OpenAI-compatible chat-completions
// endpoints (vLLM, Ollama, llama.cpp server, hosted gateways), spoken over
// plain net/http. It owns the translation from model requests to chat
// messages and function tools, the streaming chunk decoder, and the mapping
// of the servers' varied error shapes to model.Error.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/internal/upstream"
)

const providerName = model.ProviderOpenAI

// Options configure a Provider.
type Options struct {
	// BaseURL is the API root that /chat/completions hangs off, e.g.
	// http://127.0.0.1:8000/v1 (vLLM) or http://127.0.0.1:11434/v1 (Ollama).
	BaseURL string
	// APIKey is sent as a bearer token; empty sends none.
	APIKey string
	// HTTPClient is the base client (nil for a default transport).
	HTTPClient *http.Client
	// StallTimeout fails a response that sends nothing for this long
	// (default upstream.DefaultStallTimeout).
	StallTimeout time.Duration
}

// Provider streams turns from a chat-completions endpoint.
type Provider struct {
	url  string
	key  string
	http *http.Client
	// completionTokens sends max_completion_tokens instead of max_tokens:
	// OpenAI's own API rejects max_tokens for its reasoning models, while
	// several compatible servers know only max_tokens.
	completionTokens bool
}

var _ model.Provider = (*Provider)(nil)

// New returns a provider.
func New(o Options) *Provider {
	base := strings.TrimRight(o.BaseURL, "/")
	p := &Provider{
		url:  base + "/chat/completions",
		key:  o.APIKey,
		http: upstream.Client(o.HTTPClient, o.StallTimeout),
	}
	if u, err := url.Parse(base); err == nil && u.Host == "api.openai.com" {
		p.completionTokens = true
	}
	return p
}

// NewFactory adapts New to model.Factory.
func NewFactory(base Options) model.Factory {
	return func(ep model.Endpoint) (model.Provider, error) {
		o := base
		o.BaseURL, o.APIKey = ep.BaseURL, ep.APIKey
		return New(o), nil
	}
}

// Stream implements model.Provider.
func (p *Provider) Stream(ctx context.Context, req *model.Request) iter.Seq2[model.Event, error] {
	return func(yield func(model.Event, error) bool) {
		if err := req.Validate(); err != nil {
			if e, ok := model.AsError(err); ok {
				e.Provider = providerName
			}
			yield(model.Event{}, err)
			return
		}
		cr := buildRequest(req)
		if p.completionTokens {
			cr.MaxCompletionTokens, cr.MaxTokens = cr.MaxTokens, 0
		}
		body, err := json.Marshal(cr)
		if err != nil {
			yield(model.Event{}, &model.Error{Kind: model.KindInvalidRequest, Provider: providerName,
				Message: "the request could not be encoded", Err: err})
			return
		}
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
		if err != nil {
			yield(model.Event{}, &model.Error{Kind: model.KindNotConfigured, Provider: providerName,
				Message: "the base URL is not usable", Err: err})
			return
		}
		hreq.Header.Set("Content-Type", "application/json")
		hreq.Header.Set("Accept", "text/event-stream")
		if p.key != "" {
			hreq.Header.Set("Authorization", "Bearer "+p.key)
		}
		resp, err := p.http.Do(hreq)
		if err != nil {
			yield(model.Event{}, upstream.Transport(ctx, providerName, err))
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			yield(model.Event{}, p.statusError(resp))
			return
		}
		decode := decodeStream
		if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
			decode = decodeCompletion
		}
		stopped := false
		err = decode(resp.Body, func(ev model.Event) bool {
			if !yield(ev, nil) {
				stopped = true
				return false
			}
			return true
		})
		if stopped || err == nil {
			return
		}
		yield(model.Event{}, p.streamError(ctx, err))
	}
}

// statusError reads an error response.
func (p *Provider) statusError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &model.Error{
		Provider:   providerName,
		Status:     resp.StatusCode,
		RetryAfter: upstream.RetryAfter(resp.Header, time.Now()),
		RequestID:  firstHeader(resp.Header, "X-Request-Id", "Request-Id"),
	}
	ae := parseErrorBody(raw)
	e.Type, e.Message = ae.Type, ae.Message
	e.Kind = upstream.KindForStatus(resp.StatusCode)
	p.refine(e, ae)
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// streamError maps a failure while reading a 200 stream.
func (p *Provider) streamError(ctx context.Context, err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		e := &model.Error{Provider: providerName, Type: ae.Type, Message: ae.Message, Kind: model.KindServer}
		if st := ae.codeStatus(); st != 0 {
			e.Status = st
			e.Kind = upstream.KindForStatus(st)
		}
		p.refine(e, ae)
		if e.Message == "" {
			e.Message = "the model provider reported an error mid-stream"
		}
		return e
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var me *malformedError
	if errors.As(err, &me) {
		return &model.Error{Kind: model.KindServer, Provider: providerName,
			Message: "the model provider sent a malformed stream chunk", Err: err}
	}
	if errors.Is(err, errIncomplete) {
		return &model.Error{Kind: model.KindNetwork, Provider: providerName,
			Message: "the model stream ended before the turn finished", Err: err}
	}
	return upstream.Transport(ctx, providerName, err)
}

// refine sharpens the kind from the error's type, code and wording, and
// scrubs the key from the message.
func (p *Provider) refine(e *model.Error, ae *apiError) {
	for _, name := range []string{ae.codeString(), ae.Type} {
		k, ok := upstream.KindForType(name)
		if !ok {
			continue
		}
		// The type names the cause (a 429 "insufficient_quota" is billing,
		// not a rate limit), except that a 5xx stays a retryable server
		// problem whatever it calls itself.
		if e.Status < 500 || (&model.Error{Kind: k}).Retryable() {
			e.Kind = k
		}
		break
	}
	if (e.Kind == model.KindInvalidRequest || e.Kind == model.KindServer && e.Status == 0) &&
		upstream.LooksLikeContextOverflow(ae.Message) {
		e.Kind = model.KindContextTooLong
	}
	e.Message = upstream.Scrub(strings.TrimSpace(e.Message), p.key)
}

// parseErrorBody accepts {"error":{...}}, {"error":"..."} (Ollama),
// {"detail":"..."} (FastAPI) and {"message":"..."}; anything else becomes the
// message verbatim (truncated).
func parseErrorBody(raw []byte) *apiError {
	var env struct {
		Error   *apiError       `json:"error"`
		Detail  json.RawMessage `json:"detail"`
		Message string          `json:"message"`
		Type    string          `json:"type"`
	}
	if json.Unmarshal(raw, &env) == nil {
		switch {
		case env.Error != nil:
			return env.Error
		case len(env.Detail) > 0:
			var s string
			if json.Unmarshal(env.Detail, &s) != nil {
				s = string(env.Detail)
			}
			return &apiError{Message: s}
		case env.Message != "":
			return &apiError{Message: env.Message, Type: env.Type}
		}
	}
	s := strings.TrimSpace(string(raw))
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return &apiError{Message: s}
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// Wire types of the request.
type (
	chatRequest struct {
		Model               string         `json:"model"`
		Messages            []chatMessage  `json:"messages"`
		Stream              bool           `json:"stream"`
		StreamOptions       *streamOptions `json:"stream_options,omitempty"`
		MaxTokens           int            `json:"max_tokens,omitempty"`
		MaxCompletionTokens int            `json:"max_completion_tokens,omitempty"`
		Tools               []chatTool     `json:"tools,omitempty"`
		ToolChoice          any            `json:"tool_choice,omitempty"`
		ParallelToolCalls   *bool          `json:"parallel_tool_calls,omitempty"`
		Stop                []string       `json:"stop,omitempty"`
		ReasoningEffort     string         `json:"reasoning_effort,omitempty"`
	}
	streamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	}
	chatMessage struct {
		Role string `json:"role"`
		// Content is a string or a list of parts; assistant messages with
		// only tool calls send "" because chat templates concatenate it.
		Content    any            `json:"content"`
		ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
		ToolCallID string         `json:"tool_call_id,omitempty"`
	}
	chatPart struct {
		Type     string        `json:"type"`
		Text     string        `json:"text,omitempty"`
		ImageURL *chatImageURL `json:"image_url,omitempty"`
		File     *chatFile     `json:"file,omitempty"`
	}
	chatImageURL struct {
		URL string `json:"url"`
	}
	chatFile struct {
		Filename string `json:"filename,omitempty"`
		FileData string `json:"file_data"`
	}
	chatToolCall struct {
		ID       string           `json:"id"`
		Type     string           `json:"type"`
		Function chatFunctionCall `json:"function"`
	}
	chatFunctionCall struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}
	chatTool struct {
		Type     string       `json:"type"`
		Function chatFunction `json:"function"`
	}
	chatFunction struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters"`
	}
)

// buildRequest translates a validated request. Thinking blocks of earlier
// turns are dropped: chat-completions has no field for them and reasoning
// models are trained not to see their old reasoning.
func buildRequest(req *model.Request) *chatRequest {
	cr := &chatRequest{
		Model:         req.Model,
		Stream:        true,
		StreamOptions: &streamOptions{IncludeUsage: true},
		MaxTokens:     req.MaxTokens,
		Stop:          req.StopSequences,
	}
	if sys := joinText(req.System); sys != "" {
		cr.Messages = append(cr.Messages, chatMessage{Role: "system", Content: sys})
	}
	for _, m := range req.Messages {
		cr.Messages = appendMessage(cr.Messages, m)
	}
	for _, t := range req.Tools {
		params := t.InputSchema
		if len(params) == 0 {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		cr.Tools = append(cr.Tools, chatTool{Type: "function",
			Function: chatFunction{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	if tc := req.ToolChoice; tc != nil && len(cr.Tools) > 0 {
		switch tc.Type {
		case "auto":
			cr.ToolChoice = "auto"
		case "any":
			cr.ToolChoice = "required"
		case "none":
			cr.ToolChoice = "none"
		case "tool":
			cr.ToolChoice = map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}}
		}
		if tc.DisableParallel {
			f := false
			cr.ParallelToolCalls = &f
		}
	}
	switch req.Effort {
	case "low", "medium", "high":
		cr.ReasoningEffort = req.Effort
	case "xhigh", "max":
		cr.ReasoningEffort = "high"
	}
	return cr
}

func joinText(blocks []model.Block) string {
	var parts []string
	for _, b := range blocks {
		if b.Type == model.BlockText && b.Text != "" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n\n")
}

// appendMessage translates one message; a user message with tool results
// becomes tool messages (which must directly follow the assistant's
// tool_calls) followed by a user message with the rest.
func appendMessage(out []chatMessage, m model.Message) []chatMessage {
	switch m.Role {
	case model.RoleSystem:
		if s := joinText(m.Content); s != "" {
			out = append(out, chatMessage{Role: "system", Content: s})
		}
		return out
	case model.RoleAssistant:
		msg := chatMessage{Role: "assistant"}
		var text []string
		for _, b := range m.Content {
			switch b.Type {
			case model.BlockText:
				if b.Text != "" {
					text = append(text, b.Text)
				}
			case model.BlockToolUse:
				msg.ToolCalls = append(msg.ToolCalls, chatToolCall{ID: b.ID, Type: "function",
					Function: chatFunctionCall{Name: b.Name, Arguments: arguments(b.Input)}})
			}
		}
		msg.Content = strings.Join(text, "")
		if msg.Content == "" && len(msg.ToolCalls) == 0 {
			return out
		}
		return append(out, msg)
	}
	var rest []model.Block
	var extra []chatPart // images returned by tools; tool messages carry text only
	for _, b := range m.Content {
		if b.Type != model.BlockToolResult {
			rest = append(rest, b)
			continue
		}
		var sb strings.Builder
		if b.IsError {
			sb.WriteString("Error: ")
		}
		for _, c := range b.Content {
			switch c.Type {
			case model.BlockText:
				sb.WriteString(c.Text)
			default:
				if p, ok := part(c); ok {
					extra = append(extra, p)
				}
			}
		}
		out = append(out, chatMessage{Role: "tool", ToolCallID: b.ToolUseID, Content: sb.String()})
	}
	parts := make([]chatPart, 0, len(rest)+len(extra))
	simple := len(extra) == 0
	for _, b := range rest {
		p, ok := part(b)
		if !ok {
			continue
		}
		if p.Type != "text" {
			simple = false
		}
		parts = append(parts, p)
	}
	parts = append(parts, extra...)
	if len(parts) == 0 {
		return out
	}
	if simple {
		// Plain strings work with every server; some older ones reject
		// part lists.
		var sb strings.Builder
		for i, p := range parts {
			if i > 0 {
				sb.WriteString("\n\n")
			}
			sb.WriteString(p.Text)
		}
		return append(out, chatMessage{Role: "user", Content: sb.String()})
	}
	return append(out, chatMessage{Role: "user", Content: parts})
}

// part translates a user-side block to a content part.
func part(b model.Block) (chatPart, bool) {
	switch b.Type {
	case model.BlockText:
		return chatPart{Type: "text", Text: b.Text}, true
	case model.BlockImage:
		if u := sourceURL(b.Source); u != "" {
			return chatPart{Type: "image_url", ImageURL: &chatImageURL{URL: u}}, true
		}
	case model.BlockDocument:
		s := b.Source
		switch {
		case s == nil:
		case s.Type == "text":
			text := s.Data
			if b.Title != "" {
				text = b.Title + "\n\n" + text
			}
			return chatPart{Type: "text", Text: text}, true
		case s.Type == "base64":
			mt := s.MediaType
			if mt == "" {
				mt = "application/pdf"
			}
			name := b.Title
			if name == "" {
				name = "document.pdf"
			}
			return chatPart{Type: "file", File: &chatFile{Filename: name, FileData: "data:" + mt + ";base64," + s.Data}}, true
		case s.Type == "url":
			return chatPart{Type: "text", Text: fmt.Sprintf("[document: %s]", s.URL)}, true
		}
	}
	return chatPart{}, false
}

// sourceURL renders an image source as a URL (data URL for inline bytes).
func sourceURL(s *model.Source) string {
	if s == nil {
		return ""
	}
	switch s.Type {
	case "base64":
		return "data:" + s.MediaType + ";base64," + s.Data
	case "url":
		return s.URL
	}
	return ""
}

// arguments renders a tool_use input as the arguments string. An input the
// accumulator kept as a JSON string (the model's invalid JSON) is sent back
// as the model wrote it.
func arguments(input json.RawMessage) string {
	if len(input) == 0 {
		return "{}"
	}
	if input[0] == '"' {
		var s string
		if json.Unmarshal(input, &s) == nil {
			return s
		}
	}
	return string(input)
}
