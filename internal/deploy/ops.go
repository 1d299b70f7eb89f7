package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/jsonobj"
	"github.com/hangarhq/hangar/internal/schedule"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Limits of a deployment's own fields.
const (
	maxName        = 256
	maxDescription = 2048
)

// sessionKeys are the body fields that make up the session template: the
// fields of POST /v1/sessions a deployment takes. metadata is the
// deployment's own (checked with the session rules, never copied).
var sessionKeys = []string{"agent", "environment_id", "initial_events", "resources", "vault_ids", "budget"}

// ownKeys are the deployment's fields beyond the session template.
var ownKeys = []string{"name", "description", "schedule", "metadata"}

// body splits a request body into its fields, refusing unknown ones.
func body(raw json.RawMessage) (map[string]json.RawMessage, error) {
	o, err := jsonobj.New("", raw)
	if err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{}
	for _, k := range o.Keys() {
		known := false
		for _, kk := range append(sessionKeys, ownKeys...) {
			if k == kk {
				known = true
			}
		}
		if !known {
			return nil, jsonobj.Invalid(k, "unknown field")
		}
		v, _ := o.Get(k)
		m[k] = v
	}
	return m, nil
}

// checkAgentForm accepts the two forms a deployment takes: a bare id, or
// {"type":"agent","id","version"?}; overrides are a session's, not a
// deployment's.
func checkAgentForm(raw json.RawMessage) error {
	if jsonobj.Kind(raw) != "an object" {
		return nil // the session decoder names any other mistake
	}
	o, err := jsonobj.New("agent", raw)
	if err != nil {
		return err
	}
	if t, _, _ := o.Str("type"); t != "" && t != wire.AgentRefAgent {
		return jsonobj.Invalid("agent.type", "must be %q for a deployment, got %q", wire.AgentRefAgent, t)
	}
	return nil
}

// checkTemplate decodes and checks the session template with the session
// create path, and pins the agent: it returns the pinned agent, the
// template with the pinned agent, and the events and resources to echo.
func (s *Service) checkTemplate(ctx context.Context, ws string, tmpl map[string]json.RawMessage, metadata json.RawMessage) (wire.AgentReference, error) {
	if err := checkAgentForm(tmpl["agent"]); err != nil {
		return wire.AgentReference{}, err
	}
	evs, ok := tmpl["initial_events"]
	if !ok || jsonobj.IsNull(evs) {
		return wire.AgentReference{}, jsonobj.Invalid("initial_events", "is required: a deployment needs at least 1 event to start each session")
	}
	items, err := jsonobj.Array("initial_events", evs)
	if err != nil {
		return wire.AgentReference{}, err
	}
	if len(items) < 1 || len(items) > wire.MaxDeploymentInitialEvents {
		return wire.AgentReference{}, jsonobj.Invalid("initial_events", "must hold between 1 and %d events, got %d", wire.MaxDeploymentInitialEvents, len(items))
	}
	withMD := map[string]json.RawMessage{}
	for k, v := range tmpl {
		withMD[k] = v
	}
	if metadata != nil {
		withMD["metadata"] = metadata
	}
	p, err := sessionParams(withMD)
	if err != nil {
		return wire.AgentReference{}, err
	}
	agent, err := s.sessions.Check(ctx, ws, p)
	if err != nil {
		return wire.AgentReference{}, err
	}
	ref := wire.AgentReference{Type: wire.AgentRefAgent, ID: agent.ID, Version: agent.Version}
	pinned, err := json.Marshal(ref)
	if err != nil {
		return ref, errdefs.Internal(err, "encode agent reference")
	}
	tmpl["agent"] = pinned
	return ref, nil
}

// parseSchedule reads a schedule value; nil for null.
func parseSchedule(raw json.RawMessage) (*wire.Schedule, error) {
	if jsonobj.IsNull(raw) {
		return nil, nil
	}
	o, err := jsonobj.New("schedule", raw)
	if err != nil {
		return nil, err
	}
	if err := o.ConstType(wire.ScheduleCron, false); err != nil {
		return nil, err
	}
	expr, err := o.RequiredStr("expression")
	if err != nil {
		return nil, err
	}
	tz, err := o.RequiredStr("timezone")
	if err != nil {
		return nil, err
	}
	if err := o.Finish(); err != nil {
		return nil, err
	}
	if _, err := schedule.Parse(expr, tz); err != nil {
		var fe *schedule.FieldError
		if errors.As(err, &fe) {
			return nil, errdefs.Invalid("schedule.%s: %s", fe.Field, fe.Msg)
		}
		return nil, err
	}
	return &wire.Schedule{Type: wire.ScheduleCron, Expression: expr, Timezone: tz}, nil
}

// echo fills the wire fields that repeat the template: initial events
// as sent, resources without their write-only tokens, vault ids, budget.
func echo(d *wire.Deployment, tmpl map[string]json.RawMessage) error {
	var envID string
	if err := json.Unmarshal(tmpl["environment_id"], &envID); err != nil {
		return errdefs.Internal(err, "decode environment_id")
	}
	d.EnvironmentID = envID
	d.InitialEvents = []json.RawMessage{}
	if raw, ok := tmpl["initial_events"]; ok {
		if err := json.Unmarshal(raw, &d.InitialEvents); err != nil {
			return errdefs.Internal(err, "decode initial_events")
		}
	}
	d.Resources = []json.RawMessage{}
	if raw, ok := tmpl["resources"]; ok && !jsonobj.IsNull(raw) {
		var rs []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &rs); err != nil {
			return errdefs.Internal(err, "decode resources")
		}
		for _, r := range rs {
			delete(r, "authorization_token")
			b, err := json.Marshal(r)
			if err != nil {
				return errdefs.Internal(err, "encode resource")
			}
			d.Resources = append(d.Resources, b)
		}
	}
	d.VaultIDs = []string{}
	if raw, ok := tmpl["vault_ids"]; ok && !jsonobj.IsNull(raw) {
		if err := json.Unmarshal(raw, &d.VaultIDs); err != nil {
			return errdefs.Internal(err, "decode vault_ids")
		}
	}
	d.Budget = nil
	if raw, ok := tmpl["budget"]; ok && !jsonobj.IsNull(raw) {
		var bl wire.BudgetLimit
		if err := json.Unmarshal(raw, &bl); err != nil {
			return errdefs.Internal(err, "decode budget")
		}
		d.Budget = &bl
	}
	return nil
}

func optString(field string, raw json.RawMessage, max int) (*string, error) {
	if jsonobj.IsNull(raw) {
		return nil, nil
	}
	v, err := jsonobj.String(field, raw)
	if err != nil {
		return nil, err
	}
	if err := check.Name(field, v, 0, max); err != nil {
		return nil, err
	}
	if v == "" {
		return nil, nil
	}
	return &v, nil
}

// Create makes a deployment from a POST /v1/deployments body.
func (s *Service) Create(ctx context.Context, ws string, raw json.RawMessage) (wire.Deployment, error) {
	m, err := body(raw)
	if err != nil {
		return wire.Deployment{}, err
	}
	for _, k := range []string{"name", "agent", "environment_id", "initial_events"} {
		if v, ok := m[k]; !ok || (k != "initial_events" && jsonobj.IsNull(v)) {
			return wire.Deployment{}, jsonobj.Invalid(k, "is required")
		}
	}
	name, err := jsonobj.String("name", m["name"])
	if err != nil {
		return wire.Deployment{}, err
	}
	if err := check.Name("name", name, 1, maxName); err != nil {
		return wire.Deployment{}, err
	}
	var desc *string
	if v, ok := m["description"]; ok {
		if desc, err = optString("description", v, maxDescription); err != nil {
			return wire.Deployment{}, err
		}
	}
	var sched *wire.Schedule
	if v, ok := m["schedule"]; ok {
		if sched, err = parseSchedule(v); err != nil {
			return wire.Deployment{}, err
		}
	}
	tmpl := map[string]json.RawMessage{}
	for _, k := range sessionKeys {
		if v, ok := m[k]; ok {
			tmpl[k] = v
		}
	}
	md := wire.Metadata{}
	if v, ok := m["metadata"]; ok && !jsonobj.IsNull(v) {
		if err := json.Unmarshal(v, &md); err != nil {
			return wire.Deployment{}, jsonobj.Invalid("metadata", "must be an object of strings")
		}
	}
	agent, err := s.checkTemplate(ctx, ws, tmpl, m["metadata"])
	if err != nil {
		return wire.Deployment{}, err
	}
	now := s.now()
	id := ids.New(ids.Deployment)
	d := stored{Deployment: wire.Deployment{
		ID: id, Type: wire.TypeDeployment, Agent: agent, CreatedAt: now, UpdatedAt: now,
		Description: desc, Metadata: md, Name: name, Schedule: sched, Status: wire.DeploymentActive,
	}, FireFrom: &now}
	if err := echo(&d.Deployment, tmpl); err != nil {
		return wire.Deployment{}, err
	}
	secret, err := s.sealTemplate(id, tmpl)
	if err != nil {
		return wire.Deployment{}, err
	}
	data, err := json.Marshal(d)
	if err != nil {
		return wire.Deployment{}, errdefs.Internal(err, "encode deployment")
	}
	rec := store.Record{Kind: store.KindDeployment, ID: id, Workspace: ws, Data: data, Secret: secret, CreatedAt: now, UpdatedAt: now}
	out := s.render(d)
	var created func()
	err = s.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.Insert(ctx, &rec); err != nil {
			return err
		}
		created, err = s.obs.DeploymentChanged(ctx, tx, ws, "created", out)
		return err
	})
	if err != nil {
		return wire.Deployment{}, err
	}
	s.resync(ctx, ws, id)
	afterCommit(created)
	return out, nil
}

// Get returns a deployment.
func (s *Service) Get(ctx context.Context, ws, id string) (wire.Deployment, error) {
	rec, err := s.get(ctx, s.st, ws, id)
	if err != nil {
		return wire.Deployment{}, err
	}
	d, err := decode(rec)
	if err != nil {
		return wire.Deployment{}, err
	}
	return s.render(d), nil
}

func (s *Service) get(ctx context.Context, tx store.Tx, ws, id string) (store.Record, error) {
	rec, err := tx.Get(ctx, ws, store.KindDeployment, id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return rec, errdefs.NotFound("deployment_id: deployment %s not found", id)
	}
	return rec, err
}

// mutate applies fn to the stored deployment in one transaction, then
// resyncs its schedule. fn reports whether it changed anything.
func (s *Service) mutate(ctx context.Context, ws, id, what string, fn func(rec *store.Record, d *stored) (bool, error)) (wire.Deployment, error) {
	var d stored
	changed := false
	var observed func()
	err := s.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		rec, err := s.get(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		if d, err = decode(rec); err != nil {
			return err
		}
		if changed, err = fn(&rec, &d); err != nil || !changed {
			return err
		}
		d.UpdatedAt = s.now()
		rec.UpdatedAt = d.UpdatedAt
		rec.ArchivedAt = d.ArchivedAt
		if rec.Data, err = json.Marshal(d); err != nil {
			return errdefs.Internal(err, "encode deployment")
		}
		if err := tx.Update(ctx, &rec); err != nil {
			return err
		}
		observed, err = s.obs.DeploymentChanged(ctx, tx, ws, what, s.render(d))
		return err
	})
	if err != nil {
		return wire.Deployment{}, err
	}
	out := s.render(d)
	if changed {
		s.resync(ctx, ws, id)
		afterCommit(observed)
	}
	return out, nil
}

func errArchived(id string) error {
	return errdefs.Conflict("deployment %s is archived and cannot be modified", id)
}

// Archive archives a deployment for good; archiving again returns it.
func (s *Service) Archive(ctx context.Context, ws, id string) (wire.Deployment, error) {
	return s.mutate(ctx, ws, id, "archived", func(_ *store.Record, d *stored) (bool, error) {
		if d.ArchivedAt != nil {
			return false, nil
		}
		now := s.now()
		d.ArchivedAt = &now
		return true, nil
	})
}

// Pause stops scheduled fires; manual runs still work.
func (s *Service) Pause(ctx context.Context, ws, id string) (wire.Deployment, error) {
	return s.mutate(ctx, ws, id, "paused", func(_ *store.Record, d *stored) (bool, error) {
		if d.ArchivedAt != nil {
			return false, errArchived(d.ID)
		}
		if d.Status == wire.DeploymentPaused {
			return false, nil
		}
		d.Status, d.PausedReason = wire.DeploymentPaused, &wire.PausedReason{Type: wire.PausedManual}
		return true, nil
	})
}

// Unpause resumes at the next scheduled time; what was missed while
// paused is never backfilled.
func (s *Service) Unpause(ctx context.Context, ws, id string) (wire.Deployment, error) {
	return s.mutate(ctx, ws, id, "unpaused", func(_ *store.Record, d *stored) (bool, error) {
		if d.ArchivedAt != nil {
			return false, errArchived(d.ID)
		}
		if d.Status != wire.DeploymentPaused {
			return false, nil
		}
		now := s.now()
		d.Status, d.PausedReason, d.FireFrom = wire.DeploymentActive, nil, laterOf(d.FireFrom, now)
		return true, nil
	})
}

// laterOf keeps the position monotonic: a claimed time never fires again.
func laterOf(p *time.Time, t time.Time) *time.Time {
	if p != nil && p.After(t) {
		return p
	}
	return &t
}

// Update applies a POST /v1/deployments/{id} body.
func (s *Service) Update(ctx context.Context, ws, id string, raw json.RawMessage) (wire.Deployment, error) {
	m, err := body(raw)
	if err != nil {
		return wire.Deployment{}, err
	}
	for _, k := range []string{"name", "agent", "environment_id", "initial_events"} {
		if v, ok := m[k]; ok && jsonobj.IsNull(v) {
			return wire.Deployment{}, jsonobj.Invalid(k, "cannot be null")
		}
	}
	var name *string
	if v, ok := m["name"]; ok {
		n, err := jsonobj.String("name", v)
		if err != nil {
			return wire.Deployment{}, err
		}
		if err := check.Name("name", n, 1, maxName); err != nil {
			return wire.Deployment{}, err
		}
		name = &n
	}
	var desc *string
	if v, ok := m["description"]; ok {
		if desc, err = optString("description", v, maxDescription); err != nil {
			return wire.Deployment{}, err
		}
	}
	var sched *wire.Schedule
	if v, ok := m["schedule"]; ok {
		if sched, err = parseSchedule(v); err != nil {
			return wire.Deployment{}, err
		}
	}
	var patch wire.MetadataPatch
	if v, ok := m["metadata"]; ok && !jsonobj.IsNull(v) {
		if err := json.Unmarshal(v, &patch); err != nil {
			return wire.Deployment{}, jsonobj.Invalid("metadata", "must be an object whose values are strings or null")
		}
	}
	rec, err := s.get(ctx, s.st, ws, id)
	if err != nil {
		return wire.Deployment{}, err
	}
	// The template is checked against the current objects outside the
	// write transaction (Check runs its own), then written if the record
	// did not change meanwhile.
	tmpl, err := s.openTemplate(rec)
	if err != nil {
		return wire.Deployment{}, err
	}
	touched := false
	for _, k := range sessionKeys {
		if v, ok := m[k]; ok {
			touched = true
			if jsonobj.IsNull(v) {
				delete(tmpl, k)
			} else {
				tmpl[k] = v
			}
		}
	}
	var agent wire.AgentReference
	if touched {
		// Without a new agent the template keeps its pinned version; a
		// bare id re-pins to the latest.
		if agent, err = s.checkTemplate(ctx, ws, tmpl, nil); err != nil {
			return wire.Deployment{}, err
		}
	}
	rev := rec.Rev
	return s.mutate(ctx, ws, id, "updated", func(r *store.Record, d *stored) (bool, error) {
		if r.Rev != rev {
			return false, errdefs.Conflict("deployment %s changed during the update; retry it", id)
		}
		if d.ArchivedAt != nil {
			return false, errArchived(id)
		}
		if name != nil {
			d.Name = *name
		}
		if _, ok := m["description"]; ok {
			d.Description = desc
		}
		if patch != nil {
			md := wire.Metadata{}
			for k, v := range d.Metadata {
				md[k] = v
			}
			for k, v := range patch {
				if v == nil {
					delete(md, k)
				} else {
					if err := check.Name("metadata", k, 1, 64); err != nil {
						return false, err
					}
					if err := check.Name("metadata."+k, *v, 0, 512); err != nil {
						return false, err
					}
					md[k] = *v
				}
			}
			if len(md) > 16 {
				return false, jsonobj.Invalid("metadata", "at most 16 pairs are allowed, got %d after applying the patch", len(md))
			}
			d.Metadata = md
		}
		if _, ok := m["schedule"]; ok {
			var last *time.Time
			if d.Schedule != nil {
				last = d.Schedule.LastRunAt
			}
			if sched != nil {
				sched.LastRunAt = last
			}
			d.Schedule = sched
			// A new schedule starts from now, never backfilling.
			d.FireFrom = laterOf(d.FireFrom, s.now())
		}
		if touched {
			d.Agent = agent
			if err := echo(&d.Deployment, tmpl); err != nil {
				return false, err
			}
			secret, err := s.sealTemplate(id, tmpl)
			if err != nil {
				return false, err
			}
			r.Secret = secret
		}
		return true, nil
	})
}

// ---- lists -----------------------------------------------------------------

// ListFilter selects deployments.
type ListFilter struct {
	AgentID string
	Status  string
}

// Filter reports whether a deployment passes.
func (f ListFilter) keep(d stored) bool {
	if f.AgentID != "" && d.Agent.ID != f.AgentID {
		return false
	}
	if f.Status != "" && (d.Status != f.Status || d.ArchivedAt != nil) {
		return false
	}
	return true
}

// RunFilter selects runs.
type RunFilter struct {
	HasError    *bool
	TriggerType string
}

func (f RunFilter) keep(r wire.DeploymentRun) bool {
	if f.HasError != nil && (r.Error != nil) != *f.HasError {
		return false
	}
	if f.TriggerType != "" && r.TriggerContext.Type != f.TriggerType {
		return false
	}
	return true
}

// ListDeployments pages through deployments: o carries paging, the
// workspace and the created and archived filters; f the rest. A filtered
// page reads on until it is full, so the cursor stays the store's Seq.
func (s *Service) ListDeployments(ctx context.Context, o store.ListOptions, f ListFilter) ([]wire.Deployment, store.Page, error) {
	o.Kind = store.KindDeployment
	var out []wire.Deployment
	page, err := filtered(ctx, s.st, o, func(rec store.Record) (bool, error) {
		d, err := decode(rec)
		if err != nil || !f.keep(d) {
			return false, err
		}
		out = append(out, s.render(d))
		return true, nil
	})
	return out, page, err
}

// GetRun returns a run.
func (s *Service) GetRun(ctx context.Context, ws, id string) (wire.DeploymentRun, error) {
	rec, err := s.st.Get(ctx, ws, store.KindDeploymentRun, id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return wire.DeploymentRun{}, errdefs.NotFound("deployment_run_id: deployment run %s not found", id)
	}
	if err != nil {
		return wire.DeploymentRun{}, err
	}
	return decodeRun(rec)
}

// ListRuns pages through runs (of one deployment when o.Parent is set).
func (s *Service) ListRuns(ctx context.Context, o store.ListOptions, f RunFilter) ([]wire.DeploymentRun, store.Page, error) {
	o.Kind = store.KindDeploymentRun
	o.IncludeArchived = true
	out := []wire.DeploymentRun{}
	page, err := filtered(ctx, s.st, o, func(rec store.Record) (bool, error) {
		r, err := decodeRun(rec)
		if err != nil || !f.keep(r) {
			return false, err
		}
		out = append(out, r)
		return true, nil
	})
	return out, page, err
}

// filtered lists o.Limit records that keep accepts, reading further
// store pages as needed; the page returned ends at the last record kept.
func filtered(ctx context.Context, st store.Tx, o store.ListOptions, keep func(store.Record) (bool, error)) (store.Page, error) {
	want := o.Limit
	var kept []store.Record
	for {
		o.Limit = want + 1
		page, err := st.List(ctx, o)
		if err != nil {
			return store.Page{}, err
		}
		for _, rec := range page.Records {
			o.After = rec.Seq
			if len(kept) == want {
				return store.Page{Records: kept, More: true}, nil
			}
			ok, err := keep(rec)
			if err != nil {
				return store.Page{}, err
			}
			if ok {
				kept = append(kept, rec)
			}
		}
		if !page.More {
			return store.Page{Records: kept}, nil
		}
	}
}
