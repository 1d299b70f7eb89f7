// Package agents serves the agents endpoints: create, retrieve (latest or a
// given version), update (which publishes a new immutable version when
// something changed), list, archive, and the version history.
//
// Storage layout, which the sessions code relies on to resolve agents:
//
//   - the agent is a store.Record{Kind: store.KindAgent, ID: agent id} whose
//     Data is the latest version's wire.Agent JSON; its archived_at (and the
//     record's ArchivedAt) is set once the agent is archived;
//   - every version N is a store.Record{Kind: store.KindAgentVersion,
//     ID: store.AgentVersionID(agent id, N) ("<agent id>:<N>"), Parent:
//     agent id} whose Data is the full wire.Agent snapshot as published,
//     with archived_at null (a reader overlays the agent's archive state).
//     Version records are written in the same transaction as the agent and
//     never change afterwards; updated_at of a snapshot is the
//     time that version was published.
//
// Versions are numbered 1, 2, 3… (the SDK's "starts at 1 and increments"),
// not timestamp-like numbers.
package agents

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/webhook"
	"github.com/hangarhq/hangar/internal/wire"
)

// Handler serves the agents endpoints.
type Handler struct {
	st    store.Store
	hooks *webhook.Service
}

// New returns the handler; hooks (nil: none) hears of agents created,
// updated and archived, in the transaction that changes them.
func New(st store.Store, hooks *webhook.Service) *Handler { return &Handler{st: st, hooks: hooks} }

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {
	route("POST /v1/agents", h.create)
	route("GET /v1/agents", h.list)
	route("GET /v1/agents/{agent_id}", h.get)
	route("POST /v1/agents/{agent_id}", h.update)
	route("POST /v1/agents/{agent_id}/archive", h.archive)
	route("GET /v1/agents/{agent_id}/versions", h.listVersions)
}

func versionID(agentID string, v int64) string { return store.AgentVersionID(agentID, v) }

func (h *Handler) create(w http.ResponseWriter, r *http.Request) error {
	var body json.RawMessage
	var p agentParams
	if err := httpx.DecodeJSONWith(r, &body, func() (err error) {
		p, err = parseCreate(body)
		return err
	}); err != nil {
		return err
	}
	ws := httpx.Workspace(r)
	id := ids.New(ids.Agent)
	var out wire.Agent
	sent := h.hooks.Batch()
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		a, err := build(ctx, tx, ws, id, nil, p)
		if err != nil {
			return err
		}
		now := wire.Now()
		a.Version, a.CreatedAt, a.UpdatedAt = 1, now, now
		pinSelf(&a)
		data, err := json.Marshal(a)
		if err != nil {
			return errdefs.Internal(err, "encode agent")
		}
		rec := store.Record{Kind: store.KindAgent, ID: id, Workspace: ws, Data: data, CreatedAt: now, UpdatedAt: now}
		if err := tx.Insert(ctx, &rec); err != nil {
			return err
		}
		out = a
		if err := insertVersion(ctx, tx, ws, data, a); err != nil {
			return err
		}
		return sent.Emit(ctx, tx, ws, webhook.Data{Type: "agent.created", ID: id})
	})
	if err != nil {
		return err
	}
	sent.Send()
	return httpx.OK(w, out)
}

func insertVersion(ctx context.Context, tx store.Tx, ws string, data []byte, a wire.Agent) error {
	v := store.Record{
		Kind: store.KindAgentVersion, ID: versionID(a.ID, a.Version), Workspace: ws, Parent: a.ID,
		Data: data, CreatedAt: a.UpdatedAt, UpdatedAt: a.UpdatedAt,
	}
	return tx.Insert(ctx, &v)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	ws, id := httpx.Workspace(r), r.PathValue("agent_id")
	rec, err := h.st.Get(r.Context(), ws, store.KindAgent, id)
	if err != nil {
		return err
	}
	v := r.URL.Query().Get("version")
	if v == "" {
		return writeRaw(w, rec.Data)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return errdefs.Invalid("version: must be an integer, got %q", v)
	}
	if n < 1 {
		return errdefs.Invalid("version: must be at least 1, got %d", n)
	}
	vrec, err := h.st.Get(r.Context(), ws, store.KindAgentVersion, versionID(id, n))
	if errors.Is(err, errdefs.ErrNotFound) {
		return errdefs.NotFound("agent %s has no version %d", id, n)
	}
	if err != nil {
		return err
	}
	return writeVersion(w, vrec, rec)
}

// writeRaw sends a stored wire object as is.
func writeRaw(w http.ResponseWriter, data []byte) error { return httpx.OK(w, json.RawMessage(data)) }

// writeVersion sends a version snapshot with the agent's archive state,
// which belongs to the agent rather than to any one version.
func writeVersion(w http.ResponseWriter, vrec, agent store.Record) error {
	a, err := versionView(vrec, agent)
	if err != nil {
		return err
	}
	return httpx.OK(w, a)
}

func versionView(vrec, agent store.Record) (wire.Agent, error) {
	a, err := decodeAgent(vrec.Data)
	if err != nil {
		return a, err
	}
	a.ArchivedAt = agent.ArchivedAt
	return a, nil
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) error {
	var body json.RawMessage
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	p, err := parseUpdate(body)
	if err != nil {
		return err
	}
	ws, id := httpx.Workspace(r), r.PathValue("agent_id")
	var out wire.Agent
	sent := h.hooks.Batch()
	err = h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		rec, err := tx.Get(ctx, ws, store.KindAgent, id)
		if err != nil {
			return err
		}
		cur, err := decodeAgent(rec.Data)
		if err != nil {
			return err
		}
		if rec.ArchivedAt != nil {
			return errdefs.Conflict("agent %s is archived and cannot be modified", id)
		}
		if p.version.set() && p.version.v != cur.Version {
			return errdefs.Conflict("version: agent %s is at version %d, not %d; retrieve it and retry", id, cur.Version, p.version.v)
		}
		next, err := build(ctx, tx, ws, id, &cur, p)
		if err != nil {
			return err
		}
		next.Version = cur.Version
		pinSelf(&next)
		same, err := sameConfig(next, cur)
		if err != nil {
			return err
		}
		if same {
			// Nothing changed: no new version.
			out = cur
			return nil
		}
		next.Version, next.UpdatedAt = cur.Version+1, wire.Now()
		pinSelf(&next)
		data, err := json.Marshal(next)
		if err != nil {
			return errdefs.Internal(err, "encode agent")
		}
		rec.Data, rec.UpdatedAt = data, next.UpdatedAt
		if err := tx.Update(ctx, &rec); err != nil {
			return err
		}
		out = next
		if err := insertVersion(ctx, tx, ws, data, next); err != nil {
			return err
		}
		return sent.Emit(ctx, tx, ws, webhook.Data{Type: "agent.updated", ID: id})
	})
	if err != nil {
		return err
	}
	sent.Send()
	return httpx.OK(w, out)
}

// archive is idempotent: the SDK retries archive calls, and a replay of a
// successful archive must not fail. updated_at stays the time of the latest
// version; archived_at records the archive.
func (h *Handler) archive(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	ws, id := httpx.Workspace(r), r.PathValue("agent_id")
	var out json.RawMessage
	sent := h.hooks.Batch()
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		rec, err := tx.Get(ctx, ws, store.KindAgent, id)
		if err != nil {
			return err
		}
		if rec.ArchivedAt != nil {
			out = rec.Data
			return nil
		}
		a, err := decodeAgent(rec.Data)
		if err != nil {
			return err
		}
		now := wire.Now()
		a.ArchivedAt = &now
		if rec.Data, err = json.Marshal(a); err != nil {
			return errdefs.Internal(err, "encode agent")
		}
		rec.ArchivedAt, rec.UpdatedAt = &now, now
		out = rec.Data
		if err := tx.Update(ctx, &rec); err != nil {
			return err
		}
		return sent.Emit(ctx, tx, ws, webhook.Data{Type: "agent.archived", ID: id})
	})
	if err != nil {
		return err
	}
	sent.Send()
	return writeRaw(w, out)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	return httpx.ListRecords(w, r, h.st, store.ListOptions{Workspace: httpx.Workspace(r), Kind: store.KindAgent}, 20, 100)
}

// listVersions lists every version of an agent, newest first (the order of
// the memory version list; the SDK and spec do not fix one).
func (h *Handler) listVersions(w http.ResponseWriter, r *http.Request) error {
	ws, id := httpx.Workspace(r), r.PathValue("agent_id")
	q := r.URL.Query()
	lp, err := httpx.ParseList(q, 20, 100, true)
	if err != nil {
		return err
	}
	agent, err := h.st.Get(r.Context(), ws, store.KindAgent, id)
	if err != nil {
		return err
	}
	o := store.ListOptions{Workspace: ws, Kind: store.KindAgentVersion, Parent: id, ParentSet: true, IncludeArchived: true}
	lp.Apply(&o)
	page, err := h.st.List(r.Context(), o)
	if err != nil {
		return err
	}
	out := wire.Page[wire.Agent]{Data: []wire.Agent{}, NextPage: httpx.NextPage(page, lp.Desc)}
	for _, rec := range page.Records {
		a, err := versionView(rec, agent)
		if err != nil {
			return err
		}
		out.Data = append(out.Data, a)
	}
	return httpx.OK(w, out)
}
