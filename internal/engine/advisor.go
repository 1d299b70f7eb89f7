package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// The advisor: an agent whose multiagent configuration enables it (or, in
// the coordinator roster form, lists an advisor member) gives its primary
// conversation a tool that consults a second model mid-turn. A call is one
// model request to the advisor's model with the conversation so far; the
// answer goes back to the primary model as the call's result.
//
// The consultation runs as a short-lived session thread, as the platform
// does: the client does not see an agent.tool_use or agent.tool_result for
// it, but session.thread_created (logged where the model's call is), the
// thread's running status, the advisor's own model-request span (whose
// usage counts toward the session's), agent.thread_message_received with the
// advice, and session.thread_status_terminated. The call and its result
// ride on those events' private data, so a rebuilt conversation has them.

// advisorTool is the tool the primary model calls.
const advisorTool = "advisor"

// advisorAgentName names the advisor's thread in its events.
const advisorAgentName = "advisor"

// kindAdvisor marks the advisor's calls: the engine runs them itself, with
// a model request instead of a tool.
const kindAdvisor tool.Kind = "advisor"

const advisorDescription = "Ask an advisor, a second model, for guidance on the task at hand. " +
	"It reads this whole conversation (your instructions, messages, tool calls and their results) " +
	"and answers with advice: a plan, a course correction, or a warning. It runs no tools and changes nothing. " +
	"Call it before committing to an approach on a hard or long task, when you are stuck or your attempts keep failing, " +
	"or before reporting complex work as done. It takes no input."

var advisorSchema = json.RawMessage(`{"type":"object","properties":{}}`)

// advisorSystem instructs the advisor model.
const advisorSystem = "You are the advisor of an AI agent. The agent is working on a task for a user and has paused to consult you. " +
	"You are given the transcript of its conversation so far. Read it and give the agent concise, concrete guidance: " +
	"the plan to follow, the mistake to correct, or the risk to avoid. Address the agent, not the user. " +
	"You cannot run tools; the agent acts on your advice."

// advisorData is the private data of the advisor's thread events: the
// thread and, on the thread's terminated event, the result the primary
// model was given.
type advisorData struct {
	Advisor   bool   `json:"advisor"`
	ThreadID  string `json:"thread_id,omitempty"`
	ToolUseID string `json:"tool_use_id,omitempty"`
	Result    string `json:"result,omitempty"`
	IsError   bool   `json:"is_error,omitempty"`
}

// advisorModel is the model the session's agent consults, or "" when it
// has no advisor. Only the primary conversation consults one.
func (c *conversation) advisorModel() string {
	if c != c.s.main {
		return ""
	}
	return advisorModelOf(c.s.doc.Agent)
}

// advisorModelOf is the advisor model an agent configuration names, or "".
func advisorModelOf(a wire.SessionAgent) string {
	m, err := multiagentOf(a)
	if err != nil {
		return ""
	}
	switch {
	case m.V20261001 != nil:
		if m.V20261001.Advisor.Type == "enabled" {
			return m.V20261001.Advisor.Model
		}
	case m.Coordinator != nil:
		for _, a := range m.Coordinator.Agents {
			if a.Type == "advisor" {
				return a.Model
			}
		}
	}
	return ""
}

// withAdvisor adds the advisor tool to defs when the agent has one.
func (c *conversation) withAdvisor(defs []tool.Def) []tool.Def {
	if c.advisorModel() == "" {
		return defs
	}
	if _, taken := tool.Find(defs, advisorTool); taken {
		return defs
	}
	return append(append([]tool.Def(nil), defs...), tool.Def{
		Name: advisorTool, Description: advisorDescription, InputSchema: advisorSchema,
		Kind: kindAdvisor, Permission: tool.AlwaysAllow,
	})
}

// advisorCalled is the event logged for the model's advisor call, in place
// of an agent.tool_use: the consultation's thread is created. It carries
// the call's id; the thread's is returned with it.
func advisorCalled(id string) (pending, string) {
	thread := ids.New(ids.Thread)
	p := ev(&wire.SessionThreadCreatedEvent{AgentName: advisorAgentName, SessionThreadID: thread})
	p.ev.ID = id
	p.private, _ = json.Marshal(advisorData{Advisor: true, ThreadID: thread})
	return p, thread
}

// consult runs one advisor call: the advisor model's request and the
// thread's events, then the call's result. A failed request is an error
// result the primary model reads; the turn goes on.
func (c *conversation) consult(ctx context.Context, cl *call) {
	c.s.mu.Lock()
	if cl.state != callReady {
		c.s.mu.Unlock()
		return
	}
	thread := cl.server // the thread id, kept where an MCP call keeps its server
	if thread == "" {
		thread = ids.New(ids.Thread)
		cl.server = thread
	}
	modelID := c.advisorModel()
	// The advisor's request is a model request like any other: none
	// starts once the budget is reached.
	blocked := c.s.overBudget()
	c.s.noteAdvisor(thread, modelID, wire.ThreadRunning, time.Now())
	req := c.advisorRequest(cl.id, modelID)
	marker, _ := json.Marshal(advisorData{Advisor: true, ThreadID: thread})
	start := ev(&wire.SpanModelRequestStartEvent{})
	start.private = marker
	rows, err := c.s.commit(c.s.e.ctx, "",
		ev(&wire.SessionThreadStatusRunningEvent{AgentName: advisorAgentName, SessionThreadID: thread}),
		start)
	c.s.mu.Unlock()
	if err != nil {
		c.s.e.log.Error("start advisor", "session", c.s.id, "err", err)
		return
	}
	startID := rows[len(rows)-1].ID

	var resp *model.Response
	if modelID == "" {
		err = fmt.Errorf("the agent has no advisor configured")
	} else if blocked {
		err = fmt.Errorf("the session reached its budget, so no advisor request was made")
	} else {
		resp, _, err = c.stream(ctx, req, false)
		if err == nil && strings.TrimSpace(resp.Text()) == "" {
			err = fmt.Errorf("the advisor gave an empty answer")
		}
	}

	isErr := err != nil
	end := ev(&wire.SpanModelRequestEndEvent{ModelRequestStartID: startID, IsError: &isErr})
	if resp != nil {
		end = ev(&wire.SpanModelRequestEndEvent{ModelRequestStartID: startID, IsError: &isErr, ModelUsage: spanUsage(resp.Usage)})
	}
	end.private = marker
	evs := []pending{end}
	result := advisorData{Advisor: true, ThreadID: thread, ToolUseID: cl.id}
	switch {
	case c.s.e.ctx.Err() != nil:
		// Shutting down: the call stays open and is made again when the
		// session is resumed.
		c.s.mu.Lock()
		defer c.s.mu.Unlock()
		if _, err := c.s.commit(c.s.e.ctx, "", evs...); err != nil {
			c.s.e.log.Error("record advisor request end", "session", c.s.id, "err", err)
		}
		return
	case ctx.Err() != nil:
		// Interrupted: the thread ends with the call's answer, so the
		// interrupt finds no call of it open.
		result.Result, result.IsError = "The user interrupted the session before the advisor answered.", true
	case err != nil:
		c.s.e.log.Warn("advisor request failed", "session", c.s.id, "model", modelID, "err", err)
		result.Result, result.IsError = "The advisor could not be consulted: "+err.Error()+". Continue without its advice.", true
	default:
		result.Result = resp.Text()
		name := advisorAgentName
		evs = append(evs, ev(&wire.AgentThreadMessageReceivedEvent{
			Content: []wire.ContentBlock{wire.NewTextBlock(result.Result)}, FromSessionThreadID: thread, FromAgentName: &name,
		}))
	}
	done := ev(&wire.SessionThreadStatusTerminatedEvent{AgentName: advisorAgentName, SessionThreadID: thread})
	done.private, _ = json.Marshal(result)
	evs = append(evs, done)

	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if _, err := c.s.commit(c.s.e.ctx, "", evs...); err != nil {
		c.s.e.log.Error("record advisor answer", "session", c.s.id, "err", err)
		return
	}
	c.s.noteAdvisor(thread, modelID, wire.ThreadTerminated, time.Now())
	c.resolve(cl.id, model.ToolResult(cl.id, result.Result, result.IsError))
}

// advisorRequest is the advisor model's request: its instructions and the
// primary conversation up to the call, as a transcript (the advisor is
// another model, which must not be handed this one's tool calls and
// thinking as its own). c.s.mu is held.
func (c *conversation) advisorRequest(callID, modelID string) *model.Request {
	var sb strings.Builder
	if c.system != "" {
		sb.WriteString("<agent_system_prompt>\n" + c.system + "\n</agent_system_prompt>\n\n")
	}
	sb.WriteString("<transcript>\n")
	for _, m := range c.history {
		for _, b := range m.Content {
			if b.Type == model.BlockToolUse && b.ID == callID {
				continue
			}
			if line := transcriptLine(m.Role, b); line != "" {
				sb.WriteString(line + "\n\n")
			}
		}
	}
	sb.WriteString("</transcript>\n\nThe agent has just called you. Give it your advice.")
	return &model.Request{
		Model:     modelID,
		MaxTokens: c.s.e.opt.MaxTokens,
		System:    []model.Block{model.Text(advisorSystem)},
		Messages:  []model.Message{{Role: model.RoleUser, Content: []model.Block{model.Text(sb.String())}}},
	}
}

// transcriptLine renders one block of the conversation for the advisor.
// Thinking stays private to the model that had it.
func transcriptLine(role model.Role, b model.Block) string {
	switch b.Type {
	case model.BlockText:
		if b.Text == "" {
			return ""
		}
		return "[" + string(role) + "] " + b.Text
	case model.BlockImage:
		return "[" + string(role) + "] (an image)"
	case model.BlockDocument:
		return "[" + string(role) + "] (a document" + strings.TrimSuffix(" "+b.Title, " ") + ")"
	case model.BlockToolUse:
		return "[tool call " + b.Name + "] " + string(b.Input)
	case model.BlockToolResult:
		var parts []string
		for _, cb := range b.Content {
			if line := transcriptLine(role, cb); line != "" {
				parts = append(parts, strings.TrimPrefix(line, "["+string(role)+"] "))
			}
		}
		label := "[tool result]"
		if b.IsError {
			label = "[tool error]"
		}
		return label + " " + strings.Join(parts, "\n")
	}
	return ""
}

// advisorThread is one consultation of the advisor: a thread of the
// session's, listed with the others, that ends with the consultation.
type advisorThread struct {
	id, model        string
	created, updated time.Time
	status           string
}

// noteAdvisor records the consultation thread id in the state status at
// time at, adding it when new.
func (s *session) noteAdvisor(id, model, status string, at time.Time) {
	for _, a := range s.advisors {
		if a.id == id {
			a.status, a.updated = status, at
			return
		}
	}
	s.advisors = append(s.advisors, &advisorThread{id: id, model: model, created: at, updated: at, status: status})
}

// advisorDoc is a consultation's thread as an API object.
func (s *session) advisorDoc(a *advisorThread) wire.SessionThread {
	parent := primaryThreadID(s.id)
	return wire.SessionThread{
		ID: a.id, Agent: wire.ThreadAgent{Type: "advisor", Model: wire.ModelConfig{ID: a.model}}, CreatedAt: a.created,
		ParentThreadID: &parent, SessionID: s.id, Status: a.status, UpdatedAt: a.updated,
	}
}

// replayAdvisor folds the advisor's logged events into a rebuilt
// conversation: the call (thread created), its result (thread terminated);
// the advisor's spans say nothing about the primary context's size. It
// reports whether the event was the advisor's.
func (c *conversation) replayAdvisor(e wire.Event, private []byte) bool {
	if len(private) == 0 {
		return false
	}
	var d advisorData
	if json.Unmarshal(private, &d) != nil || !d.Advisor {
		return false
	}
	at := time.Time{}
	if e.ProcessedAt != nil {
		at = *e.ProcessedAt
	}
	switch e.Payload.(type) {
	case *wire.SessionThreadCreatedEvent:
		c.addCall(e.ID, advisorTool, kindAdvisor, nil, callReady).server = d.ThreadID
		c.s.noteAdvisor(d.ThreadID, c.advisorModel(), wire.ThreadRunning, at)
	case *wire.SessionThreadStatusTerminatedEvent:
		c.s.noteAdvisor(d.ThreadID, c.advisorModel(), wire.ThreadTerminated, at)
		if d.ToolUseID != "" {
			c.resolve(d.ToolUseID, model.ToolResult(d.ToolUseID, d.Result, d.IsError))
		}
	}
	return true
}
