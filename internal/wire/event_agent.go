package wire

import "encoding/json"

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

// Evaluated permissions of a tool call.
const (
	PermissionAllow = "allow"
	PermissionAsk   = "ask"
	PermissionDeny  = "deny"
	// ReasonIndeterminate is an auto evaluation that could not decide.
	ReasonIndeterminate = "indeterminate"
	// ReasonHighRisk is an auto evaluation that judged the call high risk.
	ReasonHighRisk = "high_risk"
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
// pre_compaction_tokens is described by the docs but not by the
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
			v.ReasonCode = ReasonIndeterminate
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
