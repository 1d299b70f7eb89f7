// Package sandboxworker runs the tool calls of cloud sessions in a worker
// inside each session's sandbox. For every item of a cloud environment's
// work queue it claims (in process, no HTTP) it starts `hangar worker
// --item` in the session's sandbox, which speaks the work protocol back to
// the server over the session's API socket: the same protocol, and the
// same SDK worker and toolset, as a self-hosted environment's workers, so
// both kinds of session run their tools one way.
//
// It has three parts, built in the order their dependencies allow:
//   - Launcher starts worker processes in sandboxes, and ahead of time in
//     pooled ones (the sandboxes' pool start hook), so it comes before the
//     sandboxes;
//   - Intake is the engine's Workers for cloud sessions: it queues a
//     session for its worker, and knows the items this process claimed
//     (the API's SandboxWork), so it comes before the engine and the API;
//   - Dispatcher claims what the Intake queued and runs the workers,
//     serving each sandbox the API and telling the engine when a worker
//     ends, so it comes last.
package sandboxworker

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
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/workqueue"
)

// workerID is the worker id the dispatcher claims items under.
const workerID = "hangar-sandbox"

// Sandboxes are the sessions' sandboxes (sessionbox.Sandboxes).
type Sandboxes interface {
	// Sandbox waits for a session's sandbox, provisioning it if needed.
	Sandbox(ctx context.Context, ws, sessionID string) (sandbox.Sandbox, error)
	// NeedsRemount reports whether the session's sandbox must restart to
	// mount its current file resources; Remount restarts it.
	NeedsRemount(ctx context.Context, ws, sessionID string) bool
	Remount(ctx context.Context, sessionID string)
}

// Engine is told when a session's worker ended (engine.Engine).
type Engine interface {
	WorkerGone(ctx context.Context, ws, sessionID string, cause error)
}

// ---- intake -----------------------------------------------------------------

// Intake queues cloud sessions for their in-sandbox worker (it implements
// engine.Workers for them) and keeps what the Dispatcher and the API share:
// the items claimed by this process and the sessions' running workers.
type Intake struct {
	q   *workqueue.Queue
	sbs Sandboxes

	mu sync.Mutex
	// work maps the items claimed by this process to their sessions: their
	// tokens are good only on that session's socket (api.Options.SandboxWork).
	work map[string]string
	// restarted marks sessions whose sandbox was restarted on purpose
	// (changed resources): their worker's end is not a failure.
	restarted map[string]bool
	// live counts the running workers of each session. A session with one
	// needs no enqueue (the engine asks at every tool turn); if the worker
	// leaves just then, its end re-queues the calls (engine.WorkerGone).
	live map[string]int
	// kicks are the environments with items to claim, for the Dispatcher;
	// wake holds one signal while there are any.
	kicks map[envKey]bool
	wake  chan struct{}
}

type envKey struct{ ws, env string }

// NewIntake returns the intake of the cloud environments' queue q.
func NewIntake(q *workqueue.Queue, sbs Sandboxes) *Intake {
	return &Intake{q: q, sbs: sbs, work: map[string]string{}, restarted: map[string]bool{}, live: map[string]int{},
		kicks: map[envKey]bool{}, wake: make(chan struct{}, 1)}
}

// Session is api.Options.SandboxWork: the session an item claimed by this
// process belongs to.
func (in *Intake) Session(workID string) (string, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	s, ok := in.work[workID]
	return s, ok
}

// Enqueue queues a cloud session for its in-sandbox worker and has the
// Dispatcher claim the environment's items.
func (in *Intake) Enqueue(ctx context.Context, ws, env, sessionID string) error {
	// File resources changed since the sandbox started need a new one
	// (mounts are fixed at start); new input is when that is looked at.
	if in.sbs.NeedsRemount(ctx, ws, sessionID) {
		in.mu.Lock()
		if in.live[sessionID] > 0 {
			// Its worker ends with the sandbox, on purpose.
			in.restarted[sessionID] = true
		}
		in.mu.Unlock()
		in.sbs.Remount(ctx, sessionID)
	} else {
		in.mu.Lock()
		n := in.live[sessionID]
		in.mu.Unlock()
		if n > 0 {
			return nil
		}
	}
	w, err := in.q.Enqueue(ctx, ws, env, sessionID)
	if err != nil {
		return err
	}
	if w.State != store.WorkQueued {
		in.mu.Lock()
		_, ours := in.work[w.ID]
		in.mu.Unlock()
		if !ours {
			// Claimed by a server process before this one: its worker
			// died with that process's sandboxes. Stop it and queue anew.
			if _, err := in.q.Stop(ctx, ws, env, w.ID, true); err != nil && !errors.Is(err, errdefs.ErrConflict) {
				return err
			}
			if _, err := in.q.Enqueue(ctx, ws, env, sessionID); err != nil {
				return err
			}
		}
	}
	in.mu.Lock()
	in.kicks[envKey{ws, env}] = true
	in.mu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default:
	}
	return nil
}

// takeKicks returns the environments kicked since the last call.
func (in *Intake) takeKicks() []envKey {
	in.mu.Lock()
	defer in.mu.Unlock()
	keys := make([]envKey, 0, len(in.kicks))
	for k := range in.kicks {
		keys = append(keys, k)
	}
	clear(in.kicks)
	return keys
}

func (in *Intake) forgetWork(id string) {
	in.mu.Lock()
	delete(in.work, id)
	in.mu.Unlock()
}

// ---- dispatcher -------------------------------------------------------------

// Config is what the Dispatcher needs.
type Config struct {
	Queue     *workqueue.Queue
	Intake    *Intake
	Launcher  *Launcher
	Sandboxes Sandboxes
	Engine    Engine
	// API serves each sandbox's API socket.
	API    http.Handler
	Logger *slog.Logger
}

// Dispatcher claims the items the Intake queued and runs each in a worker
// inside its session's sandbox.
type Dispatcher struct {
	q      *workqueue.Queue
	in     *Intake
	launch *Launcher
	sbs    Sandboxes
	eng    Engine
	api    http.Handler
	log    *slog.Logger
	ctx    context.Context
	stop   chan struct{}
	wg     sync.WaitGroup

	mu sync.Mutex
	// draining: environments whose queue a goroutine is claiming from;
	// again says a kick arrived meanwhile.
	draining map[envKey]*drainState
	// socks are the per-session API sockets.
	socks map[string]*apiSocket
}

type drainState struct{ again bool }

// apiSocket serves the API to a session's workers; users counts the
// workers it serves.
type apiSocket struct {
	path  string
	srv   *http.Server
	users int
}

// New starts claiming what in queued, until ctx ends or Close.
func New(ctx context.Context, cfg Config) *Dispatcher {
	d := &Dispatcher{q: cfg.Queue, in: cfg.Intake, launch: cfg.Launcher, sbs: cfg.Sandboxes, eng: cfg.Engine, api: cfg.API,
		log: cfg.Logger, ctx: ctx, stop: make(chan struct{}), draining: map[envKey]*drainState{}, socks: map[string]*apiSocket{}}
	d.wg.Add(1)
	go d.loop()
	return d
}

// Close stops the sockets and waits for the dispatcher's goroutines (whose
// workers end with their sandboxes).
func (d *Dispatcher) Close() {
	close(d.stop)
	d.mu.Lock()
	socks := d.socks
	d.socks = map[string]*apiSocket{}
	d.mu.Unlock()
	for _, s := range socks {
		_ = s.srv.Close()
	}
	d.wg.Wait()
}

// loop starts a drain of every environment the Intake kicks.
func (d *Dispatcher) loop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.stop:
			return
		case <-d.in.wake:
		}
		for _, k := range d.in.takeKicks() {
			d.kick(k)
		}
	}
}

// kick makes sure a goroutine claims k's items.
func (d *Dispatcher) kick(k envKey) {
	d.mu.Lock()
	if st, ok := d.draining[k]; ok {
		st.again = true
		d.mu.Unlock()
		return
	}
	st := &drainState{}
	d.draining[k] = st
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.drain(k, st)
	}()
}

// drain claims k's items until none is left. Nobody else claims cloud
// items, so a poll this process made and did not ack is reclaimed at once.
func (d *Dispatcher) drain(k envKey, st *drainState) {
	var reclaim time.Duration
	for d.ctx.Err() == nil {
		c, err := d.q.Poll(d.ctx, k.ws, k.env, workqueue.PollParams{Reclaim: &reclaim, WorkerID: workerID})
		if err != nil {
			d.log.Error("claim sandbox work", "environment", k.env, "err", err)
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
		delete(d.draining, k)
		d.mu.Unlock()
		return
	}
}

// run acks a claimed item and starts its worker in the session's sandbox.
func (d *Dispatcher) run(c workqueue.Claimed) {
	it := c.Item
	if it.DataType != workqueue.DataSession {
		_, _ = d.q.Stop(d.ctx, it.Workspace, it.EnvironmentID, it.ID, true)
		return
	}
	in := d.in
	in.mu.Lock()
	in.work[it.ID] = it.DataID
	in.mu.Unlock()
	if _, err := d.q.Ack(d.ctx, it.Workspace, it.EnvironmentID, it.ID); err != nil {
		d.log.Error("ack sandbox work", "work", it.ID, "err", err)
		in.forgetWork(it.ID)
		return
	}
	in.mu.Lock()
	in.live[it.DataID]++
	in.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer in.forgetWork(it.ID)
		cause := d.serve(it, c.Secret)
		in.mu.Lock()
		if in.live[it.DataID]--; in.live[it.DataID] <= 0 {
			delete(in.live, it.DataID)
		}
		in.mu.Unlock()
		if d.ctx.Err() != nil {
			// Shutting down: the next start recovers the session.
			return
		}
		// The worker force-stops its item on a clean exit; this covers
		// the others, so the session can be queued again.
		if _, err := d.q.Stop(context.WithoutCancel(d.ctx), it.Workspace, it.EnvironmentID, it.ID, true); err != nil && !errors.Is(err, errdefs.ErrConflict) && !errors.Is(err, errdefs.ErrNotFound) {
			d.log.Warn("stop sandbox work", "work", it.ID, "err", err)
		}
		in.mu.Lock()
		if in.restarted[it.DataID] {
			delete(in.restarted, it.DataID)
			cause = nil
		}
		in.mu.Unlock()
		d.eng.WorkerGone(d.ctx, it.Workspace, it.DataID, cause)
	}()
}

// serve runs the item's worker to its end; the error says why tool calls
// it left unanswered failed (nil: it ended cleanly).
func (d *Dispatcher) serve(it store.WorkItem, secret string) error {
	ws, sid := it.Workspace, it.DataID
	sb, err := d.sbs.Sandbox(d.ctx, ws, sid)
	if err != nil {
		d.log.Warn("sandbox for worker", "session", sid, "err", err)
		return err
	}
	// The worker reaches the API through a socket in the sandbox's egress
	// directory, served while it runs.
	sock, err := d.listen(sid, sb.Handle().Spec.EgressDir)
	if err != nil {
		d.log.Warn("api socket for worker", "session", sid, "err", err)
		return err
	}
	defer d.unlisten(sid, sock)
	// The secret goes on stdin, never into argv or the environment, which
	// the sandbox's other processes could read.
	in, err := json.Marshal(sandbox.WorkerItem{WorkID: it.ID, EnvironmentID: it.EnvironmentID, SessionID: sid, Secret: secret})
	if err != nil {
		return err
	}
	d.log.Debug("start sandbox worker", "session", sid, "work", it.ID)
	w := d.launch.take(sb)
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
		if w, err = d.launch.start(sb, sid, bytes.NewReader(in), false); err != nil {
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

// listen makes sure the session's API socket is served in dir (the
// session's egress directory, mounted read-only in its sandbox), for one
// more worker; unlisten releases it.
func (d *Dispatcher) listen(sessionID, dir string) (*apiSocket, error) {
	if dir == "" {
		return nil, fmt.Errorf("api socket for session %s: the sandbox has no egress directory", sessionID)
	}
	path := filepath.Join(dir, sandbox.APISocketName)
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.socks[sessionID]; ok {
		if _, err := os.Lstat(path); err == nil && s.path == path {
			s.users++
			return s, nil
		}
		// The directory was made anew (the proxy session restarted).
		_ = s.srv.Close()
		delete(d.socks, sessionID)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api socket for session %s: %w", sessionID, err)
	}
	// Whatever uid the sandbox runs as; only this session's sandbox has the
	// directory, and only its worker's token is accepted.
	if err := os.Chmod(path, 0o666); err != nil {
		_ = ln.Close()
		return nil, err
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
		// request would fail authentication). The socket closes once its
		// workers are gone, or at Close.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(d.ctx) },
	}
	s := &apiSocket{path: path, srv: srv, users: 1}
	d.socks[sessionID] = s
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		_ = srv.Serve(ln)
	}()
	return s, nil
}

// unlisten stops serving s once no worker of its session runs.
func (d *Dispatcher) unlisten(sessionID string, s *apiSocket) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.users--; s.users > 0 {
		return
	}
	if d.socks[sessionID] == s {
		delete(d.socks, sessionID)
	}
	// Under the lock: closing unlinks the socket's path, which must come
	// before a later listen makes a new one there.
	_ = s.srv.Close()
}

// ---- launcher ---------------------------------------------------------------

// Launcher starts `hangar worker --item` in sandboxes, ahead of time in
// pooled ones.
type Launcher struct {
	ctx context.Context
	log *slog.Logger
	mu  sync.Mutex
	// pre holds the workers started in pooled sandboxes, waiting on stdin
	// for the item of the session that adopts the sandbox.
	pre map[sandbox.Sandbox]*worker
}

// NewLauncher returns a launcher whose workers run until ctx ends.
func NewLauncher(ctx context.Context, log *slog.Logger) *Launcher {
	return &Launcher{ctx: ctx, log: log, pre: map[sandbox.Sandbox]*worker{}}
}

// worker is a worker process started in a sandbox.
type worker struct {
	p     sandbox.Process
	stdin io.WriteCloser
	log   *lineLog
}

// start starts `hangar worker --item` in sb, reading its item from stdin;
// warm has it warm its code up while it waits for the item.
func (l *Launcher) start(sb sandbox.Sandbox, session string, stdin io.Reader, warm bool) (*worker, error) {
	logw := &lineLog{log: l.log, session: session}
	// The worker's log lines cross the sandbox boundary: only when the
	// server logs at debug are its routine ones worth that.
	level := "warn"
	if l.log.Enabled(l.ctx, slog.LevelDebug) {
		level = "debug"
	}
	argv := []string{sandbox.AgentBinaryPath, "worker", "--item", "--log-level", level}
	if warm {
		argv = append(argv, "--warm")
	}
	p, err := sb.Exec(l.ctx, sandbox.ExecRequest{
		Argv:    argv,
		Stdin:   stdin,
		Stdout:  logw,
		Stderr:  logw,
		Timeout: -1,
	})
	if err != nil {
		return nil, err
	}
	return &worker{p: p, log: logw}, nil
}

// Prestart starts a worker in a pooled sandbox (sandbox.WithPoolStart):
// the process, its toolset and persistent shell are up before a session
// claims the sandbox, and the claim only writes the item to its stdin.
// Meanwhile it warms its code up (`--warm`), so the item's handshake with
// the server runs as fast as later requests.
func (l *Launcher) Prestart(ctx context.Context, sb sandbox.Sandbox) error {
	pr, pw := io.Pipe()
	w, err := l.start(sb, sb.Handle().Spec.SessionID, pr, true)
	if err != nil {
		return err
	}
	w.stdin = pw
	l.mu.Lock()
	l.pre[sb] = w
	l.mu.Unlock()
	return nil
}

// take returns the worker prestarted in sb, if any.
func (l *Launcher) take(sb sandbox.Sandbox) *worker {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.pre[sb]
	delete(l.pre, sb)
	return w
}

// Close ends the prestarted workers no session claimed.
func (l *Launcher) Close() {
	l.mu.Lock()
	pre := l.pre
	l.pre = map[sandbox.Sandbox]*worker{}
	l.mu.Unlock()
	for _, w := range pre {
		// A worker that never got an item ends on EOF.
		_ = w.stdin.Close()
	}
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
