package live

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/changes"
	"github.com/hangarhq/hangar/internal/egress"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Live updates of the egress proxy: a running session's proxy
// session holds its networking policy and its credentials' secrets in
// memory. The API handlers report every committed change that could alter
// them (changes.Notifier); Changed reloads the affected live sessions
// before the handler answers, so the next request from the sandbox (or
// web_fetch) follows the change: a rotated secret is substituted, an
// archived or deleted credential or vault is not (its placeholder goes out
// unreplaced), new networking allows or denies.
//
// A credential created after a sandbox started is loaded too, but the
// sandbox's environment was fixed at its start, so its variable (and
// placeholder) appears only from the sandbox's next start.

// liveSessions remembers, per session with a proxy session, where its
// policy came from, so a change reaches the sessions it affects.
type liveSessions struct {
	mu sync.Mutex
	m  map[string]*liveEntry
}

type liveEntry struct {
	// load serializes loading and applying this session's policy, so a
	// reload that read older data never overwrites a newer one.
	load sync.Mutex
	// Guarded by load.
	pol egress.Policy
	// dead: no longer in liveSessions (dropped or forgotten); whoever
	// waited for load starts over with the current entry.
	dead bool

	ws string // set once, at registration

	// Guarded by liveSessions.mu.
	loaded   bool
	envID    string
	vaultIDs []string
}

// entry returns the session's entry, registering it when create is set.
// An entry is registered before its first load, and changes that arrive
// meanwhile count it as affected: its first load may have read the old
// data.
func (l *liveSessions) entry(ws, sessionID string, create bool) *liveEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	en := l.m[sessionID]
	if en == nil && create {
		if l.m == nil {
			l.m = map[string]*liveEntry{}
		}
		en = &liveEntry{ws: ws}
		l.m[sessionID] = en
	}
	return en
}

// drop forgets a released session; a load in flight finishes first.
func (l *liveSessions) drop(sessionID string) {
	l.mu.Lock()
	en := l.m[sessionID]
	delete(l.m, sessionID)
	l.mu.Unlock()
	if en != nil {
		en.load.Lock()
		en.dead = true
		en.load.Unlock()
	}
}

// forget removes an entry that never got a proxy session (its session is
// gone, say); the caller holds en.load.
func (l *liveSessions) forget(sessionID string, en *liveEntry) {
	en.dead = true
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m[sessionID] == en {
		delete(l.m, sessionID)
	}
}

// affected lists the sessions a change may alter.
func (l *liveSessions) affected(c changes.Change) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for id, en := range l.m {
		if en.ws != c.Workspace {
			continue
		}
		hit := !en.loaded
		switch c.Kind {
		case changes.KindSession:
			hit = hit || id == c.ID
		case store.KindEnvironment:
			hit = hit || en.envID == c.ID
		case store.KindVault:
			hit = hit || slices.Contains(en.vaultIDs, c.ID)
		case store.KindCredential:
			hit = hit || slices.Contains(en.vaultIDs, c.Parent)
		}
		if hit {
			out = append(out, id)
		}
	}
	return out
}

// sync loads the session's policy and credentials as they are now and
// applies them to its proxy session, creating that (socket and all) when
// create is set; without create, a session with no proxy is left alone.
// It returns the session as it read it.
func (e *Egress) sync(ctx context.Context, ws, sessionID string, create bool) (*egress.Session, wire.Session, error) {
	for {
		en := e.live.entry(ws, sessionID, create)
		if en == nil {
			return nil, wire.Session{}, nil
		}
		en.load.Lock()
		if en.dead {
			// Dropped while we waited: start over with the current entry.
			en.load.Unlock()
			continue
		}
		s, doc, err := e.syncLocked(ctx, ws, sessionID, create, en)
		en.load.Unlock()
		return s, doc, err
	}
}

func (e *Egress) syncLocked(ctx context.Context, ws, sessionID string, create bool, en *liveEntry) (*egress.Session, wire.Session, error) {
	s := e.proxy.Session(sessionID)
	if s == nil && !create {
		return nil, wire.Session{}, nil
	}
	pol, creds, doc, err := e.load(ctx, ws, sessionID)
	if err != nil {
		if s != nil {
			// A change may be committed that cannot be read: fail closed on
			// secrets (none is substituted) and keep the last networking.
			e.log.Warn("egress reload failed: the session's credentials are withheld until it succeeds", "session_id", sessionID, "err", err)
			s.Update(en.pol, nil)
		} else {
			e.live.forget(sessionID, en)
		}
		return nil, wire.Session{}, err
	}
	if s == nil {
		if s, err = e.listen(sessionID, pol, creds); err != nil {
			e.live.forget(sessionID, en)
			return nil, wire.Session{}, err
		}
	} else {
		s.Update(pol, creds)
	}
	en.pol = pol
	e.live.mu.Lock()
	en.loaded, en.envID, en.vaultIDs = true, doc.EnvironmentID, doc.VaultIDs
	e.live.mu.Unlock()
	return s, doc, nil
}

// Changed reloads the live sessions a committed change affects
// (changes.Notifier); it returns once they follow it.
func (e *Egress) Changed(ctx context.Context, c changes.Change) {
	// The change is committed whatever the client does now.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, id := range e.live.affected(c) {
		if _, _, err := e.sync(ctx, c.Workspace, id, false); err != nil {
			e.log.Warn("egress reload after change", "session_id", id, "kind", c.Kind, "id", c.ID, "err", err)
		}
	}
}

// DialFetch connects the server's own request for a session (web_fetch)
// to the session's proxy session, started on demand when the sandbox has
// not started it yet.
func (e *Egress) DialFetch(ctx context.Context, ws, sessionID string) (net.Conn, error) {
	s := e.proxy.Session(sessionID)
	if s == nil {
		var err error
		if s, _, err = e.sync(ctx, ws, sessionID, true); err != nil {
			e.log.Error("web_fetch: session egress proxy", "session_id", sessionID, "err", err)
			return nil, fmt.Errorf("this session's egress proxy is not available")
		}
	}
	return s.Dial(ctx)
}
