package sessions

import (
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/agentcfg"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// listSeeds are queries GET /v1/sessions may receive.
var listSeeds = []string{
	"",
	"limit=5&order=asc",
	"page=" + encodeCursor(cursor{Seq: 7, Desc: true}),
	"page=" + encodeCursor(cursor{Seq: 7, Backward: true}) + "&order=asc",
	"page=" + encodeCursor(cursor{Seq: 0}),
	"page=" + encodeCursor(cursor{Seq: 3, Desc: true}) + "&order=asc",
	"statuses[]=idle&statuses[]=running&statuses=terminated,idle",
	"statuses[]=asleep",
	"agent_id=agent_1&agent_version=3",
	"agent_version=3",
	"agent_version=0",
	"created_at[gte]=2026-01-01T00:00:00Z&created_at[lt]=2027-01-01T00:00:00.5Z",
	"created_at[gt]=yesterday",
	"include_archived=true&deployment_id=depl_1&memory_store_id=memstore_1",
	"page=garbage", "page=page_YTE", "page=sesnpg_cDA", "limit=-1", "limit=101", "limit=x", "order=sideways",
}

// FuzzListQuery: the list query parser never panics, rejects with a 400
// naming a parameter, and what it accepts is a well-formed store query whose
// cursor round-trips.
func FuzzListQuery(f *testing.F) {
	for _, s := range listSeeds {
		f.Add(s)
	}
	params := []string{"limit", "order", "page", "agent_version", "include_archived", "statuses", "created_at["}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		sq, err := parseListQuery(q)
		if err != nil {
			e, ok := errdefs.As(err)
			if !ok || e.Class != errdefs.ClassInvalid {
				t.Fatalf("%q: unclassified rejection %v", raw, err)
			}
			if !slices.ContainsFunc(params, func(p string) bool { return strings.HasPrefix(e.Message, p) }) {
				t.Fatalf("%q: message %q names no parameter", raw, e.Message)
			}
			return
		}
		if sq.Limit < 1 || sq.Limit > listMax {
			t.Fatalf("%q: limit %d", raw, sq.Limit)
		}
		if sq.After != 0 && sq.Before != 0 {
			t.Fatalf("%q: both After and Before", raw)
		}
		if sq.AgentVersion != 0 && sq.AgentID == "" {
			t.Fatalf("%q: agent_version applied without agent_id", raw)
		}
		seen := map[string]bool{}
		for _, s := range sq.Statuses {
			if !store.IsSessionStatus(s) || seen[s] {
				t.Fatalf("%q: statuses %v", raw, sq.Statuses)
			}
			seen[s] = true
		}
		if p := q.Get("page"); p != "" {
			c, err := decodeCursor(p)
			if err != nil || encodeCursor(c) != p {
				t.Fatalf("%q: accepted cursor does not round-trip", raw)
			}
			if c.Desc != sq.Desc {
				t.Fatalf("%q: order differs from the cursor's", raw)
			}
		}
	})
}

// FuzzCursor: every cursor the list can hand out decodes to itself.
func FuzzCursor(f *testing.F) {
	f.Add(int64(0), false, false)
	f.Add(int64(1), true, true)
	f.Add(int64(1<<62), true, false)
	f.Fuzz(func(t *testing.T, seq int64, desc, backward bool) {
		if seq < 0 || (backward && seq == 0) {
			return
		}
		c := cursor{Seq: seq, Desc: desc, Backward: backward}
		got, err := decodeCursor(encodeCursor(c))
		if err != nil || got != c {
			t.Fatalf("%+v -> %+v, %v", c, got, err)
		}
	})
}

// baseAgent is a stored agent version with every overridable field set.
func baseAgent() wire.SessionAgent {
	sys := "base"
	return wire.SessionAgentFrom(wire.Agent{
		ID: "agent_1", Version: 4, Name: "a", System: &sys,
		Model: wire.ModelConfig{ID: "claude-opus-4-8", Speed: "standard", Effort: &wire.Effort{Type: "low"}},
		Tools: []wire.AgentTool{
			{Toolset: &wire.AgentToolset{Type: wire.ToolTypeAgentToolset}},
			{MCP: &wire.MCPToolset{Type: wire.ToolTypeMCPToolset, MCPServerName: "gh"}},
		},
		MCPServers: []wire.MCPServer{{Type: "url", Name: "gh", URL: "https://mcp.example.com"}},
		Skills:     []wire.AgentSkill{{Type: "anthropic", SkillID: "xlsx", Version: "latest"}},
	})
}

var overrideSeeds = []string{
	`{"type":"agent_with_overrides","id":"agent_1"}`,
	`{"type":"agent_with_overrides","id":"agent_1","model":"claude-sonnet-4-6"}`,
	`{"type":"agent_with_overrides","id":"agent_1","model":{"id":"claude-opus-4-8","speed":"fast","effort":"max"}}`,
	`{"type":"agent_with_overrides","id":"agent_1","model":{"id":"claude-sonnet-4-5","speed":"fast"}}`,
	`{"type":"agent_with_overrides","id":"agent_1","model":null}`,
	`{"type":"agent_with_overrides","id":"agent_1","system":null,"skills":[],"tools":[]}`,
	`{"type":"agent_with_overrides","id":"agent_1","tools":null}`,
	`{"type":"agent_with_overrides","id":"agent_1","mcp_servers":[]}`,
	`{"type":"agent_with_overrides","id":"agent_1","tools":[{"type":"custom","name":"x","description":"d","input_schema":{"type":"object"}}],"mcp_servers":null}`,
	`{"type":"agent_with_overrides","id":"agent_1","tools":[{"type":"agent_toolset_20260401","configs":[{"name":"bash","enabled":false}]},{"type":"mcp_toolset","mcp_server_name":"gh"}]}`,
	`{"type":"agent_with_overrides","id":"agent_1","skills":[{"type":"custom","skill_id":"skill_1","version":"7"}]}`,
	`{"type":"agent_with_overrides","id":"agent_1","tools":[{"type":"nope"}]}`,
	`{"type":"agent","id":"agent_1","version":2}`,
	`"agent_1"`,
}

// FuzzOverrides: applying any decodable agent reference to a stored version
// never panics, keeps the base id and version, rejects with a 400
// naming an agent field, and follows the tri-state rules.
func FuzzOverrides(f *testing.F) {
	for _, s := range overrideSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, agent string) {
		var p wire.SessionCreateParams
		body := `{"agent":` + agent + `,"environment_id":"env_1"}`
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			return
		}
		base := baseAgent()
		baseJSON, _ := json.Marshal(base)
		sa, err := applyOverrides(base, p.Agent)
		if after, _ := json.Marshal(base); string(after) != string(baseJSON) {
			t.Fatalf("%s: the base version was modified", agent)
		}
		if err != nil {
			e, ok := errdefs.As(err)
			if !ok || e.Class != errdefs.ClassInvalid || !strings.HasPrefix(e.Message, "agent.") {
				t.Fatalf("%s: rejection %v does not name an agent field", agent, err)
			}
			return
		}
		if sa.ID != base.ID || sa.Version != base.Version || sa.Name != base.Name {
			t.Fatalf("%s: identity changed to %s v%d", agent, sa.ID, sa.Version)
		}
		if _, err := json.Marshal(sa); err != nil {
			t.Fatalf("%s: result does not encode: %v", agent, err)
		}
		ref := p.Agent
		for _, f := range []struct {
			name    string
			o       wire.Opt[json.RawMessage]
			got, in int
		}{
			{"tools", ref.Tools, len(sa.Tools), len(base.Tools)},
			{"mcp_servers", ref.MCPServers, len(sa.MCPServers), len(base.MCPServers)},
			{"skills", ref.Skills, len(sa.Skills), len(base.Skills)},
		} {
			switch {
			case !f.o.Set && f.got != f.in:
				t.Fatalf("%s: omitted %s not inherited", agent, f.name)
			case wire.OverrideClears(f.o) && f.got != 0:
				t.Fatalf("%s: cleared %s kept %d entries", agent, f.name, f.got)
			}
		}
		if !ref.System.Set && sa.System != base.System {
			t.Fatalf("%s: omitted system not inherited", agent)
		}
		if !ref.Model.Set && sa.Model.ID != base.Model.ID {
			t.Fatalf("%s: omitted model not inherited", agent)
		}
		if wire.OverrideClears(ref.Tools) && len(sa.Skills) > 0 {
			t.Fatalf("%s: tools cleared while skills remain", agent)
		}
	})
}

func str(s string) *string { return &s }

// TestApplyUpdate covers the update rules applied under the engine's lock:
// what each request changes, which event it logs, and that the document it
// is handed (a shallow copy of the engine's) is never modified in place.
func TestApplyUpdate(t *testing.T) {
	newDoc := func() wire.Session {
		return wire.Session{ID: "sesn_1", Agent: baseAgent(), Title: str("t"), Metadata: wire.Metadata{"a": "1"}}
	}
	decode := func(t *testing.T, body string) wire.SessionUpdateParams {
		t.Helper()
		var p wire.SessionUpdateParams
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name     string
		body     string
		status   string
		archived bool
		changed  bool
		class    errdefs.Class // zero (ClassInternal): success expected
		code     string
		event    string // expected session.updated JSON
	}{
		{name: "empty", body: `{}`},
		{name: "same title", body: `{"title":"t"}`},
		{name: "new title", body: `{"title":"u"}`, changed: true, event: `{"title":"u"}`},
		{name: "clear title", body: `{"title":null}`, changed: true, event: `{"title":null}`},
		{name: "metadata", body: `{"metadata":{"a":null,"b":"2"}}`, changed: true, event: `{"metadata":{"b":"2"}}`},
		{name: "metadata emptied", body: `{"metadata":{"a":null}}`, changed: true, event: `{}`},
		{name: "metadata unchanged", body: `{"metadata":{"a":"1"}}`},
		{name: "title while running", body: `{"title":"u"}`, status: wire.SessionRunning, changed: true, event: `{"title":"u"}`},
		{name: "tools while running", body: `{"agent":{"tools":[]}}`, status: wire.SessionRunning, class: errdefs.ClassConflict},
		{name: "archived", body: `{"title":"u"}`, archived: true, class: errdefs.ClassConflict},
		{name: "archived no-op", body: `{}`, archived: true},
		{name: "budget value", body: `{"budget":{"type":"limit","max_list_cost":{"amount":"1","currency":"USD"}}}`, class: errdefs.ClassInvalid, code: "budget_create_only"},
		{name: "budget null", body: `{"budget":null}`},
		{name: "tools cleared with skills", body: `{"agent":{"tools":null}}`, class: errdefs.ClassInvalid},
		{name: "server loses its toolset", body: `{"agent":{"tools":[{"type":"agent_toolset_20260401"}]}}`, class: errdefs.ClassInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := decode(t, tc.body)
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			status := tc.status
			if status == "" {
				status = wire.SessionIdle
			}
			orig := newDoc()
			if tc.archived {
				now := wire.Now()
				orig.ArchivedAt = &now
			}
			doc := orig // the engine hands over a shallow copy
			md := maps.Clone(orig.Metadata)
			var tools []wire.AgentTool
			if p.Agent != nil {
				if v, ok := p.Agent.Tools.Value(); ok {
					var err error
					if tools, err = agentcfg.ParseTools("agent.tools", v); err != nil {
						t.Fatal(err)
					}
				}
			}
			changed, evs, err := applyUpdate(&doc, status, p, tools, nil)
			if !maps.Equal(orig.Metadata, md) {
				t.Fatalf("metadata modified in place: %v", orig.Metadata)
			}
			if tc.class != errdefs.ClassInternal || err != nil {
				e, ok := errdefs.As(err)
				if !ok || e.Class != tc.class || (tc.code != "" && e.Code != tc.code) {
					t.Fatalf("err = %v, want class %d code %q", err, tc.class, tc.code)
				}
				return
			}
			if changed != tc.changed || (len(evs) == 1) != tc.changed {
				t.Fatalf("changed = %v with %d events, want %v", changed, len(evs), tc.changed)
			}
			if tc.changed {
				b, _ := json.Marshal(evs[0])
				if string(b) != tc.event {
					t.Fatalf("event = %s, want %s", b, tc.event)
				}
			}
		})
	}
}
