package wire

import "encoding/json"

// ---- client events (POST …/events, echoed into history) ----------------

// UserMessageEvent is user.message: the client form and the echo.
type UserMessageEvent struct {
	Content []ContentBlock `json:"content"`
}

// UserInterruptEvent is user.interrupt. Without SessionThreadID it
// interrupts every thread.
type UserInterruptEvent struct {
	SessionThreadID string `json:"session_thread_id,omitempty"`
}

// Tool confirmation results.
const (
	ConfirmAllow = "allow"
	ConfirmDeny  = "deny"
)

// UserToolConfirmationEvent is user.tool_confirmation. SessionThreadID is
// set by the server when it routes the confirmation to a subagent thread.
type UserToolConfirmationEvent struct {
	ToolUseID       string  `json:"tool_use_id"`
	Result          string  `json:"result"`
	DenyMessage     *string `json:"deny_message,omitempty"`
	SessionThreadID string  `json:"session_thread_id,omitempty"`
}

// UserCustomToolResultEvent is user.custom_tool_result. IsError is nil when
// the client did not say.
type UserCustomToolResultEvent struct {
	CustomToolUseID string         `json:"custom_tool_use_id"`
	Content         []ContentBlock `json:"content"`
	IsError         *bool          `json:"is_error"`
	SessionThreadID string         `json:"session_thread_id,omitempty"`
}

// UserToolResultEvent is user.tool_result (self-hosted sandbox tools).
type UserToolResultEvent struct {
	ToolUseID       string         `json:"tool_use_id"`
	Content         []ContentBlock `json:"content"`
	IsError         *bool          `json:"is_error"`
	SessionThreadID string         `json:"session_thread_id,omitempty"`
}

// Outcome iteration bounds.
const (
	DefaultOutcomeIterations = 3
	MaxOutcomeIterations     = 20
	maxRubricText            = 262144
)

// UserDefineOutcomeEvent is user.define_outcome. OutcomeID is assigned by
// the server and MaxIterations resolved to its default before the echo.
type UserDefineOutcomeEvent struct {
	Description   string `json:"description"`
	Rubric        Rubric `json:"rubric"`
	MaxIterations *int64 `json:"max_iterations"`
	OutcomeID     string `json:"outcome_id"`
}

// Rubric is {"type":"text","content"} or {"type":"file","file_id"}.
type Rubric struct {
	Type    string
	Content string
	FileID  string
}

func (r Rubric) MarshalJSON() ([]byte, error) {
	if r.Type == SourceFile {
		return json.Marshal(struct {
			Type   string `json:"type"`
			FileID string `json:"file_id"`
		}{r.Type, r.FileID})
	}
	return json.Marshal(struct {
		Type    string `json:"type"`
		Content string `json:"content"`
	}{r.Type, r.Content})
}

func (r *Rubric) UnmarshalJSON(b []byte) error {
	var v struct {
		Type    string `json:"type"`
		Content string `json:"content"`
		FileID  string `json:"file_id"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = Rubric(v)
	return nil
}

// SystemMessageEvent is system.message (text blocks only).
type SystemMessageEvent struct {
	Content []ContentBlock `json:"content"`
}

func (*UserMessageEvent) EventType() string          { return EventTypeUserMessage }
func (*UserInterruptEvent) EventType() string        { return EventTypeUserInterrupt }
func (*UserToolConfirmationEvent) EventType() string { return EventTypeUserToolConfirmation }
func (*UserCustomToolResultEvent) EventType() string { return EventTypeUserCustomToolResult }
func (*UserToolResultEvent) EventType() string       { return EventTypeUserToolResult }
func (*UserDefineOutcomeEvent) EventType() string    { return EventTypeUserDefineOutcome }
func (*SystemMessageEvent) EventType() string        { return EventTypeSystemMessage }
func (*UserMessageEvent) isEventPayload()            {}
func (*UserInterruptEvent) isEventPayload()          {}
func (*UserToolConfirmationEvent) isEventPayload()   {}
func (*UserCustomToolResultEvent) isEventPayload()   {}
func (*UserToolResultEvent) isEventPayload()         {}
func (*UserDefineOutcomeEvent) isEventPayload()      {}
func (*SystemMessageEvent) isEventPayload()          {}

// The list fields below are required on the wire; send [] rather than null.

func (e *UserMessageEvent) MarshalJSON() ([]byte, error) {
	type plain UserMessageEvent
	p := plain(*e)
	p.Content = nonNilBlocks(p.Content)
	return json.Marshal(p)
}

func (e *UserCustomToolResultEvent) MarshalJSON() ([]byte, error) {
	type plain UserCustomToolResultEvent
	p := plain(*e)
	p.Content = nonNilBlocks(p.Content)
	return json.Marshal(p)
}

func (e *UserToolResultEvent) MarshalJSON() ([]byte, error) {
	type plain UserToolResultEvent
	p := plain(*e)
	p.Content = nonNilBlocks(p.Content)
	return json.Marshal(p)
}

func (e *SystemMessageEvent) MarshalJSON() ([]byte, error) {
	type plain SystemMessageEvent
	p := plain(*e)
	p.Content = nonNilBlocks(p.Content)
	return json.Marshal(p)
}

func nonNilBlocks(b []ContentBlock) []ContentBlock {
	if b == nil {
		return []ContentBlock{}
	}
	return b
}
