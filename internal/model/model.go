// Package model owns the provider-neutral contract between the agent loop and
// the language models it calls: one streamed turn (Request in, Events out),
// the accumulation of that stream into a Response, typed upstream errors the
// loop can retry or report, and the routing table that maps an agent's model
// string to a configured provider.
//
// Implementations live in subpackages (model/anthropic, model/openai); the
// fake upstreams that the tests and the demo mode run against live in
// model/modeltest; model/providers wires the concrete providers into a
// Router. This package imports none of them.
package model

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strings"
)

// Provider runs one model turn and streams it back.
//
// Stream returns an iterator that sends the upstream request when the caller
// starts ranging over it. It yields events in order and ends after
// EventMessageStop; on failure it yields exactly one non-nil error (a *Error,
// or ctx.Err() when ctx ended) and stops. Breaking out of the loop, or
// cancelling ctx, aborts the HTTP request and releases the connection, so an
// interrupt stops a turn promptly. Implementations must not retry: the loop
// owns retries (see Error.Retryable and Backoff).
type Provider interface {
	Stream(ctx context.Context, req *Request) iter.Seq2[Event, error]
}

// Role is who authored a message.
type Role string

// Roles of a conversation. RoleSystem is a mid-conversation system message;
// the initial system prompt goes in Request.System.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleSystem    Role = "system"
)

// BlockType discriminates Block.
type BlockType string

// Block types. Their JSON shapes are those of the Anthropic Messages API,
// which are also those of the Managed Agents events, so blocks move between
// the event log and a model request without translation.
const (
	BlockText             BlockType = "text"
	BlockImage            BlockType = "image"
	BlockDocument         BlockType = "document"
	BlockToolUse          BlockType = "tool_use"
	BlockToolResult       BlockType = "tool_result"
	BlockThinking         BlockType = "thinking"
	BlockRedactedThinking BlockType = "redacted_thinking"
)

// Block is one content block. Which fields are meaningful depends on Type:
//
//	text               Text
//	image              Source (base64, url or file)
//	document           Source (base64 PDF, text, url or file), Title, Context
//	tool_use           ID, Name, Input (a JSON object)
//	tool_result        ToolUseID, Content (text, image, document), IsError
//	thinking           Thinking, Signature (opaque; must be sent back unchanged)
//	redacted_thinking  Data (opaque; must be sent back unchanged)
type Block struct {
	Type      BlockType       `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *Source         `json:"source,omitempty"`
	Title     string          `json:"title,omitempty"`
	Context   string          `json:"context,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   []Block         `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
	Thinking  string          `json:"thinking,omitempty"`
	Signature string          `json:"signature,omitempty"`
	Data      string          `json:"data,omitempty"`
}

// UnmarshalJSON also accepts a tool_result whose content is a bare string, as
// the Messages API does.
func (b *Block) UnmarshalJSON(data []byte) error {
	type plain Block
	var aux struct {
		plain
		Content json.RawMessage `json:"content,omitempty"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*b = Block(aux.plain)
	b.Content = nil
	blocks, err := decodeContent(aux.Content)
	if err != nil {
		return fmt.Errorf("content: %w", err)
	}
	b.Content = blocks
	return nil
}

// decodeContent decodes a content field that is either a string (one text
// block) or an array of blocks.
func decodeContent(raw json.RawMessage) ([]Block, error) {
	raw = json.RawMessage(strings.TrimSpace(string(raw)))
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []Block{{Type: BlockText, Text: s}}, nil
	}
	var blocks []Block
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, err
	}
	return blocks, nil
}

// Source is where an image's or document's bytes come from.
type Source struct {
	// Type is "base64", "url", "text" (documents only) or "file".
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	// Data is base64 for "base64" sources and plain text for "text" ones.
	Data string `json:"data,omitempty"`
	URL  string `json:"url,omitempty"`
	// FileID names a file in the upstream provider's own Files API; Hangar's
	// file ids mean nothing upstream, so the loop inlines those as base64.
	FileID string `json:"file_id,omitempty"`
}

// Text returns a text block.
func Text(s string) Block { return Block{Type: BlockText, Text: s} }

// ToolUse returns a tool_use block.
func ToolUse(id, name string, input json.RawMessage) Block {
	return Block{Type: BlockToolUse, ID: id, Name: name, Input: input}
}

// ToolResult returns a tool_result block with text content.
func ToolResult(toolUseID, text string, isError bool) Block {
	b := Block{Type: BlockToolResult, ToolUseID: toolUseID, IsError: isError}
	if text != "" {
		b.Content = []Block{Text(text)}
	}
	return b
}

// Message is one turn of the conversation.
type Message struct {
	Role    Role    `json:"role"`
	Content []Block `json:"content"`
}

// UnmarshalJSON also accepts content given as a bare string.
func (m *Message) UnmarshalJSON(data []byte) error {
	var aux struct {
		Role    Role            `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	blocks, err := decodeContent(aux.Content)
	if err != nil {
		return fmt.Errorf("content: %w", err)
	}
	m.Role, m.Content = aux.Role, blocks
	return nil
}

// Tool is a tool the model may call.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// InputSchema is a JSON Schema object; empty means an object with no
	// declared properties.
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
}

// ToolChoice constrains tool use. The zero value (or a nil pointer) lets the
// model decide.
type ToolChoice struct {
	// Type is "auto", "any" (must call some tool), "tool" (must call Name) or
	// "none".
	Type string
	Name string
	// DisableParallel asks for at most one tool call per turn.
	DisableParallel bool
}

// ThinkingType selects extended thinking.
type ThinkingType string

// Thinking modes. Enabled needs BudgetTokens (>= 1024, < MaxTokens on
// Anthropic); Adaptive lets the model decide how much to think.
const (
	ThinkingEnabled  ThinkingType = "enabled"
	ThinkingAdaptive ThinkingType = "adaptive"
	ThinkingDisabled ThinkingType = "disabled"
)

// Thinking configures extended thinking. A nil *Thinking leaves the choice to
// the provider's default for the model.
type Thinking struct {
	Type         ThinkingType
	BudgetTokens int
	// Display is "summarized" or "omitted" (thinking text withheld, signature
	// kept); empty means the model's default.
	Display string
}

// Request is one model turn, independent of the provider.
type Request struct {
	// Model is the model id as the agent names it. The Router rewrites it to
	// the route's upstream model name before the provider sees it.
	Model string
	// System is the system prompt as text blocks.
	System   []Block
	Messages []Message
	Tools    []Tool
	// ToolChoice is nil for the provider default (auto).
	ToolChoice *ToolChoice
	MaxTokens  int
	Thinking   *Thinking
	// Effort ("low", "medium", "high", "xhigh", "max") and Speed ("standard",
	// "fast") are passed through when set; providers without the concept map
	// or drop them.
	Effort        string
	Speed         string
	StopSequences []string
	// DisableCache turns off the prompt-caching breakpoints a provider would
	// otherwise place (Anthropic: last tool, last system block, and the last
	// two user turns).
	DisableCache bool
}

// Validate checks what every provider needs, naming the offending field, so a
// malformed request fails before any network traffic and is never retried.
func (r *Request) Validate() error {
	bad := func(format string, args ...any) error {
		return &Error{Kind: KindInvalidRequest, Message: fmt.Sprintf(format, args...)}
	}
	if r == nil {
		return bad("request: must not be nil")
	}
	if strings.TrimSpace(r.Model) == "" {
		return bad("model: must not be empty")
	}
	if r.MaxTokens <= 0 {
		return bad("max_tokens: must be positive")
	}
	if len(r.Messages) == 0 {
		return bad("messages: must not be empty")
	}
	for i, b := range r.System {
		if b.Type != BlockText {
			return bad("system[%d].type: must be text, got %q", i, b.Type)
		}
	}
	for i, m := range r.Messages {
		switch m.Role {
		case RoleUser, RoleAssistant, RoleSystem:
		default:
			return bad("messages[%d].role: unknown role %q", i, m.Role)
		}
		for j, b := range m.Content {
			if err := validateBlock(b, m.Role); err != nil {
				return bad("messages[%d].content[%d].%s", i, j, err)
			}
		}
	}
	seen := make(map[string]bool, len(r.Tools))
	for i, t := range r.Tools {
		if t.Name == "" {
			return bad("tools[%d].name: must not be empty", i)
		}
		if seen[t.Name] {
			return bad("tools[%d].name: duplicate tool %q", i, t.Name)
		}
		seen[t.Name] = true
		if len(t.InputSchema) > 0 && !json.Valid(t.InputSchema) {
			return bad("tools[%d].input_schema: not valid JSON", i)
		}
	}
	if tc := r.ToolChoice; tc != nil {
		switch tc.Type {
		case "", "auto", "any", "none":
		case "tool":
			if !seen[tc.Name] {
				return bad("tool_choice.name: no tool named %q", tc.Name)
			}
		default:
			return bad("tool_choice.type: unknown type %q", tc.Type)
		}
	}
	if th := r.Thinking; th != nil {
		switch th.Type {
		case ThinkingEnabled:
			if th.BudgetTokens <= 0 {
				return bad("thinking.budget_tokens: must be positive when thinking is enabled")
			}
		case ThinkingAdaptive, ThinkingDisabled:
		default:
			return bad("thinking.type: unknown type %q", th.Type)
		}
		switch th.Display {
		case "", "summarized", "omitted":
		default:
			return bad("thinking.display: unknown value %q", th.Display)
		}
	}
	return nil
}

// validateBlock returns "field: problem" for a bad block.
func validateBlock(b Block, role Role) error {
	if role == RoleSystem && b.Type != BlockText {
		return fmt.Errorf("type: system messages hold only text, got %q", b.Type)
	}
	switch b.Type {
	case BlockText:
	case BlockImage, BlockDocument:
		if b.Source == nil {
			return fmt.Errorf("source: required for %s blocks", b.Type)
		}
	case BlockToolUse:
		if b.ID == "" || b.Name == "" {
			return fmt.Errorf("id: tool_use needs id and name")
		}
		if len(b.Input) > 0 && !json.Valid(b.Input) {
			return fmt.Errorf("input: not valid JSON")
		}
		if role != RoleAssistant {
			return fmt.Errorf("type: tool_use only in assistant messages")
		}
	case BlockToolResult:
		if b.ToolUseID == "" {
			return fmt.Errorf("tool_use_id: must not be empty")
		}
		if role != RoleUser {
			return fmt.Errorf("type: tool_result only in user messages")
		}
		for k, c := range b.Content {
			switch c.Type {
			case BlockText:
			case BlockImage, BlockDocument:
				if c.Source == nil {
					return fmt.Errorf("content[%d].source: required for %s blocks", k, c.Type)
				}
			default:
				return fmt.Errorf("content[%d].type: %q not allowed in a tool_result", k, c.Type)
			}
		}
	case BlockThinking, BlockRedactedThinking:
		if role != RoleAssistant {
			return fmt.Errorf("type: %s only in assistant messages", b.Type)
		}
	default:
		return fmt.Errorf("type: unknown block type %q", b.Type)
	}
	return nil
}

// StopReason is why a turn ended, in the Anthropic vocabulary.
type StopReason string

// Stop reasons. ToolUse means the caller should run the tool_use blocks and
// send their results; PauseTurn means the caller should send the conversation
// again unchanged to let the model continue.
const (
	StopEndTurn               StopReason = "end_turn"
	StopToolUse               StopReason = "tool_use"
	StopMaxTokens             StopReason = "max_tokens"
	StopPauseTurn             StopReason = "pause_turn"
	StopRefusal               StopReason = "refusal"
	StopSequence              StopReason = "stop_sequence"
	StopContextWindowExceeded StopReason = "model_context_window_exceeded"
)

// Usage counts tokens. Field names match span.model_request_end.model_usage.
// InputTokens excludes cached tokens, as in the Messages API; a
// provider that reports cached tokens inside its prompt count (OpenAI) is
// converted to this convention.
type Usage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	// CacheCreation1hInputTokens is the part of CacheCreationInputTokens
	// written to the 1-hour cache (the rest went to the 5-minute cache),
	// which is priced higher. Providers that do not split report 0.
	CacheCreation1hInputTokens int64 `json:"cache_creation_1h_input_tokens,omitempty"`
	// Fast is set when the request ran in fast mode (usage.speed).
	Fast bool `json:"fast,omitempty"`
}

// Add returns the field-wise sum, for session and thread totals.
func (u Usage) Add(o Usage) Usage {
	return Usage{
		InputTokens:                u.InputTokens + o.InputTokens,
		OutputTokens:               u.OutputTokens + o.OutputTokens,
		CacheCreationInputTokens:   u.CacheCreationInputTokens + o.CacheCreationInputTokens,
		CacheReadInputTokens:       u.CacheReadInputTokens + o.CacheReadInputTokens,
		CacheCreation1hInputTokens: u.CacheCreation1hInputTokens + o.CacheCreation1hInputTokens,
		Fast:                       u.Fast || o.Fast,
	}
}

// PromptTokens is the whole prompt the model read, cached or not.
func (u Usage) PromptTokens() int64 {
	return u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
}

// ContextTokens is the size of the conversation after this turn (prompt plus
// the answer): what compaction compares against the model's context window.
func (u Usage) ContextTokens() int64 { return u.PromptTokens() + u.OutputTokens }

// merge overwrites the fields o reports (non-zero), because stream updates
// carry cumulative counts and may leave fields they do not know at zero.
func (u *Usage) merge(o Usage) {
	if o.InputTokens != 0 {
		u.InputTokens = o.InputTokens
	}
	if o.OutputTokens != 0 {
		u.OutputTokens = o.OutputTokens
	}
	if o.CacheCreationInputTokens != 0 {
		u.CacheCreationInputTokens = o.CacheCreationInputTokens
	}
	if o.CacheReadInputTokens != 0 {
		u.CacheReadInputTokens = o.CacheReadInputTokens
	}
	if o.CacheCreation1hInputTokens != 0 {
		u.CacheCreation1hInputTokens = o.CacheCreation1hInputTokens
	}
	if o.Fast {
		u.Fast = true
	}
}

// Response is a finished turn.
type Response struct {
	ID           string
	Model        string
	Content      []Block
	StopReason   StopReason
	StopSequence string
	Usage        Usage
}

// Message returns the turn as the assistant message to append to the
// conversation; thinking blocks and their signatures are kept, as the
// Messages API requires them back on the next request of a tool-use loop.
func (r *Response) Message() Message {
	return Message{Role: RoleAssistant, Content: r.Content}
}

// ToolUses returns the tool_use blocks in order.
func (r *Response) ToolUses() []Block {
	var out []Block
	for _, b := range r.Content {
		if b.Type == BlockToolUse {
			out = append(out, b)
		}
	}
	return out
}

// Text concatenates the text blocks.
func (r *Response) Text() string {
	var sb strings.Builder
	for _, b := range r.Content {
		if b.Type == BlockText {
			sb.WriteString(b.Text)
		}
	}
	return sb.String()
}
