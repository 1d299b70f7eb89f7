package agents

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/hangarhq/hangar/internal/agentcfg"
	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/jsonobj"
	"github.com/hangarhq/hangar/internal/wire"
)

// Limits of an agent's fields, from the SDK field docs.
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
	p jsonobj.Presence
	v T
}

func (f field[T]) set() bool { return f.p == jsonobj.Present }

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
		return p, jsonobj.Invalid("name", "field required")
	}
	if !p.model.set() {
		return p, jsonobj.Invalid("model", "field required")
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
	o, err := jsonobj.New("", raw)
	if err != nil {
		return p, err
	}
	if err := parseFields(o, &p, update); err != nil {
		return p, err
	}
	return p, o.Finish()
}

func parseFields(o *jsonobj.Object, p *agentParams, update bool) error {
	var err error
	// name
	if s, pr, err := o.Str("name"); err != nil {
		return err
	} else if pr == jsonobj.Null {
		return jsonobj.Invalid("name", "cannot be null")
	} else if pr == jsonobj.Present {
		if err := check.Name("name", s, 1, maxName); err != nil {
			return err
		}
		p.name = field[string]{jsonobj.Present, s}
	}
	// description, system: "" and null both clear.
	for _, f := range []struct {
		key string
		max int
		dst *field[string]
	}{{"description", maxDescription, &p.description}, {"system", maxSystem, &p.system}} {
		s, pr, err := o.Str(f.key)
		if err != nil {
			return err
		}
		if pr == jsonobj.Present {
			if err := check.Len(f.key, s, 0, f.max); err != nil {
				return err
			}
			if s == "" {
				pr = jsonobj.Null
			}
		}
		*f.dst = field[string]{pr, s}
	}
	// model
	if raw, pr := o.Get("model"); pr == jsonobj.Null {
		return jsonobj.Invalid("model", "cannot be null")
	} else if pr == jsonobj.Present {
		m, err := agentcfg.ParseModel("model", raw)
		if err != nil {
			return err
		}
		p.model = field[agentcfg.Model]{jsonobj.Present, m}
	}
	// tools
	if raw, pr := o.Get("tools"); pr != jsonobj.Absent {
		p.tools.p = pr
		if pr == jsonobj.Present {
			if p.tools.v, err = agentcfg.ParseTools("tools", raw); err != nil {
				return err
			}
		}
	}
	if raw, pr := o.Get("mcp_servers"); pr != jsonobj.Absent {
		p.mcpServers.p = pr
		if pr == jsonobj.Present {
			if p.mcpServers.v, err = agentcfg.ParseMCPServers("mcp_servers", raw); err != nil {
				return err
			}
		}
	}
	if raw, pr := o.Get("skills"); pr != jsonobj.Absent {
		p.skills.p = pr
		if pr == jsonobj.Present {
			if p.skills.v, err = agentcfg.ParseSkills("skills", raw); err != nil {
				return err
			}
		}
	}
	if raw, pr := o.Get("execution_identity"); pr != jsonobj.Absent {
		p.identity.p = pr
		if pr == jsonobj.Present {
			if p.identity.v, err = parseIdentity("execution_identity", raw); err != nil {
				return err
			}
		}
	}
	if raw, pr := o.Get("metadata"); pr != jsonobj.Absent {
		p.metadata.p = pr
		if pr == jsonobj.Present {
			if p.metadata.v, err = parseMetadata("metadata", raw, update); err != nil {
				return err
			}
		}
	}
	if raw, pr := o.Get("multiagent"); pr != jsonobj.Absent {
		p.multiagent.p = pr
		if pr == jsonobj.Present {
			if p.multiagent.v, err = parseMultiagent("multiagent", raw); err != nil {
				return err
			}
		}
	}
	if update {
		if raw, pr := o.Get("version"); pr == jsonobj.Present {
			v, err := jsonobj.Int("version", raw)
			if err != nil {
				return err
			}
			if v < 1 {
				return jsonobj.Invalid("version", "must be at least 1, got %d", v)
			}
			p.version = field[int64]{jsonobj.Present, v}
		}
	}
	return nil
}

func parseIdentity(path string, raw json.RawMessage) (wire.ExecutionIdentity, error) {
	var id wire.ExecutionIdentity
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return id, err
	}
	t, err := o.Discriminator()
	if err != nil {
		return id, err
	}
	switch t {
	case "service_account":
		id.Type = t
	case "aws_role":
		arn, err := o.RequiredStr("role_arn")
		if err != nil {
			return id, err
		}
		if err := check.Len(o.At("role_arn"), arn, 1, maxRoleARN); err != nil {
			return id, err
		}
		if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":role/") {
			return id, jsonobj.Invalid(o.At("role_arn"), "must be an IAM role ARN (arn:…:role/…), got %q", arn)
		}
		id = wire.ExecutionIdentity{Type: t, RoleARN: arn}
	default:
		return id, jsonobj.Invalid(o.At("type"), "unknown value %q, expected one of [aws_role service_account]", t)
	}
	return id, o.Finish()
}

// parseMetadata reads create metadata (strings only) or an update patch
// (null deletes a key).
func parseMetadata(path string, raw json.RawMessage, patch bool) (map[string]*string, error) {
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return nil, err
	}
	out := map[string]*string{}
	for _, k := range o.Keys() {
		v, _ := o.Get(k)
		if jsonobj.IsNull(v) {
			if !patch {
				return nil, jsonobj.Invalid(jsonobj.Key(path, k), "expected a string, got null")
			}
			out[k] = nil
			continue
		}
		s, err := jsonobj.String(jsonobj.Key(path, k), v)
		if err != nil {
			return nil, err
		}
		out[k] = &s
	}
	if patch {
		return out, check.MetadataPatch(path, out)
	}
	if len(out) > 16 {
		return nil, jsonobj.Invalid(path, "at most 16 pairs are allowed, got %d", len(out))
	}
	return out, check.MetadataPatch(path, out)
}

func parseMultiagent(path string, raw json.RawMessage) (multiagentParams, error) {
	var mp multiagentParams
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return mp, err
	}
	if mp.typ, err = o.Discriminator(); err != nil {
		return mp, err
	}
	switch mp.typ {
	case wire.MultiagentCoordinatorType:
		raw, pr := o.Get("agents")
		if pr != jsonobj.Present {
			return mp, jsonobj.Invalid(o.At("agents"), "field required")
		}
		items, err := jsonobj.Array(o.At("agents"), raw)
		if err != nil {
			return mp, err
		}
		if len(items) < 1 || len(items) > maxRoster {
			return mp, jsonobj.Invalid(o.At("agents"), "must have between 1 and %d entries, got %d", maxRoster, len(items))
		}
		for i, item := range items {
			e, err := parseRosterEntry(jsonobj.Index(o.At("agents"), i), item, true)
			if err != nil {
				return mp, err
			}
			mp.roster = append(mp.roster, e)
		}
	case wire.Multiagent20261001Type:
		if raw, pr := o.Get("advisor"); pr != jsonobj.Absent {
			mp.advisor.p = pr
			if pr == jsonobj.Present {
				if mp.advisor.v, err = parseAdvisor(o.At("advisor"), raw); err != nil {
					return mp, err
				}
			}
		}
		for _, g := range []struct {
			key string
			dst *field[groupParams]
		}{{"subagents", &mp.subagents}, {"workflows", &mp.workflows}} {
			raw, pr := o.Get(g.key)
			g.dst.p = pr
			if pr == jsonobj.Present {
				if g.dst.v, err = parseGroup(o.At(g.key), raw); err != nil {
					return mp, err
				}
			}
		}
	default:
		return mp, jsonobj.Invalid(o.At("type"), "unknown value %q, expected one of %v", mp.typ,
			[]string{wire.MultiagentCoordinatorType, wire.Multiagent20261001Type})
	}
	return mp, o.Finish()
}

// parseRosterEntry reads an agent id string, {"type":"agent",id,version?},
// {"type":"self"} or (coordinator rosters only) {"type":"advisor",model}.
func parseRosterEntry(path string, raw json.RawMessage, advisorOK bool) (rosterEntry, error) {
	e := rosterEntry{path: path, kind: "agent"}
	if jsonobj.Kind(raw) == "a string" {
		s, err := jsonobj.String(path, raw)
		if err != nil {
			return e, err
		}
		if s == "" {
			return e, jsonobj.Invalid(path, "must not be empty")
		}
		e.id = s
		return e, nil
	}
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return e, jsonobj.Invalid(path, "expected an agent id string or an object, got %s", jsonobj.Kind(raw))
	}
	t, err := o.Discriminator()
	if err != nil {
		return e, err
	}
	kinds := []string{"agent", "self"}
	if advisorOK {
		kinds = append(kinds, "advisor")
	}
	if !slices.Contains(kinds, t) {
		return e, jsonobj.Invalid(o.At("type"), "unknown value %q, expected one of %v", t, kinds)
	}
	e.kind = t
	switch t {
	case "agent":
		if e.id, err = o.RequiredStr("id"); err != nil {
			return e, err
		}
		if e.id == "" {
			return e, jsonobj.Invalid(o.At("id"), "must not be empty")
		}
		if raw, pr := o.Get("version"); pr == jsonobj.Present {
			if e.version, err = jsonobj.Int(o.At("version"), raw); err != nil {
				return e, err
			}
			if e.version < 1 {
				return e, jsonobj.Invalid(o.At("version"), "must be at least 1, got %d", e.version)
			}
		}
	case "advisor":
		if e.model, err = o.RequiredStr("model"); err != nil {
			return e, err
		}
		if err := check.Len(o.At("model"), e.model, 1, maxModelID); err != nil {
			return e, err
		}
	}
	return e, o.Finish()
}

func parseAdvisor(path string, raw json.RawMessage) (advisorParams, error) {
	var a advisorParams
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return a, err
	}
	if a.typ, err = o.Discriminator(); err != nil {
		return a, err
	}
	if err := check.Enum(o.At("type"), a.typ, "enabled", "disabled"); err != nil {
		return a, err
	}
	if a.typ == "enabled" {
		if a.model, err = o.RequiredStr("model"); err != nil {
			return a, err
		}
		if err := check.Len(o.At("model"), a.model, 1, maxModelID); err != nil {
			return a, err
		}
	}
	return a, o.Finish()
}

func parseGroup(path string, raw json.RawMessage) (groupParams, error) {
	var g groupParams
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return g, err
	}
	if g.typ, err = o.Discriminator(); err != nil {
		return g, err
	}
	if err := check.Enum(o.At("type"), g.typ, "enabled", "disabled"); err != nil {
		return g, err
	}
	if g.typ == "disabled" {
		return g, o.Finish()
	}
	if raw, pr := o.Get("predefined_agents"); pr != jsonobj.Absent {
		g.predefined.p = pr
		if pr == jsonobj.Present {
			items, err := jsonobj.Array(o.At("predefined_agents"), raw)
			if err != nil {
				return g, err
			}
			if len(items) > maxRoster {
				return g, jsonobj.Invalid(o.At("predefined_agents"), "at most %d entries are allowed, got %d", maxRoster, len(items))
			}
			g.predefined.v = []rosterEntry{}
			for i, item := range items {
				e, err := parseRosterEntry(jsonobj.Index(o.At("predefined_agents"), i), item, false)
				if err != nil {
					return g, err
				}
				g.predefined.v = append(g.predefined.v, e)
			}
		}
	}
	if raw, pr := o.Get("inline_agents"); pr != jsonobj.Absent {
		g.inline.p = pr
		if pr == jsonobj.Present {
			io, err := jsonobj.New(o.At("inline_agents"), raw)
			if err != nil {
				return g, err
			}
			if g.inline.v, err = io.Discriminator(); err != nil {
				return g, err
			}
			if err := check.Enum(io.At("type"), g.inline.v, "enabled", "disabled"); err != nil {
				return g, err
			}
			if err := io.Finish(); err != nil {
				return g, err
			}
		}
	}
	return g, o.Finish()
}
