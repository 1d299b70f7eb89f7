package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// Multiagent sessions. The session's own conversation is the coordinator's,
// the primary thread; a roster agent the coordinator delegates to runs in a
// thread of its own: a conversation with that agent's pinned version
// (model, system prompt, tools, MCP servers), sharing the session's
// sandbox, lock, commit path and event log. Each thread has a driver of its
// own, so threads work in parallel.
//
// Threads talk by messages: agent.thread_message_sent is logged on the
// sender's thread when a message leaves, agent.thread_message_received on
// the receiver's thread when its conversation takes the message in (after
// its open tool calls have their results). A sent message without its
// received event is still on its way, which is how a restart finds the
// messages in flight. A thread's events are logged with its id (per-thread
// list and stream); the primary stream gets the summary: thread creation,
// thread status changes, the messages to and from the coordinator, and
// copies of what a subagent needs from the client.
//
// The coordinator sees two tools: spawn_agent opens a thread for a roster
// agent with a task, send_message sends a follow-up to a thread it opened.
// Both return at once; a thread's answer (the text of its last turn) comes
// back to the coordinator as a message when the thread goes idle.

// Names of the tools the coordinator is offered.
const (
	toolSpawnAgent  = "spawn_agent"
	toolSendMessage = "send_message"
)

// MaxThreads is how many threads, the primary one included, a session may
// have open (not archived, not terminated) at once.
const MaxThreads = 25

func isThreadTool(name string) bool { return name == toolSpawnAgent || name == toolSendMessage }

// multi is a multiagent session's thread state. Guarded by the session's
// lock, rebuilt from the log like the rest of the session.
type multi struct {
	primaryID     string
	primaryStatus string
	roster        []wire.SessionAgent
	threads       []*thread
	byID          map[string]*thread
	// inbox holds messages on their way to the coordinator.
	inbox []threadMsg
	// routes maps a copy on the primary thread of a subagent's tool call
	// to the call; crossed maps the call to its copy.
	routes  map[string]route
	crossed map[string]string
	// inFlight, while rebuilding, holds the sent messages not received
	// yet, by the id of their sent event.
	inFlight    map[string]inFlight
	flightOrder []string
}

type route struct {
	th     *thread
	callID string
}

type inFlight struct {
	to  string
	msg threadMsg
}

// thread is a subagent thread.
type thread struct {
	id         string
	agent      wire.SessionAgent
	conv       *conversation
	status     string
	created    time.Time
	updated    time.Time
	archivedAt *time.Time
	// inbox holds messages from the coordinator not yet taken in.
	inbox []threadMsg
	usage wire.SessionUsage
	stats wire.SessionStats
	// since is when the current running stretch began.
	since time.Time

	driving    bool
	driverDone chan struct{}
	stepCancel context.CancelFunc
	// wf ties a workflow run's thread to its agent call
	// (workflowthread.go); nil for a delegated thread.
	wf *wfThread
}

// threadMsg is a message between threads.
type threadMsg struct {
	sentID   string
	from     string
	fromName string
	content  []wire.ContentBlock
}

// Private data of the events that need more than their wire form on a
// rebuild.
type (
	threadCreatedPrivate struct {
		Agent wire.SessionAgent `json:"agent"`
	}
	threadReceivedPrivate struct {
		Sent string `json:"sent"`
	}
	crossPostPrivate struct {
		Origin string `json:"origin"`
	}
)

// primaryThreadID is the id of a session's primary thread: derived from the
// session's, so it needs no storage and is the same after every rebuild.
func primaryThreadID(sessionID string) string {
	return ids.Thread + strings.TrimPrefix(sessionID, ids.Session)
}

// rosterRefs are the agent versions a multiagent configuration may
// delegate to.
func rosterRefs(m wire.Multiagent) []wire.AgentReference {
	var refs []wire.AgentReference
	switch {
	case m.Coordinator != nil:
		for _, a := range m.Coordinator.Agents {
			if a.Type == "agent" {
				refs = append(refs, wire.AgentReference{ID: a.ID, Version: a.Version})
			}
		}
	case m.V20261001 != nil && m.V20261001.Subagents.Type == "enabled":
		refs = m.V20261001.Subagents.PredefinedAgents
	}
	return refs
}

// multiagentOf decodes an agent's multiagent configuration; zero when it
// has none.
func multiagentOf(a wire.SessionAgent) (wire.Multiagent, error) {
	var m wire.Multiagent
	if len(a.Multiagent) == 0 || bytes.Equal(bytes.TrimSpace(a.Multiagent), []byte("null")) {
		return m, nil
	}
	err := json.Unmarshal(a.Multiagent, &m)
	return m, err
}

// loadMulti reads a session's roster: the pinned agent versions it may
// delegate to. A roster member's own roster is ignored (delegation goes
// one level deep); the coordinator itself ("self") runs with the
// session's overrides. Nil when the session's agent has no roster.
func loadMulti(ctx context.Context, st store.Store, s *session) (*multi, error) {
	m, err := multiagentOf(s.doc.Agent)
	if err != nil {
		return nil, errdefs.Internal(err, "decode multiagent of session %s", s.id)
	}
	refs := rosterRefs(m)
	if len(refs) == 0 {
		return nil, nil
	}
	mt := &multi{primaryID: primaryThreadID(s.id), byID: map[string]*thread{}, routes: map[string]route{}, crossed: map[string]string{}}
	for _, ref := range refs {
		var sa wire.SessionAgent
		if ref.ID == s.doc.Agent.ID {
			sa = s.doc.Agent
		} else {
			rec, err := st.Get(ctx, s.ws, store.KindAgentVersion, store.AgentVersionID(ref.ID, ref.Version))
			if err != nil {
				return nil, fmt.Errorf("roster agent %s version %d: %w", ref.ID, ref.Version, err)
			}
			var a wire.Agent
			if err := json.Unmarshal(rec.Data, &a); err != nil {
				return nil, errdefs.Internal(err, "decode agent %s", ref.ID)
			}
			sa = wire.SessionAgentFrom(a)
		}
		sa.Multiagent = nil
		mt.roster = append(mt.roster, sa)
	}
	return mt, nil
}

// refreshSelf points the roster's copies of the coordinator at the
// session's agent as it now is (an update changed its overrides); threads
// already made keep the configuration they were made with. s.mu is held.
func (s *session) refreshSelf() {
	if s.mt == nil {
		return
	}
	for i, a := range s.mt.roster {
		if a.ID == s.doc.Agent.ID {
			self := s.doc.Agent
			self.Multiagent = nil
			s.mt.roster[i] = self
		}
	}
}

// threadDefs are the coordinator's thread tools.
func (mt *multi) threadDefs() []tool.Def {
	names := make([]string, 0, len(mt.roster))
	var list strings.Builder
	for _, a := range mt.roster {
		if slices.Contains(names, a.Name) {
			continue
		}
		names = append(names, a.Name)
		fmt.Fprintf(&list, "\n- %s", a.Name)
		if a.Description != nil && *a.Description != "" {
			fmt.Fprintf(&list, ": %s", *a.Description)
		}
	}
	spawn, _ := json.Marshal(map[string]any{
		"type": "object",
		"properties": map[string]any{
			"agent":   map[string]any{"type": "string", "enum": names, "description": "The roster agent to run."},
			"message": map[string]any{"type": "string", "description": "The task: everything the agent needs to know, since it does not see this conversation."},
		},
		"required": []string{"agent", "message"},
	})
	send, _ := json.Marshal(map[string]any{
		"type": "object",
		"properties": map[string]any{
			"session_thread_id": map[string]any{"type": "string", "description": "The thread, as returned by spawn_agent."},
			"message":           map[string]any{"type": "string", "description": "The follow-up message."},
		},
		"required": []string{"session_thread_id", "message"},
	})
	return []tool.Def{
		{Name: toolSpawnAgent, Kind: tool.Builtin, InputSchema: spawn, Description: "Start a roster agent in a new session thread and give it a task. " +
			"The thread works in parallel with you, in the same sandbox and filesystem, with its own context; its answer arrives later as a message from that thread. " +
			"Several threads of the same agent may run at once; at most " + fmt.Sprint(MaxThreads) + " threads, yours included, may be open. Roster:" + list.String()},
		{Name: toolSendMessage, Kind: tool.Builtin, InputSchema: send, Description: "Send a follow-up message to a session thread you started. " +
			"The thread keeps everything from its earlier turns; its answer arrives later as a message from that thread."},
	}
}

// mainDefs are the tools of the primary conversation.
func (s *session) mainDefs() []tool.Def {
	defs := tool.Catalog(s.doc.Agent.Tools)
	if s.mt != nil && len(s.mt.roster) > 0 {
		for _, d := range s.mt.threadDefs() {
			// A tool of the agent's own with the same name wins: the
			// model must not be offered two tools of one name.
			if _, taken := tool.Find(defs, d.Name); !taken {
				defs = append(defs, d)
			}
		}
	}
	return s.withWorkflowTools(defs)
}

// agent is the agent configuration the conversation runs with.
func (c *conversation) agent() *wire.SessionAgent {
	if c.th != nil {
		return &c.th.agent
	}
	return &c.s.doc.Agent
}

// commit logs a conversation's events: the primary one's as they are, a
// thread's on its own log, its status changes as thread status events.
func (c *conversation) commit(ctx context.Context, status string, evs ...pending) ([]store.Event, error) {
	if c.th == nil {
		return c.s.commit(ctx, status, evs...)
	}
	return c.s.commitThread(ctx, c.th, evs...)
}

// commitThread logs a thread's events. The session's status events its
// conversation produces become the thread's; the session runs while the
// thread does. s.mu is held.
func (s *session) commitThread(ctx context.Context, t *thread, evs ...pending) ([]store.Event, error) {
	out := make([]pending, 0, len(evs)+2)
	for _, p := range evs {
		switch pl := p.ev.Payload.(type) {
		case *wire.SessionStatusRunningEvent:
			out = append(out, s.threadStatus(t, wire.ThreadRunning, nil)...)
		case *wire.SessionStatusRescheduledEvent:
			out = append(out, s.threadStatus(t, wire.ThreadRescheduling, nil)...)
		case *wire.SessionStatusIdleEvent:
			sr := pl.StopReason
			if sr.Type == wire.StopRetriesExhausted && t.wf == nil {
				// The coordinator is told, or it would wait for an
				// answer that never comes.
				out = append(out, s.answerParent(t, "The thread stopped: its model requests kept failing."))
			}
			out = append(out, s.threadStatus(t, wire.ThreadIdle, &sr)...)
		case *wire.SessionStatusTerminatedEvent:
			out = append(out, s.threadStatus(t, wire.ThreadTerminated, nil)...)
		default:
			// The thread's usage was counted when its request ended
			// (chargeModelRequest).
			p.thread = t.id
			out = append(out, p)
		}
	}
	set := ""
	if (t.status == wire.ThreadRunning || t.status == wire.ThreadRescheduling) && s.sess.Status != store.SessionRunning {
		set = store.SessionRunning
		out = append([]pending{ev(&wire.SessionStatusRunningEvent{})}, out...)
	}
	return s.commit(ctx, set, out...)
}

// answerParent is a thread's message to the coordinator, with text; it
// joins the coordinator's inbox right away (commits that fail leave the
// session to be rebuilt from the log, where the message is not). s.mu is
// held.
func (s *session) answerParent(t *thread, text string) pending {
	content := []wire.ContentBlock{wire.NewTextBlock(text)}
	coord := s.doc.Agent.Name
	sent := ev(&wire.AgentThreadMessageSentEvent{ToSessionThreadID: s.mt.primaryID, ToAgentName: &coord, Content: content})
	sent.thread = t.id
	s.mt.inbox = append(s.mt.inbox, threadMsg{sentID: sent.ev.ID, from: t.id, fromName: t.agent.Name, content: content})
	s.kick()
	return sent
}

// threadStatus moves a thread to status and returns its status events: one
// on the thread's own log, one on the primary thread. s.mu is held.
func (s *session) threadStatus(t *thread, status string, reason *wire.StopReason) []pending {
	if t.status == status && status != wire.ThreadIdle {
		return nil
	}
	now := wire.Now()
	if status == wire.ThreadRunning && t.since.IsZero() {
		t.since = now
	}
	if status != wire.ThreadRunning && status != wire.ThreadRescheduling && !t.since.IsZero() {
		t.stats.ActiveSeconds += now.Sub(t.since).Seconds()
		t.usage.ActiveSeconds = t.stats.ActiveSeconds
		t.since = time.Time{}
	}
	t.status, t.updated = status, now
	mk := func() wire.EventPayload {
		switch status {
		case wire.ThreadRunning:
			return &wire.SessionThreadStatusRunningEvent{AgentName: t.agent.Name, SessionThreadID: t.id}
		case wire.ThreadRescheduling:
			return &wire.SessionThreadStatusRescheduledEvent{AgentName: t.agent.Name, SessionThreadID: t.id}
		case wire.ThreadTerminated:
			return &wire.SessionThreadStatusTerminatedEvent{AgentName: t.agent.Name, SessionThreadID: t.id}
		}
		sr := wire.EndTurn()
		if reason != nil {
			sr = *reason
		}
		return &wire.SessionThreadStatusIdleEvent{AgentName: t.agent.Name, SessionThreadID: t.id, StopReason: sr}
	}
	own := ev(mk())
	own.thread = t.id
	return []pending{own, ev(mk())}
}

// primaryStatus reports the primary thread's status in a multiagent
// session (the SDK's worker takes the first thread status event as naming
// the primary thread). s.mu is held.
func (s *session) primaryStatus(ctx context.Context, status string, reason *wire.StopReason) {
	if s.mt == nil || s.mt.primaryStatus == status {
		return
	}
	var p wire.EventPayload
	name := s.doc.Agent.Name
	switch status {
	case wire.ThreadRunning:
		p = &wire.SessionThreadStatusRunningEvent{AgentName: name, SessionThreadID: s.mt.primaryID}
	default:
		sr := wire.EndTurn()
		if reason != nil {
			sr = *reason
		}
		p = &wire.SessionThreadStatusIdleEvent{AgentName: name, SessionThreadID: s.mt.primaryID, StopReason: sr}
	}
	if _, err := s.commit(ctx, "", ev(p)); err != nil {
		s.e.log.Error("report primary thread status", "session", s.id, "err", err)
		return
	}
	s.mt.primaryStatus = status
}

// withThreadID adds session_thread_id to an event's JSON when its type has
// no such field of its own, so that every event of a subagent thread names
// its thread.
func withThreadID(data []byte, tid string) []byte {
	if len(data) < 2 || bytes.Contains(data, []byte(`"session_thread_id"`)) {
		return data
	}
	out := make([]byte, 0, len(data)+len(tid)+24)
	out = append(out, `{"session_thread_id":"`...)
	out = append(out, tid...)
	out = append(out, '"')
	if data[1] != '}' {
		out = append(out, ',')
	}
	return append(out, data[1:]...)
}

// setThreadID sets the session_thread_id field of the payloads that have
// one.
func setThreadID(p wire.EventPayload, tid string) {
	switch p := p.(type) {
	case *wire.AgentToolUseEvent:
		p.SessionThreadID = tid
	case *wire.AgentMCPToolUseEvent:
		p.SessionThreadID = tid
	case *wire.AgentCustomToolUseEvent:
		p.SessionThreadID = tid
	case *wire.UserToolConfirmationEvent:
		p.SessionThreadID = tid
	case *wire.UserCustomToolResultEvent:
		p.SessionThreadID = tid
	case *wire.UserToolResultEvent:
		p.SessionThreadID = tid
	}
}

// threadsBusy reports whether a subagent thread is working or has work
// waiting. s.mu is held.
func (s *session) threadsBusy() bool {
	if s.workflowsBusy() {
		return true
	}
	if s.mt == nil {
		return false
	}
	for _, t := range s.mt.threads {
		if t.status == wire.ThreadTerminated {
			continue
		}
		if t.status == wire.ThreadRunning || t.status == wire.ThreadRescheduling || len(t.inbox) > 0 || t.hasWork() {
			return true
		}
	}
	return false
}

func (t *thread) hasWork() bool {
	for _, cl := range t.conv.calls {
		if cl.state == callReady || cl.state == callWorker {
			return true
		}
	}
	// A thread the budget stopped has nothing to do until it changes.
	return len(t.conv.calls) == 0 && t.conv.awaitsModel() && !t.conv.s.overBudget()
}

// threadsDriving reports whether a thread's driver is running. s.mu is
// held (or the session is otherwise quiet).
func (s *session) threadsDriving() bool {
	if s.mt == nil {
		return false
	}
	for _, t := range s.mt.threads {
		if t.driving {
			return true
		}
	}
	return false
}

// crossWaiting are the copies on the primary thread of subagent calls that
// wait for the client. s.mu is held.
func (s *session) crossWaiting() []string {
	if s.mt == nil {
		return nil
	}
	var out []string
	for _, t := range s.mt.threads {
		for _, cl := range t.conv.calls {
			if cl.state == callConfirm || cl.state == callClient {
				if id, ok := s.mt.crossed[cl.id]; ok {
					out = append(out, id)
				}
			}
		}
	}
	return out
}

// deliver takes a conversation's inbox in, once its tool calls have their
// results: agent.thread_message_received is logged on the receiving
// thread (tid, "" for the primary) and the messages join the
// conversation. s.mu is held.
func (s *session) deliver(ctx context.Context, c *conversation, inbox *[]threadMsg, tid string) bool {
	if len(*inbox) == 0 || c.openCalls() {
		return false
	}
	evs := make([]pending, 0, len(*inbox))
	for _, m := range *inbox {
		name := m.fromName
		p := ev(&wire.AgentThreadMessageReceivedEvent{FromSessionThreadID: m.from, FromAgentName: &name, Content: m.content})
		p.private, _ = json.Marshal(threadReceivedPrivate{Sent: m.sentID})
		p.thread = tid
		evs = append(evs, p)
	}
	if _, err := s.commit(ctx, "", evs...); err != nil {
		s.e.log.Error("deliver thread messages", "session", s.id, "err", err)
		return false
	}
	for _, m := range *inbox {
		c.appendUser(messageBlocks(m.from, m.fromName, m.content)...)
	}
	c.halted = false
	*inbox = nil
	return true
}

// messageBlocks is how a message from another thread reads to the model.
func messageBlocks(from, name string, content []wire.ContentBlock) []model.Block {
	head := model.Text(fmt.Sprintf("[Message from session thread %s (%s)]", from, name))
	return append([]model.Block{head}, contentToModel(content)...)
}

// lastAnswer is the text of a conversation's last assistant turn: what a
// thread answers its coordinator.
func lastAnswer(c *conversation) []wire.ContentBlock {
	for i := len(c.history) - 1; i >= 0; i-- {
		m := c.history[i]
		if m.Role != model.RoleAssistant {
			continue
		}
		var parts []string
		for _, b := range m.Content {
			if b.Type == model.BlockText && b.Text != "(no response)" {
				parts = append(parts, b.Text)
			}
		}
		if len(parts) > 0 {
			return []wire.ContentBlock{wire.NewTextBlock(strings.Join(parts, "\n"))}
		}
		break
	}
	return []wire.ContentBlock{wire.NewTextBlock("(the thread ended its turn without a message)")}
}

// newThread makes a thread for a roster agent. s.mu is held.
func (s *session) newThread(id string, agent wire.SessionAgent, created time.Time) *thread {
	t := &thread{id: id, agent: agent, status: wire.ThreadIdle, created: created, updated: created}
	t.conv = &conversation{s: s, th: t, defs: tool.Catalog(agent.Tools)}
	if agent.System != nil {
		t.conv.system = *agent.System
	}
	s.mt.threads = append(s.mt.threads, t)
	s.mt.byID[id] = t
	return t
}

// openThreads counts the threads that count against MaxThreads.
func (s *session) openThreads() int {
	n := 1
	for _, t := range s.mt.threads {
		// A workflow run's threads are bounded by the run's limits.
		if t.archivedAt == nil && t.status != wire.ThreadTerminated && t.wf == nil {
			n++
		}
	}
	return n
}

// runThreadTool runs the coordinator's spawn_agent or send_message.
func (s *session) runThreadTool(cl *call) ToolResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mt == nil {
		return errorResult("This session has no roster of agents to delegate to.")
	}
	var in struct {
		Agent    string `json:"agent"`
		ThreadID string `json:"session_thread_id"`
		Message  string `json:"message"`
	}
	if err := json.Unmarshal(cl.input, &in); err != nil {
		return errorResult("Invalid input for " + cl.name + ": " + err.Error())
	}
	if strings.TrimSpace(in.Message) == "" {
		return errorResult("message is required and must not be empty.")
	}
	ctx := s.e.ctx
	content := []wire.ContentBlock{wire.NewTextBlock(in.Message)}
	var t *thread
	var evs []pending
	switch cl.name {
	case toolSpawnAgent:
		i := slices.IndexFunc(s.mt.roster, func(a wire.SessionAgent) bool { return a.Name == in.Agent })
		if i < 0 {
			names := make([]string, len(s.mt.roster))
			for j, a := range s.mt.roster {
				names[j] = a.Name
			}
			return errorResult(fmt.Sprintf("No roster agent is called %q; the roster is: %s.", in.Agent, strings.Join(names, ", ")))
		}
		if s.openThreads() >= MaxThreads {
			return errorResult(fmt.Sprintf("This session already has %d open threads (yours included), the most a session may have at once. Send a follow-up to an existing thread with send_message instead.", MaxThreads))
		}
		agent := s.mt.roster[i]
		id := ids.New(ids.Thread)
		created := ev(&wire.SessionThreadCreatedEvent{AgentName: agent.Name, SessionThreadID: id})
		created.private, _ = json.Marshal(threadCreatedPrivate{Agent: agent})
		evs = append(evs, created)
		t = s.newThread(id, agent, wire.Now())
	case toolSendMessage:
		t = s.mt.byID[in.ThreadID]
		if t == nil {
			return errorResult(fmt.Sprintf("No session thread %q was started in this session.", in.ThreadID))
		}
		if t.wf != nil {
			// A workflow run's threads answer their program only.
			return errorResult(fmt.Sprintf("Session thread %s works for workflow run %s and takes no messages.", t.id, t.wf.runID))
		}
		if t.archivedAt != nil || t.status == wire.ThreadTerminated {
			return errorResult(fmt.Sprintf("Session thread %s has ended and takes no more messages; start a new one with spawn_agent.", t.id))
		}
	}
	name := t.agent.Name
	sent := ev(&wire.AgentThreadMessageSentEvent{ToSessionThreadID: t.id, ToAgentName: &name, Content: content})
	evs = append(evs, sent)
	if _, err := s.commit(ctx, "", evs...); err != nil {
		if cl.name == toolSpawnAgent {
			s.mt.threads = s.mt.threads[:len(s.mt.threads)-1]
			delete(s.mt.byID, t.id)
		}
		return errorResult("The message could not be sent: " + err.Error())
	}
	t.inbox = append(t.inbox, threadMsg{sentID: sent.ev.ID, from: s.mt.primaryID, fromName: s.doc.Agent.Name, content: content})
	s.kickThread(t)
	if cl.name == toolSpawnAgent {
		return ToolResult{Content: []wire.ContentBlock{wire.NewTextBlock(fmt.Sprintf(
			"Started session thread %s running %s. Its answer will arrive as a message from that thread; use send_message with this session_thread_id for follow-ups.", t.id, name))}}
	}
	return ToolResult{Content: []wire.ContentBlock{wire.NewTextBlock(fmt.Sprintf("Message sent to session thread %s (%s). Its answer will arrive as a message from that thread.", t.id, name))}}
}
