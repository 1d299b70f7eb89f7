// Package modeltest owns the fake model upstreams: an Anthropic Messages
// server and an OpenAI-compatible chat-completions server that speak the real
// HTTP+SSE protocols on a real 127.0.0.1 socket, answer from a script of
// turns or from a rule computed from the request, and record every request
// they receive. Tests run the real providers against them; the demo mode
// (hangar serve --demo-model) runs the agent loop against them without a key.
// It is not a test-only package for that reason.
package modeltest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/model"
)

// Turn is one scripted answer: a response, or an error when Error is set.
type Turn struct {
	// Content is what the model says, in order: text, thinking (with
	// Signature; a missing one is generated), redacted_thinking (Data), and
	// tool_use blocks (ID generated when empty, Input defaults to {}).
	Content []model.Block
	// StopReason defaults to tool_use when Content has a tool_use block and
	// end_turn otherwise.
	StopReason   model.StopReason
	StopSequence string
	// Usage is reported as given when non-zero; otherwise it is estimated
	// (about four bytes a token) from the request and the content.
	Usage model.Usage

	// Error makes the turn fail instead.
	Error *UpstreamError

	// Delay holds the response headers back.
	Delay time.Duration
	// ChunkSize is how many runes (text, thinking) or bytes (tool input
	// JSON) each delta carries; 0 means 16, so deltas are observable.
	ChunkSize int
	// ChunkDelay is slept between deltas.
	ChunkDelay time.Duration
	// Stall sends the headers, the message start and the first delta, then
	// sends nothing more until the client goes away (or the server closes).
	// Tests use it to check that cancelling a turn closes the connection.
	Stall bool
}

// UpstreamError is a scripted failure.
type UpstreamError struct {
	// Status is the HTTP status of the error response. Ignored when
	// MidStream is set (the stream's status is 200).
	Status int
	// Type is the error type, e.g. "rate_limit_error" (Anthropic) or
	// "invalid_request_error" (OpenAI). Empty derives one from Status.
	Type    string
	Message string
	// Code is the OpenAI error code (e.g. "context_length_exceeded").
	Code string
	// RetryAfter is sent as retry-after (whole seconds, rounded up) and,
	// when not a whole number of seconds, as retry-after-ms.
	RetryAfter time.Duration
	// MidStream sends the error as an event after the stream started.
	MidStream bool
}

// Text is a turn that says s.
func Text(s string) Turn { return Turn{Content: []model.Block{model.Text(s)}} }

// ToolCall is a turn that calls one tool.
func ToolCall(id, name string, input any) Turn {
	raw, err := json.Marshal(input)
	if err != nil {
		panic(fmt.Sprintf("modeltest.ToolCall: %v", err))
	}
	return Turn{Content: []model.Block{model.ToolUse(id, name, raw)}}
}

// Fail is a turn that fails with an HTTP error.
func Fail(status int, typ, message string) Turn {
	return Turn{Error: &UpstreamError{Status: status, Type: typ, Message: message}}
}

// Input is the provider-neutral view of a received request, for rules.
type Input struct {
	Model     string
	System    string
	Messages  []model.Message
	Tools     []model.Tool
	MaxTokens int
	// Thinking is true when the request asked for extended thinking.
	Thinking bool
	Stream   bool
}

// Last returns the last message, if any.
func (in Input) Last() (model.Message, bool) {
	if len(in.Messages) == 0 {
		return model.Message{}, false
	}
	return in.Messages[len(in.Messages)-1], true
}

// LastUserText is the text of the last user message.
func (in Input) LastUserText() string {
	for i := len(in.Messages) - 1; i >= 0; i-- {
		m := in.Messages[i]
		if m.Role != model.RoleUser {
			continue
		}
		var parts []string
		for _, b := range m.Content {
			if b.Type == model.BlockText {
				parts = append(parts, b.Text)
			}
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

// ToolResults are the tool_result blocks of the last message when it is a
// user message.
func (in Input) ToolResults() []model.Block {
	m, ok := in.Last()
	if !ok || m.Role != model.RoleUser {
		return nil
	}
	var out []model.Block
	for _, b := range m.Content {
		if b.Type == model.BlockToolResult {
			out = append(out, b)
		}
	}
	return out
}

// HasTool reports whether the request declared a tool called name.
func (in Input) HasTool(name string) bool {
	for _, t := range in.Tools {
		if t.Name == name {
			return true
		}
	}
	return false
}

// Rule computes a turn from the request, for servers that should answer
// without a script.
type Rule func(in Input) Turn

// EchoRule answers "echo: " and the last user text.
func EchoRule(in Input) Turn { return Text("echo: " + in.LastUserText()) }

// DemoRule drives an agent loop without a model:
//
//   - after tool results, it reports them and ends the turn;
//   - each line "tool: NAME {json}" of the user's text calls tool NAME with
//     that input (several lines call tools in parallel);
//   - anything else is echoed back.
//
// When the request asks for thinking, the answer starts with a short
// thinking block.
func DemoRule(in Input) Turn {
	var t Turn
	if in.Thinking {
		t.Content = append(t.Content, model.Block{Type: model.BlockThinking,
			Thinking: fmt.Sprintf("The last message has %d characters.", len(in.LastUserText()))})
	}
	if results := in.ToolResults(); len(results) > 0 {
		var sb strings.Builder
		sb.WriteString("Tool results:")
		for _, r := range results {
			text := resultText(r)
			if len(text) > 200 {
				text = text[:200] + "…"
			}
			status := "ok"
			if r.IsError {
				status = "error"
			}
			fmt.Fprintf(&sb, "\n- %s (%s): %s", r.ToolUseID, status, text)
		}
		t.Content = append(t.Content, model.Text(sb.String()))
		return t
	}
	text := in.LastUserText()
	var calls []model.Block
	var unknown []string
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "tool:")
		if !ok {
			continue
		}
		name, args, _ := strings.Cut(strings.TrimSpace(rest), " ")
		args = strings.TrimSpace(args)
		if args == "" || !json.Valid([]byte(args)) {
			args = "{}"
		}
		if !in.HasTool(name) {
			unknown = append(unknown, name)
			continue
		}
		calls = append(calls, model.ToolUse("", name, json.RawMessage(args)))
	}
	switch {
	case len(calls) > 0:
		t.Content = append(t.Content, model.Text(fmt.Sprintf("Calling %d tool(s).", len(calls))))
		t.Content = append(t.Content, calls...)
	case len(unknown) > 0:
		t.Content = append(t.Content, model.Text("No such tool: "+strings.Join(unknown, ", ")))
	default:
		t.Content = append(t.Content, model.Text("echo: "+text))
	}
	return t
}

func resultText(b model.Block) string {
	var parts []string
	for _, c := range b.Content {
		if c.Type == model.BlockText {
			parts = append(parts, c.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// normalize fills the defaults of a turn about to be sent; n numbers the
// request, for generated ids.
func (t Turn) normalize(n int, inputTokens int64) Turn {
	t.Content = append([]model.Block(nil), t.Content...)
	hasTool := false
	var outBytes int
	for i := range t.Content {
		b := &t.Content[i]
		switch b.Type {
		case model.BlockToolUse:
			hasTool = true
			if b.ID == "" {
				b.ID = fmt.Sprintf("toolu_fake%03d_%d", n, i)
			}
			if len(b.Input) == 0 {
				b.Input = json.RawMessage(`{}`)
			}
			outBytes += len(b.Name) + len(b.Input)
		case model.BlockThinking:
			if b.Signature == "" {
				b.Signature = Signature(b.Thinking)
			}
			outBytes += len(b.Thinking)
		case model.BlockText:
			outBytes += len(b.Text)
		}
	}
	if t.StopReason == "" {
		t.StopReason = model.StopEndTurn
		if hasTool {
			t.StopReason = model.StopToolUse
		}
	}
	if t.Usage == (model.Usage{}) {
		t.Usage = model.Usage{InputTokens: inputTokens, OutputTokens: int64(outBytes/4 + 1)}
	}
	if t.ChunkSize <= 0 {
		t.ChunkSize = 16
	}
	if t.Error != nil && t.Error.Status == 0 && !t.Error.MidStream {
		e := *t.Error
		e.Status = 500
		t.Error = &e
	}
	return t
}

// Signature is the fake signature the servers attach to a thinking block,
// so tests can check that it came back unchanged.
func Signature(thinking string) string {
	sum := sha256.Sum256([]byte(thinking))
	return "sig_" + base64.RawURLEncoding.EncodeToString(sum[:12])
}

// estimateTokens approximates a request's prompt tokens from its size.
func estimateTokens(body []byte) int64 { return int64(len(body)/4 + 1) }

// chunks splits s into pieces of at most n runes.
func chunks(s string, n int) []string {
	if s == "" {
		return nil
	}
	var out []string
	for len(s) > 0 {
		i, runes := 0, 0
		for i < len(s) && runes < n {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			runes++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

// defaultType names the error type a status implies, in the Anthropic
// vocabulary that OpenAI-compatible servers mostly share.
func defaultType(status int) string {
	switch status {
	case 400, 404, 422:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	return "api_error"
}
