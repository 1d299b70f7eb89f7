// Package tool owns what the model is offered as tools: the catalogue built
// from an agent's configuration (the built-in agent_toolset_20260401, custom
// tools, and later MCP tools), each with its permission policy. Running the
// tools is someone else's job: built-in tools run in the session's sandbox,
// custom tools in the client, MCP tools on their servers.
package tool

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2/tools/agenttoolset"

	"github.com/hangarhq/hangar/internal/wire"
)

// CallTimeout bounds one tool call, wherever it runs. It is the default of
// the SDK's session tool runner, which every worker runs (a cloud
// session's, in its sandbox, and `hangar worker`; EnvironmentWorker offers
// no option for it), and the engine applies it to the calls it runs itself
// (web tools, MCP tools, built-in tools on the host). Inside it, the bash
// tool's own limit is the toolset's: 295 s, which kills the shell.
const CallTimeout = 325 * time.Second

// Call is one built-in tool call to execute in the session's sandbox.
type Call struct {
	Workspace     string
	SessionID     string
	EnvironmentID string
	// ToolUseID is the id of the agent.tool_use event.
	ToolUseID string
	Name      string
	Input     json.RawMessage
}

// Result is what a tool produced.
type Result struct {
	Content []wire.ContentBlock
	IsError bool
}

// Executor runs built-in tools. A returned error (as opposed to a result
// with IsError) means the tool could not run at all; the model is told so.
// Implementations: a sandbox toolbox (internal/server), the host executor
// for tests (tool/hostexec), the server-side web tools (tool/web).
type Executor interface {
	Execute(ctx context.Context, call Call) (Result, error)
}

// Kind says who executes a tool.
type Kind string

const (
	// Builtin tools of agent_toolset_20260401 run in the session sandbox
	// (or, for self_hosted environments, on the customer's worker).
	Builtin Kind = "builtin"
	// Custom tools are executed by the client, which answers with
	// user.custom_tool_result.
	Custom Kind = "custom"
	// MCP tools run on an MCP server.
	MCP Kind = "mcp"
)

// Permission policies.
const (
	AlwaysAllow = "always_allow"
	AlwaysAsk   = "always_ask"
	Auto        = "auto"
)

// Def is one tool as the model sees it, plus how Hangar handles a call.
type Def struct {
	Name        string
	Description string
	InputSchema json.RawMessage
	Kind        Kind
	// Permission is always_allow, always_ask or auto.
	Permission string
	// MCPServer names the server of an MCP tool.
	MCPServer string
}

// builtinDefs are the official toolset's six sandbox tools, taken from the
// SDK's reference implementation so names, descriptions and schemas match
// it exactly, plus the two server-side tools Hangar runs itself.
var builtinDefs = sync.OnceValue(func() map[string]Def {
	out := map[string]Def{}
	// The definitions are static; the context is only needed to build them.
	for _, t := range agenttoolset.BetaAgentToolset20260401(&agenttoolset.AgentToolContext{Workdir: "/workspace"}) {
		schema, err := json.Marshal(t.InputSchema())
		if err != nil {
			panic(err) // static SDK data
		}
		out[t.Name()] = Def{Name: t.Name(), Description: t.Description(), InputSchema: schema, Kind: Builtin}
	}
	out["web_fetch"] = Def{
		Name:        "web_fetch",
		Description: "Fetch the content of a web page or document by URL and return it as text. Use it to read pages whose URLs appeared in the conversation or in earlier tool results.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"url":{"type":"string","description":"The absolute http or https URL to fetch."}},"required":["url"]}`),
		Kind:        Builtin,
	}
	out["web_search"] = Def{
		Name:        "web_search",
		Description: "Search the web and return a list of results with titles, URLs and snippets.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string","description":"The search query."}},"required":["query"]}`),
		Kind:        Builtin,
	}
	return out
})

// Catalog returns the tools an agent configuration offers the model, in a
// stable order: the toolset's enabled tools, then custom tools. MCP tools are
// added by the MCP layer once it has listed each server's tools.
func Catalog(tools []wire.AgentTool) []Def {
	var out []Def
	defs := builtinDefs()
	for _, t := range tools {
		switch {
		case t.Toolset != nil:
			for _, c := range t.Toolset.Configs {
				d, ok := defs[c.Name]
				if !ok || !c.Enabled {
					continue
				}
				d.Permission = policy(c.PermissionPolicy.Type)
				out = append(out, d)
			}
		case t.Custom != nil:
			schema := t.Custom.InputSchema
			if len(schema) == 0 {
				schema = json.RawMessage(`{"type":"object"}`)
			}
			out = append(out, Def{Name: t.Custom.Name, Description: t.Custom.Description, InputSchema: schema, Kind: Custom, Permission: AlwaysAllow})
		}
	}
	return out
}

// policy is the configured policy of a call, always_allow when none is set.
func policy(p string) string {
	if p == AlwaysAsk || p == Auto {
		return p
	}
	return AlwaysAllow
}

// ServerSide reports whether a built-in tool runs on the server itself
// rather than in the session's sandbox or on a self-hosted worker.
func ServerSide(name string) bool { return name == "web_fetch" || name == "web_search" }

// Find returns the definition named name.
func Find(defs []Def, name string) (Def, bool) {
	for _, d := range defs {
		if d.Name == name {
			return d, true
		}
	}
	return Def{}, false
}
