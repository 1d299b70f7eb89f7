package workflow

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/wire"
)

// Registry holds one session's workflow runs: it starts them in the
// background, answers the agent's checks, stops them, and suspends and
// restores them around a restart. The engine keeps one per session whose
// agent has workflows enabled.
type Registry struct {
	cfg Config

	// base is the parent of every run's context: cancelled with
	// ErrSuspended by Suspend.
	base    context.Context
	suspend context.CancelCauseFunc

	mu    sync.Mutex
	runs  map[string]*entry
	order []string
	wg    sync.WaitGroup
}

type entry struct {
	run    *Run
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// NewRegistry returns an empty registry; cfg.Runner and cfg.Events are
// required.
func NewRegistry(cfg Config) *Registry {
	base, cancel := context.WithCancelCause(context.Background())
	return &Registry{cfg: cfg, base: base, suspend: cancel, runs: map[string]*entry{}}
}

// Start creates a run and executes it in the background. A refused start
// (the session at its limit of open runs, or a program that is not valid
// or over a limit) creates no run: it emits workflow_run.error with a null
// workflow_run_id and returns the *Error. On success workflow_run.created
// has been emitted when Start returns; the rest of the run's events follow
// from the background. ctx only bounds this call.
func (g *Registry) Start(ctx context.Context, req StartRequest) (Snapshot, error) {
	limits := g.cfg.Limits.withDefaults()
	g.mu.Lock()
	if g.base.Err() != nil {
		g.mu.Unlock()
		return Snapshot{}, errdefs.Unavailable("workflow runs are suspended: the server is shutting down")
	}
	open := g.openLocked()
	g.mu.Unlock()
	if open >= limits.MaxOpenRuns {
		return Snapshot{}, g.refuse(ctx, &Error{
			Type:    wire.WorkflowRunMaxWorkflowRunsError,
			Message: "The session is at its limit of open workflow runs.",
			Detail:  fmt.Sprintf("%d runs are open; a session may have %d. Wait for one to end, or stop one.", open, limits.MaxOpenRuns),
		})
	}
	run, err := NewRun(g.cfg, req)
	if err != nil {
		if e, ok := AsError(err); ok {
			return Snapshot{}, g.refuse(ctx, e)
		}
		return Snapshot{}, err
	}
	g.mu.Lock()
	// Another start may have taken the last place meanwhile.
	if open := g.openLocked(); open >= limits.MaxOpenRuns {
		g.mu.Unlock()
		return Snapshot{}, g.refuse(ctx, &Error{
			Type:    wire.WorkflowRunMaxWorkflowRunsError,
			Message: "The session is at its limit of open workflow runs.",
			Detail:  fmt.Sprintf("%d runs are open; a session may have %d", open, limits.MaxOpenRuns),
		})
	}
	g.adoptLocked(run)
	g.mu.Unlock()
	run.announce(ctx)
	// The state as started: the run may end before launch returns.
	s := run.Snapshot()
	g.launch(run)
	return s, nil
}

func (g *Registry) refuse(ctx context.Context, e *Error) error {
	ev := wire.NewEvent(&wire.WorkflowRunErrorEvent{Error: e.Wire()})
	if err := g.cfg.Events.Emit(ctx, ev); err != nil {
		return fmt.Errorf("workflow: reporting a refused start: %w", err)
	}
	return e
}

func (g *Registry) openLocked() int {
	n := 0
	for _, e := range g.runs {
		if e.run.Status() != StatusEnded {
			n++
		}
	}
	return n
}

func (g *Registry) adoptLocked(run *Run) {
	ctx, cancel := context.WithCancelCause(g.base)
	g.runs[run.ID()] = &entry{run: run, ctx: ctx, cancel: cancel}
	g.order = append(g.order, run.ID())
}

// launch executes an adopted run in the background.
func (g *Registry) launch(run *Run) {
	g.mu.Lock()
	e := g.runs[run.ID()]
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer e.cancel(nil)
		if _, err := run.Execute(e.ctx); err != nil && !errors.Is(err, ErrSuspended) {
			g.cfg.logger().ErrorContext(e.ctx, "workflow: run", "workflow_run_id", run.ID(), "err", err)
		}
	}()
}

// Get returns a run's state.
func (g *Registry) Get(id string) (Snapshot, bool) {
	g.mu.Lock()
	e, ok := g.runs[id]
	g.mu.Unlock()
	if !ok {
		return Snapshot{}, false
	}
	return e.run.Snapshot(), true
}

// List returns every run of the session, oldest first.
func (g *Registry) List() []Snapshot {
	g.mu.Lock()
	runs := make([]*Run, 0, len(g.order))
	for _, id := range g.order {
		runs = append(runs, g.runs[id].run)
	}
	g.mu.Unlock()
	out := make([]Snapshot, len(runs))
	for i, r := range runs {
		out[i] = r.Snapshot()
	}
	return out
}

// Open counts the runs that have not ended (idle ones included).
func (g *Registry) Open() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.openLocked()
}

// Running counts the open runs that are not idle: while one is, the
// session stays running (it goes idle only with requires_action when a
// thread waits on the client).
func (g *Registry) Running() int {
	n := 0
	for _, r := range g.openRuns() {
		if r.Status() == StatusRunning {
			n++
		}
	}
	return n
}

// Stop ends a run with result stopped and waits (bounded by ctx) for its
// workflow_run.status_ended. Stopping an ended run changes nothing.
func (g *Registry) Stop(ctx context.Context, id string) (Snapshot, error) {
	g.mu.Lock()
	e, ok := g.runs[id]
	g.mu.Unlock()
	if !ok {
		return Snapshot{}, errdefs.NotFound("no workflow run %q in this session", id)
	}
	e.cancel(ErrStopped)
	select {
	case <-e.run.Done():
	case <-ctx.Done():
		return e.run.Snapshot(), ctx.Err()
	}
	return e.run.Snapshot(), nil
}

// StopAll stops every open run (the session is archived) and waits for
// them to end.
func (g *Registry) StopAll(ctx context.Context) {
	for _, s := range g.List() {
		if s.Open() {
			_, _ = g.Stop(ctx, s.ID)
		}
	}
}

// Pause idles every open run (the session reached its budget); Resume
// undoes it.
func (g *Registry) Pause(ctx context.Context) {
	for _, r := range g.openRuns() {
		r.Pause(ctx)
	}
}

// Resume makes every idle run running again.
func (g *Registry) Resume(ctx context.Context) {
	for _, r := range g.openRuns() {
		r.Resume(ctx)
	}
}

func (g *Registry) openRuns() []*Run {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*Run
	for _, id := range g.order {
		if r := g.runs[id].run; r.Status() != StatusEnded {
			out = append(out, r)
		}
	}
	return out
}

// Suspend ends every run's work for a shutdown, without ending the runs:
// their threads are cancelled, no further event is emitted, and each run's
// last saved Snapshot is what Restore takes after the restart. It waits for
// the runs to return, bounded by ctx.
func (g *Registry) Suspend(ctx context.Context) error {
	g.suspend(ErrSuspended)
	return g.wait(ctx)
}

// Wait waits, bounded by ctx, until no run is executing.
func (g *Registry) Wait(ctx context.Context) error { return g.wait(ctx) }

func (g *Registry) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Restore takes back the session's runs after a restart: ended ones for
// the agent's checks, open ones to execute again from their saved state
// (see Snapshot for how a program is replayed). A run whose lifetime passed
// meanwhile ends with timeout_error at once.
func (g *Registry) Restore(ctx context.Context, snaps []Snapshot) error {
	var errs []error
	for _, s := range snaps {
		run, err := Restore(g.cfg, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		g.mu.Lock()
		if _, dup := g.runs[s.ID]; dup {
			g.mu.Unlock()
			continue
		}
		if !s.Open() {
			g.runs[s.ID] = &entry{run: run, ctx: g.base, cancel: func(error) {}}
			g.order = append(g.order, s.ID)
			run.executed.Store(true)
			close(run.done)
			g.mu.Unlock()
			continue
		}
		g.adoptLocked(run)
		g.mu.Unlock()
		g.launch(run)
	}
	return errors.Join(errs...)
}
