// Package changes carries "this control-plane record changed" from the API
// handlers that commit a change to the live parts of the server that hold
// a copy of it — the egress proxy, which keeps each running session's
// networking policy and credential secrets in memory, and the memory
// stores' snapshots on disk that sandboxes mount — without
// the API packages importing those parts.
//
// A handler calls Changed after its transaction committed and before it
// answers, and Changed returns once the live copies follow the change, so
// a client that got the response can rely on it: a credential archived by
// a 200 is no longer substituted into the very next request.
package changes

import (
	"context"

	"github.com/hangarhq/hangar/internal/store"
)

// KindSession names a session in a Change (sessions are not records).
const KindSession = "session"

// Change names one committed change.
type Change struct {
	Workspace string
	// Kind is a store record kind (store.KindVault, store.KindCredential,
	// store.KindEnvironment, store.KindMemoryStore: a store deleted or a
	// version of it redacted) or KindSession.
	Kind string
	ID   string
	// Parent is the record's parent, when it has one (a credential's vault).
	Parent string
}

// Notifier is told about committed changes. Implementations must not fail
// the caller: the change is already committed, so a listener that cannot
// follow it deals with that itself (the egress proxy fails closed).
type Notifier interface {
	Changed(ctx context.Context, c Change)
}

// Nop ignores every change.
type Nop struct{}

func (Nop) Changed(context.Context, Change) {}

// Or returns n, or Nop when n is nil, so callers need no nil checks.
func Or(n Notifier) Notifier {
	if n == nil {
		return Nop{}
	}
	return n
}

// All tells every non-nil notifier of ns, in order.
func All(ns ...Notifier) Notifier {
	var out all
	for _, n := range ns {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

type all []Notifier

func (a all) Changed(ctx context.Context, c Change) {
	for _, n := range a {
		n.Changed(ctx, c)
	}
}

// Credential is the change of a credential of vaultID.
func Credential(ws, vaultID, credID string) Change {
	return Change{Workspace: ws, Kind: store.KindCredential, ID: credID, Parent: vaultID}
}
