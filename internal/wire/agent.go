package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Agent is the MA.Agent object: one immutable configuration version of an
// agent plus its identity and timestamps. It is also the snapshot stored for
// every agent version, so sessions resolve an agent by decoding one of these.
type Agent struct {
	ID                string            `json:"id"`
	Type              string            `json:"type"`
	Name              string            `json:"name"`
	Description       *string           `json:"description"`
	System            *string           `json:"system"`
	Model             ModelConfig       `json:"model"`
	Tools             []AgentTool       `json:"tools"`
	MCPServers        []MCPServer       `json:"mcp_servers"`
	Skills            []AgentSkill      `json:"skills"`
	Multiagent        *Multiagent       `json:"multiagent"`
	ExecutionIdentity ExecutionIdentity `json:"execution_identity"`
	Metadata          Metadata          `json:"metadata"`
	Version           int64             `json:"version"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	ArchivedAt        *time.Time        `json:"archived_at"`
}

// MarshalJSON sends every list as [] rather than null: the SDKs mark them
// required and stricter clients (pydantic, zod) reject null.
func (a Agent) MarshalJSON() ([]byte, error) {
	type plain Agent
	p := plain(a)
	if p.Type == "" {
		p.Type = "agent"
	}
	if p.Tools == nil {
		p.Tools = []AgentTool{}
	}
	if p.MCPServers == nil {
		p.MCPServers = []MCPServer{}
	}
	if p.Skills == nil {
		p.Skills = []AgentSkill{}
	}
	if p.ExecutionIdentity.Type == "" {
		p.ExecutionIdentity.Type = "service_account"
	}
	return json.Marshal(p)
}

// Agent toolset tool names, in the order the resolved configs[] lists them.
var AgentToolsetTools = []string{"bash", "read", "write", "edit", "glob", "grep", "web_fetch", "web_search"}

// Type discriminators of the agent tool union.
const (
	ToolTypeAgentToolset = "agent_toolset_20260401"
	ToolTypeMCPToolset   = "mcp_toolset"
	ToolTypeCustom       = "custom"
)

// ModelConfig is the resolved model of an agent (always the object form).
type ModelConfig struct {
	ID           string  `json:"id"`
	Speed        string  `json:"speed"`
	Effort       *Effort `json:"effort"`
	InferenceGeo *string `json:"inference_geo"`
}

// Effort is {"type": "low"|"medium"|"high"|"xhigh"|"max"}.
type Effort struct {
	Type string `json:"type"`
}

// PermissionPolicy is {"type": "always_allow"|"always_ask"|"auto"}.
type PermissionPolicy struct {
	Type string `json:"type"`
}

// ToolDefaultConfig is the resolved default_config of a toolset.
type ToolDefaultConfig struct {
	Enabled          bool             `json:"enabled"`
	PermissionPolicy PermissionPolicy `json:"permission_policy"`
}

// AgentTool is one entry of an agent's tools: exactly one variant is set.
type AgentTool struct {
	Toolset *AgentToolset
	MCP     *MCPToolset
	Custom  *CustomTool
}

func (t AgentTool) MarshalJSON() ([]byte, error) {
	switch {
	case t.Toolset != nil:
		return json.Marshal(t.Toolset)
	case t.MCP != nil:
		return json.Marshal(t.MCP)
	case t.Custom != nil:
		return json.Marshal(t.Custom)
	}
	return nil, fmt.Errorf("wire: empty agent tool")
}

func (t *AgentTool) UnmarshalJSON(b []byte) error {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	*t = AgentTool{}
	switch head.Type {
	case ToolTypeAgentToolset:
		t.Toolset = &AgentToolset{}
		return json.Unmarshal(b, t.Toolset)
	case ToolTypeMCPToolset:
		t.MCP = &MCPToolset{}
		return json.Unmarshal(b, t.MCP)
	case ToolTypeCustom:
		t.Custom = &CustomTool{}
		return json.Unmarshal(b, t.Custom)
	}
	return fmt.Errorf("wire: unknown agent tool type %q", head.Type)
}

// AgentToolset is the resolved agent_toolset_20260401: default_config plus
// one configs[] entry per tool of the set.
type AgentToolset struct {
	Type          string            `json:"type"`
	DefaultConfig ToolDefaultConfig `json:"default_config"`
	Configs       []AgentToolConfig `json:"configs"`
}

// AgentToolConfig is the resolved configuration of one toolset tool. The
// web_fetch and web_search fields are set only on those tools.
type AgentToolConfig struct {
	Name             string              `json:"name"`
	Type             string              `json:"type"`
	Enabled          bool                `json:"enabled"`
	PermissionPolicy PermissionPolicy    `json:"permission_policy"`
	AllowedDomains   []string            `json:"allowed_domains,omitempty"`
	BlockedDomains   []string            `json:"blocked_domains,omitempty"`
	MaxContentTokens *int64              `json:"max_content_tokens,omitempty"`
	URLSources       *WebFetchURLSources `json:"url_sources,omitempty"`
	UserLocation     *UserLocation       `json:"user_location,omitempty"`
}

// MarshalJSON always sends url_sources on web_fetch, where the SDK marks it
// required (null when not set).
func (c AgentToolConfig) MarshalJSON() ([]byte, error) {
	type plain AgentToolConfig
	if c.Name != "web_fetch" {
		return json.Marshal(plain(c))
	}
	return json.Marshal(struct {
		plain
		URLSources *WebFetchURLSources `json:"url_sources"`
	}{plain(c), c.URLSources})
}

// WebFetchURLSources says which sources may contribute URLs to web_fetch.
// A nil member allows every source of that kind.
type WebFetchURLSources struct {
	ClientToolResults *URLSourceFilter `json:"client_tool_results"`
	ServerToolResults *URLSourceFilter `json:"server_tool_results"`
	UserInput         *URLSourceFilter `json:"user_input"`
}

// URLSourceFilter is {"type":"all"|"none"} or {"type":"only"|"except","tools":[…]}.
type URLSourceFilter struct {
	Type  string          `json:"type"`
	Tools []ToolReference `json:"tools,omitempty"`
}

// ToolReference names a tool in a url_sources filter.
type ToolReference struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

// UserLocation localizes web_search results.
type UserLocation struct {
	Type     string  `json:"type"`
	City     *string `json:"city,omitempty"`
	Country  *string `json:"country,omitempty"`
	Region   *string `json:"region,omitempty"`
	Timezone *string `json:"timezone,omitempty"`
}

// MCPToolset is a resolved mcp_toolset. Configs holds only the tools the
// agent configured explicitly: the server's tool list is not known at save
// time.
type MCPToolset struct {
	Type          string            `json:"type"`
	MCPServerName string            `json:"mcp_server_name"`
	DefaultConfig ToolDefaultConfig `json:"default_config"`
	Configs       []MCPToolConfig   `json:"configs"`
}

func (t MCPToolset) MarshalJSON() ([]byte, error) {
	type plain MCPToolset
	p := plain(t)
	if p.Configs == nil {
		p.Configs = []MCPToolConfig{}
	}
	return json.Marshal(p)
}

// MCPToolConfig is the resolved configuration of one MCP tool.
type MCPToolConfig struct {
	Name             string           `json:"name"`
	Enabled          bool             `json:"enabled"`
	PermissionPolicy PermissionPolicy `json:"permission_policy"`
}

// CustomTool is a client-executed tool. InputSchema is the JSON Schema as
// given (in canonical form), so schema keywords beyond properties/required
// survive.
type CustomTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// MCPServer is an MCP server declaration ({"type":"url",name,url}).
type MCPServer struct {
	Type string `json:"type"`
	Name string `json:"name"`
	URL  string `json:"url"`
}

// AgentSkill is an anthropic or custom skill attached to an agent.
type AgentSkill struct {
	Type    string `json:"type"`
	SkillID string `json:"skill_id"`
	Version string `json:"version"`
}

// ExecutionIdentity is {"type":"service_account"} or {"type":"aws_role",role_arn}.
type ExecutionIdentity struct {
	Type    string `json:"type"`
	RoleARN string `json:"role_arn,omitempty"`
}

// Multiagent is the agent's multiagent union: exactly one variant is set.
type Multiagent struct {
	Coordinator *MultiagentCoordinator
	V20261001   *Multiagent20261001
}

// Multiagent type discriminators.
const (
	MultiagentCoordinatorType = "coordinator"
	Multiagent20261001Type    = "multiagent_20261001"
)

func (m Multiagent) MarshalJSON() ([]byte, error) {
	switch {
	case m.Coordinator != nil:
		return json.Marshal(m.Coordinator)
	case m.V20261001 != nil:
		return json.Marshal(m.V20261001)
	}
	return []byte("null"), nil
}

func (m *Multiagent) UnmarshalJSON(b []byte) error {
	*m = Multiagent{}
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	switch head.Type {
	case MultiagentCoordinatorType:
		m.Coordinator = &MultiagentCoordinator{}
		return json.Unmarshal(b, m.Coordinator)
	case Multiagent20261001Type:
		m.V20261001 = &Multiagent20261001{}
		return json.Unmarshal(b, m.V20261001)
	}
	return fmt.Errorf("wire: unknown multiagent type %q", head.Type)
}

// MultiagentCoordinator is the legacy roster form. Every member is resolved
// to a pinned agent version (or an advisor model).
type MultiagentCoordinator struct {
	Type   string         `json:"type"`
	Agents []RosterMember `json:"agents"`
}

// RosterMember is {"type":"agent",id,version} or {"type":"advisor",model}.
type RosterMember struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Version int64  `json:"version,omitempty"`
	Model   string `json:"model,omitempty"`
}

// Multiagent20261001 is the resolved multiagent_20261001 configuration.
type Multiagent20261001 struct {
	Type      string            `json:"type"`
	Advisor   MultiagentAdvisor `json:"advisor"`
	Subagents MultiagentGroup   `json:"subagents"`
	Workflows MultiagentGroup   `json:"workflows"`
}

// MultiagentAdvisor is {"type":"enabled",model} or {"type":"disabled"}.
type MultiagentAdvisor struct {
	Type  string `json:"type"`
	Model string `json:"model,omitempty"`
}

// MultiagentGroup is the subagents or workflows member: {"type":"disabled"}
// or {"type":"enabled",inline_agents,predefined_agents}.
type MultiagentGroup struct {
	Type             string           `json:"type"`
	InlineAgents     *TypeOnly        `json:"inline_agents,omitempty"`
	PredefinedAgents []AgentReference `json:"predefined_agents,omitempty"`
}

func (g MultiagentGroup) MarshalJSON() ([]byte, error) {
	if g.Type != "enabled" {
		return json.Marshal(TypeOnly{Type: g.Type})
	}
	inline := g.InlineAgents
	if inline == nil {
		inline = &TypeOnly{Type: "enabled"}
	}
	agents := g.PredefinedAgents
	if agents == nil {
		agents = []AgentReference{}
	}
	return json.Marshal(struct {
		Type             string           `json:"type"`
		InlineAgents     *TypeOnly        `json:"inline_agents"`
		PredefinedAgents []AgentReference `json:"predefined_agents"`
	}{g.Type, inline, agents})
}

// TypeOnly is a constant object such as {"type":"enabled"}.
type TypeOnly struct {
	Type string `json:"type"`
}

// AgentReference pins one version of an agent.
type AgentReference struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Version int64  `json:"version"`
}
