package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/hangarhq/hangar/internal/testserver"
)

// envRaw decodes an environment's raw JSON and checks that every field the
// SDK marks required is present, so stricter clients can decode it too.
func envRaw(t *testing.T, raw string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("environment is not a JSON object: %v: %s", err, raw)
	}
	for _, k := range []string{"id", "type", "name", "description", "config", "metadata", "created_at", "updated_at", "archived_at", "scope"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("environment lacks %q: %s", k, raw)
		}
	}
	for _, k := range []string{"created_at", "updated_at"} {
		var s string
		_ = json.Unmarshal(m[k], &s)
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil || !strings.HasSuffix(s, "Z") {
			t.Fatalf("%s = %s, want an RFC 3339 UTC time", k, m[k])
		}
	}
	return m
}

func compactJSON(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// envDo sends a raw JSON request and returns status and body.
func envDo(t *testing.T, s *testserver.Server, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	h := http.Header{}
	if body != "" {
		rd = strings.NewReader(body)
		h.Set("Content-Type", "application/json")
	}
	resp := s.Do(t, method, path, rd, h)
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type errBody struct {
	Error struct {
		Type    string         `json:"type"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

func newEnv(t *testing.T, c anthropic.Client, p anthropic.BetaEnvironmentNewParams) *anthropic.BetaEnvironment {
	t.Helper()
	env, err := c.Beta.Environments.New(context.Background(), p)
	if err != nil {
		t.Fatalf("create environment %q: %v", p.Name, err)
	}
	return env
}

// TestEnvironmentCreateAndGet covers create and its defaults with exactly
// what the SDK's own TestBetaEnvironmentNewWithOptionalParams sends.
func TestEnvironmentCreateAndGet(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()

	sdkParams := anthropic.BetaEnvironmentNewParams{
		Name: "python-data-analysis",
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{
			OfCloud: &anthropic.BetaCloudConfigParams{
				Networking: anthropic.BetaCloudConfigParamsNetworkingUnion{
					OfLimited: &anthropic.BetaLimitedNetworkParams{
						AllowMCPServers:      anthropic.Bool(true),
						AllowPackageManagers: anthropic.Bool(true),
						AllowedHosts:         []string{"api.example.com"},
					},
				},
				Packages: anthropic.BetaPackagesParams{
					Apt:   []string{"string"},
					Cargo: []string{"string"},
					Gem:   []string{"string"},
					Go:    []string{"string"},
					Npm:   []string{"string"},
					Pip:   []string{"pandas", "numpy"},
					Type:  anthropic.BetaPackagesParamsTypePackages,
				},
			},
		},
		Description: anthropic.String("Python environment with data-analysis packages."),
		Metadata:    map[string]string{"foo": "string"},
		Scope:       anthropic.BetaEnvironmentNewParamsScopeOrganization,
		Betas:       []anthropic.AnthropicBeta{anthropic.AnthropicBetaComputerUse2024_10_22},
		WorkspaceID: anthropic.String("wrkspc_011CZkZaBF1tNoB5wlCeusgy"),
	}
	before := time.Now().Add(-time.Second)
	env := newEnv(t, c, sdkParams)
	raw := envRaw(t, env.RawJSON())
	if !strings.HasPrefix(env.ID, "env_") || env.Type != "environment" || env.Name != "python-data-analysis" ||
		env.Description != "Python environment with data-analysis packages." || env.Scope != "organization" ||
		env.Metadata["foo"] != "string" || len(env.Metadata) != 1 {
		t.Fatalf("bad environment: %s", env.RawJSON())
	}
	if string(raw["archived_at"]) != "null" {
		t.Fatalf("archived_at = %s, want null", raw["archived_at"])
	}
	created, err := time.Parse(time.RFC3339Nano, env.CreatedAt)
	if err != nil || created.Before(before) || env.UpdatedAt != env.CreatedAt {
		t.Fatalf("created_at %q updated_at %q", env.CreatedAt, env.UpdatedAt)
	}
	if env.Config.Type != "cloud" {
		t.Fatalf("config.type = %q", env.Config.Type)
	}
	cloud := env.Config.AsCloud()
	lim := cloud.Networking.AsLimited()
	if cloud.Networking.Type != "limited" || !lim.AllowMCPServers || !lim.AllowPackageManagers || !slices.Equal(lim.AllowedHosts, []string{"api.example.com"}) {
		t.Fatalf("bad networking: %s", cloud.Networking.RawJSON())
	}
	pk := cloud.Packages
	if !slices.Equal(pk.Pip, []string{"pandas", "numpy"}) || !slices.Equal(pk.Apt, []string{"string"}) || !slices.Equal(pk.Cargo, []string{"string"}) ||
		!slices.Equal(pk.Gem, []string{"string"}) || !slices.Equal(pk.Go, []string{"string"}) || !slices.Equal(pk.Npm, []string{"string"}) || pk.Type != "packages" {
		t.Fatalf("bad packages: %s", pk.RawJSON())
	}

	// Retrieve returns the same object, in the workspace it was made in.
	got, err := c.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{WorkspaceID: anthropic.String("wrkspc_011CZkZaBF1tNoB5wlCeusgy")})
	if err != nil {
		t.Fatal(err)
	}
	if got.RawJSON() != env.RawJSON() {
		t.Fatalf("get differs from create:\n%s\n%s", got.RawJSON(), env.RawJSON())
	}
	_, err = c.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{})
	apiErr(t, err, 404, "not_found_error")

	// Defaults: no config means cloud with unrestricted
	// egress and empty package lists; description null, metadata {}.
	def := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: "defaults"})
	raw = envRaw(t, def.RawJSON())
	if got := compactJSON(t, raw["config"]); got != `{"networking":{"type":"unrestricted"},"packages":{"apt":[],"cargo":[],"gem":[],"go":[],"npm":[],"pip":[],"type":"packages"},"type":"cloud"}` {
		t.Fatalf("default config = %s", got)
	}
	if string(raw["description"]) != "null" || string(raw["metadata"]) != "{}" || def.Scope != "organization" {
		t.Fatalf("defaults: %s", def.RawJSON())
	}

	// A self_hosted config is exactly {"type":"self_hosted"}.
	sh := newEnv(t, c, anthropic.BetaEnvironmentNewParams{
		Name:   "workers",
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}},
	})
	if got := compactJSON(t, envRaw(t, sh.RawJSON())["config"]); got != `{"type":"self_hosted"}` {
		t.Fatalf("self_hosted config = %s", got)
	}

	// Limited networking fields default to false and [].
	lm := newEnv(t, c, anthropic.BetaEnvironmentNewParams{
		Name: "locked-down",
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{
			Networking: anthropic.BetaCloudConfigParamsNetworkingUnion{OfLimited: &anthropic.BetaLimitedNetworkParams{}},
		}},
	})
	if got := compactJSON(t, envRaw(t, lm.RawJSON())["config"]); !strings.Contains(got, `"networking":{"allow_mcp_servers":false,"allow_package_managers":false,"allowed_hosts":[],"type":"limited"}`) {
		t.Fatalf("limited defaults = %s", got)
	}
}

// TestEnvironmentNames covers environment names: names are unique
// per workspace, an archived environment keeps its name, a deleted one
// frees it.
func TestEnvironmentNames(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()

	a := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: "shared"})
	_, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "shared", Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}}})
	e := apiErr(t, err, 409, "invalid_request_error")
	if !strings.Contains(e.RawJSON(), "shared") {
		t.Fatalf("409 does not name the environment: %s", e.RawJSON())
	}

	// Renaming onto a taken name is a conflict too; renaming to itself is not.
	b := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: "other"})
	_, err = c.Beta.Environments.Update(ctx, b.ID, anthropic.BetaEnvironmentUpdateParams{Name: anthropic.String("shared")})
	apiErr(t, err, 409, "invalid_request_error")
	if got, err := c.Beta.Environments.Update(ctx, b.ID, anthropic.BetaEnvironmentUpdateParams{Name: anthropic.String("other")}); err != nil || got.Name != "other" {
		t.Fatalf("rename to own name: %v", err)
	}

	// Another workspace has its own namespace.
	other := s.Client(s.CreateKey(t, "wrkspc_other"))
	if o := newEnv(t, other, anthropic.BetaEnvironmentNewParams{Name: "shared"}); o.ID == a.ID {
		t.Fatal("same id across workspaces")
	}

	// Archived keeps the name; delete frees it.
	if _, err := c.Beta.Environments.Archive(ctx, a.ID, anthropic.BetaEnvironmentArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "shared"})
	apiErr(t, err, 409, "invalid_request_error")
	if _, err := c.Beta.Environments.Delete(ctx, a.ID, anthropic.BetaEnvironmentDeleteParams{}); err != nil {
		t.Fatal(err)
	}
	if n := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: "shared"}); n.ID == a.ID {
		t.Fatal("reused id")
	}
}

// TestEnvironmentUpdate covers the update semantics:
// omit keeps, description null clears and "" is kept, metadata is a patch
// in which null and "" delete, config members merge, and the update
// is visible on the next read.
func TestEnvironmentUpdate(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()

	env := newEnv(t, c, anthropic.BetaEnvironmentNewParams{
		Name:        "data",
		Description: anthropic.String("first"),
		Metadata:    map[string]string{"team": "ml", "tier": "gold", "gone": "soon"},
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{
			Networking: anthropic.BetaCloudConfigParamsNetworkingUnion{OfLimited: &anthropic.BetaLimitedNetworkParams{
				AllowedHosts:         []string{"pypi.org"},
				AllowPackageManagers: anthropic.Bool(true),
			}},
			Packages: anthropic.BetaPackagesParams{Pip: []string{"pandas"}, Npm: []string{"left-pad"}},
		}},
	})
	time.Sleep(2 * time.Millisecond)

	// An empty update changes nothing, not even updated_at.
	same, err := c.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{})
	if err != nil {
		t.Fatal(err)
	}
	if same.RawJSON() != env.RawJSON() {
		t.Fatalf("empty update changed the environment:\n%s\n%s", env.RawJSON(), same.RawJSON())
	}

	up, err := c.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{
		Name:     anthropic.String("data-v2"),
		Metadata: map[string]string{"tier": "silver", "gone": "", "new": "yes"},
		Config: anthropic.BetaEnvironmentUpdateParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{
			Networking: anthropic.BetaCloudConfigParamsNetworkingUnion{OfLimited: &anthropic.BetaLimitedNetworkParams{
				AllowedHosts: []string{"pypi.org", "*.githubusercontent.com"},
			}},
			Packages: anthropic.BetaPackagesParams{Pip: []string{"polars"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	lim := up.Config.AsCloud().Networking.AsLimited()
	pk := up.Config.AsCloud().Packages
	switch {
	case up.Name != "data-v2", up.Description != "first":
		t.Fatalf("name/description: %s", up.RawJSON())
	case len(up.Metadata) != 3 || up.Metadata["team"] != "ml" || up.Metadata["tier"] != "silver" || up.Metadata["new"] != "yes":
		t.Fatalf("metadata patch: %v", up.Metadata)
	case !slices.Equal(lim.AllowedHosts, []string{"pypi.org", "*.githubusercontent.com"}) || !lim.AllowPackageManagers || lim.AllowMCPServers:
		t.Fatalf("networking merge: %s", up.Config.RawJSON())
	case !slices.Equal(pk.Pip, []string{"polars"}) || !slices.Equal(pk.Npm, []string{"left-pad"}):
		t.Fatalf("packages merge: %s", up.Config.RawJSON())
	case up.CreatedAt != env.CreatedAt || up.UpdatedAt <= env.UpdatedAt:
		t.Fatalf("timestamps: created %s→%s updated %s→%s", env.CreatedAt, up.CreatedAt, env.UpdatedAt, up.UpdatedAt)
	}
	got, err := c.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{})
	if err != nil || got.RawJSON() != up.RawJSON() {
		t.Fatalf("get after update: %v\n%s\n%s", err, got.RawJSON(), up.RawJSON())
	}

	// description: null clears (SDK param.Null), "" is stored as "".
	up, err = c.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{Description: param.Null[string]()})
	if err != nil || string(envRaw(t, up.RawJSON())["description"]) != "null" {
		t.Fatalf("description null: %v %s", err, up.RawJSON())
	}
	up, err = c.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{Description: anthropic.String("")})
	if err != nil || string(envRaw(t, up.RawJSON())["description"]) != `""` {
		t.Fatalf("description empty: %v %s", err, up.RawJSON())
	}

	// Raw clients may send metadata values as null to delete keys.
	code, body := envDo(t, s, "POST", "/v1/environments/"+env.ID, `{"metadata":{"team":null,"absent":null}}`)
	if code != 200 || !strings.Contains(string(body), `"metadata":{"new":"yes","tier":"silver"}`) {
		t.Fatalf("metadata null patch: %d %s", code, body)
	}

	// Switching networking type starts the new policy from its defaults,
	// and an explicit [] empties a package list.
	up, err = c.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{
		Config: anthropic.BetaEnvironmentUpdateParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{
			Networking: anthropic.BetaCloudConfigParamsNetworkingUnion{OfUnrestricted: &anthropic.BetaUnrestrictedNetworkParam{}},
			Packages:   anthropic.BetaPackagesParams{Npm: []string{}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := compactJSON(t, json.RawMessage(up.Config.RawJSON())); got != `{"networking":{"type":"unrestricted"},"packages":{"apt":[],"cargo":[],"gem":[],"go":[],"npm":[],"pip":["polars"],"type":"packages"},"type":"cloud"}` {
		t.Fatalf("config after switch = %s", got)
	}
	up, err = c.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{
		Config: anthropic.BetaEnvironmentUpdateParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{
			Networking: anthropic.BetaCloudConfigParamsNetworkingUnion{OfLimited: &anthropic.BetaLimitedNetworkParams{AllowPackageManagers: anthropic.Bool(true)}},
		}},
	})
	if err != nil || len(up.Config.AsCloud().Networking.AsLimited().AllowedHosts) != 0 || up.Config.AsCloud().Networking.JSON.AllowedHosts.Raw() != "[]" {
		t.Fatalf("limited from unrestricted: %v %s", err, up.Config.RawJSON())
	}

	// Cross-member rule on the merged config: packages under limited
	// networking need allow_package_managers; nothing is written on failure.
	_, err = c.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{
		Name: anthropic.String("should-not-stick"),
		Config: anthropic.BetaEnvironmentUpdateParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{
			Networking: anthropic.BetaCloudConfigParamsNetworkingUnion{OfLimited: &anthropic.BetaLimitedNetworkParams{AllowPackageManagers: anthropic.Bool(false)}},
		}},
	})
	e := apiErr(t, err, 400, "invalid_request_error")
	if !strings.Contains(e.RawJSON(), "config.packages.pip") {
		t.Fatalf("message does not name the field: %s", e.RawJSON())
	}
	if got, _ := c.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{}); got.RawJSON() != up.RawJSON() {
		t.Fatalf("failed update wrote something:\n%s\n%s", got.RawJSON(), up.RawJSON())
	}

	// Metadata may not grow past 16 pairs through a patch.
	many := map[string]string{}
	for i := range 15 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	_, err = c.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{Metadata: many})
	e = apiErr(t, err, 400, "invalid_request_error")
	if !strings.Contains(e.RawJSON(), "metadata") {
		t.Fatalf("message does not name metadata: %s", e.RawJSON())
	}

	_, err = c.Beta.Environments.Update(ctx, "env_missing", anthropic.BetaEnvironmentUpdateParams{Name: anthropic.String("x")})
	apiErr(t, err, 404, "not_found_error")
}

// TestEnvironmentConfigTypeChange: switching cloud ↔ self_hosted is a 400
// with error_code invalid_config_type_change, and nothing is written.
func TestEnvironmentConfigTypeChange(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	cloud := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: "cloud"})
	sh := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: "sh", Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}}})
	for _, tc := range []struct {
		env *anthropic.BetaEnvironment
		cfg anthropic.BetaEnvironmentUpdateParamsConfigUnion
	}{
		{cloud, anthropic.BetaEnvironmentUpdateParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}}},
		{sh, anthropic.BetaEnvironmentUpdateParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{}}},
	} {
		_, err := c.Beta.Environments.Update(ctx, tc.env.ID, anthropic.BetaEnvironmentUpdateParams{Name: anthropic.String("renamed"), Config: tc.cfg})
		e := apiErr(t, err, 400, "invalid_request_error")
		if e.ErrorCode() != anthropic.ErrorCodeBetaInvalidConfigTypeChange || !strings.Contains(e.RawJSON(), "config.type") {
			t.Fatalf("type change error: %s", e.RawJSON())
		}
		got, _ := c.Beta.Environments.Get(ctx, tc.env.ID, anthropic.BetaEnvironmentGetParams{})
		if got.RawJSON() != tc.env.RawJSON() {
			t.Fatalf("rejected update was written: %s", got.RawJSON())
		}
	}
	// Same type is fine for self_hosted: it has nothing to change.
	if got, err := c.Beta.Environments.Update(ctx, sh.ID, anthropic.BetaEnvironmentUpdateParams{Config: anthropic.BetaEnvironmentUpdateParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}}}); err != nil || got.Config.Type != "self_hosted" {
		t.Fatalf("self_hosted → self_hosted: %v", err)
	}
}

// TestEnvironmentArchive covers archiving: archive returns the
// object with archived_at, the environment becomes read-only (400
// environment_archived, as the SDK documents), and lists hide it unless
// include_archived=true.
func TestEnvironmentArchive(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	env := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: "old", Metadata: map[string]string{"a": "b"}})
	keep := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: "live"})

	arch, err := c.Beta.Environments.Archive(ctx, env.ID, anthropic.BetaEnvironmentArchiveParams{})
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339Nano, arch.ArchivedAt)
	if err != nil || at.IsZero() || arch.Name != "old" || arch.Metadata["a"] != "b" || arch.ID != env.ID || arch.UpdatedAt != arch.ArchivedAt {
		t.Fatalf("archive: %v %s", err, arch.RawJSON())
	}
	got, err := c.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{})
	if err != nil || got.RawJSON() != arch.RawJSON() {
		t.Fatalf("get after archive: %v %s", err, got.RawJSON())
	}

	// Archiving again is harmless (the SDK retries archive) and keeps the
	// original archived_at.
	again, err := c.Beta.Environments.Archive(ctx, env.ID, anthropic.BetaEnvironmentArchiveParams{})
	if err != nil || again.RawJSON() != arch.RawJSON() {
		t.Fatalf("second archive: %v %s", err, again.RawJSON())
	}

	for _, p := range []anthropic.BetaEnvironmentUpdateParams{
		{Name: anthropic.String("new")},
		{Metadata: map[string]string{"a": "c"}},
		{},
	} {
		_, err = c.Beta.Environments.Update(ctx, env.ID, p)
		e := apiErr(t, err, 400, "invalid_request_error")
		if e.ErrorCode() != anthropic.ErrorCodeBetaEnvironmentArchived {
			t.Fatalf("error_code = %q: %s", e.ErrorCode(), e.RawJSON())
		}
	}
	if got, _ := c.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{}); got.RawJSON() != arch.RawJSON() {
		t.Fatalf("archived environment changed: %s", got.RawJSON())
	}

	ids := func(inc bool) []string {
		p := anthropic.BetaEnvironmentListParams{}
		if inc {
			p.IncludeArchived = anthropic.Bool(true)
		}
		page, err := c.Beta.Environments.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range page.Data {
			out = append(out, e.ID)
		}
		return out
	}
	if got := ids(false); !slices.Equal(got, []string{keep.ID}) {
		t.Fatalf("default list = %v, want only %s", got, keep.ID)
	}
	if got := ids(true); !slices.Equal(got, []string{keep.ID, env.ID}) {
		t.Fatalf("include_archived list = %v", got)
	}

	// Archived environments can still be deleted.
	if d, err := c.Beta.Environments.Delete(ctx, env.ID, anthropic.BetaEnvironmentDeleteParams{}); err != nil || d.ID != env.ID {
		t.Fatalf("delete archived: %v", err)
	}
	_, err = c.Beta.Environments.Archive(ctx, "env_missing", anthropic.BetaEnvironmentArchiveParams{})
	apiErr(t, err, 404, "not_found_error")
}

// TestEnvironmentDelete covers delete and its receipt: 200 with
// {"id","type":"environment_deleted"} (a 204 would break the Go SDK).
func TestEnvironmentDelete(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	env := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: "doomed"})
	d, err := c.Beta.Environments.Delete(ctx, env.ID, anthropic.BetaEnvironmentDeleteParams{})
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != env.ID || d.Type != "environment_deleted" {
		t.Fatalf("receipt: %s", d.RawJSON())
	}
	_, err = c.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Environments.Delete(ctx, env.ID, anthropic.BetaEnvironmentDeleteParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{Name: anthropic.String("x")})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Environments.Archive(ctx, env.ID, anthropic.BetaEnvironmentArchiveParams{})
	apiErr(t, err, 404, "not_found_error")
}

// TestEnvironmentList covers the list: PageCursor pages, newest
// first, limit bounds, and the SDK auto-pager.
func TestEnvironmentList(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()

	empty, err := c.Beta.Environments.List(ctx, anthropic.BetaEnvironmentListParams{})
	if err != nil || len(empty.Data) != 0 || empty.NextPage != "" {
		t.Fatalf("empty list: %v %s", err, empty.RawJSON())
	}
	if !strings.Contains(empty.RawJSON(), `"data":[]`) || !strings.Contains(empty.RawJSON(), `"next_page":null`) || strings.Contains(empty.RawJSON(), "prev_page") {
		t.Fatalf("empty list shape: %s", empty.RawJSON())
	}

	var want []string
	for i := range 5 {
		e := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: fmt.Sprintf("env-%d", i)})
		want = append([]string{e.ID}, want...) // newest first
	}

	page, err := c.Beta.Environments.List(ctx, anthropic.BetaEnvironmentListParams{Limit: anthropic.Int(2)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	pages := 0
	for page != nil && len(page.Data) > 0 {
		pages++
		for _, e := range page.Data {
			envRaw(t, e.RawJSON())
			got = append(got, e.ID)
		}
		if page, err = page.GetNextPage(); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("paged ids = %v (%d pages), want %v", got, pages, want)
	}

	iter := c.Beta.Environments.ListAutoPaging(ctx, anthropic.BetaEnvironmentListParams{Limit: anthropic.Int(1)})
	got = nil
	for iter.Next() {
		got = append(got, iter.Current().ID)
	}
	if iter.Err() != nil || !slices.Equal(got, want) {
		t.Fatalf("auto-paged ids = %v, %v", got, iter.Err())
	}

	full, err := c.Beta.Environments.List(ctx, anthropic.BetaEnvironmentListParams{Limit: anthropic.Int(5)})
	if err != nil || len(full.Data) != 5 || full.NextPage != "" {
		t.Fatalf("exact page: %v, next %q", err, full.NextPage)
	}

	for _, q := range []string{"limit=0", "limit=101", "limit=x", "include_archived=maybe", "page=garbage"} {
		code, body := envDo(t, s, "GET", "/v1/environments?"+q, "")
		var eb errBody
		_ = json.Unmarshal(body, &eb)
		field := strings.SplitN(q, "=", 2)[0]
		if code != 400 || eb.Error.Type != "invalid_request_error" || !strings.HasPrefix(eb.Error.Message, field+":") {
			t.Errorf("GET ?%s = %d %s", q, code, body)
		}
	}
	if code, _ := envDo(t, s, "GET", "/v1/environments?limit=100&beta=true&unknown=1", ""); code != 200 {
		t.Fatalf("limit=100: %d", code)
	}
}

// TestEnvironmentWorkspaceIsolation: another workspace sees none of this
// workspace's environments; every id-addressed call is a 404.
func TestEnvironmentWorkspaceIsolation(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	env := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: "mine"})
	other := s.Client(s.CreateKey(t, "wrkspc_other"))

	_, err := other.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{Name: anthropic.String("theirs")})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Environments.Archive(ctx, env.ID, anthropic.BetaEnvironmentArchiveParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Environments.Delete(ctx, env.ID, anthropic.BetaEnvironmentDeleteParams{})
	apiErr(t, err, 404, "not_found_error")
	page, err := other.Beta.Environments.List(ctx, anthropic.BetaEnvironmentListParams{IncludeArchived: anthropic.Bool(true)})
	if err != nil || len(page.Data) != 0 {
		t.Fatalf("other workspace lists %d environments (%v)", len(page.Data), err)
	}
	// A non-admin key cannot reach into another workspace by header.
	_, err = other.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{WorkspaceID: anthropic.String("wrkspc_default")})
	apiErr(t, err, 403, "permission_error")

	got, err := c.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{})
	if err != nil || got.RawJSON() != env.RawJSON() {
		t.Fatalf("environment changed by another workspace: %v", err)
	}
}

// TestEnvironmentValidation: bad input is a 400 invalid_request_error whose
// message starts with the offending field, and nothing is written.
func TestEnvironmentValidation(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	base := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: "base"})
	sh := newEnv(t, c, anthropic.BetaEnvironmentNewParams{Name: "sh", Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}}})

	long := func(n int) string { return strings.Repeat("x", n) }
	meta17 := map[string]string{}
	for i := range 17 {
		meta17[fmt.Sprintf("k%d", i)] = "v"
	}
	m17, _ := json.Marshal(meta17)

	create := []struct{ name, body, field string }{
		{"missing name", `{}`, "name"},
		{"null name", `{"name":null}`, "name"},
		{"empty name", `{"name":""}`, "name"},
		{"blank name", `{"name":"   "}`, "name"},
		{"long name", `{"name":"` + long(257) + `"}`, "name"},
		{"name type", `{"name":5}`, "name"},
		{"long description", `{"name":"a","description":"` + long(2049) + `"}`, "description"},
		{"unknown field", `{"name":"a","colour":"red"}`, "colour"},
		{"scope enum", `{"name":"a","scope":"galaxy"}`, "scope"},
		{"scope account", `{"name":"a","scope":"account"}`, "scope"},
		{"metadata count", `{"name":"a","metadata":` + string(m17) + `}`, "metadata"},
		{"metadata value", `{"name":"a","metadata":{"k":"` + long(513) + `"}}`, "metadata.k"},
		{"metadata key", `{"name":"a","metadata":{"` + long(65) + `":"v"}}`, "metadata key"},
		{"metadata type", `{"name":"a","metadata":{"k":1}}`, "metadata"},
		{"config not object", `{"name":"a","config":"cloud"}`, "config"},
		{"config type missing", `{"name":"a","config":{}}`, "config.type"},
		{"config type enum", `{"name":"a","config":{"type":"moon"}}`, "config.type"},
		{"config unknown", `{"name":"a","config":{"type":"cloud","region":"eu"}}`, "config.region"},
		{"self_hosted networking", `{"name":"a","config":{"type":"self_hosted","networking":{"type":"unrestricted"}}}`, "config.networking"},
		{"self_hosted packages", `{"name":"a","config":{"type":"self_hosted","packages":{"pip":["x"]}}}`, "config.packages"},
		{"networking type", `{"name":"a","config":{"type":"cloud","networking":{"type":"open"}}}`, "config.networking.type"},
		{"networking type missing", `{"name":"a","config":{"type":"cloud","networking":{}}}`, "config.networking.type"},
		{"unrestricted hosts", `{"name":"a","config":{"type":"cloud","networking":{"type":"unrestricted","allowed_hosts":["a.com"]}}}`, "config.networking.allowed_hosts"},
		{"limited unknown", `{"name":"a","config":{"type":"cloud","networking":{"type":"limited","allow_all":true}}}`, "config.networking.allow_all"},
		{"hosts type", `{"name":"a","config":{"type":"cloud","networking":{"type":"limited","allowed_hosts":"a.com"}}}`, "config.networking.allowed_hosts"},
		{"host url", `{"name":"a","config":{"type":"cloud","networking":{"type":"limited","allowed_hosts":["ok.com","https://a.com"]}}}`, "config.networking.allowed_hosts[1]"},
		{"host port", `{"name":"a","config":{"type":"cloud","networking":{"type":"limited","allowed_hosts":["a.com:8080"]}}}`, "config.networking.allowed_hosts[0]"},
		{"host wildcard", `{"name":"a","config":{"type":"cloud","networking":{"type":"limited","allowed_hosts":["a.*.com"]}}}`, "config.networking.allowed_hosts[0]"},
		{"host null", `{"name":"a","config":{"type":"cloud","networking":{"type":"limited","allowed_hosts":[null]}}}`, "config.networking.allowed_hosts[0]"},
		{"bool type", `{"name":"a","config":{"type":"cloud","networking":{"type":"limited","allow_mcp_servers":"yes"}}}`, "config.networking.allow_mcp_servers"},
		{"packages need managers", `{"name":"a","config":{"type":"cloud","networking":{"type":"limited"},"packages":{"pip":["pandas"]}}}`, "config.packages.pip"},
		{"packages type", `{"name":"a","config":{"type":"cloud","packages":{"type":"bundle"}}}`, "config.packages.type"},
		{"packages manager", `{"name":"a","config":{"type":"cloud","packages":{"brew":["jq"]}}}`, "config.packages.brew"},
		{"package empty", `{"name":"a","config":{"type":"cloud","packages":{"apt":[""]}}}`, "config.packages.apt[0]"},
		{"package option", `{"name":"a","config":{"type":"cloud","packages":{"pip":["--index-url=http://evil"]}}}`, "config.packages.pip[0]"},
		{"package newline", `{"name":"a","config":{"type":"cloud","packages":{"npm":["a\nb"]}}}`, "config.packages.npm[0]"},
		{"packages not list", `{"name":"a","config":{"type":"cloud","packages":{"go":"x"}}}`, "config.packages.go"},
	}
	for _, tc := range create {
		t.Run("create/"+tc.name, func(t *testing.T) {
			code, body := envDo(t, s, "POST", "/v1/environments", tc.body)
			checkFieldError(t, code, body, tc.field)
		})
	}

	update := []struct{ name, id, body, field string }{
		{"empty name", base.ID, `{"name":""}`, "name"},
		{"long name", base.ID, `{"name":"` + long(257) + `"}`, "name"},
		{"scope", base.ID, `{"scope":"account"}`, "scope"},
		{"unknown", base.ID, `{"version":2}`, "version"},
		{"metadata value", base.ID, `{"metadata":{"k":"` + long(513) + `"}}`, "metadata.k"},
		{"config type", base.ID, `{"config":{"type":"moon"}}`, "config.type"},
		{"config host", base.ID, `{"config":{"type":"cloud","networking":{"type":"limited","allowed_hosts":["exa mple.com"]}}}`, "config.networking.allowed_hosts[0]"},
		{"self_hosted extra", sh.ID, `{"config":{"type":"self_hosted","packages":{}}}`, "config.packages"},
	}
	for _, tc := range update {
		t.Run("update/"+tc.name, func(t *testing.T) {
			code, body := envDo(t, s, "POST", "/v1/environments/"+tc.id, tc.body)
			checkFieldError(t, code, body, tc.field)
		})
	}

	// Malformed JSON and a wrong content type are 400s too.
	for _, body := range []string{`{"name":`, `[]`, `{"name":"a"} {"name":"b"}`} {
		if code, b := envDo(t, s, "POST", "/v1/environments", body); code != 400 {
			t.Errorf("body %q: %d %s", body, code, b)
		}
	}

	// Explicit nulls on optional members mean "not given"; on description
	// they are a null description.
	code, body := envDo(t, s, "POST", "/v1/environments", `{"name":"nulls","description":null,"config":null,"metadata":null,"scope":null}`)
	if code != 200 {
		t.Fatalf("nulls: %d %s", code, body)
	}
	raw := envRaw(t, string(body))
	if string(raw["description"]) != "null" || string(raw["metadata"]) != "{}" || !strings.Contains(string(raw["config"]), `"unrestricted"`) {
		t.Fatalf("nulls: %s", body)
	}
	code, body = envDo(t, s, "POST", "/v1/environments", `{"name":"nested-nulls","config":{"type":"cloud","networking":{"type":"limited","allowed_hosts":null,"allow_mcp_servers":null},"packages":null}}`)
	if code != 200 || !strings.Contains(string(body), `"allowed_hosts":[]`) {
		t.Fatalf("nested nulls: %d %s", code, body)
	}
	code, body = envDo(t, s, "POST", "/v1/environments/"+base.ID, `{"name":null,"config":null,"scope":null,"metadata":null}`)
	if code != 200 || !strings.Contains(string(body), `"name":"base"`) {
		t.Fatalf("update nulls: %d %s", code, body)
	}

	// Accepted host forms: names, leading wildcards, IP literals.
	code, body = envDo(t, s, "POST", "/v1/environments", `{"name":"hosts","config":{"type":"cloud","networking":{"type":"limited","allowed_hosts":["api.example.com","*.example.org","localhost","10.0.0.1","2001:db8::1"]}}}`)
	if code != 200 {
		t.Fatalf("host forms: %d %s", code, body)
	}

	// Nothing from the failed requests was written.
	page, err := c.Beta.Environments.List(ctx, anthropic.BetaEnvironmentListParams{IncludeArchived: anthropic.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range page.Data {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"base", "hosts", "nested-nulls", "nulls", "sh"}) {
		t.Fatalf("environments after validation failures: %v", names)
	}
	got, _ := c.Beta.Environments.Get(ctx, base.ID, anthropic.BetaEnvironmentGetParams{})
	if got.RawJSON() != base.RawJSON() {
		t.Fatalf("failed updates changed base:\n%s\n%s", got.RawJSON(), base.RawJSON())
	}
}

func checkFieldError(t *testing.T, code int, body []byte, field string) {
	t.Helper()
	var eb errBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body: %v: %s", err, body)
	}
	if code != 400 || eb.Error.Type != "invalid_request_error" || !strings.HasPrefix(eb.RequestID, "req_") {
		t.Fatalf("status %d: %s", code, body)
	}
	if !strings.HasPrefix(eb.Error.Message, field+":") && !strings.HasPrefix(eb.Error.Message, field+" ") {
		t.Fatalf("message %q does not start with field %q", eb.Error.Message, field)
	}
}
