package wire

import (
	"encoding/json"
	"time"
)

// TypeDream is the dream object's type.
const TypeDream = "dream"

// Dream statuses: pending and running are live; the rest are final.
const (
	DreamPending   = "pending"
	DreamRunning   = "running"
	DreamCompleted = "completed"
	DreamFailed    = "failed"
	DreamCanceled  = "canceled"
)

// DreamStatuses are every status, in lifecycle order.
var DreamStatuses = []string{DreamPending, DreamRunning, DreamCompleted, DreamFailed, DreamCanceled}

// Dream input types and output behaviours.
const (
	DreamInputMemoryStore = "memory_store"
	DreamInputSessions    = "sessions"
	DreamCreateNew        = "create_new"
	DreamUpdateExisting   = "update_existing"
)

// Dream is the dream object (BetaDream): an asynchronous job that reads a
// memory store and past sessions and writes a reorganised memory store.
type Dream struct {
	ID             string              `json:"id"`
	Type           string              `json:"type"`
	ArchivedAt     *time.Time          `json:"archived_at"`
	CreatedAt      time.Time           `json:"created_at"`
	EndedAt        *time.Time          `json:"ended_at"`
	Error          *DreamError         `json:"error"`
	Inputs         []DreamInput        `json:"inputs"`
	Instructions   *string             `json:"instructions"`
	Model          DreamModel          `json:"model"`
	OutputBehavior DreamOutputBehavior `json:"output_behavior"`
	Outputs        []DreamOutput       `json:"outputs"`
	SessionID      *string             `json:"session_id"`
	Status         string              `json:"status"`
	Usage          DreamUsage          `json:"usage"`
}

// Final reports whether the dream's status can no longer change.
func (d *Dream) Final() bool {
	return d.Status != DreamPending && d.Status != DreamRunning
}

// DreamError is why a dream failed.
type DreamError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// DreamInput is one entry of inputs: a memory store or a set of sessions.
type DreamInput struct {
	Type          string   `json:"type"`
	MemoryStoreID string   `json:"memory_store_id,omitempty"`
	SessionIDs    []string `json:"session_ids,omitempty"`
}

// DreamModel is the model that runs a dream, always as an object.
type DreamModel struct {
	ID    string `json:"id"`
	Speed string `json:"speed"`
}

// DreamOutputBehavior is where a dream writes its result.
type DreamOutputBehavior struct {
	Type          string `json:"type"`
	MemoryStoreID string `json:"memory_store_id,omitempty"`
}

// DreamOutput names the memory store holding a dream's result.
type DreamOutput struct {
	Type          string `json:"type"`
	MemoryStoreID string `json:"memory_store_id"`
}

// DreamUsage is a dream's token counts.
type DreamUsage struct {
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}

// DreamCreateParams is the body of POST /v1/dreams. Model is a model id
// string or a {id, speed} object.
type DreamCreateParams struct {
	Inputs         []DreamInputParam             `json:"inputs"`
	Model          json.RawMessage               `json:"model"`
	Instructions   Opt[string]                   `json:"instructions"`
	OutputBehavior Opt[DreamOutputBehaviorParam] `json:"output_behavior"`
}

// DreamInputParam is an inputs entry of a create request.
type DreamInputParam struct {
	Type          string      `json:"type"`
	MemoryStoreID Opt[string] `json:"memory_store_id"`
	SessionIDs    []string    `json:"session_ids"`
}

// DreamOutputBehaviorParam is output_behavior in a create request.
type DreamOutputBehaviorParam struct {
	Type          string      `json:"type"`
	MemoryStoreID Opt[string] `json:"memory_store_id"`
}
