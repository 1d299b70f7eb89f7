package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	_ "modernc.org/sqlite"

	"github.com/hangarhq/hangar/internal/testserver"
	"github.com/hangarhq/hangar/internal/vault"
)

// ---- helpers ---------------------------------------------------------------

// vltDo sends a raw JSON request and returns status and body.
func vltDo(t *testing.T, s *testserver.Server, method, path, body string) (int, []byte) {
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

// vltErrMessage returns error.message of an error envelope.
func vltErrMessage(t *testing.T, b []byte) string {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Type != "error" {
		t.Fatalf("not an error envelope: %s", b)
	}
	return e.Error.Message
}

// vltKeys decodes a JSON object and checks it has exactly the given keys.
func vltKeys(t *testing.T, what, raw string, keys ...string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("%s is not a JSON object: %s", what, raw)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Fatalf("%s lacks %q: %s", what, k, raw)
		}
	}
	if len(m) != len(keys) {
		t.Fatalf("%s has keys beyond %v: %s", what, keys, raw)
	}
	return m
}

var vaultKeys = []string{"id", "type", "display_name", "metadata", "created_at", "updated_at", "archived_at"}
var credentialKeys = []string{"id", "type", "vault_id", "display_name", "metadata", "auth", "created_at", "updated_at", "archived_at"}

func newVault(t *testing.T, c anthropic.Client, name string, opts ...option.RequestOption) *anthropic.BetaManagedAgentsVault {
	t.Helper()
	v, err := c.Beta.Vaults.New(context.Background(), anthropic.BetaVaultNewParams{DisplayName: name}, opts...)
	if err != nil {
		t.Fatalf("create vault: %v", err)
	}
	return v
}

func bearerParams(url, token string) anthropic.BetaVaultCredentialNewParams {
	return anthropic.BetaVaultCredentialNewParams{Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{
		OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerCreateParams{Token: token, MCPServerURL: url},
	}}
}

func envVarParams(name, value string, hosts ...string) anthropic.BetaVaultCredentialNewParams {
	n := anthropic.BetaManagedAgentsCredentialNetworkingParamsUnion{OfUnrestricted: &anthropic.BetaManagedAgentsUnrestrictedCredentialNetworkingParams{}}
	if len(hosts) > 0 {
		n = anthropic.BetaManagedAgentsCredentialNetworkingParamsUnion{OfLimited: &anthropic.BetaManagedAgentsLimitedCredentialNetworkingParams{AllowedHosts: hosts}}
	}
	return anthropic.BetaVaultCredentialNewParams{Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{
		OfEnvironmentVariable: &anthropic.BetaManagedAgentsEnvironmentVariableCreateParams{SecretName: name, SecretValue: value, Networking: n},
	}}
}

func oauthParams(url, access string, refresh *anthropic.BetaManagedAgentsMCPOAuthRefreshParams) anthropic.BetaVaultCredentialNewParams {
	p := &anthropic.BetaManagedAgentsMCPOAuthCreateParams{AccessToken: access, MCPServerURL: url}
	if refresh != nil {
		p.Refresh = *refresh
	}
	return anthropic.BetaVaultCredentialNewParams{Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfMCPOAuth: p}}
}

func tokenAuth(method, secret string) anthropic.BetaManagedAgentsMCPOAuthRefreshParamsTokenEndpointAuthUnion {
	switch method {
	case vault.AuthClientSecretBasic:
		return anthropic.BetaManagedAgentsMCPOAuthRefreshParamsTokenEndpointAuthUnion{OfClientSecretBasic: &anthropic.BetaManagedAgentsTokenEndpointAuthBasicParam{ClientSecret: secret}}
	case vault.AuthClientSecretPost:
		return anthropic.BetaManagedAgentsMCPOAuthRefreshParamsTokenEndpointAuthUnion{OfClientSecretPost: &anthropic.BetaManagedAgentsTokenEndpointAuthPostParam{ClientSecret: secret}}
	}
	return anthropic.BetaManagedAgentsMCPOAuthRefreshParamsTokenEndpointAuthUnion{OfNone: &anthropic.BetaManagedAgentsTokenEndpointAuthNoneParam{}}
}

func newCred(t *testing.T, c anthropic.Client, vaultID string, p anthropic.BetaVaultCredentialNewParams) *anthropic.BetaManagedAgentsCredential {
	t.Helper()
	cr, err := c.Beta.Vaults.Credentials.New(context.Background(), vaultID, p)
	if err != nil {
		t.Fatalf("create credential: %v", err)
	}
	return cr
}

// storedCredential reads a credential's row straight from the server's
// SQLite file and opens its sealed secret with the data dir's master key.
// ok is false when the row is gone; sealed is nil when the secret was purged.
func storedCredential(t *testing.T, s *testserver.Server, id string) (sealed []byte, name string, sec vault.Secret, ok bool) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.DataDir, "hangar.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.QueryRow(`SELECT secret, name FROM records WHERE kind = 'credential' AND id = ?`, id).Scan(&sealed, &name)
	if err == sql.ErrNoRows {
		return nil, "", sec, false
	}
	if err != nil {
		t.Fatal(err)
	}
	if sealed == nil {
		return nil, name, sec, true
	}
	key, err := vault.LoadOrCreateKeyFile(filepath.Join(s.DataDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := vault.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	if sec, err = sealer.OpenSecret(id, sealed); err != nil {
		t.Fatalf("stored secret of %s does not open: %v", id, err)
	}
	return sealed, name, sec, true
}

// ---- vaults ----------------------------------------------------------------

// Vault create, read, update, list, archive (one-way, read-only after)
// and delete.
func TestVaultCRUD(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()

	v, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "Prod secrets", Metadata: map[string]string{"team": "infra", "tier": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	vltKeys(t, "vault", v.RawJSON(), vaultKeys...)
	if !strings.HasPrefix(v.ID, "vlt_01") || v.Type != "vault" || v.DisplayName != "Prod secrets" || v.Metadata["team"] != "infra" ||
		v.CreatedAt.IsZero() || !v.UpdatedAt.Equal(v.CreatedAt) || !v.ArchivedAt.IsZero() || v.JSON.ArchivedAt.Raw() != "null" {
		t.Fatalf("created vault: %s", v.RawJSON())
	}
	got, err := c.Beta.Vaults.Get(ctx, v.ID, anthropic.BetaVaultGetParams{})
	if err != nil || got.RawJSON() != v.RawJSON() {
		t.Fatalf("get = %v, %v; want %s", got, err, v.RawJSON())
	}

	// Update: display_name and a metadata upsert through the SDK, then a
	// key deletion with null, which only raw JSON can express.
	up, err := c.Beta.Vaults.Update(ctx, v.ID, anthropic.BetaVaultUpdateParams{DisplayName: anthropic.String("Renamed"), Metadata: map[string]string{"tier": "2", "new": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if up.DisplayName != "Renamed" || len(up.Metadata) != 3 || up.Metadata["tier"] != "2" || up.Metadata["team"] != "infra" || !up.UpdatedAt.After(v.UpdatedAt) || !up.CreatedAt.Equal(v.CreatedAt) {
		t.Fatalf("updated vault: %s", up.RawJSON())
	}
	code, body := vltDo(t, s, "POST", "/v1/vaults/"+v.ID, `{"metadata":{"team":null,"absent":null}}`)
	if code != 200 || compactJSON(t, vltKeys(t, "vault", string(body), vaultKeys...)["metadata"]) != `{"new":"x","tier":"2"}` {
		t.Fatalf("metadata delete: %d %s", code, body)
	}
	code, body = vltDo(t, s, "POST", "/v1/vaults/"+v.ID, `{}`)
	if code != 200 || !strings.Contains(string(body), `"display_name":"Renamed"`) {
		t.Fatalf("empty update: %d %s", code, body)
	}

	// List: newest first, paginated by next_page, archived hidden by default.
	v2 := newVault(t, c, "second")
	v3 := newVault(t, c, "third")
	page, err := c.Beta.Vaults.List(ctx, anthropic.BetaVaultListParams{Limit: anthropic.Int(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != v3.ID || page.Data[1].ID != v2.ID || page.NextPage == "" {
		t.Fatalf("first page: %s", page.RawJSON())
	}
	var all []string
	for it := c.Beta.Vaults.ListAutoPaging(ctx, anthropic.BetaVaultListParams{Limit: anthropic.Int(1)}); it.Next(); {
		all = append(all, it.Current().ID)
	}
	if fmt.Sprint(all) != fmt.Sprint([]string{v3.ID, v2.ID, v.ID}) {
		t.Fatalf("auto-paged ids = %v", all)
	}

	// Archive: archived_at set, read-only, hidden from the default list;
	// archiving again returns it unchanged.
	arch, err := c.Beta.Vaults.Archive(ctx, v2.ID, anthropic.BetaVaultArchiveParams{})
	if err != nil {
		t.Fatal(err)
	}
	if arch.ArchivedAt.IsZero() || !arch.UpdatedAt.Equal(arch.ArchivedAt) || arch.DisplayName != "second" {
		t.Fatalf("archived vault: %s", arch.RawJSON())
	}
	again, err := c.Beta.Vaults.Archive(ctx, v2.ID, anthropic.BetaVaultArchiveParams{})
	if err != nil || !again.ArchivedAt.Equal(arch.ArchivedAt) {
		t.Fatalf("re-archive: %v %v", again, err)
	}
	_, err = c.Beta.Vaults.Update(ctx, v2.ID, anthropic.BetaVaultUpdateParams{DisplayName: anthropic.String("x")})
	apiErr(t, err, 409, "invalid_request_error")
	page, _ = c.Beta.Vaults.List(ctx, anthropic.BetaVaultListParams{})
	if len(page.Data) != 2 {
		t.Fatalf("default list shows archived: %s", page.RawJSON())
	}
	page, _ = c.Beta.Vaults.List(ctx, anthropic.BetaVaultListParams{IncludeArchived: anthropic.Bool(true)})
	if len(page.Data) != 3 || page.JSON.NextPage.Raw() != "null" {
		t.Fatalf("include_archived list: %s", page.RawJSON())
	}

	// Delete: receipt, then gone.
	del, err := c.Beta.Vaults.Delete(ctx, v.ID, anthropic.BetaVaultDeleteParams{})
	if err != nil || del.ID != v.ID || del.Type != "vault_deleted" {
		t.Fatalf("delete = %v, %v", del, err)
	}
	_, err = c.Beta.Vaults.Get(ctx, v.ID, anthropic.BetaVaultGetParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Vaults.Delete(ctx, v.ID, anthropic.BetaVaultDeleteParams{})
	apiErr(t, err, 404, "not_found_error")
}

// ---- credentials: shapes ---------------------------------------------------

// Every credential type's create shape: secrets never come back, and
// injection_location shows both fields resolved.
func TestVaultCredentialCreateShapes(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	v := newVault(t, c, "shapes")
	exp := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)

	t.Run("mcp_oauth with refresh", func(t *testing.T) {
		p := oauthParams("https://mcp.example.com/mcp", "acc-shape", &anthropic.BetaManagedAgentsMCPOAuthRefreshParams{
			ClientID: "client-1", RefreshToken: "ref-shape", TokenEndpoint: "https://auth.example.com/token",
			TokenEndpointAuth: tokenAuth(vault.AuthClientSecretBasic, "cs-shape"), Scope: anthropic.String("read write"), Resource: anthropic.String("https://mcp.example.com"),
		})
		p.Auth.OfMCPOAuth.ExpiresAt = anthropic.Time(exp)
		p.DisplayName = anthropic.String("Linear")
		p.Metadata = map[string]string{"owner": "me"}
		cr := newCred(t, c, v.ID, p)
		vltKeys(t, "credential", cr.RawJSON(), credentialKeys...)
		auth := vltKeys(t, "auth", cr.Auth.RawJSON(), "type", "mcp_server_url", "expires_at", "refresh")
		refresh := vltKeys(t, "refresh", string(auth["refresh"]), "client_id", "token_endpoint", "token_endpoint_auth", "resource", "scope")
		if compactJSON(t, refresh["token_endpoint_auth"]) != `{"type":"client_secret_basic"}` {
			t.Fatalf("token_endpoint_auth = %s", refresh["token_endpoint_auth"])
		}
		a := cr.Auth.AsMCPOAuth()
		if !strings.HasPrefix(cr.ID, "vcrd_01") || cr.Type != "vault_credential" || cr.VaultID != v.ID || cr.DisplayName != "Linear" || cr.Metadata["owner"] != "me" ||
			a.Type != "mcp_oauth" || a.MCPServerURL != "https://mcp.example.com/mcp" || !a.ExpiresAt.Equal(exp) ||
			a.Refresh.ClientID != "client-1" || a.Refresh.TokenEndpoint != "https://auth.example.com/token" || a.Refresh.Scope != "read write" || a.Refresh.Resource != "https://mcp.example.com" {
			t.Fatalf("credential: %s", cr.RawJSON())
		}
		_, _, sec, _ := storedCredential(t, s, cr.ID)
		if sec != (vault.Secret{AccessToken: "acc-shape", RefreshToken: "ref-shape", ClientSecret: "cs-shape"}) {
			t.Fatal("stored secret does not hold what was sent")
		}
	})

	t.Run("mcp_oauth minimal", func(t *testing.T) {
		cr := newCred(t, c, v.ID, oauthParams("https://other.example.com/mcp", "acc-min", nil))
		auth := vltKeys(t, "auth", cr.Auth.RawJSON(), "type", "mcp_server_url", "expires_at", "refresh")
		if string(auth["expires_at"]) != "null" || string(auth["refresh"]) != "null" || cr.JSON.DisplayName.Raw() != "null" {
			t.Fatalf("credential: %s", cr.RawJSON())
		}
	})

	t.Run("static_bearer", func(t *testing.T) {
		cr := newCred(t, c, v.ID, bearerParams("https://bearer.example.com/sse", "tok-shape"))
		vltKeys(t, "auth", cr.Auth.RawJSON(), "type", "mcp_server_url")
		if cr.Auth.Type != "static_bearer" || cr.Auth.MCPServerURL != "https://bearer.example.com/sse" || string(cr.JSON.Metadata.Raw()) != "{}" {
			t.Fatalf("credential: %s", cr.RawJSON())
		}
	})

	for _, tc := range []struct {
		name, secretName string
		hosts            []string
		injection        *anthropic.BetaManagedAgentsInjectionLocationParams
		want             string
	}{
		// Omitted enables both; a given object turns its omitted fields off.
		{"env default injection", "A_KEY", nil, nil, `{"injection_location":{"body":true,"header":true},"networking":{"type":"unrestricted"},"secret_name":"A_KEY","type":"environment_variable"}`},
		{"env header only", "B_KEY", []string{"api.example.com", "*.example.org", "192.0.2.1"}, &anthropic.BetaManagedAgentsInjectionLocationParams{Header: anthropic.Bool(true)},
			`{"injection_location":{"body":false,"header":true},"networking":{"allowed_hosts":["api.example.com","*.example.org","192.0.2.1"],"type":"limited"},"secret_name":"B_KEY","type":"environment_variable"}`},
		{"env body only", "C_KEY", nil, &anthropic.BetaManagedAgentsInjectionLocationParams{Body: anthropic.Bool(true), Header: anthropic.Bool(false)},
			`{"injection_location":{"body":true,"header":false},"networking":{"type":"unrestricted"},"secret_name":"C_KEY","type":"environment_variable"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := envVarParams(tc.secretName, "value-"+tc.secretName, tc.hosts...)
			if tc.injection != nil {
				p.Auth.OfEnvironmentVariable.InjectionLocation = *tc.injection
			}
			cr := newCred(t, c, v.ID, p)
			if got := compactJSON(t, json.RawMessage(cr.Auth.RawJSON())); got != tc.want {
				t.Fatalf("auth = %s\nwant   %s", got, tc.want)
			}
			ev := cr.Auth.AsEnvironmentVariable()
			if ev.SecretName != tc.secretName || ev.Networking.Type == "" {
				t.Fatalf("decoded auth: %+v", ev)
			}
			got, err := c.Beta.Vaults.Credentials.Get(ctx, cr.ID, anthropic.BetaVaultCredentialGetParams{VaultID: v.ID})
			if err != nil || got.RawJSON() != cr.RawJSON() {
				t.Fatalf("get = %v, %v", got, err)
			}
		})
	}

	// List: the vault's credentials, newest first, paginated.
	page, err := c.Beta.Vaults.Credentials.List(ctx, v.ID, anthropic.BetaVaultCredentialListParams{Limit: anthropic.Int(2)})
	if err != nil || len(page.Data) != 2 || page.Data[0].Auth.SecretName != "C_KEY" || page.NextPage == "" {
		t.Fatalf("list = %v, %v", page, err)
	}
	n := 0
	for it := c.Beta.Vaults.Credentials.ListAutoPaging(ctx, v.ID, anthropic.BetaVaultCredentialListParams{Limit: anthropic.Int(4)}); it.Next(); {
		vltKeys(t, "credential", it.Current().RawJSON(), credentialKeys...)
		n++
	}
	if n != 6 {
		t.Fatalf("listed %d credentials, want 6", n)
	}
	someID := page.Data[0].ID
	other := newVault(t, c, "empty")
	page, err = c.Beta.Vaults.Credentials.List(ctx, other.ID, anthropic.BetaVaultCredentialListParams{})
	if err != nil || len(page.Data) != 0 || page.JSON.Data.Raw() != "[]" {
		t.Fatalf("empty vault list = %v, %v", page, err)
	}
	_, err = c.Beta.Vaults.Credentials.List(ctx, "vlt_missing", anthropic.BetaVaultCredentialListParams{})
	apiErr(t, err, 404, "not_found_error")
	// A credential is only found under its own vault.
	_, err = c.Beta.Vaults.Credentials.Get(ctx, someID, anthropic.BetaVaultCredentialGetParams{VaultID: other.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Vaults.Credentials.Archive(ctx, someID, anthropic.BetaVaultCredentialArchiveParams{VaultID: other.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Vaults.Credentials.Delete(ctx, someID, anthropic.BetaVaultCredentialDeleteParams{VaultID: other.ID})
	apiErr(t, err, 404, "not_found_error")

	// Delete: receipt, then gone, row and sealed secret included.
	del, err := c.Beta.Vaults.Credentials.Delete(ctx, someID, anthropic.BetaVaultCredentialDeleteParams{VaultID: v.ID})
	if err != nil || del.ID != someID || del.Type != "vault_credential_deleted" {
		t.Fatalf("delete = %v, %v", del, err)
	}
	if _, _, _, ok := storedCredential(t, s, someID); ok {
		t.Fatal("deleted credential still stored")
	}
	_, err = c.Beta.Vaults.Credentials.Get(ctx, someID, anthropic.BetaVaultCredentialGetParams{VaultID: v.ID})
	apiErr(t, err, 404, "not_found_error")
}

// ---- credentials: updates --------------------------------------------------

// Credential updates: key fields never change, secrets rotate, and
// injection_location merges field by field with one location kept on.
func TestVaultCredentialUpdate(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	v := newVault(t, c, "updates")
	path := func(id string) string { return "/v1/vaults/" + v.ID + "/credentials/" + id }

	t.Run("static_bearer rotation", func(t *testing.T) {
		cr := newCred(t, c, v.ID, bearerParams("https://b.example.com/mcp", "tok-old"))
		up, err := c.Beta.Vaults.Credentials.Update(ctx, cr.ID, anthropic.BetaVaultCredentialUpdateParams{VaultID: v.ID,
			Auth:        anthropic.BetaVaultCredentialUpdateParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerUpdateParams{Token: anthropic.String("tok-new")}},
			DisplayName: anthropic.String("Bearer"), Metadata: map[string]string{"k": "v"}})
		if err != nil {
			t.Fatal(err)
		}
		if up.DisplayName != "Bearer" || up.Metadata["k"] != "v" || up.Auth.MCPServerURL != cr.Auth.MCPServerURL || !up.UpdatedAt.After(cr.UpdatedAt) || !up.CreatedAt.Equal(cr.CreatedAt) {
			t.Fatalf("updated: %s", up.RawJSON())
		}
		if _, _, sec, _ := storedCredential(t, s, cr.ID); sec.Token != "tok-new" {
			t.Fatal("token not rotated")
		}
		// Resending the unchanged key is accepted; changing it is not.
		if code, body := vltDo(t, s, "POST", path(cr.ID), `{"auth":{"type":"static_bearer","mcp_server_url":"https://b.example.com/mcp"}}`); code != 200 {
			t.Fatalf("same url: %d %s", code, body)
		}
		code, body := vltDo(t, s, "POST", path(cr.ID), `{"auth":{"type":"static_bearer","mcp_server_url":"https://c.example.com/mcp"}}`)
		if code != 400 || !strings.HasPrefix(vltErrMessage(t, body), "auth.mcp_server_url: cannot be changed") {
			t.Fatalf("changed url: %d %s", code, body)
		}
		// display_name null clears it; metadata null deletes a key.
		code, body = vltDo(t, s, "POST", path(cr.ID), `{"display_name":null,"metadata":{"k":null}}`)
		m := vltKeys(t, "credential", string(body), credentialKeys...)
		if code != 200 || string(m["display_name"]) != "null" || string(m["metadata"]) != "{}" {
			t.Fatalf("clear: %d %s", code, body)
		}
		// The type cannot change.
		_, err = c.Beta.Vaults.Credentials.Update(ctx, cr.ID, anthropic.BetaVaultCredentialUpdateParams{VaultID: v.ID,
			Auth: anthropic.BetaVaultCredentialUpdateParamsAuthUnion{OfMCPOAuth: &anthropic.BetaManagedAgentsMCPOAuthUpdateParams{AccessToken: anthropic.String("x")}}})
		if e := apiErr(t, err, 400, "invalid_request_error"); !strings.Contains(e.RawJSON(), "auth.type") {
			t.Fatalf("type change: %s", e.RawJSON())
		}
	})

	t.Run("mcp_oauth rotation", func(t *testing.T) {
		cr := newCred(t, c, v.ID, oauthParams("https://o.example.com/mcp", "acc-1", &anthropic.BetaManagedAgentsMCPOAuthRefreshParams{
			ClientID: "cid", RefreshToken: "ref-1", TokenEndpoint: "https://auth.example.com/token",
			TokenEndpointAuth: tokenAuth(vault.AuthClientSecretBasic, "cs-1"), Scope: anthropic.String("a b"),
		}))
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		// access_token, expires_at and refresh_token rotate without
		// resending the rest of refresh; a secret sent with the other
		// secret-carrying type keeps the stored type.
		up, err := c.Beta.Vaults.Credentials.Update(ctx, cr.ID, anthropic.BetaVaultCredentialUpdateParams{VaultID: v.ID,
			Auth: anthropic.BetaVaultCredentialUpdateParamsAuthUnion{OfMCPOAuth: &anthropic.BetaManagedAgentsMCPOAuthUpdateParams{
				AccessToken: anthropic.String("acc-2"), ExpiresAt: anthropic.Time(exp),
				Refresh: anthropic.BetaManagedAgentsMCPOAuthRefreshUpdateParams{RefreshToken: anthropic.String("ref-2"),
					TokenEndpointAuth: anthropic.BetaManagedAgentsMCPOAuthRefreshUpdateParamsTokenEndpointAuthUnion{
						OfClientSecretPost: &anthropic.BetaManagedAgentsTokenEndpointAuthPostUpdateParam{ClientSecret: anthropic.String("cs-2")}}},
			}}})
		if err != nil {
			t.Fatal(err)
		}
		a := up.Auth.AsMCPOAuth()
		if !a.ExpiresAt.Equal(exp) || a.Refresh.TokenEndpointAuth.Type != "client_secret_basic" || a.Refresh.ClientID != "cid" || a.Refresh.Scope != "a b" {
			t.Fatalf("updated: %s", up.RawJSON())
		}
		if _, _, sec, _ := storedCredential(t, s, cr.ID); sec != (vault.Secret{AccessToken: "acc-2", RefreshToken: "ref-2", ClientSecret: "cs-2"}) {
			t.Fatal("secrets not rotated")
		}
		// An empty scope clears it; expires_at null clears the expiry.
		code, body := vltDo(t, s, "POST", path(cr.ID), `{"auth":{"type":"mcp_oauth","expires_at":null,"refresh":{"scope":""}}}`)
		if code != 200 || !strings.Contains(string(body), `"expires_at":null`) || !strings.Contains(string(body), `"scope":null`) {
			t.Fatalf("clear scope: %d %s", code, body)
		}
		for _, tc := range []struct{ body, msg string }{
			{`{"auth":{"type":"mcp_oauth","refresh":{"client_id":"other"}}}`, "auth.refresh.client_id: cannot be changed"},
			{`{"auth":{"type":"mcp_oauth","refresh":{"token_endpoint":"https://x.example.com/t"}}}`, "auth.refresh.token_endpoint: cannot be changed"},
			{`{"auth":{"type":"mcp_oauth","refresh":{"token_endpoint_auth":{"type":"none"}}}}`, "auth.refresh.token_endpoint_auth.type: unknown value"},
			{`{"auth":{"type":"mcp_oauth","refresh":null}}`, "auth.refresh: must not be null"},
			{`{"auth":{"type":"mcp_oauth","access_token":""}}`, "auth.access_token: must not be empty"},
			{`{"auth":{"type":"mcp_oauth","access_token":null}}`, "auth.access_token: must not be null"},
			{`{"auth":{"type":"mcp_oauth","expires_at":"2001-01-01T00:00:00Z"}}`, "auth.expires_at: must be in the future"},
		} {
			code, body := vltDo(t, s, "POST", path(cr.ID), tc.body)
			if code != 400 || !strings.HasPrefix(vltErrMessage(t, body), tc.msg) {
				t.Errorf("%s: %d %s, want %q", tc.body, code, body, tc.msg)
			}
		}
		// Nothing was written by the failed requests.
		if _, _, sec, _ := storedCredential(t, s, cr.ID); sec.AccessToken != "acc-2" {
			t.Fatal("a failed update changed the secret")
		}
		// A credential without refresh cannot gain one by update, and a
		// public client has no secret to rotate.
		plain := newCred(t, c, v.ID, oauthParams("https://plain.example.com/mcp", "acc", nil))
		code, body = vltDo(t, s, "POST", path(plain.ID), `{"auth":{"type":"mcp_oauth","refresh":{"refresh_token":"r"}}}`)
		if code != 400 || !strings.HasPrefix(vltErrMessage(t, body), "auth.refresh: the credential has no refresh configuration") {
			t.Fatalf("add refresh: %d %s", code, body)
		}
		public := newCred(t, c, v.ID, oauthParams("https://public.example.com/mcp", "acc", &anthropic.BetaManagedAgentsMCPOAuthRefreshParams{
			ClientID: "cid", RefreshToken: "r", TokenEndpoint: "https://auth.example.com/token", TokenEndpointAuth: tokenAuth(vault.AuthNone, "")}))
		code, body = vltDo(t, s, "POST", path(public.ID), `{"auth":{"type":"mcp_oauth","refresh":{"token_endpoint_auth":{"type":"client_secret_basic","client_secret":"s"}}}}`)
		if code != 400 || !strings.Contains(vltErrMessage(t, body), `uses token endpoint auth "none"`) {
			t.Fatalf("secret on public client: %d %s", code, body)
		}
	})

	t.Run("environment_variable merge", func(t *testing.T) {
		cr := newCred(t, c, v.ID, envVarParams("MERGE_KEY", "val-1", "api.example.com"))
		// Fields merge one by one.
		up, err := c.Beta.Vaults.Credentials.Update(ctx, cr.ID, anthropic.BetaVaultCredentialUpdateParams{VaultID: v.ID,
			Auth: anthropic.BetaVaultCredentialUpdateParamsAuthUnion{OfEnvironmentVariable: &anthropic.BetaManagedAgentsEnvironmentVariableUpdateParams{
				InjectionLocation: anthropic.BetaManagedAgentsInjectionLocationUpdateParams{Body: anthropic.Bool(false)}}}})
		if err != nil {
			t.Fatal(err)
		}
		if il := up.Auth.InjectionLocation; il.Body || !il.Header || up.Auth.Networking.AllowedHosts[0] != "api.example.com" {
			t.Fatalf("merged: %s", up.Auth.RawJSON())
		}
		// Networking is replaced as a whole; the secret rotates.
		up, err = c.Beta.Vaults.Credentials.Update(ctx, cr.ID, anthropic.BetaVaultCredentialUpdateParams{VaultID: v.ID,
			Auth: anthropic.BetaVaultCredentialUpdateParamsAuthUnion{OfEnvironmentVariable: &anthropic.BetaManagedAgentsEnvironmentVariableUpdateParams{
				SecretValue: anthropic.String("val-2"),
				Networking:  anthropic.BetaManagedAgentsCredentialNetworkingParamsUnion{OfUnrestricted: &anthropic.BetaManagedAgentsUnrestrictedCredentialNetworkingParams{}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if compactJSON(t, json.RawMessage(up.Auth.RawJSON())) != `{"injection_location":{"body":false,"header":true},"networking":{"type":"unrestricted"},"secret_name":"MERGE_KEY","type":"environment_variable"}` {
			t.Fatalf("replaced: %s", up.Auth.RawJSON())
		}
		if _, _, sec, _ := storedCredential(t, s, cr.ID); sec.Value != "val-2" {
			t.Fatal("secret_value not rotated")
		}
		// The last enabled location cannot be turned off; nulls are refused.
		for _, tc := range []struct{ body, msg string }{
			{`{"auth":{"type":"environment_variable","injection_location":{"header":false}}}`, "auth.injection_location: at least one of header and body must be enabled"},
			{`{"auth":{"type":"environment_variable","injection_location":null}}`, "auth.injection_location: must not be null"},
			{`{"auth":{"type":"environment_variable","injection_location":{"body":null}}}`, "auth.injection_location.body: must not be null"},
			{`{"auth":{"type":"environment_variable","networking":null}}`, "auth.networking: must not be null"},
			{`{"auth":{"type":"environment_variable","secret_name":"OTHER"}}`, "auth.secret_name: cannot be changed"},
			{`{"auth":{"type":"environment_variable","secret_value":""}}`, "auth.secret_value: must not be empty"},
			{`{"display_name":""}`, "display_name: must not be empty"},
			{`{"auth":null}`, "auth: must not be null"},
		} {
			code, body := vltDo(t, s, "POST", path(cr.ID), tc.body)
			if code != 400 || !strings.HasPrefix(vltErrMessage(t, body), tc.msg) {
				t.Errorf("%s: %d %s, want %q", tc.body, code, body, tc.msg)
			}
		}
	})
}

// ---- keys, limits, archive -------------------------------------------------

// One active credential per key and vault.
func TestVaultCredentialDuplicateKey(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	v := newVault(t, c, "dups")

	first := newCred(t, c, v.ID, bearerParams("https://mcp.example.com/mcp", "tok-a"))
	env := newCred(t, c, v.ID, envVarParams("API_KEY", "val-a"))
	cases := []struct {
		name string
		p    anthropic.BetaVaultCredentialNewParams
		msg  string
	}{
		{"same url, same type", bearerParams("https://mcp.example.com/mcp", "tok-b"), "auth.mcp_server_url: vault " + v.ID + " already has an active credential (" + first.ID + ")"},
		// mcp_oauth and static_bearer share the mcp_server_url key.
		{"same url, mcp_oauth", oauthParams("https://mcp.example.com/mcp", "acc", nil), "auth.mcp_server_url: vault"},
		{"same secret_name", envVarParams("API_KEY", "val-b"), "auth.secret_name: vault " + v.ID + " already has an active credential (" + env.ID + ")"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Beta.Vaults.Credentials.New(ctx, v.ID, tc.p)
			e := apiErr(t, err, 409, "invalid_request_error")
			if !strings.Contains(e.RawJSON(), tc.msg) {
				t.Fatalf("message: %s, want %q", e.RawJSON(), tc.msg)
			}
			// Another vault may hold the same key, once.
			o := newVault(t, c, "other")
			newCred(t, c, o.ID, tc.p)
			_, err = c.Beta.Vaults.Credentials.New(ctx, o.ID, tc.p)
			apiErr(t, err, 409, "")
		})
	}
	// A secret_name and a URL never collide with each other.
	newCred(t, c, v.ID, envVarParams("https", "x"))
	// Archiving frees the key.
	if _, err := c.Beta.Vaults.Credentials.Archive(ctx, first.ID, anthropic.BetaVaultCredentialArchiveParams{VaultID: v.ID}); err != nil {
		t.Fatal(err)
	}
	again := newCred(t, c, v.ID, bearerParams("https://mcp.example.com/mcp", "tok-c"))
	if again.ID == first.ID {
		t.Fatal("same id reused")
	}
}

// At most 20 active credentials per vault.
func TestVaultCredentialLimit(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	v := newVault(t, c, "limit")
	var ids []string
	for i := range 20 {
		ids = append(ids, newCred(t, c, v.ID, envVarParams(fmt.Sprintf("KEY_%d", i), "v")).ID)
	}
	_, err := c.Beta.Vaults.Credentials.New(ctx, v.ID, envVarParams("KEY_20", "v"))
	if e := apiErr(t, err, 409, "invalid_request_error"); !strings.Contains(e.RawJSON(), "maximum of 20") {
		t.Fatalf("21st: %s", e.RawJSON())
	}
	page, _ := c.Beta.Vaults.Credentials.List(ctx, v.ID, anthropic.BetaVaultCredentialListParams{Limit: anthropic.Int(100)})
	if len(page.Data) != 20 {
		t.Fatalf("%d credentials stored, want 20", len(page.Data))
	}
	// Archived credentials do not count: archive-and-recreate works at the limit.
	if _, err := c.Beta.Vaults.Credentials.Archive(ctx, ids[0], anthropic.BetaVaultCredentialArchiveParams{VaultID: v.ID}); err != nil {
		t.Fatal(err)
	}
	newCred(t, c, v.ID, envVarParams("KEY_20", "v"))
	// Deleting frees a slot too.
	if _, err := c.Beta.Vaults.Credentials.Delete(ctx, ids[1], anthropic.BetaVaultCredentialDeleteParams{VaultID: v.ID}); err != nil {
		t.Fatal(err)
	}
	newCred(t, c, v.ID, envVarParams("KEY_21", "v"))
	_, err = c.Beta.Vaults.Credentials.New(ctx, v.ID, envVarParams("KEY_22", "v"))
	apiErr(t, err, 409, "invalid_request_error")
}

// Archive purges secrets for good; archived objects
// are read-only; vault archive and delete reach the credentials.
func TestVaultArchivePurgesSecrets(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	v := newVault(t, c, "archive")
	cr := newCred(t, c, v.ID, bearerParams("https://mcp.example.com/mcp", "tok-archive"))
	if sealed, name, _, _ := storedCredential(t, s, cr.ID); sealed == nil || name == "" {
		t.Fatal("secret or key not stored")
	}

	arch, err := c.Beta.Vaults.Credentials.Archive(ctx, cr.ID, anthropic.BetaVaultCredentialArchiveParams{VaultID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	if arch.ArchivedAt.IsZero() || !arch.UpdatedAt.Equal(arch.ArchivedAt) || arch.Auth.MCPServerURL != "https://mcp.example.com/mcp" {
		t.Fatalf("archived: %s", arch.RawJSON())
	}
	if sealed, name, _, ok := storedCredential(t, s, cr.ID); !ok || sealed != nil || name != "" {
		t.Fatalf("archive kept the secret (%d bytes) or key %q", len(sealed), name)
	}
	again, err := c.Beta.Vaults.Credentials.Archive(ctx, cr.ID, anthropic.BetaVaultCredentialArchiveParams{VaultID: v.ID})
	if err != nil || again.RawJSON() != arch.RawJSON() {
		t.Fatalf("re-archive = %v, %v", again, err)
	}
	_, err = c.Beta.Vaults.Credentials.Update(ctx, cr.ID, anthropic.BetaVaultCredentialUpdateParams{VaultID: v.ID, DisplayName: anthropic.String("x")})
	apiErr(t, err, 409, "invalid_request_error")
	_, err = c.Beta.Vaults.Credentials.MCPOAuthValidate(ctx, cr.ID, anthropic.BetaVaultCredentialMCPOAuthValidateParams{VaultID: v.ID})
	apiErr(t, err, 409, "invalid_request_error")
	page, _ := c.Beta.Vaults.Credentials.List(ctx, v.ID, anthropic.BetaVaultCredentialListParams{})
	if len(page.Data) != 0 {
		t.Fatalf("archived credential listed by default: %s", page.RawJSON())
	}
	page, _ = c.Beta.Vaults.Credentials.List(ctx, v.ID, anthropic.BetaVaultCredentialListParams{IncludeArchived: anthropic.Bool(true)})
	if len(page.Data) != 1 || page.Data[0].ID != cr.ID {
		t.Fatalf("include_archived: %s", page.RawJSON())
	}

	// Archiving the vault archives and purges every active credential.
	live := []string{
		newCred(t, c, v.ID, bearerParams("https://mcp.example.com/mcp", "tok-live")).ID,
		newCred(t, c, v.ID, envVarParams("LIVE", "val-live")).ID,
	}
	varch, err := c.Beta.Vaults.Archive(ctx, v.ID, anthropic.BetaVaultArchiveParams{})
	if err != nil || varch.ArchivedAt.IsZero() {
		t.Fatalf("archive vault = %v, %v", varch, err)
	}
	for _, id := range live {
		got, err := c.Beta.Vaults.Credentials.Get(ctx, id, anthropic.BetaVaultCredentialGetParams{VaultID: v.ID})
		if err != nil || !got.ArchivedAt.Equal(varch.ArchivedAt) {
			t.Fatalf("credential after vault archive = %v, %v", got, err)
		}
		if sealed, _, _, _ := storedCredential(t, s, id); sealed != nil {
			t.Fatalf("vault archive kept the secret of %s", id)
		}
	}
	// The original archive time of the earlier credential is kept.
	if got, _ := c.Beta.Vaults.Credentials.Get(ctx, cr.ID, anthropic.BetaVaultCredentialGetParams{VaultID: v.ID}); !got.ArchivedAt.Equal(arch.ArchivedAt) {
		t.Fatalf("re-archived credential: %s", got.RawJSON())
	}
	_, err = c.Beta.Vaults.Credentials.New(ctx, v.ID, bearerParams("https://new.example.com/mcp", "t"))
	apiErr(t, err, 409, "invalid_request_error")

	// Deleting the vault deletes its credentials.
	if _, err := c.Beta.Vaults.Delete(ctx, v.ID, anthropic.BetaVaultDeleteParams{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range append(live, cr.ID) {
		if _, _, _, ok := storedCredential(t, s, id); ok {
			t.Fatalf("credential %s survived its vault", id)
		}
	}
}

// ---- validation ------------------------------------------------------------

// GEN conventions: bad input is a 400 naming the field, and writes nothing.
func TestVaultValidation(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	v := newVault(t, c, "validation")
	existing := newCred(t, c, v.ID, bearerParams("https://exists.example.com/mcp", "t"))
	vp, cp := "/v1/vaults", "/v1/vaults/"+v.ID+"/credentials"
	long := strings.Repeat("x", 256)
	pairs := make([]string, 17)
	for i := range pairs {
		pairs[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	meta17 := "{" + strings.Join(pairs, ",") + "}"
	sb := func(extra string) string {
		return `{"auth":{"type":"static_bearer","token":"t","mcp_server_url":"https://mcp.example.com"` + extra + `}}`
	}
	oa := func(refresh string) string {
		return `{"auth":{"type":"mcp_oauth","access_token":"a","mcp_server_url":"https://oauth.example.com","refresh":` + refresh + `}}`
	}
	ev := func(networking, extra string) string {
		return `{"auth":{"type":"environment_variable","secret_name":"K","secret_value":"v","networking":` + networking + extra + `}}`
	}
	hosts17 := `["a.example.com"` + strings.Repeat(`,"a.example.com"`, 16) + `]`
	cases := []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"vault display_name required", "POST", vp, `{}`, 400, "display_name: field required"},
		{"vault display_name empty", "POST", vp, `{"display_name":""}`, 400, "display_name: must not be empty"},
		{"vault display_name too long", "POST", vp, `{"display_name":"` + long + `"}`, 400, "display_name: must be at most 255 characters"},
		{"vault display_name type", "POST", vp, `{"display_name":5}`, 400, "display_name: expected a string"},
		{"vault metadata pairs", "POST", vp, `{"display_name":"x","metadata":` + meta17 + `}`, 400, "metadata: at most 16 pairs"},
		{"vault metadata key length", "POST", vp, `{"display_name":"x","metadata":{"` + strings.Repeat("k", 65) + `":"v"}}`, 400, "metadata key: must be at most 64 characters"},
		{"vault unknown field", "POST", vp, `{"display_name":"x","name":"y"}`, 400, "name: unknown field"},
		{"vault malformed", "POST", vp, `{"display_name":`, 400, "malformed JSON"},
		{"vault update null name", "POST", vp + "/" + v.ID, `{"display_name":null}`, 400, "display_name: must not be null"},
		{"vault update metadata value", "POST", vp + "/" + v.ID, `{"metadata":{"k":"` + strings.Repeat("v", 513) + `"}}`, 400, "metadata.k: value must be at most 512 characters"},
		{"vault list limit", "GET", vp + "?limit=101", ``, 400, "limit: must be between 1 and 100"},
		{"vault list include_archived", "GET", vp + "?include_archived=maybe", ``, 400, "include_archived: must be true or false"},
		{"vault list page", "GET", vp + "?page=bogus!", ``, 400, "page: invalid page cursor"},
		{"vault missing", "GET", vp + "/vlt_missing", ``, 404, "not found"},

		{"auth required", "POST", cp, `{}`, 400, "auth: field required"},
		{"auth null", "POST", cp, `{"auth":null}`, 400, "auth: field required"},
		{"auth not object", "POST", cp, `{"auth":"bearer"}`, 400, "auth: expected an object"},
		{"auth type required", "POST", cp, `{"auth":{"token":"t"}}`, 400, "auth.type: field required"},
		{"auth type not string", "POST", cp, `{"auth":{"type":7}}`, 400, "auth.type: expected a string"},
		{"auth type unknown", "POST", cp, `{"auth":{"type":"basic_auth"}}`, 400, `auth.type: unknown value "basic_auth"`},
		{"token required", "POST", cp, `{"auth":{"type":"static_bearer","mcp_server_url":"https://x.example.com"}}`, 400, "auth.token: field required"},
		{"token empty", "POST", cp, `{"auth":{"type":"static_bearer","token":"","mcp_server_url":"https://x.example.com"}}`, 400, "auth.token: must not be empty"},
		{"token type", "POST", cp, `{"auth":{"type":"static_bearer","token":5,"mcp_server_url":"https://x.example.com"}}`, 400, "auth.token: expected a string"},
		{"url required", "POST", cp, `{"auth":{"type":"static_bearer","token":"t"}}`, 400, "auth.mcp_server_url: field required"},
		{"url relative", "POST", cp, `{"auth":{"type":"static_bearer","token":"t","mcp_server_url":"/mcp"}}`, 400, "auth.mcp_server_url: must be an absolute http or https URL"},
		{"url scheme", "POST", cp, `{"auth":{"type":"static_bearer","token":"t","mcp_server_url":"ftp://x.example.com"}}`, 400, "auth.mcp_server_url: scheme must be http or https"},
		{"url userinfo", "POST", cp, `{"auth":{"type":"static_bearer","token":"t","mcp_server_url":"https://u:p@x.example.com"}}`, 400, "auth.mcp_server_url: must not contain user credentials"},
		{"auth unknown field", "POST", cp, sb(`,"refresh":{}`), 400, "auth.refresh: unknown field"},
		{"display_name too long", "POST", cp, `{"display_name":"` + long + `",` + sb("")[1:], 400, "display_name: must be at most 255 characters"},
		{"metadata pairs", "POST", cp, `{"metadata":` + meta17 + `,` + sb("")[1:], 400, "metadata: at most 16 pairs"},
		{"access_token required", "POST", cp, `{"auth":{"type":"mcp_oauth","mcp_server_url":"https://x.example.com"}}`, 400, "auth.access_token: field required"},
		{"expires_at format", "POST", cp, `{"auth":{"type":"mcp_oauth","access_token":"a","mcp_server_url":"https://x.example.com","expires_at":"tomorrow"}}`, 400, "auth.expires_at: must be an RFC 3339 timestamp"},
		{"expires_at past", "POST", cp, `{"auth":{"type":"mcp_oauth","access_token":"a","mcp_server_url":"https://x.example.com","expires_at":"2020-01-01T00:00:00Z"}}`, 400, "auth.expires_at: must be in the future"},
		{"refresh not object", "POST", cp, oa(`"r"`), 400, "auth.refresh: expected an object"},
		{"refresh client_id", "POST", cp, oa(`{"refresh_token":"r","token_endpoint":"https://a.example.com/t","token_endpoint_auth":{"type":"none"}}`), 400, "auth.refresh.client_id: field required"},
		{"refresh refresh_token", "POST", cp, oa(`{"client_id":"c","token_endpoint":"https://a.example.com/t","token_endpoint_auth":{"type":"none"}}`), 400, "auth.refresh.refresh_token: field required"},
		{"refresh token_endpoint", "POST", cp, oa(`{"client_id":"c","refresh_token":"r","token_endpoint":"token","token_endpoint_auth":{"type":"none"}}`), 400, "auth.refresh.token_endpoint: must be an absolute"},
		{"refresh token_endpoint_auth", "POST", cp, oa(`{"client_id":"c","refresh_token":"r","token_endpoint":"https://a.example.com/t"}`), 400, "auth.refresh.token_endpoint_auth: field required"},
		{"token_endpoint_auth type", "POST", cp, oa(`{"client_id":"c","refresh_token":"r","token_endpoint":"https://a.example.com/t","token_endpoint_auth":{"type":"private_key_jwt"}}`), 400, "auth.refresh.token_endpoint_auth.type: unknown value"},
		{"client_secret required", "POST", cp, oa(`{"client_id":"c","refresh_token":"r","token_endpoint":"https://a.example.com/t","token_endpoint_auth":{"type":"client_secret_basic"}}`), 400, "auth.refresh.token_endpoint_auth.client_secret: field required"},
		{"client_secret on none", "POST", cp, oa(`{"client_id":"c","refresh_token":"r","token_endpoint":"https://a.example.com/t","token_endpoint_auth":{"type":"none","client_secret":"s"}}`), 400, "auth.refresh.token_endpoint_auth.client_secret: not allowed"},
		{"refresh unknown field", "POST", cp, oa(`{"client_id":"c","refresh_token":"r","token_endpoint":"https://a.example.com/t","token_endpoint_auth":{"type":"none"},"grant":"x"}`), 400, "auth.refresh.grant: unknown field"},
		{"secret_name required", "POST", cp, `{"auth":{"type":"environment_variable","secret_value":"v","networking":{"type":"unrestricted"}}}`, 400, "auth.secret_name: field required"},
		{"secret_name shape", "POST", cp, `{"auth":{"type":"environment_variable","secret_name":"1-BAD","secret_value":"v","networking":{"type":"unrestricted"}}}`, 400, "auth.secret_name: must be an environment variable name"},
		{"secret_value required", "POST", cp, `{"auth":{"type":"environment_variable","secret_name":"K","networking":{"type":"unrestricted"}}}`, 400, "auth.secret_value: field required"},
		{"networking required", "POST", cp, `{"auth":{"type":"environment_variable","secret_name":"K","secret_value":"v"}}`, 400, "auth.networking: field required"},
		{"networking null", "POST", cp, ev(`null`, ``), 400, "auth.networking: must not be null"},
		{"networking type", "POST", cp, ev(`{"type":"open"}`, ``), 400, "auth.networking.type: unknown value"},
		{"allowed_hosts required", "POST", cp, ev(`{"type":"limited"}`, ``), 400, "auth.networking.allowed_hosts: field required"},
		{"allowed_hosts empty", "POST", cp, ev(`{"type":"limited","allowed_hosts":[]}`, ``), 400, "auth.networking.allowed_hosts: must contain at least one host"},
		{"allowed_hosts too many", "POST", cp, ev(`{"type":"limited","allowed_hosts":`+hosts17+`}`, ``), 400, "auth.networking.allowed_hosts: at most 16 entries"},
		{"allowed_hosts not strings", "POST", cp, ev(`{"type":"limited","allowed_hosts":[1]}`, ``), 400, "auth.networking.allowed_hosts: expected an array of strings"},
		{"allowed_hosts url", "POST", cp, ev(`{"type":"limited","allowed_hosts":["https://api.example.com"]}`, ``), 400, "auth.networking.allowed_hosts[0]: must be a bare hostname"},
		{"allowed_hosts port", "POST", cp, ev(`{"type":"limited","allowed_hosts":["ok.example.com","api.example.com:443"]}`, ``), 400, "auth.networking.allowed_hosts[1]: ports and IPv6 addresses are not accepted"},
		{"allowed_hosts ipv6", "POST", cp, ev(`{"type":"limited","allowed_hosts":["2001:db8::1"]}`, ``), 400, "auth.networking.allowed_hosts[0]: ports and IPv6"},
		{"allowed_hosts wildcard", "POST", cp, ev(`{"type":"limited","allowed_hosts":["api.*.com"]}`, ``), 400, "auth.networking.allowed_hosts[0]: a wildcard is only allowed"},
		{"unrestricted with hosts", "POST", cp, ev(`{"type":"unrestricted","allowed_hosts":["a.com"]}`, ``), 400, "auth.networking.allowed_hosts: only allowed with type \"limited\""},
		// At least one injection location on create, and no nulls.
		{"injection null", "POST", cp, ev(`{"type":"unrestricted"}`, `,"injection_location":null`), 400, "auth.injection_location: must not be null"},
		{"injection both off", "POST", cp, ev(`{"type":"unrestricted"}`, `,"injection_location":{"header":false,"body":false}`), 400, "auth.injection_location: at least one of header and body must be enabled"},
		{"injection empty", "POST", cp, ev(`{"type":"unrestricted"}`, `,"injection_location":{}`), 400, "auth.injection_location: at least one"},
		{"injection field null", "POST", cp, ev(`{"type":"unrestricted"}`, `,"injection_location":{"header":null,"body":true}`), 400, "auth.injection_location.header: must not be null"},
		{"credential in missing vault", "POST", "/v1/vaults/vlt_missing/credentials", sb(""), 404, "not found"},
		{"credential missing", "GET", cp + "/vcrd_missing", ``, 404, "not found"},
		{"update missing", "POST", cp + "/vcrd_missing", `{}`, 404, "not found"},
		{"update bad display_name", "POST", cp + "/" + existing.ID, `{"display_name":"` + long + `"}`, 400, "display_name: must be at most 255 characters"},
		{"wrong content type", "POST", vp, `display_name=x`, 400, "Content-Type must be application/json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Content-Type": {"application/json"}}
			if tc.name == "wrong content type" {
				h.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			var rd io.Reader
			if tc.body != "" {
				rd = strings.NewReader(tc.body)
			}
			resp := s.Do(t, tc.method, tc.path, rd, h)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if msg := vltErrMessage(t, b); !strings.Contains(msg, tc.msg) {
				t.Fatalf("message %q, want it to contain %q", msg, tc.msg)
			}
			if tc.status == 400 && !strings.Contains(string(b), `"type":"invalid_request_error"`) {
				t.Fatalf("error type: %s", b)
			}
		})
	}
	// Nothing was written by any of them.
	page, _ := c.Beta.Vaults.List(context.Background(), anthropic.BetaVaultListParams{IncludeArchived: anthropic.Bool(true)})
	creds, _ := c.Beta.Vaults.Credentials.List(context.Background(), v.ID, anthropic.BetaVaultCredentialListParams{IncludeArchived: anthropic.Bool(true)})
	if len(page.Data) != 1 || page.Data[0].DisplayName != "validation" || len(creds.Data) != 1 {
		t.Fatalf("failed requests wrote: %s %s", page.RawJSON(), creds.RawJSON())
	}
}

// Vaults and credentials are invisible outside their workspace.
func TestVaultWorkspaceIsolation(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	admin := s.Client("")
	v := newVault(t, admin, "mine")
	cr := newCred(t, admin, v.ID, bearerParams("https://mcp.example.com/mcp", "tok"))
	other := s.Client(s.CreateKey(t, "wrkspc_other"))

	_, err := other.Beta.Vaults.Get(ctx, v.ID, anthropic.BetaVaultGetParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Vaults.Update(ctx, v.ID, anthropic.BetaVaultUpdateParams{DisplayName: anthropic.String("x")})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Vaults.Archive(ctx, v.ID, anthropic.BetaVaultArchiveParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Vaults.Delete(ctx, v.ID, anthropic.BetaVaultDeleteParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Vaults.Credentials.New(ctx, v.ID, bearerParams("https://x.example.com", "t"))
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Vaults.Credentials.List(ctx, v.ID, anthropic.BetaVaultCredentialListParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Vaults.Credentials.Get(ctx, cr.ID, anthropic.BetaVaultCredentialGetParams{VaultID: v.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Vaults.Credentials.Update(ctx, cr.ID, anthropic.BetaVaultCredentialUpdateParams{VaultID: v.ID, DisplayName: anthropic.String("x")})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Vaults.Credentials.Archive(ctx, cr.ID, anthropic.BetaVaultCredentialArchiveParams{VaultID: v.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Vaults.Credentials.MCPOAuthValidate(ctx, cr.ID, anthropic.BetaVaultCredentialMCPOAuthValidateParams{VaultID: v.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Vaults.Credentials.Delete(ctx, cr.ID, anthropic.BetaVaultCredentialDeleteParams{VaultID: v.ID})
	apiErr(t, err, 404, "not_found_error")
	page, err := other.Beta.Vaults.List(ctx, anthropic.BetaVaultListParams{IncludeArchived: anthropic.Bool(true)})
	if err != nil || len(page.Data) != 0 {
		t.Fatalf("other workspace lists %v, %v", page, err)
	}

	// The other workspace has its own key space, and an admin may address it.
	ov := newVault(t, other, "theirs")
	newCred(t, other, ov.ID, bearerParams("https://mcp.example.com/mcp", "tok"))
	got, err := admin.Beta.Vaults.Get(ctx, ov.ID, anthropic.BetaVaultGetParams{WorkspaceID: anthropic.String("wrkspc_other")})
	if err != nil || got.DisplayName != "theirs" {
		t.Fatalf("admin in other workspace = %v, %v", got, err)
	}
	// Everything of the first workspace is intact.
	if got, err := admin.Beta.Vaults.Credentials.Get(ctx, cr.ID, anthropic.BetaVaultCredentialGetParams{VaultID: v.ID}); err != nil || !got.ArchivedAt.IsZero() || got.DisplayName != "" {
		t.Fatalf("credential after foreign attempts = %v, %v", got, err)
	}
}

// ---- mcp_oauth_validate ------------------------------------------------------

// tokenEndpoint is a local OAuth 2.0 token endpoint speaking the real
// protocol (RFC 6749 §6): a form-encoded refresh_token grant authenticated
// with one client authentication method, answered in JSON. It rotates the
// refresh token on every success and only accepts the current one.
type tokenEndpoint struct {
	*httptest.Server
	mu                           sync.Mutex
	method, clientID, secret     string
	refresh, prefix              string
	unavailable                  bool
	issued                       int
	lastForm                     url.Values
	lastBasicUser, lastBasicPass string
}

func newTokenEndpoint(t *testing.T, method, clientID, secret, refresh, prefix string) *tokenEndpoint {
	te := &tokenEndpoint{method: method, clientID: clientID, secret: secret, refresh: refresh, prefix: prefix}
	te.Server = httptest.NewServer(te)
	t.Cleanup(te.Close)
	return te
}

func (te *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	te.mu.Lock()
	defer te.mu.Unlock()
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
		reply(400, map[string]string{"error": "invalid_request"})
		return
	}
	te.lastForm = r.PostForm
	if te.unavailable {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(503)
		io.WriteString(w, "token service down")
		return
	}
	user, pass, basic := r.BasicAuth()
	user, _ = url.QueryUnescape(user)
	pass, _ = url.QueryUnescape(pass)
	te.lastBasicUser, te.lastBasicPass = user, pass
	f := r.PostForm
	var ok bool
	switch te.method {
	case vault.AuthClientSecretBasic:
		ok = basic && user == te.clientID && pass == te.secret && !f.Has("client_secret")
	case vault.AuthClientSecretPost:
		ok = !basic && f.Get("client_id") == te.clientID && f.Get("client_secret") == te.secret
	default:
		ok = !basic && f.Get("client_id") == te.clientID && !f.Has("client_secret")
	}
	if !ok {
		reply(401, map[string]string{"error": "invalid_client"})
		return
	}
	if f.Get("grant_type") != "refresh_token" {
		reply(400, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if f.Get("refresh_token") != te.refresh {
		// Echo what was sent, as careless servers do: Hangar must scrub it.
		reply(400, map[string]string{"error": "invalid_grant", "error_description": "refresh token " + f.Get("refresh_token") + " is not valid for client secret " + te.secret})
		return
	}
	te.issued++
	te.refresh = fmt.Sprintf("%s-refresh-%d", te.prefix, te.issued)
	reply(200, map[string]any{
		"access_token": fmt.Sprintf("%s-access-%d", te.prefix, te.issued), "token_type": "Bearer",
		"expires_in": 3600, "refresh_token": te.refresh, "scope": f.Get("scope"),
	})
}

func (te *tokenEndpoint) state() (form url.Values, issued int, current string) {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.lastForm, te.issued, te.refresh
}

// unreachableProbe is mcp_probe when the credential's MCP server cannot be
// reached (the *.example.com servers of these tests).
const unreachableProbe = `{"http_response":null,"method":"initialize"}`

var validationKeys = []string{"type", "credential_id", "vault_id", "status", "has_refresh_token", "mcp_probe", "refresh", "validated_at"}

// Validation performs a real refresh with each
// client authentication method and stores the new tokens.
func TestVaultCredentialMCPOAuthValidate(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	v := newVault(t, c, "oauth")

	for _, method := range []string{vault.AuthNone, vault.AuthClientSecretBasic, vault.AuthClientSecretPost} {
		t.Run(method, func(t *testing.T) {
			secret := ""
			if method != vault.AuthNone {
				secret = "cs:" + method + "&="
			}
			te := newTokenEndpoint(t, method, "client/"+method, secret, "rt-initial-"+method, method)
			cr := newCred(t, c, v.ID, oauthParams("https://mcp.example.com/"+method, "at-initial", &anthropic.BetaManagedAgentsMCPOAuthRefreshParams{
				ClientID: "client/" + method, RefreshToken: "rt-initial-" + method, TokenEndpoint: te.URL + "/oauth/token",
				TokenEndpointAuth: tokenAuth(method, secret), Scope: anthropic.String("mcp:read mcp:write"), Resource: anthropic.String("https://mcp.example.com/" + method),
			}))
			before := time.Now()
			val, err := c.Beta.Vaults.Credentials.MCPOAuthValidate(ctx, cr.ID, anthropic.BetaVaultCredentialMCPOAuthValidateParams{VaultID: v.ID})
			if err != nil {
				t.Fatal(err)
			}
			m := vltKeys(t, "validation", val.RawJSON(), validationKeys...)
			if val.Type != "vault_credential_validation" || val.CredentialID != cr.ID || val.VaultID != v.ID || val.Status != "unknown" || !val.HasRefreshToken ||
				compactJSON(t, m["mcp_probe"]) != unreachableProbe || compactJSON(t, m["refresh"]) != `{"http_response":null,"status":"succeeded"}` ||
				val.ValidatedAt.Before(before.Add(-time.Second)) {
				t.Fatalf("validation: %s", val.RawJSON())
			}
			form, issued, _ := te.state()
			if issued != 1 || form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != "rt-initial-"+method ||
				form.Get("scope") != "mcp:read mcp:write" || form.Get("resource") != "https://mcp.example.com/"+method {
				t.Fatalf("token endpoint saw %v (issued %d)", form, issued)
			}
			// The new tokens are stored sealed, and the expiry is updated.
			if _, _, sec, _ := storedCredential(t, s, cr.ID); sec.AccessToken != method+"-access-1" || sec.RefreshToken != method+"-refresh-1" || sec.ClientSecret != secret {
				t.Fatalf("stored tokens not refreshed")
			}
			got, _ := c.Beta.Vaults.Credentials.Get(ctx, cr.ID, anthropic.BetaVaultCredentialGetParams{VaultID: v.ID})
			if exp := got.Auth.ExpiresAt; exp.Before(before.Add(3590*time.Second)) || exp.After(time.Now().Add(3610*time.Second)) || !got.UpdatedAt.After(cr.UpdatedAt) {
				t.Fatalf("after refresh: %s", got.RawJSON())
			}
			// The next validation spends the rotated refresh token.
			val, err = c.Beta.Vaults.Credentials.MCPOAuthValidate(ctx, cr.ID, anthropic.BetaVaultCredentialMCPOAuthValidateParams{VaultID: v.ID})
			if err != nil || val.Refresh.Status != "succeeded" {
				t.Fatalf("second validation = %v, %v", val, err)
			}
			if form, issued, _ := te.state(); issued != 2 || form.Get("refresh_token") != method+"-refresh-1" {
				t.Fatalf("second exchange used %q", form.Get("refresh_token"))
			}
		})
	}

	te := newTokenEndpoint(t, vault.AuthClientSecretPost, "cid", "the-client-secret", "rt-good", "fail")
	liveMCP := mcpServer(t, "live-token")
	mk := func(url, refreshToken string) *anthropic.BetaManagedAgentsCredential {
		return newCred(t, c, v.ID, oauthParams(url, "at-x", &anthropic.BetaManagedAgentsMCPOAuthRefreshParams{
			ClientID: "cid", RefreshToken: refreshToken, TokenEndpoint: te.URL, TokenEndpointAuth: tokenAuth(vault.AuthClientSecretPost, "the-client-secret")}))
	}
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return "http://" + ln.Addr().String() + "/token"
	}()
	unreachable := newCred(t, c, v.ID, oauthParams("https://unreachable.example.com", "at", &anthropic.BetaManagedAgentsMCPOAuthRefreshParams{
		ClientID: "cid", RefreshToken: "rt", TokenEndpoint: closed, TokenEndpointAuth: tokenAuth(vault.AuthNone, "")}))

	cases := []struct {
		name        string
		cred        *anthropic.BetaManagedAgentsCredential
		unavailable bool
		status      string
		hasRefresh  bool
		refresh     string // compact JSON of refresh, or a prefix of it
		probe       string // compact JSON of mcp_probe
	}{
		{"revoked refresh token", mk("https://revoked.example.com", "rt-revoked"), false, "invalid", true, `{"http_response":{"body":`, `null`},
		{"token endpoint down", mk("https://down.example.com", "rt-good"), true, "unknown", true, `{"http_response":{"body":"token service down","body_truncated":false,"content_type":"text/plain","status_code":503},"status":"failed"}`, unreachableProbe},
		{"token endpoint unreachable", unreachable, false, "unknown", true, `{"http_response":null,"status":"connect_error"}`, unreachableProbe},
		{"no refresh configured", newCred(t, c, v.ID, oauthParams("https://norefresh.example.com", "at", nil)), false, "unknown", false, `{"http_response":null,"status":"no_refresh_token"}`, unreachableProbe},
		{"static_bearer", newCred(t, c, v.ID, bearerParams("https://bearer.example.com", "tok")), false, "unknown", false, `null`, unreachableProbe},
		{"environment_variable", newCred(t, c, v.ID, envVarParams("VALIDATE_ME", "v")), false, "unknown", false, `null`, `null`},
		// The MCP probe against a real MCP server: the right token is
		// valid, a wrong one invalid.
		{"static_bearer, live server", newCred(t, c, v.ID, bearerParams(liveMCP, "live-token")), false, "valid", false, `null`, `null`},
		{"static_bearer, refused", newCred(t, c, v.ID, bearerParams(liveMCP+"?refused", "wrong-token")), false, "invalid", false, `null`, `{"http_response":`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			te.mu.Lock()
			te.unavailable = tc.unavailable
			te.mu.Unlock()
			_, _, before, _ := storedCredential(t, s, tc.cred.ID)
			val, err := c.Beta.Vaults.Credentials.MCPOAuthValidate(ctx, tc.cred.ID, anthropic.BetaVaultCredentialMCPOAuthValidateParams{VaultID: v.ID})
			if err != nil {
				t.Fatal(err)
			}
			m := vltKeys(t, "validation", val.RawJSON(), validationKeys...)
			if string(val.Status) != tc.status || val.HasRefreshToken != tc.hasRefresh || !strings.HasPrefix(compactJSON(t, m["mcp_probe"]), tc.probe) || !strings.HasPrefix(compactJSON(t, m["refresh"]), tc.refresh) {
				t.Fatalf("validation: %s", val.RawJSON())
			}
			// Failed validations store nothing.
			if _, _, after, _ := storedCredential(t, s, tc.cred.ID); after != before {
				t.Fatal("a failed validation changed the stored secret")
			}
		})
	}
	// The refused exchange is reported with the endpoint's answer, scrubbed.
	val, _ := c.Beta.Vaults.Credentials.MCPOAuthValidate(ctx, cases[0].cred.ID, anthropic.BetaVaultCredentialMCPOAuthValidateParams{VaultID: v.ID})
	hr := val.Refresh.HTTPResponse
	if val.Refresh.Status != "failed" || hr.StatusCode != 400 || hr.ContentType != "application/json" || hr.BodyTruncated ||
		!strings.Contains(hr.Body, "invalid_grant") || strings.Contains(hr.Body, "rt-revoked") || strings.Contains(hr.Body, "the-client-secret") {
		t.Fatalf("refused refresh: %s", val.RawJSON())
	}
}

// ---- secrecy -----------------------------------------------------------------

// No secret (token, access_token, refresh_token,
// client_secret, secret_value, nor a token minted by a refresh) ever appears
// in a response body, a server log line or the database files.
func TestVaultSecretsNeverLeak(t *testing.T) {
	// Every secret carries mark; nothing that is not a secret does.
	mark := fmt.Sprintf("Zq%dXsecret", time.Now().UnixNano())
	sec := func(what string) string { return mark + "-" + what }
	te := newTokenEndpoint(t, vault.AuthClientSecretPost, "cid", sec("client-secret"), sec("refresh"), sec("minted"))

	s := testserver.Start(t)
	var mu sync.Mutex
	var bodies [][]byte
	record := func(b []byte) {
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, b)
	}
	c := s.Client("", option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		resp, err := next(r)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			record(b)
			resp.Body = io.NopCloser(bytes.NewReader(b))
		}
		return resp, err
	}))
	raw := func(method, path, body string) int {
		code, b := vltDo(t, s, method, path, body)
		record(b)
		return code
	}
	ctx := context.Background()
	marker := fmt.Sprintf("display-%d", time.Now().UnixNano())
	v := newVault(t, c, marker)
	cp := "/v1/vaults/" + v.ID + "/credentials"

	bearer := newCred(t, c, v.ID, bearerParams("https://bearer.example.com/mcp", sec("token")))
	oauth := newCred(t, c, v.ID, oauthParams("https://oauth.example.com/mcp", sec("access"), &anthropic.BetaManagedAgentsMCPOAuthRefreshParams{
		ClientID: "cid", RefreshToken: sec("refresh"), TokenEndpoint: te.URL, TokenEndpointAuth: tokenAuth(vault.AuthClientSecretPost, sec("client-secret"))}))
	env := newCred(t, c, v.ID, envVarParams("LEAK_TEST", sec("value"), "api.example.com"))
	if code := raw("POST", cp, `{"display_name":"basic","auth":{"type":"mcp_oauth","access_token":"`+sec("access-b")+`","mcp_server_url":"https://basic.example.com",`+
		`"refresh":{"client_id":"c","refresh_token":"`+sec("refresh-b")+`","token_endpoint":"https://auth.example.com/t","token_endpoint_auth":{"type":"client_secret_basic","client_secret":"`+sec("client-b")+`"}}}}`); code != 200 {
		t.Fatalf("raw create: %d", code)
	}

	// Reads of every kind.
	for _, id := range []string{bearer.ID, oauth.ID, env.ID} {
		if _, err := c.Beta.Vaults.Credentials.Get(ctx, id, anthropic.BetaVaultCredentialGetParams{VaultID: v.ID}); err != nil {
			t.Fatal(err)
		}
		raw("GET", cp+"/"+id, "")
	}
	c.Beta.Vaults.Credentials.List(ctx, v.ID, anthropic.BetaVaultCredentialListParams{IncludeArchived: anthropic.Bool(true)})
	raw("GET", cp+"?include_archived=true", "")
	raw("GET", "/v1/vaults/"+v.ID, "")

	// Rotations.
	if _, err := c.Beta.Vaults.Credentials.Update(ctx, bearer.ID, anthropic.BetaVaultCredentialUpdateParams{VaultID: v.ID,
		Auth: anthropic.BetaVaultCredentialUpdateParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerUpdateParams{Token: anthropic.String(sec("token-2"))}}}); err != nil {
		t.Fatal(err)
	}
	if code := raw("POST", cp+"/"+env.ID, `{"auth":{"type":"environment_variable","secret_value":"`+sec("value-2")+`"}}`); code != 200 {
		t.Fatalf("rotate env: %d", code)
	}

	// Failures whose requests carry secrets: duplicate key, bad fields,
	// type change, wrong JSON types next to a secret.
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", cp, `{"auth":{"type":"static_bearer","token":"` + sec("dup") + `","mcp_server_url":"https://bearer.example.com/mcp"}}`, 409},
		{"POST", cp, `{"auth":{"type":"static_bearer","token":"` + sec("badurl") + `","mcp_server_url":"nope"}}`, 400},
		{"POST", cp, `{"auth":{"type":"static_bearer","token":"` + sec("badtype") + `","mcp_server_url":5}}`, 400},
		{"POST", cp, `{"auth":{"type":"environment_variable","secret_name":"` + "X" + `","secret_value":"` + sec("bad-hosts") + `","networking":{"type":"limited","allowed_hosts":["https://x"]}}}`, 400},
		{"POST", cp, `{"auth":{"type":"static_bearer","token":"` + sec("trunc"), 400},
		{"POST", cp + "/" + env.ID, `{"auth":{"type":"static_bearer","token":"` + sec("typechange") + `"}}`, 400},
		{"POST", cp + "/" + oauth.ID, `{"auth":{"type":"mcp_oauth","access_token":"` + sec("past") + `","expires_at":"2001-01-01T00:00:00Z"}}`, 400},
		{"POST", cp + "/" + oauth.ID, `{"auth":{"type":"mcp_oauth","refresh":{"refresh_token":"` + sec("x") + `","token_endpoint_auth":{"type":"none","client_secret":"` + sec("y") + `"}}}}`, 400},
	} {
		if code := raw(tc.method, tc.path, tc.body); code != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.body, code, tc.status)
		}
	}

	// Validation: a successful refresh mints new secrets; then a refused
	// one whose error body echoes the secrets it was sent.
	if val, err := c.Beta.Vaults.Credentials.MCPOAuthValidate(ctx, oauth.ID, anthropic.BetaVaultCredentialMCPOAuthValidateParams{VaultID: v.ID}); err != nil || val.Refresh.Status != "succeeded" {
		t.Fatalf("validate = %v, %v", val, err)
	}
	te.mu.Lock()
	te.refresh = "something-else"
	te.mu.Unlock()
	val, err := c.Beta.Vaults.Credentials.MCPOAuthValidate(ctx, oauth.ID, anthropic.BetaVaultCredentialMCPOAuthValidateParams{VaultID: v.ID})
	if err != nil || val.Refresh.Status != "failed" || !strings.Contains(val.Refresh.HTTPResponse.Body, "[REDACTED]") {
		t.Fatalf("refused validate = %v, %v", val, err)
	}
	raw("POST", cp+"/"+bearer.ID+"/mcp_oauth_validate", "")
	raw("POST", cp+"/"+env.ID+"/mcp_oauth_validate", "")

	// Archive one credential, then the vault.
	raw("POST", cp+"/"+bearer.ID+"/archive", "")
	c.Beta.Vaults.Archive(ctx, v.ID, anthropic.BetaVaultArchiveParams{})
	raw("GET", cp+"?include_archived=true", "")

	// The secrets really went through: the token endpoint saw them.
	if form, _, _ := te.state(); !strings.HasPrefix(form.Get("refresh_token"), mark) || form.Get("client_secret") != sec("client-secret") {
		t.Fatalf("token endpoint saw %v", form)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(bodies) < 30 {
		t.Fatalf("only %d response bodies captured", len(bodies))
	}
	for _, b := range bodies {
		if bytes.Contains(b, []byte(mark)) {
			t.Fatalf("a response leaks a secret: %s", b)
		}
	}
	if logs := s.Logs(); strings.Contains(logs, mark) {
		t.Fatalf("the server log leaks a secret:\n%s", logs)
	}
	var files []byte
	for _, name := range []string{"hangar.db", "hangar.db-wal"} {
		b, err := os.ReadFile(filepath.Join(s.DataDir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(mark)) {
			t.Fatalf("%s holds a plaintext secret", name)
		}
		files = append(files, b...)
	}
	// The scan sees the database's contents: the vault's name is there.
	if !bytes.Contains(files, []byte(marker)) {
		t.Fatal("the database files do not contain the vault's display name; the scan proves nothing")
	}
}
