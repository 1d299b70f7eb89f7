// Package api owns the HTTP surface: routing, authentication and tenancy,
// the error envelope, pagination, request decoding and validation, and one
// handler file per resource. Handlers return errors; serve renders them.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/api/dreams"
	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/blob"
	"github.com/hangarhq/hangar/internal/changes"
	"github.com/hangarhq/hangar/internal/deploy"
	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/webhook"
	"github.com/hangarhq/hangar/internal/wire"
	"github.com/hangarhq/hangar/internal/workqueue"
)

// DefaultWorkspace is the workspace of keys created without one.
const DefaultWorkspace = "wrkspc_default"

// Limits on request bodies.
const (
	maxJSONBody = 8 << 20
)

// Options configure the API.
type Options struct {
	Store  store.Store
	Sealer *vault.Sealer
	Blobs  *blob.FS
	Logger *slog.Logger
	// AdminKey, when set, is accepted as an administrator key of the default
	// workspace without being stored (HANGAR_API_KEY).
	AdminKey string
	// MaxUploadBytes bounds multipart uploads (files, skills).
	MaxUploadBytes int64
	// Engine runs sessions; Broker carries their live events.
	Engine *engine.Engine
	Broker events.Broker
	// WorkQueue is the self-hosted work queue; nil makes one over Store.
	// Share it with whatever enqueues, so enqueues wake long polls.
	WorkQueue *workqueue.Queue
	// Changes, when set, hears of committed changes to vaults, credentials,
	// environments and sessions that running sessions hold a copy of (the
	// egress proxy's policy and secrets).
	Changes changes.Notifier
	// SandboxWork reports whether a work item was claimed for a worker
	// Hangar runs inside a session's sandbox, and for which session. Such
	// an item's sessions token is accepted only over that session's
	// sandbox socket (WithSandboxSocket), and nothing else is.
	SandboxWork func(workID string) (sessionID string, ok bool)
	// Dreams runs the dreams the API creates; nil leaves the dream
	// endpoints out.
	Dreams dreams.Runner
	// Deployments owns deployments and their scheduler; nil leaves the
	// deployment endpoints out.
	Deployments *deploy.Service
	// Webhooks manages webhook endpoints; nil leaves their endpoints out.
	Webhooks *webhook.Service
}

// API serves the Managed Agents HTTP API.
type API struct {
	store          store.Store
	sealer         *vault.Sealer
	blobs          *blob.FS
	log            *slog.Logger
	adminKeyHash   [32]byte
	hasAdminKey    bool
	maxUploadBytes int64
	mux            *http.ServeMux
	queue          *workqueue.Queue
	sandboxWork    func(workID string) (string, bool)
}

// New builds the API handler.
func New(o Options) *API {
	a := &API{store: o.Store, sealer: o.Sealer, blobs: o.Blobs, log: o.Logger, maxUploadBytes: o.MaxUploadBytes, mux: http.NewServeMux()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxUploadBytes == 0 {
		a.maxUploadBytes = 512 << 20
	}
	if o.WorkQueue == nil {
		o.WorkQueue = workqueue.New(o.Store, workqueue.Options{})
	}
	a.queue = o.WorkQueue
	a.sandboxWork = o.SandboxWork
	if a.sandboxWork == nil {
		a.sandboxWork = func(string) (string, bool) { return "", false }
	}
	if o.AdminKey != "" {
		a.adminKeyHash, a.hasAdminKey = sha256.Sum256([]byte(o.AdminKey)), true
	}
	a.routes(o)
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// handle registers an authenticated control-plane route. Environment keys
// and sessions tokens only reach the work-queue routes and the few session
// routes a self-hosted worker calls (workerRoutes), never the rest.
func (a *API) handle(pattern string, h httpx.HandlerFunc) {
	scope := workerRoutes[pattern]
	a.mux.Handle(pattern, a.serve(requireHeaders(pattern, func(w http.ResponseWriter, r *http.Request) error {
		p := httpx.PrincipalOf(r)
		if !p.IsWorker() {
			return h(w, r)
		}
		if err := a.workerMayUse(r, p, scope); err != nil {
			return err
		}
		return h(w, r)
	}), true))
}

// handleWorker registers a work-queue route: environment keys and sessions
// tokens pass authentication and the handler decides what each may do.
func (a *API) handleWorker(pattern string, h httpx.HandlerFunc) {
	a.mux.Handle(pattern, a.serve(requireHeaders(pattern, h), true))
}

// ManagedAgentsBeta is the beta every Managed Agents request must name, as
// on the hosted API.
const ManagedAgentsBeta = "managed-agents-2026-04-01"

// MemoryBeta is the beta the SDKs send on the memory store endpoints,
// which also accept the Managed Agents beta.
const MemoryBeta = "agent-memory-2026-07-22"

// DreamsBeta is the beta the SDKs send on the dream endpoints, and the
// only one they send there.
const DreamsBeta = "dreaming-2026-04-21"

// WebhooksBeta is the beta the SDKs send on the webhook endpoint
// management routes, and the only one they send there.
const WebhooksBeta = "webhooks-2026-10-07"

// requireHeaders refuses a request without the headers the hosted API
// requires, so code written against Hangar works unchanged against it:
// anthropic-version on every route (any value: the SDKs send dates the
// public docs do not list), and a beta on all but the Files and Skills
// APIs, for which neither official SDK (Go, TypeScript) sends a beta by
// default: the Managed Agents beta, or on the memory store endpoints
// either that or the memory beta (what both SDKs send there); on the dream
// endpoints the dreams beta; on the webhook endpoints the webhooks beta.
func requireHeaders(pattern string, h httpx.HandlerFunc) httpx.HandlerFunc {
	_, path, _ := strings.Cut(pattern, " ")
	betas := []string{ManagedAgentsBeta}
	switch {
	case strings.HasPrefix(path, "/v1/files") || strings.HasPrefix(path, "/v1/skills"):
		betas = nil
	case strings.HasPrefix(path, "/v1/memory_stores"):
		betas = []string{MemoryBeta, ManagedAgentsBeta}
	case strings.HasPrefix(path, "/v1/dreams"):
		betas = []string{DreamsBeta}
	case strings.HasPrefix(path, "/v1/organizations/webhooks"):
		betas = []string{WebhooksBeta}
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		if strings.TrimSpace(r.Header.Get("anthropic-version")) == "" {
			return errdefs.Invalid("anthropic-version: header is required")
		}
		if len(betas) > 0 && !slices.ContainsFunc(betas, func(b string) bool { return hasBeta(r.Header, b) }) {
			return errdefs.Invalid("anthropic-beta: this endpoint requires the %s beta; send the header anthropic-beta: %s", betas[0], betas[0])
		}
		return h(w, r)
	}
}

// hasBeta reports whether the request names beta in any anthropic-beta
// header line, each a comma-separated list (SDKs join the caller's betas
// with their own: "a,b").
func hasBeta(h http.Header, beta string) bool {
	for _, line := range h.Values("anthropic-beta") {
		for _, b := range strings.Split(line, ",") {
			if strings.TrimSpace(b) == beta {
				return true
			}
		}
	}
	return false
}

// Worker route scopes: which path value names the object a worker's
// credential must be entitled to.
const (
	scopeSession = 1 + iota
	scopeSkill
	scopeMemoryRead
	scopeMemoryWrite
)

// workerRoutes are the routes a self-hosted worker calls with its sessions
// token, or with its environment key when the item carried no token.
var workerRoutes = map[string]int{
	"GET /v1/sessions/{session_id}":                        scopeSession,
	"GET /v1/sessions/{session_id}/events":                 scopeSession,
	"POST /v1/sessions/{session_id}/events":                scopeSession,
	"GET /v1/sessions/{session_id}/events/stream":          scopeSession,
	"GET /v1/skills/{skill_id}/versions/{version}":         scopeSkill,
	"GET /v1/skills/{skill_id}/versions/{version}/content": scopeSkill,

	// A worker that follows a multiagent session's threads one by one.
	"GET /v1/sessions/{session_id}/threads":                    scopeSession,
	"GET /v1/sessions/{session_id}/threads/{thread_id}":        scopeSession,
	"GET /v1/sessions/{session_id}/threads/{thread_id}/events": scopeSession,
	"GET /v1/sessions/{session_id}/threads/{thread_id}/stream": scopeSession,

	// The worker's memory sync: list and read a store's memories, write
	// back the files the session changed.
	"GET /v1/memory_stores/{memory_store_id}/memories":                scopeMemoryRead,
	"GET /v1/memory_stores/{memory_store_id}/memories/{memory_id}":    scopeMemoryRead,
	"POST /v1/memory_stores/{memory_store_id}/memories":               scopeMemoryWrite,
	"POST /v1/memory_stores/{memory_store_id}/memories/{memory_id}":   scopeMemoryWrite,
	"DELETE /v1/memory_stores/{memory_store_id}/memories/{memory_id}": scopeMemoryWrite,
}

// workerMayUse checks a sessions token or environment key against a
// control-plane route: a token reaches only its own session (and the skills
// of that session's agent); an environment key reaches the sessions of its
// environment and skill downloads of its workspace.
func (a *API) workerMayUse(r *http.Request, p httpx.Principal, scope int) error {
	denied := errdefs.PermissionDenied("environment keys and work sessions tokens may only use the work queue and their own session")
	switch scope {
	case scopeSession:
		id := r.PathValue("session_id")
		if p.SessionID != "" {
			if id != p.SessionID {
				return denied
			}
			return nil
		}
		s, err := a.store.GetSession(r.Context(), p.Workspace, id)
		if err != nil {
			return err
		}
		if s.EnvironmentID != p.EnvironmentID {
			return denied
		}
		return nil
	case scopeSkill:
		if p.SessionID == "" {
			return nil
		}
		s, err := a.store.GetSession(r.Context(), p.Workspace, p.SessionID)
		if err != nil {
			return denied
		}
		var doc struct {
			Agent struct {
				Skills []struct {
					SkillID string `json:"skill_id"`
				} `json:"skills"`
			} `json:"agent"`
		}
		if json.Unmarshal(s.Data, &doc) == nil {
			for _, sk := range doc.Agent.Skills {
				if sk.SkillID == r.PathValue("skill_id") {
					return nil
				}
			}
		}
		return denied
	case scopeMemoryRead, scopeMemoryWrite:
		return a.workerMayUseMemory(r, p, scope == scopeMemoryWrite)
	}
	return denied
}

// workerMayUseMemory lets a work item's sessions token reach exactly the
// memory stores attached to its session, and write only those attached
// read_write. An environment key reaches no store: it is shared by every
// session of the environment, and a store belongs to the sessions it is
// attached to. A cloud session's stores are mounted in its sandbox and
// synced by the server, so its in-sandbox worker reaches none either: two
// writers of the same files would race each other.
func (a *API) workerMayUseMemory(r *http.Request, p httpx.Principal, write bool) error {
	id := r.PathValue("memory_store_id")
	if p.SessionID == "" {
		return errdefs.PermissionDenied("memory stores are reached with a work item's sessions token, not an environment key")
	}
	if _, ok := sandboxSocketOf(r.Context()); ok {
		return errdefs.PermissionDenied("a cloud session's memory stores are mounted in its sandbox and synced by the server")
	}
	s, err := a.store.GetSession(r.Context(), p.Workspace, p.SessionID)
	if err != nil {
		return errdefs.PermissionDenied("memory store %s is not attached to session %s", id, p.SessionID)
	}
	var doc struct {
		Resources []wire.SessionResource `json:"resources"`
	}
	if err := json.Unmarshal(s.Data, &doc); err != nil {
		return errdefs.Internal(err, "decode session %s", p.SessionID)
	}
	for _, res := range doc.Resources {
		if res.Type != wire.ResourceMemoryStore || res.MemoryStoreID != id {
			continue
		}
		if write && res.Access != nil && *res.Access == wire.AccessReadOnly {
			return errdefs.PermissionDenied("memory store %s is attached to session %s read_only", id, p.SessionID)
		}
		return nil
	}
	return errdefs.PermissionDenied("memory store %s is not attached to session %s", id, p.SessionID)
}

// serve wraps a handler with the request id, the access log line, panic
// recovery, the body limit, authentication and error rendering.
func (a *API) serve(h httpx.HandlerFunc, auth bool) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := ids.New(ids.Request)
		rw.Header().Set("request-id", rid)
		w := &recorder{ResponseWriter: rw}
		defer a.accessLog(r, w, rid, start)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.ErrorContext(r.Context(), "panic in handler", "request_id", rid, "panic", p, "stack", string(debug.Stack()))
				httpx.WriteError(w, r, a.log, errdefs.Internal(fmt.Errorf("panic: %v", p), "internal server error"))
			}
		}()
		if r.Body != nil && !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
		}
		if auth {
			p, err := a.authenticate(r)
			if err != nil {
				httpx.WriteError(w, r, a.log, err)
				return
			}
			w.Header().Set("anthropic-workspace-id", p.Workspace)
			ctx := httpx.WithPrincipal(r.Context(), p)
			if _, ok := sandboxSocketOf(ctx); ok {
				// authenticate let only the session's own worker through.
				ctx = engine.WithSandboxWorker(ctx)
			}
			r = r.WithContext(ctx)
		}
		if err := h(w, r); err != nil {
			httpx.WriteError(w, r, a.log, err)
		}
	})
}

// bearer extracts the API key from x-api-key or Authorization: Bearer. The
// Go SDK's worker helpers strip x-api-key, so Authorization wins when both
// are present.
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if k, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(k)
		}
		if k, ok := strings.CutPrefix(h, "bearer "); ok {
			return strings.TrimSpace(k)
		}
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}

// sandboxSocketKey carries the session whose sandbox socket a request
// arrived on.
type sandboxSocketKey struct{}

// WithSandboxSocket marks ctx as a request that arrived on the API socket
// of sessionID's sandbox. Such requests must carry the sessions token of a
// work item claimed for that session's in-sandbox worker; everything else
// is refused with 403.
func WithSandboxSocket(ctx context.Context, sessionID string) context.Context {
	return context.WithValue(ctx, sandboxSocketKey{}, sessionID)
}

// notSandboxWorker refuses a request on a sandbox's API socket that does
// not carry its session's in-sandbox worker's token.
func notSandboxWorker() error {
	return errdefs.PermissionDenied("a sandbox's API socket serves only its session's worker")
}

func sandboxSocketOf(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(sandboxSocketKey{}).(string)
	return s, ok
}

func (a *API) authenticate(r *http.Request) (httpx.Principal, error) {
	key := bearer(r)
	sock, viaSocket := sandboxSocketOf(r.Context())
	if viaSocket && !strings.HasPrefix(key, workqueue.TokenPrefix) {
		return httpx.Principal{}, notSandboxWorker()
	}
	if key == "" {
		return httpx.Principal{}, errdefs.Unauthenticated("missing API key: send it as x-api-key or Authorization: Bearer")
	}
	hash := sha256.Sum256([]byte(key))
	var p httpx.Principal
	if strings.HasPrefix(key, workqueue.TokenPrefix) {
		o, err := a.queue.Authenticate(r.Context(), key)
		if err == nil && o.Stopped && !itemLifecycle(r, o.WorkID) {
			// A stopped item's worker may still heartbeat or stop it, and
			// learns from the answer that it must end; nothing else.
			err = errdefs.Unauthenticated("invalid API key")
		}
		if err != nil {
			if viaSocket {
				return httpx.Principal{}, notSandboxWorker()
			}
			return httpx.Principal{}, err
		}
		// Tokens of in-sandbox workers are good only on their own
		// sandbox's socket: one that leaked from a sandbox is of no use
		// on the network, and a sandbox reaches no other session.
		owner, inSandbox := a.sandboxWork(o.WorkID)
		switch {
		case viaSocket && (!inSandbox || owner != sock || o.SessionID != sock):
			return httpx.Principal{}, notSandboxWorker()
		case !viaSocket && inSandbox:
			return httpx.Principal{}, errdefs.PermissionDenied("this work token is only valid inside its session's sandbox")
		}
		p = httpx.Principal{KeyID: o.WorkID, Workspace: o.Workspace, SessionID: o.SessionID, WorkID: o.WorkID}
	} else if a.hasAdminKey && subtle.ConstantTimeCompare(hash[:], a.adminKeyHash[:]) == 1 {
		p = httpx.Principal{KeyID: "apikey_env", Workspace: DefaultWorkspace, Admin: true}
	} else {
		k, err := a.store.KeyByHash(r.Context(), hash[:])
		if errors.Is(err, errdefs.ErrNotFound) || (err == nil && k.RevokedAt != nil) {
			return httpx.Principal{}, errdefs.Unauthenticated("invalid API key")
		}
		if err != nil {
			return httpx.Principal{}, err
		}
		p = httpx.Principal{KeyID: k.ID, Workspace: k.Workspace, Admin: k.Admin, EnvironmentID: k.EnvironmentID}
	}
	if ws := strings.TrimSpace(r.Header.Get("anthropic-workspace-id")); ws != "" && ws != p.Workspace {
		// Administrator keys act for the whole organization and may address
		// any workspace; other keys are confined to their own.
		if !p.Admin {
			return httpx.Principal{}, errdefs.PermissionDenied("this API key belongs to workspace %s and cannot act in %s", p.Workspace, ws)
		}
		p.Workspace = ws
	}
	return p, nil
}

// itemLifecycle reports whether r heartbeats or stops work item workID.
func itemLifecycle(r *http.Request, workID string) bool {
	p := r.URL.Path
	return r.Method == http.MethodPost && (strings.HasSuffix(p, "/work/"+workID+"/heartbeat") || strings.HasSuffix(p, "/work/"+workID+"/stop"))
}
