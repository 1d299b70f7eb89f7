// Package keys mints API keys. A key is shown once, at creation; only its
// SHA-256 is stored.
package keys

import (
	"context"
	"crypto/sha256"

	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
)

// Prefixes of minted keys. Environment keys use the official service's
// prefix so that tooling recognises them.
const (
	APIKeyPrefix         = "sk-hangar-"
	EnvironmentKeyPrefix = "sk-ant-oat01-"
)

// Spec describes a key to mint.
type Spec struct {
	Name          string
	Workspace     string
	Admin         bool
	EnvironmentID string
}

// Mint creates and stores a key, returning its plaintext once.
func Mint(ctx context.Context, s store.Keys, spec Spec) (string, store.APIKey, error) {
	prefix := APIKeyPrefix
	if spec.EnvironmentID != "" {
		prefix = EnvironmentKeyPrefix
	}
	plain := prefix + ids.Random(48)
	h := sha256.Sum256([]byte(plain))
	k := store.APIKey{
		ID:            ids.New(ids.APIKey),
		Workspace:     spec.Workspace,
		Name:          spec.Name,
		Hash:          h[:],
		Hint:          plain[len(plain)-4:],
		Admin:         spec.Admin,
		EnvironmentID: spec.EnvironmentID,
	}
	if err := s.CreateKey(ctx, &k); err != nil {
		return "", store.APIKey{}, err
	}
	return plain, k, nil
}

// FirstAdmin mints an administrator key of workspace when the store holds
// no key at all (a server's first start), and returns its plaintext; ""
// when keys exist already.
func FirstAdmin(ctx context.Context, s store.Keys, workspace string) (string, error) {
	existing, err := s.ListKeys(ctx)
	if err != nil || len(existing) > 0 {
		return "", err
	}
	plain, _, err := Mint(ctx, s, Spec{Name: "bootstrap", Workspace: workspace, Admin: true})
	return plain, err
}
