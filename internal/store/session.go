package store

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Session statuses. The store keeps the status in its own column so
// that lists can filter on it and crash recovery can find every session that
// was working when the process stopped.
const (
	SessionIdle         = "idle"
	SessionRunning      = "running"
	SessionRescheduling = "rescheduling"
	SessionTerminated   = "terminated"
)

// SessionStatuses lists every status, in the order the wire enum gives them.
var SessionStatuses = []string{SessionRescheduling, SessionRunning, SessionIdle, SessionTerminated}

// IsSessionStatus reports whether s is one of SessionStatuses.
func IsSessionStatus(s string) bool { return slices.Contains(SessionStatuses, s) }

// Session is one stored session: its wire document plus the columns that the
// list filters, optimistic concurrency and ownership need. Sessions are not
// Records because their event log hangs off them and because they are listed
// by fields (agent, status, memory stores) that Records have no columns for.
type Session struct {
	ID        string
	Workspace string
	// AgentID and AgentVersion are the agent the session was created from
	// (the agent_id / agent_version list filters). Like EnvironmentID and
	// DeploymentID ("" when not created by a deployment), they never change
	// after InsertSession.
	AgentID       string
	AgentVersion  int64
	EnvironmentID string
	DeploymentID  string
	// Status is one of SessionStatuses.
	Status string
	// MemoryStoreIDs are the memory stores mounted in the session, for the
	// memory_store_id list filter. Order is kept; none reads back as nil.
	MemoryStoreIDs []string
	// Data is the stored session document. It never holds secrets.
	Data       json.RawMessage
	CreatedAt  time.Time
	UpdatedAt  time.Time
	ArchivedAt *time.Time
	// Rev increments on every UpdateSession; a stale Rev is a conflict.
	// Appending events does not change it, so the agent loop can append
	// while holding the session it read.
	Rev int64
	// Seq is the store-assigned creation order, the basis of list cursors.
	Seq int64
	// Owner and LeaseUntil record which node runs the session and until
	// when its claim holds. A single process leaves them empty; they exist
	// so that scale-out can take over sessions of a lost node without a
	// schema change.
	Owner      string
	LeaseUntil *time.Time
}

// SessionQuery selects sessions of one workspace for GET /v1/sessions.
type SessionQuery struct {
	Workspace string
	// Each non-zero filter restricts the result. AgentVersion is applied
	// whenever it is non-zero; the wire rule that it only counts together
	// with agent_id is the handler's to apply.
	AgentID       string
	AgentVersion  int64
	DeploymentID  string
	MemoryStoreID string
	// Statuses matches any of the given statuses; empty matches all.
	Statuses        []string
	IncludeArchived bool
	CreatedGT       *time.Time
	CreatedGTE      *time.Time
	CreatedLT       *time.Time
	CreatedLTE      *time.Time
	// Desc lists newest first; the default is oldest first.
	Desc bool
	// After and Before position the page (at most one of them is set; 0
	// means unset, and with both unset the page is the first one). After
	// continues with the sessions that follow the given Seq in listing
	// order; Before ends with the sessions that precede it. Both bounds are
	// exclusive and work when the session at that Seq is gone.
	After  int64
	Before int64
	// Limit caps the page; 0 means no limit.
	Limit int
}

// SessionPage is one page of sessions, always in listing order, with what a
// bidirectional cursor needs: whether sessions exist past either end, and
// the After / Before values that fetch the adjacent pages. When HasNext is
// false NextAfter is 0, and likewise for HasPrev and PrevBefore; HasNext
// with NextAfter 0 (after an empty page before the start) means the next
// page is the first one, so a cursor must record HasNext, not NextAfter != 0.
// On an empty page the links are measured from the cursor, so a client whose
// sessions vanished between requests can still walk back (or on).
type SessionPage struct {
	Sessions   []Session
	HasNext    bool
	NextAfter  int64
	HasPrev    bool
	PrevBefore int64
}

// Event is one entry of a session's durable event log.
type Event struct {
	SessionID string
	// Seq is the event's position in its session's log: 1, 2, 3… without
	// gaps, assigned by AppendEvents when the event is committed.
	Seq int64
	// ID is the event's wire id (sevt_…), chosen by the caller and unique
	// across all sessions.
	ID   string
	Type string
	// ThreadID is the session thread the event belongs to; "" is the
	// primary thread.
	ThreadID  string
	CreatedAt time.Time
	// ProcessedAt is nil while a user event waits in the queue.
	ProcessedAt *time.Time
	// Data is the complete wire JSON of the event, as listed and streamed.
	Data json.RawMessage
	// Private is what the agent loop needs to rebuild the model
	// conversation but the wire event does not carry (a thinking block's
	// text and signature, say). It is never sent to clients.
	Private json.RawMessage
}

// EventQuery selects events of one session for GET …/events.
type EventQuery struct {
	SessionID string
	// Types matches any of the given types; empty matches all.
	Types []string
	// ThreadID filters by thread when ThreadSet is true ("" then means the
	// primary thread).
	ThreadID  string
	ThreadSet bool
	// The time bounds compare ProcessedAt, as the wire's created_at[…]
	// parameters do; an event not yet processed matches no time bound.
	ProcessedGT  *time.Time
	ProcessedGTE *time.Time
	ProcessedLT  *time.Time
	ProcessedLTE *time.Time
	// Desc lists by Seq, newest first; the default is oldest first.
	Desc bool
	// After continues after the event with this Seq (exclusive, in the
	// listing's direction). Zero starts at the beginning.
	After int64
	// Limit caps the page; 0 means no limit. The API allows up to 1000.
	Limit int
}

// EventPage is one page of events. More reports whether events remain.
type EventPage struct {
	Events []Event
	More   bool
}

// SessionTx is the session and event-log part of Tx. Session ids and event
// ids are globally unique; the event methods take a session id the caller
// has already resolved in its workspace (with GetSession), since events have
// no workspace of their own. Times are kept to the microsecond in UTC, and
// the write methods leave the caller's structs in that form.
type SessionTx interface {
	// InsertSession stores a new session, filling Seq, Rev (1) and, when
	// zero, CreatedAt/UpdatedAt. A taken id is an errdefs conflict.
	InsertSession(ctx context.Context, s *Session) error
	// GetSession returns the session or an errdefs not-found error (also
	// when it belongs to another workspace).
	GetSession(ctx context.Context, workspace, id string) (Session, error)
	// UpdateSession replaces Status, MemoryStoreIDs, Data, UpdatedAt,
	// ArchivedAt, Owner and LeaseUntil of the session whose Rev equals
	// s.Rev, then increments s.Rev. A stale Rev is an errdefs conflict; a
	// missing session is not-found.
	UpdateSession(ctx context.Context, s *Session) error
	// DeleteSession removes the session and its whole event log.
	DeleteSession(ctx context.Context, workspace, id string) error
	ListSessions(ctx context.Context, q SessionQuery) (SessionPage, error)
	// ListSessionsByStatus lists sessions of every workspace whose status is
	// any of statuses, oldest first, after Seq afterSeq; limit 0 means no
	// limit. Crash recovery uses it to resume running and rescheduling
	// sessions.
	ListSessionsByStatus(ctx context.Context, statuses []string, afterSeq int64, limit int) ([]Session, error)

	// AppendEvents adds events to the end of a session's log in the order
	// given, setting each one's SessionID, Seq and (when zero) CreatedAt.
	// Appends to one session from concurrent transactions get distinct,
	// gap-free Seqs in commit order. A missing session is not-found; an
	// event id already stored is a conflict, and nothing is appended then.
	AppendEvents(ctx context.Context, sessionID string, evs []*Event) error
	// SetEventsProcessed sets ProcessedAt and Data of stored events, found
	// by ID (nil Data keeps the stored document), and fills the rest of
	// each update from the store, so updates[i] ends up equal to what
	// GetEvent returns. An unknown id is not-found, and nothing is changed.
	SetEventsProcessed(ctx context.Context, sessionID string, updates []Event) error
	GetEvent(ctx context.Context, sessionID, id string) (Event, error)
	ListEvents(ctx context.Context, q EventQuery) (EventPage, error)
	// EventsSince returns the events with Seq > afterSeq, oldest first, at
	// most limit of them (0: all), for recovery and resuming a stream.
	EventsSince(ctx context.Context, sessionID string, afterSeq int64, limit int) ([]Event, error)
	// LastEventSeq returns the Seq of the session's newest event, 0 for an
	// empty log, or not-found for a missing session.
	LastEventSeq(ctx context.Context, sessionID string) (int64, error)
}
