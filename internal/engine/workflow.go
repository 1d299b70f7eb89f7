package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
	"github.com/hangarhq/hangar/internal/workflow"
)

// Dynamic workflows. A session whose agent has multiagent_20261001 with
// workflows enabled keeps a workflow.Registry (its runs). The engine gives
// it:
//
//   - the workflow tools, on the primary conversation's tool list; their
//     calls are logged like any built-in call and run on the server
//     (runWorkflowTool);
//   - an EventSink that logs the workflow_run.* events on the primary
//     thread through the session's one commit path;
//   - an AgentRunner (workflowthread.go) that runs each agent call of a
//     program in a server-created session thread;
//   - a Store keeping each run's latest Snapshot as a record, so a restart
//     resumes the run by replaying its program.
//
// When a run ends, the sink queues its ending notice for the agent (under
// the session's lock, in the commit that logs workflow_run.status_ended, so
// the session never reports an end_turn idle between the run's end and the
// agent's turn on it). The notice joins the primary conversation as user
// input once the conversation has no open tool call, and is recorded in the
// private data of the next span.model_request_start, which is where a
// rebuild puts it back.

// workflows is a session's workflow state, guarded by the session's lock
// (the registry has locks of its own and is never called holding one of
// its locks across the session's).
type workflows struct {
	reg *workflow.Registry
	// agents is what the programs may run; predefined maps a predefined
	// agent's name to its pinned configuration.
	agents     workflow.Agents
	predefined map[string]wire.SessionAgent
	// open are the runs whose workflow_run.created was logged and whose
	// workflow_run.status_ended was not: while one is, the session runs.
	open map[string]bool
	// logged is what the log says of each run, so that a run resumed
	// from a state saved just before the server stopped does not log its
	// creation or status twice, nor run again once its end is logged.
	logged map[string]*wfLogged
	// notices are the ending notices not yet given to the agent; unlogged
	// the ones given to it that no span.model_request_start recorded yet.
	notices  []wfNotice
	unlogged []wfNotice
	// ended are, while rebuilding, the runs that ended without their
	// notice being recorded.
	ended []string
	// restored is set once the saved runs were handed to the registry.
	restored bool
	// archived is set when the session was archived: its stopped runs give
	// the agent no turn.
	archived bool
}

// wfLogged is what the log holds of a run.
type wfLogged struct {
	created bool
	status  string
	ended   *wire.WorkflowRunResult
}

func (w *workflows) loggedRun(id string) *wfLogged {
	l := w.logged[id]
	if l == nil {
		l = &wfLogged{}
		w.logged[id] = l
	}
	return l
}

// note records a logged event of a run.
func (w *workflows) note(e wire.Event) {
	switch p := e.Payload.(type) {
	case *wire.WorkflowRunCreatedEvent:
		w.loggedRun(p.WorkflowRunID).created = true
		w.open[p.WorkflowRunID] = true
	case *wire.WorkflowRunStatusRunningEvent:
		w.loggedRun(p.WorkflowRunID).status = workflow.StatusRunning
	case *wire.WorkflowRunStatusIdleEvent:
		w.loggedRun(p.WorkflowRunID).status = workflow.StatusIdle
	case *wire.WorkflowRunStatusEndedEvent:
		res := p.Result
		l := w.loggedRun(p.WorkflowRunID)
		l.status, l.ended = workflow.StatusEnded, &res
		delete(w.open, p.WorkflowRunID)
	}
}

// logsTwice reports whether e repeats what the log already says of its
// run (a creation, or the status the run is in).
func (w *workflows) logsTwice(e wire.Event) bool {
	switch p := e.Payload.(type) {
	case *wire.WorkflowRunCreatedEvent:
		return w.loggedRun(p.WorkflowRunID).created
	case *wire.WorkflowRunStatusRunningEvent:
		return w.loggedRun(p.WorkflowRunID).status == workflow.StatusRunning
	case *wire.WorkflowRunStatusIdleEvent:
		return w.loggedRun(p.WorkflowRunID).status == workflow.StatusIdle
	case *wire.WorkflowRunStatusEndedEvent:
		return w.loggedRun(p.WorkflowRunID).ended != nil
	}
	return false
}

// wfNotice is a run's ending notice for the agent.
type wfNotice struct {
	Run  string `json:"run"`
	Text string `json:"text"`
}

// wfSpanPrivate is the private data of a span.model_request_start whose
// request was the first to carry ending notices.
type wfSpanPrivate struct {
	Notices []wfNotice `json:"workflow_notices"`
}

// workflowsEnabled reads the session agent's workflows configuration.
func workflowsEnabled(a wire.SessionAgent) (*wire.MultiagentGroup, bool) {
	m, err := multiagentOf(a)
	if err != nil || m.V20261001 == nil || m.V20261001.Workflows.Type != "enabled" {
		return nil, false
	}
	return &m.V20261001.Workflows, true
}

// initWorkflows sets up a rebuilt session's workflow state when its agent
// has workflows enabled: the registry, the predefined agents, and the
// thread state the runs' threads live in. It runs before the primary
// conversation's tools are listed.
func (s *session) initWorkflows(ctx context.Context) error {
	g, ok := workflowsEnabled(s.doc.Agent)
	if !ok {
		return nil
	}
	w := &workflows{open: map[string]bool{}, logged: map[string]*wfLogged{}, predefined: map[string]wire.SessionAgent{}}
	w.agents.Inline = g.InlineAgents == nil || g.InlineAgents.Type != "disabled"
	for _, ref := range g.PredefinedAgents {
		var sa wire.SessionAgent
		if ref.ID == s.doc.Agent.ID {
			sa = s.doc.Agent
		} else {
			rec, err := s.e.st.Get(ctx, s.ws, store.KindAgentVersion, store.AgentVersionID(ref.ID, ref.Version))
			if err != nil {
				return fmt.Errorf("workflow agent %s version %d: %w", ref.ID, ref.Version, err)
			}
			var a wire.Agent
			if err := json.Unmarshal(rec.Data, &a); err != nil {
				return errdefs.Internal(err, "decode agent %s", ref.ID)
			}
			sa = wire.SessionAgentFrom(a)
		}
		sa.Multiagent = nil
		if _, dup := w.predefined[sa.Name]; !dup {
			w.agents.Predefined = append(w.agents.Predefined, sa.Name)
		}
		w.predefined[sa.Name] = sa
	}
	if s.mt == nil {
		// The runs' threads are session threads: the session needs the
		// thread state even when its agent has no roster.
		s.mt = &multi{primaryID: primaryThreadID(s.id), byID: map[string]*thread{}, routes: map[string]route{}, crossed: map[string]string{}, inFlight: map[string]inFlight{}}
	}
	w.reg = workflow.NewRegistry(workflow.Config{
		Runner: wfRunner{s},
		Events: wfSink{s},
		Store:  &wfStore{st: s.e.st, ws: s.ws, session: s.id, rev: map[string]wfSaved{}},
		Ended:  s.workflowEnded,
		Logger: s.e.log.With("session", s.id),
		Agents: w.agents,
	})
	s.wf = w
	return nil
}

// withWorkflowTools adds the workflow tools to the primary conversation's
// tools. A tool of the agent's own with the same name wins.
func (s *session) withWorkflowTools(defs []tool.Def) []tool.Def {
	if s.wf == nil {
		return defs
	}
	for _, t := range workflow.Tools(s.wf.agents) {
		if _, taken := tool.Find(defs, t.Name); !taken {
			defs = append(defs, tool.Def{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema, Kind: tool.Builtin})
		}
	}
	return defs
}

// isWorkflowCall reports whether a primary conversation's call is one the
// workflow tools answer.
func (c *conversation) isWorkflowCall(name string) bool {
	return c.th == nil && c.s.wf != nil && workflow.IsTool(name)
}

// runWorkflowTool answers the agent's call of a workflow tool. s.mu is not
// held: a start logs workflow_run.created through the sink.
func (s *session) runWorkflowTool(ctx context.Context, cl *call) ToolResult {
	res, err := workflow.ExecuteTool(ctx, s.wf.reg, cl.name, cl.input)
	if err != nil {
		return errorResult("The workflow tool could not run: " + err.Error())
	}
	return ToolResult{Content: []wire.ContentBlock{wire.NewTextBlock(res.Content)}, IsError: res.IsError}
}

// workflowsBusy reports whether a run works or an ending notice waits for
// the agent: the session then stays running. A run whose agent calls all
// wait for the client (a confirmation, a custom tool's result) does not
// keep it running, so that the session can report requires_action. At
// the budget the runs are paused: only a thread still at work keeps the
// session running (a notice needs a model request, which waits too).
// s.mu is held.
func (s *session) workflowsBusy() bool {
	w := s.wf
	if w == nil {
		return false
	}
	held := s.spend.paused && s.overBudget()
	if len(w.notices) > 0 && !held {
		return true
	}
	for runID := range w.open {
		live, asking, working := 0, 0, 0
		for _, t := range s.mt.threads {
			if t.wf == nil || t.wf.runID != runID || t.wf.settled {
				continue
			}
			live++
			switch {
			case t.waitsForClient() || s.heldByBudget(t):
				asking++
			case t.driving || t.status == wire.ThreadRunning || t.status == wire.ThreadRescheduling:
				working++
			}
		}
		if held {
			if working > 0 {
				return true
			}
			continue
		}
		if live == 0 || asking < live {
			return true
		}
	}
	return false
}

// workflowsOpen reports whether the session has a run open or a notice to
// give: its runtime, which holds the runs, then stays in memory. s.mu is
// held.
func (s *session) workflowsOpen() bool {
	return s.wf != nil && (len(s.wf.open) > 0 || len(s.wf.notices) > 0)
}

// waitsForClient reports whether a thread has stopped on calls only the
// client can answer. s.mu is held.
func (t *thread) waitsForClient() bool {
	if t.driving || t.status != wire.ThreadIdle {
		return false
	}
	for _, cl := range t.conv.calls {
		if cl.state == callConfirm || cl.state == callClient {
			return true
		}
	}
	return false
}

// deliverNotices gives the agent the ending notices of the runs that
// ended, once its conversation has no open call. s.mu is held.
func (s *session) deliverNotices() {
	w := s.wf
	if w == nil || len(w.notices) == 0 || s.main.openCalls() {
		return
	}
	for _, n := range w.notices {
		s.main.appendUser(model.Text(n.Text))
	}
	w.unlogged = append(w.unlogged, w.notices...)
	w.notices = nil
	s.main.halted = false
	s.main.announced = false
}

// spanStart is the span.model_request_start of a conversation's model
// request; the primary one's records the ending notices the request is
// the first to carry. s.mu is held.
func (c *conversation) spanStart() pending {
	p := ev(&wire.SpanModelRequestStartEvent{})
	if w := c.s.wf; c.th == nil && w != nil && len(w.unlogged) > 0 {
		p.private, _ = json.Marshal(wfSpanPrivate{Notices: w.unlogged})
		w.unlogged = nil
	}
	return p
}

// workflowEnded is the registry's Ended hook. The notice was queued when
// workflow_run.status_ended was logged (wfSink); this only makes sure the
// session's driver looks at it, from a goroutine of its own, since the
// hook runs on the run's goroutine and may be reached while the session's
// lock is held (a stop from an archive).
func (s *session) workflowEnded(context.Context, workflow.Snapshot) {
	s.e.life.Go(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.kick()
	})
}

// wfSink logs the runs' events on the primary thread.
type wfSink struct{ s *session }

func (k wfSink) Emit(ctx context.Context, evs ...wire.Event) error {
	s := k.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.evicted && s.stopped {
		return fmt.Errorf("session %s was dropped", s.id)
	}
	if s.sess.Status == store.SessionTerminated {
		// Terminated is absorbing: nothing more is logged, the runs are
		// being stopped.
		for _, e := range evs {
			if _, ok := e.Payload.(*wire.WorkflowRunStatusEndedEvent); ok {
				s.wf.note(e)
			}
		}
		return nil
	}
	w := s.wf
	ps := make([]pending, 0, len(evs))
	for _, e := range evs {
		if !w.logsTwice(e) {
			ps = append(ps, pending{ev: e})
		}
	}
	if len(ps) == 0 {
		return nil
	}
	if _, err := s.commit(ctx, "", ps...); err != nil {
		return err
	}
	for _, p := range ps {
		w.note(p.ev)
		if p, ok := p.ev.Payload.(*wire.WorkflowRunStatusEndedEvent); ok {
			if w.archived || s.doc.ArchivedAt != nil {
				continue
			}
			if snap, ok := w.reg.Get(p.WorkflowRunID); ok {
				w.notices = append(w.notices, wfNotice{Run: snap.ID, Text: workflow.EndingNotice(snap)})
			}
		}
	}
	s.kick()
	return nil
}

// replayWorkflow folds a logged event into the workflow state while
// rebuilding. s is not shared yet.
func (s *session) replayWorkflow(se store.Event, e wire.Event) {
	w := s.wf
	if w == nil {
		return
	}
	switch p := e.Payload.(type) {
	case *wire.WorkflowRunCreatedEvent, *wire.WorkflowRunStatusRunningEvent, *wire.WorkflowRunStatusIdleEvent:
		w.note(e)
	case *wire.WorkflowRunStatusEndedEvent:
		w.note(e)
		if s.doc.ArchivedAt == nil {
			w.ended = append(w.ended, p.WorkflowRunID)
		}
	case *wire.SpanModelRequestStartEvent:
		if se.ThreadID != "" || len(se.Private) == 0 {
			return
		}
		var priv wfSpanPrivate
		if json.Unmarshal(se.Private, &priv) != nil || len(priv.Notices) == 0 {
			return
		}
		for _, n := range priv.Notices {
			s.main.appendUser(model.Text(n.Text))
			w.ended = slices.DeleteFunc(w.ended, func(id string) bool { return id == n.Run })
		}
		s.main.halted = false
	case *wire.SessionThreadCreatedEvent:
		s.replayWorkflowThread(se, p)
	case *wire.SessionThreadStatusTerminatedEvent:
		if se.ThreadID != "" {
			s.replayWorkflowOutcome(se)
		}
	}
}

// restoreWorkflows hands the session's saved runs to its registry, once:
// ended ones for the agent's checks, open ones to execute again. Runs that
// ended without the agent being told are told now. s.mu is held; the
// registry starts the runs on goroutines of their own.
func (s *session) restoreWorkflows(ctx context.Context) {
	w := s.wf
	if w == nil || w.restored {
		return
	}
	w.restored = true
	snaps, err := loadRuns(ctx, s.e.st, s.ws, s.id)
	if err != nil {
		s.e.log.Error("load workflow runs", "session", s.id, "err", err)
		return
	}
	saved := map[string]bool{}
	for i := range snaps {
		snap := &snaps[i]
		saved[snap.ID] = true
		if l := w.logged[snap.ID]; l != nil && l.ended != nil && snap.Open() {
			// Its end was logged, not saved: it ended.
			res := *l.ended
			now := time.Now()
			snap.Status, snap.Result, snap.EndedAt = workflow.StatusEnded, &res, &now
		}
		if snap.Open() && s.doc.ArchivedAt == nil {
			w.open[snap.ID] = true
		}
	}
	s.loseUnsavedRuns(ctx, saved)
	if s.doc.ArchivedAt != nil {
		// An archived session's runs were stopped: restore them ended or
		// not at all.
		snaps = slices.DeleteFunc(snaps, func(sn workflow.Snapshot) bool { return sn.Open() })
	}
	if err := w.reg.Restore(ctx, snaps); err != nil {
		s.e.log.Error("restore workflow runs", "session", s.id, "err", err)
	}
	for _, id := range w.ended {
		if snap, ok := w.reg.Get(id); ok {
			w.notices = append(w.notices, wfNotice{Run: id, Text: workflow.EndingNotice(snap)})
		}
	}
	w.ended = nil
	if len(w.notices) > 0 {
		s.kick()
	}
}

// loseUnsavedRuns ends the runs the log has open but the store has no
// state of (the server stopped between logging a run's creation and
// saving it): they cannot resume, so they end with unknown_error, and the
// agent is told. s.mu is held.
func (s *session) loseUnsavedRuns(ctx context.Context, saved map[string]bool) {
	w := s.wf
	var evs []pending
	var lost []workflow.Snapshot
	for id := range w.open {
		if saved[id] {
			continue
		}
		e := wire.WorkflowRunError{Type: wire.WorkflowRunUnknownError, Message: "The workflow run was lost when the server restarted."}
		res := wire.WorkflowRunResult{Type: wire.WorkflowRunErrored, Error: &e}
		runID := id
		evs = append(evs, ev(&wire.WorkflowRunErrorEvent{Error: e, WorkflowRunID: &runID}), ev(&wire.WorkflowRunStatusEndedEvent{Result: res, WorkflowRunID: id}))
		lost = append(lost, workflow.Snapshot{ID: id, Status: workflow.StatusEnded, Result: &res})
	}
	if len(evs) == 0 || s.sess.Status == store.SessionTerminated {
		return
	}
	if _, err := s.commit(ctx, "", evs...); err != nil {
		s.e.log.Error("end lost workflow runs", "session", s.id, "err", err)
		return
	}
	for _, p := range evs {
		w.note(p.ev)
	}
	if s.doc.ArchivedAt == nil {
		for _, snap := range lost {
			w.notices = append(w.notices, wfNotice{Run: snap.ID, Text: workflow.EndingNotice(snap)})
		}
	}
}

// archiveWorkflows stops the runs of a session being archived. s.mu is
// held: the stop runs on a goroutine of its own, since a stopped run logs
// its end through the session's lock.
func (s *session) archiveWorkflows() {
	w := s.wf
	if w == nil {
		return
	}
	w.archived = true
	w.notices = nil
	reg := w.reg
	s.e.life.Go(func() { reg.StopAll(context.Background()) })
}

// refuseAgentUpdate refuses to change the session's agent while a run is
// open: the runs' threads run on the agent's configuration. s.mu is held.
func (s *session) refuseAgentUpdate(before, after wire.SessionAgent) error {
	if s.wf == nil || len(s.wf.open) == 0 {
		return nil
	}
	a, _ := json.Marshal(before)
	b, _ := json.Marshal(after)
	if bytes.Equal(a, b) {
		return nil
	}
	return errdefs.Conflict("session %s has %d open workflow runs; its agent cannot be updated until they end", s.id, len(s.wf.open))
}

// suspendWorkflows suspends every session's runs for a shutdown: they
// stop working, log nothing more, and resume from their saved state on the
// next start.
func (e *Engine) suspendWorkflows() {
	e.mu.Lock()
	var regs []*workflow.Registry
	for _, s := range e.sessions {
		if s.wf != nil {
			regs = append(regs, s.wf.reg)
		}
	}
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), stopWait)
	defer cancel()
	var wg sync.WaitGroup
	for _, reg := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := reg.Suspend(ctx); err != nil {
				e.log.Warn("suspend workflow runs", "err", err)
			}
		}()
	}
	wg.Wait()
}

// forgetWorkflows ends a deleted session's runs without logging anything.
func (s *session) forgetWorkflows() {
	if s.wf == nil {
		return
	}
	reg := s.wf.reg
	go func() { _ = reg.Suspend(context.Background()) }()
}

// wfStore keeps each run's latest Snapshot as a record (kind
// store.KindWorkflowRun, id the run's, parent the session). Saves of one
// run may arrive out of order (the run saves from its threads'
// goroutines), so a save that shows less progress than the last one is
// skipped.
type wfStore struct {
	st      store.Store
	ws      string
	session string
	mu      sync.Mutex
	rev     map[string]wfSaved
}

type wfSaved struct {
	rev      int64
	progress int
}

// progress grows with everything a run does; an ended run is past any
// open state.
func progress(s workflow.Snapshot) int {
	n := len(s.Threads) + len(s.PhaseStarts)
	for _, t := range s.Threads {
		if t.Done {
			n++
		}
	}
	for _, p := range s.PhaseStarts {
		if p.Ended {
			n++
		}
	}
	if s.Started {
		n++
	}
	if !s.Open() {
		n += 1 << 30
	}
	return n
}

func (k *wfStore) SaveRun(ctx context.Context, snap workflow.Snapshot) error {
	data, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	pr := progress(snap)
	k.mu.Lock()
	defer k.mu.Unlock()
	last, known := k.rev[snap.ID]
	if known && pr < last.progress {
		return nil
	}
	if !known {
		rec, err := k.st.Get(ctx, k.ws, store.KindWorkflowRun, snap.ID)
		switch {
		case err == nil:
			last = wfSaved{rev: rec.Rev}
			known = true
		case errdefs.ClassOf(err) != errdefs.ClassNotFound:
			return err
		}
	}
	now := time.Now()
	if !known {
		rec := &store.Record{Kind: store.KindWorkflowRun, ID: snap.ID, Workspace: k.ws, Parent: k.session, Data: data, CreatedAt: now, UpdatedAt: now}
		if err := k.st.Insert(ctx, rec); err != nil {
			return err
		}
		k.rev[snap.ID] = wfSaved{rev: rec.Rev, progress: pr}
		return nil
	}
	rec := &store.Record{Kind: store.KindWorkflowRun, ID: snap.ID, Workspace: k.ws, Parent: k.session, Data: data, UpdatedAt: now, Rev: last.rev}
	if err := k.st.Update(ctx, rec); err != nil {
		return err
	}
	k.rev[snap.ID] = wfSaved{rev: rec.Rev, progress: pr}
	return nil
}

// loadRuns reads a session's saved runs, oldest first.
func loadRuns(ctx context.Context, st store.Store, ws, sessionID string) ([]workflow.Snapshot, error) {
	var out []workflow.Snapshot
	var after int64
	for {
		page, err := st.List(ctx, store.ListOptions{Workspace: ws, Kind: store.KindWorkflowRun, Parent: sessionID, ParentSet: true, After: after, Limit: 100})
		if err != nil {
			return nil, err
		}
		for _, rec := range page.Records {
			after = rec.Seq
			var snap workflow.Snapshot
			if err := json.Unmarshal(rec.Data, &snap); err != nil {
				return nil, errdefs.Internal(err, "decode workflow run %s", rec.ID)
			}
			out = append(out, snap)
		}
		if !page.More {
			return out, nil
		}
	}
}
