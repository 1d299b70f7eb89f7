package wire

import (
	"encoding/json"
	"strings"

	"github.com/hangarhq/hangar/internal/jsonobj"
)

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

// Stop reason types.
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

// Retry statuses of a session.error.
const (
	RetryRetrying  = "retrying"
	RetryExhausted = "exhausted"
	RetryTerminal  = "terminal"
)

// Session error types.
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
