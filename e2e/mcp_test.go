package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hangarhq/hangar/internal/model/modeltest"
)

// mcpServer is a real MCP server (the official go-sdk) on loopback that
// requires a static bearer token.
func mcpServer(t *testing.T, token string) string {
	t.Helper()
	s := sdk.NewServer(&sdk.Implementation{Name: "weather", Version: "1"}, nil)
	s.AddTool(&sdk.Tool{Name: "forecast", Description: "Forecast for a city.", InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)},
		func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			var in struct{ City string }
			_ = json.Unmarshal(req.Params.Arguments, &in)
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "sunny in " + in.City}}}, nil
		})
	s.AddTool(&sdk.Tool{Name: "dump", Description: "A very large output.", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: strings.Repeat("0123456789abcdef\n", 32768)}}}, nil
		})
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp"
}

// An agent's MCP toolset becomes tools the model
// sees; a call runs on the real MCP server with the static_bearer
// credential of the session's vault, logged as agent.mcp_tool_use /
// agent.mcp_tool_result; the token never appears in the log.
func TestMCPToolThroughVault(t *testing.T) {
	const token = "mcp-secret-token-123"
	url := mcpServer(t, token)
	l := newLoop(t, nil,
		modeltest.ToolCall("", "forecast", map[string]any{"city": "Oslo"}),
		modeltest.Text("It will be sunny."))
	vaultID, _ := l.vault(map[string]any{"type": "static_bearer", "token": token, "mcp_server_url": url})
	agentID := l.agent(map[string]any{
		"mcp_servers": []any{map[string]any{"type": "url", "name": "weather", "url": url}},
		"tools":       []any{map[string]any{"type": "mcp_toolset", "mcp_server_name": "weather", "default_config": map[string]any{"permission_policy": map[string]any{"type": "always_allow"}}}},
	})
	sid := l.session(agentID, vaultID)
	col := l.stream(sid)
	l.send(sid, userMessage("weather in Oslo?"))
	use, _ := col.waitType(t, 0, "agent.mcp_tool_use")
	if raw(use)["mcp_server_name"] != "weather" || use.Name != "forecast" {
		t.Fatalf("mcp_tool_use = %s", use.RawJSON())
	}
	res, _ := col.waitType(t, 0, "agent.mcp_tool_result")
	if raw(res)["mcp_tool_use_id"] != use.ID || !strings.Contains(res.RawJSON(), "sunny in Oslo") {
		t.Fatalf("mcp_tool_result = %s", res.RawJSON())
	}
	col.waitFor(t, 0, "end_turn", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
	})
	// The model was offered the server's tool, and the token stayed out of
	// the log.
	first := l.fake.Requests()[0].Input
	if !first.HasTool("forecast") {
		t.Fatalf("model tools = %+v", first.Tools)
	}
	for _, e := range l.history(sid) {
		if strings.Contains(e.RawJSON(), token) {
			t.Fatalf("token in the event log: %s", e.RawJSON())
		}
	}
}

// An MCP tool whose permission policy is auto, whose classifier cannot
// decide, is held for confirmation (ask, reason indeterminate) and runs
// once allowed.
func TestMCPAutoPolicyAsks(t *testing.T) {
	l, sid, col := autoMCPSession(t, verdict("ask", "unsure"))
	use, _ := col.waitType(t, 0, "agent.mcp_tool_use")
	checkAutoAsk(t, use.RawJSON(), use.EvaluatedPermission, use.Evaluation)
	idle, at := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "requires_action" || len(idle.StopReason.EventIDs) != 1 || idle.StopReason.EventIDs[0] != use.ID {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	l.send(sid, confirm(use.ID, true, ""))
	res, _ := col.waitType(t, at, "agent.mcp_tool_result")
	if raw(res)["mcp_tool_use_id"] != use.ID || !strings.Contains(res.RawJSON(), "sunny in Bergen") {
		t.Fatalf("mcp_tool_result = %s", res.RawJSON())
	}
}

// A missing or wrong credential does not block session creation; it
// produces a session.error naming the server.
func TestMCPBadCredential(t *testing.T) {
	url := mcpServer(t, "right-token")
	l := newLoop(t, modeltest.EchoRule)
	agentID := l.agent(map[string]any{
		"mcp_servers": []any{map[string]any{"type": "url", "name": "weather", "url": url}},
		"tools":       []any{map[string]any{"type": "mcp_toolset", "mcp_server_name": "weather"}},
	})
	sid := l.session(agentID)
	col := l.stream(sid)
	l.send(sid, userMessage("hi"))
	serr, _ := col.waitType(t, 0, "session.error")
	if e := raw(serr)["error"].(map[string]any); e["mcp_server_name"] != "weather" || !strings.HasPrefix(e["type"].(string), "mcp_") {
		t.Fatalf("session.error = %s", serr.RawJSON())
	}
	// The turn still ran, without the server's tools.
	col.waitType(t, 0, "agent.message")
}

// A result over 100K tokens is written to a file in the
// sandbox; the model gets a truncated preview naming the path.
func TestMCPLargeResult(t *testing.T) {
	const token = "tok-large"
	url := mcpServer(t, token)
	l := newLoop(t, nil,
		modeltest.ToolCall("", "dump", map[string]any{}),
		modeltest.ToolCall("", "bash", map[string]any{"command": "wc -c /workspace/.hangar/mcp-results/*"}),
		modeltest.Text("done"))
	vaultID, _ := l.vault(map[string]any{"type": "static_bearer", "token": token, "mcp_server_url": url})
	agentID := l.agent(map[string]any{
		"mcp_servers": []any{map[string]any{"type": "url", "name": "weather", "url": url}},
		"tools": []any{map[string]any{"type": "agent_toolset_20260401"},
			map[string]any{"type": "mcp_toolset", "mcp_server_name": "weather", "default_config": map[string]any{"permission_policy": map[string]any{"type": "always_allow"}}}},
	})
	sid := l.session(agentID, vaultID)
	col := l.stream(sid)
	l.send(sid, userMessage("dump it"))
	res, _ := col.waitType(t, 0, "agent.mcp_tool_result")
	if len(res.RawJSON()) > 64<<10 || !strings.Contains(res.RawJSON(), "/workspace/.hangar/mcp-results/") {
		t.Fatalf("mcp_tool_result is %d bytes: %.300s", len(res.RawJSON()), res.RawJSON())
	}
	wc, _ := col.waitType(t, 0, "agent.tool_result")
	if !strings.Contains(wc.RawJSON(), "557056") {
		t.Fatalf("the full result was not saved in the sandbox: %s", wc.RawJSON())
	}
}
