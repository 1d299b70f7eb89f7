package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Credentials is the one lookup of the secrets a session may use: the
// credentials of its vaults (environment variables for the egress proxy,
// tokens for MCP servers) and the tokens of its resources. It reads the
// store at every call, so a rotated, archived or deleted secret applies to
// the next lookup.
type Credentials struct {
	st     store.Tx
	sealer *Sealer
}

// NewCredentials returns a lookup reading st and opening secrets with
// sealer.
func NewCredentials(st store.Tx, sealer *Sealer) *Credentials {
	return &Credentials{st: st, sealer: sealer}
}

// Found is an active credential of a session's vault, its secret opened.
type Found struct {
	ID, VaultID string
	Credential  wire.Credential
	Secret      Secret
	// SecretErr says why the secret could not be opened (Secret is then
	// zero); what that means is the caller's to decide.
	SecretErr error
}

// Find yields the active credentials of the vaults that match accepts, in
// vault order and within a vault in the store's order. Missing and
// archived vaults are skipped. match is asked about each credential just
// before it would be yielded, so it may depend on what the caller took so
// far (the first of a name wins, say), and a credential it refuses is
// never opened. A store error ends the sequence, yielded with it.
func (c *Credentials) Find(ctx context.Context, ws string, vaultIDs []string, match func(wire.Credential) bool) iter.Seq2[Found, error] {
	return func(yield func(Found, error) bool) {
		for _, vaultID := range vaultIDs {
			v, err := c.st.Get(ctx, ws, store.KindVault, vaultID)
			if errors.Is(err, errdefs.ErrNotFound) || (err == nil && v.ArchivedAt != nil) {
				continue
			}
			if err != nil {
				yield(Found{}, err)
				return
			}
			// A vault holds at most 20 active credentials, so a scan is
			// cheaper than anything cleverer.
			page, err := c.st.List(ctx, store.ListOptions{Workspace: ws, Kind: store.KindCredential, Parent: vaultID, ParentSet: true})
			if err != nil {
				yield(Found{}, err)
				return
			}
			for _, rec := range page.Records {
				if rec.ArchivedAt != nil {
					continue
				}
				var cr wire.Credential
				if err := json.Unmarshal(rec.Data, &cr); err != nil {
					yield(Found{}, fmt.Errorf("decode credential %s: %w", rec.ID, err))
					return
				}
				if !match(cr) {
					continue
				}
				if !yield(c.open(rec, cr), nil) {
					return
				}
			}
		}
	}
}

// Open decodes a credential record and opens its secret, for a caller that
// read the record itself (to re-read one credential, say).
func (c *Credentials) Open(rec store.Record) (Found, error) {
	var cr wire.Credential
	if err := json.Unmarshal(rec.Data, &cr); err != nil {
		return Found{}, fmt.Errorf("decode credential %s: %w", rec.ID, err)
	}
	return c.open(rec, cr), nil
}

func (c *Credentials) open(rec store.Record, cr wire.Credential) Found {
	f := Found{ID: rec.ID, VaultID: rec.Parent, Credential: cr}
	if c.sealer == nil {
		f.SecretErr = errors.New("no master key to open the credential with")
		return f
	}
	f.Secret, f.SecretErr = c.sealer.OpenSecret(rec.ID, rec.Secret)
	return f
}

// ResourceToken opens the token of a session resource (a repository's);
// "" when none was given.
func (c *Credentials) ResourceToken(ctx context.Context, ws, resourceID string) (string, error) {
	rec, err := c.st.Get(ctx, ws, store.KindSessionSecret, resourceID)
	if errors.Is(err, errdefs.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if c.sealer == nil {
		return "", errors.New("no master key to open the repository token with")
	}
	b, err := c.sealer.Open(rec.Secret, store.SessionSecretAAD(resourceID))
	if err != nil {
		return "", fmt.Errorf("open repository token: %w", err)
	}
	return string(b), nil
}
