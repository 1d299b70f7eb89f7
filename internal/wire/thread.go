package wire

import (
	"encoding/json"
	"time"
)

// TypeSessionThread is the object type of a session thread.
const TypeSessionThread = "session_thread"

// Session thread statuses.
const (
	ThreadRunning      = "running"
	ThreadIdle         = "idle"
	ThreadRescheduling = "rescheduling"
	ThreadTerminated   = "terminated"
)

// ThreadStatuses are the values of a thread's status (and of the list's
// statuses[] filter).
var ThreadStatuses = []string{ThreadRunning, ThreadIdle, ThreadRescheduling, ThreadTerminated}

// SessionThread is one thread of a multiagent session (MA.SessionThread):
// the primary thread (parent_thread_id null) or a thread the coordinator
// opened for a roster agent.
type SessionThread struct {
	ID             string        `json:"id"`
	Agent          ThreadAgent   `json:"agent"`
	ArchivedAt     *time.Time    `json:"archived_at"`
	CreatedAt      time.Time     `json:"created_at"`
	ParentThreadID *string       `json:"parent_thread_id"`
	SessionID      string        `json:"session_id"`
	Stats          *SessionStats `json:"stats"`
	Status         string        `json:"status"`
	UpdatedAt      time.Time     `json:"updated_at"`
	Usage          *SessionUsage `json:"usage"`
	WorkflowRunID  *string       `json:"workflow_run_id"`
}

func (t SessionThread) MarshalJSON() ([]byte, error) {
	type plain SessionThread
	return json.Marshal(struct {
		Type string `json:"type"`
		plain
	}{TypeSessionThread, plain(t)})
}

// ThreadAgent is the snapshot of the agent a thread runs
// (MA.SessionThreadAgent): a session agent without its roster, which is
// read from the session.
type ThreadAgent struct {
	ID                string            `json:"id"`
	Type              string            `json:"type"`
	Name              string            `json:"name"`
	Description       *string           `json:"description"`
	System            *string           `json:"system"`
	Model             ModelConfig       `json:"model"`
	Tools             []AgentTool       `json:"tools"`
	MCPServers        []MCPServer       `json:"mcp_servers"`
	Skills            []AgentSkill      `json:"skills"`
	ExecutionIdentity ExecutionIdentity `json:"execution_identity"`
	Version           int64             `json:"version"`
}

// MarshalJSON writes the advisor's entry ({type: advisor, model: id}) in
// its own shape; an agent's as it is.
func (t ThreadAgent) MarshalJSON() ([]byte, error) {
	if t.Type == "advisor" {
		return json.Marshal(struct {
			Type  string `json:"type"`
			Model string `json:"model"`
		}{t.Type, t.Model.ID})
	}
	type plain ThreadAgent
	return json.Marshal(plain(t))
}

// ThreadAgentFrom snapshots a session agent for a thread.
func ThreadAgentFrom(a SessionAgent) ThreadAgent {
	t := ThreadAgent{
		ID: a.ID, Type: "agent", Name: a.Name, Description: a.Description, System: a.System, Model: a.Model,
		Tools: a.Tools, MCPServers: a.MCPServers, Skills: a.Skills, ExecutionIdentity: a.ExecutionIdentity, Version: a.Version,
	}
	if t.Tools == nil {
		t.Tools = []AgentTool{}
	}
	if t.MCPServers == nil {
		t.MCPServers = []MCPServer{}
	}
	if t.Skills == nil {
		t.Skills = []AgentSkill{}
	}
	if t.ExecutionIdentity.Type == "" {
		t.ExecutionIdentity.Type = "service_account"
	}
	return t
}
