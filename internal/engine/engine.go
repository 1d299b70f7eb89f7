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
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// The tool execution contract lives in package tool; these names are kept
// for the engine's callers.
type (
	ToolCall     = tool.Call
	ToolResult   = tool.Result
	ToolExecutor = tool.Executor
)

// Workers hands sessions of self_hosted environments to the customer's
// workers (the work queue). Enqueue is idempotent while an item is live.
type Workers interface {
	Enqueue(ctx context.Context, ws, environmentID, sessionID string) error
}

// Sandboxes is implemented by ToolExecutors that keep a sandbox per
// session: the engine provisions it eagerly when the session is created
// and releases it when the session goes away.
type Sandboxes interface {
	Provision(ws, sessionID string)
	Release(ctx context.Context, sessionID string, destroy bool) error
}

// OutputCapturer is implemented by ToolExecutors that can file what the
// agent wrote under /mnt/session/outputs into the Files API; the
// engine calls it before a turn ends with session.status_idle end_turn.
type OutputCapturer interface {
	Capture(ctx context.Context, ws, sessionID string) error
}

// Options tune the loop. Zero values take the defaults.
type Options struct {
	// MaxTokens is the output budget of one model request.
	MaxTokens int
	// MaxAttempts bounds the tries of one model request on retryable errors.
	MaxAttempts int
	// Backoff decides the delay between tries.
	Backoff model.Backoff
	// RunTimeout bounds one uninterrupted stretch of work (the watchdog):
	// a session still running after it is stopped with a session.error.
	RunTimeout time.Duration
	// ToolTimeout bounds one tool call; tool.CallTimeout by default.
	ToolTimeout time.Duration
	// ContextWindow is the model context size in tokens, and CompactAt the
	// percentage of it at which the conversation is compacted (summarized
	// by the model, agent.thread_context_compacted).
	ContextWindow int64
	CompactAt     int64
	// CacheBytes bounds the estimated size of the session runtimes kept
	// in memory between turns (see cache.go).
	CacheBytes int64
}

func (o *Options) defaults() {
	if o.MaxTokens == 0 {
		o.MaxTokens = 16384
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 4
	}
	if o.Backoff == (model.Backoff{}) {
		o.Backoff = model.DefaultBackoff
	}
	if o.RunTimeout == 0 {
		o.RunTimeout = time.Hour
	}
	if o.ToolTimeout == 0 {
		o.ToolTimeout = tool.CallTimeout
	}
	if o.ContextWindow == 0 {
		o.ContextWindow = 200000
	}
	if o.CompactAt == 0 {
		o.CompactAt = 80
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = defaultCacheBytes
	}
}

// Deps are the engine's collaborators.
type Deps struct {
	Store  store.Store
	Models model.Provider
	// Broker fans committed events and previews out to live streams.
	Broker events.Broker
	// Tools runs built-in tools; nil means no sandbox is available and
	// built-in calls fail with an explanatory tool error.
	Tools ToolExecutor
	// MCP reaches the agent's MCP servers; nil offers no MCP tools.
	MCP MCPClient
	// Workers queues self_hosted sessions for their workers; nil leaves
	// their built-in tool calls waiting for a worker nobody calls.
	Workers Workers
	// SandboxWorkers, when set, serves cloud sessions the same way: their
	// sandbox tool calls (bash, read, write, edit, glob, grep) go to a
	// worker that Hangar starts inside the session's sandbox, queued
	// here. Nil runs them through Tools directly (no sandbox backend, or
	// --sandbox unsafe-host).
	SandboxWorkers Workers
	Logger         *slog.Logger
}

// Engine runs sessions.
type Engine struct {
	st      store.Store
	mdl     model.Provider
	pub     events.Broker
	tools   ToolExecutor
	mcp     MCPClient
	workers Workers
	// sandboxWorkers queues cloud sessions for their in-sandbox worker.
	sandboxWorkers Workers
	log            *slog.Logger
	opt            Options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	runs map[string]*run
	// lru orders the cached runtimes by last use, and cacheBytes sums
	// their estimated sizes (cache.go).
	lru        *list.List
	cacheBytes int64
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
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{
		st: d.Store, mdl: d.Models, pub: d.Broker, tools: d.Tools, mcp: d.MCP, workers: d.Workers, sandboxWorkers: d.SandboxWorkers, log: log, opt: o,
		ctx: ctx, cancel: cancel, runs: map[string]*run{}, lru: list.New(), replays: newReplayCache(4096, 10*time.Minute),
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
		for _, s := range list {
			after = s.Seq
			r, err := e.load(ctx, s.Workspace, s.ID)
			if err != nil {
				e.log.Error("resume session", "session", s.ID, "err", err)
				continue
			}
			r.resume()
		}
		if len(list) < 200 {
			return nil
		}
	}
}

// Close stops every session driver and waits for them. Sessions that were
// running stay "running" in the log and resume on the next Start.
func (e *Engine) Close() {
	e.cancel()
	e.wg.Wait()
}

// load returns the live runtime of a session, rebuilding it from the log on
// first use.
func (e *Engine) load(ctx context.Context, ws, id string) (*run, error) {
	e.mu.Lock()
	r, ok := e.runs[id]
	if ok && r.ws == ws {
		e.lru.MoveToFront(r.cache.elem)
	}
	e.mu.Unlock()
	if ok {
		if r.ws != ws {
			return nil, errNotFound(id)
		}
		return r, nil
	}
	sess, err := e.st.GetSession(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	r, err = rebuild(ctx, e, sess)
	if err != nil {
		return nil, err
	}
	size := r.size()
	e.mu.Lock()
	defer e.mu.Unlock()
	if existing, ok := e.runs[id]; ok {
		return existing, nil
	}
	e.addLocked(r, size)
	return r, nil
}

// discard drops a runtime whose state got ahead of the log (a write
// failed after it took input): its driver stops and the next caller
// rebuilds the session from the log. r.mu is held.
func (r *run) discard() {
	r.stopped, r.evicted = true, true
	r.unsaved = nil
	if r.stepCancel != nil {
		r.stepCancel()
	}
	r.e.mu.Lock()
	if r.e.runs[r.id] == r {
		r.e.removeLocked(r)
	}
	r.e.mu.Unlock()
}

// lock returns the session's runtime with its lock held, reloading it if it
// was evicted between loading and locking.
func (e *Engine) lock(ctx context.Context, ws, id string) (*run, error) {
	for {
		r, err := e.load(ctx, ws, id)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		if !r.evicted {
			return r, nil
		}
		r.mu.Unlock()
	}
}

// Forget drops a session's runtime after it was deleted: its driver is
// cancelled and nothing more is written for it.
func (e *Engine) Forget(id string) {
	e.mu.Lock()
	r := e.runs[id]
	if r != nil {
		e.removeLocked(r)
	}
	e.mu.Unlock()
	if r != nil {
		r.stop()
	}
	if e.mcp != nil {
		e.mcp.Close(id)
	}
	if sb, ok := e.tools.(Sandboxes); ok {
		if err := sb.Release(context.Background(), id, true); err != nil {
			e.log.Error("destroy sandbox", "session", id, "err", err)
		}
	}
}

// Stop interrupts whatever the session is doing and waits until its driver
// has finished, so that archive or delete see a quiet session.
func (e *Engine) Stop(ctx context.Context, ws, id string) error {
	r, err := e.load(ctx, ws, id)
	if err != nil {
		return err
	}
	r.stop()
	return nil
}

// Status returns the session's current status as the engine knows it.
func (e *Engine) Status(ctx context.Context, ws, id string) (string, error) {
	r, err := e.lock(ctx, ws, id)
	if err != nil {
		return "", err
	}
	defer r.mu.Unlock()
	return r.sess.Status, nil
}

// Update edits a session's document under the session's lock, so it never
// races the agent loop: fn changes doc and reports whether anything changed
// and which events (session.updated, say) to log with the change. It returns
// the session as stored.
func (e *Engine) Update(ctx context.Context, ws, id string, fn func(doc *wire.Session, status string) (changed bool, evs []wire.EventPayload, err error)) (wire.Session, error) {
	r, err := e.lock(ctx, ws, id)
	if err != nil {
		return wire.Session{}, err
	}
	defer r.mu.Unlock()
	before := r.doc
	doc := r.doc
	changed, payloads, err := fn(&doc, r.sess.Status)
	if err != nil || !changed {
		return r.doc, err
	}
	r.doc = doc
	r.sess.ArchivedAt = doc.ArchivedAt
	evs := make([]pending, len(payloads))
	for i, p := range payloads {
		evs[i] = ev(p)
	}
	if _, err := r.commit(ctx, "", evs...); err != nil {
		r.doc, r.sess.ArchivedAt = before, before.ArchivedAt
		return wire.Session{}, err
	}
	r.defs = tool.Catalog(r.doc.Agent.Tools)
	return r.doc, nil
}

// Created tells the engine about a new session: a cloud one whose agent
// has sandbox tools starts provisioning its sandbox, and a session served
// by a worker (self_hosted, or cloud with SandboxWorkers) is queued for
// one right away.
func (e *Engine) Created(ctx context.Context, ws, id string) error {
	r, err := e.lock(ctx, ws, id)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	// Only an agent that offers a sandbox tool gets a sandbox up front;
	// one that gains a tool later, or needs its sandbox for something
	// else, provisions it on first use.
	if sb, ok := e.tools.(Sandboxes); ok && !r.selfHosted && r.hasSandboxTools() {
		sb.Provision(ws, id)
	}
	r.callWorkers()
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
	r, err := e.lock(ctx, ws, id)
	if err != nil {
		return
	}
	defer r.mu.Unlock()
	if r.selfHosted || !r.viaWorker() {
		return
	}
	var open []*call
	for _, c := range r.calls {
		if c.state == callWorker {
			open = append(open, c)
		}
	}
	if len(open) == 0 {
		return
	}
	if cause == nil {
		r.callWorkers()
		return
	}
	evs := make([]pending, 0, len(open))
	for _, c := range open {
		evs = append(evs, failedCall(c.id, "The tool could not run: "+cause.Error()))
	}
	if _, err := r.commit(e.ctx, "", evs...); err != nil {
		e.log.Error("record failed tool calls", "session", id, "err", err)
		return
	}
	r.resolveResults(evs)
	r.kick()
}

// ReportError logs a session.error that arose outside the agent loop (a
// repository that could not be cloned into the session's sandbox, say) in
// the session's log and stream, through the one commit path under the
// session's lock, so it is ordered with everything else the session logs.
// The session's status does not change: such errors are retrying, the
// session goes on without what failed. A terminated session (nothing more
// is logged for it) or a deleted one reports nothing.
func (e *Engine) ReportError(ctx context.Context, ws, id string, se wire.SessionError) error {
	r, err := e.lock(ctx, ws, id)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if r.sess.Status == store.SessionTerminated {
		return nil
	}
	_, err = r.commit(ctx, "", ev(&wire.SessionErrorEvent{Error: se}))
	return err
}

// Get returns the session document. A session the engine is not holding
// is read from its row, which every change rewrites, without rebuilding it.
func (e *Engine) Get(ctx context.Context, ws, id string) (wire.Session, error) {
	e.mu.Lock()
	r, ok := e.runs[id]
	e.mu.Unlock()
	if ok && r.ws == ws {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.doc, nil
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
