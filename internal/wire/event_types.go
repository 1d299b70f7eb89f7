package wire

import "github.com/hangarhq/hangar/internal/jsonobj"

// eventKind is what the package knows about one event type.
type eventKind struct {
	typ string
	// new makes the payload a persisted event of the type decodes into;
	// nil for types never stored here (previews).
	new func() EventPayload
	// client: POST …/events accepts it, and it is echoed unprocessed until
	// the agent consumes it. decode reads it from such a request.
	client bool
	decode func(o *jsonobj.Object) (EventPayload, error)
	// listable: the history filter types[] accepts it.
	listable bool
	// server: Hangar emits it, so a client cannot send it.
	server bool
}

// eventKinds is the one list of event types; the lookups, ClientEventTypes
// and ListableEventTypes are derived from it. Its order is the SDK's order
// of the history filter, which the error messages that list types follow.
var eventKinds = []eventKind{
	{typ: EventTypeUserMessage, new: func() EventPayload { return &UserMessageEvent{} }, client: true, decode: decodeUserMessage, listable: true},
	{typ: EventTypeUserInterrupt, new: func() EventPayload { return &UserInterruptEvent{} }, client: true, decode: decodeUserInterrupt, listable: true},
	{typ: EventTypeUserToolConfirmation, new: func() EventPayload { return &UserToolConfirmationEvent{} }, client: true, decode: decodeUserToolConfirmation, listable: true},
	{typ: EventTypeUserCustomToolResult, new: func() EventPayload { return &UserCustomToolResultEvent{} }, client: true, decode: decodeUserCustomToolResult, listable: true},
	{typ: EventTypeAgentCustomToolUse, new: func() EventPayload { return &AgentCustomToolUseEvent{} }, listable: true, server: true},
	{typ: EventTypeAgentMessage, new: func() EventPayload { return &AgentMessageEvent{} }, listable: true, server: true},
	{typ: EventTypeAgentThinking, new: func() EventPayload { return &AgentThinkingEvent{} }, listable: true, server: true},
	{typ: EventTypeAgentMCPToolUse, new: func() EventPayload { return &AgentMCPToolUseEvent{} }, listable: true, server: true},
	{typ: EventTypeAgentMCPToolResult, new: func() EventPayload { return &AgentMCPToolResultEvent{} }, listable: true, server: true},
	{typ: EventTypeAgentToolUse, new: func() EventPayload { return &AgentToolUseEvent{} }, listable: true, server: true},
	{typ: EventTypeAgentToolResult, new: func() EventPayload { return &AgentToolResultEvent{} }, listable: true, server: true},
	{typ: EventTypeAgentThreadMessageReceived, new: func() EventPayload { return &AgentThreadMessageReceivedEvent{} }, listable: true, server: true},
	{typ: EventTypeAgentThreadMessageSent, new: func() EventPayload { return &AgentThreadMessageSentEvent{} }, listable: true, server: true},
	{typ: EventTypeAgentThreadContextCompacted, new: func() EventPayload { return &AgentThreadContextCompactedEvent{} }, listable: true, server: true},
	{typ: EventTypeSessionError, new: func() EventPayload { return &SessionErrorEvent{} }, listable: true, server: true},
	{typ: EventTypeSessionStatusRescheduled, new: func() EventPayload { return &SessionStatusRescheduledEvent{} }, listable: true, server: true},
	{typ: EventTypeSessionStatusRunning, new: func() EventPayload { return &SessionStatusRunningEvent{} }, listable: true, server: true},
	{typ: EventTypeSessionStatusIdle, new: func() EventPayload { return &SessionStatusIdleEvent{} }, listable: true, server: true},
	{typ: EventTypeSessionStatusTerminated, new: func() EventPayload { return &SessionStatusTerminatedEvent{} }, listable: true, server: true},
	{typ: EventTypeSessionThreadCreated, new: func() EventPayload { return &SessionThreadCreatedEvent{} }, listable: true, server: true},
	{typ: EventTypeSpanOutcomeEvaluationStart, new: func() EventPayload { return &SpanOutcomeEvaluationStartEvent{} }, listable: true, server: true},
	{typ: EventTypeSpanOutcomeEvaluationEnd, new: func() EventPayload { return &SpanOutcomeEvaluationEndEvent{} }, listable: true, server: true},
	{typ: EventTypeSpanModelRequestStart, new: func() EventPayload { return &SpanModelRequestStartEvent{} }, listable: true, server: true},
	{typ: EventTypeSpanModelRequestEnd, new: func() EventPayload { return &SpanModelRequestEndEvent{} }, listable: true, server: true},
	{typ: EventTypeSpanOutcomeEvaluationOngoing, new: func() EventPayload { return &SpanOutcomeEvaluationOngoingEvent{} }, listable: true, server: true},
	{typ: EventTypeUserDefineOutcome, new: func() EventPayload { return &UserDefineOutcomeEvent{} }, client: true, decode: decodeUserDefineOutcome, listable: true},
	{typ: EventTypeSessionThreadStatusRunning, new: func() EventPayload { return &SessionThreadStatusRunningEvent{} }, listable: true, server: true},
	{typ: EventTypeSessionThreadStatusIdle, new: func() EventPayload { return &SessionThreadStatusIdleEvent{} }, listable: true, server: true},
	{typ: EventTypeSessionThreadStatusTerminated, new: func() EventPayload { return &SessionThreadStatusTerminatedEvent{} }, listable: true, server: true},
	{typ: EventTypeUserToolResult, new: func() EventPayload { return &UserToolResultEvent{} }, client: true, decode: decodeUserToolResult, listable: true},
	{typ: EventTypeSessionThreadStatusRescheduled, new: func() EventPayload { return &SessionThreadStatusRescheduledEvent{} }, listable: true, server: true},
	{typ: EventTypeSessionUpdated, new: func() EventPayload { return &SessionUpdatedEvent{} }, listable: true, server: true},
	{typ: EventTypeSystemMessage, new: func() EventPayload { return &SystemMessageEvent{} }, client: true, decode: decodeSystemMessage, listable: true},
	{typ: EventTypeSessionUsage, new: func() EventPayload { return &SessionUsageEvent{} }, listable: true, server: true},
	{typ: EventTypeWorkflowRunCreated, new: func() EventPayload { return &WorkflowRunCreatedEvent{} }, listable: true, server: true},
	{typ: EventTypeWorkflowRunStatusRunning, new: func() EventPayload { return &WorkflowRunStatusRunningEvent{} }, listable: true, server: true},
	{typ: EventTypeWorkflowRunStatusIdle, new: func() EventPayload { return &WorkflowRunStatusIdleEvent{} }, listable: true, server: true},
	{typ: EventTypeWorkflowRunStatusEnded, new: func() EventPayload { return &WorkflowRunStatusEndedEvent{} }, listable: true, server: true},
	{typ: EventTypeWorkflowRunError, new: func() EventPayload { return &WorkflowRunErrorEvent{} }, listable: true, server: true},
	{typ: EventTypeWorkflowRunPhaseStarted, new: func() EventPayload { return &WorkflowRunPhaseStartedEvent{} }, listable: true, server: true},
	{typ: EventTypeWorkflowRunPhaseEnded, new: func() EventPayload { return &WorkflowRunPhaseEndedEvent{} }, listable: true, server: true},
	// Announced on the stream only: a deleted session has no history, and
	// previews are never persisted.
	{typ: EventTypeSessionDeleted, new: func() EventPayload { return &SessionDeletedEvent{} }, server: true},
	{typ: EventTypeEventStart, server: true},
	{typ: EventTypeEventDelta, server: true},
}

// kindOf finds t's entry of eventKinds.
var kindOf = func() map[string]*eventKind {
	m := make(map[string]*eventKind, len(eventKinds))
	for i := range eventKinds {
		m[eventKinds[i].typ] = &eventKinds[i]
	}
	return m
}()

// eventTypesWhere lists, in table order, the types whose entry has keep.
func eventTypesWhere(keep func(eventKind) bool) []string {
	var out []string
	for _, k := range eventKinds {
		if keep(k) {
			out = append(out, k.typ)
		}
	}
	return out
}

// ClientEventTypes are the kinds POST …/events accepts, in the SDK's order.
var ClientEventTypes = eventTypesWhere(func(k eventKind) bool { return k.client })

// ListableEventTypes are the values of the history filter types[]: every
// persisted type the SDK knows (session.deleted and the previews are not
// listable).
var ListableEventTypes = eventTypesWhere(func(k eventKind) bool { return k.listable })

// IsClientEventType reports whether t is sent by clients (and so echoed with
// processed_at null until the agent consumes it).
func IsClientEventType(t string) bool {
	k := kindOf[t]
	return k != nil && k.client
}

// newPayload returns an empty payload of type t, or nil for a type that is
// not persisted here.
func newPayload(t string) EventPayload {
	if k := kindOf[t]; k != nil && k.new != nil {
		return k.new()
	}
	return nil
}
