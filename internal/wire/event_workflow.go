package wire

import (
	"encoding/json"
	"fmt"
)

// ---- workflow runs (multiagent_20261001 dynamic workflows) -------------

// Workflow run event types.
const (
	EventTypeWorkflowRunCreated       = "workflow_run.created"
	EventTypeWorkflowRunStatusRunning = "workflow_run.status_running"
	EventTypeWorkflowRunStatusIdle    = "workflow_run.status_idle"
	EventTypeWorkflowRunStatusEnded   = "workflow_run.status_ended"
	EventTypeWorkflowRunError         = "workflow_run.error"
	EventTypeWorkflowRunPhaseStarted  = "workflow_run.phase_started"
	EventTypeWorkflowRunPhaseEnded    = "workflow_run.phase_ended"
)

// Workflow run error types (error.type of workflow_run.error and of an
// error result). The set can grow; readers treat an unknown one as a
// generic failure.
const (
	WorkflowRunTimeoutError         = "timeout_error"
	WorkflowRunProgramError         = "program_error"
	WorkflowRunUnknownError         = "unknown_error"
	WorkflowRunThreadLimitError     = "thread_limit_error"
	WorkflowRunMaxWorkflowRunsError = "max_workflow_runs_error"
)

// Workflow run result types (result.type of workflow_run.status_ended).
const (
	WorkflowRunCompleted = "completed"
	WorkflowRunStopped   = "stopped"
	WorkflowRunErrored   = "error"
)

// WorkflowRunPhase is one phase a run's plan declares.
type WorkflowRunPhase struct {
	ID string `json:"id"`
	// Description is null when the plan gave none.
	Description *string `json:"description"`
	Name        string  `json:"name"`
}

// WorkflowRunCreatedEvent is workflow_run.created: once per run, before
// its other events.
type WorkflowRunCreatedEvent struct {
	Description   *string            `json:"description"`
	Name          string             `json:"name"`
	Phases        []WorkflowRunPhase `json:"phases"`
	WorkflowRunID string             `json:"workflow_run_id"`
}

func (e *WorkflowRunCreatedEvent) MarshalJSON() ([]byte, error) {
	type plain WorkflowRunCreatedEvent
	p := plain(*e)
	if p.Phases == nil {
		// The SDK marks phases required: an empty plan still sends [].
		p.Phases = []WorkflowRunPhase{}
	}
	return json.Marshal(p)
}

// WorkflowRunStatusRunningEvent is workflow_run.status_running.
type WorkflowRunStatusRunningEvent struct {
	WorkflowRunID string `json:"workflow_run_id"`
}

// WorkflowRunStatusIdleEvent is workflow_run.status_idle.
type WorkflowRunStatusIdleEvent struct {
	WorkflowRunID string `json:"workflow_run_id"`
}

// WorkflowRunError is the {type, message} of a run's error. Message is a
// short sentence written by the server, never content of the run.
type WorkflowRunError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// WorkflowRunResult is the result union of workflow_run.status_ended:
// completed, stopped, or error with its Error.
type WorkflowRunResult struct {
	Type  string
	Error *WorkflowRunError
}

func (r WorkflowRunResult) MarshalJSON() ([]byte, error) {
	if r.Type != WorkflowRunErrored {
		return json.Marshal(TypeOnly{Type: r.Type})
	}
	if r.Error == nil {
		return nil, fmt.Errorf("wire: workflow run error result without error")
	}
	return json.Marshal(struct {
		Type  string           `json:"type"`
		Error WorkflowRunError `json:"error"`
	}{r.Type, *r.Error})
}

func (r *WorkflowRunResult) UnmarshalJSON(b []byte) error {
	var v struct {
		Type  string            `json:"type"`
		Error *WorkflowRunError `json:"error"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = WorkflowRunResult(v)
	return nil
}

// WorkflowRunStatusEndedEvent is workflow_run.status_ended: always a run's
// last event.
type WorkflowRunStatusEndedEvent struct {
	Result        WorkflowRunResult `json:"result"`
	WorkflowRunID string            `json:"workflow_run_id"`
}

// WorkflowRunErrorEvent is workflow_run.error. WorkflowRunID is null when
// the error kept a run from being created.
type WorkflowRunErrorEvent struct {
	Error         WorkflowRunError `json:"error"`
	WorkflowRunID *string          `json:"workflow_run_id"`
}

// WorkflowRunPhaseStartedEvent is workflow_run.phase_started.
type WorkflowRunPhaseStartedEvent struct {
	WorkflowRunID      string `json:"workflow_run_id"`
	WorkflowRunPhaseID string `json:"workflow_run_phase_id"`
}

// WorkflowRunPhaseEndedEvent is workflow_run.phase_ended; PhaseStartedID
// is the id of the phase_started event it closes.
type WorkflowRunPhaseEndedEvent struct {
	PhaseStartedID     string `json:"phase_started_id"`
	WorkflowRunID      string `json:"workflow_run_id"`
	WorkflowRunPhaseID string `json:"workflow_run_phase_id"`
}

func (*WorkflowRunCreatedEvent) EventType() string { return EventTypeWorkflowRunCreated }
func (*WorkflowRunStatusRunningEvent) EventType() string {
	return EventTypeWorkflowRunStatusRunning
}
func (*WorkflowRunStatusIdleEvent) EventType() string  { return EventTypeWorkflowRunStatusIdle }
func (*WorkflowRunStatusEndedEvent) EventType() string { return EventTypeWorkflowRunStatusEnded }
func (*WorkflowRunErrorEvent) EventType() string       { return EventTypeWorkflowRunError }
func (*WorkflowRunPhaseStartedEvent) EventType() string {
	return EventTypeWorkflowRunPhaseStarted
}
func (*WorkflowRunPhaseEndedEvent) EventType() string { return EventTypeWorkflowRunPhaseEnded }

func (*WorkflowRunCreatedEvent) isEventPayload()       {}
func (*WorkflowRunStatusRunningEvent) isEventPayload() {}
func (*WorkflowRunStatusIdleEvent) isEventPayload()    {}
func (*WorkflowRunStatusEndedEvent) isEventPayload()   {}
func (*WorkflowRunErrorEvent) isEventPayload()         {}
func (*WorkflowRunPhaseStartedEvent) isEventPayload()  {}
func (*WorkflowRunPhaseEndedEvent) isEventPayload()    {}
