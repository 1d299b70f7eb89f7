package agents

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/hangarhq/hangar/internal/agentcfg"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/jsonobj"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// build applies p to cur (nil on create) and returns the resulting agent
// configuration. Version and timestamps are the caller's; references to
// the agent itself are left at version 0 until pinSelf.
func build(ctx context.Context, tx store.Tx, ws, id string, cur *wire.Agent, p agentParams) (wire.Agent, error) {
	next := wire.Agent{
		ID:                id,
		Type:              "agent",
		Metadata:          wire.Metadata{},
		ExecutionIdentity: wire.ExecutionIdentity{Type: "service_account"},
	}
	if cur != nil {
		var err error
		if next, err = cloneAgent(*cur); err != nil {
			return next, err
		}
	}
	if p.name.set() {
		next.Name = p.name.v
	}
	for _, f := range []struct {
		in  field[string]
		dst **string
	}{{p.description, &next.Description}, {p.system, &next.System}} {
		switch f.in.p {
		case jsonobj.Present:
			s := f.in.v
			*f.dst = &s
		case jsonobj.Null:
			*f.dst = nil
		}
	}
	if p.model.set() {
		// On update an omitted effort keeps the stored one (SDK docs); the
		// rest of model is whole-object replacement.
		var keep *wire.Effort
		if cur != nil {
			keep = cur.Model.Effort
		}
		mc, err := p.model.v.Config("model", keep)
		if err != nil {
			return next, err
		}
		next.Model = mc
	}
	if p.tools.p != jsonobj.Absent {
		next.Tools = p.tools.v
	}
	if p.mcpServers.p != jsonobj.Absent {
		next.MCPServers = p.mcpServers.v
	}
	if p.skills.p != jsonobj.Absent {
		next.Skills = p.skills.v
	}
	switch p.identity.p {
	case jsonobj.Present:
		next.ExecutionIdentity = p.identity.v
	case jsonobj.Null:
		next.ExecutionIdentity = wire.ExecutionIdentity{Type: "service_account"}
	}
	switch p.metadata.p {
	case jsonobj.Present:
		next.Metadata = wire.MetadataPatch(p.metadata.v).Apply(next.Metadata)
	case jsonobj.Null:
		next.Metadata = wire.Metadata{}
	}
	if len(next.Metadata) > 16 {
		return next, jsonobj.Invalid("metadata", "at most 16 pairs are allowed, got %d after applying the patch", len(next.Metadata))
	}
	switch p.multiagent.p {
	case jsonobj.Present:
		ma, err := resolveMultiagent(ctx, tx, ws, id, next.Multiagent, p.multiagent.v)
		if err != nil {
			return next, err
		}
		next.Multiagent = ma
	case jsonobj.Null:
		next.Multiagent = nil
	}
	return next, validate(next)
}

// validate checks the rules that span fields, on the merged result.
func validate(a wire.Agent) error { return agentcfg.Validate("", a.Tools, a.MCPServers) }

// resolveMultiagent turns the multiagent request into its stored form,
// pinning every referenced agent to a version. A multiagent_20261001 sent
// onto a stored multiagent_20261001 is merged level by level (SDK docs).
func resolveMultiagent(ctx context.Context, tx store.Tx, ws, self string, cur *wire.Multiagent, mp multiagentParams) (*wire.Multiagent, error) {
	if mp.typ == wire.MultiagentCoordinatorType {
		c := &wire.MultiagentCoordinator{Type: mp.typ, Agents: []wire.RosterMember{}}
		seen := map[string]string{}
		advisor := false
		for _, e := range mp.roster {
			if e.kind == "advisor" {
				if advisor {
					return nil, jsonobj.Invalid(e.path, "at most one advisor entry is allowed")
				}
				advisor = true
				c.Agents = append(c.Agents, wire.RosterMember{Type: "advisor", Model: e.model})
				continue
			}
			ref, err := resolveRef(ctx, tx, ws, self, e, seen)
			if err != nil {
				return nil, err
			}
			c.Agents = append(c.Agents, wire.RosterMember{Type: "agent", ID: ref.ID, Version: ref.Version})
		}
		return &wire.Multiagent{Coordinator: c}, nil
	}

	base := default20261001()
	if cur != nil && cur.V20261001 != nil {
		base = *cur.V20261001
	}
	out := base
	switch mp.advisor.p {
	case jsonobj.Null:
		out.Advisor = wire.MultiagentAdvisor{Type: "disabled"}
	case jsonobj.Present:
		out.Advisor = wire.MultiagentAdvisor{Type: mp.advisor.v.typ, Model: mp.advisor.v.model}
	}
	var err error
	if out.Subagents, err = mergeGroup(ctx, tx, ws, self, base.Subagents, mp.subagents); err != nil {
		return nil, err
	}
	if out.Workflows, err = mergeGroup(ctx, tx, ws, self, base.Workflows, mp.workflows); err != nil {
		return nil, err
	}
	return &wire.Multiagent{V20261001: &out}, nil
}

func default20261001() wire.Multiagent20261001 {
	return wire.Multiagent20261001{
		Type:      wire.Multiagent20261001Type,
		Advisor:   wire.MultiagentAdvisor{Type: "disabled"},
		Subagents: defaultGroup("enabled"),
		Workflows: defaultGroup("enabled"),
	}
}

func defaultGroup(typ string) wire.MultiagentGroup {
	if typ != "enabled" {
		return wire.MultiagentGroup{Type: typ}
	}
	return wire.MultiagentGroup{Type: typ, InlineAgents: &wire.TypeOnly{Type: "enabled"}, PredefinedAgents: []wire.AgentReference{}}
}

// mergeGroup applies a subagents/workflows member: omitted keeps base, null
// takes the default, a different type starts from that type's defaults,
// and within the same type each omitted key keeps its stored value.
func mergeGroup(ctx context.Context, tx store.Tx, ws, self string, base wire.MultiagentGroup, f field[groupParams]) (wire.MultiagentGroup, error) {
	switch f.p {
	case jsonobj.Absent:
		return base, nil
	case jsonobj.Null:
		return defaultGroup("enabled"), nil
	}
	g := f.v
	out := defaultGroup(g.typ)
	if g.typ == base.Type && g.typ == "enabled" {
		out = base
		if out.InlineAgents == nil {
			out.InlineAgents = &wire.TypeOnly{Type: "enabled"}
		}
		if out.PredefinedAgents == nil {
			out.PredefinedAgents = []wire.AgentReference{}
		}
	}
	if g.typ != "enabled" {
		return out, nil
	}
	switch g.inline.p {
	case jsonobj.Null:
		out.InlineAgents = &wire.TypeOnly{Type: "enabled"}
	case jsonobj.Present:
		out.InlineAgents = &wire.TypeOnly{Type: g.inline.v}
	}
	switch g.predefined.p {
	case jsonobj.Null:
		out.PredefinedAgents = []wire.AgentReference{}
	case jsonobj.Present:
		refs := []wire.AgentReference{}
		seen := map[string]string{}
		for _, e := range g.predefined.v {
			ref, err := resolveRef(ctx, tx, ws, self, e, seen)
			if err != nil {
				return out, err
			}
			refs = append(refs, ref)
		}
		out.PredefinedAgents = refs
	}
	return out, nil
}

// resolveRef pins one roster entry. Referenced agents must exist in the
// workspace, must not be archived and must not be multiagent themselves
// (depth limit 1); the agent itself is referenced through "self".
func resolveRef(ctx context.Context, tx store.Tx, ws, self string, e rosterEntry, seen map[string]string) (wire.AgentReference, error) {
	ref := wire.AgentReference{Type: "agent", ID: e.id}
	if e.kind == "self" || e.id == self {
		ref.ID = self
	} else {
		rec, err := tx.Get(ctx, ws, store.KindAgent, e.id)
		if errors.Is(err, errdefs.ErrNotFound) {
			return ref, jsonobj.Invalid(e.path, "agent %q not found", e.id)
		}
		if err != nil {
			return ref, err
		}
		if rec.ArchivedAt != nil {
			return ref, jsonobj.Invalid(e.path, "agent %s is archived", e.id)
		}
		a, err := decodeAgent(rec.Data)
		if err != nil {
			return ref, err
		}
		ref.Version = a.Version
		if e.version != 0 && e.version != a.Version {
			if e.version > a.Version {
				return ref, jsonobj.Invalid(e.path+".version", "agent %s has no version %d (latest is %d)", e.id, e.version, a.Version)
			}
			vrec, err := tx.Get(ctx, ws, store.KindAgentVersion, versionID(e.id, e.version))
			if err != nil {
				return ref, err
			}
			if a, err = decodeAgent(vrec.Data); err != nil {
				return ref, err
			}
			ref.Version = e.version
		}
		if a.Multiagent != nil {
			return ref, jsonobj.Invalid(e.path, "agent %s (version %d) has multiagent set; roster agents cannot delegate further", e.id, ref.Version)
		}
	}
	if prev, dup := seen[ref.ID]; dup {
		return ref, jsonobj.Invalid(e.path, "agent %s is already listed at %s", ref.ID, prev)
	}
	seen[ref.ID] = e.path
	return ref, nil
}

// pinSelf points every roster reference to the agent itself at a.Version:
// "self" means the version being saved.
func pinSelf(a *wire.Agent) {
	if a.Multiagent == nil {
		return
	}
	if c := a.Multiagent.Coordinator; c != nil {
		for i := range c.Agents {
			if c.Agents[i].Type == "agent" && c.Agents[i].ID == a.ID {
				c.Agents[i].Version = a.Version
			}
		}
	}
	if m := a.Multiagent.V20261001; m != nil {
		for _, g := range []*wire.MultiagentGroup{&m.Subagents, &m.Workflows} {
			for i := range g.PredefinedAgents {
				if g.PredefinedAgents[i].ID == a.ID {
					g.PredefinedAgents[i].Version = a.Version
				}
			}
		}
	}
}

// sameConfig reports whether two versions of an agent hold the same
// configuration, ignoring when they were published.
func sameConfig(a, b wire.Agent) (bool, error) {
	a.UpdatedAt = b.UpdatedAt
	a.ArchivedAt, b.ArchivedAt = nil, nil
	ja, err := json.Marshal(a)
	if err != nil {
		return false, errdefs.Internal(err, "encode agent")
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return false, errdefs.Internal(err, "encode agent")
	}
	return bytes.Equal(ja, jb), nil
}

func cloneAgent(a wire.Agent) (wire.Agent, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return a, errdefs.Internal(err, "encode agent")
	}
	return decodeAgent(b)
}

func decodeAgent(data []byte) (wire.Agent, error) {
	var a wire.Agent
	if err := json.Unmarshal(data, &a); err != nil {
		return a, errdefs.Internal(err, "decode stored agent")
	}
	if a.Metadata == nil {
		a.Metadata = wire.Metadata{}
	}
	return a, nil
}
