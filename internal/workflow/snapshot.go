package workflow

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/hangarhq/hangar/internal/wire"
)

// Run statuses.
const (
	StatusRunning = "running"
	StatusIdle    = "idle"
	StatusEnded   = "ended"
)

// Snapshot is a run's whole state, as JSON: what Store saves and
// Registry.Restore takes back after a restart.
//
// A run resumes by replaying its program from the start (programs are
// deterministic enough for this: Math.random is seeded from Seed, and
// agent calls are numbered in program order). A replayed agent call whose
// Index has a finished ThreadRecord with the same agent and prompt returns
// the recorded answer (or throws the recorded failure) without a new
// thread; a replayed phase() whose place in PhaseStarts has the same phase
// emits no second phase_started (nor phase_ended, if it had ended). From
// the first call that differs (a program that read the clock, say), the
// records after it are dropped and the run goes on live. A thread that was
// still working when the server stopped is run again, as a new thread.
type Snapshot struct {
	ID          string                  `json:"id"`
	Name        string                  `json:"name"`
	Description *string                 `json:"description"`
	Phases      []wire.WorkflowRunPhase `json:"phases"`
	Program     string                  `json:"program"`
	Input       json.RawMessage         `json:"input,omitempty"`
	Seed        uint64                  `json:"seed"`
	CreatedAt   time.Time               `json:"created_at"`
	// Deadline is when the run's lifetime passes; it keeps passing while
	// the server is down or the run is idle.
	Deadline time.Time `json:"deadline"`
	// Announced is set once workflow_run.created was emitted; Started once
	// the first workflow_run.status_running was.
	Announced bool `json:"announced"`
	Started   bool `json:"started"`
	// Status is running, idle or ended.
	Status      string         `json:"status"`
	PhaseStarts []PhaseRecord  `json:"phase_starts,omitempty"`
	Threads     []ThreadRecord `json:"threads,omitempty"`
	// Log holds the program's last log() lines, for the agent's checks.
	Log []string `json:"log,omitempty"`
	// Result, Output, Failure and EndedAt are set when the run ended:
	// Output is the program's return value as JSON (completed runs);
	// Failure is the error's detail for the agent (never sent in events).
	Result  *wire.WorkflowRunResult `json:"result,omitempty"`
	Output  json.RawMessage         `json:"output,omitempty"`
	Failure string                  `json:"failure,omitempty"`
	EndedAt *time.Time              `json:"ended_at,omitempty"`
}

// PhaseRecord is one entry into a phase, in the order the program entered
// them.
type PhaseRecord struct {
	PhaseID        string `json:"phase_id"`
	StartedEventID string `json:"started_event_id"`
	Ended          bool   `json:"ended"`
}

// ThreadRecord is one agent call of the program, by Index.
type ThreadRecord struct {
	Index   int       `json:"index"`
	PhaseID string    `json:"phase_id,omitempty"`
	Agent   AgentSpec `json:"agent"`
	Prompt  string    `json:"prompt"`
	// Done is set once the thread returned; Error is its failure, if any.
	Done   bool   `json:"done"`
	Answer string `json:"answer,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Open reports whether the run has not ended.
func (s Snapshot) Open() bool { return s.Status != StatusEnded }

func (s Snapshot) clone() Snapshot {
	s.Phases = slices.Clone(s.Phases)
	s.PhaseStarts = slices.Clone(s.PhaseStarts)
	s.Threads = slices.Clone(s.Threads)
	s.Log = slices.Clone(s.Log)
	s.Input = slices.Clone(s.Input)
	s.Output = slices.Clone(s.Output)
	if s.Result != nil {
		r := *s.Result
		if r.Error != nil {
			e := *r.Error
			r.Error = &e
		}
		s.Result = &r
	}
	if s.EndedAt != nil {
		t := *s.EndedAt
		s.EndedAt = &t
	}
	return s
}

// phase finds a declared phase by id.
func (s Snapshot) phase(id string) (wire.WorkflowRunPhase, bool) {
	for _, p := range s.Phases {
		if p.ID == id {
			return p, true
		}
	}
	return wire.WorkflowRunPhase{}, false
}
