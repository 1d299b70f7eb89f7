package store

import (
	"context"
	"time"
)

// Work item states (SelfHostedWork.state). An item is queued until a worker
// acks it (starting), becomes active with its first heartbeat, and ends
// stopping (stop requested, worker still winding down) then stopped.
const (
	WorkQueued   = "queued"
	WorkStarting = "starting"
	WorkActive   = "active"
	WorkStopping = "stopping"
	WorkStopped  = "stopped"
)

// WorkStates lists every state in lifecycle order.
var WorkStates = []string{WorkQueued, WorkStarting, WorkActive, WorkStopping, WorkStopped}

// WorkItem is one entry of an environment's self-hosted work queue. It is
// not a Record because the queue is claimed by columns (state, poll and
// lease times) and found by the hash of its sessions token.
type WorkItem struct {
	ID            string
	Workspace     string
	EnvironmentID string
	// DataType and DataID are the wire data object ({"type":"session","id":…}).
	DataType string
	DataID   string
	State    string
	// Metadata is never nil after a read.
	Metadata map[string]string
	// TokenHash is the SHA-256 of the sessions token minted at the last
	// poll, or nil. The token itself is never stored.
	TokenHash []byte
	// WorkerID is the Anthropic-Worker-ID of the last poll that claimed it.
	WorkerID string
	// LastHeartbeat is the opaque lease token returned by the last
	// successful heartbeat; "" before the first.
	LastHeartbeat string
	// TTLSeconds is the lease length granted at the last ack or heartbeat.
	TTLSeconds int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// QueuedAt is when the item last entered the queued state (creation or
	// re-queue); the queue hands out the oldest first.
	QueuedAt time.Time
	// PolledAt is set while a queued item is claimed by a poll but not yet
	// acked; such items are claimable again once the poll is old enough.
	PolledAt          *time.Time
	AcknowledgedAt    *time.Time
	StartedAt         *time.Time
	LatestHeartbeatAt *time.Time
	StopRequestedAt   *time.Time
	StoppedAt         *time.Time
	// LeaseUntil is when an acked item's lease runs out without a heartbeat.
	LeaseUntil *time.Time
	// Rev increments on every UpdateWork; a stale Rev is a conflict.
	Rev int64
	// Seq is the store-assigned creation order, the basis of list cursors.
	Seq int64
}

// WorkQuery selects work items of one environment.
type WorkQuery struct {
	Workspace     string
	EnvironmentID string
	// DataID, when non-empty, restricts to items about that object.
	DataID string
	// States matches any of the given states; empty matches all.
	States []string
	Desc   bool
	// After continues after the item with this Seq (exclusive, in listing
	// order). Zero starts at the beginning.
	After int64
	// Limit caps the page; 0 means no limit.
	Limit int
}

// WorkPage is one page of work items. More reports whether items remain.
type WorkPage struct {
	Items []WorkItem
	More  bool
}

// WorkCounts summarizes the queued items of an environment.
type WorkCounts struct {
	// Depth counts queued items no poll holds; Pending counts queued items
	// claimed by a poll but not yet acked.
	Depth   int
	Pending int
	// OldestQueuedAt is the QueuedAt of the oldest queued item, or nil.
	OldestQueuedAt *time.Time
}

// WorkTx is the work-queue part of Tx. Work ids are globally unique; reads
// by id take the workspace and answer not-found across workspaces.
type WorkTx interface {
	// InsertWork stores a new item, filling Seq, Rev (1) and, when zero,
	// CreatedAt/UpdatedAt/QueuedAt. A taken id is a conflict.
	InsertWork(ctx context.Context, w *WorkItem) error
	GetWork(ctx context.Context, workspace, id string) (WorkItem, error)
	// UpdateWork replaces every mutable field of the item whose Rev equals
	// w.Rev, then increments w.Rev. Stale Rev: conflict; missing: not-found.
	UpdateWork(ctx context.Context, w *WorkItem) error
	ListWork(ctx context.Context, q WorkQuery) (WorkPage, error)
	// WorkByTokenHash finds the item whose current sessions token has this
	// hash, in any workspace, or answers not-found.
	WorkByTokenHash(ctx context.Context, hash []byte) (WorkItem, error)
	// ClaimableWork lists up to limit queued items of an environment that no
	// poll holds or whose poll happened at or before polledBefore, oldest
	// QueuedAt first.
	ClaimableWork(ctx context.Context, workspace, environmentID string, polledBefore time.Time, limit int) ([]WorkItem, error)
	// ExpiredWork lists up to limit items of an environment in state
	// starting, active or stopping whose LeaseUntil is before now.
	ExpiredWork(ctx context.Context, workspace, environmentID string, now time.Time, limit int) ([]WorkItem, error)
	CountWork(ctx context.Context, workspace, environmentID string) (WorkCounts, error)
}
