package wire

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/jsonobj"
)

// Object type constants of sessions and their resources.
const (
	TypeSession                = "session"
	TypeSessionDeleted         = "session_deleted"
	TypeSessionResourceDeleted = "session_resource_deleted"
	TypeOutcomeEvaluation      = "outcome_evaluation"
	TypeBudgetLimit            = "limit"
)

// Session statuses.
const (
	SessionRescheduling = "rescheduling"
	SessionRunning      = "running"
	SessionIdle         = "idle"
	SessionTerminated   = "terminated"
)

// SessionStatuses lists every status, for the list filter.
var SessionStatuses = []string{SessionRescheduling, SessionRunning, SessionIdle, SessionTerminated}

// Session resource types.
const (
	ResourceGitHubRepository = "github_repository"
	ResourceFile             = "file"
	ResourceMemoryStore      = "memory_store"
)

// Memory store access modes.
const (
	AccessReadWrite = "read_write"
	AccessReadOnly  = "read_only"
)

// MemoryMountRoot is the sandbox directory holding one directory per
// attached memory store.
const MemoryMountRoot = "/mnt/memory"

// Session is the MA.Session object. Every list is sent as [] and every
// nullable member as null, never omitted.
type Session struct {
	ID                 string              `json:"id"`
	Type               string              `json:"type"`
	Agent              SessionAgent        `json:"agent"`
	ArchivedAt         *time.Time          `json:"archived_at"`
	Budget             *BudgetLimit        `json:"budget"`
	CreatedAt          time.Time           `json:"created_at"`
	UpdatedAt          time.Time           `json:"updated_at"`
	EnvironmentID      string              `json:"environment_id"`
	Metadata           Metadata            `json:"metadata"`
	OutcomeEvaluations []OutcomeEvaluation `json:"outcome_evaluations"`
	Resources          []SessionResource   `json:"resources"`
	Stats              SessionStats        `json:"stats"`
	Status             string              `json:"status"`
	Title              *string             `json:"title"`
	Usage              SessionUsage        `json:"usage"`
	VaultIDs           []string            `json:"vault_ids"`
	DeploymentID       *string             `json:"deployment_id"`
	// StopReason is a Hangar extension: while the session is idle, why it
	// stopped, so a client polling the session sees the pending
	// requires_action event ids without reading the event log. Official
	// clients ignore the unknown field.
	StopReason *StopReason `json:"stop_reason,omitempty"`
}

func (s Session) MarshalJSON() ([]byte, error) {
	type plain Session
	p := plain(s)
	if p.Type == "" {
		p.Type = TypeSession
	}
	if p.OutcomeEvaluations == nil {
		p.OutcomeEvaluations = []OutcomeEvaluation{}
	}
	if p.Resources == nil {
		p.Resources = []SessionResource{}
	}
	if p.VaultIDs == nil {
		p.VaultIDs = []string{}
	}
	return json.Marshal(p)
}

// SessionAgent is the effective agent of a session (MA.SessionAgent): the
// referenced version after overrides, with id and version naming
// the base version.
type SessionAgent struct {
	ID                string            `json:"id"`
	Type              string            `json:"type"`
	Name              string            `json:"name"`
	Description       *string           `json:"description"`
	System            *string           `json:"system"`
	Model             ModelConfig       `json:"model"`
	Tools             []AgentTool       `json:"tools"`
	MCPServers        []MCPServer       `json:"mcp_servers"`
	Skills            []AgentSkill      `json:"skills"`
	ExecutionIdentity ExecutionIdentity `json:"execution_identity"`
	// Multiagent is the session's resolved multiagent union (its roster
	// members are full agent snapshots, unlike the agent's references), kept
	// as JSON for the multiagent layer to fill; nil sends null.
	Multiagent json.RawMessage `json:"multiagent"`
	Version    int64           `json:"version"`
}

// SessionAgentFrom snapshots an agent version as a session's agent. The
// agent's multiagent configuration is carried as is until the multiagent
// layer resolves the roster into session form.
func SessionAgentFrom(a Agent) SessionAgent {
	sa := SessionAgent{
		ID: a.ID, Type: "agent", Name: a.Name, Description: a.Description, System: a.System,
		Model: a.Model, Tools: a.Tools, MCPServers: a.MCPServers, Skills: a.Skills,
		ExecutionIdentity: a.ExecutionIdentity, Version: a.Version,
	}
	if a.Multiagent != nil {
		sa.Multiagent, _ = json.Marshal(a.Multiagent)
	}
	return sa
}

func (a SessionAgent) MarshalJSON() ([]byte, error) {
	type plain SessionAgent
	p := plain(a)
	if p.Type == "" {
		p.Type = "agent"
	}
	if p.Tools == nil {
		p.Tools = []AgentTool{}
	}
	if p.MCPServers == nil {
		p.MCPServers = []MCPServer{}
	}
	if p.Skills == nil {
		p.Skills = []AgentSkill{}
	}
	if p.ExecutionIdentity.Type == "" {
		p.ExecutionIdentity.Type = "service_account"
	}
	if len(p.Multiagent) == 0 {
		p.Multiagent = json.RawMessage("null")
	}
	return json.Marshal(p)
}

// MonetaryAmount is an amount in minor units ("2500" is $25.00).
type MonetaryAmount struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// BudgetLimit is the session's spend ceiling ({"type":"limit",max_list_cost}).
type BudgetLimit struct {
	MaxListCost MonetaryAmount `json:"max_list_cost"`
}

func (b BudgetLimit) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type        string         `json:"type"`
		MaxListCost MonetaryAmount `json:"max_list_cost"`
	}{TypeBudgetLimit, b.MaxListCost})
}

// SessionStats are the session's timing statistics.
type SessionStats struct {
	ActiveSeconds   float64 `json:"active_seconds"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// SessionUsage is the session's cumulative usage (also the snapshot of
// session.usage). ListCost is null until the cost is known.
type SessionUsage struct {
	ActiveSeconds        float64            `json:"active_seconds"`
	InputTokens          int64              `json:"input_tokens"`
	OutputTokens         int64              `json:"output_tokens"`
	CacheReadInputTokens int64              `json:"cache_read_input_tokens"`
	CacheCreation        CacheCreationUsage `json:"cache_creation"`
	ServerToolUse        ServerToolUsage    `json:"server_tool_use"`
	ListCost             *MonetaryAmount    `json:"list_cost"`
}

// CacheCreationUsage splits cache-creation tokens by cache lifetime.
type CacheCreationUsage struct {
	Ephemeral1hInputTokens int64 `json:"ephemeral_1h_input_tokens"`
	Ephemeral5mInputTokens int64 `json:"ephemeral_5m_input_tokens"`
}

// ServerToolUsage counts server-executed tool calls.
type ServerToolUsage struct {
	WebFetchRequests  int64 `json:"web_fetch_requests"`
	WebSearchRequests int64 `json:"web_search_requests"`
}

// OutcomeEvaluation is one entry of session.outcome_evaluations.
type OutcomeEvaluation struct {
	OutcomeID   string     `json:"outcome_id"`
	Description string     `json:"description"`
	Iteration   int64      `json:"iteration"`
	Result      string     `json:"result"`
	Explanation *string    `json:"explanation"`
	CompletedAt *time.Time `json:"completed_at"`
}

func (o OutcomeEvaluation) MarshalJSON() ([]byte, error) {
	type plain OutcomeEvaluation
	return json.Marshal(struct {
		Type string `json:"type"`
		plain
	}{TypeOutcomeEvaluation, plain(o)})
}

// SessionResource is a resource attached to a session (the union
// MA.SessionResource): exactly the fields of its Type are sent. A
// repository's authorization token is a secret and has no field here.
type SessionResource struct {
	Type      string
	ID        string
	CreatedAt time.Time
	UpdatedAt time.Time
	MountPath string
	// file
	FileID string
	// github_repository; Checkout nil means the default branch.
	URL      string
	Checkout *Checkout
	// memory_store
	MemoryStoreID string
	Access        *string
	Name          *string
	Description   *string
	Instructions  *string
}

// Checkout is {"type":"branch","name"} or {"type":"commit","sha"}.
type Checkout struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	SHA  string `json:"sha,omitempty"`
}

// Checkout types.
const (
	CheckoutBranch = "branch"
	CheckoutCommit = "commit"
)

func (r SessionResource) MarshalJSON() ([]byte, error) {
	switch r.Type {
	case ResourceFile:
		return json.Marshal(struct {
			ID        string    `json:"id"`
			Type      string    `json:"type"`
			FileID    string    `json:"file_id"`
			MountPath string    `json:"mount_path"`
			CreatedAt time.Time `json:"created_at"`
			UpdatedAt time.Time `json:"updated_at"`
		}{r.ID, r.Type, r.FileID, r.MountPath, r.CreatedAt, r.UpdatedAt})
	case ResourceGitHubRepository:
		return json.Marshal(struct {
			ID        string    `json:"id"`
			Type      string    `json:"type"`
			URL       string    `json:"url"`
			MountPath string    `json:"mount_path"`
			Checkout  *Checkout `json:"checkout"`
			CreatedAt time.Time `json:"created_at"`
			UpdatedAt time.Time `json:"updated_at"`
		}{r.ID, r.Type, r.URL, r.MountPath, r.Checkout, r.CreatedAt, r.UpdatedAt})
	case ResourceMemoryStore:
		// The SDK's variant has no id or timestamps; Hangar sends them as a
		// compatible extra so the resource endpoints can address it.
		type ms struct {
			ID            string     `json:"id,omitempty"`
			Type          string     `json:"type"`
			MemoryStoreID string     `json:"memory_store_id"`
			Access        *string    `json:"access"`
			Name          *string    `json:"name"`
			Description   *string    `json:"description"`
			Instructions  *string    `json:"instructions"`
			MountPath     *string    `json:"mount_path"`
			CreatedAt     *time.Time `json:"created_at,omitempty"`
			UpdatedAt     *time.Time `json:"updated_at,omitempty"`
		}
		v := ms{ID: r.ID, Type: r.Type, MemoryStoreID: r.MemoryStoreID, Access: r.Access, Name: r.Name,
			Description: r.Description, Instructions: r.Instructions}
		if r.MountPath != "" {
			v.MountPath = &r.MountPath
		}
		if !r.CreatedAt.IsZero() {
			v.CreatedAt, v.UpdatedAt = &r.CreatedAt, &r.UpdatedAt
		}
		return json.Marshal(v)
	}
	return nil, fmt.Errorf("wire: unknown session resource type %q", r.Type)
}

func (r *SessionResource) UnmarshalJSON(b []byte) error {
	var v struct {
		Type          string     `json:"type"`
		ID            string     `json:"id"`
		CreatedAt     *time.Time `json:"created_at"`
		UpdatedAt     *time.Time `json:"updated_at"`
		MountPath     *string    `json:"mount_path"`
		FileID        string     `json:"file_id"`
		URL           string     `json:"url"`
		Checkout      *Checkout  `json:"checkout"`
		MemoryStoreID string     `json:"memory_store_id"`
		Access        *string    `json:"access"`
		Name          *string    `json:"name"`
		Description   *string    `json:"description"`
		Instructions  *string    `json:"instructions"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = SessionResource{Type: v.Type, ID: v.ID, FileID: v.FileID, URL: v.URL, Checkout: v.Checkout,
		MemoryStoreID: v.MemoryStoreID, Access: v.Access, Name: v.Name, Description: v.Description,
		Instructions: v.Instructions}
	if v.CreatedAt != nil {
		r.CreatedAt = *v.CreatedAt
	}
	if v.UpdatedAt != nil {
		r.UpdatedAt = *v.UpdatedAt
	}
	if v.MountPath != nil {
		r.MountPath = *v.MountPath
	}
	return nil
}

// ---- POST /v1/sessions -------------------------------------------------------

// Limits of session create (from the SDK field docs).
const (
	MaxSessionTitle       = 256
	MaxInitialEvents      = 50
	MaxFileResources      = 999
	MaxMemoryStores       = 8
	MaxVaultIDs           = 20
	maxMemoryInstructions = 4096
	maxOverrideSystem     = 100000
	maxMountPath          = 1024
	maxRepoToken          = 8192
	maxMetadataPairs      = 16
	maxMetadataKey        = 64
	maxMetadataValue      = 512
)

// Agent reference forms.
const (
	AgentRefAgent         = "agent"
	AgentRefWithOverrides = "agent_with_overrides"
)

// SessionCreateParams is the body of POST /v1/sessions. UnmarshalJSON
// checks the shape (JSON types, required fields, unknown fields and
// discriminators) naming the field path; Validate checks the values.
type SessionCreateParams struct {
	Agent         AgentRef
	EnvironmentID string
	// Title is nil when absent, null or "".
	Title     *string
	Metadata  Metadata
	Resources []ResourceParams
	VaultIDs  []string
	// InitialEvents holds *UserMessageEvent and *UserDefineOutcomeEvent.
	InitialEvents []EventPayload
	// Budget is nil when absent or null.
	Budget *BudgetLimit
}

// AgentRef is the session's agent in any of its three forms. A bare id
// string decodes as Type "agent" with Version 0 (latest).
type AgentRef struct {
	// Bare is set for the bare id string form.
	Bare    bool
	Type    string // AgentRefAgent or AgentRefWithOverrides
	ID      string
	Version int64 // 0 = the latest version at creation
	// Overrides (agent_with_overrides only), each omitted / null / value.
	// Model, Tools, MCPServers and Skills keep the raw
	// JSON so the agent resolver parses them exactly as on agent create;
	// their JSON type (string/object, array) is already checked.
	Model      Opt[json.RawMessage]
	System     Opt[string]
	Tools      Opt[json.RawMessage]
	MCPServers Opt[json.RawMessage]
	Skills     Opt[json.RawMessage]
}

// HasOverrides reports whether any field is overridden.
func (a AgentRef) HasOverrides() bool {
	return a.Model.Set || a.System.Set || a.Tools.Set || a.MCPServers.Set || a.Skills.Set
}

// OverrideClears reports whether an override clears the agent's value:
// null, or for lists an empty array.
func OverrideClears(o Opt[json.RawMessage]) bool {
	if !o.Set {
		return false
	}
	if o.Null {
		return true
	}
	var a []json.RawMessage
	return json.Unmarshal(o.V, &a) == nil && len(a) == 0
}

// ResourceParams is one entry of resources[] on session create: exactly the
// fields of its Type are meaningful.
type ResourceParams struct {
	Type string
	// MountPath is "" when not given; see EffectiveMountPath.
	MountPath string
	// file
	FileID string
	// github_repository. AuthorizationToken is a SECRET: it must go to the
	// record's encrypted Secret, never into Data, a response or a log line;
	// json:"-" keeps it out of any marshalled form.
	URL                string
	AuthorizationToken string `json:"-"`
	Checkout           *Checkout
	// memory_store
	MemoryStoreID string
	Access        string // "" = read_write
	Instructions  *string
}

// String hides the token from %v and slog.
func (r ResourceParams) String() string {
	return fmt.Sprintf("%s resource %s%s%s mount=%q", r.Type, r.FileID, r.URL, r.MemoryStoreID, r.MountPath)
}

// GoString keeps the token out of %#v.
func (r ResourceParams) GoString() string { return r.String() }

// LogValue keeps the token out of structured logs.
func (r ResourceParams) LogValue() slog.Value { return slog.StringValue(r.String()) }

// EffectiveMountPath is the given mount path or the default of its type:
// /mnt/session/uploads/<file_id> for files, /workspace/<repo-name> for
// repositories. Memory stores are mounted by the server under /mnt/memory.
func (r ResourceParams) EffectiveMountPath() string {
	if r.MountPath != "" {
		return r.MountPath
	}
	switch r.Type {
	case ResourceFile:
		return DefaultFileMountPath(r.FileID)
	case ResourceGitHubRepository:
		return "/workspace/" + RepoName(r.URL)
	}
	return ""
}

// DefaultFileMountPath is where a file resource without mount_path goes.
func DefaultFileMountPath(fileID string) string { return "/mnt/session/uploads/" + fileID }

// RepoName is the last path segment of a repository URL without ".git".
func RepoName(repoURL string) string {
	u, err := url.Parse(repoURL)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(path.Base(strings.TrimRight(u.Path, "/")), ".git")
}

// AccessMode is the memory store access with its default applied.
func (r ResourceParams) AccessMode() string {
	if r.Access == "" {
		return AccessReadWrite
	}
	return r.Access
}

// A session takes no inline agent; say where the field belongs.
var agentOnlyFields = []string{"model", "system", "tools", "mcp_servers", "skills", "description", "name", "multiagent"}

func (p *SessionCreateParams) UnmarshalJSON(b []byte) error {
	*p = SessionCreateParams{}
	o, err := jsonobj.New("", b)
	if err != nil {
		return err
	}
	for _, k := range agentOnlyFields {
		if o.Has(k) {
			return jsonobj.Invalid(k, "not a session field; override it with agent {\"type\":\"agent_with_overrides\"}")
		}
	}
	raw, pr := o.Get("agent")
	if pr != jsonobj.Present {
		return jsonobj.Invalid("agent", "field required")
	}
	if p.Agent, err = decodeAgentRef("agent", raw); err != nil {
		return err
	}
	if p.EnvironmentID, err = o.RequiredStr("environment_id"); err != nil {
		return err
	}
	if p.Title, err = o.OptStr("title"); err != nil {
		return err
	}
	if p.Title != nil && *p.Title == "" {
		p.Title = nil
	}
	if raw, pr := o.Get("metadata"); pr == jsonobj.Present {
		if p.Metadata, err = decodeMetadata("metadata", raw); err != nil {
			return err
		}
	}
	if raw, pr := o.Get("resources"); pr == jsonobj.Present {
		items, err := jsonobj.Array("resources", raw)
		if err != nil {
			return err
		}
		for i, it := range items {
			r, err := decodeResource(jsonobj.Index("resources", i), it)
			if err != nil {
				return err
			}
			p.Resources = append(p.Resources, r)
		}
	}
	if raw, pr := o.Get("vault_ids"); pr == jsonobj.Present {
		if p.VaultIDs, err = jsonobj.Strings("vault_ids", raw); err != nil {
			return err
		}
	}
	if raw, pr := o.Get("initial_events"); pr == jsonobj.Present {
		items, err := jsonobj.Array("initial_events", raw)
		if err != nil {
			return err
		}
		allowed := []string{EventTypeUserMessage, EventTypeUserDefineOutcome}
		for i, it := range items {
			ev, err := decodeClientEvent(jsonobj.Index("initial_events", i), it, allowed)
			if err != nil {
				return err
			}
			p.InitialEvents = append(p.InitialEvents, ev)
		}
	}
	if raw, pr := o.Get("budget"); pr == jsonobj.Present {
		bl, err := decodeBudget("budget", raw)
		if err != nil {
			return err
		}
		p.Budget = &bl
	}
	return o.Finish()
}

func decodeAgentRef(p string, raw json.RawMessage) (AgentRef, error) {
	var a AgentRef
	switch jsonobj.Kind(raw) {
	case "a string":
		id, err := jsonobj.String(p, raw)
		a = AgentRef{Bare: true, Type: AgentRefAgent, ID: id}
		return a, err
	case "an object":
	default:
		return a, jsonobj.Invalid(p, "expected an agent id string or an object, got %s", jsonobj.Kind(raw))
	}
	o, err := jsonobj.New(p, raw)
	if err != nil {
		return a, err
	}
	if a.Type, err = o.Discriminator(); err != nil {
		return a, err
	}
	if a.Type != AgentRefAgent && a.Type != AgentRefWithOverrides {
		return a, jsonobj.Invalid(o.At("type"), "unknown value %q, expected one of [%s %s]", a.Type, AgentRefAgent, AgentRefWithOverrides)
	}
	if a.ID, err = o.RequiredStr("id"); err != nil {
		return a, err
	}
	v, err := o.OptInt("version")
	if err != nil {
		return a, err
	}
	if v != nil {
		if *v < 1 {
			return a, jsonobj.Invalid(o.At("version"), "must be at least 1, got %d", *v)
		}
		a.Version = *v
	}
	if a.Type == AgentRefWithOverrides {
		if raw, pr := o.Get("model"); pr != jsonobj.Absent {
			a.Model.Set, a.Model.Null = true, pr == jsonobj.Null
			if pr == jsonobj.Present {
				if k := jsonobj.Kind(raw); k != "a string" && k != "an object" {
					return a, jsonobj.Invalid(o.At("model"), "expected a model id string or an object, got %s", k)
				}
				a.Model.V = raw
			}
		}
		if raw, pr := o.Get("system"); pr != jsonobj.Absent {
			a.System.Set, a.System.Null = true, pr == jsonobj.Null
			if pr == jsonobj.Present {
				if a.System.V, err = jsonobj.String(o.At("system"), raw); err != nil {
					return a, err
				}
			}
		}
		for _, f := range []struct {
			key string
			dst *Opt[json.RawMessage]
		}{{"tools", &a.Tools}, {"mcp_servers", &a.MCPServers}, {"skills", &a.Skills}} {
			raw, pr := o.Get(f.key)
			if pr == jsonobj.Absent {
				continue
			}
			f.dst.Set, f.dst.Null = true, pr == jsonobj.Null
			if pr == jsonobj.Present {
				if jsonobj.Kind(raw) != "an array" {
					return a, jsonobj.Invalid(o.At(f.key), "expected an array, got %s", jsonobj.Kind(raw))
				}
				f.dst.V = raw
			}
		}
	}
	return a, o.Finish()
}

func decodeMetadata(p string, raw json.RawMessage) (Metadata, error) {
	o, err := jsonobj.New(p, raw)
	if err != nil {
		return nil, err
	}
	m := Metadata{}
	for _, k := range o.Keys() {
		s, pr, err := o.Str(k)
		if err != nil {
			return nil, err
		}
		if pr != jsonobj.Present {
			return nil, jsonobj.Invalid(o.At(k), "expected a string, got null")
		}
		m[k] = s
	}
	return m, nil
}

func decodeMetadataPatch(p string, raw json.RawMessage) (MetadataPatch, error) {
	o, err := jsonobj.New(p, raw)
	if err != nil {
		return nil, err
	}
	m := MetadataPatch{}
	for _, k := range o.Keys() {
		s, pr, err := o.Str(k)
		if err != nil {
			return nil, err
		}
		if pr == jsonobj.Null {
			m[k] = nil
		} else {
			m[k] = &s
		}
	}
	return m, nil
}

func decodeBudget(p string, raw json.RawMessage) (BudgetLimit, error) {
	var b BudgetLimit
	o, err := jsonobj.New(p, raw)
	if err != nil {
		return b, err
	}
	if err := o.ConstType(TypeBudgetLimit, false); err != nil {
		return b, err
	}
	mraw, pr := o.Get("max_list_cost")
	if pr != jsonobj.Present {
		return b, jsonobj.Invalid(o.At("max_list_cost"), "field required")
	}
	mo, err := jsonobj.New(o.At("max_list_cost"), mraw)
	if err != nil {
		return b, err
	}
	if b.MaxListCost.Amount, err = mo.RequiredStr("amount"); err != nil {
		return b, err
	}
	if b.MaxListCost.Currency, err = mo.RequiredStr("currency"); err != nil {
		return b, err
	}
	if err := mo.Finish(); err != nil {
		return b, err
	}
	return b, o.Finish()
}

func decodeResource(p string, raw json.RawMessage) (ResourceParams, error) {
	var r ResourceParams
	o, err := jsonobj.New(p, raw)
	if err != nil {
		return r, err
	}
	if r.Type, err = o.Discriminator(); err != nil {
		return r, err
	}
	switch r.Type {
	case ResourceFile:
		if r.FileID, err = o.RequiredStr("file_id"); err != nil {
			return r, err
		}
		if err := readMountPath(o, &r); err != nil {
			return r, err
		}
	case ResourceGitHubRepository:
		if r.URL, err = o.RequiredStr("url"); err != nil {
			return r, err
		}
		if err := readMountPath(o, &r); err != nil {
			return r, err
		}
		tok, err := o.OptStr("authorization_token")
		if err != nil {
			return r, err
		}
		if tok != nil {
			r.AuthorizationToken = *tok
		}
		if craw, pr := o.Get("checkout"); pr == jsonobj.Present {
			co, err := jsonobj.New(o.At("checkout"), craw)
			if err != nil {
				return r, err
			}
			c := &Checkout{}
			if c.Type, err = co.Discriminator(); err != nil {
				return r, err
			}
			switch c.Type {
			case CheckoutBranch:
				c.Name, err = co.RequiredStr("name")
			case CheckoutCommit:
				c.SHA, err = co.RequiredStr("sha")
			default:
				err = jsonobj.Invalid(co.At("type"), "unknown value %q, expected one of [%s %s]", c.Type, CheckoutBranch, CheckoutCommit)
			}
			if err != nil {
				return r, err
			}
			if err := co.Finish(); err != nil {
				return r, err
			}
			r.Checkout = c
		}
	case ResourceMemoryStore:
		if r.MemoryStoreID, err = o.RequiredStr("memory_store_id"); err != nil {
			return r, err
		}
		acc, err := o.OptStr("access")
		if err != nil {
			return r, err
		}
		if acc != nil {
			if *acc != AccessReadWrite && *acc != AccessReadOnly {
				return r, jsonobj.Invalid(o.At("access"), "unknown value %q, expected one of [%s %s]", *acc, AccessReadWrite, AccessReadOnly)
			}
			r.Access = *acc
		}
		if r.Instructions, err = o.OptStr("instructions"); err != nil {
			return r, err
		}
		if o.Has("mount_path") {
			return r, jsonobj.Invalid(o.At("mount_path"), "memory stores are mounted by the server under /mnt/memory; it cannot be set")
		}
	default:
		return r, jsonobj.Invalid(o.At("type"), "unknown value %q, expected one of [%s %s %s]", r.Type, ResourceGitHubRepository, ResourceFile, ResourceMemoryStore)
	}
	return r, o.Finish()
}

func readMountPath(o *jsonobj.Object, r *ResourceParams) error {
	s, err := o.OptStr("mount_path")
	if err != nil || s == nil {
		return err
	}
	if *s == "" {
		return jsonobj.Invalid(o.At("mount_path"), "must not be empty")
	}
	r.MountPath = *s
	return nil
}

// DecodeFileResourceParams reads the body of POST …/resources (file only):
// {"type":"file","file_id","mount_path"?}.
func DecodeFileResourceParams(body []byte) (ResourceParams, error) {
	r, err := decodeResource("", body)
	if err != nil {
		return r, err
	}
	if r.Type != ResourceFile {
		return r, jsonobj.Invalid("type", "only %q resources can be added to a running session", ResourceFile)
	}
	return r, r.validate("")
}

// Validate checks the values of a decoded create body.
func (p SessionCreateParams) Validate() error {
	if err := p.Agent.validate("agent"); err != nil {
		return err
	}
	if strings.TrimSpace(p.EnvironmentID) == "" {
		return jsonobj.Invalid("environment_id", "must not be empty")
	}
	if p.Title != nil {
		if err := check.Name("title", *p.Title, 0, MaxSessionTitle); err != nil {
			return err
		}
	}
	if err := checkMetadata("metadata", p.Metadata); err != nil {
		return err
	}
	if err := validateResources(p.Resources); err != nil {
		return err
	}
	if err := validateVaultIDs(p.VaultIDs); err != nil {
		return err
	}
	if len(p.InitialEvents) > MaxInitialEvents {
		return jsonobj.Invalid("initial_events", "at most %d events are allowed, got %d", MaxInitialEvents, len(p.InitialEvents))
	}
	for i, ev := range p.InitialEvents {
		if err := validateClientEvent(jsonobj.Index("initial_events", i), ev); err != nil {
			return err
		}
	}
	if err := oneOutcome("initial_events", p.InitialEvents); err != nil {
		return err
	}
	if p.Budget != nil {
		return p.Budget.validate("budget")
	}
	return nil
}

func (a AgentRef) validate(p string) error {
	if strings.TrimSpace(a.ID) == "" {
		if a.Bare {
			return jsonobj.Invalid(p, "must not be empty")
		}
		return jsonobj.Invalid(jsonobj.Key(p, "id"), "must not be empty")
	}
	if a.Model.Set && a.Model.Null {
		// The model can never be cleared.
		return errdefs.Invalid("%s: cannot be null; a session always has a model", jsonobj.Key(p, "model")).WithCode("agent_model_required")
	}
	if a.Model.Set && !a.Model.Null && jsonobj.Kind(a.Model.V) == "a string" {
		var s string
		_ = json.Unmarshal(a.Model.V, &s)
		if strings.TrimSpace(s) == "" {
			return jsonobj.Invalid(jsonobj.Key(p, "model"), "must not be empty")
		}
	}
	if v, ok := a.System.Value(); ok {
		if err := checkLen(jsonobj.Key(p, "system"), v, 0, maxOverrideSystem); err != nil {
			return err
		}
	}
	return nil
}

func (b BudgetLimit) validate(p string) error {
	if !amountRE.MatchString(b.MaxListCost.Amount) {
		return jsonobj.Invalid(jsonobj.Key(p, "max_list_cost.amount"), "must be a positive integer number of minor units without leading zeros (\"2500\" is 25.00), got %q", b.MaxListCost.Amount)
	}
	if b.MaxListCost.Currency != "USD" {
		return jsonobj.Invalid(jsonobj.Key(p, "max_list_cost.currency"), "unknown value %q, expected one of [USD]", b.MaxListCost.Currency)
	}
	return nil
}

var amountRE = regexp.MustCompile(`^[1-9][0-9]{0,17}$`)

func checkMetadata(p string, m Metadata) error {
	if len(m) > maxMetadataPairs {
		return jsonobj.Invalid(p, "at most %d pairs are allowed, got %d", maxMetadataPairs, len(m))
	}
	for k, v := range m {
		if err := checkLen(p+" key", k, 1, maxMetadataKey); err != nil {
			return err
		}
		if utf8.RuneCountInString(v) > maxMetadataValue {
			return jsonobj.Invalid(jsonobj.Key(p, k), "value must be at most %d characters", maxMetadataValue)
		}
	}
	return nil
}

func checkMetadataPatch(p string, m MetadataPatch) error {
	for k, v := range m {
		if err := checkLen(p+" key", k, 1, maxMetadataKey); err != nil {
			return err
		}
		if v != nil && utf8.RuneCountInString(*v) > maxMetadataValue {
			return jsonobj.Invalid(jsonobj.Key(p, k), "value must be at most %d characters", maxMetadataValue)
		}
	}
	return nil
}

func validateVaultIDs(v []string) error {
	if len(v) > MaxVaultIDs {
		return jsonobj.Invalid("vault_ids", "at most %d vaults are allowed, got %d", MaxVaultIDs, len(v))
	}
	for i, id := range v {
		if strings.TrimSpace(id) == "" {
			return jsonobj.Invalid(jsonobj.Index("vault_ids", i), "must not be empty")
		}
		if j := slices.Index(v[:i], id); j >= 0 {
			return jsonobj.Invalid(jsonobj.Index("vault_ids", i), "duplicate of vault_ids[%d]", j)
		}
	}
	return nil
}

// Mount points the server owns: outputs are captured from there and memory
// stores are mounted there.
var reservedMounts = []string{"/mnt/session/outputs", MemoryMountRoot}

func validateResources(rs []ResourceParams) error {
	var files, stores int
	mounts := map[string]int{}
	storeIDs := map[string]int{}
	for i, r := range rs {
		p := jsonobj.Index("resources", i)
		if err := r.validate(p); err != nil {
			return err
		}
		switch r.Type {
		case ResourceFile:
			if files++; files > MaxFileResources {
				return jsonobj.Invalid("resources", "at most %d file resources are allowed", MaxFileResources)
			}
		case ResourceMemoryStore:
			if stores++; stores > MaxMemoryStores {
				return jsonobj.Invalid("resources", "at most %d memory stores are allowed", MaxMemoryStores)
			}
			if j, dup := storeIDs[r.MemoryStoreID]; dup {
				return jsonobj.Invalid(jsonobj.Key(p, "memory_store_id"), "duplicate of resources[%d]", j)
			}
			storeIDs[r.MemoryStoreID] = i
			continue
		}
		mp := r.EffectiveMountPath()
		if j, dup := mounts[mp]; dup {
			return jsonobj.Invalid(jsonobj.Key(p, "mount_path"), "%q is already used by resources[%d]", mp, j)
		}
		mounts[mp] = i
	}
	return nil
}

var (
	idRE       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	repoNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	branchRE   = regexp.MustCompile(`^[^\x00-\x20\x7f~^:?*\[\\]+$`)
	shaRE      = regexp.MustCompile(`^([0-9a-fA-F]{40}|[0-9a-fA-F]{64})$`)
)

func (r ResourceParams) validate(p string) error {
	switch r.Type {
	case ResourceFile:
		// The id names the default mount path, so it must be one segment.
		if !idRE.MatchString(r.FileID) {
			return jsonobj.Invalid(jsonobj.Key(p, "file_id"), "must be a file id (letters, digits, '_' and '-')")
		}
	case ResourceGitHubRepository:
		u, err := url.Parse(r.URL)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			return jsonobj.Invalid(jsonobj.Key(p, "url"), "must be an absolute https URL of a repository")
		case u.User != nil:
			return jsonobj.Invalid(jsonobj.Key(p, "url"), "must not carry credentials; send the token as authorization_token")
		case !repoNameRE.MatchString(RepoName(r.URL)) || strings.Trim(RepoName(r.URL), ".") == "":
			// The name becomes the default mount path /workspace/<repo-name>.
			return jsonobj.Invalid(jsonobj.Key(p, "url"), "must name a repository (https://github.com/<owner>/<repo>)")
		}
		if len(r.AuthorizationToken) > maxRepoToken || hasControl(r.AuthorizationToken) {
			// The message must not echo the token.
			return jsonobj.Invalid(jsonobj.Key(p, "authorization_token"), "must be at most %d printable characters", maxRepoToken)
		}
		if c := r.Checkout; c != nil {
			switch c.Type {
			case CheckoutBranch:
				if !branchRE.MatchString(c.Name) || strings.HasPrefix(c.Name, "-") || strings.Contains(c.Name, "..") || len(c.Name) > 255 {
					return jsonobj.Invalid(jsonobj.Key(p, "checkout.name"), "must be a valid git branch name")
				}
			case CheckoutCommit:
				if !shaRE.MatchString(c.SHA) {
					return jsonobj.Invalid(jsonobj.Key(p, "checkout.sha"), "must be a full 40- or 64-character hex commit SHA")
				}
			}
		}
	case ResourceMemoryStore:
		if strings.TrimSpace(r.MemoryStoreID) == "" {
			return jsonobj.Invalid(jsonobj.Key(p, "memory_store_id"), "must not be empty")
		}
		if r.Instructions != nil {
			if err := checkLen(jsonobj.Key(p, "instructions"), *r.Instructions, 0, maxMemoryInstructions); err != nil {
				return err
			}
		}
		return nil
	}
	if r.MountPath != "" {
		return checkMountPath(jsonobj.Key(p, "mount_path"), r.MountPath)
	}
	return nil
}

func checkMountPath(p, mp string) error {
	switch {
	case len(mp) > maxMountPath:
		return jsonobj.Invalid(p, "must be at most %d bytes", maxMountPath)
	case !strings.HasPrefix(mp, "/"):
		return jsonobj.Invalid(p, "must be absolute")
	case hasControl(mp):
		return jsonobj.Invalid(p, "must not contain control characters")
	case path.Clean(mp) != mp || mp == "/":
		return jsonobj.Invalid(p, "must be a clean path below / (no trailing slash, '.' or '..' segments)")
	}
	for _, m := range reservedMounts {
		if mp == m || strings.HasPrefix(mp, m+"/") {
			return jsonobj.Invalid(p, "%s is reserved by the server", m)
		}
	}
	return nil
}

// ---- POST /v1/sessions/{id} ----------------------------------------------

// SessionUpdateParams is the body of POST /v1/sessions/{id}.
type SessionUpdateParams struct {
	// Title: omitted keeps, null or "" clears.
	Title Opt[string]
	// Metadata is nil when omitted (or null); a value upserts, null deletes.
	Metadata MetadataPatch
	// Agent is nil when omitted (or null).
	Agent *SessionAgentUpdate
	// Budget: omitted keeps, null removes, a value replaces.
	Budget Opt[BudgetLimit]
}

// SessionAgentUpdate replaces tools and/or mcp_servers wholesale.
// Null or [] clears; the raw arrays go to the agent parsers.
type SessionAgentUpdate struct {
	Tools      Opt[json.RawMessage]
	MCPServers Opt[json.RawMessage]
}

// Changes reports whether the update asks for anything at all.
func (p SessionUpdateParams) Changes() bool {
	return p.Title.Set || p.Metadata != nil || p.Budget.Set ||
		(p.Agent != nil && (p.Agent.Tools.Set || p.Agent.MCPServers.Set))
}

func (p *SessionUpdateParams) UnmarshalJSON(b []byte) error {
	*p = SessionUpdateParams{}
	o, err := jsonobj.New("", b)
	if err != nil {
		return err
	}
	if raw, pr := o.Get("title"); pr != jsonobj.Absent {
		p.Title.Set, p.Title.Null = true, pr == jsonobj.Null
		if pr == jsonobj.Present {
			if p.Title.V, err = jsonobj.String("title", raw); err != nil {
				return err
			}
			if p.Title.V == "" {
				p.Title.Null = true
			}
		}
	}
	if raw, pr := o.Get("metadata"); pr == jsonobj.Present {
		if p.Metadata, err = decodeMetadataPatch("metadata", raw); err != nil {
			return err
		}
	}
	if raw, pr := o.Get("agent"); pr == jsonobj.Present {
		ao, err := jsonobj.New("agent", raw)
		if err != nil {
			return err
		}
		for _, k := range []string{"model", "system", "skills", "description", "name", "multiagent", "id", "version", "type"} {
			if ao.Has(k) {
				return jsonobj.Invalid(ao.At(k), "cannot be changed after creation; only agent.tools and agent.mcp_servers can")
			}
		}
		a := &SessionAgentUpdate{}
		for _, f := range []struct {
			key string
			dst *Opt[json.RawMessage]
		}{{"tools", &a.Tools}, {"mcp_servers", &a.MCPServers}} {
			raw, pr := ao.Get(f.key)
			if pr == jsonobj.Absent {
				continue
			}
			f.dst.Set, f.dst.Null = true, pr == jsonobj.Null
			if pr == jsonobj.Present {
				if jsonobj.Kind(raw) != "an array" {
					return jsonobj.Invalid(ao.At(f.key), "expected an array, got %s", jsonobj.Kind(raw))
				}
				f.dst.V = raw
			}
		}
		if err := ao.Finish(); err != nil {
			return err
		}
		p.Agent = a
	}
	if raw, pr := o.Get("budget"); pr != jsonobj.Absent {
		p.Budget.Set, p.Budget.Null = true, pr == jsonobj.Null
		if pr == jsonobj.Present {
			if p.Budget.V, err = decodeBudget("budget", raw); err != nil {
				return err
			}
		}
	}
	if raw, pr := o.Get("vault_ids"); pr == jsonobj.Present {
		ids, err := jsonobj.Strings("vault_ids", raw)
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			// The SDK: "Not yet supported; requests setting this field are
			// rejected." An empty list changes nothing and is accepted.
			return jsonobj.Invalid("vault_ids", "cannot be changed after creation")
		}
	}
	return o.Finish()
}

// Validate checks the values of a decoded update body.
func (p SessionUpdateParams) Validate() error {
	if v, ok := p.Title.Value(); ok {
		if err := check.Name("title", v, 0, MaxSessionTitle); err != nil {
			return err
		}
	}
	if err := checkMetadataPatch("metadata", p.Metadata); err != nil {
		return err
	}
	if v, ok := p.Budget.Value(); ok {
		return v.validate("budget")
	}
	return nil
}

// ResourceUpdateParams is the body of POST …/resources/{id}: a new token
// for a github_repository resource. AuthorizationToken is a SECRET.
type ResourceUpdateParams struct {
	AuthorizationToken string `json:"-"`
}

// String, GoString and LogValue never show the token.
func (p ResourceUpdateParams) String() string       { return "resource update (token redacted)" }
func (p ResourceUpdateParams) GoString() string     { return p.String() }
func (p ResourceUpdateParams) LogValue() slog.Value { return slog.StringValue(p.String()) }

func (p *ResourceUpdateParams) UnmarshalJSON(b []byte) error {
	o, err := jsonobj.New("", b)
	if err != nil {
		return err
	}
	if p.AuthorizationToken, err = o.RequiredStr("authorization_token"); err != nil {
		return err
	}
	return o.Finish()
}

// Validate checks the token without ever echoing it.
func (p ResourceUpdateParams) Validate() error {
	if p.AuthorizationToken == "" {
		return jsonobj.Invalid("authorization_token", "must not be empty")
	}
	if len(p.AuthorizationToken) > maxRepoToken || hasControl(p.AuthorizationToken) {
		return jsonobj.Invalid("authorization_token", "must be at most %d printable characters", maxRepoToken)
	}
	return nil
}
