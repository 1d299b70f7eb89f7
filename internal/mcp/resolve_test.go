package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

// fixture is a real SQLite store with vaults and credentials written the
// way the vaults API writes them: object in Data, sealed secret apart.
type fixture struct {
	t      *testing.T
	st     store.Store
	sealer *vault.Sealer
}

func newFixture(t *testing.T) *fixture {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := vault.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, st: st, sealer: sealer}
}

func (f *fixture) vault(ws string) string {
	now := wire.Now()
	v := wire.Vault{ID: ids.New(ids.Vault), Type: wire.TypeVault, DisplayName: "v", CreatedAt: now, UpdatedAt: now}
	data, _ := json.Marshal(v)
	if err := f.st.Insert(context.Background(), &store.Record{Kind: store.KindVault, ID: v.ID, Workspace: ws, Data: data, CreatedAt: now, UpdatedAt: now}); err != nil {
		f.t.Fatal(err)
	}
	return v.ID
}

func (f *fixture) credential(ws, vaultID string, auth wire.CredentialAuth, sec vault.Secret) string {
	now := wire.Now()
	c := wire.Credential{ID: ids.New(ids.Credential), Type: wire.TypeVaultCredential, VaultID: vaultID, Auth: auth, CreatedAt: now, UpdatedAt: now}
	data, _ := json.Marshal(c)
	sealed, err := f.sealer.SealSecret(c.ID, sec)
	if err != nil {
		f.t.Fatal(err)
	}
	rec := store.Record{Kind: store.KindCredential, ID: c.ID, Workspace: ws, Parent: vaultID, Name: "mcp:" + auth.MCPServerURL, Data: data, Secret: sealed, CreatedAt: now, UpdatedAt: now}
	if err := f.st.Insert(context.Background(), &rec); err != nil {
		f.t.Fatal(err)
	}
	return c.ID
}

func (f *fixture) archive(ws, id string) {
	rec, err := f.st.Get(context.Background(), ws, store.KindCredential, id)
	if err != nil {
		f.t.Fatal(err)
	}
	now := wire.Now()
	rec.ArchivedAt, rec.Secret, rec.Name = &now, nil, ""
	if err := f.st.Update(context.Background(), &rec); err != nil {
		f.t.Fatal(err)
	}
}

// stored re-reads a credential: its object and its opened secret.
func (f *fixture) stored(ws, id string) (wire.Credential, vault.Secret) {
	rec, err := f.st.Get(context.Background(), ws, store.KindCredential, id)
	if err != nil {
		f.t.Fatal(err)
	}
	var c wire.Credential
	if err := json.Unmarshal(rec.Data, &c); err != nil {
		f.t.Fatal(err)
	}
	sec, err := f.sealer.OpenSecret(id, rec.Secret)
	if err != nil {
		f.t.Fatal(err)
	}
	if bytes.Contains(rec.Data, []byte(sec.AccessToken)) {
		f.t.Fatal("access token in Data")
	}
	return c, sec
}

func bearer(url string) wire.CredentialAuth {
	return wire.CredentialAuth{Type: wire.CredentialStaticBearer, MCPServerURL: url}
}

// The first of the session's vaults with an active credential whose
// mcp_server_url matches (after normalisation) wins; archived credentials,
// environment_variable credentials, missing vaults and other workspaces do
// not match; no match is the zero Credential.
func TestResolveMatching(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const ws = "wrkspc_a"
	v1, v2, v3 := f.vault(ws), f.vault(ws), f.vault(ws)
	other := f.vault("wrkspc_b")
	f.credential(ws, v1, bearer("https://a.example.com/mcp"), vault.Secret{Token: "tok-v1-a"})
	f.credential(ws, v2, bearer("https://a.example.com/mcp"), vault.Secret{Token: "tok-v2-a"})
	f.credential(ws, v2, bearer("HTTPS://B.Example.com:443/mcp/"), vault.Secret{Token: "tok-v2-b"})
	old := f.credential(ws, v3, bearer("https://c.example.com/mcp"), vault.Secret{Token: "tok-v3-old"})
	f.archive(ws, old)
	f.credential(ws, v3, wire.CredentialAuth{Type: wire.CredentialEnvironmentVariable, SecretName: "X", Networking: wire.CredentialNetworking{Type: "unrestricted"}}, vault.Secret{Value: "v"})
	f.credential("wrkspc_b", other, bearer("https://c.example.com/mcp"), vault.Secret{Token: "tok-other-ws"})

	cases := []struct {
		name   string
		vaults []string
		url    string
		token  string
		vault  string
	}{
		{"first vault wins", []string{v1, v2}, "https://a.example.com/mcp", "tok-v1-a", v1},
		{"order matters", []string{v2, v1}, "https://a.example.com/mcp", "tok-v2-a", v2},
		{"normalised match", []string{v1, v2}, "https://b.example.com/mcp", "tok-v2-b", v2},
		{"missing vault skipped", []string{"vlt_missing", v2}, "https://b.example.com/mcp", "tok-v2-b", v2},
		{"archived credential ignored", []string{v3}, "https://c.example.com/mcp", "", ""},
		{"other workspace's vault invisible", []string{other}, "https://c.example.com/mcp", "", ""},
		{"path differs", []string{v1}, "https://a.example.com/other", "", ""},
		{"no vaults", nil, "https://a.example.com/mcp", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Resolve(ctx, slog.New(slog.DiscardHandler), f.st, f.sealer, ws, tc.vaults, tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if c.Token != tc.token || c.VaultID != tc.vault {
				t.Fatalf("got %v token %q", c, c.Token)
			}
			if tc.token == "" && !c.IsZero() {
				t.Fatalf("want zero credential, got %v", c)
			}
			if tc.token != "" && (c.Type != wire.CredentialStaticBearer || c.CredentialID == "") {
				t.Fatalf("credential = %v", c)
			}
		})
	}
}

// Unusable credentials are CredentialErrors naming server and vault.
func TestResolveInvalid(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const ws = "wrkspc_a"
	v := f.vault(ws)
	past := time.Now().Add(-time.Hour).UTC()
	f.credential(ws, v, wire.CredentialAuth{Type: wire.CredentialMCPOAuth, MCPServerURL: "https://expired.example.com", ExpiresAt: &past}, vault.Secret{AccessToken: "old"})
	// A secret sealed for another credential id does not open.
	id := f.credential(ws, v, bearer("https://broken.example.com"), vault.Secret{Token: "x"})
	rec, _ := f.st.Get(ctx, ws, store.KindCredential, id)
	rec.Secret, _ = f.sealer.SealSecret("vcrd_other", vault.Secret{Token: "x"})
	if err := f.st.Update(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	for url, reason := range map[string]string{"https://expired.example.com": ReasonExpired, "https://broken.example.com": ReasonUnreadable} {
		_, err := Resolve(ctx, slog.New(slog.DiscardHandler), f.st, f.sealer, ws, []string{v}, url)
		var ce *CredentialError
		if !errors.As(err, &ce) || ce.Reason != reason || ce.VaultID != v || ce.Server != url {
			t.Fatalf("%s: err = %#v", url, err)
		}
	}
}

// Resolve refreshes an access token within 60 s of expiry and
// stores the new tokens back sealed; a token further out is left alone.
func TestResolveRefreshesAheadAndStores(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const ws = "wrkspc_a"
	v := f.vault(ws)
	o := newOAuthServer(t, "client_secret_basic")
	soon := time.Now().Add(30 * time.Second).UTC().Truncate(time.Microsecond)
	auth := wire.CredentialAuth{Type: wire.CredentialMCPOAuth, MCPServerURL: o.mcp.URL, ExpiresAt: &soon, Refresh: &wire.MCPOAuthRefresh{
		ClientID: o.clientID, TokenEndpoint: o.token.URL, TokenEndpointAuth: wire.TokenEndpointAuth{Type: "client_secret_basic"},
	}}
	id := f.credential(ws, v, auth, vault.Secret{AccessToken: o.issue(30 * time.Second), RefreshToken: "refresh-0", ClientSecret: o.secret})

	c, err := Resolve(ctx, slog.New(slog.DiscardHandler), f.st, f.sealer, ws, []string{v}, o.mcp.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	obj, sec := f.stored(ws, id)
	if o.grants.Load() != 1 || c.Token != sec.AccessToken || sec.RefreshToken != o.currentRefresh() || sec.ClientSecret != o.secret {
		t.Fatalf("grants %d; resolved %q, stored access %q refresh %q", o.grants.Load(), c.Token, sec.AccessToken, sec.RefreshToken)
	}
	if obj.Auth.ExpiresAt == nil || time.Until(*obj.Auth.ExpiresAt) < 50*time.Minute || !obj.UpdatedAt.After(obj.CreatedAt) {
		t.Fatalf("stored object = %+v", obj.Auth)
	}
	// The token now has an hour: no second grant, and it connects.
	c2, err := Resolve(ctx, slog.New(slog.DiscardHandler), f.st, f.sealer, ws, []string{v}, o.mcp.URL)
	if err != nil || c2.Token != c.Token || o.grants.Load() != 1 {
		t.Fatalf("second resolve: %v grants %d", err, o.grants.Load())
	}
	conn := mustConnect(t, ServerConfig{URL: o.mcp.URL}, c2)
	if _, err := conn.Call(ctx, "echo", nil); err != nil {
		t.Fatal(err)
	}
}

// The 401 path end to end with a real store: a credential the server has
// revoked is refreshed by the connection, and StoreRefreshed seals the new
// tokens into the record, which a fresh Resolve then returns.
func TestRefreshOn401StoredBack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const ws = "wrkspc_a"
	v := f.vault(ws)
	o := newOAuthServer(t, "none")
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	auth := wire.CredentialAuth{Type: wire.CredentialMCPOAuth, MCPServerURL: o.mcp.URL, ExpiresAt: &later, Refresh: &wire.MCPOAuthRefresh{
		ClientID: o.clientID, TokenEndpoint: o.token.URL, TokenEndpointAuth: wire.TokenEndpointAuth{Type: "none"},
	}}
	id := f.credential(ws, v, auth, vault.Secret{AccessToken: "server-forgot-this", RefreshToken: "refresh-0"})
	cred, err := Resolve(ctx, slog.New(slog.DiscardHandler), f.st, f.sealer, ws, []string{v}, o.mcp.URL)
	if err != nil || cred.Token != "server-forgot-this" {
		t.Fatalf("resolve: %v", err)
	}
	conn := mustConnect(t, ServerConfig{URL: o.mcp.URL, OnRefresh: StoreRefreshed(f.st, f.sealer, ws)}, cred)
	if r, err := conn.Call(ctx, "echo", nil); err != nil || r.Text() != "echo:{}" {
		t.Fatalf("call: %v", err)
	}
	_, sec := f.stored(ws, id)
	if sec.AccessToken == "server-forgot-this" || sec.AccessToken != conn.Credential().Token || sec.RefreshToken != o.currentRefresh() || sec.RefreshToken == "refresh-0" {
		t.Fatalf("stored access %q refresh %q; conn %q", sec.AccessToken, sec.RefreshToken, conn.Credential().Token)
	}
	again, err := Resolve(ctx, slog.New(slog.DiscardHandler), f.st, f.sealer, ws, []string{v}, o.mcp.URL)
	if err != nil || again.Token != sec.AccessToken || again.Refresh.RefreshToken != sec.RefreshToken {
		t.Fatalf("re-resolve: %v", err)
	}
	// An archived credential is not written back (its secret is gone on purpose).
	f.archive(ws, id)
	if err := StoreRefreshed(f.st, f.sealer, ws)(ctx, conn.Credential()); err == nil {
		t.Fatal("stored tokens into an archived credential")
	}
}
