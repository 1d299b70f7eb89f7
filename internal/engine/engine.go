// Package engine owns the life of sessions: the state machine (idle,
// running, rescheduling, terminated), the queue of client events, the agent
// loop that calls the model and routes its tool calls, permission gates,
// interrupts, retries and recovery after a crash.
//
// The event log is the source of truth. Every change is appended to the log
// (and the session row updated) in one transaction, then published; the
// in-memory state of a session is a cache rebuilt from the log whenever the
// engine first touches the session, so a restarted server resumes exactly
// where the log says it was.
package engine

import (
	"container/list"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/pricing"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Engine runs sessions.
type Engine struct {
	st        store.Store
	mdl       model.Provider
	pub       events.Broker
	tools     ToolExecutor
	sandboxes Sandboxes
	outputs   OutputCapturer
	memory    MemorySyncer
	mcp       MCPClient
	workers   Workers
	// sandboxWorkers queues cloud sessions for their in-sandbox worker.
	sandboxWorkers Workers
	// prices prices every model request (usage's list_cost, budgets).
	prices *pricing.Table
	// outbox queues webhooks in each commit's transaction.
	outbox Outbox
	log    *slog.Logger
	opt    Options

	// ctx ends with the engine; life holds the goroutines Close waits for.
	ctx    context.Context
	cancel context.CancelFunc
	life   lifetime

	mu       sync.Mutex
	sessions map[string]*session
	// lru orders the cached runtimes by last use, and cacheBytes sums
	// their estimated sizes (cache.go).
	lru        *list.List
	cacheBytes int64
	// started is set once Start has resumed the running sessions: a
	// running session loaded after that resumes its workflow runs at once.
	started atomic.Bool
	// replays remembers recent sends so an SDK retry of the same POST is
	// answered with the events the first one logged instead of queueing
	// twice.
	replays *replayCache
}

// New returns an engine; call Start to resume interrupted sessions.
func New(d Deps, o Options) *Engine {
	o.defaults()
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{
		st: d.Store, mdl: d.Models, pub: d.Broker, tools: d.Tools, sandboxes: d.Sandboxes, outputs: d.Outputs, memory: d.Memory,
		mcp: d.MCP, workers: d.Workers, sandboxWorkers: d.SandboxWorkers, prices: d.Prices, outbox: d.Outbox, log: log, opt: o,
		ctx: ctx, cancel: cancel, sessions: map[string]*session{}, lru: list.New(), replays: newReplayCache(4096, 10*time.Minute),
	}
}

// Start resumes every session the log says was running when the server
// stopped: each is marked rescheduled, then driven again.
func (e *Engine) Start(ctx context.Context) error {
	var after int64
	for {
		list, err := e.st.ListSessionsByStatus(ctx, []string{store.SessionRunning, store.SessionRescheduling}, after, 200)
		if err != nil {
			return err
		}
		for _, row := range list {
			after = row.Seq
			s, err := e.load(ctx, row.Workspace, row.ID)
			if err != nil {
				e.log.Error("resume session", "session", row.ID, "err", err)
				continue
			}
			s.resume()
		}
		if len(list) < 200 {
			e.started.Store(true)
			return nil
		}
	}
}

// Close stops every session driver and waits for every goroutine the
// engine started. Sessions that were running stay "running" in the log and
// resume on the next Start.
func (e *Engine) Close() {
	// Workflow runs are suspended first, so they log nothing more and
	// resume from their saved state on the next start.
	e.suspendWorkflows()
	e.cancel()
	e.life.Close()
}

// load returns the live runtime of a session, rebuilding it from the log on
// first use.
func (e *Engine) load(ctx context.Context, ws, id string) (*session, error) {
	e.mu.Lock()
	s, ok := e.sessions[id]
	if ok && s.ws == ws {
		e.lru.MoveToFront(s.cache.elem)
	}
	e.mu.Unlock()
	if ok {
		if s.ws != ws {
			return nil, errNotFound(id)
		}
		return s, nil
	}
	sess, err := e.st.GetSession(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	s, err = rebuild(ctx, e, sess)
	if err != nil {
		return nil, err
	}
	size := s.size()
	e.mu.Lock()
	if existing, ok := e.sessions[id]; ok {
		e.mu.Unlock()
		return existing, nil
	}
	e.addLocked(s, size)
	e.mu.Unlock()
	if s.wf != nil && (e.started.Load() || (s.sess.Status != store.SessionRunning && s.sess.Status != store.SessionRescheduling)) {
		// At start, a running session's runs resume with it (resume,
		// once its threads were rescheduled); otherwise they are taken
		// back now.
		s.mu.Lock()
		s.restoreWorkflows(ctx)
		s.mu.Unlock()
	}
	return s, nil
}

func errNotFound(id string) error { return errdefs.NotFound("session %s not found", id) }

// lock returns the session's runtime with its lock held, reloading it if it
// was evicted between loading and locking.
func (e *Engine) lock(ctx context.Context, ws, id string) (*session, error) {
	for {
		s, err := e.load(ctx, ws, id)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		if !s.evicted {
			return s, nil
		}
		s.mu.Unlock()
	}
}

// Forget drops a session's runtime after it was deleted: its driver is
// cancelled and nothing more is written for it.
func (e *Engine) Forget(id string) {
	e.mu.Lock()
	s := e.sessions[id]
	if s != nil {
		e.removeLocked(s)
	}
	e.mu.Unlock()
	if s != nil {
		s.stop()
		s.forgetWorkflows()
	}
	if e.mcp != nil {
		e.mcp.Close(id)
	}
	if e.sandboxes != nil {
		if err := e.sandboxes.Release(context.Background(), id, true); err != nil {
			e.log.Error("destroy sandbox", "session", id, "err", err)
		}
	}
}

// Stop interrupts whatever the session is doing and waits until its driver
// has finished, so that archive or delete see a quiet session.
func (e *Engine) Stop(ctx context.Context, ws, id string) error {
	s, err := e.load(ctx, ws, id)
	if err != nil {
		return err
	}
	s.stop()
	return nil
}

// Status returns the session's current status as the engine knows it.
func (e *Engine) Status(ctx context.Context, ws, id string) (string, error) {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	return s.sess.Status, nil
}

// Update edits a session's document under the session's lock, so it never
// races the agent loop: fn changes doc and reports whether anything changed
// and which events (session.updated, say) to log with the change. It returns
// the session as stored.
func (e *Engine) Update(ctx context.Context, ws, id string, fn func(doc *wire.Session, status string) (changed bool, evs []wire.EventPayload, err error)) (wire.Session, error) {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return wire.Session{}, err
	}
	defer s.mu.Unlock()
	before := s.doc
	doc := s.doc
	changed, payloads, err := fn(&doc, s.sess.Status)
	if err != nil || !changed {
		return s.doc, err
	}
	if err := s.checkBudgetChange(before.Budget, doc.Budget); err != nil {
		return s.doc, err
	}
	if err := s.refuseAgentUpdate(before.Agent, doc.Agent); err != nil {
		return wire.Session{}, err
	}
	s.doc = doc
	s.sess.ArchivedAt = doc.ArchivedAt
	if before.ArchivedAt == nil && doc.ArchivedAt != nil {
		// Archiving the session ends its threads.
		payloads = append(payloads, s.endThreads()...)
		defer s.archiveWorkflows()
	}
	evs := make([]pending, len(payloads))
	for i, p := range payloads {
		evs[i] = ev(p)
	}
	if _, err := s.commit(ctx, "", evs...); err != nil {
		s.doc, s.sess.ArchivedAt = before, before.ArchivedAt
		return wire.Session{}, err
	}
	s.refreshSelf()
	s.main.defs = s.mainDefs()
	if !sameBudget(before.Budget, s.doc.Budget) {
		s.budgetChanged()
	}
	return s.doc, nil
}

// Created tells the engine about a new session: a cloud one whose agent
// has sandbox tools starts provisioning its sandbox, and a session served
// by a worker (self_hosted, or cloud with SandboxWorkers) is queued for
// one right away.
func (e *Engine) Created(ctx context.Context, ws, id string) error {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	// Only an agent that offers a sandbox tool gets a sandbox up front;
	// one that gains a tool later, or needs its sandbox for something
	// else, provisions it on first use.
	if e.sandboxes != nil && !s.selfHosted && s.hasSandboxTools() {
		e.sandboxes.Provision(ws, id)
	}
	s.callWorkers()
	return nil
}

// sandboxWorkerKey marks a request made by the worker Hangar runs inside
// a session's sandbox (WithSandboxWorker).
type sandboxWorkerKey struct{}

// WithSandboxWorker marks ctx as a request of the session's in-sandbox
// worker. The API sets it only for requests that arrived over that
// session's sandbox socket with the session's work token; only such a
// request may answer a cloud session's tool call (user.tool_result).
func WithSandboxWorker(ctx context.Context) context.Context {
	return context.WithValue(ctx, sandboxWorkerKey{}, true)
}

func isSandboxWorker(ctx context.Context) bool {
	v, _ := ctx.Value(sandboxWorkerKey{}).(bool)
	return v
}

// WorkerGone tells the engine that the in-sandbox worker of a cloud
// session ended. Tool calls it left unanswered are queued for a new worker
// when it ended cleanly (it may have left just before they arrived), and
// answered with an error naming cause otherwise (the sandbox could not
// start, or the worker died), so the turn goes on.
func (e *Engine) WorkerGone(ctx context.Context, ws, id string, cause error) {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return
	}
	defer s.mu.Unlock()
	if s.selfHosted || !s.viaWorker {
		return
	}
	var open []*call
	for _, c := range s.main.calls {
		if c.state == callWorker {
			open = append(open, c)
		}
	}
	if len(open) == 0 {
		return
	}
	if cause == nil {
		s.callWorkers()
		return
	}
	evs := make([]pending, 0, len(open))
	for _, c := range open {
		evs = append(evs, failedCall(c.id, "The tool could not run: "+cause.Error()))
	}
	if _, err := s.commit(e.ctx, "", evs...); err != nil {
		e.log.Error("record failed tool calls", "session", id, "err", err)
		return
	}
	s.main.resolveResults(evs)
	s.kick()
}

// ReportError logs a session.error that arose outside the agent loop (a
// repository that could not be cloned into the session's sandbox, say) in
// the session's log and stream, through the one commit path under the
// session's lock, so it is ordered with everything else the session logs.
// The session's status does not change: such errors are retrying, the
// session goes on without what failed. A terminated session (nothing more
// is logged for it) or a deleted one reports nothing.
func (e *Engine) ReportError(ctx context.Context, ws, id string, se wire.SessionError) error {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.sess.Status == store.SessionTerminated {
		return nil
	}
	_, err = s.commit(ctx, "", ev(&wire.SessionErrorEvent{Error: se}))
	return err
}

// Get returns the session document. A session the engine is not holding
// is read from its row, which every change rewrites, without rebuilding it.
func (e *Engine) Get(ctx context.Context, ws, id string) (wire.Session, error) {
	e.mu.Lock()
	s, ok := e.sessions[id]
	e.mu.Unlock()
	if ok && s.ws == ws {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.doc, nil
	}
	sess, err := e.st.GetSession(ctx, ws, id)
	if err != nil {
		return wire.Session{}, err
	}
	var doc wire.Session
	if err := json.Unmarshal(sess.Data, &doc); err != nil {
		return wire.Session{}, errdefs.Internal(err, "decode session %s", id)
	}
	return doc, nil
}
