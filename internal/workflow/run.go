package workflow

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"

	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/wire"
)

// Id prefixes of runs (as the service's) and phases (Hangar's own; the
// service documents none).
const (
	RunPrefix   = "wrun_"
	PhasePrefix = "wrph_"
)

// StartRequest is what the agent asks for when it starts a run: the input
// of the start tool.
type StartRequest struct {
	Name        string      `json:"name,omitempty"`
	Description *string     `json:"description,omitempty"`
	Phases      []PhaseDecl `json:"phases,omitempty"`
	Program     string      `json:"program"`
	// Input is any JSON value, given to the program as the global input.
	Input json.RawMessage `json:"input,omitempty"`
	// TimeLimitSeconds shortens the run's lifetime (0: the default).
	TimeLimitSeconds int64 `json:"time_limit_seconds,omitempty"`
}

// PhaseDecl is one phase the plan declares.
type PhaseDecl struct {
	Name        string  `json:"name"`
	Description *string `json:"description,omitempty"`
}

// Run is one workflow run: its state, its compiled program, and while it
// executes, the interpreter. Make one with NewRun (a new run) or Restore
// (after a restart), then call Execute once.
type Run struct {
	cfg    Config
	limits Limits
	prog   *goja.Program
	sem    chan struct{}
	// executed guards Execute, which may run once.
	executed atomic.Bool

	// statusMu orders status changes with their events.
	statusMu sync.Mutex
	mu       sync.Mutex
	snap     Snapshot
	paused   bool
	resumeCh chan struct{}
	done     chan struct{}
}

// NewRun validates a start request and compiles its program. A refusal is
// an *Error: program_error for a program that is not valid JavaScript,
// unknown_error for one over a limit. No event is emitted; the caller
// (Registry.Start) reports a refusal with workflow_run.error.
func NewRun(cfg Config, req StartRequest) (*Run, error) {
	limits := cfg.Limits.withDefaults()
	if strings.TrimSpace(req.Program) == "" {
		return nil, programError("The workflow has no program.", "program is empty")
	}
	if n := len(req.Program) + len(req.Input); n > limits.MaxProgramBytes {
		return nil, limitError("The workflow's program is over the size limit.",
			fmt.Sprintf("program and input are %d bytes; the limit is %d", n, limits.MaxProgramBytes))
	}
	if len(req.Phases) > limits.MaxPhases {
		return nil, limitError("The workflow declares too many phases.",
			fmt.Sprintf("%d phases; the limit is %d", len(req.Phases), limits.MaxPhases))
	}
	if len(req.Input) > 0 && !json.Valid(req.Input) {
		return nil, programError("The workflow's input is not valid JSON.", "input is not valid JSON")
	}
	timeLimit := limits.DefaultTimeLimit
	if req.TimeLimitSeconds < 0 {
		return nil, programError("The workflow's time limit is not valid.", "time_limit_seconds must be positive")
	}
	if req.TimeLimitSeconds > 0 {
		timeLimit = min(time.Duration(req.TimeLimitSeconds)*time.Second, limits.MaxTimeLimit)
	}
	prog, err := compile(req.Program)
	if err != nil {
		return nil, err
	}
	id := ids.New(RunPrefix)
	name := cut(strings.TrimSpace(req.Name), MaxNameChars)
	if name == "" {
		name = "Workflow run " + id[len(id)-6:]
	}
	phases := make([]wire.WorkflowRunPhase, 0, len(req.Phases))
	for i, p := range req.Phases {
		if strings.TrimSpace(p.Name) == "" {
			return nil, programError("A phase of the workflow has no name.", fmt.Sprintf("phases[%d].name is empty", i))
		}
		phases = append(phases, wire.WorkflowRunPhase{
			ID: ids.New(PhasePrefix), Name: cut(p.Name, MaxNameChars), Description: cutPtr(p.Description, MaxDescriptionChars),
		})
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	now := wire.Now()
	r := newRun(cfg, limits, prog, Snapshot{
		ID:          id,
		Name:        name,
		Description: cutPtr(req.Description, MaxDescriptionChars),
		Phases:      phases,
		Program:     req.Program,
		Input:       req.Input,
		Seed:        binary.LittleEndian.Uint64(seed[:]),
		CreatedAt:   now,
		Deadline:    now.Add(timeLimit),
		Status:      StatusRunning,
	})
	return r, nil
}

// Restore rebuilds a run from its saved state, to Execute it again (which
// replays the program; see Snapshot).
func Restore(cfg Config, s Snapshot) (*Run, error) {
	prog, err := compile(s.Program)
	if err != nil {
		return nil, fmt.Errorf("workflow: restoring %s: %w", s.ID, err)
	}
	r := newRun(cfg, cfg.Limits.withDefaults(), prog, s.clone())
	// A run that was idle stays idle until the engine resumes it.
	r.paused = s.Status == StatusIdle
	return r, nil
}

func newRun(cfg Config, limits Limits, prog *goja.Program, s Snapshot) *Run {
	return &Run{
		cfg: cfg, limits: limits, prog: prog, snap: s,
		sem:      make(chan struct{}, limits.MaxConcurrentThreads),
		resumeCh: make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// compile wraps the program in a function, so that a top-level return
// gives the run's result, instruments it and compiles it.
func compile(src string) (*goja.Program, error) {
	// One line for the wrapper's head, so line numbers in errors match.
	wrapped := "(function(){" + src + "\n})()"
	instrumented, err := instrument(wrapped)
	if err != nil {
		return nil, programError("The workflow's program is not valid JavaScript.", err.Error())
	}
	if prog, err := goja.Compile("workflow.js", instrumented, false); err == nil {
		return prog, nil
	}
	// The program parses but its instrumented copy does not: a construct
	// the rewriting placed a tick in wrongly. Run it as written, bounded by
	// its time limit only, rather than refuse a valid program.
	prog, err := goja.Compile("workflow.js", wrapped, false)
	if err != nil {
		return nil, programError("The workflow's program is not valid JavaScript.", err.Error())
	}
	return prog, nil
}

// ID is the run's workflow_run_id.
func (r *Run) ID() string { return r.snap.ID }

// Snapshot is a copy of the run's state now.
func (r *Run) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snap.clone()
}

// Status is the run's status now (cheaper than Snapshot).
func (r *Run) Status() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snap.Status
}

// Done is closed when Execute has returned.
func (r *Run) Done() <-chan struct{} { return r.done }

// update changes the state under the lock and saves it.
func (r *Run) update(ctx context.Context, f func(s *Snapshot)) {
	r.mu.Lock()
	f(&r.snap)
	s := r.snap.clone()
	r.mu.Unlock()
	r.save(ctx, s)
}

func (r *Run) save(ctx context.Context, s Snapshot) {
	if r.cfg.Store == nil {
		return
	}
	if err := r.cfg.Store.SaveRun(context.WithoutCancel(ctx), s); err != nil {
		r.cfg.logger().ErrorContext(ctx, "workflow: saving run", "workflow_run_id", s.ID, "err", err)
	}
}

// emit sends events even when ctx is cancelled: a stopped run still
// reports its end.
func (r *Run) emit(ctx context.Context, payloads ...wire.EventPayload) []wire.Event {
	evs := make([]wire.Event, len(payloads))
	for i, p := range payloads {
		evs[i] = wire.NewEvent(p)
	}
	if err := r.cfg.Events.Emit(context.WithoutCancel(ctx), evs...); err != nil {
		r.cfg.logger().ErrorContext(ctx, "workflow: emitting events", "workflow_run_id", r.snap.ID, "err", err)
	}
	return evs
}

// announce emits workflow_run.created, once.
func (r *Run) announce(ctx context.Context) {
	r.mu.Lock()
	if r.snap.Announced {
		r.mu.Unlock()
		return
	}
	r.snap.Announced = true
	ev := &wire.WorkflowRunCreatedEvent{
		Description: r.snap.Description, Name: r.snap.Name,
		Phases: append([]wire.WorkflowRunPhase(nil), r.snap.Phases...), WorkflowRunID: r.snap.ID,
	}
	r.mu.Unlock()
	r.emit(ctx, ev)
	r.save(ctx, r.Snapshot())
}

// Pause makes the run idle: threads already working go on, but no new one
// starts until Resume. The engine pauses a session's runs at its budget
// (and may after an interrupt). The lifetime keeps passing. A run paused
// before it started reports workflow_run.status_idle as its first status.
func (r *Run) Pause(ctx context.Context) {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	r.mu.Lock()
	if r.paused || r.snap.Status == StatusEnded {
		r.mu.Unlock()
		return
	}
	r.paused = true
	r.snap.Status = StatusIdle
	s := r.snap.clone()
	r.mu.Unlock()
	if s.Started {
		r.emit(ctx, &wire.WorkflowRunStatusIdleEvent{WorkflowRunID: s.ID})
	}
	r.save(ctx, s)
}

// Resume undoes Pause.
func (r *Run) Resume(ctx context.Context) {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	r.mu.Lock()
	if !r.paused || r.snap.Status == StatusEnded {
		r.mu.Unlock()
		return
	}
	r.paused = false
	close(r.resumeCh)
	r.resumeCh = make(chan struct{})
	r.snap.Status = StatusRunning
	s := r.snap.clone()
	r.mu.Unlock()
	if s.Started {
		r.emit(ctx, &wire.WorkflowRunStatusRunningEvent{WorkflowRunID: s.ID})
	}
	r.save(ctx, s)
}

// start emits the run's first status event, once: running, or idle for a
// run paused before it started.
func (r *Run) start(ctx context.Context) {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	r.mu.Lock()
	if r.snap.Started {
		r.mu.Unlock()
		return
	}
	r.snap.Started = true
	s, paused := r.snap.clone(), r.paused
	r.mu.Unlock()
	if paused {
		r.emit(ctx, &wire.WorkflowRunStatusIdleEvent{WorkflowRunID: s.ID})
	} else {
		r.emit(ctx, &wire.WorkflowRunStatusRunningEvent{WorkflowRunID: s.ID})
	}
	r.save(ctx, s)
}

// waitRunnable blocks while the run is paused.
func (r *Run) waitRunnable(ctx context.Context) error {
	for {
		r.mu.Lock()
		paused, ch := r.paused, r.resumeCh
		r.mu.Unlock()
		if !paused {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Execute runs the program to its end and returns the run's result. It
// emits workflow_run.created (unless already announced),
// workflow_run.status_running (unless already started), the phase events,
// and at the end workflow_run.error (for an error result) and
// workflow_run.status_ended, closing any phase still open first.
//
// Cancelling ctx stops the run (result stopped), except when its cause is
// ErrSuspended: then Execute returns ErrSuspended without ending the run,
// which stays open in its saved state for Restore. Execute must be called
// once.
func (r *Run) Execute(ctx context.Context) (wire.WorkflowRunResult, error) {
	if !r.executed.CompareAndSwap(false, true) {
		return wire.WorkflowRunResult{}, fmt.Errorf("workflow: run %s executed twice", r.snap.ID)
	}
	defer close(r.done)
	r.announce(ctx)
	r.start(ctx)
	deadline := r.snap.Deadline

	timeout := &Error{Type: wire.WorkflowRunTimeoutError, Message: "The workflow run reached its time limit."}
	runCtx, cancel := context.WithDeadlineCause(ctx, deadline, timeout)
	defer cancel()

	out, runErr := r.interpret(runCtx)

	if runErr != nil && errors.Is(context.Cause(ctx), ErrSuspended) {
		return wire.WorkflowRunResult{}, ErrSuspended
	}
	var result wire.WorkflowRunResult
	var failure string
	var e *Error
	switch {
	case runErr == nil:
		result = wire.WorkflowRunResult{Type: wire.WorkflowRunCompleted}
	case errors.As(runErr, &e):
		result = wire.WorkflowRunResult{Type: wire.WorkflowRunErrored, Error: &wire.WorkflowRunError{Type: e.Type, Message: e.Message}}
		failure = e.Detail
	default: // stopped: ctx cancelled by Stop, an archive, or the caller
		result = wire.WorkflowRunResult{Type: wire.WorkflowRunStopped}
	}
	r.finish(ctx, result, out, failure)
	return result, nil
}

// finish closes the open phases and ends the run.
func (r *Run) finish(ctx context.Context, result wire.WorkflowRunResult, out json.RawMessage, failure string) {
	r.statusMu.Lock()
	r.mu.Lock()
	var payloads []wire.EventPayload
	for i := len(r.snap.PhaseStarts) - 1; i >= 0; i-- {
		p := &r.snap.PhaseStarts[i]
		if !p.Ended {
			p.Ended = true
			payloads = append(payloads, &wire.WorkflowRunPhaseEndedEvent{
				PhaseStartedID: p.StartedEventID, WorkflowRunID: r.snap.ID, WorkflowRunPhaseID: p.PhaseID,
			})
		}
	}
	if result.Error != nil {
		id := r.snap.ID
		payloads = append(payloads, &wire.WorkflowRunErrorEvent{Error: *result.Error, WorkflowRunID: &id})
	}
	payloads = append(payloads, &wire.WorkflowRunStatusEndedEvent{Result: result, WorkflowRunID: r.snap.ID})
	now := wire.Now()
	r.snap.Status = StatusEnded
	r.snap.Result = &result
	r.snap.Output = out
	r.snap.Failure = failure
	r.snap.EndedAt = &now
	r.paused = false
	s := r.snap.clone()
	r.mu.Unlock()
	r.emit(ctx, payloads...)
	r.save(ctx, s)
	r.statusMu.Unlock()
	if r.cfg.Ended != nil {
		r.cfg.Ended(context.WithoutCancel(ctx), s)
	}
}

func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func cutPtr(s *string, n int) *string {
	if s == nil {
		return nil
	}
	v := cut(*s, n)
	return &v
}
