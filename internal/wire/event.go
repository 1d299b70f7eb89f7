package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hangarhq/hangar/internal/ids"
)

// Session event types.
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
// payload is a pointer to one of the *Event structs of the event_*.go
// files, so a type switch over Event.Payload always names pointer types.
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
// Client events start unprocessed: set ProcessedAt when the agent
// consumes them and persist the event again (the processed echo).
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

// Processed returns a copy of e consumed at t (its processed echo).
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
