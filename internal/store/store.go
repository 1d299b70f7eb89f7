// Package store owns Hangar's storage contract. Control-plane objects are kept
// as records: a JSON document (the wire object as stored) plus the few columns
// that queries, uniqueness and concurrency need. Drivers live in subpackages
// (sqlite, on the portable sqlstore) and all pass the one suite in storetest.
package store

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// Record kinds. A kind names one object type; Parent links children (agent
// versions to their agent, credentials to their vault, skill versions to
// their skill, files to their scope).
const (
	KindAgent        = "agent"
	KindAgentVersion = "agent_version"
	KindEnvironment  = "environment"
	KindVault        = "vault"
	KindCredential   = "credential"
	KindFile         = "file"
	KindSkill        = "skill"
	KindSkillVersion = "skill_version"
	// KindSessionSecret holds a session resource's sealed secret (a
	// repository token): ID = the sesrsc_ resource id, Parent = the
	// session, Secret = ciphertext sealed with aad SessionSecretAAD(id).
	KindSessionSecret = "session_secret"
	// KindSessionOutput remembers one captured output file of a session
	// (Parent = the session, Name = its path under the outputs directory),
	// so unchanged outputs are not filed twice.
	KindSessionOutput = "session_output"
	// KindSandbox is a session's current sandbox handle (sandbox.Handle as
	// JSON in Data; ID = SandboxRecordID(session), Parent = the session id;
	// not the session id itself, since Delete also removes the records
	// whose Parent is the deleted id), so a restarted server
	// reattaches to the session's sandbox or re-provisions it around the
	// same workspace. A handle holds no secrets (its environment carries
	// credential placeholders only). It is removed when the sandbox is
	// destroyed, not with the session row, so a crash between the two
	// still leaves a record of what to clean up.
	KindSandbox = "sandbox"
	// KindSessionSpend is a session's exact list cost in picodollars, with
	// its subagent threads' (ID = SessionID + ":spend", Parent = the
	// session), written with the session row by the engine.
	KindSessionSpend = "session_spend"
	// KindMemoryStore is a memory store. KindMemory is one memory: Parent =
	// its store, Name = its path (so a path is unique in its store), Data =
	// the memory object with its current content. KindMemoryVersion is one
	// immutable version: Parent = the store (not the memory, so versions
	// outlive a deleted memory and go only with their store).
	KindMemoryStore   = "memory_store"
	KindMemory        = "memory"
	KindMemoryVersion = "memory_version"
	// KindWorkflowRun is a workflow run's latest state (workflow.Snapshot
	// as JSON): ID = the wrun_ id, Parent = the session, so a restarted
	// server resumes the run.
	KindWorkflowRun = "workflow_run"
	// KindDeployment is a deployment: Data = its stored document (the wire
	// object and the scheduler's position), Secret = its session template
	// (the session create parameters, which may hold repository tokens),
	// sealed with aad DeploymentSecretAAD(id).
	KindDeployment = "deployment"
	// KindDeploymentRun is one trigger of a deployment: Parent = the
	// deployment, and for a scheduled run Name = ScheduleClaimName(the
	// scheduled time). The name's uniqueness is what makes a scheduled
	// time fire once: a second node or a restarted server inserting the
	// same claim gets a conflict. Manual runs have no Name.
	KindDeploymentRun = "deployment_run"
)

// DeploymentSecretAAD binds a deployment's sealed session template to it.
func DeploymentSecretAAD(id string) []byte { return []byte(KindDeployment + "/" + id) }

// ScheduleClaimName is the Name of the run claiming a scheduled time.
func ScheduleClaimName(at time.Time) string {
	return "schedule:" + at.UTC().Format(time.RFC3339)
}

// SessionSecretAAD binds a KindSessionSecret ciphertext to its resource.
func SessionSecretAAD(resourceID string) []byte { return []byte(KindSessionSecret + "/" + resourceID) }

// SandboxRecordID is the id of a session's KindSandbox record.
func SandboxRecordID(sessionID string) string { return sessionID + ":sandbox" }

// AgentVersionID is the record id of version v of an agent: its
// KindAgentVersion record holds the full agent snapshot of that version,
// with Parent set to the agent id.
func AgentVersionID(agentID string, v int64) string {
	return agentID + ":" + strconv.FormatInt(v, 10)
}

// Record is one stored object.
type Record struct {
	Kind      string
	ID        string
	Workspace string
	// Parent is the id of the owning object, or "".
	Parent string
	// Name, when non-empty, is unique among the records of the same
	// (Workspace, Kind, Parent). Clearing it (on archive, say) frees it.
	Name string
	// Data is the JSON document. It never holds secrets.
	Data json.RawMessage
	// Secret is ciphertext kept apart from Data so it cannot leak into a
	// response by accident.
	Secret     []byte
	CreatedAt  time.Time
	UpdatedAt  time.Time
	ArchivedAt *time.Time
	// Rev increments on every update; Update fails with a conflict when the
	// caller's Rev is stale.
	Rev int64
	// Seq is the store-assigned insertion order, the basis of cursors.
	Seq int64
}

// ListOptions selects records of one kind in one workspace.
type ListOptions struct {
	Workspace string
	// AllWorkspaces lists the kind in every workspace (Workspace is then
	// ignored). It is for the server's own sweeps at start (sandbox
	// handles), never for a request, which is always scoped to one.
	AllWorkspaces bool
	Kind          string
	// Parent filters by parent when ParentSet is true ("" then means none).
	Parent    string
	ParentSet bool
	// IDs, when non-empty, restricts the result to these ids.
	IDs             []string
	IncludeArchived bool
	CreatedGT       *time.Time
	CreatedGTE      *time.Time
	CreatedLT       *time.Time
	CreatedLTE      *time.Time
	// ByName orders by Name (bytewise; Desc reverses it) instead of by
	// insertion, and then After is ignored: a name-ordered listing pages
	// with NameGTE and NameLT instead.
	ByName bool
	// NameGTE and NameLT, when non-empty, bound Name (bytewise, like
	// ByName): a path prefix is the range [prefix, its successor).
	NameGTE, NameLT string
	// Desc lists newest first; the default is oldest first.
	Desc bool
	// After continues a listing after the record with this Seq (exclusive,
	// in the listing's direction). Zero starts at the beginning.
	After int64
	// Limit caps the page; 0 means no limit.
	Limit int
}

// Page is one page of records. More reports whether records remain after it.
type Page struct {
	Records []Record
	More    bool
}

// Tx is the set of operations available both on the store and inside a
// transaction.
type Tx interface {
	SessionTx
	WorkTx
	// Get returns the record or an errdefs not-found error.
	Get(ctx context.Context, workspace, kind, id string) (Record, error)
	// GetByName finds a record by its unique name.
	GetByName(ctx context.Context, workspace, kind, parent, name string) (Record, error)
	// Insert stores a new record, filling Seq, Rev (1) and, when zero,
	// CreatedAt/UpdatedAt. A taken Name is an errdefs conflict. Times are
	// kept to the microsecond in UTC; Insert and Update leave the caller's
	// struct in that form, so it equals what later reads return.
	Insert(ctx context.Context, r *Record) error
	// Update replaces Data, Secret, Name, UpdatedAt and ArchivedAt of the
	// record whose Rev equals r.Rev, then increments r.Rev. A stale Rev or a
	// taken Name is an errdefs conflict; a missing record is not-found.
	Update(ctx context.Context, r *Record) error
	// Delete removes a record and every record whose Parent is its id.
	Delete(ctx context.Context, workspace, kind, id string) error
	List(ctx context.Context, o ListOptions) (Page, error)
	// Count counts live (or, with includeArchived, all) records of a kind
	// under a parent.
	Count(ctx context.Context, workspace, kind, parent string, includeArchived bool) (int, error)
}

// APIKey is a stored credential for the HTTP API. Only its hash is kept.
type APIKey struct {
	ID        string
	Workspace string
	Name      string
	// Hash is the SHA-256 of the key.
	Hash []byte
	// Hint is the last characters of the key, for humans telling keys apart.
	Hint string
	// Admin keys may act in any workspace named by anthropic-workspace-id.
	Admin bool
	// EnvironmentID, when set, makes this an environment key scoped to one
	// environment's work queue.
	EnvironmentID string
	CreatedAt     time.Time
	RevokedAt     *time.Time
}

// Keys stores API keys.
type Keys interface {
	CreateKey(ctx context.Context, k *APIKey) error
	// KeyByHash returns a key (revoked or not) or an errdefs not-found error.
	KeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	ListKeys(ctx context.Context) ([]APIKey, error)
	RevokeKey(ctx context.Context, id string) (APIKey, error)
}

// Store is a complete storage implementation.
type Store interface {
	Tx
	Keys
	// InTx runs fn in one serializable transaction; fn's error (or panic,
	// which propagates) rolls back. Inside fn, use only the Tx it is given.
	InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	Close() error
}
