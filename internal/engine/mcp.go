package engine

import (
	"context"
	"encoding/json"

	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// MCPClient reaches the MCP servers of a session's agent, authenticating
// with the credentials of the session's vaults.
type MCPClient interface {
	// Tools lists one server's tools as the model sees them (Kind MCP,
	// MCPServer set), with the toolset's enabled and permission settings
	// applied. The error names the server and says whether a credential
	// was the problem (MCPError).
	Tools(ctx context.Context, ws, sessionID string, vaultIDs []string, server wire.MCPServer, toolset *wire.MCPToolset) ([]tool.Def, error)
	// Call runs one tool on a server.
	Call(ctx context.Context, ws, sessionID string, vaultIDs []string, server wire.MCPServer, name string, input json.RawMessage) (tool.Result, error)
	// Close drops the session's connections.
	Close(sessionID string)
}

// MCPError classifies a failure to reach an MCP server for session.error.
type MCPError struct {
	Server string
	// Auth is set when the server refused the credential (or none was
	// found), as opposed to being unreachable.
	Auth bool
	Err  error
}

func (e *MCPError) Error() string { return e.Err.Error() }
func (e *MCPError) Unwrap() error { return e.Err }

// loadMCP lists the tools of every MCP server the agent uses, once per run
// of the session; a server that fails is reported as session.error and
// tried again the next time the session starts running.
func (c *conversation) loadMCP(ctx context.Context) {
	c.s.mu.Lock()
	if c.mcpLoaded || c.s.e.mcp == nil {
		c.s.mu.Unlock()
		return
	}
	agent := *c.agent()
	vaults := c.s.doc.VaultIDs
	c.s.mu.Unlock()

	var defs []tool.Def
	var errs []pending
	for _, t := range agent.Tools {
		if t.MCP == nil {
			continue
		}
		server, ok := findServer(agent.MCPServers, t.MCP.MCPServerName)
		if !ok {
			continue
		}
		got, err := c.s.e.mcp.Tools(ctx, c.s.ws, c.s.id, vaults, server, t.MCP)
		if err != nil {
			typ := wire.ErrMCPConnectionFailed
			if me, ok := err.(*MCPError); ok && me.Auth {
				typ = wire.ErrMCPAuthenticationFailed
			}
			// The turn goes on without this server; it is tried again
			// when the session next starts running.
			se := wire.NewSessionError(typ, wire.RetryRetrying, err.Error())
			se.MCPServerName = server.Name
			errs = append(errs, ev(&wire.SessionErrorEvent{Error: se}))
			continue
		}
		defs = append(defs, got...)
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.mcpDefs = defs
	c.mcpLoaded = len(errs) == 0
	if len(errs) > 0 {
		if _, err := c.commit(c.s.e.ctx, "", errs...); err != nil {
			c.s.e.log.Error("report mcp failure", "session", c.s.id, "err", err)
		}
	}
}

func findServer(servers []wire.MCPServer, name string) (wire.MCPServer, bool) {
	for _, s := range servers {
		if s.Name == name {
			return s, true
		}
	}
	return wire.MCPServer{}, false
}

// allDefs is every tool the model is offered. c.s.mu is held.
func (c *conversation) allDefs() []tool.Def {
	if len(c.mcpDefs) == 0 {
		return c.withAdvisor(c.defs)
	}
	return c.withAdvisor(append(append([]tool.Def(nil), c.defs...), c.mcpDefs...))
}
