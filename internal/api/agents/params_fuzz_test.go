package agents

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// noAgents is a store.Tx in which no agent exists, so roster references
// resolve to 400s and everything else runs as in the server.
type noAgents struct{ store.Tx }

func (noAgents) Get(_ context.Context, _, kind, id string) (store.Record, error) {
	return store.Record{}, errdefs.NotFound("%s %s not found", kind, id)
}

var fuzzSeeds = []string{
	``,
	`{}`,
	`null`,
	`[]`,
	`{"name":"a","model":"claude-opus-4-8"}`,
	`{"name":"a","model":{"id":"claude-opus-4-8","speed":"fast","effort":"max","inference_geo":"us"},"description":"d","system":"s"}`,
	`{"name":"a","model":{"id":"m","effort":{"type":"low"}},"metadata":{"k":"v"},"version":3}`,
	`{"name":"a","model":"m","tools":[{"type":"agent_toolset_20260401","default_config":{"enabled":false,"permission_policy":{"type":"auto"}},
	  "configs":[{"name":"bash","enabled":true},{"name":"web_fetch","type":"web_fetch","max_content_tokens":100,"allowed_domains":["a.com"],
	  "url_sources":{"client_tool_results":{"type":"only","tools":[{"type":"tool_reference","name":"c"}]},"server_tool_results":"none","user_input":{"type":"all"}}},
	  {"name":"web_search","blocked_domains":["b.com/x"],"user_location":{"type":"approximate","country":"US","city":"NYC"}}]},
	  {"type":"custom","name":"c","description":"d","input_schema":{"type":"object","properties":{"x":{"type":"integer","maximum":9007199254740993}},"required":["x"]}},
	  {"type":"mcp_toolset","mcp_server_name":"gh","default_config":{"permission_policy":{"type":"always_allow"}},"configs":[{"name":"t","enabled":false}]}],
	  "mcp_servers":[{"type":"url","name":"gh","url":"https://gh.example.com/mcp"}]}`,
	`{"name":"a","model":"m","skills":[{"type":"anthropic","skill_id":"xlsx"},{"type":"custom","skill_id":"skill_1","version":"2"}],
	  "execution_identity":{"type":"aws_role","role_arn":"arn:aws:iam::1:role/r"}}`,
	`{"name":"a","model":"m","multiagent":{"type":"coordinator","agents":[{"type":"self"},{"type":"advisor","model":"m"}]}}`,
	`{"name":"a","model":"m","multiagent":{"type":"coordinator","agents":["agent_x"]}}`,
	`{"name":"a","model":"m","multiagent":{"type":"multiagent_20261001","advisor":{"type":"enabled","model":"m"},
	  "subagents":{"type":"enabled","predefined_agents":[{"type":"self"}],"inline_agents":{"type":"disabled"}},"workflows":null}}`,
	`{"description":null,"system":"","metadata":{"k":null},"tools":null,"mcp_servers":null,"skills":null,"execution_identity":null,"multiagent":null}`,
	`{"name":"a","model":"m","tools":[{"type":"foo"}]}`,
	`{"name":"a","model":"m","tools":[{"type":"agent_toolset_20260401","configs":[{"name":"bash","bogus":1}]}]}`,
}

// FuzzAgentParams feeds arbitrary bodies to the create and update decoders
// and the resolution that follows: every failure must be a 400, and every
// success must produce an agent that survives an encode/decode round trip
// unchanged with all required fields present.
func FuzzAgentParams(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	cur, err := build(context.Background(), noAgents{}, "ws", "agent_self", nil,
		mustParse(f, `{"name":"base","model":"claude-opus-4-8","metadata":{"a":"1"},
			"multiagent":{"type":"multiagent_20261001","subagents":{"type":"enabled","predefined_agents":[{"type":"self"}]}}}`))
	if err != nil {
		f.Fatal(err)
	}
	cur.Version = 1
	pinSelf(&cur)

	f.Fuzz(func(t *testing.T, body []byte) {
		for _, update := range []bool{false, true} {
			parse, base := parseCreate, (*wire.Agent)(nil)
			if update {
				parse, base = parseUpdate, &cur
			}
			p, err := parse(body)
			if err != nil {
				checkInvalid(t, body, err)
				continue
			}
			a, err := build(context.Background(), noAgents{}, "ws", "agent_self", base, p)
			if err != nil {
				checkInvalid(t, body, err)
				continue
			}
			a.Version = 2
			pinSelf(&a)
			b1, err := json.Marshal(a)
			if err != nil {
				t.Fatalf("encode %q: %v", body, err)
			}
			var back wire.Agent
			if err := json.Unmarshal(b1, &back); err != nil {
				t.Fatalf("decode %s: %v", b1, err)
			}
			b2, _ := json.Marshal(back)
			if !bytes.Equal(b1, b2) {
				t.Fatalf("round trip changed the agent:\n%s\n%s", b1, b2)
			}
			var m map[string]json.RawMessage
			_ = json.Unmarshal(b1, &m)
			for _, k := range []string{"id", "type", "name", "description", "system", "model", "tools", "mcp_servers", "skills",
				"multiagent", "execution_identity", "metadata", "version", "created_at", "updated_at", "archived_at"} {
				if _, ok := m[k]; !ok {
					t.Fatalf("agent lacks %q: %s", k, b1)
				}
			}
			for _, k := range []string{"tools", "mcp_servers", "skills", "metadata"} {
				if bytes.Equal(m[k], []byte("null")) {
					t.Fatalf("%s is null: %s", k, b1)
				}
			}
			if same, err := sameConfig(a, back); err != nil || !same {
				t.Fatalf("sameConfig(a, decoded a) = %v, %v", same, err)
			}
		}
	})
}

func mustParse(tb testing.TB, body string) agentParams {
	p, err := parseCreate([]byte(body))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func checkInvalid(t *testing.T, body []byte, err error) {
	t.Helper()
	e, ok := errdefs.As(err)
	if !ok || e.Class != errdefs.ClassInvalid || e.Message == "" {
		t.Fatalf("body %q: want a 400 with a message, got %#v", body, err)
	}
}

// TestParseErrorsNameTheField pins a few messages the e2e table cannot
// reach cheaply.
func TestParseErrorsNameTheField(t *testing.T) {
	for body, want := range map[string]string{
		`{"name":"a","model":"m","tools":[{"type":"agent_toolset_20260401","configs":[{"name":"web_fetch","max_content_tokens":0}]}]}`: "tools[0].configs[0].max_content_tokens: must be at least 1, got 0",
		`{"name":"a","model":"m","tools":[{"type":"custom","name":"c","description":"d","input_schema":{"required":[1]}}]}`:            "tools[0].input_schema.required[0]: expected a string",
		`{"name":"a","model":"m","tools":[{"type":"mcp_toolset","mcp_server_name":"s","configs":[{"name":"x"},{"name":"x"}]}]}`:        `tools[0].configs[1].name: duplicate tool "x"`,
		`{"name":"a","model":{"id":" m"}}`: "model.id: must not start or end with whitespace",
		`{"name":"a","model":"m","multiagent":{"type":"coordinator","agents":[{"type":"agent","id":"x","version":0}]}}`: "multiagent.agents[0].version: must be at least 1, got 0",
		`{"name":"a","model":"m","skills":[{"type":"custom","skill_id":"s"},{"type":"custom","skill_id":"s"}]}`:         `skills[1].skill_id: duplicate skill "s"`,
	} {
		_, err := parseCreate([]byte(body))
		if err == nil || err.Error() != want {
			t.Errorf("%s:\n got %v\nwant %s", body, err, want)
		}
	}
}
