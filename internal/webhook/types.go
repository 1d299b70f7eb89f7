// Package webhook sends signed webhooks: the endpoints' records (their
// signing secrets sealed like vault secrets), the durable outbox of
// deliveries written in the same transaction as the change they announce,
// and the sender that posts them per Standard Webhooks, retries with
// backoff under the same event id, and disables an endpoint that keeps
// failing.
package webhook

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/hangarhq/hangar/internal/store"
)

// Record kinds. Every webhook record lives in one store workspace of its
// own (recordWorkspace): an endpoint may belong to the whole organization,
// and the sender lists all deliveries at start.
const (
	KindEndpoint = "webhook_endpoint"
	// KindDelivery is one pending delivery of one event to one endpoint:
	// Parent = the endpoint, so deleting the endpoint drops its queue.
	KindDelivery = "webhook_delivery"

	recordWorkspace = "_webhooks"
)

// OrganizationID is the organization_id of every payload: Hangar is one
// organization.
const OrganizationID = "org_hangar"

// Endpoint states.
const (
	StateEnabled  = "enabled"
	StateDisabled = "disabled"
)

// MaxEndpoints bounds the endpoints of the organization, as documented.
const MaxEndpoints = 32

// Event types a subscription may name. Session types come from committed
// session events (SessionTypes); the others are emitted by their owners
// through Emit.
var EventTypes = []string{
	"session.status_scheduled", "session.status_run_started", "session.status_idled",
	"session.status_terminated", "session.status_rescheduled", "session.requires_action",
	"session.thread_created", "session.thread_idled", "session.outcome_evaluation_ended",
	"vault.created", "vault.archived", "vault.deleted",
	"vault_credential.created", "vault_credential.archived", "vault_credential.deleted", "vault_credential.refresh_failed",
	"agent.created", "agent.updated", "agent.archived", "agent.deleted",
	"deployment.created", "deployment.updated", "deployment.paused", "deployment.unpaused",
	"deployment.archived", "deployment.deleted",
	"deployment_run.started", "deployment_run.succeeded", "deployment_run.failed",
}

// sdkEventTypes are the further types of the SDK's payload union
// (BetaWebhookEventDataUnion, v2.17.0). They may be subscribed to, and
// emitted by their owners, though Hangar does not send most of them yet
// (docs/webhooks.md lists what it sends).
var sdkEventTypes = []string{
	"session.created", "session.pending", "session.running", "session.idled", "session.updated",
	"session.archived", "session.deleted", "session.budget_reached", "session.thread_terminated",
	"environment.created", "environment.updated", "environment.archived", "environment.deleted",
	"memory_store.created", "memory_store.archived", "memory_store.deleted",
}

// IsEventType reports whether t may be subscribed to.
func IsEventType(t string) bool {
	return slices.Contains(EventTypes, t) || slices.Contains(sdkEventTypes, t)
}

// Endpoint is an endpoint as stored and as served (the secret is in the
// record's sealed Secret, never here).
type Endpoint struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	URL            string    `json:"url"`
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	EnabledEvents  []string  `json:"enabled_events"`
	State          string    `json:"state"`
	DisabledReason string    `json:"disabled_reason"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// WorkspaceID is the workspace whose events the endpoint receives;
	// null for an organization endpoint, which receives every workspace's.
	WorkspaceID *string `json:"workspace_id"`
	// ConsecutiveFailures counts failed attempts since the last success;
	// LastFailure is the newest one. Both are Hangar's: what an operator
	// reads to see why deliveries fail.
	ConsecutiveFailures int      `json:"consecutive_failures"`
	LastFailure         *Failure `json:"last_failure"`
}

// Failure is one failed delivery attempt.
type Failure struct {
	At      time.Time `json:"at"`
	EventID string    `json:"event_id"`
	Attempt int       `json:"attempt"`
	Status  int       `json:"status,omitempty"`
	Error   string    `json:"error"`
}

// wants reports whether the endpoint receives events of type t from
// workspace ws.
func (e *Endpoint) wants(ws, t string) bool {
	if e.State != StateEnabled {
		return false
	}
	if e.WorkspaceID != nil && *e.WorkspaceID != ws {
		return false
	}
	return slices.Contains(e.EnabledEvents, t)
}

// Event is one webhook event: the thin envelope every delivery of it
// carries, unchanged across retries.
type Event struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Data      Data      `json:"data"`
}

// Data is the thin object: the event type and resource ids, nothing else.
type Data struct {
	Type            string `json:"type"`
	ID              string `json:"id"`
	OrganizationID  string `json:"organization_id"`
	WorkspaceID     string `json:"workspace_id"`
	SessionThreadID string `json:"session_thread_id,omitempty"`
	VaultID         string `json:"vault_id,omitempty"`
}

// delivery is a KindDelivery record's document.
type delivery struct {
	Endpoint string `json:"endpoint_id"`
	// Body is the exact payload, signed anew at each attempt.
	Body    json.RawMessage `json:"body"`
	EventID string          `json:"event_id"`
	Type    string          `json:"type"`
	// Attempts made so far; NextAt is when the next one is due.
	Attempts int       `json:"attempts"`
	NextAt   time.Time `json:"next_at"`
}

func endpointOf(r store.Record) (Endpoint, error) {
	var e Endpoint
	err := json.Unmarshal(r.Data, &e)
	return e, err
}

// secretAAD binds a sealed signing secret to its endpoint.
func secretAAD(id string) []byte { return []byte(KindEndpoint + "/" + id) }
