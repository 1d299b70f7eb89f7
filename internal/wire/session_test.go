package wire

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// decodeCreate runs the handler's path: decode (shape) then Validate.
func decodeCreate(b []byte) (SessionCreateParams, error) {
	var p SessionCreateParams
	if err := json.Unmarshal(b, &p); err != nil {
		return p, err
	}
	return p, p.Validate()
}

func userText(s string) anthropic.BetaSessionNewParamsInitialEventUnion {
	return anthropic.BetaSessionNewParamsInitialEventUnion{OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{
		Content: []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: s}}},
	}}
}

// Every create shape the Go SDK can send
// decodes, with the omitted / null / value state of each override kept.
func TestSessionCreateDecodeSDKParams(t *testing.T) {
	tests := []struct {
		name  string
		in    anthropic.BetaSessionNewParams
		check func(t *testing.T, p SessionCreateParams)
	}{{
		name: "REF-01a bare agent id",
		in: anthropic.BetaSessionNewParams{
			Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String("agent_1")},
			EnvironmentID: "env_1",
		},
		check: func(t *testing.T, p SessionCreateParams) {
			if p.Agent.Type != AgentRefAgent || p.Agent.ID != "agent_1" || p.Agent.Version != 0 || !p.Agent.Bare || p.Agent.HasOverrides() {
				t.Errorf("agent = %+v", p.Agent)
			}
			if p.EnvironmentID != "env_1" || p.Title != nil || p.Metadata != nil || p.Resources != nil || p.VaultIDs != nil || p.InitialEvents != nil || p.Budget != nil {
				t.Errorf("optional fields set: %+v", p)
			}
		},
	}, {
		name: "agent object pinned to a version",
		in: anthropic.BetaSessionNewParams{
			Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfBetaManagedAgentsAgent: &anthropic.BetaManagedAgentsAgentParams{ID: "agent_1", Version: anthropic.Int(3)}},
			EnvironmentID: "env_1",
		},
		check: func(t *testing.T, p SessionCreateParams) {
			if p.Agent.Type != AgentRefAgent || p.Agent.ID != "agent_1" || p.Agent.Version != 3 || p.Agent.Bare {
				t.Errorf("agent = %+v", p.Agent)
			}
		},
	}, {
		name: "overrides keep omitted, null and value",
		in: anthropic.BetaSessionNewParams{
			Agent: anthropic.BetaSessionNewParamsAgentUnion{OfBetaManagedAgentsAgentWithOverrides: &anthropic.BetaManagedAgentsAgentWithOverridesParams{
				ID:         "agent_1",
				System:     param.Null[string](),
				Model:      anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-opus-4-7", Speed: "fast"},
				MCPServers: []anthropic.BetaManagedAgentsURLMCPServerParams{{Name: "gh", URL: "https://mcp.example.com/sse"}},
				Skills:     []anthropic.BetaManagedAgentsSkillParamsUnion{{OfAnthropic: &anthropic.BetaManagedAgentsAnthropicSkillParams{SkillID: "xlsx"}}},
				Tools: []anthropic.BetaManagedAgentsAgentWithOverridesParamsToolUnion{{OfCustom: &anthropic.BetaManagedAgentsCustomToolParams{
					Name: "lookup", Description: "d", InputSchema: anthropic.BetaManagedAgentsCustomToolInputSchemaParam{Properties: map[string]any{"q": map[string]any{"type": "string"}}},
				}}},
			}},
			EnvironmentID: "env_1",
		},
		check: func(t *testing.T, p SessionCreateParams) {
			a := p.Agent
			if a.Type != AgentRefWithOverrides || a.ID != "agent_1" || a.Version != 0 {
				t.Errorf("agent = %+v", a)
			}
			if !a.System.Set || !a.System.Null {
				t.Errorf("system = %+v, want null", a.System)
			}
			var model struct{ ID, Speed string }
			if err := json.Unmarshal(a.Model.V, &model); err != nil || model.ID != "claude-opus-4-7" || model.Speed != "fast" {
				t.Errorf("model = %s", a.Model.V)
			}
			if !strings.Contains(string(a.Tools.V), `"lookup"`) || !strings.Contains(string(a.MCPServers.V), `"gh"`) || !strings.Contains(string(a.Skills.V), `"xlsx"`) {
				t.Errorf("lists = %s %s %s", a.Tools.V, a.MCPServers.V, a.Skills.V)
			}
			if OverrideClears(a.Tools) || OverrideClears(a.Model) {
				t.Error("non-empty overrides reported as clearing")
			}
		},
	}, {
		name: "every optional field",
		in: anthropic.BetaSessionNewParams{
			Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String("agent_1")},
			EnvironmentID: "env_1",
			Title:         anthropic.String("Order #1234 inquiry"),
			Budget:        anthropic.BetaManagedAgentsBudgetLimitParam{MaxListCost: anthropic.BetaMonetaryAmountParam{Amount: "2500", Currency: anthropic.BetaCurrencyUSD}},
			Metadata:      map[string]string{"foo": "bar"},
			VaultIDs:      []string{"vlt_1", "vlt_2"},
			InitialEvents: []anthropic.BetaSessionNewParamsInitialEventUnion{
				userText("Where is my order #1234?"),
				{OfUserDefineOutcome: &anthropic.BetaManagedAgentsUserDefineOutcomeEventParams{
					Description:   "a report",
					Rubric:        anthropic.BetaManagedAgentsUserDefineOutcomeEventParamsRubricUnion{OfText: &anthropic.BetaManagedAgentsTextRubricParams{Content: "is complete"}},
					MaxIterations: anthropic.Int(5),
				}},
			},
			Resources: []anthropic.BetaSessionNewParamsResourceUnion{
				{OfFile: &anthropic.BetaManagedAgentsFileResourceParams{FileID: "file_1", MountPath: anthropic.String("/uploads/receipt.pdf")}},
				{OfFile: &anthropic.BetaManagedAgentsFileResourceParams{FileID: "file_2"}},
				{OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{
					URL: "https://github.com/acme/widgets", AuthorizationToken: "ghp_secret",
					Checkout: anthropic.BetaManagedAgentsGitHubRepositoryResourceParamsCheckoutUnion{OfBranch: &anthropic.BetaManagedAgentsBranchCheckoutParam{Name: "main"}},
				}},
				{OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{
					URL: "https://github.com/acme/gadgets.git", MountPath: anthropic.String("/src/gadgets"),
					Checkout: anthropic.BetaManagedAgentsGitHubRepositoryResourceParamsCheckoutUnion{OfCommit: &anthropic.BetaManagedAgentsCommitCheckoutParam{Sha: strings.Repeat("ab", 20)}},
				}},
				{OfMemoryStore: &anthropic.BetaManagedAgentsMemoryStoreResourceParam{MemoryStoreID: "memstore_1", Access: "read_only", Instructions: anthropic.String("notes")}},
				{OfMemoryStore: &anthropic.BetaManagedAgentsMemoryStoreResourceParam{MemoryStoreID: "memstore_2"}},
			},
		},
		check: func(t *testing.T, p SessionCreateParams) {
			if p.Title == nil || *p.Title != "Order #1234 inquiry" {
				t.Errorf("title = %v", p.Title)
			}
			if p.Budget == nil || p.Budget.MaxListCost != (MonetaryAmount{"2500", "USD"}) {
				t.Errorf("budget = %+v", p.Budget)
			}
			if p.Metadata["foo"] != "bar" || len(p.VaultIDs) != 2 || p.VaultIDs[1] != "vlt_2" {
				t.Errorf("metadata/vaults = %v %v", p.Metadata, p.VaultIDs)
			}
			if len(p.InitialEvents) != 2 {
				t.Fatalf("initial events = %d", len(p.InitialEvents))
			}
			if m, ok := p.InitialEvents[0].(*UserMessageEvent); !ok || TextOf(m.Content) != "Where is my order #1234?" {
				t.Errorf("initial_events[0] = %#v", p.InitialEvents[0])
			}
			if o, ok := p.InitialEvents[1].(*UserDefineOutcomeEvent); !ok || o.Description != "a report" || o.Rubric != (Rubric{Type: "text", Content: "is complete"}) || *o.MaxIterations != 5 {
				t.Errorf("initial_events[1] = %#v", p.InitialEvents[1])
			}
			r := p.Resources
			if len(r) != 6 {
				t.Fatalf("resources = %d", len(r))
			}
			if r[0].Type != ResourceFile || r[0].FileID != "file_1" || r[0].EffectiveMountPath() != "/uploads/receipt.pdf" {
				t.Errorf("resources[0] = %v", r[0])
			}
			if r[1].MountPath != "" || r[1].EffectiveMountPath() != "/mnt/session/uploads/file_2" {
				t.Errorf("resources[1] default mount = %q", r[1].EffectiveMountPath())
			}
			if r[2].URL != "https://github.com/acme/widgets" || r[2].AuthorizationToken != "ghp_secret" || *r[2].Checkout != (Checkout{Type: "branch", Name: "main"}) || r[2].EffectiveMountPath() != "/workspace/widgets" {
				t.Errorf("resources[2] = %+v", r[2])
			}
			if r[3].Checkout.SHA != strings.Repeat("ab", 20) || r[3].EffectiveMountPath() != "/src/gadgets" || r[3].AuthorizationToken != "" {
				t.Errorf("resources[3] = %+v", r[3])
			}
			if r[4].MemoryStoreID != "memstore_1" || r[4].AccessMode() != AccessReadOnly || *r[4].Instructions != "notes" {
				t.Errorf("resources[4] = %+v", r[4])
			}
			if r[5].AccessMode() != AccessReadWrite || r[5].Instructions != nil {
				t.Errorf("resources[5] = %+v", r[5])
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := decodeCreate(mustJSON(t, tc.in))
			if err != nil {
				t.Fatalf("decode %s: %v", mustJSON(t, tc.in), err)
			}
			tc.check(t, p)
		})
	}
}

// The repository token never leaves through fmt, slog or
// JSON.
func TestRepositoryTokenNeverMarshalled(t *testing.T) {
	p, err := decodeCreate([]byte(`{"agent":"agent_1","environment_id":"env_1","resources":[{"type":"github_repository","url":"https://github.com/a/b","authorization_token":"ghp_TOPSECRET"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := p.Resources[0]
	if r.AuthorizationToken != "ghp_TOPSECRET" {
		t.Fatalf("token not decoded")
	}
	for name, s := range map[string]string{
		"json":  string(mustJSON(t, r)),
		"%v":    fmt.Sprintf("%v %+v %#v %s", r, p, r, r.LogValue()),
		"%+v":   strings.ReplaceAll(strings.ReplaceAll(string(mustJSON(t, p.Resources)), "\n", ""), " ", ""),
		"error": errString(ResourceParams{Type: ResourceGitHubRepository, URL: "https://github.com/a/b", AuthorizationToken: "ghp_TOPSECRET\n"}.validate("resources[0]")),
	} {
		if strings.Contains(s, "TOPSECRET") {
			t.Errorf("%s leaks the token: %s", name, s)
		}
	}
	var u ResourceUpdateParams
	if err := json.Unmarshal([]byte(`{"authorization_token":"ghp_NEW"}`), &u); err != nil || u.Validate() != nil || u.AuthorizationToken != "ghp_NEW" {
		t.Fatalf("resource update: %v %+v", err, u)
	}
	if s := string(mustJSON(t, u)) + fmt.Sprintf("%v %+v %#v %s", u, u, u, u.LogValue()); strings.Contains(s, "ghp_NEW") {
		t.Errorf("update params leak the token: %s", s)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Bad create bodies: 400 naming the field path.
func TestSessionCreateInvalid(t *testing.T) {
	ok := `"agent":"agent_1","environment_id":"env_1"`
	many := func(n int, item string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
	}
	pairs := make([]string, 17)
	for i := range pairs {
		pairs[i] = `"k` + string(rune('a'+i)) + `":"v"`
	}
	stores := make([]string, 9)
	for i := range stores {
		stores[i] = `{"type":"memory_store","memory_store_id":"m` + string(rune('a'+i)) + `"}`
	}
	files := make([]string, 1000)
	for i := range files {
		files[i] = `{"type":"file","file_id":"file_` + strings.Repeat("x", 1) + `","mount_path":"/f/` + string(rune('a'+i%26)) + strings.Repeat("z", i/26) + `"}`
	}
	tests := []struct {
		name, body, path, want string
	}{
		{"agent required", `{"environment_id":"env_1"}`, "agent", "field required"},
		{"agent null", `{"agent":null,"environment_id":"env_1"}`, "agent", "field required"},
		{"agent wrong type", `{"agent":5,"environment_id":"env_1"}`, "agent", "expected an agent id string or an object"},
		{"agent empty string", `{"agent":"","environment_id":"env_1"}`, "agent", "must not be empty"},
		{"agent unknown form", `{"agent":{"type":"inline","id":"a"},"environment_id":"env_1"}`, "agent.type", `unknown value "inline"`},
		{"agent type missing", `{"agent":{"id":"a"},"environment_id":"env_1"}`, "agent.type", "field required"},
		{"agent id missing", `{"agent":{"type":"agent"},"environment_id":"env_1"}`, "agent.id", "field required"},
		{"agent version zero", `{"agent":{"type":"agent","id":"a","version":0},"environment_id":"env_1"}`, "agent.version", "at least 1"},
		{"agent version string", `{"agent":{"type":"agent","id":"a","version":"3"},"environment_id":"env_1"}`, "agent.version", "expected an integer"},
		{"plain agent takes no overrides", `{"agent":{"type":"agent","id":"a","model":"m"},"environment_id":"env_1"}`, "agent.model", "unknown field"},
		{"description not overridable", `{"agent":{"type":"agent_with_overrides","id":"a","description":"d"},"environment_id":"env_1"}`, "agent.description", "unknown field"},
		{"model null", `{"agent":{"type":"agent_with_overrides","id":"a","model":null},"environment_id":"env_1"}`, "agent.model", "cannot be null"},
		{"model wrong type", `{"agent":{"type":"agent_with_overrides","id":"a","model":[]},"environment_id":"env_1"}`, "agent.model", "expected a model id string or an object"},
		{"tools not an array", `{"agent":{"type":"agent_with_overrides","id":"a","tools":{}},"environment_id":"env_1"}`, "agent.tools", "expected an array"},
		{"system too long", `{"agent":{"type":"agent_with_overrides","id":"a","system":"` + strings.Repeat("s", 100001) + `"},"environment_id":"env_1"}`, "agent.system", "at most 100000"},
		{"top-level model", `{` + ok + `,"model":"claude-opus-4-7"}`, "model", "not a session field"},
		{"top-level tools", `{` + ok + `,"tools":[]}`, "tools", "not a session field"},
		{"environment required", `{"agent":"a"}`, "environment_id", "field required"},
		{"environment empty", `{"agent":"a","environment_id":" "}`, "environment_id", "must not be empty"},
		{"unknown field", `{` + ok + `,"colour":"red"}`, "colour", "unknown field"},
		{"title type", `{` + ok + `,"title":5}`, "title", "expected a string"},
		{"title too long", `{` + ok + `,"title":"` + strings.Repeat("t", 257) + `"}`, "title", "at most 256"},
		{"metadata value type", `{` + ok + `,"metadata":{"k":1}}`, "metadata.k", "expected a string"},
		{"metadata too many pairs", `{` + ok + `,"metadata":{` + strings.Join(pairs, ",") + `}}`, "metadata", "at most 16 pairs"},
		{"metadata key too long", `{` + ok + `,"metadata":{"` + strings.Repeat("k", 65) + `":"v"}}`, "metadata key", "at most 64"},
		{"metadata value too long", `{` + ok + `,"metadata":{"k":"` + strings.Repeat("v", 513) + `"}}`, "metadata.k", "at most 512"},
		{"resources not an array", `{` + ok + `,"resources":{}}`, "resources", "expected an array"},
		{"resource type unknown", `{` + ok + `,"resources":[{"type":"s3"}]}`, "resources[0].type", `unknown value "s3"`},
		{"file id required", `{` + ok + `,"resources":[{"type":"file"}]}`, "resources[0].file_id", "field required"},
		{"mount path relative", `{` + ok + `,"resources":[{"type":"file","file_id":"f"},{"type":"file","file_id":"g","mount_path":"data/x"}]}`, "resources[1].mount_path", "must be absolute"},
		{"mount path dotdot", `{` + ok + `,"resources":[{"type":"file","file_id":"f","mount_path":"/a/../etc/passwd"}]}`, "resources[0].mount_path", "clean path"},
		{"mount path root", `{` + ok + `,"resources":[{"type":"file","file_id":"f","mount_path":"/"}]}`, "resources[0].mount_path", "clean path"},
		{"mount path empty", `{` + ok + `,"resources":[{"type":"file","file_id":"f","mount_path":""}]}`, "resources[0].mount_path", "must not be empty"},
		{"mount path reserved", `{` + ok + `,"resources":[{"type":"file","file_id":"f","mount_path":"/mnt/session/outputs/x"}]}`, "resources[0].mount_path", "reserved"},
		{"mount path duplicate", `{` + ok + `,"resources":[{"type":"file","file_id":"f","mount_path":"/x"},{"type":"github_repository","url":"https://github.com/a/b","mount_path":"/x"}]}`, "resources[1].mount_path", "already used by resources[0]"},
		{"default mount duplicate", `{` + ok + `,"resources":[{"type":"file","file_id":"f"},{"type":"file","file_id":"f"}]}`, "resources[1].mount_path", "already used"},
		{"too many files", `{` + ok + `,"resources":[` + strings.Join(files, ",") + `]}`, "resources", "at most 999 file resources"},
		{"repo url required", `{` + ok + `,"resources":[{"type":"github_repository"}]}`, "resources[0].url", "field required"},
		{"repo url not http", `{` + ok + `,"resources":[{"type":"github_repository","url":"git@github.com:a/b.git"}]}`, "resources[0].url", "absolute https URL"},
		{"repo url with credentials", `{` + ok + `,"resources":[{"type":"github_repository","url":"https://user:tok@github.com/a/b"}]}`, "resources[0].url", "must not carry credentials"},
		{"repo url dotdot", `{` + ok + `,"resources":[{"type":"github_repository","url":"https://github.com/a/b/.."}]}`, "resources[0].url", "must name a repository"},
		{"file id with slash", `{` + ok + `,"resources":[{"type":"file","file_id":"../etc"}]}`, "resources[0].file_id", "must be a file id"},
		{"repo url without repo", `{` + ok + `,"resources":[{"type":"github_repository","url":"https://github.com"}]}`, "resources[0].url", "must name a repository"},
		{"repo token type", `{` + ok + `,"resources":[{"type":"github_repository","url":"https://github.com/a/b","authorization_token":5}]}`, "resources[0].authorization_token", "expected a string"},
		{"repo token control chars", `{` + ok + `,"resources":[{"type":"github_repository","url":"https://github.com/a/b","authorization_token":"a\r\nX-Evil: 1"}]}`, "resources[0].authorization_token", "printable"},
		{"checkout unknown", `{` + ok + `,"resources":[{"type":"github_repository","url":"https://github.com/a/b","checkout":{"type":"tag","name":"v1"}}]}`, "resources[0].checkout.type", `unknown value "tag"`},
		{"checkout branch name missing", `{` + ok + `,"resources":[{"type":"github_repository","url":"https://github.com/a/b","checkout":{"type":"branch"}}]}`, "resources[0].checkout.name", "field required"},
		{"checkout branch invalid", `{` + ok + `,"resources":[{"type":"github_repository","url":"https://github.com/a/b","checkout":{"type":"branch","name":"-rf x"}}]}`, "resources[0].checkout.name", "git branch name"},
		{"checkout sha short", `{` + ok + `,"resources":[{"type":"github_repository","url":"https://github.com/a/b","checkout":{"type":"commit","sha":"abc123"}}]}`, "resources[0].checkout.sha", "full 40"},
		{"checkout sha with name", `{` + ok + `,"resources":[{"type":"github_repository","url":"https://github.com/a/b","checkout":{"type":"commit","sha":"` + strings.Repeat("a", 40) + `","name":"x"}}]}`, "resources[0].checkout.name", "unknown field"},
		{"memory store id required", `{` + ok + `,"resources":[{"type":"memory_store"}]}`, "resources[0].memory_store_id", "field required"},
		{"memory access unknown", `{` + ok + `,"resources":[{"type":"memory_store","memory_store_id":"m","access":"write"}]}`, "resources[0].access", `unknown value "write"`},
		{"instructions too long", `{` + ok + `,"resources":[{"type":"memory_store","memory_store_id":"m","instructions":"` + strings.Repeat("i", 4097) + `"}]}`, "resources[0].instructions", "at most 4096"},
		{"memory mount path server-set", `{` + ok + `,"resources":[{"type":"memory_store","memory_store_id":"m","mount_path":"/x"}]}`, "resources[0].mount_path", "cannot be set"},
		{"memory store duplicate", `{` + ok + `,"resources":[{"type":"memory_store","memory_store_id":"m"},{"type":"memory_store","memory_store_id":"m"}]}`, "resources[1].memory_store_id", "duplicate"},
		{"too many memory stores", `{` + ok + `,"resources":[` + strings.Join(stores, ",") + `]}`, "resources", "at most 8 memory stores"},
		{"vault id type", `{` + ok + `,"vault_ids":[1]}`, "vault_ids[0]", "expected a string"},
		{"vault id duplicate", `{` + ok + `,"vault_ids":["v","v"]}`, "vault_ids[1]", "duplicate of vault_ids[0]"},
		{"vault id empty", `{` + ok + `,"vault_ids":[""]}`, "vault_ids[0]", "must not be empty"},
		{"initial events max 50", `{` + ok + `,"initial_events":` + many(51, `{"type":"user.message","content":[{"type":"text","text":"hi"}]}`) + `}`, "initial_events", "at most 50"},
		{"initial event kind", `{` + ok + `,"initial_events":[{"type":"user.interrupt"}]}`, "initial_events[0].type", "not allowed here"},
		{"initial event content", `{` + ok + `,"initial_events":[{"type":"user.message","content":[{"type":"text","text":""}]}]}`, "initial_events[0].content[0].text", "non-whitespace"},
		{"budget amount", `{` + ok + `,"budget":{"type":"limit","max_list_cost":{"amount":"25.00","currency":"USD"}}}`, "budget.max_list_cost.amount", "minor units"},
		{"budget amount leading zero", `{` + ok + `,"budget":{"max_list_cost":{"amount":"0100","currency":"USD"}}}`, "budget.max_list_cost.amount", ""},
		{"budget currency", `{` + ok + `,"budget":{"type":"limit","max_list_cost":{"amount":"100","currency":"EUR"}}}`, "budget.max_list_cost.currency", `unknown value "EUR"`},
		{"budget type", `{` + ok + `,"budget":{"type":"cap","max_list_cost":{"amount":"100","currency":"USD"}}}`, "budget.type", `unknown value "cap"`},
		{"budget amount missing", `{` + ok + `,"budget":{"max_list_cost":{"currency":"USD"}}}`, "budget.max_list_cost.amount", "field required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeCreate([]byte(tc.body))
			wantInvalid(t, err, tc.path, tc.want)
		})
	}
}

func TestSessionCreateNotAnObject(t *testing.T) {
	for _, body := range []string{`[]`, `"agent_1"`, `null`, `5`} {
		_, err := decodeCreate([]byte(body))
		if e, ok := errdefs.As(err); !ok || e.Class != errdefs.ClassInvalid || !strings.Contains(e.Message, "must be a JSON object") {
			t.Errorf("%s: err = %v", body, err)
		}
	}
}

// A null model override carries the documented error code.
func TestSessionCreateModelNullCode(t *testing.T) {
	_, err := decodeCreate([]byte(`{"agent":{"type":"agent_with_overrides","id":"a","model":null},"environment_id":"e"}`))
	e, _ := errdefs.As(err)
	if e == nil || e.Code != "agent_model_required" {
		t.Fatalf("err = %v, want code agent_model_required", err)
	}
}

// Explicit nulls, which only non-Go SDKs send, mean "not given" on create
// and the documented tri-state on overrides.
func TestSessionCreateNulls(t *testing.T) {
	p, err := decodeCreate([]byte(`{"agent":{"type":"agent_with_overrides","id":"a","version":null,"tools":[],"mcp_servers":null,"skills":[]},
		"environment_id":"e","title":null,"metadata":null,"resources":null,"vault_ids":null,"initial_events":null,"budget":null}`))
	if err != nil {
		t.Fatal(err)
	}
	a := p.Agent
	if a.Version != 0 || a.Model.Set || a.System.Set {
		t.Errorf("agent = %+v", a)
	}
	for name, o := range map[string]Opt[json.RawMessage]{"tools": a.Tools, "mcp_servers": a.MCPServers, "skills": a.Skills} {
		if !OverrideClears(o) {
			t.Errorf("%s = %+v, want clearing", name, o)
		}
	}
	if p.Title != nil || p.Metadata != nil || p.Resources != nil || p.VaultIDs != nil || p.Budget != nil {
		t.Errorf("nulls not treated as absent: %+v", p)
	}
}

// Update bodies, including the SDK's own
// conformance request (minus vault_ids, which it documents as rejected).
func TestSessionUpdateDecode(t *testing.T) {
	sdk := anthropic.BetaSessionUpdateParams{
		Title:    anthropic.String("Order #1234 inquiry"),
		Metadata: map[string]string{"foo": "string"},
		Budget:   anthropic.BetaManagedAgentsBudgetLimitParam{MaxListCost: anthropic.BetaMonetaryAmountParam{Amount: "2500", Currency: anthropic.BetaCurrencyUSD}},
		Agent: anthropic.BetaManagedAgentsSessionAgentUpdateParam{
			MCPServers: []anthropic.BetaManagedAgentsURLMCPServerParams{{Name: "example-mcp", URL: "https://example-server.modelcontextprotocol.io/sse"}},
			Tools: []anthropic.BetaManagedAgentsSessionAgentUpdateToolUnionParam{{OfAgentToolset20260401: &anthropic.BetaManagedAgentsAgentToolset20260401Params{
				DefaultConfig: anthropic.BetaManagedAgentsAgentToolsetDefaultConfigParams{Enabled: anthropic.Bool(true)},
			}}},
		},
	}
	tests := []struct {
		name  string
		body  []byte
		check func(t *testing.T, p SessionUpdateParams)
	}{{
		name: "SDK conformance body",
		body: mustJSON(t, sdk),
		check: func(t *testing.T, p SessionUpdateParams) {
			if v, ok := p.Title.Value(); !ok || v != "Order #1234 inquiry" {
				t.Errorf("title = %+v", p.Title)
			}
			if *p.Metadata["foo"] != "string" {
				t.Errorf("metadata = %v", p.Metadata)
			}
			if b, ok := p.Budget.Value(); !ok || b.MaxListCost.Amount != "2500" {
				t.Errorf("budget = %+v", p.Budget)
			}
			if p.Agent == nil || !strings.Contains(string(p.Agent.Tools.V), "agent_toolset_20260401") || !strings.Contains(string(p.Agent.MCPServers.V), "example-mcp") {
				t.Errorf("agent = %+v", p.Agent)
			}
			if !p.Changes() {
				t.Error("Changes() = false")
			}
		},
	}, {
		name: "empty body changes nothing",
		body: []byte(`{}`),
		check: func(t *testing.T, p SessionUpdateParams) {
			if p.Changes() {
				t.Errorf("Changes() = true: %+v", p)
			}
		},
	}, {
		name: "nulls: title clears, budget removes, metadata key deletes, agent lists clear",
		body: []byte(`{"title":null,"budget":null,"metadata":{"a":null,"b":"x"},"agent":{"tools":null,"mcp_servers":[]},"vault_ids":[]}`),
		check: func(t *testing.T, p SessionUpdateParams) {
			if !p.Title.Set || !p.Title.Null || !p.Budget.Set || !p.Budget.Null {
				t.Errorf("title/budget = %+v %+v", p.Title, p.Budget)
			}
			if v, ok := p.Metadata["a"]; !ok || v != nil || *p.Metadata["b"] != "x" {
				t.Errorf("metadata = %v", p.Metadata)
			}
			if !OverrideClears(p.Agent.Tools) || !OverrideClears(p.Agent.MCPServers) {
				t.Errorf("agent = %+v", p.Agent)
			}
			if got := p.Metadata.Apply(Metadata{"a": "1", "c": "3"}); len(got) != 2 || got["b"] != "x" || got["c"] != "3" {
				t.Errorf("apply = %v", got)
			}
		},
	}, {
		name: "empty title clears",
		body: []byte(`{"title":""}`),
		check: func(t *testing.T, p SessionUpdateParams) {
			if !p.Title.Set || !p.Title.Null {
				t.Errorf("title = %+v", p.Title)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p SessionUpdateParams
			if err := json.Unmarshal(tc.body, &p); err != nil {
				t.Fatal(err)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
}

func TestSessionUpdateInvalid(t *testing.T) {
	tests := []struct{ name, body, path, want string }{
		{"vault_ids rejected", `{"vault_ids":["vlt_1"]}`, "vault_ids", "cannot be changed"},
		{"model not updatable", `{"agent":{"model":"claude-opus-4-7"}}`, "agent.model", "only agent.tools and agent.mcp_servers"},
		{"system not updatable", `{"agent":{"system":"x"}}`, "agent.system", "cannot be changed"},
		{"skills not updatable", `{"agent":{"skills":[]}}`, "agent.skills", "cannot be changed"},
		{"agent tools type", `{"agent":{"tools":"all"}}`, "agent.tools", "expected an array"},
		{"agent unknown", `{"agent":{"colour":1}}`, "agent.colour", "unknown field"},
		{"unknown top-level", `{"status":"idle"}`, "status", "unknown field"},
		{"title too long", `{"title":"` + strings.Repeat("x", 257) + `"}`, "title", "at most 256"},
		{"metadata value type", `{"metadata":{"k":true}}`, "metadata.k", "expected a string"},
		{"metadata key too long", `{"metadata":{"` + strings.Repeat("k", 65) + `":null}}`, "metadata key", "at most 64"},
		{"budget currency", `{"budget":{"max_list_cost":{"amount":"1","currency":"usd"}}}`, "budget.max_list_cost.currency", "unknown value"},
		{"budget zero", `{"budget":{"max_list_cost":{"amount":"0","currency":"USD"}}}`, "budget.max_list_cost.amount", "positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p SessionUpdateParams
			err := json.Unmarshal([]byte(tc.body), &p)
			if err == nil {
				err = p.Validate()
			}
			wantInvalid(t, err, tc.path, tc.want)
		})
	}
}

// The add-resource body is a file only; mount_path optional.
func TestDecodeFileResourceParams(t *testing.T) {
	sdk := anthropic.BetaSessionResourceAddParams{BetaManagedAgentsFileResourceParams: anthropic.BetaManagedAgentsFileResourceParams{FileID: "file_1"}}
	r, err := DecodeFileResourceParams(mustJSON(t, sdk))
	if err != nil || r.FileID != "file_1" || r.EffectiveMountPath() != "/mnt/session/uploads/file_1" {
		t.Fatalf("r = %+v, err = %v", r, err)
	}
	_, err = DecodeFileResourceParams([]byte(`{"type":"github_repository","url":"https://github.com/a/b"}`))
	wantInvalid(t, err, "type", "only \"file\"")
	_, err = DecodeFileResourceParams([]byte(`{"type":"file","file_id":"f","mount_path":"rel"}`))
	wantInvalid(t, err, "mount_path", "absolute")
}

// The session object carries every required field, [] and {} for
// empty collections and null for the unset nullable ones, as the SDK reads
// it.
func TestSessionMarshalSDK(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 123456000, time.UTC)
	t.Run("empty", func(t *testing.T) {
		s := Session{ID: "sesn_1", Agent: SessionAgent{ID: "agent_1", Name: "a", Model: ModelConfig{ID: "claude-opus-4-7", Speed: "standard"}, Version: 1},
			CreatedAt: now, UpdatedAt: now, EnvironmentID: "env_1", Status: SessionIdle}
		b := mustJSON(t, s)
		var raw map[string]json.RawMessage
		_ = json.Unmarshal(b, &raw)
		for k, want := range map[string]string{
			"type": `"session"`, "metadata": `{}`, "outcome_evaluations": `[]`, "resources": `[]`, "vault_ids": `[]`,
			"archived_at": `null`, "budget": `null`, "title": `null`, "deployment_id": `null`,
		} {
			if string(raw[k]) != want {
				t.Errorf("%s = %s, want %s", k, raw[k], want)
			}
		}
		var got anthropic.BetaManagedAgentsSession
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		requirePresent(t, "session", got)
		requirePresent(t, "session.agent", got.Agent)
		requirePresent(t, "session.usage", got.Usage)
		if !isNull(got.JSON.ArchivedAt) || !isNull(got.JSON.Budget) || !isNull(got.JSON.Title) || !isNull(got.Agent.JSON.Multiagent) || !isNull(got.Agent.JSON.System) {
			t.Errorf("nullable fields not null: %s", b)
		}
		if got.Agent.ExecutionIdentity.Type != "service_account" || got.Agent.Type != "agent" || got.Agent.Tools == nil {
			t.Errorf("agent = %s", got.Agent.RawJSON())
		}
		if !isNull(got.Usage.JSON.ListCost) || !got.Usage.JSON.InputTokens.Valid() || !got.Stats.JSON.ActiveSeconds.Valid() {
			t.Errorf("usage/stats = %s %s", got.Usage.RawJSON(), got.Stats.RawJSON())
		}
	})
	t.Run("full", func(t *testing.T) {
		title, dep, expl := "T", "depl_1", "good"
		s := Session{
			ID: "sesn_1", Status: SessionRunning, EnvironmentID: "env_1", Title: &title, DeploymentID: &dep,
			Agent:     SessionAgentFrom(Agent{ID: "agent_1", Name: "a", Version: 2, System: ptr("sys"), Model: ModelConfig{ID: "m", Speed: "fast"}, Tools: []AgentTool{{Custom: &CustomTool{Type: "custom", Name: "lookup", Description: "d", InputSchema: json.RawMessage(`{"type":"object"}`)}}}}),
			CreatedAt: now, UpdatedAt: now.Add(time.Second), ArchivedAt: &now,
			Budget:   &BudgetLimit{MaxListCost: MonetaryAmount{"2500", "USD"}},
			Metadata: Metadata{"k": "v"},
			VaultIDs: []string{"vlt_1"},
			Stats:    SessionStats{ActiveSeconds: 1.5, DurationSeconds: 10},
			Usage:    SessionUsage{InputTokens: 10, OutputTokens: 20, CacheReadInputTokens: 3, CacheCreation: CacheCreationUsage{Ephemeral5mInputTokens: 4}, ListCost: &MonetaryAmount{"7", "USD"}},
			Resources: []SessionResource{
				{Type: ResourceFile, ID: "sesrsc_1", FileID: "file_1", MountPath: "/mnt/session/uploads/file_1", CreatedAt: now, UpdatedAt: now},
				{Type: ResourceGitHubRepository, ID: "sesrsc_2", URL: "https://github.com/a/b", MountPath: "/workspace/b", Checkout: &Checkout{Type: CheckoutCommit, SHA: strings.Repeat("a", 40)}, CreatedAt: now, UpdatedAt: now},
				{Type: ResourceGitHubRepository, ID: "sesrsc_3", URL: "https://github.com/a/c", MountPath: "/workspace/c", CreatedAt: now, UpdatedAt: now},
				{Type: ResourceMemoryStore, ID: "sesrsc_4", MemoryStoreID: "memstore_1", Access: ptr(AccessReadOnly), Name: ptr("notes"), MountPath: "/mnt/memory/notes", CreatedAt: now, UpdatedAt: now},
			},
			OutcomeEvaluations: []OutcomeEvaluation{{OutcomeID: "outc_1", Description: "d", Iteration: 1, Result: OutcomeSatisfied, Explanation: &expl, CompletedAt: &now}, {OutcomeID: "outc_2", Description: "e", Result: OutcomePending}},
		}
		b := mustJSON(t, s)
		var got anthropic.BetaManagedAgentsSession
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		requirePresent(t, "session", got)
		if got.ID != "sesn_1" || got.Status != "running" || got.Title != "T" || got.DeploymentID != "depl_1" || !got.ArchivedAt.Equal(now) || !got.UpdatedAt.Equal(now.Add(time.Second)) {
			t.Errorf("session = %s", b)
		}
		if got.Agent.ID != "agent_1" || got.Agent.Version != 2 || got.Agent.System != "sys" || got.Agent.Model.Speed != "fast" || got.Agent.Tools[0].Name != "lookup" {
			t.Errorf("agent = %s", got.Agent.RawJSON())
		}
		if got.Budget.Type != "limit" || got.Budget.MaxListCost.Amount != "2500" || got.Metadata["k"] != "v" || got.VaultIDs[0] != "vlt_1" {
			t.Errorf("budget/metadata/vaults = %s", b)
		}
		if got.Usage.InputTokens != 10 || got.Usage.CacheCreation.Ephemeral5mInputTokens != 4 || got.Usage.ListCost.Amount != "7" || got.Stats.ActiveSeconds != 1.5 {
			t.Errorf("usage = %s", got.Usage.RawJSON())
		}
		f := got.Resources[0].AsFile()
		requirePresent(t, "file resource", f)
		if f.ID != "sesrsc_1" || f.FileID != "file_1" || f.MountPath != "/mnt/session/uploads/file_1" || !f.CreatedAt.Equal(now) {
			t.Errorf("file = %s", f.RawJSON())
		}
		g := got.Resources[1].AsGitHubRepository()
		requirePresent(t, "repo resource", g)
		if g.URL != "https://github.com/a/b" || g.Checkout.AsCommit().Sha != strings.Repeat("a", 40) || strings.Contains(g.RawJSON(), "authorization_token") {
			t.Errorf("repo = %s", g.RawJSON())
		}
		if g3 := got.Resources[2].AsGitHubRepository(); !isNull(g3.JSON.Checkout) {
			t.Errorf("default-branch checkout = %s, want null", g3.RawJSON())
		}
		m := got.Resources[3].AsMemoryStore()
		requirePresent(t, "memory resource", m)
		if m.MemoryStoreID != "memstore_1" || m.Access != "read_only" || m.MountPath != "/mnt/memory/notes" || m.Name != "notes" || !isNull(m.JSON.Instructions) {
			t.Errorf("memory = %s", m.RawJSON())
		}
		oe := got.OutcomeEvaluations
		requirePresent(t, "outcome evaluation", oe[0])
		if oe[0].Type != "outcome_evaluation" || oe[0].Result != "satisfied" || oe[0].Explanation != "good" || !oe[0].CompletedAt.Equal(now) || !isNull(oe[1].JSON.CompletedAt) || !isNull(oe[1].JSON.Explanation) {
			t.Errorf("outcome evaluations = %s", b)
		}
		// The stored form reads back unchanged.
		var back Session
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if b2 := mustJSON(t, back); string(b2) != string(b) {
			t.Errorf("round trip changed the session:\n%s\n%s", b, b2)
		}
	})
}

// Deletion receipts use the documented types.
func TestSessionDeletedReceipts(t *testing.T) {
	var got anthropic.BetaManagedAgentsDeletedSession
	if err := json.Unmarshal(mustJSON(t, Deleted{ID: "sesn_1", Type: TypeSessionDeleted}), &got); err != nil || got.Type != "session_deleted" {
		t.Fatalf("%+v %v", got, err)
	}
	var r anthropic.BetaManagedAgentsDeleteSessionResource
	if err := json.Unmarshal(mustJSON(t, Deleted{ID: "sesrsc_1", Type: TypeSessionResourceDeleted}), &r); err != nil || r.Type != "session_resource_deleted" {
		t.Fatalf("%+v %v", r, err)
	}
}
