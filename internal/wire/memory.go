package wire

import "time"

// Object type constants of memory stores, memories and memory versions.
const (
	TypeMemoryStore        = "memory_store"
	TypeMemoryStoreDeleted = "memory_store_deleted"
	TypeMemory             = "memory"
	TypeMemoryDeleted      = "memory_deleted"
	TypeMemoryPrefix       = "memory_prefix"
	TypeMemoryVersion      = "memory_version"
)

// Memory version operations.
const (
	MemoryCreated  = "created"
	MemoryModified = "modified"
	MemoryDeleted  = "deleted"
)

// Actor types: who made a change.
const (
	ActorAPI     = "api_actor"
	ActorSession = "session_actor"
)

// MemoryStore is the memory store object (MA.MemoryStore).
type MemoryStore struct {
	ID          string     `json:"id"`
	Type        string     `json:"type"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Metadata    Metadata   `json:"metadata"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ArchivedAt  *time.Time `json:"archived_at"`
}

// MemoryStoreCreateParams is the body of POST /v1/memory_stores.
type MemoryStoreCreateParams struct {
	Name        Opt[string]       `json:"name"`
	Description Opt[string]       `json:"description"`
	Metadata    map[string]string `json:"metadata"`
}

// MemoryStoreUpdateParams is the body of POST /v1/memory_stores/{id}.
type MemoryStoreUpdateParams struct {
	Name        Opt[string]   `json:"name"`
	Description Opt[string]   `json:"description"`
	Metadata    MetadataPatch `json:"metadata"`
}

// Memory is the memory object (MA.Memory). Content is null in the basic
// view; the stored document always holds it.
type Memory struct {
	ID               string    `json:"id"`
	Type             string    `json:"type"`
	MemoryStoreID    string    `json:"memory_store_id"`
	MemoryVersionID  string    `json:"memory_version_id"`
	Path             string    `json:"path"`
	Content          *string   `json:"content"`
	ContentSHA256    string    `json:"content_sha256"`
	ContentSizeBytes int64     `json:"content_size_bytes"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// MemoryPrefix is a directory-like entry of a tree listing
// (MA.MemoryPrefix): every memory below Path, rolled up.
type MemoryPrefix struct {
	Type string `json:"type"`
	Path string `json:"path"`
}

// MemoryCreateParams is the body of POST /v1/memory_stores/{id}/memories.
type MemoryCreateParams struct {
	Path    Opt[string] `json:"path"`
	Content Opt[string] `json:"content"`
}

// MemoryUpdateParams is the body of POST
// /v1/memory_stores/{id}/memories/{memory_id}.
type MemoryUpdateParams struct {
	Path         Opt[string]             `json:"path"`
	Content      Opt[string]             `json:"content"`
	Precondition Opt[MemoryPrecondition] `json:"precondition"`
}

// MemoryPrecondition is an update's precondition (MA.PreconditionParam).
type MemoryPrecondition struct {
	Type          string      `json:"type"`
	ContentSHA256 Opt[string] `json:"content_sha256"`
}

// Actor is who made a change (MA.ActorUnion); exactly one id is set.
type Actor struct {
	Type      string `json:"type"`
	APIKeyID  string `json:"api_key_id,omitempty"`
	SessionID string `json:"session_id,omitempty"`
}

// MemoryVersion is one immutable change of a memory (MA.MemoryVersion).
// Content, hash, size and path are null once redacted; content is also
// null for a deletion and in the basic view.
type MemoryVersion struct {
	ID               string     `json:"id"`
	Type             string     `json:"type"`
	MemoryID         string     `json:"memory_id"`
	MemoryStoreID    string     `json:"memory_store_id"`
	Operation        string     `json:"operation"`
	Path             *string    `json:"path"`
	Content          *string    `json:"content"`
	ContentSHA256    *string    `json:"content_sha256"`
	ContentSizeBytes *int64     `json:"content_size_bytes"`
	CreatedAt        time.Time  `json:"created_at"`
	CreatedBy        *Actor     `json:"created_by"`
	RedactedAt       *time.Time `json:"redacted_at"`
	RedactedBy       *Actor     `json:"redacted_by"`
}
