// Package sessions serves the sessions endpoints: create (resolving the
// agent reference and its overrides, checking every referenced object),
// retrieve, update, list with the bidirectional cursor, archive and delete,
// plus (events.go) the event list, send and live stream.
//
// A session's document belongs to the engine while the session lives: every
// write to an existing session goes through engine.Update, which holds the
// session's lock, so nothing here races the agent loop.
//
// Choices where the spec is open:
//   - A referenced object that does not exist in the workspace (agent, agent
//     version, environment, vault, file, custom skill) is a 404 whose message
//     names the field; an archived agent, environment or vault is a 400
//     naming the field.
//   - Changing agent.tools / agent.mcp_servers of a session that is not idle
//     is a 409 (it clashes with the current state); archiving or
//     deleting a running session is a 400.
//   - Writes to an archived session are 409; archiving again is a
//     no-op that returns the session.
//   - Budgets: a budget on create needs a list price for every model the
//     session may run (400 model_not_budgetable otherwise, see
//     Engine.CheckBudgetable). On update an object replaces the budget and
//     null removes it; a session created without one cannot gain one (400
//     budget_create_only), and a new ceiling must be above what the session
//     already spent (400 budget_not_raised, checked by the engine under the
//     session's lock). Removing the budget of a session without one is a
//     no-op.
//   - Repository authorization tokens are sealed in KindSessionSecret
//     records, never in the document; file resources name a session-scoped
//     copy of the file. See resources.go.
//   - Memory-store resources are rejected until memory stores exist.
package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"strings"

	"github.com/hangarhq/hangar/internal/agentcfg"
	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/blob"
	"github.com/hangarhq/hangar/internal/changes"
	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/webhook"
	"github.com/hangarhq/hangar/internal/wire"
)

// maxMetadataPairs bounds a session's metadata after an update's patch (the
// SDK's 16, not the 8 of older docs; see docs/sdk-discrepancies.md).
const maxMetadataPairs = 16

// Handler serves the sessions endpoints.
type Handler struct {
	st     store.Store
	log    *slog.Logger
	eng    *engine.Engine
	broker events.Broker
	// blobs, when set, is where session-scoped files keep their bytes, so
	// a delete removes them too.
	blobs *blob.FS
	// sealer, when set, seals repository tokens (resources.go).
	sealer *vault.Sealer
	// changes hears of committed session updates that the session's live
	// parts must follow (its egress proxy's MCP hosts).
	changes changes.Notifier
	// hooks queues session.status_scheduled in a new session's
	// transaction; nil queues nothing.
	hooks *webhook.Service
}

// Option configures a Handler.
type Option func(*Handler)

// WithBlobs lets delete remove the bytes of the session's scoped files.
func WithBlobs(b *blob.FS) Option { return func(h *Handler) { h.blobs = b } }

// WithNotifier tells n about every committed session update.
func WithNotifier(n changes.Notifier) Option { return func(h *Handler) { h.changes = changes.Or(n) } }

// WithWebhooks announces each new session (session.status_scheduled).
func WithWebhooks(s *webhook.Service) Option { return func(h *Handler) { h.hooks = s } }

// New returns the handler. broker carries live events; deletion is
// announced on it (session.deleted, then the streams end).
func New(st store.Store, eng *engine.Engine, broker events.Broker, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{st: st, log: log, eng: eng, broker: broker, changes: changes.Nop{}}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Register adds the routes, the event routes of events.go included.
func (h *Handler) Register(route httpx.Router) {
	route("POST /v1/sessions", h.create)
	route("GET /v1/sessions", h.list)
	route("GET /v1/sessions/{session_id}", h.get)
	route("POST /v1/sessions/{session_id}", h.update)
	route("DELETE /v1/sessions/{session_id}", h.delete)
	route("POST /v1/sessions/{session_id}/archive", h.archive)
	h.registerEvents(route)
	h.registerThreads(route)
	h.registerResources(route)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	doc, err := h.eng.Get(r.Context(), httpx.Workspace(r), r.PathValue("session_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, doc)
}

// ---- create ------------------------------------------------------------

func (h *Handler) create(w http.ResponseWriter, r *http.Request) error {
	var p wire.SessionCreateParams
	if err := httpx.DecodeJSON(r, &p); err != nil {
		return err
	}
	doc, err := h.Create(r.Context(), httpx.Workspace(r), p, "")
	if err != nil {
		return err
	}
	return httpx.OK(w, doc)
}

// errCheckOnly rolls back the transaction of Check.
var errCheckOnly = errors.New("check only")

// Check validates p exactly as Create would and resolves its agent
// reference, creating nothing: a deployment is checked with it when it is
// created or updated, so that it fails then rather than at each fire.
func (h *Handler) Check(ctx context.Context, ws string, p wire.SessionCreateParams) (wire.SessionAgent, error) {
	if err := p.Validate(); err != nil {
		return wire.SessionAgent{}, err
	}
	if err := h.resolveRubrics(ctx, ws, p.InitialEvents); err != nil {
		return wire.SessionAgent{}, renameEventsPath(err)
	}
	var agent wire.SessionAgent
	err := h.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		doc, err := buildSession(ctx, tx, ws, ids.New(ids.Session), p)
		if err != nil {
			return err
		}
		if p.Budget != nil {
			if err := h.eng.CheckBudgetable(ctx, tx, ws, doc.Agent); err != nil {
				return err
			}
		}
		agent = doc.Agent
		return errCheckOnly
	})
	if errors.Is(err, errCheckOnly) {
		err = nil
	}
	return agent, err
}

// Create validates p, creates the session and sends its initial events:
// the whole of POST /v1/sessions after decoding, also what a deployment's
// fire runs. deploymentID, when set, is the deployment that made it.
func (h *Handler) Create(ctx context.Context, ws string, p wire.SessionCreateParams, deploymentID string) (wire.Session, error) {
	if err := p.Validate(); err != nil {
		return wire.Session{}, err
	}
	id := ids.New(ids.Session)
	if err := h.resolveRubrics(ctx, ws, p.InitialEvents); err != nil {
		return wire.Session{}, renameEventsPath(err)
	}
	// File bytes are copied before the transaction, which must stay short.
	copies, err := h.copyAll(ctx, ws, p.Resources)
	if err != nil {
		return wire.Session{}, err
	}
	var doc wire.Session
	sent := h.hooks.Batch()
	err = h.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		doc, err = buildSession(ctx, tx, ws, id, p)
		if err != nil {
			return err
		}
		if p.Budget != nil {
			if err := h.eng.CheckBudgetable(ctx, tx, ws, doc.Agent); err != nil {
				return err
			}
			b := *p.Budget
			doc.Budget = &b
			// Cost is tracked from the start: every model is priced.
			zero := wire.MonetaryAmount{Amount: "0", Currency: "USD"}
			doc.Usage.ListCost = &zero
		}
		if deploymentID != "" {
			doc.DeploymentID = &deploymentID
		}
		if err := applyCopies(ctx, tx, ws, id, copies, doc.Resources); err != nil {
			return err
		}
		if err := h.storeSecrets(ctx, tx, ws, id, p.Resources, doc.Resources); err != nil {
			return err
		}
		data, err := json.Marshal(doc)
		if err != nil {
			return errdefs.Internal(err, "encode session")
		}
		s := store.Session{
			ID: id, Workspace: ws, AgentID: doc.Agent.ID, AgentVersion: doc.Agent.Version,
			EnvironmentID: doc.EnvironmentID, Status: store.SessionIdle, Data: data,
			CreatedAt: doc.CreatedAt, UpdatedAt: doc.UpdatedAt,
		}
		for _, r := range doc.Resources {
			if r.Type == wire.ResourceMemoryStore {
				s.MemoryStoreIDs = append(s.MemoryStoreIDs, r.MemoryStoreID)
			}
		}
		if err := tx.InsertSession(ctx, &s); err != nil {
			return err
		}
		return sent.Emit(ctx, tx, ws, webhook.Data{Type: "session.status_scheduled", ID: id})
	})
	if err != nil {
		h.dropCopies(ctx, ws, copies, false)
		return wire.Session{}, err
	}
	sent.Send()
	if len(p.InitialEvents) > 0 {
		if _, err := h.eng.Send(ctx, ws, id, p.InitialEvents, "", false); err != nil {
			// Nothing may remain of a failed create.
			h.discard(ctx, ws, id, doc.Resources)
			return wire.Session{}, renameEventsPath(err)
		}
		// The events may have started a turn: answer with the live state.
		return h.eng.Get(ctx, ws, id)
	}
	if err := h.eng.Created(ctx, ws, id); err != nil {
		return wire.Session{}, err
	}
	return doc, nil
}

// discard removes a session whose create failed after it was inserted.
func (h *Handler) discard(ctx context.Context, ws, id string, rs []wire.SessionResource) {
	h.eng.Forget(id)
	var blobs []string
	err := h.st.InTx(context.WithoutCancel(ctx), func(ctx context.Context, tx store.Tx) error {
		var err error
		if blobs, err = deleteResourceRecords(ctx, tx, ws, rs); err != nil {
			return err
		}
		return tx.DeleteSession(ctx, ws, id)
	})
	if err != nil {
		h.log.Error("remove session after failed create", "session", id, "err", err)
		return
	}
	h.deleteBlobs(blobs)
}

// renameEventsPath makes an error of the event checks, which name
// events[i] as on POST …/events, name initial_events[i] instead.
func renameEventsPath(err error) error {
	e, ok := errdefs.As(err)
	if !ok || !strings.HasPrefix(e.Message, "events[") {
		return err
	}
	c := *e
	c.Message = "initial_" + e.Message
	return &c
}

// buildSession resolves everything a create references and returns the new
// session document.
func buildSession(ctx context.Context, tx store.Tx, ws, id string, p wire.SessionCreateParams) (wire.Session, error) {
	agent, err := resolveAgent(ctx, tx, ws, p.Agent)
	if err != nil {
		return wire.Session{}, err
	}
	if err := checkEnvironment(ctx, tx, ws, p.EnvironmentID); err != nil {
		return wire.Session{}, err
	}
	if err := checkVaults(ctx, tx, ws, p.VaultIDs); err != nil {
		return wire.Session{}, err
	}
	now := wire.Now()
	resources, err := buildResources(ctx, tx, ws, p.Resources, now)
	if err != nil {
		return wire.Session{}, err
	}
	md := p.Metadata
	if md == nil {
		md = wire.Metadata{}
	}
	vaults := p.VaultIDs
	if vaults == nil {
		vaults = []string{}
	}
	return wire.Session{
		ID: id, Type: wire.TypeSession, Agent: agent, CreatedAt: now, UpdatedAt: now,
		EnvironmentID: p.EnvironmentID, Metadata: md, OutcomeEvaluations: []wire.OutcomeEvaluation{},
		Resources: resources, Status: wire.SessionIdle, Title: p.Title, VaultIDs: vaults,
	}, nil
}

// ---- update ------------------------------------------------------------

func (h *Handler) update(w http.ResponseWriter, r *http.Request) error {
	var p wire.SessionUpdateParams
	if err := httpx.DecodeJSON(r, &p); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	// The new arrays depend only on the request, so they are parsed before
	// taking the session's lock.
	var tools []wire.AgentTool
	var servers []wire.MCPServer
	if a := p.Agent; a != nil {
		var err error
		if v, ok := a.Tools.Value(); ok {
			if tools, err = agentcfg.ParseTools("agent.tools", v); err != nil {
				return err
			}
		}
		if v, ok := a.MCPServers.Value(); ok {
			if servers, err = agentcfg.ParseMCPServers("agent.mcp_servers", v); err != nil {
				return err
			}
		}
	}
	ws, id := httpx.Workspace(r), r.PathValue("session_id")
	if _, ok := p.Budget.Value(); ok {
		// A new ceiling needs every model of the session priced, as at
		// create (the prices may have changed since). The agent's models
		// cannot change by update, so checking before taking the
		// session's lock is enough.
		cur, err := h.eng.Get(r.Context(), ws, id)
		if err != nil {
			return err
		}
		if cur.Budget != nil {
			if err := h.eng.CheckBudgetable(r.Context(), h.st, ws, cur.Agent); err != nil {
				return err
			}
		}
	}
	doc, err := h.eng.Update(r.Context(), ws, id, func(doc *wire.Session, status string) (bool, []wire.EventPayload, error) {
		return applyUpdate(doc, status, p, tools, servers)
	})
	if err != nil {
		return err
	}
	if p.Agent != nil && p.Agent.MCPServers.Set {
		// allow_mcp_servers follows the session's MCP servers.
		h.changes.Changed(r.Context(), changes.Change{Workspace: ws, Kind: changes.KindSession, ID: id})
	}
	return httpx.OK(w, doc)
}

// applyUpdate edits doc (a shallow copy: maps and slices are replaced, never
// modified in place) and returns the session.updated event carrying only
// what changed; a request that changes nothing logs nothing.
func applyUpdate(doc *wire.Session, status string, p wire.SessionUpdateParams, tools []wire.AgentTool, servers []wire.MCPServer) (bool, []wire.EventPayload, error) {
	if !p.Changes() {
		return false, nil, nil
	}
	if doc.ArchivedAt != nil {
		return false, nil, errdefs.Conflict("session %s is archived and cannot be modified", doc.ID)
	}
	ev := &wire.SessionUpdatedEvent{}
	changed := false
	if p.Title.Set {
		var title *string
		if v, ok := p.Title.Value(); ok && v != "" {
			title = &v
		}
		if !sameString(doc.Title, title) {
			doc.Title, ev.TitleChanged, ev.Title = title, true, title
			changed = true
		}
	}
	if p.Metadata != nil {
		md := p.Metadata.Apply(doc.Metadata)
		if len(md) > maxMetadataPairs {
			return false, nil, errdefs.Invalid("metadata: at most %d pairs are allowed, got %d after applying the patch", maxMetadataPairs, len(md))
		}
		if !maps.Equal(md, doc.Metadata) {
			doc.Metadata, ev.Metadata = md, md
			changed = true
		}
	}
	if p.Budget.Set {
		next, _ := p.Budget.Value()
		switch {
		case status == wire.SessionTerminated:
			return false, nil, errdefs.Invalid("budget: session %s is terminated; its budget can no longer change", doc.ID)
		case p.Budget.Null && doc.Budget != nil:
			doc.Budget, ev.BudgetChanged, ev.Budget = nil, true, nil
			changed = true
		case p.Budget.Null:
			// No budget to remove.
		case doc.Budget == nil:
			return false, nil, errdefs.Invalid("budget: session %s was created without a budget and one cannot be added", doc.ID).WithCode("budget_create_only")
		case *doc.Budget != next:
			doc.Budget, ev.BudgetChanged, ev.Budget = &next, true, &next
			changed = true
		}
	}
	if a := p.Agent; a != nil && (a.Tools.Set || a.MCPServers.Set) {
		if status != wire.SessionIdle {
			return false, nil, errdefs.Conflict("agent: session %s is %s; agent.tools and agent.mcp_servers can only change while it is idle, so interrupt it first", doc.ID, status)
		}
		next := doc.Agent
		if a.Tools.Set {
			next.Tools = tools
		}
		if a.MCPServers.Set {
			next.MCPServers = servers
		}
		if wire.OverrideClears(a.Tools) && len(next.Skills) > 0 {
			return false, nil, errSkillsNeedTools()
		}
		if err := agentcfg.Validate("agent.", next.Tools, next.MCPServers); err != nil {
			return false, nil, err
		}
		same, err := sameJSON(next, doc.Agent)
		if err != nil {
			return false, nil, err
		}
		if !same {
			doc.Agent = next
			ev.Agent = &next
			changed = true
		}
	}
	if !changed {
		return false, nil, nil
	}
	return true, []wire.EventPayload{ev}, nil
}

func sameString(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sameJSON(a, b any) (bool, error) {
	ja, err := json.Marshal(a)
	if err != nil {
		return false, errdefs.Internal(err, "encode session agent")
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return false, errdefs.Internal(err, "encode session agent")
	}
	return string(ja) == string(jb), nil
}

// ---- archive and delete ------------------------------------------------

// busy reports whether the session is working, which archive and delete
// refuse; a rescheduled session is about to work again.
func busy(status string) bool {
	return status == wire.SessionRunning || status == wire.SessionRescheduling
}

func errBusy(id, status, what string) error {
	return errdefs.Invalid("session_id: session %s is %s and cannot be %s; interrupt it and wait for it to go idle first", id, status, what)
}

// archive is idempotent: the SDK retries archive calls, and a replay of a
// successful archive must not fail.
func (h *Handler) archive(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	ws, id := httpx.Workspace(r), r.PathValue("session_id")
	doc, err := h.eng.Update(r.Context(), ws, id, func(doc *wire.Session, status string) (bool, []wire.EventPayload, error) {
		if doc.ArchivedAt != nil {
			return false, nil, nil
		}
		if busy(status) {
			return false, nil, errBusy(id, status, "archived")
		}
		now := wire.Now()
		doc.ArchivedAt = &now
		return true, nil, nil
	})
	if err != nil {
		return err
	}
	return httpx.OK(w, doc)
}

// delete removes the session, its event log and its scoped files,
// then tells open streams. The status is checked under the
// session's lock and the session's driver is stopped before the rows go,
// so the loop never writes to a deleted session.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) error {
	ws, id := httpx.Workspace(r), r.PathValue("session_id")
	ctx := r.Context()
	doc, err := h.eng.Update(ctx, ws, id, func(doc *wire.Session, status string) (bool, []wire.EventPayload, error) {
		if busy(status) {
			return false, nil, errBusy(id, status, "deleted")
		}
		return false, nil, nil
	})
	if err != nil {
		return err
	}
	if err := h.eng.Stop(ctx, ws, id); err != nil {
		return err
	}
	var files []string
	err = h.st.InTx(context.WithoutCancel(ctx), func(ctx context.Context, tx store.Tx) error {
		files = files[:0]
		var after int64
		for {
			page, err := tx.List(ctx, store.ListOptions{
				Workspace: ws, Kind: store.KindFile, Parent: id, ParentSet: true,
				IncludeArchived: true, After: after, Limit: 500,
			})
			if err != nil {
				return err
			}
			for _, rec := range page.Records {
				files, after = append(files, rec.ID), rec.Seq
			}
			if !page.More {
				break
			}
		}
		for _, f := range files {
			if err := tx.Delete(ctx, ws, store.KindFile, f); err != nil {
				return err
			}
		}
		copies, err := deleteResourceRecords(ctx, tx, ws, doc.Resources)
		if err != nil {
			return err
		}
		files = append(files, copies...)
		for _, kind := range []string{store.KindSessionSecret, store.KindSessionOutput, store.KindWorkflowRun, store.KindSessionSpend} {
			if err := deleteChildren(ctx, tx, ws, kind, id); err != nil {
				return err
			}
		}
		return tx.DeleteSession(ctx, ws, id)
	})
	// Stop left the runtime unable to run; dropping it lets a session that
	// survived a failed delete be rebuilt from its log on next use.
	h.eng.Forget(id)
	if err != nil {
		return err
	}
	h.announceDeleted(id)
	// The records went first, so a crash here leaves orphaned bytes, never
	// a file record without content.
	h.deleteBlobs(files)
	return httpx.OK(w, wire.Deleted{ID: id, Type: wire.TypeSessionDeleted})
}

// announceDeleted sends session.deleted to the session's open streams and
// ends them.
func (h *Handler) announceDeleted(id string) {
	if h.broker == nil {
		return
	}
	ev := wire.NewEvent(&wire.SessionDeletedEvent{})
	data, err := json.Marshal(ev)
	if err != nil {
		h.log.Error("encode session.deleted", "session", id, "err", err)
	} else {
		h.broker.Publish(id, events.Message{ID: ev.ID, Type: wire.EventTypeSessionDeleted, Data: data})
	}
	h.broker.End(id)
}

// ---- list --------------------------------------------------------------

func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	q, err := parseListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	q.Workspace = httpx.Workspace(r)
	page, err := h.st.ListSessions(r.Context(), q)
	if err != nil {
		return err
	}
	out := wire.BidiPage[json.RawMessage]{Data: make([]json.RawMessage, len(page.Sessions))}
	for i, s := range page.Sessions {
		out.Data[i] = json.RawMessage(s.Data)
	}
	if page.HasNext {
		c := encodeCursor(cursor{Seq: page.NextAfter, Desc: q.Desc})
		out.NextPage = &c
	}
	if page.HasPrev {
		c := encodeCursor(cursor{Seq: page.PrevBefore, Desc: q.Desc, Backward: true})
		out.PrevPage = &c
	}
	return httpx.OK(w, out)
}
