// Package agentcfg owns the request-side rules of an agent's configuration
// that more than one endpoint applies: the model, tools and
// their permission policies, MCP servers and
// skills, parsed from raw JSON into their resolved wire form with
// errors that name the field, plus the rules that span tools and servers.
// Agents use it on create and update; sessions use it for
// agent_with_overrides and for replacing tools / mcp_servers of a
// live session, so the two can never drift apart.
package agentcfg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/jsonobj"
	"github.com/hangarhq/hangar/internal/wire"
)

// Limits of an agent's tools, MCP servers and skills, from the SDK field docs.
const (
	// maxToolEntries bounds the tools array; maxToolCount bounds
	// the tools it expands to across all toolsets (SDK docs: 256).
	maxToolEntries = 128
	maxToolCount   = 256
	maxMCPServers  = 20
	maxSkills      = 20
	maxDomains     = 64
	// MaxModelID bounds a model id wherever one is named.
	MaxModelID = 256
	maxModelID = MaxModelID
)

var customToolName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// DefaultEffort is the effort stored when a model does not name one. The
// SDK says it is "resolved to the per-model default at save time"; Hangar
// has one default for every model.
const DefaultEffort = "high"

// Model is a parsed model field: the bare id (speed standard) or the
// model_config object. Speed and Effort are "" when not sent.
type Model struct {
	ID     string
	Speed  string
	Effort string
	Geo    *string
}

// ParseModel reads a model field at path.
func ParseModel(path string, raw json.RawMessage) (Model, error) {
	m, err := parseModel(path, raw)
	return Model{ID: m.id, Speed: m.speed, Effort: m.effort, Geo: m.geo}, err
}

// Config resolves m to its stored form. An effort that was not sent is keep
// when non-nil (an agent update keeps the stored effort, SDK docs), else
// DefaultEffort. Speed "fast" on a model without fast mode is rejected
// at path.speed.
func (m Model) Config(path string, keep *wire.Effort) (wire.ModelConfig, error) {
	mc := wire.ModelConfig{ID: m.ID, Speed: m.Speed, InferenceGeo: m.Geo}
	if mc.Speed == "" {
		mc.Speed = "standard"
	}
	switch {
	case m.Effort != "":
		mc.Effort = &wire.Effort{Type: m.Effort}
	case keep != nil:
		mc.Effort = &wire.Effort{Type: keep.Type}
	default:
		mc.Effort = &wire.Effort{Type: DefaultEffort}
	}
	if mc.Speed == "fast" && !supportsFast(mc.ID) {
		return mc, jsonobj.Invalid(jsonobj.Key(path, "speed"), "\"fast\" is not supported by model %q", mc.ID)
	}
	return mc, nil
}

// ParseTools reads a tools array at path into its resolved form: every
// toolset expanded to one config per tool with defaults applied.
func ParseTools(path string, raw json.RawMessage) ([]wire.AgentTool, error) {
	return parseTools(path, raw)
}

// ParseMCPServers reads an mcp_servers array at path.
func ParseMCPServers(path string, raw json.RawMessage) ([]wire.MCPServer, error) {
	return parseMCPServers(path, raw)
}

// ParseSkills reads a skills array at path; a skill without version gets
// "latest".
func ParseSkills(path string, raw json.RawMessage) ([]wire.AgentSkill, error) {
	return parseSkills(path, raw)
}

// Validate checks the rules that span tools and mcp_servers, on the merged
// result: one agent toolset at most, every mcp_toolset naming a declared
// server and every server referenced by exactly one mcp_toolset,
// unique custom tool names and the total tool count. prefix is prepended to
// the field paths of errors ("" for an agent, "agent." for a session).
func Validate(prefix string, tools []wire.AgentTool, servers []wire.MCPServer) error {
	declared := map[string]int{}
	for i, s := range servers {
		declared[s.Name] = i
	}
	referenced := map[string]bool{}
	customs := map[string]bool{}
	count, toolsets := 0, 0
	for i, t := range tools {
		path := jsonobj.Index(prefix+"tools", i)
		switch {
		case t.Toolset != nil:
			if toolsets++; toolsets > 1 {
				return jsonobj.Invalid(path+".type", "%s may appear only once", wire.ToolTypeAgentToolset)
			}
			count += len(t.Toolset.Configs)
		case t.MCP != nil:
			name := t.MCP.MCPServerName
			if _, ok := declared[name]; !ok {
				return jsonobj.Invalid(path+".mcp_server_name", "no MCP server named %q in mcp_servers", name)
			}
			if referenced[name] {
				return jsonobj.Invalid(path+".mcp_server_name", "MCP server %q already has an mcp_toolset", name)
			}
			referenced[name] = true
			count += max(1, len(t.MCP.Configs))
		case t.Custom != nil:
			if customs[t.Custom.Name] {
				return jsonobj.Invalid(path+".name", "duplicate custom tool name %q", t.Custom.Name)
			}
			customs[t.Custom.Name] = true
			count++
		}
	}
	if count > maxToolCount {
		return jsonobj.Invalid(prefix+"tools", "at most %d tools are allowed across all toolsets, got %d", maxToolCount, count)
	}
	for i, s := range servers {
		if !referenced[s.Name] {
			return jsonobj.Invalid(jsonobj.Index(prefix+"mcp_servers", i)+".name", "MCP server %q is not referenced by any mcp_toolset in tools", s.Name)
		}
	}
	return nil
}

// modelParams is a parsed model field before resolution.
type modelParams struct {
	id     string
	speed  string // "" = standard
	effort string // "" = not sent
	geo    *string
}

var (
	speeds  = []string{"standard", "fast"}
	efforts = []string{"low", "medium", "high", "xhigh", "max"}
)

// parseModel accepts the bare model id or the model_config object.
func parseModel(path string, raw json.RawMessage) (modelParams, error) {
	var m modelParams
	if jsonobj.Kind(raw) == "a string" {
		s, err := jsonobj.String(path, raw)
		if err != nil {
			return m, err
		}
		m.id = s
	} else {
		o, err := jsonobj.New(path, raw)
		if err != nil {
			return m, jsonobj.Invalid(path, "expected a model id string or a model config object, got %s", jsonobj.Kind(raw))
		}
		if m.id, err = o.RequiredStr("id"); err != nil {
			return m, err
		}
		s, pr, err := o.Str("speed")
		if err != nil {
			return m, err
		}
		if pr == jsonobj.Present {
			if err := check.Enum(o.At("speed"), s, speeds...); err != nil {
				return m, err
			}
			m.speed = s
		}
		if raw, pr := o.Get("effort"); pr == jsonobj.Present {
			if m.effort, err = parseEffort(o.At("effort"), raw); err != nil {
				return m, err
			}
		}
		s, pr, err = o.Str("inference_geo")
		if err != nil {
			return m, err
		}
		if pr == jsonobj.Present {
			if err := check.Len(o.At("inference_geo"), s, 1, 64); err != nil {
				return m, err
			}
			m.geo = &s
		}
		if err := o.Finish(); err != nil {
			return m, err
		}
		path = o.At("id")
	}
	// Any id is accepted: new models appear faster than servers update.
	if err := check.Len(path, m.id, 1, maxModelID); err != nil {
		return m, err
	}
	if strings.TrimSpace(m.id) != m.id {
		return m, jsonobj.Invalid(path, "must not start or end with whitespace")
	}
	return m, nil
}

// parseEffort accepts "high" or {"type":"high"}.
func parseEffort(path string, raw json.RawMessage) (string, error) {
	if jsonobj.Kind(raw) == "a string" {
		s, err := jsonobj.String(path, raw)
		if err != nil {
			return "", err
		}
		return s, check.Enum(path, s, efforts...)
	}
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return "", jsonobj.Invalid(path, "expected an effort level string or object, got %s", jsonobj.Kind(raw))
	}
	t, err := o.Discriminator()
	if err != nil {
		return "", err
	}
	if err := check.Enum(o.At("type"), t, efforts...); err != nil {
		return "", err
	}
	return t, o.Finish()
}

// supportsFast reports whether speed "fast" may be used with a model.
// Only models known not to support it are refused, so model ids
// newer than this server are not turned away.
func supportsFast(id string) bool {
	for _, p := range []string{"claude-opus-4-6", "claude-opus-4-5", "claude-sonnet-4", "claude-haiku-4", "claude-3"} {
		if strings.HasPrefix(id, p) {
			return false
		}
	}
	return true
}

var policies = []string{"always_allow", "always_ask", "auto"}

func parsePolicy(path string, raw json.RawMessage) (wire.PermissionPolicy, error) {
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return wire.PermissionPolicy{}, err
	}
	t, err := o.Discriminator()
	if err != nil {
		return wire.PermissionPolicy{}, err
	}
	if err := check.Enum(o.At("type"), t, policies...); err != nil {
		return wire.PermissionPolicy{}, err
	}
	return wire.PermissionPolicy{Type: t}, o.Finish()
}

// parseDefaultConfig resolves a toolset's default_config: enabled defaults
// to true and the policy to def.
func parseDefaultConfig(o *jsonobj.Object, def string) (wire.ToolDefaultConfig, error) {
	dc := wire.ToolDefaultConfig{Enabled: true, PermissionPolicy: wire.PermissionPolicy{Type: def}}
	raw, pr := o.Get("default_config")
	if pr != jsonobj.Present {
		return dc, nil
	}
	d, err := jsonobj.New(o.At("default_config"), raw)
	if err != nil {
		return dc, err
	}
	if err := parseToolOverride(d, &dc.Enabled, &dc.PermissionPolicy); err != nil {
		return dc, err
	}
	return dc, d.Finish()
}

// parseToolOverride reads enabled and permission_policy into dst, leaving
// what is not sent at its inherited value.
func parseToolOverride(o *jsonobj.Object, enabled *bool, policy *wire.PermissionPolicy) error {
	b, err := o.Bool("enabled")
	if err != nil {
		return err
	}
	if b != nil {
		*enabled = *b
	}
	if raw, pr := o.Get("permission_policy"); pr == jsonobj.Present {
		pp, err := parsePolicy(o.At("permission_policy"), raw)
		if err != nil {
			return err
		}
		*policy = pp
	}
	return nil
}

func parseTools(path string, raw json.RawMessage) ([]wire.AgentTool, error) {
	items, err := jsonobj.Array(path, raw)
	if err != nil {
		return nil, err
	}
	if len(items) > maxToolEntries {
		return nil, jsonobj.Invalid(path, "at most %d entries are allowed, got %d", maxToolEntries, len(items))
	}
	out := make([]wire.AgentTool, 0, len(items))
	customs := map[string]bool{}
	var clientRefs []clientRef
	for i, item := range items {
		t, refs, err := parseTool(jsonobj.Index(path, i), item)
		if err != nil {
			return nil, err
		}
		if t.Custom != nil {
			customs[t.Custom.Name] = true
		}
		clientRefs = append(clientRefs, refs...)
		out = append(out, t)
	}
	// web_fetch url_sources.client_tool_results names custom tools of the
	// same array; tools is replaced whole, so the check never spans requests.
	for _, r := range clientRefs {
		if !customs[r.name] {
			return nil, jsonobj.Invalid(r.path, "no custom tool named %q in tools", r.name)
		}
	}
	return out, nil
}

// clientRef is a custom tool named by web_fetch url_sources, with its path.
type clientRef struct{ path, name string }

func parseTool(path string, raw json.RawMessage) (wire.AgentTool, []clientRef, error) {
	var tool wire.AgentTool
	var refs []clientRef
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return tool, nil, err
	}
	t, err := o.Discriminator()
	if err != nil {
		return tool, nil, err
	}
	switch t {
	case wire.ToolTypeAgentToolset:
		tool.Toolset, refs, err = parseAgentToolset(o)
	case wire.ToolTypeMCPToolset:
		tool.MCP, err = parseMCPToolset(o)
	case wire.ToolTypeCustom:
		tool.Custom, err = parseCustomTool(o)
	default:
		return tool, nil, jsonobj.Invalid(o.At("type"), "unknown value %q, expected one of %v", t,
			[]string{wire.ToolTypeAgentToolset, wire.ToolTypeMCPToolset, wire.ToolTypeCustom})
	}
	if err != nil {
		return tool, nil, err
	}
	return tool, refs, o.Finish()
}

// parseAgentToolset resolves agent_toolset_20260401 to its default_config
// plus one configs[] entry per tool, in wire.AgentToolsetTools order.
func parseAgentToolset(o *jsonobj.Object) (*wire.AgentToolset, []clientRef, error) {
	var refs []clientRef
	dc, err := parseDefaultConfig(o, "always_allow")
	if err != nil {
		return nil, nil, err
	}
	ts := &wire.AgentToolset{Type: wire.ToolTypeAgentToolset, DefaultConfig: dc}
	byName := map[string]wire.AgentToolConfig{}
	for _, n := range wire.AgentToolsetTools {
		byName[n] = wire.AgentToolConfig{Name: n, Type: n, Enabled: dc.Enabled, PermissionPolicy: dc.PermissionPolicy}
	}
	if raw, pr := o.Get("configs"); pr == jsonobj.Present {
		items, err := jsonobj.Array(o.At("configs"), raw)
		if err != nil {
			return nil, nil, err
		}
		seen := map[string]bool{}
		for i, item := range items {
			c, err := parseToolConfig(jsonobj.Index(o.At("configs"), i), item, dc)
			if err != nil {
				return nil, nil, err
			}
			if seen[c.Name] {
				return nil, nil, jsonobj.Invalid(jsonobj.Index(o.At("configs"), i)+".name", "duplicate tool %q", c.Name)
			}
			if c.URLSources != nil && c.URLSources.ClientToolResults != nil {
				for k, ref := range c.URLSources.ClientToolResults.Tools {
					p := fmt.Sprintf("%s.url_sources.client_tool_results.tools[%d].name", jsonobj.Index(o.At("configs"), i), k)
					refs = append(refs, clientRef{p, ref.Name})
				}
			}
			seen[c.Name] = true
			byName[c.Name] = c
		}
	}
	for _, n := range wire.AgentToolsetTools {
		ts.Configs = append(ts.Configs, byName[n])
	}
	return ts, refs, nil
}

// parseToolConfig reads one configs[] entry of the agent toolset. The Go SDK
// keys entries by name and leaves type out, so type is optional.
func parseToolConfig(path string, raw json.RawMessage, dc wire.ToolDefaultConfig) (wire.AgentToolConfig, error) {
	var c wire.AgentToolConfig
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return c, err
	}
	name, err := o.RequiredStr("name")
	if err != nil {
		return c, err
	}
	if err := check.Enum(o.At("name"), name, wire.AgentToolsetTools...); err != nil {
		return c, err
	}
	if err := o.ConstType(name, false); err != nil {
		return c, err
	}
	c = wire.AgentToolConfig{Name: name, Type: name, Enabled: dc.Enabled, PermissionPolicy: dc.PermissionPolicy}
	if err := parseToolOverride(o, &c.Enabled, &c.PermissionPolicy); err != nil {
		return c, err
	}
	if name == "web_fetch" || name == "web_search" {
		if err := parseDomains(o, name, &c); err != nil {
			return c, err
		}
	}
	if name == "web_fetch" {
		if raw, pr := o.Get("max_content_tokens"); pr == jsonobj.Present {
			n, err := jsonobj.Int(o.At("max_content_tokens"), raw)
			if err != nil {
				return c, err
			}
			if n < 1 {
				return c, jsonobj.Invalid(o.At("max_content_tokens"), "must be at least 1, got %d", n)
			}
			c.MaxContentTokens = &n
		}
		if raw, pr := o.Get("url_sources"); pr == jsonobj.Present {
			if c.URLSources, err = parseURLSources(o.At("url_sources"), raw); err != nil {
				return c, err
			}
		}
	}
	if name == "web_search" {
		if raw, pr := o.Get("user_location"); pr == jsonobj.Present {
			if c.UserLocation, err = parseUserLocation(o.At("user_location"), raw); err != nil {
				return c, err
			}
		}
	}
	return c, o.Finish()
}

func parseDomains(o *jsonobj.Object, tool string, c *wire.AgentToolConfig) error {
	for _, f := range []struct {
		key string
		dst *[]string
	}{{"allowed_domains", &c.AllowedDomains}, {"blocked_domains", &c.BlockedDomains}} {
		raw, pr := o.Get(f.key)
		if pr != jsonobj.Present {
			continue
		}
		path := o.At(f.key)
		items, err := jsonobj.Array(path, raw)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return jsonobj.Invalid(path, "must not be empty; omit the field instead")
		}
		if len(items) > maxDomains {
			return jsonobj.Invalid(path, "at most %d entries are allowed, got %d", maxDomains, len(items))
		}
		for i, item := range items {
			d, err := jsonobj.String(jsonobj.Index(path, i), item)
			if err != nil {
				return err
			}
			if err := checkDomain(jsonobj.Index(path, i), d, tool == "web_search"); err != nil {
				return err
			}
			*f.dst = append(*f.dst, d)
		}
	}
	if c.AllowedDomains != nil && c.BlockedDomains != nil {
		return jsonobj.Invalid(o.At("allowed_domains"), "cannot be combined with blocked_domains")
	}
	return nil
}

// checkDomain accepts a plain hostname; web_search also allows a path suffix.
func checkDomain(path, d string, allowPath bool) error {
	host := d
	if allowPath {
		host, _, _ = strings.Cut(d, "/")
	}
	switch {
	case host == "" || len(host) > 253:
		return jsonobj.Invalid(path, "must be a hostname of 1 to 253 characters")
	case strings.Contains(d, "://"):
		return jsonobj.Invalid(path, "must be a plain hostname without a scheme, got %q", d)
	case strings.ContainsAny(host, ":/ \t\r\n?#@"):
		return jsonobj.Invalid(path, "must be a plain hostname without port or path, got %q", d)
	}
	return nil
}

func parseURLSources(path string, raw json.RawMessage) (*wire.WebFetchURLSources, error) {
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return nil, err
	}
	us := &wire.WebFetchURLSources{}
	for _, f := range []struct {
		key     string
		dst     **wire.URLSourceFilter
		allowed []string
	}{
		{"client_tool_results", &us.ClientToolResults, []string{"all", "none", "only", "except"}},
		{"server_tool_results", &us.ServerToolResults, []string{"all", "none", "only", "except"}},
		{"user_input", &us.UserInput, []string{"all", "none"}},
	} {
		raw, pr := o.Get(f.key)
		if pr != jsonobj.Present {
			continue
		}
		if *f.dst, err = parseURLSourceFilter(o.At(f.key), raw, f.allowed); err != nil {
			return nil, err
		}
	}
	if us.ServerToolResults != nil {
		for i, t := range us.ServerToolResults.Tools {
			p := jsonobj.Index(o.At("server_tool_results")+".tools", i) + ".name"
			if err := check.Enum(p, t.Name, "web_search", "web_fetch"); err != nil {
				return nil, err
			}
		}
	}
	return us, o.Finish()
}

// parseURLSourceFilter accepts the "all"/"none" shorthand or the object form.
func parseURLSourceFilter(path string, raw json.RawMessage, allowed []string) (*wire.URLSourceFilter, error) {
	if jsonobj.Kind(raw) == "a string" {
		s, err := jsonobj.String(path, raw)
		if err != nil {
			return nil, err
		}
		if err := check.Enum(path, s, "all", "none"); err != nil {
			return nil, err
		}
		return &wire.URLSourceFilter{Type: s}, nil
	}
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return nil, err
	}
	t, err := o.Discriminator()
	if err != nil {
		return nil, err
	}
	if err := check.Enum(o.At("type"), t, allowed...); err != nil {
		return nil, err
	}
	f := &wire.URLSourceFilter{Type: t}
	if t == "only" || t == "except" {
		raw, pr := o.Get("tools")
		if pr != jsonobj.Present {
			return nil, jsonobj.Invalid(o.At("tools"), "field required")
		}
		items, err := jsonobj.Array(o.At("tools"), raw)
		if err != nil {
			return nil, err
		}
		if len(items) < 1 || len(items) > 128 {
			return nil, jsonobj.Invalid(o.At("tools"), "must have between 1 and 128 entries, got %d", len(items))
		}
		seen := map[string]bool{}
		for i, item := range items {
			p := jsonobj.Index(o.At("tools"), i)
			to, err := jsonobj.New(p, item)
			if err != nil {
				return nil, err
			}
			if err := to.ConstType("tool_reference", false); err != nil {
				return nil, err
			}
			name, err := to.RequiredStr("name")
			if err != nil {
				return nil, err
			}
			if name == "" {
				return nil, jsonobj.Invalid(to.At("name"), "must not be empty")
			}
			if seen[name] {
				return nil, jsonobj.Invalid(to.At("name"), "duplicate tool %q", name)
			}
			seen[name] = true
			if err := to.Finish(); err != nil {
				return nil, err
			}
			f.Tools = append(f.Tools, wire.ToolReference{Type: "tool_reference", Name: name})
		}
	}
	return f, o.Finish()
}

func parseUserLocation(path string, raw json.RawMessage) (*wire.UserLocation, error) {
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return nil, err
	}
	if err := o.ConstType("approximate", false); err != nil {
		return nil, err
	}
	loc := &wire.UserLocation{Type: "approximate"}
	for _, f := range []struct {
		key string
		dst **string
	}{{"city", &loc.City}, {"country", &loc.Country}, {"region", &loc.Region}, {"timezone", &loc.Timezone}} {
		s, pr, err := o.Str(f.key)
		if err != nil {
			return nil, err
		}
		if pr != jsonobj.Present {
			continue
		}
		if err := check.Len(o.At(f.key), s, 1, 255); err != nil {
			return nil, err
		}
		*f.dst = &s
	}
	if c := loc.Country; c != nil && (len(*c) != 2 || strings.ToUpper(*c) != *c || !isLetters(*c)) {
		return nil, jsonobj.Invalid(o.At("country"), "must be a two-letter uppercase ISO 3166-1 code, got %q", *c)
	}
	return loc, o.Finish()
}

func isLetters(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// parseMCPToolset resolves an mcp_toolset. MCP tools default to always_ask
// so that tools a server adds later never run unapproved.
func parseMCPToolset(o *jsonobj.Object) (*wire.MCPToolset, error) {
	name, err := o.RequiredStr("mcp_server_name")
	if err != nil {
		return nil, err
	}
	if err := check.Name(o.At("mcp_server_name"), name, 1, 255); err != nil {
		return nil, err
	}
	dc, err := parseDefaultConfig(o, "always_ask")
	if err != nil {
		return nil, err
	}
	ts := &wire.MCPToolset{Type: wire.ToolTypeMCPToolset, MCPServerName: name, DefaultConfig: dc, Configs: []wire.MCPToolConfig{}}
	if raw, pr := o.Get("configs"); pr == jsonobj.Present {
		items, err := jsonobj.Array(o.At("configs"), raw)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for i, item := range items {
			co, err := jsonobj.New(jsonobj.Index(o.At("configs"), i), item)
			if err != nil {
				return nil, err
			}
			n, err := co.RequiredStr("name")
			if err != nil {
				return nil, err
			}
			if err := check.Name(co.At("name"), n, 1, 128); err != nil {
				return nil, err
			}
			if seen[n] {
				return nil, jsonobj.Invalid(co.At("name"), "duplicate tool %q", n)
			}
			seen[n] = true
			c := wire.MCPToolConfig{Name: n, Enabled: dc.Enabled, PermissionPolicy: dc.PermissionPolicy}
			if err := parseToolOverride(co, &c.Enabled, &c.PermissionPolicy); err != nil {
				return nil, err
			}
			if err := co.Finish(); err != nil {
				return nil, err
			}
			ts.Configs = append(ts.Configs, c)
		}
	}
	return ts, nil
}

func parseCustomTool(o *jsonobj.Object) (*wire.CustomTool, error) {
	name, err := o.RequiredStr("name")
	if err != nil {
		return nil, err
	}
	if !customToolName.MatchString(name) {
		return nil, jsonobj.Invalid(o.At("name"), "must be 1 to 128 letters, digits, underscores or hyphens, got %q", name)
	}
	desc, err := o.RequiredStr("description")
	if err != nil {
		return nil, err
	}
	raw, pr := o.Get("input_schema")
	if pr != jsonobj.Present {
		return nil, jsonobj.Invalid(o.At("input_schema"), "field required")
	}
	schema, err := parseInputSchema(o.At("input_schema"), raw)
	if err != nil {
		return nil, err
	}
	return &wire.CustomTool{Type: wire.ToolTypeCustom, Name: name, Description: desc, InputSchema: schema}, nil
}

// parseInputSchema checks the parts of the JSON Schema the API defines
// (type, properties, required) and keeps the rest, re-encoded canonically
// (sorted keys, numbers verbatim) so equal schemas compare equal.
func parseInputSchema(path string, raw json.RawMessage) (json.RawMessage, error) {
	if jsonobj.Kind(raw) != "an object" {
		return nil, jsonobj.Invalid(path, "expected an object, got %s", jsonobj.Kind(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, jsonobj.Invalid(path, "malformed object")
	}
	if t, ok := m["type"]; ok {
		if s, _ := t.(string); s != "object" {
			return nil, jsonobj.Invalid(jsonobj.Key(path, "type"), "must be \"object\"")
		}
	}
	m["type"] = "object"
	if v, ok := m["properties"]; ok && v != nil {
		if _, isObj := v.(map[string]any); !isObj {
			return nil, jsonobj.Invalid(jsonobj.Key(path, "properties"), "expected an object")
		}
	}
	if v, ok := m["required"]; ok && v != nil {
		list, isList := v.([]any)
		if !isList {
			return nil, jsonobj.Invalid(jsonobj.Key(path, "required"), "expected an array of strings")
		}
		for i, e := range list {
			if _, isStr := e.(string); !isStr {
				return nil, jsonobj.Invalid(jsonobj.Index(jsonobj.Key(path, "required"), i), "expected a string")
			}
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, jsonobj.Invalid(path, "cannot be encoded")
	}
	return b, nil
}

func parseMCPServers(path string, raw json.RawMessage) ([]wire.MCPServer, error) {
	items, err := jsonobj.Array(path, raw)
	if err != nil {
		return nil, err
	}
	if len(items) > maxMCPServers {
		return nil, jsonobj.Invalid(path, "at most %d entries are allowed, got %d", maxMCPServers, len(items))
	}
	out := make([]wire.MCPServer, 0, len(items))
	seen := map[string]bool{}
	for i, item := range items {
		o, err := jsonobj.New(jsonobj.Index(path, i), item)
		if err != nil {
			return nil, err
		}
		if err := o.ConstType("url", false); err != nil {
			return nil, err
		}
		name, err := o.RequiredStr("name")
		if err != nil {
			return nil, err
		}
		if err := check.Name(o.At("name"), name, 1, 255); err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, jsonobj.Invalid(o.At("name"), "duplicate MCP server name %q", name)
		}
		seen[name] = true
		u, err := o.RequiredStr("url")
		if err != nil {
			return nil, err
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, jsonobj.Invalid(o.At("url"), "must be an absolute http or https URL, got %q", u)
		}
		if err := o.Finish(); err != nil {
			return nil, err
		}
		out = append(out, wire.MCPServer{Type: "url", Name: name, URL: u})
	}
	return out, nil
}

func parseSkills(path string, raw json.RawMessage) ([]wire.AgentSkill, error) {
	items, err := jsonobj.Array(path, raw)
	if err != nil {
		return nil, err
	}
	if len(items) > maxSkills {
		return nil, jsonobj.Invalid(path, "at most %d entries are allowed, got %d", maxSkills, len(items))
	}
	out := make([]wire.AgentSkill, 0, len(items))
	seen := map[string]bool{}
	for i, item := range items {
		o, err := jsonobj.New(jsonobj.Index(path, i), item)
		if err != nil {
			return nil, err
		}
		t, err := o.Discriminator()
		if err != nil {
			return nil, err
		}
		if err := check.Enum(o.At("type"), t, "anthropic", "custom"); err != nil {
			return nil, err
		}
		id, err := o.RequiredStr("skill_id")
		if err != nil {
			return nil, err
		}
		if err := check.Len(o.At("skill_id"), id, 1, 256); err != nil {
			return nil, err
		}
		v, pr, err := o.Str("version")
		if err != nil {
			return nil, err
		}
		if pr == jsonobj.Present {
			if err := check.Len(o.At("version"), v, 1, 64); err != nil {
				return nil, err
			}
		} else {
			v = "latest"
		}
		if seen[t+"/"+id] {
			return nil, jsonobj.Invalid(o.At("skill_id"), "duplicate skill %q", id)
		}
		seen[t+"/"+id] = true
		if err := o.Finish(); err != nil {
			return nil, err
		}
		out = append(out, wire.AgentSkill{Type: t, SkillID: id, Version: v})
	}
	return out, nil
}
