package agents

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/hangarhq/hangar/internal/agentcfg"
	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/wire"
)

// Limits from BEHAVIOR.md §2 (AGT-02..AGT-09) and the SDK field docs.
const (
	maxName        = 256
	maxDescription = 2048
	maxSystem      = 100000
	maxRoster      = 20
	maxRoleARN     = 2048
	maxModelID     = agentcfg.MaxModelID
)

// field is a request member with its presence (absent / null / value).
type field[T any] struct {
	p presence
	v T
}

func (f field[T]) set() bool { return f.p == present }

// agentParams is a decoded create or update body. Tools, servers and skills
// are already in their resolved wire form: resolution depends only on what
// was sent, while model, metadata and multiagent merge with stored state.
type agentParams struct {
	name        field[string]
	description field[string]
	system      field[string]
	model       field[agentcfg.Model]
	tools       field[[]wire.AgentTool]
	mcpServers  field[[]wire.MCPServer]
	skills      field[[]wire.AgentSkill]
	identity    field[wire.ExecutionIdentity]
	metadata    field[map[string]*string]
	multiagent  field[multiagentParams]
	version     field[int64]
}

type multiagentParams struct {
	typ       string
	roster    []rosterEntry // coordinator
	advisor   field[advisorParams]
	subagents field[groupParams]
	workflows field[groupParams]
}

// rosterEntry is one unresolved roster or predefined_agents entry.
type rosterEntry struct {
	path    string
	kind    string // "agent", "self" or "advisor"
	id      string
	version int64 // 0 = latest at save time
	model   string
}

type advisorParams struct {
	typ   string
	model string
}

type groupParams struct {
	typ        string
	predefined field[[]rosterEntry]
	inline     field[string]
}

// parseCreate decodes a POST /v1/agents body.
func parseCreate(body []byte) (agentParams, error) {
	p, err := parseBody(body, false)
	if err != nil {
		return p, err
	}
	if !p.name.set() {
		return p, invalid("name", "field required")
	}
	if !p.model.set() {
		return p, invalid("model", "field required")
	}
	return p, nil
}

// parseUpdate decodes a POST /v1/agents/{id} body.
func parseUpdate(body []byte) (agentParams, error) { return parseBody(body, true) }

func parseBody(body []byte, update bool) (agentParams, error) {
	var p agentParams
	var raw json.RawMessage
	if err := httpx.DecodeBytes(body, &raw); err != nil {
		return p, err
	}
	o, err := newObject("", raw)
	if err != nil {
		return p, err
	}
	if err := parseFields(o, &p, update); err != nil {
		return p, err
	}
	return p, o.finish()
}

func parseFields(o *jsonObject, p *agentParams, update bool) error {
	var err error
	// name
	if s, pr, err := o.str("name"); err != nil {
		return err
	} else if pr == null {
		return invalid("name", "cannot be null")
	} else if pr == present {
		if err := httpx.CheckLen("name", s, 1, maxName); err != nil {
			return err
		}
		p.name = field[string]{present, s}
	}
	// description, system: "" and null both clear.
	for _, f := range []struct {
		key string
		max int
		dst *field[string]
	}{{"description", maxDescription, &p.description}, {"system", maxSystem, &p.system}} {
		s, pr, err := o.str(f.key)
		if err != nil {
			return err
		}
		if pr == present {
			if err := httpx.CheckLen(f.key, s, 0, f.max); err != nil {
				return err
			}
			if s == "" {
				pr = null
			}
		}
		*f.dst = field[string]{pr, s}
	}
	// model
	if raw, pr := o.get("model"); pr == null {
		return invalid("model", "cannot be null")
	} else if pr == present {
		m, err := agentcfg.ParseModel("model", raw)
		if err != nil {
			return err
		}
		p.model = field[agentcfg.Model]{present, m}
	}
	// tools
	if raw, pr := o.get("tools"); pr != absent {
		p.tools.p = pr
		if pr == present {
			if p.tools.v, err = agentcfg.ParseTools("tools", raw); err != nil {
				return err
			}
		}
	}
	if raw, pr := o.get("mcp_servers"); pr != absent {
		p.mcpServers.p = pr
		if pr == present {
			if p.mcpServers.v, err = agentcfg.ParseMCPServers("mcp_servers", raw); err != nil {
				return err
			}
		}
	}
	if raw, pr := o.get("skills"); pr != absent {
		p.skills.p = pr
		if pr == present {
			if p.skills.v, err = agentcfg.ParseSkills("skills", raw); err != nil {
				return err
			}
		}
	}
	if raw, pr := o.get("execution_identity"); pr != absent {
		p.identity.p = pr
		if pr == present {
			if p.identity.v, err = parseIdentity("execution_identity", raw); err != nil {
				return err
			}
		}
	}
	if raw, pr := o.get("metadata"); pr != absent {
		p.metadata.p = pr
		if pr == present {
			if p.metadata.v, err = parseMetadata("metadata", raw, update); err != nil {
				return err
			}
		}
	}
	if raw, pr := o.get("multiagent"); pr != absent {
		p.multiagent.p = pr
		if pr == present {
			if p.multiagent.v, err = parseMultiagent("multiagent", raw); err != nil {
				return err
			}
		}
	}
	if update {
		if raw, pr := o.get("version"); pr == present {
			v, err := asInt("version", raw)
			if err != nil {
				return err
			}
			if v < 1 {
				return invalid("version", "must be at least 1, got %d", v)
			}
			p.version = field[int64]{present, v}
		}
	}
	return nil
}

func parseIdentity(path string, raw json.RawMessage) (wire.ExecutionIdentity, error) {
	var id wire.ExecutionIdentity
	o, err := newObject(path, raw)
	if err != nil {
		return id, err
	}
	t, err := o.discriminator()
	if err != nil {
		return id, err
	}
	switch t {
	case "service_account":
		id.Type = t
	case "aws_role":
		arn, err := o.requiredStr("role_arn")
		if err != nil {
			return id, err
		}
		if err := httpx.CheckLen(o.at("role_arn"), arn, 1, maxRoleARN); err != nil {
			return id, err
		}
		if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":role/") {
			return id, invalid(o.at("role_arn"), "must be an IAM role ARN (arn:…:role/…), got %q", arn)
		}
		id = wire.ExecutionIdentity{Type: t, RoleARN: arn}
	default:
		return id, invalid(o.at("type"), "unknown value %q, expected one of [aws_role service_account]", t)
	}
	return id, o.finish()
}

// parseMetadata reads create metadata (strings only) or an update patch
// (null deletes a key).
func parseMetadata(path string, raw json.RawMessage, patch bool) (map[string]*string, error) {
	o, err := newObject(path, raw)
	if err != nil {
		return nil, err
	}
	out := map[string]*string{}
	for k, v := range o.m {
		if isNull(v) {
			if !patch {
				return nil, invalid(join(path, k), "expected a string, got null")
			}
			out[k] = nil
			continue
		}
		s, err := asString(join(path, k), v)
		if err != nil {
			return nil, err
		}
		out[k] = &s
	}
	if patch {
		return out, httpx.CheckMetadataPatch(path, out)
	}
	if len(out) > 16 {
		return nil, invalid(path, "at most 16 pairs are allowed, got %d", len(out))
	}
	return out, httpx.CheckMetadataPatch(path, out)
}

func parseMultiagent(path string, raw json.RawMessage) (multiagentParams, error) {
	var mp multiagentParams
	o, err := newObject(path, raw)
	if err != nil {
		return mp, err
	}
	if mp.typ, err = o.discriminator(); err != nil {
		return mp, err
	}
	switch mp.typ {
	case wire.MultiagentCoordinatorType:
		raw, pr := o.get("agents")
		if pr != present {
			return mp, invalid(o.at("agents"), "field required")
		}
		items, err := asArray(o.at("agents"), raw)
		if err != nil {
			return mp, err
		}
		if len(items) < 1 || len(items) > maxRoster {
			return mp, invalid(o.at("agents"), "must have between 1 and %d entries, got %d", maxRoster, len(items))
		}
		for i, item := range items {
			e, err := parseRosterEntry(index(o.at("agents"), i), item, true)
			if err != nil {
				return mp, err
			}
			mp.roster = append(mp.roster, e)
		}
	case wire.Multiagent20261001Type:
		if raw, pr := o.get("advisor"); pr != absent {
			mp.advisor.p = pr
			if pr == present {
				if mp.advisor.v, err = parseAdvisor(o.at("advisor"), raw); err != nil {
					return mp, err
				}
			}
		}
		for _, g := range []struct {
			key string
			dst *field[groupParams]
		}{{"subagents", &mp.subagents}, {"workflows", &mp.workflows}} {
			raw, pr := o.get(g.key)
			g.dst.p = pr
			if pr == present {
				if g.dst.v, err = parseGroup(o.at(g.key), raw); err != nil {
					return mp, err
				}
			}
		}
	default:
		return mp, invalid(o.at("type"), "unknown value %q, expected one of %v", mp.typ,
			[]string{wire.MultiagentCoordinatorType, wire.Multiagent20261001Type})
	}
	return mp, o.finish()
}

// parseRosterEntry reads an agent id string, {"type":"agent",id,version?},
// {"type":"self"} or (coordinator rosters only) {"type":"advisor",model}.
func parseRosterEntry(path string, raw json.RawMessage, advisorOK bool) (rosterEntry, error) {
	e := rosterEntry{path: path, kind: "agent"}
	if kind(raw) == "a string" {
		s, err := asString(path, raw)
		if err != nil {
			return e, err
		}
		if s == "" {
			return e, invalid(path, "must not be empty")
		}
		e.id = s
		return e, nil
	}
	o, err := newObject(path, raw)
	if err != nil {
		return e, invalid(path, "expected an agent id string or an object, got %s", kind(raw))
	}
	t, err := o.discriminator()
	if err != nil {
		return e, err
	}
	kinds := []string{"agent", "self"}
	if advisorOK {
		kinds = append(kinds, "advisor")
	}
	if !slices.Contains(kinds, t) {
		return e, invalid(o.at("type"), "unknown value %q, expected one of %v", t, kinds)
	}
	e.kind = t
	switch t {
	case "agent":
		if e.id, err = o.requiredStr("id"); err != nil {
			return e, err
		}
		if e.id == "" {
			return e, invalid(o.at("id"), "must not be empty")
		}
		if raw, pr := o.get("version"); pr == present {
			if e.version, err = asInt(o.at("version"), raw); err != nil {
				return e, err
			}
			if e.version < 1 {
				return e, invalid(o.at("version"), "must be at least 1, got %d", e.version)
			}
		}
	case "advisor":
		if e.model, err = o.requiredStr("model"); err != nil {
			return e, err
		}
		if err := httpx.CheckLen(o.at("model"), e.model, 1, maxModelID); err != nil {
			return e, err
		}
	}
	return e, o.finish()
}

func parseAdvisor(path string, raw json.RawMessage) (advisorParams, error) {
	var a advisorParams
	o, err := newObject(path, raw)
	if err != nil {
		return a, err
	}
	if a.typ, err = o.discriminator(); err != nil {
		return a, err
	}
	if err := httpx.CheckEnum(o.at("type"), a.typ, "enabled", "disabled"); err != nil {
		return a, err
	}
	if a.typ == "enabled" {
		if a.model, err = o.requiredStr("model"); err != nil {
			return a, err
		}
		if err := httpx.CheckLen(o.at("model"), a.model, 1, maxModelID); err != nil {
			return a, err
		}
	}
	return a, o.finish()
}

func parseGroup(path string, raw json.RawMessage) (groupParams, error) {
	var g groupParams
	o, err := newObject(path, raw)
	if err != nil {
		return g, err
	}
	if g.typ, err = o.discriminator(); err != nil {
		return g, err
	}
	if err := httpx.CheckEnum(o.at("type"), g.typ, "enabled", "disabled"); err != nil {
		return g, err
	}
	if g.typ == "disabled" {
		return g, o.finish()
	}
	if raw, pr := o.get("predefined_agents"); pr != absent {
		g.predefined.p = pr
		if pr == present {
			items, err := asArray(o.at("predefined_agents"), raw)
			if err != nil {
				return g, err
			}
			if len(items) > maxRoster {
				return g, invalid(o.at("predefined_agents"), "at most %d entries are allowed, got %d", maxRoster, len(items))
			}
			g.predefined.v = []rosterEntry{}
			for i, item := range items {
				e, err := parseRosterEntry(index(o.at("predefined_agents"), i), item, false)
				if err != nil {
					return g, err
				}
				g.predefined.v = append(g.predefined.v, e)
			}
		}
	}
	if raw, pr := o.get("inline_agents"); pr != absent {
		g.inline.p = pr
		if pr == present {
			io, err := newObject(o.at("inline_agents"), raw)
			if err != nil {
				return g, err
			}
			if g.inline.v, err = io.discriminator(); err != nil {
				return g, err
			}
			if err := httpx.CheckEnum(io.at("type"), g.inline.v, "enabled", "disabled"); err != nil {
				return g, err
			}
			if err := io.finish(); err != nil {
				return g, err
			}
		}
	}
	return g, o.finish()
}
