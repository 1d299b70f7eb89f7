// Package environments serves the environments endpoints (create, retrieve,
// update, list, delete, archive): it owns the validation of environment
// configs (cloud networking and packages, self_hosted) and the rules on
// names, updates and archived environments. The self-hosted work queue under
// /v1/environments/{id}/work lives elsewhere.
//
// Choices where the spec is open:
//   - Names are unique per workspace among existing environments, archived
//     ones included; deleting an environment frees its name.
//   - Any update of an archived environment is a 400 with error_code
//     environment_archived (the SDK's documented code), not a 409.
//   - Archiving an archived environment returns it unchanged, because the
//     SDK retries archive calls after timeouts.
//   - Explicit null on an optional member that is not nullable means "not
//     given"; description is nullable and null clears it.
//   - Lists are newest first.
package environments

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/changes"
	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

const (
	objectType  = "environment"
	deletedType = "environment_deleted"

	listDefault = 20
	listMax     = 100
)

// Handler serves the environments endpoints.
type Handler struct {
	st store.Store
	// changes hears of committed changes that running sessions must follow
	// (their egress proxy's networking policy).
	changes changes.Notifier
}

// Option configures a Handler.
type Option func(*Handler)

// WithNotifier tells n about every committed change of an environment.
func WithNotifier(n changes.Notifier) Option { return func(h *Handler) { h.changes = changes.Or(n) } }

// New returns the handler.
func New(st store.Store, opts ...Option) *Handler {
	h := &Handler{st: st, changes: changes.Nop{}}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {
	route("POST /v1/environments", h.create)
	route("GET /v1/environments", h.list)
	route("GET /v1/environments/{environment_id}", h.get)
	route("POST /v1/environments/{environment_id}", h.update)
	route("DELETE /v1/environments/{environment_id}", h.delete)
	route("POST /v1/environments/{environment_id}/archive", h.archive)
}

// parseCreate validates a create body and returns the environment it
// describes, without id or timestamps.
func parseCreate(p wire.EnvironmentCreateParams) (wire.Environment, error) {
	env := wire.Environment{Type: objectType, Scope: wire.EnvironmentScopeOrganization, Metadata: wire.Metadata{}}
	name, ok := p.Name.Value()
	if p.Name.Null {
		return env, errdefs.Invalid("name: must be a string, not null")
	}
	if !ok {
		return env, errdefs.Invalid("name: field required")
	}
	if err := checkName(name); err != nil {
		return env, err
	}
	env.Name = name
	if d, ok := p.Description.Value(); ok {
		if err := check.Len("description", d, 0, maxDescription); err != nil {
			return env, err
		}
		env.Description = &d
	}
	if s, ok := p.Scope.Value(); ok {
		if err := checkScope(s); err != nil {
			return env, err
		}
		env.Scope = s
	}
	if m, ok := p.Metadata.Value(); ok {
		if err := check.Metadata("metadata", m); err != nil {
			return env, err
		}
		if m != nil {
			env.Metadata = m
		}
	}
	env.Config = defaultConfig()
	if raw, ok := p.Config.Value(); ok {
		cp, err := parseConfig(raw)
		if err != nil {
			return env, err
		}
		base := defaultConfig()
		base.Type = cp.Type
		if env.Config, err = cp.apply(base); err != nil {
			return env, err
		}
	}
	return env, nil
}

// update is a validated update body; nil members were not given.
type update struct {
	Name        *string
	Description wire.Opt[string]
	Scope       *string
	Metadata    wire.MetadataPatch
	Config      *configPatch
}

// parseUpdate validates what can be checked without the stored environment.
func parseUpdate(p wire.EnvironmentUpdateParams) (update, error) {
	var u update
	if n, ok := p.Name.Value(); ok {
		if err := checkName(n); err != nil {
			return u, err
		}
		u.Name = &n
	}
	if d, ok := p.Description.Value(); ok {
		if err := check.Len("description", d, 0, maxDescription); err != nil {
			return u, err
		}
	}
	u.Description = p.Description
	if s, ok := p.Scope.Value(); ok {
		if err := checkScope(s); err != nil {
			return u, err
		}
		u.Scope = &s
	}
	if m, ok := p.Metadata.Value(); ok {
		if err := check.MetadataPatch("metadata", m); err != nil {
			return u, err
		}
		// The SDK documents "" as a delete, like null, because Go's
		// map[string]string cannot carry a null.
		u.Metadata = wire.MetadataPatch{}
		for k, v := range m {
			if v != nil && *v == "" {
				v = nil
			}
			u.Metadata[k] = v
		}
	}
	if raw, ok := p.Config.Value(); ok {
		cp, err := parseConfig(raw)
		if err != nil {
			return u, err
		}
		u.Config = &cp
	}
	return u, nil
}

// apply returns env with the update applied. It validates what depends on
// the stored state: the config type and the merged config and metadata.
func (u update) apply(env wire.Environment) (wire.Environment, error) {
	out := env
	if u.Name != nil {
		out.Name = *u.Name
	}
	if u.Description.Set {
		if u.Description.Null {
			out.Description = nil
		} else {
			d := u.Description.V
			out.Description = &d
		}
	}
	if u.Scope != nil {
		out.Scope = *u.Scope
	}
	if u.Metadata != nil {
		out.Metadata = u.Metadata.Apply(env.Metadata)
		if err := check.Metadata("metadata", out.Metadata); err != nil {
			return env, err
		}
	}
	if u.Config != nil {
		c, err := u.Config.apply(env.Config)
		if err != nil {
			return env, err
		}
		out.Config = c
	}
	return out, nil
}

func checkName(name string) error {
	if err := check.Name("name", name, 1, maxName); err != nil {
		return err
	}
	if strings.TrimSpace(name) == "" {
		return errdefs.Invalid("name: must not be blank")
	}
	return nil
}

func checkScope(s string) error {
	if err := check.Enum("scope", s, wire.EnvironmentScopeOrganization, wire.EnvironmentScopeAccount); err != nil {
		return err
	}
	if s == wire.EnvironmentScopeAccount {
		// Hangar behaves like an API organization, where per-account
		// visibility does not exist and the reference service rejects it.
		return errdefs.Invalid(`scope: "account" is not supported; environments are visible to the whole organization (use "organization")`)
	}
	return nil
}

func decode(rec store.Record) (wire.Environment, error) {
	var env wire.Environment
	if err := json.Unmarshal(rec.Data, &env); err != nil {
		return env, errdefs.Internal(err, "decode environment %s", rec.ID)
	}
	// The record's columns are authoritative for what the store manages.
	env.ID, env.Type, env.ArchivedAt = rec.ID, objectType, rec.ArchivedAt
	if env.Metadata == nil {
		env.Metadata = wire.Metadata{}
	}
	if env.Scope == "" {
		env.Scope = wire.EnvironmentScopeOrganization
	}
	return env, nil
}

func encode(rec *store.Record, env wire.Environment) error {
	b, err := json.Marshal(env)
	if err != nil {
		return errdefs.Internal(err, "encode environment")
	}
	rec.Data, rec.Name, rec.UpdatedAt, rec.ArchivedAt = b, env.Name, env.UpdatedAt, env.ArchivedAt
	return nil
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) error {
	var p wire.EnvironmentCreateParams
	var env wire.Environment
	if err := httpx.DecodeJSONWith(r, &p, func() (err error) {
		env, err = parseCreate(p)
		return err
	}); err != nil {
		return err
	}
	now := wire.Now()
	env.ID, env.CreatedAt, env.UpdatedAt = ids.New(ids.Environment), now, now
	rec := store.Record{Kind: store.KindEnvironment, ID: env.ID, Workspace: httpx.Workspace(r), CreatedAt: now}
	if err := encode(&rec, env); err != nil {
		return err
	}
	// The store's unique name index turns a taken name into a 409.
	if err := h.st.Insert(r.Context(), &rec); err != nil {
		return err
	}
	return httpx.OK(w, env)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	rec, err := h.st.Get(r.Context(), httpx.Workspace(r), store.KindEnvironment, r.PathValue("environment_id"))
	if err != nil {
		return err
	}
	env, err := decode(rec)
	if err != nil {
		return err
	}
	return httpx.OK(w, env)
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) error {
	var p wire.EnvironmentUpdateParams
	if err := httpx.DecodeJSON(r, &p); err != nil {
		return err
	}
	u, err := parseUpdate(p)
	if err != nil {
		return err
	}
	id := r.PathValue("environment_id")
	var out wire.Environment
	changed := false
	err = h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		rec, err := tx.Get(ctx, httpx.Workspace(r), store.KindEnvironment, id)
		if err != nil {
			return err
		}
		env, err := decode(rec)
		if err != nil {
			return err
		}
		if rec.ArchivedAt != nil {
			// Archived environments are read-only.
			return errdefs.Invalid("environment %s is archived and can no longer be changed", id).WithCode("environment_archived")
		}
		next, err := u.apply(env)
		if err != nil {
			return err
		}
		if same(env, next) {
			// Nothing changed (an empty body, or a retried update): no
			// write, and updated_at stays as it was.
			out = env
			return nil
		}
		next.UpdatedAt = wire.Now()
		if err := encode(&rec, next); err != nil {
			return err
		}
		if err := tx.Update(ctx, &rec); err != nil {
			return err
		}
		out, changed = next, true
		return nil
	})
	if err != nil {
		return err
	}
	if changed {
		// Running sessions apply new networking from their next request.
		h.changes.Changed(r.Context(), changes.Change{Workspace: httpx.Workspace(r), Kind: store.KindEnvironment, ID: id})
	}
	return httpx.OK(w, out)
}

// same reports whether two versions of an environment have the same content.
func same(a, b wire.Environment) bool {
	b.UpdatedAt = a.UpdatedAt
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	return httpx.ListRecords(w, r, h.st, store.ListOptions{Workspace: httpx.Workspace(r), Kind: store.KindEnvironment}, listDefault, listMax)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("environment_id")
	// Refusing delete while a session references it needs sessions,
	// which do not exist yet; deleting also frees the name.
	if err := h.st.Delete(r.Context(), httpx.Workspace(r), store.KindEnvironment, id); err != nil {
		return err
	}
	h.changes.Changed(r.Context(), changes.Change{Workspace: httpx.Workspace(r), Kind: store.KindEnvironment, ID: id})
	return httpx.OK(w, wire.Deleted{ID: id, Type: deletedType})
}

func (h *Handler) archive(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	id := r.PathValue("environment_id")
	var out wire.Environment
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		rec, err := tx.Get(ctx, httpx.Workspace(r), store.KindEnvironment, id)
		if err != nil {
			return err
		}
		env, err := decode(rec)
		if err != nil {
			return err
		}
		if rec.ArchivedAt != nil {
			out = env
			return nil
		}
		now := wire.Now()
		env.ArchivedAt, env.UpdatedAt = &now, now
		if err := encode(&rec, env); err != nil {
			return err
		}
		if err := tx.Update(ctx, &rec); err != nil {
			return err
		}
		out = env
		return nil
	})
	if err != nil {
		return err
	}
	return httpx.OK(w, out)
}
