package engine

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// conversation is one conversation with the model: its history, the tool
// calls of its last assistant turn and the gates they wait at, and the
// tools it offers. Its loop (turn.go: a model turn, the calls it makes,
// their results, compaction) runs under the lock of the session holding
// it; the session owns what its conversations share (the queue, the
// status, the sandbox, the commit path). A session holds one conversation
// today, its primary one.
type conversation struct {
	s *session
	// th is the subagent thread this conversation is, nil for the
	// session's primary conversation (threads.go).
	th *thread

	// system is the agent's system prompt; system.message events join the
	// conversation as system turns (the SDK's semantics).
	system string
	// defs are the agent's tools; mcpDefs the MCP tools listed for this
	// run of the session, and mcpLoaded says every server answered
	// (failed ones are retried when the session next starts running).
	defs      []tool.Def
	mcpDefs   []tool.Def
	mcpLoaded bool

	history []model.Message
	calls   []*call
	// announced is set once requires_action was reported for the current
	// calls, so it is reported once.
	announced bool
	// halted is set when the model failed for good; new input clears it.
	halted bool
	// lastPromptTokens is the context size of the last model exchange,
	// which decides when to compact.
	lastPromptTokens int64
}

// callState is where a tool call of the last assistant turn stands.
type callState int

const (
	// callConfirm: an always_ask call waiting for user.tool_confirmation.
	callConfirm callState = iota
	// callClient: a custom tool call waiting for user.custom_tool_result.
	callClient
	// callWorker: a built-in sandbox call run by a worker: the customer's
	// (self_hosted), which answers with user.tool_result, or the one in
	// the session's sandbox (cloud), whose answer is logged as
	// agent.tool_result.
	callWorker
	// callReady: allowed and waiting to be executed here.
	callReady
	// callDone: result known.
	callDone
)

// call is one tool call of the assistant turn being worked on. Its id is the
// agent.*_tool_use event id, which is also the tool_use id the model sees.
type call struct {
	id   string
	name string
	kind tool.Kind
	// server is the MCP server of an MCP call.
	server string
	input  json.RawMessage
	state  callState
	result model.Block
	// perm and eval are the verdict the call was logged with (nil eval:
	// none, e.g. a custom tool's call).
	perm string
	eval *wire.ToolEvaluation
}

// applyInput adds a user.message, system.message or user.define_outcome
// (outcome.go) to the conversation.
func (c *conversation) applyInput(e wire.Event) {
	switch p := e.Payload.(type) {
	case *wire.UserMessageEvent:
		c.consumeUserMessage(p)
	case *wire.SystemMessageEvent:
		c.appendSystem(p)
	case *wire.UserDefineOutcomeEvent:
		if c.th == nil {
			c.beginOutcome(p)
		}
	}
}

// appendAssistant adds a block to the assistant turn being built.
func (c *conversation) appendAssistant(b model.Block) {
	if n := len(c.history); n > 0 && c.history[n-1].Role == model.RoleAssistant {
		c.history[n-1].Content = append(c.history[n-1].Content, b)
		return
	}
	c.history = append(c.history, model.Message{Role: model.RoleAssistant, Content: []model.Block{b}})
}

// appendUser adds blocks to the user turn being built.
func (c *conversation) appendUser(bs ...model.Block) {
	if len(bs) == 0 {
		return
	}
	if n := len(c.history); n > 0 && c.history[n-1].Role == model.RoleUser {
		c.history[n-1].Content = append(c.history[n-1].Content, bs...)
		return
	}
	c.history = append(c.history, model.Message{Role: model.RoleUser, Content: bs})
}

// appendSystem adds a mid-conversation system turn (system.message).
func (c *conversation) appendSystem(p *wire.SystemMessageEvent) {
	if blocks := contentToModel(p.Content); len(blocks) > 0 {
		c.history = append(c.history, model.Message{Role: model.RoleSystem, Content: blocks})
	}
}

// runnableState is where an allowed built-in call goes: executed here, or
// handed to the session's worker. The web tools always run on the server,
// and so does the error for a tool the agent does not offer (a worker
// would leave it unanswered as not its own).
func (c *conversation) runnableState(name string) callState {
	if isThreadTool(name) || c.isWorkflowCall(name) || (c.th != nil && !c.s.selfHosted) {
		// The coordinator's thread and workflow tools run on the server,
		// and so do a subagent's calls in a cloud session (in its sandbox).
		// A self_hosted session's subagent calls go to the customer's
		// worker, copied onto the primary thread (threaddrive.go).
		return callReady
	}
	if c.s.viaWorker && !tool.ServerSide(name) {
		if _, ok := tool.Find(c.defs, name); ok {
			return callWorker
		}
	}
	return callReady
}

func (c *conversation) addCall(id, name string, kind tool.Kind, input json.RawMessage, state callState) *call {
	if len(input) == 0 {
		input = json.RawMessage(`{}`)
	}
	c.appendAssistant(model.ToolUse(id, name, input))
	cl := &call{id: id, name: name, kind: kind, input: input, state: state}
	c.calls = append(c.calls, cl)
	c.announced = false
	return cl
}

func (c *conversation) findCall(id string) *call {
	for _, cl := range c.calls {
		if cl.id == id {
			return cl
		}
	}
	return nil
}

// resolve records a call's result; once every call of the turn has one, the
// results go into the conversation as one user turn, in call order.
func (c *conversation) resolve(id string, result model.Block) {
	cl := c.findCall(id)
	if cl == nil || cl.state == callDone {
		return
	}
	cl.state, cl.result = callDone, result
	c.flushCalls()
}

// resolveResults hands the calls whose results evs logged their result.
func (c *conversation) resolveResults(evs []pending) {
	for _, p := range evs {
		if res, ok := p.ev.Payload.(*wire.AgentToolResultEvent); ok {
			c.resolve(res.ToolUseID, toolResult(res.ToolUseID, res.Content, res.IsError))
		}
	}
}

func (c *conversation) flushCalls() {
	if len(c.calls) == 0 {
		return
	}
	for _, cl := range c.calls {
		if cl.state != callDone {
			return
		}
	}
	blocks := make([]model.Block, 0, len(c.calls))
	for _, cl := range c.calls {
		blocks = append(blocks, cl.result)
	}
	c.calls = nil
	c.announced = false
	c.appendUser(blocks...)
}

// cancelCalls answers every open call with an error, so the conversation
// stays well formed (every tool_use has its tool_result).
func (c *conversation) cancelCalls(why string) {
	for _, cl := range c.calls {
		if cl.state != callDone {
			cl.state, cl.result = callDone, model.ToolResult(cl.id, why, true)
		}
	}
	c.flushCalls()
}

func (c *conversation) applyConfirmation(p *wire.UserToolConfirmationEvent) {
	cl := c.findCall(p.ToolUseID)
	if cl == nil || cl.state != callConfirm {
		return
	}
	if p.Result == wire.ConfirmAllow {
		cl.state = callReady
		if cl.kind == tool.Builtin {
			cl.state = c.runnableState(cl.name)
		}
		return
	}
	msg := "The user denied this tool call."
	if p.DenyMessage != nil && *p.DenyMessage != "" {
		msg += " Their message: " + *p.DenyMessage
	}
	c.resolve(cl.id, model.ToolResult(cl.id, msg, true))
}

func (c *conversation) consumeUserMessage(p *wire.UserMessageEvent) {
	// A message waits until every open call has its result (consume), so
	// this answers calls only in a log written before messages waited,
	// where a message took the place of the answers.
	c.cancelCalls("The user sent a new message instead of answering this tool call.")
	c.appendUser(contentToModel(p.Content)...)
	c.halted = false
}

// openCalls reports whether a tool call of the current turn has no result.
func (c *conversation) openCalls() bool {
	return slices.ContainsFunc(c.calls, func(cl *call) bool { return cl.state != callDone })
}

// hasWork reports whether the conversation has a step to take: calls to
// run (here or at a worker), or input for the model.
func (c *conversation) hasWork() bool {
	for _, cl := range c.calls {
		if cl.state == callReady || cl.state == callWorker {
			return true
		}
	}
	return len(c.calls) == 0 && c.awaitsModel()
}

// awaitsModel reports whether the conversation ends with input the model
// has not answered yet (system turns aside).
func (c *conversation) awaitsModel() bool {
	if c.halted {
		return false
	}
	for i := len(c.history) - 1; i >= 0; i-- {
		if c.history[i].Role != model.RoleSystem {
			return c.history[i].Role == model.RoleUser
		}
	}
	return false
}

// toolResult converts a result event's content to a tool_result block.
func toolResult(id string, content []wire.ContentBlock, isError *bool) model.Block {
	b := model.Block{Type: model.BlockToolResult, ToolUseID: id, Content: contentToModel(content)}
	if isError != nil {
		b.IsError = *isError
	}
	if len(b.Content) == 0 {
		b.Content = []model.Block{model.Text("(no output)")}
	}
	return b
}

// contentToModel converts client content blocks to model blocks.
func contentToModel(cs []wire.ContentBlock) []model.Block {
	out := make([]model.Block, 0, len(cs))
	for _, c := range cs {
		switch c.Type {
		case wire.BlockText:
			if c.Text != "" {
				out = append(out, model.Text(c.Text))
			}
		case wire.BlockImage, wire.BlockDocument:
			if c.Source == nil {
				continue
			}
			b := model.Block{Type: model.BlockType(c.Type), Source: &model.Source{Type: c.Source.Type, MediaType: c.Source.MediaType, Data: c.Source.Data, URL: c.Source.URL}}
			if c.Title != nil {
				b.Title = *c.Title
			}
			if c.Context != nil {
				b.Context = *c.Context
			}
			if c.Source.Type == wire.SourceFile {
				// Hangar file ids mean nothing upstream; until files are
				// inlined, the model is told what was attached.
				out = append(out, model.Text(fmt.Sprintf("[attached file %s]", c.Source.FileID)))
				continue
			}
			out = append(out, b)
		case wire.BlockRedacted:
			out = append(out, model.Text("[redacted]"))
		}
	}
	return out
}
