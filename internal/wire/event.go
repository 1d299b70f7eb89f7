package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/jsonobj"
)

// Session event types (events.md §2).
const (
	EventTypeUserMessage          = "user.message"
	EventTypeUserInterrupt        = "user.interrupt"
	EventTypeUserToolConfirmation = "user.tool_confirmation"
	EventTypeUserCustomToolResult = "user.custom_tool_result"
	EventTypeUserToolResult       = "user.tool_result"
	EventTypeUserDefineOutcome    = "user.define_outcome"
	EventTypeSystemMessage        = "system.message"

	EventTypeAgentMessage                = "agent.message"
	EventTypeAgentThinking               = "agent.thinking"
	EventTypeAgentToolUse                = "agent.tool_use"
	EventTypeAgentToolResult             = "agent.tool_result"
	EventTypeAgentMCPToolUse             = "agent.mcp_tool_use"
	EventTypeAgentMCPToolResult          = "agent.mcp_tool_result"
	EventTypeAgentCustomToolUse          = "agent.custom_tool_use"
	EventTypeAgentThreadContextCompacted = "agent.thread_context_compacted"
	EventTypeAgentThreadMessageSent      = "agent.thread_message_sent"
	EventTypeAgentThreadMessageReceived  = "agent.thread_message_received"

	EventTypeSessionStatusRunning           = "session.status_running"
	EventTypeSessionStatusIdle              = "session.status_idle"
	EventTypeSessionStatusRescheduled       = "session.status_rescheduled"
	EventTypeSessionStatusTerminated        = "session.status_terminated"
	EventTypeSessionError                   = "session.error"
	EventTypeSessionUpdated                 = "session.updated"
	EventTypeSessionDeleted                 = "session.deleted"
	EventTypeSessionUsage                   = "session.usage"
	EventTypeSessionThreadCreated           = "session.thread_created"
	EventTypeSessionThreadStatusRunning     = "session.thread_status_running"
	EventTypeSessionThreadStatusIdle        = "session.thread_status_idle"
	EventTypeSessionThreadStatusRescheduled = "session.thread_status_rescheduled"
	EventTypeSessionThreadStatusTerminated  = "session.thread_status_terminated"

	EventTypeSpanModelRequestStart        = "span.model_request_start"
	EventTypeSpanModelRequestEnd          = "span.model_request_end"
	EventTypeSpanOutcomeEvaluationStart   = "span.outcome_evaluation_start"
	EventTypeSpanOutcomeEvaluationOngoing = "span.outcome_evaluation_ongoing"
	EventTypeSpanOutcomeEvaluationEnd     = "span.outcome_evaluation_end"

	// Stream-only previews: never persisted, no id or processed_at.
	EventTypeEventStart = "event_start"
	EventTypeEventDelta = "event_delta"
)

// EventPayload is the type-specific body of a persisted event. Every
// payload is a pointer to one of the *Event structs of this file, so a type
// switch over Event.Payload always names pointer types.
type EventPayload interface {
	EventType() string
	isEventPayload()
}

// Event is a persisted session event: the envelope (id, type, processed_at)
// plus its payload. It marshals to exactly the JSON the list endpoint, the
// stream and the send echo return.
type Event struct {
	ID string
	// ProcessedAt is nil for a client event still waiting in the queue.
	ProcessedAt *time.Time
	Payload     EventPayload
}

// NewEvent mints an event id and stamps server events as processed now.
// Client events start unprocessed (EVT-08): set ProcessedAt when the agent
// consumes them and persist the event again (EVT-09 echo).
func NewEvent(p EventPayload) Event {
	ev := Event{ID: ids.New(ids.Event), Payload: p}
	if !IsClientEventType(p.EventType()) {
		t := Now()
		ev.ProcessedAt = &t
	}
	return ev
}

// EventType is the wire "type" (also the SSE "event:" name).
func (e Event) EventType() string {
	if e.Payload == nil {
		return ""
	}
	return e.Payload.EventType()
}

// SessionThreadID is the thread an event names (multiagent routing and
// per-thread streams); "" for the primary thread's own events.
func (e Event) SessionThreadID() string {
	switch p := e.Payload.(type) {
	case *UserInterruptEvent:
		return p.SessionThreadID
	case *UserToolConfirmationEvent:
		return p.SessionThreadID
	case *UserCustomToolResultEvent:
		return p.SessionThreadID
	case *UserToolResultEvent:
		return p.SessionThreadID
	case *AgentToolUseEvent:
		return p.SessionThreadID
	case *AgentMCPToolUseEvent:
		return p.SessionThreadID
	case *AgentCustomToolUseEvent:
		return p.SessionThreadID
	case *SessionThreadCreatedEvent:
		return p.SessionThreadID
	case *SessionThreadStatusRunningEvent:
		return p.SessionThreadID
	case *SessionThreadStatusIdleEvent:
		return p.SessionThreadID
	case *SessionThreadStatusRescheduledEvent:
		return p.SessionThreadID
	case *SessionThreadStatusTerminatedEvent:
		return p.SessionThreadID
	}
	return ""
}

// Processed returns a copy of e consumed at t (the echo of EVT-09).
func (e Event) Processed(t time.Time) Event {
	t = t.UTC().Truncate(time.Microsecond)
	e.ProcessedAt = &t
	return e
}

func (e Event) MarshalJSON() ([]byte, error) {
	if e.Payload == nil {
		return nil, fmt.Errorf("wire: event %q without payload", e.ID)
	}
	body, err := json.Marshal(e.Payload)
	if err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("wire: %s payload is not an object", e.EventType())
	}
	head, err := json.Marshal(struct {
		ID          string     `json:"id"`
		Type        string     `json:"type"`
		ProcessedAt *time.Time `json:"processed_at"`
	}{e.ID, e.EventType(), e.ProcessedAt})
	if err != nil {
		return nil, err
	}
	inner := bytes.TrimSpace(body[1 : len(body)-1])
	if len(inner) == 0 {
		return head, nil
	}
	out := make([]byte, 0, len(head)+len(inner)+1)
	out = append(out, head[:len(head)-1]...)
	out = append(out, ',')
	out = append(out, inner...)
	return append(out, '}'), nil
}

// UnmarshalJSON reads a persisted event. Types this version does not know
// are kept verbatim (UnknownEvent) so they survive a round trip.
func (e *Event) UnmarshalJSON(b []byte) error {
	var head struct {
		ID          string     `json:"id"`
		Type        string     `json:"type"`
		ProcessedAt *time.Time `json:"processed_at"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	p := newPayload(head.Type)
	if p == nil {
		u := &UnknownEvent{Type: head.Type}
		if err := json.Unmarshal(b, &u.Fields); err != nil {
			return err
		}
		for _, k := range []string{"id", "type", "processed_at"} {
			delete(u.Fields, k)
		}
		p = u
	} else if err := json.Unmarshal(b, p); err != nil {
		return fmt.Errorf("wire: decoding %s event: %w", head.Type, err)
	}
	*e = Event{ID: head.ID, ProcessedAt: head.ProcessedAt, Payload: p}
	return nil
}

// UnknownEvent keeps an event of a type this version does not model.
type UnknownEvent struct {
	Type   string
	Fields map[string]json.RawMessage
}

func (u *UnknownEvent) EventType() string { return u.Type }
func (*UnknownEvent) isEventPayload()     {}

func (u *UnknownEvent) MarshalJSON() ([]byte, error) {
	if u.Fields == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(u.Fields)
}

// RawObject is a JSON object kept verbatim (tool inputs); it marshals as {}
// when empty because the SDKs mark input required.
type RawObject json.RawMessage

func (r RawObject) MarshalJSON() ([]byte, error) {
	if len(bytes.TrimSpace(r)) == 0 {
		return []byte("{}"), nil
	}
	return r, nil
}

func (r *RawObject) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

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

// Outcome iteration bounds (OCM-02).
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

// ---- agent events -------------------------------------------------------

// AgentMessageEvent is agent.message (text and redacted blocks).
type AgentMessageEvent struct {
	Content []ContentBlock `json:"content"`
}

func (e *AgentMessageEvent) MarshalJSON() ([]byte, error) {
	type plain AgentMessageEvent
	p := plain(*e)
	p.Content = nonNilBlocks(p.Content)
	return json.Marshal(p)
}

// AgentThinkingEvent is agent.thinking: a progress marker without content.
type AgentThinkingEvent struct{}

// Evaluated permissions of a tool call (events.md §9.2).
const (
	PermissionAllow = "allow"
	PermissionAsk   = "ask"
	PermissionDeny  = "deny"
)

// Permission policy types, as configured on a tool and as reported in
// evaluation.type.
const (
	PolicyAlwaysAllow = "always_allow"
	PolicyAlwaysAsk   = "always_ask"
	PolicyAuto        = "auto"
)

// AgentToolUseEvent is agent.tool_use (a built-in toolset call). Its ID is
// the tool_use_id results and confirmations reference.
type AgentToolUseEvent struct {
	Name  string    `json:"name"`
	Input RawObject `json:"input"`
	// EvaluatedPermission is allow, ask or deny; "" leaves it out, which
	// the SDK runner reads as allow.
	EvaluatedPermission string `json:"evaluated_permission,omitempty"`
	// Evaluation is nil when the call was refused before any policy applied.
	Evaluation      *ToolEvaluation `json:"evaluation,omitempty"`
	SessionThreadID string          `json:"session_thread_id,omitempty"`
}

// AgentToolResultEvent is agent.tool_result (server-executed built-in tool).
type AgentToolResultEvent struct {
	ToolUseID string         `json:"tool_use_id"`
	Content   []ContentBlock `json:"content"`
	IsError   *bool          `json:"is_error"`
}

func (e *AgentToolResultEvent) MarshalJSON() ([]byte, error) {
	type plain AgentToolResultEvent
	p := plain(*e)
	p.Content = nonNilBlocks(p.Content)
	return json.Marshal(p)
}

// AgentMCPToolUseEvent is agent.mcp_tool_use.
type AgentMCPToolUseEvent struct {
	Name                string          `json:"name"`
	MCPServerName       string          `json:"mcp_server_name"`
	Input               RawObject       `json:"input"`
	EvaluatedPermission string          `json:"evaluated_permission,omitempty"`
	Evaluation          *ToolEvaluation `json:"evaluation,omitempty"`
	SessionThreadID     string          `json:"session_thread_id,omitempty"`
}

// AgentMCPToolResultEvent is agent.mcp_tool_result.
type AgentMCPToolResultEvent struct {
	MCPToolUseID string         `json:"mcp_tool_use_id"`
	Content      []ContentBlock `json:"content"`
	IsError      *bool          `json:"is_error"`
}

func (e *AgentMCPToolResultEvent) MarshalJSON() ([]byte, error) {
	type plain AgentMCPToolResultEvent
	p := plain(*e)
	p.Content = nonNilBlocks(p.Content)
	return json.Marshal(p)
}

// AgentCustomToolUseEvent is agent.custom_tool_use. The SDK runner reads
// evaluated_permission from the raw event although its typed struct lacks
// it, so it is sent the same way as on agent.tool_use.
type AgentCustomToolUseEvent struct {
	Name                string    `json:"name"`
	Input               RawObject `json:"input"`
	EvaluatedPermission string    `json:"evaluated_permission,omitempty"`
	SessionThreadID     string    `json:"session_thread_id,omitempty"`
}

// AgentThreadContextCompactedEvent is agent.thread_context_compacted.
// pre_compaction_tokens is described by the docs (BLT-02) but not by the
// SDK; it is sent only when known.
type AgentThreadContextCompactedEvent struct {
	PreCompactionTokens *int64 `json:"pre_compaction_tokens,omitempty"`
}

// AgentThreadMessageSentEvent is agent.thread_message_sent (multiagent).
type AgentThreadMessageSentEvent struct {
	Content           []ContentBlock `json:"content"`
	ToSessionThreadID string         `json:"to_session_thread_id"`
	ToAgentName       *string        `json:"to_agent_name,omitempty"`
}

// AgentThreadMessageReceivedEvent is agent.thread_message_received.
type AgentThreadMessageReceivedEvent struct {
	Content             []ContentBlock `json:"content"`
	FromSessionThreadID string         `json:"from_session_thread_id"`
	FromAgentName       *string        `json:"from_agent_name,omitempty"`
}

func (e *AgentThreadMessageSentEvent) MarshalJSON() ([]byte, error) {
	type plain AgentThreadMessageSentEvent
	p := plain(*e)
	p.Content = nonNilBlocks(p.Content)
	return json.Marshal(p)
}

func (e *AgentThreadMessageReceivedEvent) MarshalJSON() ([]byte, error) {
	type plain AgentThreadMessageReceivedEvent
	p := plain(*e)
	p.Content = nonNilBlocks(p.Content)
	return json.Marshal(p)
}

func (*AgentMessageEvent) EventType() string       { return EventTypeAgentMessage }
func (*AgentThinkingEvent) EventType() string      { return EventTypeAgentThinking }
func (*AgentToolUseEvent) EventType() string       { return EventTypeAgentToolUse }
func (*AgentToolResultEvent) EventType() string    { return EventTypeAgentToolResult }
func (*AgentMCPToolUseEvent) EventType() string    { return EventTypeAgentMCPToolUse }
func (*AgentMCPToolResultEvent) EventType() string { return EventTypeAgentMCPToolResult }
func (*AgentCustomToolUseEvent) EventType() string { return EventTypeAgentCustomToolUse }
func (*AgentThreadContextCompactedEvent) EventType() string {
	return EventTypeAgentThreadContextCompacted
}
func (*AgentThreadMessageSentEvent) EventType() string { return EventTypeAgentThreadMessageSent }
func (*AgentThreadMessageReceivedEvent) EventType() string {
	return EventTypeAgentThreadMessageReceived
}
func (*AgentMessageEvent) isEventPayload()                {}
func (*AgentThinkingEvent) isEventPayload()               {}
func (*AgentToolUseEvent) isEventPayload()                {}
func (*AgentToolResultEvent) isEventPayload()             {}
func (*AgentMCPToolUseEvent) isEventPayload()             {}
func (*AgentMCPToolResultEvent) isEventPayload()          {}
func (*AgentCustomToolUseEvent) isEventPayload()          {}
func (*AgentThreadContextCompactedEvent) isEventPayload() {}
func (*AgentThreadMessageSentEvent) isEventPayload()      {}
func (*AgentThreadMessageReceivedEvent) isEventPayload()  {}

// ToolEvaluation says which policy produced an evaluated_permission:
// {"type":"always_allow"}, {"type":"always_ask"}, or {"type":"auto",
// "evaluated_permission":{"type":allow|ask|deny,"reason_code"?}}.
type ToolEvaluation struct {
	Type string
	// Permission and ReasonCode belong to auto evaluations. ReasonCode is
	// an open set ("high_risk", "indeterminate", …).
	Permission string
	ReasonCode string
}

// EvaluationAlwaysAllow, EvaluationAlwaysAsk and EvaluationAuto build the
// evaluation of a call under each policy.
func EvaluationAlwaysAllow() *ToolEvaluation { return &ToolEvaluation{Type: PolicyAlwaysAllow} }
func EvaluationAlwaysAsk() *ToolEvaluation   { return &ToolEvaluation{Type: PolicyAlwaysAsk} }
func EvaluationAuto(permission, reasonCode string) *ToolEvaluation {
	return &ToolEvaluation{Type: PolicyAuto, Permission: permission, ReasonCode: reasonCode}
}

func (t ToolEvaluation) MarshalJSON() ([]byte, error) {
	if t.Type != PolicyAuto {
		return json.Marshal(TypeOnly{Type: t.Type})
	}
	type verdict struct {
		Type       string `json:"type"`
		ReasonCode string `json:"reason_code,omitempty"`
	}
	v := verdict{Type: t.Permission}
	if t.Permission != PermissionAllow {
		// reason_code is required on ask and deny.
		v.ReasonCode = t.ReasonCode
		if v.ReasonCode == "" {
			v.ReasonCode = "indeterminate"
		}
	}
	return json.Marshal(struct {
		Type                string  `json:"type"`
		EvaluatedPermission verdict `json:"evaluated_permission"`
	}{t.Type, v})
}

func (t *ToolEvaluation) UnmarshalJSON(b []byte) error {
	var v struct {
		Type                string `json:"type"`
		EvaluatedPermission *struct {
			Type       string `json:"type"`
			ReasonCode string `json:"reason_code"`
		} `json:"evaluated_permission"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*t = ToolEvaluation{Type: v.Type}
	if v.EvaluatedPermission != nil {
		t.Permission = v.EvaluatedPermission.Type
		t.ReasonCode = v.EvaluatedPermission.ReasonCode
	}
	return nil
}

// ---- session status, error and bookkeeping events ----------------------

// SessionStatusRunningEvent is session.status_running.
type SessionStatusRunningEvent struct{}

// SessionStatusRescheduledEvent is session.status_rescheduled.
type SessionStatusRescheduledEvent struct{}

// SessionStatusTerminatedEvent is session.status_terminated.
type SessionStatusTerminatedEvent struct{}

// SessionDeletedEvent is session.deleted: sent on open streams just before
// they close.
type SessionDeletedEvent struct{}

// SessionStatusIdleEvent is session.status_idle.
type SessionStatusIdleEvent struct {
	StopReason StopReason `json:"stop_reason"`
	// StopDetails is null unless the stop was a refusal.
	StopDetails *RefusalStopDetails `json:"stop_details"`
}

// Stop reason types (events.md §9.1).
const (
	StopEndTurn          = "end_turn"
	StopRequiresAction   = "requires_action"
	StopRetriesExhausted = "retries_exhausted"
	StopBudgetReached    = "budget_reached"
	StopRefusal          = "refusal"
)

// StopReason is the stop_reason union; EventIDs belongs to requires_action.
type StopReason struct {
	Type     string
	EventIDs []string
}

// EndTurn, RequiresAction, RetriesExhausted, BudgetReached and Refusal build
// each stop reason.
func EndTurn() StopReason          { return StopReason{Type: StopEndTurn} }
func RetriesExhausted() StopReason { return StopReason{Type: StopRetriesExhausted} }
func BudgetReached() StopReason    { return StopReason{Type: StopBudgetReached} }
func Refusal() StopReason          { return StopReason{Type: StopRefusal} }
func RequiresAction(eventIDs ...string) StopReason {
	return StopReason{Type: StopRequiresAction, EventIDs: eventIDs}
}

func (s StopReason) MarshalJSON() ([]byte, error) {
	if s.Type != StopRequiresAction {
		return json.Marshal(TypeOnly{Type: s.Type})
	}
	ids := s.EventIDs
	if ids == nil {
		ids = []string{}
	}
	return json.Marshal(struct {
		Type     string   `json:"type"`
		EventIDs []string `json:"event_ids"`
	}{s.Type, ids})
}

func (s *StopReason) UnmarshalJSON(b []byte) error {
	var v struct {
		Type     string   `json:"type"`
		EventIDs []string `json:"event_ids"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = StopReason(v)
	return nil
}

// Refusal categories (MA.SessionRefusalStopDetailsCategory).
const (
	RefusalCyber               = "cyber"
	RefusalBio                 = "bio"
	RefusalFrontierLLM         = "frontier_llm"
	RefusalReasoningExtraction = "reasoning_extraction"
	RefusalGeneralHarms        = "general_harms"
)

// RefusalStopDetails is the stop_details of a refusal idle.
type RefusalStopDetails struct {
	Category    *string `json:"category"`
	Explanation *string `json:"explanation"`
}

func (d RefusalStopDetails) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type        string  `json:"type"`
		Category    *string `json:"category"`
		Explanation *string `json:"explanation"`
	}{StopRefusal, d.Category, d.Explanation})
}

// Retry statuses of a session.error (events.md §9.3).
const (
	RetryRetrying  = "retrying"
	RetryExhausted = "exhausted"
	RetryTerminal  = "terminal"
)

// Session error types (events.md §9.4).
const (
	ErrUnknown                       = "unknown_error"
	ErrModelOverloaded               = "model_overloaded_error"
	ErrModelRateLimited              = "model_rate_limited_error"
	ErrModelRequestFailed            = "model_request_failed_error"
	ErrMCPConnectionFailed           = "mcp_connection_failed_error"
	ErrMCPAuthenticationFailed       = "mcp_authentication_failed_error"
	ErrBilling                       = "billing_error"
	ErrCredentialHostUnreachable     = "credential_host_unreachable_error"
	ErrToolUseLimitReached           = "tool_use_limit_reached_error"
	ErrCompactionLimitReached        = "compaction_limit_reached_error"
	ErrRepositoryAuthentication      = "repository_authentication_error"
	ErrRepositoryForbidden           = "repository_forbidden_error"
	ErrRepositoryNotFound            = "repository_not_found_error"
	ErrRepositoryCheckout            = "repository_checkout_error"
	ErrRepositoryClone               = "repository_clone_error"
	sessionErrorRepositoryTypePrefix = "repository_"
)

// SessionErrorEvent is session.error.
type SessionErrorEvent struct {
	Error SessionError `json:"error"`
}

// SessionError is the error object of a session.error. The type-specific
// members are sent only for the types that require them: MCPServerName for
// mcp_*, VaultID and CredentialID for credential_host_unreachable_error,
// RepositoryURL (nullable) for repository_*.
type SessionError struct {
	Type          string
	Message       string
	RetryStatus   string
	MCPServerName string
	VaultID       string
	CredentialID  string
	RepositoryURL *string
}

// NewSessionError builds an error object without type-specific members.
func NewSessionError(typ, retryStatus, message string) SessionError {
	return SessionError{Type: typ, RetryStatus: retryStatus, Message: message}
}

func (e SessionError) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"type":         e.Type,
		"message":      e.Message,
		"retry_status": TypeOnly{Type: e.RetryStatus},
	}
	switch {
	case e.Type == ErrMCPConnectionFailed || e.Type == ErrMCPAuthenticationFailed:
		m["mcp_server_name"] = e.MCPServerName
	case e.Type == ErrCredentialHostUnreachable:
		m["vault_id"] = e.VaultID
		m["credential_id"] = e.CredentialID
	case strings.HasPrefix(e.Type, sessionErrorRepositoryTypePrefix):
		m["repository_url"] = e.RepositoryURL
	}
	return json.Marshal(m)
}

func (e *SessionError) UnmarshalJSON(b []byte) error {
	var v struct {
		Type          string   `json:"type"`
		Message       string   `json:"message"`
		RetryStatus   TypeOnly `json:"retry_status"`
		MCPServerName string   `json:"mcp_server_name"`
		VaultID       string   `json:"vault_id"`
		CredentialID  string   `json:"credential_id"`
		RepositoryURL *string  `json:"repository_url"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = SessionError{v.Type, v.Message, v.RetryStatus.Type, v.MCPServerName, v.VaultID, v.CredentialID, v.RepositoryURL}
	return nil
}

// SessionUpdatedEvent is session.updated: it carries only what changed.
// Agent is the full effective snapshot when tools or mcp_servers changed;
// Budget is sent when BudgetChanged (null when removed); Metadata when the
// new bag is non-empty; Title when TitleChanged (null when cleared).
type SessionUpdatedEvent struct {
	Agent         *SessionAgent
	BudgetChanged bool
	Budget        *BudgetLimit
	Metadata      Metadata
	TitleChanged  bool
	Title         *string
}

func (e *SessionUpdatedEvent) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	if e.Agent != nil {
		m["agent"] = e.Agent
	}
	if e.BudgetChanged {
		m["budget"] = e.Budget
	}
	if len(e.Metadata) > 0 {
		m["metadata"] = e.Metadata
	}
	if e.TitleChanged {
		m["title"] = e.Title
	}
	return json.Marshal(m)
}

func (e *SessionUpdatedEvent) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*e = SessionUpdatedEvent{}
	if raw, ok := m["agent"]; ok && !jsonobj.IsNull(raw) {
		e.Agent = &SessionAgent{}
		if err := json.Unmarshal(raw, e.Agent); err != nil {
			return err
		}
	}
	if raw, ok := m["budget"]; ok {
		e.BudgetChanged = true
		if err := json.Unmarshal(raw, &e.Budget); err != nil {
			return err
		}
	}
	if raw, ok := m["metadata"]; ok {
		if err := json.Unmarshal(raw, &e.Metadata); err != nil {
			return err
		}
	}
	if raw, ok := m["title"]; ok {
		e.TitleChanged = true
		if err := json.Unmarshal(raw, &e.Title); err != nil {
			return err
		}
	}
	return nil
}

// SessionUsageEvent is session.usage: a cumulative usage snapshot.
type SessionUsageEvent struct {
	Usage  SessionUsage `json:"usage"`
	Budget *BudgetLimit `json:"budget"`
}

// SessionThreadCreatedEvent is session.thread_created (multiagent).
type SessionThreadCreatedEvent struct {
	AgentName       string  `json:"agent_name"`
	SessionThreadID string  `json:"session_thread_id"`
	WorkflowRunID   *string `json:"workflow_run_id"`
}

// SessionThreadStatusRunningEvent is session.thread_status_running.
type SessionThreadStatusRunningEvent struct {
	AgentName       string `json:"agent_name"`
	SessionThreadID string `json:"session_thread_id"`
}

// SessionThreadStatusRescheduledEvent is session.thread_status_rescheduled.
type SessionThreadStatusRescheduledEvent struct {
	AgentName       string `json:"agent_name"`
	SessionThreadID string `json:"session_thread_id"`
}

// SessionThreadStatusTerminatedEvent is session.thread_status_terminated.
type SessionThreadStatusTerminatedEvent struct {
	AgentName       string `json:"agent_name"`
	SessionThreadID string `json:"session_thread_id"`
}

// SessionThreadStatusIdleEvent is session.thread_status_idle.
type SessionThreadStatusIdleEvent struct {
	AgentName       string              `json:"agent_name"`
	SessionThreadID string              `json:"session_thread_id"`
	StopReason      StopReason          `json:"stop_reason"`
	StopDetails     *RefusalStopDetails `json:"stop_details"`
}

func (*SessionStatusRunningEvent) EventType() string     { return EventTypeSessionStatusRunning }
func (*SessionStatusIdleEvent) EventType() string        { return EventTypeSessionStatusIdle }
func (*SessionStatusRescheduledEvent) EventType() string { return EventTypeSessionStatusRescheduled }
func (*SessionStatusTerminatedEvent) EventType() string  { return EventTypeSessionStatusTerminated }
func (*SessionDeletedEvent) EventType() string           { return EventTypeSessionDeleted }
func (*SessionErrorEvent) EventType() string             { return EventTypeSessionError }
func (*SessionUpdatedEvent) EventType() string           { return EventTypeSessionUpdated }
func (*SessionUsageEvent) EventType() string             { return EventTypeSessionUsage }
func (*SessionThreadCreatedEvent) EventType() string     { return EventTypeSessionThreadCreated }
func (*SessionThreadStatusRunningEvent) EventType() string {
	return EventTypeSessionThreadStatusRunning
}
func (*SessionThreadStatusIdleEvent) EventType() string { return EventTypeSessionThreadStatusIdle }
func (*SessionThreadStatusRescheduledEvent) EventType() string {
	return EventTypeSessionThreadStatusRescheduled
}
func (*SessionThreadStatusTerminatedEvent) EventType() string {
	return EventTypeSessionThreadStatusTerminated
}
func (*SessionStatusRunningEvent) isEventPayload()           {}
func (*SessionStatusIdleEvent) isEventPayload()              {}
func (*SessionStatusRescheduledEvent) isEventPayload()       {}
func (*SessionStatusTerminatedEvent) isEventPayload()        {}
func (*SessionDeletedEvent) isEventPayload()                 {}
func (*SessionErrorEvent) isEventPayload()                   {}
func (*SessionUpdatedEvent) isEventPayload()                 {}
func (*SessionUsageEvent) isEventPayload()                   {}
func (*SessionThreadCreatedEvent) isEventPayload()           {}
func (*SessionThreadStatusRunningEvent) isEventPayload()     {}
func (*SessionThreadStatusIdleEvent) isEventPayload()        {}
func (*SessionThreadStatusRescheduledEvent) isEventPayload() {}
func (*SessionThreadStatusTerminatedEvent) isEventPayload()  {}

// ---- spans --------------------------------------------------------------

// SpanModelRequestStartEvent is span.model_request_start.
type SpanModelRequestStartEvent struct{}

// SpanModelRequestEndEvent is span.model_request_end. It also closes any
// preview left without its buffered event.
type SpanModelRequestEndEvent struct {
	ModelRequestStartID string         `json:"model_request_start_id"`
	IsError             *bool          `json:"is_error"`
	ModelUsage          SpanModelUsage `json:"model_usage"`
}

// SpanModelUsage is the token usage of one model request.
type SpanModelUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	// Speed is "standard" or "fast" when known.
	Speed *string `json:"speed,omitempty"`
}

// Outcome evaluation results (events.md §9.5).
const (
	OutcomePending              = "pending"
	OutcomeRunning              = "running"
	OutcomeEvaluating           = "evaluating"
	OutcomeNeedsRevision        = "needs_revision"
	OutcomeSatisfied            = "satisfied"
	OutcomeMaxIterationsReached = "max_iterations_reached"
	OutcomeFailed               = "failed"
	OutcomeInterrupted          = "interrupted"
)

// SpanOutcomeEvaluationStartEvent is span.outcome_evaluation_start.
type SpanOutcomeEvaluationStartEvent struct {
	OutcomeID string `json:"outcome_id"`
	Iteration int64  `json:"iteration"`
}

// SpanOutcomeEvaluationOngoingEvent is span.outcome_evaluation_ongoing.
type SpanOutcomeEvaluationOngoingEvent struct {
	OutcomeID string `json:"outcome_id"`
	Iteration int64  `json:"iteration"`
}

// SpanOutcomeEvaluationEndEvent is span.outcome_evaluation_end.
type SpanOutcomeEvaluationEndEvent struct {
	OutcomeEvaluationStartID string         `json:"outcome_evaluation_start_id"`
	OutcomeID                string         `json:"outcome_id"`
	Iteration                int64          `json:"iteration"`
	Result                   string         `json:"result"`
	Explanation              string         `json:"explanation"`
	Usage                    SpanModelUsage `json:"usage"`
}

func (*SpanModelRequestStartEvent) EventType() string { return EventTypeSpanModelRequestStart }
func (*SpanModelRequestEndEvent) EventType() string   { return EventTypeSpanModelRequestEnd }
func (*SpanOutcomeEvaluationStartEvent) EventType() string {
	return EventTypeSpanOutcomeEvaluationStart
}
func (*SpanOutcomeEvaluationOngoingEvent) EventType() string {
	return EventTypeSpanOutcomeEvaluationOngoing
}
func (*SpanOutcomeEvaluationEndEvent) EventType() string   { return EventTypeSpanOutcomeEvaluationEnd }
func (*SpanModelRequestStartEvent) isEventPayload()        {}
func (*SpanModelRequestEndEvent) isEventPayload()          {}
func (*SpanOutcomeEvaluationStartEvent) isEventPayload()   {}
func (*SpanOutcomeEvaluationOngoingEvent) isEventPayload() {}
func (*SpanOutcomeEvaluationEndEvent) isEventPayload()     {}

// ---- live previews (stream only) ----------------------------------------

// StreamEvent is anything written to an event stream: a persisted Event or
// a preview. EventType is the SSE "event:" name.
type StreamEvent interface {
	EventType() string
	json.Marshaler
}

// EventStart is event_start: it announces the type and id of the buffered
// event (agent.message or agent.thinking) that will follow.
type EventStart struct {
	PreviewType string
	EventID     string
}

// EventDelta is event_delta: the next piece of text of content block Index
// of the previewed agent.message.
type EventDelta struct {
	EventID string
	Index   int64
	Text    string
}

func (EventStart) EventType() string { return EventTypeEventStart }
func (EventDelta) EventType() string { return EventTypeEventDelta }

func (s EventStart) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type  string `json:"type"`
		Event struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"event"`
	}{Type: EventTypeEventStart, Event: struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}{s.PreviewType, s.EventID}})
}

func (d EventDelta) MarshalJSON() ([]byte, error) {
	type content struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	type delta struct {
		Type    string  `json:"type"`
		Index   int64   `json:"index"`
		Content content `json:"content"`
	}
	return json.Marshal(struct {
		Type    string `json:"type"`
		EventID string `json:"event_id"`
		Delta   delta  `json:"delta"`
	}{EventTypeEventDelta, d.EventID, delta{"content_delta", d.Index, content{BlockText, d.Text}}})
}

func (s *EventStart) UnmarshalJSON(b []byte) error {
	var v struct {
		Event struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"event"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = EventStart{v.Event.Type, v.Event.ID}
	return nil
}

func (d *EventDelta) UnmarshalJSON(b []byte) error {
	var v struct {
		EventID string `json:"event_id"`
		Delta   struct {
			Index   int64 `json:"index"`
			Content struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"delta"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*d = EventDelta{v.EventID, v.Delta.Index, v.Delta.Content.Text}
	return nil
}

// PreviewTypes are the values event_deltas[] accepts (PRV-02).
var PreviewTypes = []string{EventTypeAgentMessage, EventTypeAgentThinking}

// ---- POST …/events ---------------------------------------------------------

// SendEventsParams is the body of POST /v1/sessions/{id}/events. Events
// holds *UserMessageEvent, *UserInterruptEvent, *UserToolConfirmationEvent,
// *UserCustomToolResultEvent, *UserDefineOutcomeEvent, *UserToolResultEvent
// or *SystemMessageEvent, in request order. UnmarshalJSON checks the shape
// (types, required fields, unknown fields and discriminators); Validate
// checks the values and the batch rules that need no session state.
type SendEventsParams struct {
	Events []EventPayload
}

// SentEvents is the response of POST …/events: the echo of each event.
type SentEvents struct {
	Data []Event `json:"data"`
}

func (p *SendEventsParams) UnmarshalJSON(b []byte) error {
	o, err := jsonobj.New("", b)
	if err != nil {
		return err
	}
	raw, pr := o.Get("events")
	if pr != jsonobj.Present {
		return jsonobj.Invalid("events", "field required")
	}
	items, err := jsonobj.Array("events", raw)
	if err != nil {
		return err
	}
	p.Events = make([]EventPayload, 0, len(items))
	for i, it := range items {
		ev, err := decodeClientEvent(jsonobj.Index("events", i), it, ClientEventTypes)
		if err != nil {
			return err
		}
		p.Events = append(p.Events, ev)
	}
	return o.Finish()
}

// Validate checks every event and the batch rules of EVT-20/21 and the
// SDK: at most one system.message, last, right after the user.message,
// user.tool_result or user.custom_tool_result it accompanies.
func (p SendEventsParams) Validate() error {
	if len(p.Events) == 0 {
		return jsonobj.Invalid("events", "must contain at least one event")
	}
	seen := map[string]int{} // "<type> <target id>" → index
	for i, ev := range p.Events {
		path := jsonobj.Index("events", i)
		if err := validateClientEvent(path, ev); err != nil {
			return err
		}
		if _, ok := ev.(*SystemMessageEvent); ok {
			if i != len(p.Events)-1 {
				return jsonobj.Invalid(jsonobj.Key(path, "type"), "a system.message must be the last event of the request")
			}
			if i == 0 || !slices.Contains([]string{EventTypeUserMessage, EventTypeUserToolResult, EventTypeUserCustomToolResult}, p.Events[i-1].EventType()) {
				return jsonobj.Invalid(jsonobj.Key(path, "type"), "a system.message must directly follow the user.message, user.tool_result or user.custom_tool_result it accompanies")
			}
		}
		// The same answer twice in one request is a client bug; across
		// requests it is a retry and the handler accepts it idempotently.
		if key, field := answerTarget(ev); key != "" {
			k := ev.EventType() + " " + key
			if j, dup := seen[k]; dup {
				return jsonobj.Invalid(jsonobj.Key(path, field), "duplicate of events[%d] for %q", j, key)
			}
			seen[k] = i
		}
	}
	return nil
}

func answerTarget(ev EventPayload) (id, field string) {
	switch e := ev.(type) {
	case *UserToolConfirmationEvent:
		return e.ToolUseID, "tool_use_id"
	case *UserCustomToolResultEvent:
		return e.CustomToolUseID, "custom_tool_use_id"
	case *UserToolResultEvent:
		return e.ToolUseID, "tool_use_id"
	}
	return "", ""
}

// decodeClientEvent reads one client event whose type must be in allowed.
func decodeClientEvent(path string, raw json.RawMessage, allowed []string) (EventPayload, error) {
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return nil, err
	}
	typ, err := o.Discriminator()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(allowed, typ) {
		k := kindOf[typ]
		switch {
		case k != nil && k.client:
			return nil, jsonobj.Invalid(o.At("type"), "%q events are not allowed here, expected one of %v", typ, allowed)
		case k != nil && k.server:
			return nil, jsonobj.Invalid(o.At("type"), "%q events are emitted by the server and cannot be sent, expected one of %v", typ, allowed)
		}
		return nil, jsonobj.Invalid(o.At("type"), "unknown value %q, expected one of %v", typ, allowed)
	}
	ev, err := kindOf[typ].decode(o)
	if err != nil {
		return nil, err
	}
	return ev, o.Finish()
}

func decodeUserMessage(o *jsonobj.Object) (EventPayload, error) {
	e := &UserMessageEvent{}
	var err error
	e.Content, err = requiredBlocks(o, "content", UserMessageBlocks)
	return e, err
}

func decodeSystemMessage(o *jsonobj.Object) (EventPayload, error) {
	e := &SystemMessageEvent{}
	var err error
	e.Content, err = requiredBlocks(o, "content", SystemBlocks)
	return e, err
}

func decodeUserInterrupt(o *jsonobj.Object) (EventPayload, error) {
	e := &UserInterruptEvent{}
	s, err := o.OptStr("session_thread_id")
	if err != nil {
		return nil, err
	}
	if s != nil {
		if *s == "" {
			return nil, jsonobj.Invalid(o.At("session_thread_id"), "must not be empty")
		}
		e.SessionThreadID = *s
	}
	return e, nil
}

func decodeUserToolConfirmation(o *jsonobj.Object) (EventPayload, error) {
	e := &UserToolConfirmationEvent{}
	var err error
	if e.ToolUseID, err = o.RequiredStr("tool_use_id"); err != nil {
		return nil, err
	}
	if e.Result, err = o.RequiredStr("result"); err != nil {
		return nil, err
	}
	if e.Result != ConfirmAllow && e.Result != ConfirmDeny {
		return nil, jsonobj.Invalid(o.At("result"), "unknown value %q, expected one of [allow deny]", e.Result)
	}
	if e.DenyMessage, err = o.OptStr("deny_message"); err != nil {
		return nil, err
	}
	return e, nil
}

func decodeUserCustomToolResult(o *jsonobj.Object) (EventPayload, error) {
	e := &UserCustomToolResultEvent{}
	var err error
	if e.CustomToolUseID, err = o.RequiredStr("custom_tool_use_id"); err != nil {
		return nil, err
	}
	if e.Content, e.IsError, err = resultBody(o); err != nil {
		return nil, err
	}
	return e, nil
}

func decodeUserToolResult(o *jsonobj.Object) (EventPayload, error) {
	e := &UserToolResultEvent{}
	var err error
	if e.ToolUseID, err = o.RequiredStr("tool_use_id"); err != nil {
		return nil, err
	}
	if e.Content, e.IsError, err = resultBody(o); err != nil {
		return nil, err
	}
	return e, nil
}

func decodeUserDefineOutcome(o *jsonobj.Object) (EventPayload, error) {
	e := &UserDefineOutcomeEvent{}
	var err error
	if e.Description, err = o.RequiredStr("description"); err != nil {
		return nil, err
	}
	raw, p := o.Get("rubric")
	if p != jsonobj.Present {
		return nil, jsonobj.Invalid(o.At("rubric"), "field required")
	}
	if e.Rubric, err = decodeRubric(o.At("rubric"), raw); err != nil {
		return nil, err
	}
	if e.MaxIterations, err = o.OptInt("max_iterations"); err != nil {
		return nil, err
	}
	return e, nil
}

func requiredBlocks(o *jsonobj.Object, key string, allowed []string) ([]ContentBlock, error) {
	raw, p := o.Get(key)
	if p != jsonobj.Present {
		return nil, jsonobj.Invalid(o.At(key), "field required")
	}
	return decodeBlocks(o.At(key), raw, allowed)
}

func resultBody(o *jsonobj.Object) ([]ContentBlock, *bool, error) {
	var content []ContentBlock
	if raw, p := o.Get("content"); p == jsonobj.Present {
		var err error
		if content, err = decodeBlocks(o.At("content"), raw, ToolResultBlocks); err != nil {
			return nil, nil, err
		}
	}
	isErr, err := o.Bool("is_error")
	return content, isErr, err
}

func decodeRubric(path string, raw json.RawMessage) (Rubric, error) {
	var r Rubric
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return r, err
	}
	if r.Type, err = o.Discriminator(); err != nil {
		return r, err
	}
	switch r.Type {
	case BlockText:
		if r.Content, err = o.RequiredStr("content"); err != nil {
			return r, err
		}
	case SourceFile:
		if r.FileID, err = o.RequiredStr("file_id"); err != nil {
			return r, err
		}
	default:
		return r, jsonobj.Invalid(o.At("type"), "unknown value %q, expected one of [file text]", r.Type)
	}
	return r, o.Finish()
}

// maxSystemBlocks bounds a system.message (EVT-21).
const maxSystemBlocks = 1000

func validateClientEvent(path string, ev EventPayload) error {
	switch e := ev.(type) {
	case *UserMessageEvent:
		if len(e.Content) == 0 {
			return jsonobj.Invalid(jsonobj.Key(path, "content"), "must contain at least one block")
		}
		return validateBlocks(jsonobj.Key(path, "content"), e.Content, true)
	case *SystemMessageEvent:
		if n := len(e.Content); n == 0 || n > maxSystemBlocks {
			return jsonobj.Invalid(jsonobj.Key(path, "content"), "must contain 1 to %d text blocks, got %d", maxSystemBlocks, n)
		}
		return validateBlocks(jsonobj.Key(path, "content"), e.Content, true)
	case *UserInterruptEvent:
		return nil
	case *UserToolConfirmationEvent:
		if strings.TrimSpace(e.ToolUseID) == "" {
			return jsonobj.Invalid(jsonobj.Key(path, "tool_use_id"), "must not be empty")
		}
		if e.DenyMessage != nil && e.Result != ConfirmDeny {
			return jsonobj.Invalid(jsonobj.Key(path, "deny_message"), "only allowed when result is %q", ConfirmDeny)
		}
		return nil
	case *UserCustomToolResultEvent:
		if strings.TrimSpace(e.CustomToolUseID) == "" {
			return jsonobj.Invalid(jsonobj.Key(path, "custom_tool_use_id"), "must not be empty")
		}
		return validateBlocks(jsonobj.Key(path, "content"), e.Content, false)
	case *UserToolResultEvent:
		if strings.TrimSpace(e.ToolUseID) == "" {
			return jsonobj.Invalid(jsonobj.Key(path, "tool_use_id"), "must not be empty")
		}
		return validateBlocks(jsonobj.Key(path, "content"), e.Content, false)
	case *UserDefineOutcomeEvent:
		if strings.TrimSpace(e.Description) == "" {
			return jsonobj.Invalid(jsonobj.Key(path, "description"), "must not be empty")
		}
		switch e.Rubric.Type {
		case BlockText:
			if strings.TrimSpace(e.Rubric.Content) == "" {
				return jsonobj.Invalid(jsonobj.Key(path, "rubric.content"), "must not be empty")
			}
			if err := checkLen(jsonobj.Key(path, "rubric.content"), e.Rubric.Content, 1, maxRubricText); err != nil {
				return err
			}
		case SourceFile:
			if strings.TrimSpace(e.Rubric.FileID) == "" {
				return jsonobj.Invalid(jsonobj.Key(path, "rubric.file_id"), "must not be empty")
			}
		}
		if n := e.MaxIterations; n != nil && (*n < 1 || *n > MaxOutcomeIterations) {
			return jsonobj.Invalid(jsonobj.Key(path, "max_iterations"), "must be between 1 and %d, got %d", MaxOutcomeIterations, *n)
		}
		return nil
	}
	return jsonobj.Invalid(path, "unsupported event %T", ev)
}
