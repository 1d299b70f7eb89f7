package agentcfg

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/wire"
)

var configSeeds = []struct{ model, tools, servers, skills string }{
	{`"claude-opus-4-8"`, `[]`, `[]`, `[]`},
	{`{"id":"claude-opus-4-8","speed":"fast","effort":{"type":"max"},"inference_geo":"us"}`,
		`[{"type":"agent_toolset_20260401","default_config":{"enabled":false},"configs":[{"name":"read","enabled":true},{"name":"web_fetch","allowed_domains":["a.example"],"url_sources":{"client_tool_results":{"type":"only","tools":[{"type":"tool_reference","name":"c"}]}}}]},{"type":"custom","name":"c","description":"d","input_schema":{"type":"object","required":["x"]}},{"type":"mcp_toolset","mcp_server_name":"gh","configs":[{"name":"t","permission_policy":{"type":"always_allow"}}]}]`,
		`[{"type":"url","name":"gh","url":"https://mcp.example.com"}]`,
		`[{"type":"anthropic","skill_id":"xlsx"},{"type":"custom","skill_id":"skill_1","version":"2"}]`},
	{`{"id":"claude-sonnet-4-5","speed":"fast"}`, `[{"type":"mcp_toolset","mcp_server_name":"nope"}]`, `[{"type":"url","name":"a","url":"ftp://x"}]`, `[{"type":"x"}]`},
	{`null`, `{}`, `null`, `[1]`},
	{`{"id":""}`, `[{"type":"agent_toolset_20260401"},{"type":"agent_toolset_20260401"}]`, `[{"name":"a","url":"https://a"},{"name":"a","url":"https://b"}]`, `[]`},
}

// FuzzConfig: the shared parsers never panic, reject with a 400 whose path
// starts at the given prefix, and Validate on anything they accept either
// passes or names a field under the prefix.
func FuzzConfig(f *testing.F) {
	for _, s := range configSeeds {
		f.Add(s.model, s.tools, s.servers, s.skills)
	}
	f.Fuzz(func(t *testing.T, model, tools, servers, skills string) {
		const prefix = "agent."
		check := func(what string, err error) {
			t.Helper()
			if err == nil {
				return
			}
			e, ok := errdefs.As(err)
			if !ok || e.Class != errdefs.ClassInvalid || !strings.HasPrefix(e.Message, prefix) {
				t.Fatalf("%s: rejection %v does not name a field under %q", what, err, prefix)
			}
		}
		if json.Valid([]byte(model)) {
			m, err := ParseModel(prefix+"model", json.RawMessage(model))
			check("model", err)
			if err == nil {
				mc, err := m.Config(prefix+"model", nil)
				check("model config", err)
				if err == nil && (mc.Speed == "" || mc.Effort == nil || mc.ID != m.ID) {
					t.Fatalf("model config %+v from %s", mc, model)
				}
			}
		}
		var ts []wire.AgentTool
		var ss []wire.MCPServer
		var err1, err2 error
		if json.Valid([]byte(tools)) {
			ts, err1 = ParseTools(prefix+"tools", json.RawMessage(tools))
			check("tools", err1)
		}
		if json.Valid([]byte(servers)) {
			ss, err2 = ParseMCPServers(prefix+"mcp_servers", json.RawMessage(servers))
			check("mcp_servers", err2)
		}
		if json.Valid([]byte(skills)) {
			_, err := ParseSkills(prefix+"skills", json.RawMessage(skills))
			check("skills", err)
		}
		if err1 == nil && err2 == nil {
			check("validate", Validate(prefix, ts, ss))
		}
	})
}

// Validate's paths are the agent's own with an empty prefix, so agents keep
// their messages.
func TestValidatePaths(t *testing.T) {
	tools := []wire.AgentTool{{MCP: &wire.MCPToolset{Type: wire.ToolTypeMCPToolset, MCPServerName: "x"}}}
	for prefix, want := range map[string]string{"": "tools[0].mcp_server_name: ", "agent.": "agent.tools[0].mcp_server_name: "} {
		err := Validate(prefix, tools, nil)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("prefix %q: %v, want %q…", prefix, err, want)
		}
	}
	servers := []wire.MCPServer{{Type: "url", Name: "s", URL: "https://s"}}
	if err := Validate("agent.", nil, servers); err == nil || !strings.HasPrefix(err.Error(), "agent.mcp_servers[0].name: ") {
		t.Fatalf("unreferenced server: %v", err)
	}
}
