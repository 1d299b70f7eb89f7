package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

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
}

// run is the live state of one session. Everything in it is derived from
// the event log; mu guards it and serializes the session's writes.
type run struct {
	e  *Engine
	id string
	ws string

	mu         sync.Mutex
	sess       store.Session
	doc        wire.Session
	defs       []tool.Def
	selfHosted bool

	history []model.Message
	// system is the agent's system prompt; system.message events join the
	// conversation as system turns (the SDK's semantics).
	system string
	calls  []*call
	// queue holds client events not yet consumed, in log order.
	queue []wire.Event
	// unsaved are accepted client events not yet in the log: the next
	// commit appends them ahead of its own events, in one transaction, so
	// that input and the status it moves the session to are logged
	// together (a crash never leaves accepted input with an idle row).
	unsaved []pending
	// replayHeld are processed user.message and system.message events
	// met during a rebuild, applied where they were processed rather
	// than where they were sent (they may have waited for tool calls).
	replayHeld []wire.Event
	// answers maps an answer kind and tool call id (answerKey) to the
	// event that answered it (queued or consumed), so a second answer of
	// the same kind is refused and a repeated user.tool_result is
	// recognised. A confirmed self-hosted call gets both a confirmation and
	// a result.
	answers map[string]wire.Event
	// announced is set once requires_action was reported for the current
	// calls, so it is reported once.
	announced bool
	// halted is set when the model failed for good; new input clears it.
	halted bool
	// mcpDefs are the MCP tools listed for this run of the session;
	// mcpLoaded says every server answered (failed ones are retried when
	// the session next starts running).
	mcpDefs   []tool.Def
	mcpLoaded bool
	// lastPromptTokens is the context size of the last model exchange,
	// which decides when to compact.
	lastPromptTokens int64

	driving bool
	stopped bool
	// evicted is set when the engine dropped this runtime from memory;
	// holders must reload.
	evicted    bool
	stepCancel context.CancelFunc
	// runningSince is when the current running stretch began, for
	// stats.active_seconds.
	runningSince time.Time
	// captured is set once the outputs were captured for the turn now
	// ending, so next() then commits idle instead of capturing again.
	captured bool
	// cache is the runtime's place in the engine's cache, guarded by e.mu.
	cache cached
}

func errNotFound(id string) error { return errdefs.NotFound("session %s not found", id) }

// rebuild loads a session's state from its row and its whole event log.
func rebuild(ctx context.Context, e *Engine, sess store.Session) (*run, error) {
	r := &run{e: e, id: sess.ID, ws: sess.Workspace, sess: sess, answers: map[string]wire.Event{}}
	if err := json.Unmarshal(sess.Data, &r.doc); err != nil {
		return nil, errdefs.Internal(err, "decode session %s", sess.ID)
	}
	r.defs = tool.Catalog(r.doc.Agent.Tools)
	if env, err := e.st.Get(ctx, sess.Workspace, store.KindEnvironment, r.doc.EnvironmentID); err == nil {
		var w wire.Environment
		if json.Unmarshal(env.Data, &w) == nil {
			r.selfHosted = w.Config.Type == wire.EnvironmentConfigSelfHosted
		}
	}
	if r.doc.Agent.System != nil {
		r.system = *r.doc.Agent.System
	}
	var after int64
	for {
		evs, err := e.st.EventsSince(ctx, sess.ID, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			after = ev.Seq
			if err := r.replay(ev); err != nil {
				return nil, errdefs.Internal(err, "replay event %s of session %s", ev.ID, sess.ID)
			}
		}
		if len(evs) < 1000 {
			break
		}
	}
	r.applyHeld(nil)
	if sess.Status == store.SessionRunning || sess.Status == store.SessionRescheduling {
		r.runningSince = time.Now()
	}
	return r, nil
}

// replay folds one logged event into the state.
func (r *run) replay(se store.Event) error {
	var ev wire.Event
	if err := json.Unmarshal(se.Data, &ev); err != nil {
		return err
	}
	ev.ProcessedAt = se.ProcessedAt
	r.applyHeld(&se.CreatedAt)
	if t := answerTarget(ev.Payload); t != "" {
		r.answers[answerKey(ev.EventType(), t)] = ev
	}
	if wire.IsClientEventType(ev.EventType()) && ev.ProcessedAt == nil {
		r.queue = append(r.queue, ev)
		return nil
	}
	switch p := ev.Payload.(type) {
	case *wire.UserMessageEvent, *wire.SystemMessageEvent:
		// Logged when sent, taken when the session got to it (after the
		// tool calls then open, say): it joins the conversation there.
		r.replayHeld = append(r.replayHeld, ev)
	case *wire.AgentThinkingEvent:
		var b model.Block
		if len(se.Private) > 0 {
			if err := json.Unmarshal(se.Private, &b); err != nil {
				return err
			}
			r.appendAssistant(b)
		}
	case *wire.AgentMessageEvent:
		for _, c := range p.Content {
			if c.Type == wire.BlockText {
				r.appendAssistant(model.Text(c.Text))
			}
		}
	case *wire.AgentToolUseEvent:
		state := r.runnableState(p.Name)
		if p.EvaluatedPermission == wire.PermissionAsk {
			state = callConfirm
		}
		r.addCall(ev.ID, p.Name, tool.Builtin, json.RawMessage(p.Input), state)
	case *wire.AgentCustomToolUseEvent:
		r.addCall(ev.ID, p.Name, tool.Custom, json.RawMessage(p.Input), callClient)
	case *wire.AgentMCPToolUseEvent:
		state := callReady
		if p.EvaluatedPermission == wire.PermissionAsk {
			state = callConfirm
		}
		r.addCall(ev.ID, p.Name, tool.MCP, json.RawMessage(p.Input), state)
		r.calls[len(r.calls)-1].server = p.MCPServerName
	case *wire.AgentMCPToolResultEvent:
		r.resolve(p.MCPToolUseID, toolResult(p.MCPToolUseID, p.Content, p.IsError))
	case *wire.UserToolConfirmationEvent:
		r.applyConfirmation(p)
	case *wire.AgentToolResultEvent:
		r.resolve(p.ToolUseID, toolResult(p.ToolUseID, p.Content, p.IsError))
	case *wire.UserCustomToolResultEvent:
		r.resolve(p.CustomToolUseID, toolResult(p.CustomToolUseID, p.Content, p.IsError))
	case *wire.UserToolResultEvent:
		r.resolve(p.ToolUseID, toolResult(p.ToolUseID, p.Content, p.IsError))
	case *wire.UserInterruptEvent:
		r.cancelCalls("The user interrupted the session before this tool call completed.")
		r.halted = true
	case *wire.SpanModelRequestEndEvent:
		u := p.ModelUsage
		if u.InputTokens+u.OutputTokens > 0 {
			r.lastPromptTokens = u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens + u.OutputTokens
		}
	case *wire.AgentThreadContextCompactedEvent:
		var c compaction
		if err := json.Unmarshal(se.Private, &c); err != nil {
			return err
		}
		r.history = applyCompaction(r.history, c)
		r.lastPromptTokens = 0
	case *wire.SessionStatusIdleEvent:
		r.announced = p.StopReason.Type == wire.StopRequiresAction
		if p.StopReason.Type == wire.StopRetriesExhausted {
			r.halted = true
		}
	}
	return nil
}

// applyHeld applies the held turn input processed before the event created
// at before (all of it when before is nil), in log order.
func (r *run) applyHeld(before *time.Time) {
	n := 0
	for _, h := range r.replayHeld {
		if before != nil && !h.ProcessedAt.Before(*before) {
			break
		}
		r.applyInput(h)
		n++
	}
	r.replayHeld = r.replayHeld[n:]
}

// applyInput adds a user.message or system.message to the conversation.
func (r *run) applyInput(e wire.Event) {
	switch p := e.Payload.(type) {
	case *wire.UserMessageEvent:
		r.consumeUserMessage(p)
	case *wire.SystemMessageEvent:
		r.appendSystem(p)
	}
}

// appendAssistant adds a block to the assistant turn being built.
func (r *run) appendAssistant(b model.Block) {
	if n := len(r.history); n > 0 && r.history[n-1].Role == model.RoleAssistant {
		r.history[n-1].Content = append(r.history[n-1].Content, b)
		return
	}
	r.history = append(r.history, model.Message{Role: model.RoleAssistant, Content: []model.Block{b}})
}

// appendUser adds blocks to the user turn being built.
func (r *run) appendUser(bs ...model.Block) {
	if len(bs) == 0 {
		return
	}
	if n := len(r.history); n > 0 && r.history[n-1].Role == model.RoleUser {
		r.history[n-1].Content = append(r.history[n-1].Content, bs...)
		return
	}
	r.history = append(r.history, model.Message{Role: model.RoleUser, Content: bs})
}

// runnableState is where an allowed built-in call goes: executed here, or
// handed to the session's worker. The web tools always run on the server
// (a self-hosted worker never receives them), and so does the error for a tool the agent
// does not offer (a worker would leave it unanswered as not its own).
func (r *run) runnableState(name string) callState {
	if r.viaWorker() && !tool.ServerSide(name) {
		if _, ok := tool.Find(r.defs, name); ok {
			return callWorker
		}
	}
	return callReady
}

// workers is where the session's work items go.
func (r *run) workers() Workers {
	if r.selfHosted {
		return r.e.workers
	}
	return r.e.sandboxWorkers
}

// appendSystem adds a mid-conversation system turn (system.message).
func (r *run) appendSystem(p *wire.SystemMessageEvent) {
	if blocks := contentToModel(p.Content); len(blocks) > 0 {
		r.history = append(r.history, model.Message{Role: model.RoleSystem, Content: blocks})
	}
}

func (r *run) addCall(id, name string, kind tool.Kind, input json.RawMessage, state callState) {
	if len(input) == 0 {
		input = json.RawMessage(`{}`)
	}
	r.appendAssistant(model.ToolUse(id, name, input))
	r.calls = append(r.calls, &call{id: id, name: name, kind: kind, input: input, state: state})
	r.announced = false
}

func (r *run) findCall(id string) *call {
	for _, c := range r.calls {
		if c.id == id {
			return c
		}
	}
	return nil
}

// resolve records a call's result; once every call of the turn has one, the
// results go into the conversation as one user turn, in call order.
func (r *run) resolve(id string, result model.Block) {
	c := r.findCall(id)
	if c == nil || c.state == callDone {
		return
	}
	c.state, c.result = callDone, result
	r.flushCalls()
}

func (r *run) flushCalls() {
	if len(r.calls) == 0 {
		return
	}
	for _, c := range r.calls {
		if c.state != callDone {
			return
		}
	}
	blocks := make([]model.Block, 0, len(r.calls))
	for _, c := range r.calls {
		blocks = append(blocks, c.result)
	}
	r.calls = nil
	r.announced = false
	r.appendUser(blocks...)
}

// cancelCalls answers every open call with an error, so the conversation
// stays well formed (every tool_use has its tool_result).
func (r *run) cancelCalls(why string) []string {
	var ids []string
	for _, c := range r.calls {
		if c.state != callDone {
			c.state, c.result = callDone, model.ToolResult(c.id, why, true)
			ids = append(ids, c.id)
		}
	}
	r.flushCalls()
	return ids
}

func (r *run) applyConfirmation(p *wire.UserToolConfirmationEvent) {
	c := r.findCall(p.ToolUseID)
	if c == nil || c.state != callConfirm {
		return
	}
	if p.Result == wire.ConfirmAllow {
		c.state = callReady
		if c.kind == tool.Builtin {
			c.state = r.runnableState(c.name)
		}
		return
	}
	msg := "The user denied this tool call."
	if p.DenyMessage != nil && *p.DenyMessage != "" {
		msg += " Their message: " + *p.DenyMessage
	}
	r.resolve(c.id, model.ToolResult(c.id, msg, true))
}

func (r *run) consumeUserMessage(p *wire.UserMessageEvent) {
	// A message waits until every open call has its result (consume), so
	// this answers calls only in a log written before messages waited,
	// where a message took the place of the answers.
	r.cancelCalls("The user sent a new message instead of answering this tool call.")
	r.appendUser(contentToModel(p.Content)...)
	r.halted = false
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

// ---- committing --------------------------------------------------------

// pending is an event about to be appended, with its private data.
type pending struct {
	ev      wire.Event
	private []byte
}

func ev(p wire.EventPayload) pending { return pending{ev: wire.NewEvent(p)} }

// commit appends evs to the log and, when setStatus is non-empty or
// touch is set, rewrites the session row, in one transaction; then it
// publishes. r.mu must be held.
func (r *run) commit(ctx context.Context, setStatus string, evs ...pending) ([]store.Event, error) {
	// A commit is short and must not be cut off by a shutdown or an
	// interrupt halfway through a step: what happened is recorded.
	ctx = context.WithoutCancel(ctx)
	now := wire.Now()
	doc := r.doc
	sess := r.sess
	if setStatus != "" && setStatus != sess.Status {
		if setStatus == store.SessionRunning && sess.Status != store.SessionRescheduling {
			r.runningSince = now
		}
		if sess.Status == store.SessionRunning && setStatus != store.SessionRescheduling && !r.runningSince.IsZero() {
			active := now.Sub(r.runningSince).Seconds()
			doc.Stats.ActiveSeconds += active
			doc.Usage.ActiveSeconds += active
			r.runningSince = time.Time{}
		}
		sess.Status, doc.Status = setStatus, setStatus
		if setStatus != store.SessionIdle {
			doc.StopReason = nil
		} else if !r.mcpLoaded {
			// Failed MCP servers are tried again on the next run.
			r.mcpDefs = nil
		}
	}
	if len(r.unsaved) > 0 {
		evs = append(slices.Clip(r.unsaved), evs...)
	}
	rows := make([]*store.Event, len(evs))
	for i, p := range evs {
		data, err := json.Marshal(p.ev)
		if err != nil {
			return nil, errdefs.Internal(err, "encode %s", p.ev.EventType())
		}
		rows[i] = &store.Event{ID: p.ev.ID, Type: p.ev.EventType(), ProcessedAt: p.ev.ProcessedAt, Data: data, Private: p.private, CreatedAt: now}
		switch pl := p.ev.Payload.(type) {
		case *wire.SpanModelRequestEndEvent:
			doc.Usage.Add(pl.ModelUsage)
		case *wire.SessionStatusIdleEvent:
			sr := pl.StopReason
			doc.StopReason = &sr
		case *wire.AgentToolResultEvent:
			if c := r.findCall(pl.ToolUseID); c != nil {
				switch c.name {
				case "web_fetch":
					doc.Usage.ServerToolUse.WebFetchRequests++
				case "web_search":
					doc.Usage.ServerToolUse.WebSearchRequests++
				}
			}
		}
	}
	doc.UpdatedAt = now
	doc.Stats.DurationSeconds = now.Sub(doc.CreatedAt).Seconds()
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, errdefs.Internal(err, "encode session")
	}
	sess.Data, sess.UpdatedAt = data, now
	err = r.e.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if len(rows) > 0 {
			if err := tx.AppendEvents(ctx, r.id, rows); err != nil {
				return err
			}
		}
		return tx.UpdateSession(ctx, &sess)
	})
	if err != nil {
		return nil, err
	}
	r.sess, r.doc = sess, doc
	r.unsaved = nil
	out := make([]store.Event, len(rows))
	for i, row := range rows {
		out[i] = *row
		r.publish(*row)
	}
	return out, nil
}

// markProcessed stamps consumed client events and re-publishes them (the
// processed echo), in the same transaction as any events evs.
func (r *run) markProcessed(ctx context.Context, consumed []wire.Event) error {
	if len(consumed) == 0 {
		return nil
	}
	if len(r.unsaved) > 0 {
		// The events are stamped where they are logged.
		if _, err := r.commit(ctx, ""); err != nil {
			return err
		}
	}
	ctx = context.WithoutCancel(ctx)
	now := wire.Now()
	updates := make([]store.Event, len(consumed))
	for i, c := range consumed {
		c = c.Processed(now)
		data, err := json.Marshal(c)
		if err != nil {
			return errdefs.Internal(err, "encode %s", c.EventType())
		}
		updates[i] = store.Event{ID: c.ID, ProcessedAt: c.ProcessedAt, Data: data}
	}
	if err := r.e.st.SetEventsProcessed(ctx, r.id, updates); err != nil {
		return err
	}
	for _, u := range updates {
		r.publish(u)
	}
	return nil
}

// publish hands a committed event to the live streams. Callers hold r.mu,
// which keeps a session's events in log order on the streams.
func (r *run) publish(e store.Event) {
	if r.e.pub == nil {
		return
	}
	r.e.pub.Publish(r.id, events.Message{Seq: e.Seq, ID: e.ID, Type: e.Type, ThreadID: e.ThreadID, Data: e.Data})
}

// ---- driving -----------------------------------------------------------

// kick starts the driver if there may be work. r.mu must be held.
func (r *run) kick() {
	if r.driving || r.stopped || r.e.ctx.Err() != nil {
		return
	}
	r.driving = true
	r.e.wg.Add(1)
	go r.drive()
}

// resume is crash recovery: a session found running is marked rescheduled
// and driven again. An unfinished model request is closed with an error
// span; tool calls that were executing are reported to the model as failed.
func (r *run) resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx := r.e.ctx
	var evs []pending
	if start := r.openSpan(); start != "" {
		isErr := true
		evs = append(evs, ev(&wire.SpanModelRequestEndEvent{ModelRequestStartID: start, IsError: &isErr}))
	}
	evs = append(evs, ev(&wire.SessionStatusRescheduledEvent{}))
	for _, c := range r.calls {
		// A cloud session's worker ran in a sandbox of the stopped server;
		// what it was running is unknown, as for a call executed here.
		inSandbox := c.state == callWorker && !r.selfHosted
		if (c.state == callReady || inSandbox) && c.kind == tool.Builtin {
			evs = append(evs, failedCall(c.id, "The tool call was interrupted by a server restart before it completed; it may or may not have taken effect."))
		}
	}
	if _, err := r.commit(ctx, store.SessionRescheduling, evs...); err != nil {
		r.e.log.Error("reschedule session", "session", r.id, "err", err)
		return
	}
	r.resolveResults(evs)
	r.kick()
}

// viaWorker says the session runs sandbox tools on a worker speaking the
// work protocol: the customer's (selfHosted) or the one Hangar starts in
// the session's sandbox (cloud with Deps.SandboxWorkers).
func (r *run) viaWorker() bool { return r.selfHosted || r.e.sandboxWorkers != nil }

// failedCall is the logged result of a tool call that could not run or
// finish.
func failedCall(id, text string) pending {
	isErr := true
	return ev(&wire.AgentToolResultEvent{ToolUseID: id, Content: []wire.ContentBlock{wire.NewTextBlock(text)}, IsError: &isErr})
}

// resolveResults hands the calls whose results evs logged their result.
func (r *run) resolveResults(evs []pending) {
	for _, p := range evs {
		if res, ok := p.ev.Payload.(*wire.AgentToolResultEvent); ok {
			r.resolve(res.ToolUseID, toolResult(res.ToolUseID, res.Content, res.IsError))
		}
	}
}

// openSpan returns the id of a span.model_request_start without its end,
// which only a crash leaves behind. It is tracked from the log tail.
func (r *run) openSpan() string {
	var after int64
	var open string
	for {
		evs, err := r.e.st.EventsSince(r.e.ctx, r.id, after, 1000)
		if err != nil {
			return ""
		}
		for _, e := range evs {
			after = e.Seq
			switch e.Type {
			case wire.EventTypeSpanModelRequestStart:
				open = e.ID
			case wire.EventTypeSpanModelRequestEnd:
				open = ""
			}
		}
		if len(evs) < 1000 {
			return open
		}
	}
}

// stop cancels the current step and prevents new ones; it waits for the
// driver to notice.
func (r *run) stop() {
	r.mu.Lock()
	r.stopped = true
	if r.stepCancel != nil {
		r.stepCancel()
	}
	r.mu.Unlock()
	for i := 0; i < 2000; i++ {
		r.mu.Lock()
		d := r.driving
		r.mu.Unlock()
		if !d {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// action is a long-running step (a model request, tool execution) run
// outside the lock.
type action func(ctx context.Context)

func (r *run) drive() {
	defer r.e.wg.Done()
	deadline := time.Now().Add(r.e.opt.RunTimeout)
	for {
		r.mu.Lock()
		var act action
		if !r.stopped && r.e.ctx.Err() == nil {
			if time.Now().After(deadline) {
				r.watchdog()
			} else {
				act = r.next()
			}
		}
		if act == nil {
			r.driving = false
			size := r.size()
			r.mu.Unlock()
			r.e.settled(r, size)
			return
		}
		ctx, cancel := context.WithDeadline(r.e.ctx, deadline)
		r.stepCancel = cancel
		r.mu.Unlock()
		act(ctx)
		cancel()
		r.mu.Lock()
		r.stepCancel = nil
		r.mu.Unlock()
	}
}

// terminated runs once the session entered the absorbing terminated state:
// nothing of it runs any more, so its sandbox is stopped (the
// workspace stays until the session is deleted). r.mu is held.
func (r *run) terminated() {
	r.cancelCalls("The session was terminated before this tool call completed.")
	r.queue = nil
	if sb, ok := r.e.tools.(Sandboxes); ok {
		go func() {
			if err := sb.Release(context.Background(), r.id, false); err != nil {
				r.e.log.Warn("stop sandbox of terminated session", "session", r.id, "err", err)
			}
		}()
	}
}

// watchdog ends a run that exceeded RunTimeout. r.mu is held.
func (r *run) watchdog() {
	r.cancelCalls("The session exceeded its time limit before this tool call completed.")
	r.halted = true
	msg := fmt.Sprintf("the session ran for longer than %s without stopping and was halted", r.e.opt.RunTimeout)
	_, err := r.commit(r.e.ctx, store.SessionIdle,
		ev(&wire.SessionErrorEvent{Error: wire.NewSessionError("unknown_error", wire.RetryExhausted, msg)}),
		ev(&wire.SessionStatusIdleEvent{StopReason: wire.RetriesExhausted()}))
	if err != nil {
		r.e.log.Error("watchdog", "session", r.id, "err", err)
	}
}

// next decides what the session does now, doing the quick bookkeeping
// itself and returning the slow step, or nil when the session has nothing
// left to do. r.mu is held.
func (r *run) next() action {
	ctx := r.e.ctx
	if r.sess.Status == store.SessionTerminated {
		return nil // terminated is final: nothing runs again
	}
	if err := r.consume(ctx); err != nil {
		r.e.log.Error("consume events", "session", r.id, "err", err)
		return nil
	}
	var ready []*call
	var waiting []string
	atWorker := false
	for _, c := range r.calls {
		switch c.state {
		case callReady:
			ready = append(ready, c)
		case callConfirm, callClient:
			waiting = append(waiting, c.id)
		case callWorker:
			atWorker = true
		}
	}
	if len(ready) > 0 {
		r.captured = false
		if !r.ensureRunning(ctx) {
			return nil
		}
		return func(ctx context.Context) { r.execute(ctx, ready) }
	}
	if len(waiting) > 0 {
		// Confirmations and custom tools wait for the client
		// (requires_action), reported once; again when the session ran
		// meanwhile (the allowed calls of a partial answer).
		if !r.announced || r.sess.Status != store.SessionIdle {
			if _, err := r.commit(ctx, store.SessionIdle, ev(&wire.SessionStatusIdleEvent{StopReason: wire.RequiresAction(waiting...)})); err != nil {
				r.e.log.Error("report requires_action", "session", r.id, "err", err)
				return nil
			}
			r.announced = true
		}
		return nil
	}
	if atWorker {
		// The session runs while a worker works on its calls; the worker
		// is (re)queued in case the last one left before they came.
		r.callWorkers()
		r.ensureRunning(ctx)
		return nil
	}
	if r.awaitsModel() {
		r.captured = false
		if !r.ensureRunning(ctx) {
			return nil
		}
		return r.modelTurn
	}
	if r.sess.Status == store.SessionRunning || r.sess.Status == store.SessionRescheduling {
		// Outputs are filed before the session reports idle; the
		// capture is a step of its own so the session's lock is not held
		// while files are copied.
		if oc, ok := r.e.tools.(OutputCapturer); ok && !r.selfHosted && !r.captured {
			r.captured = true
			return func(ctx context.Context) {
				if err := oc.Capture(ctx, r.ws, r.id); err != nil {
					r.e.log.Error("capture session outputs", "session", r.id, "err", err)
				}
			}
		}
		r.captured = false
		if _, err := r.commit(ctx, store.SessionIdle, ev(&wire.SessionStatusIdleEvent{StopReason: wire.EndTurn()})); err != nil {
			r.e.log.Error("report idle", "session", r.id, "err", err)
		}
	}
	return nil
}

// ensureRunning moves the session to running. r.mu is held.
func (r *run) ensureRunning(ctx context.Context) bool {
	if r.sess.Status == store.SessionRunning {
		return true
	}
	if _, err := r.commit(ctx, store.SessionRunning, ev(&wire.SessionStatusRunningEvent{})); err != nil {
		r.e.log.Error("report running", "session", r.id, "err", err)
		return false
	}
	return true
}

// consume applies queued client events in order (an interrupt first) and
// stamps them processed. r.mu is held.
func (r *run) consume(ctx context.Context) error {
	if len(r.queue) == 0 {
		return nil
	}
	// An interrupt jumps the queue: it is handled before the
	// events queued ahead of it, which then start a fresh turn.
	if i := slices.IndexFunc(r.queue, func(e wire.Event) bool { return e.EventType() == wire.EventTypeUserInterrupt }); i >= 0 {
		intr := r.queue[i]
		r.queue = slices.Delete(r.queue, i, i+1)
		return r.interrupt(ctx, intr)
	}
	// Answers first: they close tool calls, and input waits for those.
	taken := map[string]bool{}
	for _, c := range r.queue {
		switch p := c.Payload.(type) {
		case *wire.UserToolConfirmationEvent:
			r.applyConfirmation(p)
		case *wire.UserCustomToolResultEvent:
			r.resolve(p.CustomToolUseID, toolResult(p.CustomToolUseID, p.Content, p.IsError))
		case *wire.UserToolResultEvent:
			r.resolve(p.ToolUseID, toolResult(p.ToolUseID, p.Content, p.IsError))
		default:
			continue
		}
		taken[c.ID] = true
	}
	// A message or system.message waits, in order, while any tool call
	// is open (running, at a worker, or at a gate waiting for the
	// client): the call gets its one result, and the model sees it before
	// the input that followed.
	var consumed, waiting []wire.Event
	for _, c := range r.queue {
		if !taken[c.ID] {
			if len(waiting) > 0 || r.openCalls() {
				waiting = append(waiting, c)
				continue
			}
			r.applyInput(c)
		}
		consumed = append(consumed, c)
	}
	r.queue = waiting
	if r.sess.Status != store.SessionRunning && r.hasWork() {
		if !r.ensureRunning(ctx) {
			return fmt.Errorf("could not start running")
		}
	}
	return r.markProcessed(ctx, consumed)
}

// openCalls reports whether a tool call of the current turn has no result.
func (r *run) openCalls() bool {
	return slices.ContainsFunc(r.calls, func(c *call) bool { return c.state != callDone })
}

func (r *run) hasWork() bool {
	for _, c := range r.calls {
		if c.state == callReady || c.state == callWorker {
			return true
		}
	}
	return len(r.calls) == 0 && r.awaitsModel()
}

// awaitsModel reports whether the conversation ends with input the model
// has not answered yet (system turns aside).
func (r *run) awaitsModel() bool {
	if r.halted {
		return false
	}
	for i := len(r.history) - 1; i >= 0; i-- {
		if r.history[i].Role != model.RoleSystem {
			return r.history[i].Role == model.RoleUser
		}
	}
	return false
}

// interrupt stops the agent: open tool calls are answered with
// an error, logged as their result (a custom tool's answer is the
// client's event, so only the model is told), the interrupt is stamped
// processed, and the session goes idle. r.mu is held.
func (r *run) interrupt(ctx context.Context, intr wire.Event) error {
	const why = "The user interrupted the session before this tool call completed."
	var evs []pending
	for _, c := range r.calls {
		switch {
		case c.state == callDone || c.kind == tool.Custom:
		case c.kind == tool.MCP:
			isErr := true
			evs = append(evs, ev(&wire.AgentMCPToolResultEvent{MCPToolUseID: c.id, Content: []wire.ContentBlock{wire.NewTextBlock(why)}, IsError: &isErr}))
		default:
			evs = append(evs, failedCall(c.id, why))
		}
	}
	r.cancelCalls(why)
	if err := r.markProcessed(ctx, []wire.Event{intr}); err != nil {
		return err
	}
	r.halted = len(r.queue) == 0
	if r.sess.Status != store.SessionIdle || r.announced || len(evs) > 0 {
		evs = append(evs, ev(&wire.SessionStatusIdleEvent{StopReason: wire.EndTurn()}))
		if _, err := r.commit(ctx, store.SessionIdle, evs...); err != nil {
			return err
		}
		r.announced = false
	}
	return r.consume(ctx)
}
