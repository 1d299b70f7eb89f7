package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hangarhq/hangar/internal/api"
	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/workqueue"
)

// sandboxWorkerID is the worker id the dispatcher claims items under.
const sandboxWorkerID = "hangar-sandbox"

// dispatcher serves the work queue of cloud environments (issue 4 §2: one
// execution path): for every item it claims (in process, no HTTP) it
// starts `hangar worker --item` inside the session's sandbox, which speaks
// the work protocol back to the server over the session's API socket —
// the same protocol, and the same SDK worker and toolset, as a
// self-hosted environment's workers.
//
// It implements engine.Workers for cloud sessions.
type dispatcher struct {
	q     *workqueue.Queue
	tools *sandboxTools
	log   *slog.Logger
	ctx   context.Context
	wg    sync.WaitGroup

	// ready is closed once eng and api are set; claims wait for it.
	ready chan struct{}
	eng   *engine.Engine
	api   http.Handler

	mu sync.Mutex
	// draining: environments whose queue a goroutine is claiming from;
	// again says an enqueue arrived meanwhile.
	draining map[string]*drainState
	// work maps the items claimed by this process to their sessions: their
	// tokens are good only on that session's socket (api.Options.SandboxWork).
	work map[string]string
	// socks are the per-session API sockets.
	socks map[string]*apiSocket
	// restarted marks sessions whose sandbox the dispatcher restarted on
	// purpose (changed resources): their worker's end is not a failure.
	restarted map[string]bool
	// pre holds the workers started in pooled sandboxes, waiting on stdin
	// for the item of the session that adopts the sandbox.
	pre map[sandbox.Sandbox]*preWorker
	// live counts the running workers of each session. A session with one
	// needs no enqueue (the engine asks at every tool turn); if the worker
	// leaves just then, its end re-queues the calls (engine.WorkerGone).
	live map[string]int
}

type drainState struct{ again bool }

type apiSocket struct {
	path string
	srv  *http.Server
}

func newDispatcher(ctx context.Context, q *workqueue.Queue, tools *sandboxTools, log *slog.Logger) *dispatcher {
	d := &dispatcher{q: q, tools: tools, log: log, ctx: ctx, ready: make(chan struct{}),
		draining: map[string]*drainState{}, work: map[string]string{}, socks: map[string]*apiSocket{}, restarted: map[string]bool{}, live: map[string]int{}, pre: map[sandbox.Sandbox]*preWorker{}}
	tools.apiSocket = d.listen
	tools.closeAPISocket = d.closeSocket
	tools.prestart = d.prestart
	close(tools.hooked)
	return d
}

// start lets claimed items run, once the engine and the API exist.
func (d *dispatcher) start(eng *engine.Engine, h http.Handler) {
	d.eng, d.api = eng, h
	close(d.ready)
}

// close stops the sockets and waits for the dispatcher's goroutines (whose
// workers end with their sandboxes).
func (d *dispatcher) close() {
	d.mu.Lock()
	socks, pre := d.socks, d.pre
	d.socks, d.pre = map[string]*apiSocket{}, map[sandbox.Sandbox]*preWorker{}
	d.mu.Unlock()
	for _, s := range socks {
		_ = s.srv.Close()
	}
	for _, w := range pre {
		// A worker that never got an item ends on EOF.
		_ = w.stdin.Close()
	}
	d.wg.Wait()
}

// sandboxWork is api.Options.SandboxWork.
func (d *dispatcher) sandboxWork(workID string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.work[workID]
	return s, ok
}

// Enqueue queues a cloud session for its in-sandbox worker and claims the
// environment's items.
func (d *dispatcher) Enqueue(ctx context.Context, ws, env, sessionID string) error {
	// File resources changed since the sandbox started need a new one
	// (mounts are fixed at start); new input is when that is looked at.
	if d.tools.needsRemount(ctx, ws, sessionID) {
		d.mu.Lock()
		if d.live[sessionID] > 0 {
			// Its worker ends with the sandbox, on purpose.
			d.restarted[sessionID] = true
		}
		d.mu.Unlock()
		d.tools.remount(ctx, sessionID)
	} else {
		d.mu.Lock()
		n := d.live[sessionID]
		d.mu.Unlock()
		if n > 0 {
			return nil
		}
	}
	w, err := d.q.Enqueue(ctx, ws, env, sessionID)
	if err != nil {
		return err
	}
	if w.State != store.WorkQueued {
		d.mu.Lock()
		_, ours := d.work[w.ID]
		d.mu.Unlock()
		if !ours {
			// Claimed by a server process before this one: its worker
			// died with that process's sandboxes. Stop it and queue anew.
			if _, err := d.q.Stop(ctx, ws, env, w.ID, true); err != nil && !errors.Is(err, errdefs.ErrConflict) {
				return err
			}
			if _, err := d.q.Enqueue(ctx, ws, env, sessionID); err != nil {
				return err
			}
		}
	}
	d.kick(ws, env)
	return nil
}

// kick makes sure a goroutine claims env's items.
func (d *dispatcher) kick(ws, env string) {
	key := ws + "/" + env
	d.mu.Lock()
	if st, ok := d.draining[key]; ok {
		st.again = true
		d.mu.Unlock()
		return
	}
	st := &drainState{}
	d.draining[key] = st
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.drain(ws, env, key, st)
	}()
}

// drain claims env's items until none is left. Nobody else claims cloud
// items, so a poll this process made and did not ack is reclaimed at once.
func (d *dispatcher) drain(ws, env, key string, st *drainState) {
	select {
	case <-d.ready:
	case <-d.ctx.Done():
		return
	}
	var reclaim time.Duration
	for d.ctx.Err() == nil {
		c, err := d.q.Poll(d.ctx, ws, env, workqueue.PollParams{Reclaim: &reclaim, WorkerID: sandboxWorkerID})
		if err != nil {
			d.log.Error("claim sandbox work", "environment", env, "err", err)
		}
		if c != nil {
			d.run(*c)
			continue
		}
		d.mu.Lock()
		if st.again && err == nil {
			st.again = false
			d.mu.Unlock()
			continue
		}
		delete(d.draining, key)
		d.mu.Unlock()
		return
	}
}

// run acks a claimed item and starts its worker in the session's sandbox.
func (d *dispatcher) run(c workqueue.Claimed) {
	it := c.Item
	if it.DataType != workqueue.DataSession {
		_, _ = d.q.Stop(d.ctx, it.Workspace, it.EnvironmentID, it.ID, true)
		return
	}
	d.mu.Lock()
	d.work[it.ID] = it.DataID
	d.mu.Unlock()
	if _, err := d.q.Ack(d.ctx, it.Workspace, it.EnvironmentID, it.ID); err != nil {
		d.log.Error("ack sandbox work", "work", it.ID, "err", err)
		d.forgetWork(it.ID)
		return
	}
	d.mu.Lock()
	d.live[it.DataID]++
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer d.forgetWork(it.ID)
		cause := d.serve(it, c.Secret)
		d.mu.Lock()
		if d.live[it.DataID]--; d.live[it.DataID] <= 0 {
			delete(d.live, it.DataID)
		}
		d.mu.Unlock()
		if d.ctx.Err() != nil {
			// Shutting down: the next start recovers the session.
			return
		}
		// The worker force-stops its item on a clean exit; this covers
		// the others, so the session can be queued again.
		if _, err := d.q.Stop(context.WithoutCancel(d.ctx), it.Workspace, it.EnvironmentID, it.ID, true); err != nil && !errors.Is(err, errdefs.ErrConflict) && !errors.Is(err, errdefs.ErrNotFound) {
			d.log.Warn("stop sandbox work", "work", it.ID, "err", err)
		}
		d.mu.Lock()
		if d.restarted[it.DataID] {
			delete(d.restarted, it.DataID)
			cause = nil
		}
		d.mu.Unlock()
		d.eng.WorkerGone(d.ctx, it.Workspace, it.DataID, cause)
	}()
}

func (d *dispatcher) forgetWork(id string) {
	d.mu.Lock()
	delete(d.work, id)
	d.mu.Unlock()
}

// serve runs the item's worker to its end; the error says why tool calls
// it left unanswered failed (nil: it ended cleanly).
func (d *dispatcher) serve(it store.WorkItem, secret string) error {
	ws, sid := it.Workspace, it.DataID
	sb, err := d.tools.sandbox(d.ctx, ws, sid)
	if err != nil {
		d.log.Warn("sandbox for worker", "session", sid, "err", err)
		return err
	}
	// The secret goes on stdin, never into argv or the environment, which
	// the sandbox's other processes could read.
	in, err := json.Marshal(sandbox.WorkerItem{WorkID: it.ID, EnvironmentID: it.EnvironmentID, SessionID: sid, Secret: secret})
	if err != nil {
		return err
	}
	d.log.Debug("start sandbox worker", "session", sid, "work", it.ID)
	var w *preWorker
	d.mu.Lock()
	if w = d.pre[sb]; w != nil {
		delete(d.pre, sb)
	}
	d.mu.Unlock()
	if w != nil {
		// Started with the pooled sandbox: it only needs its item.
		w.log.setSession(sid)
		_, err = w.stdin.Write(in)
		_ = w.stdin.Close()
		if err != nil {
			_ = w.p.Signal(context.Background(), syscall.SIGKILL)
			w = nil
		}
	}
	if w == nil {
		if w, err = d.exec(sb, sid, bytes.NewReader(in), false); err != nil {
			return fmt.Errorf("start the sandbox's worker: %w", err)
		}
	}
	st, err := w.p.Wait(context.WithoutCancel(d.ctx))
	w.log.flush()
	switch {
	case err != nil:
		return fmt.Errorf("the sandbox's worker stopped: %w", err)
	case st.Code != 0 || st.Signal != "":
		return fmt.Errorf("the sandbox's worker ended (exit %d %s)", st.Code, st.Signal)
	}
	return nil
}

// preWorker is a worker process started in a sandbox.
type preWorker struct {
	p     sandbox.Process
	stdin io.WriteCloser
	log   *lineLog
}

// exec starts `hangar worker --item` in sb, reading its item from stdin;
// warm has it warm its code up while it waits for the item.
func (d *dispatcher) exec(sb sandbox.Sandbox, session string, stdin io.Reader, warm bool) (*preWorker, error) {
	logw := &lineLog{log: d.log, session: session}
	// The worker's log lines cross the sandbox boundary: only when the
	// server logs at debug are its routine ones worth that.
	level := "warn"
	if d.log.Enabled(d.ctx, slog.LevelDebug) {
		level = "debug"
	}
	argv := []string{sandbox.AgentBinaryPath, "worker", "--item", "--log-level", level}
	if warm {
		argv = append(argv, "--warm")
	}
	p, err := sb.Exec(d.ctx, sandbox.ExecRequest{
		Argv:    argv,
		Stdin:   stdin,
		Stdout:  logw,
		Stderr:  logw,
		Timeout: -1,
	})
	if err != nil {
		return nil, err
	}
	return &preWorker{p: p, log: logw}, nil
}

// prestart starts a worker in a pooled sandbox (sandbox.WithPoolStart):
// the process, its toolset and persistent shell are up before a session
// claims the sandbox, and the claim only writes the item to its stdin.
// Meanwhile it warms its code up (`--warm`), so the item's handshake with
// the server runs as fast as later requests.
func (d *dispatcher) prestart(ctx context.Context, sb sandbox.Sandbox) error {
	pr, pw := io.Pipe()
	w, err := d.exec(sb, sb.Handle().Spec.SessionID, pr, true)
	if err != nil {
		return err
	}
	w.stdin = pw
	d.mu.Lock()
	d.pre[sb] = w
	d.mu.Unlock()
	return nil
}

// listen makes sure the session's API socket is served in dir (the
// session's egress directory, mounted read-only in its sandbox). Pooled
// sandboxes get it when they adopt the session: adoption moves the
// directory's contents, and a moved Unix socket keeps serving.
func (d *dispatcher) listen(sessionID, dir string) error {
	path := filepath.Join(dir, sandbox.APISocketName)
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.socks[sessionID]; ok {
		if _, err := os.Lstat(path); err == nil && s.path == path {
			return nil
		}
		// The directory was made anew (the proxy session restarted).
		_ = s.srv.Close()
		delete(d.socks, sessionID)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("api socket for session %s: %w", sessionID, err)
	}
	// Whatever uid the sandbox runs as; only this session's sandbox has the
	// directory, and only its worker's token is accepted.
	if err := os.Chmod(path, 0o666); err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d.api.ServeHTTP(w, r.WithContext(api.WithSandboxSocket(r.Context(), sessionID)))
		}),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
		// Not ended by the server's shutdown, unlike TCP requests: the
		// shutdown ends the workers, and a worker that ends stops its item
		// through this socket, which must then be served (a cancelled
		// request would fail authentication). The socket closes once the
		// sandboxes, and so their workers, are gone (close).
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(d.ctx) },
	}
	d.socks[sessionID] = &apiSocket{path: path, srv: srv}
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// closeSocket stops serving a deleted session's socket.
func (d *dispatcher) closeSocket(sessionID string) {
	d.mu.Lock()
	s := d.socks[sessionID]
	delete(d.socks, sessionID)
	delete(d.restarted, sessionID)
	d.mu.Unlock()
	if s != nil {
		_ = s.srv.Close()
	}
}

// startPooled is the toolbox's pool start hook: the dispatcher's
// prestart, once the dispatcher is attached (right after the sandboxes are
// made, so a pool filling meanwhile waits a moment).
func (s *sandboxTools) startPooled(ctx context.Context, sb sandbox.Sandbox) error {
	select {
	case <-s.hooked:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.prestart == nil {
		return nil
	}
	return s.prestart(ctx, sb)
}

// lineLog writes a worker's output to the server log a line at a time, at
// the level the worker logged it (its text handler's level=WARN/ERROR),
// else at debug: the worker runs at warn unless the server logs at debug,
// so its warnings and errors reach an info-level server log.
type lineLog struct {
	log     *slog.Logger
	session string
	mu      sync.Mutex
	buf     []byte
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 {
		l.emit(string(l.buf))
		l.buf = nil
	}
	return len(p), nil
}

func (l *lineLog) setSession(s string) {
	l.mu.Lock()
	l.session = s
	l.mu.Unlock()
}

func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(string(l.buf))
		l.buf = nil
	}
}

func (l *lineLog) emit(s string) {
	if s = strings.TrimSpace(s); s == "" {
		return
	}
	level := slog.LevelDebug
	switch {
	case strings.Contains(s, "level=ERROR"):
		level = slog.LevelError
	case strings.Contains(s, "level=WARN"):
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, "sandbox worker", "session", l.session, "line", s)
}

// sandbox waits for a session's sandbox, provisioning it if needed.
func (s *sandboxTools) sandbox(ctx context.Context, ws, sessionID string) (sandbox.Sandbox, error) {
	// Provisioning needs the workspace for the session's egress policy
	// and resources (after a restart too).
	s.workspaces.Store(sessionID, ws)
	return s.tb.Sandbox(ctx, sessionID)
}

// sandboxWorkFunc is api.Options.SandboxWork; nil without a dispatcher.
func (d *dispatcher) sandboxWorkFunc() func(string) (string, bool) {
	if d == nil {
		return nil
	}
	return d.sandboxWork
}
