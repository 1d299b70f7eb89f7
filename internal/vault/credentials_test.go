package vault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

// The lookup yields the active credentials of the active vaults in vault
// order, asks the matcher just before each (so "the first of a name wins"
// can be said by the caller), reports an unreadable secret without ending
// the sequence, and opens resource tokens.
func TestCredentialsFind(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := vault.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	const ws = "ws1"
	now := wire.Now()
	newVault := func(archived bool) string {
		v := wire.Vault{ID: ids.New(ids.Vault), Type: wire.TypeVault, DisplayName: "v", CreatedAt: now, UpdatedAt: now}
		data, _ := json.Marshal(v)
		rec := store.Record{Kind: store.KindVault, ID: v.ID, Workspace: ws, Data: data, CreatedAt: now, UpdatedAt: now}
		if archived {
			rec.ArchivedAt = &now
		}
		if err := st.Insert(ctx, &rec); err != nil {
			t.Fatal(err)
		}
		return v.ID
	}
	// sealedFor seals the value under another credential's id when it is
	// not "", which makes the secret unreadable.
	newCred := func(vaultID, name, value, sealedFor string, archived bool) string {
		c := wire.Credential{ID: ids.New(ids.Credential), Type: wire.TypeVaultCredential, VaultID: vaultID, CreatedAt: now, UpdatedAt: now,
			Auth: wire.CredentialAuth{Type: wire.CredentialEnvironmentVariable, SecretName: name}}
		data, _ := json.Marshal(c)
		aad := c.ID
		if sealedFor != "" {
			aad = sealedFor
		}
		sealed, err := sealer.SealSecret(aad, vault.Secret{Value: value})
		if err != nil {
			t.Fatal(err)
		}
		rec := store.Record{Kind: store.KindCredential, ID: c.ID, Workspace: ws, Parent: vaultID, Data: data, Secret: sealed, CreatedAt: now, UpdatedAt: now}
		if archived {
			rec.ArchivedAt = &now
		}
		if err := st.Insert(ctx, &rec); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	v1, v2, gone := newVault(false), newVault(false), newVault(true)
	bad := newCred(v1, "A", "a-bad", "vcrd_other", false)
	newCred(v1, "B", "b-archived", "", true)
	newCred(gone, "A", "a-archived-vault", "", false)
	a2 := newCred(v2, "A", "a-2", "", false)
	newCred(v2, "A", "a-3", "", false)
	b2 := newCred(v2, "B", "b-2", "", false)

	creds := vault.NewCredentials(st, sealer)
	seen := map[string]bool{}
	var got []string
	for f, err := range creds.Find(ctx, ws, []string{"vlt_missing", gone, v1, v2}, func(c wire.Credential) bool {
		return !seen[c.Auth.SecretName]
	}) {
		if err != nil {
			t.Fatal(err)
		}
		if f.SecretErr != nil {
			if f.ID != bad || f.VaultID != v1 {
				t.Errorf("unreadable: %s in %s, want %s in %s", f.ID, f.VaultID, bad, v1)
			}
			continue
		}
		seen[f.Credential.Auth.SecretName] = true
		got = append(got, f.ID+"="+f.Secret.Value)
	}
	if want := []string{a2 + "=a-2", b2 + "=b-2"}; !slices.Equal(got, want) {
		t.Errorf("found %v, want %v", got, want)
	}

	// Stopping early is allowed.
	for range creds.Find(ctx, ws, []string{v2}, func(wire.Credential) bool { return true }) {
		break
	}

	if tok, err := creds.ResourceToken(ctx, ws, "sesrsc_none"); err != nil || tok != "" {
		t.Errorf("no token: %q, %v", tok, err)
	}
	rec := store.Record{Kind: store.KindSessionSecret, ID: "sesrsc_1", Workspace: ws, Parent: "sesn_1",
		Data: []byte("{}"), Secret: sealer.Seal([]byte("ghp_x"), store.SessionSecretAAD("sesrsc_1")), CreatedAt: now, UpdatedAt: now}
	if err := st.Insert(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	if tok, err := creds.ResourceToken(ctx, ws, "sesrsc_1"); err != nil || tok != "ghp_x" {
		t.Errorf("token: %q, %v", tok, err)
	}
}
