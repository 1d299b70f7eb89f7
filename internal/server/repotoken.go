package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/hangarhq/hangar/internal/egress"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

// repoToken unseals a repository's token; "" when none was given.
func repoToken(ctx context.Context, st store.Store, sealer *vault.Sealer, ws, resourceID string) (string, error) {
	rec, err := st.Get(ctx, ws, store.KindSessionSecret, resourceID)
	if errdefs.ClassOf(err) == errdefs.ClassNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if sealer == nil {
		return "", errors.New("no master key to open the repository token with")
	}
	b, err := sealer.Open(rec.Secret, store.SessionSecretAAD(resourceID))
	if err != nil {
		return "", fmt.Errorf("open repository token: %w", err)
	}
	return string(b), nil
}

// setRepositories gives the session's proxy its repositories, so git from
// the sandbox just works. Each token is read from the store at every
// request, so a token rotated through the resource update API applies to
// the next git request of a running sandbox.
func (e *sessionEgress) setRepositories(ws string, s *egress.Session, rs []wire.SessionResource) error {
	var repos []egress.Repository
	for _, r := range rs {
		if r.Type != wire.ResourceGitHubRepository {
			continue
		}
		id := r.ID
		repos = append(repos, egress.Repository{URL: r.URL, Token: func(ctx context.Context) (string, error) {
			return repoToken(ctx, e.st, e.sealer, ws, id)
		}})
	}
	return s.SetRepositories(repos)
}
