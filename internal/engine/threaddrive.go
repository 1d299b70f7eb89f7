package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// A subagent thread's driver and what reaches a thread from outside: the
// client's answers to its calls, interrupts, archiving, crash recovery.

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
			// A workflow's program may be waiting for this thread.
			s.checkWorkflowThread(t)
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
	evs := []pending{se}
	if t.wf == nil {
		evs = append(evs, s.answerParent(t, "The thread stopped: "+msg+"."))
	}
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
	var waiting, atWorker []string
	for _, cl := range c.calls {
		switch cl.state {
		case callReady:
			ready = append(ready, cl)
		case callConfirm, callClient:
			waiting = append(waiting, cl.id)
		case callWorker:
			atWorker = append(atWorker, cl.id)
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
	case len(atWorker) > 0:
		// The thread runs while the worker works on its calls; the client
		// is asked for the rest once they are done, so that the thread's
		// idle never tells the worker to drop a call it should run.
		if !running() {
			return nil
		}
		s.postToWorker(ctx, t, atWorker)
		return nil
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
			s.noteCopies(t, evs)
			s.main.announced = false
		}
		s.kick()
		return nil
	case c.awaitsModel() && s.overBudget():
		// The budget allows no new request: the thread stops where it is
		// and goes on when the budget is raised or removed.
		s.pauseAtBudget()
		if t.status != wire.ThreadIdle {
			if _, err := c.commit(ctx, store.SessionIdle, ev(&wire.SessionStatusIdleEvent{StopReason: wire.BudgetReached()})); err != nil {
				s.e.log.Error("report thread budget reached", "session", s.id, "thread", t.id, "err", err)
				return nil
			}
			s.kick()
		}
		return nil
	case c.awaitsModel():
		if !running() {
			return nil
		}
		return c.modelTurn
	}
	if (t.status == wire.ThreadRunning || t.status == wire.ThreadRescheduling) && t.wf != nil {
		// A workflow thread's answer is its program's.
		s.workflowTurnEnded(ctx, t)
		return nil
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

// noteCopies records the routes of the copies among evs, just logged.
func (s *session) noteCopies(t *thread, evs []pending) {
	for _, p := range evs {
		if p.thread == "" && p.ev.SessionThreadID() == t.id {
			var cp crossPostPrivate
			if json.Unmarshal(p.private, &cp) == nil && cp.Origin != "" {
				s.mt.routes[p.ev.ID] = route{th: t, callID: cp.Origin}
				s.mt.crossed[cp.Origin] = p.ev.ID
			}
		}
	}
}

// postToWorker hands a self_hosted session's subagent calls to the
// customer's worker. The worker reads the session's own stream, so each
// call is copied onto the primary thread with the thread's id (which is
// also how the SDK's worker keeps a shell per thread, and runs the calls
// of different threads at once); its result, naming the copy, is routed
// back to the thread (routeAnswer). s.mu is held.
func (s *session) postToWorker(ctx context.Context, t *thread, calls []string) {
	var evs []pending
	for _, id := range calls {
		if _, ok := s.mt.crossed[id]; ok {
			continue
		}
		if cp, ok := s.crossPost(t, id); ok {
			evs = append(evs, cp)
		}
	}
	if len(evs) > 0 {
		if _, err := s.commit(ctx, "", evs...); err != nil {
			s.e.log.Error("hand thread calls to the worker", "session", s.id, "thread", t.id, "err", err)
			return
		}
		s.noteCopies(t, evs)
	}
	// Queued again in case the last worker left before the calls came.
	s.callWorkers()
}

// crossPost copies a subagent's tool call that waits for the client, or
// for the session's worker, onto the primary thread, with the thread's id.
func (s *session) crossPost(t *thread, callID string) (pending, bool) {
	cl := t.conv.findCall(callID)
	if cl == nil {
		return pending{}, false
	}
	// The copy carries the verdict the thread's call was given.
	perm, eval := wire.PermissionAsk, wire.EvaluationAlwaysAsk()
	if cl.eval != nil {
		perm, eval = cl.perm, cl.eval
	} else if d, ok := tool.Find(t.conv.allDefs(), cl.name); ok {
		perm, eval = evaluate(d.Permission)
	}
	var p wire.EventPayload
	switch {
	case cl.state == callWorker:
		// Allowed, by its policy or by the client's confirmation: the
		// worker runs it without waiting for one.
		p = &wire.AgentToolUseEvent{Name: cl.name, Input: wire.RawObject(cl.input), EvaluatedPermission: wire.PermissionAllow, Evaluation: eval, SessionThreadID: t.id}
	case cl.state == callClient:
		p = &wire.AgentCustomToolUseEvent{Name: cl.name, Input: wire.RawObject(cl.input), EvaluatedPermission: wire.PermissionAllow, SessionThreadID: t.id}
	case cl.kind == tool.MCP:
		p = &wire.AgentMCPToolUseEvent{Name: cl.name, MCPServerName: cl.server, Input: wire.RawObject(cl.input), EvaluatedPermission: perm, Evaluation: eval, SessionThreadID: t.id}
	default:
		p = &wire.AgentToolUseEvent{Name: cl.name, Input: wire.RawObject(cl.input), EvaluatedPermission: perm, Evaluation: eval, SessionThreadID: t.id}
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
	case *wire.UserToolResultEvent:
		if !s.selfHosted {
			return wire.Event{}, false, nil
		}
		target, field, want, what = p.ToolUseID, path+".tool_use_id", callWorker, "tool result"
	default:
		return wire.Event{}, false, nil
	}
	t, callID := s.findThreadCall(target)
	if t == nil {
		return wire.Event{}, false, nil
	}
	kind := p.EventType()
	if prev, ok := s.answers[answerKey(kind, callID)]; ok {
		if kind == wire.EventTypeUserToolResult {
			// A worker retrying a result it already delivered gets the
			// first echo, as for the primary thread's calls.
			return prev, true, nil
		}
		return wire.Event{}, true, errdefs.Conflict("%s: tool call %s was already answered", field, target)
	}
	cl := t.conv.findCall(callID)
	if cl == nil || cl.state != want {
		return wire.Event{}, true, errdefs.Invalid("%s: tool call %s does not wait for a %s", field, target, what)
	}
	setThreadID(p, t.id)
	pe := ev(p)
	pe.ev = pe.ev.Processed(wire.Now())
	evs := []pending{pe}
	if res, ok := p.(*wire.UserToolResultEvent); ok {
		// The thread's own trace gets the result too, naming its call.
		own := ev(&wire.UserToolResultEvent{ToolUseID: callID, Content: res.Content, IsError: res.IsError, SessionThreadID: t.id})
		own.ev = own.ev.Processed(wire.Now())
		own.thread = t.id
		evs = append(evs, own)
	}
	if _, err := s.commit(ctx, "", evs...); err != nil {
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

// applyRouted applies a client's (or the worker's) answer to a subagent's
// call.
func (s *session) applyRouted(t *thread, callID string, e wire.Event) {
	s.answers[answerKey(e.EventType(), callID)] = e
	// Also under the id the answer named (a copy's), so a repeat is known.
	s.answers[answerKey(e.EventType(), answerTarget(e.Payload))] = e
	switch p := e.Payload.(type) {
	case *wire.UserToolConfirmationEvent:
		q := *p
		q.ToolUseID = callID
		t.conv.applyConfirmation(&q)
	case *wire.UserCustomToolResultEvent:
		t.conv.resolve(callID, toolResult(callID, p.Content, p.IsError))
	case *wire.UserToolResultEvent:
		t.conv.resolve(callID, toolResult(callID, p.Content, p.IsError))
	}
	if id, ok := s.mt.crossed[callID]; ok {
		s.answers[answerKey(e.EventType(), id)] = e
		delete(s.mt.routes, id)
		// A confirmed call of a self_hosted session gets a copy of its
		// own for the worker.
		delete(s.mt.crossed, callID)
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
		if only == "" && t.wf != nil {
			// No client event ends a workflow run: its threads go on.
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
	if t := s.mt.byID[only]; t != nil {
		s.checkWorkflowThread(t)
	}
}

// interruptThread handles a user.interrupt naming a subagent's thread: it
// is logged processed, and the thread stops at once. ok is false for every
// other event (an interrupt of the whole session, or of the primary
// thread, goes through the queue). s.mu is held.
func (s *session) interruptThread(ctx context.Context, path string, p wire.EventPayload) (wire.Event, bool, error) {
	intr, isIntr := p.(*wire.UserInterruptEvent)
	if !isIntr || intr.SessionThreadID == "" || intr.SessionThreadID == primaryThreadID(s.id) {
		return wire.Event{}, false, nil
	}
	if s.mt == nil || s.mt.byID[intr.SessionThreadID] == nil {
		return wire.Event{}, false, errdefs.Invalid("%s.session_thread_id: session %s has no thread %s", path, s.id, intr.SessionThreadID)
	}
	pe := ev(p)
	pe.ev = pe.ev.Processed(wire.Now())
	if _, err := s.commit(ctx, "", pe); err != nil {
		return wire.Event{}, false, err
	}
	s.interruptThreads(ctx, "The user interrupted the session before this tool call completed.", intr.SessionThreadID)
	// The session may have been waiting on this thread only.
	s.kick()
	return pe.ev, true, nil
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
		if t.wf != nil {
			t.wf.settle("", why)
		}
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
