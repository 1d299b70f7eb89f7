package wire

import (
	"encoding/json"
	"time"
)

// Deployment and deployment-run constants.
const (
	TypeDeployment    = "deployment"
	TypeDeploymentRun = "deployment_run"
	ScheduleCron      = "cron"

	DeploymentActive = "active"
	DeploymentPaused = "paused"

	TriggerSchedule = "schedule"
	TriggerManual   = "manual"

	PausedManual = "manual"

	// Deployment run error types, as the SDK spells them.
	RunErrAgentArchived           = "agent_archived_error"
	RunErrEnvironmentArchived     = "environment_archived_error"
	RunErrEnvironmentNotFound     = "environment_not_found_error"
	RunErrVaultNotFound           = "vault_not_found_error"
	RunErrVaultArchived           = "vault_archived_error"
	RunErrFileNotFound            = "file_not_found_error"
	RunErrMemoryStoreArchived     = "memory_store_archived_error"
	RunErrSkillNotFound           = "skill_not_found_error"
	RunErrSessionResourceNotFound = "session_resource_not_found_error"
	RunErrSessionRateLimited      = "session_rate_limited_error"
	RunErrSessionCreationRejected = "session_creation_rejected_error"
	RunErrUnknown                 = "unknown_error"
	MaxDeploymentInitialEvents    = 50
	MaxDeploymentUpcomingRuns     = 5
	MaxScheduledDeploymentsPerOrg = 1000
)

// Schedule is a deployment's cron schedule (MA.Schedule).
type Schedule struct {
	Type           string      `json:"type"`
	Expression     string      `json:"expression"`
	Timezone       string      `json:"timezone"`
	LastRunAt      *time.Time  `json:"last_run_at"`
	UpcomingRunsAt []time.Time `json:"upcoming_runs_at"`
}

// PausedReason is why a deployment is paused.
type PausedReason struct {
	Type  string    `json:"type"`
	Error *RunError `json:"error,omitempty"`
}

// Deployment is the MA.Deployment object.
type Deployment struct {
	ID            string            `json:"id"`
	Type          string            `json:"type"`
	Agent         AgentReference    `json:"agent"`
	ArchivedAt    *time.Time        `json:"archived_at"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	Description   *string           `json:"description"`
	EnvironmentID string            `json:"environment_id"`
	InitialEvents []json.RawMessage `json:"initial_events"`
	Metadata      Metadata          `json:"metadata"`
	Name          string            `json:"name"`
	PausedReason  *PausedReason     `json:"paused_reason"`
	Resources     []json.RawMessage `json:"resources"`
	Schedule      *Schedule         `json:"schedule"`
	Status        string            `json:"status"`
	VaultIDs      []string          `json:"vault_ids"`
	Budget        *BudgetLimit      `json:"budget"`
}

// RunError is a failed run's {type, message}.
type RunError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// TriggerContext says what started a run.
type TriggerContext struct {
	Type        string     `json:"type"`
	ScheduledAt *time.Time `json:"scheduled_at,omitempty"`
}

// DeploymentRun is the MA.DeploymentRun object: exactly one of SessionID
// and Error is set once the run has finished.
type DeploymentRun struct {
	ID             string         `json:"id"`
	Type           string         `json:"type"`
	Agent          AgentReference `json:"agent"`
	CreatedAt      time.Time      `json:"created_at"`
	DeploymentID   string         `json:"deployment_id"`
	Error          *RunError      `json:"error"`
	SessionID      *string        `json:"session_id"`
	TriggerContext TriggerContext `json:"trigger_context"`
}
