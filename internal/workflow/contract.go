package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hangarhq/hangar/internal/wire"
)

// AgentSpec names the agent one of a run's threads runs: a predefined agent
// (one of the session's workflows.predefined_agents, by name) or an inline
// agent the program defines (its name, description and system prompt; it
// runs on the session agent's model, tools, MCP servers and skills).
type AgentSpec struct {
	// Predefined is the name of a predefined agent; "" for an inline one.
	Predefined  string `json:"predefined,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	System      string `json:"system,omitempty"`
}

// ThreadRequest is one agent call of a program: a new session thread of the
// run, running Agent on Prompt until it ends its turn.
type ThreadRequest struct {
	RunID string
	// PhaseID is the innermost phase open when the program made the call;
	// "" outside any phase.
	PhaseID string
	// Index numbers the run's agent calls in program order, from 0. A
	// resumed run replays its program and reaches the same indexes, so the
	// engine can use (RunID, Index) to recognise a thread it already made.
	Index  int
	Agent  AgentSpec
	Prompt string
}

// AgentRunner is what the engine gives a run to work with session threads.
type AgentRunner interface {
	// RunAgent creates a session thread for the request (announced with
	// session.thread_created carrying the run's id), sends it the prompt,
	// waits for the agent to end its turn and returns its final answer
	// text. It returns an error when the thread fails. ctx ends when the
	// run stops, times out or is suspended: the runner then stops the
	// thread and returns ctx's error. The runner archives the thread when
	// it is done with it (no later than the run's end).
	RunAgent(ctx context.Context, req ThreadRequest) (answer string, err error)
}

// EventSink receives the workflow_run.* events of a session's runs, already
// minted (id and processed_at set), in the order they happened. The engine
// appends them to the session's primary thread. Emit is called from the
// runs' own goroutines, concurrently with the session's work, and from
// within Registry.Start (so within ExecuteTool, for workflow_run.created or
// a refusal): the engine must not call those holding a lock Emit takes.
// Phase events need the id Emit's events carry, so the sink must append
// them as given.
type EventSink interface {
	Emit(ctx context.Context, events ...wire.Event) error
}

// Store persists a run's state, so that a restart can resume it. SaveRun is
// called with the whole state after every change worth keeping (a phase
// entered or left, a thread started or finished, a status change, the end).
// It may be nil: then runs are not durable.
type Store interface {
	SaveRun(ctx context.Context, s Snapshot) error
}

// Agents is what the session's workflows configuration lets a program run.
type Agents struct {
	// Predefined are the names of workflows.predefined_agents.
	Predefined []string
	// Inline reports whether workflows.inline_agents is enabled.
	Inline bool
}

// Config is what a Run or a Registry needs. Runner and Events are required.
type Config struct {
	Runner AgentRunner
	Events EventSink
	Store  Store
	// Ended is called after a run's workflow_run.status_ended, with its
	// final state, so the engine can give the session's agent its ending
	// notice (EndingNotice) and a turn on it. Not called when a run is
	// suspended for a restart. It runs on the run's goroutine, before
	// Registry.Stop returns: it should hand the turn off, not take it.
	Ended  func(ctx context.Context, s Snapshot)
	Logger *slog.Logger
	Limits Limits
	Agents Agents
}

func (c Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Limits bound a session's runs. The zero value of a field means its
// default (DefaultLimits).
type Limits struct {
	// MaxOpenRuns is how many runs a session may have open (not ended,
	// idle ones included); a start past it is refused with
	// max_workflow_runs_error.
	MaxOpenRuns int
	// MaxThreads is how many threads one run may create over its life; the
	// program's call that would go past it ends the run with
	// thread_limit_error.
	MaxThreads int
	// MaxConcurrentThreads is how many of a run's threads work at once; the
	// others wait for a place.
	MaxConcurrentThreads int
	// DefaultTimeLimit is a run's lifetime when the agent sets none;
	// MaxTimeLimit is the longest it may set. A run past its lifetime ends
	// with timeout_error.
	DefaultTimeLimit time.Duration
	MaxTimeLimit     time.Duration
	// MaxSteps bounds the program's own computation: one step per loop
	// iteration and per function call. Past it the run ends with
	// unknown_error (a server limit on plans).
	MaxSteps int64
	// MaxProgramBytes, MaxPhases and MaxOutputBytes bound the program's
	// source, its declared phases and its JSON result.
	MaxProgramBytes int
	MaxPhases       int
	MaxOutputBytes  int
	// MaxCallStackSize bounds the interpreter's recursion depth.
	MaxCallStackSize int
}

// Name and description lengths the server cuts to, in characters.
const (
	MaxNameChars        = 64
	MaxDescriptionChars = 256
)

// DefaultLimits are the documented service limits where there is one (10
// open runs, 1,000 threads a run, 64 at once, a 24-hour lifetime) and
// Hangar's own bounds elsewhere.
func DefaultLimits() Limits {
	return Limits{
		MaxOpenRuns:          10,
		MaxThreads:           1000,
		MaxConcurrentThreads: 64,
		DefaultTimeLimit:     24 * time.Hour,
		MaxTimeLimit:         24 * time.Hour,
		MaxSteps:             10_000_000,
		MaxProgramBytes:      256 << 10,
		MaxPhases:            100,
		MaxOutputBytes:       1 << 20,
		MaxCallStackSize:     1000,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxOpenRuns, d.MaxOpenRuns)
	set(&l.MaxThreads, d.MaxThreads)
	set(&l.MaxConcurrentThreads, d.MaxConcurrentThreads)
	set(&l.MaxProgramBytes, d.MaxProgramBytes)
	set(&l.MaxPhases, d.MaxPhases)
	set(&l.MaxOutputBytes, d.MaxOutputBytes)
	set(&l.MaxCallStackSize, d.MaxCallStackSize)
	if l.DefaultTimeLimit <= 0 {
		l.DefaultTimeLimit = d.DefaultTimeLimit
	}
	if l.MaxTimeLimit <= 0 {
		l.MaxTimeLimit = d.MaxTimeLimit
	}
	if l.DefaultTimeLimit > l.MaxTimeLimit {
		l.DefaultTimeLimit = l.MaxTimeLimit
	}
	if l.MaxSteps <= 0 {
		l.MaxSteps = d.MaxSteps
	}
	return l
}

// Error is why a run ended in error or was not created: a typed
// workflow_run error. Message is written by the server and never carries
// content of the run (it goes into events); Detail is for the agent that
// wrote the program (the exception, the syntax error) and is shown only in
// its tool results.
type Error struct {
	Type    string
	Message string
	Detail  string
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Type, e.Message, e.Detail)
	}
	return e.Type + ": " + e.Message
}

// Wire is the error as events carry it.
func (e *Error) Wire() wire.WorkflowRunError {
	return wire.WorkflowRunError{Type: e.Type, Message: e.Message}
}

func programError(msg, detail string) *Error {
	return &Error{Type: wire.WorkflowRunProgramError, Message: msg, Detail: detail}
}

func limitError(msg, detail string) *Error {
	return &Error{Type: wire.WorkflowRunUnknownError, Message: msg, Detail: detail}
}

// AsError finds the *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// ErrSuspended is the cause to cancel a run's context with when the server
// shuts down: the run then ends its threads and returns without ending
// (no workflow_run.status_ended), its last saved state ready to resume.
// Any other cancellation stops the run (result stopped).
var ErrSuspended = errors.New("workflow: run suspended")

// ErrStopped is the cause Stop cancels a run with.
var ErrStopped = errors.New("workflow: run stopped")
