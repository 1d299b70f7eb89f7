package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
	"github.com/hangarhq/hangar/internal/workflow"
)

// session is the live runtime of one session. It owns what the session's
// conversations share: the lock that serializes everything the session
// does, its row and status, the queue of client events, the driver that
// takes the session from step to step, and the one commit path
// (commit.go). Everything in it is derived from the event log (rebuild.go).
type session struct {
	e  *Engine
	id string
	ws string

	mu   sync.Mutex
	sess store.Session
	doc  wire.Session
	// selfHosted: the session's environment is self_hosted. viaWorker:
	// sandbox tools run on a worker speaking the work protocol, the
	// customer's (selfHosted) or the one Hangar starts in the session's
	// sandbox (cloud with Deps.SandboxWorkers).
	selfHosted bool
	viaWorker  bool

	// main is the session's conversation with the model: the primary
	// thread's. mt holds a multiagent session's other threads (threads.go);
	// nil when the agent has no roster.
	main *conversation
	mt   *multi
	// advisors are the advisor's consultations, listed with the threads
	// (advisor.go).
	advisors []*advisorThread
	// oc is the active outcome (outcome.go), nil when there is none.
	oc *outcome
	// wf holds the session's workflow runs (workflow.go); nil when its
	// agent has workflows off.
	wf *workflows

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

	driving bool
	// driverDone is closed when the last driver started has ended.
	driverDone chan struct{}
	stopped    bool
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
	// spend is the session's exact list cost (usage.go).
	spend spend
	// wfPauseMu orders the budget's pauses and resumes of the workflow
	// runs, which run apart from mu (pauseWorkflows).
	wfPauseMu sync.Mutex
}

// stopWait bounds how long stop waits for the driver to notice.
const stopWait = 10 * time.Second

// kick starts the driver if there may be work. s.mu must be held.
func (s *session) kick() {
	if s.driving || s.stopped || s.e.ctx.Err() != nil {
		return
	}
	done := make(chan struct{})
	if !s.e.life.Go(func() { s.drive(done) }) {
		return
	}
	s.driving, s.driverDone = true, done
}

// resume is crash recovery: a session found running is marked rescheduled
// and driven again. An unfinished model request is closed with an error
// span; tool calls that were executing are reported to the model as failed.
func (s *session) resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx := s.e.ctx
	var evs []pending
	spans := s.openSpans()
	if start := spans[""]; start != "" {
		isErr := true
		evs = append(evs, ev(&wire.SpanModelRequestEndEvent{ModelRequestStartID: start, IsError: &isErr}))
	}
	evs = append(evs, ev(&wire.SessionStatusRescheduledEvent{}))
	for _, c := range s.main.calls {
		// A cloud session's worker ran in a sandbox of the stopped server;
		// what it was running is unknown, as for a call executed here.
		inSandbox := c.state == callWorker && !s.selfHosted
		if (c.state == callReady || inSandbox) && c.kind == tool.Builtin {
			evs = append(evs, failedCall(c.id, "The tool call was interrupted by a server restart before it completed; it may or may not have taken effect."))
		}
	}
	if _, err := s.commit(ctx, store.SessionRescheduling, evs...); err != nil {
		s.e.log.Error("reschedule session", "session", s.id, "err", err)
		return
	}
	s.main.resolveResults(evs)
	s.resumeThreads(spans)
	// Runs resume once the threads they may recognise were rescheduled.
	s.restoreWorkflows(ctx)
	s.kick()
}

// stop cancels the current step and prevents new ones; it waits for the
// driver to end (for stopWait at most: a step that ignores its
// cancellation must not hold up a delete).
func (s *session) stop() {
	s.mu.Lock()
	s.stopped = true
	if s.stepCancel != nil {
		s.stepCancel()
	}
	dones := []chan struct{}{s.driverDone}
	if s.mt != nil {
		for _, th := range s.mt.threads {
			if th.stepCancel != nil {
				th.stepCancel()
			}
			dones = append(dones, th.driverDone)
		}
	}
	s.mu.Unlock()
	t := time.NewTimer(stopWait)
	defer t.Stop()
	for _, done := range dones {
		if done == nil {
			continue
		}
		select {
		case <-done:
		case <-t.C:
			return
		}
	}
}

// action is a long-running step (a model request, tool execution) run
// outside the lock.
type action func(ctx context.Context)

// drive takes the session from step to step until it has nothing left to
// do; done is closed when it returns.
func (s *session) drive(done chan struct{}) {
	defer close(done)
	deadline := time.Now().Add(s.e.opt.RunTimeout)
	for {
		s.mu.Lock()
		var act action
		if !s.stopped && s.e.ctx.Err() == nil {
			if time.Now().After(deadline) {
				s.watchdog()
			} else {
				act = s.next()
			}
		}
		if act == nil {
			s.driving = false
			size := s.size()
			s.mu.Unlock()
			s.e.settled(s, size)
			return
		}
		ctx, cancel := context.WithDeadline(s.e.ctx, deadline)
		s.stepCancel = cancel
		s.mu.Unlock()
		act(ctx)
		cancel()
		s.mu.Lock()
		s.stepCancel = nil
		s.mu.Unlock()
	}
}

// watchdog ends a run that exceeded RunTimeout. s.mu is held.
func (s *session) watchdog() {
	s.main.cancelCalls("The session exceeded its time limit before this tool call completed.")
	s.main.halted = true
	msg := fmt.Sprintf("the session ran for longer than %s without stopping and was halted", s.e.opt.RunTimeout)
	_, err := s.commit(s.e.ctx, store.SessionIdle,
		ev(&wire.SessionErrorEvent{Error: wire.NewSessionError("unknown_error", wire.RetryExhausted, msg)}),
		ev(&wire.SessionStatusIdleEvent{StopReason: wire.RetriesExhausted()}))
	if err != nil {
		s.e.log.Error("watchdog", "session", s.id, "err", err)
	}
}

// next decides what the session does now, doing the quick bookkeeping
// itself and returning the slow step, or nil when the session has nothing
// left to do. s.mu is held.
func (s *session) next() action {
	ctx := s.e.ctx
	if s.sess.Status == store.SessionTerminated {
		return nil // terminated is absorbing
	}
	if err := s.consume(ctx); err != nil {
		s.e.log.Error("consume events", "session", s.id, "err", err)
		return nil
	}
	c := s.main
	if s.mt != nil {
		// Messages from the threads join the coordinator's conversation.
		s.deliver(ctx, c, &s.mt.inbox, "")
	}
	s.deliverNotices()
	var ready []*call
	var waiting []string
	atWorker := false
	for _, cl := range c.calls {
		switch cl.state {
		case callReady:
			ready = append(ready, cl)
		case callConfirm, callClient:
			waiting = append(waiting, cl.id)
		case callWorker:
			atWorker = true
		}
	}
	own := waiting
	waiting = append(slices.Clip(waiting), s.crossWaiting()...)
	if len(ready) > 0 {
		s.captured = false
		if !s.ensureRunning(ctx) {
			return nil
		}
		s.primaryStatus(ctx, wire.ThreadRunning, nil)
		return func(ctx context.Context) { c.execute(ctx, ready) }
	}
	if len(waiting) > 0 && s.threadsBusy() {
		// The session runs while a thread does; the client is asked once
		// every thread has stopped.
		sr := wire.EndTurn()
		if len(own) > 0 {
			sr = wire.RequiresAction(own...)
		}
		s.primaryStatus(ctx, wire.ThreadIdle, &sr)
		return nil
	}
	if len(waiting) > 0 {
		if len(own) > 0 {
			sr := wire.RequiresAction(own...)
			s.primaryStatus(ctx, wire.ThreadIdle, &sr)
		}
		// Confirmations and custom tools wait for the client
		// (requires_action), reported once; again when the session ran
		// meanwhile (the allowed calls of a partial answer).
		if !c.announced || s.sess.Status != store.SessionIdle {
			if _, err := s.commit(ctx, store.SessionIdle, ev(&wire.SessionStatusIdleEvent{StopReason: wire.RequiresAction(waiting...)})); err != nil {
				s.e.log.Error("report requires_action", "session", s.id, "err", err)
				return nil
			}
			c.announced = true
		}
		return nil
	}
	if atWorker {
		// The session runs while a worker works on its calls; the worker
		// is (re)queued in case the last one left before they came.
		s.callWorkers()
		s.ensureRunning(ctx)
		return nil
	}
	if c.awaitsModel() {
		if !s.overBudget() {
			s.captured = false
			if !s.ensureRunning(ctx) {
				return nil
			}
			s.primaryStatus(ctx, wire.ThreadRunning, nil)
			return c.modelTurn
		}
		// The budget allows no new request: the turn stops here and goes
		// on when the budget is raised or removed (budgetChanged).
		s.pauseAtBudget()
	}
	// stop is why the turn ends: at the budget when it kept a
	// conversation from its next request.
	var stop *wire.StopReason
	if s.spend.paused && s.overBudget() {
		br := wire.BudgetReached()
		stop = &br
	}
	if s.mt != nil && (s.sess.Status == store.SessionRunning || s.sess.Status == store.SessionRescheduling) {
		s.primaryStatus(ctx, wire.ThreadIdle, stop)
		if s.threadsBusy() {
			// The coordinator waits for its threads: the session runs on.
			return nil
		}
	}
	if s.sess.Status == store.SessionRunning || s.sess.Status == store.SessionRescheduling {
		// An active outcome's work is graded before the session can go
		// idle; the grader's requests wait for the budget like any other.
		if s.oc != nil && s.overBudget() {
			s.pauseAtBudget()
			br := wire.BudgetReached()
			stop = &br
		} else if act := s.outcomeNext(ctx); act != nil {
			return act
		}
		// Outputs are filed before the session reports idle; the capture
		// is a step of its own so the session's lock is not held while
		// files are copied.
		if oc := s.e.outputs; oc != nil && !s.selfHosted && !s.captured {
			s.captured = true
			return func(ctx context.Context) {
				if err := oc.Capture(ctx, s.ws, s.id); err != nil {
					s.e.log.Error("capture session outputs", "session", s.id, "err", err)
				}
			}
		}
		s.captured = false
		sr := wire.EndTurn()
		if stop != nil {
			sr = *stop
		}
		if _, err := s.commit(ctx, store.SessionIdle, ev(&wire.SessionStatusIdleEvent{StopReason: sr})); err != nil {
			s.e.log.Error("report idle", "session", s.id, "err", err)
		}
	}
	return nil
}

// ensureRunning moves the session to running when it takes up work.
// s.mu is held.
func (s *session) ensureRunning(ctx context.Context) bool {
	if s.sess.Status == store.SessionRunning {
		return true
	}
	if _, err := s.commit(ctx, store.SessionRunning, ev(&wire.SessionStatusRunningEvent{})); err != nil {
		s.e.log.Error("report running", "session", s.id, "err", err)
		return false
	}
	return true
}

// consume applies queued client events in order (an interrupt first) and
// stamps them processed. s.mu is held.
func (s *session) consume(ctx context.Context) error {
	if len(s.queue) == 0 {
		return nil
	}
	// An interrupt jumps the queue: it is handled before the events
	// queued ahead of it, which then start a fresh turn.
	if i := slices.IndexFunc(s.queue, func(e wire.Event) bool { return e.EventType() == wire.EventTypeUserInterrupt }); i >= 0 {
		intr := s.queue[i]
		s.queue = slices.Delete(s.queue, i, i+1)
		return s.interrupt(ctx, intr)
	}
	c := s.main
	// Answers first: they close tool calls, and input waits for those.
	taken := map[string]bool{}
	for _, q := range s.queue {
		switch p := q.Payload.(type) {
		case *wire.UserToolConfirmationEvent:
			c.applyConfirmation(p)
		case *wire.UserCustomToolResultEvent:
			c.resolve(p.CustomToolUseID, toolResult(p.CustomToolUseID, p.Content, p.IsError))
		case *wire.UserToolResultEvent:
			c.resolve(p.ToolUseID, toolResult(p.ToolUseID, p.Content, p.IsError))
		default:
			continue
		}
		taken[q.ID] = true
	}
	// A message or system.message waits, in order, while any tool call
	// is open (running, at a worker, or at a gate waiting for the
	// client): the call gets its one result, and the model sees it before
	// the input that followed.
	var consumed, waiting []wire.Event
	for _, q := range s.queue {
		if !taken[q.ID] {
			if len(waiting) > 0 || c.openCalls() {
				waiting = append(waiting, q)
				continue
			}
			c.applyInput(q)
		}
		consumed = append(consumed, q)
	}
	s.queue = waiting
	if s.sess.Status != store.SessionRunning && c.hasWork() {
		if !s.ensureRunning(ctx) {
			return fmt.Errorf("could not start running")
		}
	}
	return s.markProcessed(ctx, consumed)
}

// interrupt stops the agent: open tool calls are answered with an error,
// logged as their result (a custom tool's answer is the client's event,
// so only the model is told), the interrupt is stamped processed, and the
// session goes idle. s.mu is held.
func (s *session) interrupt(ctx context.Context, intr wire.Event) error {
	const why = "The user interrupted the session before this tool call completed."
	if p, ok := intr.Payload.(*wire.UserInterruptEvent); ok && p.SessionThreadID == "" {
		// Without a thread the interrupt stops every thread; one naming
		// the primary thread stops the coordinator only (a subagent's
		// thread is interrupted as it is sent: interruptThread).
		s.interruptThreads(ctx, why, "")
	}
	c := s.main
	var evs []pending
	for _, cl := range c.calls {
		switch {
		case cl.state == callDone || cl.kind == tool.Custom:
		case cl.kind == tool.MCP:
			isErr := true
			evs = append(evs, ev(&wire.AgentMCPToolResultEvent{MCPToolUseID: cl.id, Content: []wire.ContentBlock{wire.NewTextBlock(why)}, IsError: &isErr}))
		default:
			evs = append(evs, failedCall(cl.id, why))
		}
	}
	c.cancelCalls(why)
	evs = append(evs, s.interruptOutcome(ctx)...)
	if err := s.markProcessed(ctx, []wire.Event{intr}); err != nil {
		return err
	}
	c.halted = len(s.queue) == 0
	if s.threadsBusy() {
		// Only the coordinator was interrupted: the session runs on with
		// its threads.
		if len(evs) > 0 {
			if _, err := s.commit(ctx, "", evs...); err != nil {
				return err
			}
		}
		s.primaryStatus(ctx, wire.ThreadIdle, nil)
		c.announced = false
		return s.consume(ctx)
	}
	if s.sess.Status != store.SessionIdle || c.announced || len(evs) > 0 {
		evs = append(evs, ev(&wire.SessionStatusIdleEvent{StopReason: wire.EndTurn()}))
		if _, err := s.commit(ctx, store.SessionIdle, evs...); err != nil {
			return err
		}
		c.announced = false
	}
	return s.consume(ctx)
}

// answerKey keys s.answers: one answer of each kind per tool call.
func answerKey(kind, target string) string { return kind + " " + target }

// answerTarget is the tool call an answer event refers to.
func answerTarget(p wire.EventPayload) string {
	switch p := p.(type) {
	case *wire.UserToolConfirmationEvent:
		return p.ToolUseID
	case *wire.UserCustomToolResultEvent:
		return p.CustomToolUseID
	case *wire.UserToolResultEvent:
		return p.ToolUseID
	}
	return ""
}

// workers is where the session's work items go.
func (s *session) workers() Workers {
	if s.selfHosted {
		return s.e.workers
	}
	return s.e.sandboxWorkers
}

// callWorkers makes sure a worker serves a worker-served session that has
// work (new input, or tool calls for the worker). s.mu is held.
func (s *session) callWorkers() {
	w := s.workers()
	if !s.viaWorker || w == nil || (!s.selfHosted && !s.hasSandboxTools()) {
		// A cloud session whose agent offers no sandbox tool needs no
		// worker in its sandbox.
		return
	}
	if err := w.Enqueue(s.e.ctx, s.ws, s.doc.EnvironmentID, s.id); err != nil {
		s.e.log.Error("enqueue work", "session", s.id, "err", err)
	}
}

// hasSandboxTools reports whether the agent offers a tool a worker runs.
func (s *session) hasSandboxTools() bool {
	for _, d := range s.main.defs {
		if d.Kind == tool.Builtin && !tool.ServerSide(d.Name) && !isThreadTool(d.Name) && (s.wf == nil || !workflow.IsTool(d.Name)) {
			return true
		}
	}
	return false
}
