package engine

import (
	"context"
	"errors"

	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// Tool calls: the permission a call is evaluated with, the calls the
// server runs itself (built-in tools without a worker, web and MCP tools),
// and the results it logs for them.

// evaluate applies a tool's permission policy to a call: its
// evaluated_permission and the evaluation logged with it. An auto policy has
// no classifier here, so its verdict is always indeterminate and the call is
// held for the user's confirmation; it never runs unasked.
func evaluate(policy string) (string, *wire.ToolEvaluation) {
	switch policy {
	case tool.AlwaysAsk:
		return wire.PermissionAsk, wire.EvaluationAlwaysAsk()
	case tool.Auto:
		return wire.PermissionAsk, wire.EvaluationAuto(wire.PermissionAsk, wire.ReasonIndeterminate)
	}
	return wire.PermissionAllow, wire.EvaluationAlwaysAllow()
}

// gated is the state a call with evaluated permission perm starts in:
// waiting for confirmation, or allowed (where an allowed call goes).
func gated(perm string, allowed callState) callState {
	if perm == wire.PermissionAsk {
		return callConfirm
	}
	return allowed
}

// execute runs allowed built-in calls one after another and records each
// result as agent.tool_result.
func (c *conversation) execute(ctx context.Context, calls []*call) {
	for _, cl := range calls {
		if ctx.Err() != nil {
			return
		}
		if cl.kind == kindAdvisor {
			c.consult(ctx, cl)
			continue
		}
		res := c.runTool(ctx, cl)
		if ctx.Err() != nil {
			// Interrupted: the interrupt answers the call.
			return
		}
		if c.th != nil {
			res = c.s.syncThreadMemory(ctx, cl, res)
		}
		isErr := res.IsError
		c.s.mu.Lock()
		if cl.state != callReady {
			c.s.mu.Unlock()
			continue
		}
		result := ev(&wire.AgentToolResultEvent{ToolUseID: cl.id, Content: res.Content, IsError: &isErr})
		if cl.kind == tool.MCP {
			result = ev(&wire.AgentMCPToolResultEvent{MCPToolUseID: cl.id, Content: res.Content, IsError: &isErr})
		}
		_, err := c.commit(c.s.e.ctx, "", result)
		if err != nil {
			c.s.e.log.Error("record tool result", "session", c.s.id, "tool", cl.name, "err", err)
			c.s.mu.Unlock()
			return
		}
		c.resolve(cl.id, toolResult(cl.id, res.Content, &isErr))
		c.s.mu.Unlock()
	}
}

func (c *conversation) runTool(ctx context.Context, cl *call) ToolResult {
	if c.th == nil && cl.kind == tool.Builtin && isThreadTool(cl.name) {
		return c.s.runThreadTool(cl)
	}
	if cl.kind == tool.Builtin && c.isWorkflowCall(cl.name) {
		return c.s.runWorkflowTool(ctx, cl)
	}
	if cl.kind == tool.MCP {
		return c.runMCP(ctx, cl)
	}
	if _, ok := tool.Find(c.defs, cl.name); !ok {
		return errorResult("Unknown tool " + cl.name + ": it is not among the tools available in this session.")
	}
	if c.s.e.tools == nil {
		return errorResult("No sandbox is available to run " + cl.name + " in this session.")
	}
	ctx, cancel := context.WithTimeout(ctx, c.s.e.opt.ToolTimeout)
	defer cancel()
	c.s.mu.Lock()
	call := ToolCall{Workspace: c.s.ws, SessionID: c.s.id, EnvironmentID: c.s.doc.EnvironmentID, ToolUseID: cl.id, Name: cl.name, Input: cl.input}
	c.s.mu.Unlock()
	res, err := c.s.e.tools.Execute(ctx, call)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errorResult("The tool call timed out after " + c.s.e.opt.ToolTimeout.String() + ".")
		}
		return errorResult("The tool could not run: " + err.Error())
	}
	return res
}

// runMCP runs an MCP tool call.
func (c *conversation) runMCP(ctx context.Context, cl *call) ToolResult {
	c.s.mu.Lock()
	server, ok := findServer(c.agent().MCPServers, cl.server)
	vaults := c.s.doc.VaultIDs
	c.s.mu.Unlock()
	if !ok || c.s.e.mcp == nil {
		return errorResult("MCP server " + cl.server + " is not configured for this session.")
	}
	ctx, cancel := context.WithTimeout(ctx, c.s.e.opt.ToolTimeout)
	defer cancel()
	res, err := c.s.e.mcp.Call(ctx, c.s.ws, c.s.id, vaults, server, cl.name, cl.input)
	if err != nil {
		return errorResult("The MCP tool could not run: " + err.Error())
	}
	return res
}
func errorResult(msg string) ToolResult {
	return ToolResult{Content: []wire.ContentBlock{wire.NewTextBlock(msg)}, IsError: true}
}

// failedCall is the logged result of a tool call that could not run or
// finish.
func failedCall(id, text string) pending {
	isErr := true
	return ev(&wire.AgentToolResultEvent{ToolUseID: id, Content: []wire.ContentBlock{wire.NewTextBlock(text)}, IsError: &isErr})
}
