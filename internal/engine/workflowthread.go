package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
	"github.com/hangarhq/hangar/internal/workflow"
)

// The threads of workflow runs. Each agent call of a program is a session
// thread the server creates: session.thread_created (with the run's id) on
// the primary thread and the prompt, as agent.thread_message_received
// from the primary thread, on the new thread, in one commit. The thread's
// driver runs it like any subagent's; when its turn ends, its answer goes
// back to the program (not to the coordinator), and the thread is
// archived with its outcome in the private data of its terminated event.
// Such threads do not count toward the session's limit of open threads;
// the run's own limits bound them.
//
// After a restart a program is replayed: an agent call whose thread is in
// the log (the run's id and the call's index are in the private data of
// session.thread_created) is that thread, not a new one: a finished thread
// answers at once, one that was working goes on (it was rescheduled with
// the session's other threads) and answers when it is done.

// wfThread is a workflow thread's tie to its agent call.
type wfThread struct {
	runID string
	index int
	// done is closed once the outcome (answer, or failure) is known.
	done    chan struct{}
	settled bool
	answer  string
	failure string
}

// wfCreatedPrivate is the private data of a workflow thread's
// session.thread_created (a threadCreatedPrivate with the call).
type wfCreatedPrivate struct {
	Agent         wire.SessionAgent `json:"agent"`
	WorkflowRunID string            `json:"workflow_run_id"`
	WorkflowIndex int               `json:"workflow_index"`
}

// wfTerminatedPrivate is the private data of an archived workflow
// thread's own terminated event.
type wfTerminatedPrivate struct {
	Archived bool    `json:"archived"`
	Answer   *string `json:"workflow_answer,omitempty"`
	Failure  string  `json:"workflow_failure,omitempty"`
}

func newWFThread(runID string, index int) *wfThread {
	return &wfThread{runID: runID, index: index, done: make(chan struct{})}
}

// settle records a workflow thread's outcome, once.
func (w *wfThread) settle(answer, failure string) {
	if w.settled {
		return
	}
	w.settled, w.answer, w.failure = true, answer, failure
	close(w.done)
}

// wfRunner is the registry's AgentRunner.
type wfRunner struct{ s *session }

func (r wfRunner) RunAgent(ctx context.Context, req workflow.ThreadRequest) (string, error) {
	s := r.s
	s.mu.Lock()
	if s.stopped || s.sess.Status == store.SessionTerminated {
		s.mu.Unlock()
		return "", errors.New("the session is not running")
	}
	t := s.findWorkflowThread(req.RunID, req.Index)
	if t == nil {
		var err error
		if t, err = s.spawnWorkflowThread(req); err != nil {
			s.mu.Unlock()
			return "", err
		}
	}
	s.checkWorkflowThread(t)
	w := t.wf
	s.mu.Unlock()

	select {
	case <-w.done:
	case <-ctx.Done():
		if errors.Is(context.Cause(ctx), workflow.ErrSuspended) {
			// Shutting down: the thread stays as it is, to be picked up
			// again when the run resumes.
			return "", ctx.Err()
		}
		s.mu.Lock()
		s.stopWorkflowThread(t, "The workflow run ended before this agent answered.")
		s.mu.Unlock()
		return "", ctx.Err()
	}
	s.mu.Lock()
	s.archiveWorkflowThread(t)
	s.mu.Unlock()
	if w.failure != "" {
		return "", errors.New(w.failure)
	}
	return w.answer, nil
}

// findWorkflowThread finds the thread of a run's agent call, the latest
// if there are several. s.mu is held.
func (s *session) findWorkflowThread(runID string, index int) *thread {
	for i := len(s.mt.threads) - 1; i >= 0; i-- {
		t := s.mt.threads[i]
		if t.wf != nil && t.wf.runID == runID && t.wf.index == index {
			return t
		}
	}
	return nil
}

// workflowAgent is the configuration an agent call runs with: a
// predefined agent's pinned version, or the session agent's model, tools,
// MCP servers and skills under the program's name and system prompt.
// s.mu is held.
func (s *session) workflowAgent(spec workflow.AgentSpec) (wire.SessionAgent, error) {
	if spec.Predefined != "" {
		a, ok := s.wf.predefined[spec.Predefined]
		if !ok {
			return wire.SessionAgent{}, fmt.Errorf("no predefined agent is called %q", spec.Predefined)
		}
		return a, nil
	}
	a := s.doc.Agent
	a.Multiagent = nil
	a.Name = spec.Name
	if a.Name == "" {
		a.Name = "workflow agent"
	}
	a.Description, a.System = nil, nil
	if spec.Description != "" {
		d := spec.Description
		a.Description = &d
	}
	if spec.System != "" {
		sys := spec.System
		a.System = &sys
	}
	return a, nil
}

// spawnWorkflowThread creates the thread of an agent call and starts it on
// the prompt. s.mu is held.
func (s *session) spawnWorkflowThread(req workflow.ThreadRequest) (*thread, error) {
	agent, err := s.workflowAgent(req.Agent)
	if err != nil {
		return nil, err
	}
	id := ids.New(ids.Thread)
	runID := req.RunID
	created := ev(&wire.SessionThreadCreatedEvent{AgentName: agent.Name, SessionThreadID: id, WorkflowRunID: &runID})
	created.private, _ = json.Marshal(wfCreatedPrivate{Agent: agent, WorkflowRunID: req.RunID, WorkflowIndex: req.Index})
	from := s.doc.Agent.Name
	content := []wire.ContentBlock{wire.NewTextBlock(req.Prompt)}
	prompt := ev(&wire.AgentThreadMessageReceivedEvent{FromSessionThreadID: s.mt.primaryID, FromAgentName: &from, Content: content})
	prompt.thread = id
	if _, err := s.commit(s.e.ctx, "", created, prompt); err != nil {
		return nil, fmt.Errorf("creating the agent's thread: %w", err)
	}
	t := s.newThread(id, agent, wire.Now())
	t.wf = newWFThread(req.RunID, req.Index)
	t.conv.appendUser(messageBlocks(s.mt.primaryID, from, content)...)
	s.kickThread(t)
	return t, nil
}

// checkWorkflowThread settles a workflow thread whose work is over: the
// answer of a turn that ended, or the failure of a thread that stopped
// without one (its model requests kept failing, it was interrupted,
// archived or ended with the session). A thread that works, or waits for
// the client, is not settled. s.mu is held.
func (s *session) checkWorkflowThread(t *thread) {
	w := t.wf
	if w == nil || w.settled {
		return
	}
	c := t.conv
	switch {
	case t.archivedAt != nil || t.status == wire.ThreadTerminated:
		w.settle("", "The agent's thread ended before it answered.")
	case t.driving || t.status != wire.ThreadIdle || len(t.inbox) > 0 || c.openCalls():
	case c.halted:
		w.settle("", "The agent stopped before it answered (its model requests failed, or it was interrupted).")
	case !c.awaitsModel() && len(c.history) > 0:
		w.settle(lastAnswer(c)[0].Text, "")
	}
}

// workflowTurnEnded logs the end of a workflow thread's turn: it goes idle
// and sends nothing to the coordinator (its answer is the program's).
// s.mu is held.
func (s *session) workflowTurnEnded(ctx context.Context, t *thread) {
	if _, err := s.commit(ctx, "", s.threadStatus(t, wire.ThreadIdle, nil)...); err != nil {
		s.e.log.Error("report workflow thread idle", "session", s.id, "thread", t.id, "err", err)
	}
}

// archiveWorkflowThread archives a settled workflow thread, recording its
// outcome. s.mu is held.
func (s *session) archiveWorkflowThread(t *thread) {
	w := t.wf
	if t.archivedAt != nil || s.sess.Status == store.SessionTerminated {
		return
	}
	priv := wfTerminatedPrivate{Archived: true, Failure: w.failure}
	if w.failure == "" {
		a := w.answer
		priv.Answer = &a
	}
	prev := t.status
	var evs []pending
	if prev != wire.ThreadTerminated {
		term := s.threadStatus(t, wire.ThreadTerminated, nil)
		term[0].private, _ = json.Marshal(priv)
		evs = append(evs, term...)
	}
	if _, err := s.commit(s.e.ctx, "", evs...); err != nil {
		t.status = prev
		s.e.log.Error("archive workflow thread", "session", s.id, "thread", t.id, "err", err)
		return
	}
	now := wire.Now()
	t.archivedAt, t.updated = &now, now
	s.kick()
}

// stopWorkflowThread ends the thread of a call its run no longer waits
// for (the run was stopped or timed out). s.mu is held.
func (s *session) stopWorkflowThread(t *thread, why string) {
	if t.stepCancel != nil {
		t.stepCancel()
	}
	var evs []pending
	for _, cl := range t.conv.calls {
		if cl.state != callDone {
			p := failedCall(cl.id, why)
			p.thread = t.id
			evs = append(evs, p)
		}
	}
	if len(evs) > 0 {
		if _, err := s.commit(s.e.ctx, "", evs...); err != nil {
			s.e.log.Error("stop workflow thread", "session", s.id, "thread", t.id, "err", err)
		}
	}
	t.conv.cancelCalls(why)
	t.conv.halted = true
	t.wf.settle("", why)
	s.archiveWorkflowThread(t)
}

// workflowRunID is the run a thread works for, nil for other threads.
func (t *thread) workflowRunID() *string {
	if t.wf == nil {
		return nil
	}
	id := t.wf.runID
	return &id
}

// replayWorkflowThread ties a rebuilt thread to its agent call.
func (s *session) replayWorkflowThread(se store.Event, p *wire.SessionThreadCreatedEvent) {
	if p.WorkflowRunID == nil || s.mt == nil {
		return
	}
	t := s.mt.byID[p.SessionThreadID]
	if t == nil {
		return
	}
	var priv wfCreatedPrivate
	if json.Unmarshal(se.Private, &priv) != nil || priv.WorkflowRunID == "" {
		return
	}
	t.wf = newWFThread(priv.WorkflowRunID, priv.WorkflowIndex)
}

// replayWorkflowOutcome settles a rebuilt workflow thread that was
// archived with its outcome.
func (s *session) replayWorkflowOutcome(se store.Event) {
	t := s.mt.byID[se.ThreadID]
	if t == nil || t.wf == nil || len(se.Private) == 0 {
		return
	}
	var priv wfTerminatedPrivate
	if json.Unmarshal(se.Private, &priv) != nil {
		return
	}
	switch {
	case priv.Answer != nil:
		t.wf.settle(*priv.Answer, "")
	case priv.Failure != "":
		t.wf.settle("", priv.Failure)
	}
}
