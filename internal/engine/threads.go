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

// loadMulti reads a session's roster: the pinned agent versions it may
// delegate to. A roster member's own roster is ignored (delegation goes
// one level deep); the coordinator itself ("self") runs with the
// session's overrides. Nil when the session's agent has no roster.
func loadMulti(ctx context.Context, st store.Store, s *session) (*multi, error) {
	raw := s.doc.Agent.Multiagent
	if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	var m wire.Multiagent
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errdefs.Internal(err, "decode multiagent of session %s", s.id)
	}
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
	if s.mt != nil {
		for _, d := range s.mt.threadDefs() {
			// A tool of the agent's own with the same name wins: the
			// model must not be offered two tools of one name.
			if _, taken := tool.Find(defs, d.Name); !taken {
				defs = append(defs, d)
			}
		}
	}
	return defs
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
			if sr.Type == wire.StopRetriesExhausted {
				// The coordinator is told, or it would wait for an
				// answer that never comes.
				out = append(out, s.answerParent(t, "The thread stopped: its model requests kept failing."))
			}
			out = append(out, s.threadStatus(t, wire.ThreadIdle, &sr)...)
		case *wire.SessionStatusTerminatedEvent:
			out = append(out, s.threadStatus(t, wire.ThreadTerminated, nil)...)
		default:
			if end, ok := pl.(*wire.SpanModelRequestEndEvent); ok {
				t.usage.Add(end.ModelUsage)
			}
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
	}
}

// threadsBusy reports whether a subagent thread is working or has work
// waiting. s.mu is held.
func (s *session) threadsBusy() bool {
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
		if cl.state == callReady {
			return true
		}
	}
	return len(t.conv.calls) == 0 && t.conv.awaitsModel()
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
		if t.archivedAt == nil && t.status != wire.ThreadTerminated {
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

// syncThreadMemory saves the session's memory mounts after a subagent's
// sandbox call, which the server ran itself (a worker's results are synced
// when they arrive, see syncMemory); what the agent must be told is added
// to the result.
func (s *session) syncThreadMemory(ctx context.Context, cl *call, res ToolResult) ToolResult {
	if s.e.memory == nil || cl.kind != tool.Builtin || tool.ServerSide(cl.name) {
		return res
	}
	notes := s.e.memory.SyncMemory(ctx, s.ws, s.id)
	if len(notes) == 0 {
		return res
	}
	res.Content = append(append([]wire.ContentBlock{}, res.Content...), wire.NewTextBlock("Memory store changes were not all saved:\n- "+strings.Join(notes, "\n- ")))
	res.IsError = true
	return res
}

// kickThread starts a thread's driver if there may be work. s.mu is held.
func (s *session) kickThread(t *thread) {
	if t.driving || s.stopped || s.evicted || s.e.ctx.Err() != nil || t.archivedAt != nil || t.status == wire.ThreadTerminated {
		return
	}
	done := make(chan struct{})
	if !s.e.life.Go(func() { s.driveThread(t, done) }) {
		return
	}
	t.driving, t.driverDone = true, done
}

// driveThread takes a thread from step to step, like drive does for the
// primary conversation.
func (s *session) driveThread(t *thread, done chan struct{}) {
	defer close(done)
	deadline := time.Now().Add(s.e.opt.RunTimeout)
	for {
		s.mu.Lock()
		var act action
		if !s.stopped && s.e.ctx.Err() == nil {
			if time.Now().After(deadline) {
				s.threadWatchdog(t)
			} else {
				act = s.nextThread(t)
			}
		}
		if act == nil {
			t.driving = false
			// The coordinator may have been waiting for this thread.
			s.kick()
			s.mu.Unlock()
			return
		}
		ctx, cancel := context.WithDeadline(s.e.ctx, deadline)
		t.stepCancel = cancel
		s.mu.Unlock()
		act(ctx)
		cancel()
		s.mu.Lock()
		t.stepCancel = nil
		s.mu.Unlock()
	}
}

// threadWatchdog ends a thread's run that exceeded RunTimeout, as the
// session's watchdog does. s.mu is held.
func (s *session) threadWatchdog(t *thread) {
	t.conv.cancelCalls("The thread exceeded its time limit before this tool call completed.")
	t.conv.halted = true
	msg := fmt.Sprintf("the thread ran for longer than %s without stopping and was halted", s.e.opt.RunTimeout)
	sr := wire.RetriesExhausted()
	se := ev(&wire.SessionErrorEvent{Error: wire.NewSessionError("unknown_error", wire.RetryExhausted, msg)})
	se.thread = t.id
	evs := []pending{se, s.answerParent(t, "The thread stopped: "+msg+".")}
	if _, err := s.commit(s.e.ctx, "", append(evs, s.threadStatus(t, wire.ThreadIdle, &sr)...)...); err != nil {
		s.e.log.Error("thread watchdog", "session", s.id, "thread", t.id, "err", err)
	}
	s.kick()
}

// nextThread decides a thread's next step (see session.next). s.mu is held.
func (s *session) nextThread(t *thread) action {
	ctx := s.e.ctx
	if s.sess.Status == store.SessionTerminated || t.status == wire.ThreadTerminated || t.archivedAt != nil {
		return nil
	}
	c := t.conv
	s.deliver(ctx, c, &t.inbox, t.id)
	var ready []*call
	var waiting []string
	for _, cl := range c.calls {
		switch cl.state {
		case callReady:
			ready = append(ready, cl)
		case callConfirm, callClient:
			waiting = append(waiting, cl.id)
		}
	}
	running := func() bool {
		if t.status == wire.ThreadRunning {
			return true
		}
		if _, err := s.commitThread(ctx, t, ev(&wire.SessionStatusRunningEvent{})); err != nil {
			s.e.log.Error("report thread running", "session", s.id, "thread", t.id, "err", err)
			return false
		}
		return true
	}
	switch {
	case len(ready) > 0:
		if !running() {
			return nil
		}
		return func(ctx context.Context) { c.execute(ctx, ready) }
	case len(waiting) > 0:
		// What the thread needs from the client is copied onto the
		// primary thread, where the client answers it.
		var evs []pending
		for _, id := range waiting {
			if _, ok := s.mt.crossed[id]; ok {
				continue
			}
			if cp, ok := s.crossPost(t, id); ok {
				evs = append(evs, cp)
			}
		}
		if len(evs) > 0 || t.status != wire.ThreadIdle {
			sr := wire.RequiresAction(waiting...)
			evs = append(evs, s.threadStatus(t, wire.ThreadIdle, &sr)...)
			if _, err := s.commit(ctx, "", evs...); err != nil {
				s.e.log.Error("report thread requires_action", "session", s.id, "thread", t.id, "err", err)
				return nil
			}
			for _, p := range evs {
				if p.thread == "" && p.ev.SessionThreadID() == t.id {
					var cp crossPostPrivate
					if json.Unmarshal(p.private, &cp) == nil && cp.Origin != "" {
						s.mt.routes[p.ev.ID] = route{th: t, callID: cp.Origin}
						s.mt.crossed[cp.Origin] = p.ev.ID
					}
				}
			}
			s.main.announced = false
		}
		s.kick()
		return nil
	case c.awaitsModel():
		if !running() {
			return nil
		}
		return c.modelTurn
	}
	if t.status == wire.ThreadRunning || t.status == wire.ThreadRescheduling {
		// The turn ended: the answer goes to the coordinator.
		content := lastAnswer(c)
		coord := s.doc.Agent.Name
		sent := ev(&wire.AgentThreadMessageSentEvent{ToSessionThreadID: s.mt.primaryID, ToAgentName: &coord, Content: content})
		sent.thread = t.id
		evs := append([]pending{sent}, s.threadStatus(t, wire.ThreadIdle, nil)...)
		if _, err := s.commit(ctx, "", evs...); err != nil {
			s.e.log.Error("report thread idle", "session", s.id, "thread", t.id, "err", err)
			return nil
		}
		s.mt.inbox = append(s.mt.inbox, threadMsg{sentID: sent.ev.ID, from: t.id, fromName: t.agent.Name, content: content})
		s.kick()
	}
	return nil
}

// crossPost copies a subagent's tool call that waits for the client onto
// the primary thread, with the thread's id.
func (s *session) crossPost(t *thread, callID string) (pending, bool) {
	cl := t.conv.findCall(callID)
	if cl == nil {
		return pending{}, false
	}
	var p wire.EventPayload
	switch {
	case cl.state == callClient:
		p = &wire.AgentCustomToolUseEvent{Name: cl.name, Input: wire.RawObject(cl.input), EvaluatedPermission: wire.PermissionAllow, SessionThreadID: t.id}
	case cl.kind == tool.MCP:
		p = &wire.AgentMCPToolUseEvent{Name: cl.name, MCPServerName: cl.server, Input: wire.RawObject(cl.input), EvaluatedPermission: wire.PermissionAsk, Evaluation: wire.EvaluationAlwaysAsk(), SessionThreadID: t.id}
	default:
		p = &wire.AgentToolUseEvent{Name: cl.name, Input: wire.RawObject(cl.input), EvaluatedPermission: wire.PermissionAsk, Evaluation: wire.EvaluationAlwaysAsk(), SessionThreadID: t.id}
	}
	cp := ev(p)
	cp.private, _ = json.Marshal(crossPostPrivate{Origin: callID})
	return cp, true
}

// routeAnswer handles a client's answer to a subagent's call (named by the
// call's id or by its copy's on the primary thread): it is logged on the
// primary thread with the thread's id, taken at once, and the thread goes
// on. handled is false for answers to the primary thread's own calls.
// s.mu is held.
func (s *session) routeAnswer(ctx context.Context, path string, p wire.EventPayload) (echo wire.Event, handled bool, err error) {
	if s.mt == nil {
		return wire.Event{}, false, nil
	}
	var target, field, what string
	var want callState
	switch p := p.(type) {
	case *wire.UserToolConfirmationEvent:
		target, field, want, what = p.ToolUseID, path+".tool_use_id", callConfirm, "confirmation"
	case *wire.UserCustomToolResultEvent:
		target, field, want, what = p.CustomToolUseID, path+".custom_tool_use_id", callClient, "custom tool result"
	default:
		return wire.Event{}, false, nil
	}
	t, callID := s.findThreadCall(target)
	if t == nil {
		return wire.Event{}, false, nil
	}
	kind := p.EventType()
	if _, ok := s.answers[answerKey(kind, callID)]; ok {
		return wire.Event{}, true, errdefs.Conflict("%s: tool call %s was already answered", field, target)
	}
	cl := t.conv.findCall(callID)
	if cl == nil || cl.state != want {
		return wire.Event{}, true, errdefs.Invalid("%s: tool call %s does not wait for a %s", field, target, what)
	}
	setThreadID(p, t.id)
	pe := ev(p)
	pe.ev = pe.ev.Processed(wire.Now())
	if _, err := s.commit(ctx, "", pe); err != nil {
		return wire.Event{}, true, err
	}
	s.applyRouted(t, callID, pe.ev)
	s.kickThread(t)
	return pe.ev, true, nil
}

// findThreadCall finds the subagent call an answer names.
func (s *session) findThreadCall(target string) (*thread, string) {
	if r, ok := s.mt.routes[target]; ok {
		return r.th, r.callID
	}
	for _, t := range s.mt.threads {
		if t.conv.findCall(target) != nil {
			return t, target
		}
	}
	return nil, ""
}

// applyRouted applies a client's answer to a subagent's call.
func (s *session) applyRouted(t *thread, callID string, e wire.Event) {
	s.answers[answerKey(e.EventType(), callID)] = e
	switch p := e.Payload.(type) {
	case *wire.UserToolConfirmationEvent:
		q := *p
		q.ToolUseID = callID
		t.conv.applyConfirmation(&q)
	case *wire.UserCustomToolResultEvent:
		t.conv.resolve(callID, toolResult(callID, p.Content, p.IsError))
	}
	if id, ok := s.mt.crossed[callID]; ok {
		delete(s.mt.routes, id)
	}
}

// interruptThreads stops every subagent thread's work (an interrupt
// without a thread, or the session's end): open calls are answered with
// why and the working threads go idle. s.mu is held.
func (s *session) interruptThreads(ctx context.Context, why string, only string) {
	if s.mt == nil {
		return
	}
	if only == "" {
		// The answers on their way to the coordinator would start it
		// again.
		s.mt.inbox = nil
	}
	var evs []pending
	for _, t := range s.mt.threads {
		if only != "" && t.id != only {
			continue
		}
		if t.stepCancel != nil {
			t.stepCancel()
		}
		for _, cl := range t.conv.calls {
			if cl.state != callDone && cl.kind == tool.Builtin {
				p := failedCall(cl.id, why)
				p.thread = t.id
				evs = append(evs, p)
			}
		}
		t.conv.cancelCalls(why)
		t.conv.halted = true
		t.inbox = nil
		if t.status == wire.ThreadRunning || t.status == wire.ThreadRescheduling {
			evs = append(evs, s.threadStatus(t, wire.ThreadIdle, nil)...)
		}
	}
	if len(evs) > 0 {
		if _, err := s.commit(ctx, "", evs...); err != nil {
			s.e.log.Error("interrupt threads", "session", s.id, "err", err)
		}
	}
}

// stopThreads ends every thread with the session (terminated). s.mu is held.
func (s *session) stopThreads(why string) {
	if s.mt == nil {
		return
	}
	for _, t := range s.mt.threads {
		if t.stepCancel != nil {
			t.stepCancel()
		}
		t.conv.cancelCalls(why)
		t.inbox = nil
	}
}

// endThreads are the events that end every live thread (the session is
// archived). s.mu is held.
func (s *session) endThreads() []wire.EventPayload {
	if s.mt == nil {
		return nil
	}
	var out []wire.EventPayload
	for _, t := range s.mt.threads {
		if t.status == wire.ThreadTerminated {
			continue
		}
		if t.stepCancel != nil {
			t.stepCancel()
		}
		t.conv.cancelCalls("The session was archived before this tool call completed.")
		t.inbox = nil
		for _, p := range s.threadStatus(t, wire.ThreadTerminated, nil) {
			if p.thread == "" {
				out = append(out, p.ev.Payload)
			}
		}
	}
	return out
}

// resumeThreads is crash recovery for the threads: a thread found working
// is marked rescheduled, its unfinished model request closed with an error
// and its interrupted tool calls reported failed; then every thread with
// something to do is driven again. s.mu is held.
func (s *session) resumeThreads(spans map[string]string) {
	if s.mt == nil {
		return
	}
	var evs []pending
	for _, t := range s.mt.threads {
		if t.status != wire.ThreadRunning && t.status != wire.ThreadRescheduling {
			continue
		}
		if start := spans[t.id]; start != "" {
			isErr := true
			p := ev(&wire.SpanModelRequestEndEvent{ModelRequestStartID: start, IsError: &isErr})
			p.thread = t.id
			evs = append(evs, p)
		}
		// The time the server was down is not the thread's work.
		t.status, t.since = "", time.Time{}
		evs = append(evs, s.threadStatus(t, wire.ThreadRescheduling, nil)...)
		for _, cl := range t.conv.calls {
			if cl.state == callReady && cl.kind == tool.Builtin && !isThreadTool(cl.name) {
				p := failedCall(cl.id, "The tool call was interrupted by a server restart before it completed; it may or may not have taken effect.")
				p.thread = t.id
				evs = append(evs, p)
			}
		}
	}
	if len(evs) > 0 {
		if _, err := s.commit(s.e.ctx, "", evs...); err != nil {
			s.e.log.Error("reschedule threads", "session", s.id, "err", err)
			return
		}
		for _, p := range evs {
			if p.thread == "" {
				continue
			}
			if t := s.mt.byID[p.thread]; t != nil {
				t.conv.resolveResults([]pending{p})
			}
		}
	}
	for _, t := range s.mt.threads {
		s.kickThread(t)
	}
}

// openSpans returns, by thread ("" for the primary), the id of a
// span.model_request_start without its end, which only a crash leaves
// behind.
func (s *session) openSpans() map[string]string {
	open := map[string]string{}
	var after int64
	for {
		evs, err := s.e.st.EventsSince(s.e.ctx, s.id, after, 1000)
		if err != nil {
			return open
		}
		for _, e := range evs {
			after = e.Seq
			switch e.Type {
			case wire.EventTypeSpanModelRequestStart:
				open[e.ThreadID] = e.ID
			case wire.EventTypeSpanModelRequestEnd:
				delete(open, e.ThreadID)
			}
		}
		if len(evs) < 1000 {
			return open
		}
	}
}

// replayMulti folds a multiagent event into the state while rebuilding;
// handled is false for the primary conversation's own events.
func (s *session) replayMulti(se store.Event, e wire.Event) (bool, error) {
	mt := s.mt
	if se.ThreadID != "" {
		t := mt.byID[se.ThreadID]
		if t == nil {
			return true, nil // a thread whose creation is not in the log
		}
		switch p := e.Payload.(type) {
		case *wire.SessionThreadStatusRunningEvent:
			t.replayStatus(wire.ThreadRunning, se.CreatedAt)
		case *wire.SessionThreadStatusRescheduledEvent:
			t.replayStatus(wire.ThreadRescheduling, se.CreatedAt)
		case *wire.SessionThreadStatusTerminatedEvent:
			t.replayStatus(wire.ThreadTerminated, se.CreatedAt)
			if bytes.Contains(se.Private, []byte(`"archived":true`)) {
				at := se.CreatedAt
				t.archivedAt = &at
			}
			t.conv.cancelCalls("The thread was archived before this tool call completed.")
		case *wire.SessionThreadStatusIdleEvent:
			t.replayStatus(wire.ThreadIdle, se.CreatedAt)
			t.conv.announced = p.StopReason.Type == wire.StopRequiresAction
		case *wire.AgentThreadMessageSentEvent:
			mt.inFlight[e.ID] = inFlight{to: p.ToSessionThreadID, msg: threadMsg{sentID: e.ID, from: t.id, fromName: t.agent.Name, content: p.Content}}
			mt.flightOrder = append(mt.flightOrder, e.ID)
		case *wire.AgentThreadMessageReceivedEvent:
			s.received(se)
			name := ""
			if p.FromAgentName != nil {
				name = *p.FromAgentName
			}
			t.conv.appendUser(messageBlocks(p.FromSessionThreadID, name, p.Content)...)
			t.conv.halted = false
		case *wire.SpanModelRequestEndEvent:
			t.usage.Add(p.ModelUsage)
			return true, t.conv.replayEvent(se, e)
		default:
			return true, t.conv.replayEvent(se, e)
		}
		return true, nil
	}
	switch p := e.Payload.(type) {
	case *wire.SessionThreadCreatedEvent:
		var priv threadCreatedPrivate
		if err := json.Unmarshal(se.Private, &priv); err != nil {
			return true, err
		}
		s.newThread(p.SessionThreadID, priv.Agent, se.CreatedAt)
	case *wire.AgentThreadMessageSentEvent:
		mt.inFlight[e.ID] = inFlight{to: p.ToSessionThreadID, msg: threadMsg{sentID: e.ID, from: mt.primaryID, fromName: s.doc.Agent.Name, content: p.Content}}
		mt.flightOrder = append(mt.flightOrder, e.ID)
	case *wire.AgentThreadMessageReceivedEvent:
		s.received(se)
		name := ""
		if p.FromAgentName != nil {
			name = *p.FromAgentName
		}
		s.main.appendUser(messageBlocks(p.FromSessionThreadID, name, p.Content)...)
		s.main.halted = false
	case *wire.SessionThreadStatusRunningEvent:
		if p.SessionThreadID == mt.primaryID {
			mt.primaryStatus = wire.ThreadRunning
		}
	case *wire.SessionThreadStatusIdleEvent:
		if p.SessionThreadID == mt.primaryID {
			mt.primaryStatus = wire.ThreadIdle
		}
	case *wire.SessionThreadStatusTerminatedEvent:
		// Archiving the session logs its threads' ends on the primary
		// thread only.
		if t := mt.byID[p.SessionThreadID]; t != nil && t.status != wire.ThreadTerminated {
			t.replayStatus(wire.ThreadTerminated, se.CreatedAt)
			t.conv.cancelCalls("The session was archived before this tool call completed.")
		}
	case *wire.SessionThreadStatusRescheduledEvent:
	case *wire.UserInterruptEvent:
		if e.ProcessedAt == nil {
			return false, nil
		}
		// The messages on their way when the interrupt was taken were
		// dropped with it.
		only := p.SessionThreadID
		if only == mt.primaryID {
			only = ""
		}
		for id, f := range mt.inFlight {
			if only == "" || f.to == only {
				delete(mt.inFlight, id)
			}
		}
		for _, t := range mt.threads {
			if only == "" || t.id == only {
				t.conv.cancelCalls("The user interrupted the session before this tool call completed.")
				t.conv.halted = true
			}
		}
		return only != "", nil
	default:
		tid := e.SessionThreadID()
		if tid == "" || tid == mt.primaryID {
			return false, nil
		}
		t := mt.byID[tid]
		if t == nil {
			return true, nil
		}
		switch e.Payload.(type) {
		case *wire.AgentToolUseEvent, *wire.AgentMCPToolUseEvent, *wire.AgentCustomToolUseEvent:
			var cp crossPostPrivate
			if json.Unmarshal(se.Private, &cp) == nil && cp.Origin != "" {
				mt.routes[e.ID] = route{th: t, callID: cp.Origin}
				mt.crossed[cp.Origin] = e.ID
			}
		case *wire.UserToolConfirmationEvent, *wire.UserCustomToolResultEvent:
			target := answerTarget(e.Payload)
			callID := target
			if r, ok := mt.routes[target]; ok {
				callID = r.callID
			}
			s.applyRouted(t, callID, e)
		default:
			return false, nil
		}
	}
	return true, nil
}

// replayStatus is threadStatus's bookkeeping for a logged status change.
func (t *thread) replayStatus(status string, at time.Time) {
	working := status == wire.ThreadRunning || status == wire.ThreadRescheduling
	if working && t.since.IsZero() {
		t.since = at
	}
	if !working && !t.since.IsZero() {
		t.stats.ActiveSeconds += at.Sub(t.since).Seconds()
		t.usage.ActiveSeconds = t.stats.ActiveSeconds
		t.since = time.Time{}
	}
	t.status, t.updated = status, at
}

// received removes a delivered message from the ones in flight.
func (s *session) received(se store.Event) {
	var priv threadReceivedPrivate
	if json.Unmarshal(se.Private, &priv) == nil {
		delete(s.mt.inFlight, priv.Sent)
	}
}

// settleInFlight puts the messages still in flight after a rebuild back in
// their receivers' inboxes, in the order they were sent.
func (s *session) settleInFlight(order []string) {
	for _, id := range order {
		f, ok := s.mt.inFlight[id]
		if !ok {
			continue
		}
		if f.to == s.mt.primaryID {
			s.mt.inbox = append(s.mt.inbox, f.msg)
		} else if t := s.mt.byID[f.to]; t != nil && t.status != wire.ThreadTerminated {
			t.inbox = append(t.inbox, f.msg)
		}
	}
	s.mt.inFlight = nil
}

// Threads returns a session's threads: the primary one first, then the
// subagent threads in the order they were created.
func (e *Engine) Threads(ctx context.Context, ws, id string) ([]wire.SessionThread, error) {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []wire.SessionThread{s.primaryDoc()}
	if s.mt != nil {
		for _, t := range s.mt.threads {
			out = append(out, s.threadDoc(t))
		}
	}
	return out, nil
}

// Thread returns one thread of a session.
func (e *Engine) Thread(ctx context.Context, ws, id, threadID string) (wire.SessionThread, error) {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return wire.SessionThread{}, err
	}
	defer s.mu.Unlock()
	return s.threadByID(threadID)
}

func (s *session) threadByID(threadID string) (wire.SessionThread, error) {
	if threadID == primaryThreadID(s.id) {
		return s.primaryDoc(), nil
	}
	if s.mt != nil {
		if t := s.mt.byID[threadID]; t != nil {
			return s.threadDoc(t), nil
		}
	}
	return wire.SessionThread{}, errdefs.NotFound("session thread %s not found", threadID)
}

// ThreadLog returns the thread id a thread's events are logged under (""
// for the primary thread), or not-found.
func (e *Engine) ThreadLog(ctx context.Context, ws, id, threadID string) (string, error) {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	if _, err := s.threadByID(threadID); err != nil {
		return "", err
	}
	if threadID == primaryThreadID(s.id) {
		return "", nil
	}
	return threadID, nil
}

// ArchiveThread ends a subagent thread for good: its work is cancelled, its
// calls answered, and it is terminated. The primary thread is the session
// itself: archive the session instead.
func (e *Engine) ArchiveThread(ctx context.Context, ws, id, threadID string) (wire.SessionThread, error) {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return wire.SessionThread{}, err
	}
	defer s.mu.Unlock()
	if threadID == primaryThreadID(s.id) {
		return wire.SessionThread{}, errdefs.Invalid("thread_id: %s is the session's primary thread, which cannot be archived on its own; archive the session instead", threadID)
	}
	if _, err := s.threadByID(threadID); err != nil {
		return wire.SessionThread{}, err
	}
	t := s.mt.byID[threadID]
	if t.archivedAt != nil {
		return s.threadDoc(t), nil
	}
	const why = "The thread was archived before this tool call completed."
	if t.stepCancel != nil {
		t.stepCancel()
	}
	var evs []pending
	for _, cl := range t.conv.calls {
		if cl.state != callDone && cl.kind == tool.Builtin {
			p := failedCall(cl.id, why)
			p.thread = t.id
			evs = append(evs, p)
		}
	}
	prev := t.status
	if prev != wire.ThreadTerminated {
		term := s.threadStatus(t, wire.ThreadTerminated, nil)
		// The thread's own copy remembers that it was archived.
		term[0].private = []byte(`{"archived":true}`)
		evs = append(evs, term...)
	}
	if _, err := s.commit(ctx, "", evs...); err != nil {
		t.status = prev
		return wire.SessionThread{}, err
	}
	now := wire.Now()
	t.archivedAt, t.updated = &now, now
	t.conv.cancelCalls(why)
	t.inbox = nil
	for cid, cp := range s.mt.crossed {
		if r, ok := s.mt.routes[cp]; ok && r.th == t {
			delete(s.mt.routes, cp)
			delete(s.mt.crossed, cid)
		}
	}
	s.main.announced = false
	// The session may have been waiting on this thread.
	s.kick()
	return s.threadDoc(t), nil
}

// primaryDoc is the primary thread as an API object.
func (s *session) primaryDoc() wire.SessionThread {
	status := s.sess.Status
	if s.mt != nil && s.mt.primaryStatus != "" && status != store.SessionTerminated {
		status = s.mt.primaryStatus
	}
	stats := s.doc.Stats
	usage := s.doc.Usage
	return wire.SessionThread{
		ID: primaryThreadID(s.id), Agent: wire.ThreadAgentFrom(s.doc.Agent), ArchivedAt: s.doc.ArchivedAt,
		CreatedAt: s.doc.CreatedAt, SessionID: s.id, Status: status, UpdatedAt: s.doc.UpdatedAt, Stats: &stats, Usage: &usage,
	}
}

// threadDoc is a subagent thread as an API object.
func (s *session) threadDoc(t *thread) wire.SessionThread {
	parent := s.mt.primaryID
	stats := t.stats
	end := time.Now()
	if t.archivedAt != nil {
		end = *t.archivedAt
	}
	stats.DurationSeconds = end.Sub(t.created).Seconds()
	usage := t.usage
	return wire.SessionThread{
		ID: t.id, Agent: wire.ThreadAgentFrom(t.agent), ArchivedAt: t.archivedAt, CreatedAt: t.created,
		ParentThreadID: &parent, SessionID: s.id, Status: t.status, UpdatedAt: t.updated, Stats: &stats, Usage: &usage,
	}
}
