package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/testserver"
)

// agtRaw sends a raw JSON request (for what the Go SDK cannot express:
// explicit nulls, bare-string unions, malformed bodies) and decodes the
// JSON answer.
func agtRaw(t *testing.T, s *testserver.Server, method, path, body string) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	resp := s.Do(t, method, path, rd, http.Header{"Content-Type": {"application/json"}})
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: non-JSON answer %d: %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, m, resp.Header
}

// agtErrMsg returns error.message of an error envelope.
func agtErrMsg(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func agtNew(t *testing.T, c anthropic.Client, name string) *anthropic.BetaManagedAgentsAgent {
	t.Helper()
	a, err := c.Beta.Agents.New(context.Background(), anthropic.BetaAgentNewParams{
		Name:  name,
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeOpus4_8},
	})
	if err != nil {
		t.Fatalf("create agent %q: %v", name, err)
	}
	return a
}

// TestAgentsCreateAndGet covers create with every field through the SDK and
// the resolved response shapes: a flat agent, the model as string or
// object, toolsets with their defaults and per-tool configs, MCP servers.
func TestAgentsCreateAndGet(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()

	a, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:        "Coding Assistant",
		Description: anthropic.String("writes code"),
		System:      anthropic.String("You are helpful."),
		Model: anthropic.BetaManagedAgentsModelConfigParams{
			ID:           anthropic.BetaManagedAgentsModelClaudeOpus4_8,
			Speed:        anthropic.BetaManagedAgentsModelConfigParamsSpeedFast,
			Effort:       anthropic.BetaManagedAgentsModelConfigParamsEffortUnion{OfBetaManagedAgentsModelConfigEffortBetaManagedAgentsEffortLevel: anthropic.String("medium")},
			InferenceGeo: anthropic.String("us"),
		},
		Tools: []anthropic.BetaAgentNewParamsToolUnion{
			{OfAgentToolset20260401: &anthropic.BetaManagedAgentsAgentToolset20260401Params{
				// Allowlist form: everything off, then bash and read on.
				DefaultConfig: anthropic.BetaManagedAgentsAgentToolsetDefaultConfigParams{Enabled: anthropic.Bool(false)},
				Configs: []anthropic.BetaManagedAgentsAgentToolConfigParamsUnion{
					{OfBash: &anthropic.BetaManagedAgentsBashToolConfigParams{
						Enabled:          anthropic.Bool(true),
						PermissionPolicy: anthropic.BetaManagedAgentsBashToolConfigParamsPermissionPolicyUnion{OfAlwaysAsk: &anthropic.BetaManagedAgentsAlwaysAskPolicyParam{}},
					}},
					{OfRead: &anthropic.BetaManagedAgentsReadToolConfigParams{Enabled: anthropic.Bool(true)}},
					{OfWebSearch: &anthropic.BetaManagedAgentsWebSearchToolConfigParams{
						AllowedDomains: []string{"docs.example.com"},
						UserLocation:   anthropic.BetaManagedAgentsUserLocationParam{Country: anthropic.String("DE")},
					}},
				},
			}},
			{OfMCPToolset: &anthropic.BetaManagedAgentsMCPToolsetParams{
				MCPServerName: "github",
				Configs: []anthropic.BetaManagedAgentsMCPToolConfigParams{{
					Name:             "create_issue",
					PermissionPolicy: anthropic.BetaManagedAgentsMCPToolConfigParamsPermissionPolicyUnion{OfAlwaysAllow: &anthropic.BetaManagedAgentsAlwaysAllowPolicyParam{}},
				}},
			}},
			{OfCustom: &anthropic.BetaManagedAgentsCustomToolParams{
				Name:        "get_weather",
				Description: "Get the weather",
				InputSchema: anthropic.BetaManagedAgentsCustomToolInputSchemaParam{
					Properties: map[string]any{"city": map[string]any{"type": "string"}},
					Required:   []string{"city"},
				},
			}},
		},
		MCPServers: []anthropic.BetaManagedAgentsURLMCPServerParams{{Name: "github", URL: "https://mcp.example.com/github"}},
		Skills: []anthropic.BetaManagedAgentsSkillParamsUnion{
			anthropic.BetaManagedAgentsSkillParamsOfAnthropic("xlsx"),
			{OfCustom: &anthropic.BetaManagedAgentsCustomSkillParams{SkillID: "skill_01abc", Version: anthropic.String("3")}},
		},
		ExecutionIdentity: anthropic.BetaManagedAgentsExecutionIdentityParamsOfAWSRole("arn:aws:iam::123456789012:role/runner"),
		Metadata:          map[string]string{"team": "infra"},
	})
	if err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, a *anthropic.BetaManagedAgentsAgent) {
		t.Helper()
		if !strings.HasPrefix(a.ID, "agent_") || a.Version != 1 || a.Name != "Coding Assistant" || a.Description != "writes code" || a.System != "You are helpful." {
			t.Fatalf("identity fields: %s", a.RawJSON())
		}
		if a.Model.ID != "claude-opus-4-8" || a.Model.Speed != "fast" || a.Model.Effort.Type != "medium" || a.Model.InferenceGeo != "us" {
			t.Fatalf("model: %+v", a.Model)
		}
		if len(a.Tools) != 3 {
			t.Fatalf("tools: %s", a.RawJSON())
		}
		ts := a.Tools[0].AsAgentToolset20260401()
		if a.Tools[0].Type != "agent_toolset_20260401" || ts.DefaultConfig.Enabled || ts.DefaultConfig.PermissionPolicy.Type != "always_allow" {
			t.Fatalf("toolset default_config: %s", a.Tools[0].RawJSON())
		}
		want := map[string]struct {
			enabled bool
			policy  string
		}{
			"bash": {true, "always_ask"}, "read": {true, "always_allow"}, "write": {false, "always_allow"}, "edit": {false, "always_allow"},
			"glob": {false, "always_allow"}, "grep": {false, "always_allow"}, "web_fetch": {false, "always_allow"}, "web_search": {false, "always_allow"},
		}
		if len(ts.Configs) != 8 {
			t.Fatalf("want 8 resolved configs, got %d", len(ts.Configs))
		}
		for i, name := range []string{"bash", "read", "write", "edit", "glob", "grep", "web_fetch", "web_search"} {
			cfg := ts.Configs[i]
			w := want[name]
			if cfg.Name != name || cfg.Type != name || cfg.Enabled != w.enabled || cfg.PermissionPolicy.Type != w.policy {
				t.Fatalf("configs[%d] = %s, want %s %+v", i, cfg.RawJSON(), name, w)
			}
		}
		if ws := ts.Configs[7]; len(ws.AllowedDomains) != 1 || ws.UserLocation.Country != "DE" || ws.UserLocation.Type != "approximate" {
			t.Fatalf("web_search config: %s", ws.RawJSON())
		}
		if !strings.Contains(ts.Configs[6].RawJSON(), `"url_sources":null`) {
			t.Fatalf("web_fetch must carry url_sources: null: %s", ts.Configs[6].RawJSON())
		}
		mcp := a.Tools[1].AsMCPToolset()
		if mcp.MCPServerName != "github" || !mcp.DefaultConfig.Enabled || mcp.DefaultConfig.PermissionPolicy.Type != "always_ask" ||
			len(mcp.Configs) != 1 || mcp.Configs[0].Name != "create_issue" || mcp.Configs[0].PermissionPolicy.Type != "always_allow" || !mcp.Configs[0].Enabled {
			t.Fatalf("mcp toolset: %s", a.Tools[1].RawJSON())
		}
		ct := a.Tools[2].AsCustom()
		if ct.Name != "get_weather" || ct.Description != "Get the weather" || ct.InputSchema.Type != "object" || len(ct.InputSchema.Required) != 1 || ct.InputSchema.Properties["city"] == nil {
			t.Fatalf("custom tool: %s", a.Tools[2].RawJSON())
		}
		if len(a.MCPServers) != 1 || a.MCPServers[0].Type != "url" || a.MCPServers[0].URL != "https://mcp.example.com/github" {
			t.Fatalf("mcp_servers: %+v", a.MCPServers)
		}
		if len(a.Skills) != 2 || a.Skills[0].Type != "anthropic" || a.Skills[0].SkillID != "xlsx" || a.Skills[0].Version != "latest" ||
			a.Skills[1].Type != "custom" || a.Skills[1].Version != "3" {
			t.Fatalf("skills: %s", a.RawJSON())
		}
		if a.ExecutionIdentity.Type != "aws_role" || a.ExecutionIdentity.RoleARN != "arn:aws:iam::123456789012:role/runner" {
			t.Fatalf("execution_identity: %+v", a.ExecutionIdentity)
		}
		if a.Metadata["team"] != "infra" || a.Type != "agent" || a.CreatedAt.IsZero() || !a.UpdatedAt.Equal(a.CreatedAt) {
			t.Fatalf("metadata/type/timestamps: %s", a.RawJSON())
		}
		for _, k := range []string{`"multiagent":null`, `"archived_at":null`} {
			if !strings.Contains(a.RawJSON(), k) {
				t.Fatalf("missing %s in %s", k, a.RawJSON())
			}
		}
	}
	check(t, a)
	got, err := c.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, got)
	if got.RawJSON() != a.RawJSON() {
		t.Fatalf("get differs from create:\n%s\n%s", got.RawJSON(), a.RawJSON())
	}
	got, err = c.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{Version: anthropic.Int(1)})
	if err != nil {
		t.Fatal(err)
	}
	check(t, got)

	// A minimal agent gets every required field with its default.
	st, m, _ := agtRaw(t, s, "POST", "/v1/agents", `{"name":"min","model":"claude-sonnet-4-6"}`)
	if st != 200 {
		t.Fatalf("bare-string model: %d %v", st, m)
	}
	model, _ := m["model"].(map[string]any)
	effort, _ := model["effort"].(map[string]any)
	if model["id"] != "claude-sonnet-4-6" || model["speed"] != "standard" || effort["type"] != "high" {
		t.Fatalf("model not resolved to object form: %v", m["model"])
	}
	for k, want := range map[string]string{"tools": "[]", "mcp_servers": "[]", "skills": "[]", "metadata": "{}", "description": "null", "system": "null",
		"multiagent": "null", "archived_at": "null", "execution_identity": `{"type":"service_account"}`, "version": "1", "type": `"agent"`} {
		b, _ := json.Marshal(m[k])
		if _, ok := m[k]; !ok || string(b) != want {
			t.Errorf("%s = %s, want %s", k, b, want)
		}
	}

	// A bare toolset enables all eight tools with always_allow;
	// a per-tool entry without "type" (what the Go SDK sends) is accepted
	// and inherits what it leaves out.
	st, m, _ = agtRaw(t, s, "POST", "/v1/agents", `{"name":"ts","model":"claude-opus-4-8","tools":[
		{"type":"agent_toolset_20260401","default_config":{"permission_policy":{"type":"always_ask"}},"configs":[{"name":"grep","enabled":false}]}]}`)
	if st != 200 {
		t.Fatalf("toolset: %d %v", st, m)
	}
	cfgs := m["tools"].([]any)[0].(map[string]any)["configs"].([]any)
	for _, x := range cfgs {
		cfg := x.(map[string]any)
		pol := cfg["permission_policy"].(map[string]any)["type"]
		if pol != "always_ask" || cfg["enabled"] != (cfg["name"] != "grep") {
			t.Fatalf("inheritance: %v", cfg)
		}
	}

	_, err = c.Beta.Agents.Get(ctx, "agent_011CZkYpogX7uDKUyvBTophP", anthropic.BetaAgentGetParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{Version: anthropic.Int(2)})
	apiErr(t, err, 404, "not_found_error")
	st, m, _ = agtRaw(t, s, "GET", "/v1/agents/"+a.ID+"?version=0", "")
	if st != 400 || !strings.HasPrefix(agtErrMsg(m), "version:") {
		t.Fatalf("version=0: %d %v", st, m)
	}
}

// TestAgentsUpdateVersioning covers versioning and update semantics
// (immutable versions, optimistic concurrency, version history).
func TestAgentsUpdateVersioning(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()

	a, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:        "v",
		Description: anthropic.String("d1"),
		System:      anthropic.String("s1"),
		Model: anthropic.BetaManagedAgentsModelConfigParams{
			ID: "claude-opus-4-8", Effort: anthropic.BetaManagedAgentsModelConfigParamsEffortUnion{OfBetaManagedAgentsEffortLow: &anthropic.BetaManagedAgentsEffortLowParam{}},
			InferenceGeo: anthropic.String("eu"),
		},
		Metadata: map[string]string{"a": "1", "b": "2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Model.Effort.Type != "low" {
		t.Fatalf("effort object form: %+v", a.Model)
	}

	// An update naming the current version publishes v2.
	time.Sleep(2 * time.Millisecond)
	u, err := c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{Version: anthropic.Int(1), System: anthropic.String("s2")})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != a.ID || u.Version != 2 || u.System != "s2" || u.Description != "d1" || u.Name != "v" || !u.CreatedAt.Equal(a.CreatedAt) || !u.UpdatedAt.After(a.UpdatedAt) {
		t.Fatalf("update: %s", u.RawJSON())
	}

	// An update that changes nothing publishes nothing.
	for _, p := range []anthropic.BetaAgentUpdateParams{
		{},
		{Version: anthropic.Int(2)},
		{System: anthropic.String("s2"), Name: anthropic.String("v"), Metadata: map[string]string{"a": "1"}},
	} {
		n, err := c.Beta.Agents.Update(ctx, a.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		if n.Version != 2 || !n.UpdatedAt.Equal(u.UpdatedAt) {
			t.Fatalf("no-op update bumped the version: %s", n.RawJSON())
		}
	}

	// A stale version is a deterministic 409 that the SDK must not retry.
	_, err = c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{Version: anthropic.Int(1), System: anthropic.String("s3")})
	e := apiErr(t, err, 409, "")
	if !strings.Contains(e.RawJSON(), "version") {
		t.Fatalf("409 should name version: %s", e.RawJSON())
	}
	st, _, hdr := agtRaw(t, s, "POST", "/v1/agents/"+a.ID, `{"version":1,"system":"s3"}`)
	if st != 409 || hdr.Get("x-should-retry") != "false" {
		t.Fatalf("stale version: %d x-should-retry=%q", st, hdr.Get("x-should-retry"))
	}

	// Explicit nulls (other SDKs send them): description null clears,
	// metadata null deletes one key; model omitting effort keeps it and
	// omitting inference_geo clears it.
	st, m, _ := agtRaw(t, s, "POST", "/v1/agents/"+a.ID, `{"description":null,"metadata":{"a":null,"c":"3"},"model":{"id":"claude-sonnet-4-6"}}`)
	if st != 200 {
		t.Fatalf("null update: %d %v", st, m)
	}
	md, _ := json.Marshal(m["metadata"])
	model := m["model"].(map[string]any)
	if m["version"] != 3.0 || m["description"] != nil || string(md) != `{"b":"2","c":"3"}` || m["system"] != "s2" ||
		model["id"] != "claude-sonnet-4-6" || model["effort"].(map[string]any)["type"] != "low" || model["inference_geo"] != nil {
		t.Fatalf("null update result: %v", m)
	}
	// "" clears like null (SDK docs), and name cannot be cleared.
	st, m, _ = agtRaw(t, s, "POST", "/v1/agents/"+a.ID, `{"system":""}`)
	if st != 200 || m["system"] != nil || m["version"] != 4.0 {
		t.Fatalf("empty system: %d %v", st, m)
	}
	st, m, _ = agtRaw(t, s, "POST", "/v1/agents/"+a.ID, `{"name":null}`)
	if st != 400 || !strings.HasPrefix(agtErrMsg(m), "name:") {
		t.Fatalf("name null: %d %v", st, m)
	}

	// History is immutable and listed newest first.
	v1, err := c.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{Version: anthropic.Int(1)})
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.System != "s1" || v1.Description != "d1" || v1.Metadata["a"] != "1" || !v1.UpdatedAt.Equal(a.UpdatedAt) {
		t.Fatalf("version 1 snapshot: %s", v1.RawJSON())
	}
	latest, err := c.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if latest.Version != 4 {
		t.Fatalf("latest: %d", latest.Version)
	}
	page, err := c.Beta.Agents.Versions.List(ctx, a.ID, anthropic.BetaAgentVersionListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, v := range page.Data {
		if v.ID != a.ID {
			t.Fatalf("version item id %s", v.ID)
		}
		got = append(got, v.Version)
	}
	if fmt.Sprint(got) != "[4 3 2 1]" || page.NextPage != "" {
		t.Fatalf("versions = %v next=%q", got, page.NextPage)
	}
	if page.Data[2].System != "s2" || !page.Data[2].UpdatedAt.Equal(u.UpdatedAt) {
		t.Fatalf("version 2 in list: %s", page.Data[2].RawJSON())
	}

	// Replacing arrays: tools null clears them; mcp_servers null too.
	_, err = c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{
		Tools: []anthropic.BetaAgentUpdateParamsToolUnion{
			{OfMCPToolset: &anthropic.BetaManagedAgentsMCPToolsetParams{MCPServerName: "x"}},
		},
		MCPServers: []anthropic.BetaManagedAgentsURLMCPServerParams{{Name: "x", URL: "https://x.example.com/mcp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Removing the servers alone leaves a toolset pointing nowhere.
	st, m, _ = agtRaw(t, s, "POST", "/v1/agents/"+a.ID, `{"mcp_servers":null}`)
	if st != 400 || !strings.HasPrefix(agtErrMsg(m), "tools[0].mcp_server_name:") {
		t.Fatalf("dangling mcp_toolset: %d %v", st, m)
	}
	st, m, _ = agtRaw(t, s, "POST", "/v1/agents/"+a.ID, `{"mcp_servers":[],"tools":null}`)
	if st != 200 || len(m["tools"].([]any)) != 0 || len(m["mcp_servers"].([]any)) != 0 || m["version"] != 6.0 {
		t.Fatalf("clear tools: %d %v", st, m)
	}

	_, err = c.Beta.Agents.Update(ctx, "agent_011CZkYpogX7uDKUyvBTophP", anthropic.BetaAgentUpdateParams{System: anthropic.String("x")})
	apiErr(t, err, 404, "not_found_error")
}

// TestAgentsArchive covers archiving: one-way, returns the agent with
// archived_at, and leaves it read-only.
func TestAgentsArchive(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	keep := agtNew(t, c, "keep")
	a := agtNew(t, c, "gone")
	if _, err := c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{System: anthropic.String("x")}); err != nil {
		t.Fatal(err)
	}

	ar, err := c.Beta.Agents.Archive(ctx, a.ID, anthropic.BetaAgentArchiveParams{})
	if err != nil {
		t.Fatal(err)
	}
	if ar.ArchivedAt.IsZero() || ar.Version != 2 || ar.System != "x" {
		t.Fatalf("archive: %s", ar.RawJSON())
	}
	// Archive is one-way and idempotent: a retried archive gets the same object.
	again, err := c.Beta.Agents.Archive(ctx, a.ID, anthropic.BetaAgentArchiveParams{})
	if err != nil {
		t.Fatal(err)
	}
	if !again.ArchivedAt.Equal(ar.ArchivedAt) {
		t.Fatalf("re-archive changed archived_at: %v vs %v", again.ArchivedAt, ar.ArchivedAt)
	}
	// An archived agent is read-only.
	_, err = c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{System: anthropic.String("y")})
	apiErr(t, err, 409, "")

	got, err := c.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{})
	if err != nil || !got.ArchivedAt.Equal(ar.ArchivedAt) || got.System != "x" {
		t.Fatalf("get archived: %v %v", err, got)
	}
	vs, err := c.Beta.Agents.Versions.List(ctx, a.ID, anthropic.BetaAgentVersionListParams{})
	if err != nil || len(vs.Data) != 2 || !vs.Data[1].ArchivedAt.Equal(ar.ArchivedAt) {
		t.Fatalf("versions of archived agent: %v %v", err, vs)
	}

	list, err := c.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
	if err != nil || len(list.Data) != 1 || list.Data[0].ID != keep.ID {
		t.Fatalf("default list must hide archived agents: %v %+v", err, list)
	}
	list, err = c.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{IncludeArchived: anthropic.Bool(true)})
	if err != nil || len(list.Data) != 2 || list.Data[0].ID != a.ID || list.Data[0].ArchivedAt.IsZero() {
		t.Fatalf("include_archived list: %v %+v", err, list)
	}
	_, err = c.Beta.Agents.Archive(ctx, "agent_011CZkYpogX7uDKUyvBTophP", anthropic.BetaAgentArchiveParams{})
	apiErr(t, err, 404, "not_found_error")
}

// TestAgentsValidation checks that bad input is a 400 naming the field and
// that nothing is written.
func TestAgentsValidation(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	base := agtNew(t, c, "base")
	multi := func() string {
		st, m, _ := agtRaw(t, s, "POST", "/v1/agents", `{"name":"coord","model":"claude-opus-4-8","multiagent":{"type":"coordinator","agents":["`+base.ID+`"]}}`)
		if st != 200 {
			t.Fatalf("coordinator: %d %v", st, m)
		}
		return m["id"].(string)
	}()

	long := func(n int) string { return strings.Repeat("x", n) }
	many := func(n int, item func(i int) string) string {
		var parts []string
		for i := 0; i < n; i++ {
			parts = append(parts, item(i))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	meta := func(n int) string {
		m := map[string]string{}
		for i := 0; i < n; i++ {
			m[fmt.Sprintf("k%d", i)] = "v"
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	custom := func(i int) string {
		return fmt.Sprintf(`{"type":"custom","name":"t%d","description":"d","input_schema":{"type":"object"}}`, i)
	}
	server := func(i int) string {
		return fmt.Sprintf(`{"type":"url","name":"s%d","url":"https://s%d.example.com"}`, i, i)
	}
	toolset := func(i int) string { return fmt.Sprintf(`{"type":"mcp_toolset","mcp_server_name":"s%d"}`, i) }
	skill := func(i int) string { return fmt.Sprintf(`{"type":"anthropic","skill_id":"s%d"}`, i) }
	const m = `"model":"claude-opus-4-8"`

	cases := []struct {
		name, body, prefix string
	}{
		{"malformed JSON", `{"name":`, "malformed JSON"},
		{"not an object", `[1]`, "request body must be a JSON object"},
		{"name required", `{` + m + `}`, "name: field required"},
		{"model required", `{"name":"x"}`, "model: field required"},
		{"name empty", `{"name":"",` + m + `}`, "name: must not be empty"},
		{"name 257", `{"name":"` + long(257) + `",` + m + `}`, "name: must be at most 256"},
		{"name wrong type", `{"name":5,` + m + `}`, "name: expected a string"},
		{"description 2049", `{"name":"x",` + m + `,"description":"` + long(2049) + `"}`, "description: must be at most 2048"},
		{"system 100001", `{"name":"x",` + m + `,"system":"` + long(100001) + `"}`, "system: must be at most 100000"},
		{"unknown field", `{"name":"x",` + m + `,"colour":"red"}`, "colour: unknown field"},
		{"model empty", `{"name":"x","model":""}`, "model: must not be empty"},
		{"model object without id", `{"name":"x","model":{"speed":"fast"}}`, "model.id: field required"},
		{"model speed enum", `{"name":"x","model":{"id":"m","speed":"warp"}}`, "model.speed: unknown value"},
		{"model effort enum", `{"name":"x","model":{"id":"m","effort":"huge"}}`, "model.effort: unknown value"},
		{"model effort object enum", `{"name":"x","model":{"id":"m","effort":{"type":"huge"}}}`, "model.effort.type: unknown value"},
		{"model unknown field", `{"name":"x","model":{"id":"m","temperature":1}}`, "model.temperature: unknown field"},
		{"fast on sonnet", `{"name":"x","model":{"id":"claude-sonnet-4-6","speed":"fast"}}`, "model.speed:"},
		{"129 tools", `{"name":"x",` + m + `,"tools":` + many(129, custom) + `}`, "tools: at most 128 entries"},
		{"tools not array", `{"name":"x",` + m + `,"tools":{}}`, "tools: expected an array"},
		{"tool type unknown", `{"name":"x",` + m + `,"tools":[` + custom(0) + `,{"type":"foo"}]}`, `tools[1].type: unknown value "foo"`},
		{"tool type missing", `{"name":"x",` + m + `,"tools":[{"name":"a"}]}`, "tools[0].type: field required"},
		{"toolset twice", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401"},{"type":"agent_toolset_20260401"}]}`, "tools[1].type:"},
		{"unknown toolset tool", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"rm"}]}]}`, "tools[0].configs[0].name: unknown value"},
		{"toolset config type mismatch", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"bash","type":"read"}]}]}`, "tools[0].configs[0].type:"},
		{"toolset duplicate config", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"bash"},{"name":"bash"}]}]}`, "tools[0].configs[1].name: duplicate"},
		{"policy unknown", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","default_config":{"permission_policy":{"type":"sometimes"}}}]}`, "tools[0].default_config.permission_policy.type: unknown value"},
		{"policy wrong type", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"bash","permission_policy":"always_ask"}]}]}`, "tools[0].configs[0].permission_policy: expected an object"},
		{"enabled wrong type", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","default_config":{"enabled":"yes"}}]}`, "tools[0].default_config.enabled: expected a boolean"},
		{"web field on bash", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"bash","allowed_domains":["a.com"]}]}]}`, "tools[0].configs[0].allowed_domains: unknown field"},
		{"domains both", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"web_fetch","allowed_domains":["a.com"],"blocked_domains":["b.com"]}]}]}`, "tools[0].configs[0].allowed_domains: cannot be combined"},
		{"domains empty", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"web_fetch","allowed_domains":[]}]}]}`, "tools[0].configs[0].allowed_domains: must not be empty"},
		{"domain with scheme", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"web_fetch","blocked_domains":["https://a.com"]}]}]}`, "tools[0].configs[0].blocked_domains[0]:"},
		{"url_sources client names a missing tool", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"web_fetch","url_sources":{"client_tool_results":{"type":"only","tools":[{"type":"tool_reference","name":"nope"}]}}}]}]}`, "tools[0].configs[0].url_sources.client_tool_results.tools[0].name:"},
		{"url_sources server names", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"web_fetch","url_sources":{"server_tool_results":{"type":"except","tools":[{"name":"bash"}]}}}]}]}`, "tools[0].configs[0].url_sources.server_tool_results.tools[0].name:"},
		{"url_sources user_input only", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"web_fetch","url_sources":{"user_input":{"type":"only","tools":[{"name":"a"}]}}}]}]}`, "tools[0].configs[0].url_sources.user_input.type: unknown value"},
		{"user_location country", `{"name":"x",` + m + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"web_search","user_location":{"country":"germany"}}]}]}`, "tools[0].configs[0].user_location.country:"},
		{"custom tool name regex", `{"name":"x",` + m + `,"tools":[{"type":"custom","name":"has space","description":"d","input_schema":{"type":"object"}}]}`, "tools[0].name:"},
		{"custom tool name 129", `{"name":"x",` + m + `,"tools":[{"type":"custom","name":"` + long(129) + `","description":"d","input_schema":{"type":"object"}}]}`, "tools[0].name:"},
		{"custom tool without schema", `{"name":"x",` + m + `,"tools":[{"type":"custom","name":"a","description":"d"}]}`, "tools[0].input_schema: field required"},
		{"custom tool schema type", `{"name":"x",` + m + `,"tools":[{"type":"custom","name":"a","description":"d","input_schema":{"type":"string"}}]}`, "tools[0].input_schema.type:"},
		{"custom tool duplicate", `{"name":"x",` + m + `,"tools":[` + custom(1) + `,` + custom(1) + `]}`, "tools[1].name: duplicate"},
		{"21 servers", `{"name":"x",` + m + `,"mcp_servers":` + many(21, server) + `,"tools":` + many(21, toolset) + `}`, "mcp_servers: at most 20"},
		{"duplicate server", `{"name":"x",` + m + `,"mcp_servers":[` + server(1) + `,` + server(1) + `],"tools":[` + toolset(1) + `]}`, "mcp_servers[1].name: duplicate"},
		{"server without toolset", `{"name":"x",` + m + `,"mcp_servers":[` + server(1) + `]}`, "mcp_servers[0].name:"},
		{"toolset without server", `{"name":"x",` + m + `,"tools":[` + toolset(1) + `]}`, "tools[0].mcp_server_name:"},
		{"server url", `{"name":"x",` + m + `,"mcp_servers":[{"name":"a","url":"ftp://a"}],"tools":[{"type":"mcp_toolset","mcp_server_name":"a"}]}`, "mcp_servers[0].url:"},
		{"server type", `{"name":"x",` + m + `,"mcp_servers":[{"type":"stdio","name":"a","url":"https://a"}]}`, "mcp_servers[0].type: unknown value"},
		{"two toolsets one server", `{"name":"x",` + m + `,"mcp_servers":[` + server(1) + `],"tools":[` + toolset(1) + `,` + toolset(1) + `]}`, "tools[1].mcp_server_name:"},
		{"21 skills", `{"name":"x",` + m + `,"skills":` + many(21, skill) + `}`, "skills: at most 20"},
		{"skill type", `{"name":"x",` + m + `,"skills":[{"type":"builtin","skill_id":"a"}]}`, "skills[0].type: unknown value"},
		{"skill id missing", `{"name":"x",` + m + `,"skills":[{"type":"custom"}]}`, "skills[0].skill_id: field required"},
		{"17 metadata pairs", `{"name":"x",` + m + `,"metadata":` + meta(17) + `}`, "metadata: at most 16"},
		{"metadata key 65", `{"name":"x",` + m + `,"metadata":{` + q(long(65)) + `:"v"}}`, "metadata key: must be at most 64"},
		{"metadata value 513", `{"name":"x",` + m + `,"metadata":{"k":` + q(long(513)) + `}}`, "metadata.k: value must be at most 512"},
		{"metadata value type", `{"name":"x",` + m + `,"metadata":{"k":1}}`, "metadata.k: expected a string"},
		{"identity type", `{"name":"x",` + m + `,"execution_identity":{"type":"gcp"}}`, "execution_identity.type: unknown value"},
		{"identity arn", `{"name":"x",` + m + `,"execution_identity":{"type":"aws_role","role_arn":"nope"}}`, "execution_identity.role_arn:"},
		{"identity arn 2049", `{"name":"x",` + m + `,"execution_identity":{"type":"aws_role","role_arn":"arn:aws:iam::1:role/` + long(2040) + `"}}`, "execution_identity.role_arn: must be at most 2048"},
		{"multiagent type", `{"name":"x",` + m + `,"multiagent":{"type":"swarm"}}`, "multiagent.type: unknown value"},
		{"empty roster", `{"name":"x",` + m + `,"multiagent":{"type":"coordinator","agents":[]}}`, "multiagent.agents: must have between 1 and 20"},
		{"21 roster entries", `{"name":"x",` + m + `,"multiagent":{"type":"coordinator","agents":` + many(21, func(int) string { return `{"type":"self"}` }) + `}}`, "multiagent.agents: must have between 1 and 20"},
		{"roster missing agent", `{"name":"x",` + m + `,"multiagent":{"type":"coordinator","agents":["agent_011CZkYpogX7uDKUyvBTophP"]}}`, "multiagent.agents[0]:"},
		{"roster duplicate", `{"name":"x",` + m + `,"multiagent":{"type":"coordinator","agents":["` + base.ID + `",{"type":"agent","id":"` + base.ID + `"}]}}`, "multiagent.agents[1]:"},
		{"roster two selves", `{"name":"x",` + m + `,"multiagent":{"type":"coordinator","agents":[{"type":"self"},{"type":"self"}]}}`, "multiagent.agents[1]:"},
		{"roster multiagent member", `{"name":"x",` + m + `,"multiagent":{"type":"coordinator","agents":["` + multi + `"]}}`, "multiagent.agents[0]:"},
		{"roster version too new", `{"name":"x",` + m + `,"multiagent":{"type":"coordinator","agents":[{"type":"agent","id":"` + base.ID + `","version":9}]}}`, "multiagent.agents[0].version:"},
		{"roster two advisors", `{"name":"x",` + m + `,"multiagent":{"type":"coordinator","agents":[{"type":"advisor","model":"m"},{"type":"advisor","model":"m"}]}}`, "multiagent.agents[1]:"},
		{"enabled advisor needs model", `{"name":"x",` + m + `,"multiagent":{"type":"multiagent_20261001","advisor":{"type":"enabled"}}}`, "multiagent.advisor.model: field required"},
		{"group needs type", `{"name":"x",` + m + `,"multiagent":{"type":"multiagent_20261001","subagents":{"predefined_agents":[]}}}`, "multiagent.subagents.type: field required"},
		{"disabled group takes no fields", `{"name":"x",` + m + `,"multiagent":{"type":"multiagent_20261001","workflows":{"type":"disabled","predefined_agents":[]}}}`, "multiagent.workflows.predefined_agents: unknown field"},
		{"predefined no advisor", `{"name":"x",` + m + `,"multiagent":{"type":"multiagent_20261001","subagents":{"type":"enabled","predefined_agents":[{"type":"advisor","model":"m"}]}}}`, "multiagent.subagents.predefined_agents[0].type: unknown value"},
		{"predefined 21", `{"name":"x",` + m + `,"multiagent":{"type":"multiagent_20261001","subagents":{"type":"enabled","predefined_agents":` + many(21, func(int) string { return `"a"` }) + `}}}`, "multiagent.subagents.predefined_agents: at most 20"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, m, _ := agtRaw(t, s, "POST", "/v1/agents", tc.body)
			if st != 400 {
				t.Fatalf("status %d, want 400: %v", st, m)
			}
			e, _ := m["error"].(map[string]any)
			if e["type"] != "invalid_request_error" || !strings.HasPrefix(agtErrMsg(m), tc.prefix) {
				t.Fatalf("error %v, want message starting %q", m["error"], tc.prefix)
			}
		})
	}

	// The same rules hold for update, and a rejected update writes nothing.
	for _, body := range []string{`{"name":""}`, `{"tools":[{"type":"foo"}]}`, `{"version":0}`, `{"version":"1"}`, `{"model":null}`, `{"metadata":` + meta(17) + `}`} {
		st, m, _ := agtRaw(t, s, "POST", "/v1/agents/"+base.ID, body)
		if st != 400 {
			t.Fatalf("update %s: %d %v", body, st, m)
		}
	}
	got, err := c.Beta.Agents.Get(ctx, base.ID, anthropic.BetaAgentGetParams{})
	if err != nil || got.Version != 1 || got.RawJSON() != base.RawJSON() {
		t.Fatalf("failed updates changed the agent: %v %s", err, got.RawJSON())
	}

	// Nothing was written by the failed creates: only base and multi exist.
	list, err := c.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{IncludeArchived: anthropic.Bool(true)})
	if err != nil || len(list.Data) != 2 {
		t.Fatalf("failed creates wrote agents: %v %d", err, len(list.Data))
	}

	// Limits are inclusive.
	st, mm, _ := agtRaw(t, s, "POST", "/v1/agents", `{"name":"`+long(256)+`",`+m+`,"description":"`+long(2048)+`","tools":`+many(128, custom)+
		`,"skills":`+many(20, skill)+`,"metadata":`+meta(16)+`}`)
	if st != 200 || len(mm["tools"].([]any)) != 128 || len(mm["skills"].([]any)) != 20 {
		t.Fatalf("limits must be inclusive: %d %v", st, agtErrMsg(mm))
	}

	// Query validation on list.
	for _, qs := range []string{"limit=0", "limit=101", "include_archived=maybe", "created_at[gte]=yesterday", "page=bogus"} {
		st, m, _ := agtRaw(t, s, "GET", "/v1/agents?"+qs, "")
		if st != 400 {
			t.Fatalf("list ?%s: %d %v", qs, st, m)
		}
	}
}

// TestAgentsWorkspaceIsolation: another workspace cannot see or touch an
// agent.
func TestAgentsWorkspaceIsolation(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	a := agtNew(t, c, "mine")
	other := s.Client(s.CreateKey(t, "wrkspc_other"))

	_, err := other.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{System: anthropic.String("x")})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Agents.Archive(ctx, a.ID, anthropic.BetaAgentArchiveParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Agents.Versions.List(ctx, a.ID, anthropic.BetaAgentVersionListParams{})
	apiErr(t, err, 404, "not_found_error")
	list, err := other.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{IncludeArchived: anthropic.Bool(true)})
	if err != nil || len(list.Data) != 0 {
		t.Fatalf("other workspace lists %v %d agents", err, len(list.Data))
	}
	// Nor can it name the agent in a roster.
	_, err = other.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name: "c", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-opus-4-8"},
		Multiagent: anthropic.BetaManagedAgentsMultiagentParamsOfCoordinator([]anthropic.BetaManagedAgentsMultiagentRosterEntryParamsUnion{{OfString: anthropic.String(a.ID)}}),
	})
	apiErr(t, err, 400, "invalid_request_error")

	// The owner still sees it unchanged.
	got, err := c.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{})
	if err != nil || got.Version != 1 || !got.ArchivedAt.IsZero() {
		t.Fatalf("owner view: %v %v", err, got)
	}
}

// TestAgentsPagination walks agent and version lists with the SDK
// auto-pager.
func TestAgentsPagination(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	var created []*anthropic.BetaManagedAgentsAgent
	for i := 0; i < 25; i++ {
		created = append(created, agtNew(t, c, fmt.Sprintf("a%02d", i)))
	}

	// Default page: 20 newest first, with a cursor.
	page, err := c.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
	if err != nil || len(page.Data) != 20 || page.NextPage == "" || page.Data[0].ID != created[24].ID {
		t.Fatalf("first page: %v len=%d next=%q", err, len(page.Data), page.NextPage)
	}

	pager := c.Beta.Agents.ListAutoPaging(ctx, anthropic.BetaAgentListParams{Limit: anthropic.Int(7)})
	var names []string
	for pager.Next() {
		names = append(names, pager.Current().Name)
	}
	if err := pager.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) != 25 || names[0] != "a24" || names[24] != "a00" {
		t.Fatalf("auto-paged %d agents: %v", len(names), names)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Fatalf("duplicate %s across pages", n)
		}
		seen[n] = true
	}

	// created_at filters are inclusive and combine with paging.
	pager = c.Beta.Agents.ListAutoPaging(ctx, anthropic.BetaAgentListParams{
		Limit:        anthropic.Int(4),
		CreatedAtGte: anthropic.Time(created[10].CreatedAt),
		CreatedAtLte: anthropic.Time(created[19].CreatedAt),
	})
	names = nil
	for pager.Next() {
		names = append(names, pager.Current().Name)
	}
	if err := pager.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) != 10 || names[0] != "a19" || names[9] != "a10" {
		t.Fatalf("created_at range: %v", names)
	}

	// Version history pages too.
	a := created[0]
	for i := 2; i <= 5; i++ {
		if _, err := c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{System: anthropic.String(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	vp := c.Beta.Agents.Versions.ListAutoPaging(ctx, a.ID, anthropic.BetaAgentVersionListParams{Limit: anthropic.Int(2)})
	var versions []int64
	for vp.Next() {
		versions = append(versions, vp.Current().Version)
	}
	if err := vp.Err(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(versions) != "[5 4 3 2 1]" {
		t.Fatalf("versions: %v", versions)
	}
}

// TestAgentsMultiagent covers roster resolution
// and the multiagent_20261001 merge rules of the update endpoint.
func TestAgentsMultiagent(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	b := agtNew(t, c, "b")
	d := agtNew(t, c, "d")
	if _, err := c.Beta.Agents.Update(ctx, d.ID, anthropic.BetaAgentUpdateParams{System: anthropic.String("v2")}); err != nil {
		t.Fatal(err)
	}

	// Bare id → latest, {id, version} pinned, self, advisor.
	coord, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name: "coord", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-opus-4-8"},
		Multiagent: anthropic.BetaManagedAgentsMultiagentParamsOfCoordinator([]anthropic.BetaManagedAgentsMultiagentRosterEntryParamsUnion{
			{OfString: anthropic.String(b.ID)},
			{OfBetaManagedAgentsAgent: &anthropic.BetaManagedAgentsAgentParams{ID: d.ID, Version: anthropic.Int(1)}},
			{OfBetaManagedAgentsMultiagentSelf: &anthropic.BetaManagedAgentsMultiagentSelfParams{}},
			anthropic.BetaManagedAgentsMultiagentRosterEntryParamsOfBetaManagedAgentsAdvisor("claude-opus-4-8"),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	roster := coord.Multiagent.AsCoordinator()
	if coord.Multiagent.Type != "coordinator" || len(roster.Agents) != 4 {
		t.Fatalf("roster: %s", coord.RawJSON())
	}
	want := []string{"agent " + b.ID + " 1", "agent " + d.ID + " 1", "agent " + coord.ID + " 1", "advisor  0 claude-opus-4-8"}
	for i, m := range roster.Agents {
		got := fmt.Sprintf("%s %s %d", m.Type, m.ID, m.Version)
		if m.Type == "advisor" {
			got += " " + m.Model
		}
		if got != want[i] {
			t.Fatalf("roster[%d] = %q, want %q", i, got, want[i])
		}
	}

	// "self" follows the coordinator to each new version, even when the
	// roster itself is not resent.
	u, err := c.Beta.Agents.Update(ctx, coord.ID, anthropic.BetaAgentUpdateParams{System: anthropic.String("s")})
	if err != nil {
		t.Fatal(err)
	}
	if r := u.Multiagent.AsCoordinator(); u.Version != 2 || r.Agents[2].ID != coord.ID || r.Agents[2].Version != 2 || r.Agents[0].Version != 1 {
		t.Fatalf("self after update: %s", u.RawJSON())
	}

	// An archived agent cannot join a roster, as it cannot start a session.
	if _, err := c.Beta.Agents.Archive(ctx, b.ID, anthropic.BetaAgentArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	st, m, _ := agtRaw(t, s, "POST", "/v1/agents", `{"name":"x","model":"claude-opus-4-8","multiagent":{"type":"coordinator","agents":["`+b.ID+`"]}}`)
	if st != 400 || !strings.Contains(agtErrMsg(m), "archived") {
		t.Fatalf("archived roster member: %d %v", st, m)
	}
	// The stored roster survives the member's archive; unrelated updates work.
	if _, err := c.Beta.Agents.Update(ctx, coord.ID, anthropic.BetaAgentUpdateParams{Description: anthropic.String("still fine")}); err != nil {
		t.Fatal(err)
	}

	// multiagent_20261001: defaults on create.
	ma, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name: "ma", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-opus-4-8"},
		Multiagent: anthropic.BetaManagedAgentsMultiagentParamsUnion{OfMultiagent20261001: &anthropic.BetaManagedAgentsMultiagent20261001Params{
			Subagents: anthropic.BetaManagedAgentsMultiagentSubagentsParamsUnion{OfEnabled: &anthropic.BetaManagedAgentsMultiagentSubagentsEnabledParams{
				PredefinedAgents: []anthropic.BetaManagedAgentsMultiagentPredefinedAgentParamsUnion{{OfString: anthropic.String(d.ID)}},
			}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	v := ma.Multiagent.AsMultiagent20261001()
	if v.Type != "multiagent_20261001" || v.Advisor.Type != "disabled" || v.Subagents.Type != "enabled" || v.Subagents.InlineAgents.Type != "enabled" ||
		len(v.Subagents.PredefinedAgents) != 1 || v.Subagents.PredefinedAgents[0].ID != d.ID || v.Subagents.PredefinedAgents[0].Version != 2 ||
		v.Workflows.Type != "enabled" || !strings.Contains(v.RawJSON(), `"predefined_agents":[]`) {
		t.Fatalf("multiagent_20261001 defaults: %s", ma.Multiagent.RawJSON())
	}

	// Merge rules, one update at a time (raw JSON for explicit nulls).
	steps := []struct {
		body, want string
	}{
		// omitted members keep their stored value
		{`{"type":"multiagent_20261001","advisor":{"type":"enabled","model":"claude-opus-4-8"}}`,
			`{"advisor":{"model":"claude-opus-4-8","type":"enabled"},"subagents":{"inline_agents":{"type":"enabled"},"predefined_agents":[{"id":"` + d.ID + `","type":"agent","version":2}],"type":"enabled"},"type":"multiagent_20261001","workflows":{"inline_agents":{"type":"enabled"},"predefined_agents":[],"type":"enabled"}}`},
		// same type: omitted keys inside the member are kept too
		{`{"type":"multiagent_20261001","subagents":{"type":"enabled","inline_agents":{"type":"disabled"}}}`,
			`{"advisor":{"model":"claude-opus-4-8","type":"enabled"},"subagents":{"inline_agents":{"type":"disabled"},"predefined_agents":[{"id":"` + d.ID + `","type":"agent","version":2}],"type":"enabled"},"type":"multiagent_20261001","workflows":{"inline_agents":{"type":"enabled"},"predefined_agents":[],"type":"enabled"}}`},
		// a different type replaces; null takes the default
		{`{"type":"multiagent_20261001","workflows":{"type":"disabled"},"advisor":null}`,
			`{"advisor":{"type":"disabled"},"subagents":{"inline_agents":{"type":"disabled"},"predefined_agents":[{"id":"` + d.ID + `","type":"agent","version":2}],"type":"enabled"},"type":"multiagent_20261001","workflows":{"type":"disabled"}}`},
		// enabled again starts from defaults; a sent list replaces, null empties
		{`{"type":"multiagent_20261001","workflows":{"type":"enabled","predefined_agents":[{"type":"self"}]},"subagents":{"type":"enabled","predefined_agents":null}}`,
			`{"advisor":{"type":"disabled"},"subagents":{"inline_agents":{"type":"disabled"},"predefined_agents":[],"type":"enabled"},"type":"multiagent_20261001","workflows":{"inline_agents":{"type":"enabled"},"predefined_agents":[{"id":"` + ma.ID + `","type":"agent","version":5}],"type":"enabled"}}`},
	}
	for i, step := range steps {
		st, m, _ := agtRaw(t, s, "POST", "/v1/agents/"+ma.ID, `{"multiagent":`+step.body+`}`)
		got, _ := json.Marshal(m["multiagent"])
		if st != 200 || string(got) != step.want || m["version"] != float64(i+2) {
			t.Fatalf("step %d: %d version=%v\n got %s\nwant %s", i, st, m["version"], got, step.want)
		}
	}
	// A coordinator replaces a multiagent_20261001, and null clears.
	st, m, _ = agtRaw(t, s, "POST", "/v1/agents/"+ma.ID, `{"multiagent":{"type":"coordinator","agents":[{"type":"self"}]}}`)
	if got, _ := json.Marshal(m["multiagent"]); st != 200 || string(got) != `{"agents":[{"id":"`+ma.ID+`","type":"agent","version":6}],"type":"coordinator"}` {
		t.Fatalf("switch to coordinator: %d %s", st, got)
	}
	st, m, _ = agtRaw(t, s, "POST", "/v1/agents/"+ma.ID, `{"multiagent":null}`)
	if st != 200 || m["multiagent"] != nil || m["version"] != 7.0 {
		t.Fatalf("clear multiagent: %d %v", st, m)
	}
}
