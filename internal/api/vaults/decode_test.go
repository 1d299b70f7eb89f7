package vaults

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

func TestCheckHost(t *testing.T) {
	ok := []string{"api.example.com", "*.example.com", "localhost", "192.0.2.1", "a-b.c", "xn--bcher-kva.example"}
	bad := []string{"", "https://api.example.com", "api.example.com/path", "api.example.com:443", "::1", "[::1]",
		"*", "*.", "a.*.com", "*example.com", "*.192.0.2.1", "-a.com", "a..com", "a.com.", "1.2.3", "exa mple.com", "under_score.com"}
	for _, h := range ok {
		if err := checkHost("h", h); err != nil {
			t.Errorf("checkHost(%q) = %v, want ok", h, err)
		}
	}
	for _, h := range bad {
		if err := checkHost("h", h); err == nil {
			t.Errorf("checkHost(%q) accepted", h)
		}
	}
}

func TestCheckSecretName(t *testing.T) {
	for _, s := range []string{"API_KEY", "_x", "a1"} {
		if err := checkSecretName("n", s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"1A", "A-B", "A B", "A=B", strings.Repeat("A", maxSecretName+1)} {
		if err := checkSecretName("n", s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// Injection location merge rules: create defaults, update merges field by
// field, one location must stay on and nulls are refused.
func TestDecodeInjection(t *testing.T) {
	both := wire.InjectionLocation{Body: true, Header: true}
	headerOnly := wire.InjectionLocation{Header: true}
	cases := []struct {
		name    string
		raw     string
		base    wire.InjectionLocation
		want    wire.InjectionLocation
		wantErr string
	}{
		{"create header only", `{"header":true}`, wire.InjectionLocation{}, headerOnly, ""},
		{"create empty object disables both", `{}`, wire.InjectionLocation{}, wire.InjectionLocation{}, "at least one"},
		{"update merges", `{"body":false}`, both, headerOnly, ""},
		{"update to both off", `{"header":false}`, headerOnly, headerOnly, "at least one"},
		{"null object", `null`, both, both, "must not be null"},
		{"null field", `{"body":null}`, both, both, "x.body: must not be null"},
		{"wrong type", `{"body":"yes"}`, both, both, "x.body: expected a boolean"},
		{"unknown field", `{"query":true}`, both, both, "x.query: unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeInjection("x", json.RawMessage(tc.raw), tc.base)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

var fuzzSeeds = []string{
	`{"auth":{"type":"static_bearer","token":"tok-1234567890","mcp_server_url":"https://mcp.example.com/mcp"}}`,
	`{"auth":{"type":"mcp_oauth","access_token":"acc-1234567890","mcp_server_url":"https://mcp.example.com","expires_at":"2099-01-01T00:00:00Z",
	  "refresh":{"client_id":"cid","refresh_token":"ref-1234567890","token_endpoint":"https://auth.example.com/token",
	  "token_endpoint_auth":{"type":"client_secret_basic","client_secret":"cs-1234567890"},"scope":"a b","resource":"https://mcp.example.com"}},
	  "display_name":"x","metadata":{"k":"v"}}`,
	`{"auth":{"type":"mcp_oauth","access_token":"a","mcp_server_url":"http://h","refresh":{"client_id":"c","refresh_token":"r","token_endpoint":"http://t","token_endpoint_auth":{"type":"none"}}}}`,
	`{"auth":{"type":"environment_variable","secret_name":"API_KEY","secret_value":"val-1234567890","networking":{"type":"limited","allowed_hosts":["api.example.com","*.example.org","192.0.2.1"]},"injection_location":{"header":true}}}`,
	`{"auth":{"type":"environment_variable","secret_name":"K","secret_value":"v","networking":{"type":"unrestricted"}}}`,
	`{"auth":{"type":"environment_variable","secret_name":"K","secret_value":"v","networking":{"type":"limited","allowed_hosts":[]},"injection_location":null}}`,
	`{"auth":{"type":"bogus"}}`,
	`{"auth":{"type":"mcp_oauth","refresh":{"token_endpoint_auth":{"type":"client_secret_post","client_secret":null}}}}`,
	`{"auth":{"type":"static_bearer","token":"secret-token-leak-check","mcp_server_url":"ftp://x"}}`,
	`{"auth":null}`, `{"auth":[]}`, `{"auth":{"type":1}}`, `{"auth":{"type":"static_bearer","extra":1}}`, `[]`, `{`, ``,
}

// FuzzDecodeCredential feeds arbitrary bodies to the create and update
// decoders. They must never panic, must fail only with a 400 that names a
// field, and must never put a secret into the object or an error message.
func FuzzDecodeCredential(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stored := []wire.CredentialAuth{
		{Type: wire.CredentialStaticBearer, MCPServerURL: "https://mcp.example.com/mcp"},
		{Type: wire.CredentialMCPOAuth, MCPServerURL: "https://mcp.example.com", Refresh: &wire.MCPOAuthRefresh{
			ClientID: "cid", TokenEndpoint: "https://auth.example.com/token", TokenEndpointAuth: wire.TokenEndpointAuth{Type: wire.TokenEndpointAuthClientSecretPost}}},
		{Type: wire.CredentialEnvironmentVariable, SecretName: "API_KEY", Networking: wire.CredentialNetworking{Type: wire.CredentialNetworkingUnrestricted},
			InjectionLocation: wire.InjectionLocation{Body: true, Header: true}},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		secrets := secretValues(body)
		check := func(err error) {
			if err == nil {
				return
			}
			e, ok := errdefs.As(err)
			if !ok || e.Class != errdefs.ClassInvalid {
				t.Fatalf("error is not a 400: %v", err)
			}
			for _, s := range secrets {
				if strings.Contains(e.Message, s) {
					t.Fatalf("error message leaks secret %q: %s", s, e.Message)
				}
			}
		}
		var p wire.CredentialCreateParams
		if err := httpx.DecodeBytes(body, &p); err != nil {
			check(err)
			return
		}
		auth, sec, err := decodeCreateAuth(p.Auth, now)
		check(err)
		if err == nil {
			checkAuth(t, auth, sec, secrets)
		}
		for _, cur := range stored {
			before, _ := json.Marshal(cur)
			a, s, err := decodeUpdateAuth(p.Auth, cur, vault.Secret{Token: "old-token", AccessToken: "old-access", RefreshToken: "old-refresh", ClientSecret: "old-client", Value: "old-value"}, now)
			check(err)
			if after, _ := json.Marshal(cur); string(before) != string(after) {
				t.Fatalf("update modified the stored auth")
			}
			if err == nil {
				if a.Type != cur.Type || credentialKey(a) != credentialKey(cur) {
					t.Fatalf("update changed type or key: %+v -> %+v", cur, a)
				}
				checkAuth(t, a, s, secrets)
			}
		}
	})
}

func checkAuth(t *testing.T, a wire.CredentialAuth, sec vault.Secret, secrets []string) {
	t.Helper()
	switch a.Type {
	case wire.CredentialMCPOAuth, wire.CredentialStaticBearer:
		if checkURL("u", a.MCPServerURL) != nil {
			t.Fatalf("accepted bad mcp_server_url %q", a.MCPServerURL)
		}
	case wire.CredentialEnvironmentVariable:
		if a.SecretName == "" || sec.Value == "" {
			t.Fatalf("accepted empty env var: %+v", a)
		}
		if !a.InjectionLocation.Body && !a.InjectionLocation.Header {
			t.Fatalf("accepted both injection locations off")
		}
		if a.Networking.Type == wire.CredentialNetworkingLimited && (len(a.Networking.AllowedHosts) == 0 || len(a.Networking.AllowedHosts) > maxAllowedHosts) {
			t.Fatalf("accepted %d allowed hosts", len(a.Networking.AllowedHosts))
		}
	default:
		t.Fatalf("accepted auth type %q", a.Type)
	}
	out, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	// The object never carries a secret field, whatever its value.
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"token", "access_token", "refresh_token", "client_secret", "secret_value"} {
		if _, ok := m[k]; ok {
			t.Fatalf("object has secret field %q: %s", k, out)
		}
	}
	if r, ok := m["refresh"].(map[string]any); ok {
		if tea, ok := r["token_endpoint_auth"].(map[string]any); ok && len(tea) != 1 {
			t.Fatalf("token_endpoint_auth carries more than its type: %s", out)
		}
	}
}

// secretValues returns the values of secret fields anywhere in body that are
// long enough to be recognizable and appear nowhere else in it.
func secretValues(body []byte) []string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var secrets, others []string
	var walk func(v any, secret bool)
	walk = func(v any, secret bool) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				others = append(others, k)
				switch k {
				case "token", "access_token", "refresh_token", "client_secret", "secret_value":
					walk(e, true)
				default:
					walk(e, false)
				}
			}
		case []any:
			for _, e := range x {
				walk(e, secret)
			}
		case string:
			if secret {
				secrets = append(secrets, x)
			} else {
				others = append(others, x)
			}
		}
	}
	walk(v, false)
	var out []string
	for _, s := range secrets {
		if len(s) < 8 {
			continue
		}
		elsewhere := false
		for _, o := range others {
			if strings.Contains(o, s) {
				elsewhere = true
			}
		}
		if !elsewhere {
			out = append(out, s)
		}
	}
	return out
}
